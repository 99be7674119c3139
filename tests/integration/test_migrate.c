/*
 * test_migrate.c: `celeriac migrate` / db_migrate() and the tables of migrations-mirror/
 * against a real PostgreSQL (DATABASE_URL, or the POSTGRES_* vars); exits 77 (skipped) when
 * neither is set.
 *
 * Each run creates fresh, uniquely named databases and drops them at the end. Checks:
 * migrating an empty database creates every table and a second run applies nothing; the
 * reporting.* columns are exactly the Django mirror (types, lengths, nullability, NO
 * defaults, identity ids, deferrable FKs without ON DELETE actions); the unique keys and
 * CHECKs reject what they must and serve as ON CONFLICT targets; a changed applied file is
 * refused before anything is applied; a failing file is rolled back and reported with its
 * line; oversized / NUL / transaction-control files are refused; dry runs change nothing;
 * two concurrent runners apply each file exactly once; the CLI's exit codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/testdb.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIRROR_DIR CELERIAC_SOURCE_DIR "/migrations-mirror"

static char g_admin[DB_CONNINFO_MAX];
static char g_conninfo[DB_CONNINFO_MAX];
static char g_dbname[DB_TESTDB_NAME_MAX];
static PGconn *g_conn;
static int g_mirror_files; /* *.sql files in migrations-mirror */

/* ---- helpers ------------------------------------------------------------------------ */

static void exec_ok(PGconn *c, const char *sql) {
    cel_error err = {0};
    if (db_exec(c, sql, &err) != CEL_OK)
        fail_msg("%s: %s", sql, err.msg);
}

/* Runs sql, which must fail with exactly this SQLSTATE. */
static void expect_sqlstate(PGconn *c, const char *sql, const char *want) {
    PGresult *res = PQexec(c, sql);
    char got[6];
    cel_error err = {0};
    cel_status st = db_result_check(c, res, "probe", got, &err);
    PQclear(res);
    if (st == CEL_OK || strcmp(got, want) != 0)
        fail_msg("expected SQLSTATE %s from: %s\ngot %s: %s", want, sql, got, err.msg);
}

static void query_value(PGconn *c, const char *sql, char *out, size_t n) {
    PGresult *res = NULL;
    cel_error err = {0};
    if (db_query_params(c, sql, 0, NULL, &res, &err) != CEL_OK)
        fail_msg("%s: %s", sql, err.msg);
    if (PQntuples(res) != 1)
        fail_msg("%s: %d rows", sql, PQntuples(res));
    snprintf(out, n, "%s", PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
    PQclear(res);
}

static long query_long(PGconn *c, const char *sql) {
    char v[64];
    query_value(c, sql, v, sizeof v);
    return strtol(v, NULL, 10);
}

static int count_sql_files(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] != '.' && len > 4 && strcmp(de->d_name + len - 4, ".sql") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void write_file(const char *dir, const char *name, const char *data, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Copies every *.sql of migrations-mirror into a new temp dir (path written to out). */
static void copy_mirror(char *out, size_t n) {
    snprintf(out, n, "/tmp/celeriac_migrate_XXXXXX");
    assert_non_null(mkdtemp(out));
    DIR *d = opendir(MIRROR_DIR);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= 4 || strcmp(de->d_name + len - 4, ".sql") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", MIRROR_DIR, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char buf[1 << 20];
        size_t got = fread(buf, 1, sizeof buf, f);
        assert_true(got < sizeof buf);
        fclose(f);
        write_file(out, de->d_name, buf, got);
    }
    closedir(d);
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A fresh database of its own for one test; conninfo written to ci. */
static void fresh_db(char name[DB_TESTDB_NAME_MAX], char *ci, size_t n) {
    cel_error err = {0};
    if (db_testdb_create(g_admin, "celeriac_migtest", name, ci, n, &err) != CEL_OK)
        fail_msg("create test database: %s", err.msg);
}

static void drop_db(const char *name) {
    cel_error err = {0};
    if (db_testdb_drop(g_admin, name, &err) != CEL_OK)
        fail_msg("drop %s: %s", name, err.msg);
}

/* ---- the mirror ------------------------------------------------------------------------ */

static void test_first_run_creates_everything(void **state) {
    (void)state;
    /* the group setup migrated g_conn's database: every file is recorded */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM celeriac.schema_migrations");
    assert_int_equal(query_long(g_conn, sql), g_mirror_files);
    static const char *const tables[] = {
        "reporting.monitoring_file_schema_definition",
        "reporting.monitoring_file",
        "reporting.monitoring_file_run",
        "reporting.monitoring_file_data_quality",
        "reporting.monitoring_file_failed_validation",
        "reporting.monitoring_file_data_profile",
        "public.datasets",
        "public.jobs",
        "public.reports",
        "ingest.ingestion_record",
        "ingest.rejected_row",
        "ingest.pharmacy_claim",
        "ingest.audit_record",
        "imports.job",
        "imports.staging",
        "imports.issue",
        "imports.issue_item",
        "imports.contact",
        "celeriac.schema_migrations",
    };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char v[128];
        snprintf(sql, sizeof sql, "SELECT to_regclass('%s') IS NOT NULL", tables[i]);
        query_value(g_conn, sql, v, sizeof v);
        if (strcmp(v, "t") != 0)
            fail_msg("table %s was not created", tables[i]);
    }
    /* recorded checksums are 64 hex digits */
    assert_int_equal(query_long(g_conn, "SELECT count(*) FROM celeriac.schema_migrations "
                                        "WHERE sha256 ~ '^[0-9a-f]{64}$'"),
                     g_mirror_files);
}

static void test_second_run_applies_nothing(void **state) {
    (void)state;
    cel_error err = {0};
    db_migrate_stats stats;
    assert_int_equal(db_migrate_ex(g_conn, MIRROR_DIR, 0, stdout, &stats, &err), CEL_OK);
    assert_int_equal(stats.applied, 0);
    assert_int_equal(stats.skipped, g_mirror_files);
    assert_int_equal(db_migrate(g_conn, MIRROR_DIR, 0, &err), CEL_OK);
    assert_int_equal(query_long(g_conn, "SELECT count(*) FROM celeriac.schema_migrations"),
                     g_mirror_files);
    /* the advisory lock was released */
    assert_int_equal(
        query_long(g_conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), 0);
}

typedef struct {
    const char *table, *column, *type;
    int maxlen; /* 0 = none */
    const char *nullable;
} col;

static void test_reporting_columns_mirror_django(void **state) {
    (void)state;
    static const col expected[] = {
        {"monitoring_file", "id", "integer", 0, "NO"},
        {"monitoring_file", "file_name", "character varying", 250, "NO"},
        {"monitoring_file", "agency_slug", "character varying", 255, "NO"},
        {"monitoring_file", "latest_data_quality_score", "integer", 0, "YES"},
        {"monitoring_file", "schema_definition_id", "integer", 0, "YES"},
        {"monitoring_file_data_profile", "id", "integer", 0, "NO"},
        {"monitoring_file_data_profile", "monitoring_file_run_id", "integer", 0, "NO"},
        {"monitoring_file_data_profile", "profile_payload", "jsonb", 0, "NO"},
        {"monitoring_file_data_profile", "created_at", "timestamp with time zone", 0, "NO"},
        {"monitoring_file_data_profile", "updated_at", "timestamp with time zone", 0, "NO"},
        {"monitoring_file_data_quality", "id", "integer", 0, "NO"},
        {"monitoring_file_data_quality", "monitoring_file_run_id", "integer", 0, "NO"},
        {"monitoring_file_data_quality", "score", "integer", 0, "NO"},
        {"monitoring_file_data_quality", "passed", "boolean", 0, "NO"},
        {"monitoring_file_data_quality", "metrics", "jsonb", 0, "NO"},
        {"monitoring_file_data_quality", "deductions", "jsonb", 0, "NO"},
        {"monitoring_file_data_quality", "failed_validation_message", "text", 0, "YES"},
        {"monitoring_file_data_quality", "failed_validation_rules", "jsonb", 0, "YES"},
        {"monitoring_file_data_quality", "created_at", "timestamp with time zone", 0, "NO"},
        {"monitoring_file_data_quality", "updated_at", "timestamp with time zone", 0, "NO"},
        {"monitoring_file_data_quality", "acknowledgment_status", "character varying", 50, "YES"},
        {"monitoring_file_data_quality", "acknowledged_by_id", "integer", 0, "YES"},
        {"monitoring_file_data_quality", "acknowledged_by_username", "character varying", 150,
         "YES"},
        {"monitoring_file_data_quality", "acknowledged_at", "timestamp with time zone", 0, "YES"},
        {"monitoring_file_data_quality", "acknowledgment_notes", "text", 0, "YES"},
        {"monitoring_file_failed_validation", "id", "integer", 0, "NO"},
        {"monitoring_file_failed_validation", "monitoring_file_id", "integer", 0, "NO"},
        {"monitoring_file_failed_validation", "monitoring_file_run_id", "integer", 0, "NO"},
        {"monitoring_file_failed_validation", "rule_name", "character varying", 250, "NO"},
        {"monitoring_file_failed_validation", "rule_type", "character varying", 250, "NO"},
        {"monitoring_file_failed_validation", "rule_path", "character varying", 250, "NO"},
        {"monitoring_file_failed_validation", "validated_field_names", "character varying", 250,
         "NO"},
        {"monitoring_file_failed_validation", "validated_values", "character varying", 250, "NO"},
        {"monitoring_file_failed_validation", "rule_parameters", "character varying", 250, "NO"},
        {"monitoring_file_failed_validation", "validated_at", "timestamp with time zone", 0, "YES"},
        {"monitoring_file_failed_validation", "validated_message", "character varying", 250, "NO"},
        {"monitoring_file_failed_validation", "created_at", "timestamp with time zone", 0, "NO"},
        {"monitoring_file_failed_validation", "updated_at", "timestamp with time zone", 0, "YES"},
        {"monitoring_file_run", "id", "integer", 0, "NO"},
        {"monitoring_file_run", "monitoring_file_id", "integer", 0, "NO"},
        {"monitoring_file_run", "agency_id", "integer", 0, "YES"},
        {"monitoring_file_run", "created_at", "timestamp with time zone", 0, "NO"},
        {"monitoring_file_run", "updated_at", "timestamp with time zone", 0, "YES"},
        {"monitoring_file_run", "file_last_modified", "timestamp with time zone", 0, "YES"},
        {"monitoring_file_run", "file_range_lower_limit", "timestamp with time zone", 0, "YES"},
        {"monitoring_file_run", "file_size", "bigint", 0, "NO"},
        {"monitoring_file_run", "run_date", "date", 0, "NO"},
        {"monitoring_file_run", "run_hour", "integer", 0, "NO"},
        {"monitoring_file_schema_definition", "id", "integer", 0, "NO"},
        {"monitoring_file_schema_definition", "name", "character varying", 255, "NO"},
        {"monitoring_file_schema_definition", "description", "text", 0, "YES"},
        {"monitoring_file_schema_definition", "definition", "jsonb", 0, "NO"},
        {"monitoring_file_schema_definition", "created_at", "timestamp with time zone", 0, "NO"},
        {"monitoring_file_schema_definition", "updated_at", "timestamp with time zone", 0, "NO"},
    };
    PGresult *res = NULL;
    cel_error err = {0};
    assert_int_equal(
        db_query_params(g_conn,
                        "SELECT table_name, column_name, data_type, "
                        "coalesce(character_maximum_length, 0), is_nullable, "
                        "column_default IS NULL, "
                        "is_identity = 'YES' AND identity_generation = 'BY DEFAULT' "
                        "FROM information_schema.columns WHERE table_schema = 'reporting' "
                        "ORDER BY table_name COLLATE \"C\", ordinal_position",
                        0, NULL, &res, &err),
        CEL_OK);
    size_t n = sizeof expected / sizeof expected[0];
    assert_int_equal(PQntuples(res), (int)n);
    for (size_t i = 0; i < n; i++) {
        const col *e = &expected[i];
        int r = (int)i;
        if (strcmp(PQgetvalue(res, r, 0), e->table) != 0 ||
            strcmp(PQgetvalue(res, r, 1), e->column) != 0 ||
            strcmp(PQgetvalue(res, r, 2), e->type) != 0 ||
            strtol(PQgetvalue(res, r, 3), NULL, 10) != e->maxlen ||
            strcmp(PQgetvalue(res, r, 4), e->nullable) != 0)
            fail_msg("reporting column %zu: expected %s.%s %s(%d) nullable=%s, got %s.%s %s(%s) "
                     "nullable=%s",
                     i, e->table, e->column, e->type, e->maxlen, e->nullable, PQgetvalue(res, r, 0),
                     PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
                     PQgetvalue(res, r, 4));
        /* Django sets every value itself: no column has a database default */
        if (strcmp(PQgetvalue(res, r, 5), "t") != 0)
            fail_msg("reporting.%s.%s has a database default", e->table, e->column);
        int identity = strcmp(PQgetvalue(res, r, 6), "t") == 0;
        if (identity != (strcmp(e->column, "id") == 0))
            fail_msg("reporting.%s.%s: identity=%d", e->table, e->column, identity);
    }
    PQclear(res);

    /* FKs as Django emits them: DEFERRABLE INITIALLY DEFERRED, no ON DELETE action */
    assert_int_equal(query_long(g_conn, "SELECT count(*) FROM pg_constraint "
                                        "WHERE contype = 'f' AND connamespace = "
                                        "'reporting'::regnamespace"),
                     6);
    assert_int_equal(query_long(g_conn, "SELECT count(*) FROM pg_constraint "
                                        "WHERE contype = 'f' AND connamespace = "
                                        "'reporting'::regnamespace AND NOT (condeferrable AND "
                                        "condeferred AND confdeltype = 'a')"),
                     0);
}

static void test_reporting_unique_keys(void **state) {
    (void)state;
    PGconn *c = g_conn;
    exec_ok(c, "BEGIN");
    exec_ok(c, "INSERT INTO reporting.monitoring_file_schema_definition "
               "(name, definition, created_at, updated_at) VALUES ('sd1', '{}', now(), now())");
    expect_sqlstate(c,
                    "INSERT INTO reporting.monitoring_file_schema_definition "
                    "(name, definition, created_at, updated_at) VALUES ('sd1', '{}', now(), now())",
                    "23505");
    exec_ok(c, "ROLLBACK");

    /* no defaults: leaving out what Django sets is a not_null_violation */
    expect_sqlstate(c,
                    "INSERT INTO reporting.monitoring_file_schema_definition (name, definition, "
                    "updated_at) VALUES ('x', '{}', now())",
                    "23502");
    expect_sqlstate(c,
                    "INSERT INTO reporting.monitoring_file_schema_definition (name, created_at, "
                    "updated_at) VALUES ('x', now(), now())",
                    "23502");
    /* varchar(250) */
    expect_sqlstate(c,
                    "INSERT INTO reporting.monitoring_file (file_name, agency_slug) "
                    "VALUES (repeat('x', 251), 'a')",
                    "22001");

    exec_ok(c, "INSERT INTO reporting.monitoring_file (file_name, agency_slug) "
               "VALUES (repeat('f', 250), 'agency-a')");
    const char *run = "INSERT INTO reporting.monitoring_file_run (monitoring_file_id, created_at, "
                      "file_size, run_date, run_hour) SELECT id, now(), 10, '2024-05-01', 7 "
                      "FROM reporting.monitoring_file WHERE agency_slug = 'agency-a'";
    exec_ok(c, run);
    expect_sqlstate(c, run, "23505");
    expect_sqlstate(c,
                    "INSERT INTO reporting.monitoring_file_run (monitoring_file_id, file_size, "
                    "run_date, run_hour) SELECT id, 10, '2024-05-01', 8 FROM "
                    "reporting.monitoring_file",
                    "23502");
    /* the upsert the dq task uses */
    exec_ok(c, "INSERT INTO reporting.monitoring_file_run (monitoring_file_id, created_at, "
               "file_size, run_date, run_hour) SELECT id, now(), 11, '2024-05-01', 7 "
               "FROM reporting.monitoring_file ON CONFLICT (monitoring_file_id, run_date, "
               "run_hour) DO UPDATE SET file_size = EXCLUDED.file_size, updated_at = now()");
    assert_int_equal(query_long(c, "SELECT count(*) FROM reporting.monitoring_file_run"), 1);
    assert_int_equal(query_long(c, "SELECT file_size FROM reporting.monitoring_file_run"), 11);

    const char *dq = "INSERT INTO reporting.monitoring_file_data_quality (monitoring_file_run_id, "
                     "score, passed, metrics, deductions, created_at, updated_at) SELECT id, 90, "
                     "true, '{}', '{}', now(), now() FROM reporting.monitoring_file_run";
    exec_ok(c, dq);
    expect_sqlstate(c, dq, "23505");
    expect_sqlstate(c,
                    "INSERT INTO reporting.monitoring_file_data_quality (monitoring_file_run_id, "
                    "score, metrics, deductions, created_at, updated_at) SELECT id, 90, '{}', "
                    "'{}', now(), now() FROM reporting.monitoring_file_run",
                    "23502"); /* passed: default=False is Python-side */
    exec_ok(c, "UPDATE reporting.monitoring_file_data_quality SET acknowledgment_status = "
               "'ACKNOWLEDGED', acknowledged_by_username = 'analyst'");
    exec_ok(c, "INSERT INTO reporting.monitoring_file_data_quality (monitoring_file_run_id, "
               "score, passed, metrics, deductions, created_at, updated_at) SELECT id, 50, "
               "false, '{}', '{}', now(), now() FROM reporting.monitoring_file_run "
               "ON CONFLICT (monitoring_file_run_id) DO UPDATE SET score = EXCLUDED.score, "
               "passed = EXCLUDED.passed, updated_at = EXCLUDED.updated_at");
    char v[64];
    query_value(c,
                "SELECT score || ' ' || acknowledgment_status FROM "
                "reporting.monitoring_file_data_quality",
                v, sizeof v);
    assert_string_equal(v, "50 ACKNOWLEDGED");

    const char *prof = "INSERT INTO reporting.monitoring_file_data_profile "
                       "(monitoring_file_run_id, profile_payload, created_at, updated_at) "
                       "SELECT id, '{}', now(), now() FROM reporting.monitoring_file_run";
    exec_ok(c, prof);
    expect_sqlstate(c, prof, "23505");

    const char *fv = "INSERT INTO reporting.monitoring_file_failed_validation "
                     "(monitoring_file_id, monitoring_file_run_id, rule_name, rule_type, "
                     "rule_path, validated_field_names, validated_values, rule_parameters, "
                     "validated_message, created_at) SELECT monitoring_file_id, id, '', '', '', "
                     "'', '', '', '', now() FROM reporting.monitoring_file_run";
    exec_ok(c, fv);
    expect_sqlstate(c, fv, "23505");

    /* FKs are checked at COMMIT (deferred), without cascades */
    exec_ok(c, "BEGIN");
    exec_ok(c, "DELETE FROM reporting.monitoring_file");
    PGresult *res = PQexec(c, "COMMIT");
    char st[6];
    cel_error err = {0};
    assert_int_not_equal(db_result_check(c, res, "commit", st, &err), CEL_OK);
    assert_string_equal(st, "23503");
    PQclear(res);
    assert_int_equal(query_long(c, "SELECT count(*) FROM reporting.monitoring_file"), 1);
}

static void test_other_schemas_constraints(void **state) {
    (void)state;
    PGconn *c = g_conn;
    /* seed 002 */
    const char *ds = "INSERT INTO datasets (name, original_filename, content_type, status, "
                     "checksum_sha256, size_bytes, upload_bucket, upload_key) VALUES ('n', "
                     "'a.csv', 'text/csv', 'uploaded', 'abc', 3, 'uploads', 'datasets/x/a.csv')";
    exec_ok(c, ds);
    expect_sqlstate(c, ds, "23505"); /* UNIQUE(checksum_sha256) */
    expect_sqlstate(c,
                    "INSERT INTO datasets (name, original_filename, content_type, status, "
                    "checksum_sha256, size_bytes, upload_bucket, upload_key) VALUES ('n', 'a', "
                    "'t', 'bogus', 'def', 3, 'b', 'k')",
                    "23514");
    char v[128];
    query_value(c,
                "SELECT (uploaded_at IS NOT NULL)::text || ' ' || (id IS NOT NULL)::text "
                "FROM datasets",
                v, sizeof v);
    assert_string_equal(v, "true true");
    exec_ok(c, "INSERT INTO jobs (dataset_id, state) SELECT id, 'queued' FROM datasets");
    query_value(c, "SELECT progress::text || ' ' || (queued_at IS NOT NULL)::text FROM jobs", v,
                sizeof v);
    assert_string_equal(v, "0 true");
    expect_sqlstate(c, "UPDATE jobs SET progress = 101", "23514");
    expect_sqlstate(c, "UPDATE jobs SET state = 'done'", "23514");
    exec_ok(c, "INSERT INTO reports (dataset_id, report_json, report_bucket, report_key) SELECT "
               "id, '{}', 'reports', 'datasets/x/report/report.json' FROM datasets");
    expect_sqlstate(c,
                    "INSERT INTO reports (dataset_id, report_json, report_bucket, report_key) "
                    "SELECT id, '{}', 'r', 'k' FROM datasets",
                    "23505");
    exec_ok(c, "DELETE FROM reports");
    exec_ok(c, "DELETE FROM datasets"); /* jobs cascade */
    assert_int_equal(query_long(c, "SELECT count(*) FROM jobs"), 0);

    /* seed 003 */
    const char *ir = "INSERT INTO ingest.ingestion_record (bucket, key, etag) VALUES "
                     "('drop', 'pharmacy_claim.csv', 'e1') ON CONFLICT (bucket, key, etag) DO "
                     "UPDATE SET attempts = ingest.ingestion_record.attempts + 1";
    exec_ok(c, ir);
    exec_ok(c, ir);
    query_value(c, "SELECT status || ' ' || attempts FROM ingest.ingestion_record", v, sizeof v);
    assert_string_equal(v, "RECEIVED 1");
    expect_sqlstate(c, "UPDATE ingest.ingestion_record SET status = 'DONE'", "23514");
    exec_ok(c, "UPDATE ingest.ingestion_record SET status = 'DEAD_LETTERED'");
    const char *rj = "INSERT INTO ingest.rejected_row (ingestion_id, line_number, reason, "
                     "raw_row) SELECT id, 4, 'bad date', 'x,y' FROM ingest.ingestion_record ON "
                     "CONFLICT (ingestion_id, line_number) DO UPDATE SET reason = "
                     "EXCLUDED.reason";
    exec_ok(c, rj);
    exec_ok(c, rj);
    assert_int_equal(query_long(c, "SELECT count(*) FROM ingest.rejected_row"), 1);
    const char *pc = "INSERT INTO ingest.pharmacy_claim (claim_id, member_id, pharmacy_npi, ndc, "
                     "fill_date, quantity, paid_amount, source_bucket, source_key, source_etag) "
                     "VALUES ('C1', 'M1', '1234567890', '00002143380', '2024-01-02', 30, 12.5, "
                     "'drop', 'pharmacy_claim.csv', 'e1') ON CONFLICT (claim_id) DO UPDATE SET "
                     "paid_amount = EXCLUDED.paid_amount";
    exec_ok(c, pc);
    exec_ok(c, pc);
    assert_int_equal(query_long(c, "SELECT count(*) FROM ingest.pharmacy_claim"), 1);
    exec_ok(c, "INSERT INTO ingest.audit_record (audit_id, event_time, user_id, action, "
               "resource_type, source_bucket, source_key, source_etag) VALUES ('A1', now(), "
               "'u1', 'VIEW', 'PATIENT_RECORD', 'drop', 'audit.csv', 'e9') ON CONFLICT "
               "(audit_id) DO NOTHING");

    /* seed 004 */
    exec_ok(c, "INSERT INTO imports.job (s3_key) VALUES ('imports/1.csv')");
    query_value(c, "SELECT status FROM imports.job", v, sizeof v);
    assert_string_equal(v, "PENDING");
    expect_sqlstate(c, "UPDATE imports.job SET status = 'DONE'", "23514");
    const char *stg = "INSERT INTO imports.staging (job_id, row_number, row_hash, raw_data, "
                      "email, status) SELECT id, 1, 'h1', '{\"email\":\"A@x.com\"}', 'A@x.com', "
                      "'READY' FROM imports.job";
    exec_ok(c, stg);
    expect_sqlstate(c, stg, "23505");
    expect_sqlstate(c, "UPDATE imports.staging SET status = 'OK'", "23514");
    exec_ok(c, "INSERT INTO imports.contact (email, first_name, last_name, company) VALUES "
               "('A@x.com', 'A', 'B', 'C')");
    expect_sqlstate(c,
                    "INSERT INTO imports.contact (email, first_name, last_name, company) VALUES "
                    "('a@X.COM', 'A', 'B', 'C')",
                    "23505");
    exec_ok(c, "INSERT INTO imports.contact (email, first_name, last_name, company) VALUES "
               "('a@X.COM', 'A', 'B', 'C') ON CONFLICT ((lower(email))) DO NOTHING");
    const char *iss = "INSERT INTO imports.issue (job_id, issue_type, issue_key, message) "
                      "SELECT id, 'EXISTING_EMAIL', 'a@x.com', 'exists' FROM imports.job ON "
                      "CONFLICT (job_id, issue_type, issue_key) DO UPDATE SET message = "
                      "EXCLUDED.message";
    exec_ok(c, iss);
    exec_ok(c, iss);
    const char *item = "INSERT INTO imports.issue_item (issue_id, staging_id) SELECT i.id, s.id "
                       "FROM imports.issue i, imports.staging s";
    exec_ok(c, item);
    expect_sqlstate(c, item, "23505");
    exec_ok(c, "DELETE FROM imports.job"); /* staging, issues, items cascade */
    assert_int_equal(query_long(c, "SELECT count(*) FROM imports.issue_item"), 0);
    assert_int_equal(query_long(c, "SELECT count(*) FROM imports.contact"), 1);
}

/* ---- the runner ------------------------------------------------------------------------- */

static void test_changed_file_refused(void **state) {
    (void)state;
    char dir[256];
    copy_mirror(dir, sizeof dir);
    /* edit an applied file and add a new one: nothing may be applied */
    char path[512];
    snprintf(path, sizeof path, "%s/0002_datasets.sql", dir);
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    fputs("\n-- an innocent-looking edit\n", f);
    fclose(f);
    const char *extra = "CREATE TABLE public.celeriac_extra (id int);\n";
    write_file(dir, "9999_extra.sql", extra, strlen(extra));

    cel_error err = {0};
    assert_int_equal(db_migrate(g_conn, dir, 0, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "0002_datasets.sql"));
    assert_non_null(strstr(err.msg, "nothing was applied"));
    char v[16];
    query_value(g_conn, "SELECT to_regclass('public.celeriac_extra') IS NULL", v, sizeof v);
    assert_string_equal(v, "t");
    /* also in a dry run */
    cel_error_clear(&err);
    assert_int_equal(db_migrate(g_conn, dir, 1, &err), CEL_ECONFIG);

    /* restore the file: now only the new one is applied */
    remove_dir(dir);
    copy_mirror(dir, sizeof dir);
    write_file(dir, "9999_extra.sql", extra, strlen(extra));
    db_migrate_stats stats;
    cel_error_clear(&err);
    assert_int_equal(db_migrate_ex(g_conn, dir, 0, stdout, &stats, &err), CEL_OK);
    assert_int_equal(stats.applied, 1);
    assert_int_equal(stats.skipped, g_mirror_files);
    query_value(g_conn, "SELECT to_regclass('public.celeriac_extra') IS NOT NULL", v, sizeof v);
    assert_string_equal(v, "t");
    remove_dir(dir);
}

static void test_failing_file(void **state) {
    (void)state;
    char name[DB_TESTDB_NAME_MAX], ci[DB_CONNINFO_MAX], dir[] = "/tmp/celeriac_migfail_XXXXXX";
    fresh_db(name, ci, sizeof ci);
    assert_non_null(mkdtemp(dir));
    const char *ok = "CREATE TABLE first_ok (id int);\n";
    /* line 4 has the error; the é before it checks that positions count characters */
    const char *bad = "CREATE TABLE second_part (id int);\n"
                      "-- café\n"
                      "INSERT INTO second_part VALUES (1);\n"
                      "INSERT INTO second_part VALUES ('not a number');\n";
    write_file(dir, "0001_ok.sql", ok, strlen(ok));
    write_file(dir, "0002_bad.sql", bad, strlen(bad));
    write_file(dir, "0003_never.sql", ok, strlen(ok));

    PGconn *c = NULL;
    cel_error err = {0};
    assert_int_equal(db_connect(ci, &c, &err), CEL_OK);
    db_migrate_stats stats;
    assert_int_equal(db_migrate_ex(c, dir, 0, NULL, &stats, &err), CEL_EDB);
    assert_int_equal(stats.applied, 1);
    assert_non_null(strstr(err.msg, "migration 0002_bad.sql line 4"));
    assert_non_null(strstr(err.msg, "22P02"));
    char v[16];
    query_value(c, "SELECT to_regclass('second_part') IS NULL", v, sizeof v); /* rolled back */
    assert_string_equal(v, "t");
    query_value(c, "SELECT string_agg(filename, ',') FROM celeriac.schema_migrations", v, sizeof v);
    assert_string_equal(v, "0001_ok.sql");
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    assert_int_equal(query_long(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), 0);

    /* transaction control in a file */
    const char *commit = "CREATE TABLE t2 (id int); COMMIT;";
    write_file(dir, "0002_bad.sql", commit, strlen(commit));
    cel_error_clear(&err);
    assert_int_equal(db_migrate(c, dir, 0, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "0002_bad.sql"));
    assert_non_null(strstr(err.msg, "transaction"));
    query_value(c, "SELECT count(*) FROM celeriac.schema_migrations", v, sizeof v);
    assert_string_equal(v, "1");
    db_close(c);
    remove_dir(dir);
    drop_db(name);
}

static void test_bad_files_refused(void **state) {
    (void)state;
    char dir[] = "/tmp/celeriac_migbad_XXXXXX";
    assert_non_null(mkdtemp(dir));
    cel_error err = {0};

    /* a NUL byte */
    write_file(dir, "0001_nul.sql", "SELECT 1;\0SELECT 2;", 19);
    assert_int_equal(db_migrate(g_conn, dir, 1, &err), CEL_EPARSE);
    assert_non_null(strstr(err.msg, "0001_nul.sql"));
    remove_dir(dir);

    /* over the size bound (sparse file) */
    snprintf(dir, sizeof dir, "/tmp/celeriac_migbad_XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/0001_big.sql", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), (off_t)DB_MIGRATION_MAX_BYTES + 1), 0);
    fclose(f);
    cel_error_clear(&err);
    assert_int_equal(db_migrate(g_conn, dir, 0, &err), CEL_ELIMIT);
    assert_non_null(strstr(err.msg, "0001_big.sql"));
    remove_dir(dir);

    /* a file name outside [A-Za-z0-9._-] */
    snprintf(dir, sizeof dir, "/tmp/celeriac_migbad_XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_file(dir, "0001 with space.sql", "SELECT 1;", 9);
    cel_error_clear(&err);
    assert_int_equal(db_migrate(g_conn, dir, 0, &err), CEL_ECONFIG);
    remove_dir(dir);

    /* a missing directory */
    cel_error_clear(&err);
    assert_int_equal(db_migrate(g_conn, "/nonexistent/celeriac", 0, &err), CEL_ECONFIG);

    /* a connection inside a transaction */
    exec_ok(g_conn, "BEGIN");
    cel_error_clear(&err);
    assert_int_equal(db_migrate(g_conn, MIRROR_DIR, 0, &err), CEL_EINVAL);
    exec_ok(g_conn, "ROLLBACK");
}

static void test_dry_run_changes_nothing(void **state) {
    (void)state;
    char name[DB_TESTDB_NAME_MAX], ci[DB_CONNINFO_MAX];
    fresh_db(name, ci, sizeof ci);
    PGconn *c = NULL;
    cel_error err = {0};
    assert_int_equal(db_connect(ci, &c, &err), CEL_OK);
    db_migrate_stats stats;
    assert_int_equal(db_migrate_ex(c, MIRROR_DIR, 1, stdout, &stats, &err), CEL_OK);
    assert_int_equal(stats.pending, g_mirror_files);
    assert_int_equal(stats.applied, 0);
    char v[16];
    query_value(c,
                "SELECT count(*) FROM pg_namespace WHERE nspname IN ('celeriac', "
                "'reporting', 'ingest', 'imports')",
                v, sizeof v);
    assert_string_equal(v, "0");
    db_close(c);
    drop_db(name);
}

typedef struct {
    const char *conninfo;
    cel_status st;
    db_migrate_stats stats;
    char msg[1024];
} runner;

static void *run_migrate(void *arg) {
    runner *r = arg;
    PGconn *c = NULL;
    cel_error err = {0};
    r->st = db_connect(r->conninfo, &c, &err);
    if (r->st == CEL_OK)
        r->st = db_migrate_ex(c, MIRROR_DIR, 0, NULL, &r->stats, &err);
    snprintf(r->msg, sizeof r->msg, "%s", err.msg);
    db_close(c);
    return NULL;
}

static void test_concurrent_runners(void **state) {
    (void)state;
    char name[DB_TESTDB_NAME_MAX], ci[DB_CONNINFO_MAX];
    fresh_db(name, ci, sizeof ci);
    runner r[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].conninfo = ci;
        assert_int_equal(pthread_create(&th[i], NULL, run_migrate, &r[i]), 0);
    }
    int applied = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (r[i].st != CEL_OK)
            fail_msg("runner %d: %s", i, r[i].msg);
        applied += r[i].stats.applied;
        assert_int_equal(r[i].stats.applied + r[i].stats.skipped, g_mirror_files);
    }
    assert_int_equal(applied, g_mirror_files);
    PGconn *c = NULL;
    cel_error err = {0};
    assert_int_equal(db_connect(ci, &c, &err), CEL_OK);
    assert_int_equal(query_long(c, "SELECT count(*) FROM celeriac.schema_migrations"),
                     g_mirror_files);
    db_close(c);
    drop_db(name);
}

static void test_cli(void **state) {
    (void)state;
    char name[DB_TESTDB_NAME_MAX], ci[DB_CONNINFO_MAX];
    fresh_db(name, ci, sizeof ci);
    char *saved = getenv("DATABASE_URL") ? strdup(getenv("DATABASE_URL")) : NULL;
    setenv("DATABASE_URL", ci, 1);

    char *help[] = {"migrate", "--help", NULL};
    assert_int_equal(cmd_migrate(2, help), 0);
    char *bogus[] = {"migrate", "--bogus", NULL};
    assert_int_equal(cmd_migrate(2, bogus), 2);
    char *nodir[] = {"migrate", "--dir", NULL};
    assert_int_equal(cmd_migrate(2, nodir), 2);
    char *missing[] = {"migrate", "--dir", "/nonexistent/celeriac", NULL};
    assert_int_equal(cmd_migrate(3, missing), 1);
    char *dry[] = {"migrate", "--dry-run", "--dir=" MIRROR_DIR, NULL};
    assert_int_equal(cmd_migrate(3, dry), 0);
    char *run[] = {"migrate", "--dir", MIRROR_DIR, NULL};
    assert_int_equal(cmd_migrate(3, run), 0);
    assert_int_equal(cmd_migrate(3, run), 0); /* idempotent */

    PGconn *c = NULL;
    cel_error err = {0};
    assert_int_equal(db_connect(ci, &c, &err), CEL_OK);
    assert_int_equal(query_long(c, "SELECT count(*) FROM celeriac.schema_migrations"),
                     g_mirror_files);
    db_close(c);

    setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/x?connect_timeout=2", 1);
    assert_int_equal(cmd_migrate(3, run), 1); /* unreachable server */

    if (saved) {
        setenv("DATABASE_URL", saved, 1);
        free(saved);
    } else {
        unsetenv("DATABASE_URL");
    }
    drop_db(name);
}

/* ---- group fixture -------------------------------------------------------------------------- */

static int setup(void **state) {
    (void)state;
    cel_error err = {0};
    g_mirror_files = count_sql_files(MIRROR_DIR);
    if (db_testdb_create(g_admin, "celeriac_migtest", g_dbname, g_conninfo, sizeof g_conninfo,
                         &err) != CEL_OK ||
        db_connect(g_conninfo, &g_conn, &err) != CEL_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    db_migrate_stats stats;
    if (db_migrate_ex(g_conn, MIRROR_DIR, 0, stdout, &stats, &err) != CEL_OK) {
        fprintf(stderr, "first migrate: %s\n", err.msg);
        return -1;
    }
    if (stats.applied != g_mirror_files || stats.skipped != 0) {
        fprintf(stderr, "first migrate applied %d of %d files\n", stats.applied, g_mirror_files);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cel_error err = {0};
    db_close(g_conn);
    g_conn = NULL;
    if (db_testdb_drop(g_admin, g_dbname, &err) != CEL_OK) {
        fprintf(stderr, "teardown: %s\n", err.msg);
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
        cmocka_unit_test(test_first_run_creates_everything),
        cmocka_unit_test(test_second_run_applies_nothing),
        cmocka_unit_test(test_reporting_columns_mirror_django),
        cmocka_unit_test(test_reporting_unique_keys),
        cmocka_unit_test(test_other_schemas_constraints),
        cmocka_unit_test(test_changed_file_refused),
        cmocka_unit_test(test_failing_file),
        cmocka_unit_test(test_bad_files_refused),
        cmocka_unit_test(test_dry_run_changes_nothing),
        cmocka_unit_test(test_concurrent_runners),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
