/*
 * sup_internal.h: the supervisor's state, shared by supervisor.c (messages, children,
 * results), events.c (celeryev events), control.c (remote control on celery.pidbox) and
 * metrics.c (Prometheus /metrics, /healthz). Not a public interface.
 */
#ifndef CELERIAC_SUP_INTERNAL_H
#define CELERIAC_SUP_INTERNAL_H

#include "broker/broker.h"
#include "celery/message.h"
#include "tasks/task.h"
#include "util/lru.h"
#include "worker/ipc.h"
#include "worker/supervisor.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum { JOB_HELD, JOB_RESERVED, JOB_RUNNING } job_state;

typedef struct job {
    brk_delivery *d;
    cmsg_task t;
    const task_def *def;
    job_state state;
    double received_at, started_at;
    double hard_limit; /* seconds, 0 = none */
    bool time_limited; /* killed for exceeding hard_limit */
    bool terminated;   /* killed by `revoke --terminate` */
    pid_t worker_pid;
    struct job *next;
} job;

typedef struct child {
    pid_t pid;
    int fd;
    ipc_reader rd;
    job *job;
    double spawned_at;
    bool dead;
} child;

/* A terminal outcome remembered for redeliveries. */
typedef struct completed {
    char *body;     /* result message body, NULL when nothing is to be published */
    char *reply_to; /* NULL when nothing is to be published */
    bool published;
} completed;

#define SUP_MAX_QUEUES 64
#define SUP_HIST_BUCKETS 12

typedef struct task_stats {
    char name[200];
    uint64_t by_outcome[5]; /* SUCCESS, FAILURE, RETRY, REVOKED, REJECTED */
    uint64_t hist[SUP_HIST_BUCKETS + 1];
    double sum;
    uint64_t count;
} task_stats;

typedef struct sup {
    const worker_settings *cfg;
    brk_url url;
    brk_options bopts;
    brk_conn *b;
    char *queues[SUP_MAX_QUEUES];
    size_t nqueues;
    char ctags[SUP_MAX_QUEUES][128];
    child *children;
    int nchildren;
    job *jobs;
    size_t held, running;
    uint16_t qos_base, qos_current;
    lru *completed;
    lru *deaths;
    lru *revoked; /* task id → marker; LimitedSet-like */
    lru *limits;  /* task name → double[2] {soft, hard} set by `time_limit` */
    double next_connect, backoff;
    bool stopping, cold, consuming;
    uint64_t processed;
    char ev_ctag[128];
    /* events (events.c) */
    bool task_events;
    uint64_t clock;
    double next_heartbeat;
    bool online_sent;
    /* remote control (control.c) */
    char ctl_ctag[128];
    char pidbox_queue[1200];
    double started_at;
    /* metrics (metrics.c) */
    task_stats *stats;
    size_t nstats;
    uint64_t child_restarts;
    int http_fd;
} sup;

/* supervisor.c */
void sup_ack(sup *s, const brk_delivery *d);
/* Publishes a transient JSON message without waiting for its confirm (events, control
 * replies: monitoring data that must never delay a task's ack). */
cel_status sup_publish_nowait(sup *s, const char *exchange, const char *routing_key,
                              const char *body, json_t *headers, cel_error *err);
bool sup_publish_state(sup *s, const cmsg_task *t, const char *status, json_t *result,
                       const char *traceback);
void sup_revoke_job(sup *s, job *j, const char *reason);
cel_status sup_consume_queue(sup *s, const char *queue, cel_error *err);
cel_status sup_cancel_queue(sup *s, const char *queue, cel_error *err);
void sup_begin_warm_shutdown(sup *s);
json_t *sup_job_info(const sup *s, const job *j, bool safe);

/* events.c: celeryev (docs/research/celery.md §4) */
cel_status ev_declare(sup *s, cel_error *err);
void ev_task(sup *s, const char *type, const job *j, json_t *fields /* stolen, may be NULL */);
void ev_task_id(sup *s, const char *type, const char *id, json_t *fields);
void ev_worker(sup *s, const char *type);
void ev_tick(sup *s); /* worker-heartbeat every 2 s */
json_t *ev_loadavg(void);

/* control.c: celery.pidbox (docs/research/celery.md §5) */
cel_status ctl_declare(sup *s, cel_error *err);
void ctl_handle(sup *s, const brk_delivery *d);

/* metrics.c */
void metrics_count(sup *s, const char *task, int outcome, double runtime);
int metrics_listen(sup *s); /* returns the listening fd or -1 */
void metrics_serve(sup *s); /* accept + answer one connection */

enum { OUT_SUCCESS = 0, OUT_FAILURE, OUT_RETRY, OUT_REVOKED, OUT_REJECTED };

#endif
