/*
 * dq_report.c: turns the engine's finished state into the outputs of seed 000
 * (metrics, deductions, score, failure context, profile payload) and seed 002
 * (dataset report).
 *
 * Design: the checks are enumerated once into a flat list (category, verdict,
 * message, examples, parameters); scoring, the metrics JSON, the failing-rules
 * list and the single most important failure are all derived from that list, so
 * they cannot disagree. Every list in the output is capped (DQ_LIST_CAP,
 * DQ_PROFILE_COLUMNS, DQ_EXAMPLES); counts are never capped.
 *
 * JSON numbers: integral values below 2^53 are emitted as JSON integers, other
 * finite values as reals, NaN/Inf as null (JSON has no such numbers).
 *
 * Not here: computing statistics (dq_engine.c), storing anything.
 */
#include "quality/dq_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double weights[DQ_CAT_COUNT] = {40, 35, 20, 15, 10};
static const char *const cat_names[DQ_CAT_COUNT] = {"schema", "format", "completeness", "bounds",
                                                    "uniqueness"};
static const char *const cat_metrics[DQ_CAT_COUNT] = {"schemaValidation", "formatParsing",
                                                      "completeness", "boundsRange", "uniqueness"};

double dq_category_weight(dq_category c) {
    return (size_t)c < DQ_CAT_COUNT ? weights[c] : 0;
}

const char *dq_category_name(dq_category c) {
    return (size_t)c < DQ_CAT_COUNT ? cat_names[c] : "?";
}

const char *dq_category_metric(dq_category c) {
    return (size_t)c < DQ_CAT_COUNT ? cat_metrics[c] : "?";
}

int dq_score(const double deductions[DQ_CAT_COUNT], bool *passed) {
    double sum = 0;
    for (int i = 0; i < DQ_CAT_COUNT; i++)
        sum += deductions[i];
    double s = 100 - sum;
    if (s < 0)
        s = 0;
    if (s > 100)
        s = 100;
    int score = (int)rint(s); /* default rounding mode: half to even, like Python round() */
    if (passed)
        *passed = score >= 80;
    return score;
}

size_t dq_truncate_utf8(char *s, size_t max_bytes) {
    size_t n = strlen(s);
    if (n <= max_bytes)
        return n;
    n = max_bytes;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    s[n] = '\0';
    return n;
}

/* ---------------------------------------------------------------- JSON helpers */

typedef struct jb {
    bool oom;
} jb;

static void put(jb *b, json_t *o, const char *k, json_t *v) {
    if (o == NULL || v == NULL || json_object_set_new(o, k, v) != 0)
        b->oom = true;
}

static void push(jb *b, json_t *a, json_t *v) {
    if (a == NULL || v == NULL || json_array_append_new(a, v) != 0)
        b->oom = true;
}

static json_t *jnum(double x) {
    if (!isfinite(x))
        return json_null();
    if (x == floor(x) && fabs(x) < 9007199254740992.0)
        return json_integer((json_int_t)x);
    return json_real(x);
}

static json_t *jpct(uint64_t part, uint64_t whole) {
    if (whole == 0)
        return json_real(0.0);
    return jnum(round(10000.0 * (double)part / (double)whole) / 100.0);
}

static json_t *jstrn(const char *s, size_t n) {
    json_t *v = json_stringn(s, n);
    return v ? v : json_string(""); /* invalid UTF-8 can't reach here; be safe anyway */
}

static json_t *example_json(jb *b, const dq_example *x, bool with_value) {
    json_t *o = json_object();
    put(b, o, "row", json_integer((json_int_t)x->row));
    if (x->line)
        put(b, o, "line", json_integer((json_int_t)x->line));
    if (with_value)
        put(b, o, "value", x->text ? jstrn(x->text, strlen(x->text)) : json_null());
    return o;
}

static json_t *examples_json(jb *b, const dq_exlist *l, bool with_value, size_t cap) {
    json_t *a = json_array();
    for (size_t i = 0; i < l->n && i < cap; i++)
        push(b, a, example_json(b, &l->it[i], with_value));
    return a;
}

/* ---------------------------------------------------------------- checks */

typedef struct chk {
    dq_category cat;
    bool passed;
    const char *rule; /* rule_name */
    char path[128];   /* rule_path */
    char fields[256]; /* validated_field_names */
    char message[512];
    uint64_t violations;
    const dq_exlist *ex; /* examples with values (may be NULL) */
    const dq_dup *dups;  /* uniqueness examples without values */
    size_t ndups;
    bool ex_values;
    json_t *params; /* new reference or NULL */
    const dq_col *col;
    const dq_ukey *uk;
} chk;

typedef struct chklist {
    chk *v;
    size_t n, cap;
    size_t count[DQ_CAT_COUNT], failed[DQ_CAT_COUNT];
} chklist;

static chk *chk_add(chklist *l, dq_category cat, bool passed, const char *rule) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        chk *nv = realloc(l->v, nc * sizeof *nv);
        if (nv == NULL)
            return NULL;
        l->v = nv;
        l->cap = nc;
    }
    chk *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    c->cat = cat;
    c->passed = passed;
    c->rule = rule;
    l->count[cat]++;
    if (!passed)
        l->failed[cat]++;
    return c;
}

static void chklist_free(chklist *l) {
    for (size_t i = 0; i < l->n; i++)
        json_decref(l->v[i].params);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static bool names_unordered(const dq_engine *e) {
    return e->format == CEL_FMT_JSON || e->format == CEL_FMT_NDJSON;
}

static const char *match_name(dq_match m) {
    static const char *const n[] = {"exact", "equal", "subset", "superset", "partial"};
    return n[m];
}

static cel_status field_match_checks(const dq_engine *e, chklist *l, cel_error *err) {
    const dq_schema *s = e->schema;
    size_t D = s->nfields, C = e->ncols;
    dq_match m = s->match;
    if (m == DQ_MATCH_EXACT && !e->opts.no_header && !names_unordered(e)) {
        size_t N = D > C ? D : C;
        for (size_t i = 0; i < N; i++) {
            bool ok = i < D && i < C && strcmp(s->fields[i].name, e->cols[i].name) == 0;
            chk *c = chk_add(l, DQ_CAT_SCHEMA, ok, "fieldsMatch");
            if (c == NULL)
                goto oom;
            snprintf(c->path, sizeof c->path, i < D ? "fields[%zu]" : "columns[%zu]", i);
            snprintf(c->fields, sizeof c->fields, "%.200s",
                     i < D ? s->fields[i].name : e->cols[i].name);
            if (i >= C)
                snprintf(c->message, sizeof c->message,
                         "field '%.100s' (position %zu) is missing from the data",
                         s->fields[i].name, i + 1);
            else if (i >= D)
                snprintf(c->message, sizeof c->message,
                         "column '%.100s' at position %zu is not declared in the schema",
                         e->cols[i].name, i + 1);
            else if (!ok)
                snprintf(c->message, sizeof c->message,
                         "position %zu: expected field '%.100s', found column '%.100s'", i + 1,
                         s->fields[i].name, e->cols[i].name);
            else
                snprintf(c->message, sizeof c->message, "field '%.100s' at position %zu",
                         s->fields[i].name, i + 1);
            c->params = json_pack("{s:s}", "fieldsMatch", "exact");
        }
        return CEL_OK;
    }
    if (e->opts.no_header) {
        size_t N = D > C ? D : C;
        bool any = D > 0 && C > 0;
        for (size_t i = 0; i < N; i++) {
            bool present = i < C, declared = i < D, ok;
            switch (m) {
            case DQ_MATCH_SUBSET:
                ok = !declared || present;
                break;
            case DQ_MATCH_SUPERSET:
                ok = !present || declared;
                break;
            case DQ_MATCH_PARTIAL:
                ok = any;
                break;
            default:
                ok = present && declared;
                break;
            }
            chk *c = chk_add(l, DQ_CAT_SCHEMA, ok, "fieldsMatch");
            if (c == NULL)
                goto oom;
            snprintf(c->path, sizeof c->path, declared ? "fields[%zu]" : "columns[%zu]", i);
            snprintf(c->fields, sizeof c->fields, "%.200s",
                     declared ? s->fields[i].name : e->cols[i].name);
            snprintf(c->message, sizeof c->message,
                     !present    ? "field '%.100s' (position %zu) has no column in the data"
                     : !declared ? "column %.0s%zu is not declared in the schema"
                                 : "field '%.100s' is column %zu",
                     declared ? s->fields[i].name : "", i + 1);
            c->params = json_pack("{s:s}", "fieldsMatch", match_name(m));
        }
        return CEL_OK;
    }
    bool any_present = false;
    for (size_t i = 0; i < D; i++)
        if (e->field_col[i] >= 0)
            any_present = true;
    for (size_t i = 0; i < D; i++) {
        bool present = e->field_col[i] >= 0;
        bool ok = present || m == DQ_MATCH_SUPERSET || m == DQ_MATCH_PARTIAL;
        if (m == DQ_MATCH_PARTIAL)
            ok = any_present;
        chk *c = chk_add(l, DQ_CAT_SCHEMA, ok, "fieldsMatch");
        if (c == NULL)
            goto oom;
        snprintf(c->path, sizeof c->path, "fields[%zu]", i);
        snprintf(c->fields, sizeof c->fields, "%.200s", s->fields[i].name);
        if (!ok && m == DQ_MATCH_PARTIAL)
            snprintf(c->message, sizeof c->message,
                     "no declared field is present in the data (fieldsMatch=partial)");
        else if (!present)
            snprintf(c->message, sizeof c->message, "field '%.100s' is missing from the data",
                     s->fields[i].name);
        else
            snprintf(c->message, sizeof c->message, "field '%.100s' is present", s->fields[i].name);
        c->params = json_pack("{s:s}", "fieldsMatch", match_name(m));
    }
    for (size_t j = 0; j < C; j++) {
        const dq_col *col = &e->cols[j];
        if (col->field)
            continue;
        bool ok = m == DQ_MATCH_SUBSET || m == DQ_MATCH_PARTIAL;
        if (m == DQ_MATCH_PARTIAL)
            ok = any_present;
        chk *c = chk_add(l, DQ_CAT_SCHEMA, ok, "fieldsMatch");
        if (c == NULL)
            goto oom;
        snprintf(c->path, sizeof c->path, "columns[%zu]", j);
        snprintf(c->fields, sizeof c->fields, "%.200s", col->name);
        snprintf(c->message, sizeof c->message,
                 col->dup_name ? "column '%.100s' appears more than once in the data"
                               : "column '%.100s' is not declared in the schema",
                 col->name);
        c->params = json_pack("{s:s}", "fieldsMatch", match_name(m));
    }
    return CEL_OK;
oom:
    return cel_fail(err, CEL_ENOMEM, "quality: out of memory");
}

static void type_label(const dq_field *f, char *out, size_t n) {
    if (f->format && strcmp(f->format, "default") != 0)
        snprintf(out, n, "%s/%.60s", dq_type_name(f->type), f->format);
    else
        snprintf(out, n, "%s", dq_type_name(f->type));
}

static json_t *bounds_params(const dq_field *f) {
    json_t *p = json_object();
    if (p == NULL || f->constraints == NULL)
        return p;
    const char *k;
    json_t *v;
    json_object_foreach(f->constraints, k, v) {
        if (strcmp(k, "required") == 0 || strcmp(k, "unique") == 0)
            continue;
        json_object_set(p, k, v);
    }
    return p;
}

static cel_status field_checks(const dq_engine *e, chklist *l, cel_error *err) {
    const dq_schema *s = e->schema;
    /* format: every declared field present in the data */
    for (size_t i = 0; i < s->nfields; i++) {
        const dq_field *f = &s->fields[i];
        long j = e->field_col[i];
        if (j < 0)
            continue;
        const dq_col *col = &e->cols[j];
        chk *c = chk_add(l, DQ_CAT_FORMAT, col->type_invalid == 0, "type");
        if (c == NULL)
            goto oom;
        char tl[80];
        type_label(f, tl, sizeof tl);
        snprintf(c->path, sizeof c->path, "fields[%zu].type", i);
        snprintf(c->fields, sizeof c->fields, "%.200s", f->name);
        c->violations = col->type_invalid;
        c->ex = &col->type_ex;
        c->ex_values = true;
        c->col = col;
        snprintf(c->message, sizeof c->message, "%llu of %llu values in '%.100s' are not valid %s",
                 (unsigned long long)col->type_invalid, (unsigned long long)col->present, f->name,
                 tl);
        c->params = json_pack("{s:s,s:s}", "type", dq_type_name(f->type), "format",
                              f->format ? f->format : "default");
    }
    /* row shape (CSV ragged rows): a check only when some row is ragged */
    if (e->extra_rows || e->short_rows) {
        chk *c = chk_add(l, DQ_CAT_FORMAT, false, "rowShape");
        if (c == NULL)
            goto oom;
        snprintf(c->path, sizeof c->path, "file");
        c->violations = e->extra_rows + e->short_rows;
        c->ex = &e->shape_ex;
        c->ex_values = true;
        snprintf(c->message, sizeof c->message,
                 "%llu rows have more cells than the header, %llu rows have fewer (first at "
                 "row %llu)",
                 (unsigned long long)e->extra_rows, (unsigned long long)e->short_rows,
                 (unsigned long long)(e->shape_ex.n ? e->shape_ex.it[0].row : 0));
        c->params = json_pack("{s:I}", "columns", (json_int_t)e->ncols);
    }
    /* completeness: required and primary-key fields */
    for (size_t i = 0; i < s->nfields; i++) {
        const dq_field *f = &s->fields[i];
        if (!f->required && !f->in_pk)
            continue;
        long j = e->field_col[i];
        uint64_t missing = j < 0 ? e->rows : e->cols[j].missing;
        chk *c = chk_add(l, DQ_CAT_COMPLETENESS, missing == 0, "required");
        if (c == NULL)
            goto oom;
        snprintf(c->path, sizeof c->path,
                 f->required ? "fields[%zu].constraints.required" : "primaryKey", i);
        snprintf(c->fields, sizeof c->fields, "%.200s", f->name);
        c->violations = missing;
        if (j >= 0) {
            c->ex = &e->cols[j].missing_ex;
            c->col = &e->cols[j];
        }
        if (j < 0 && e->rows)
            snprintf(c->message, sizeof c->message,
                     "required field '%.100s' is missing from the data (%llu rows)", f->name,
                     (unsigned long long)e->rows);
        else
            snprintf(c->message, sizeof c->message,
                     "%llu of %llu rows have no value for required field '%.100s'",
                     (unsigned long long)missing, (unsigned long long)e->rows, f->name);
        c->params =
            f->required ? json_pack("{s:b}", "required", 1) : json_pack("{s:b}", "primaryKey", 1);
    }
    /* bounds */
    for (size_t i = 0; i < s->nfields; i++) {
        const dq_field *f = &s->fields[i];
        long j = e->field_col[i];
        if (!f->has_bounds || j < 0)
            continue;
        const dq_col *col = &e->cols[j];
        chk *c = chk_add(l, DQ_CAT_BOUNDS, col->bound_cells == 0, "bounds");
        if (c == NULL)
            goto oom;
        int first = -1;
        for (int b = 0; b < DQ_B_COUNT; b++)
            if (col->bound_cnt[b] && first < 0)
                first = b;
        if (first >= 0)
            c->rule = dq_bkind_name((dq_bkind)first);
        snprintf(c->path, sizeof c->path, "fields[%zu].constraints%s%s", i, first >= 0 ? "." : "",
                 first >= 0 ? dq_bkind_name((dq_bkind)first) : "");
        snprintf(c->fields, sizeof c->fields, "%.200s", f->name);
        c->violations = col->bound_cells;
        c->ex = &col->bound_ex;
        c->ex_values = true;
        c->col = col;
        int o = snprintf(c->message, sizeof c->message, "%llu values in '%.100s' violate",
                         (unsigned long long)col->bound_cells, f->name);
        bool firstpart = true;
        for (int b = 0; b < DQ_B_COUNT && o > 0 && (size_t)o < sizeof c->message; b++) {
            if (!col->bound_cnt[b])
                continue;
            o += snprintf(c->message + o, sizeof c->message - (size_t)o, "%s %s (%llu)",
                          firstpart ? "" : ",", dq_bkind_name((dq_bkind)b),
                          (unsigned long long)col->bound_cnt[b]);
            firstpart = false;
        }
        if (firstpart)
            snprintf(c->message, sizeof c->message, "all values in '%.100s' are within bounds",
                     f->name);
        c->params = bounds_params(f);
    }
    /* uniqueness */
    for (size_t k = 0; k < e->nukeys; k++) {
        const dq_ukey *uk = &e->ukeys[k];
        uint64_t dups = uk->absent ? 0 : dq_keyset_duplicates(uk->ks);
        chk *c = chk_add(l, DQ_CAT_UNIQUENESS, dups == 0,
                         strcmp(uk->def->label, "unique") == 0       ? "unique"
                         : strcmp(uk->def->label, "primaryKey") == 0 ? "primaryKey"
                                                                     : "uniqueKeys");
        if (c == NULL)
            goto oom;
        snprintf(c->path, sizeof c->path, "%.120s", uk->def->path);
        size_t o = 0;
        for (size_t p = 0; p < uk->def->n && o < sizeof c->fields - 1; p++)
            o += (size_t)snprintf(c->fields + o, sizeof c->fields - o, "%s%.100s", p ? "," : "",
                                  s->fields[uk->def->fields[p]].name);
        c->violations = dups;
        c->uk = uk;
        if (uk->ex.n) {
            c->ex = &uk->ex;
            c->ex_values = true;
        } else {
            c->dups = dq_keyset_examples(uk->ks, &c->ndups);
        }
        if (uk->absent)
            snprintf(c->message, sizeof c->message,
                     "not evaluated: a field of %.100s (%.120s) is not in the data", uk->def->label,
                     c->fields);
        else
            snprintf(c->message, sizeof c->message, "%llu duplicate %s in %.100s (%.120s)",
                     (unsigned long long)dups, dups == 1 ? "value" : "values", uk->def->label,
                     c->fields);
        c->params = json_pack("{s:s}", "key", uk->def->label);
    }
    return CEL_OK;
oom:
    return cel_fail(err, CEL_ENOMEM, "quality: out of memory");
}

/* Schema checks: the field/column match, plus one failing check per column the reader
 * could not deliver (Parquet nested columns: list, map, struct), so such a file is reported
 * as "unsupported column" instead of being read wrongly. */
static cel_status schema_checks(const dq_engine *e, chklist *l, cel_error *err) {
    cel_status st = field_match_checks(e, l, err);
    for (size_t j = 0; st == CEL_OK && j < e->ncols; j++) {
        const dq_col *col = &e->cols[j];
        if (!col->unsupported)
            continue;
        chk *c = chk_add(l, DQ_CAT_SCHEMA, false, "unsupportedColumn");
        if (c == NULL)
            return cel_fail(err, CEL_ENOMEM, "quality: out of memory");
        snprintf(c->path, sizeof c->path, "columns[%zu]", j);
        snprintf(c->fields, sizeof c->fields, "%.200s", col->name);
        snprintf(c->message, sizeof c->message, "column '%.100s' is not supported: %.150s",
                 col->name, col->unsupported_why);
        c->params = json_pack("{s:s}", "reason", col->unsupported_why);
    }
    return st;
}

static cel_status build_checks(const dq_engine *e, chklist *l, cel_error *err) {
    memset(l, 0, sizeof *l);
    if (e->schema == NULL || e->parse_failed)
        return CEL_OK;
    cel_status st = schema_checks(e, l, err);
    if (st == CEL_OK)
        st = field_checks(e, l, err);
    return st;
}

/* ---------------------------------------------------------------- metrics */

static json_t *chk_examples(jb *b, const chk *c, size_t cap) {
    json_t *a = json_array();
    if (c->ex) {
        for (size_t i = 0; i < c->ex->n && i < cap; i++) {
            const dq_example *x = &c->ex->it[i];
            json_t *o = example_json(b, x, c->ex_values);
            if (c->cat == DQ_CAT_BOUNDS) {
                json_t *v = json_array();
                for (int k = 0; k < DQ_B_COUNT; k++)
                    if (x->what & (1u << k))
                        push(b, v, json_string(dq_bkind_name((dq_bkind)k)));
                put(b, o, "violated", v);
            }
            if (c->cat == DQ_CAT_UNIQUENESS && x->what)
                put(b, o, "duplicateOf", json_integer((json_int_t)x->what));
            push(b, a, o);
        }
    } else if (c->dups) {
        for (size_t i = 0; i < c->ndups && i < cap; i++) {
            json_t *o = json_object();
            put(b, o, "row", json_integer((json_int_t)c->dups[i].row));
            put(b, o, "duplicateOf", json_integer((json_int_t)c->dups[i].first_row));
            push(b, a, o);
        }
    }
    return a;
}

static json_t *category_metric(jb *b, const dq_engine *e, const chklist *l, dq_category cat,
                               double deduction) {
    json_t *m = json_object();
    bool passed = l->failed[cat] == 0;
    char details[700];
    if (e->parse_failed) {
        passed = false;
        if (cat == DQ_CAT_FORMAT)
            snprintf(details, sizeof details, "the file could not be parsed: %.600s",
                     e->parse_err.msg);
        else
            snprintf(details, sizeof details, "not evaluated: the file could not be parsed");
    } else if (e->schema == NULL) {
        snprintf(details, sizeof details, cat == DQ_CAT_FORMAT ? "parsed; no schema" : "no schema");
    } else if (l->count[cat] == 0) {
        static const char *const none[DQ_CAT_COUNT] = {
            "no fields declared", "no declared field is in the data", "no required fields",
            "no bounded fields", "no unique fields or keys"};
        snprintf(details, sizeof details, "%s", none[cat]);
    } else if (passed) {
        static const char *const ok[DQ_CAT_COUNT] = {
            "field checks passed", "fields have only values of their type/format",
            "required fields are complete", "bounded fields are within bounds",
            "unique keys are unique"};
        snprintf(details, sizeof details, "all %zu %s", l->count[cat], ok[cat]);
    } else {
        const chk *first = NULL;
        for (size_t i = 0; i < l->n && !first; i++)
            if (l->v[i].cat == cat && !l->v[i].passed)
                first = &l->v[i];
        int o = snprintf(details, sizeof details, "%zu of %zu checks failed: %.500s",
                         l->failed[cat], l->count[cat], first ? first->message : "");
        if (l->failed[cat] > 1 && o > 0 && (size_t)o < sizeof details)
            snprintf(details + o, sizeof details - (size_t)o, " (and %zu more)",
                     l->failed[cat] - 1);
    }
    put(b, m, "passed", json_boolean(passed));
    put(b, m, "evaluated", json_boolean(!e->parse_failed || cat == DQ_CAT_FORMAT));
    put(b, m, "details", json_string(details));
    put(b, m, "checks", json_integer((json_int_t)l->count[cat]));
    put(b, m, "failedChecks", json_integer((json_int_t)l->failed[cat]));
    put(b, m, "weight", jnum(weights[cat]));
    put(b, m, "deduction", jnum(deduction));
    if (cat == DQ_CAT_FORMAT) {
        put(b, m, "parsed", json_boolean(!e->parse_failed));
        put(b, m, "rowsRead", json_integer((json_int_t)e->rows));
        if (e->format != CEL_FMT_AUTO) {
            static const char *const fn[] = {"auto", "csv", "json", "ndjson", "parquet"};
            put(b, m, "format", json_string((size_t)e->format < 5 ? fn[e->format] : "?"));
        }
        put(b, m, "extraCellRows", json_integer((json_int_t)e->extra_rows));
        put(b, m, "shortRows", json_integer((json_int_t)e->short_rows));
        if (e->parse_failed) {
            put(b, m, "error", json_string(e->parse_err.msg));
            put(b, m, "errorCode", json_string(cel_strerror(e->parse_err.code)));
        }
    }
    if (cat == DQ_CAT_SCHEMA && e->schema) {
        put(b, m, "fieldsMatch", json_string(match_name(e->schema->match)));
        json_t *exp = json_array(), *act = json_array();
        for (size_t i = 0; i < e->schema->nfields && i < DQ_PROFILE_COLUMNS; i++)
            push(b, exp, json_string(e->schema->fields[i].name));
        for (size_t j = 0; j < e->ncols && j < DQ_PROFILE_COLUMNS; j++)
            push(b, act, jstrn(e->cols[j].name, strlen(e->cols[j].name)));
        put(b, m, "expectedFields", exp);
        put(b, m, "actualFields", act);
    }
    if (cat == DQ_CAT_COMPLETENESS) {
        put(b, m, "missingCells", json_integer((json_int_t)e->missing_cells));
        put(b, m, "completeRows", json_integer((json_int_t)e->complete_rows));
    }
    json_t *fails = json_array();
    size_t nf = 0;
    for (size_t i = 0; i < l->n && nf < DQ_LIST_CAP; i++) {
        const chk *c = &l->v[i];
        if (c->cat != cat || c->passed)
            continue;
        nf++;
        json_t *o = json_object();
        put(b, o, "rule", json_string(c->rule));
        put(b, o, "path", json_string(c->path));
        put(b, o, "fields", jstrn(c->fields, strlen(c->fields)));
        put(b, o, "message", jstrn(c->message, strlen(c->message)));
        if (cat != DQ_CAT_SCHEMA) {
            put(b, o, "violations", json_integer((json_int_t)c->violations));
            if (c->col && c->col->present + c->col->missing)
                put(b, o, "violationPercent", jpct(c->violations, e->rows));
            put(b, o, "firstRows", chk_examples(b, c, DQ_EXAMPLES));
        }
        if (cat == DQ_CAT_BOUNDS && c->col) {
            json_t *by = json_object();
            for (int k = 0; k < DQ_B_COUNT; k++)
                if (c->col->bound_cnt[k])
                    put(b, by, dq_bkind_name((dq_bkind)k),
                        json_integer((json_int_t)c->col->bound_cnt[k]));
            put(b, o, "byConstraint", by);
        }
        if (cat == DQ_CAT_UNIQUENESS && c->uk)
            put(b, o, "keysChecked", json_integer((json_int_t)(dq_keyset_keys(c->uk->ks))));
        if (c->params)
            put(b, o, "parameters", json_incref(c->params));
        push(b, fails, o);
    }
    put(b, m, "failures", fails);
    return m;
}

/* validated_values: a JSON array of the first failing values that fits in 250 bytes. */
static void values_text(const chk *c, char *out, size_t outsz) {
    json_t *a = json_array();
    snprintf(out, outsz, "[]");
    if (a == NULL || c->ex == NULL || !c->ex_values) {
        json_decref(a);
        return;
    }
    for (size_t i = 0; i < c->ex->n; i++) {
        const char *t = c->ex->it[i].text;
        char cut[61];
        dq_copy_utf8(cut, t ? t : "", t ? strlen(t) : 0, 60);
        json_array_append_new(a, json_string(cut));
        char *d = json_dumps(a, JSON_COMPACT);
        if (d == NULL || strlen(d) >= outsz || strlen(d) > DQ_FV_MAX) {
            free(d);
            break;
        }
        snprintf(out, outsz, "%s", d);
        free(d);
    }
    json_decref(a);
}

static void fv_set(char *dst, const char *src) {
    dq_copy_utf8(dst, src ? src : "", src ? strlen(src) : 0, DQ_FV_MAX);
}

static void fill_failure(const dq_engine *e, const chk *c, dq_failed_validation *fv) {
    memset(fv, 0, sizeof *fv);
    fv->present = true;
    if (c == NULL) { /* parse failure */
        fv_set(fv->rule_name, "formatParsing");
        fv_set(fv->rule_type, "format");
        fv_set(fv->rule_path, "file");
        char msg[1100];
        snprintf(msg, sizeof msg, "the file could not be parsed: %s", e->parse_err.msg);
        fv_set(fv->validated_message, msg);
        fv_set(fv->rule_parameters, "{}");
        fv_set(fv->validated_values, "[]");
        return;
    }
    fv_set(fv->rule_name, c->rule);
    fv_set(fv->rule_type, dq_category_name(c->cat));
    fv_set(fv->rule_path, c->path);
    fv_set(fv->validated_field_names, c->fields);
    char vals[DQ_FV_MAX + 1];
    values_text(c, vals, sizeof vals);
    fv_set(fv->validated_values, vals);
    char *p = c->params ? json_dumps(c->params, JSON_COMPACT) : NULL;
    fv_set(fv->rule_parameters, p ? p : "{}");
    free(p);
    fv_set(fv->validated_message, c->message);
}

/* Appends to the bounded message buffer; past its cap the message is simply cut. */
static void msg_add(dbuf *m, const char *a, const char *b, const char *c) {
    if (dbuf_append_str(m, a) != CEL_OK || dbuf_append_str(m, b) != CEL_OK ||
        dbuf_append_str(m, c) != CEL_OK)
        return;
}

cel_status dq_engine_result(dq_engine *e, dq_result *out, cel_error *err) {
    memset(out, 0, sizeof *out);
    if (!e->finished || e->broken)
        return cel_fail(err, CEL_EINTERNAL, "quality: result requested before a successful finish");
    chklist l;
    cel_status st = build_checks(e, &l, err);
    if (st != CEL_OK) {
        chklist_free(&l);
        return st;
    }
    for (int c = 0; c < DQ_CAT_COUNT; c++)
        out->deductions[c] =
            l.count[c] ? weights[c] * (double)l.failed[c] / (double)l.count[c] : 0.0;
    if (e->parse_failed) {
        memset(out->deductions, 0, sizeof out->deductions);
        out->deductions[DQ_CAT_FORMAT] = weights[DQ_CAT_FORMAT];
    }
    out->score = dq_score(out->deductions, &out->passed);
    jb b = {false};
    out->deductions_json = json_object();
    out->metrics = json_object();
    out->failed_rules = json_array();
    for (int c = 0; c < DQ_CAT_COUNT; c++) {
        put(&b, out->deductions_json, cat_names[c], jnum(out->deductions[c]));
        put(&b, out->metrics, cat_metrics[c],
            category_metric(&b, e, &l, (dq_category)c, out->deductions[c]));
    }
    /* failing rules, most important category first */
    const chk *top = NULL;
    size_t nr = 0;
    dbuf msg;
    dbuf_init(&msg, 4096);
    if (e->parse_failed) {
        json_t *o = json_object();
        put(&b, o, "rule_name", json_string("formatParsing"));
        put(&b, o, "rule_type", json_string("format"));
        put(&b, o, "rule_path", json_string("file"));
        put(&b, o, "message", json_string(e->parse_err.msg));
        push(&b, out->failed_rules, o);
        fill_failure(e, NULL, &out->failure);
        msg_add(&msg, "the file could not be parsed: ", e->parse_err.msg, "");
    }
    for (int cat = 0; cat < DQ_CAT_COUNT; cat++) {
        bool first_in_cat = true;
        for (size_t i = 0; i < l.n; i++) {
            const chk *c = &l.v[i];
            if ((int)c->cat != cat || c->passed)
                continue;
            if (top == NULL)
                top = c;
            if (first_in_cat) {
                char more[48] = "";
                if (l.failed[cat] > 1)
                    snprintf(more, sizeof more, " (+%zu more)", l.failed[cat] - 1);
                msg_add(&msg, msg.len ? "; " : "", cat_names[cat], ": ");
                msg_add(&msg, c->message, more, "");
                first_in_cat = false;
            }
            if (nr >= DQ_LIST_CAP)
                continue;
            nr++;
            json_t *o = json_object();
            put(&b, o, "rule_name", json_string(c->rule));
            put(&b, o, "rule_type", json_string(cat_names[cat]));
            put(&b, o, "rule_path", json_string(c->path));
            put(&b, o, "fields", jstrn(c->fields, strlen(c->fields)));
            put(&b, o, "violations", json_integer((json_int_t)c->violations));
            put(&b, o, "message", jstrn(c->message, strlen(c->message)));
            if (c->params)
                put(&b, o, "parameters", json_incref(c->params));
            put(&b, o, "examples", chk_examples(&b, c, 3));
            push(&b, out->failed_rules, o);
        }
    }
    if (top && !e->parse_failed)
        fill_failure(e, top, &out->failure);
    if (msg.len) {
        out->failed_message = malloc(1001);
        if (out->failed_message) {
            snprintf(out->failed_message, 1001, "%s", msg.data);
            dq_truncate_utf8(out->failed_message, 1000);
        } else {
            b.oom = true;
        }
    }
    dbuf_free(&msg);
    chklist_free(&l);
    if (b.oom) {
        dq_result_free(out);
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory building the result");
    }
    return CEL_OK;
}

void dq_result_free(dq_result *r) {
    if (r == NULL)
        return;
    json_decref(r->metrics);
    json_decref(r->deductions_json);
    json_decref(r->failed_rules);
    free(r->failed_message);
    memset(r, 0, sizeof *r);
}

json_t *dq_result_json(const dq_result *r) {
    jb b = {false};
    json_t *o = json_object();
    put(&b, o, "score", json_integer(r->score));
    put(&b, o, "passed", json_boolean(r->passed));
    put(&b, o, "deductions", json_incref(r->deductions_json));
    put(&b, o, "metrics", json_incref(r->metrics));
    put(&b, o, "failed_validation_message",
        r->failed_message ? json_string(r->failed_message) : json_null());
    put(&b, o, "failed_validation_rules", json_incref(r->failed_rules));
    if (r->failure.present) {
        const dq_failed_validation *f = &r->failure;
        json_t *fv = json_object();
        put(&b, fv, "rule_name", json_string(f->rule_name));
        put(&b, fv, "rule_type", json_string(f->rule_type));
        put(&b, fv, "rule_path", json_string(f->rule_path));
        put(&b, fv, "validated_field_names", json_string(f->validated_field_names));
        put(&b, fv, "validated_values", json_string(f->validated_values));
        put(&b, fv, "rule_parameters", json_string(f->rule_parameters));
        put(&b, fv, "validated_message", json_string(f->validated_message));
        put(&b, o, "failed_validation", fv);
    } else {
        put(&b, o, "failed_validation", json_null());
    }
    if (b.oom) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---------------------------------------------------------------- profile */

static double col_std(const dq_col *c) {
    return c->n_num >= 2 ? sqrt(c->m2 / (double)(c->n_num - 1)) : NAN;
}

typedef struct topv {
    const dq_topk_item *it;
    uint64_t count;
} topv;

static int topv_cmp(const void *x, const void *y) {
    const topv *a = x, *b = y;
    if (a->count != b->count)
        return a->count < b->count ? 1 : -1;
    int r = memcmp(a->it->text, b->it->text, a->it->len < b->it->len ? a->it->len : b->it->len);
    return r ? r : (a->it->len > b->it->len) - (a->it->len < b->it->len);
}

static json_t *top_values(jb *b, const dq_col *c, bool *exact) {
    topv v[DQ_TOPK_K];
    size_t n = c->topk.n;
    bool dexact = !c->dist.approx;
    for (size_t i = 0; i < n; i++) {
        v[i].it = &c->topk.items[i];
        uint64_t ex = dexact ? dq_distinct_count_of(&c->dist, c->topk.items[i].h) : 0;
        v[i].count = ex ? ex : c->topk.items[i].count;
    }
    qsort(v, n, sizeof v[0], topv_cmp);
    size_t k = n < DQ_TOP_VALUES ? n : DQ_TOP_VALUES;
    *exact = dexact;
    if (dexact && c->topk.decrements > 0) {
        uint64_t best[DQ_TOP_VALUES];
        size_t nb = dq_distinct_top_counts(&c->dist, best, DQ_TOP_VALUES);
        if (nb != k)
            *exact = false;
        for (size_t i = 0; i < k && *exact; i++)
            if (best[i] != v[i].count)
                *exact = false;
    } else if (!dexact) {
        *exact = c->topk.decrements == 0;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < k; i++) {
        json_t *o = json_object();
        put(b, o, "value", jstrn(v[i].it->text, v[i].it->len));
        put(b, o, "count", json_integer((json_int_t)v[i].count));
        if (v[i].it->truncated)
            put(b, o, "truncated", json_true());
        push(b, a, o);
    }
    return a;
}

static json_t *minmax(const dq_col *c, bool is_max) {
    if (dq_col_profile_numeric(c) && c->n_num)
        return jnum(is_max ? c->max : c->min);
    if (c->have_text)
        return is_max ? jstrn(c->tmax, c->tmax_len) : jstrn(c->tmin, c->tmin_len);
    if (c->n_num)
        return jnum(is_max ? c->max : c->min);
    return json_null();
}

static json_t *column_summary(jb *b, const dq_engine *e, const dq_col *c) {
    json_t *o = json_object();
    put(b, o, "name", jstrn(c->name, strlen(c->name)));
    put(b, o, "inferredType", json_string(dq_col_inferred(c)));
    if (c->field) {
        char tl[80];
        type_label(c->field, tl, sizeof tl);
        put(b, o, "declaredType", json_string(tl));
    }
    put(b, o, "count", json_integer((json_int_t)c->present));
    put(b, o, "nulls", json_integer((json_int_t)c->missing));
    put(b, o, "nullPercent", jpct(c->missing, e->rows));
    uint64_t distinct = dq_distinct_value(&c->dist);
    if (distinct > c->present)
        distinct = c->present; /* an estimate is never reported above the count */
    put(b, o, "distinct", json_integer((json_int_t)distinct));
    put(b, o, "distinctApprox", json_boolean(c->dist.approx));
    if (c->dist.approx)
        put(b, o, "distinctRse", json_real(DQ_HLL_RSE));
    put(b, o, "min", minmax(c, false));
    put(b, o, "max", minmax(c, true));
    bool num = dq_col_profile_numeric(c) && c->n_num > 0;
    put(b, o, "mean", num ? jnum(c->mean) : json_null());
    put(b, o, "std", num ? jnum(col_std(c)) : json_null());
    put(b, o, "q25", num && c->q_ok ? jnum(c->q[0]) : json_null());
    put(b, o, "q50", num && c->q_ok ? jnum(c->q[1]) : json_null());
    put(b, o, "q75", num && c->q_ok ? jnum(c->q[2]) : json_null());
    if (num) {
        put(b, o, "zeros", json_integer((json_int_t)c->zeros));
        put(b, o, "negatives", json_integer((json_int_t)c->negatives));
        put(b, o, "nonFinite", json_integer((json_int_t)c->n_nonfinite));
        if (c->leading_zeros)
            put(b, o, "leadingZeros", json_integer((json_int_t)c->leading_zeros));
    }
    if (c->len_n) {
        put(b, o, "minLength", json_integer((json_int_t)c->len_min));
        put(b, o, "maxLength", json_integer((json_int_t)c->len_max));
        put(b, o, "meanLength", jnum((double)c->len_sum / (double)c->len_n));
    }
    return o;
}

static json_t *sample_value(const unsigned char *p, uint32_t len, unsigned kind) {
    const char *s = (const char *)p;
    switch (kind) {
    case 0xFF:
    case CEL_V_ABSENT:
    case CEL_V_NULL:
        return json_null();
    case CEL_V_INT: {
        int64_t v;
        bool big;
        double d;
        if (dq_parse_integer(s, len, NULL, &v, &d, &big) && !big)
            return json_integer(v);
        return jstrn(s, len);
    }
    case CEL_V_DOUBLE: {
        double d;
        if (dq_parse_number(s, len, NULL, &d))
            return jnum(d);
        return jstrn(s, len);
    }
    case CEL_V_BOOL:
        return json_boolean(len == 4);
    case CEL_V_JSON: {
        json_t *j = json_loadb(s, len, JSON_DECODE_ANY, NULL);
        return j ? j : jstrn(s, len);
    }
    default:
        return jstrn(s, len);
    }
}

static int sample_cmp(const void *x, const void *y) {
    const dq_sample_row *a = *(const dq_sample_row *const *)x,
                        *b = *(const dq_sample_row *const *)y;
    return (a->row > b->row) - (a->row < b->row);
}

static json_t *sample_json(jb *b, const dq_engine *e) {
    json_t *o = json_object(), *cols = json_array(), *rows = json_array(), *nums = json_array();
    size_t ncol = e->ncols < DQ_PROFILE_COLUMNS ? e->ncols : DQ_PROFILE_COLUMNS;
    for (size_t j = 0; j < ncol; j++)
        push(b, cols, jstrn(e->cols[j].name, strlen(e->cols[j].name)));
    const dq_sample_row *order[64];
    size_t n = 0;
    for (size_t i = 0; i < e->opts.sample_rows && n < 64; i++)
        if (e->sample[i].used)
            order[n++] = &e->sample[i];
    qsort(order, n, sizeof order[0], sample_cmp);
    for (size_t i = 0; i < n; i++) {
        const dq_sample_row *s = order[i];
        json_t *r = json_array();
        const unsigned char *p = (const unsigned char *)s->cells.data;
        size_t off = 0, j = 0;
        while (s->cells.data && off + 5 <= s->cells.len && j < ncol) {
            unsigned kind = p[off];
            uint32_t len;
            memcpy(&len, p + off + 1, sizeof len);
            if (off + 5 + len > s->cells.len)
                break;
            push(b, r, sample_value(p + off + 5, len, kind));
            off += 5 + len;
            j++;
        }
        for (; j < ncol; j++)
            push(b, r, json_null());
        push(b, rows, r);
        push(b, nums, json_integer((json_int_t)s->row));
    }
    put(b, o, "columns", cols);
    put(b, o, "rows", rows);
    put(b, o, "rowNumbers", nums);
    put(b, o, "method", json_string("reservoir"));
    put(b, o, "seed", json_integer((json_int_t)(e->opts.seed & INT64_MAX)));
    return o;
}

static int missing_cmp(const void *x, const void *y) {
    const dq_col *a = *(const dq_col *const *)x, *b = *(const dq_col *const *)y;
    if (a->missing != b->missing)
        return a->missing < b->missing ? 1 : -1;
    return (a->index > b->index) - (a->index < b->index);
}

static json_t *outlier_json(jb *b, const dq_col *c, bool snake) {
    json_t *o = json_object();
    double iqr = c->q[2] - c->q[0];
    put(b, o, "q1", jnum(c->q[0]));
    put(b, o, "q3", jnum(c->q[2]));
    put(b, o, "iqr", jnum(iqr));
    put(b, o, snake ? "lower_fence" : "lowerFence", jnum(c->q[0] - 1.5 * iqr));
    put(b, o, snake ? "upper_fence" : "upperFence", jnum(c->q[2] + 1.5 * iqr));
    put(b, o, "count", json_integer((json_int_t)c->outliers));
    json_t *ex = json_array();
    for (size_t i = 0; i < c->n_out_ex; i++) {
        json_t *x = json_object();
        put(b, x, "row", json_integer((json_int_t)c->out_ex[i].row));
        put(b, x, "value", jnum(c->out_ex[i].v));
        push(b, ex, x);
    }
    put(b, o, "examples", ex);
    return o;
}

cel_status dq_engine_profile(dq_engine *e, json_t **out, cel_error *err) {
    *out = NULL;
    if (!e->finished || e->broken)
        return cel_fail(err, CEL_EINTERNAL,
                        "quality: profile requested before a successful finish");
    jb b = {false};
    json_t *p = json_object();
    size_t ncol = e->ncols < DQ_PROFILE_COLUMNS ? e->ncols : DQ_PROFILE_COLUMNS;
    bool trunc = e->ncols > ncol;
    put(&b, p, "rowCount", json_integer((json_int_t)e->rows));
    put(&b, p, "columnCount", json_integer((json_int_t)e->ncols));
    put(&b, p, "complete", json_boolean(!e->parse_failed));

    json_t *ss = json_object(), *sscols = json_array();
    for (size_t j = 0; j < ncol; j++)
        push(&b, sscols, column_summary(&b, e, &e->cols[j]));
    put(&b, ss, "rowCount", json_integer((json_int_t)e->rows));
    put(&b, ss, "columnCount", json_integer((json_int_t)e->ncols));
    put(&b, ss, "columns", sscols);
    put(&b, ss, "truncated", json_boolean(trunc));
    put(&b, p, "statisticalSummary", ss);

    json_t *co = json_object(), *cocols = json_array();
    uint64_t cells = e->rows * (uint64_t)e->ncols;
    put(&b, co, "rowCount", json_integer((json_int_t)e->rows));
    put(&b, co, "totalCells", json_integer((json_int_t)cells));
    put(&b, co, "missingCells", json_integer((json_int_t)e->missing_cells));
    put(&b, co, "missingPercent", jpct(e->missing_cells, cells));
    put(&b, co, "completeRows", json_integer((json_int_t)e->complete_rows));
    put(&b, co, "completeRowsPercent", jpct(e->complete_rows, e->rows));
    const dq_col **byc = malloc((e->ncols ? e->ncols : 1) * sizeof *byc);
    if (byc == NULL) {
        json_decref(p);
        json_decref(co);
        json_decref(cocols);
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory");
    }
    for (size_t j = 0; j < e->ncols; j++)
        byc[j] = &e->cols[j];
    qsort(byc, e->ncols, sizeof *byc, missing_cmp);
    for (size_t j = 0; j < e->ncols && j < DQ_LIST_CAP; j++) {
        json_t *o = json_object();
        put(&b, o, "name", jstrn(byc[j]->name, strlen(byc[j]->name)));
        put(&b, o, "missing", json_integer((json_int_t)byc[j]->missing));
        put(&b, o, "missingPercent", jpct(byc[j]->missing, e->rows));
        if (byc[j]->field && (byc[j]->field->required || byc[j]->field->in_pk))
            put(&b, o, "required", json_true());
        push(&b, cocols, o);
    }
    free(byc);
    put(&b, co, "columns", cocols);
    put(&b, p, "completenessOverview", co);

    json_t *tf = json_object(), *tfcols = json_array();
    uint64_t total_issues = 0;
    size_t ntf = 0;
    for (size_t j = 0; j < e->ncols; j++) {
        const dq_col *c = &e->cols[j];
        uint64_t bad;
        const char *expected;
        const dq_exlist *ex;
        char tl[80];
        if (c->field) {
            bad = c->type_invalid;
            type_label(c->field, tl, sizeof tl);
            expected = tl;
            ex = &c->type_ex;
        } else {
            expected = dq_col_inferred(c);
            int k = -1;
            if (strcmp(expected, "integer") == 0)
                k = DQ_INF_INTEGER;
            else if (strcmp(expected, "number") == 0)
                k = DQ_INF_NUMBER;
            else if (strcmp(expected, "boolean") == 0)
                k = DQ_INF_BOOLEAN;
            else if (strcmp(expected, "date") == 0)
                k = DQ_INF_DATE;
            else if (strcmp(expected, "datetime") == 0)
                k = DQ_INF_DATETIME;
            else if (strcmp(expected, "time") == 0)
                k = DQ_INF_TIME;
            else if (strcmp(expected, "object") == 0)
                k = DQ_INF_OBJECT;
            else if (strcmp(expected, "array") == 0)
                k = DQ_INF_ARRAY;
            bad = k >= 0 ? c->present - c->inf[k] : 0;
            ex = (k == DQ_INF_INTEGER || k == DQ_INF_NUMBER) ? &c->nonnum_ex : NULL;
        }
        if (bad == 0)
            continue;
        total_issues += bad;
        if (ntf >= DQ_LIST_CAP)
            continue;
        ntf++;
        json_t *o = json_object();
        put(&b, o, "name", jstrn(c->name, strlen(c->name)));
        put(&b, o, "expectedType", json_string(expected));
        put(&b, o, "source", json_string(c->field ? "schema" : "inferred"));
        put(&b, o, "invalid", json_integer((json_int_t)bad));
        put(&b, o, "invalidPercent", jpct(bad, c->present));
        put(&b, o, "examples", ex ? examples_json(&b, ex, true, DQ_EXAMPLES) : json_array());
        push(&b, tfcols, o);
    }
    put(&b, tf, "totalIssues", json_integer((json_int_t)total_issues));
    put(&b, tf, "columns", tfcols);
    put(&b, p, "typeFormatIssues", tf);

    json_t *uo = json_object(), *uocols = json_array(), *keys = json_array();
    for (size_t j = 0; j < ncol; j++) {
        const dq_col *c = &e->cols[j];
        uint64_t d = dq_distinct_value(&c->dist);
        if (d > c->present)
            d = c->present;
        json_t *o = json_object();
        put(&b, o, "name", jstrn(c->name, strlen(c->name)));
        put(&b, o, "distinct", json_integer((json_int_t)d));
        put(&b, o, "distinctPercent", jpct(d, c->present));
        put(&b, o, "approx", json_boolean(c->dist.approx));
        put(&b, o, "unique", json_boolean(!c->dist.approx && c->present > 0 && d == c->present));
        if (!c->dist.approx)
            put(&b, o, "duplicateValues", json_integer((json_int_t)(c->present - d)));
        push(&b, uocols, o);
    }
    for (size_t k = 0; k < e->nukeys; k++) {
        const dq_ukey *uk = &e->ukeys[k];
        json_t *o = json_object(), *f = json_array();
        for (size_t q = 0; q < uk->def->n; q++)
            push(&b, f, json_string(e->schema->fields[uk->def->fields[q]].name));
        put(&b, o, "key", json_string(uk->def->label));
        put(&b, o, "fields", f);
        put(&b, o, "evaluated", json_boolean(!uk->absent));
        put(&b, o, "keysChecked", json_integer((json_int_t)dq_keyset_keys(uk->ks)));
        put(&b, o, "skippedWithMissing", json_integer((json_int_t)uk->skipped));
        put(&b, o, "duplicates", json_integer((json_int_t)dq_keyset_duplicates(uk->ks)));
        put(&b, o, "spilled", json_boolean(dq_keyset_spilled(uk->ks)));
        push(&b, keys, o);
    }
    put(&b, uo, "columns", uocols);
    put(&b, uo, "keys", keys);
    if (e->rowset)
        put(&b, uo, "duplicateRows", json_integer((json_int_t)dq_keyset_duplicates(e->rowset)));
    put(&b, p, "uniquenessOverview", uo);

    json_t *vd = json_object(), *vdcols = json_array();
    for (size_t j = 0; j < ncol && j < DQ_LIST_CAP; j++) {
        const dq_col *c = &e->cols[j];
        json_t *o = json_object();
        put(&b, o, "name", jstrn(c->name, strlen(c->name)));
        bool exact;
        put(&b, o, "topValues", top_values(&b, c, &exact));
        put(&b, o, "topValuesExact", json_boolean(exact));
        if (!exact && c->topk.decrements)
            put(&b, o, "topValuesMaxError", json_integer((json_int_t)c->topk.decrements));
        if (c->q_ok && dq_col_profile_numeric(c)) {
            json_t *h = json_array();
            double step = (c->hist_hi - c->hist_lo) / DQ_HIST_BINS;
            for (int i = 0; i < DQ_HIST_BINS; i++) {
                json_t *bin = json_object();
                put(&b, bin, "lo", jnum(c->hist_lo + i * step));
                put(&b, bin, "hi",
                    jnum(i == DQ_HIST_BINS - 1 ? c->hist_hi : c->hist_lo + (i + 1) * step));
                put(&b, bin, "count", json_integer((json_int_t)c->hist[i]));
                push(&b, h, bin);
            }
            put(&b, o, "histogram", h);
        }
        push(&b, vdcols, o);
    }
    put(&b, vd, "columns", vdcols);
    put(&b, p, "valueDistributions", vd);

    json_t *ba = json_object(), *iqr = json_array(), *cv = json_array();
    size_t ni = 0, nc = 0;
    for (size_t j = 0; j < e->ncols; j++) {
        const dq_col *c = &e->cols[j];
        if (c->q_ok && dq_col_profile_numeric(c) && ni < DQ_LIST_CAP) {
            json_t *o = outlier_json(&b, c, false);
            put(&b, o, "name", jstrn(c->name, strlen(c->name)));
            put(&b, o, "outlierPercent", jpct(c->outliers, c->n_num));
            push(&b, iqr, o);
            ni++;
        }
        if (c->bound_cells && nc < DQ_LIST_CAP) {
            json_t *o = json_object(), *by = json_object();
            put(&b, o, "name", jstrn(c->name, strlen(c->name)));
            put(&b, o, "violations", json_integer((json_int_t)c->bound_cells));
            for (int k = 0; k < DQ_B_COUNT; k++)
                if (c->bound_cnt[k])
                    put(&b, by, dq_bkind_name((dq_bkind)k),
                        json_integer((json_int_t)c->bound_cnt[k]));
            put(&b, o, "byConstraint", by);
            put(&b, o, "examples", examples_json(&b, &c->bound_ex, true, DQ_EXAMPLES));
            push(&b, cv, o);
            nc++;
        }
    }
    put(&b, ba, "iqrOutliers", iqr);
    put(&b, ba, "constraintViolations", cv);
    put(&b, p, "boundsAnomalies", ba);
    put(&b, p, "sampleData", sample_json(&b, e));
    if (b.oom) {
        json_decref(p);
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory building the profile");
    }
    *out = p;
    return CEL_OK;
}

/* ---------------------------------------------------------------- dataset report */

/* pandas-style de-duplicated column names: a, a.1, a.2 */
static void report_name(const dq_engine *e, size_t j, char *out, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < j; i++)
        if (strcmp(e->cols[i].name, e->cols[j].name) == 0)
            k++;
    if (k)
        snprintf(out, n, "%s.%zu", e->cols[j].name, k);
    else
        snprintf(out, n, "%s", e->cols[j].name);
}

cel_status dq_dataset_report(dq_engine *e, json_t **out, cel_error *err) {
    *out = NULL;
    if (!e->finished || e->broken)
        return cel_fail(err, CEL_EINTERNAL, "quality: report requested before a successful finish");
    jb b = {false};
    json_t *r = json_object(), *cols = json_array(), *nulls = json_object(),
           *numeric = json_object(), *outl = json_object();
    put(&b, r, "row_count", json_integer((json_int_t)e->rows));
    put(&b, r, "column_count", json_integer((json_int_t)e->ncols));
    for (size_t j = 0; j < e->ncols; j++) {
        const dq_col *c = &e->cols[j];
        char name[1100];
        report_name(e, j, name, sizeof name);
        push(&b, cols, jstrn(name, strlen(name)));
        put(&b, nulls, name, json_integer((json_int_t)c->missing));
        if (!dq_col_dataset_numeric(c))
            continue;
        json_t *o = json_object();
        put(&b, o, "min", c->n_num ? jnum(c->min) : json_null());
        put(&b, o, "max", c->n_num ? jnum(c->max) : json_null());
        put(&b, o, "mean", c->n_num ? jnum(c->mean) : json_null());
        put(&b, o, "count", json_integer((json_int_t)c->n_num));
        put(&b, numeric, name, o);
        if (c->q_ok)
            put(&b, outl, name, outlier_json(&b, c, true));
    }
    put(&b, r, "columns", cols);
    put(&b, r, "null_counts", nulls);
    put(&b, r, "numeric", numeric);
    json_t *d = json_object();
    if (e->rowset) {
        put(&b, d, "count", json_integer((json_int_t)dq_keyset_duplicates(e->rowset)));
        json_t *ex = json_array();
        size_t n;
        const dq_dup *x = dq_keyset_examples(e->rowset, &n);
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            put(&b, o, "row", json_integer((json_int_t)x[i].row));
            put(&b, o, "duplicate_of", json_integer((json_int_t)x[i].first_row));
            push(&b, ex, o);
        }
        put(&b, d, "examples", ex);
    } else {
        put(&b, d, "count", json_null());
        put(&b, d, "note", json_string("duplicate rows were not tracked (dataset_report off)"));
    }
    put(&b, r, "duplicates", d);
    put(&b, r, "outliers", outl);
    if (e->parse_failed)
        put(&b, r, "error", json_string(e->parse_err.msg));
    if (b.oom) {
        json_decref(r);
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory building the dataset report");
    }
    *out = r;
    return CEL_OK;
}
