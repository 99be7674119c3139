/*
 * ingest.c: task `ingest.process_s3_object(bucket, key, event_time=None, size=None,
 * etag=None)`, seed 003's pipeline: a file dropped in a bucket is loaded into PostgreSQL by
 * the declarative strategy its key matches (ingest_strategy.c), with an ingestion record
 * per object version and a dead-letter path.
 *
 * Flow: pick the strategy (first match of bucket/key patterns) -> take a session advisory
 * lock on "ingest:<bucket>/<key>" (loads of one key are serialized, so an older version can
 * never overwrite a newer one) -> HEAD the object (its ETag names the version we load; the
 * GET is pinned to it) -> upsert the record by (bucket, key, etag): already COMPLETED means
 * nothing is loaded twice -> RECEIVED -> PROCESSING -> one transaction: COPY every row into
 * a temporary staging table (valid rows with values, rejected rows with line, reason and
 * raw text; ingest_row.c), mark in-file duplicates of the conflict key, write
 * ingest.rejected_row, then either merge (INSERT ... ON CONFLICT, ingest_sql.c), delete the
 * rows an older version of the same key loaded (on_new_version "replace") and set COMPLETED,
 * or -- when rejected/rows exceeds the strategy's reject_threshold -- merge nothing and set
 * FAILED. Either way the rejects and the record commit together with the data.
 *
 * States (ingest.ingestion_record.status; every move is logged as ingest.status):
 *   RECEIVED -> PROCESSING -> COMPLETED        loaded (possibly with rejected rows)
 *                          -> FAILED           over the reject threshold: nothing loaded,
 *                                              rejects recorded; the message is
 *                                              dead-lettered with the reason
 *                          -> FAILED           transient error, a retry is scheduled
 *                          -> DEAD_LETTERED    given up: no strategy for the key, object
 *                                              missing/forbidden, unreadable file, target
 *                                              misconfigured, or the retry budget spent;
 *                                              the task message goes to the dead-letter
 *                                              queue with the reason in its headers
 *                                              (task_outcome.dead_letter).
 * Bad arguments (a poison message) are dead-lettered without a record.
 *
 * Config: CELERIAC_INGEST_STRATEGIES (strategies file, re-read when it changes),
 * CELERIAC_INGEST_MAX_RETRIES (5), CELERIAC_INGEST_RETRY_DELAY (2 s, doubled per retry,
 * capped at 60 s), CELERIAC_INGEST_LOCK_TIMEOUT_MS (60000: waiting longer for a lock on the
 * target table is a transient failure; 0 waits forever).
 *
 * Not here: event notifications (worker/supervisor.c turns them into this task by key
 * prefix), deleting rows when an object is deleted, encryption of PHI.
 */
#include "celeriac/reader.h"
#include "db/db.h"
#include "tasks/ingest.h"
#include "tasks/services.h"
#include "tasks/task.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ING_DEFAULT_MAX_RETRIES 5
#define ING_DEFAULT_RETRY_DELAY 2.0
#define ING_DEFAULT_LOCK_TIMEOUT_MS 60000L
#define ING_ERROR_MAX 1000 /* bytes of an error message stored in the record */

typedef enum {
    IS_NONE = 0, /* no record yet */
    IS_RECEIVED,
    IS_PROCESSING,
    IS_COMPLETED,
    IS_FAILED,
    IS_DEAD_LETTERED,
} ing_state;

static const char *const k_state_names[] = {"(none)",    "RECEIVED", "PROCESSING",
                                            "COMPLETED", "FAILED",   "DEAD_LETTERED"};

typedef struct ing_job {
    const task_ctx *ctx;
    const char *bucket, *key;
    const char *event_etag; /* may be NULL */
    int64_t event_size;     /* -1 unknown */
    bool last_attempt;
    const ing_strategy *st;
    char strategies_path[4096];
    s3_object_info info;
    bool have_info;
    char id[32]; /* ingestion record id, "" until known */
    ing_state state;
    int attempts;
    ing_pgtype *types; /* per st->cols, owned */
    cel_format fmt;
    uint64_t rows, rejected, loaded, replaced;
    bool locked;
    char lock_key[S3_MAX_KEY_BYTES + 320];
    double t_stage, t_check, t_merge, t_replace; /* seconds: read+validate+COPY,
                                                    dedupe+rejects, merge+commit, replace */
} ing_job;

static task_def g_def = {.name = "ingest.process_s3_object",
                         .max_retries = ING_DEFAULT_MAX_RETRIES,
                         .default_retry_delay = ING_DEFAULT_RETRY_DELAY,
                         .backoff_max = 60};

/* ---------------------------------------------------------------- strategies cache */

static struct {
    ing_strategies *s;
    char path[4096];
    struct stat sb;
} g_cache;

/* The strategies in force (borrowed until the next call). Re-read when the file's path,
 * inode, size or mtime changed, so an operator's edit applies to the next task. */
static cel_status strategies_get(const ing_strategies **out, char *path, size_t pathsz,
                                 cel_error *err) {
    cel_status st = ing_strategies_path(path, pathsz, err);
    if (st != CEL_OK)
        return st;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return cel_fail(err, CEL_ECONFIG, "%s: %s", path, strerror(errno));
    if (g_cache.s && strcmp(g_cache.path, path) == 0 && sb.st_ino == g_cache.sb.st_ino &&
        sb.st_size == g_cache.sb.st_size && sb.st_mtim.tv_sec == g_cache.sb.st_mtim.tv_sec &&
        sb.st_mtim.tv_nsec == g_cache.sb.st_mtim.tv_nsec) {
        *out = g_cache.s;
        return CEL_OK;
    }
    ing_strategies *s = NULL;
    if ((st = ing_strategies_load(path, &s, err)) != CEL_OK)
        return st == CEL_EIO ? cel_fail(err, CEL_ECONFIG, "%s", err->msg) : st;
    ing_strategies_free(g_cache.s);
    g_cache.s = s;
    snprintf(g_cache.path, sizeof g_cache.path, "%s", path);
    g_cache.sb = sb;
    LOG(LOG_INFO, "ingest.strategies_loaded", LF_S("path", path), LF_I("strategies", s->n));
    *out = s;
    return CEL_OK;
}

/* ---------------------------------------------------------------- small helpers */

static const char *arg_str(const task_ctx *c, const char *key, size_t pos) {
    json_t *v = json_object_get(c->kwargs, key);
    if (!v)
        v = json_array_get(c->args, pos);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static cel_status one_row(PGconn *db, const char *sql, int n, const char *const *p, PGresult **out,
                          cel_error *err) {
    cel_status st = db_query_params(db, sql, n, p, out, err);
    if (st == CEL_OK && PQntuples(*out) != 1) {
        PQclear(*out);
        *out = NULL;
        return cel_fail(err, CEL_EDB, "expected one row from: %.80s", sql);
    }
    return st;
}

static cel_status exec_params(PGconn *db, const char *sql, int n, const char *const *p,
                              uint64_t *affected, cel_error *err) {
    PGresult *r = NULL;
    cel_status st = db_query_params(db, sql, n, p, &r, err);
    if (st == CEL_OK && affected)
        *affected = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return st;
}

static ing_state state_parse(const char *s) {
    for (size_t i = 1; i < sizeof k_state_names / sizeof k_state_names[0]; i++)
        if (strcmp(s, k_state_names[i]) == 0)
            return (ing_state)i;
    return IS_NONE;
}

static const char *record_etag(const ing_job *j) {
    if (j->have_info)
        return j->info.etag;
    return j->event_etag ? j->event_etag : "";
}

static void size_text(const ing_job *j, char *out, size_t n) {
    if (j->have_info)
        snprintf(out, n, "%" PRIu64, j->info.size);
    else if (j->event_size >= 0)
        snprintf(out, n, "%" PRId64, j->event_size);
    else
        out[0] = '\0';
}

/* ---------------------------------------------------------------- the state machine */

/*
 * The one place the record's status changes. RECEIVED creates (or finds) the record;
 * PROCESSING starts an attempt (refused -- *skip set -- when the record is COMPLETED);
 * COMPLETED / FAILED / DEAD_LETTERED finish it with counts and error (error NULL = none).
 * A terminal move for an object with no record yet creates the record directly in that
 * state (e.g. no strategy matched). Logs every move.
 */
static cel_status transition(PGconn *db, ing_job *j, ing_state to, const char *error, bool *skip,
                             cel_error *err) {
    char size[32], loaded[32], rejected[32];
    size_text(j, size, sizeof size);
    snprintf(loaded, sizeof loaded, "%" PRIu64, j->loaded);
    snprintf(rejected, sizeof rejected, "%" PRIu64, j->rejected);
    char errbuf[ING_ERROR_MAX + 1];
    if (error) {
        snprintf(errbuf, sizeof errbuf, "%s", error);
        dq_truncate_utf8(errbuf, ING_ERROR_MAX);
    }
    const char *strategy = j->st ? j->st->name : NULL;
    ing_state from = j->state;
    PGresult *r = NULL;
    cel_status st = CEL_OK;
    if (skip)
        *skip = false;
    if (to == IS_RECEIVED) {
        const char *p[5] = {j->bucket, j->key, record_etag(j), size[0] ? size : NULL, strategy};
        st = one_row(db,
                     "INSERT INTO ingest.ingestion_record (bucket, key, etag, size_bytes, "
                     "strategy) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (bucket, key, etag) DO "
                     "UPDATE SET strategy = COALESCE(ingest.ingestion_record.strategy, "
                     "EXCLUDED.strategy) RETURNING id, status, attempts",
                     5, p, &r, err);
        if (st != CEL_OK)
            return st;
        snprintf(j->id, sizeof j->id, "%s", PQgetvalue(r, 0, 0));
        j->state = state_parse(PQgetvalue(r, 0, 1));
        j->attempts = (int)strtol(PQgetvalue(r, 0, 2), NULL, 10);
        PQclear(r);
        if (j->state != IS_RECEIVED)
            LOG(LOG_INFO, "ingest.record_found", LF_S("ingestion_id", j->id),
                LF_S("status", k_state_names[j->state]), LF_S("bucket", j->bucket),
                LF_S("key", j->key), LF_S("etag", record_etag(j)));
        else
            LOG(LOG_INFO, "ingest.status", LF_S("ingestion_id", j->id), LF_S("from", "(none)"),
                LF_S("to", "RECEIVED"), LF_S("bucket", j->bucket), LF_S("key", j->key),
                LF_S("etag", record_etag(j)));
        return CEL_OK;
    }
    if (to == IS_PROCESSING) {
        const char *p[4] = {j->id, j->ctx->id, strategy, size[0] ? size : NULL};
        st = db_query_params(db,
                             "UPDATE ingest.ingestion_record SET status = 'PROCESSING', "
                             "attempts = attempts + 1, started_at = now(), finished_at = NULL, "
                             "error = NULL, celery_task_id = $2, strategy = $3, "
                             "size_bytes = COALESCE($4::bigint, size_bytes), updated_at = now() "
                             "WHERE id = $1 AND status <> 'COMPLETED' RETURNING attempts",
                             4, p, &r, err);
        if (st != CEL_OK)
            return st;
        if (PQntuples(r) == 0) {
            PQclear(r);
            if (skip)
                *skip = true;
            j->state = IS_COMPLETED;
            return CEL_OK;
        }
        j->attempts = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    } else if (j->id[0]) {
        const char *p[6] = {j->id,    k_state_names[to],     loaded,
                            rejected, error ? errbuf : NULL, j->ctx->id};
        st = exec_params(db,
                         "UPDATE ingest.ingestion_record SET status = $2, rows_loaded = $3, "
                         "rows_rejected = $4, error = $5, celery_task_id = $6, "
                         "finished_at = now(), updated_at = now() WHERE id = $1",
                         6, p, NULL, err);
        if (st != CEL_OK)
            return st;
    } else {
        /* terminal without a record (no strategy, object missing): create it so */
        const char *p[7] = {j->bucket,
                            j->key,
                            record_etag(j),
                            size[0] ? size : NULL,
                            strategy,
                            k_state_names[to],
                            error ? errbuf : NULL};
        const char *p8[8] = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], j->ctx->id};
        st = db_query_params(
            db,
            "INSERT INTO ingest.ingestion_record (bucket, key, etag, size_bytes, strategy, "
            "status, attempts, error, celery_task_id, started_at, finished_at) VALUES ($1, $2, "
            "$3, $4, $5, $6, 1, $7, $8, now(), now()) ON CONFLICT (bucket, key, etag) DO UPDATE "
            "SET status = EXCLUDED.status, attempts = ingest.ingestion_record.attempts + 1, "
            "error = EXCLUDED.error, celery_task_id = EXCLUDED.celery_task_id, started_at = "
            "now(), finished_at = now(), updated_at = now() WHERE ingest.ingestion_record.status "
            "<> 'COMPLETED' RETURNING id",
            8, p8, &r, err);
        if (st != CEL_OK)
            return st;
        if (PQntuples(r) == 1)
            snprintf(j->id, sizeof j->id, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        from = IS_RECEIVED;
    }
    j->state = to;
    LOG(to == IS_COMPLETED || to == IS_PROCESSING ? LOG_INFO : LOG_WARNING, "ingest.status",
        LF_S("ingestion_id", j->id[0] ? j->id : "(none)"), LF_S("from", k_state_names[from]),
        LF_S("to", k_state_names[to]), LF_S("bucket", j->bucket), LF_S("key", j->key),
        LF_S("etag", record_etag(j)), LF_S("strategy", strategy ? strategy : "(none)"),
        LF_I("rows_loaded", j->loaded), LF_I("rows_rejected", j->rejected),
        LF_S("error", error ? errbuf : ""));
    return CEL_OK;
}

/* Ends the attempt after err: a retry (record FAILED) while the error is transient and the
 * budget lasts, else DEAD_LETTERED and the message to the dead-letter queue. */
static void give_up_or_retry(PGconn *db, ing_job *j, const cel_error *e, task_outcome *out) {
    bool transient = cel_status_transient(e->code) || e->code == CEL_ECONFLICT;
    bool retry = transient && !j->last_attempt;
    char msg[ING_ERROR_MAX + 64];
    if (retry)
        snprintf(msg, sizeof msg, "attempt %d: %s (will retry)", j->attempts ? j->attempts : 1,
                 e->msg);
    else if (transient)
        snprintf(msg, sizeof msg, "gave up after %d attempts: %s", j->ctx->retries + 1, e->msg);
    else
        snprintf(msg, sizeof msg, "%s", e->msg);
    if (db && (j->id[0] || !retry)) {
        cel_error uerr = {0};
        if (transition(db, j, retry ? IS_FAILED : IS_DEAD_LETTERED, msg, NULL, &uerr) != CEL_OK)
            LOG(LOG_ERROR, "ingest.record_update_failed", LF_S("bucket", j->bucket),
                LF_S("key", j->key), LF_S("error", uerr.msg));
    }
    if (retry) {
        task_retry(out, -1, e->code == CEL_ETIMEOUT ? "TimeoutError" : "ConnectionError",
                   "builtins", "%s", e->msg);
    } else if (transient) {
        task_fail(out, e->code == CEL_ETIMEOUT ? "TimeoutError" : "ConnectionError", "builtins",
                  "%s", msg);
    } else {
        task_fail_from_error(out, e);
    }
    out->dead_letter = true; /* a RETRY turned FAILURE by the runtime is dead-lettered too */
}

/* ---------------------------------------------------------------- target table */

static cel_status load_target_types(PGconn *db, ing_job *j, cel_error *err) {
    const ing_strategy *st = j->st;
    char target[2 * ING_IDENT_MAX + 8];
    ing_sql_target(st, target, sizeof target);
    const char *p[1] = {target};
    PGresult *r = NULL;
    cel_error qerr = {0};
    cel_status rc = db_query_params(
        db,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), CASE WHEN t.typname = 'bpchar' "
        "THEN 'bpchar' ELSE format_type(a.atttypid, NULL) END, a.attnotnull FROM pg_attribute a "
        "JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = $1::regclass AND a.attnum > 0 "
        "AND NOT a.attisdropped",
        1, p, &r, &qerr);
    if (rc != CEL_OK)
        return cel_fail(err, rc, "strategy %s: target table %s: %s", st->name, target, qerr.msg);
    j->types = calloc(st->ncols, sizeof *j->types);
    if (!j->types) {
        PQclear(r);
        return cel_fail(err, CEL_ENOMEM, "ingest: out of memory");
    }
    for (size_t i = 0; i < st->ncols; i++) {
        int row = -1;
        for (int k = 0; k < PQntuples(r); k++)
            if (strcmp(PQgetvalue(r, k, 0), st->cols[i].column) == 0)
                row = k;
        if (row < 0) {
            PQclear(r);
            return cel_fail(err, CEL_ECONFIG, "strategy %s: column '%s' does not exist in %s",
                            st->name, st->cols[i].column, target);
        }
        rc = ing_pgtype_parse(PQgetvalue(r, row, 1), PQgetvalue(r, row, 2),
                              strcmp(PQgetvalue(r, row, 3), "t") == 0, &j->types[i], err);
        if (rc != CEL_OK) {
            PQclear(r);
            return rc;
        }
    }
    PQclear(r);
    return CEL_OK;
}

/* ---------------------------------------------------------------- the load transaction */

static cel_status copy_emit(void *ud, const char *data, size_t len, cel_error *err) {
    PGconn *db = ud;
    if (PQputCopyData(db, data, (int)len) != 1)
        return cel_fail(err, CEL_ETRANSIENT, "COPY into staging: %s", PQerrorMessage(db));
    return CEL_OK;
}

/* Ends COPY IN: errmsg NULL = success (then the server's verdict is returned), else abort. */
static cel_status copy_end(PGconn *db, const char *errmsg, cel_error *err) {
    cel_status st = CEL_OK;
    if (PQputCopyEnd(db, errmsg) != 1)
        st = cel_fail(err, CEL_ETRANSIENT, "COPY into staging: %s", PQerrorMessage(db));
    PGresult *r;
    while ((r = PQgetResult(db)) != NULL) {
        if (st == CEL_OK && !errmsg)
            st = db_result_check(db, r, "COPY into staging", NULL, err);
        PQclear(r);
    }
    return st;
}

static long env_long(const char *name, long def, long lo, long hi) {
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        LOG(LOG_ERROR, "ingest.bad_config", LF_S("variable", name), LF_S("value", v),
            LF_I("using", def));
        return def;
    }
    return x;
}

static double env_double(const char *name, double def, double lo, double hi) {
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !(x >= lo) || x > hi) {
        LOG(LOG_ERROR, "ingest.bad_config", LF_S("variable", name), LF_S("value", v),
            LF_D("using", def));
        return def;
    }
    return x;
}

/* Streams the object into staging; a file the reader can't parse is CEL_EPARSE (with the
 * reader's message) after aborting the COPY. */
static cel_status stage_rows(PGconn *db, s3_client *s3, ing_job *j, cel_error *err) {
    cel_source src;
    bool src_open = false;
    ing_loader *ld = NULL;
    s3_object_info now;
    cel_status st = s3_source_open(s3, j->bucket, j->key, &src, &now, err);
    if (st != CEL_OK)
        return st;
    src_open = true;
    if (strcmp(now.etag, j->info.etag) != 0) { /* overwritten since our HEAD: load it next time */
        st = cel_fail(err, CEL_ECONFLICT,
                      "s3://%s/%s changed while being ingested (ETag %s, now %s)", j->bucket,
                      j->key, j->info.etag, now.etag);
        goto exit;
    }
    if ((st = ing_loader_new(j->st, j->types, copy_emit, db, &ld, err)) != CEL_OK)
        goto exit;
    PGresult *r = PQexec(db, ing_sql_copy());
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        st = db_result_check(db, r, "COPY into staging", NULL, err);
        if (st == CEL_OK)
            st = cel_fail(err, CEL_EDB, "COPY into staging: server did not enter COPY IN");
        PQclear(r);
        goto exit;
    }
    PQclear(r);
    cel_reader_opts ropts;
    memset(&ropts, 0, sizeof ropts);
    ropts.header = -1; /* 0 would mean "no header" to the readers */
    dq_schema_reader_opts(j->st->schema, &ropts);
    cel_reader_opts_defaults(&ropts);
    cel_row_sink sink = ing_loader_sink(ld);
    cel_error rerr = {0};
    cel_format used = CEL_FMT_AUTO;
    cel_status rst = cel_read_source(&src, &ropts, &sink, &used, &rerr);
    j->fmt = used;
    if (rst == CEL_OK)
        rst = ing_loader_flush(ld, &rerr);
    j->rows = ing_loader_rows(ld);
    if (rst != CEL_OK) {
        cel_error cerr = {0};
        (void)copy_end(db, "ingest: reading the object failed", &cerr);
        if (rst == CEL_EPARSE || rst == CEL_EUNSUPPORTED || rst == CEL_ELIMIT)
            st = cel_fail(err, CEL_EPARSE, "s3://%s/%s cannot be read as %s: %s", j->bucket, j->key,
                          cel_format_name(used != CEL_FMT_AUTO ? used : j->st->format), rerr.msg);
        else
            st = cel_fail(err, rst, "%s", rerr.msg);
        goto exit;
    }
    st = copy_end(db, NULL, err);
exit:
    ing_loader_free(ld);
    if (src_open)
        s3_source_close(&src);
    return st;
}

/* The whole load in one transaction (see the top of the file). *over_threshold is set when
 * the file failed as a whole on its rejects (the transaction then still commits: rejects
 * and the FAILED record, no data). */
static cel_status load(PGconn *db, s3_client *s3, ing_job *j, bool *over_threshold, char *verdict,
                       size_t verdictsz, cel_error *err) {
    const ing_strategy *st = j->st;
    char *staging = ing_sql_staging(st), *dedupe = ing_sql_dedupe(st, j->types);
    char *merge = ing_sql_merge(st, j->types), *replace = ing_sql_replace(st);
    char *has_dups = ing_sql_has_dups(st, j->types);
    cel_status rc = CEL_OK;
    *over_threshold = false;
    bool line_key = false; /* then there is no dedupe statement by design */
    for (size_t i = 0; i < st->nconflict; i++)
        line_key |= st->cols[st->conflict[i]].meta == ING_META_LINE;
    if (!staging || !merge || ((!dedupe || !has_dups) && !line_key) ||
        (!replace && st->on_new_version == ING_VERSION_REPLACE)) {
        rc = cel_fail(err, CEL_ENOMEM, "ingest: out of memory building SQL");
        goto exit;
    }
    if ((rc = db_begin(db, err)) != CEL_OK)
        goto exit;
    char lt[96];
    /* work_mem: the duplicate check hashes every key; 64 MB keeps ~1M keys off disk */
    snprintf(
        lt, sizeof lt, "SET LOCAL lock_timeout = %ld; SET LOCAL work_mem = '64MB'",
        env_long("CELERIAC_INGEST_LOCK_TIMEOUT_MS", ING_DEFAULT_LOCK_TIMEOUT_MS, 0, 86400000L));
    if ((rc = db_exec(db, lt, err)) != CEL_OK || (rc = db_exec(db, staging, err)) != CEL_OK)
        goto rollback;
    double t0 = tu_monotonic();
    if ((rc = stage_rows(db, s3, j, err)) != CEL_OK)
        goto rollback;
    double t1 = tu_monotonic();
    j->t_stage = t1 - t0;
    PGresult *r = NULL;
    if (has_dups) {
        if ((rc = one_row(db, has_dups, 0, NULL, &r, err)) != CEL_OK)
            goto rollback;
        bool dups = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        r = NULL;
        /* statistics first: the UPDATE joins the staging table with itself */
        if (dups && ((rc = db_exec(db, "ANALYZE pg_temp.ingest_staging", err)) != CEL_OK ||
                     (rc = db_exec(db, dedupe, err)) != CEL_OK))
            goto rollback;
    }
    if ((rc = one_row(db,
                      "SELECT count(*), count(*) FILTER (WHERE reason IS NOT NULL) FROM "
                      "pg_temp.ingest_staging",
                      0, NULL, &r, err)) != CEL_OK)
        goto rollback;
    j->rows = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    j->rejected = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    const char *ip[1] = {j->id};
    if ((rc = exec_params(db, "DELETE FROM ingest.rejected_row WHERE ingestion_id = $1", 1, ip,
                          NULL, err)) != CEL_OK ||
        (rc = exec_params(
             db,
             "INSERT INTO ingest.rejected_row (ingestion_id, line_number, reason, raw_row) "
             "SELECT $1::bigint, line, CASE WHEN count(*) = 1 THEN min(reason) ELSE "
             "left(string_agg('record ' || rownum || ': ' || reason, '; ' ORDER BY rownum), "
             "4000) END, left(string_agg(raw, E'\\n' ORDER BY rownum), 4000) FROM "
             "pg_temp.ingest_staging WHERE reason IS NOT NULL GROUP BY line",
             1, ip, NULL, err)) != CEL_OK)
        goto rollback;
    double t2 = tu_monotonic();
    j->t_check = t2 - t1;
    double share = j->rows ? (double)j->rejected / (double)j->rows : 0.0;
    if (j->rejected && share > st->reject_threshold) {
        *over_threshold = true;
        j->loaded = 0;
        snprintf(verdict, verdictsz,
                 "%" PRIu64 " of %" PRIu64 " rows rejected (%.2f%%), above the reject threshold "
                 "%.2f%% of strategy %s: nothing loaded",
                 j->rejected, j->rows, 100.0 * share, 100.0 * st->reject_threshold, st->name);
        if ((rc = transition(db, j, IS_FAILED, verdict, NULL, err)) != CEL_OK)
            goto rollback;
    } else {
        char etag[sizeof j->info.etag];
        snprintf(etag, sizeof etag, "%s", j->info.etag);
        const char *mp[5] = {j->id, j->bucket, j->key, etag, j->ctx->id};
        if ((rc = exec_params(db, merge, 5, mp, &j->loaded, err)) != CEL_OK)
            goto rollback;
        if (replace) {
            double tr = tu_monotonic();
            const char *rp[3] = {j->bucket, j->key, etag};
            if ((rc = exec_params(db, replace, 3, rp, &j->replaced, err)) != CEL_OK)
                goto rollback;
            j->t_replace = tu_monotonic() - tr;
        }
        if ((rc = transition(db, j, IS_COMPLETED, NULL, NULL, err)) != CEL_OK)
            goto rollback;
    }
    rc = db_commit(db, err);
    j->t_merge = tu_monotonic() - t2;
    goto exit;
rollback:
    db_rollback(db, NULL);
exit:
    free(staging);
    free(dedupe);
    free(merge);
    free(replace);
    free(has_dups);
    return rc;
}

/* ---------------------------------------------------------------- the task */

static json_t *result_json(const ing_job *j, bool already) {
    char target[2 * ING_IDENT_MAX + 8] = "";
    if (j->st)
        snprintf(target, sizeof target, "%s%s%s", j->st->target_schema,
                 j->st->target_schema[0] ? "." : "", j->st->target_table);
    json_t *r = json_object();
    json_object_set_new(r, "ingestion_id", json_integer(strtoll(j->id, NULL, 10)));
    json_object_set_new(r, "bucket", json_string(j->bucket));
    json_object_set_new(r, "key", json_string(j->key));
    json_object_set_new(r, "etag", json_string(record_etag(j)));
    json_object_set_new(r, "size", json_integer((json_int_t)j->info.size));
    json_object_set_new(r, "strategy", json_string(j->st->name));
    json_object_set_new(r, "target", json_string(target));
    json_object_set_new(r, "status", json_string(k_state_names[j->state]));
    json_object_set_new(r, "already_loaded", json_boolean(already));
    json_object_set_new(r, "format", already ? json_null() : json_string(cel_format_name(j->fmt)));
    /* rows read is not kept in the record: unknown for an answer from it */
    json_object_set_new(r, "rows", already ? json_null() : json_integer((json_int_t)j->rows));
    json_object_set_new(r, "rows_loaded", json_integer((json_int_t)j->loaded));
    json_object_set_new(r, "rows_rejected", json_integer((json_int_t)j->rejected));
    json_object_set_new(r, "rows_replaced", json_integer((json_int_t)j->replaced));
    return r;
}

/* The counts of a record that was already COMPLETED (for the answer to a re-delivery). */
static void read_counts(PGconn *db, ing_job *j) {
    const char *p[1] = {j->id};
    PGresult *r = NULL;
    cel_error e = {0};
    if (one_row(db, "SELECT rows_loaded, rows_rejected FROM ingest.ingestion_record WHERE id = $1",
                1, p, &r, &e) == CEL_OK) {
        j->loaded = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        j->rejected = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
    }
}

static void process_s3_object(const task_ctx *c, task_outcome *out) {
    ing_job j;
    memset(&j, 0, sizeof j);
    j.ctx = c;
    j.bucket = arg_str(c, "bucket", 0);
    j.key = arg_str(c, "key", 1);
    j.event_etag = arg_str(c, "etag", 4);
    json_t *sz = json_object_get(c->kwargs, "size");
    j.event_size = json_is_integer(sz) ? (int64_t)json_integer_value(sz) : -1;
    j.last_attempt = g_def.max_retries >= 0 && c->retries >= g_def.max_retries;
    cel_error err = {0};
    PGconn *db = NULL;
    s3_client *s3 = NULL;
    if (!j.bucket || !*j.bucket || !j.key || !*j.key || strlen(j.key) > S3_MAX_KEY_BYTES) {
        task_fail(out, "TypeError", "builtins",
                  "ingest.process_s3_object(bucket, key) needs two non-empty strings (key at "
                  "most %d bytes)",
                  S3_MAX_KEY_BYTES);
        out->dead_letter = true;
        LOG(LOG_ERROR, "ingest.bad_arguments", LF_S("task_id", c->id));
        return;
    }
    const ing_strategies *strategies = NULL;
    cel_status st = strategies_get(&strategies, j.strategies_path, sizeof j.strategies_path, &err);
    if (st == CEL_OK)
        j.st = ing_strategy_match(strategies, j.bucket, j.key);
    cel_error derr = {0};
    cel_status dst = svc_db(&db, &derr);
    if (dst != CEL_OK) {
        if (dst == CEL_ETRANSIENT)
            svc_db_discard();
        give_up_or_retry(NULL, &j, &derr, out);
        return;
    }
    if (st != CEL_OK) { /* a broken strategies file: replay after fixing it */
        give_up_or_retry(db, &j, &err, out);
        return;
    }
    if (!j.st) {
        cel_fail(&err, CEL_ENOTFOUND,
                 "unknown file kind: no ingestion strategy matches s3://%s/%s (strategies: %s)",
                 j.bucket, j.key, j.strategies_path);
        give_up_or_retry(db, &j, &err, out); /* permanent: DEAD_LETTERED */
        task_fail(out, "LookupError", "builtins", "%s", err.msg);
        out->dead_letter = true;
        return;
    }
    LOG(LOG_INFO, "ingest.start", LF_S("task_id", c->id), LF_S("bucket", j.bucket),
        LF_S("key", j.key), LF_S("strategy", j.st->name), LF_I("retries", c->retries));
    if ((st = svc_s3(&s3, &err)) != CEL_OK) {
        give_up_or_retry(db, &j, &err, out);
        return;
    }
    /* one load per key at a time, across workers */
    snprintf(j.lock_key, sizeof j.lock_key, "ingest:%s/%s", j.bucket, j.key);
    if ((st = db_session_lock(db, j.lock_key, &err)) != CEL_OK) {
        if (cel_status_transient(st))
            svc_db_discard();
        give_up_or_retry(cel_status_transient(st) ? NULL : db, &j, &err, out);
        return;
    }
    j.locked = true;
    if ((st = s3_head(s3, j.bucket, j.key, &j.info, &err)) != CEL_OK) {
        give_up_or_retry(db, &j, &err, out);
        goto done;
    }
    j.have_info = true;
    if (j.event_etag && *j.event_etag && strcmp(j.event_etag, j.info.etag) != 0)
        LOG(LOG_INFO, "ingest.newer_version", LF_S("bucket", j.bucket), LF_S("key", j.key),
            LF_S("event_etag", j.event_etag), LF_S("etag", j.info.etag));
    bool skip = false;
    if ((st = transition(db, &j, IS_RECEIVED, NULL, NULL, &err)) != CEL_OK ||
        (j.state != IS_COMPLETED &&
         (st = transition(db, &j, IS_PROCESSING, NULL, &skip, &err)) != CEL_OK)) {
        give_up_or_retry(db, &j, &err, out);
        goto done;
    }
    if (j.state == IS_COMPLETED) {
        read_counts(db, &j);
        LOG(LOG_INFO, "ingest.already_loaded", LF_S("task_id", c->id), LF_S("ingestion_id", j.id),
            LF_S("bucket", j.bucket), LF_S("key", j.key), LF_S("etag", j.info.etag));
        task_succeed(out, result_json(&j, true));
        goto done;
    }
    if ((st = load_target_types(db, &j, &err)) != CEL_OK) {
        give_up_or_retry(db, &j, &err, out);
        goto done;
    }
    bool over = false;
    char verdict[512] = "";
    if ((st = load(db, s3, &j, &over, verdict, sizeof verdict, &err)) != CEL_OK) {
        if (cel_status_transient(st)) {
            cel_error uerr = {0};
            if (db_session_unlock(db, j.lock_key, &uerr) != CEL_OK)
                LOG(LOG_DEBUG, "ingest.unlock_failed", LF_S("error", uerr.msg));
            j.locked = false; /* and discarding the session releases it anyway */
            svc_db_discard();
            cel_error cerr = {0};
            if (svc_db(&db, &cerr) != CEL_OK)
                db = NULL; /* the record update is skipped; the retry will find it */
        }
        j.rows = j.rejected = j.loaded = 0;
        give_up_or_retry(db, &j, &err, out);
        goto done;
    }
    if (over) {
        LOG(LOG_WARNING, "ingest.file_rejected", LF_S("task_id", c->id), LF_S("ingestion_id", j.id),
            LF_S("bucket", j.bucket), LF_S("key", j.key), LF_I("rows", j.rows),
            LF_I("rows_rejected", j.rejected), LF_S("reason", verdict));
        task_fail(out, "ValueError", "builtins", "ingestion %s of s3://%s/%s: %s", j.id, j.bucket,
                  j.key, verdict);
        /* The file fails permanently (issue 7: such files end in the dead-letter queue with
         * the reason in headers); the record keeps FAILED: the file's verdict, rejects kept. */
        out->dead_letter = true;
        goto done;
    }
    LOG(LOG_INFO, "ingest.loaded", LF_S("task_id", c->id), LF_S("ingestion_id", j.id),
        LF_S("bucket", j.bucket), LF_S("key", j.key), LF_S("strategy", j.st->name),
        LF_S("format", cel_format_name(j.fmt)), LF_I("rows", j.rows), LF_I("rows_loaded", j.loaded),
        LF_I("rows_rejected", j.rejected), LF_I("rows_replaced", j.replaced),
        LF_D("stage_s", j.t_stage), LF_D("check_s", j.t_check), LF_D("merge_s", j.t_merge),
        LF_D("replace_s", j.t_replace));
    task_succeed(out, result_json(&j, false));
done:
    if (j.locked && db) {
        cel_error uerr = {0};
        if (db_session_unlock(db, j.lock_key, &uerr) != CEL_OK) {
            LOG(LOG_WARNING, "ingest.unlock_failed", LF_S("error", uerr.msg));
            svc_db_discard(); /* closing the session releases the lock for sure */
        }
    }
    free(j.types);
}

void task_ingest_register(void) {
    g_def.fn = process_s3_object;
    g_def.max_retries =
        (int)env_long("CELERIAC_INGEST_MAX_RETRIES", ING_DEFAULT_MAX_RETRIES, 0, 1000);
    g_def.default_retry_delay =
        env_double("CELERIAC_INGEST_RETRY_DELAY", ING_DEFAULT_RETRY_DELAY, 0.01, 3600);
    task_register(&g_def);
}
