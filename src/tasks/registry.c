/*
 * registry.c: the task table, aliases, and the outcome helpers (see task.h).
 * The table is small (tens of tasks) and built once at start-up: a fixed array
 * searched linearly is simpler than a hash and fast enough.
 */
#include "tasks/task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TASKS 64
#define MAX_ALIASES 64

static const task_def *g_tasks[MAX_TASKS];
static size_t g_ntasks;
static struct {
    char alias[256];
    const task_def *def;
} g_aliases[MAX_ALIASES];
static size_t g_naliases;

void task_register(const task_def *def) {
    if (g_ntasks >= MAX_TASKS)
        abort(); /* a programming error: raise MAX_TASKS */
    g_tasks[g_ntasks++] = def;
}

void task_registry_init(void) {
    if (g_ntasks)
        return;
    task_builtin_register();
    task_dq_register();
    task_datasets_register();
    task_ingest_register();
    task_imports_register();
#ifdef CELERIAC_TEST_TASKS
    task_testing_register();
#endif
}

const task_def *task_lookup(const char *name) {
    if (!name)
        return NULL;
    for (size_t i = 0; i < g_ntasks; i++)
        if (strcmp(g_tasks[i]->name, name) == 0)
            return g_tasks[i];
    for (size_t i = 0; i < g_naliases; i++)
        if (strcmp(g_aliases[i].alias, name) == 0)
            return g_aliases[i].def;
    return NULL;
}

void task_foreach(void (*cb)(const task_def *def, void *ud), void *ud) {
    for (size_t i = 0; i < g_ntasks; i++)
        cb(g_tasks[i], ud);
}

static void trim(const char **s, size_t *n) {
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

cel_status task_aliases_parse(const char *spec, cel_error *err) {
    if (!spec)
        return CEL_OK;
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *item = p;
        size_t n = len;
        trim(&item, &n);
        if (n) {
            const char *eq = memchr(item, '=', n);
            if (!eq)
                return cel_fail(err, CEL_ECONFIG, "CELERIAC_TASK_ALIASES: '%.*s' is not alias=task",
                                (int)n, item);
            const char *a = item, *t = eq + 1;
            size_t an = (size_t)(eq - item), tn = n - an - 1;
            trim(&a, &an);
            trim(&t, &tn);
            char target[256];
            if (an == 0 || an >= sizeof g_aliases[0].alias || tn == 0 || tn >= sizeof target)
                return cel_fail(err, CEL_ECONFIG, "CELERIAC_TASK_ALIASES: bad entry '%.*s'", (int)n,
                                item);
            memcpy(target, t, tn);
            target[tn] = '\0';
            const task_def *def = task_lookup(target);
            if (!def)
                return cel_fail(err, CEL_ECONFIG,
                                "CELERIAC_TASK_ALIASES: '%s' is not a celeriac task", target);
            if (g_naliases >= MAX_ALIASES)
                return cel_fail(err, CEL_ECONFIG, "CELERIAC_TASK_ALIASES: more than %d aliases",
                                MAX_ALIASES);
            memcpy(g_aliases[g_naliases].alias, a, an);
            g_aliases[g_naliases].alias[an] = '\0';
            g_aliases[g_naliases].def = def;
            g_naliases++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return CEL_OK;
}

void task_outcome_clear(task_outcome *out) {
    json_decref(out->result);
    free(out->traceback);
    memset(out, 0, sizeof *out);
}

void task_succeed(task_outcome *out, json_t *result) {
    out->kind = TASK_SUCCESS;
    out->result = result;
}

__attribute__((format(printf, 4, 0))) static void set_exc(task_outcome *out, const char *exc_type,
                                                          const char *exc_module, const char *fmt,
                                                          va_list ap) {
    snprintf(out->exc_type, sizeof out->exc_type, "%s", exc_type);
    snprintf(out->exc_module, sizeof out->exc_module, "%s", exc_module);
    vsnprintf(out->exc_message, sizeof out->exc_message, fmt, ap);
}

void task_fail(task_outcome *out, const char *exc_type, const char *exc_module, const char *fmt,
               ...) {
    va_list ap;
    va_start(ap, fmt);
    out->kind = TASK_FAILURE;
    set_exc(out, exc_type, exc_module, fmt, ap);
    va_end(ap);
}

void task_retry(task_outcome *out, double countdown, const char *exc_type, const char *exc_module,
                const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    out->kind = TASK_RETRY;
    out->countdown = countdown;
    set_exc(out, exc_type, exc_module, fmt, ap);
    va_end(ap);
}

void task_fail_from_error(task_outcome *out, const cel_error *err) {
    const char *type = "RuntimeError";
    switch (err->code) {
    case CEL_ETRANSIENT:
    case CEL_EBROKER:
        type = "ConnectionError";
        break;
    case CEL_ETIMEOUT:
        type = "TimeoutError";
        break;
    case CEL_ENOTFOUND:
        type = "FileNotFoundError";
        break;
    case CEL_EDENIED:
        type = "PermissionError";
        break;
    case CEL_EINVAL:
    case CEL_EPARSE:
    case CEL_ESCHEMA:
    case CEL_EUNSUPPORTED:
    case CEL_ELIMIT:
        type = "ValueError";
        break;
    case CEL_ENOMEM:
        type = "MemoryError";
        break;
    case CEL_EIO:
        type = "OSError";
        break;
    default:
        break;
    }
    task_fail(out, type, "builtins", "%s", err->msg[0] ? err->msg : cel_strerror(err->code));
}
