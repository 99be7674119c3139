/*
 * dq_schema.c: schema definitions (Frictionless Table Schema v2 + our file
 * options), cell casting, and field constraints.
 *
 * Design: dq_schema_parse() validates the whole definition up front and turns
 * it into flat structs: constraint values are cast once with the field's own
 * type and format (Table Schema v2 "Field Constraints": constraint values may be
 * given as strings castable with the field type), patterns are compiled once,
 * enum values become sorted 128-bit keys. An invalid definition is CEL_ESCHEMA
 * naming the JSON path, never a crash.
 *
 * Spec: https://datapackage.org/standard/table-schema/ (v2); the research notes
 * in docs/research/dataquality.md §1 list where frictionless-py departs from it.
 * Deliberate choices, documented in the README block:
 *  - `pattern` uses POSIX extended regular expressions (regcomp REG_EXTENDED)
 *    anchored as ^(...)$, not XML Schema regex: no \d, \w, \p{..} classes or
 *    character-class subtraction ([[:digit:]] instead of \d); matching is
 *    bytewise in the C locale, so '.' matches one byte of a multi-byte character.
 *  - a missing `type` is `any` (v2); unknown types, formats and constraints, and
 *    constraints that do not apply to the type, are errors (the spec's SHOULD).
 *  - `missingValues` apply to text cells (CSV text, JSON strings); typed JSON
 *    numbers/booleans are never missing values.
 *  - `foreignKeys`, `categories`, `jsonSchema` and the `list`/`geojson` types are
 *    not supported (foreignKeys are ignored; the others are schema errors).
 *
 * Not here: per-row bookkeeping (dq_engine.c), output (dq_report.c).
 */
#include "quality/dq_internal.h"
#include "quality/dq_pattern.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { SEED_S = 1, SEED_I, SEED_N, SEED_B, SEED_T, SEED_G, SEED_J, SEED_BIG, SEED_NULL };

static const char *const type_names[] = {"string",   "integer",  "number", "boolean",   "date",
                                         "time",     "datetime", "year",   "yearmonth", "duration",
                                         "geopoint", "object",   "array",  "any"};

const char *dq_type_name(dq_type t) {
    return (size_t)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "?";
}

const char *dq_bkind_name(dq_bkind b) {
    static const char *const names[DQ_B_COUNT] = {
        "minimum",   "maximum",   "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "pattern",          "enum"};
    return (size_t)b < DQ_B_COUNT ? names[b] : "?";
}

/* ---------------------------------------------------------------- string lists */

static void strlist_free(dq_strlist *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static cel_status strlist_push(dq_strlist *l, const char *s, size_t n, cel_error *err) {
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (v == NULL)
        return cel_fail(err, CEL_ENOMEM, "schema: out of memory");
    l->v = v;
    size_t *len = realloc(l->len, (l->n + 1) * sizeof *len);
    if (len == NULL)
        return cel_fail(err, CEL_ENOMEM, "schema: out of memory");
    l->len = len;
    char *c = malloc(n + 1);
    if (c == NULL)
        return cel_fail(err, CEL_ENOMEM, "schema: out of memory");
    memcpy(c, s, n);
    c[n] = '\0';
    l->v[l->n] = c;
    l->len[l->n] = n;
    l->n++;
    return CEL_OK;
}

bool dq_strlist_has(const dq_strlist *l, const char *s, size_t n) {
    /* Called for every text cell (missing values) and boolean cell: the entries
     * are short ("", "NA", "true"), so a byte loop beats a memcmp call, and with no
     * call this stays a leaf function. */
    for (size_t i = 0; i < l->n; i++) {
        if (l->len[i] != n)
            continue;
        const char *v = l->v[i];
        size_t k = 0;
        while (k < n && v[k] == s[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

const dq_strlist *dq_field_missing(const dq_schema *s, const dq_field *f) {
    return f && f->own_missing ? &f->missing : &s->missing;
}

/* Reads a list of strings (v2 also allows {value, label} objects when objects). */
static cel_status read_strlist(const json_t *a, bool objects, const char *path, dq_strlist *out,
                               cel_error *err) {
    if (!json_is_array(a))
        return cel_fail(err, CEL_ESCHEMA, "schema: %s must be an array of strings", path);
    if (json_array_size(a) > 1024)
        return cel_fail(err, CEL_ESCHEMA, "schema: %s has more than 1024 entries", path);
    size_t i;
    const json_t *x;
    json_array_foreach(a, i, x) {
        if (objects && json_is_object(x))
            x = json_object_get(x, "value");
        if (!json_is_string(x))
            return cel_fail(err, CEL_ESCHEMA, "schema: %s[%zu] must be a string", path, i);
        cel_status st = strlist_push(out, json_string_value(x), json_string_length(x), err);
        if (st != CEL_OK)
            return st;
    }
    return CEL_OK;
}

/* ---------------------------------------------------------------- keys */

static dq_h128 hash_text(const char *s, size_t n, uint64_t seed) {
    return dq_hash128(s, n, seed);
}

static dq_h128 hash_double(double d, uint64_t seed) {
    if (d == 0)
        d = 0.0;
    if (isnan(d))
        d = NAN;
    uint64_t w;
    memcpy(&w, &d, sizeof w);
    return dq_hash128_u64(w, seed);
}

static dq_h128 hash_int(int64_t i, uint64_t seed) {
    return dq_hash128_u64((uint64_t)i, seed);
}

dq_h128 dq_raw_key(const cel_value *v) {
    switch (v->kind) {
    case CEL_V_INT:
        if (v->i >= -(INT64_C(1) << 53) && v->i <= (INT64_C(1) << 53))
            return hash_double((double)v->i, SEED_N);
        return hash_int(v->i, SEED_I);
    case CEL_V_DOUBLE:
        return hash_double(v->d, SEED_N);
    case CEL_V_BOOL: {
        unsigned char b = v->i != 0;
        return dq_hash128(&b, 1, SEED_B);
    }
    case CEL_V_JSON:
        return hash_text(v->s, v->len, SEED_J);
    case CEL_V_ABSENT:
    case CEL_V_NULL:
        return dq_hash128("", 0, SEED_NULL);
    default:
        return hash_text(v->s ? v->s : "", v->s ? v->len : 0, SEED_S);
    }
}

/* ---------------------------------------------------------------- casting */

static bool is_textual(const cel_value *v) {
    return v->kind == CEL_V_TEXT || v->kind == CEL_V_STRING;
}

static bool cast_temporal(const dq_field *f, const cel_value *v, dq_tm *tm) {
    const char *s = v->s;
    size_t n = v->len;
    bool typed = v->kind == CEL_V_TEMPORAL;
    if (!typed && !is_textual(v))
        return false;
    switch (f->type) {
    case DQ_T_DATE:
        if (typed || f->fmt == DQ_F_DEFAULT)
            return dq_parse_date_iso(s, n, tm);
        if (f->fmt == DQ_F_ANY)
            return dq_parse_date_any(s, n, tm);
        return dq_strptime(f->format, s, n, tm);
    case DQ_T_TIME:
        if (typed || f->fmt == DQ_F_DEFAULT)
            return dq_parse_time_iso(s, n, tm);
        if (f->fmt == DQ_F_ANY)
            return dq_parse_time_any(s, n, tm);
        return dq_strptime(f->format, s, n, tm);
    default:
        if (typed)
            return dq_parse_datetime_iso(s, n, true, tm);
        if (f->fmt == DQ_F_DEFAULT)
            return dq_parse_datetime_iso(s, n, false, tm);
        if (f->fmt == DQ_F_ANY)
            return dq_parse_datetime_any(s, n, tm);
        return dq_strptime(f->format, s, n, tm);
    }
}

static bool cast_json(const dq_field *f, const cel_value *v, dq_cell *c, dbuf *scratch) {
    if (!(is_textual(v) || v->kind == CEL_V_JSON))
        return false;
    json_error_t jerr;
    json_t *j = json_loadb(v->s, v->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return false;
    bool ok = f->type == DQ_T_OBJECT ? json_is_object(j) : json_is_array(j);
    if (ok) {
        c->items = json_is_object(j) ? json_object_size(j) : json_array_size(j);
        c->has_items = true;
        char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (t) {
            c->key = hash_text(t, strlen(t), SEED_J);
            free(t);
        } else {
            c->key = hash_text(v->s, v->len, SEED_J);
        }
    }
    (void)scratch;
    json_decref(j);
    return ok;
}

void dq_cast(const dq_field *f, const cel_value *v, dq_cell *c, dbuf *scratch) {
    c->valid = true;
    c->has_num = c->has_int = c->has_items = false;
    if (f == NULL || f->type == DQ_T_ANY) {
        c->key = dq_raw_key(v);
        return;
    }
    const char *s = v->s;
    size_t n = v->len;
    bool ok = false;
    switch (f->type) {
    case DQ_T_STRING:
        if (!is_textual(v))
            break;
        switch (f->fmt) {
        case DQ_F_EMAIL:
            ok = dq_is_email(s, n);
            break;
        case DQ_F_URI:
            ok = dq_is_uri(s, n);
            break;
        case DQ_F_UUID:
            ok = dq_is_uuid(s, n);
            break;
        case DQ_F_BINARY:
            ok = dq_is_base64(s, n);
            break;
        default:
            ok = true;
            break;
        }
        if (ok)
            c->key = hash_text(s, n, SEED_S);
        break;
    case DQ_T_INTEGER: {
        bool big = false;
        if (v->kind == CEL_V_INT) {
            c->ival = v->i;
            ok = true;
        } else if (v->kind == CEL_V_DOUBLE) {
            ok = isfinite(v->d) && v->d == floor(v->d) && fabs(v->d) < 9.2e18;
            c->ival = ok ? (int64_t)v->d : 0;
        } else if (is_textual(v)) {
            double d;
            ok = dq_parse_integer(s, n, &f->nf, &c->ival, &d, &big);
            if (ok && big) {
                c->num = d;
                c->has_num = true;
                c->key = hash_text(s, n, SEED_BIG);
            }
        }
        if (ok && !big) {
            c->has_int = c->has_num = true;
            c->num = (double)c->ival;
            c->key = hash_int(c->ival, SEED_I);
        }
        break;
    }
    case DQ_T_NUMBER:
        if (v->kind == CEL_V_INT) {
            c->num = (double)v->i;
            ok = true;
        } else if (v->kind == CEL_V_DOUBLE) {
            c->num = v->d;
            ok = true;
        } else if (is_textual(v)) {
            ok = dq_parse_number(s, n, &f->nf, &c->num);
        }
        if (ok) {
            c->has_num = true;
            c->key = hash_double(c->num, SEED_N);
        }
        break;
    case DQ_T_BOOLEAN: {
        unsigned char b = 0;
        if (v->kind == CEL_V_BOOL) {
            b = v->i != 0;
            ok = true;
        } else if (is_textual(v)) {
            if (dq_strlist_has(&f->truev, s, n)) {
                b = 1;
                ok = true;
            } else if (dq_strlist_has(&f->falsev, s, n)) {
                ok = true;
            }
        }
        if (ok)
            c->key = dq_hash128(&b, 1, SEED_B);
        break;
    }
    case DQ_T_DATE:
    case DQ_T_TIME:
    case DQ_T_DATETIME: {
        dq_tm tm;
        ok = cast_temporal(f, v, &tm);
        if (ok) {
            if (f->type == DQ_T_DATE)
                c->num = (double)dq_days_from_civil(tm.year, (unsigned)tm.mon, (unsigned)tm.day);
            else if (f->type == DQ_T_TIME)
                c->num = dq_tm_daysecs(&tm);
            else
                c->num = dq_tm_epoch(&tm);
            c->has_num = true;
            c->key = hash_double(c->num, SEED_T);
        }
        break;
    }
    case DQ_T_YEAR: {
        int64_t y = 0;
        if (v->kind == CEL_V_INT) {
            y = v->i;
            ok = true;
        } else if (v->kind == CEL_V_DOUBLE && isfinite(v->d) && v->d == floor(v->d) &&
                   fabs(v->d) < 1e9) {
            y = (int64_t)v->d;
            ok = true;
        } else if (is_textual(v)) {
            ok = dq_parse_year(s, n, &y);
        }
        if (ok) {
            c->ival = y;
            c->num = (double)y;
            c->has_int = c->has_num = true;
            c->key = hash_double(c->num, SEED_T);
        }
        break;
    }
    case DQ_T_YEARMONTH: {
        int64_t y;
        int m;
        ok = is_textual(v) && dq_parse_yearmonth(s, n, &y, &m);
        if (ok) {
            c->num = (double)(y * 12 + (m - 1));
            c->has_num = true;
            c->key = hash_double(c->num, SEED_T);
        }
        break;
    }
    case DQ_T_DURATION:
        ok = is_textual(v) && dq_parse_duration(s, n, &c->num);
        if (ok) {
            c->has_num = true;
            c->key = hash_double(c->num, SEED_T);
        }
        break;
    case DQ_T_GEOPOINT: {
        double ll[2];
        dq_geofmt gf = f->fmt == DQ_F_GEO_ARRAY    ? DQ_GEO_ARRAY
                       : f->fmt == DQ_F_GEO_OBJECT ? DQ_GEO_OBJECT
                                                   : DQ_GEO_DEFAULT;
        ok = (is_textual(v) || (v->kind == CEL_V_JSON && gf != DQ_GEO_DEFAULT)) &&
             dq_parse_geopoint(s, n, gf, &ll[0], &ll[1]);
        if (ok)
            c->key = dq_hash128(ll, sizeof ll, SEED_G);
        break;
    }
    case DQ_T_OBJECT:
    case DQ_T_ARRAY:
        ok = cast_json(f, v, c, scratch);
        break;
    case DQ_T_ANY:
        ok = true;
        break;
    }
    c->valid = ok;
    if (!ok) {
        c->has_num = c->has_int = false;
        c->key = dq_raw_key(v);
    }
}

/* ---------------------------------------------------------------- constraints */

/* <0, 0, >0 comparing the cell's logical value with a bound. */
static int bound_cmp(const dq_cell *c, const dq_bound *b) {
    if (c->has_int && b->is_int)
        return (c->ival > b->i) - (c->ival < b->i);
    double x = c->num, y = b->is_int ? (double)b->i : b->d;
    if (isnan(x))
        return 0; /* NaN is neither below nor above anything */
    return (x > y) - (x < y);
}

static int key_cmp(const dq_h128 *x, const dq_h128 *y) {
    if (x->a != y->a)
        return x->a < y->a ? -1 : 1;
    if (x->b != y->b)
        return x->b < y->b ? -1 : 1;
    return 0;
}

static int key_qsort_cmp(const void *x, const void *y) {
    return key_cmp(x, y);
}

/* Binary search of the sorted enum keys (bsearch with key_cmp inlined: the
 * comparator call per step cost more than the search). */
static bool enum_has(const dq_field *f, const dq_h128 *k) {
    size_t lo = 0, hi = f->n_enum;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = key_cmp(&f->enum_keys[mid], k);
        if (r == 0)
            return true;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

unsigned dq_check_bounds(const dq_field *f, const cel_value *v, dq_cell *c, dbuf *scratch) {
    unsigned m = 0;
    if (!f->has_bounds || !c->valid)
        return 0;
    if (c->has_num) {
        if (f->bnd[0].set && bound_cmp(c, &f->bnd[0]) < 0)
            m |= 1u << DQ_B_MINIMUM;
        if (f->bnd[1].set && bound_cmp(c, &f->bnd[1]) > 0)
            m |= 1u << DQ_B_MAXIMUM;
        if (f->bnd[2].set && bound_cmp(c, &f->bnd[2]) <= 0 && !isnan(c->num))
            m |= 1u << DQ_B_XMIN;
        if (f->bnd[3].set && bound_cmp(c, &f->bnd[3]) >= 0 && !isnan(c->num))
            m |= 1u << DQ_B_XMAX;
    }
    if (f->has_minlen || f->has_maxlen) {
        if (!c->has_items) {
            c->items = dq_utf8_chars(v->s, v->len);
            c->has_items = true;
        }
        if (f->has_minlen && c->items < f->minlen)
            m |= 1u << DQ_B_MINLEN;
        if (f->has_maxlen && c->items > f->maxlen)
            m |= 1u << DQ_B_MAXLEN;
    }
    if (f->has_pattern) {
        if (f->pat != NULL) {
            if (!dq_pattern_match(f->pat, v->s, v->len))
                m |= 1u << DQ_B_PATTERN;
        } else {
            /* glibc's REG_STARTEND matches s[0..len) in place: no copy, no strlen, and
             * ^/$ anchor at the range's ends */
            regmatch_t range = {.rm_so = 0, .rm_eo = (regoff_t)v->len};
            if (regexec(&f->re, v->s ? v->s : "", 1, &range, REG_STARTEND) != 0)
                m |= 1u << DQ_B_PATTERN;
        }
    }
    (void)scratch;
    if (f->n_enum && !enum_has(f, &c->key))
        m |= 1u << DQ_B_ENUM;
    return m;
}

bool dq_stat_number(const dq_field *f, const cel_value *v, const dq_cell *c, double *out) {
    if (f && f->type != DQ_T_ANY) {
        if ((f->type == DQ_T_INTEGER || f->type == DQ_T_NUMBER) && c->valid && c->has_num) {
            *out = c->num;
            return true;
        }
        return false;
    }
    switch (v->kind) {
    case CEL_V_INT:
        *out = (double)v->i;
        return true;
    case CEL_V_DOUBLE:
        *out = v->d;
        return true;
    case CEL_V_TEXT: {
        bool is_int;
        int64_t iv;
        return dq_parse_number_lenient(v->s, v->len, out, &is_int, &iv);
    }
    default:
        return false;
    }
}

/* ---------------------------------------------------------------- parsing */

typedef struct pctx {
    char path[256];
    cel_error *err;
} pctx;

static cel_status bad(pctx *p, const char *what) {
    return cel_fail(p->err, CEL_ESCHEMA, "schema: %s: %s", p->path, what);
}

static bool one_char(const json_t *j, char *out) {
    if (!json_is_string(j) || json_string_length(j) != 1)
        return false;
    *out = json_string_value(j)[0];
    return true;
}

static cel_status parse_type(pctx *p, const json_t *jf, dq_field *f) {
    const json_t *t = json_object_get(jf, "type");
    f->type = DQ_T_ANY;
    if (t == NULL)
        return CEL_OK;
    if (!json_is_string(t))
        return bad(p, "type must be a string");
    const char *ts = json_string_value(t);
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(ts, type_names[i]) == 0) {
            f->type = (dq_type)i;
            return CEL_OK;
        }
    }
    char msg[160];
    snprintf(msg, sizeof msg, "unsupported type '%.60s'", ts);
    return bad(p, msg);
}

static cel_status parse_format(pctx *p, const json_t *jf, dq_field *f) {
    const json_t *j = json_object_get(jf, "format");
    f->fmt = DQ_F_DEFAULT;
    if (j == NULL)
        return CEL_OK;
    if (!json_is_string(j))
        return bad(p, "format must be a string");
    const char *s = json_string_value(j);
    if (strncmp(s, "fmt:", 4) == 0)
        s += 4; /* v0 compatibility, TS2 "type and format" */
    if (strlen(s) > 200)
        return bad(p, "format longer than 200 characters");
    f->format = strdup(s);
    if (f->format == NULL)
        return cel_fail(p->err, CEL_ENOMEM, "schema: out of memory");
    if (strcmp(s, "default") == 0)
        return CEL_OK;
    switch (f->type) {
    case DQ_T_STRING:
        if (strcmp(s, "email") == 0)
            f->fmt = DQ_F_EMAIL;
        else if (strcmp(s, "uri") == 0)
            f->fmt = DQ_F_URI;
        else if (strcmp(s, "uuid") == 0)
            f->fmt = DQ_F_UUID;
        else if (strcmp(s, "binary") == 0)
            f->fmt = DQ_F_BINARY;
        else
            return bad(p, "string format must be default, email, uri, uuid or binary");
        return CEL_OK;
    case DQ_T_DATE:
    case DQ_T_TIME:
    case DQ_T_DATETIME:
        if (strcmp(s, "any") == 0) {
            f->fmt = DQ_F_ANY;
            return CEL_OK;
        }
        if (strchr(s, '%') == NULL || !dq_strptime_pattern_ok(s))
            return bad(p, "date/time format must be default, any, or a pattern using %Y %m %d "
                          "%H %M %S %y %b %B %a %A %j %f %z %p %I %F %T %D");
        f->fmt = DQ_F_PATTERN;
        return CEL_OK;
    case DQ_T_GEOPOINT:
        if (strcmp(s, "array") == 0)
            f->fmt = DQ_F_GEO_ARRAY;
        else if (strcmp(s, "object") == 0)
            f->fmt = DQ_F_GEO_OBJECT;
        else
            return bad(p, "geopoint format must be default, array or object");
        return CEL_OK;
    default:
        return bad(p, "this type only has the default format");
    }
}

static bool type_ordered(dq_type t) {
    switch (t) {
    case DQ_T_INTEGER:
    case DQ_T_NUMBER:
    case DQ_T_DATE:
    case DQ_T_TIME:
    case DQ_T_DATETIME:
    case DQ_T_YEAR:
    case DQ_T_YEARMONTH:
    case DQ_T_DURATION:
        return true;
    default:
        return false;
    }
}

/* Converts a JSON constraint value into a cel_value the field can cast.
 * text must have room for 64 bytes. */
static bool json_to_value(const json_t *j, cel_value *v, char *text, char **heap) {
    memset(v, 0, sizeof *v);
    *heap = NULL;
    if (json_is_string(j)) {
        v->kind = CEL_V_STRING;
        v->s = json_string_value(j);
        v->len = json_string_length(j);
    } else if (json_is_integer(j)) {
        v->kind = CEL_V_INT;
        v->i = json_integer_value(j);
        v->len = (size_t)snprintf(text, 64, "%lld", (long long)v->i);
        v->s = text;
    } else if (json_is_real(j)) {
        v->kind = CEL_V_DOUBLE;
        v->d = json_real_value(j);
        v->len = (size_t)snprintf(text, 64, "%.17g", v->d);
        v->s = text;
    } else if (json_is_boolean(j)) {
        v->kind = CEL_V_BOOL;
        v->i = json_is_true(j);
        v->s = v->i ? "true" : "false";
        v->len = strlen(v->s);
    } else if (json_is_object(j) || json_is_array(j)) {
        *heap = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        if (*heap == NULL)
            return false;
        v->kind = CEL_V_JSON;
        v->s = *heap;
        v->len = strlen(*heap);
    } else {
        return false;
    }
    return true;
}

static cel_status parse_bound(pctx *p, const json_t *j, dq_field *f, dq_bound *b) {
    if (!type_ordered(f->type))
        return bad(p, "minimum/maximum apply to integer, number, date, time, datetime, year, "
                      "yearmonth and duration fields only");
    if (json_is_number(j) &&
        (f->type == DQ_T_INTEGER || f->type == DQ_T_NUMBER || f->type == DQ_T_YEAR)) {
        b->set = true;
        b->is_int = json_is_integer(j);
        b->i = b->is_int ? json_integer_value(j) : 0;
        b->d = json_number_value(j);
        return CEL_OK;
    }
    if (!json_is_string(j))
        return bad(p, "must be a number or a string castable to the field type");
    cel_value v = {.kind = CEL_V_STRING, .s = json_string_value(j), .len = json_string_length(j)};
    dq_cell c;
    dq_cast(f, &v, &c, NULL);
    if (!c.valid || !c.has_num)
        return bad(p, "value does not cast to the field's type/format");
    b->set = true;
    b->is_int = c.has_int;
    b->i = c.ival;
    b->d = c.num;
    return CEL_OK;
}

static cel_status parse_length(pctx *p, const json_t *j, dq_field *f, uint64_t *out) {
    if (f->type != DQ_T_STRING && f->type != DQ_T_ARRAY && f->type != DQ_T_OBJECT)
        return bad(p, "minLength/maxLength apply to string, array and object fields only");
    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return bad(p, "must be a non-negative integer");
    *out = (uint64_t)json_integer_value(j);
    return CEL_OK;
}

static cel_status parse_enum(pctx *p, const json_t *j, dq_field *f) {
    if (!json_is_array(j) || json_array_size(j) == 0)
        return bad(p, "must be a non-empty array");
    if (json_array_size(j) > DQ_MAX_ENUM)
        return bad(p, "more than 65536 values");
    f->enum_keys = calloc(json_array_size(j), sizeof(dq_h128));
    if (f->enum_keys == NULL)
        return cel_fail(p->err, CEL_ENOMEM, "schema: out of memory");
    size_t i;
    const json_t *x;
    size_t base = strlen(p->path);
    json_array_foreach(j, i, x) {
        cel_value v;
        char text[64];
        char *heap;
        snprintf(p->path + base, sizeof p->path - base, "[%zu]", i);
        if (!json_to_value(x, &v, text, &heap))
            return bad(p, "enum values must be strings, numbers, booleans, arrays or objects");
        dq_cell c;
        dq_cast(f, &v, &c, NULL);
        free(heap);
        if (!c.valid)
            return bad(p, "enum value does not cast to the field's type/format");
        f->enum_keys[f->n_enum++] = c.key;
    }
    p->path[base] = '\0';
    qsort(f->enum_keys, f->n_enum, sizeof(dq_h128), key_qsort_cmp);
    return CEL_OK;
}

static cel_status parse_constraints(pctx *p, const json_t *jc, dq_field *f) {
    if (jc == NULL)
        return CEL_OK;
    if (!json_is_object(jc))
        return bad(p, "constraints must be an object");
    f->constraints = json_incref((json_t *)jc);
    size_t base = strlen(p->path);
    const char *k;
    const json_t *v;
    cel_status st = CEL_OK;
    json_object_foreach((json_t *)jc, k, v) {
        snprintf(p->path + base, sizeof p->path - base, ".constraints.%.40s", k);
        if (strcmp(k, "required") == 0 || strcmp(k, "unique") == 0) {
            if (!json_is_boolean(v))
                return bad(p, "must be a boolean");
            if (k[0] == 'r')
                f->required = json_is_true(v);
            else
                f->unique = json_is_true(v);
        } else if (strcmp(k, "minimum") == 0) {
            st = parse_bound(p, v, f, &f->bnd[0]);
        } else if (strcmp(k, "maximum") == 0) {
            st = parse_bound(p, v, f, &f->bnd[1]);
        } else if (strcmp(k, "exclusiveMinimum") == 0) {
            st = parse_bound(p, v, f, &f->bnd[2]);
        } else if (strcmp(k, "exclusiveMaximum") == 0) {
            st = parse_bound(p, v, f, &f->bnd[3]);
        } else if (strcmp(k, "minLength") == 0) {
            st = parse_length(p, v, f, &f->minlen);
            f->has_minlen = true;
        } else if (strcmp(k, "maxLength") == 0) {
            st = parse_length(p, v, f, &f->maxlen);
            f->has_maxlen = true;
        } else if (strcmp(k, "pattern") == 0) {
            if (f->type != DQ_T_STRING)
                return bad(p, "pattern applies to string fields only");
            if (!json_is_string(v) || json_string_length(v) > DQ_MAX_PATTERN)
                return bad(p, "must be a string of at most 4096 bytes");
            char *anch = malloc(json_string_length(v) + 5);
            if (anch == NULL)
                return cel_fail(p->err, CEL_ENOMEM, "schema: out of memory");
            snprintf(anch, json_string_length(v) + 5, "^(%s)$", json_string_value(v));
            int rc = regcomp(&f->re, anch, REG_EXTENDED | REG_NOSUB);
            free(anch);
            if (rc != 0) {
                char rmsg[128], msg[200];
                regerror(rc, NULL, rmsg, sizeof rmsg);
                snprintf(msg, sizeof msg, "invalid POSIX extended regex: %s", rmsg);
                return bad(p, msg);
            }
            f->has_pattern = true;
            /* glibc judged validity above; the common subset then runs on our linear-time
             * matcher (same verdicts, see dq_pattern.h), anything else stays on glibc.
             * The pattern glibc saw ends at the first NUL (snprintf %s). */
            f->pat =
                dq_pattern_compile(json_string_value(v), strlen(json_string_value(v)), 0, NULL);
            if (f->pat != NULL)
                regfree(&f->re);
        } else if (strcmp(k, "enum") == 0) {
            st = parse_enum(p, v, f);
        } else {
            return bad(p, "unsupported constraint");
        }
        if (st != CEL_OK)
            return st;
    }
    p->path[base] = '\0';
    f->has_bounds = f->bnd[0].set || f->bnd[1].set || f->bnd[2].set || f->bnd[3].set ||
                    f->has_minlen || f->has_maxlen || f->has_pattern || f->n_enum > 0;
    return CEL_OK;
}

static cel_status parse_field(pctx *p, const json_t *jf, dq_field *f) {
    if (!json_is_object(jf))
        return bad(p, "each field must be an object");
    const json_t *name = json_object_get(jf, "name");
    if (!json_is_string(name) || json_string_length(name) == 0)
        return bad(p, "name must be a non-empty string");
    f->name = strdup(json_string_value(name));
    if (f->name == NULL)
        return cel_fail(p->err, CEL_ENOMEM, "schema: out of memory");
    f->nf.decimal_char = '.';
    f->nf.bare_number = true;
    size_t base = strlen(p->path);
    snprintf(p->path + base, sizeof p->path - base, ".type");
    cel_status st = parse_type(p, jf, f);
    if (st == CEL_OK) {
        snprintf(p->path + base, sizeof p->path - base, ".format");
        st = parse_format(p, jf, f);
    }
    if (st != CEL_OK)
        return st;
    p->path[base] = '\0';
    const json_t *j;
    if ((j = json_object_get(jf, "decimalChar")) != NULL) {
        if (f->type != DQ_T_NUMBER || !one_char(j, &f->nf.decimal_char))
            return bad(p, "decimalChar must be a one-character string on a number field");
    }
    if ((j = json_object_get(jf, "groupChar")) != NULL) {
        if ((f->type != DQ_T_NUMBER && f->type != DQ_T_INTEGER) || !one_char(j, &f->nf.group_char))
            return bad(p, "groupChar must be a one-character string on a number/integer field");
    }
    if ((j = json_object_get(jf, "bareNumber")) != NULL) {
        if ((f->type != DQ_T_NUMBER && f->type != DQ_T_INTEGER) || !json_is_boolean(j))
            return bad(p, "bareNumber must be a boolean on a number/integer field");
        f->nf.bare_number = json_is_true(j);
    }
    if (f->type == DQ_T_BOOLEAN) {
        static const char *const tv[] = {"true", "True", "TRUE", "1"};
        static const char *const fv[] = {"false", "False", "FALSE", "0"};
        if ((j = json_object_get(jf, "trueValues")) != NULL) {
            snprintf(p->path + base, sizeof p->path - base, ".trueValues");
            st = read_strlist(j, false, p->path, &f->truev, p->err);
        } else {
            for (size_t i = 0; i < 4 && st == CEL_OK; i++)
                st = strlist_push(&f->truev, tv[i], strlen(tv[i]), p->err);
        }
        if (st == CEL_OK && (j = json_object_get(jf, "falseValues")) != NULL) {
            snprintf(p->path + base, sizeof p->path - base, ".falseValues");
            st = read_strlist(j, false, p->path, &f->falsev, p->err);
        } else {
            for (size_t i = 0; i < 4 && st == CEL_OK; i++)
                st = strlist_push(&f->falsev, fv[i], strlen(fv[i]), p->err);
        }
        if (st != CEL_OK)
            return st;
        p->path[base] = '\0';
    }
    if ((j = json_object_get(jf, "missingValues")) != NULL) {
        snprintf(p->path + base, sizeof p->path - base, ".missingValues");
        st = read_strlist(j, true, p->path, &f->missing, p->err);
        if (st != CEL_OK)
            return st;
        f->own_missing = true;
        p->path[base] = '\0';
    }
    return parse_constraints(p, json_object_get(jf, "constraints"), f);
}

static long field_index(const dq_schema *s, const char *name) {
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int size_cmp(const void *x, const void *y) {
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return (a > b) - (a < b);
}

/* Adds a uniqueness check unless an identical field set exists. Takes idx. */
static cel_status add_key(dq_schema *s, const char *label, const char *path, size_t *idx, size_t n,
                          cel_error *err) {
    size_t *sorted = malloc(n * sizeof *sorted);
    if (sorted == NULL) {
        free(idx);
        return cel_fail(err, CEL_ENOMEM, "schema: out of memory");
    }
    memcpy(sorted, idx, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, size_cmp);
    for (size_t k = 0; k < s->nkeys; k++) {
        if (s->keys[k].n != n)
            continue;
        size_t *other = malloc(n * sizeof *other);
        if (other == NULL) {
            free(sorted);
            free(idx);
            return cel_fail(err, CEL_ENOMEM, "schema: out of memory");
        }
        memcpy(other, s->keys[k].fields, n * sizeof *other);
        qsort(other, n, sizeof *other, size_cmp);
        bool same = memcmp(other, sorted, n * sizeof *other) == 0;
        free(other);
        if (same) {
            free(sorted);
            free(idx);
            return CEL_OK;
        }
    }
    free(sorted);
    dq_keydef *nk = realloc(s->keys, (s->nkeys + 1) * sizeof *nk);
    if (nk == NULL) {
        free(idx);
        return cel_fail(err, CEL_ENOMEM, "schema: out of memory");
    }
    s->keys = nk;
    dq_keydef *k = &s->keys[s->nkeys];
    k->label = strdup(label);
    k->path = strdup(path);
    k->fields = idx;
    k->n = n;
    s->nkeys++;
    if (k->label == NULL || k->path == NULL)
        return cel_fail(err, CEL_ENOMEM, "schema: out of memory");
    return CEL_OK;
}

/* A list of field names (or, for primaryKey in v1, one name) -> indices (new). */
static cel_status name_list(pctx *p, const dq_schema *s, const json_t *j, bool allow_string,
                            size_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    size_t cnt = json_is_array(j) ? json_array_size(j) : 1;
    if (!(json_is_array(j) || (allow_string && json_is_string(j))) || cnt == 0 ||
        cnt > DQ_MAX_FIELDS)
        return bad(p, "must be a non-empty array of field names");
    size_t *idx = calloc(cnt, sizeof *idx);
    if (idx == NULL)
        return cel_fail(p->err, CEL_ENOMEM, "schema: out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const json_t *x = json_is_array(j) ? json_array_get(j, i) : j;
        long fi = json_is_string(x) ? field_index(s, json_string_value(x)) : -1;
        if (fi < 0) {
            free(idx);
            char msg[200];
            snprintf(msg, sizeof msg, "entry %zu is not the name of a declared field", i);
            return bad(p, msg);
        }
        idx[i] = (size_t)fi;
    }
    *out = idx;
    *n = cnt;
    return CEL_OK;
}

static cel_status parse_file_options(pctx *p, const json_t *def, dq_schema *s) {
    const json_t *j = json_object_get(def, "format");
    if (j) {
        snprintf(p->path, sizeof p->path, "$.format");
        if (!json_is_string(j))
            return bad(p, "must be a string");
        const char *f = json_string_value(j);
        s->has_format = true;
        if (strcasecmp(f, "csv") == 0)
            s->format = CEL_FMT_CSV;
        else if (strcasecmp(f, "json") == 0)
            s->format = CEL_FMT_JSON;
        else if (strcasecmp(f, "ndjson") == 0 || strcasecmp(f, "jsonl") == 0)
            s->format = CEL_FMT_NDJSON;
        else if (strcasecmp(f, "parquet") == 0)
            s->format = CEL_FMT_PARQUET;
        else if (strcasecmp(f, "auto") == 0)
            s->format = CEL_FMT_AUTO;
        else
            return bad(p, "must be csv, json, ndjson, parquet or auto");
    }
    const json_t *d = json_object_get(def, "dialect");
    if (d == NULL)
        return CEL_OK;
    snprintf(p->path, sizeof p->path, "$.dialect");
    if (!json_is_object(d))
        return bad(p, "must be an object");
    if ((j = json_object_get(d, "delimiter")) != NULL && !one_char(j, &s->delimiter)) {
        snprintf(p->path, sizeof p->path, "$.dialect.delimiter");
        return bad(p, "must be a one-character string");
    }
    if ((j = json_object_get(d, "quoteChar")) != NULL && !one_char(j, &s->quote)) {
        snprintf(p->path, sizeof p->path, "$.dialect.quoteChar");
        return bad(p, "must be a one-character string");
    }
    if ((j = json_object_get(d, "header")) != NULL) {
        snprintf(p->path, sizeof p->path, "$.dialect.header");
        if (!json_is_boolean(j))
            return bad(p, "must be a boolean");
        s->header = json_is_true(j) ? 1 : 0;
    }
    if ((j = json_object_get(d, "encoding")) != NULL) {
        snprintf(p->path, sizeof p->path, "$.dialect.encoding");
        if (!json_is_string(j) || json_string_length(j) > 40)
            return bad(p, "must be a string (utf-8, latin-1, ...)");
        s->encoding = strdup(json_string_value(j));
        if (s->encoding == NULL)
            return cel_fail(p->err, CEL_ENOMEM, "schema: out of memory");
    }
    return CEL_OK;
}

static cel_status parse_all(pctx *p, const json_t *def, dq_schema *s) {
    snprintf(p->path, sizeof p->path, "$");
    if (!json_is_object(def))
        return bad(p, "the schema definition must be a JSON object");
    const json_t *fields = json_object_get(def, "fields");
    snprintf(p->path, sizeof p->path, "$.fields");
    if (!json_is_array(fields))
        return bad(p, "required, must be an array of field descriptors");
    if (json_array_size(fields) > DQ_MAX_FIELDS)
        return bad(p, "more than 4096 fields");
    cel_status st;
    const json_t *mv = json_object_get(def, "missingValues");
    if (mv) {
        snprintf(p->path, sizeof p->path, "$.missingValues");
        st = read_strlist(mv, true, p->path, &s->missing, p->err);
    } else {
        st = strlist_push(&s->missing, "", 0, p->err);
    }
    if (st != CEL_OK)
        return st;
    s->nfields = json_array_size(fields);
    s->fields = calloc(s->nfields ? s->nfields : 1, sizeof *s->fields);
    if (s->fields == NULL)
        return cel_fail(p->err, CEL_ENOMEM, "schema: out of memory");
    for (size_t i = 0; i < s->nfields; i++) {
        snprintf(p->path, sizeof p->path, "$.fields[%zu]", i);
        s->fields[i].index = i;
        st = parse_field(p, json_array_get(fields, i), &s->fields[i]);
        if (st != CEL_OK)
            return st;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(s->fields[k].name, s->fields[i].name) == 0) {
                snprintf(p->path, sizeof p->path, "$.fields[%zu].name", i);
                return bad(p, "duplicate field name");
            }
        }
    }
    const json_t *fm = json_object_get(def, "fieldsMatch");
    s->match = DQ_MATCH_EXACT;
    if (fm) {
        snprintf(p->path, sizeof p->path, "$.fieldsMatch");
        static const char *const names[] = {"exact", "equal", "subset", "superset", "partial"};
        size_t k;
        for (k = 0; k < 5; k++)
            if (json_is_string(fm) && strcmp(json_string_value(fm), names[k]) == 0)
                break;
        if (k == 5)
            return bad(p, "must be exact, equal, subset, superset or partial");
        s->match = (dq_match)k;
    }
    for (size_t i = 0; i < s->nfields; i++) {
        if (!s->fields[i].unique)
            continue;
        char path[96];
        snprintf(path, sizeof path, "fields[%zu].constraints.unique", i);
        size_t *idx = malloc(sizeof *idx);
        if (idx == NULL)
            return cel_fail(p->err, CEL_ENOMEM, "schema: out of memory");
        idx[0] = i;
        st = add_key(s, "unique", path, idx, 1, p->err);
        if (st != CEL_OK)
            return st;
    }
    const json_t *pk = json_object_get(def, "primaryKey");
    if (pk) {
        snprintf(p->path, sizeof p->path, "$.primaryKey");
        size_t *idx, n;
        st = name_list(p, s, pk, true, &idx, &n);
        if (st != CEL_OK)
            return st;
        s->pk = malloc(n * sizeof *s->pk);
        if (s->pk == NULL) {
            free(idx);
            return cel_fail(p->err, CEL_ENOMEM, "schema: out of memory");
        }
        memcpy(s->pk, idx, n * sizeof *s->pk);
        s->npk = n;
        for (size_t i = 0; i < n; i++)
            s->fields[idx[i]].in_pk = true;
        st = add_key(s, "primaryKey", "primaryKey", idx, n, p->err);
        if (st != CEL_OK)
            return st;
    }
    const json_t *uk = json_object_get(def, "uniqueKeys");
    if (uk) {
        snprintf(p->path, sizeof p->path, "$.uniqueKeys");
        if (!json_is_array(uk) || json_array_size(uk) > 256)
            return bad(p, "must be an array (at most 256) of arrays of field names");
        for (size_t k = 0; k < json_array_size(uk); k++) {
            snprintf(p->path, sizeof p->path, "$.uniqueKeys[%zu]", k);
            size_t *idx, n;
            st = name_list(p, s, json_array_get(uk, k), false, &idx, &n);
            if (st != CEL_OK)
                return st;
            char label[48];
            snprintf(label, sizeof label, "uniqueKeys[%zu]", k);
            st = add_key(s, label, label, idx, n, p->err);
            if (st != CEL_OK)
                return st;
        }
    }
    return parse_file_options(p, def, s);
}

cel_status dq_schema_parse(const json_t *def, dq_schema **out, cel_error *err) {
    *out = NULL;
    dq_schema *s = calloc(1, sizeof *s);
    if (s == NULL)
        return cel_fail(err, CEL_ENOMEM, "schema: out of memory");
    s->header = -1;
    s->refs = 1;
    pctx p;
    p.err = err;
    cel_status st = parse_all(&p, def, s);
    if (st != CEL_OK) {
        dq_schema_free(s);
        return st;
    }
    *out = s;
    return CEL_OK;
}

cel_status dq_schema_load(const char *path, dq_schema **out, cel_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cel_fail(err, CEL_EIO, "schema: cannot open %.300s", path);
    dbuf b;
    dbuf_init(&b, 16u << 20);
    char chunk[8192];
    size_t n;
    cel_status st = CEL_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        st = dbuf_append(&b, chunk, n);
        if (st != CEL_OK) {
            st = cel_fail(err, st, "schema: %.300s is larger than 16 MiB", path);
            break;
        }
    }
    if (st == CEL_OK && ferror(f))
        st = cel_fail(err, CEL_EIO, "schema: reading %.300s failed", path);
    fclose(f);
    if (st == CEL_OK) {
        json_error_t jerr;
        json_t *def = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
        if (def == NULL) {
            st = cel_fail(err, CEL_ESCHEMA, "schema: %.300s is not valid JSON (line %d: %s)", path,
                          jerr.line, jerr.text);
        } else {
            st = dq_schema_parse(def, out, err);
            json_decref(def);
        }
    }
    dbuf_free(&b);
    return st;
}

void dq_schema_free(dq_schema *s) {
    if (s == NULL || --s->refs > 0)
        return;
    for (size_t i = 0; i < s->nfields; i++) {
        dq_field *f = &s->fields[i];
        free(f->name);
        free(f->format);
        strlist_free(&f->missing);
        strlist_free(&f->truev);
        strlist_free(&f->falsev);
        if (f->pat != NULL)
            dq_pattern_free(f->pat);
        else if (f->has_pattern)
            regfree(&f->re);
        free(f->enum_keys);
        json_decref(f->constraints);
    }
    free(s->fields);
    strlist_free(&s->missing);
    free(s->pk);
    for (size_t k = 0; k < s->nkeys; k++) {
        free(s->keys[k].label);
        free(s->keys[k].path);
        free(s->keys[k].fields);
    }
    free(s->keys);
    free(s->encoding);
    free(s);
}

size_t dq_schema_nfields(const dq_schema *s) {
    return s ? s->nfields : 0;
}

void dq_schema_reader_opts(const dq_schema *s, cel_reader_opts *opts) {
    if (s == NULL)
        return;
    if (s->has_format)
        opts->format = s->format;
    if (s->delimiter)
        opts->delimiter = s->delimiter;
    if (s->quote)
        opts->quote = s->quote;
    if (s->header >= 0)
        opts->header = s->header;
    if (s->encoding)
        opts->encoding = s->encoding;
}

bool dq_schema_no_header(const dq_schema *s) {
    return s && s->header == 0;
}
