/*
 * test_quality.c: the quality engine end to end over rows fed straight into its
 * row sink: schema parsing errors, each scoring category failing alone with exact
 * deductions (seed 000's "5 fields, 1 failing -> 8"), parse failures, no schema,
 * missing values, every constraint, typed (JSON) values, caps, the sample, the
 * profile and the dataset report (numbers checked against pandas 1.5.3), and the
 * spill paths forced by a tiny budget giving the same answers as in memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "celeriac/quality.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- harness */

static dq_schema *schema_of(const char *text) {
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (j == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    dq_schema *s = NULL;
    cel_error err = {0};
    cel_status st = dq_schema_parse(j, &s, &err);
    json_decref(j);
    if (st != CEL_OK)
        fail_msg("schema: %s", err.msg);
    return s;
}

static cel_status schema_error(const char *text, char *msg, size_t msgsz) {
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    dq_schema *s = NULL;
    cel_error err = {0};
    cel_status st = dq_schema_parse(j, &s, &err);
    json_decref(j);
    dq_schema_free(s);
    snprintf(msg, msgsz, "%s", err.msg);
    return st;
}

/* Feeds a CSV-like table: cells[r * ncols + c], NULL = the row lacks the cell. */
static dq_engine *run_rows(const dq_schema *s, const dq_options *opts, size_t ncols,
                           const char *const *header, const char *const *cells, size_t nrows) {
    dq_engine *e = NULL;
    cel_error err = {0};
    assert_int_equal(dq_engine_new(s, opts, &e, &err), CEL_OK);
    cel_row_sink sink = dq_engine_sink(e);
    assert_int_equal(sink.on_columns(sink.ud, ncols, header, &err), CEL_OK);
    cel_value *vals = calloc(ncols ? ncols : 1, sizeof *vals);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *t = cells[r * ncols + c];
            vals[c].kind = t ? CEL_V_TEXT : CEL_V_ABSENT;
            vals[c].s = t;
            vals[c].len = t ? strlen(t) : 0;
        }
        assert_int_equal(sink.on_row(sink.ud, r + 1, r + 2, ncols, vals, &err), CEL_OK);
    }
    free(vals);
    return e;
}

static void finish(dq_engine *e, dq_result *res) {
    cel_error err = {0};
    assert_int_equal(dq_engine_finish(e, &err), CEL_OK);
    if (res)
        assert_int_equal(dq_engine_result(e, res, &err), CEL_OK);
}

static json_t *metric(const dq_result *r, const char *key) {
    json_t *m = json_object_get(r->metrics, key);
    assert_non_null(m);
    return m;
}

static bool mpassed(const dq_result *r, const char *key) {
    return json_is_true(json_object_get(metric(r, key), "passed"));
}

static double jd(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

static void expect_deductions(const dq_result *r, double s, double f, double c, double b,
                              double u) {
    const double want[DQ_CAT_COUNT] = {s, f, c, b, u};
    for (int i = 0; i < DQ_CAT_COUNT; i++) {
        if (r->deductions[i] != want[i])
            fail_msg("deduction %s: got %.17g want %.17g", dq_category_name((dq_category)i),
                     r->deductions[i], want[i]);
        assert_true(jd(r->deductions_json, dq_category_name((dq_category)i)) == want[i]);
    }
}

#define H5                                                                                         \
    (const char *const[]) {                                                                        \
        "id", "name", "amount", "day", "email"                                                     \
    }
static const char *const good5[] = {"1", "ann", "10", "2020-01-01", "a@x.com",
                                    "2", "bob", "20", "2020-01-02", "b@x.com",
                                    "3", "cid", "30", "2020-01-03", "c@x.com"};

static const char *const schema5 =
    "{\"fields\":[{\"name\":\"id\",\"type\":\"integer\"},{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"amount\",\"type\":\"number\"},{\"name\":\"day\",\"type\":\"date\"},"
    "{\"name\":\"email\",\"type\":\"string\",\"format\":\"email\"}]%s}";

static dq_schema *schema5_with(const char *extra) {
    char buf[2048];
    snprintf(buf, sizeof buf, schema5, extra);
    return schema_of(buf);
}

/* ---------------------------------------------------------------- scoring */

static void test_all_pass(void **state) {
    (void)state;
    dq_schema *s = schema5_with("");
    dq_engine *e = run_rows(s, NULL, 5, H5, good5, 3);
    dq_result r;
    finish(e, &r);
    assert_int_equal(r.score, 100);
    assert_true(r.passed);
    expect_deductions(&r, 0, 0, 0, 0, 0);
    assert_null(r.failed_message);
    assert_false(r.failure.present);
    assert_int_equal(json_array_size(r.failed_rules), 0);
    assert_true(mpassed(&r, "schemaValidation"));
    assert_int_equal((int)jd(metric(&r, "schemaValidation"), "checks"), 5);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

/* seed 000: "if schema has 5 fields and one field fails ... deduct 40 * 1/5 = 8" */
static void test_schema_one_of_five_missing(void **state) {
    (void)state;
    dq_schema *s = schema5_with("");
    const char *const h4[] = {"id", "name", "amount", "day"};
    const char *const rows[] = {"1", "ann", "10", "2020-01-01", "2", "bob", "20", "2020-01-02"};
    dq_engine *e = run_rows(s, NULL, 4, h4, rows, 2);
    dq_result r;
    finish(e, &r);
    expect_deductions(&r, 8, 0, 0, 0, 0);
    assert_int_equal(r.score, 92);
    assert_true(r.passed);
    assert_false(mpassed(&r, "schemaValidation"));
    assert_true(mpassed(&r, "formatParsing"));
    assert_true(r.failure.present);
    assert_string_equal(r.failure.rule_type, "schema");
    assert_string_equal(r.failure.validated_field_names, "email");
    assert_non_null(strstr(r.failure.validated_message, "missing"));
    assert_non_null(r.failed_message);
    assert_int_equal(json_array_size(r.failed_rules), 1);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

static void test_schema_extra_and_order(void **state) {
    (void)state;
    /* equal: 5 declared + 1 undeclared column -> 1 of 6 checks fails: 40/6 */
    dq_schema *s = schema5_with(",\"fieldsMatch\":\"equal\"");
    const char *const h6[] = {"email", "id", "name", "amount", "day", "extra"};
    const char *const rows[] = {"a@x.com", "1", "ann", "1", "2020-01-01", "z"};
    dq_engine *e = run_rows(s, NULL, 6, h6, rows, 1);
    dq_result r;
    finish(e, &r);
    expect_deductions(&r, 40.0 / 6, 0, 0, 0, 0);
    assert_int_equal(r.score, 93);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);

    /* exact (default) maps by position: same columns, two swapped -> 2 of 5 fail */
    s = schema5_with("");
    const char *const hswap[] = {"id", "amount", "name", "day", "email"};
    const char *const rows2[] = {"1", "10", "ann", "2020-01-01", "a@x.com"};
    e = run_rows(s, NULL, 5, hswap, rows2, 1);
    finish(e, &r);
    expect_deductions(&r, 16, 0, 0, 0, 0); /* cells are still validated by name */
    dq_result_free(&r);
    /* ... but for JSON objects (no column order) exact compares names only */
    dq_engine_free(e);
    e = run_rows(s, NULL, 5, hswap, rows2, 1);
    dq_engine_set_format(e, CEL_FMT_NDJSON);
    finish(e, &r);
    expect_deductions(&r, 0, 0, 0, 0, 0);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);

    /* subset: extra columns are fine, missing ones are not */
    s = schema5_with(",\"fieldsMatch\":\"subset\"");
    e = run_rows(s, NULL, 6, h6, rows, 1);
    finish(e, &r);
    expect_deductions(&r, 0, 0, 0, 0, 0);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);

    /* superset: missing declared fields are fine, undeclared columns are not */
    s = schema5_with(",\"fieldsMatch\":\"superset\"");
    const char *const h2[] = {"id", "other"};
    const char *const rows3[] = {"1", "x"};
    e = run_rows(s, NULL, 2, h2, rows3, 1);
    finish(e, &r);
    expect_deductions(&r, 40.0 / 6, 0, 0, 0, 0);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);

    /* partial: one matching field is enough; none fails everything */
    s = schema5_with(",\"fieldsMatch\":\"partial\"");
    e = run_rows(s, NULL, 2, h2, rows3, 1);
    finish(e, &r);
    expect_deductions(&r, 0, 0, 0, 0, 0);
    dq_result_free(&r);
    dq_engine_free(e);
    const char *const hnone[] = {"x", "y"};
    e = run_rows(s, NULL, 2, hnone, rows3, 1);
    finish(e, &r);
    expect_deductions(&r, 40, 0, 0, 0, 0);
    assert_int_equal(r.score, 60);
    assert_false(r.passed);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

static void test_format_only(void **state) {
    (void)state;
    dq_schema *s = schema5_with("");
    const char *const rows[] = {
        "1", "ann", "10",  "2020-01-01", "a@x.com", "two", "bob", "20",   "2020-01-02", "b@x.com",
        "3", "cid", "1,5", "2020-02-30", "c@x.com", "4",   "dan", " 12 ", "2020-01-04", "d@x.com"};
    dq_engine *e = run_rows(s, NULL, 5, H5, rows, 4);
    dq_result r;
    finish(e, &r);
    /* id, amount and day fail: 3 of 5 format checks -> 35 * 3/5 = 21 */
    expect_deductions(&r, 0, 21, 0, 0, 0);
    assert_int_equal(r.score, 79);
    assert_false(r.passed);
    json_t *fails = json_object_get(metric(&r, "formatParsing"), "failures");
    assert_int_equal(json_array_size(fails), 3);
    json_t *amount = json_array_get(fails, 1);
    assert_int_equal((int)jd(amount, "violations"), 2); /* "1,5" and " 12 " */
    json_t *first = json_array_get(json_object_get(amount, "firstRows"), 0);
    assert_int_equal((int)jd(first, "row"), 3);
    assert_int_equal((int)jd(first, "line"), 4);
    assert_string_equal(json_string_value(json_object_get(first, "value")), "1,5");
    assert_string_equal(r.failure.rule_name, "type");
    assert_string_equal(r.failure.validated_field_names, "id");
    assert_string_equal(r.failure.validated_values, "[\"two\"]");
    assert_string_equal(r.failure.rule_parameters, "{\"type\":\"integer\",\"format\":\"default\"}");
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

static void test_completeness_only(void **state) {
    (void)state;
    dq_schema *s =
        schema_of("{\"fields\":[{\"name\":\"a\",\"constraints\":{\"required\":true}},"
                  "{\"name\":\"b\",\"constraints\":{\"required\":true}},{\"name\":\"c\"}],"
                  "\"missingValues\":[\"\",\"NA\"]}");
    const char *const h[] = {"a", "b", "c"};
    const char *const rows[] = {"1", "x", "", "2", "NA", "", "3", "y", "NA"};
    dq_engine *e = run_rows(s, NULL, 3, h, rows, 3);
    dq_result r;
    finish(e, &r);
    expect_deductions(&r, 0, 0, 10, 0, 0);
    assert_int_equal(r.score, 90);
    json_t *m = metric(&r, "completeness");
    assert_false(json_is_true(json_object_get(m, "passed")));
    assert_int_equal((int)jd(m, "missingCells"), 4);
    assert_int_equal((int)jd(m, "completeRows"), 0);
    json_t *f0 = json_array_get(json_object_get(m, "failures"), 0);
    assert_string_equal(json_string_value(json_object_get(f0, "fields")), "b");
    assert_int_equal((int)jd(json_array_get(json_object_get(f0, "firstRows"), 0), "row"), 2);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);

    /* a field-level missingValues replaces the schema's: "NA" is a value for b */
    s = schema_of("{\"fields\":[{\"name\":\"a\",\"constraints\":{\"required\":true}},"
                  "{\"name\":\"b\",\"missingValues\":[\"-\"],\"constraints\":{\"required\":true}},"
                  "{\"name\":\"c\"}],\"missingValues\":[\"\",\"NA\"]}");
    e = run_rows(s, NULL, 3, h, rows, 3);
    finish(e, &r);
    expect_deductions(&r, 0, 0, 0, 0, 0);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);

    /* a required field absent from the data fails completeness (and schema) */
    s = schema_of("{\"fields\":[{\"name\":\"a\"},{\"name\":\"z\",\"constraints\":"
                  "{\"required\":true}}],\"fieldsMatch\":\"superset\"}");
    const char *const h1[] = {"a"};
    const char *const rows1[] = {"1", "2"};
    e = run_rows(s, NULL, 1, h1, rows1, 2);
    finish(e, &r);
    expect_deductions(&r, 0, 0, 20, 0, 0);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

static void test_bounds_only_every_constraint(void **state) {
    (void)state;
    dq_schema *s = schema_of(
        "{\"fields\":["
        "{\"name\":\"i\",\"type\":\"integer\",\"constraints\":{\"minimum\":0,\"maximum\":10}},"
        "{\"name\":\"n\",\"type\":\"number\",\"constraints\":{\"exclusiveMinimum\":0,"
        "\"exclusiveMaximum\":\"1.5\"}},"
        "{\"name\":\"s\",\"type\":\"string\",\"constraints\":{\"minLength\":2,\"maxLength\":3}},"
        "{\"name\":\"p\",\"type\":\"string\",\"constraints\":{\"pattern\":\"[a-z]+|x[0-9]\"}},"
        "{\"name\":\"e\",\"type\":\"integer\",\"constraints\":{\"enum\":[1,2,\"3\"]}},"
        "{\"name\":\"d\",\"type\":\"date\",\"format\":\"%d/%m/%Y\",\"constraints\":"
        "{\"minimum\":\"01/01/2020\"}},"
        "{\"name\":\"free\",\"type\":\"string\"}]}");
    const char *const h[] = {"i", "n", "s", "p", "e", "d", "free"};
    /* all fine: lengths count characters (\xc3\xa9 is one) */
    const char *const ok[] = {
        "0",  "1", "\xc3\xa9t\xc3\xa9", "abc", "01", "01/01/2020", "z", "10", "1.4", "ab",
        "x1", "3", "31/12/2021",        "z"};
    dq_engine *e = run_rows(s, NULL, 7, h, ok, 2);
    dq_result r;
    finish(e, &r);
    expect_deductions(&r, 0, 0, 0, 0, 0);
    assert_int_equal((int)jd(metric(&r, "boundsRange"), "checks"), 6);
    dq_result_free(&r);
    dq_engine_free(e);
    /* each constrained field violated once: 6 of 6 bounds checks fail -> 15 */
    const char *const bad[] = {"-1", "0",   "a",    "ab1", "4", "31/12/2019", "z",
                               "11", "1.5", "abcd", "x1y", "2", "01/01/2020", "z"};
    e = run_rows(s, NULL, 7, h, bad, 2);
    finish(e, &r);
    expect_deductions(&r, 0, 0, 0, 15, 0);
    json_t *fails = json_object_get(metric(&r, "boundsRange"), "failures");
    assert_int_equal(json_array_size(fails), 6);
    json_t *by = json_object_get(json_array_get(fails, 0), "byConstraint");
    assert_int_equal((int)jd(by, "minimum"), 1);
    assert_int_equal((int)jd(by, "maximum"), 1);
    by = json_object_get(json_array_get(fails, 1), "byConstraint");
    assert_int_equal((int)jd(by, "exclusiveMinimum"), 1);
    assert_int_equal((int)jd(by, "exclusiveMaximum"), 1);
    by = json_object_get(json_array_get(fails, 2), "byConstraint");
    assert_int_equal((int)jd(by, "minLength"), 1);
    assert_int_equal((int)jd(by, "maxLength"), 1);
    by = json_object_get(json_array_get(fails, 3), "byConstraint");
    assert_int_equal((int)jd(by, "pattern"), 2); /* anchored: "ab1" and "x1y" */
    by = json_object_get(json_array_get(fails, 4), "byConstraint");
    assert_int_equal((int)jd(by, "enum"), 1); /* 4; "3" matches the string "3" */
    by = json_object_get(json_array_get(fails, 5), "byConstraint");
    assert_int_equal((int)jd(by, "minimum"), 1);
    json_t *ex = json_array_get(json_object_get(json_array_get(fails, 0), "firstRows"), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(ex, "violated"), 0)),
                        "minimum");
    assert_string_equal(r.failure.rule_name, "minimum");
    assert_string_equal(r.failure.rule_path, "fields[0].constraints.minimum");
    assert_string_equal(r.failure.rule_parameters, "{\"minimum\":0,\"maximum\":10}");
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

static void test_uniqueness_only(void **state) {
    (void)state;
    dq_schema *s = schema_of(
        "{\"fields\":[{\"name\":\"id\",\"type\":\"integer\",\"constraints\":{\"unique\":true}},"
        "{\"name\":\"a\"},{\"name\":\"b\"}],\"primaryKey\":[\"a\",\"b\"],"
        "\"uniqueKeys\":[[\"b\",\"a\"],[\"id\"]]}");
    const char *const h[] = {"id", "a", "b"};
    /* ids 1 and 01 are the same integer; (a, b) stays unique */
    const char *const rows[] = {"1", "x", "1", "2", "x", "2", "01", "y", "1", "3", "y", "2"};
    dq_engine *e = run_rows(s, NULL, 3, h, rows, 4);
    dq_result r;
    finish(e, &r);
    /* checks: unique(id), primaryKey(a,b); uniqueKeys duplicate them and are merged */
    assert_int_equal((int)jd(metric(&r, "uniqueness"), "checks"), 2);
    expect_deductions(&r, 0, 0, 0, 0, 5);
    json_t *f = json_array_get(json_object_get(metric(&r, "uniqueness"), "failures"), 0);
    json_t *x = json_array_get(json_object_get(f, "firstRows"), 0);
    assert_int_equal((int)jd(x, "row"), 3);
    assert_int_equal((int)jd(x, "duplicateOf"), 1);
    assert_string_equal(json_string_value(json_object_get(x, "value")), "01");
    assert_string_equal(r.failure.rule_name, "unique");
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);

    /* uniqueKeys skip rows with a missing part (SQL UNIQUE); primaryKey parts are
     * also required, so the missing b fails completeness */
    s = schema_of("{\"fields\":[{\"name\":\"a\"},{\"name\":\"b\"}],"
                  "\"uniqueKeys\":[[\"a\",\"b\"]]}");
    const char *const h2[] = {"a", "b"};
    const char *const rows2[] = {"x", "", "x", "", "y", "1"};
    e = run_rows(s, NULL, 2, h2, rows2, 3);
    finish(e, &r);
    expect_deductions(&r, 0, 0, 0, 0, 0);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

static void test_parse_failure(void **state) {
    (void)state;
    dq_schema *s = schema5_with("");
    dq_engine *e = run_rows(s, NULL, 5, H5, good5, 2);
    cel_error perr = {0};
    cel_fail(&perr, CEL_EPARSE, "CSV line 4: unterminated quoted field");
    dq_engine_parse_failed(e, &perr);
    dq_result r;
    finish(e, &r);
    expect_deductions(&r, 0, 35, 0, 0, 0);
    assert_int_equal(r.score, 65);
    assert_false(r.passed);
    json_t *fp = metric(&r, "formatParsing");
    assert_false(json_is_true(json_object_get(fp, "passed")));
    assert_false(json_is_true(json_object_get(fp, "parsed")));
    assert_non_null(strstr(json_string_value(json_object_get(fp, "details")), "line 4"));
    json_t *sv = metric(&r, "schemaValidation");
    assert_false(json_is_true(json_object_get(sv, "evaluated")));
    assert_non_null(strstr(json_string_value(json_object_get(sv, "details")), "not evaluated"));
    assert_string_equal(r.failure.rule_name, "formatParsing");
    assert_non_null(strstr(r.failure.validated_message, "unterminated"));
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

static void test_no_schema(void **state) {
    (void)state;
    dq_engine *e = run_rows(NULL, NULL, 5, H5, good5, 3);
    dq_result r;
    finish(e, &r);
    expect_deductions(&r, 0, 0, 0, 0, 0);
    assert_int_equal(r.score, 100);
    for (int c = 0; c < DQ_CAT_COUNT; c++) {
        json_t *m = metric(&r, dq_category_metric((dq_category)c));
        assert_true(json_is_true(json_object_get(m, "passed")));
        assert_non_null(strstr(json_string_value(json_object_get(m, "details")), "no schema"));
    }
    dq_result_free(&r);
    dq_engine_free(e);
}

static void test_score_rounding(void **state) {
    (void)state;
    double d[DQ_CAT_COUNT] = {0, 0, 10, 7.5, 0}; /* 82.5 */
    bool passed;
    assert_int_equal(dq_score(d, &passed), 82); /* half to even, like Python round() */
    assert_true(passed);
    double d2[DQ_CAT_COUNT] = {0, 0, 5, 7.5, 0}; /* 87.5 */
    assert_int_equal(dq_score(d2, NULL), 88);
    double d3[DQ_CAT_COUNT] = {40, 35, 20, 15, 10};
    assert_int_equal(dq_score(d3, &passed), 0);
    assert_false(passed);
    double d4[DQ_CAT_COUNT] = {0, 0, 20.4, 0, 0};
    assert_int_equal(dq_score(d4, &passed), 80);
    assert_true(passed);
    double d5[DQ_CAT_COUNT] = {0, 0, 20.6, 0, 0};
    assert_int_equal(dq_score(d5, &passed), 79);
    assert_false(passed);
}

static void test_schema_errors(void **state) {
    (void)state;
    char msg[1024];
    assert_int_equal(schema_error("[]", msg, sizeof msg), CEL_ESCHEMA);
    assert_int_equal(schema_error("{}", msg, sizeof msg), CEL_ESCHEMA);
    assert_non_null(strstr(msg, "$.fields"));
    assert_int_equal(
        schema_error("{\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}", msg, sizeof msg),
        CEL_ESCHEMA);
    assert_non_null(strstr(msg, "$.fields[0]"));
    assert_non_null(strstr(msg, "int"));
    assert_int_equal(schema_error("{\"fields\":[{\"name\":\"a\"},{\"name\":\"b\",\"type\":"
                                  "\"string\",\"constraints\":{\"minimum\":1}}]}",
                                  msg, sizeof msg),
                     CEL_ESCHEMA);
    assert_non_null(strstr(msg, "$.fields[1].constraints.minimum"));
    assert_int_equal(schema_error("{\"fields\":[{\"name\":\"a\",\"type\":\"string\","
                                  "\"constraints\":{\"pattern\":\"(\"}}]}",
                                  msg, sizeof msg),
                     CEL_ESCHEMA);
    assert_non_null(strstr(msg, "pattern"));
    assert_int_equal(
        schema_error("{\"fields\":[{\"name\":\"a\"}],\"primaryKey\":[\"b\"]}", msg, sizeof msg),
        CEL_ESCHEMA);
    assert_non_null(strstr(msg, "$.primaryKey"));
    assert_int_equal(
        schema_error("{\"fields\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", msg, sizeof msg),
        CEL_ESCHEMA);
    assert_non_null(strstr(msg, "duplicate"));
    assert_int_equal(schema_error("{\"fields\":[{\"name\":\"a\",\"type\":\"date\","
                                  "\"constraints\":{\"minimum\":\"yesterday\"}}]}",
                                  msg, sizeof msg),
                     CEL_ESCHEMA);
    assert_int_equal(schema_error("{\"fields\":[{\"name\":\"a\",\"type\":\"integer\","
                                  "\"constraints\":{\"enum\":[\"x\"]}}]}",
                                  msg, sizeof msg),
                     CEL_ESCHEMA);
    assert_int_equal(schema_error("{\"fields\":[{\"name\":\"a\",\"type\":\"string\","
                                  "\"format\":\"phone\"}]}",
                                  msg, sizeof msg),
                     CEL_ESCHEMA);
    assert_int_equal(schema_error("{\"fields\":[],\"fieldsMatch\":\"loose\"}", msg, sizeof msg),
                     CEL_ESCHEMA);
    assert_int_equal(
        schema_error("{\"fields\":[],\"dialect\":{\"delimiter\":\";;\"}}", msg, sizeof msg),
        CEL_ESCHEMA);
    assert_non_null(strstr(msg, "$.dialect.delimiter"));
    assert_int_equal(schema_error("{\"fields\":[],\"format\":\"xlsx\"}", msg, sizeof msg),
                     CEL_ESCHEMA);
    assert_int_equal(schema_error("{\"fields\":[{\"name\":\"a\",\"constraints\":"
                                  "{\"jsonSchema\":{}}}]}",
                                  msg, sizeof msg),
                     CEL_ESCHEMA);
}

static void test_schema_file_options(void **state) {
    (void)state;
    dq_schema *s = schema_of("{\"fields\":[{\"name\":\"a\"}],\"format\":\"csv\",\"dialect\":"
                             "{\"delimiter\":\";\",\"quoteChar\":\"'\",\"header\":false,"
                             "\"encoding\":\"latin-1\"}}");
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    o.header = -1;
    dq_schema_reader_opts(s, &o);
    assert_int_equal(o.format, CEL_FMT_CSV);
    assert_int_equal(o.delimiter, ';');
    assert_int_equal(o.quote, '\'');
    assert_int_equal(o.header, 0);
    assert_string_equal(o.encoding, "latin-1");
    assert_true(dq_schema_no_header(s));
    assert_int_equal(dq_schema_nfields(s), 1);
    dq_schema_free(s);
}

static void test_no_header_positional(void **state) {
    (void)state;
    dq_schema *s = schema_of("{\"fields\":[{\"name\":\"id\",\"type\":\"integer\"},"
                             "{\"name\":\"v\",\"type\":\"number\"}]}");
    dq_options o = {.no_header = true};
    const char *const h[] = {"column_1", "column_2"};
    const char *const rows[] = {"1", "2.5", "x", "3"};
    dq_engine *e = run_rows(s, &o, 2, h, rows, 2);
    dq_result r;
    finish(e, &r);
    expect_deductions(&r, 0, 17.5, 0, 0, 0); /* names ignored; "x" is not an integer */
    assert_int_equal(r.score, 82);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

static void test_typed_values(void **state) {
    (void)state;
    dq_schema *s =
        schema_of("{\"fields\":[{\"name\":\"i\",\"type\":\"integer\"},"
                  "{\"name\":\"n\",\"type\":\"number\"},"
                  "{\"name\":\"b\",\"type\":\"boolean\"},"
                  "{\"name\":\"s\",\"type\":\"string\"},"
                  "{\"name\":\"o\",\"type\":\"object\",\"constraints\":{\"maxLength\":1}}]}");
    dq_engine *e = NULL;
    cel_error err = {0};
    assert_int_equal(dq_engine_new(s, NULL, &e, &err), CEL_OK);
    cel_row_sink sink = dq_engine_sink(e);
    const char *const h[] = {"i", "n", "b", "s", "o"};
    assert_int_equal(sink.on_columns(sink.ud, 5, h, &err), CEL_OK);
    cel_value row1[5] = {{CEL_V_INT, "7", 1, 7, 0},
                         {CEL_V_DOUBLE, "1.5", 3, 0, 1.5},
                         {CEL_V_BOOL, "true", 4, 1, 0},
                         {CEL_V_STRING, "x", 1, 0, 0},
                         {CEL_V_JSON, "{\"a\":1}", 7, 0, 0}};
    cel_value row2[5] = {{CEL_V_DOUBLE, "2.0", 3, 0, 2.0},
                         {CEL_V_INT, "3", 1, 3, 0},
                         {CEL_V_STRING, "false", 5, 0, 0},
                         {CEL_V_INT, "5", 1, 5, 0}, /* a JSON number is not a string */
                         {CEL_V_JSON, "{\"a\":1,\"b\":2}", 13, 0, 0}};
    cel_value row3[5] = {{CEL_V_NULL, NULL, 0, 0, 0},
                         {CEL_V_DOUBLE, "2.5", 3, 0, 2.5},
                         {CEL_V_INT, "1", 1, 1, 0}, /* a JSON number is not a boolean */
                         {CEL_V_ABSENT, NULL, 0, 0, 0},
                         {CEL_V_JSON, "[1]", 3, 0, 0}};
    assert_int_equal(sink.on_row(sink.ud, 1, 1, 5, row1, &err), CEL_OK);
    assert_int_equal(sink.on_row(sink.ud, 2, 2, 5, row2, &err), CEL_OK);
    assert_int_equal(sink.on_row(sink.ud, 3, 3, 5, row3, &err), CEL_OK);
    dq_result r;
    finish(e, &r);
    /* format failures: b (INT), s (INT), o ([1] is an array) -> 3 of 5 */
    expect_deductions(&r, 0, 21, 0, 15, 0); /* o has 2 keys > maxLength 1 */
    json_t *prof = NULL;
    assert_int_equal(dq_engine_profile(e, &prof, &err), CEL_OK);
    json_t *cols = json_object_get(json_object_get(prof, "statisticalSummary"), "columns");
    json_t *n = json_array_get(cols, 1);
    assert_true(jd(n, "mean") == (1.5 + 3 + 2.5) / 3);
    assert_string_equal(json_string_value(json_object_get(n, "inferredType")), "number");
    json_t *i = json_array_get(cols, 0);
    assert_int_equal((int)jd(i, "nulls"), 1);
    json_t *sample = json_object_get(json_object_get(prof, "sampleData"), "rows");
    assert_int_equal(json_integer_value(json_array_get(json_array_get(sample, 0), 0)), 7);
    assert_true(json_is_true(json_array_get(json_array_get(sample, 0), 2)));
    assert_true(json_is_object(json_array_get(json_array_get(sample, 0), 4)));
    assert_true(json_is_null(json_array_get(json_array_get(sample, 2), 0)));
    json_decref(prof);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

static void test_row_shape(void **state) {
    (void)state;
    dq_schema *s = schema_of("{\"fields\":[{\"name\":\"a\"},{\"name\":\"b\"}]}");
    const char *const h[] = {"a", "b"};
    const char *const rows[] = {"1", "2", "3", NULL, "5", "6"};
    dq_engine *e = run_rows(s, NULL, 2, h, rows, 3);
    dq_result r;
    finish(e, &r);
    /* 2 field format checks pass + 1 failing rowShape check: 35/3 */
    expect_deductions(&r, 0, 35.0 / 3, 0, 0, 0);
    assert_int_equal((int)jd(metric(&r, "formatParsing"), "shortRows"), 1);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(s);
}

/* ---------------------------------------------------------------- caps */

static void test_caps_and_sample(void **state) {
    (void)state;
    /* 30 fields, all required and all empty in 100 rows */
    char def[8192];
    size_t o = (size_t)snprintf(def, sizeof def, "{\"fields\":[");
    const char *h[30];
    char names[30][8];
    for (int i = 0; i < 30; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        h[i] = names[i];
        o += (size_t)snprintf(def + o, sizeof def - o,
                              "%s{\"name\":\"f%d\",\"constraints\":{\"required\":true}}",
                              i ? "," : "", i);
    }
    snprintf(def + o, sizeof def - o, "]}");
    dq_schema *s = schema_of(def);
    const char **rows = calloc(30 * 100, sizeof *rows);
    for (int r = 0; r < 100; r++)
        for (int c = 0; c < 30; c++)
            rows[r * 30 + c] = c == 0 ? names[r % 30] : "";
    dq_options opt = {.seed = 7};
    dq_engine *e = run_rows(s, &opt, 30, h, rows, 100);
    dq_result r;
    finish(e, &r);
    expect_deductions(&r, 0, 0, 20.0 * 29 / 30, 0, 0);
    assert_int_equal(json_array_size(r.failed_rules), 25); /* capped */
    json_t *fails = json_object_get(metric(&r, "completeness"), "failures");
    assert_int_equal(json_array_size(fails), 25);
    json_t *f0 = json_array_get(fails, 0);
    assert_int_equal((int)jd(f0, "violations"), 100);                        /* exact */
    assert_int_equal(json_array_size(json_object_get(f0, "firstRows")), 10); /* capped */
    cel_error err = {0};
    json_t *p1 = NULL, *p2 = NULL;
    assert_int_equal(dq_engine_profile(e, &p1, &err), CEL_OK);
    json_t *sample = json_object_get(p1, "sampleData");
    assert_int_equal(json_array_size(json_object_get(sample, "rows")), 25);
    json_t *nums = json_object_get(sample, "rowNumbers");
    for (size_t i = 1; i < json_array_size(nums); i++)
        assert_true(json_integer_value(json_array_get(nums, i - 1)) <
                    json_integer_value(json_array_get(nums, i)));
    json_t *top = json_object_get(
        json_array_get(json_object_get(json_object_get(p1, "valueDistributions"), "columns"), 0),
        "topValues");
    assert_true(json_array_size(top) <= 10);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(p1, "completenessOverview"), "columns")),
        25);
    dq_result_free(&r);
    dq_engine_free(e);
    /* the same seed gives the same sample */
    e = run_rows(s, &opt, 30, h, rows, 100);
    finish(e, NULL);
    assert_int_equal(dq_engine_profile(e, &p2, &err), CEL_OK);
    assert_true(json_equal(json_object_get(p1, "sampleData"), json_object_get(p2, "sampleData")));
    json_decref(p1);
    json_decref(p2);
    dq_engine_free(e);
    dq_schema_free(s);
    free(rows);
}

static void test_truncate_utf8(void **state) {
    (void)state;
    char s[16] = "ab\xc3\xa9\xe2\x82\xac";
    assert_int_equal(dq_truncate_utf8(s, 5), 4);
    assert_string_equal(s, "ab\xc3\xa9");
    assert_int_equal(dq_truncate_utf8(s, 3), 2);
    assert_string_equal(s, "ab");
    assert_int_equal(dq_truncate_utf8(s, 10), 2);
    /* failed-validation strings stay within varchar(250) on a character boundary */
    char def[4096], name[700];
    size_t o = 0;
    for (int i = 0; i < 300; i++) {
        name[o++] = '\xc3';
        name[o++] = '\xa9';
    }
    name[o] = '\0';
    snprintf(def, sizeof def, "{\"fields\":[{\"name\":\"%s\",\"type\":\"integer\"}]}", name);
    dq_schema *sc = schema_of(def);
    const char *const h[] = {name};
    const char *const rows[] = {"x"};
    dq_engine *e = run_rows(sc, NULL, 1, h, rows, 1);
    dq_result r;
    finish(e, &r);
    assert_true(strlen(r.failure.validated_field_names) <= 250);
    assert_int_equal(strlen(r.failure.validated_field_names) % 2, 0);
    assert_true(strlen(r.failure.validated_message) <= 250);
    dq_result_free(&r);
    dq_engine_free(e);
    dq_schema_free(sc);
}

/* ---------------------------------------------------------------- profile + report */

static void test_profile_and_dataset_report(void **state) {
    (void)state;
    const char *const h[] = {"v", "t", "mix"};
    const char *vals[10 * 3];
    char buf[10][8];
    for (int i = 0; i < 10; i++) {
        snprintf(buf[i], sizeof buf[i], "%d", i < 9 ? i + 1 : 100);
        vals[i * 3] = buf[i];
        vals[i * 3 + 1] = i % 2 ? "b" : "a";
        vals[i * 3 + 2] = i == 4 ? "x" : (i == 5 ? " 3 " : "1");
    }
    dq_options o = {.dataset_report = true};
    dq_engine *e = run_rows(NULL, &o, 3, h, vals, 10);
    finish(e, NULL);
    cel_error err = {0};
    json_t *p = NULL, *d = NULL;
    assert_int_equal(dq_engine_profile(e, &p, &err), CEL_OK);
    assert_int_equal(dq_dataset_report(e, &d, &err), CEL_OK);
    /* pandas: Series([1..9, 100]).quantile -> 3.25 5.5 7.75; mean 14.5; std 30.152390728873666 */
    json_t *v =
        json_array_get(json_object_get(json_object_get(p, "statisticalSummary"), "columns"), 0);
    assert_true(jd(v, "q25") == 3.25);
    assert_true(jd(v, "q50") == 5.5);
    assert_true(jd(v, "q75") == 7.75);
    assert_true(jd(v, "mean") == 14.5);
    assert_true(fabs(jd(v, "std") - 30.152390728873666) < 1e-12);
    assert_int_equal((int)jd(v, "distinct"), 10);
    assert_string_equal(json_string_value(json_object_get(v, "inferredType")), "integer");
    json_t *t =
        json_array_get(json_object_get(json_object_get(p, "statisticalSummary"), "columns"), 1);
    assert_string_equal(json_string_value(json_object_get(t, "min")), "a");
    assert_string_equal(json_string_value(json_object_get(t, "max")), "b");
    assert_int_equal((int)jd(t, "distinct"), 2);
    /* "mix" is 90% integers: inferred integer with one type issue ("x") */
    json_t *tf = json_object_get(p, "typeFormatIssues");
    assert_int_equal((int)jd(tf, "totalIssues"), 1);
    json_t *tfc = json_array_get(json_object_get(tf, "columns"), 0);
    assert_string_equal(json_string_value(json_object_get(tfc, "name")), "mix");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(tfc, "examples"), 0), "value")),
                        "x");
    /* dataset report: v numeric with one IQR outlier (100, row 10) */
    json_t *num = json_object_get(d, "numeric");
    assert_non_null(json_object_get(num, "v"));
    assert_null(json_object_get(num, "t"));
    assert_null(json_object_get(num, "mix")); /* "x" is not a number: not numeric-ish */
    assert_true(jd(json_object_get(num, "v"), "mean") == 14.5);
    json_t *out = json_object_get(json_object_get(d, "outliers"), "v");
    assert_int_equal((int)jd(out, "count"), 1);
    assert_true(jd(out, "upper_fence") == 14.5);
    json_t *ex = json_array_get(json_object_get(out, "examples"), 0);
    assert_int_equal((int)jd(ex, "row"), 10);
    assert_true(jd(ex, "value") == 100);
    assert_int_equal((int)jd(d, "row_count"), 10);
    json_decref(p);
    json_decref(d);
    dq_engine_free(e);

    /* pandas: read_csv("a,b,c\n1,x,\n1,x,\n2, 3 ,\n1,x,\n"): duplicated().sum() == 2,
     * isna: c 4; " 3 " is a number to pandas */
    const char *const h2[] = {"a", "b", "c"};
    const char *const rows2[] = {"1", "x", "", "1", "x", "", "2", " 3 ", "", "1", "x", ""};
    e = run_rows(NULL, &o, 3, h2, rows2, 4);
    finish(e, NULL);
    assert_int_equal(dq_dataset_report(e, &d, &err), CEL_OK);
    assert_int_equal((int)jd(json_object_get(d, "duplicates"), "count"), 2);
    json_t *dex = json_array_get(json_object_get(json_object_get(d, "duplicates"), "examples"), 0);
    assert_int_equal((int)jd(dex, "row"), 2);
    assert_int_equal((int)jd(dex, "duplicate_of"), 1);
    assert_int_equal((int)jd(json_object_get(d, "null_counts"), "c"), 4);
    assert_int_equal((int)jd(json_object_get(d, "null_counts"), "a"), 0);
    json_decref(d);
    dq_engine_free(e);
}

/* The same data with a 4 MiB budget (quantile pool 256 KiB, key pool 3.3 MiB) and
 * with the default budget: identical quality results and profile statistics. */
static void test_spill_same_answers(void **state) {
    (void)state;
    dq_schema *s = schema_of("{\"fields\":[{\"name\":\"id\",\"type\":\"integer\","
                             "\"constraints\":{\"unique\":true}},"
                             "{\"name\":\"x\",\"type\":\"number\"}]}");
    const size_t n = 300000;
    char(*txt)[24] = malloc(n * 2 * sizeof *txt);
    const char **rows = malloc(n * 2 * sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        /* ids unique except every 1000th row repeats the previous id */
        snprintf(txt[2 * i], sizeof txt[0], "%zu", i % 1000 == 999 ? i - 1 : i);
        snprintf(txt[2 * i + 1], sizeof txt[0], "%.6f", (double)((i * 7919) % 100003) / 7.0);
        rows[2 * i] = txt[2 * i];
        rows[2 * i + 1] = txt[2 * i + 1];
    }
    const char *const h[] = {"id", "x"};
    json_t *prof[2];
    dq_result res[2];
    for (int k = 0; k < 2; k++) {
        dq_options o = {.memory_budget = k ? (4u << 20) : 0, .dataset_report = true};
        dq_engine *e = run_rows(s, &o, 2, h, rows, n);
        finish(e, &res[k]);
        cel_error err = {0};
        assert_int_equal(dq_engine_profile(e, &prof[k], &err), CEL_OK);
        json_t *keys = json_object_get(json_object_get(prof[k], "uniquenessOverview"), "keys");
        assert_int_equal(json_is_true(json_object_get(json_array_get(keys, 0), "spilled")), k);
        assert_int_equal((int)jd(json_array_get(keys, 0), "duplicates"), 300);
        dq_engine_free(e);
    }
    assert_true(json_equal(res[0].metrics, res[1].metrics));
    assert_int_equal(res[0].score, res[1].score);
    expect_deductions(&res[0], 0, 0, 0, 0, 10);
    json_t *c0 = json_object_get(json_object_get(prof[0], "statisticalSummary"), "columns");
    json_t *c1 = json_object_get(json_object_get(prof[1], "statisticalSummary"), "columns");
    for (int col = 0; col < 2; col++) {
        json_t *a = json_array_get(c0, (size_t)col), *b = json_array_get(c1, (size_t)col);
        static const char *const keys[] = {"min", "max", "mean", "q25", "q50", "q75", "count"};
        for (size_t k = 0; k < 7; k++)
            assert_true(jd(a, keys[k]) == jd(b, keys[k]));
    }
    assert_true(json_equal(json_object_get(prof[0], "boundsAnomalies"),
                           json_object_get(prof[1], "boundsAnomalies")));
    for (int k = 0; k < 2; k++) {
        json_decref(prof[k]);
        dq_result_free(&res[k]);
    }
    free(txt);
    free(rows);
    dq_schema_free(s);
}

static void test_options_env(void **state) {
    (void)state;
    dq_options o;
    cel_error err = {0};
    setenv("CELERIAC_DQ_MEMORY_BUDGET", "64M", 1);
    assert_int_equal(dq_options_from_env(&o, &err), CEL_OK);
    assert_int_equal(o.memory_budget, 64u << 20);
    setenv("CELERIAC_DQ_MEMORY_BUDGET", "1GiB", 1);
    assert_int_equal(dq_options_from_env(&o, &err), CEL_OK);
    assert_int_equal(o.memory_budget, 1u << 30);
    setenv("CELERIAC_DQ_MEMORY_BUDGET", "1000", 1);
    assert_int_equal(dq_options_from_env(&o, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "CELERIAC_DQ_MEMORY_BUDGET"));
    cel_error_clear(&err);
    setenv("CELERIAC_DQ_MEMORY_BUDGET", "lots", 1);
    assert_int_equal(dq_options_from_env(&o, &err), CEL_ECONFIG);
    unsetenv("CELERIAC_DQ_MEMORY_BUDGET");
    cel_error_clear(&err);
    assert_int_equal(dq_options_from_env(&o, &err), CEL_OK);
    assert_int_equal(o.memory_budget, 0);
}

static void test_schema_outlives_caller(void **state) {
    (void)state;
    dq_schema *s = schema5_with("");
    dq_engine *e = NULL;
    cel_error err = {0};
    assert_int_equal(dq_engine_new(s, NULL, &e, &err), CEL_OK);
    dq_schema_free(s); /* the engine holds its own reference */
    cel_row_sink sink = dq_engine_sink(e);
    assert_int_equal(sink.on_columns(sink.ud, 5, H5, &err), CEL_OK);
    dq_result r;
    finish(e, &r);
    assert_int_equal(r.score, 100);
    dq_result_free(&r);
    dq_engine_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_pass),
        cmocka_unit_test(test_schema_one_of_five_missing),
        cmocka_unit_test(test_schema_extra_and_order),
        cmocka_unit_test(test_format_only),
        cmocka_unit_test(test_completeness_only),
        cmocka_unit_test(test_bounds_only_every_constraint),
        cmocka_unit_test(test_uniqueness_only),
        cmocka_unit_test(test_parse_failure),
        cmocka_unit_test(test_no_schema),
        cmocka_unit_test(test_score_rounding),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_schema_file_options),
        cmocka_unit_test(test_no_header_positional),
        cmocka_unit_test(test_typed_values),
        cmocka_unit_test(test_row_shape),
        cmocka_unit_test(test_caps_and_sample),
        cmocka_unit_test(test_truncate_utf8),
        cmocka_unit_test(test_profile_and_dataset_report),
        cmocka_unit_test(test_spill_same_answers),
        cmocka_unit_test(test_options_env),
        cmocka_unit_test(test_schema_outlives_caller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
