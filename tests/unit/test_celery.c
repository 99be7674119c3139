/*
 * test_celery.c: Celery message decoding (v2, v1, hybrid, refusals), Python reprs,
 * result bodies and retry encoding, against the shapes in docs/research/celery.md §1-2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "celery/message.h"
#include "celery/s3event.h"
#include "util/urlenc.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

static brk_delivery *mk(const char *headers_json, const char *body, const char *ct) {
    brk_delivery *d = calloc(1, sizeof *d);
    d->priority = -1;
    if (headers_json)
        d->headers = json_loads(headers_json, 0, NULL);
    d->body = strdup(body);
    d->body_len = strlen(body);
    d->content_type = ct ? strdup(ct) : NULL;
    d->content_encoding = strdup("utf-8");
    d->reply_to = strdup("client-oid");
    d->correlation_id = strdup("cid");
    return d;
}

static void test_v2(void **state) {
    (void)state;
    brk_delivery *d = mk("{\"lang\":\"py\",\"task\":\"proj.add\",\"id\":\"t1\",\"shadow\":null,"
                         "\"eta\":\"2024-05-01T12:00:10.123456+00:00\",\"expires\":null,"
                         "\"group\":null,\"group_index\":null,\"retries\":2,"
                         "\"timelimit\":[30,20],\"root_id\":\"r1\",\"parent_id\":null,"
                         "\"argsrepr\":\"(2, 2)\",\"kwargsrepr\":\"{}\",\"origin\":\"gen1@h\","
                         "\"ignore_result\":false}",
                         "[[2, 2], {\"x\": 1}, {\"callbacks\": null, \"errbacks\": null, "
                         "\"chain\": null, \"chord\": null}]",
                         "application/json");
    cmsg_task t;
    cel_error err = {0};
    assert_int_equal(cmsg_decode(d, &t, &err), CEL_OK);
    assert_int_equal(t.protocol, 2);
    assert_false(t.hybrid);
    assert_string_equal(t.id, "t1");
    assert_string_equal(t.name, "proj.add");
    assert_int_equal(t.retries, 2);
    assert_true(t.has_eta);
    assert_true(t.eta > 1714564810.12 && t.eta < 1714564810.13);
    assert_false(t.has_expires);
    assert_true(t.time_limit == 30 && t.soft_time_limit == 20); /* [hard, soft] */
    assert_string_equal(t.root_id, "r1");
    assert_null(t.parent_id);
    assert_int_equal(json_array_size(t.args), 2);
    assert_int_equal(json_integer_value(json_object_get(t.kwargs, "x")), 1);
    assert_string_equal(t.reply_to, "client-oid");
    cmsg_task_clear(&t);
    brk_delivery_free(d);
}

static void test_v2_null_embed_and_charset(void **state) {
    (void)state;
    brk_delivery *d =
        mk("{\"task\":\"a\",\"id\":\"t\"}", "[[], {}, null]", "application/json; charset=utf-8");
    cmsg_task t;
    cel_error err = {0};
    assert_int_equal(cmsg_decode(d, &t, &err), CEL_OK);
    assert_true(json_is_object(t.embed));
    cmsg_task_clear(&t);
    brk_delivery_free(d);
}

static void test_v1(void **state) {
    (void)state;
    brk_delivery *d =
        mk(NULL,
           "{\"task\": \"celeriac.ping\", \"id\": \"v1id\", \"args\": [\"b\", \"k\"], "
           "\"kwargs\": {\"x\": 1}, \"group\": null, \"group_index\": null, \"retries\": 0, "
           "\"eta\": null, \"expires\": \"2030-01-01T00:00:00Z\", \"utc\": true, \"callbacks\": "
           "null, \"errbacks\": null, \"timelimit\": [null, null], \"taskset\": null, "
           "\"chord\": null}",
           "application/json");
    cmsg_task t;
    cel_error err = {0};
    assert_int_equal(cmsg_decode(d, &t, &err), CEL_OK);
    assert_int_equal(t.protocol, 1);
    assert_string_equal(t.id, "v1id");
    assert_string_equal(t.name, "celeriac.ping");
    assert_true(t.has_expires);
    assert_true(t.expires == 1893456000.0);
    assert_string_equal(t.argsrepr, "('b', 'k')");
    assert_string_equal(t.kwargsrepr, "{'x': 1}");
    cmsg_task_clear(&t);
    brk_delivery_free(d);
}

static void test_hybrid(void **state) {
    (void)state;
    brk_delivery *d = mk("{\"task\":\"a\",\"id\":\"h1\",\"retries\":1}",
                         "{\"args\": [1], \"kwargs\": null, \"chain\": null}", "application/json");
    cmsg_task t;
    cel_error err = {0};
    assert_int_equal(cmsg_decode(d, &t, &err), CEL_OK);
    assert_true(t.hybrid);
    assert_int_equal(t.retries, 1);
    assert_int_equal(json_object_size(t.kwargs), 0);
    cmsg_task_clear(&t);
    brk_delivery_free(d);
}

static void expect_refusal(const char *headers, const char *body, const char *ct, cel_status want,
                           const char *needle) {
    brk_delivery *d = mk(headers, body, ct);
    cmsg_task t;
    cel_error err = {0};
    assert_int_equal(cmsg_decode(d, &t, &err), want);
    assert_non_null(strstr(err.msg, needle));
    cmsg_task_clear(&t);
    brk_delivery_free(d);
}

static void test_refusals(void **state) {
    (void)state;
    expect_refusal("{\"task\":\"a\",\"id\":\"x\"}", "\x80\x04.", "application/x-python-serialize",
                   CEL_EUNSUPPORTED, "only application/json");
    expect_refusal("{\"task\":\"a\",\"id\":\"x\"}", "a: 1", "application/x-yaml", CEL_EUNSUPPORTED,
                   "application/x-yaml");
    expect_refusal("{\"task\":\"a\",\"id\":\"x\"}", "[[1,", "application/json", CEL_EPARSE,
                   "not valid JSON");
    expect_refusal("{\"task\":\"a\"}", "[[], {}, null]", "application/json", CEL_EINVAL, "no id");
    expect_refusal(NULL, "{\"hello\": 1}", "application/json", CEL_EINVAL, "not a task message");
    expect_refusal("{\"task\":\"a\",\"id\":\"x\"}", "[1, {}, null]", "application/json", CEL_EINVAL,
                   "args must be a list");
    expect_refusal("{\"task\":\"a\",\"id\":\"x\",\"eta\":\"tomorrow\"}", "[[], {}, null]",
                   "application/json", CEL_EINVAL, "eta");
    expect_refusal("{\"task\":\"a\",\"id\":\"x\",\"compression\":\"application/x-gzip\"}", "xx",
                   "application/json", CEL_EUNSUPPORTED, "compressed");
    expect_refusal("{\"task\":7,\"id\":\"x\"}", "[[], {}, null]", "application/json", CEL_EINVAL,
                   "'task' must be a string");
}

static void test_id_recovered_for_refused_messages(void **state) {
    (void)state;
    brk_delivery *d = mk("{\"task\":\"a\",\"id\":\"keep-me\"}", "{", "application/json");
    cmsg_task t;
    cel_error err = {0};
    assert_int_equal(cmsg_decode(d, &t, &err), CEL_EPARSE);
    assert_string_equal(t.id, "keep-me");
    assert_string_equal(t.name, "a");
    cmsg_task_clear(&t);
    brk_delivery_free(d);
}

static void test_repr(void **state) {
    (void)state;
    json_t *v = json_loads("[1, \"it's\", null, true, 2.5, 3.0, {\"a\": [1]}]", 0, NULL);
    char *s = cmsg_repr(v, true, 1024);
    assert_string_equal(s, "(1, \"it's\", None, True, 2.5, 3.0, {'a': [1]})");
    free(s);
    json_decref(v);
    v = json_loads("[\"x\"]", 0, NULL);
    s = cmsg_repr(v, true, 1024);
    assert_string_equal(s, "('x',)");
    free(s);
    json_decref(v);
    v = json_loads("[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]", 0, NULL);
    s = cmsg_repr(v, true, 12);
    assert_true(strlen(s) <= 12);
    assert_non_null(strstr(s, "..."));
    free(s);
    json_decref(v);
}

static void test_result_body(void **state) {
    (void)state;
    json_t *exc = cres_exception("ZeroDivisionError", "builtins", "division by zero");
    char *b = cres_body("id1", "FAILURE", exc, "Traceback ...", NULL);
    json_t *o = json_loads(b, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "task_id")), "id1");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "FAILURE");
    json_t *r = json_object_get(o, "result");
    assert_string_equal(json_string_value(json_object_get(r, "exc_type")), "ZeroDivisionError");
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "exc_message"), 0)),
                        "division by zero");
    assert_string_equal(json_string_value(json_object_get(r, "exc_module")), "builtins");
    assert_int_equal(json_array_size(json_object_get(o, "children")), 0);
    assert_int_equal(json_object_size(o), 5);
    json_decref(o);
    json_decref(exc);
    free(b);
}

static void test_retry_encoding(void **state) {
    (void)state;
    brk_delivery *d = mk(NULL,
                         "{\"task\": \"t.flaky\", \"id\": \"r1\", \"args\": [1], \"kwargs\": {}, "
                         "\"retries\": 1, \"expires\": \"2030-01-01T00:00:00+00:00\"}",
                         "application/json");
    cmsg_task t;
    cel_error err = {0};
    assert_int_equal(cmsg_decode(d, &t, &err), CEL_OK);
    cmsg_out out;
    assert_int_equal(cmsg_encode_retry(&t, 1714564810.5, "celery@me", &out, &err), CEL_OK);
    assert_int_equal(json_integer_value(json_object_get(out.headers, "retries")), 2);
    assert_string_equal(json_string_value(json_object_get(out.headers, "id")), "r1");
    assert_string_equal(json_string_value(json_object_get(out.headers, "task")), "t.flaky");
    assert_string_equal(json_string_value(json_object_get(out.headers, "eta")),
                        "2024-05-01T12:00:10.500000+00:00");
    assert_true(out.expiration[0] != '\0');
    json_t *body = json_loads(out.body, 0, NULL);
    assert_true(json_is_array(body) && json_array_size(body) == 3);
    json_decref(body);
    /* The republished message decodes as protocol 2 with the same payload. */
    brk_delivery *d2 = calloc(1, sizeof *d2);
    d2->priority = -1;
    d2->headers = json_incref(out.headers);
    d2->body = strdup(out.body);
    d2->body_len = out.body_len;
    cmsg_task t2;
    assert_int_equal(cmsg_decode(d2, &t2, &err), CEL_OK);
    assert_int_equal(t2.protocol, 2);
    assert_int_equal(t2.retries, 2);
    assert_true(json_equal(t2.args, t.args));
    cmsg_task_clear(&t2);
    brk_delivery_free(d2);
    cmsg_out_clear(&out);
    cmsg_task_clear(&t);
    brk_delivery_free(d);
}

static void test_s3_events(void **state) {
    (void)state;
    const char *minio =
        "{\"EventName\":\"s3:ObjectCreated:Put\",\"Key\":\"uploads/a b+c.csv\",\"Records\":[{"
        "\"eventTime\":\"2026-11-22T05:00:00.000Z\",\"eventName\":\"s3:ObjectCreated:Put\","
        "\"s3\":{\"bucket\":{\"name\":\"uploads\"},\"object\":{\"key\":\"dir%2Fa+b%2Bc%C3%BC.csv\","
        "\"size\":12,\"eTag\":\"e1\"}}},{\"eventName\":\"ObjectRemoved:Delete\",\"s3\":{}}]}";
    s3ev_record *r;
    size_t n, ign;
    cel_error err = {0};
    assert_int_equal(s3ev_parse(minio, strlen(minio), &r, &n, &ign, &err), CEL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ign, 1);
    assert_string_equal(r[0].bucket, "uploads");
    assert_string_equal(r[0].key, "dir/a b+c\xc3\xbc.csv");
    assert_int_equal(r[0].size, 12);
    assert_string_equal(r[0].etag, "e1");
    s3ev_free(r, n);
    const char *eb = "{\"detail-type\":\"Object Created\",\"time\":\"2026-01-01T00:00:00Z\","
                     "\"detail\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"a+b\"}}}";
    assert_int_equal(s3ev_parse(eb, strlen(eb), &r, &n, &ign, &err), CEL_OK);
    assert_string_equal(r[0].key, "a+b"); /* EventBridge keys are taken as sent */
    s3ev_free(r, n);
    const char *test_ev = "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\"}";
    assert_int_equal(s3ev_parse(test_ev, strlen(test_ev), &r, &n, &ign, &err), CEL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ign, 1);
    cel_error e2 = {0};
    assert_int_equal(s3ev_parse("{\"x\":1}", 7, &r, &n, &ign, &e2), CEL_EPARSE);
    cel_error e3 = {0};
    const char *badkey = "{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":"
                         "{\"name\":\"b\"},\"object\":{\"key\":\"a%00b\"}}}]}";
    assert_int_equal(s3ev_parse(badkey, strlen(badkey), &r, &n, &ign, &e3), CEL_EPARSE);
}

static void test_url_unescape(void **state) {
    (void)state;
    char out[32];
    cel_error err = {0};
    assert_int_equal(url_unescape("a%2Fb+c", 7, out, sizeof out, true, &err), CEL_OK);
    assert_string_equal(out, "a/b c");
    assert_int_equal(url_unescape("a%2Fb+c", 7, out, sizeof out, false, &err), CEL_OK);
    assert_string_equal(out, "a/b+c");
    cel_error e1 = {0}, e2 = {0}, e3 = {0};
    assert_int_equal(url_unescape("%4", 2, out, sizeof out, false, &e1), CEL_EPARSE);
    assert_int_equal(url_unescape("%zz", 3, out, sizeof out, false, &e2), CEL_EPARSE);
    assert_int_equal(url_unescape("abcdef", 6, out, 4, false, &e3), CEL_ELIMIT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2),
        cmocka_unit_test(test_v2_null_embed_and_charset),
        cmocka_unit_test(test_v1),
        cmocka_unit_test(test_hybrid),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_id_recovered_for_refused_messages),
        cmocka_unit_test(test_repr),
        cmocka_unit_test(test_result_body),
        cmocka_unit_test(test_retry_encoding),
        cmocka_unit_test(test_s3_events),
        cmocka_unit_test(test_url_unescape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
