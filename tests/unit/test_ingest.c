/*
 * test_ingest.c: the pieces of ingest.process_s3_object that need no server: the glob
 * language, the strategies file (the shipped one and every refusal), target-type checks
 * against PostgreSQL's own rules, COPY text escaping, per-row validation and
 * normalization, the loader's COPY output through a real CSV/NDJSON reader, and the SQL
 * each strategy produces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "celeriac/stream_reader.h"
#include "tasks/ingest.h"
#include "util/dbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- glob */

static void test_glob(void **state) {
    (void)state;
    struct {
        const char *p, *s;
        bool want;
    } cases[] = {
        {"*.csv", "a.csv", true},
        {"*.csv", "dir/a.csv", false},
        {"**/a.csv", "a.csv", true},
        {"**/a.csv", "x/y/a.csv", true},
        {"**/a.csv", "x/ya.csv", false},
        {"**/pharmacy_claim*.csv", "pharmacy_claims_2026.csv", true},
        {"**/pharmacy_claim*.csv", "drop/2026/11/pharmacy_claim.csv", true},
        {"**/pharmacy_claim*.csv", "drop/pharmacy_claim/x.csv", false},
        {"**/pharmacy_claims/**.csv", "a/pharmacy_claims/2026/11/x.csv", true},
        {"**/pharmacy_claims/**.csv", "pharmacy_claims/x.csv", true},
        {"in/**", "in/", true},
        {"in/**", "in/a/b", true},
        {"in/**", "out/a", false},
        {"a?c", "abc", true},
        {"a?c", "a/c", false},
        {"a\\*c", "a*c", true},
        {"a\\*c", "abc", false},
        {"", "", true},
        {"", "x", false},
        {"*", "", true},
        {"**", "a/b/c", true},
        {"a**b", "a/x/b", true},
        {"**/**/x", "x", true},
        {"**/**/x", "p/q/x", true},
        {"*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
        {"CASE.csv", "case.csv", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = ing_glob_match(cases[i].p, cases[i].s);
        if (got != cases[i].want)
            fail_msg("glob '%s' on '%s': got %d", cases[i].p, cases[i].s, got);
    }
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(ing_glob_match("**", big)); /* over the bound: refused, not matched */
}

/* ---------------------------------------------------------------- strategies */

static const char *k_good =
    "{\"strategies\": [{\"name\": \"claims\", \"key_pattern\": \"**/c*.csv\","
    " \"bucket\": \"up*\", \"format\": \"csv\", \"dialect\": {\"delimiter\": \";\"},"
    " \"schema\": {\"fields\": ["
    "  {\"name\": \"id\", \"type\": \"string\", \"constraints\": {\"required\": true}},"
    "  {\"name\": \"qty\", \"type\": \"number\", \"constraints\": {\"minimum\": 0}},"
    "  {\"name\": \"day\", \"type\": \"date\", \"format\": \"%d/%m/%Y\"},"
    "  {\"name\": \"ok\", \"type\": \"boolean\", \"trueValues\": [\"Y\"], \"falseValues\": "
    "[\"N\"]},"
    "  {\"name\": \"amt\", \"type\": \"number\", \"decimalChar\": \",\", \"groupChar\": \".\"},"
    "  {\"name\": \"n\", \"type\": \"integer\"},"
    "  {\"name\": \"code\", \"type\": \"string\", \"constraints\": {\"enum\": [\"A\", \"B\"]}},"
    "  {\"name\": \"unused\", \"type\": \"integer\"}]},"
    " \"target\": {\"table\": \"s.t\", \"columns\": {\"id\": \"id\", \"qty\": \"qty\","
    "  \"day\": \"day\", \"ok\": \"ok\", \"amt\": \"amt\", \"n\": \"n\", \"code\": \"code\","
    "  \"ing\": \"$ingestion_id\", \"b\": \"$bucket\", \"k\": \"$key\", \"e\": \"$etag\","
    "  \"l\": \"$line\"},"
    "  \"conflict_key\": [\"id\"]}, \"reject_threshold\": 0.5}]}";

static ing_strategies *parse_ok(const char *text) {
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        fail_msg("test JSON: %s", jerr.text);
    ing_strategies *s = NULL;
    cel_error err = {0};
    cel_status st = ing_strategies_parse(root, &s, &err);
    json_decref(root);
    if (st != CEL_OK)
        fail_msg("parse: %s", err.msg);
    return s;
}

static void test_strategies_parse(void **state) {
    (void)state;
    ing_strategies *s = parse_ok(k_good);
    assert_int_equal(s->n, 1);
    const ing_strategy *st = &s->v[0];
    assert_string_equal(st->name, "claims");
    assert_int_equal(st->format, CEL_FMT_CSV);
    assert_string_equal(st->target_schema, "s");
    assert_string_equal(st->target_table, "t");
    assert_int_equal(st->ncols, 12);
    assert_int_equal(st->nstage, 7);
    assert_int_equal(st->nconflict, 1);
    assert_int_equal(st->on_conflict, ING_CONFLICT_UPDATE);
    assert_int_equal(st->on_new_version, ING_VERSION_REPLACE);
    assert_true(st->reject_threshold == 0.5);
    assert_int_equal(st->cols[7].meta, ING_META_INGESTION_ID);
    assert_int_equal(st->col_bucket, 8);
    assert_int_equal(st->col_key, 9);
    assert_int_equal(st->col_etag, 10);
    assert_ptr_equal(ing_strategy_match(s, "uploads", "x/c1.csv"), st);
    assert_null(ing_strategy_match(s, "other", "x/c1.csv"));
    assert_null(ing_strategy_match(s, "uploads", "x/d1.csv"));
    ing_strategies_free(s);
}

static void test_shipped_strategies(void **state) {
    (void)state;
    const char *src = getenv("CELERIAC_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/strategies/ingest.json", src ? src : CELERIAC_SOURCE_DIR);
    ing_strategies *s = NULL;
    cel_error err = {0};
    if (ing_strategies_load(path, &s, &err) != CEL_OK)
        fail_msg("%s", err.msg);
    assert_true(s->n >= 2);
    const ing_strategy *c =
        ing_strategy_match(s, "healthcare-ingestion-drop-zone", "pharmacy_claim.csv");
    assert_non_null(c);
    assert_string_equal(c->name, "pharmacy_claims");
    assert_string_equal(c->target_table, "pharmacy_claim");
    c = ing_strategy_match(s, "b", "2026/11/22/audit_records_export.csv");
    assert_non_null(c);
    assert_string_equal(c->name, "audit_records");
    c = ing_strategy_match(s, "b", "x/audit_records/2026/part-1.ndjson");
    assert_non_null(c);
    assert_int_equal(c->format, CEL_FMT_NDJSON);
    assert_null(ing_strategy_match(s, "b", "x/unknown_kind.csv"));
    ing_strategies_free(s);
    /* the path resolution finds the shipped file without configuration */
    unsetenv("CELERIAC_INGEST_STRATEGIES");
    assert_int_equal(ing_strategies_path(path, sizeof path, &err), CEL_OK);
    assert_non_null(strstr(path, "strategies/ingest.json"));
    setenv("CELERIAC_INGEST_STRATEGIES", "/nonexistent/x.json", 1);
    cel_error e2 = {0};
    assert_int_equal(ing_strategies_path(path, sizeof path, &e2), CEL_ECONFIG);
    assert_non_null(strstr(e2.msg, "CELERIAC_INGEST_STRATEGIES=/nonexistent/x.json"));
    unsetenv("CELERIAC_INGEST_STRATEGIES");
    cel_error e3 = {0};
    assert_int_equal(ing_strategies_load("/nonexistent/x.json", &s, &e3), CEL_EIO);
}

#define ONE(fields_target)                                                                         \
    "{\"strategies\": [{\"name\": \"x\", \"key_pattern\": \"*\", \"schema\": {\"fields\": "        \
    "[{\"name\": \"a\"}, {\"name\": \"b\", \"type\": \"integer\"}]}" fields_target "}]}"

#define ONE_ENTRY_OK                                                                               \
    "{\"name\": \"x\", \"key_pattern\": \"*\", \"schema\": {\"fields\": [{\"name\": "              \
    "\"a\"}]}, \"target\": {\"table\": \"t\", \"conflict_key\": [\"a\"], "                         \
    "\"on_new_version\": \"keep\"}}"

static void test_strategies_refused(void **state) {
    (void)state;
    struct {
        const char *json, *want;
    } cases[] = {
        {"[]", "top level must be an object"},
        {"{}", "strategies: required"},
        {"{\"strategies\": [], \"extra\": 1}", "unknown key 'extra'"},
        {"{\"version\": 2, \"strategies\": []}", "only version 1"},
        {"{\"strategies\": [{}]}", "strategies[0].name: required"},
        {"{\"strategies\": [{\"name\": \"a b\"}]}", "strategies[0].name"},
        {"{\"strategies\": [{\"name\": \"x\"}]}", "key_pattern: required"},
        {"{\"strategies\": [{\"name\": \"x\", \"key_pattern\": []}]}", "key_pattern: required"},
        {"{\"strategies\": [{\"name\": \"x\", \"key_pattern\": \"*\"}]}", "schema: required"},
        {"{\"strategies\": [{\"name\": \"x\", \"key_pattern\": \"*\", \"schemma\": {}}]}",
         "unknown key 'schemma'"},
        {ONE(""), "target: required"},
        {ONE(", \"target\": {\"table\": \"t\"}"), "conflict_key: required"},
        {ONE(", \"target\": {\"table\": \"a.b.c\", \"conflict_key\": [\"a\"]}"),
         "not schema.table"},
        {ONE(", \"target\": {\"table\": \"t; drop\", \"conflict_key\": [\"a\"]}"),
         "not schema.table"},
        {ONE(", \"target\": {\"table\": \"t\", \"conflict_key\": [\"zz\"], \"on_new_version\": "
             "\"keep\"}"),
         "conflict_key[0]: 'zz' is not a mapped target column"},
        {ONE(", \"target\": {\"table\": \"t\", \"conflict_key\": [\"a\"]}"),
         "'replace' needs columns mapped from $bucket, $key and $etag"},
        {ONE(", \"target\": {\"table\": \"t\", \"columns\": {\"a\": \"a\", \"bk\": \"$bucket\", "
             "\"k\": \"$key\", \"e\": \"$etag\"}, \"conflict_key\": [\"a\"], \"on_conflict\": "
             "\"nothing\"}"),
         "'replace' needs on_conflict 'update'"},
        {ONE(", \"target\": {\"table\": \"t\", \"columns\": {\"a\": \"nope\"}, \"conflict_key\": "
             "[\"a\"]}"),
         "'nope' is not a field of the schema"},
        {ONE(", \"target\": {\"table\": \"t\", \"columns\": {\"a\": \"$what\"}, "
             "\"conflict_key\": [\"a\"]}"),
         "'$what' is not a known value"},
        {ONE(", \"target\": {\"table\": \"t\", \"columns\": {\"a-b\": \"a\"}, "
             "\"conflict_key\": [\"a\"]}"),
         "not a plain SQL identifier"},
        {ONE(", \"target\": {\"table\": \"t\", \"columns\": {\"x\": \"$bucket\"}, "
             "\"conflict_key\": [\"x\"]}"),
         "no column is mapped from a field"},
        {ONE(", \"target\": {\"table\": \"t\", \"conflict_key\": [\"a\", \"a\"], "
             "\"on_new_version\": \"keep\"}"),
         "'a' is repeated"},
        {ONE(", \"target\": {\"table\": \"t\", \"conflict_key\": [\"a\"], \"on_conflict\": "
             "\"merge\"}"),
         "'merge' is not update or nothing"},
        {ONE(", \"reject_threshold\": 1.5, \"target\": {\"table\": \"t\", \"conflict_key\": "
             "[\"a\"], \"on_new_version\": \"keep\"}"),
         "reject_threshold: must be a number from 0 to 1"},
        {ONE(", \"format\": \"xls\", \"target\": {\"table\": \"t\", \"conflict_key\": [\"a\"], "
             "\"on_new_version\": \"keep\"}"),
         ".format:"},
        {"{\"strategies\": [{\"name\": \"x\", \"key_pattern\": \"*\", \"schema\": {\"fields\": "
         "[{\"name\": \"a\", \"type\": \"integr\"}]}, \"target\": {\"table\": \"t\", "
         "\"conflict_key\": [\"a\"]}}]}",
         "strategies[0] (x).schema: "},
        {"{\"strategies\": [" ONE_ENTRY_OK ", " ONE_ENTRY_OK "]}", "already the name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t jerr;
        json_t *root = json_loads(cases[i].json, 0, &jerr);
        if (!root)
            fail_msg("case %zu: bad test JSON: %s", i, jerr.text);
        ing_strategies *s = NULL;
        cel_error err = {0};
        cel_status st = ing_strategies_parse(root, &s, &err);
        json_decref(root);
        if (st != CEL_ECONFIG || !strstr(err.msg, cases[i].want))
            fail_msg("case %zu: status %d message '%s', wanted '%s'", i, st, err.msg,
                     cases[i].want);
        assert_null(s);
    }
}

/* ---------------------------------------------------------------- target types */

static ing_pgtype ty(const char *ft) {
    ing_pgtype t;
    cel_error err = {0};
    assert_int_equal(ing_pgtype_parse(ft, NULL, false, &t, &err), CEL_OK);
    return t;
}

static bool acc(const char *ft, const char *v) {
    ing_pgtype t = ty(ft);
    char why[160];
    return ing_pg_accepts(&t, v, strlen(v), why, sizeof why);
}

static void test_pg_types(void **state) {
    (void)state;
    assert_int_equal(ty("integer").kind, ING_PG_INT4);
    assert_int_equal(ty("numeric(12,3)").precision, 12);
    assert_int_equal(ty("numeric(12,3)").scale, 3);
    assert_int_equal(ty("numeric(5)").scale, 0);
    assert_int_equal(ty("character varying(20)").maxlen, 20);
    assert_int_equal(ty("character(3)").kind, ING_PG_VARCHAR);
    assert_int_equal(ty("timestamp with time zone").kind, ING_PG_OTHER);
    /* integers: ranges of int2/int4/int8, no decimals */
    assert_true(acc("smallint", "32767"));
    assert_false(acc("smallint", "32768"));
    assert_true(acc("integer", "-2147483648"));
    assert_false(acc("integer", "2147483648"));
    assert_true(acc("bigint", "9223372036854775807"));
    assert_false(acc("bigint", "9223372036854775808"));
    assert_false(acc("integer", "12.0"));
    assert_true(acc("integer", "+5"));
    /* numeric(p,s): PostgreSQL rounds to s digits, then needs |v| < 10^(p-s) */
    assert_true(acc("numeric(12,2)", "9999999999.994"));
    assert_false(acc("numeric(12,2)", "9999999999.995"));
    assert_false(acc("numeric(12,2)", "12345678901.005"));
    assert_true(acc("numeric(12,2)", "-9999999999.99"));
    assert_true(acc("numeric(3,2)", "0.005"));
    assert_true(acc("numeric(3,2)", "9.994"));
    assert_false(acc("numeric(3,2)", "9.995"));
    assert_false(acc("numeric(12,2)", "1e10"));
    assert_true(acc("numeric(12,2)", "1e9"));
    assert_true(acc("numeric(12,2)", "1E-30"));
    assert_true(acc("numeric(12,2)", "0000000000000000123.5"));
    assert_false(acc("numeric(12,2)", "inf"));
    assert_true(acc("numeric(12,2)", "NaN"));
    assert_true(acc("numeric", "1e300"));
    assert_true(acc("numeric", "-Infinity"));
    assert_false(acc("numeric", "12abc"));
    assert_true(acc("numeric(5)", "99999.4"));
    assert_false(acc("numeric(5)", "99999.5"));
    /* floats */
    assert_true(acc("double precision", "1e308"));
    assert_false(acc("double precision", "1e400"));
    assert_false(acc("real", "1e39"));
    assert_true(acc("real", "-inf"));
    /* varchar(n): characters, not bytes; excess trailing blanks are cut by the server */
    assert_true(acc("character varying(3)", "üüü"));
    assert_false(acc("character varying(3)", "abcd"));
    assert_true(acc("character varying(3)", "abc   "));
    assert_true(acc("character(2)", "ab"));
    /* boolean literals as boolin reads them */
    const char *yes[] = {"t", "TRUE", "tr", "y", "yes", "on", "off", "of", "1", "0", " no ", "F"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!acc("boolean", yes[i]))
            fail_msg("boolean '%s' refused", yes[i]);
    const char *no[] = {"o", "2", "tru e", "", "yess", "10"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (acc("boolean", no[i]))
            fail_msg("boolean '%s' accepted", no[i]);
    assert_true(acc("text", "anything"));
    assert_true(acc("jsonb", "not checked here"));
}

static void test_copy_escape(void **state) {
    (void)state;
    dbuf b;
    dbuf_init(&b, 1024);
    cel_error err = {0};
    const char in[] = "a\tb\\c\nd\re|\x01";
    assert_int_equal(ing_copy_escape(&b, in, sizeof in - 1, &err), CEL_OK);
    assert_string_equal(b.data, "a\\tb\\\\c\\nd\\re|\x01");
    dbuf_free(&b);
    dbuf_init(&b, 4);
    assert_int_equal(ing_copy_escape(&b, "\\\\\\", 3, &err), CEL_ELIMIT);
    dbuf_free(&b);
}

/* ---------------------------------------------------------------- the loader */

/* types for k_good's columns: id text, qty numeric(12,3), day date, ok boolean,
 * amt numeric(12,2), n integer NOT NULL, code varchar(1), meta columns */
static ing_pgtype *good_types(const ing_strategy *st) {
    static const char *ft[] = {"text",
                               "numeric(12,3)",
                               "date",
                               "boolean",
                               "numeric(12,2)",
                               "integer",
                               "character varying(1)",
                               "bigint",
                               "text",
                               "text",
                               "text",
                               "bigint"};
    ing_pgtype *t = calloc(st->ncols, sizeof *t);
    for (size_t i = 0; i < st->ncols; i++) {
        cel_error err = {0};
        assert_int_equal(ing_pgtype_parse(ft[i], NULL, i == 5, &t[i], &err), CEL_OK);
    }
    return t;
}

static cel_status no_emit(void *ud, const char *d, size_t n, cel_error *err) {
    (void)ud;
    (void)d;
    (void)n;
    (void)err;
    return CEL_OK;
}

static const char *k_cols[] = {"id", "qty", "day", "ok", "amt", "n", "code", "unused"};

static void row_of(cel_value *v, const char *const *cells) {
    for (size_t i = 0; i < 8; i++) {
        if (!cells[i]) {
            v[i] = (cel_value){.kind = CEL_V_ABSENT};
            continue;
        }
        v[i] = (cel_value){.kind = CEL_V_TEXT, .s = cells[i], .len = strlen(cells[i])};
    }
}

static void test_loader_rows(void **state) {
    (void)state;
    ing_strategies *s = parse_ok(k_good);
    const ing_strategy *st = &s->v[0];
    ing_pgtype *types = good_types(st);
    ing_loader *l = NULL;
    cel_error err = {0};
    assert_int_equal(ing_loader_new(st, types, no_emit, NULL, &l, &err), CEL_OK);
    cel_row_sink sink = ing_loader_sink(l);
    assert_int_equal(sink.on_columns(sink.ud, 8, k_cols, &err), CEL_OK);
    struct {
        const char *cells[8];
        const char *want; /* staging text when valid, else a substring of the reason */
        bool ok;
    } cases[] = {
        /* normalization: date pattern -> ISO, trueValues -> true, decimal/group chars */
        {{"A1", "1.5", "22/11/2026", "Y", "1.234,56", "7", "A", "5"},
         "A1\t1.5\t2026-11-22\ttrue\t1234.56\t7\tA",
         true},
        {{"A2", "", "", "N", "", "0", "", ""}, "A2\t\\N\t\\N\tfalse\t\\N\t0\t\\N", true},
        /* escaping of COPY specials inside a value */
        {{"a\tb\\c", "0", "01/01/2026", "Y", "1", "1", "B", ""},
         "a\\tb\\\\c\t0\t2026-01-01\ttrue\t1\t1\tB",
         true},
        {{"", "1", "", "Y", "", "1", "", ""}, "field 'id' is required but missing", false},
        {{"A3", "-1", "", "Y", "", "1", "", ""}, "field 'qty': '-1' violates minimum 0", false},
        {{"A3", "abc", "", "Y", "", "1", "", ""},
         "field 'qty': 'abc' is not a valid number",
         false},
        {{"A3", "1", "2026-11-22", "Y", "", "1", "", ""},
         "field 'day': '2026-11-22' is not a valid date (format %d/%m/%Y)",
         false},
        {{"A3", "1", "", "maybe", "", "1", "", ""},
         "field 'ok': 'maybe' is not a valid boolean",
         false},
        {{"A3", "1", "", "Y", "", "1", "C", ""},
         "field 'code': 'C' is not one of the enum values",
         false},
        /* the target column refuses what the schema allowed */
        {{"A3", "1", "", "Y", "", "99999999999", "", ""},
         "field 'n' -> column 'n': '99999999999' is out of range for integer",
         false},
        {{"A3", "1e20", "", "Y", "", "1", "", ""},
         "field 'qty' -> column 'qty': '1e20' overflows numeric(12,3)",
         false},
        {{"A3", "1", "", "Y", "", "", "", ""},
         "column 'n' is NOT NULL but field 'n' is missing",
         false},
        /* unmapped fields are validated too (the schema is the file's contract) */
        {{"A3", "1", "", "Y", "", "1", "", "x1"},
         "field 'unused': 'x1' is not a valid integer",
         false},
        /* a cell absent from a short row is missing, not an error unless required */
        {{"A4", "1", NULL, NULL, NULL, "2", NULL, NULL}, "A4\t1\t\\N\t\\N\t\\N\t2\t\\N", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cel_value v[8];
        row_of(v, cases[i].cells);
        char why[ING_REASON_MAX];
        bool ok = ing_loader_check_row(l, 8, v, why, sizeof why);
        if (ok != cases[i].ok)
            fail_msg("case %zu: ok=%d why='%s'", i, ok, why);
        if (ok && strcmp(ing_loader_row_text(l), cases[i].want) != 0)
            fail_msg("case %zu: staged '%s', wanted '%s'", i, ing_loader_row_text(l),
                     cases[i].want);
        if (!ok && !strstr(why, cases[i].want))
            fail_msg("case %zu: reason '%s', wanted '%s'", i, why, cases[i].want);
    }
    /* a long bad value is quoted shortened, on a UTF-8 boundary */
    char longv[300];
    memset(longv, 0, sizeof longv);
    for (size_t i = 0; i + 2 < 200; i += 2)
        memcpy(longv + i, "\xc3\xbc", 2);
    const char *cells[8] = {"A5", longv, "", "Y", "", "1", "", ""};
    cel_value v[8];
    row_of(v, cells);
    char why[ING_REASON_MAX];
    assert_false(ing_loader_check_row(l, 8, v, why, sizeof why));
    assert_non_null(strstr(why, "...' is not a valid number"));
    assert_true(strlen(why) < 200);
    ing_loader_free(l);
    free(types);
    ing_strategies_free(s);
}

static cel_status to_dbuf(void *ud, const char *d, size_t n, cel_error *err) {
    (void)err;
    return dbuf_append(ud, d, n);
}

static char *load_text(const ing_strategy *st, const ing_pgtype *types, cel_format fmt,
                       const char *input, uint64_t *rows, uint64_t *rejected) {
    dbuf out;
    dbuf_init(&out, 1 << 20);
    ing_loader *l = NULL;
    cel_error err = {0};
    assert_int_equal(ing_loader_new(st, types, to_dbuf, &out, &l, &err), CEL_OK);
    cel_row_sink sink = ing_loader_sink(l);
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    o.header = -1;
    dq_schema_reader_opts(st->schema, &o);
    cel_stream_reader *r = NULL;
    assert_int_equal(cel_stream_reader_new(fmt, &o, &sink, &r, &err), CEL_OK);
    /* one byte at a time: the loader must not depend on chunk boundaries */
    for (size_t i = 0; input[i]; i++)
        if (cel_stream_reader_feed(r, input + i, 1, &err) != CEL_OK)
            fail_msg("feed: %s", err.msg);
    if (cel_stream_reader_finish(r, &err) != CEL_OK || ing_loader_flush(l, &err) != CEL_OK)
        fail_msg("finish: %s", err.msg);
    *rows = ing_loader_rows(l);
    *rejected = ing_loader_rejected(l);
    cel_stream_reader_free(r);
    ing_loader_free(l);
    return dbuf_take(&out);
}

static void test_loader_copy_csv(void **state) {
    (void)state;
    ing_strategies *s = parse_ok(k_good);
    const ing_strategy *st = &s->v[0];
    ing_pgtype *types = good_types(st);
    uint64_t rows, rej;
    /* delimiter ';' from the strategy's dialect; a quoted newline; a ragged row */
    char *out = load_text(st, types, CEL_FMT_CSV,
                          "id;qty;day;ok;amt;n;code;unused\n"
                          "A1;2;01/02/2026;Y;3,5;1;A;\n"
                          "\"A\n2\";-4;;N;;2;B;\n"
                          "A3;1;;Y;;3;A;;extra\n",
                          &rows, &rej);
    assert_int_equal(rows, 3);
    assert_int_equal(rej, 2);
    const char *want = "1\t2\t\\N\t\\N\tA1\t2\t2026-02-01\ttrue\t3.5\t1\tA\n"
                       "2\t3\tfield 'qty': '-4' violates minimum 0\t\"A\\n2\",-4,,N,,2,B,"
                       "\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n"
                       "3\t5\trow has 1 more cell than the header\tA3,1,,Y,,3,A,"
                       "\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n";
    if (strcmp(out, want) != 0)
        fail_msg("COPY text:\n%s\nwanted:\n%s", out, want);
    free(out);
    free(types);
    ing_strategies_free(s);
}

static void test_loader_copy_ndjson(void **state) {
    (void)state;
    const char *json =
        "{\"strategies\": [{\"name\": \"j\", \"key_pattern\": \"*\", \"format\": \"ndjson\","
        " \"schema\": {\"fields\": [{\"name\": \"id\", \"type\": \"integer\"},"
        "  {\"name\": \"v\", \"type\": \"number\"}, {\"name\": \"ok\", \"type\": \"boolean\"},"
        "  {\"name\": \"tags\", \"type\": \"array\"}], \"primaryKey\": [\"id\"]},"
        " \"target\": {\"table\": \"t\", \"conflict_key\": [\"id\"], \"on_new_version\": "
        "\"keep\"}}]}";
    ing_strategies *s = parse_ok(json);
    const ing_strategy *st = &s->v[0];
    ing_pgtype t[4];
    cel_error err = {0};
    const char *ft[] = {"bigint", "double precision", "boolean", "jsonb"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(ing_pgtype_parse(ft[i], NULL, false, &t[i], &err), CEL_OK);
    uint64_t rows, rej;
    char *out = load_text(st, t, CEL_FMT_NDJSON,
                          "{\"id\": 1, \"v\": 0.1, \"ok\": true, \"tags\": [1, \"a\"]}\n"
                          "{\"id\": 2.0, \"v\": -0.0, \"ok\": false}\n"
                          "{\"id\": \"x\", \"v\": 1, \"extra\": null}\n"
                          "{\"v\": 2}\n",
                          &rows, &rej);
    assert_int_equal(rows, 4);
    assert_int_equal(rej, 2);
    const char *want =
        "1\t1\t\\N\t\\N\t1\t0.1\ttrue\t[1,\"a\"]\n"
        "2\t2\t\\N\t\\N\t2\t-0.0\tfalse\t\\N\n"
        "3\t3\tfield 'id': 'x' is not a valid integer\t{\"id\":\"x\",\"v\":1,\"extra\":null}"
        "\t\\N\t\\N\t\\N\t\\N\n"
        "4\t4\tfield 'id' is required but absent\t{\"v\":2}\t\\N\t\\N\t\\N\t\\N\n";
    if (strcmp(out, want) != 0)
        fail_msg("COPY text:\n%s\nwanted:\n%s", out, want);
    free(out);
    ing_strategies_free(s);
}

/* ---------------------------------------------------------------- SQL */

static void test_sql(void **state) {
    (void)state;
    ing_strategies *s = parse_ok(k_good);
    const ing_strategy *st = &s->v[0];
    ing_pgtype *types = good_types(st);
    snprintf(types[6].cast, sizeof types[6].cast, "character varying");
    char *staging = ing_sql_staging(st);
    assert_string_equal(staging, "CREATE TEMP TABLE ingest_staging (rownum bigint NOT NULL, "
                                 "line bigint NOT NULL, reason text, raw text, c1 text, c2 text, "
                                 "c3 text, c4 text, c5 text, c6 text, c7 text) ON COMMIT DROP");
    char *merge = ing_sql_merge(st, types);
    assert_non_null(strstr(merge, "INSERT INTO \"s\".\"t\" AS t (\"id\", \"qty\", \"day\", "
                                  "\"ok\", \"amt\", \"n\", \"code\", \"ing\", \"b\", \"k\", "
                                  "\"e\", \"l\") SELECT s.c1::text, s.c2::numeric(12,3), "
                                  "s.c3::date, s.c4::boolean, s.c5::numeric(12,2), s.c6::integer, "
                                  "s.c7::character varying, m.ingestion_id, m.bucket, m.key, "
                                  "m.etag, s.line FROM"));
    assert_non_null(strstr(merge, "ON CONFLICT (\"id\") DO UPDATE SET \"qty\" = EXCLUDED.\"qty\""));
    assert_null(strstr(merge, "\"id\" = EXCLUDED"));
    char *dedupe = ing_sql_dedupe(st, types);
    assert_non_null(strstr(dedupe, "PARTITION BY c1::text ORDER BY rownum"));
    assert_non_null(strstr(dedupe, "duplicate conflict key (id) of line "));
    char *has = ing_sql_has_dups(st, types);
    assert_string_equal(has, "SELECT EXISTS (SELECT 1 FROM pg_temp.ingest_staging WHERE reason "
                             "IS NULL AND c1 IS NOT NULL GROUP BY c1::text HAVING count(*) > 1)");
    free(has);
    char *replace = ing_sql_replace(st);
    assert_string_equal(replace, "DELETE FROM \"s\".\"t\" WHERE \"b\" = $1 AND \"k\" = $2 AND "
                                 "\"e\" IS DISTINCT FROM $3");
    free(staging);
    free(merge);
    free(dedupe);
    free(replace);
    free(types);
    ing_strategies_free(s);
    /* a key with $line needs no de-duplication; "keep" needs no replace; all-key columns or
     * on_conflict nothing -> DO NOTHING */
    s = parse_ok("{\"strategies\": [{\"name\": \"x\", \"key_pattern\": \"*\", \"schema\": "
                 "{\"fields\": [{\"name\": \"a\"}]}, \"target\": {\"table\": \"t\", \"columns\": "
                 "{\"a\": \"a\", \"k\": \"$key\", \"ln\": \"$line\"}, \"conflict_key\": [\"k\", "
                 "\"ln\"], \"on_conflict\": \"nothing\", \"on_new_version\": \"keep\"}}]}");
    ing_pgtype t3[3];
    cel_error err = {0};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ing_pgtype_parse("text", NULL, false, &t3[i], &err), CEL_OK);
    assert_null(ing_sql_dedupe(&s->v[0], t3));
    assert_null(ing_sql_has_dups(&s->v[0], t3));
    assert_null(ing_sql_replace(&s->v[0]));
    merge = ing_sql_merge(&s->v[0], t3);
    assert_non_null(strstr(merge, "ON CONFLICT (\"k\", \"ln\") DO NOTHING"));
    free(merge);
    ing_strategies_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_strategies_parse),
        cmocka_unit_test(test_shipped_strategies),
        cmocka_unit_test(test_strategies_refused),
        cmocka_unit_test(test_pg_types),
        cmocka_unit_test(test_copy_escape),
        cmocka_unit_test(test_loader_rows),
        cmocka_unit_test(test_loader_copy_csv),
        cmocka_unit_test(test_loader_copy_ndjson),
        cmocka_unit_test(test_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
