/*
 * dq_engine.c: the quality engine's row sink: one streaming pass that validates
 * and profiles every cell, then an end-of-stream step (dq_engine_finish) that
 * resolves what needs the whole column.
 *
 * Design: on_columns() maps data columns to schema fields (by name; by position
 * for CSV without a header). on_row() turns each cell into a dq_cell once
 * (missing? cast ok? canonical key) and feeds the column's counters, sketches
 * and number store, the uniqueness key sets and the sample reservoir (Vitter's
 * Algorithm R with a seeded splitmix64, so the sample is reproducible).
 * Bad data is counted, never an error: the sink fails only on ENOMEM / EIO
 * (spill files) / internal contract violations.
 *
 * Not here: schema parsing and casting (dq_schema.c), scoring and JSON
 * (dq_report.c), reading files (src/formats).
 */
#include "quality/dq_internal.h"

#include "formats/parquet.h"

#include "celeriac/stream_reader.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_BUDGET ((size_t)256 << 20)
#define MIN_BUDGET ((size_t)4 << 20)
#define DEFAULT_SAMPLE 25
#define MAX_SAMPLE 50
#define DEFAULT_SEED 0x5eedc0ffee123457ULL

/* ---------------------------------------------------------------- examples */

void dq_exlist_add(dq_exlist *l, uint64_t row, uint64_t line, const char *s, size_t n,
                   uint64_t what) {
    if (l->n >= DQ_EXAMPLES)
        return;
    dq_example *x = &l->it[l->n];
    x->row = row;
    x->line = line;
    x->what = what;
    x->text = NULL;
    if (s) {
        x->text = malloc(DQ_EXAMPLE_TEXT + 1);
        if (x->text == NULL)
            return; /* examples are best effort; counts stay exact */
        dq_copy_utf8(x->text, s, n, DQ_EXAMPLE_TEXT);
    }
    l->n++;
}

void dq_exlist_free(dq_exlist *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->it[i].text);
    l->n = 0;
}

/* ---------------------------------------------------------------- options */

static cel_status parse_size(const char *name, const char *s, size_t *out, cel_error *err) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno != 0 || s[0] == '-')
        return cel_fail(err, CEL_ECONFIG, "%s: '%.60s' is not a size (e.g. 268435456, 256M, 1GiB)",
                        name, s);
    while (*end == ' ')
        end++;
    unsigned long long mul = 1;
    if (*end) {
        char u = (char)toupper((unsigned char)*end);
        const char *rest = end + 1;
        if (u == 'K')
            mul = 1ULL << 10;
        else if (u == 'M')
            mul = 1ULL << 20;
        else if (u == 'G')
            mul = 1ULL << 30;
        else
            return cel_fail(err, CEL_ECONFIG, "%s: unknown size unit in '%.60s' (K, M, G)", name,
                            s);
        if (strcasecmp(rest, "") != 0 && strcasecmp(rest, "B") != 0 && strcasecmp(rest, "iB") != 0)
            return cel_fail(err, CEL_ECONFIG, "%s: unknown size unit in '%.60s' (K, M, G)", name,
                            s);
    }
    if (v > (unsigned long long)SIZE_MAX / mul)
        return cel_fail(err, CEL_ECONFIG, "%s: '%.60s' is too large", name, s);
    *out = (size_t)(v * mul);
    return CEL_OK;
}

cel_status dq_options_from_env(dq_options *o, cel_error *err) {
    memset(o, 0, sizeof *o);
    const char *b = getenv("CELERIAC_DQ_MEMORY_BUDGET");
    if (b && *b) {
        cel_status st = parse_size("CELERIAC_DQ_MEMORY_BUDGET", b, &o->memory_budget, err);
        if (st != CEL_OK)
            return st;
        if (o->memory_budget < MIN_BUDGET)
            return cel_fail(err, CEL_ECONFIG,
                            "CELERIAC_DQ_MEMORY_BUDGET: %zu bytes is below the minimum 4 MiB",
                            o->memory_budget);
    }
    const char *t = getenv("CELERIAC_DQ_THREADS");
    if (t && *t) {
        char *end = NULL;
        errno = 0;
        unsigned long n = strtoul(t, &end, 10);
        if (end == t || *end != '\0' || errno != 0 || t[0] == '-' || n < 1 || n > 64)
            return cel_fail(err, CEL_ECONFIG,
                            "CELERIAC_DQ_THREADS: '%.60s' is not a number from 1 to 64", t);
        o->threads = (unsigned)n;
    }
    return CEL_OK;
}

/* ---------------------------------------------------------------- lifecycle */

static void col_init(dq_engine *e, dq_col *c) {
    memset(c, 0, sizeof *c);
    c->min = INFINITY;
    c->max = -INFINITY;
    c->len_min = UINT64_MAX;
    dq_distinct_init(&c->dist, &e->pool_d);
    c->dist.max_exact = DQ_DISTINCT_EXACT;
    dq_topk_init(&c->topk);
}

static void col_free(dq_col *c) {
    free(c->name);
    dq_exlist_free(&c->type_ex);
    dq_exlist_free(&c->bound_ex);
    dq_exlist_free(&c->missing_ex);
    dq_exlist_free(&c->nonnum_ex);
    dq_numstore_free(c->ns);
    dq_distinct_free(&c->dist);
}

cel_status dq_engine_new(const dq_schema *schema, const dq_options *opts, dq_engine **out,
                         cel_error *err) {
    *out = NULL;
    dq_engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory");
    cel_status st = CEL_OK;
    if (opts)
        e->opts = *opts;
    if (schema) {
        /* the engine keeps its own reference: callers may free theirs at any time */
        ((dq_schema *)schema)->refs++;
        e->schema = schema;
    }
    size_t budget = e->opts.memory_budget ? e->opts.memory_budget : DEFAULT_BUDGET;
    if (budget < MIN_BUDGET)
        budget = MIN_BUDGET;
    e->opts.memory_budget = budget;
    size_t q = budget / 16;
    if (q > ((size_t)16 << 20))
        q = (size_t)16 << 20;
    e->pool_q.limit = q;
    e->pool_d.limit = budget / 8;
    e->pool_k.limit = budget - q - budget / 8;
    const char *tmp = e->opts.tmp_dir;
    if (tmp == NULL || *tmp == '\0')
        tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    if (strlen(tmp) >= sizeof e->tmpdir) {
        st = cel_fail(err, CEL_ECONFIG, "quality: spill directory path too long");
        goto fail;
    }
    memcpy(e->tmpdir, tmp, strlen(tmp) + 1);
    e->opts.tmp_dir = e->tmpdir;
    size_t ns = e->opts.sample_rows ? e->opts.sample_rows : DEFAULT_SAMPLE;
    if (ns > MAX_SAMPLE)
        ns = MAX_SAMPLE;
    e->opts.sample_rows = ns;
    if (e->opts.seed == 0)
        e->opts.seed = DEFAULT_SEED;
    e->rng = e->opts.seed;
    e->sample = calloc(ns, sizeof *e->sample);
    if (e->sample == NULL) {
        st = cel_fail(err, CEL_ENOMEM, "quality: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ns; i++)
        dbuf_init(&e->sample[i].cells, (size_t)1 << 20); /* a wider row is left out */
    dbuf_init(&e->scratch, (size_t)64 << 20);
    if (schema) {
        e->field_col = malloc((schema->nfields ? schema->nfields : 1) * sizeof *e->field_col);
        if (e->field_col == NULL) {
            st = cel_fail(err, CEL_ENOMEM, "quality: out of memory");
            goto fail;
        }
        for (size_t i = 0; i < schema->nfields; i++)
            e->field_col[i] = -1;
        if (schema->nkeys) {
            e->ukeys = calloc(schema->nkeys, sizeof *e->ukeys);
            if (e->ukeys == NULL) {
                st = cel_fail(err, CEL_ENOMEM, "quality: out of memory");
                goto fail;
            }
            e->nukeys = schema->nkeys;
            for (size_t k = 0; k < schema->nkeys && st == CEL_OK; k++) {
                e->ukeys[k].def = &schema->keys[k];
                st = dq_keyset_new(&e->pool_k, e->tmpdir, &e->ukeys[k].ks, err);
            }
            if (st != CEL_OK)
                goto fail;
        }
    }
    if (e->opts.dataset_report) {
        st = dq_keyset_new(&e->pool_k, e->tmpdir, &e->rowset, err);
        if (st != CEL_OK)
            goto fail;
    }
    *out = e;
    return CEL_OK;
fail:
    dq_engine_free(e);
    return st;
}

void dq_engine_free(dq_engine *e) {
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->ncols; i++)
        col_free(&e->cols[i]);
    free(e->cols);
    free(e->cells);
    free(e->field_col);
    for (size_t k = 0; k < e->nukeys; k++) {
        dq_keyset_free(e->ukeys[k].ks);
        dq_exlist_free(&e->ukeys[k].ex);
    }
    free(e->ukeys);
    dq_keyset_free(e->rowset);
    dq_exlist_free(&e->shape_ex);
    if (e->sample) {
        for (size_t i = 0; i < e->opts.sample_rows; i++)
            dbuf_free(&e->sample[i].cells);
        free(e->sample);
    }
    dbuf_free(&e->scratch);
    dq_schema_free((dq_schema *)e->schema);
    free(e);
}

void dq_engine_set_format(dq_engine *e, cel_format f) {
    e->format = f;
}

void dq_engine_parse_failed(dq_engine *e, const cel_error *cause) {
    e->parse_failed = true;
    cel_error_clear(&e->parse_err);
    if (cause) {
        e->parse_err.code = cause->code;
        memcpy(e->parse_err.msg, cause->msg, sizeof e->parse_err.msg);
        e->parse_err.msg[sizeof e->parse_err.msg - 1] = '\0';
    }
}

uint64_t dq_engine_rows(const dq_engine *e) {
    return e->rows;
}

bool dq_engine_failed(const dq_engine *e) {
    return e->broken;
}

cel_status dq_engine_read(dq_engine *e, const cel_source *src, const cel_reader_opts *opts,
                          cel_format *used, cel_error *parse_err, cel_error *err) {
    cel_row_sink sink = dq_engine_sink(e);
    cel_format fmt = opts ? opts->format : CEL_FMT_AUTO;
    cel_error rerr = {0};
    cel_error_clear(parse_err);
    cel_status st = e->opts.threads > 1 ? dq_par_read(e, src, opts, &fmt, &rerr)
                                        : cel_read_source(src, opts, &sink, &fmt, &rerr);
    dq_engine_set_format(e, fmt);
    if (used)
        *used = fmt;
    if (st == CEL_OK)
        return CEL_OK;
    bool data =
        !dq_engine_failed(e) && (st == CEL_EPARSE || st == CEL_ELIMIT || st == CEL_EUNSUPPORTED);
    if (data) {
        cel_fail(parse_err, st, "%s", rerr.msg);
        return CEL_OK;
    }
    return cel_fail(err, st, "%s", rerr.msg);
}

size_t dq_engine_pool_peak(const dq_engine *e) {
    return e->pool_q.peak + e->pool_d.peak + e->pool_k.peak;
}

/* ---------------------------------------------------------------- columns */

cel_status dq_on_columns(void *ud, size_t ncols, const char *const *names, cel_error *err) {
    dq_engine *e = ud;
    if (ncols < e->ncols)
        return cel_fail(err, CEL_EINTERNAL,
                        "quality: the reader reduced the column count from "
                        "%zu to %zu",
                        e->ncols, ncols);
    if (ncols > e->capcols) {
        size_t ncap = e->capcols ? e->capcols : 16;
        while (ncap < ncols)
            ncap *= 2;
        dq_col *nc = realloc(e->cols, ncap * sizeof *nc);
        if (nc == NULL)
            return cel_fail(err, CEL_ENOMEM, "quality: out of memory for %zu columns", ncols);
        e->cols = nc;
        dq_cell *cells = realloc(e->cells, ncap * sizeof *cells);
        if (cells == NULL)
            return cel_fail(err, CEL_ENOMEM, "quality: out of memory for %zu columns", ncols);
        e->cells = cells;
        e->capcols = ncap;
        /* distinct tables hold a pointer to the engine's pool, not to the column */
    }
    for (size_t j = e->ncols; j < ncols; j++) {
        dq_col *c = &e->cols[j];
        col_init(e, c);
        const char *nm = names && names[j] ? names[j] : "";
        c->name = strdup(nm);
        if (c->name == NULL)
            return cel_fail(err, CEL_ENOMEM, "quality: out of memory");
        c->index = j;
        c->missing = e->rows; /* rows delivered before this column existed lack it */
        e->missing_cells += e->rows;
        e->complete_rows = 0; /* ... so none of them was complete */
        for (size_t k = 0; k < j; k++) {
            if (strcmp(e->cols[k].name, c->name) == 0) {
                c->dup_name = true;
                break;
            }
        }
        size_t npq = 0;
        const parquet_column_info *pq = parquet_current_columns(&npq);
        if (pq && j < npq && !pq[j].supported) {
            c->unsupported = true;
            snprintf(c->unsupported_why, sizeof c->unsupported_why, "%s",
                     pq[j].why ? pq[j].why : "nested column");
        }
        e->ncols = j + 1;
        if (e->schema == NULL)
            continue;
        long fi = -1;
        if (e->opts.no_header) {
            if (j < e->schema->nfields)
                fi = (long)j;
        } else if (!c->dup_name) {
            for (size_t k = 0; k < e->schema->nfields; k++) {
                if (strcmp(e->schema->fields[k].name, c->name) == 0) {
                    fi = (long)k;
                    break;
                }
            }
        }
        if (fi >= 0) {
            c->field = &e->schema->fields[fi];
            e->field_col[fi] = (long)j;
            if (e->rows && (c->field->required || c->field->in_pk))
                dq_exlist_add(&c->missing_ex, 1, 0, NULL, 0, 0);
        }
    }
    return CEL_OK;
}

/* ---------------------------------------------------------------- cells */

static bool is_missing(const dq_engine *e, const dq_field *f, const cel_value *v) {
    if (v->kind == CEL_V_ABSENT || v->kind == CEL_V_NULL)
        return true;
    if (v->kind != CEL_V_TEXT && v->kind != CEL_V_STRING)
        return false;
    if (e->schema == NULL)
        return v->len == 0;
    return dq_strlist_has(dq_field_missing(e->schema, f), v->s, v->len);
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static void infer_text(dq_col *c, const cel_value *v) {
    const char *s = v->s;
    size_t n = v->len;
    if (n == 0)
        return;
    if (v->kind == CEL_V_TEXT) {
        size_t i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        char ch = i < n ? s[i] : 0;
        bool word = ch == 'i' || ch == 'I' || ch == 'n' || ch == 'N'; /* inf, nan */
        if (is_digit(ch) || ch == '-' || ch == '+' || ch == '.' || (word && n - i <= 12)) {
            double d;
            bool is_int;
            int64_t iv;
            if (dq_parse_number_lenient(s, n, &d, &is_int, &iv)) {
                c->inf[DQ_INF_NUMBER]++;
                if (is_int)
                    c->inf[DQ_INF_INTEGER]++;
                if (ch == '-' || ch == '+')
                    i++;
                if (i + 1 < n && s[i] == '0' && is_digit(s[i + 1]))
                    c->leading_zeros++;
            }
        }
    }
    if (n == 10 && s[4] == '-' && s[7] == '-') {
        dq_tm tm;
        if (dq_parse_date_iso(s, n, &tm))
            c->inf[DQ_INF_DATE]++;
    } else if (n >= 19 && s[4] == '-' && (s[10] == 'T' || s[10] == ' ')) {
        dq_tm tm;
        if (dq_parse_datetime_iso(s, n, true, &tm))
            c->inf[DQ_INF_DATETIME]++;
    } else if (n >= 8 && s[2] == ':') {
        dq_tm tm;
        if (dq_parse_time_iso(s, n, &tm))
            c->inf[DQ_INF_TIME]++;
    } else if ((s[0] | 0x20) == 't' || (s[0] | 0x20) == 'f') {
        if (dq_looks_boolean(s, n))
            c->inf[DQ_INF_BOOLEAN]++;
    }
}

static bool has_leading_zero(const cel_value *v) {
    size_t i = v->s[0] == '-' || v->s[0] == '+';
    return i + 1 < v->len && v->s[i] == '0' && is_digit(v->s[i + 1]);
}

/* A cell that cast to its declared type says what it looks like without a second
 * parse: integer/number fields (whose valid texts the lenient parse accepts too)
 * and default-format dates and datetimes. Returns false when inference must look
 * at the text itself. */
static bool infer_from_cast(dq_col *c, const cel_value *v, const dq_cell *cell) {
    const dq_field *f = c->field;
    if (f == NULL || !cell->valid || v->kind != CEL_V_TEXT || v->len == 0 || f->nf.group_char ||
        f->nf.decimal_char != '.' || !f->nf.bare_number)
        return false;
    switch (f->type) {
    case DQ_T_INTEGER:
        if (!cell->has_int)
            return false; /* beyond int64: a number to the lenient parse */
        c->inf[DQ_INF_INTEGER]++;
        c->inf[DQ_INF_NUMBER]++;
        c->leading_zeros += has_leading_zero(v);
        return true;
    case DQ_T_NUMBER:
        c->inf[DQ_INF_NUMBER]++;
        if (isfinite(cell->num) && cell->num == floor(cell->num) && fabs(cell->num) < 9e18 &&
            memchr(v->s, '.', v->len) == NULL && memchr(v->s, 'e', v->len) == NULL &&
            memchr(v->s, 'E', v->len) == NULL)
            c->inf[DQ_INF_INTEGER]++;
        c->leading_zeros += has_leading_zero(v);
        return true;
    case DQ_T_DATE:
        if (f->fmt != DQ_F_DEFAULT)
            return false;
        c->inf[DQ_INF_DATE]++;
        return true;
    case DQ_T_DATETIME:
        if (f->fmt != DQ_F_DEFAULT)
            return false;
        c->inf[DQ_INF_DATETIME]++;
        return true;
    default:
        return false;
    }
}

static int text_cmp(const char *a, size_t an, const char *b, size_t bn) {
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r)
        return r;
    return (an > bn) - (an < bn);
}

static cel_status profile_cell(dq_engine *e, dq_col *c, const cel_value *v, const dq_cell *cell,
                               uint64_t row, uint64_t line, cel_error *err) {
    bool textual = v->kind == CEL_V_TEXT || v->kind == CEL_V_STRING || v->kind == CEL_V_TEMPORAL;
    switch (v->kind) {
    case CEL_V_INT:
        c->inf[DQ_INF_INTEGER]++;
        c->inf[DQ_INF_NUMBER]++;
        break;
    case CEL_V_DOUBLE:
        c->inf[DQ_INF_NUMBER]++;
        break;
    case CEL_V_BOOL:
        c->inf[DQ_INF_BOOLEAN]++;
        break;
    case CEL_V_JSON:
        if (v->len && v->s[0] == '{')
            c->inf[DQ_INF_OBJECT]++;
        else if (v->len && v->s[0] == '[')
            c->inf[DQ_INF_ARRAY]++;
        break;
    default:
        if (!infer_from_cast(c, v, cell))
            infer_text(c, v);
        break;
    }
    double x;
    if (dq_stat_number(c->field, v, cell, &x)) {
        if (isfinite(x)) {
            c->n_num++;
            double d = x - c->mean;
            c->mean += d / (double)c->n_num;
            c->m2 += d * (x - c->mean);
            if (x < c->min)
                c->min = x;
            if (x > c->max)
                c->max = x;
            if (x == 0)
                c->zeros++;
            else if (x < 0)
                c->negatives++;
            if (c->ns == NULL) {
                cel_status st = dq_numstore_new(&e->pool_q, e->tmpdir, &c->ns, err);
                if (st != CEL_OK)
                    return st;
            }
            cel_status st = dq_numstore_add(c->ns, x, row, err);
            if (st != CEL_OK)
                return st;
        } else {
            c->n_nonfinite++;
        }
    } else {
        c->n_nonnum++;
        if (c->nonnum_ex.n < DQ_EXAMPLES)
            dq_exlist_add(&c->nonnum_ex, row, line, v->s, v->s ? v->len : 0, 0);
    }
    if (textual) {
        uint64_t chars = dq_utf8_chars(v->s, v->len);
        c->len_n++;
        c->len_sum += chars;
        if (chars < c->len_min)
            c->len_min = chars;
        if (chars > c->len_max)
            c->len_max = chars;
        /* declared numbers report numeric min/max: no text comparison for them */
        bool declared_num =
            c->field && (c->field->type == DQ_T_INTEGER || c->field->type == DQ_T_NUMBER);
        if (declared_num)
            ;
        else if (!c->have_text || text_cmp(v->s, v->len, c->tmin, c->tmin_len) < 0)
            c->tmin_len = dq_copy_utf8(c->tmin, v->s, v->len, DQ_TEXT_MINMAX);
        if (declared_num)
            ;
        else if (!c->have_text || text_cmp(v->s, v->len, c->tmax, c->tmax_len) > 0)
            c->tmax_len = dq_copy_utf8(c->tmax, v->s, v->len, DQ_TEXT_MINMAX);
        c->have_text = !declared_num;
    }
    cel_status st = dq_distinct_add(&c->dist, cell->key.a, err);
    if (st != CEL_OK)
        return st;
    if (v->s)
        dq_topk_add(&c->topk, cell->key.a, v->s, v->len);
    return CEL_OK;
}

/* Vitter's Algorithm R; ordinal = 1-based position of the row in the stream. */
static void sample_row(dq_engine *e, uint64_t ordinal, uint64_t row, uint64_t line, size_t ncols,
                       const cel_value *vals, const dq_cell *cells) {
    size_t k = e->opts.sample_rows, slot;
    if (ordinal <= k) {
        slot = (size_t)(ordinal - 1);
    } else {
        uint64_t j = dq_rand_next(&e->rng) % ordinal;
        if (j >= k)
            return;
        slot = (size_t)j;
    }
    dq_sample_row *s = &e->sample[slot];
    s->row = row;
    s->line = line;
    s->used = false;
    dbuf_reset(&s->cells);
    for (size_t j = 0; j < ncols; j++) {
        const cel_value *v = &vals[j];
        unsigned char kind = cells[j].missing ? 0xFF : (unsigned char)v->kind;
        char tmp[DQ_SAMPLE_TEXT + 1];
        size_t len = 0;
        if (kind != 0xFF && v->s)
            len = dq_copy_utf8(tmp, v->s, v->len, DQ_SAMPLE_TEXT);
        uint32_t l32 = (uint32_t)len;
        if (dbuf_append(&s->cells, &kind, 1) != CEL_OK ||
            dbuf_append(&s->cells, &l32, sizeof l32) != CEL_OK ||
            dbuf_append(&s->cells, tmp, len) != CEL_OK) {
            dbuf_reset(&s->cells);
            return; /* the sample is best effort */
        }
    }
    s->used = true;
}

/* Records a duplicate key with its cells' text ("a, b"). */
static void key_example(dq_engine *e, dq_ukey *uk, const cel_value *vals, uint64_t row,
                        uint64_t line, uint64_t first) {
    char buf[DQ_EXAMPLE_TEXT + 1];
    size_t o = 0;
    for (size_t p = 0; p < uk->def->n; p++) {
        const cel_value *v = &vals[e->field_col[uk->def->fields[p]]];
        if (p && o + 2 < DQ_EXAMPLE_TEXT) {
            buf[o++] = ',';
            buf[o++] = ' ';
        }
        if (v->s && o < DQ_EXAMPLE_TEXT)
            o += dq_copy_utf8(buf + o, v->s, v->len, DQ_EXAMPLE_TEXT - o);
    }
    buf[o] = '\0';
    dq_exlist_add(&uk->ex, row, line, buf, o, first);
}

cel_status dq_col_cell(dq_engine *e, dbuf *scratch, size_t j, const cel_value *v, dq_cell *cell,
                       uint64_t row, uint64_t line, cel_error *err) {
    dq_col *c = &e->cols[j];
    const dq_field *f = c->field;
    cell->missing = is_missing(e, f, v);
    if (cell->missing) {
        c->missing++;
        if (f && (f->required || f->in_pk))
            dq_exlist_add(&c->missing_ex, row, line, NULL, 0, 0);
        return CEL_OK;
    }
    c->present++;
    dq_cast(f, v, cell, scratch);
    if (f) {
        if (!cell->valid) {
            c->type_invalid++;
            dq_exlist_add(&c->type_ex, row, line, v->s, v->s ? v->len : 0, 0);
        } else if (f->has_bounds) {
            unsigned m = dq_check_bounds(f, v, cell, scratch);
            if (m) {
                for (int b = 0; b < DQ_B_COUNT; b++)
                    if (m & (1u << b))
                        c->bound_cnt[b]++;
                c->bound_cells++;
                dq_exlist_add(&c->bound_ex, row, line, v->s, v->s ? v->len : 0, m);
            }
        }
    }
    return profile_cell(e, c, v, cell, row, line, err);
}

cel_status dq_row_tail(dq_engine *e, uint64_t ordinal, uint64_t row, uint64_t line, size_t ncols,
                       const cel_value *vals, const dq_cell *cells, const cel_row_extra *extra,
                       cel_error *err) {
    size_t missing = 0;
    bool has_text = false, has_absent = false;
    for (size_t j = 0; j < ncols; j++) {
        missing += cells[j].missing;
        has_text |= vals[j].kind == CEL_V_TEXT;
        has_absent |= vals[j].kind == CEL_V_ABSENT;
    }
    e->missing_cells += missing;
    if (missing == 0)
        e->complete_rows++;
    if (extra->cells) {
        e->extra_rows++;
        dq_exlist_add(&e->shape_ex, row, line, extra->first, extra->first ? extra->first_len : 0,
                      extra->cells);
    } else if (has_text && has_absent) {
        e->short_rows++;
        dq_exlist_add(&e->shape_ex, row, line, NULL, 0, 0);
    }
    for (size_t k = 0; k < e->nukeys; k++) {
        dq_ukey *uk = &e->ukeys[k];
        dq_h128 h = {uk->def->n, 0x6b65797365740000ULL};
        bool skip = false;
        for (size_t p = 0; p < uk->def->n && !skip; p++) {
            long col = e->field_col[uk->def->fields[p]];
            if (col < 0 || cells[col].missing)
                skip = true;
            else
                h = dq_h128_combine(h, cells[col].key);
        }
        if (skip) {
            uk->skipped++;
            continue;
        }
        uint64_t first = 0;
        cel_status st = dq_keyset_add(uk->ks, h, row, uk->ex.n < DQ_EXAMPLES ? &first : NULL, err);
        if (st != CEL_OK)
            return st;
        if (first)
            key_example(e, uk, vals, row, line, first);
    }
    if (e->rowset) {
        static const dq_h128 null_key = {0x6e756c6c6e756c6cULL, 0x4e554c4c4e554c4cULL};
        dq_h128 h = {ncols, 0x726f777365740000ULL};
        for (size_t j = 0; j < ncols; j++)
            h = dq_h128_combine(h, cells[j].missing ? null_key : cells[j].key);
        cel_status st = dq_keyset_add(e->rowset, h, row, NULL, err);
        if (st != CEL_OK)
            return st;
    }
    sample_row(e, ordinal, row, line, ncols, vals, cells);
    return CEL_OK;
}

cel_status dq_row_check(dq_engine *e, uint64_t row_number, size_t ncols, cel_error *err) {
    if (e->finished)
        return cel_fail(err, CEL_EINTERNAL, "quality: row after finish");
    if (ncols != e->ncols)
        return cel_fail(err, CEL_EINTERNAL, "quality: row %llu has %zu cells, %zu columns known",
                        (unsigned long long)row_number, ncols, e->ncols);
    return CEL_OK;
}

/* The single-threaded sink: every cell, then the row's own checks, in place. */
static cel_status on_row(void *ud, uint64_t row_number, uint64_t line, size_t ncols,
                         const cel_value *vals, cel_error *err) {
    dq_engine *e = ud;
    cel_status st = dq_row_check(e, row_number, ncols, err);
    if (st != CEL_OK)
        goto fail;
    e->rows++;
    uint64_t row = row_number ? row_number : e->rows;
    for (size_t j = 0; j < ncols; j++) {
        st = dq_col_cell(e, &e->scratch, j, &vals[j], &e->cells[j], row, line, err);
        if (st != CEL_OK)
            goto fail;
    }
    st = dq_row_tail(e, e->rows, row, line, ncols, vals, e->cells, cel_reader_row_extra(), err);
    if (st != CEL_OK)
        goto fail;
    return CEL_OK;
fail:
    e->broken = true;
    return st;
}

cel_row_sink dq_engine_sink(dq_engine *e) {
    cel_row_sink s = {.ud = e, .on_columns = dq_on_columns, .on_row = on_row};
    return s;
}

/* ---------------------------------------------------------------- finish */

typedef struct scan_ctx {
    dq_col *c;
    double lo, hi, norm, lower, upper;
} scan_ctx;

/* numpy.histogram's equal-bin fast path (numpy/lib/histograms.py): index =
 * floor((v - lo) * bins / (hi - lo)), corrected against the linspace edges. */
static double edge(const scan_ctx *s, int i) {
    if (i >= DQ_HIST_BINS)
        return s->hi;
    return i * ((s->hi - s->lo) / DQ_HIST_BINS) + s->lo;
}

static cel_status scan_visit(void *ud, const dq_nrec *r, size_t n, cel_error *err) {
    (void)err;
    scan_ctx *s = ud;
    dq_col *c = s->c;
    for (size_t i = 0; i < n; i++) {
        double v = r[i].v;
        double f = (v - s->lo) * s->norm;
        int idx = f >= DQ_HIST_BINS ? DQ_HIST_BINS : (int)f;
        if (idx < 0)
            idx = 0;
        if (idx == DQ_HIST_BINS)
            idx--;
        if (v < edge(s, idx))
            idx--;
        if (idx < 0)
            idx = 0;
        if (idx != DQ_HIST_BINS - 1 && v >= edge(s, idx + 1))
            idx++;
        c->hist[idx]++;
        if (v < s->lower || v > s->upper) {
            if (c->n_out_ex < DQ_EXAMPLES)
                c->out_ex[c->n_out_ex++] = r[i];
            c->outliers++;
        }
    }
    return CEL_OK;
}

static cel_status finish_column(dq_col *c, cel_error *err) {
    if (c->ns == NULL || dq_numstore_count(c->ns) == 0)
        return CEL_OK;
    if (!dq_col_profile_numeric(c) && !dq_col_dataset_numeric(c))
        return CEL_OK;
    static const double qs[3] = {0.25, 0.5, 0.75};
    cel_status st = dq_numstore_quantiles(c->ns, qs, 3, c->q, err);
    if (st != CEL_OK)
        return st;
    c->q_ok = true;
    scan_ctx s = {.c = c, .lo = c->min, .hi = c->max};
    if (s.lo == s.hi) {
        s.lo -= 0.5;
        s.hi += 0.5;
    }
    s.norm = DQ_HIST_BINS / (s.hi - s.lo);
    double iqr = c->q[2] - c->q[0];
    s.lower = c->q[0] - 1.5 * iqr;
    s.upper = c->q[2] + 1.5 * iqr;
    c->hist_lo = s.lo;
    c->hist_hi = s.hi;
    return dq_numstore_scan(c->ns, scan_visit, &s, err);
}

size_t dq_finish_tasks(const dq_engine *e) {
    return e->nukeys + 1 + e->ncols;
}

cel_status dq_finish_task(dq_engine *e, size_t t, cel_error *err) {
    if (t < e->nukeys)
        return dq_keyset_finish(e->ukeys[t].ks, err);
    if (t == e->nukeys)
        return e->rowset ? dq_keyset_finish(e->rowset, err) : CEL_OK;
    return finish_column(&e->cols[t - e->nukeys - 1], err);
}

cel_status dq_engine_finish(dq_engine *e, cel_error *err) {
    if (e->finished)
        return cel_fail(err, CEL_EINTERNAL, "quality: dq_engine_finish called twice");
    e->finished = true;
    if (e->broken)
        return cel_fail(err, CEL_EINTERNAL, "quality: the engine failed during the read");
    for (size_t k = 0; k < e->nukeys; k++) {
        dq_ukey *uk = &e->ukeys[k];
        for (size_t p = 0; p < uk->def->n; p++)
            if (e->field_col[uk->def->fields[p]] < 0)
                uk->absent = true;
    }
    /* key sets and columns are independent of each other: with threads, in parallel */
    cel_status st = CEL_OK;
    if (e->opts.threads > 1) {
        st = dq_par_finish(e, err);
    } else {
        size_t n = dq_finish_tasks(e);
        for (size_t t = 0; t < n && st == CEL_OK; t++)
            st = dq_finish_task(e, t, err);
    }
    if (st != CEL_OK)
        e->broken = true;
    return st;
}

/* ---------------------------------------------------------------- column verdicts */

bool dq_col_profile_numeric(const dq_col *c) {
    if (c->field && (c->field->type == DQ_T_INTEGER || c->field->type == DQ_T_NUMBER))
        return true;
    if (c->field && c->field->type != DQ_T_ANY)
        return false;
    const char *t = dq_col_inferred(c);
    return strcmp(t, "integer") == 0 || strcmp(t, "number") == 0;
}

bool dq_col_dataset_numeric(const dq_col *c) {
    if (c->field && (c->field->type == DQ_T_INTEGER || c->field->type == DQ_T_NUMBER))
        return c->n_num + c->n_nonfinite > 0;
    if (c->field && c->field->type != DQ_T_ANY)
        return false;
    return c->present > 0 && c->n_nonnum == 0;
}

const char *dq_col_inferred(const dq_col *c) {
    if (c->present == 0)
        return "null";
    double need = DQ_INFER_CONFIDENCE * (double)c->present;
    if ((double)c->inf[DQ_INF_INTEGER] >= need && c->inf[DQ_INF_INTEGER] == c->inf[DQ_INF_NUMBER])
        return "integer";
    if ((double)c->inf[DQ_INF_NUMBER] >= need)
        return "number";
    static const struct {
        int k;
        const char *name;
    } rest[] = {{DQ_INF_BOOLEAN, "boolean"},   {DQ_INF_DATE, "date"},
                {DQ_INF_DATETIME, "datetime"}, {DQ_INF_TIME, "time"},
                {DQ_INF_OBJECT, "object"},     {DQ_INF_ARRAY, "array"}};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        if ((double)c->inf[rest[i].k] >= need)
            return rest[i].name;
    return "string";
}
