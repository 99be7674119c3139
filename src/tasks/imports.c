/*
 * imports.c: task `imports.process_job(job_id)` (seed 004): a CSV of contacts in S3 is
 * staged row by row, validated, and either consolidated into imports.contact or held for a
 * person to review; after review the same task reprocesses the staging rows without
 * reading the file again.
 *
 * Job state machine (one transition function, job_set_state, logs every move):
 *   PENDING | NEEDS_REVIEW | FAILED | PROCESSING(crashed) -> PROCESSING
 *   PROCESSING -> NEEDS_REVIEW | COMPLETED | FAILED;  COMPLETED is final (a redelivery is a
 *   no-op that answers the job's summary).
 * Flows (logged as flow_type with job_id on every line):
 *   INITIAL_PROCESSING (job.staged_at IS NULL): stream the CSV from S3 through the reader;
 *     per row compute the row hash (imports.h), the raw_data JSON and the per-row verdict,
 *     and COPY it into a temporary table; every IMPORTS_BATCH_ROWS rows one transaction
 *     moves the batch into imports.staging with ON CONFLICT (job_id, row_hash) DO NOTHING
 *     and commits. A killed worker therefore resumes: rows already staged are skipped by
 *     their hash. The last batch sets job.staged_at (migration 0006). The object's ETag is
 *     recorded before the first batch and pinned (If-Match) for the read. When a resumed
 *     read finds a different ETag (the file was replaced, e.g. fixed after a parse error),
 *     the partial staging rows of the old object are deleted and the new one is staged from
 *     the start, so rows of two files never mix (this supersedes "fails the job" in the
 *     comment of migration 0006, which can no longer be edited). Then the validation pass.
 *   REPROCESSING (staged_at set): the validation pass only, over the staging rows as a
 *     person left them (email/first_name/last_name/company columns, not raw_data).
 * Validation pass, ONE REPEATABLE READ transaction: the staging rows that are READY or ISSUE
 * (DISCARD is the person's decision and SUCCESS is consolidated: both are left alone) are read once
 *   (single-row mode) and checked by imp_row_check in C; the flagged ones go through a temp
 *   file (bounded memory) into a temp table; then SQL evaluates the set rules (the same
 *   email with different identities within the job's rows; the email already in contacts),
 *   upserts issues by (job_id, issue_type, issue_key), resolves issues that no longer apply,
 *   syncs issue_item, sets READY/ISSUE, and either moves the job to NEEDS_REVIEW or
 *   consolidates (contacts inserted, staging -> SUCCESS with contact_id, job COMPLETED).
 *   Validation passes of different jobs are serialized by an advisory lock on the contact
 *   set, taken before the transaction's snapshot, so "already in contacts" and the insert
 *   are atomic with respect to each other.
 * Concurrency: a session advisory lock per job; a second delivery while one runs retries.
 *
 * Issues (issue_type / issue_key / field):
 *   REQUIRED_FIELD  <row_hash>:<field>  field   one per blank or missing required cell
 *   INVALID_EMAIL   <row_hash>          email   email present but not an addr-spec
 *   DUPLICATE_EMAIL <lower(email)>      email   >1 identity for one email in the job's rows
 *   EXISTING_EMAIL  <lower(email)>      email   email already in imports.contact
 * Identity = (first_name, last_name, company) trimmed and lower-cased; emails compare as
 * lower(trimmed email), like the contacts' unique index. issue_item links an issue to every
 * row it concerns; an issue that no longer applies becomes RESOLVED and keeps its items.
 *
 * Errors: a job that does not exist fails (LookupError) without touching anything. The file
 * missing / forbidden, unparseable CSV, a header without one of the four columns, NUL bytes:
 * job FAILED with the reason, task FAILURE, no retry (a FAILED job may be sent again, e.g.
 * after the file was fixed). S3/PostgreSQL outages, serialization failures and a busy job
 * retry with backoff; the last retry marks the job FAILED.
 *
 * Not here: the web app's review UI, deleting staging rows of failed jobs, updating
 * existing contacts (an existing email is an issue, never an overwrite), cells beyond the
 * header (ignored: not in raw_data, not hashed).
 */
#include "celeriac/reader.h"
#include "db/db.h"
#include "tasks/imports.h"
#include "tasks/services.h"
#include "tasks/task.h"
#include "util/dbuf.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

_Static_assert(IMP_MISSING(IMP_F_EMAIL) == 1 && IMP_MISSING(IMP_F_FIRST_NAME) == 2 &&
                   IMP_MISSING(IMP_F_LAST_NAME) == 4 && IMP_MISSING(IMP_F_COMPANY) == 8 &&
                   IMP_BAD_EMAIL == 16,
               "the SQL below spells these bits out");

#define IMP_BATCH_DEFAULT 20000
#define IMP_BATCH_MAX 1000000
#define IMP_COPY_FLUSH (256u * 1024u)         /* COPY data sent in pieces of this size */
#define IMP_ROW_BUF_MAX (32u * 1024u * 1024u) /* one row's COPY line / JSON / hash input */
#define IMP_MAX_LINE_BYTES (1024u * 1024u)    /* one CSV record */
#define IMP_MAX_FIELD_BYTES (256u * 1024u)    /* one CSV cell */
#define IMP_MAX_COLUMNS 1024
#define IMP_CONTACTS_LOCK "imports.contacts"

typedef enum {
    JOB_PENDING = 0,
    JOB_PROCESSING,
    JOB_NEEDS_REVIEW,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_NSTATES
} imp_state;

static const char *const k_state[JOB_NSTATES] = {"PENDING", "PROCESSING", "NEEDS_REVIEW",
                                                 "COMPLETED", "FAILED"};

typedef enum { FLOW_INITIAL = 0, FLOW_REPROCESSING } imp_flow;
static const char *const k_flow[2] = {"INITIAL_PROCESSING", "REPROCESSING"};

typedef struct imp_counts {
    long long total, ready, issue, discarded, imported;
} imp_counts;

typedef struct imp_job {
    long long id;
    char id_s[24];
    imp_state state;
    imp_flow flow;
    char bucket[256];
    char key[S3_MAX_KEY_BYTES + 1];
    char etag[128]; /* "" = none recorded */
    bool location_too_long;
    bool discard_db; /* close the connection at the end (a lock could not be released) */
    long long staged_before;
    /* this run */
    long long rows_read, rows_staged, rows_skipped;
    long long contacts_created, issues_open, issues_resolved;
    imp_counts counts;
} imp_job;

/* ---- small helpers -------------------------------------------------------------------- */

static cel_status one_row(PGconn *db, const char *sql, int n, const char *const *p, PGresult **r,
                          cel_error *err) {
    cel_status st = db_query_params(db, sql, n, p, r, err);
    if (st != CEL_OK)
        return st;
    if (PQntuples(*r) != 1) {
        PQclear(*r);
        *r = NULL;
        return cel_fail(err, CEL_EDB, "expected one row from: %.80s", sql);
    }
    return CEL_OK;
}

static cel_status exec_count(PGconn *db, const char *sql, int n, const char *const *p,
                             long long *affected, cel_error *err) {
    PGresult *r = NULL;
    cel_status st = db_query_params(db, sql, n, p, &r, err);
    if (st != CEL_OK)
        return st;
    if (affected)
        *affected = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return CEL_OK;
}

static long long col_ll(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Test hook (test builds only): CELERIAC_TEST_IMPORTS_PAUSE="point=seconds" sleeps at that
 * point after logging imports.test_pause with the pid, so e2e tests can kill -9 there. */
static void test_pause(const imp_job *j, const char *point) {
#ifdef CELERIAC_TEST_TASKS
    const char *spec = getenv("CELERIAC_TEST_IMPORTS_PAUSE");
    size_t pl = strlen(point);
    if (!spec || strncmp(spec, point, pl) != 0 || spec[pl] != '=')
        return;
    char *end = NULL;
    double secs = strtod(spec + pl + 1, &end);
    if (end == spec + pl + 1 || *end || secs <= 0 || secs > 600)
        return;
    LOG(LOG_INFO, "imports.test_pause", LF_S("point", point), LF_I("job_id", j->id),
        LF_I("pid", (long long)getpid()), LF_D("seconds", secs));
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
#else
    (void)j;
    (void)point;
#endif
}

/* ---- the job row and its state machine ----------------------------------------------- */

static cel_status job_load(PGconn *db, imp_job *j, cel_error *err) {
    const char *p[1] = {j->id_s};
    PGresult *r = NULL;
    cel_status st = db_query_params(
        db,
        "SELECT status, coalesce(s3_bucket, ''), s3_key, coalesce(s3_etag, ''), "
        "staged_at IS NOT NULL, (SELECT count(*) FROM imports.staging s WHERE s.job_id = j.id) "
        "FROM imports.job j WHERE id = $1",
        1, p, &r, err);
    if (st != CEL_OK)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return cel_fail(err, CEL_ENOTFOUND, "imports job %lld does not exist", j->id);
    }
    const char *status = PQgetvalue(r, 0, 0);
    j->state = JOB_NSTATES;
    for (int s = 0; s < JOB_NSTATES; s++)
        if (strcmp(status, k_state[s]) == 0)
            j->state = (imp_state)s;
    const char *bucket = PQgetvalue(r, 0, 1), *key = PQgetvalue(r, 0, 2);
    if (!*bucket) {
        const char *env = getenv("CSV_BUCKET_NAME");
        bucket = env ? env : "";
    }
    bool staged = PQgetvalue(r, 0, 4)[0] == 't';
    j->flow = staged ? FLOW_REPROCESSING : FLOW_INITIAL;
    j->staged_before = col_ll(r, 0, 5);
    snprintf(j->etag, sizeof j->etag, "%s", PQgetvalue(r, 0, 3));
    size_t bl = strlen(bucket), kl = strlen(key);
    if (j->state == JOB_NSTATES)
        st = cel_fail(err, CEL_EDB, "imports job %lld has an unknown status '%s'", j->id, status);
    if (bl >= sizeof j->bucket || kl >= sizeof j->key) {
        j->location_too_long = true; /* the initial flow fails the job with this */
    } else {
        memcpy(j->bucket, bucket, bl + 1);
        memcpy(j->key, key, kl + 1);
    }
    PQclear(r);
    return st;
}

static bool transition_allowed(imp_state from, imp_state to) {
    if (to == JOB_PROCESSING)
        return from != JOB_COMPLETED;
    return from == JOB_PROCESSING &&
           (to == JOB_NEEDS_REVIEW || to == JOB_COMPLETED || to == JOB_FAILED);
}

/*
 * Moves the job to `to` (inside the caller's transaction, if any), refreshing the row
 * counters from imports.staging; error is the FAILED reason (NULL otherwise). started_at is
 * the start of the latest pass; finished_at is set by the end states and cleared by
 * PROCESSING.
 */
static cel_status job_set_state(PGconn *db, imp_job *j, imp_state to, const char *error,
                                cel_error *err) {
    if (!transition_allowed(j->state, to))
        return cel_fail(err, CEL_EINTERNAL, "imports job %lld: no transition %s -> %s", j->id,
                        k_state[j->state], k_state[to]);
    const char *p[3] = {j->id_s, k_state[to], error};
    PGresult *r = NULL;
    cel_status st = one_row(
        db,
        "UPDATE imports.job j SET status = $2, error = $3, updated_at = now(), "
        "started_at = CASE WHEN $2 = 'PROCESSING' THEN now() ELSE j.started_at END, "
        "finished_at = CASE WHEN $2 = 'PROCESSING' THEN NULL ELSE now() END, "
        "total_rows = c.total, ready_rows = c.ready, issue_rows = c.issue, "
        "discarded_rows = c.discarded, imported_rows = c.imported "
        "FROM (SELECT count(*) AS total, count(*) FILTER (WHERE status = 'READY') AS ready, "
        "count(*) FILTER (WHERE status = 'ISSUE') AS issue, "
        "count(*) FILTER (WHERE status = 'DISCARD') AS discarded, "
        "count(*) FILTER (WHERE status = 'SUCCESS') AS imported "
        "FROM imports.staging WHERE job_id = $1) c WHERE j.id = $1 "
        "RETURNING c.total, c.ready, c.issue, c.discarded, c.imported",
        3, p, &r, err);
    if (st != CEL_OK)
        return st;
    j->counts.total = col_ll(r, 0, 0);
    j->counts.ready = col_ll(r, 0, 1);
    j->counts.issue = col_ll(r, 0, 2);
    j->counts.discarded = col_ll(r, 0, 3);
    j->counts.imported = col_ll(r, 0, 4);
    PQclear(r);
    LOG(LOG_INFO, "imports.job_state", LF_I("job_id", j->id), LF_S("flow_type", k_flow[j->flow]),
        LF_S("from", k_state[j->state]), LF_S("to", k_state[to]),
        LF_I("total_rows", j->counts.total), LF_S("error", error ? error : ""));
    j->state = to;
    return CEL_OK;
}

/* ---- INITIAL_PROCESSING: streaming the CSV into imports.staging ------------------------ */

typedef struct stager {
    PGconn *db;
    imp_job *j;
    size_t ncols;
    char **names; /* ncols copies */
    int col[IMP_NFIELDS];
    dbuf copy;    /* pending COPY text, sent at IMP_COPY_FLUSH */
    dbuf scratch; /* row hash input */
    dbuf json;    /* one row's raw_data */
    bool in_batch;
    uint64_t batch_rows, batch_size;
} stager;

static void stager_free_names(stager *s) {
    for (size_t i = 0; i < s->ncols; i++)
        free(s->names[i]);
    free(s->names);
    s->names = NULL;
    s->ncols = 0;
}

static cel_status on_columns(void *ud, size_t ncols, const char *const *names, cel_error *err) {
    stager *s = ud;
    stager_free_names(s);
    if (ncols) {
        s->names = calloc(ncols, sizeof *s->names);
        if (!s->names)
            return cel_fail(err, CEL_ENOMEM, "out of memory for %zu column names", ncols);
        for (size_t i = 0; i < ncols; i++) {
            s->names[i] = strdup(names[i]);
            s->ncols = i + 1;
            if (!s->names[i])
                return cel_fail(err, CEL_ENOMEM, "out of memory for column names");
        }
    }
    char missing[128] = "";
    for (int f = 0; f < IMP_NFIELDS; f++) {
        s->col[f] = -1;
        size_t fl = strlen(imp_field_names[f]);
        for (size_t i = 0; i < ncols && s->col[f] < 0; i++) {
            const char *n = names[i];
            size_t nl = strlen(n);
            imp_trim(&n, &nl);
            if (nl == fl && strncasecmp(n, imp_field_names[f], fl) == 0)
                s->col[f] = (int)i;
        }
        if (s->col[f] < 0) {
            size_t ml = strlen(missing);
            snprintf(missing + ml, sizeof missing - ml, "%s%s", ml ? ", " : "", imp_field_names[f]);
        }
    }
    if (missing[0]) {
        dbuf found;
        dbuf_init(&found, 512);
        for (size_t i = 0; i < ncols; i++)
            if (dbuf_printf(&found, "%s%s", i ? ", " : "", names[i]) != CEL_OK)
                break;
        cel_status st = cel_fail(err, CEL_ESCHEMA,
                                 "the CSV header has no column %s (required: email, first_name, "
                                 "last_name, company; found: %s)",
                                 missing, found.data ? found.data : "no columns");
        dbuf_free(&found);
        return st;
    }
    return CEL_OK;
}

static cel_status send_copy(stager *s, cel_error *err) {
    if (s->copy.len == 0)
        return CEL_OK;
    if (PQputCopyData(s->db, s->copy.data, (int)s->copy.len) != 1)
        return cel_fail(err, CEL_ETRANSIENT, "COPY into staging: %s", PQerrorMessage(s->db));
    dbuf_reset(&s->copy);
    return CEL_OK;
}

/* Ends the COPY in progress (errmsg != NULL aborts it) and checks its result. */
static cel_status end_copy(PGconn *db, const char *errmsg, const char *what, cel_error *err) {
    cel_status st = CEL_OK;
    if (PQputCopyEnd(db, errmsg) != 1)
        st = cel_fail(err, CEL_ETRANSIENT, "%s: %s", what, PQerrorMessage(db));
    PGresult *r;
    while ((r = PQgetResult(db)) != NULL) {
        if (st == CEL_OK && !errmsg)
            st = db_result_check(db, r, what, NULL, err);
        PQclear(r);
    }
    return st;
}

static cel_status begin_copy(PGconn *db, const char *sql, const char *what, cel_error *err) {
    PGresult *r = PQexec(db, sql);
    cel_status st = CEL_OK;
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        st = db_result_check(db, r, what, NULL, err);
        if (st == CEL_OK)
            st = cel_fail(err, CEL_EPROTO, "%s: the server did not start COPY", what);
    }
    PQclear(r);
    return st;
}

static cel_status batch_begin(stager *s, cel_error *err) {
    cel_status st = db_begin(s->db, err);
    if (st == CEL_OK)
        st = db_exec(s->db,
                     "CREATE TEMP TABLE imports_load (row_number integer, row_hash text, "
                     "raw_data text, email text, first_name text, last_name text, company text, "
                     "status text) ON COMMIT DROP",
                     err);
    if (st == CEL_OK)
        st = begin_copy(s->db, "COPY imports_load FROM STDIN", "COPY into staging", err);
    if (st != CEL_OK) {
        db_rollback(s->db, NULL);
        return st;
    }
    s->in_batch = true;
    s->batch_rows = 0;
    return CEL_OK;
}

/* Aborts the batch in progress (its rows are not staged). */
static void batch_abort(stager *s) {
    if (!s->in_batch)
        return;
    s->in_batch = false;
    (void)end_copy(s->db, "import aborted", "COPY into staging", NULL);
    db_rollback(s->db, NULL);
}

/* Moves the batch into imports.staging and commits; final also records staged_at. */
static cel_status batch_commit(stager *s, bool final, cel_error *err) {
    cel_status st = CEL_OK;
    if (!s->in_batch && (st = batch_begin(s, err)) != CEL_OK)
        return st;
    long long inserted = 0;
    const char *p[1] = {s->j->id_s};
    if ((st = send_copy(s, err)) != CEL_OK) {
        batch_abort(s); /* still inside COPY: end it, then roll back */
        return st;
    }
    s->in_batch = false;
    if ((st = end_copy(s->db, NULL, "COPY into staging", err)) != CEL_OK)
        goto fail;
    if ((st = exec_count(s->db,
                         "INSERT INTO imports.staging (job_id, row_number, row_hash, raw_data, "
                         "email, first_name, last_name, company, status, created_at, updated_at) "
                         "SELECT $1::bigint, row_number, row_hash, raw_data::jsonb, email, "
                         "first_name, last_name, company, status, now(), now() "
                         "FROM imports_load ORDER BY row_number "
                         "ON CONFLICT (job_id, row_hash) DO NOTHING",
                         1, p, &inserted, err)) != CEL_OK)
        goto fail;
    if (final && (st = exec_count(s->db,
                                  "UPDATE imports.job SET staged_at = now(), updated_at = now() "
                                  "WHERE id = $1",
                                  1, p, NULL, err)) != CEL_OK)
        goto fail;
    if ((st = db_commit(s->db, err)) != CEL_OK)
        goto fail;
    s->j->rows_staged += inserted;
    s->j->rows_skipped += (long long)s->batch_rows - inserted;
    LOG(LOG_INFO, "imports.batch_committed", LF_I("job_id", s->j->id),
        LF_S("flow_type", k_flow[s->j->flow]), LF_I("rows_read", s->j->rows_read),
        LF_I("batch_rows", s->batch_rows), LF_I("staged", inserted),
        LF_I("already_staged", (long long)s->batch_rows - inserted), LF_B("final", final));
    s->batch_rows = 0;
    test_pause(s->j, "staged_batch");
    return CEL_OK;
fail:
    db_rollback(s->db, NULL);
    return st;
}

static cel_status on_row(void *ud, uint64_t row_number, uint64_t line, size_t ncols,
                         const cel_value *vals, cel_error *err) {
    stager *s = ud;
    imp_job *j = s->j;
    cel_status st = CEL_OK;
    if (ncols != s->ncols)
        return cel_fail(err, CEL_EINTERNAL, "row %llu has %zu cells for %zu columns",
                        (unsigned long long)row_number, ncols, s->ncols);
    for (size_t i = 0; i < ncols; i++)
        if (vals[i].kind != CEL_V_ABSENT && vals[i].kind != CEL_V_NULL && vals[i].len &&
            memchr(vals[i].s, '\0', vals[i].len))
            return cel_fail(err, CEL_EPARSE,
                            "CSV row %llu (line %llu), column '%s' contains a NUL byte, which "
                            "PostgreSQL text cannot store",
                            (unsigned long long)row_number, (unsigned long long)line, s->names[i]);
    if (!s->in_batch && (st = batch_begin(s, err)) != CEL_OK)
        return st;
    char hash[65];
    if ((st = imp_row_hash(row_number, ncols, (const char *const *)s->names, vals, &s->scratch,
                           hash, err)) != CEL_OK)
        return st;
    dbuf_reset(&s->json);
    st = dbuf_append(&s->json, "{", 1);
    for (size_t i = 0; st == CEL_OK && i < ncols; i++) {
        if (i)
            st = dbuf_append(&s->json, ",", 1);
        if (st == CEL_OK)
            st = imp_json_string(&s->json, s->names[i], strlen(s->names[i]));
        if (st == CEL_OK)
            st = dbuf_append(&s->json, ":", 1);
        if (st != CEL_OK)
            break;
        if (vals[i].kind == CEL_V_ABSENT || vals[i].kind == CEL_V_NULL)
            st = dbuf_append(&s->json, "null", 4);
        else
            st = imp_json_string(&s->json, vals[i].s, vals[i].len);
    }
    if (st == CEL_OK)
        st = dbuf_append(&s->json, "}", 1);
    const char *fv[IMP_NFIELDS];
    size_t fl[IMP_NFIELDS];
    for (int f = 0; f < IMP_NFIELDS; f++) {
        const cel_value *v = &vals[s->col[f]];
        bool present = v->kind != CEL_V_ABSENT && v->kind != CEL_V_NULL;
        fv[f] = present ? (v->s ? v->s : "") : NULL;
        fl[f] = present ? v->len : 0;
    }
    char why[IMP_EMAIL_REASON_MAX];
    unsigned flags = imp_row_check(fv, fl, why);
    if (st == CEL_OK)
        st = dbuf_printf(&s->copy, "%llu\t%s\t", (unsigned long long)row_number, hash);
    if (st == CEL_OK)
        st = imp_copy_field(&s->copy, s->json.data, s->json.len);
    for (int f = 0; st == CEL_OK && f < IMP_NFIELDS; f++) {
        st = dbuf_append(&s->copy, "\t", 1);
        if (st == CEL_OK)
            st = imp_copy_field(&s->copy, fv[f], fl[f]);
    }
    if (st == CEL_OK)
        st = dbuf_printf(&s->copy, "\t%s\n", flags ? "ISSUE" : "READY");
    if (st != CEL_OK)
        return cel_fail(err, st, "CSV row %llu (line %llu) is too large to stage (%s)",
                        (unsigned long long)row_number, (unsigned long long)line, cel_strerror(st));
    j->rows_read++;
    s->batch_rows++;
    if (s->copy.len >= IMP_COPY_FLUSH && (st = send_copy(s, err)) != CEL_OK)
        return st;
    if (s->batch_rows >= s->batch_size)
        return batch_commit(s, false, err);
    return CEL_OK;
}

static uint64_t batch_size_from_env(void) {
    const char *v = getenv("CELERIAC_IMPORTS_BATCH_ROWS");
    if (!v || !*v)
        return IMP_BATCH_DEFAULT;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n == 0 || n > IMP_BATCH_MAX) {
        LOG(LOG_WARNING, "imports.bad_batch_rows", LF_S("value", v),
            LF_I("using", IMP_BATCH_DEFAULT));
        return IMP_BATCH_DEFAULT;
    }
    return n;
}

static cel_status stage_file(PGconn *db, s3_client *s3, imp_job *j, cel_error *err) {
    stager s;
    memset(&s, 0, sizeof s);
    s.db = db;
    s.j = j;
    s.batch_size = batch_size_from_env();
    dbuf_init(&s.copy, IMP_ROW_BUF_MAX);
    dbuf_init(&s.scratch, IMP_ROW_BUF_MAX);
    dbuf_init(&s.json, IMP_ROW_BUF_MAX);
    cel_source src;
    bool src_open = false;
    s3_object_info info;
    cel_status st;
    if (j->location_too_long) {
        st = cel_fail(err, CEL_EINVAL,
                      "imports job %lld: s3_bucket is over 255 or s3_key over %d bytes", j->id,
                      S3_MAX_KEY_BYTES);
        goto out;
    }
    if (!j->bucket[0]) {
        st = cel_fail(err, CEL_ECONFIG,
                      "imports job %lld has no s3_bucket and CSV_BUCKET_NAME is not set", j->id);
        goto out;
    }
    if ((st = s3_source_open(s3, j->bucket, j->key, &src, &info, err)) != CEL_OK)
        goto out;
    src_open = true;
    if (strcmp(j->etag, info.etag) != 0) {
        /* A new object (first read, or replaced since an interrupted read): record its ETag
         * and drop the rows staged from the old one. Staging rows of a job whose file is not
         * completely staged were never validated (no issue points at them), so starting over
         * loses nothing a person has seen. */
        const char *p[2] = {j->id_s, info.etag};
        long long dropped = 0;
        if ((st = db_begin(db, err)) != CEL_OK)
            goto out;
        if ((st = exec_count(db, "DELETE FROM imports.staging WHERE job_id = $1", 1, p, &dropped,
                             err)) != CEL_OK ||
            (st = exec_count(db, "UPDATE imports.job SET s3_etag = $2 WHERE id = $1", 2, p, NULL,
                             err)) != CEL_OK ||
            (st = db_commit(db, err)) != CEL_OK) {
            db_rollback(db, NULL);
            goto out;
        }
        if (j->etag[0])
            LOG(LOG_WARNING, "imports.file_replaced", LF_I("job_id", j->id),
                LF_S("flow_type", k_flow[j->flow]), LF_S("old_etag", j->etag),
                LF_S("etag", info.etag), LF_I("staged_rows_dropped", dropped));
        j->staged_before = 0;
        snprintf(j->etag, sizeof j->etag, "%s", info.etag);
    }
    LOG(LOG_INFO, "imports.reading", LF_I("job_id", j->id), LF_S("flow_type", k_flow[j->flow]),
        LF_S("bucket", j->bucket), LF_S("key", j->key), LF_I("size", (long long)info.size),
        LF_S("etag", info.etag), LF_I("already_staged", j->staged_before),
        LF_I("batch_rows", (long long)s.batch_size));
    cel_reader_opts ropts;
    memset(&ropts, 0, sizeof ropts);
    ropts.header = -1; /* 0 would mean "no header" */
    ropts.format = CEL_FMT_CSV;
    ropts.max_line_bytes = IMP_MAX_LINE_BYTES;
    ropts.max_field_bytes = IMP_MAX_FIELD_BYTES;
    ropts.max_columns = IMP_MAX_COLUMNS;
    cel_reader_opts_defaults(&ropts);
    cel_row_sink sink = {.ud = &s, .on_columns = on_columns, .on_row = on_row};
    if ((st = cel_read_source(&src, &ropts, &sink, NULL, err)) != CEL_OK)
        goto out;
    st = batch_commit(&s, true, err);
out:
    if (st != CEL_OK)
        batch_abort(&s);
    if (src_open)
        s3_source_close(&src);
    stager_free_names(&s);
    dbuf_free(&s.copy);
    dbuf_free(&s.scratch);
    dbuf_free(&s.json);
    return st;
}

/* ---- the validation pass (both flows) ------------------------------------------------- */

/* Reads the job's READY/ISSUE rows in single-row mode and writes the COPY lines
 * "staging_id \t flags \t reason" of the rows failing a per-row rule to f. */
static cel_status check_rows(PGconn *db, imp_job *j, FILE *f, long long *checked,
                             long long *flagged, cel_error *err) {
    const char *p[1] = {j->id_s};
    if (!PQsendQueryParams(db,
                           "SELECT id, email, first_name, last_name, company FROM "
                           "imports.staging WHERE job_id = $1 AND status IN ('READY', 'ISSUE')",
                           1, NULL, p, NULL, NULL, 0))
        return cel_fail(err, CEL_ETRANSIENT, "reading staging rows: %s", PQerrorMessage(db));
    if (!PQsetSingleRowMode(db))
        LOG(LOG_WARNING, "imports.single_row_mode_refused", LF_I("job_id", j->id));
    cel_status st = CEL_OK;
    dbuf line;
    dbuf_init(&line, IMP_ROW_BUF_MAX);
    PGresult *r;
    while ((r = PQgetResult(db)) != NULL) {
        ExecStatusType rs = PQresultStatus(r);
        if (st == CEL_OK && rs != PGRES_SINGLE_TUPLE && rs != PGRES_TUPLES_OK)
            st = db_result_check(db, r, "reading staging rows", NULL, err);
        for (int i = 0; st == CEL_OK && i < PQntuples(r); i++) {
            const char *fv[IMP_NFIELDS];
            size_t fl[IMP_NFIELDS];
            for (int k = 0; k < IMP_NFIELDS; k++) {
                fv[k] = PQgetisnull(r, i, k + 1) ? NULL : PQgetvalue(r, i, k + 1);
                fl[k] = fv[k] ? (size_t)PQgetlength(r, i, k + 1) : 0;
            }
            char why[IMP_EMAIL_REASON_MAX];
            unsigned flags = imp_row_check(fv, fl, why);
            (*checked)++;
            if (!flags)
                continue;
            (*flagged)++;
            dbuf_reset(&line);
            st = dbuf_printf(&line, "%s\t%u\t", PQgetvalue(r, i, 0), flags);
            if (st == CEL_OK)
                st = imp_copy_field(&line, (flags & IMP_BAD_EMAIL) ? why : NULL, strlen(why));
            if (st == CEL_OK)
                st = dbuf_append(&line, "\n", 1);
            if (st != CEL_OK)
                st = cel_fail(err, st, "staging row %s: %s", PQgetvalue(r, i, 0), cel_strerror(st));
            else if (fwrite(line.data, 1, line.len, f) != line.len)
                st =
                    cel_fail(err, CEL_EIO, "writing the row-check spill file: %s", strerror(errno));
        }
        PQclear(r);
    }
    dbuf_free(&line);
    return st;
}

/* Sends the spill file into imp_flags. */
static cel_status load_flags(PGconn *db, FILE *f, cel_error *err) {
    cel_status st = db_exec(db,
                            "CREATE TEMP TABLE imp_flags (staging_id bigint PRIMARY KEY, "
                            "flags integer NOT NULL, reason text) ON COMMIT DROP",
                            err);
    if (st == CEL_OK)
        st = begin_copy(db, "COPY imp_flags FROM STDIN", "loading row checks", err);
    if (st != CEL_OK)
        return st;
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0) {
        (void)end_copy(db, "spill file error", "loading row checks", NULL);
        return cel_fail(err, CEL_EIO, "rewinding the row-check spill file: %s", strerror(errno));
    }
    char buf[64 * 1024];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (PQputCopyData(db, buf, (int)n) != 1) {
            st = cel_fail(err, CEL_ETRANSIENT, "loading row checks: %s", PQerrorMessage(db));
            break;
        }
    if (st == CEL_OK && ferror(f))
        st = cel_fail(err, CEL_EIO, "reading the row-check spill file: %s", strerror(errno));
    cel_status st2 = end_copy(db, st == CEL_OK ? NULL : "aborted", "loading row checks", err);
    return st != CEL_OK ? st : st2;
}

/* One statement of the validation pass ($1 = the job id when the SQL uses it), timed in
 * the debug log (imports.step) so a slow pass shows where its time goes. */
static cel_status step(PGconn *db, const imp_job *j, const char *name, const char *sql,
                       long long *affected, cel_error *err) {
    double t0 = tu_monotonic();
    const char *p[1] = {j->id_s};
    long long n = 0;
    cel_status st = exec_count(db, sql, strstr(sql, "$1") ? 1 : 0, p, &n, err);
    if (st != CEL_OK)
        return st;
    if (affected)
        *affected = n;
    LOG(LOG_DEBUG, "imports.step", LF_I("job_id", j->id), LF_S("step", name), LF_I("rows", n),
        LF_D("seconds", tu_monotonic() - t0));
    return CEL_OK;
}

typedef struct imp_sql {
    const char *name, *sql;
} imp_sql;

/*
 * Statements of the validation pass, in order, after imp_flags is loaded. imp_eval holds
 * the job's READY/ISSUE rows with the normalized email and identity; imp_want the issues
 * that apply now (type, key, field, message, one row per staging row concerned).
 */
static const imp_sql k_eval[] = {
    /* memory for the hash aggregates / sorts over a million rows instead of disk spills */
    {"work_mem", "SET LOCAL work_mem = '64MB'"},
    {"create_eval",
     "CREATE TEMP TABLE imp_eval (id bigint PRIMARY KEY, row_number integer, row_hash text, "
     "email_t text, norm_email text, nf text, nl text, nc text, flags integer, reason text) "
     "ON COMMIT DROP"},
    {"fill_eval",
     "INSERT INTO imp_eval SELECT s.id, s.row_number, s.row_hash, btrim(s.email, E' \\t'), "
     "lower(btrim(s.email, E' \\t')), lower(btrim(coalesce(s.first_name, ''), E' \\t')), "
     "lower(btrim(coalesce(s.last_name, ''), E' \\t')), "
     "lower(btrim(coalesce(s.company, ''), E' \\t')), coalesce(f.flags, 0), f.reason "
     "FROM imports.staging s LEFT JOIN imp_flags f ON f.staging_id = s.id "
     "WHERE s.job_id = $1 AND s.status IN ('READY', 'ISSUE')"},
    {"analyze_eval", "ANALYZE imp_eval"},
    {"create_want", "CREATE TEMP TABLE imp_want (issue_type text NOT NULL, issue_key text NOT "
                    "NULL, field text, message text NOT NULL, staging_id bigint NOT NULL) "
                    "ON COMMIT DROP"},
    /* REQUIRED_FIELD: one per blank or missing cell (bits: imports.h) */
    {"required_field",
     "INSERT INTO imp_want SELECT 'REQUIRED_FIELD', e.row_hash || ':' || r.name, r.name, "
     "format('row %s: %s is required but empty', e.row_number, r.name), e.id "
     "FROM imp_eval e JOIN (VALUES (1, 'email'), (2, 'first_name'), (4, 'last_name'), "
     "(8, 'company')) AS r(bit, name) ON e.flags & r.bit <> 0 WHERE e.flags & 15 <> 0"},
    /* INVALID_EMAIL: per row, with the validator's reason */
    {"invalid_email",
     "INSERT INTO imp_want SELECT 'INVALID_EMAIL', e.row_hash, 'email', "
     "format('row %s: email \"%s\" is not a valid address: %s', e.row_number, "
     "CASE WHEN length(e.email_t) > 200 THEN left(e.email_t, 200) || '...' ELSE e.email_t END, "
     "e.reason), e.id FROM imp_eval e WHERE e.flags & 16 <> 0"},
    /* DUPLICATE_EMAIL: among rows with a valid email, an email whose rows do not all carry
     * the same identity; some component differs exactly when its min and max differ, which
     * a hash aggregate answers without sorting the million rows */
    {"duplicate_email",
     "WITH d AS (SELECT norm_email, count(*) AS n FROM imp_eval WHERE flags & 17 = 0 "
     "GROUP BY norm_email HAVING count(*) > 1 AND (min(nf) <> max(nf) OR min(nl) <> max(nl) "
     "OR min(nc) <> max(nc))), "
     "r AS (SELECT v.id, v.norm_email, v.row_number, row_number() OVER (PARTITION BY "
     "v.norm_email ORDER BY v.row_number) AS rn FROM imp_eval v JOIN d ON d.norm_email = "
     "v.norm_email WHERE v.flags & 17 = 0), "
     "l AS (SELECT norm_email, string_agg(row_number::text, ', ' ORDER BY row_number) AS rows "
     "FROM r WHERE rn <= 10 GROUP BY norm_email) "
     "INSERT INTO imp_want SELECT 'DUPLICATE_EMAIL', r.norm_email, 'email', "
     "format('email %s appears in %s rows with different first_name/last_name/company (rows "
     "%s%s)', r.norm_email, d.n, l.rows, CASE WHEN d.n > 10 THEN ', ...' ELSE '' END), r.id "
     "FROM r JOIN d ON d.norm_email = r.norm_email JOIN l ON l.norm_email = r.norm_email"},
    /* EXISTING_EMAIL: the email is already a contact */
    {"existing_email",
     "INSERT INTO imp_want SELECT 'EXISTING_EMAIL', e.norm_email, 'email', "
     "format('email %s already exists in contacts (contact %s)', e.norm_email, c.id), e.id "
     "FROM imp_eval e JOIN imports.contact c ON lower(c.email) = e.norm_email "
     "WHERE e.flags & 17 = 0"},
    {"analyze_want", "ANALYZE imp_want"},
    /* issues: insert new ones, reopen / update changed ones, leave equal ones untouched */
    {"upsert_issues",
     "INSERT INTO imports.issue (job_id, issue_type, issue_key, field, message, status, "
     "created_at, updated_at) SELECT DISTINCT ON (issue_type, issue_key) $1::bigint, "
     "issue_type, issue_key, field, message, 'OPEN', now(), now() FROM imp_want "
     "ORDER BY issue_type, issue_key, staging_id "
     "ON CONFLICT (job_id, issue_type, issue_key) DO UPDATE SET field = EXCLUDED.field, "
     "message = EXCLUDED.message, status = 'OPEN', resolved_at = NULL, updated_at = now() "
     "WHERE (imports.issue.field, imports.issue.message, imports.issue.status) "
     "IS DISTINCT FROM (EXCLUDED.field, EXCLUDED.message, 'OPEN')"},
    {"resolve_issues", /* affected rows = issues_resolved */
     "UPDATE imports.issue i SET status = 'RESOLVED', resolved_at = now(), updated_at = now() "
     "WHERE i.job_id = $1 AND i.status = 'OPEN' AND NOT EXISTS (SELECT 1 FROM imp_want w "
     "WHERE w.issue_type = i.issue_type AND w.issue_key = i.issue_key)"},
    {"add_items", "INSERT INTO imports.issue_item (issue_id, staging_id, created_at) "
                  "SELECT i.id, w.staging_id, now() FROM imp_want w JOIN imports.issue i "
                  "ON i.job_id = $1 AND i.issue_type = w.issue_type AND i.issue_key = w.issue_key "
                  "ON CONFLICT (issue_id, staging_id) DO NOTHING"},
    /* an open issue's items are exactly its rows now; a resolved one keeps its last rows */
    {"drop_items",
     "DELETE FROM imports.issue_item ii USING imports.issue i WHERE ii.issue_id = i.id AND "
     "i.job_id = $1 AND i.status = 'OPEN' AND NOT EXISTS (SELECT 1 FROM imp_want w WHERE "
     "w.issue_type = i.issue_type AND w.issue_key = i.issue_key AND "
     "w.staging_id = ii.staging_id)"},
    {"row_statuses",
     "UPDATE imports.staging s SET status = v.st, updated_at = now() FROM (SELECT e.id, "
     "CASE WHEN w.staging_id IS NULL THEN 'READY' ELSE 'ISSUE' END AS st FROM imp_eval e "
     "LEFT JOIN (SELECT DISTINCT staging_id FROM imp_want) w ON w.staging_id = e.id) v "
     "WHERE s.id = v.id AND s.job_id = $1 AND s.status IN ('READY', 'ISSUE') "
     "AND s.status <> v.st"},
    {NULL, NULL}};

static cel_status count_one(PGconn *db, const imp_job *j, const char *sql, long long *out,
                            cel_error *err) {
    const char *p[1] = {j->id_s};
    PGresult *r = NULL;
    cel_status st = one_row(db, sql, strstr(sql, "$1") ? 1 : 0, p, &r, err);
    if (st != CEL_OK)
        return st;
    *out = col_ll(r, 0, 0);
    PQclear(r);
    return CEL_OK;
}

/* No open issue: every READY row becomes a contact (per email, the first row wins: rows of
 * one email carry one identity by now) and SUCCESS with its contact_id. */
static cel_status consolidate(PGconn *db, imp_job *j, cel_error *err) {
    long long expected = 0;
    cel_status st = count_one(db, j,
                              "SELECT count(DISTINCT e.norm_email) FROM imp_eval e JOIN "
                              "imports.staging s ON s.id = e.id WHERE s.job_id = $1 AND "
                              "s.status = 'READY'",
                              &expected, err);
    if (st != CEL_OK ||
        (st = step(db, j, "insert_contacts",
                   "INSERT INTO imports.contact (email, first_name, last_name, company, "
                   "source_job_id, created_at, updated_at) SELECT DISTINCT ON (e.norm_email) "
                   "e.email_t, btrim(s.first_name, E' \\t'), btrim(s.last_name, E' \\t'), "
                   "btrim(s.company, E' \\t'), $1::bigint, now(), now() FROM imp_eval e JOIN "
                   "imports.staging s ON s.id = e.id WHERE s.job_id = $1 AND "
                   "s.status = 'READY' ORDER BY e.norm_email, e.row_number "
                   "ON CONFLICT ((lower(email))) DO NOTHING",
                   &j->contacts_created, err)) != CEL_OK)
        return st;
    if (j->contacts_created != expected)
        return cel_fail(err, CEL_ETRANSIENT,
                        "job %lld: %lld of %lld emails became contacts concurrently (not through "
                        "celeriac); revalidating",
                        j->id, expected - j->contacts_created, expected);
    return step(db, j, "rows_success",
                "UPDATE imports.staging s SET status = 'SUCCESS', contact_id = c.id, "
                "updated_at = now() FROM imp_eval e JOIN imports.contact c ON "
                "lower(c.email) = e.norm_email WHERE s.id = e.id AND s.job_id = $1 AND "
                "s.status = 'READY'",
                NULL, err);
}

/*
 * The validation pass in one REPEATABLE READ transaction, so the row checks and the SQL
 * rules see the same rows even if the web app edits staging meanwhile (an edit to a row this
 * pass then updates is a serialization failure: transient, retried). The contact set is
 * locked (session advisory lock, waited for) before the transaction starts, so the snapshot
 * already contains every contact committed by an earlier pass and the EXISTING_EMAIL rule and
 * the consolidation see the same contacts.
 */
static cel_status validate_and_finish(PGconn *db, imp_job *j, cel_error *err) {
    long long checked = 0, flagged = 0;
    bool locked = false;
    FILE *spill = tmpfile();
    if (!spill)
        return cel_fail(err, CEL_EIO, "cannot create the row-check spill file: %s",
                        strerror(errno));
    LOG(LOG_INFO, "imports.validating", LF_I("job_id", j->id), LF_S("flow_type", k_flow[j->flow]));
    double t0 = tu_monotonic();
    /* Fresh statistics for the rows just staged (autovacuum may not have run yet), so the
     * joins below are planned as hash joins; outside the transaction, so the lock ANALYZE
     * takes is not held for the whole pass. */
    cel_status st;
    if ((st = step(db, j, "analyze_staging", "ANALYZE imports.staging", NULL, err)) != CEL_OK ||
        (st = db_session_lock(db, IMP_CONTACTS_LOCK, err)) != CEL_OK)
        goto out;
    locked = true;
    LOG(LOG_DEBUG, "imports.step", LF_I("job_id", j->id), LF_S("step", "contacts_lock"),
        LF_I("rows", 0), LF_D("seconds", tu_monotonic() - t0));
    if ((st = db_begin(db, err)) != CEL_OK)
        goto out;
    if ((st = db_exec(db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", err)) != CEL_OK ||
        (st = check_rows(db, j, spill, &checked, &flagged, err)) != CEL_OK)
        goto rollback;
    LOG(LOG_DEBUG, "imports.step", LF_I("job_id", j->id), LF_S("step", "row_checks"),
        LF_I("rows", checked), LF_D("seconds", tu_monotonic() - t0));
    if ((st = load_flags(db, spill, err)) != CEL_OK)
        goto rollback;
    for (const imp_sql *q = k_eval; q->name; q++) {
        long long *n = strcmp(q->name, "resolve_issues") == 0 ? &j->issues_resolved : NULL;
        if ((st = step(db, j, q->name, q->sql, n, err)) != CEL_OK)
            goto rollback;
    }
    if ((st = count_one(db, j,
                        "SELECT count(*) FROM imports.issue WHERE job_id = $1 AND "
                        "status = 'OPEN'",
                        &j->issues_open, err)) != CEL_OK)
        goto rollback;
    if (j->issues_open > 0) {
        st = job_set_state(db, j, JOB_NEEDS_REVIEW, NULL, err);
    } else {
        if ((st = consolidate(db, j, err)) != CEL_OK)
            goto rollback;
        st = job_set_state(db, j, JOB_COMPLETED, NULL, err);
    }
    if (st != CEL_OK)
        goto rollback;
    LOG(LOG_INFO, "imports.validated", LF_I("job_id", j->id), LF_S("flow_type", k_flow[j->flow]),
        LF_I("rows_checked", checked), LF_I("rows_failing_row_rules", flagged),
        LF_I("issues_open", j->issues_open), LF_I("issues_resolved", j->issues_resolved),
        LF_I("contacts_created", j->contacts_created), LF_D("seconds", tu_monotonic() - t0));
    test_pause(j, "before_commit");
    st = db_commit(db, err);
    if (st != CEL_OK)
        j->state = JOB_PROCESSING; /* nothing of the pass was kept */
    else
        test_pause(j, "after_commit");
    goto out;
rollback:
    db_rollback(db, NULL);
    j->state = JOB_PROCESSING;
out:
    if (locked && PQstatus(db) == CONNECTION_OK) {
        cel_error uerr = {0};
        if (db_session_unlock(db, IMP_CONTACTS_LOCK, &uerr) != CEL_OK) {
            /* Never keep the contact set locked: closing the session (at the end of the
             * task, see process_job) releases it. */
            LOG(LOG_WARNING, "imports.unlock_failed", LF_I("job_id", j->id),
                LF_S("error", uerr.msg));
            j->discard_db = true;
        }
    }
    fclose(spill);
    return st;
}

/* ---- the task ------------------------------------------------------------------------ */

static json_t *summary(const imp_job *j) {
    json_t *r = json_object();
    json_object_set_new(r, "job_id", json_integer(j->id));
    json_object_set_new(r, "flow_type", json_string(k_flow[j->flow]));
    json_object_set_new(r, "status", json_string(k_state[j->state]));
    json_object_set_new(r, "rows_read", json_integer(j->rows_read));
    json_object_set_new(r, "rows_staged", json_integer(j->rows_staged));
    json_object_set_new(r, "rows_already_staged", json_integer(j->rows_skipped));
    json_object_set_new(r, "total_rows", json_integer(j->counts.total));
    json_object_set_new(r, "ready_rows", json_integer(j->counts.ready));
    json_object_set_new(r, "issue_rows", json_integer(j->counts.issue));
    json_object_set_new(r, "discarded_rows", json_integer(j->counts.discarded));
    json_object_set_new(r, "imported_rows", json_integer(j->counts.imported));
    json_object_set_new(r, "contacts_created", json_integer(j->contacts_created));
    json_object_set_new(r, "issues_open", json_integer(j->issues_open));
    json_object_set_new(r, "issues_resolved", json_integer(j->issues_resolved));
    return r;
}

static bool parse_job_id(const task_ctx *c, imp_job *j) {
    json_t *v = json_object_get(c->kwargs, "job_id");
    if (!v)
        v = json_array_get(c->args, 0);
    long long id = 0;
    if (json_is_integer(v)) {
        id = (long long)json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        if (*s < '0' || *s > '9')
            return false;
        id = strtoll(s, &end, 10);
        if (errno || *end)
            return false;
    } else {
        return false;
    }
    if (id <= 0)
        return false;
    j->id = id;
    snprintf(j->id_s, sizeof j->id_s, "%lld", id);
    return true;
}

static const task_def k_imports;

/* A failed pass: retry transient errors (the job stays PROCESSING); otherwise, and on the
 * last retry, the job becomes FAILED with the reason and the task fails. */
static void fail_pass(PGconn *db, imp_job *j, const task_ctx *c, const cel_error *err,
                      task_outcome *out) {
    db_rollback(db, NULL);
    bool last = k_imports.max_retries >= 0 && c->retries >= k_imports.max_retries;
    if (cel_status_transient(err->code) && !last) {
        LOG(LOG_WARNING, "imports.retrying", LF_I("job_id", j->id),
            LF_S("flow_type", k_flow[j->flow]), LF_S("error", err->msg));
        task_retry(out, -1, err->code == CEL_ETIMEOUT ? "TimeoutError" : "ConnectionError",
                   "builtins", "%s", err->msg);
        return;
    }
    if (j->state == JOB_PROCESSING) {
        cel_error ferr = {0};
        if (job_set_state(db, j, JOB_FAILED, err->msg, &ferr) != CEL_OK)
            LOG(LOG_ERROR, "imports.mark_failed_failed", LF_I("job_id", j->id),
                LF_S("error", ferr.msg));
    }
    LOG(LOG_ERROR, "imports.failed", LF_I("job_id", j->id), LF_S("flow_type", k_flow[j->flow]),
        LF_S("error", err->msg));
    if (err->code == CEL_ECONFLICT || err->code == CEL_ECONFIG)
        task_fail(out, err->code == CEL_ECONFIG ? "RuntimeError" : "ValueError", "builtins", "%s",
                  err->msg);
    else
        task_fail_from_error(out, err);
}

static void process_job(const task_ctx *c, task_outcome *out) {
    imp_job j;
    memset(&j, 0, sizeof j);
    if (!parse_job_id(c, &j)) {
        task_fail(out, "TypeError", "builtins",
                  "imports.process_job(job_id) needs a positive integer job id");
        return;
    }
    cel_error err = {0};
    PGconn *db = NULL;
    s3_client *s3 = NULL;
    cel_status st = svc_db(&db, &err);
    if (st != CEL_OK) {
        if (cel_status_transient(st))
            task_retry(out, -1, "ConnectionError", "builtins", "%s", err.msg);
        else
            task_fail_from_error(out, &err);
        return;
    }
    /* Local buffers for the million-row temporary tables of a pass. PostgreSQL accepts this
     * only before the session's first temporary table; later (the connection is reused
     * across tasks) it is an error that changes nothing, and is ignored. */
    if (db_exec(db, "SET temp_buffers = '128MB'", NULL) != CEL_OK)
        LOG(LOG_DEBUG, "imports.temp_buffers_kept", LF_I("job_id", j.id));
    char lock_key[64];
    snprintf(lock_key, sizeof lock_key, "imports.process_job:%lld", j.id);
    char lock_num[32];
    snprintf(lock_num, sizeof lock_num, "%lld", (long long)db_lock_key(lock_key));
    const char *lp[1] = {lock_num};
    PGresult *lr = NULL;
    if ((st = one_row(db, "SELECT pg_try_advisory_lock($1::bigint)", 1, lp, &lr, &err)) != CEL_OK) {
        fail_pass(db, &j, c, &err, out);
        return;
    }
    bool locked = PQgetvalue(lr, 0, 0)[0] == 't';
    PQclear(lr);
    if (!locked) {
        /* Another delivery holds the job, or the session of a killed child has not ended
         * yet (PostgreSQL notices the lost client when its statement finishes): back off
         * (2 s doubling up to 60 s; 20 retries cover a quarter of an hour). */
        LOG(LOG_INFO, "imports.busy", LF_I("job_id", j.id), LF_I("retries", c->retries));
        task_retry(out, -1, "RuntimeError", "builtins",
                   "imports job %lld is being processed by another delivery; retrying", j.id);
        return;
    }
    if ((st = job_load(db, &j, &err)) != CEL_OK) {
        if (st == CEL_ENOTFOUND)
            task_fail(out, "LookupError", "builtins", "%s", err.msg);
        else
            fail_pass(db, &j, c, &err, out);
        goto done;
    }
    if (j.state == JOB_COMPLETED) {
        cel_error cerr = {0};
        const char *p[1] = {j.id_s};
        PGresult *r = NULL;
        if (one_row(db,
                    "SELECT total_rows, ready_rows, issue_rows, discarded_rows, imported_rows "
                    "FROM imports.job WHERE id = $1",
                    1, p, &r, &cerr) == CEL_OK) {
            j.counts = (imp_counts){col_ll(r, 0, 0), col_ll(r, 0, 1), col_ll(r, 0, 2),
                                    col_ll(r, 0, 3), col_ll(r, 0, 4)};
            PQclear(r);
        }
        LOG(LOG_INFO, "imports.already_completed", LF_I("job_id", j.id),
            LF_S("flow_type", k_flow[j.flow]));
        task_succeed(out, summary(&j));
        goto done;
    }
    LOG(LOG_INFO, "imports.start", LF_S("task_id", c->id), LF_I("job_id", j.id),
        LF_S("flow_type", k_flow[j.flow]), LF_S("status", k_state[j.state]),
        LF_I("staging_rows", j.staged_before));
    if ((st = job_set_state(db, &j, JOB_PROCESSING, NULL, &err)) != CEL_OK) {
        fail_pass(db, &j, c, &err, out);
        goto done;
    }
    if (j.flow == FLOW_INITIAL) {
        if ((st = svc_s3(&s3, &err)) != CEL_OK || (st = stage_file(db, s3, &j, &err)) != CEL_OK) {
            fail_pass(db, &j, c, &err, out);
            goto done;
        }
    }
    if ((st = validate_and_finish(db, &j, &err)) != CEL_OK) {
        fail_pass(db, &j, c, &err, out);
        goto done;
    }
    LOG(LOG_INFO, "imports.finished", LF_S("task_id", c->id), LF_I("job_id", j.id),
        LF_S("flow_type", k_flow[j.flow]), LF_S("status", k_state[j.state]),
        LF_I("total_rows", j.counts.total), LF_I("rows_staged", j.rows_staged),
        LF_I("rows_already_staged", j.rows_skipped), LF_I("issues_open", j.issues_open),
        LF_I("contacts_created", j.contacts_created));
    task_succeed(out, summary(&j));
done:
    if (PQstatus(db) == CONNECTION_OK) {
        cel_error uerr = {0};
        db_rollback(db, NULL);
        if (db_session_unlock(db, lock_key, &uerr) != CEL_OK) {
            LOG(LOG_WARNING, "imports.unlock_failed", LF_I("job_id", j.id),
                LF_S("error", uerr.msg));
            j.discard_db = true;
        }
    }
    if (j.discard_db)
        svc_db_discard(); /* closing the session releases its advisory locks */
}

static const task_def k_imports = {.name = "imports.process_job",
                                   .fn = process_job,
                                   .max_retries = 20,
                                   .default_retry_delay = 2,
                                   .backoff_max = 60};

void task_imports_register(void) {
    task_register(&k_imports);
}
