/*
 * metrics.c: per-task counters and duration histograms, served as Prometheus text format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/) on GET /metrics, and
 * GET /healthz (200 when the broker connection is up and PostgreSQL answers a ping, else
 * 503) on an optional port (CELERIAC_METRICS_PORT; 0 = off).
 *
 * The server lives in the supervisor's poll loop: one non-blocking accept per wakeup, a
 * request read with a short timeout and a bounded size, one response, close. It never
 * holds the loop longer than that (the database ping has a 1 s connect timeout).
 */
#include "db/db.h"
#include "util/dbuf.h"
#include "util/log.h"
#include "worker/sup_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const double k_bounds[SUP_HIST_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                  0.5,   1,    2.5,   5,    10,  60};
static const char *k_outcomes[5] = {"SUCCESS", "FAILURE", "RETRY", "REVOKED", "REJECTED"};

void metrics_count(sup *s, const char *task, int outcome, double runtime) {
    if (!task || outcome < 0 || outcome > 4)
        return;
    task_stats *t = NULL;
    for (size_t i = 0; i < s->nstats; i++)
        if (!strcmp(s->stats[i].name, task))
            t = &s->stats[i];
    if (!t) {
        if (s->nstats >= 256)
            return; /* bounded: unknown names can't grow this without limit */
        task_stats *n = realloc(s->stats, (s->nstats + 1) * sizeof *n);
        if (!n)
            abort();
        s->stats = n;
        t = &s->stats[s->nstats++];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s", task);
    }
    t->by_outcome[outcome]++;
    if (outcome == OUT_SUCCESS || outcome == OUT_FAILURE) {
        int b = 0;
        while (b < SUP_HIST_BUCKETS && runtime > k_bounds[b])
            b++;
        t->hist[b]++;
        t->sum += runtime;
        t->count++;
    }
}

int metrics_listen(sup *s) {
    if (s->cfg->metrics_port <= 0)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->cfg->metrics_port)};
    if (inet_pton(AF_INET, s->cfg->metrics_address, &a.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) {
        LOG(LOG_ERROR, "metrics.listen_failed", LF_S("address", s->cfg->metrics_address),
            LF_I("port", s->cfg->metrics_port), LF_S("error", strerror(errno)));
        close(fd);
        return -1;
    }
    LOG(LOG_INFO, "metrics.listening", LF_S("address", s->cfg->metrics_address),
        LF_I("port", s->cfg->metrics_port));
    return fd;
}

/* Label values escaped per the exposition format: backslash, double quote, newline. */
static cel_status label(dbuf *b, const char *v) {
    cel_status st = CEL_OK;
    for (; *v && st == CEL_OK; v++) {
        if (*v == '\\' || *v == '"')
            st = dbuf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            st = dbuf_append_str(b, "\\n");
        else
            st = dbuf_append(b, v, 1);
    }
    return st;
}

static cel_status render(sup *s, dbuf *b) {
    cel_status st =
        dbuf_append_str(b, "# HELP celeriac_tasks_total Tasks finished, by task name and outcome.\n"
                           "# TYPE celeriac_tasks_total counter\n");
    for (size_t i = 0; i < s->nstats && !st; i++)
        for (int k = 0; k < 5 && !st; k++) {
            if ((st = dbuf_append_str(b, "celeriac_tasks_total{task=\"")) ||
                (st = label(b, s->stats[i].name)))
                break;
            st = dbuf_printf(b, "\",outcome=\"%s\"} %llu\n", k_outcomes[k],
                             (unsigned long long)s->stats[i].by_outcome[k]);
        }
    if (!st)
        st = dbuf_append_str(b, "# HELP celeriac_task_duration_seconds Task run time in a "
                                "child, by task name.\n"
                                "# TYPE celeriac_task_duration_seconds histogram\n");
    for (size_t i = 0; i < s->nstats && !st; i++) {
        task_stats *t = &s->stats[i];
        uint64_t cum = 0;
        for (int k = 0; k <= SUP_HIST_BUCKETS && !st; k++) {
            cum += t->hist[k];
            if ((st = dbuf_append_str(b, "celeriac_task_duration_seconds_bucket{task=\"")) ||
                (st = label(b, t->name)))
                break;
            if (k < SUP_HIST_BUCKETS)
                st = dbuf_printf(b, "\",le=\"%g\"} %llu\n", k_bounds[k], (unsigned long long)cum);
            else
                st = dbuf_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        if (!st && !(st = dbuf_append_str(b, "celeriac_task_duration_seconds_sum{task=\"")) &&
            !(st = label(b, t->name)))
            st = dbuf_printf(b, "\"} %.6f\n", t->sum);
        if (!st && !(st = dbuf_append_str(b, "celeriac_task_duration_seconds_count{task=\"")) &&
            !(st = label(b, t->name)))
            st = dbuf_printf(b, "\"} %llu\n", (unsigned long long)t->count);
    }
    if (!st)
        st = dbuf_printf(
            b,
            "# HELP celeriac_tasks_running Tasks running in children now.\n"
            "# TYPE celeriac_tasks_running gauge\n"
            "celeriac_tasks_running %zu\n"
            "# HELP celeriac_tasks_held ETA/countdown tasks held unacked.\n"
            "# TYPE celeriac_tasks_held gauge\nceleriac_tasks_held %zu\n"
            "# HELP celeriac_prefetch_count Current basic.qos prefetch count.\n"
            "# TYPE celeriac_prefetch_count gauge\nceleriac_prefetch_count %u\n"
            "# HELP celeriac_child_restarts_total Children replaced after dying.\n"
            "# TYPE celeriac_child_restarts_total counter\nceleriac_child_restarts_total %llu\n"
            "# HELP celeriac_broker_connected 1 while the AMQP connection is up.\n"
            "# TYPE celeriac_broker_connected gauge\nceleriac_broker_connected %d\n"
            "# HELP celeriac_processed_total Tasks that reached a final state.\n"
            "# TYPE celeriac_processed_total counter\nceleriac_processed_total %llu\n",
            s->running, s->held, (unsigned)s->qos_current, (unsigned long long)s->child_restarts,
            s->b && brk_alive(s->b) ? 1 : 0, (unsigned long long)s->processed);
    return st;
}

static bool db_ok(void) {
    char ci[2048], ci2[2200];
    cel_error err = {0};
    if (db_conninfo_from_env(ci, sizeof ci, &err) != CEL_OK)
        return true; /* no database configured: not part of this worker's health */
    const char *sep = strstr(ci, "://") ? (strchr(ci, '?') ? "&" : "?") : " ";
    snprintf(ci2, sizeof ci2, "%s%sconnect_timeout=1", ci, sep);
    return PQping(ci2) == PQPING_OK;
}

void metrics_serve(sup *s) {
    int c = accept4(s->http_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    char req[2048];
    size_t got = 0;
    struct pollfd p = {.fd = c, .events = POLLIN};
    while (got < sizeof req - 1 && !memmem(req, got, "\r\n\r\n", 4) && poll(&p, 1, 500) > 0) {
        ssize_t n = read(c, req + got, sizeof req - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    req[got] = '\0';
    dbuf body;
    dbuf_init(&body, 4u << 20);
    int code = 200;
    const char *ctype = "text/plain; version=0.0.4; charset=utf-8";
    if (!strncmp(req, "GET /metrics", 12)) {
        if (render(s, &body) != CEL_OK)
            code = 500;
    } else if (!strncmp(req, "GET /healthz", 12)) {
        bool broker = s->b && brk_alive(s->b), db = db_ok();
        code = broker && db ? 200 : 503;
        ctype = "application/json";
        if (dbuf_printf(&body, "{\"broker\": %s, \"database\": %s}\n", broker ? "true" : "false",
                        db ? "true" : "false") != CEL_OK)
            code = 500;
    } else {
        code = 404;
        if (dbuf_append_str(&body, "not found\n") != CEL_OK)
            code = 500;
    }
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      code,
                      code == 200   ? "OK"
                      : code == 404 ? "Not Found"
                      : code == 503 ? "Service Unavailable"
                                    : "Error",
                      ctype, body.len);
    if (write(c, head, (size_t)hl) < 0 || (body.len && write(c, body.data, body.len) < 0))
        LOG(LOG_DEBUG, "metrics.write_failed", LF_S("error", strerror(errno)));
    dbuf_free(&body);
    close(c);
}
