/*
 * events.c: Celery events on the `celeryev` topic exchange, so `celery events`, Flower and
 * any kombu event receiver see celeriac like a Python worker (docs/research/celery.md §4;
 * celery 5.2.6 events/dispatcher.py, worker/heartbeat.py).
 *
 * Every event carries hostname, utcoffset (Python's sign convention: time.timezone // 3600,
 * hours *west* of UTC, floor division), pid, clock (Lamport), timestamp and type; the routing
 * key is the type with '-' → '.'. Worker events (online, heartbeat every 2 s from the
 * supervisor loop, offline) are always sent; task events only with -E or after a remote
 * `enable_events`. Events are published without waiting for the confirm: they are
 * monitoring data, and a lost one must never delay a task's ack.
 */
#include "util/log.h"
#include "util/timeutil.h"
#include "worker/sup_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define HEARTBEAT_FREQ 2.0

static int utcoffset(void) {
    tzset();
    long west = timezone; /* seconds west of UTC, as Python's time.timezone */
    long q = west / 3600;
    if ((west % 3600 != 0) && ((west < 0) != (3600 < 0)))
        q--; /* floor division */
    return (int)q;
}

cel_status ev_declare(sup *s, cel_error *err) {
    return brk_declare_exchange(s->b, "celeryev", "topic", true, false, err);
}

static void publish(sup *s, const char *type, json_t *ev) {
    if (!s->b || !brk_alive(s->b)) {
        json_decref(ev);
        return;
    }
    s->clock++;
    json_object_set_new(ev, "hostname", json_string(s->cfg->hostname));
    json_object_set_new(ev, "utcoffset", json_integer(utcoffset()));
    json_object_set_new(ev, "pid", json_integer(getpid()));
    json_object_set_new(ev, "clock", json_integer((json_int_t)s->clock));
    json_object_set_new(ev, "timestamp", json_real(tu_now()));
    json_object_set_new(ev, "type", json_string(type));
    char rk[64];
    snprintf(rk, sizeof rk, "%s", type);
    for (char *p = rk; *p; p++)
        if (*p == '-')
            *p = '.';
    char *body = json_dumps(ev, JSON_COMPACT);
    json_t *headers = json_pack("{ss}", "hostname", s->cfg->hostname);
    json_decref(ev);
    if (!body) {
        json_decref(headers);
        return;
    }
    cel_error err = {0};
    if (sup_publish_nowait(s, "celeryev", rk, body, headers, &err) != CEL_OK)
        LOG(LOG_WARNING, "event.publish_failed", LF_S("type", type), LF_S("error", err.msg));
    free(body);
    json_decref(headers);
}

void ev_task_id(sup *s, const char *type, const char *id, json_t *fields) {
    if (!s->task_events || !id) {
        json_decref(fields);
        return;
    }
    json_t *ev = fields ? fields : json_object();
    json_object_set_new(ev, "uuid", json_string(id));
    publish(s, type, ev);
}

void ev_task(sup *s, const char *type, const job *j, json_t *fields) {
    ev_task_id(s, type, j->t.id, fields);
}

json_t *ev_loadavg(void) {
    double l[3] = {0, 0, 0};
    if (getloadavg(l, 3) != 3)
        l[0] = l[1] = l[2] = 0;
    json_t *a = json_array();
    for (int i = 0; i < 3; i++)
        json_array_append_new(a, json_real(ceil(l[i] * 100.0) / 100.0));
    return a;
}

void ev_worker(sup *s, const char *type) {
    struct utsname u;
    const char *sys = uname(&u) == 0 ? u.sysname : "Linux";
    json_t *ev = json_pack("{sfsisIsossssss}", "freq", HEARTBEAT_FREQ, "active", (int)s->running,
                           "processed", (json_int_t)s->processed, "loadavg", ev_loadavg(),
                           "sw_ident", "celeriac", "sw_ver", CELERIAC_VERSION, "sw_sys", sys);
    publish(s, type, ev);
}

void ev_tick(sup *s) {
    if (!s->b || !brk_alive(s->b) || s->stopping)
        return;
    double now = tu_monotonic();
    if (!s->online_sent) {
        ev_worker(s, "worker-online");
        s->online_sent = true;
        s->next_heartbeat = now + HEARTBEAT_FREQ;
        return;
    }
    if (now >= s->next_heartbeat) {
        ev_worker(s, "worker-heartbeat");
        s->next_heartbeat = now + HEARTBEAT_FREQ;
    }
}
