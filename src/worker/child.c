/*
 * child.c: the prefork child loop (see child.h).
 */
#include "worker/child.h"

#include "util/log.h"
#include "util/timeutil.h"
#include "worker/ipc.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static double backoff(const task_def *def, int retries) {
    double base = def->default_retry_delay > 0 ? def->default_retry_delay : 1.0;
    double cap = def->backoff_max > 0 ? def->backoff_max : 600.0;
    double d = base * pow(2.0, retries < 30 ? retries : 30);
    return d > cap ? cap : d;
}

static char *synth_traceback(const char *task, const task_outcome *o) {
    char *tb = NULL;
    if (asprintf(&tb,
                 "Traceback (most recent call last):\n  File \"celeriac\", line 0, in %s\n%s: %s\n",
                 task, o->exc_type, o->exc_message) < 0)
        return NULL;
    return tb;
}

static char *error_response(const char *id, const char *type, const char *module, const char *msg) {
    json_t *r = json_pack("{s:s?,s:s,s:s,s:s,s:s}", "id", id, "status", "FAILURE", "exc_type", type,
                          "exc_module", module, "exc_message", msg);
    char *s = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return s;
}

char *child_run_request(const char *request, size_t len) {
    json_error_t jerr;
    json_t *req = json_loadb(request, len, 0, &jerr);
    if (!req || !json_is_object(req)) {
        json_decref(req);
        return error_response(NULL, "RuntimeError", "builtins",
                              "celeriac: malformed child request");
    }
    task_ctx ctx = {
        .id = json_string_value(json_object_get(req, "id")),
        .name = json_string_value(json_object_get(req, "name")),
        .retries = (int)json_integer_value(json_object_get(req, "retries")),
        .args = json_object_get(req, "args"),
        .kwargs = json_object_get(req, "kwargs"),
        .hostname = json_string_value(json_object_get(req, "hostname")),
        .root_id = json_string_value(json_object_get(req, "root_id")),
    };
    const task_def *def = task_lookup(ctx.name);
    if (!ctx.id || !def || !json_is_array(ctx.args) || !json_is_object(ctx.kwargs)) {
        char *s = error_response(ctx.id, "NotRegistered", "celery.exceptions",
                                 ctx.name ? ctx.name : "(no name)");
        json_decref(req);
        return s;
    }
    ctx.name = def->name;
    task_outcome out;
    memset(&out, 0, sizeof out);
    double t0 = tu_monotonic();
    def->fn(&ctx, &out);
    double runtime = tu_monotonic() - t0;
    if (out.kind == TASK_RETRY && def->max_retries >= 0 && ctx.retries >= def->max_retries) {
        /* Task.retry past max_retries re-raises the exception: a plain FAILURE. */
        out.kind = TASK_FAILURE;
    }
    if (out.kind == TASK_RETRY && out.countdown < 0)
        out.countdown = backoff(def, ctx.retries);
    json_t *resp = json_object();
    json_object_set_new(resp, "id", json_string(ctx.id));
    json_object_set_new(resp, "runtime", json_real(runtime));
    if (out.kind == TASK_SUCCESS) {
        json_object_set_new(resp, "status", json_string("SUCCESS"));
        json_object_set(resp, "result", out.result ? out.result : json_null());
    } else {
        json_object_set_new(resp, "status",
                            json_string(out.kind == TASK_RETRY ? "RETRY" : "FAILURE"));
        json_object_set_new(resp, "exc_type", json_string(out.exc_type));
        json_object_set_new(resp, "exc_module", json_string(out.exc_module));
        json_t *m = json_string(out.exc_message);
        json_object_set_new(resp, "exc_message", m ? m : json_string("(message not UTF-8)"));
        char *tb = out.traceback ? NULL : synth_traceback(def->name, &out);
        json_t *tbj = json_string(out.traceback ? out.traceback : (tb ? tb : ""));
        json_object_set_new(resp, "traceback", tbj ? tbj : json_null());
        free(tb);
        if (out.kind == TASK_RETRY)
            json_object_set_new(resp, "countdown", json_real(out.countdown));
        else if (out.dead_letter)
            json_object_set_new(resp, "dead_letter", json_true());
    }
    char *s = json_dumps(resp, JSON_COMPACT);
    if (!s) /* e.g. a non-finite real in the result */
        s = error_response(ctx.id, "ValueError", "builtins",
                           "task result is not JSON-serializable (NaN or Infinity?)");
    json_decref(resp);
    task_outcome_clear(&out);
    json_decref(req);
    return s;
}

void child_main(int fd) {
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(0);
    dbuf req;
    dbuf_init(&req, IPC_MAX_FRAME);
    for (;;) {
        cel_error err = {0};
        cel_status st = ipc_read_frame(fd, &req, &err);
        if (st == CEL_ENOTFOUND)
            break;
        if (st != CEL_OK) {
            LOG(LOG_ERROR, "child.ipc_error", LF_S("error", err.msg));
            break;
        }
        char *resp = child_run_request(req.data, req.len);
        if (!resp)
            break;
        st = ipc_write_frame(fd, resp, strlen(resp), &err);
        free(resp);
        if (st != CEL_OK) {
            LOG(LOG_ERROR, "child.ipc_error", LF_S("error", err.msg));
            break;
        }
    }
    dbuf_free(&req);
    _exit(0);
}
