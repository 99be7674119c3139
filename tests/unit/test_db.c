/*
 * test_db.c: unit tests of the db layer that need no server: conninfo from the environment
 * (URL, SQLAlchemy URL, components, missing/malformed variables), SQLSTATE classification,
 * conninfo masking, advisory-lock keys, the migrations-directory lookup and argument checks.
 * The server-side behaviour is in tests/integration/test_db.c and test_migrate.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/migrate.h"

#include <stdlib.h>
#include <string.h>

static const char *const DB_VARS[] = {"DATABASE_URL",  "POSTGRES_HOST",     "POSTGRES_PORT",
                                      "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"};

static int clear_env(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof DB_VARS / sizeof DB_VARS[0]; i++)
        unsetenv(DB_VARS[i]);
    unsetenv("CELERIAC_MIGRATIONS_DIR");
    return 0;
}

/* Value of keyword in a conninfo, parsed back by libpq; "" if absent. */
static void parsed_value(const char *conninfo, const char *keyword, char *out, size_t n) {
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    assert_non_null(opts);
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val)
            snprintf(out, n, "%s", o->val);
    PQconninfoFree(opts);
}

static void test_conninfo_url(void **state) {
    (void)state;
    char out[DB_CONNINFO_MAX];
    cel_error err = {0};
    setenv("DATABASE_URL", "postgresql://u:s3cret@db.example:5433/app?sslmode=disable", 1);
    setenv("POSTGRES_HOST", "ignored", 1);
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_OK);
    assert_string_equal(out, "postgresql://u:s3cret@db.example:5433/app?sslmode=disable");
}

static void test_conninfo_sqlalchemy_url(void **state) {
    (void)state;
    char out[DB_CONNINFO_MAX], v[256];
    cel_error err = {0};
    setenv("DATABASE_URL", "postgresql+psycopg://dataset:dataset@postgres:5432/dataset", 1);
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_OK);
    assert_string_equal(out, "postgresql://dataset:dataset@postgres:5432/dataset");
    setenv("DATABASE_URL", "postgres+asyncpg://a@h/d", 1);
    cel_error_clear(&err);
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_OK);
    parsed_value(out, "host", v, sizeof v);
    assert_string_equal(v, "h");
    parsed_value(out, "dbname", v, sizeof v);
    assert_string_equal(v, "d");
}

static void test_conninfo_keyword_form(void **state) {
    (void)state;
    char out[DB_CONNINFO_MAX];
    cel_error err = {0};
    setenv("DATABASE_URL", "host=/tmp port=55432 dbname=x user=postgres", 1);
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_OK);
    assert_string_equal(out, "host=/tmp port=55432 dbname=x user=postgres");
}

static void test_conninfo_bad_url_hides_password(void **state) {
    (void)state;
    char out[DB_CONNINFO_MAX];
    cel_error err = {0};
    /* a bad percent escape in the password: libpq's message would quote it */
    setenv("DATABASE_URL", "postgresql://u:pa%zzword@h/d", 1);
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_ECONFIG);
    assert_int_equal(err.code, CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "DATABASE_URL"));
    assert_null(strstr(err.msg, "pa%zz"));
    assert_string_equal(out, "");
}

static void test_conninfo_empty_url_falls_back(void **state) {
    (void)state;
    char out[DB_CONNINFO_MAX], v[256];
    cel_error err = {0};
    setenv("DATABASE_URL", "", 1);
    setenv("POSTGRES_HOST", "postgres", 1);
    setenv("POSTGRES_USER", "dataset", 1);
    setenv("POSTGRES_DB", "dataset", 1);
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_OK);
    parsed_value(out, "host", v, sizeof v);
    assert_string_equal(v, "postgres");
    parsed_value(out, "port", v, sizeof v);
    assert_string_equal(v, "5432"); /* default */
    parsed_value(out, "password", v, sizeof v);
    assert_string_equal(v, ""); /* optional, absent */
}

static void test_conninfo_components_quoting(void **state) {
    (void)state;
    char out[DB_CONNINFO_MAX], v[256];
    cel_error err = {0};
    setenv("POSTGRES_HOST", "db host", 1);
    setenv("POSTGRES_PORT", "6543", 1);
    setenv("POSTGRES_USER", "o'brien", 1);
    setenv("POSTGRES_PASSWORD", "p a\\s's=w", 1);
    setenv("POSTGRES_DB", "data set", 1);
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_OK);
    assert_string_equal(out, "host='db host' port='6543' user='o\\'brien' "
                             "password='p a\\\\s\\'s=w' dbname='data set'");
    parsed_value(out, "password", v, sizeof v);
    assert_string_equal(v, "p a\\s's=w");
    parsed_value(out, "user", v, sizeof v);
    assert_string_equal(v, "o'brien");
    parsed_value(out, "dbname", v, sizeof v);
    assert_string_equal(v, "data set");
    parsed_value(out, "port", v, sizeof v);
    assert_string_equal(v, "6543");
}

static void test_conninfo_missing(void **state) {
    (void)state;
    char out[DB_CONNINFO_MAX];
    cel_error err = {0};
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "DATABASE_URL"));
    assert_non_null(strstr(err.msg, "POSTGRES_HOST"));

    setenv("POSTGRES_HOST", "h", 1);
    cel_error_clear(&err);
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "POSTGRES_USER"));

    setenv("POSTGRES_USER", "u", 1);
    cel_error_clear(&err);
    assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "POSTGRES_DB"));

    setenv("POSTGRES_DB", "d", 1);
    const char *bad_ports[] = {"abc", "0", "65536", "54x", "-1"};
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        setenv("POSTGRES_PORT", bad_ports[i], 1);
        cel_error_clear(&err);
        assert_int_equal(db_conninfo_from_env(out, sizeof out, &err), CEL_ECONFIG);
        assert_non_null(strstr(err.msg, "POSTGRES_PORT"));
    }
}

static void test_conninfo_too_long(void **state) {
    (void)state;
    char small[24];
    cel_error err = {0};
    setenv("POSTGRES_HOST", "a-rather-long-host-name.example.com", 1);
    setenv("POSTGRES_USER", "u", 1);
    setenv("POSTGRES_DB", "d", 1);
    assert_int_equal(db_conninfo_from_env(small, sizeof small, &err), CEL_ELIMIT);
    assert_string_equal(small, "");
    setenv("DATABASE_URL", "postgresql://u@a-rather-long-host-name.example.com/d", 1);
    cel_error_clear(&err);
    assert_int_equal(db_conninfo_from_env(small, sizeof small, &err), CEL_ELIMIT);
}

static void test_classify_sqlstate(void **state) {
    (void)state;
    const char *transient[] = {"08000", "08001", "08003", "08006", "08P01", "40001",
                               "40P01", "53000", "53100", "53200", "53300", "53400",
                               "55P03", "57P01", "57P02", "57P03"};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        assert_int_equal(db_classify_sqlstate(transient[i]), CEL_ETRANSIENT);
    assert_int_equal(db_classify_sqlstate("57014"), CEL_ETIMEOUT);
    const char *fatal[] = {"23505", "23503", "23514", "42P01", "42601", "22P02",
                           "25P02", "XX000", "40002", "57000", "42501", "0A000"};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        assert_int_equal(db_classify_sqlstate(fatal[i]), CEL_EDB);
    assert_int_equal(db_classify_sqlstate(NULL), CEL_EDB);
    assert_int_equal(db_classify_sqlstate(""), CEL_EDB);
    assert_int_equal(db_classify_sqlstate("0800"), CEL_EDB);
    assert_int_equal(db_classify_sqlstate("080000"), CEL_EDB);
    assert_true(cel_status_transient(db_classify_sqlstate("40P01")));
    assert_false(cel_status_transient(db_classify_sqlstate("23505")));
}

static void test_mask_url(void **state) {
    (void)state;
    char out[512];
    db_mask_conninfo("postgresql://alice:hunter2@db:5432/app?sslmode=require", out, sizeof out);
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "password=***"));
    assert_non_null(strstr(out, "user=alice"));
    assert_non_null(strstr(out, "host=db"));
    assert_non_null(strstr(out, "dbname=app"));
    assert_non_null(strstr(out, "sslmode=require"));

    db_mask_conninfo("postgresql://u@h/d?password=qwerty", out, sizeof out);
    assert_null(strstr(out, "qwerty"));
    assert_non_null(strstr(out, "password=***"));

    db_mask_conninfo("postgresql://u:p%40ss@h/d", out, sizeof out); /* percent-encoded */
    assert_null(strstr(out, "p@ss"));
    assert_null(strstr(out, "p%40ss"));
}

static void test_mask_keywords(void **state) {
    (void)state;
    char out[512];
    db_mask_conninfo("host='my host' password='se cret' sslpassword=k3y dbname=x", out, sizeof out);
    assert_null(strstr(out, "se cret"));
    assert_null(strstr(out, "k3y"));
    assert_non_null(strstr(out, "host='my host'"));
    assert_non_null(strstr(out, "password=***"));
    assert_non_null(strstr(out, "sslpassword=***"));

    db_mask_conninfo("host=h dbname=d", out, sizeof out); /* libpq's keyword order */
    assert_true(strcmp(out, "dbname=d host=h") == 0 || strcmp(out, "host=h dbname=d") == 0);
    assert_null(strstr(out, "***"));

    db_mask_conninfo("host=h password", out, sizeof out);
    assert_string_equal(out, "(unparseable conninfo)");
    db_mask_conninfo(NULL, out, sizeof out);
    assert_string_equal(out, "(unparseable conninfo)");

    char tiny[8];
    db_mask_conninfo("host=averyveryverylonghost password=x", tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    db_mask_conninfo("host=h", out, 0); /* no crash */
}

static void test_lock_key(void **state) {
    (void)state;
    /* First 8 bytes of SHA-256, big-endian, signed: checked against Python hashlib. */
    assert_true(db_lock_key("celeriac.migrate") == INT64_C(3864237699691842691));
    assert_true(db_lock_key("datasets.process_dataset:abc") == INT64_C(9067134354584048065));
    assert_true(db_lock_key("") == INT64_C(-2039914840885289964));
    assert_true(db_lock_key("a") != db_lock_key("b"));
}

static void test_result_check_without_connection(void **state) {
    (void)state;
    cel_error err = {0};
    char st[6] = "xxxxx";
    assert_int_equal(db_result_check(NULL, NULL, "probe", st, &err), CEL_ETRANSIENT);
    assert_string_equal(st, "");
    assert_non_null(strstr(err.msg, "probe"));
}

static void test_null_arguments(void **state) {
    (void)state;
    cel_error err = {0};
    PGconn *c = (PGconn *)0x1;
    assert_int_equal(db_connect(NULL, &c, &err), CEL_EINVAL);
    cel_error_clear(&err);
    assert_int_equal(db_exec(NULL, "SELECT 1", &err), CEL_EINVAL);
    cel_error_clear(&err);
    PGresult *res = (PGresult *)0x1;
    assert_int_equal(db_query_params(NULL, "SELECT 1", 0, NULL, &res, &err), CEL_EINVAL);
    assert_null(res);
    cel_error_clear(&err);
    assert_int_equal(db_try_xact_lock(NULL, "k", &err), CEL_EINVAL);
    cel_error_clear(&err);
    assert_int_equal(db_migrate(NULL, "/tmp", 0, &err), CEL_EINVAL);
    assert_int_equal(db_rollback(NULL, NULL), CEL_OK);
    db_close(NULL);
}

static void test_connect_refused_is_transient(void **state) {
    (void)state;
    cel_error err = {0};
    PGconn *c = NULL;
    /* port 1 on loopback: nothing listens there */
    cel_status st =
        db_connect("postgresql://u:topsecret@127.0.0.1:1/d?connect_timeout=2", &c, &err);
    assert_int_equal(st, CEL_ETRANSIENT);
    assert_null(c);
    assert_null(strstr(err.msg, "topsecret"));
    assert_non_null(strstr(err.msg, "password=***"));
}

static void test_migrations_dir(void **state) {
    (void)state;
    char out[4096];
    cel_error err = {0};
    setenv("CELERIAC_MIGRATIONS_DIR", "/nonexistent/celeriac-migrations", 1);
    assert_int_equal(db_migrations_dir(out, sizeof out, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "CELERIAC_MIGRATIONS_DIR"));

    setenv("CELERIAC_MIGRATIONS_DIR", "/tmp", 1);
    cel_error_clear(&err);
    assert_int_equal(db_migrations_dir(out, sizeof out, &err), CEL_OK);
    assert_string_equal(out, "/tmp");

    unsetenv("CELERIAC_MIGRATIONS_DIR");
    cel_error_clear(&err);
    assert_int_equal(db_migrations_dir(out, sizeof out, &err), CEL_OK);
    assert_string_equal(out, CELERIAC_SOURCE_DIR "/migrations-mirror");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_conninfo_url, clear_env),
        cmocka_unit_test_setup(test_conninfo_sqlalchemy_url, clear_env),
        cmocka_unit_test_setup(test_conninfo_keyword_form, clear_env),
        cmocka_unit_test_setup(test_conninfo_bad_url_hides_password, clear_env),
        cmocka_unit_test_setup(test_conninfo_empty_url_falls_back, clear_env),
        cmocka_unit_test_setup(test_conninfo_components_quoting, clear_env),
        cmocka_unit_test_setup(test_conninfo_missing, clear_env),
        cmocka_unit_test_setup(test_conninfo_too_long, clear_env),
        cmocka_unit_test(test_classify_sqlstate),
        cmocka_unit_test(test_mask_url),
        cmocka_unit_test(test_mask_keywords),
        cmocka_unit_test(test_lock_key),
        cmocka_unit_test(test_result_check_without_connection),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_connect_refused_is_transient),
        cmocka_unit_test_setup(test_migrations_dir, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
