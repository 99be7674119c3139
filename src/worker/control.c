/*
 * control.c: remote control on `celery.pidbox`, so `celery inspect ...`, `celery control
 * ...`, `celery status` and Flower work against celeriac (docs/research/celery.md §5;
 * kombu 5.2.4 pidbox.py, celery 5.2.6 worker/control.py).
 *
 * Topology (must match kombu byte for byte or the broker answers 406): exchange
 * `celery.pidbox` fanout non-durable; our queue `<nodename>.celery.pidbox` non-durable,
 * auto-delete, x-message-ttl 300000, x-expires 10000, consumed with no_ack; replies to the
 * exchange named in the request (`reply.celery.pidbox`, direct non-durable) with routing
 * key = the client's oid and header `ticket`. Replies are `{nodename: value}`; handlers
 * answer {"ok": ...} / {"error": ...} as Celery's ok()/nok() do. `shutdown` sends no reply
 * (as Python, whose handler raises SystemExit) and starts a warm shutdown.
 *
 * Not supported (answered with an error): rate_limit, pool_grow/shrink, autoscale,
 * pool_restart, memdump and friends.
 */
#include "util/log.h"
#include "util/timeutil.h"
#include "worker/sup_internal.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

cel_status ctl_declare(sup *s, cel_error *err) {
    snprintf(s->pidbox_queue, sizeof s->pidbox_queue, "%s.celery.pidbox", s->cfg->hostname);
    cel_status st = brk_declare_exchange(s->b, "celery.pidbox", "fanout", false, false, err);
    if (st != CEL_OK)
        return st;
    json_t *args = json_pack("{sisi}", "x-message-ttl", 300000, "x-expires", 10000);
    st = brk_declare_queue(s->b, s->pidbox_queue, false, false, false, true, args, err);
    json_decref(args);
    if (st == CEL_OK)
        st = brk_bind_queue(s->b, s->pidbox_queue, "celery.pidbox", "", err);
    if (st == CEL_OK)
        st = brk_declare_exchange(s->b, "reply.celery.pidbox", "direct", false, false, err);
    if (st == CEL_OK)
        st = brk_consume(s->b, s->pidbox_queue, true, s->ctl_ctag, sizeof s->ctl_ctag, err);
    return st;
}

__attribute__((format(printf, 1, 2))) static json_t *ok(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return json_pack("{ss}", "ok", buf);
}

static json_t *nok(const char *msg) {
    return json_pack("{ss}", "error", msg);
}

static json_t *job_list(sup *s, job_state state, bool safe) {
    json_t *a = json_array();
    for (job *j = s->jobs; j; j = j->next) {
        if (j->state != state)
            continue;
        json_t *info = sup_job_info(s, j, safe);
        if (state == JOB_HELD) {
            char eta[48];
            tu_format_iso8601(j->t.eta, eta, sizeof eta);
            json_array_append_new(
                a, json_pack("{sssiso}", "eta", eta, "priority", 6, "request", info));
        } else {
            json_array_append_new(a, info);
        }
    }
    return a;
}

static json_t *stats(sup *s) {
    json_t *total = json_object();
    for (size_t i = 0; i < s->nstats; i++) {
        uint64_t n = 0;
        for (int k = 0; k < 5; k++)
            n += s->stats[i].by_outcome[k];
        json_object_set_new(total, s->stats[i].name, json_integer((json_int_t)n));
    }
    json_t *procs = json_array();
    for (int i = 0; i < s->nchildren; i++)
        if (s->children[i].pid > 0)
            json_array_append_new(procs, json_integer(s->children[i].pid));
    char clock[32];
    snprintf(clock, sizeof clock, "%llu", (unsigned long long)s->clock);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    json_t *rusage =
        json_pack("{sfsfsIsIsIsIsIsIsIsIsIsIsIsIsIsI}", "utime",
                  (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6, "stime",
                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, "maxrss",
                  (json_int_t)ru.ru_maxrss, "ixrss", (json_int_t)ru.ru_ixrss, "idrss",
                  (json_int_t)ru.ru_idrss, "isrss", (json_int_t)ru.ru_isrss, "minflt",
                  (json_int_t)ru.ru_minflt, "majflt", (json_int_t)ru.ru_majflt, "nswap",
                  (json_int_t)ru.ru_nswap, "inblock", (json_int_t)ru.ru_inblock, "oublock",
                  (json_int_t)ru.ru_oublock, "msgsnd", (json_int_t)ru.ru_msgsnd, "msgrcv",
                  (json_int_t)ru.ru_msgrcv, "nsignals", (json_int_t)ru.ru_nsignals, "nvcsw",
                  (json_int_t)ru.ru_nvcsw, "nivcsw", (json_int_t)ru.ru_nivcsw);
    json_t *broker = json_object();
    json_object_set_new(broker, "hostname", json_string(s->url.host));
    json_object_set_new(broker, "userid", json_string(s->url.user));
    json_object_set_new(broker, "virtual_host", json_string(s->url.vhost));
    json_object_set_new(broker, "port", json_integer(s->url.port));
    json_object_set_new(broker, "insist", json_false());
    json_object_set_new(broker, "ssl", json_boolean(s->url.ssl));
    json_object_set_new(broker, "transport", json_string("amqp"));
    json_object_set_new(broker, "connect_timeout", json_integer(10));
    json_object_set_new(broker, "transport_options", json_object());
    json_object_set_new(broker, "login_method", json_string("PLAIN"));
    json_object_set_new(broker, "uri_prefix", json_null());
    json_object_set_new(broker, "heartbeat", json_integer(s->cfg->heartbeat));
    json_object_set_new(broker, "failover_strategy", json_string("round-robin"));
    json_object_set_new(broker, "alternates", json_array());
    json_t *pool = json_object();
    json_object_set_new(pool, "max-concurrency", json_integer(s->nchildren));
    json_object_set_new(pool, "processes", procs);
    json_object_set_new(pool, "max-tasks-per-child", json_string("N/A"));
    json_object_set_new(pool, "put-guarded-by-semaphore", json_false());
    json_object_set_new(pool, "timeouts",
                        json_pack("[ff]", s->cfg->task_soft_time_limit, s->cfg->task_time_limit));
    json_object_set_new(pool, "writes", json_object());
    json_t *st = json_object();
    json_object_set_new(st, "total", total);
    json_object_set_new(st, "pid", json_integer(getpid()));
    json_object_set_new(st, "clock", json_string(clock));
    json_object_set_new(st, "uptime", json_integer((json_int_t)(tu_monotonic() - s->started_at)));
    json_object_set_new(st, "pool", pool);
    json_object_set_new(st, "broker", broker);
    json_object_set_new(st, "prefetch_count", json_integer(s->qos_current));
    json_object_set_new(st, "rusage", rusage);
    json_object_set_new(st, "sw_ident", json_string("celeriac"));
    json_object_set_new(st, "sw_ver", json_string(CELERIAC_VERSION));
    json_object_set_new(st, "processed", json_integer((json_int_t)s->processed));
    return st;
}

static json_t *queue_dict(const char *q) {
    json_t *ex = json_object();
    json_object_set_new(ex, "name", json_string(q));
    json_object_set_new(ex, "type", json_string("direct"));
    json_object_set_new(ex, "arguments", json_null());
    json_object_set_new(ex, "durable", json_true());
    json_object_set_new(ex, "passive", json_false());
    json_object_set_new(ex, "auto_delete", json_false());
    json_object_set_new(ex, "delivery_mode", json_null());
    json_object_set_new(ex, "no_declare", json_false());
    json_t *d = json_object();
    json_object_set_new(d, "name", json_string(q));
    json_object_set_new(d, "exchange", ex);
    json_object_set_new(d, "routing_key", json_string(q));
    static const char *nulls[] = {"queue_arguments", "binding_arguments", "consumer_arguments",
                                  "alias",           "message_ttl",       "expires",
                                  "max_length",      "max_length_bytes",  "max_priority"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        json_object_set_new(d, nulls[i], json_null());
    json_object_set_new(d, "bindings", json_array());
    json_object_set_new(d, "durable", json_true());
    json_object_set_new(d, "exclusive", json_false());
    json_object_set_new(d, "auto_delete", json_false());
    json_object_set_new(d, "no_ack", json_false());
    json_object_set_new(d, "no_declare", json_false());
    return d;
}

static json_t *conf(sup *s) {
    const worker_settings *c = s->cfg;
    return json_pack("{sssssssisisbsbsisfsf}", "broker_url", "amqp://***", "result_backend",
                     c->result_backend, "task_default_queue", s->queues[0], "worker_concurrency",
                     s->nchildren, "worker_prefetch_multiplier", (int)c->prefetch_multiplier,
                     "task_track_started", c->track_started, "worker_send_task_events",
                     s->task_events, "broker_heartbeat", (int)c->heartbeat, "task_time_limit",
                     c->task_time_limit, "task_soft_time_limit", c->task_soft_time_limit);
}

static void collect_ids(json_t *v, json_t *out) {
    if (json_is_string(v)) {
        json_array_append(out, v);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (json_is_string(e)) json_array_append(out, e);
    }
}

static json_t *do_revoke(sup *s, json_t *args, bool force_terminate) {
    json_t *ids = json_array();
    collect_ids(json_object_get(args, "task_id"), ids);
    bool terminate = force_terminate || json_is_true(json_object_get(args, "terminate"));
    size_t i;
    json_t *e;
    int killed = 0;
    char list[900] = "";
    json_array_foreach(ids, i, e) {
        const char *id = json_string_value(e);
        lru_put(s->revoked, id, strdup("1"));
        if (strlen(list) + strlen(id) + 3 < sizeof list) {
            if (list[0])
                strcat(list, ", ");
            strcat(list, id);
        }
        for (job *j = s->jobs, *next; j; j = next) {
            next = j->next;
            if (strcmp(j->t.id, id) != 0)
                continue;
            if (j->state == JOB_RUNNING) {
                if (terminate && j->worker_pid > 0) {
                    j->terminated = true;
                    kill(j->worker_pid, SIGKILL);
                    killed++;
                }
            } else {
                sup_revoke_job(s, j, "revoked");
            }
        }
    }
    json_decref(ids);
    LOG(LOG_WARNING, "control.revoke", LF_S("ids", list), LF_B("terminate", terminate));
    if (terminate)
        return killed ? ok("terminate: %s", list) : ok("terminate: tasks unknown");
    return ok("tasks %s flagged as revoked", list);
}

static json_t *query_task(sup *s, json_t *args) {
    json_t *ids = json_array();
    collect_ids(json_object_get(args, "ids"), ids);
    collect_ids(json_object_get(args, "task_id"), ids);
    json_t *out = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(ids, i, e) {
        for (job *j = s->jobs; j; j = j->next) {
            if (strcmp(j->t.id, json_string_value(e)) != 0)
                continue;
            const char *state = j->state == JOB_RUNNING ? "active"
                                : j->state == JOB_HELD  ? "scheduled"
                                                        : "reserved";
            json_object_set_new(out, j->t.id, json_pack("[so]", state, sup_job_info(s, j, true)));
        }
    }
    json_decref(ids);
    return out;
}

static json_t *time_limit(sup *s, json_t *args) {
    const char *name = json_string_value(json_object_get(args, "task_name"));
    const task_def *def = task_lookup(name);
    if (!def)
        return nok("unknown task");
    double *lim = malloc(2 * sizeof *lim);
    if (!lim)
        abort();
    json_t *soft = json_object_get(args, "soft"), *hard = json_object_get(args, "hard");
    lim[0] = json_is_number(soft) ? json_number_value(soft) : 0;
    lim[1] = json_is_number(hard) ? json_number_value(hard) : 0;
    lru_put(s->limits, def->name, lim);
    return ok("time limits set successfully");
}

static void revoked_cb(const char *key, void *value, void *ud) {
    (void)value;
    json_array_append_new(ud, json_string(key));
}

static void registered_cb(const task_def *def, void *ud) {
    json_array_append_new(ud, json_string(def->name));
}

/* Runs one command; returns the reply value (new) or NULL for "no reply". */
static json_t *dispatch(sup *s, const char *method, json_t *args) {
    if (!strcmp(method, "ping"))
        return ok("pong");
    if (!strcmp(method, "stats"))
        return stats(s);
    if (!strcmp(method, "active"))
        return job_list(s, JOB_RUNNING, json_is_true(json_object_get(args, "safe")));
    if (!strcmp(method, "reserved"))
        return job_list(s, JOB_RESERVED, true);
    if (!strcmp(method, "scheduled"))
        return job_list(s, JOB_HELD, true);
    if (!strcmp(method, "revoked")) {
        json_t *a = json_array();
        lru_foreach(s->revoked, revoked_cb, a);
        return a;
    }
    if (!strcmp(method, "registered")) {
        json_t *a = json_array();
        task_foreach(registered_cb, a);
        return a;
    }
    if (!strcmp(method, "active_queues")) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->nqueues; i++)
            if (s->ctags[i][0])
                json_array_append_new(a, queue_dict(s->queues[i]));
        return a;
    }
    if (!strcmp(method, "conf"))
        return conf(s);
    if (!strcmp(method, "query_task"))
        return query_task(s, args);
    if (!strcmp(method, "clock"))
        return json_pack("{sI}", "clock", (json_int_t)s->clock);
    if (!strcmp(method, "hello")) {
        const char *from = json_string_value(json_object_get(args, "from_node"));
        if (from && !strcmp(from, s->cfg->hostname))
            return NULL;
        return json_pack("{sosI}", "revoked", json_object(), "clock", (json_int_t)s->clock);
    }
    if (!strcmp(method, "revoke"))
        return do_revoke(s, args, false);
    if (!strcmp(method, "terminate"))
        return do_revoke(s, args, true);
    if (!strcmp(method, "enable_events")) {
        bool was = s->task_events;
        s->task_events = true;
        return ok("%s", was ? "task events already enabled" : "task events enabled");
    }
    if (!strcmp(method, "disable_events")) {
        bool was = s->task_events;
        s->task_events = false;
        return ok("%s", was ? "task events disabled" : "task events already disabled");
    }
    if (!strcmp(method, "heartbeat")) {
        ev_worker(s, "worker-heartbeat");
        return NULL;
    }
    if (!strcmp(method, "shutdown")) {
        LOG(LOG_WARNING, "control.shutdown", LF_S("note", "remote shutdown requested"));
        sup_begin_warm_shutdown(s);
        return NULL;
    }
    if (!strcmp(method, "time_limit"))
        return time_limit(s, args);
    if (!strcmp(method, "add_consumer")) {
        const char *q = json_string_value(json_object_get(args, "queue"));
        cel_error err = {0};
        if (!q || !*q)
            return nok("add_consumer needs a queue");
        if (sup_consume_queue(s, q, &err) != CEL_OK)
            return nok(err.msg);
        return ok("add consumer %s", q);
    }
    if (!strcmp(method, "cancel_consumer")) {
        const char *q = json_string_value(json_object_get(args, "queue"));
        cel_error err = {0};
        if (!q || sup_cancel_queue(s, q, &err) != CEL_OK)
            return nok(err.msg[0] ? err.msg : "cancel_consumer needs a queue");
        return ok("no longer consuming from %s", q);
    }
    if (!strcmp(method, "report"))
        return ok("celeriac " CELERIAC_VERSION " (%s)", s->cfg->hostname);
    char msg[300];
    snprintf(msg, sizeof msg, "unknown or unsupported command '%.200s'", method);
    return nok(msg);
}

static bool addressed_to_us(sup *s, json_t *body) {
    json_t *dest = json_object_get(body, "destination");
    if (json_is_array(dest) && json_array_size(dest)) {
        size_t i;
        json_t *e;
        json_array_foreach(dest, i,
                           e) if (json_is_string(e) &&
                                  !strcmp(json_string_value(e), s->cfg->hostname)) return true;
        return false;
    }
    const char *pattern = json_string_value(json_object_get(body, "pattern"));
    const char *matcher = json_string_value(json_object_get(body, "matcher"));
    if (pattern && matcher) {
        if (!strcmp(matcher, "glob"))
            return fnmatch(pattern, s->cfg->hostname, 0) == 0;
        if (!strcmp(matcher, "pcre")) {
            regex_t re;
            if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return false;
            bool m = regexec(&re, s->cfg->hostname, 0, NULL, 0) == 0;
            regfree(&re);
            return m;
        }
    }
    return true;
}

void ctl_handle(sup *s, const brk_delivery *d) {
    json_error_t jerr;
    json_t *body = json_loadb(d->body, d->body_len, 0, &jerr);
    if (!body || !json_is_object(body)) {
        LOG(LOG_WARNING, "control.bad_message", LF_S("error", body ? "not an object" : jerr.text));
        json_decref(body);
        return;
    }
    json_t *hclock = d->headers ? json_object_get(d->headers, "clock") : NULL;
    if (json_is_integer(hclock) && (uint64_t)json_integer_value(hclock) > s->clock)
        s->clock = (uint64_t)json_integer_value(hclock);
    s->clock++;
    json_t *hexp = d->headers ? json_object_get(d->headers, "expires") : NULL;
    if (json_is_number(hexp) && json_number_value(hexp) > 0 && json_number_value(hexp) < tu_now()) {
        json_decref(body);
        return; /* the caller stopped waiting */
    }
    const char *method = json_string_value(json_object_get(body, "method"));
    if (!method || !addressed_to_us(s, body)) {
        json_decref(body);
        return;
    }
    json_t *args = json_object_get(body, "arguments");
    LOG(LOG_DEBUG, "control.command", LF_S("method", method));
    json_t *value = dispatch(s, method, json_is_object(args) ? args : NULL);
    const char *ticket = json_string_value(json_object_get(body, "ticket"));
    json_t *reply_to = json_object_get(body, "reply_to");
    const char *rex = json_string_value(json_object_get(reply_to, "exchange"));
    const char *rkey = json_string_value(json_object_get(reply_to, "routing_key"));
    if (value && ticket && rex && rkey && s->b && brk_alive(s->b)) {
        json_t *reply = json_object();
        json_object_set(reply, s->cfg->hostname, value);
        char *text = json_dumps(reply, JSON_COMPACT);
        json_t *headers = json_pack("{sssI}", "ticket", ticket, "clock", (json_int_t)s->clock);
        cel_error err = {0};
        if (text && sup_publish_nowait(s, rex, rkey, text, headers, &err) != CEL_OK)
            LOG(LOG_WARNING, "control.reply_failed", LF_S("method", method),
                LF_S("error", err.msg));
        free(text);
        json_decref(headers);
        json_decref(reply);
    }
    json_decref(value);
    json_decref(body);
}
