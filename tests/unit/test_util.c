/*
 * test_util.c: the generic pieces: ISO-8601, broker URLs, the bounded LRU, config table,
 * dbuf bounds, URL masking, task aliases, IPC framing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/broker.h"
#include "tasks/task.h"
#include "util/config.h"
#include "util/dbuf.h"
#include "util/log.h"
#include "util/lru.h"
#include "util/timeutil.h"
#include "worker/ipc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_iso8601(void **state) {
    (void)state;
    double t;
    cel_error err = {0};
    assert_int_equal(tu_parse_iso8601("1970-01-01T00:00:00Z", &t, &err), CEL_OK);
    assert_true(t == 0);
    assert_int_equal(tu_parse_iso8601("2024-05-01T12:00:10.123456+00:00", &t, &err), CEL_OK);
    assert_true(t > 1714564810.1234 && t < 1714564810.1235);
    assert_int_equal(tu_parse_iso8601("2024-05-01T14:00:10+02:00", &t, &err), CEL_OK);
    assert_true(t == 1714564810.0);
    assert_int_equal(tu_parse_iso8601("2024-05-01T06:30:10-05:30", &t, &err), CEL_OK);
    assert_true(t == 1714564810.0);
    assert_int_equal(tu_parse_iso8601("2024-05-01 12:00:10", &t, &err), CEL_OK); /* naive = UTC */
    assert_true(t == 1714564810.0);
    assert_int_equal(tu_parse_iso8601("2000-02-29", &t, &err), CEL_OK);
    assert_true(t == 951782400.0);
    const char *bad[] = {"",
                         "tomorrow",
                         "2024-13-01T00:00:00",
                         "2024-05-01T25:00:00",
                         "2024-05-01T12:00:00+0",
                         "2024-05-01T12:00:00Zjunk",
                         "2024-05-01T12"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cel_error e = {0};
        assert_int_equal(tu_parse_iso8601(bad[i], &t, &e), CEL_EINVAL);
    }
    char buf[48];
    tu_format_iso8601(1714564810.5, buf, sizeof buf);
    assert_string_equal(buf, "2024-05-01T12:00:10.500000+00:00");
    char u[37];
    tu_uuid4(u);
    assert_int_equal(strlen(u), 36);
    assert_true(u[14] == '4');
}

static void test_broker_url(void **state) {
    (void)state;
    brk_url u;
    cel_error err = {0};
    assert_int_equal(brk_url_parse("amqp://celeriac:s%40cret@127.0.0.1:56720//", &u, &err), CEL_OK);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 56720);
    assert_string_equal(u.user, "celeriac");
    assert_string_equal(u.password, "s@cret");
    assert_string_equal(u.vhost, "/");
    assert_int_equal(brk_url_parse("amqps://h/prod", &u, &err), CEL_OK);
    assert_true(u.ssl);
    assert_int_equal(u.port, 5671);
    assert_string_equal(u.vhost, "prod");
    assert_string_equal(u.user, "guest");
    assert_int_equal(brk_url_parse("pyamqp://u:p@rabbit:5673/%2F", &u, &err), CEL_OK);
    assert_string_equal(u.vhost, "/");
    assert_int_equal(brk_url_parse("amqp://h", &u, &err), CEL_OK);
    assert_string_equal(u.vhost, "/");
    cel_error e1 = {0}, e2 = {0}, e3 = {0};
    assert_int_equal(brk_url_parse("redis://h", &u, &e1), CEL_ECONFIG);
    assert_int_equal(brk_url_parse("amqp://h:99999/", &u, &e2), CEL_ECONFIG);
    assert_int_equal(brk_url_parse("amqp://u:%zz@h/", &u, &e3), CEL_ECONFIG);
}

static void test_mask(void **state) {
    (void)state;
    char out[256];
    log_mask_url("amqp://user:secret@host:5672//", out, sizeof out);
    assert_string_equal(out, "amqp://user:***@host:5672//");
    log_mask_url("postgresql://h/db", out, sizeof out);
    assert_string_equal(out, "postgresql://h/db");
}

static void test_lru(void **state) {
    (void)state;
    lru *m = lru_new(3, free);
    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        lru_put(m, k, strdup(k));
    }
    assert_int_equal(lru_size(m), 3);
    assert_null(lru_get(m, "k0"));
    assert_null(lru_get(m, "k1"));
    assert_string_equal(lru_get(m, "k4"), "k4");
    lru_put(m, "k2", strdup("again")); /* refresh: k3 is now the oldest */
    lru_put(m, "k5", strdup("k5"));
    assert_null(lru_get(m, "k3"));
    assert_string_equal(lru_get(m, "k2"), "again");
    lru_del(m, "k2");
    assert_null(lru_get(m, "k2"));
    lru_free(m);
}

typedef struct {
    char name[CFG_STR_MAX];
    long n;
    int flag;
    double d;
} cfgs;

static const cfg_entry k_tab[] = {
    {"name", CFG_STR, offsetof(cfgs, name), "dflt", 1, 0, {"T_NAME", NULL}, 'N', "name", "", 0},
    {"n", CFG_INT, offsetof(cfgs, n), "4", 0, 10, {"T_N", NULL}, 'c', "count", "", 0},
    {"flag", CFG_BOOL, offsetof(cfgs, flag), "false", 1, 0, {"T_FLAG", NULL}, 'E', "flag", "", 0},
    {"d", CFG_DOUBLE, offsetof(cfgs, d), "1.5", 0, 100, {"T_D", NULL}, 0, "dbl", "", 0},
};

static void test_config(void **state) {
    (void)state;
    cfgs s;
    cel_error err = {0};
    unsetenv("T_NAME");
    setenv("T_N", "7", 1);
    char *argv1[] = {"x", "-Nfrom-flag", "--flag", "--dbl=2.5", NULL};
    assert_int_equal(cfg_load(k_tab, 4, &s, 4, argv1, NULL, &err), CEL_OK);
    assert_string_equal(s.name, "from-flag");
    assert_int_equal(s.n, 7);
    assert_int_equal(s.flag, 1);
    assert_true(s.d == 2.5);
    char *argv2[] = {"x", "-c", "11", NULL};
    cel_error e2 = {0};
    assert_int_equal(cfg_load(k_tab, 4, &s, 3, argv2, NULL, &e2), CEL_ECONFIG);
    assert_non_null(strstr(e2.msg, "-c"));
    setenv("T_N", "seven", 1);
    cel_error e3 = {0};
    char *argv3[] = {"x", NULL};
    assert_int_equal(cfg_load(k_tab, 4, &s, 1, argv3, NULL, &e3), CEL_ECONFIG);
    assert_non_null(strstr(e3.msg, "T_N"));
    unsetenv("T_N");
    char *argv4[] = {"x", "--nope", NULL};
    cel_error e4 = {0};
    assert_int_equal(cfg_load(k_tab, 4, &s, 2, argv4, NULL, &e4), CEL_ECONFIG);
}

static void test_dbuf_bound(void **state) {
    (void)state;
    dbuf b;
    dbuf_init(&b, 8);
    assert_int_equal(dbuf_append_str(&b, "12345678"), CEL_OK);
    assert_int_equal(dbuf_append_str(&b, "9"), CEL_ELIMIT);
    assert_int_equal(b.len, 8);
    dbuf_free(&b);
}

static void test_aliases(void **state) {
    (void)state;
    task_registry_init();
    cel_error err = {0};
    assert_int_equal(task_aliases_parse(" src.tasks.ping = celeriac.ping ,", &err), CEL_OK);
    assert_non_null(task_lookup("src.tasks.ping"));
    assert_string_equal(task_lookup("src.tasks.ping")->name, "celeriac.ping");
    cel_error e2 = {0};
    assert_int_equal(task_aliases_parse("x=not.a.task", &e2), CEL_ECONFIG);
    cel_error e3 = {0};
    assert_int_equal(task_aliases_parse("novalue", &e3), CEL_ECONFIG);
}

static void test_ipc(void **state) {
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cel_error err = {0};
    assert_int_equal(ipc_write_frame(sv[0], "{\"a\":1}", 7, &err), CEL_OK);
    assert_int_equal(ipc_write_frame(sv[0], "xy", 2, &err), CEL_OK);
    ipc_reader r;
    ipc_reader_init(&r);
    assert_int_equal(ipc_reader_fill(&r, sv[1], &err), CEL_OK);
    char *f;
    size_t n;
    assert_int_equal(ipc_reader_pop(&r, &f, &n), 1);
    assert_string_equal(f, "{\"a\":1}");
    free(f);
    assert_int_equal(ipc_reader_pop(&r, &f, &n), 1);
    assert_int_equal(n, 2);
    free(f);
    assert_int_equal(ipc_reader_pop(&r, &f, &n), 0);
    /* an announced frame over the limit marks the stream corrupt */
    unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(write(sv[0], huge, 4), 4);
    assert_int_equal(ipc_reader_fill(&r, sv[1], &err), CEL_OK);
    assert_int_equal(ipc_reader_pop(&r, &f, &n), -1);
    ipc_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601), cmocka_unit_test(test_broker_url),
        cmocka_unit_test(test_mask),    cmocka_unit_test(test_lru),
        cmocka_unit_test(test_config),  cmocka_unit_test(test_dbuf_bound),
        cmocka_unit_test(test_aliases), cmocka_unit_test(test_ipc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
