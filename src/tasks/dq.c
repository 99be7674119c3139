/*
 * dq.c: task `dq.process_s3_object(bucket, key, event_time=None, size=None, etag=None)`,
 * seed 000's pipeline: S3 object → monitoring file run → checks, deductions, score,
 * metrics, profile → reporting.* tables.
 *
 * Flow: resolve (agency_slug, file_name) from the key (keypattern.h); look up the
 * monitoring file and its schema definition; HEAD the object (size, Last-Modified);
 * run_date/run_hour (UTC) from event_time, else Last-Modified; stream the object
 * through the reader into the quality engine (one pass, bounded memory); then, in ONE
 * transaction serialized per run by an advisory lock: upsert the run by
 * (monitoring_file, run_date, run_hour), upsert the quality row (never touching the
 * acknowledgment columns), upsert or clear the failed-validation row, upsert the
 * profile, and update latest_data_quality_score when this run is the file's latest.
 * Reprocessing, requeues and concurrent deliveries therefore leave one run and one
 * quality row.
 *
 * Errors: unknown monitoring file, a key that doesn't match the pattern, S3 403/404 and
 * an invalid schema definition fail without retry. S3/DB outages retry with backoff. A
 * file that can't be parsed is a data verdict (format deduction), not a failure.
 */
#include "celeriac/quality.h"
#include "celeriac/reader.h"
#include "db/db.h"
#include "tasks/keypattern.h"
#include "tasks/services.h"
#include "tasks/task.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct dq_job {
    const char *bucket, *key;
    kp_match ids;
    char mf_id[32];
    json_t *schema_def; /* new ref or NULL */
    s3_object_info info;
    char run_date[40];
    int run_hour;
    char last_modified[48];
    int64_t file_size;
} dq_job;

static const char *arg_str(const task_ctx *c, const char *key, size_t pos) {
    json_t *v = json_object_get(c->kwargs, key);
    if (!v)
        v = json_array_get(c->args, pos);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Retry transient failures, fail the rest with the mapped exception. */
static void fail_or_retry(task_outcome *out, const cel_error *err) {
    if (cel_status_transient(err->code)) {
        task_retry(out, -1, err->code == CEL_ETIMEOUT ? "TimeoutError" : "ConnectionError",
                   "builtins", "%s", err->msg);
        return;
    }
    task_fail_from_error(out, err);
}

static cel_status lookup_monitoring_file(PGconn *db, dq_job *j, cel_error *err) {
    const char *params[2] = {j->ids.agency_slug, j->ids.file_name};
    PGresult *r = NULL;
    cel_status st =
        db_query_params(db,
                        "SELECT mf.id, d.definition::text FROM reporting.monitoring_file mf "
                        "LEFT JOIN reporting.monitoring_file_schema_definition d "
                        "ON d.id = mf.schema_definition_id "
                        "WHERE mf.agency_slug = $1 AND mf.file_name = $2 "
                        "ORDER BY mf.id LIMIT 1",
                        2, params, &r, err);
    if (st != CEL_OK)
        return st;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return cel_fail(err, CEL_ENOTFOUND,
                        "no monitoring file for agency_slug '%s' and file_name '%s' (s3://%s/%s)",
                        j->ids.agency_slug, j->ids.file_name, j->bucket, j->key);
    }
    snprintf(j->mf_id, sizeof j->mf_id, "%s", PQgetvalue(r, 0, 0));
    if (!PQgetisnull(r, 0, 1)) {
        json_error_t jerr;
        j->schema_def = json_loads(PQgetvalue(r, 0, 1), 0, &jerr);
        if (!j->schema_def) {
            PQclear(r);
            return cel_fail(err, CEL_ESCHEMA, "schema definition of monitoring file %s: %s",
                            j->mf_id, jerr.text);
        }
    }
    PQclear(r);
    return CEL_OK;
}

static void set_run_time(dq_job *j, double t) {
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(j->run_date, sizeof j->run_date, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
    j->run_hour = tm.tm_hour;
}

/* Streams the object through the reader into the engine. A parse failure is recorded in
 * the engine (format verdict) and is not an error; S3 failures are. */
static cel_status run_engine(s3_client *s3, dq_job *j, dq_engine **eng_out, cel_format *fmt_out,
                             cel_error *err) {
    dq_schema *schema = NULL;
    dq_engine *eng = NULL;
    cel_source src;
    bool src_open = false;
    cel_status st = CEL_OK;
    if (j->schema_def && (st = dq_schema_parse(j->schema_def, &schema, err)) != CEL_OK)
        goto out;
    dq_options opts;
    if ((st = dq_options_from_env(&opts, err)) != CEL_OK)
        goto out;
    opts.no_header = schema ? dq_schema_no_header(schema) : false;
    if ((st = dq_engine_new(schema, &opts, &eng, err)) != CEL_OK)
        goto out;
    if ((st = s3_source_open(s3, j->bucket, j->key, &src, &j->info, err)) != CEL_OK)
        goto out;
    src_open = true;
    cel_reader_opts ropts;
    memset(&ropts, 0, sizeof ropts);
    ropts.header = -1; /* 0 would mean "no header" to the readers */
    if (schema)
        dq_schema_reader_opts(schema, &ropts);
    cel_reader_opts_defaults(&ropts);
    cel_error perr;
    if ((st = dq_engine_read(eng, &src, &ropts, fmt_out, &perr, err)) != CEL_OK)
        goto out;
    if (perr.code != CEL_OK) {
        LOG(LOG_WARNING, "dq.parse_failed", LF_S("bucket", j->bucket), LF_S("key", j->key),
            LF_S("error", perr.msg));
        dq_engine_parse_failed(eng, &perr);
    }
    st = dq_engine_finish(eng, err);
out:
    if (src_open)
        s3_source_close(&src);
    dq_schema_free(schema);
    if (st != CEL_OK) {
        dq_engine_free(eng);
        eng = NULL;
    }
    *eng_out = eng;
    return st;
}

static char *dumps(json_t *v) {
    char *s = json_dumps(v ? v : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        abort(); /* the engine never produces non-finite numbers; bookkeeping OOM */
    return s;
}

static cel_status one_value(PGconn *db, const char *sql, int n, const char *const *p, char *out,
                            size_t outsz, cel_error *err) {
    PGresult *r = NULL;
    cel_status st = db_query_params(db, sql, n, p, &r, err);
    if (st != CEL_OK)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return cel_fail(err, CEL_EDB, "expected one row from: %.80s", sql);
    }
    snprintf(out, outsz, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return CEL_OK;
}

typedef struct dq_ids {
    char run_id[32], quality_id[32], profile_id[32], failed_id[32];
} dq_ids;

static cel_status persist(PGconn *db, dq_job *j, const dq_result *res, json_t *profile, dq_ids *ids,
                          cel_error *err) {
    char lock_key[128], hour[8], size[32], score[16];
    snprintf(lock_key, sizeof lock_key, "dq.run:%s:%s:%d", j->mf_id, j->run_date, j->run_hour);
    snprintf(hour, sizeof hour, "%d", j->run_hour);
    snprintf(size, sizeof size, "%lld", (long long)j->file_size);
    snprintf(score, sizeof score, "%d", res->score);
    char *metrics = dumps(res->metrics), *deductions = dumps(res->deductions_json);
    char *rules =
        res->failed_rules && json_array_size(res->failed_rules) ? dumps(res->failed_rules) : NULL;
    char *prof = dumps(profile);
    cel_status st = db_begin(db, err);
    if (st != CEL_OK)
        goto out;
    char lk[32];
    const char *lp[1] = {lock_key};
    if ((st = one_value(db, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text", 1, lp,
                        lk, sizeof lk, err)))
        goto rollback;
    const char *rp[5] = {j->mf_id, j->run_date, hour, j->last_modified[0] ? j->last_modified : NULL,
                         size};
    if ((st = one_value(
             db,
             "INSERT INTO reporting.monitoring_file_run (monitoring_file_id, run_date, run_hour, "
             "file_last_modified, file_size, created_at, updated_at) "
             "VALUES ($1, $2, $3, $4, $5, now(), now()) "
             "ON CONFLICT (monitoring_file_id, run_date, run_hour) DO UPDATE SET "
             "file_last_modified = EXCLUDED.file_last_modified, file_size = EXCLUDED.file_size, "
             "updated_at = now() RETURNING id",
             5, rp, ids->run_id, sizeof ids->run_id, err)))
        goto rollback;
    const char *qp[6] = {ids->run_id, score,      res->passed ? "true" : "false",
                         metrics,     deductions, rules};
    const char *qmsg = res->failed_message;
    const char *qp2[7] = {qp[0], qp[1], qp[2], qp[3], qp[4], qmsg, qp[5]};
    if ((st = one_value(
             db,
             "INSERT INTO reporting.monitoring_file_data_quality (monitoring_file_run_id, score, "
             "passed, metrics, deductions, failed_validation_message, failed_validation_rules, "
             "created_at, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7::jsonb, "
             "now(), now()) ON CONFLICT (monitoring_file_run_id) DO UPDATE SET "
             "score = EXCLUDED.score, passed = EXCLUDED.passed, metrics = EXCLUDED.metrics, "
             "deductions = EXCLUDED.deductions, "
             "failed_validation_message = EXCLUDED.failed_validation_message, "
             "failed_validation_rules = EXCLUDED.failed_validation_rules, updated_at = now() "
             "RETURNING id",
             7, qp2, ids->quality_id, sizeof ids->quality_id, err)))
        goto rollback;
    if (res->failure.present) {
        const dq_failed_validation *f = &res->failure;
        const char *fp[9] = {j->mf_id,
                             ids->run_id,
                             f->rule_name,
                             f->rule_type,
                             f->rule_path,
                             f->validated_field_names,
                             f->validated_values,
                             f->rule_parameters,
                             f->validated_message};
        if ((st = one_value(
                 db,
                 "INSERT INTO reporting.monitoring_file_failed_validation (monitoring_file_id, "
                 "monitoring_file_run_id, rule_name, rule_type, rule_path, validated_field_names, "
                 "validated_values, rule_parameters, validated_message, validated_at, created_at, "
                 "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now(), now()) "
                 "ON CONFLICT (monitoring_file_run_id) DO UPDATE SET "
                 "rule_name = EXCLUDED.rule_name, rule_type = EXCLUDED.rule_type, "
                 "rule_path = EXCLUDED.rule_path, "
                 "validated_field_names = EXCLUDED.validated_field_names, "
                 "validated_values = EXCLUDED.validated_values, "
                 "rule_parameters = EXCLUDED.rule_parameters, "
                 "validated_message = EXCLUDED.validated_message, validated_at = now(), "
                 "updated_at = now() RETURNING id",
                 9, fp, ids->failed_id, sizeof ids->failed_id, err)))
            goto rollback;
    } else {
        PGresult *r = NULL;
        const char *dp[1] = {ids->run_id};
        if ((st = db_query_params(db,
                                  "DELETE FROM reporting.monitoring_file_failed_validation "
                                  "WHERE monitoring_file_run_id = $1",
                                  1, dp, &r, err)))
            goto rollback;
        PQclear(r);
    }
    const char *pp[2] = {ids->run_id, prof};
    if ((st = one_value(
             db,
             "INSERT INTO reporting.monitoring_file_data_profile (monitoring_file_run_id, "
             "profile_payload, created_at, updated_at) VALUES ($1, $2::jsonb, now(), "
             "now()) ON CONFLICT (monitoring_file_run_id) DO UPDATE SET "
             "profile_payload = EXCLUDED.profile_payload, updated_at = now() "
             "RETURNING id",
             2, pp, ids->profile_id, sizeof ids->profile_id, err)))
        goto rollback;
    /* latest_data_quality_score follows the file's most recent run only. */
    const char *lsp[4] = {score, j->mf_id, j->run_date, hour};
    PGresult *r = NULL;
    if ((st = db_query_params(
             db,
             "UPDATE reporting.monitoring_file SET latest_data_quality_score = $1 WHERE id = $2 "
             "AND NOT EXISTS (SELECT 1 FROM reporting.monitoring_file_run r WHERE "
             "r.monitoring_file_id = $2 AND (r.run_date, r.run_hour) > ($3::date, $4::int))",
             4, lsp, &r, err)))
        goto rollback;
    PQclear(r);
    st = db_commit(db, err);
    goto out;
rollback:
    db_rollback(db, NULL);
out:
    free(metrics);
    free(deductions);
    free(rules);
    free(prof);
    return st;
}

static void process_s3_object(const task_ctx *c, task_outcome *out) {
    dq_job j;
    memset(&j, 0, sizeof j);
    j.bucket = arg_str(c, "bucket", 0);
    j.key = arg_str(c, "key", 1);
    cel_error err = {0};
    dq_engine *eng = NULL;
    dq_result res;
    memset(&res, 0, sizeof res);
    json_t *profile = NULL;
    if (!j.bucket || !*j.bucket || !j.key || !*j.key) {
        task_fail(out, "TypeError", "builtins",
                  "dq.process_s3_object(bucket, key) needs two non-empty strings");
        return;
    }
    const char *pattern = getenv("CELERIAC_DQ_KEY_PATTERN");
    cel_status st = kp_resolve(pattern && *pattern ? pattern : KP_DEFAULT, j.key, &j.ids, &err);
    if (st != CEL_OK) {
        task_fail(out, st == CEL_ECONFIG ? "RuntimeError" : "LookupError", "builtins", "%s",
                  err.msg);
        return;
    }
    PGconn *db = NULL;
    s3_client *s3 = NULL;
    if ((st = svc_db(&db, &err)) != CEL_OK || (st = svc_s3(&s3, &err)) != CEL_OK) {
        fail_or_retry(out, &err);
        return;
    }
    if ((st = lookup_monitoring_file(db, &j, &err)) != CEL_OK) {
        if (st == CEL_ENOTFOUND)
            task_fail(out, "LookupError", "builtins", "%s", err.msg);
        else
            fail_or_retry(out, &err);
        if (st != CEL_ENOTFOUND && cel_status_transient(st))
            svc_db_discard();
        goto done;
    }
    LOG(LOG_INFO, "dq.start", LF_S("task_id", c->id), LF_S("bucket", j.bucket), LF_S("key", j.key),
        LF_S("monitoring_file_id", j.mf_id));
    cel_format fmt = CEL_FMT_AUTO;
    if ((st = run_engine(s3, &j, &eng, &fmt, &err)) != CEL_OK) {
        fail_or_retry(out, &err);
        goto done;
    }
    j.file_size = (int64_t)j.info.size;
    if (j.info.last_modified >= 0)
        tu_format_iso8601((double)j.info.last_modified, j.last_modified, sizeof j.last_modified);
    const char *event_time = arg_str(c, "event_time", 2);
    double when = -1;
    if (event_time && *event_time) {
        cel_error terr = {0};
        if (tu_parse_iso8601(event_time, &when, &terr) != CEL_OK) {
            task_fail(out, "ValueError", "builtins", "event_time: %s", terr.msg);
            goto done;
        }
    } else if (j.info.last_modified >= 0) {
        when = (double)j.info.last_modified;
    } else {
        when = tu_now();
    }
    set_run_time(&j, when);
    if ((st = dq_engine_result(eng, &res, &err)) != CEL_OK ||
        (st = dq_engine_profile(eng, &profile, &err)) != CEL_OK) {
        fail_or_retry(out, &err);
        goto done;
    }
    dq_ids ids;
    memset(&ids, 0, sizeof ids);
    if ((st = persist(db, &j, &res, profile, &ids, &err)) != CEL_OK) {
        if (cel_status_transient(st))
            svc_db_discard();
        fail_or_retry(out, &err);
        goto done;
    }
    LOG(LOG_INFO, "dq.stored", LF_S("task_id", c->id), LF_S("bucket", j.bucket), LF_S("key", j.key),
        LF_S("monitoring_file_id", j.mf_id), LF_S("monitoring_file_run_id", ids.run_id),
        LF_I("score", res.score), LF_B("passed", res.passed), LF_I("rows", dq_engine_rows(eng)));
    json_t *r = json_object();
    json_object_set_new(r, "bucket", json_string(j.bucket));
    json_object_set_new(r, "key", json_string(j.key));
    json_object_set_new(r, "monitoring_file_id", json_integer(strtoll(j.mf_id, NULL, 10)));
    json_object_set_new(r, "monitoring_file_run_id", json_integer(strtoll(ids.run_id, NULL, 10)));
    json_object_set_new(r, "monitoring_file_data_quality_id",
                        json_integer(strtoll(ids.quality_id, NULL, 10)));
    json_object_set_new(r, "monitoring_file_data_profile_id",
                        json_integer(strtoll(ids.profile_id, NULL, 10)));
    json_object_set_new(r, "monitoring_file_failed_validation_id",
                        ids.failed_id[0] ? json_integer(strtoll(ids.failed_id, NULL, 10))
                                         : json_null());
    json_object_set_new(r, "run_date", json_string(j.run_date));
    json_object_set_new(r, "run_hour", json_integer(j.run_hour));
    json_object_set_new(r, "format", json_string(cel_format_name(fmt)));
    json_object_set_new(r, "rows", json_integer((json_int_t)dq_engine_rows(eng)));
    json_object_set_new(r, "score", json_integer(res.score));
    json_object_set_new(r, "passed", json_boolean(res.passed));
    json_object_set(r, "deductions", res.deductions_json);
    json_t *fp = json_object_get(res.metrics, "formatParsing");
    json_t *parsed = json_object_get(fp, "parsed"); /* false only when the file failed to parse */
    json_object_set_new(r, "parsed", json_boolean(!parsed || json_is_true(parsed)));
    task_succeed(out, r);
done:
    json_decref(profile);
    dq_result_free(&res);
    dq_engine_free(eng);
    json_decref(j.schema_def);
}

static const task_def k_dq = {.name = "dq.process_s3_object",
                              .fn = process_s3_object,
                              .max_retries = 5,
                              .default_retry_delay = 2,
                              .backoff_max = 60};

void task_dq_register(void) {
    task_register(&k_dq);
}
