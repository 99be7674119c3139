/*
 * test_db.c: the db layer against a real PostgreSQL (DATABASE_URL, or the POSTGRES_* vars).
 * Exits 77 (skipped) when neither is set.
 *
 * Everything runs in a fresh database created for this run and dropped at the end, so
 * reruns are clean. Errors are provoked for real: a unique violation, a syntax error, a
 * statement_timeout, a genuine deadlock between two sessions, a terminated backend, and
 * advisory locks contended by two sessions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_admin[DB_CONNINFO_MAX];
static char g_conninfo[DB_CONNINFO_MAX];
static char g_dbname[DB_TESTDB_NAME_MAX];

static PGconn *connect_or_fail(void) {
    PGconn *c = NULL;
    cel_error err = {0};
    cel_status st = db_connect(g_conninfo, &c, &err);
    if (st != CEL_OK)
        fail_msg("connect: %s", err.msg);
    return c;
}

static void exec_ok(PGconn *c, const char *sql) {
    cel_error err = {0};
    if (db_exec(c, sql, &err) != CEL_OK)
        fail_msg("%s: %s", sql, err.msg);
}

/* First value of a one-row query, copied into out. */
static void query_value(PGconn *c, const char *sql, char *out, size_t n) {
    PGresult *res = NULL;
    cel_error err = {0};
    if (db_query_params(c, sql, 0, NULL, &res, &err) != CEL_OK)
        fail_msg("%s: %s", sql, err.msg);
    assert_int_equal(PQntuples(res), 1);
    snprintf(out, n, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

static void test_connect_settings(void **state) {
    (void)state;
    PGconn *c = connect_or_fail();
    char v[128];
    query_value(c, "SHOW application_name", v, sizeof v);
    assert_string_equal(v, "celeriac");
    query_value(c, "SHOW client_encoding", v, sizeof v);
    assert_string_equal(v, "UTF8");
    query_value(c, "SELECT current_database()", v, sizeof v);
    assert_string_equal(v, g_dbname);
    db_close(c);
}

static void test_connect_errors(void **state) {
    (void)state;
    char ci[DB_CONNINFO_MAX];
    cel_error err = {0};
    PGconn *c = NULL;
    assert_int_equal(db_conninfo_set_dbname(g_admin, "celeriac_no_such_db_x", ci, sizeof ci, &err),
                     CEL_OK);
    assert_int_equal(db_connect(ci, &c, &err), CEL_ECONFIG);
    assert_null(c);
    assert_non_null(strstr(err.msg, "does not exist"));

    /* unknown role with a password: ECONFIG (trust auth) or EDENIED (password auth) */
    char base[DB_CONNINFO_MAX + 64];
    snprintf(base, sizeof base, "%s user=celeriac_no_such_role password=wr0ngpass", ci);
    cel_error_clear(&err);
    cel_status st = db_connect(base, &c, &err);
    assert_true(st == CEL_ECONFIG || st == CEL_EDENIED);
    assert_null(strstr(err.msg, "wr0ngpass"));
}

static void test_params_and_unique_violation(void **state) {
    (void)state;
    PGconn *c = connect_or_fail();
    exec_ok(c, "CREATE TABLE t_unique (id int PRIMARY KEY, k text "
               "CONSTRAINT t_unique_k_key UNIQUE, note text)");
    const char *p1[3] = {"1", "secret-value-1", NULL};
    cel_error err = {0};
    assert_int_equal(
        db_query_params(c, "INSERT INTO t_unique VALUES ($1, $2, $3)", 3, p1, NULL, &err), CEL_OK);
    PGresult *res = NULL;
    assert_int_equal(
        db_query_params(c, "SELECT k, note IS NULL FROM t_unique WHERE id = $1", 1, p1, &res, &err),
        CEL_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "secret-value-1");
    assert_string_equal(PQgetvalue(res, 0, 1), "t");
    PQclear(res);

    const char *p2[3] = {"2", "secret-value-1", "x"};
    res = (PGresult *)0x1;
    assert_int_equal(
        db_query_params(c, "INSERT INTO t_unique VALUES ($1, $2, $3)", 3, p2, &res, &err), CEL_EDB);
    assert_null(res);
    assert_non_null(strstr(err.msg, "SQLSTATE 23505"));
    assert_non_null(strstr(err.msg, "t_unique_k_key"));
    assert_non_null(strstr(err.msg, "INSERT INTO t_unique"));
    assert_null(strstr(err.msg, "secret-value-1")); /* DETAIL with the value is left out */

    /* the raw helper exposes the SQLSTATE */
    PGresult *raw =
        PQexecParams(c, "INSERT INTO t_unique VALUES ($1, $2, $3)", 3, NULL, p2, NULL, NULL, 0);
    char sqlstate[6];
    cel_error e2 = {0};
    assert_int_equal(db_result_check(c, raw, "dup", sqlstate, &e2), CEL_EDB);
    assert_string_equal(sqlstate, "23505");
    PQclear(raw);

    cel_error_clear(&err);
    assert_int_equal(db_exec(c, "SELEC 1", &err), CEL_EDB);
    assert_non_null(strstr(err.msg, "SQLSTATE 42601"));
    cel_error_clear(&err);
    assert_int_equal(db_exec(c, "", &err), CEL_OK); /* empty query */
    db_close(c);
}

static void test_transactions(void **state) {
    (void)state;
    PGconn *c = connect_or_fail();
    cel_error err = {0};
    exec_ok(c, "CREATE TABLE t_tx (v int)");
    assert_int_equal(db_rollback(c, &err), CEL_OK); /* outside a transaction: no-op */

    assert_int_equal(db_begin(c, &err), CEL_OK);
    exec_ok(c, "INSERT INTO t_tx VALUES (1)");
    assert_int_equal(db_rollback(c, &err), CEL_OK);
    char v[32];
    query_value(c, "SELECT count(*) FROM t_tx", v, sizeof v);
    assert_string_equal(v, "0");

    assert_int_equal(db_begin(c, &err), CEL_OK);
    exec_ok(c, "INSERT INTO t_tx VALUES (2)");
    assert_int_equal(db_commit(c, &err), CEL_OK);
    query_value(c, "SELECT count(*) FROM t_tx", v, sizeof v);
    assert_string_equal(v, "1");

    /* a failed statement poisons the transaction: COMMIT reports it */
    assert_int_equal(db_begin(c, &err), CEL_OK);
    assert_int_equal(db_exec(c, "INSERT INTO t_tx VALUES ('x')", &err), CEL_EDB);
    cel_error_clear(&err);
    assert_int_equal(db_commit(c, &err), CEL_EDB);
    assert_non_null(strstr(err.msg, "rolled back"));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    db_close(c);
}

static void test_statement_timeout(void **state) {
    (void)state;
    PGconn *c = connect_or_fail();
    cel_error err = {0};
    exec_ok(c, "SET statement_timeout = '50ms'");
    cel_status st = db_exec(c, "SELECT pg_sleep(2)", &err);
    assert_int_equal(st, CEL_ETIMEOUT);
    assert_non_null(strstr(err.msg, "57014"));
    assert_true(cel_status_transient(st));
    db_close(c);
}

static void test_deadlock_is_transient(void **state) {
    (void)state;
    PGconn *a = connect_or_fail(), *b = connect_or_fail();
    cel_error err = {0};
    exec_ok(a,
            "CREATE TABLE t_dl (id int PRIMARY KEY, v int); INSERT INTO t_dl VALUES (1,0),(2,0)");
    assert_int_equal(db_begin(a, &err), CEL_OK);
    assert_int_equal(db_begin(b, &err), CEL_OK);
    exec_ok(a, "UPDATE t_dl SET v = 1 WHERE id = 1");
    exec_ok(b, "UPDATE t_dl SET v = 1 WHERE id = 2");
    /* a waits for b's row ... */
    assert_int_equal(PQsendQuery(a, "UPDATE t_dl SET v = 2 WHERE id = 2"), 1);
    /* ... and b for a's: one of them is chosen as the deadlock victim (deadlock_timeout) */
    PGresult *rb = PQexec(b, "UPDATE t_dl SET v = 2 WHERE id = 1");
    cel_error eb = {0};
    cel_status sb = db_result_check(b, rb, "b", NULL, &eb);
    PQclear(rb);
    if (sb == CEL_OK) /* b won: a was the victim; finish b so a's result arrives */
        assert_int_equal(db_commit(b, &err), CEL_OK);
    PGresult *ra = PQgetResult(a);
    cel_error ea = {0};
    char sa_state[6];
    cel_status sa = db_result_check(a, ra, "a", sa_state, &ea);
    PQclear(ra);
    while ((ra = PQgetResult(a)) != NULL)
        PQclear(ra);
    if (sb != CEL_OK) {
        assert_int_equal(sb, CEL_ETRANSIENT);
        assert_non_null(strstr(eb.msg, "40P01"));
    } else {
        assert_int_equal(sa, CEL_ETRANSIENT);
        assert_string_equal(sa_state, "40P01");
    }
    (void)db_rollback(a, NULL);
    (void)db_rollback(b, NULL);
    db_close(a);
    db_close(b);
}

static void test_terminated_backend_is_transient(void **state) {
    (void)state;
    PGconn *a = connect_or_fail(), *b = connect_or_fail();
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", PQbackendPID(b));
    exec_ok(a, sql);
    cel_error err = {0};
    cel_status st = CEL_OK;
    /* the first statement after the kill may still be written before the socket is seen
     * closed; by the second one the failure is certain */
    for (int i = 0; i < 2 && st == CEL_OK; i++)
        st = db_exec(b, "SELECT 1", &err);
    assert_int_equal(st, CEL_ETRANSIENT);
    assert_int_equal(db_rollback(b, NULL), CEL_OK); /* dead connection: no-op */
    db_close(a);
    db_close(b);
}

static void test_advisory_locks(void **state) {
    (void)state;
    PGconn *a = connect_or_fail(), *b = connect_or_fail();
    cel_error err = {0};
    const char *key = "datasets.process_dataset:0b8e1a66";

    assert_int_equal(db_try_xact_lock(a, key, &err), CEL_EINVAL); /* not in a transaction */
    cel_error_clear(&err);

    assert_int_equal(db_begin(a, &err), CEL_OK);
    assert_int_equal(db_try_xact_lock(a, key, &err), CEL_OK);
    assert_int_equal(db_try_xact_lock(a, key, &err), CEL_OK); /* re-entrant in a session */
    assert_int_equal(db_begin(b, &err), CEL_OK);
    assert_int_equal(db_try_xact_lock(b, key, &err), CEL_ECONFLICT);
    assert_non_null(strstr(err.msg, key));
    cel_error_clear(&err);
    assert_int_equal(db_try_xact_lock(b, "datasets.process_dataset:other", &err), CEL_OK);
    assert_int_equal(db_commit(a, &err), CEL_OK); /* releases */
    assert_int_equal(db_try_xact_lock(b, key, &err), CEL_OK);
    assert_int_equal(db_rollback(b, &err), CEL_OK);

    /* the key on the server is db_lock_key() */
    assert_int_equal(db_begin(a, &err), CEL_OK);
    assert_int_equal(db_try_xact_lock(a, key, &err), CEL_OK);
    char sql[160], v[32];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
             "((classid::bigint << 32) | objid::bigint) = %lld",
             (long long)db_lock_key(key));
    query_value(b, sql, v, sizeof v);
    assert_string_equal(v, "1");
    assert_int_equal(db_rollback(a, &err), CEL_OK);

    /* session locks */
    assert_int_equal(db_session_lock(a, "celeriac.test", &err), CEL_OK);
    assert_int_equal(db_begin(b, &err), CEL_OK);
    assert_int_equal(db_try_xact_lock(b, "celeriac.test", &err), CEL_ECONFLICT);
    cel_error_clear(&err);
    assert_int_equal(db_rollback(b, &err), CEL_OK);
    assert_int_equal(db_session_unlock(a, "celeriac.test", &err), CEL_OK);
    assert_int_equal(db_session_unlock(a, "celeriac.test", &err), CEL_EINTERNAL);
    db_close(a);
    db_close(b);
}

static int setup(void **state) {
    (void)state;
    cel_error err = {0};
    if (db_testdb_create(g_admin, "celeriac_dbtest", g_dbname, g_conninfo, sizeof g_conninfo,
                         &err) != CEL_OK) {
        fprintf(stderr, "cannot create the test database: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cel_error err = {0};
    if (db_testdb_drop(g_admin, g_dbname, &err) != CEL_OK) {
        fprintf(stderr, "cannot drop %s: %s\n", g_dbname, err.msg);
        return -1;
    }
    return 0;
}

int main(void) {
    cel_error err = {0};
    if (db_conninfo_from_env(g_admin, sizeof g_admin, &err) != CEL_OK) {
        printf("skipped: no database configured (%s)\n", err.msg);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_settings),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_params_and_unique_violation),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_statement_timeout),
        cmocka_unit_test(test_deadlock_is_transient),
        cmocka_unit_test(test_terminated_backend_is_transient),
        cmocka_unit_test(test_advisory_locks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
