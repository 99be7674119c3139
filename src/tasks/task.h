/*
 * task.h: what a task is to the worker: a name, a function run in a child process,
 * and its retry policy; plus the outcome a task reports.
 *
 * A task function gets a read-only context and fills a task_outcome: SUCCESS with a
 * JSON result, FAILURE with a Python exception (type, module, message) that a Celery
 * client raises as a real exception class, or RETRY with a countdown. The runtime
 * (worker/child.c) turns RETRY into FAILURE once max_retries is reached, exactly as
 * Task.retry does (celery 5.2.6 app/task.py:628).
 *
 * Names are the contract with producers; aliases (CELERIAC_TASK_ALIASES="a=b,c=d")
 * let existing producers keep their own names.
 */
#ifndef CELERIAC_TASK_H
#define CELERIAC_TASK_H

#include "celeriac/error.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct task_ctx {
    const char *id;
    const char *name; /* canonical name (after alias resolution) */
    int retries;
    json_t *args;   /* borrowed array */
    json_t *kwargs; /* borrowed object */
    const char *hostname;
    const char *root_id; /* may be NULL */
} task_ctx;

typedef enum { TASK_SUCCESS = 0, TASK_FAILURE, TASK_RETRY } task_outcome_kind;

typedef struct task_outcome {
    task_outcome_kind kind;
    json_t *result; /* SUCCESS: new ref (NULL = null) */
    char exc_type[128];
    char exc_module[128];
    char exc_message[2048];
    char *traceback;  /* malloc'd or NULL (then a one-frame traceback is synthesized) */
    double countdown; /* RETRY: seconds; < 0 = the task's backoff policy */
    bool dead_letter; /* FAILURE (also a RETRY past max_retries): move the task message to the
                         dead-letter queue, reason = the exception, instead of acking it */
} task_outcome;

typedef void (*task_fn)(const task_ctx *ctx, task_outcome *out);

typedef struct task_def {
    const char *name;
    task_fn fn;
    int max_retries;            /* -1 = unlimited */
    double default_retry_delay; /* seconds, base of the exponential backoff */
    double backoff_max;         /* cap for the backoff */
    bool test_only;
} task_def;

/* SUCCESS with result (stolen; NULL = JSON null). */
void task_succeed(task_outcome *out, json_t *result);
/* FAILURE raising exc_module.exc_type(message) in the client. */
void task_fail(task_outcome *out, const char *exc_type, const char *exc_module, const char *fmt,
               ...) CEL_PRINTF(4, 5);
/* FAILURE from a cel_error: transient codes map to builtins.ConnectionError / TimeoutError,
 * others to the closest builtin (ValueError, FileNotFoundError, PermissionError...). */
void task_fail_from_error(task_outcome *out, const cel_error *err);
/* RETRY after countdown seconds (< 0 = backoff policy), reporting the given exception. */
void task_retry(task_outcome *out, double countdown, const char *exc_type, const char *exc_module,
                const char *fmt, ...) CEL_PRINTF(5, 6);
void task_outcome_clear(task_outcome *out);

/* Registry. Lookup resolves aliases; NULL when unknown. */
const task_def *task_lookup(const char *name);
/* Registers the built-in tasks (called once at start-up). */
void task_registry_init(void);
/* Adds "alias=name,alias2=name2"; CEL_ECONFIG on bad syntax or unknown target. */
cel_status task_aliases_parse(const char *spec, cel_error *err) CEL_MUST_CHECK;
/* Visits registered tasks in registration order. */
void task_foreach(void (*cb)(const task_def *def, void *ud), void *ud);
/* Registers one task (static storage). Used by each task module's init. */
void task_register(const task_def *def);

/* Built-in modules register themselves through these. */
void task_builtin_register(void);
void task_dq_register(void); /* tasks/dq.c */
void task_datasets_register(void);
void task_ingest_register(void);  /* tasks/ingest.c */
void task_imports_register(void); /* tasks/imports.c */
#ifdef CELERIAC_TEST_TASKS
void task_testing_register(void);
#endif

#endif
