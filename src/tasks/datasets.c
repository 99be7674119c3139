/*
 * datasets.c: task `datasets.process_dataset(dataset_id, job_id, force=False)`, the worker
 * half of seed 002: an uploaded dataset (S3 object named by a `datasets` row) becomes a
 * report (report.json + report.html in the reports bucket, a `reports` row), with the
 * job's progress and state kept in `jobs` for pollers.
 *
 * Flow (one job, serialized by a session advisory lock on the dataset id, held from before
 * the job row is read until after the last write, so two deliveries of the same job, or two
 * jobs of one dataset, never run at once; the loser retries later without touching the job):
 *   read job + dataset + existing report; already done (job success, or dataset done with a
 *   report) and not force -> return the stored result without reprocessing;
 *   -> started, progress 5, dataset processing;
 *   stream the object through the reader into the quality engine (the one dq.process_s3_object
 *   uses, include/celeriac/quality.h, with dataset_report on) -> progress 25;
 *   statistics part of the report -> 60; anomalies part (duplicates, IQR outliers) -> 85;
 *   PUT report.html then report.json; ONE transaction: upsert `reports`, dataset done with
 *   processed_at and row_count, job success at 100 with finished_at.
 * The engine computes every statistic in the same single pass that parses the file (bounded
 * memory, no second statistics implementation), so 25 is recorded after that pass and 60 and
 * 85 as the report's two parts are derived from the finished engine: the milestones mark
 * the seed's stages, each its own committed UPDATE, not separate passes over the data.
 *
 * Job states follow one state machine (ds_move): queued -> started -> (retrying) -> success |
 * failure, every move one committed transaction and one log line. Transient errors (S3/DB
 * connection, timeouts, the object changing mid-read) -> retrying + Celery retry with the
 * task's backoff; past max_retries, and for everything else (parse errors, not a list of
 * objects, unsupported format or encoding, missing object), fail fast: job failure, dataset
 * failed, `error` in both, a FAILURE result. Progress never goes backwards within a run (a
 * retry resumes from the recorded value); a forced or failed job starts again from 5.
 *
 * Not here: creating datasets/jobs or enqueueing (the seed's API), statistics (quality
 * engine), Parquet decoding (the reader's), deleting stale report objects.
 */
#include "celeriac/quality.h"
#include "celeriac/reader.h"
#include "db/db.h"
#include "formats/utf8.h"
#include "s3/s3.h"
#include "tasks/services.h"
#include "tasks/task.h"
#include "util/dbuf.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds of what we copy out of the dataset row and render. */
#define DS_NAME_MAX 512           /* datasets.name / original_filename in the report (truncated) */
#define DS_CTYPE_MAX 256          /* content_type (longer: treated as unknown) */
#define DS_BUCKET_MAX 256         /* bucket names are <= 63 bytes in S3 */
#define DS_HTML_MAX (16u << 20)   /* rendered report.html */
#define DS_REPORT_MAX (64u << 20) /* serialized report.json */
#define DS_ERROR_MAX 1024         /* error text stored in jobs/datasets */
#define DS_REPORTS_BUCKET "reports" /* seed 002 default for S3_BUCKET_REPORTS */

static void process_dataset(const task_ctx *c, task_outcome *out);

static const task_def k_datasets = {.name = "datasets.process_dataset",
                                    .fn = process_dataset,
                                    .max_retries = 6,
                                    .default_retry_delay = 2,
                                    .backoff_max = 60};

/* ---------------------------------------------------------------- job state machine */

typedef enum {
    DS_QUEUED = 0,
    DS_STARTED,
    DS_RETRYING,
    DS_SUCCESS,
    DS_FAILURE,
    DS_NSTATES
} ds_state;

static const char *const k_state_names[DS_NSTATES] = {"queued", "started", "retrying", "success",
                                                      "failure"};

/* Allowed moves [from][to]. started -> started is a progress milestone (or a redelivery of a
 * job whose worker died); failure -> started re-runs a failed job; success -> started is a
 * forced re-run (or one whose report row is gone: the "already done" path returns before);
 * any unfinished or failed job -> success marks a job whose dataset was already done (by
 * another job) without reprocessing. Nothing leaves success except a new run. */
static const bool k_moves[DS_NSTATES][DS_NSTATES] = {
    /*             queued started retrying success failure */
    [DS_QUEUED] = {false, true, true, true, true},
    [DS_STARTED] = {false, true, true, true, true},
    [DS_RETRYING] = {false, true, true, true, true},
    [DS_SUCCESS] = {false, true, false, false, false},
    [DS_FAILURE] = {false, true, false, true, true},
};

typedef struct ds_job {
    const task_ctx *ctx;
    char job_id[37], dataset_id[37]; /* canonical lowercase UUIDs */
    bool force;
    PGconn *db;    /* borrowed from services */
    s3_client *s3; /* borrowed from services */
    char lock_key[80];
    bool locked;    /* holds the session advisory lock */
    bool loaded;    /* the job row was read: failures can be recorded on it */
    bool running;   /* this delivery moved the job to started (milestones follow) */
    ds_state state; /* as last read or written */
    int progress;
    /* the dataset row */
    char name[DS_NAME_MAX + 1];
    char original_filename[DS_NAME_MAX + 1];
    char content_type[DS_CTYPE_MAX + 1];
    char status[16];
    char upload_bucket[DS_BUCKET_MAX + 1];
    char upload_key[S3_MAX_KEY_BYTES + 1];
    char row_count[24];
    /* the existing report row, when has_report */
    bool has_report;
    char report_bucket[DS_BUCKET_MAX + 1];
    char report_key[S3_MAX_KEY_BYTES + 1];
    char report_etag[128];
    /* this run */
    char reports_bucket[DS_BUCKET_MAX + 1];
    char json_key[S3_MAX_KEY_BYTES + 1], html_key[S3_MAX_KEY_BYTES + 1];
    char encoding[32]; /* from the content type's charset, "" = reader default */
    s3_object_info info;
    cel_format format;
    uint64_t rows;
    char json_etag[128];
} ds_job;

typedef cel_status (*ds_extra_fn)(ds_job *j, void *ud, cel_error *err);

/* Runs one statement, discarding its rows. */
static cel_status ds_exec(PGconn *db, const char *sql, int n, const char *const *p,
                          cel_error *err) {
    PGresult *r = NULL;
    cel_status st = db_query_params(db, sql, n, p, &r, err);
    PQclear(r);
    return st;
}

static cel_status ds_parse_state(const char *s, ds_state *out, cel_error *err) {
    for (int i = 0; i < DS_NSTATES; i++)
        if (strcmp(s, k_state_names[i]) == 0) {
            *out = (ds_state)i;
            return CEL_OK;
        }
    return cel_fail(err, CEL_EDB, "jobs.state '%.32s' is not one of the seed's states", s);
}

/*
 * The one place a job changes state or progress: checks the move, then in ONE committed
 * transaction runs extra (the dataset/report side of the move, may be NULL) and the job's
 * UPDATE, and logs the move. progress: the milestone for started (never lowered unless the
 * run restarts), ignored otherwise. error: stored for retrying/failure. On success j->state
 * and j->progress follow. Returns CEL_OK, CEL_EINTERNAL for a move the machine forbids, or
 * the database's error (the transaction is rolled back).
 */
static cel_status ds_move(ds_job *j, ds_state to, int progress, const char *error,
                          ds_extra_fn extra, void *ud, cel_error *err) {
    ds_state from = j->state;
    if (!k_moves[from][to])
        return cel_fail(err, CEL_EINTERNAL, "job %s: invalid state change %s -> %s", j->job_id,
                        k_state_names[from], k_state_names[to]);
    /* The first move of a run: afresh (progress 5, new started_at) when forced or when the
     * job had finished; a retry or a redelivery of an unfinished job keeps its progress. */
    bool begin = to == DS_STARTED && !j->running;
    bool restart = begin && (j->force || from == DS_SUCCESS || from == DS_FAILURE);
    char prog[16];
    snprintf(prog, sizeof prog, "%d", progress);
    cel_status st = CEL_OK;
    if (extra && (st = db_begin(j->db, err)) != CEL_OK)
        return st;
    if (extra && (st = extra(j, ud, err)) != CEL_OK)
        goto rollback;
    switch (to) {
    case DS_STARTED: {
        if (!begin) { /* a milestone */
            const char *p[2] = {j->job_id, prog};
            st = ds_exec(j->db,
                         "UPDATE jobs SET progress = GREATEST(progress, $2::int) WHERE id = $1", 2,
                         p, err);
            break;
        }
        const char *p[4] = {j->job_id, prog, restart ? "true" : "false", j->ctx->id};
        st = ds_exec(j->db,
                     "UPDATE jobs SET state = 'started', "
                     "progress = CASE WHEN $3::bool THEN $2::int ELSE GREATEST(progress, $2::int) "
                     "END, started_at = CASE WHEN $3::bool OR started_at IS NULL THEN now() "
                     "ELSE started_at END, finished_at = NULL, error = NULL, "
                     "celery_task_id = COALESCE(celery_task_id, $4) WHERE id = $1",
                     4, p, err);
        break;
    }
    case DS_RETRYING: {
        const char *p[2] = {j->job_id, error};
        st = ds_exec(j->db, "UPDATE jobs SET state = 'retrying', error = $2 WHERE id = $1", 2, p,
                     err);
        break;
    }
    case DS_SUCCESS: {
        const char *p[1] = {j->job_id};
        st = ds_exec(j->db,
                     "UPDATE jobs SET state = 'success', progress = 100, finished_at = now(), "
                     "error = NULL WHERE id = $1",
                     1, p, err);
        break;
    }
    case DS_FAILURE: {
        const char *p[2] = {j->job_id, error};
        st = ds_exec(j->db,
                     "UPDATE jobs SET state = 'failure', finished_at = now(), error = $2 "
                     "WHERE id = $1",
                     2, p, err);
        break;
    }
    default:
        st = cel_fail(err, CEL_EINTERNAL, "job %s: no UPDATE for state %s", j->job_id,
                      k_state_names[to]);
        break;
    }
    if (st != CEL_OK)
        goto rollback;
    if (extra && (st = db_commit(j->db, err)) != CEL_OK)
        return st;
    if (to == DS_SUCCESS)
        j->progress = 100;
    else if (to == DS_STARTED)
        j->progress = restart || progress > j->progress ? progress : j->progress;
    if (begin)
        j->running = true;
    j->state = to;
    LOG(to == DS_RETRYING || to == DS_FAILURE ? LOG_WARNING : LOG_INFO, "datasets.job_state",
        LF_S("task_id", j->ctx->id), LF_S("job_id", j->job_id), LF_S("dataset_id", j->dataset_id),
        LF_S("from", k_state_names[from]), LF_S("to", k_state_names[to]),
        LF_I("progress", j->progress), LF_S("error", error ? error : ""));
    return CEL_OK;
rollback:
    if (extra)
        db_rollback(j->db, NULL);
    return st;
}

/* A progress milestone of the running job (its own committed UPDATE). */
static cel_status ds_milestone(ds_job *j, int progress, cel_error *err) {
    return ds_move(j, DS_STARTED, progress, NULL, NULL, NULL, err);
}

static cel_status ds_dataset_processing(ds_job *j, void *ud, cel_error *err) {
    (void)ud;
    const char *p[1] = {j->dataset_id};
    return ds_exec(j->db, "UPDATE datasets SET status = 'processing', error = NULL WHERE id = $1",
                   1, p, err);
}

static cel_status ds_dataset_failed(ds_job *j, void *ud, cel_error *err) {
    const char *p[2] = {j->dataset_id, (const char *)ud};
    return ds_exec(j->db, "UPDATE datasets SET status = 'failed', error = $2 WHERE id = $1", 2, p,
                   err);
}

typedef struct ds_final {
    const char *report_json; /* serialized report */
} ds_final;

/* The final transaction's dataset/report side: upsert reports, dataset done. */
static cel_status ds_store_report(ds_job *j, void *ud, cel_error *err) {
    const ds_final *f = ud;
    const char *rp[5] = {j->dataset_id, f->report_json, j->reports_bucket, j->json_key,
                         j->json_etag[0] ? j->json_etag : NULL};
    cel_status st = ds_exec(
        j->db,
        "INSERT INTO reports (dataset_id, report_json, report_bucket, report_key, report_etag) "
        "VALUES ($1, $2::jsonb, $3, $4, $5) ON CONFLICT (dataset_id) DO UPDATE SET "
        "report_json = EXCLUDED.report_json, report_bucket = EXCLUDED.report_bucket, "
        "report_key = EXCLUDED.report_key, report_etag = EXCLUDED.report_etag",
        5, rp, err);
    if (st != CEL_OK)
        return st;
    char rows[24];
    snprintf(rows, sizeof rows, "%llu", (unsigned long long)j->rows);
    const char *dp[2] = {j->dataset_id, rows};
    return ds_exec(
        j->db,
        "UPDATE datasets SET status = 'done', processed_at = now(), row_count = $2::int, "
        "error = NULL WHERE id = $1",
        2, dp, err);
}

/* ---------------------------------------------------------------- arguments, rows */

/* Canonical lowercase 8-4-4-4-12 form of a UUID given with or without dashes/braces. */
static bool ds_canonical_uuid(const char *s, char out[37]) {
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n > 40)
        return false;
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        s++;
        n -= 2;
    }
    char hex[33];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '-')
            continue;
        if (!isxdigit((unsigned char)ch) || k == 32)
            return false;
        hex[k++] = (char)tolower((unsigned char)ch);
    }
    if (k != 32)
        return false;
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return true;
}

static const char *arg_str(const task_ctx *c, const char *key, size_t pos) {
    json_t *v = json_object_get(c->kwargs, key);
    if (!v)
        v = json_array_get(c->args, pos);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool arg_force(const task_ctx *c) {
    json_t *v = json_object_get(c->kwargs, "force");
    if (!v)
        v = json_array_get(c->args, 2);
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0;
    }
    return false;
}

/* Copies a column into a fixed buffer; CEL_ELIMIT naming it when it does not fit. */
static cel_status ds_copy(const PGresult *r, int col, char *dst, size_t dstsz, const char *what,
                          cel_error *err) {
    dst[0] = '\0';
    if (PQgetisnull(r, 0, col))
        return CEL_OK;
    const char *v = PQgetvalue(r, 0, col);
    size_t n = (size_t)PQgetlength(r, 0, col);
    if (n >= dstsz)
        return cel_fail(err, CEL_ELIMIT, "%s is %zu bytes, more than the %zu this task accepts",
                        what, n, dstsz - 1);
    memcpy(dst, v, n);
    dst[n] = '\0';
    return CEL_OK;
}

/* Like ds_copy, but text for display only: truncated on a UTF-8 boundary. */
static void ds_copy_display(const PGresult *r, int col, char *dst, size_t dstsz) {
    snprintf(dst, dstsz, "%s", PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
    dq_truncate_utf8(dst, dstsz - 1);
}

/* Reads the job with its dataset and report. CEL_ENOTFOUND when there is no such job,
 * CEL_EINVAL when it belongs to another dataset. */
static cel_status ds_load(ds_job *j, cel_error *err) {
    const char *p[1] = {j->job_id};
    PGresult *r = NULL;
    cel_status st = db_query_params(
        j->db,
        "SELECT j.dataset_id::text, j.state, j.progress::text, d.name, d.original_filename, "
        "d.content_type, d.status, d.upload_bucket, d.upload_key, d.row_count::text, "
        "r.id IS NOT NULL, r.report_bucket, r.report_key, r.report_etag "
        "FROM jobs j JOIN datasets d ON d.id = j.dataset_id "
        "LEFT JOIN reports r ON r.dataset_id = d.id WHERE j.id = $1",
        1, p, &r, err);
    if (st != CEL_OK)
        return st;
    if (PQntuples(r) != 1) {
        st = cel_fail(err, CEL_ENOTFOUND, "no job %s in table jobs", j->job_id);
        goto out;
    }
    if (strcmp(PQgetvalue(r, 0, 0), j->dataset_id) != 0) {
        st = cel_fail(err, CEL_EINVAL, "job %s belongs to dataset %s, not %s", j->job_id,
                      PQgetvalue(r, 0, 0), j->dataset_id);
        goto out;
    }
    if ((st = ds_parse_state(PQgetvalue(r, 0, 1), &j->state, err)) != CEL_OK)
        goto out;
    j->progress = (int)strtol(PQgetvalue(r, 0, 2), NULL, 10);
    j->loaded = true;
    ds_copy_display(r, 3, j->name, sizeof j->name);
    ds_copy_display(r, 4, j->original_filename, sizeof j->original_filename);
    if (PQgetlength(r, 0, 5) <= DS_CTYPE_MAX)
        snprintf(j->content_type, sizeof j->content_type, "%s", PQgetvalue(r, 0, 5));
    snprintf(j->status, sizeof j->status, "%s", PQgetvalue(r, 0, 6));
    if ((st = ds_copy(r, 7, j->upload_bucket, sizeof j->upload_bucket, "datasets.upload_bucket",
                      err)) != CEL_OK ||
        (st = ds_copy(r, 8, j->upload_key, sizeof j->upload_key, "datasets.upload_key", err)) !=
            CEL_OK)
        goto out;
    ds_copy_display(r, 9, j->row_count, sizeof j->row_count);
    j->has_report = strcmp(PQgetvalue(r, 0, 10), "t") == 0;
    if (j->has_report &&
        ((st = ds_copy(r, 11, j->report_bucket, sizeof j->report_bucket, "reports.report_bucket",
                       err)) != CEL_OK ||
         (st = ds_copy(r, 12, j->report_key, sizeof j->report_key, "reports.report_key", err)) !=
             CEL_OK ||
         (st = ds_copy(r, 13, j->report_etag, sizeof j->report_etag, "reports.report_etag", err)) !=
             CEL_OK))
        goto out;
out:
    PQclear(r);
    return st;
}

/* ---------------------------------------------------------------- the advisory lock */

/* pg_try_advisory_lock on this child's session: held across the whole run (the progress
 * updates are separate transactions, so a transaction-scoped lock could not span them).
 * CEL_ECONFLICT when another session holds it. A dropped connection releases it. */
static cel_status ds_lock(ds_job *j, cel_error *err) {
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)db_lock_key(j->lock_key));
    const char *p[1] = {key};
    PGresult *r = NULL;
    cel_status st =
        db_query_params(j->db, "SELECT pg_try_advisory_lock($1::bigint)", 1, p, &r, err);
    if (st != CEL_OK)
        return st;
    bool got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!got)
        return cel_fail(err, CEL_ECONFLICT,
                        "dataset %s is being processed by another delivery (lock '%s' held)",
                        j->dataset_id, j->lock_key);
    j->locked = true;
    return CEL_OK;
}

/* Releases the lock; on any trouble drops the connection, which releases it too. */
static void ds_unlock(ds_job *j) {
    if (!j->locked)
        return;
    j->locked = false;
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)db_lock_key(j->lock_key));
    const char *p[1] = {key};
    PGresult *r = NULL;
    cel_error err = {0};
    if (j->db && PQstatus(j->db) == CONNECTION_OK && PQtransactionStatus(j->db) == PQTRANS_IDLE &&
        db_query_params(j->db, "SELECT pg_advisory_unlock($1::bigint)", 1, p, &r, &err) == CEL_OK &&
        PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
        PQclear(r);
        return;
    }
    PQclear(r);
    LOG(LOG_WARNING, "datasets.unlock_failed", LF_S("dataset_id", j->dataset_id),
        LF_S("error", err.msg[0] ? err.msg : "connection not usable; dropping it"));
    svc_db_discard();
    j->db = NULL;
}

/* ---------------------------------------------------------------- parsing */

static bool ends_with_nocase(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/*
 * Reader options from the row: the content type decides CSV vs JSON vs NDJSON vs Parquet
 * (application/json means a list of objects, as the seed says, unless the file is named
 * .ndjson/.jsonl); an unknown or generic type (application/octet-stream, text/plain) leaves
 * the format to the reader's detection (extension of the key, then content sniffing). A
 * charset parameter becomes the reader's encoding (the reader rejects ones it lacks).
 * Media types: RFC 6838; parameters: RFC 9110 section 8.3.1.
 */
static void ds_reader_opts(ds_job *j, cel_reader_opts *ro) {
    memset(ro, 0, sizeof *ro);
    ro->header = -1; /* 0 would mean "no header" */
    char media[DS_CTYPE_MAX + 1];
    size_t n = strcspn(j->content_type, ";");
    snprintf(media, sizeof media, "%.*s", (int)n, j->content_type);
    while (n && (media[n - 1] == ' ' || media[n - 1] == '\t'))
        media[--n] = '\0';
    const char *m = media + strspn(media, " \t");
    const char *cs = strchr(j->content_type, ';');
    while (cs) {
        cs++;
        cs += strspn(cs, " \t");
        if (strncasecmp(cs, "charset=", 8) == 0) {
            const char *v = cs + 8;
            size_t vn = strcspn(v, "; \t");
            if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
                v++;
                vn -= 2;
            }
            snprintf(j->encoding, sizeof j->encoding, "%.*s", (int)vn, v);
            break;
        }
        cs = strchr(cs, ';');
    }
    const char *fname = j->original_filename[0] ? j->original_filename : j->upload_key;
    bool nd_name = ends_with_nocase(fname, ".ndjson") || ends_with_nocase(fname, ".jsonl");
    if (strcasecmp(m, "text/csv") == 0 || strcasecmp(m, "application/csv") == 0 ||
        strcasecmp(m, "text/x-csv") == 0 || strcasecmp(m, "text/tab-separated-values") == 0)
        ro->format = CEL_FMT_CSV;
    else if (strcasecmp(m, "application/x-ndjson") == 0 ||
             strcasecmp(m, "application/ndjson") == 0 || strcasecmp(m, "application/jsonl") == 0 ||
             strcasecmp(m, "application/x-jsonlines") == 0 ||
             strcasecmp(m, "application/jsonlines") == 0)
        ro->format = CEL_FMT_NDJSON;
    else if (strcasecmp(m, "application/json") == 0 || strcasecmp(m, "text/json") == 0)
        ro->format = nd_name ? CEL_FMT_NDJSON : CEL_FMT_JSON;
    else if (strcasecmp(m, "application/vnd.apache.parquet") == 0 ||
             strcasecmp(m, "application/x-parquet") == 0 ||
             strcasecmp(m, "application/parquet") == 0)
        ro->format = CEL_FMT_PARQUET;
    else
        ro->format = CEL_FMT_AUTO;
    if (j->encoding[0])
        ro->encoding = j->encoding;
    cel_reader_opts_defaults(ro);
}

/*
 * Streams the upload through the reader into a new engine (*eng_out, new). The reader's
 * verdicts on the data (CEL_EPARSE, CEL_EUNSUPPORTED, a reader bound CEL_ELIMIT) are
 * returned as CEL_EPARSE-class failures with a message saying the upload is invalid; S3
 * errors (CEL_ETRANSIENT, CEL_ECONFLICT when the object changed, CEL_ENOTFOUND ...) and
 * the engine's own failures are returned as they are.
 */
static cel_status ds_parse(ds_job *j, dq_engine **eng_out, cel_error *err) {
    dq_engine *eng = NULL;
    cel_source src;
    bool src_open = false;
    dq_options opts;
    cel_status st = dq_options_from_env(&opts, err);
    if (st != CEL_OK)
        goto out;
    opts.dataset_report = true;
    if ((st = dq_engine_new(NULL, &opts, &eng, err)) != CEL_OK)
        goto out;
    if ((st = s3_source_open(j->s3, j->upload_bucket, j->upload_key, &src, &j->info, err)) !=
        CEL_OK)
        goto out;
    src_open = true;
    cel_reader_opts ro;
    ds_reader_opts(j, &ro);
    cel_error perr;
    if ((st = dq_engine_read(eng, &src, &ro, &j->format, &perr, err)) != CEL_OK)
        goto out;
    if (perr.code != CEL_OK) {
        st = cel_fail(err, perr.code, "invalid %s upload s3://%s/%s: %s",
                      cel_format_name(j->format), j->upload_bucket, j->upload_key, perr.msg);
        goto out;
    }
    if ((st = dq_engine_finish(eng, err)) != CEL_OK)
        goto out;
    j->rows = dq_engine_rows(eng);
    if (j->rows > INT_MAX)
        st = cel_fail(err, CEL_ELIMIT,
                      "%llu rows do not fit datasets.row_count (integer, at most %d)",
                      (unsigned long long)j->rows, INT_MAX);
out:
    if (src_open)
        s3_source_close(&src);
    if (st != CEL_OK) {
        dq_engine_free(eng);
        eng = NULL;
    }
    *eng_out = eng;
    return st;
}

/* ---------------------------------------------------------------- the report */

typedef struct jb {
    bool oom;
} jb;

static void put(jb *b, json_t *o, const char *k, json_t *v) {
    if (o == NULL || v == NULL || json_object_set_new(o, k, v) != 0)
        b->oom = true;
}

/* Borrowed value, new reference taken (NULL becomes JSON null). */
static void put_ref(jb *b, json_t *o, const char *k, json_t *v) {
    put(b, o, k, v ? json_incref(v) : json_null());
}

/* The report's head: who, what, when. */
static json_t *ds_report_head(const ds_job *j, jb *b) {
    json_t *r = json_object();
    char when[48];
    tu_format_iso8601(tu_now(), when, sizeof when);
    put(b, r, "report_version", json_integer(1));
    put(b, r, "dataset_id", json_string(j->dataset_id));
    put(b, r, "job_id", json_string(j->job_id));
    put(b, r, "dataset_name", json_string(j->name));
    json_t *s = json_object();
    put(b, s, "bucket", json_string(j->upload_bucket));
    put(b, s, "key", json_string(j->upload_key));
    put(b, s, "etag", json_string(j->info.etag));
    put(b, s, "size_bytes", json_integer((json_int_t)j->info.size));
    put(b, s, "original_filename", json_string(j->original_filename));
    put(b, s, "content_type", json_string(j->content_type));
    put(b, s, "format", json_string(cel_format_name(j->format)));
    put(b, r, "source", s);
    put(b, r, "generated_at", json_string(when));
    put(b, r, "generator", json_string("celeriac " CELERIAC_VERSION));
    return r;
}

/* Statistics part (milestone 60) from the engine's dataset report d (borrowed). */
static void ds_report_stats(json_t *r, json_t *d, jb *b) {
    put_ref(b, r, "row_count", json_object_get(d, "row_count"));
    put_ref(b, r, "column_count", json_object_get(d, "column_count"));
    put_ref(b, r, "columns", json_object_get(d, "columns"));
    put_ref(b, r, "null_counts", json_object_get(d, "null_counts"));
    put_ref(b, r, "numeric", json_object_get(d, "numeric"));
}

/* Anomalies part (milestone 85): duplicate rows and IQR outliers per numeric field. Row
 * numbers are 1-based data rows (the CSV header is not a row). */
static void ds_report_anomalies(json_t *r, json_t *d, jb *b) {
    json_t *a = json_object();
    put_ref(b, a, "duplicates", json_object_get(d, "duplicates"));
    put_ref(b, a, "outliers", json_object_get(d, "outliers"));
    put(b, a, "outlier_rule",
        json_string("value < q1 - 1.5*iqr or value > q3 + 1.5*iqr; "
                    "q1/q3 by linear interpolation (pandas' default)"));
    put(b, r, "anomalies", a);
}

/* ---------------------------------------------------------------- report.html */

static cel_status html_text(dbuf *o, const char *s) {
    cel_status st = CEL_OK;
    for (const char *p = s; *p && st == CEL_OK; p++) {
        switch (*p) {
        case '&':
            st = dbuf_append_str(o, "&amp;");
            break;
        case '<':
            st = dbuf_append_str(o, "&lt;");
            break;
        case '>':
            st = dbuf_append_str(o, "&gt;");
            break;
        case '"':
            st = dbuf_append_str(o, "&quot;");
            break;
        case '\'':
            st = dbuf_append_str(o, "&#39;");
            break;
        default:
            st = dbuf_append(o, p, 1);
            break;
        }
    }
    return st;
}

/* A JSON number as text: integers exactly, reals in the shortest of %.15g..%.17g that
 * reads back to the same double (so "0.1", not "0.10000000000000001"); null as "–". */
static void num_text(const json_t *v, char *out, size_t n) {
    if (json_is_integer(v)) {
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
        return;
    }
    if (!json_is_real(v)) {
        snprintf(out, n, "\xe2\x80\x93"); /* en dash */
        return;
    }
    double d = json_real_value(v);
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static cel_status html_num(dbuf *o, const json_t *v) {
    char t[64];
    num_text(v, t, sizeof t);
    return dbuf_append_str(o, t);
}

#define H(call)                                                                                    \
    do {                                                                                           \
        if ((st = (call)) != CEL_OK)                                                               \
            goto out;                                                                              \
    } while (0)

/* A one-page rendering of the report (r, borrowed) with the same numbers: summary,
 * one table row per column, duplicate and outlier examples. *out is new (free()). */
static cel_status ds_render_html(const json_t *r, char **out, size_t *len, cel_error *err) {
    dbuf o;
    dbuf_init(&o, DS_HTML_MAX);
    cel_status st = CEL_OK;
    const json_t *src = json_object_get(r, "source"), *an = json_object_get(r, "anomalies");
    const json_t *dups = json_object_get(an, "duplicates"), *outl = json_object_get(an, "outliers");
    const json_t *numeric = json_object_get(r, "numeric"),
                 *nulls = json_object_get(r, "null_counts");
    const char *name = json_string_value(json_object_get(r, "dataset_name"));
    H(dbuf_append_str(&o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                          "<title>Dataset report: "));
    H(html_text(&o, name ? name : ""));
    H(dbuf_append_str(
        &o, "</title>\n<style>body{font-family:sans-serif;margin:2em;color:#222}"
            "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;"
            "padding:.25em .6em;text-align:left}td.n{text-align:right;font-variant-numeric:"
            "tabular-nums}th{background:#f3f3f3}caption{text-align:left;font-weight:bold}"
            "</style></head>\n<body>\n<h1>Dataset report: "));
    H(html_text(&o, name ? name : ""));
    H(dbuf_append_str(&o, "</h1>\n<table id=\"summary\"><caption>Summary</caption>\n"));
    struct {
        const char *label;
        const json_t *v;
    } rows[] = {
        {"Dataset id", json_object_get(r, "dataset_id")},
        {"Job id", json_object_get(r, "job_id")},
        {"Original file", json_object_get(src, "original_filename")},
        {"Content type", json_object_get(src, "content_type")},
        {"Format", json_object_get(src, "format")},
        {"Size (bytes)", json_object_get(src, "size_bytes")},
        {"Rows", json_object_get(r, "row_count")},
        {"Columns", json_object_get(r, "column_count")},
        {"Duplicate rows", json_object_get(dups, "count")},
        {"Generated at", json_object_get(r, "generated_at")},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        H(dbuf_append_str(&o, "<tr><th>"));
        H(html_text(&o, rows[i].label));
        if (json_is_string(rows[i].v)) {
            H(dbuf_append_str(&o, "</th><td>"));
            H(html_text(&o, json_string_value(rows[i].v)));
        } else {
            H(dbuf_append_str(&o, "</th><td class=\"n\">"));
            H(html_num(&o, rows[i].v));
        }
        H(dbuf_append_str(&o, "</td></tr>\n"));
    }
    H(dbuf_printf(&o, "<tr><th>Source</th><td>s3://"));
    H(html_text(&o, json_string_value(json_object_get(src, "bucket"))
                        ? json_string_value(json_object_get(src, "bucket"))
                        : ""));
    H(dbuf_append_str(&o, "/"));
    H(html_text(&o, json_string_value(json_object_get(src, "key"))
                        ? json_string_value(json_object_get(src, "key"))
                        : ""));
    H(dbuf_append_str(&o, "</td></tr>\n</table>\n"));

    H(dbuf_append_str(&o, "<table id=\"columns\"><caption>Columns</caption>\n<tr><th>Column</th>"
                          "<th>Nulls</th><th>Min</th><th>Max</th><th>Mean</th><th>Outliers</th>"
                          "<th>Lower fence</th><th>Upper fence</th></tr>\n"));
    size_t i;
    json_t *col;
    json_array_foreach(json_object_get(r, "columns"), i, col) {
        const char *cn = json_string_value(col);
        if (!cn)
            continue;
        const json_t *num = json_object_get(numeric, cn), *ol = json_object_get(outl, cn);
        H(dbuf_append_str(&o, "<tr><td>"));
        H(html_text(&o, cn));
        H(dbuf_append_str(&o, "</td><td class=\"n\">"));
        H(html_num(&o, json_object_get(nulls, cn)));
        const char *keys[3] = {"min", "max", "mean"};
        for (int k = 0; k < 3; k++) {
            H(dbuf_append_str(&o, "</td><td class=\"n\">"));
            H(html_num(&o, num ? json_object_get(num, keys[k]) : NULL));
        }
        const char *okeys[3] = {"count", "lower_fence", "upper_fence"};
        for (int k = 0; k < 3; k++) {
            H(dbuf_append_str(&o, "</td><td class=\"n\">"));
            H(html_num(&o, ol ? json_object_get(ol, okeys[k]) : NULL));
        }
        H(dbuf_append_str(&o, "</td></tr>\n"));
    }
    H(dbuf_append_str(&o, "</table>\n<h2>Duplicate rows</h2>\n<p>"));
    H(html_num(&o, json_object_get(dups, "count")));
    H(dbuf_append_str(&o, " duplicate row(s) (rows equal to an earlier row)."));
    const json_t *ex = json_object_get(dups, "examples");
    if (json_array_size(ex)) {
        H(dbuf_append_str(&o, " Examples (1-based data rows):</p>\n<ul>\n"));
        json_t *e;
        json_array_foreach(ex, i, e) {
            H(dbuf_append_str(&o, "<li>row "));
            H(html_num(&o, json_object_get(e, "row")));
            H(dbuf_append_str(&o, " repeats row "));
            H(html_num(&o, json_object_get(e, "duplicate_of")));
            H(dbuf_append_str(&o, "</li>\n"));
        }
        H(dbuf_append_str(&o, "</ul>\n"));
    } else {
        H(dbuf_append_str(&o, "</p>\n"));
    }
    H(dbuf_append_str(&o, "<h2>Outliers (IQR rule)</h2>\n<p>Values below q1 &minus; 1.5&times;IQR "
                          "or above q3 + 1.5&times;IQR; quartiles interpolated linearly.</p>\n"));
    const char *fk;
    json_t *fo;
    json_object_foreach((json_t *)outl, fk, fo) {
        const json_t *fex = json_object_get(fo, "examples");
        if (!json_array_size(fex))
            continue;
        H(dbuf_append_str(&o, "<h3>"));
        H(html_text(&o, fk));
        H(dbuf_append_str(&o, ": "));
        H(html_num(&o, json_object_get(fo, "count")));
        H(dbuf_append_str(&o, " outlier(s)</h3>\n<ul>\n"));
        json_t *e;
        json_array_foreach(fex, i, e) {
            H(dbuf_append_str(&o, "<li>row "));
            H(html_num(&o, json_object_get(e, "row")));
            H(dbuf_append_str(&o, ": "));
            H(html_num(&o, json_object_get(e, "value")));
            H(dbuf_append_str(&o, "</li>\n"));
        }
        H(dbuf_append_str(&o, "</ul>\n"));
    }
    H(dbuf_append_str(&o, "</body></html>\n"));
    *len = o.len;
    *out = dbuf_take(&o);
out:
    if (st != CEL_OK) {
        dbuf_free(&o);
        return cel_fail(err, st, "report.html exceeds %u bytes or out of memory", DS_HTML_MAX);
    }
    return CEL_OK;
}

#undef H

/* ---------------------------------------------------------------- outcomes */

/* Error text safe to store in a text column: valid UTF-8 (invalid bytes become '?'),
 * at most DS_ERROR_MAX bytes. */
static void ds_error_text(const char *msg, char out[DS_ERROR_MAX + 1]) {
    snprintf(out, DS_ERROR_MAX + 1, "%s", msg && *msg ? msg : "unknown error");
    size_t n = strlen(out), at;
    while ((at = u8_invalid_at((const unsigned char *)out, n)) < n)
        out[at] = '?';
    dq_truncate_utf8(out, DS_ERROR_MAX);
}

static bool ds_retryable(cel_status st) {
    return cel_status_transient(st) || st == CEL_ECONFLICT; /* object changed mid-read */
}

static void ds_check_db(ds_job *j) {
    if (j->db && PQstatus(j->db) != CONNECTION_OK) {
        j->locked = false; /* the server released it with the session */
        svc_db_discard();
        j->db = NULL;
    }
}

/* Whether the job's state can be recorded: this delivery holds the lock on a live
 * connection. When the connection was lost mid-run (and the lock with it), reconnects and
 * takes the lock again first; false when either fails (the database is down, or another
 * delivery owns the job by now: then nothing is recorded). */
static bool ds_reattach(ds_job *j) {
    if (j->db)
        return j->locked;
    cel_error e = {0};
    if (svc_db(&j->db, &e) != CEL_OK) {
        j->db = NULL;
        return false;
    }
    if (ds_lock(j, &e) != CEL_OK) {
        ds_check_db(j);
        return false;
    }
    LOG(LOG_INFO, "datasets.reattached", LF_S("job_id", j->job_id),
        LF_S("dataset_id", j->dataset_id));
    return true;
}

/*
 * Turns a failure into the task outcome and the job's record: retryable and attempts
 * left -> job retrying + RETRY; otherwise job failure + dataset failed (error in both,
 * when mark_dataset) + FAILURE. If recording the failure itself hits a transient error
 * and attempts are left, retries instead, so the failure is recorded by a later attempt.
 */
static void ds_fail(ds_job *j, task_outcome *out, const cel_error *cause, bool mark_dataset) {
    const task_ctx *c = j->ctx;
    bool attempts_left = k_datasets.max_retries < 0 || c->retries < k_datasets.max_retries;
    char text[DS_ERROR_MAX + 1];
    ds_error_text(cause->msg[0] ? cause->msg : cel_strerror(cause->code), text);
    ds_check_db(j);
    if (ds_retryable(cause->code) && attempts_left) {
        if (j->loaded && ds_reattach(j)) {
            cel_error merr = {0};
            if (ds_move(j, DS_RETRYING, 0, text, NULL, NULL, &merr) != CEL_OK) {
                LOG(LOG_WARNING, "datasets.record_failed", LF_S("job_id", j->job_id),
                    LF_S("state", "retrying"), LF_S("error", merr.msg));
                ds_check_db(j);
            }
        }
        task_retry(out, -1, cause->code == CEL_ETIMEOUT ? "TimeoutError" : "ConnectionError",
                   "builtins", "%s", text);
        return;
    }
    cel_error final = *cause;
    if (ds_retryable(cause->code)) {
        snprintf(final.msg, sizeof final.msg, "giving up after %d retries: %.900s", c->retries,
                 text);
        ds_error_text(final.msg, text);
    }
    if (j->loaded && ds_reattach(j)) {
        cel_error merr = {0};
        if (ds_move(j, DS_FAILURE, 0, text, mark_dataset ? ds_dataset_failed : NULL, text, &merr) !=
            CEL_OK) {
            LOG(LOG_WARNING, "datasets.record_failed", LF_S("job_id", j->job_id),
                LF_S("state", "failure"), LF_S("error", merr.msg));
            ds_check_db(j);
            if (ds_retryable(merr.code) && attempts_left) {
                task_retry(out, -1, "ConnectionError", "builtins",
                           "could not record the failure (%s): %s", merr.msg, text);
                return;
            }
        }
    }
    task_fail_from_error(out, &final);
}

static json_t *ds_result(const ds_job *j, bool cached) {
    json_t *r = json_object();
    json_object_set_new(r, "dataset_id", json_string(j->dataset_id));
    json_object_set_new(r, "job_id", json_string(j->job_id));
    json_object_set_new(r, "state", json_string(k_state_names[j->state]));
    json_object_set_new(r, "progress", json_integer(j->progress));
    json_object_set_new(r, "cached", json_boolean(cached));
    if (cached) {
        json_object_set_new(r, "row_count",
                            j->row_count[0] ? json_integer(strtoll(j->row_count, NULL, 10))
                                            : json_null());
        json_object_set_new(r, "report_bucket", json_string(j->report_bucket));
        json_object_set_new(r, "report_key", json_string(j->report_key));
        json_object_set_new(r, "report_etag",
                            j->report_etag[0] ? json_string(j->report_etag) : json_null());
    } else {
        json_object_set_new(r, "row_count", json_integer((json_int_t)j->rows));
        json_object_set_new(r, "report_bucket", json_string(j->reports_bucket));
        json_object_set_new(r, "report_key", json_string(j->json_key));
        json_object_set_new(r, "report_etag",
                            j->json_etag[0] ? json_string(j->json_etag) : json_null());
        json_object_set_new(r, "report_html_key", json_string(j->html_key));
        json_object_set_new(r, "format", json_string(cel_format_name(j->format)));
    }
    return r;
}

/* ---------------------------------------------------------------- the task */

static cel_status ds_config(ds_job *j, cel_error *err) {
    const char *b = getenv("S3_BUCKET_REPORTS");
    if (!b || !*b)
        b = DS_REPORTS_BUCKET;
    if (strlen(b) > 63)
        return cel_fail(err, CEL_ECONFIG, "S3_BUCKET_REPORTS is longer than 63 bytes");
    snprintf(j->reports_bucket, sizeof j->reports_bucket, "%s", b);
    snprintf(j->json_key, sizeof j->json_key, "datasets/%s/report/report.json", j->dataset_id);
    snprintf(j->html_key, sizeof j->html_key, "datasets/%s/report/report.html", j->dataset_id);
    snprintf(j->lock_key, sizeof j->lock_key, "datasets.process_dataset:%s", j->dataset_id);
    return CEL_OK;
}

/* From the started job to the final transaction. */
static cel_status ds_run(ds_job *j, cel_error *err) {
    dq_engine *eng = NULL;
    json_t *d = NULL, *report = NULL;
    char *text = NULL, *html = NULL;
    size_t html_len = 0;
    jb b = {false};
    cel_status st = ds_parse(j, &eng, err);
    if (st != CEL_OK)
        goto out;
    LOG(LOG_INFO, "datasets.parsed", LF_S("job_id", j->job_id), LF_S("dataset_id", j->dataset_id),
        LF_S("format", cel_format_name(j->format)), LF_I("rows", j->rows),
        LF_I("bytes", j->info.size));
    if ((st = ds_milestone(j, 25, err)) != CEL_OK)
        goto out;
    if ((st = dq_dataset_report(eng, &d, err)) != CEL_OK)
        goto out;
    report = ds_report_head(j, &b);
    ds_report_stats(report, d, &b);
    if (b.oom) {
        st = cel_fail(err, CEL_ENOMEM, "out of memory building the report");
        goto out;
    }
    if ((st = ds_milestone(j, 60, err)) != CEL_OK)
        goto out;
    ds_report_anomalies(report, d, &b);
    if (b.oom) {
        st = cel_fail(err, CEL_ENOMEM, "out of memory building the report");
        goto out;
    }
    if ((st = ds_milestone(j, 85, err)) != CEL_OK)
        goto out;
    text = json_dumps(report, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    if (!text) {
        st = cel_fail(err, CEL_ENOMEM, "out of memory serializing the report");
        goto out;
    }
    size_t text_len = strlen(text);
    if (text_len > DS_REPORT_MAX) {
        st = cel_fail(err, CEL_ELIMIT, "report.json is %zu bytes, more than %u", text_len,
                      DS_REPORT_MAX);
        goto out;
    }
    if ((st = ds_render_html(report, &html, &html_len, err)) != CEL_OK)
        goto out;
    /* HTML first: a report.json in the bucket implies its rendering is there too. */
    char html_etag[128];
    if ((st = s3_put(j->s3, j->reports_bucket, j->html_key, html, html_len,
                     "text/html; charset=utf-8", html_etag, err)) != CEL_OK ||
        (st = s3_put(j->s3, j->reports_bucket, j->json_key, text, text_len, "application/json",
                     j->json_etag, err)) != CEL_OK)
        goto out;
    ds_final f = {text};
    st = ds_move(j, DS_SUCCESS, 100, NULL, ds_store_report, &f, err);
out:
    free(html);
    free(text);
    json_decref(report);
    json_decref(d);
    dq_engine_free(eng);
    return st;
}

static void process_dataset(const task_ctx *c, task_outcome *out) {
    ds_job j;
    memset(&j, 0, sizeof j);
    j.ctx = c;
    j.force = arg_force(c);
    j.format = CEL_FMT_AUTO;
    cel_error err = {0};
    cel_status st;
    const char *dsid = arg_str(c, "dataset_id", 0), *jid = arg_str(c, "job_id", 1);
    if (!ds_canonical_uuid(dsid, j.dataset_id) || !ds_canonical_uuid(jid, j.job_id)) {
        task_fail(out, "ValueError", "builtins",
                  "datasets.process_dataset(dataset_id, job_id) needs two UUID strings, got "
                  "%.64s and %.64s",
                  dsid ? dsid : "(missing)", jid ? jid : "(missing)");
        return;
    }
    if ((st = ds_config(&j, &err)) != CEL_OK) {
        task_fail_from_error(out, &err);
        return;
    }
    if ((st = svc_db(&j.db, &err)) != CEL_OK) {
        ds_fail(&j, out, &err, false); /* nothing loaded: only retry or fail */
        return;
    }
    if ((st = ds_lock(&j, &err)) != CEL_OK) {
        if (st == CEL_ECONFLICT) {
            /* Another delivery runs this dataset: leave the job alone, look again later
             * (then it is usually done and this delivery returns the stored result). */
            LOG(LOG_INFO, "datasets.locked", LF_S("task_id", c->id), LF_S("job_id", j.job_id),
                LF_S("dataset_id", j.dataset_id));
            task_retry(out, -1, "RuntimeError", "builtins", "%s", err.msg);
            return;
        }
        ds_fail(&j, out, &err, false);
        return;
    }
    if ((st = ds_load(&j, &err)) != CEL_OK) {
        if (st == CEL_ENOTFOUND)
            task_fail(out, "LookupError", "builtins", "%s", err.msg);
        else
            ds_fail(&j, out, &err, false); /* a mismatch leaves the other dataset's job alone */
        goto done;
    }
    if (!j.force && j.has_report && (j.state == DS_SUCCESS || strcmp(j.status, "done") == 0)) {
        if (j.state != DS_SUCCESS &&
            (st = ds_move(&j, DS_SUCCESS, 100, NULL, NULL, NULL, &err)) != CEL_OK) {
            ds_fail(&j, out, &err, false);
            goto done;
        }
        j.progress = 100;
        LOG(LOG_INFO, "datasets.already_done", LF_S("task_id", c->id), LF_S("job_id", j.job_id),
            LF_S("dataset_id", j.dataset_id));
        task_succeed(out, ds_result(&j, true));
        goto done;
    }
    if ((st = ds_move(&j, DS_STARTED, 5, NULL, ds_dataset_processing, NULL, &err)) != CEL_OK) {
        ds_fail(&j, out, &err, true);
        goto done;
    }
    if ((st = svc_s3(&j.s3, &err)) != CEL_OK || (st = ds_run(&j, &err)) != CEL_OK) {
        ds_fail(&j, out, &err, true);
        goto done;
    }
    LOG(LOG_INFO, "datasets.done", LF_S("task_id", c->id), LF_S("job_id", j.job_id),
        LF_S("dataset_id", j.dataset_id), LF_I("rows", j.rows), LF_S("report_key", j.json_key),
        LF_S("etag", j.json_etag));
    task_succeed(out, ds_result(&j, false));
done:
    ds_check_db(&j);
    ds_unlock(&j);
}

void task_datasets_register(void) {
    task_register(&k_datasets);
}
