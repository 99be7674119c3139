/*
 * testing.c: test-only tasks, compiled in only with -DCELERIAC_TEST_TASKS=ON (the
 * release build leaves them out). They let the end-to-end suite provoke what real
 * tasks do rarely: run long, crash the child, fail, retry, and write an effect to
 * PostgreSQL whose execution count proves "nothing doubled".
 */
#ifdef CELERIAC_TEST_TASKS
#include "tasks/task.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *kw_str(const task_ctx *c, const char *key, size_t pos, const char *dflt) {
    json_t *v = json_object_get(c->kwargs, key);
    if (!v)
        v = json_array_get(c->args, pos);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static double kw_num(const task_ctx *c, const char *key, size_t pos, double dflt) {
    json_t *v = json_object_get(c->kwargs, key);
    if (!v)
        v = json_array_get(c->args, pos);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static void echo(const task_ctx *c, task_outcome *out) {
    task_succeed(out, json_pack("{sOsO}", "args", c->args, "kwargs", c->kwargs));
}

static void add(const task_ctx *c, task_outcome *out) {
    json_t *a = json_array_get(c->args, 0), *b = json_array_get(c->args, 1);
    if (!json_is_number(a) || !json_is_number(b)) {
        task_fail(out, "TypeError", "builtins", "add() needs two numbers");
        return;
    }
    if (json_is_integer(a) && json_is_integer(b))
        task_succeed(out, json_integer(json_integer_value(a) + json_integer_value(b)));
    else
        task_succeed(out, json_real(json_number_value(a) + json_number_value(b)));
}

/* Records one execution of this task id in celeriac_test_effects (the e2e suite creates
 * the table). executions counts commits per task id: a doubled effect shows as 2. */
static int record_effect(const task_ctx *c, const char *marker, char *errbuf, size_t n) {
    const char *url = getenv("DATABASE_URL");
    if (!url || !*url) {
        snprintf(errbuf, n, "DATABASE_URL is not set");
        return -1;
    }
    PGconn *db = PQconnectdb(url);
    if (PQstatus(db) != CONNECTION_OK) {
        snprintf(errbuf, n, "connect: %s", PQerrorMessage(db));
        PQfinish(db);
        return -1;
    }
    const char *params[2] = {c->id, marker};
    PGresult *r = PQexecParams(
        db,
        "INSERT INTO celeriac_test_effects (task_id, marker, executions) VALUES ($1, $2, 1) "
        "ON CONFLICT (task_id) DO UPDATE SET executions = celeriac_test_effects.executions + 1",
        2, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        snprintf(errbuf, n, "insert: %s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(db);
    return rc;
}

static void sleeper(const task_ctx *c, task_outcome *out) {
    double secs = kw_num(c, "seconds", 0, 1.0);
    const char *marker = kw_str(c, "marker", 1, NULL);
    if (secs < 0 || secs > 3600) {
        task_fail(out, "ValueError", "builtins", "seconds must be in [0, 3600]");
        return;
    }
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    if (marker) {
        char e[512];
        if (record_effect(c, marker, e, sizeof e) != 0) {
            task_retry(out, 1.0, "ConnectionError", "builtins", "%s", e);
            return;
        }
    }
    task_succeed(out, json_pack("{sfsi}", "slept", secs, "pid", (int)getpid()));
}

static void crash(const task_ctx *c, task_outcome *out) {
    const char *how = kw_str(c, "how", 0, "kill");
    (void)out;
    if (strcmp(how, "abort") == 0)
        abort();
    if (strcmp(how, "exit") == 0)
        _exit(3);
    if (strcmp(how, "segv") == 0)
        raise(SIGSEGV);
    raise(SIGKILL);
}

static void fail(const task_ctx *c, task_outcome *out) {
    task_fail(out, kw_str(c, "exc_type", 0, "ValueError"), kw_str(c, "exc_module", 2, "builtins"),
              "%s", kw_str(c, "message", 1, "boom"));
}

static void flaky(const task_ctx *c, task_outcome *out) {
    double fail_times = kw_num(c, "fail_times", 0, 2);
    double countdown = kw_num(c, "countdown", 1, 0.2);
    if (c->retries < (int)fail_times) {
        task_retry(out, countdown, "ConnectionError", "builtins", "transient failure %d",
                   c->retries + 1);
        return;
    }
    task_succeed(out, json_pack("{si}", "retries", c->retries));
}

static const task_def k_tasks[] = {
    {.name = "celeriac.test.echo", .fn = echo, .test_only = true},
    {.name = "celeriac.test.add", .fn = add, .test_only = true},
    {.name = "celeriac.test.sleep",
     .fn = sleeper,
     .max_retries = 3,
     .default_retry_delay = 1,
     .test_only = true},
    {.name = "celeriac.test.crash", .fn = crash, .test_only = true},
    {.name = "celeriac.test.fail", .fn = fail, .test_only = true},
    {.name = "celeriac.test.flaky",
     .fn = flaky,
     .max_retries = 3,
     .default_retry_delay = 0.2,
     .backoff_max = 2,
     .test_only = true},
};

void task_testing_register(void) {
    for (size_t i = 0; i < sizeof k_tasks / sizeof k_tasks[0]; i++)
        task_register(&k_tasks[i]);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int celeriac_testing_tasks_disabled;
#endif
