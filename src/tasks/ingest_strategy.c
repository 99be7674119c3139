/*
 * ingest_strategy.c: the declarative strategies file of ingest.process_s3_object (see
 * ingest.h and the README section "Ingestion strategies").
 *
 * Design: the whole file is parsed and checked up front (strict: unknown keys are errors,
 * so a typo such as "conflict_keys" cannot silently turn an upsert into an append); each
 * strategy's Table Schema goes through the quality engine's own parser (dq_schema_parse),
 * so the ingest path and the dq pipeline read schemas identically. Matching is first-match
 * in file order over a small glob language (`*`, `**`, `?`) evaluated as an NFA simulation:
 * linear in pattern x key, no recursion, no backtracking blow-up.
 *
 * Not here: checking the target table exists or has the mapped columns (that needs the
 * database: ingest.c asks the catalog when a file arrives), reloading (ingest.c).
 */
#include "tasks/ingest.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GLOB_MAX_S 4096

/* ---------------------------------------------------------------- glob */

/* NFA states, one per token: LIT/ONE consume one character and move on; STAR/DSTAR loop
 * on their state and may be left without consuming. A `**` followed by '/' is (segment/)*
 * and takes two states: SEGS (between segments; may be left at once, '/' stays, anything
 * else enters the segment) and SEGS_IN (inside a segment; '/' ends it). */
typedef enum { GT_LIT, GT_ONE, GT_STAR, GT_DSTAR, GT_SEGS, GT_SEGS_IN } gtype;

typedef struct gtok {
    gtype t;
    unsigned char c;
} gtok;

/* Adds state k and every state reachable from it without consuming a character. */
static void glob_close(const gtok *tok, size_t nt, bool *set, size_t k) {
    while (k <= nt && !set[k]) {
        set[k] = true;
        if (k == nt)
            return;
        if (tok[k].t == GT_STAR || tok[k].t == GT_DSTAR)
            k += 1;
        else if (tok[k].t == GT_SEGS)
            k += 2;
        else
            return;
    }
}

bool ing_glob_match(const char *pattern, const char *s) {
    size_t pl = strlen(pattern), sl = strlen(s);
    if (pl > ING_PATTERN_MAX || sl > GLOB_MAX_S)
        return false;
    gtok tok[ING_PATTERN_MAX + 1];
    size_t nt = 0;
    for (size_t i = 0; i < pl; i++) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < pl) {
            tok[nt++] = (gtok){.t = GT_LIT, .c = (unsigned char)pattern[++i]};
        } else if (c == '*' && i + 1 < pl && pattern[i + 1] == '*') {
            while (i + 1 < pl && pattern[i + 1] == '*')
                i++;
            if (i + 1 < pl && pattern[i + 1] == '/') {
                i++; /* the '/' is part of the (segment/)* states */
                tok[nt++] = (gtok){.t = GT_SEGS};
                tok[nt++] = (gtok){.t = GT_SEGS_IN};
            } else {
                tok[nt++] = (gtok){.t = GT_DSTAR};
            }
        } else if (c == '*') {
            tok[nt++] = (gtok){.t = GT_STAR};
        } else if (c == '?') {
            tok[nt++] = (gtok){.t = GT_ONE};
        } else {
            tok[nt++] = (gtok){.t = GT_LIT, .c = (unsigned char)c};
        }
    }
    bool a[ING_PATTERN_MAX + 2], b[ING_PATTERN_MAX + 2];
    bool *cur = a, *nxt = b;
    memset(cur, 0, (nt + 1) * sizeof *cur);
    glob_close(tok, nt, cur, 0);
    for (size_t i = 0; i < sl; i++) {
        unsigned char ch = (unsigned char)s[i];
        memset(nxt, 0, (nt + 1) * sizeof *nxt);
        bool any = false;
        for (size_t k = 0; k < nt; k++) {
            if (!cur[k])
                continue;
            size_t to = SIZE_MAX;
            switch (tok[k].t) {
            case GT_LIT:
                to = tok[k].c == ch ? k + 1 : SIZE_MAX;
                break;
            case GT_ONE:
                to = ch != '/' ? k + 1 : SIZE_MAX;
                break;
            case GT_STAR:
                to = ch != '/' ? k : SIZE_MAX;
                break;
            case GT_DSTAR:
                to = k;
                break;
            case GT_SEGS:
                to = ch == '/' ? k : k + 1;
                break;
            case GT_SEGS_IN:
                to = ch == '/' ? k - 1 : k;
                break;
            }
            if (to != SIZE_MAX) {
                glob_close(tok, nt, nxt, to);
                any = true;
            }
        }
        if (!any)
            return false;
        bool *t = cur;
        cur = nxt;
        nxt = t;
    }
    return cur[nt];
}

/* ---------------------------------------------------------------- parsing helpers */

static bool ident_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > ING_IDENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && (digit || c == '$'))))
            return false;
    }
    return true;
}

static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > ING_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* Rejects keys of obj that are not in allowed (NULL-terminated). */
static cel_status only_keys(const json_t *obj, const char *const *allowed, const char *path,
                            cel_error *err) {
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(k, allowed[i]) == 0)
                ok = true;
        if (!ok)
            return cel_fail(err, CEL_ECONFIG, "%s: unknown key '%.64s'", path, k);
    }
    return CEL_OK;
}

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d)
        abort(); /* small bookkeeping string: out-of-memory policy is abort */
    return d;
}

static cel_status opt_string(const json_t *obj, const char *key, const char *path, size_t max,
                             const char **out, cel_error *err) {
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return CEL_OK;
    if (!json_is_string(v))
        return cel_fail(err, CEL_ECONFIG, "%s.%s: must be a string", path, key);
    if (json_string_length(v) == 0 || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return cel_fail(err, CEL_ECONFIG, "%s.%s: must be 1..%zu bytes without NUL", path, key,
                        max);
    *out = json_string_value(v);
    return CEL_OK;
}

static const struct {
    const char *name;
    ing_meta meta;
} k_meta[] = {
    {"ingestion_id", ING_META_INGESTION_ID},
    {"bucket", ING_META_BUCKET},
    {"key", ING_META_KEY},
    {"etag", ING_META_ETAG},
    {"line", ING_META_LINE},
    {"task_id", ING_META_TASK_ID},
    {"now", ING_META_NOW},
};

/* Index of field name in the schema's "fields", or -1. */
static long schema_field(const json_t *def, const char *name) {
    const json_t *fields = json_object_get(def, "fields");
    size_t i;
    const json_t *f;
    json_array_foreach((json_t *)fields, i, f) {
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && strcmp(n, name) == 0)
            return (long)i;
    }
    return -1;
}

static cel_status add_col(ing_strategy *st, const char *column, const char *source,
                          const char *path, cel_error *err) {
    if (!ident_ok(column))
        return cel_fail(err, CEL_ECONFIG,
                        "%s: '%.80s' is not a plain SQL identifier (letters, digits, _; at most "
                        "%d bytes)",
                        path, column, ING_IDENT_MAX);
    for (size_t i = 0; i < st->ncols; i++)
        if (strcmp(st->cols[i].column, column) == 0)
            return cel_fail(err, CEL_ECONFIG, "%s: column '%s' is mapped twice", path, column);
    if (st->ncols >= ING_MAX_COLUMNS)
        return cel_fail(err, CEL_ECONFIG, "%s: more than %d columns", path, ING_MAX_COLUMNS);
    ing_colmap *c = &st->cols[st->ncols];
    memset(c, 0, sizeof *c);
    snprintf(c->column, sizeof c->column, "%s", column);
    if (source[0] == '$' && source[1] != '$') {
        for (size_t i = 0; i < sizeof k_meta / sizeof k_meta[0]; i++)
            if (strcmp(source + 1, k_meta[i].name) == 0)
                c->meta = k_meta[i].meta;
        if (c->meta == ING_META_NONE)
            return cel_fail(err, CEL_ECONFIG,
                            "%s: '%.80s' is not a known value ($ingestion_id, $bucket, $key, "
                            "$etag, $line, $task_id, $now; write $$ for a field starting with $)",
                            path, source);
    } else {
        const char *field = source[0] == '$' ? source + 1 : source;
        long idx = schema_field(st->schema_def, field);
        if (idx < 0)
            return cel_fail(err, CEL_ECONFIG, "%s: '%.80s' is not a field of the schema", path,
                            field);
        c->field = xstrdup(field);
        c->field_idx = (size_t)idx;
        c->stage_idx = st->nstage++;
    }
    switch (c->meta) {
    case ING_META_BUCKET:
        st->col_bucket = (long)st->ncols;
        break;
    case ING_META_KEY:
        st->col_key = (long)st->ncols;
        break;
    case ING_META_ETAG:
        st->col_etag = (long)st->ncols;
        break;
    default:
        break;
    }
    st->ncols++;
    return CEL_OK;
}

static cel_status parse_target(ing_strategy *st, const json_t *t, const char *path,
                               cel_error *err) {
    static const char *const keys[] = {"table",       "columns",        "conflict_key",
                                       "on_conflict", "on_new_version", NULL};
    char p[160];
    if (!json_is_object(t))
        return cel_fail(err, CEL_ECONFIG, "%s: must be an object", path);
    cel_status rc = only_keys(t, keys, path, err);
    if (rc != CEL_OK)
        return rc;
    /* table: "schema.table" or "table" */
    const char *table;
    snprintf(p, sizeof p, "%s", path);
    if ((rc = opt_string(t, "table", p, 2 * ING_IDENT_MAX + 1, &table, err)) != CEL_OK)
        return rc;
    if (!table)
        return cel_fail(err, CEL_ECONFIG, "%s.table: required", path);
    const char *dot = strchr(table, '.');
    char sch[2 * ING_IDENT_MAX + 2] = "", tab[2 * ING_IDENT_MAX + 2];
    if (dot) {
        snprintf(sch, sizeof sch, "%.*s", (int)(dot - table), table);
        snprintf(tab, sizeof tab, "%s", dot + 1);
    } else {
        snprintf(tab, sizeof tab, "%s", table);
    }
    if ((dot && !ident_ok(sch)) || !ident_ok(tab))
        return cel_fail(err, CEL_ECONFIG,
                        "%s.table: '%s' is not schema.table of plain SQL identifiers", path, table);
    /* both fit: ident_ok bounds them by ING_IDENT_MAX */
    memcpy(st->target_schema, sch, strlen(sch) + 1);
    memcpy(st->target_table, tab, strlen(tab) + 1);

    /* columns: {"target_column": "field" | "$meta"}; default: every schema field as is */
    const json_t *cols = json_object_get(t, "columns");
    size_t want =
        cols ? json_object_size(cols) : json_array_size(json_object_get(st->schema_def, "fields"));
    if (cols && (!json_is_object(cols) || json_object_size(cols) == 0))
        return cel_fail(err, CEL_ECONFIG, "%s.columns: must be a non-empty object", path);
    if (want > ING_MAX_COLUMNS)
        return cel_fail(err, CEL_ECONFIG, "%s.columns: more than %d columns", path,
                        ING_MAX_COLUMNS);
    st->cols = calloc(want ? want : 1, sizeof *st->cols);
    if (!st->cols)
        return cel_fail(err, CEL_ENOMEM, "%s.columns: out of memory", path);
    if (cols) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)cols, k, v) {
            snprintf(p, sizeof p, "%s.columns.%.40s", path, k);
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                strlen(json_string_value(v)) != json_string_length(v))
                return cel_fail(err, CEL_ECONFIG, "%s: must be a field name or $value", p);
            if ((rc = add_col(st, k, json_string_value(v), p, err)) != CEL_OK)
                return rc;
        }
    } else {
        size_t i;
        const json_t *f;
        json_array_foreach(json_object_get(st->schema_def, "fields"), i, f) {
            snprintf(p, sizeof p, "%s.columns (default: schema field %zu)", path, i);
            const char *n = json_string_value(json_object_get(f, "name"));
            char esc[ING_IDENT_MAX + 3];
            /* a field starting with '$' maps to the same-named column only via "$$" */
            snprintf(esc, sizeof esc, "%s%.64s", n && n[0] == '$' ? "$" : "", n ? n : "");
            if ((rc = add_col(st, n ? n : "", esc, p, err)) != CEL_OK)
                return rc;
        }
    }
    if (st->nstage == 0)
        return cel_fail(err, CEL_ECONFIG, "%s.columns: no column is mapped from a field", path);

    /* conflict_key: non-empty list of mapped columns */
    const json_t *ck = json_object_get(t, "conflict_key");
    if (!json_is_array(ck) || json_array_size(ck) == 0)
        return cel_fail(err, CEL_ECONFIG,
                        "%s.conflict_key: required, a non-empty array of target columns", path);
    if (json_array_size(ck) > st->ncols)
        return cel_fail(err, CEL_ECONFIG, "%s.conflict_key: more entries than mapped columns",
                        path);
    st->conflict = calloc(json_array_size(ck), sizeof *st->conflict);
    if (!st->conflict)
        return cel_fail(err, CEL_ENOMEM, "%s.conflict_key: out of memory", path);
    size_t i;
    const json_t *x;
    json_array_foreach((json_t *)ck, i, x) {
        const char *name = json_string_value(x);
        long idx = -1;
        for (size_t c = 0; name && c < st->ncols; c++)
            if (strcmp(st->cols[c].column, name) == 0)
                idx = (long)c;
        if (idx < 0)
            return cel_fail(err, CEL_ECONFIG,
                            "%s.conflict_key[%zu]: '%.80s' is not a mapped target column", path, i,
                            name ? name : "(not a string)");
        for (size_t j = 0; j < st->nconflict; j++)
            if (st->conflict[j] == (size_t)idx)
                return cel_fail(err, CEL_ECONFIG, "%s.conflict_key[%zu]: '%s' is repeated", path, i,
                                name);
        st->conflict[st->nconflict++] = (size_t)idx;
    }

    const char *oc, *onv;
    if ((rc = opt_string(t, "on_conflict", path, 32, &oc, err)) != CEL_OK ||
        (rc = opt_string(t, "on_new_version", path, 32, &onv, err)) != CEL_OK)
        return rc;
    if (!oc || strcmp(oc, "update") == 0)
        st->on_conflict = ING_CONFLICT_UPDATE;
    else if (strcmp(oc, "nothing") == 0)
        st->on_conflict = ING_CONFLICT_NOTHING;
    else
        return cel_fail(err, CEL_ECONFIG, "%s.on_conflict: '%s' is not update or nothing", path,
                        oc);
    if (!onv || strcmp(onv, "replace") == 0)
        st->on_new_version = ING_VERSION_REPLACE;
    else if (strcmp(onv, "keep") == 0)
        st->on_new_version = ING_VERSION_KEEP;
    else
        return cel_fail(err, CEL_ECONFIG, "%s.on_new_version: '%s' is not replace or keep", path,
                        onv);
    if (st->on_new_version == ING_VERSION_REPLACE) {
        if (st->col_bucket < 0 || st->col_key < 0 || st->col_etag < 0)
            return cel_fail(err, CEL_ECONFIG,
                            "%s.on_new_version: 'replace' needs columns mapped from $bucket, $key "
                            "and $etag (to find the rows an older version loaded)",
                            path);
        if (st->on_conflict != ING_CONFLICT_UPDATE)
            return cel_fail(err, CEL_ECONFIG,
                            "%s.on_new_version: 'replace' needs on_conflict 'update' (rows kept "
                            "by 'nothing' would carry the old etag and be deleted)",
                            path);
    }
    return CEL_OK;
}

static cel_status parse_strategy(ing_strategy *st, const json_t *j, size_t idx,
                                 const ing_strategies *done, cel_error *err) {
    static const char *const keys[] = {
        "name",    "description", "bucket", "key_pattern",      "format",
        "dialect", "schema",      "target", "reject_threshold", NULL};
    char path[64];
    snprintf(path, sizeof path, "strategies[%zu]", idx);
    st->col_bucket = st->col_key = st->col_etag = -1;
    if (!json_is_object(j))
        return cel_fail(err, CEL_ECONFIG, "%s: must be an object", path);
    cel_status rc = only_keys(j, keys, path, err);
    if (rc != CEL_OK)
        return rc;
    const char *name, *desc, *bucket, *format;
    if ((rc = opt_string(j, "name", path, ING_NAME_MAX, &name, err)) != CEL_OK ||
        (rc = opt_string(j, "description", path, 4096, &desc, err)) != CEL_OK ||
        (rc = opt_string(j, "bucket", path, ING_PATTERN_MAX, &bucket, err)) != CEL_OK ||
        (rc = opt_string(j, "format", path, 16, &format, err)) != CEL_OK)
        return rc;
    if (!name || !name_ok(name))
        return cel_fail(err, CEL_ECONFIG,
                        "%s.name: required, 1..%d characters of letters, digits, _ - .", path,
                        ING_NAME_MAX);
    for (size_t i = 0; i < done->n; i++)
        if (strcmp(done->v[i].name, name) == 0)
            return cel_fail(err, CEL_ECONFIG,
                            "%s.name: '%s' is already the name of strategies[%zu]", path, name, i);
    st->name = xstrdup(name);
    snprintf(path, sizeof path, "strategies[%zu] (%.32s)", idx, name);
    /* key_pattern: one glob or an array of globs */
    const json_t *kp = json_object_get(j, "key_pattern");
    size_t nkp = json_is_array(kp) ? json_array_size(kp) : 1;
    if (!kp || (!json_is_string(kp) && !json_is_array(kp)) || nkp == 0 || nkp > ING_MAX_PATTERNS)
        return cel_fail(err, CEL_ECONFIG,
                        "%s.key_pattern: required, a glob or an array of 1..%d globs", path,
                        ING_MAX_PATTERNS);
    st->key_patterns = calloc(nkp, sizeof *st->key_patterns);
    if (!st->key_patterns)
        return cel_fail(err, CEL_ENOMEM, "%s.key_pattern: out of memory", path);
    for (size_t i = 0; i < nkp; i++) {
        const json_t *x = json_is_array(kp) ? json_array_get(kp, i) : kp;
        if (!json_is_string(x) || json_string_length(x) == 0 ||
            json_string_length(x) > ING_PATTERN_MAX ||
            strlen(json_string_value(x)) != json_string_length(x))
            return cel_fail(err, CEL_ECONFIG,
                            "%s.key_pattern: each pattern must be 1..%d bytes without NUL", path,
                            ING_PATTERN_MAX);
        st->key_patterns[st->nkey_patterns++] = xstrdup(json_string_value(x));
    }
    st->bucket_pattern = bucket ? xstrdup(bucket) : NULL;
    st->description = desc ? xstrdup(desc) : NULL;

    const json_t *schema = json_object_get(j, "schema");
    if (!json_is_object(schema))
        return cel_fail(err, CEL_ECONFIG, "%s.schema: required, a Table Schema object", path);
    const json_t *fields = json_object_get(schema, "fields");
    if (!json_is_array(fields) || json_array_size(fields) == 0)
        return cel_fail(err, CEL_ECONFIG, "%s.schema.fields: required, a non-empty array", path);
    st->schema_def = json_deep_copy(schema);
    if (!st->schema_def)
        return cel_fail(err, CEL_ENOMEM, "%s.schema: out of memory", path);
    const json_t *dialect = json_object_get(j, "dialect");
    if (dialect) {
        if (!json_is_object(dialect))
            return cel_fail(err, CEL_ECONFIG, "%s.dialect: must be an object", path);
        json_object_set(st->schema_def, "dialect", (json_t *)dialect);
    }
    st->format = CEL_FMT_AUTO;
    if (format) {
        cel_error ferr = {0};
        if (cel_format_parse(format, &st->format, &ferr) != CEL_OK)
            return cel_fail(err, CEL_ECONFIG, "%s.format: %s", path, ferr.msg);
        json_object_set_new(st->schema_def, "format", json_string(format));
    } else {
        const char *sf = json_string_value(json_object_get(schema, "format"));
        if (sf && cel_format_parse(sf, &st->format, &(cel_error){0}) != CEL_OK)
            st->format = CEL_FMT_AUTO; /* dq_schema_parse reports it below */
    }
    cel_error serr = {0};
    if (dq_schema_parse(st->schema_def, &st->schema, &serr) != CEL_OK)
        return cel_fail(err, CEL_ECONFIG, "%s.schema: %s", path, serr.msg);

    const json_t *thr = json_object_get(j, "reject_threshold");
    st->reject_threshold = 0;
    if (thr) {
        if (!json_is_number(thr) || !(json_number_value(thr) >= 0) || json_number_value(thr) > 1)
            return cel_fail(err, CEL_ECONFIG,
                            "%s.reject_threshold: must be a number from 0 to 1 (share of rows)",
                            path);
        st->reject_threshold = json_number_value(thr);
    }
    char tpath[96];
    snprintf(tpath, sizeof tpath, "%s.target", path);
    const json_t *target = json_object_get(j, "target");
    if (!target)
        return cel_fail(err, CEL_ECONFIG, "%s: required", tpath);
    return parse_target(st, target, tpath, err);
}

static void strategy_free(ing_strategy *st) {
    free(st->name);
    free(st->description);
    free(st->bucket_pattern);
    for (size_t i = 0; i < st->nkey_patterns; i++)
        free(st->key_patterns[i]);
    free(st->key_patterns);
    dq_schema_free(st->schema);
    json_decref(st->schema_def);
    for (size_t i = 0; st->cols && i < st->ncols; i++)
        free(st->cols[i].field);
    free(st->cols);
    free(st->conflict);
}

void ing_strategies_free(ing_strategies *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        strategy_free(&s->v[i]);
    free(s->v);
    free(s);
}

cel_status ing_strategies_parse(const json_t *root, ing_strategies **out, cel_error *err) {
    static const char *const keys[] = {"version", "description", "strategies", NULL};
    *out = NULL;
    if (!json_is_object(root))
        return cel_fail(err, CEL_ECONFIG, "strategies file: the top level must be an object");
    cel_status rc = only_keys(root, keys, "strategies file", err);
    if (rc != CEL_OK)
        return rc;
    const json_t *ver = json_object_get(root, "version");
    if (ver && !(json_is_integer(ver) && json_integer_value(ver) == 1))
        return cel_fail(err, CEL_ECONFIG, "version: only version 1 is known");
    const json_t *arr = json_object_get(root, "strategies");
    if (!json_is_array(arr))
        return cel_fail(err, CEL_ECONFIG, "strategies: required, an array");
    if (json_array_size(arr) > ING_MAX_STRATEGIES)
        return cel_fail(err, CEL_ECONFIG, "strategies: more than %d entries", ING_MAX_STRATEGIES);
    ing_strategies *s = calloc(1, sizeof *s);
    if (!s)
        return cel_fail(err, CEL_ENOMEM, "strategies: out of memory");
    s->v = calloc(json_array_size(arr) ? json_array_size(arr) : 1, sizeof *s->v);
    if (!s->v) {
        free(s);
        return cel_fail(err, CEL_ENOMEM, "strategies: out of memory");
    }
    size_t i;
    const json_t *j;
    json_array_foreach((json_t *)arr, i, j) {
        rc = parse_strategy(&s->v[s->n], j, i, s, err);
        s->n++; /* counted even when incomplete, so free releases what was parsed */
        if (rc != CEL_OK) {
            ing_strategies_free(s);
            return rc;
        }
    }
    *out = s;
    return CEL_OK;
}

cel_status ing_strategies_load(const char *path, ing_strategies **out, cel_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cel_fail(err, CEL_EIO, "%s: %s", path, strerror(errno));
    dbuf b;
    dbuf_init(&b, ING_FILE_MAX);
    char chunk[65536];
    size_t n;
    cel_status rc = CEL_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if ((rc = dbuf_append(&b, chunk, n)) != CEL_OK) {
            rc = cel_fail(err, rc, "%s: larger than %u bytes (or out of memory)", path,
                          ING_FILE_MAX);
            goto exit;
        }
    }
    if (ferror(f)) {
        rc = cel_fail(err, CEL_EIO, "%s: read error", path);
        goto exit;
    }
    json_error_t jerr;
    json_t *root = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = cel_fail(err, CEL_ECONFIG, "%s: line %d column %d: %s", path, jerr.line, jerr.column,
                      jerr.text);
        goto exit;
    }
    cel_error perr = {0};
    rc = ing_strategies_parse(root, out, &perr);
    json_decref(root);
    if (rc != CEL_OK)
        cel_fail(err, rc, "%s: %s", path, perr.msg);
exit:
    dbuf_free(&b);
    fclose(f);
    return rc;
}

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

cel_status ing_strategies_path(char *out, size_t n, cel_error *err) {
    const char *env = getenv("CELERIAC_INGEST_STRATEGIES");
    const char *pick = NULL;
    if (env && *env) {
        if (!is_file(env))
            return cel_fail(err, CEL_ECONFIG,
                            "CELERIAC_INGEST_STRATEGIES=%s is not a readable file", env);
        pick = env;
    } else {
        static const char *const candidates[] = {
#ifdef CELERIAC_SOURCE_DIR
            CELERIAC_SOURCE_DIR "/strategies/ingest.json",
#endif
            "/usr/share/celeriac/strategies/ingest.json",
        };
        for (size_t i = 0; !pick && i < sizeof candidates / sizeof candidates[0]; i++)
            if (is_file(candidates[i]))
                pick = candidates[i];
        if (!pick)
            return cel_fail(err, CEL_ECONFIG,
                            "no ingestion strategies file: set CELERIAC_INGEST_STRATEGIES (looked "
                            "for %s/usr/share/celeriac/strategies/ingest.json)",
#ifdef CELERIAC_SOURCE_DIR
                            CELERIAC_SOURCE_DIR "/strategies/ingest.json, "
#else
                            ""
#endif
            );
    }
    if ((size_t)snprintf(out, n, "%s", pick) >= n)
        return cel_fail(err, CEL_ELIMIT, "ingestion strategies path is too long");
    return CEL_OK;
}

const ing_strategy *ing_strategy_match(const ing_strategies *s, const char *bucket,
                                       const char *key) {
    for (size_t i = 0; s && i < s->n; i++) {
        const ing_strategy *st = &s->v[i];
        if (st->bucket_pattern && !ing_glob_match(st->bucket_pattern, bucket ? bucket : ""))
            continue;
        for (size_t k = 0; k < st->nkey_patterns; k++)
            if (ing_glob_match(st->key_patterns[k], key))
                return st;
    }
    return NULL;
}
