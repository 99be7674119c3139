/*
 * ingest_row.c: row checks and COPY encoding for ingest.process_s3_object (see ingest.h).
 *
 * Design: the loader is a cel_row_sink. For each row it (1) refuses ragged CSV rows, (2)
 * runs every schema field through the quality engine's own cast and constraint code
 * (dq_cast / dq_check_bounds from quality/dq_internal.h: the ingest path and the dq
 * pipeline never disagree about what a valid value is), (3) turns each mapped value into
 * the text PostgreSQL will parse (custom date patterns -> ISO 8601, trueValues -> true,
 * group/decimal characters removed), and (4) checks it against the target column's type
 * the way the server would (integer ranges, numeric(p,s) overflow after rounding,
 * varchar(n), boolean literals, NOT NULL), so that one bad row becomes one rejected row
 * instead of a failed merge. The first problem of a row is its reason.
 * Output is COPY text format (https://www.postgresql.org/docs/15/sql-copy.html, "Text
 * Format"): one line per data row, buffered up to ING_COPY_CHUNK bytes and handed to the
 * emit callback; memory is bounded by one chunk plus one row.
 *
 * Not here: uniqueness (the conflict key is de-duplicated in SQL, ingest_sql.c), CHECK
 * constraints of the target, the database connection.
 */
#include "tasks/ingest.h"

#include "celeriac/stream_reader.h"
#include "quality/dq_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ing_loader {
    const ing_strategy *st;
    const dq_schema *schema;
    const ing_pgtype *types;
    ing_emit_fn emit;
    void *emit_ud;
    long *field_col; /* per schema field: data column or -1 */
    char **names;    /* data column names (owned), for raw JSON of rejected rows */
    size_t nnames;
    bool textual;   /* the data came as CSV text (raw rows are written as CSV) */
    dq_cell *cells; /* per schema field */
    bool *missing;  /* per schema field */
    dbuf out;       /* pending COPY data */
    dbuf row;       /* the current row's staging values */
    dbuf scratch;   /* dq_cast / dq_check_bounds scratch */
    dbuf raw;       /* raw text of a rejected row */
    uint64_t rows, rejected;
};

/* ---------------------------------------------------------------- small text helpers */

/* Copies at most ING_VALUE_SHOWN bytes of s (on a UTF-8 boundary) into out, with "..." when
 * cut. */
static void shown(const char *s, size_t n, char *out, size_t outsz) {
    size_t m = n < ING_VALUE_SHOWN ? n : ING_VALUE_SHOWN;
    if (m >= outsz)
        m = outsz - 1;
    memcpy(out, s ? s : "", m);
    out[m] = '\0';
    size_t k = dq_truncate_utf8(out, m);
    if (k < n && k + 4 <= outsz - 1)
        memcpy(out + k, "...", 4);
}

static size_t utf8_chars(const char *s, size_t n) {
    return dq_utf8_chars(s, n);
}

cel_status ing_copy_escape(dbuf *b, const char *s, size_t n, cel_error *err) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = NULL;
        switch (s[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            break;
        }
        if (!esc)
            continue;
        if (dbuf_append(b, s + start, i - start) != CEL_OK || dbuf_append(b, esc, 2) != CEL_OK)
            return cel_fail(err, CEL_ELIMIT, "COPY row buffer: row too large or out of memory");
        start = i + 1;
    }
    if (dbuf_append(b, s + start, n - start) != CEL_OK)
        return cel_fail(err, CEL_ELIMIT, "COPY row buffer: row too large or out of memory");
    return CEL_OK;
}

/* ---------------------------------------------------------------- target types */

cel_status ing_pgtype_parse(const char *ft, const char *cast_type, bool not_null, ing_pgtype *out,
                            cel_error *err) {
    memset(out, 0, sizeof *out);
    out->not_null = not_null;
    if ((size_t)snprintf(out->sql, sizeof out->sql, "%s", ft) >= sizeof out->sql ||
        (size_t)snprintf(out->cast, sizeof out->cast, "%s", cast_type ? cast_type : ft) >=
            sizeof out->cast)
        return cel_fail(err, CEL_ELIMIT, "column type '%.60s...' is too long", ft);
    int a = 0, b = 0;
    long l = 0;
    if (strcmp(ft, "text") == 0 || strcmp(ft, "character varying") == 0) {
        out->kind = ING_PG_TEXT;
    } else if (sscanf(ft, "character varying(%ld)", &l) == 1 ||
               sscanf(ft, "character(%ld)", &l) == 1) {
        out->kind = ING_PG_VARCHAR;
        out->maxlen = l;
    } else if (strcmp(ft, "smallint") == 0) {
        out->kind = ING_PG_INT2;
    } else if (strcmp(ft, "integer") == 0) {
        out->kind = ING_PG_INT4;
    } else if (strcmp(ft, "bigint") == 0) {
        out->kind = ING_PG_INT8;
    } else if (strcmp(ft, "numeric") == 0) {
        out->kind = ING_PG_NUMERIC;
    } else if (sscanf(ft, "numeric(%d,%d)", &a, &b) == 2) {
        out->kind = ING_PG_NUMERIC;
        out->precision = a;
        out->scale = b;
    } else if (sscanf(ft, "numeric(%d)", &a) == 1) {
        out->kind = ING_PG_NUMERIC;
        out->precision = a;
    } else if (strcmp(ft, "real") == 0 || strcmp(ft, "double precision") == 0) {
        out->kind = ING_PG_FLOAT;
        out->precision = ft[0] == 'r' ? 4 : 8;
    } else if (strcmp(ft, "boolean") == 0) {
        out->kind = ING_PG_BOOL;
    } else {
        out->kind = ING_PG_OTHER;
    }
    return CEL_OK;
}

static bool ci_prefix(const char *s, size_t n, const char *word, size_t min) {
    return n >= min && n <= strlen(word) && strncasecmp(s, word, n) == 0;
}

/* PostgreSQL's boolin (src/backend/utils/adt/bool.c parse_bool_with_len): blanks trimmed,
 * case-insensitive, unique prefixes of true/false/yes/no, on/off (two letters at least),
 * exactly 1/0. */
static bool pg_bool_ok(const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0)
        return false;
    switch (tolower((unsigned char)s[0])) {
    case 't':
        return ci_prefix(s, n, "true", 1);
    case 'f':
        return ci_prefix(s, n, "false", 1);
    case 'y':
        return ci_prefix(s, n, "yes", 1);
    case 'n':
        return ci_prefix(s, n, "no", 1);
    case 'o':
        return ci_prefix(s, n, "on", 2) || ci_prefix(s, n, "off", 2);
    case '1':
    case '0':
        return n == 1;
    default:
        return false;
    }
}

static bool is_inf_text(const char *s, size_t n) {
    if (n && (*s == '+' || *s == '-')) {
        s++;
        n--;
    }
    return (n == 3 && strncasecmp(s, "inf", 3) == 0) ||
           (n == 8 && strncasecmp(s, "infinity", 8) == 0);
}

static bool is_nan_text(const char *s, size_t n) {
    return n == 3 && strncasecmp(s, "nan", 3) == 0;
}

/* numeric(p,s): PostgreSQL rounds to s fractional digits (half away from zero) and then
 * needs |v| < 10^(p-s) (numeric.c apply_typmod). Text is a plain decimal with optional
 * exponent (already syntax-checked). */
static bool numeric_fits(const char *s, size_t n, int p, int sc) {
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    char dig[256];
    size_t nd = 0;
    long e10 = 0; /* value = 0.dig x 10^e10 once normalized */
    bool seen_point = false, leading = true;
    long intdigits = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            seen_point = true;
            continue;
        }
        if (c < '0' || c > '9')
            break;
        if (leading && c == '0') {
            if (seen_point)
                intdigits--; /* 0.00x: each zero after the point lowers the magnitude */
            continue;
        }
        leading = false;
        if (!seen_point)
            intdigits++;
        if (nd < sizeof dig) /* digits past 256 can't change the rounding of interest */
            dig[nd++] = c;
    }
    long ex = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool neg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (ex < 1000000)
                ex = ex * 10 + (s[i] - '0');
        if (neg)
            ex = -ex;
    }
    if (nd == 0)
        return true; /* zero */
    e10 = intdigits + ex;
    long keep = e10 + sc; /* significant digits that survive rounding */
    if (keep < 0)
        return true; /* rounds to zero */
    if ((size_t)keep < nd && dig[keep] >= '5') {
        /* round up: carry through trailing nines */
        long k = keep - 1;
        while (k >= 0 && dig[k] == '9')
            k--;
        if (k < 0)
            e10++; /* 99.96 -> 100.0 */
    }
    return e10 <= (long)p - sc;
}

bool ing_pg_accepts(const ing_pgtype *t, const char *s, size_t n, char *why, size_t whysz) {
    switch (t->kind) {
    case ING_PG_VARCHAR: {
        size_t m = n;
        while (m && s[m - 1] == ' ')
            m--; /* excess trailing spaces are cut silently by the server */
        if ((long)utf8_chars(s, m) > t->maxlen) {
            snprintf(why, whysz, "is longer than %ld characters", t->maxlen);
            return false;
        }
        return true;
    }
    case ING_PG_INT2:
    case ING_PG_INT4:
    case ING_PG_INT8: {
        int64_t v;
        double d;
        bool big = false;
        if (!dq_parse_integer(s, n, NULL, &v, &d, &big)) {
            snprintf(why, whysz, "is not an integer");
            return false;
        }
        int64_t lo = t->kind == ING_PG_INT2   ? INT16_MIN
                     : t->kind == ING_PG_INT4 ? INT32_MIN
                                              : INT64_MIN;
        int64_t hi = t->kind == ING_PG_INT2   ? INT16_MAX
                     : t->kind == ING_PG_INT4 ? INT32_MAX
                                              : INT64_MAX;
        if (big || v < lo || v > hi) {
            snprintf(why, whysz, "is out of range for %s", t->sql);
            return false;
        }
        return true;
    }
    case ING_PG_NUMERIC:
    case ING_PG_FLOAT: {
        double d = 0;
        bool special = is_inf_text(s, n) || is_nan_text(s, n); /* also "Infinity" */
        if (!special && !dq_parse_number(s, n, NULL, &d)) {
            snprintf(why, whysz, "is not a number");
            return false;
        }
        if (t->kind == ING_PG_FLOAT) {
            double lim = t->precision == 4 ? 3.4028234663852886e38 : INFINITY;
            if (!is_inf_text(s, n) && !is_nan_text(s, n) && (isinf(d) || fabs(d) > lim)) {
                snprintf(why, whysz, "is out of range for %s", t->sql);
                return false;
            }
            return true;
        }
        if (t->precision > 0) {
            if (is_inf_text(s, n)) {
                snprintf(why, whysz, "is infinite, which %s cannot hold", t->sql);
                return false;
            }
            if (!is_nan_text(s, n) && !numeric_fits(s, n, t->precision, t->scale)) {
                snprintf(why, whysz, "overflows %s (must round to less than 10^%d)", t->sql,
                         t->precision - t->scale);
                return false;
            }
        }
        return true;
    }
    case ING_PG_BOOL:
        if (!pg_bool_ok(s, n)) {
            snprintf(why, whysz, "is not a boolean");
            return false;
        }
        return true;
    default:
        return true;
    }
}

/* ---------------------------------------------------------------- loader */

static void names_free(ing_loader *l) {
    for (size_t i = 0; i < l->nnames; i++)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->nnames = 0;
}

static cel_status on_columns(void *ud, size_t ncols, const char *const *names, cel_error *err) {
    ing_loader *l = ud;
    const dq_schema *s = l->schema;
    names_free(l);
    l->names = calloc(ncols ? ncols : 1, sizeof *l->names);
    if (!l->names)
        return cel_fail(err, CEL_ENOMEM, "ingest: out of memory for %zu column names", ncols);
    for (size_t i = 0; i < ncols; i++) {
        l->names[i] = strdup(names[i] ? names[i] : "");
        if (!l->names[i])
            return cel_fail(err, CEL_ENOMEM, "ingest: out of memory for column names");
        l->nnames = i + 1;
    }
    bool by_position = dq_schema_no_header(s);
    for (size_t f = 0; f < s->nfields; f++) {
        l->field_col[f] = -1;
        if (by_position) {
            if (f < ncols)
                l->field_col[f] = (long)f;
            continue;
        }
        for (size_t c = 0; c < ncols; c++)
            if (names[c] && strcmp(names[c], s->fields[f].name) == 0) {
                l->field_col[f] = (long)c;
                break;
            }
    }
    return CEL_OK;
}

static bool is_textual(const cel_value *v) {
    return v->kind == CEL_V_TEXT || v->kind == CEL_V_STRING;
}

static bool default_numfmt(const dq_numfmt *nf) {
    return nf->decimal_char == '.' && nf->group_char == 0 && nf->bare_number;
}

/* The temporal value of v by f's format, as ISO 8601 text for PostgreSQL. */
static bool temporal_iso(const dq_field *f, const cel_value *v, char *out, size_t outsz) {
    dq_tm tm;
    bool ok;
    if (f->type == DQ_T_DATE)
        ok = f->fmt == DQ_F_ANY ? dq_parse_date_any(v->s, v->len, &tm)
                                : dq_strptime(f->format, v->s, v->len, &tm);
    else if (f->type == DQ_T_TIME)
        ok = f->fmt == DQ_F_ANY ? dq_parse_time_any(v->s, v->len, &tm)
                                : dq_strptime(f->format, v->s, v->len, &tm);
    else
        ok = f->fmt == DQ_F_ANY ? dq_parse_datetime_any(v->s, v->len, &tm)
                                : dq_strptime(f->format, v->s, v->len, &tm);
    if (!ok)
        return false;
    char date[32] = "", time[48] = "", zone[16] = "";
    snprintf(date, sizeof date, "%04d-%02d-%02d", tm.year, tm.mon, tm.day);
    int whole = (int)tm.sec;
    double frac = tm.sec - whole;
    if (frac > 0)
        snprintf(time, sizeof time, "%02d:%02d:%02d.%06ld", tm.hour, tm.min, whole,
                 lround(frac * 1e6) > 999999 ? 999999L : lround(frac * 1e6));
    else
        snprintf(time, sizeof time, "%02d:%02d:%02d", tm.hour, tm.min, whole);
    if (tm.has_tz) {
        int m = tm.tz_min < 0 ? -tm.tz_min : tm.tz_min;
        snprintf(zone, sizeof zone, "%c%02d:%02d", tm.tz_min < 0 ? '-' : '+', m / 60, m % 60);
    }
    if (f->type == DQ_T_DATE)
        snprintf(out, outsz, "%s", date);
    else if (f->type == DQ_T_TIME)
        snprintf(out, outsz, "%s%s", time, zone);
    else
        snprintf(out, outsz, "%sT%s%s", date, time, zone);
    return true;
}

/* Number text with the field's decimal/group characters normalized (and, for bareNumber
 * false, the surrounding non-numeric text removed). */
static void number_text(const dq_field *f, const cel_value *v, const dq_cell *c, char *out,
                        size_t outsz) {
    size_t o = 0, b = 0, e = v->len;
    if (!f->nf.bare_number) {
        while (b < e && !isdigit((unsigned char)v->s[b]) && v->s[b] != '-' && v->s[b] != '+' &&
               v->s[b] != f->nf.decimal_char)
            b++;
        while (e > b && !isdigit((unsigned char)v->s[e - 1]))
            e--;
    }
    for (size_t i = b; i < e && o + 1 < outsz; i++) {
        char ch = v->s[i];
        if (f->nf.group_char && ch == f->nf.group_char)
            continue;
        out[o++] = ch == f->nf.decimal_char ? '.' : ch;
    }
    out[o] = '\0';
    double d;
    if (!dq_parse_number(out, o, NULL, &d)) /* fall back to the cast's value */
        snprintf(out, outsz, "%.17g", c->num);
}

/* The text PostgreSQL gets for a valid, present value of field f. (*s, *n) point either into
 * v or into buf. */
static void pg_text(const dq_field *f, const cel_value *v, const dq_cell *c, char *buf,
                    size_t bufsz, const char **s, size_t *n) {
    *s = v->s ? v->s : "";
    *n = v->s ? v->len : 0;
    switch (f->type) {
    case DQ_T_INTEGER:
        if (v->kind == CEL_V_DOUBLE || (is_textual(v) && !default_numfmt(&f->nf) && c->has_int)) {
            snprintf(buf, bufsz, "%" PRId64, c->ival);
            break;
        }
        if (is_textual(v) && !default_numfmt(&f->nf)) { /* beyond int64: digits only */
            number_text(f, v, c, buf, bufsz);
            break;
        }
        return;
    case DQ_T_NUMBER:
        if (is_textual(v) && !default_numfmt(&f->nf)) {
            number_text(f, v, c, buf, bufsz);
            break;
        }
        return;
    case DQ_T_BOOLEAN:
        snprintf(buf, bufsz, "%s",
                 (v->kind == CEL_V_BOOL ? v->i != 0 : dq_strlist_has(&f->truev, v->s, v->len))
                     ? "true"
                     : "false");
        break;
    case DQ_T_DATE:
    case DQ_T_TIME:
    case DQ_T_DATETIME:
        if (v->kind == CEL_V_TEMPORAL || f->fmt == DQ_F_DEFAULT || !temporal_iso(f, v, buf, bufsz))
            return;
        break;
    case DQ_T_YEAR:
        snprintf(buf, bufsz, "%" PRId64, c->ival);
        break;
    default:
        return;
    }
    *s = buf;
    *n = strlen(buf);
}

static const char *type_label(const dq_field *f) {
    return dq_type_name(f->type);
}

/* The reason for a bounds violation (first constraint in mask). */
static void bounds_reason(const dq_field *f, unsigned mask, const char *val, char *why,
                          size_t whysz) {
    for (int b = 0; b < DQ_B_COUNT; b++) {
        if (!(mask & (1u << b)))
            continue;
        const char *name = dq_bkind_name((dq_bkind)b);
        if (b == DQ_B_ENUM) {
            snprintf(why, whysz, "field '%s': '%s' is not one of the enum values", f->name, val);
            return;
        }
        json_t *p = f->constraints ? json_object_get(f->constraints, name) : NULL;
        char *ps = p ? json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        char pshown[96] = "";
        if (ps)
            shown(ps, strlen(ps), pshown, sizeof pshown);
        free(ps);
        if (b == DQ_B_PATTERN)
            snprintf(why, whysz, "field '%s': '%s' does not match pattern %s", f->name, val,
                     pshown);
        else
            snprintf(why, whysz, "field '%s': '%s' violates %s %s", f->name, val, name, pshown);
        return;
    }
}

/* Validates one row; on success appends the staging values (tab-separated, escaped) to
 * l->row and returns true; otherwise writes the reason. CEL errors (ENOMEM/ELIMIT while
 * buffering) are reported through *st. */
static bool check_row(ing_loader *l, size_t ncols, const cel_value *vals, char *why, size_t whysz,
                      cel_status *st, cel_error *err) {
    const dq_schema *s = l->schema;
    const ing_strategy *stg = l->st;
    *st = CEL_OK;
    const cel_row_extra *extra = cel_reader_row_extra();
    if (extra->cells) {
        snprintf(why, whysz, "row has %zu more cell%s than the header", extra->cells,
                 extra->cells == 1 ? "" : "s");
        return false;
    }
    char val[ING_VALUE_SHOWN + 8];
    for (size_t i = 0; i < s->nfields; i++) {
        const dq_field *f = &s->fields[i];
        long col = l->field_col[i];
        cel_value absent = {.kind = CEL_V_ABSENT};
        const cel_value *v = col >= 0 && (size_t)col < ncols ? &vals[col] : &absent;
        bool miss = v->kind == CEL_V_ABSENT || v->kind == CEL_V_NULL ||
                    (is_textual(v) && dq_strlist_has(dq_field_missing(s, f), v->s, v->len));
        l->missing[i] = miss;
        if (miss) {
            if (f->required || f->in_pk) {
                snprintf(why, whysz, "field '%s' is required but %s", f->name,
                         v->kind == CEL_V_ABSENT ? "absent" : "missing");
                return false;
            }
            continue;
        }
        dq_cell *c = &l->cells[i];
        memset(c, 0, sizeof *c);
        dq_cast(f, v, c, &l->scratch);
        if (!c->valid) {
            shown(v->s, v->len, val, sizeof val);
            if (f->format && f->fmt != DQ_F_DEFAULT)
                snprintf(why, whysz, "field '%s': '%s' is not a valid %s (format %s)", f->name, val,
                         type_label(f), f->format);
            else
                snprintf(why, whysz, "field '%s': '%s' is not a valid %s", f->name, val,
                         type_label(f));
            return false;
        }
        unsigned mask = dq_check_bounds(f, v, c, &l->scratch);
        if (mask) {
            shown(v->s, v->len, val, sizeof val);
            bounds_reason(f, mask, val, why, whysz);
            return false;
        }
    }
    dbuf_reset(&l->row);
    char buf[128];
    for (size_t k = 0; k < stg->ncols; k++) {
        const ing_colmap *m = &stg->cols[k];
        if (m->meta != ING_META_NONE)
            continue;
        const dq_field *f = &s->fields[m->field_idx];
        const ing_pgtype *t = &l->types[k];
        if (l->row.len && dbuf_append(&l->row, "\t", 1) != CEL_OK)
            goto toolarge;
        if (l->missing[m->field_idx]) {
            if (t->not_null) {
                snprintf(why, whysz, "column '%s' is NOT NULL but field '%s' is missing", m->column,
                         f->name);
                return false;
            }
            if (dbuf_append(&l->row, "\\N", 2) != CEL_OK)
                goto toolarge;
            continue;
        }
        long col = l->field_col[m->field_idx];
        const cel_value *v = &vals[col];
        const char *txt;
        size_t n;
        pg_text(f, v, &l->cells[m->field_idx], buf, sizeof buf, &txt, &n);
        if (memchr(txt, '\0', n)) {
            snprintf(why, whysz, "field '%s' contains a NUL character (PostgreSQL text can't)",
                     f->name);
            return false;
        }
        char tw[160];
        if (!ing_pg_accepts(t, txt, n, tw, sizeof tw)) {
            shown(txt, n, val, sizeof val);
            snprintf(why, whysz, "field '%s' -> column '%s': '%s' %s", f->name, m->column, val, tw);
            return false;
        }
        if ((*st = ing_copy_escape(&l->row, txt, n, err)) != CEL_OK)
            return false;
    }
    return true;
toolarge:
    *st = cel_fail(err, CEL_ELIMIT, "ingest: staging row too large or out of memory");
    return false;
}

/* Appends a JSON string literal of s[0..n) to b. */
static cel_status json_str(dbuf *b, const char *s, size_t n) {
    cel_status st = dbuf_append(b, "\"", 1);
    for (size_t i = 0; st == CEL_OK && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            st = dbuf_append(b, e, 2);
        } else if (c < 0x20) {
            st = dbuf_printf(b, "\\u%04x", c);
        } else {
            st = dbuf_append(b, s + i, 1);
        }
    }
    return st == CEL_OK ? dbuf_append(b, "\"", 1) : st;
}

/* The row's cells as CSV (text input) or a JSON object (typed input), at most ING_RAW_MAX
 * bytes cut on a UTF-8 boundary. */
static void raw_row(ing_loader *l, size_t ncols, const cel_value *vals) {
    dbuf *b = &l->raw;
    dbuf_reset(b);
    cel_status st = CEL_OK;
    if (l->textual) {
        size_t last = ncols;
        while (last && vals[last - 1].kind == CEL_V_ABSENT)
            last--;
        for (size_t i = 0; i < last && st == CEL_OK && b->len <= ING_RAW_MAX; i++) {
            const cel_value *v = &vals[i];
            if (i)
                st = dbuf_append(b, ",", 1);
            if (st != CEL_OK || v->kind == CEL_V_ABSENT || v->kind == CEL_V_NULL)
                continue;
            bool quote = v->len && (memchr(v->s, ',', v->len) || memchr(v->s, '"', v->len) ||
                                    memchr(v->s, '\n', v->len) || memchr(v->s, '\r', v->len));
            if (!quote) {
                st = dbuf_append(b, v->s, v->len);
                continue;
            }
            st = dbuf_append(b, "\"", 1);
            for (size_t k = 0; k < v->len && st == CEL_OK; k++)
                st = v->s[k] == '"' ? dbuf_append(b, "\"\"", 2) : dbuf_append(b, v->s + k, 1);
            if (st == CEL_OK)
                st = dbuf_append(b, "\"", 1);
        }
    } else {
        st = dbuf_append(b, "{", 1);
        bool first = true;
        for (size_t i = 0; i < ncols && st == CEL_OK && b->len <= ING_RAW_MAX; i++) {
            const cel_value *v = &vals[i];
            if (v->kind == CEL_V_ABSENT)
                continue;
            if (!first)
                st = dbuf_append(b, ",", 1);
            first = false;
            const char *name = i < l->nnames ? l->names[i] : "";
            if (st == CEL_OK)
                st = json_str(b, name, strlen(name));
            if (st == CEL_OK)
                st = dbuf_append(b, ":", 1);
            if (st != CEL_OK)
                break;
            switch (v->kind) {
            case CEL_V_NULL:
                st = dbuf_append(b, "null", 4);
                break;
            case CEL_V_INT:
            case CEL_V_BOOL:
            case CEL_V_JSON:
                st = dbuf_append(b, v->s, v->len);
                break;
            case CEL_V_DOUBLE:
                if (isfinite(v->d))
                    st = dbuf_append(b, v->s, v->len);
                else
                    st = json_str(b, v->s, v->len);
                break;
            default:
                st = json_str(b, v->s, v->len);
                break;
            }
        }
        if (st == CEL_OK && b->len <= ING_RAW_MAX)
            st = dbuf_append(b, "}", 1);
    }
    if (b->len > ING_RAW_MAX)
        b->len = dq_truncate_utf8(b->data, ING_RAW_MAX);
    (void)st; /* a raw row that could not be built completely is kept as far as it got */
}

static cel_status flush_out(ing_loader *l, cel_error *err) {
    if (l->out.len == 0)
        return CEL_OK;
    cel_status st = l->emit(l->emit_ud, l->out.data, l->out.len, err);
    dbuf_reset(&l->out);
    return st;
}

static cel_status append_line(ing_loader *l, uint64_t rownum, uint64_t line, const char *reason,
                              const char *raw, size_t rawlen, cel_error *err) {
    dbuf *o = &l->out;
    cel_status st = dbuf_printf(o, "%" PRIu64 "\t%" PRIu64 "\t", rownum, line);
    if (st == CEL_OK && reason) {
        if ((st = ing_copy_escape(o, reason, strlen(reason), err)) == CEL_OK &&
            (st = dbuf_append(o, "\t", 1)) == CEL_OK &&
            (st = ing_copy_escape(o, raw, rawlen, err)) == CEL_OK)
            for (size_t i = 0; i < l->st->nstage && st == CEL_OK; i++)
                st = dbuf_append(o, "\t\\N", 3);
    } else if (st == CEL_OK) {
        if ((st = dbuf_append(o, "\\N\t\\N\t", 6)) == CEL_OK)
            st = dbuf_append(o, l->row.data ? l->row.data : "", l->row.len);
    }
    if (st == CEL_OK)
        st = dbuf_append(o, "\n", 1);
    if (st != CEL_OK)
        return cel_fail(err, st, "ingest: COPY buffer: row too large or out of memory");
    return o->len >= ING_COPY_CHUNK ? flush_out(l, err) : CEL_OK;
}

static cel_status on_row(void *ud, uint64_t row_number, uint64_t line, size_t ncols,
                         const cel_value *vals, cel_error *err) {
    ing_loader *l = ud;
    l->rows++;
    for (size_t i = 0; l->textual && i < ncols; i++) {
        if (vals[i].kind == CEL_V_ABSENT)
            continue;
        l->textual = vals[i].kind == CEL_V_TEXT; /* CSV delivers TEXT only */
        break;
    }
    uint64_t eff_line = line ? line : row_number;
    char why[ING_REASON_MAX];
    why[0] = '\0';
    cel_status st = CEL_OK;
    if (check_row(l, ncols, vals, why, sizeof why, &st, err))
        return append_line(l, row_number, eff_line, NULL, NULL, 0, err);
    if (st != CEL_OK)
        return st;
    l->rejected++;
    raw_row(l, ncols, vals);
    return append_line(l, row_number, eff_line, why, l->raw.data ? l->raw.data : "", l->raw.len,
                       err);
}

bool ing_loader_check_row(ing_loader *l, size_t ncols, const cel_value *vals, char *why,
                          size_t whysz) {
    cel_status st = CEL_OK;
    cel_error err = {0};
    why[0] = '\0';
    bool ok = check_row(l, ncols, vals, why, whysz, &st, &err);
    if (st != CEL_OK) {
        snprintf(why, whysz, "%s", err.msg);
        return false;
    }
    return ok;
}

const char *ing_loader_row_text(const ing_loader *l) {
    return l->row.data ? l->row.data : "";
}

cel_status ing_loader_new(const ing_strategy *st, const ing_pgtype *types, ing_emit_fn emit,
                          void *emit_ud, ing_loader **out, cel_error *err) {
    *out = NULL;
    ing_loader *l = calloc(1, sizeof *l);
    if (!l)
        return cel_fail(err, CEL_ENOMEM, "ingest: out of memory");
    l->st = st;
    l->schema = st->schema;
    l->types = types;
    l->emit = emit;
    l->emit_ud = emit_ud;
    l->textual = true;
    size_t nf = st->schema->nfields;
    l->field_col = calloc(nf ? nf : 1, sizeof *l->field_col);
    l->cells = calloc(nf ? nf : 1, sizeof *l->cells);
    l->missing = calloc(nf ? nf : 1, sizeof *l->missing);
    if (!l->field_col || !l->cells || !l->missing) {
        ing_loader_free(l);
        return cel_fail(err, CEL_ENOMEM, "ingest: out of memory");
    }
    for (size_t i = 0; i < nf; i++)
        l->field_col[i] = -1;
    /* a row is bounded by the reader's max_line_bytes (16 MiB) plus escaping */
    dbuf_init(&l->out, 2 * ING_COPY_CHUNK + 64u * 1024u * 1024u);
    dbuf_init(&l->row, 64u * 1024u * 1024u);
    dbuf_init(&l->scratch, 64u * 1024u * 1024u);
    dbuf_init(&l->raw, 2 * ING_RAW_MAX + 1024);
    *out = l;
    return CEL_OK;
}

cel_row_sink ing_loader_sink(ing_loader *l) {
    return (cel_row_sink){.ud = l, .on_columns = on_columns, .on_row = on_row};
}

cel_status ing_loader_flush(ing_loader *l, cel_error *err) {
    return flush_out(l, err);
}

uint64_t ing_loader_rows(const ing_loader *l) {
    return l->rows;
}

uint64_t ing_loader_rejected(const ing_loader *l) {
    return l->rejected;
}

void ing_loader_free(ing_loader *l) {
    if (!l)
        return;
    names_free(l);
    free(l->field_col);
    free(l->cells);
    free(l->missing);
    dbuf_free(&l->out);
    dbuf_free(&l->row);
    dbuf_free(&l->scratch);
    dbuf_free(&l->raw);
    free(l);
}
