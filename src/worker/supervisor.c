/*
 * supervisor.c: the worker's main process.
 *
 * Rules it keeps (docs/research/celery.md; issue "worker core"):
 * - Acks late: a task's message is acked only after the child reported the outcome
 *   (so its database effects are committed) and the result was published with a
 *   publisher confirm. Retries are republished (confirmed) before the ack.
 * - Nothing is silently dropped: undecodable, non-JSON, unknown-task and id-less
 *   messages go to the dead-letter queue (published with confirm, then acked) with
 *   the reason in headers, and get a FAILURE reply where they have a reply_to; so does
 *   a task that FAILs asking for it (task_outcome.dead_letter), after its result. A
 *   child that dies mid-task gets its message requeued once; the second loss (or a
 *   loss on a message that was already redelivered) dead-letters it with a
 *   WorkerLostError FAILURE.
 * - Nothing is doubled: terminal outcomes are remembered (bounded, like Celery's
 *   LimitedSet); a redelivered message whose task already completed here (its ack was
 *   lost with the connection) is answered from memory and acked, not run again.
 * - Never blocks on task work: children do it; this process only polls, so AMQP
 *   heartbeats are served while tasks run.
 * - ETA/countdown tasks stay unacked until due, with prefetch raised by one per held
 *   message (as Celery's qos.increment_eventually); `expires` passed → REVOKED.
 * - Broker loss: reconnect with backoff; held/reserved messages are forgotten (the
 *   broker requeues them), running tasks finish and their results wait in memory for
 *   the redelivery. SIGTERM: warm shutdown; a second SIGTERM/SIGINT or SIGQUIT: cold.
 */
#include "worker/supervisor.h"
#include "worker/sup_internal.h"

#include "broker/broker.h"
#include "celery/message.h"
#include "celery/s3event.h"
#include "tasks/task.h"
#include "util/log.h"
#include "util/lru.h"
#include "util/timeutil.h"
#include "worker/child.h"
#include "worker/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t g_term_count, g_quit, g_chld;
static int g_sigpipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    if (sig == SIGTERM || sig == SIGINT)
        g_term_count++;
    else if (sig == SIGQUIT)
        g_quit = 1;
    else if (sig == SIGCHLD)
        g_chld = 1;
    if (g_sigpipe[1] >= 0) {
        ssize_t w = write(g_sigpipe[1], "x", 1);
        (void)w;
    }
    errno = saved;
}

static void completed_free(void *p) {
    completed *c = p;
    free(c->body);
    free(c->reply_to);
    free(c);
}

/* ---------- small helpers ---------- */

static const char *job_queue(const job *j) {
    return j->d->routing_key ? j->d->routing_key : "";
}

static void job_free(job *j) {
    if (!j)
        return;
    brk_delivery_free(j->d);
    cmsg_task_clear(&j->t);
    free(j);
}

static void job_unlink(sup *s, job *j) {
    for (job **pp = &s->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            j->next = NULL;
            return;
        }
}

static void job_append(sup *s, job *j) {
    job **pp = &s->jobs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = j;
}

static bool delivery_current(const sup *s, const brk_delivery *d) {
    return s->b && brk_alive(s->b) && d->generation == brk_generation(s->b);
}

static void ack(sup *s, const brk_delivery *d) {
    if (!delivery_current(s, d))
        return; /* its channel is gone: the broker requeued it */
    cel_error err = {0};
    if (brk_ack(s->b, d->delivery_tag, &err) != CEL_OK)
        LOG(LOG_ERROR, "broker.ack_failed", LF_S("error", err.msg));
}

static void reject(sup *s, const brk_delivery *d, bool requeue) {
    if (!delivery_current(s, d))
        return;
    cel_error err = {0};
    if (brk_reject(s->b, d->delivery_tag, requeue, &err) != CEL_OK)
        LOG(LOG_ERROR, "broker.reject_failed", LF_S("error", err.msg));
}

void sup_ack(sup *s, const brk_delivery *d) {
    ack(s, d);
}

cel_status sup_publish_nowait(sup *s, const char *exchange, const char *routing_key,
                              const char *body, json_t *headers, cel_error *err) {
    if (!s->b || !brk_alive(s->b))
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    brk_msg m = {.exchange = exchange,
                 .routing_key = routing_key,
                 .body = body,
                 .body_len = strlen(body),
                 .content_type = "application/json",
                 .content_encoding = "utf-8",
                 .headers = headers,
                 .delivery_mode = 1,
                 .priority = 0,
                 .no_wait = true};
    return brk_publish(s->b, &m, err);
}

/* Publishes a result body to reply_to (default exchange), waiting for the confirm. */
static cel_status publish_result(sup *s, const char *reply_to, const char *task_id,
                                 const char *body, cel_error *err) {
    if (!s->b || !brk_alive(s->b))
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    brk_msg m = {.exchange = "",
                 .routing_key = reply_to,
                 .body = body,
                 .body_len = strlen(body),
                 .content_type = "application/json",
                 .content_encoding = "utf-8",
                 .correlation_id = task_id,
                 .delivery_mode = 1,
                 .priority = 0};
    return brk_publish(s->b, &m, err);
}

static bool wants_result(const job *j) {
    return !j->t.ignore_result && j->t.reply_to && *j->t.reply_to;
}

/* Publishes a state for this task if the producer wants results; logs failures. */
static bool publish_state(sup *s, const cmsg_task *t, const char *status, json_t *result,
                          const char *traceback) {
    if (t->ignore_result || !t->reply_to || !*t->reply_to || !t->id)
        return true;
    char *body = cres_body(t->id, status, result, traceback, NULL);
    if (!body)
        return false;
    cel_error err = {0};
    cel_status st = publish_result(s, t->reply_to, t->id, body, &err);
    free(body);
    if (st != CEL_OK) {
        LOG(LOG_ERROR, "result.publish_failed", LF_S("task_id", t->id), LF_S("status", status),
            LF_S("error", err.msg));
        return false;
    }
    return true;
}

bool sup_publish_state(sup *s, const cmsg_task *t, const char *status, json_t *result,
                       const char *traceback) {
    return publish_state(s, t, status, result, traceback);
}

/* Moves a message to the dead-letter queue (confirmed publish, then ack), or rejects it
 * without requeue when the operator chose a broker-side dead-letter exchange. */
static void dead_letter(sup *s, const brk_delivery *d, const char *reason, const char *code) {
    if (!delivery_current(s, d))
        return;
    if (strcmp(s->cfg->dead_letter_mode, "reject") == 0) {
        reject(s, d, false);
        return;
    }
    json_t *h = d->headers ? json_deep_copy(d->headers) : json_object();
    char now[48];
    tu_format_iso8601(tu_now(), now, sizeof now);
    json_object_set_new(h, "x-celeriac-reason", json_string(reason));
    json_object_set_new(h, "x-celeriac-error", json_string(code));
    json_object_set_new(h, "x-celeriac-original-exchange",
                        json_string(d->exchange ? d->exchange : ""));
    json_object_set_new(h, "x-celeriac-original-routing-key",
                        json_string(d->routing_key ? d->routing_key : ""));
    json_object_set_new(h, "x-celeriac-worker", json_string(s->cfg->hostname));
    json_object_set_new(h, "x-celeriac-dead-lettered-at", json_string(now));
    json_object_set_new(h, "x-celeriac-redelivered", json_boolean(d->redelivered));
    brk_msg m = {.exchange = "",
                 .routing_key = s->cfg->dead_letter_queue,
                 .body = d->body,
                 .body_len = d->body_len,
                 .content_type = d->content_type,
                 .content_encoding = d->content_encoding,
                 .correlation_id = d->correlation_id,
                 .reply_to = d->reply_to,
                 .headers = h,
                 .delivery_mode = 2,
                 .priority = d->priority,
                 .mandatory = true};
    cel_error err = {0};
    cel_status st = brk_publish(s->b, &m, &err);
    json_decref(h);
    if (st != CEL_OK) {
        LOG(LOG_ERROR, "deadletter.publish_failed", LF_S("queue", s->cfg->dead_letter_queue),
            LF_S("error", err.msg));
        /* Don't ack: the message stays with the broker (requeued on reconnect). */
        if (st != CEL_EBROKER)
            reject(s, d, true);
        return;
    }
    LOG(LOG_WARNING, "task.dead_lettered", LF_S("queue", s->cfg->dead_letter_queue),
        LF_S("reason", reason), LF_I("delivery_tag", d->delivery_tag));
    ack(s, d);
}

/* ---------- QoS ---------- */

static void update_qos(sup *s) {
    if (!s->b || !brk_alive(s->b) || s->qos_base == 0)
        return;
    size_t want = (size_t)s->qos_base + s->held;
    if (want > 65535)
        want = 65535;
    if (want == s->qos_current)
        return;
    cel_error err = {0};
    if (brk_qos(s->b, (uint16_t)want, &err) != CEL_OK) {
        LOG(LOG_ERROR, "broker.qos_failed", LF_S("error", err.msg));
        return;
    }
    s->qos_current = (uint16_t)want;
}

/* ---------- connection ---------- */

static void drop_unstarted(sup *s) {
    job **pp = &s->jobs;
    while (*pp) {
        job *j = *pp;
        if (j->state != JOB_RUNNING) {
            *pp = j->next;
            if (j->state == JOB_HELD)
                s->held--;
            job_free(j);
        } else {
            pp = &j->next;
        }
    }
}

static void broker_lost(sup *s, const char *why) {
    LOG(LOG_ERROR, "broker.connection_lost", LF_S("error", why),
        LF_I("running", (long long)s->running));
    brk_close(s->b);
    s->b = NULL;
    s->consuming = false;
    s->qos_current = 0;
    drop_unstarted(s); /* the broker requeues everything unacked */
    s->backoff = 1.0;
    s->next_connect = tu_monotonic() + s->backoff;
}

static cel_status declare_topology(sup *s, cel_error *err) {
    cel_status st;
    const char *mode = s->cfg->queue_declare;
    if (strcmp(s->cfg->dead_letter_mode, "queue") == 0 &&
        (st = brk_declare_queue(s->b, s->cfg->dead_letter_queue, false, true, false, false, NULL,
                                err)))
        return st;
    for (size_t i = 0; i < s->nqueues; i++) {
        const char *q = s->queues[i];
        if (strcmp(mode, "kombu") == 0) {
            /* Exactly what kombu declares for a Celery task queue (kombu entity.py):
             * exchange <q> direct durable, queue <q> durable no args, bound by <q>. */
            if ((st = brk_declare_exchange(s->b, q, "direct", true, false, err)) ||
                (st = brk_declare_queue(s->b, q, false, true, false, false, NULL, err)) ||
                (st = brk_bind_queue(s->b, q, q, q, err))) {
                if (st == CEL_ECONFLICT)
                    LOG(LOG_ERROR, "broker.declare_conflict", LF_S("queue", q),
                        LF_S("hint", "the queue exists with other arguments; set "
                                     "CELERIAC_QUEUE_DECLARE=passive"));
                return st;
            }
        } else if (strcmp(mode, "passive") == 0) {
            if ((st = brk_declare_queue(s->b, q, true, false, false, false, NULL, err)))
                return st;
        }
    }
    return CEL_OK;
}

static void try_connect(sup *s) {
    if (s->b || tu_monotonic() < s->next_connect)
        return;
    cel_error err = {0};
    brk_conn *b = NULL;
    cel_status st = brk_connect(&s->url, &s->bopts, &b, &err);
    if (st == CEL_OK) {
        s->b = b;
        st = declare_topology(s, &err);
        s->qos_current = 0;
        if (st == CEL_OK && s->qos_base) {
            st = brk_qos(
                b, (uint16_t)(s->qos_base + s->held > 65535 ? 65535 : s->qos_base + s->held), &err);
            s->qos_current = s->qos_base;
        }
        for (size_t i = 0; st == CEL_OK && !s->stopping && i < s->nqueues; i++)
            st = brk_consume(b, s->queues[i], false, s->ctags[i], sizeof s->ctags[i], &err);
        if (st == CEL_OK && !s->stopping && s->cfg->events_queue[0]) {
            if (strcmp(s->cfg->queue_declare, "none") != 0)
                st = brk_declare_queue(b, s->cfg->events_queue,
                                       strcmp(s->cfg->queue_declare, "passive") == 0, true, false,
                                       false, NULL, &err);
            if (st == CEL_OK)
                st = brk_consume(b, s->cfg->events_queue, false, s->ev_ctag, sizeof s->ev_ctag,
                                 &err);
        }
    }
    if (st == CEL_OK)
        st = ev_declare(s, &err);
    if (st == CEL_OK && !s->stopping)
        st = ctl_declare(s, &err);
    if (st != CEL_OK) {
        LOG(LOG_ERROR, "broker.connect_failed", LF_S("error", err.msg),
            LF_D("retry_in", s->backoff));
        brk_close(s->b);
        s->b = NULL;
        s->next_connect = tu_monotonic() + s->backoff;
        s->backoff = s->backoff * 2 > 30 ? 30 : s->backoff * 2;
        return;
    }
    s->consuming = !s->stopping;
    s->backoff = 1.0;
    s->online_sent = false; /* worker-online again after a reconnect, as Python's consumer */
    ev_tick(s);             /* ... and before any task event */
    char masked[512];
    log_mask_url(s->cfg->broker_url, masked, sizeof masked);
    LOG(LOG_INFO, "broker.connected", LF_S("url", masked), LF_S("server", brk_server_version(b)),
        LF_S("queues", s->cfg->queues), LF_I("prefetch", s->qos_base));
}

/* ---------- children ---------- */

static void spawn_child(sup *s, int idx) {
    child *c = &s->children[idx];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        LOG(LOG_CRITICAL, "child.socketpair_failed", LF_S("error", strerror(errno)));
        c->dead = true;
        c->pid = 0;
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        LOG(LOG_CRITICAL, "child.fork_failed", LF_S("error", strerror(errno)));
        close(sv[0]);
        close(sv[1]);
        c->dead = true;
        c->pid = 0;
        return;
    }
    if (pid == 0) {
        /* Child: keep stdio and our socket (as fd 3), close everything else, including
         * the broker socket and other children's sockets. */
        if (sv[1] != 3) {
            dup2(sv[1], 3);
        } else {
            int fl = fcntl(3, F_GETFD);
            fcntl(3, F_SETFD, fl & ~FD_CLOEXEC);
        }
        close_range(4, ~0u, 0);
        child_main(3);
    }
    close(sv[1]);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    c->pid = pid;
    c->fd = sv[0];
    c->job = NULL;
    c->dead = false;
    c->spawned_at = tu_monotonic();
    ipc_reader_init(&c->rd);
    LOG(LOG_DEBUG, "child.spawned", LF_I("pid", pid), LF_I("index", idx));
}

static void handle_outcome(sup *s, child *c, const char *frame, size_t len);

/* Publishes an encoded Celery task message (retries, chained tasks, tasks made from S3
 * events) as persistent JSON, waiting for the broker's confirm. */
static cel_status publish_task_msg(sup *s, const char *exchange, const char *routing_key,
                                   const cmsg_out *out, const char *id, const char *reply_to,
                                   int priority, bool mandatory, cel_error *err) {
    if (!s->b || !brk_alive(s->b))
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    brk_msg m = {.exchange = exchange,
                 .routing_key = routing_key,
                 .body = out->body,
                 .body_len = out->body_len,
                 .content_type = "application/json",
                 .content_encoding = "utf-8",
                 .correlation_id = id,
                 .reply_to = reply_to,
                 .expiration = out->expiration[0] ? out->expiration : NULL,
                 .headers = out->headers,
                 .delivery_mode = 2,
                 .priority = priority,
                 .mandatory = mandatory};
    return brk_publish(s->b, &m, err);
}

/* Python's repr of the exception instance, as events carry it: "KeyError('x')". */
static void exc_repr(char *out, size_t outsz, const char *type, const char *message) {
    json_t *msgj = json_string(message ? message : "");
    char *mr = cmsg_repr(msgj, false, 900);
    json_decref(msgj);
    snprintf(out, outsz, "%s(%s)", type ? type : "Exception", mr);
    free(mr);
}

/* ---------- S3 event notifications ---------- */

/* The task for a key: the longest matching "prefix=task" route; a bare "task" entry
 * matches every key. Writes into out; false when no route matches. */
static bool route_event(const char *routes, const char *key, char *out, size_t outsz) {
    size_t best = 0;
    bool found = false;
    const char *p = routes;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        const char *prefix = eq ? p : "";
        size_t plen = eq ? (size_t)(eq - p) : 0;
        const char *task = eq ? eq + 1 : p;
        size_t tlen = eq ? len - plen - 1 : len;
        while (tlen && task[0] == ' ') {
            task++;
            tlen--;
        }
        while (tlen && task[tlen - 1] == ' ')
            tlen--;
        if (tlen && strncmp(key, prefix, plen) == 0 && (!found || plen >= best) && tlen < outsz) {
            memcpy(out, task, tlen);
            out[tlen] = '\0';
            best = plen;
            found = true;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return found;
}

/* Turns each ObjectCreated record into a Celery task message published (confirmed) to the
 * task queue, then acks the notification. Malformed notifications are dead-lettered. */
static void on_s3_event(sup *s, brk_delivery *d) {
    s3ev_record *recs = NULL;
    size_t n = 0, ignored = 0;
    cel_error err = {0};
    if (s3ev_parse(d->body, d->body_len, &recs, &n, &ignored, &err) != CEL_OK) {
        LOG(LOG_ERROR, "s3event.rejected", LF_S("reason", err.msg),
            LF_I("delivery_tag", d->delivery_tag));
        dead_letter(s, d, err.msg, "s3_event");
        brk_delivery_free(d);
        return;
    }
    const char *queue = s->cfg->events_task_queue[0] ? s->cfg->events_task_queue : s->queues[0];
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        char task[256];
        if (!route_event(s->cfg->event_routes, recs[i].key, task, sizeof task)) {
            LOG(LOG_WARNING, "s3event.unrouted", LF_S("bucket", recs[i].bucket),
                LF_S("key", recs[i].key));
            continue;
        }
        json_t *args = json_pack("[ss]", recs[i].bucket, recs[i].key);
        json_t *kwargs = json_object();
        if (recs[i].event_time)
            json_object_set_new(kwargs, "event_time", json_string(recs[i].event_time));
        if (recs[i].size >= 0)
            json_object_set_new(kwargs, "size", json_integer(recs[i].size));
        if (recs[i].etag)
            json_object_set_new(kwargs, "etag", json_string(recs[i].etag));
        cmsg_out out;
        char id[40];
        cel_status st = args ? cmsg_encode_new(task, args, kwargs, s->cfg->hostname, &out, id, &err)
                             : cel_fail(&err, CEL_EPARSE, "S3 event key is not valid UTF-8");
        json_decref(args);
        json_decref(kwargs);
        if (st != CEL_OK) {
            LOG(LOG_ERROR, "s3event.rejected", LF_S("reason", err.msg));
            dead_letter(s, d, err.msg, "s3_event");
            s3ev_free(recs, n);
            brk_delivery_free(d);
            return;
        }
        st = publish_task_msg(s, "", queue, &out, id, NULL, -1, true, &err);
        cmsg_out_clear(&out);
        if (st != CEL_OK) {
            LOG(LOG_ERROR, "s3event.publish_failed", LF_S("error", err.msg));
            ok = false;
            break;
        }
        LOG(LOG_INFO, "s3event.task_sent", LF_S("task_id", id), LF_S("task", task),
            LF_S("bucket", recs[i].bucket), LF_S("key", recs[i].key), LF_S("queue", queue));
    }
    if (ok) {
        if (ignored)
            LOG(LOG_INFO, "s3event.ignored", LF_I("records", ignored),
                LF_S("reason", "not an ObjectCreated event"));
        ack(s, d);
    } else if (s->b && brk_alive(s->b)) {
        reject(s, d, true);
    }
    s3ev_free(recs, n);
    brk_delivery_free(d);
}

/* ---------- incoming messages ---------- */

static void reject_bad(sup *s, brk_delivery *d, cmsg_task *t, cel_status st, const char *why) {
    const char *exc_type = "InvalidTaskError", *exc_module = "celery.exceptions", *code = "invalid";
    if (st == CEL_EUNSUPPORTED) {
        exc_type = "ContentDisallowed";
        exc_module = "kombu.exceptions";
        code = "content_type";
    } else if (st == CEL_EPARSE) {
        exc_type = "DecodeError";
        exc_module = "kombu.exceptions";
        code = "decode";
    } else if (st == CEL_ENOTFOUND) {
        exc_type = "NotRegistered";
        exc_module = "celery.exceptions";
        code = "unknown_task";
    } else if (st == CEL_ELIMIT) {
        code = "too_large";
    }
    LOG(LOG_ERROR, "task.rejected", LF_S("task_id", t->id), LF_S("task", t->name),
        LF_I("delivery_tag", d->delivery_tag), LF_S("reason", why),
        LF_S("content_type", d->content_type));
    if (t->id && t->reply_to && *t->reply_to) {
        json_t *exc =
            cres_exception(exc_type, exc_module, st == CEL_ENOTFOUND && t->name ? t->name : why);
        bool ign = t->ignore_result;
        t->ignore_result = false; /* the producer must learn its message was refused */
        publish_state(s, t, "FAILURE", exc, NULL);
        t->ignore_result = ign;
        json_decref(exc);
    }
    if (st == CEL_ENOTFOUND && t->id) {
        char exc[1100];
        exc_repr(exc, sizeof exc, "NotRegistered", t->name);
        ev_task_id(s, "task-failed", t->id, json_pack("{ssss}", "exception", exc, "traceback", ""));
    } else if (t->id) {
        ev_task_id(s, "task-rejected", t->id, json_pack("{sb}", "requeue", 0));
    }
    metrics_count(s, t->name ? t->name : "(unknown)", OUT_REJECTED, 0);
    dead_letter(s, d, why, code);
}

static void on_delivery(sup *s, brk_delivery *d) {
    if (s->stopping) {
        reject(s, d, true);
        brk_delivery_free(d);
        return;
    }
    if (s->ctl_ctag[0] && d->consumer_tag && strcmp(d->consumer_tag, s->ctl_ctag) == 0) {
        ctl_handle(s, d); /* no_ack consumer */
        brk_delivery_free(d);
        return;
    }
    if (s->ev_ctag[0] && d->consumer_tag && strcmp(d->consumer_tag, s->ev_ctag) == 0) {
        on_s3_event(s, d);
        return;
    }
    job *j = calloc(1, sizeof *j);
    if (!j)
        abort();
    j->d = d;
    j->received_at = tu_now();
    cel_error err = {0};
    cel_status st;
    if (d->too_large) {
        cmsg_peek(d, &j->t);
        st = cel_fail(&err, CEL_ELIMIT, "message body of %zu bytes exceeds the %ld-byte limit",
                      d->body_len, s->cfg->max_message_bytes);
    } else {
        st = cmsg_decode(d, &j->t, &err);
    }
    if (st == CEL_OK) {
        j->def = task_lookup(j->t.name);
        if (!j->def)
            st = cel_fail(&err, CEL_ENOTFOUND, "unregistered task '%s'", j->t.name);
    }
    if (st != CEL_OK) {
        reject_bad(s, d, &j->t, st, err.msg);
        job_free(j);
        return;
    }
    cmsg_task *t = &j->t;
    LOG(LOG_INFO, "task.received", LF_S("task_id", t->id), LF_S("task", t->name),
        LF_I("delivery_tag", d->delivery_tag), LF_I("protocol", t->protocol),
        LF_I("retries", t->retries), LF_B("redelivered", d->redelivered),
        LF_S("queue", job_queue(j)));
    if (s->task_events) {
        char eta[48] = "", exp[48] = "";
        if (t->has_eta)
            tu_format_iso8601(t->eta, eta, sizeof eta);
        if (t->has_expires)
            tu_format_iso8601(t->expires, exp, sizeof exp);
        json_t *f = json_object();
        json_object_set_new(f, "name", json_string(t->name));
        json_object_set_new(f, "args", json_string(t->argsrepr ? t->argsrepr : "()"));
        json_object_set_new(f, "kwargs", json_string(t->kwargsrepr ? t->kwargsrepr : "{}"));
        json_object_set_new(f, "root_id", json_string(t->root_id ? t->root_id : t->id));
        json_object_set_new(f, "parent_id", t->parent_id ? json_string(t->parent_id) : json_null());
        json_object_set_new(f, "retries", json_integer(t->retries));
        json_object_set_new(f, "eta", eta[0] ? json_string(eta) : json_null());
        json_object_set_new(f, "expires", exp[0] ? json_string(exp) : json_null());
        ev_task(s, "task-received", j, f);
    }
    if (lru_get(s->revoked, t->id)) {
        job_append(s, j);
        j->state = JOB_RESERVED;
        sup_revoke_job(s, j, "revoked");
        return;
    }
    completed *done = lru_get(s->completed, t->id);
    if (done && d->redelivered) {
        bool ok = true;
        if (!done->published && done->body && done->reply_to) {
            cel_error e2 = {0};
            ok = publish_result(s, done->reply_to, t->id, done->body, &e2) == CEL_OK;
            if (ok)
                done->published = true;
        }
        LOG(LOG_WARNING, "task.duplicate_skipped", LF_S("task_id", t->id),
            LF_S("reason", "already completed on this worker; redelivered after a lost ack"));
        if (ok)
            ack(s, d);
        job_free(j);
        return;
    }
    double now = tu_now();
    if (t->has_expires && now >= t->expires) {
        job_append(s, j);
        j->state = JOB_RESERVED;
        sup_revoke_job(s, j, "expired");
        return;
    }
    if (t->has_eta && t->eta > now + 0.0005) {
        j->state = JOB_HELD;
        s->held++;
        update_qos(s);
        LOG(LOG_INFO, "task.scheduled", LF_S("task_id", t->id), LF_D("eta_in", t->eta - now));
    } else {
        j->state = JOB_RESERVED;
    }
    job_append(s, j);
}

/* ---------- dispatch ---------- */

static child *idle_child(sup *s) {
    for (int i = 0; i < s->nchildren; i++)
        if (!s->children[i].dead && s->children[i].pid > 0 && !s->children[i].job)
            return &s->children[i];
    return NULL;
}

static void dispatch(sup *s) {
    double now = tu_now();
    for (job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        if (j->state == JOB_HELD && j->t.eta <= now) {
            j->state = JOB_RESERVED;
            s->held--;
            update_qos(s);
        }
        if (j->state != JOB_RESERVED)
            continue;
        if (j->t.has_expires && now >= j->t.expires) {
            sup_revoke_job(s, j, "expired");
            continue;
        }
        if (lru_get(s->revoked, j->t.id)) {
            sup_revoke_job(s, j, "revoked");
            continue;
        }
        child *c = idle_child(s);
        if (!c)
            break;
        if ((s->cfg->track_started || j->t.track_started) && wants_result(j)) {
            json_t *meta = json_pack("{siss}", "pid", (int)c->pid, "hostname", s->cfg->hostname);
            publish_state(s, &j->t, "STARTED", meta, NULL);
            json_decref(meta);
        }
        json_t *req = json_pack("{sssssisOsOss}", "id", j->t.id, "name", j->def->name, "retries",
                                j->t.retries, "args", j->t.args, "kwargs", j->t.kwargs, "hostname",
                                s->cfg->hostname);
        if (j->t.root_id)
            json_object_set_new(req, "root_id", json_string(j->t.root_id));
        char *txt = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        cel_error err = {0};
        if (!txt || ipc_write_frame(c->fd, txt, strlen(txt), &err) != CEL_OK) {
            LOG(LOG_ERROR, "child.dispatch_failed", LF_I("pid", c->pid), LF_S("error", err.msg));
            free(txt);
            kill(c->pid, SIGKILL);
            c->dead = true;
            continue; /* the job stays reserved; the child is reaped and replaced */
        }
        free(txt);
        j->state = JOB_RUNNING;
        j->started_at = tu_now();
        j->worker_pid = c->pid;
        c->job = j;
        s->running++;
        double *lim = lru_get(s->limits, j->def->name);
        j->hard_limit = j->t.time_limit > 0 ? j->t.time_limit
                        : lim && lim[1] > 0 ? lim[1]
                                            : s->cfg->task_time_limit;
        ev_task(s, "task-started", j, NULL);
        LOG(LOG_INFO, "task.started", LF_S("task_id", j->t.id), LF_S("task", j->def->name),
            LF_I("pid", c->pid), LF_I("delivery_tag", j->d->delivery_tag));
    }
}

/* ---------- outcomes ---------- */

static void remember(sup *s, const cmsg_task *t, char *body, bool published) {
    completed *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->body = body;
    c->reply_to = (t->reply_to && !t->ignore_result) ? strdup(t->reply_to) : NULL;
    c->published = published || !c->reply_to;
    lru_put(s->completed, t->id, c);
}

/* Publishes one canvas signature (callback, errback or the next chain element) with a
 * confirm; appends its result tuple to children when given. */
static void publish_signature(sup *s, job *j, json_t *sig, json_t *prepend, json_t *chain_rest,
                              json_t *children) {
    cmsg_out out;
    char id[64], queue[256];
    const char *reply_to = NULL;
    cel_error err = {0};
    if (cmsg_encode_signature(sig, prepend, chain_rest, &j->t, s->cfg->hostname,
                              s->cfg->default_queue, &out, id, queue, &reply_to, &err) != CEL_OK) {
        LOG(LOG_ERROR, "canvas.refused", LF_S("task_id", j->t.id), LF_S("error", err.msg));
        return;
    }
    cel_status st = publish_task_msg(s, "", queue, &out, id, reply_to, -1, false, &err);
    if (st != CEL_OK) {
        LOG(LOG_ERROR, "canvas.publish_failed", LF_S("task_id", j->t.id), LF_S("next", id),
            LF_S("error", err.msg));
    } else {
        LOG(LOG_INFO, "canvas.sent", LF_S("task_id", j->t.id), LF_S("next", id),
            LF_S("task", json_string_value(json_object_get(sig, "task"))), LF_S("queue", queue));
        if (children)
            json_array_append_new(children, json_pack("[[sn]n]", id));
    }
    cmsg_out_clear(&out);
}

/* After SUCCESS (celery trace.py:481): callbacks, then the next chain element, each getting
 * the result as first argument; returns the children list for the result message. */
static json_t *continue_canvas(sup *s, job *j, json_t *result) {
    json_t *children = json_array();
    json_t *cbs = json_object_get(j->t.embed, "callbacks");
    size_t i;
    json_t *sig;
    if (json_is_array(cbs))
        json_array_foreach(cbs, i, sig) publish_signature(s, j, sig, result, NULL, children);
    json_t *chain = json_object_get(j->t.embed, "chain");
    size_t n = json_is_array(chain) ? json_array_size(chain) : 0;
    if (n) {
        /* the chain is reversed: the last element runs next */
        json_t *rest = json_array();
        for (size_t k = 0; k + 1 < n; k++)
            json_array_append(rest, json_array_get(chain, k));
        publish_signature(s, j, json_array_get(chain, n - 1), result, rest, children);
        json_decref(rest);
    }
    return children;
}

/* After FAILURE (celery backends/base.py:166): every remaining chain element with a task id
 * gets the same FAILURE (so chain.get() raises instead of hanging), then the errbacks run
 * with the failed task's id as argument. */
static void fail_canvas(sup *s, job *j, json_t *exc, const char *traceback) {
    json_t *chain = json_object_get(j->t.embed, "chain");
    size_t i;
    json_t *sig;
    if (json_is_array(chain)) {
        json_array_foreach(chain, i, sig) {
            json_t *opts = json_object_get(sig, "options");
            const char *tid = json_string_value(json_object_get(opts, "task_id"));
            const char *rt = json_string_value(json_object_get(opts, "reply_to"));
            if (!tid || !rt)
                continue;
            char *body = cres_body(tid, "FAILURE", exc, traceback, NULL);
            cel_error err = {0};
            if (body && publish_result(s, rt, tid, body, &err) != CEL_OK)
                LOG(LOG_ERROR, "canvas.chain_failure_publish_failed", LF_S("task_id", tid),
                    LF_S("error", err.msg));
            free(body);
        }
    }
    json_t *ebs = json_object_get(j->t.embed, "errbacks");
    if (json_is_array(ebs)) {
        json_t *idj = json_string(j->t.id);
        json_array_foreach(ebs, i, sig) publish_signature(s, j, sig, idj, NULL, NULL);
        json_decref(idj);
    }
}

/* dl_reason non-NULL: after the result is published the message goes to the dead-letter
 * queue with that reason (a task that asked for it, task_outcome.dead_letter) instead of
 * being acked. */
static void finish_terminal(sup *s, job *j, const char *status, json_t *result,
                            const char *traceback, double runtime, const char *dl_reason) {
    char *body = NULL;
    bool published = true;
    json_t *children = NULL;
    if (strcmp(status, "SUCCESS") == 0)
        children = continue_canvas(s, j, result);
    else
        fail_canvas(s, j, result, traceback);
    if (wants_result(j)) {
        body = cres_body(j->t.id, status, result, traceback, children);
        cel_error err = {0};
        if (!body || publish_result(s, j->t.reply_to, j->t.id, body, &err) != CEL_OK) {
            published = false;
            LOG(LOG_ERROR, "result.publish_failed", LF_S("task_id", j->t.id),
                LF_S("error", err.msg));
        }
    }
    json_decref(children);
    remember(s, &j->t, body, published);
    s->processed++;
    bool success = strcmp(status, "SUCCESS") == 0;
    metrics_count(s, j->def ? j->def->name : j->t.name, success ? OUT_SUCCESS : OUT_FAILURE,
                  runtime);
    if (success) {
        char *rr = cmsg_repr(result, false, 1024);
        ev_task(s, "task-succeeded", j, json_pack("{sssf}", "result", rr, "runtime", runtime));
        free(rr);
    } else {
        const char *et = json_string_value(json_object_get(result, "exc_type"));
        const char *em =
            json_string_value(json_array_get(json_object_get(result, "exc_message"), 0));
        char exc[1100];
        exc_repr(exc, sizeof exc, et, em);
        ev_task(s, "task-failed", j,
                json_pack("{ssss}", "exception", exc, "traceback", traceback ? traceback : ""));
    }
    int level = strcmp(status, "SUCCESS") == 0 ? LOG_INFO : LOG_ERROR;
    LOG(level, strcmp(status, "SUCCESS") == 0 ? "task.succeeded" : "task.failed",
        LF_S("task_id", j->t.id), LF_S("task", j->def ? j->def->name : j->t.name),
        LF_I("delivery_tag", j->d->delivery_tag), LF_S("outcome", status),
        LF_D("duration", runtime), LF_B("acked", published && delivery_current(s, j->d)));
    if (published && dl_reason)
        dead_letter(s, j->d, dl_reason, "task_failed");
    else if (published)
        ack(s, j->d);
}

static void handle_retry(sup *s, job *j, json_t *resp) {
    double countdown = json_number_value(json_object_get(resp, "countdown"));
    if (!(countdown >= 0) || countdown > 86400 * 365)
        countdown = 1;
    const char *exc_type = json_string_value(json_object_get(resp, "exc_type"));
    const char *exc_module = json_string_value(json_object_get(resp, "exc_module"));
    const char *exc_msg = json_string_value(json_object_get(resp, "exc_message"));
    if (!delivery_current(s, j->d)) {
        /* Can't republish and ack atomically on a dead channel: the broker redelivers
         * the original, which runs again with the same retries count. */
        LOG(LOG_WARNING, "task.retry_deferred", LF_S("task_id", j->t.id),
            LF_S("reason", "broker connection lost"));
        return;
    }
    cmsg_out out;
    cel_error err = {0};
    if (cmsg_encode_retry(&j->t, tu_now() + countdown, s->cfg->hostname, &out, &err) != CEL_OK) {
        LOG(LOG_ERROR, "task.retry_failed", LF_S("task_id", j->t.id), LF_S("error", err.msg));
        reject(s, j->d, true);
        return;
    }
    /* Same queue as Celery's Task.retry: default exchange → routing key = queue name. */
    bool direct = !j->d->exchange || !*j->d->exchange;
    cel_status st = publish_task_msg(s, direct ? "" : j->d->exchange, j->d->routing_key, &out,
                                     j->t.id, j->t.reply_to, j->t.priority, true, &err);
    cmsg_out_clear(&out);
    if (st != CEL_OK) {
        LOG(LOG_ERROR, "task.retry_publish_failed", LF_S("task_id", j->t.id),
            LF_S("error", err.msg));
        if (st != CEL_EBROKER)
            reject(s, j->d, true);
        return;
    }
    json_t *exc = cres_exception(exc_type ? exc_type : "Retry",
                                 exc_module ? exc_module : "builtins", exc_msg ? exc_msg : "");
    publish_state(s, &j->t, "RETRY", exc, json_string_value(json_object_get(resp, "traceback")));
    json_decref(exc);
    char erepr[1100];
    exc_repr(erepr, sizeof erepr, exc_type ? exc_type : "Retry", exc_msg);
    const char *tb = json_string_value(json_object_get(resp, "traceback"));
    ev_task(s, "task-retried", j,
            json_pack("{ssss}", "exception", erepr, "traceback", tb ? tb : ""));
    metrics_count(s, j->def->name, OUT_RETRY, 0);
    LOG(LOG_WARNING, "task.retried", LF_S("task_id", j->t.id), LF_S("task", j->def->name),
        LF_I("retries", j->t.retries + 1), LF_D("countdown", countdown),
        LF_S("exception", exc_msg));
    ack(s, j->d);
}

static void handle_outcome(sup *s, child *c, const char *frame, size_t len) {
    job *j = c->job;
    if (!j) {
        LOG(LOG_ERROR, "child.unexpected_frame", LF_I("pid", c->pid));
        return;
    }
    c->job = NULL;
    s->running--;
    job_unlink(s, j);
    json_error_t jerr;
    json_t *resp = json_loadb(frame, len, 0, &jerr);
    const char *status = resp ? json_string_value(json_object_get(resp, "status")) : NULL;
    double runtime = resp ? json_number_value(json_object_get(resp, "runtime")) : 0;
    if (!status) {
        json_t *exc = cres_exception("RuntimeError", "builtins", "celeriac: malformed child reply");
        finish_terminal(s, j, "FAILURE", exc, NULL, runtime, NULL);
        json_decref(exc);
    } else if (strcmp(status, "SUCCESS") == 0) {
        finish_terminal(s, j, "SUCCESS", json_object_get(resp, "result"), NULL, runtime, NULL);
    } else if (strcmp(status, "RETRY") == 0) {
        handle_retry(s, j, resp);
    } else {
        const char *et = json_string_value(json_object_get(resp, "exc_type"));
        const char *em = json_string_value(json_object_get(resp, "exc_module"));
        const char *msg = json_string_value(json_object_get(resp, "exc_message"));
        json_t *exc =
            cres_exception(et ? et : "RuntimeError", em ? em : "builtins", msg ? msg : "");
        char dl[2400]; /* exc_type + exc_message (<= 2048 from the child): never cut */
        snprintf(dl, sizeof dl, "%s: %s", et ? et : "RuntimeError", msg ? msg : "");
        bool want_dl = json_is_true(json_object_get(resp, "dead_letter"));
        finish_terminal(s, j, "FAILURE", exc, json_string_value(json_object_get(resp, "traceback")),
                        runtime, want_dl ? dl : NULL);
        json_decref(exc);
    }
    json_decref(resp);
    job_free(j);
}

static void child_lost(sup *s, child *c, int wstatus) {
    char how[96];
    if (WIFSIGNALED(wstatus))
        snprintf(how, sizeof how, "signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else
        snprintf(how, sizeof how, "exit code %d", WEXITSTATUS(wstatus));
    job *j = c->job;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    ipc_reader_free(&c->rd);
    c->job = NULL;
    c->pid = 0;
    c->dead = true;
    if (!j) {
        if (!s->stopping)
            LOG(LOG_WARNING, "child.exited", LF_S("how", how));
        return;
    }
    s->running--;
    job_unlink(s, j);
    if (j->time_limited || j->terminated) {
        if (j->terminated) {
            json_t *exc = cres_exception("TaskRevokedError", "celery.exceptions", "terminated");
            bool ok = publish_state(s, &j->t, "REVOKED", exc, NULL);
            json_decref(exc);
            remember(s, &j->t, NULL, true);
            ev_task(s, "task-revoked", j,
                    json_pack("{sbsisb}", "terminated", 1, "signum", 9, "expired", 0));
            metrics_count(s, j->def->name, OUT_REVOKED, 0);
            LOG(LOG_WARNING, "task.revoked", LF_S("task_id", j->t.id), LF_B("terminated", 1));
            if (ok)
                ack(s, j->d);
        } else {
            json_t *exc = json_pack("{sss[f]ss}", "exc_type", "TimeLimitExceeded", "exc_message",
                                    j->hard_limit, "exc_module", "billiard.exceptions");
            LOG(LOG_ERROR, "task.time_limit_exceeded", LF_S("task_id", j->t.id),
                LF_S("task", j->def->name), LF_D("hard_limit", j->hard_limit));
            finish_terminal(s, j, "FAILURE", exc, NULL, tu_now() - j->started_at, NULL);
            json_decref(exc);
        }
        job_free(j);
        return;
    }
    int *count = lru_get(s->deaths, j->t.id);
    if (!count) {
        count = calloc(1, sizeof *count);
        if (!count)
            abort();
        lru_put(s->deaths, j->t.id, count);
    }
    (*count)++;
    LOG(LOG_ERROR, "child.lost_task", LF_S("task_id", j->t.id), LF_S("task", j->def->name),
        LF_S("how", how), LF_I("losses", *count), LF_B("redelivered", j->d->redelivered));
    if (*count >= 2 || j->d->redelivered) {
        char msg[256];
        snprintf(msg, sizeof msg, "Worker exited prematurely: %s Job: %s.", how, j->t.id);
        json_t *exc = cres_exception("WorkerLostError", "billiard.exceptions", msg);
        char *body = wants_result(j) ? cres_body(j->t.id, "FAILURE", exc, NULL, NULL) : NULL;
        bool published = publish_state(s, &j->t, "FAILURE", exc, NULL);
        json_decref(exc);
        remember(s, &j->t, body, published);
        char reason[300];
        snprintf(reason, sizeof reason, "worker child lost twice while running the task (%s)", how);
        dead_letter(s, j->d, reason, "worker_lost");
    } else {
        reject(s, j->d, true); /* redelivered once */
    }
    job_free(j);
}

static void reap(sup *s) {
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        for (int i = 0; i < s->nchildren; i++) {
            if (s->children[i].pid == pid) {
                child *c = &s->children[i];
                /* Drain a reply that arrived just before the exit. */
                cel_error err = {0};
                if (c->fd >= 0 && ipc_reader_fill(&c->rd, c->fd, &err) != CEL_EIO) {
                    char *frame;
                    size_t len;
                    if (ipc_reader_pop(&c->rd, &frame, &len) == 1) {
                        handle_outcome(s, c, frame, len);
                        free(frame);
                    }
                }
                child_lost(s, c, wstatus);
                if (!s->stopping && !s->cold) {
                    spawn_child(s, i);
                    s->child_restarts++;
                    LOG(LOG_INFO, "child.replaced", LF_I("pid", s->children[i].pid));
                }
            }
        }
    }
}

/* ---------- shutdown ---------- */

static void begin_warm_shutdown(sup *s) {
    if (s->stopping)
        return;
    s->stopping = true;
    LOG(LOG_WARNING, "worker.warm_shutdown", LF_I("running", (long long)s->running),
        LF_S("note", "finishing running tasks; send SIGQUIT or SIGTERM again for cold shutdown"));
    if (s->b && brk_alive(s->b) && s->consuming) {
        for (size_t i = 0; i < s->nqueues; i++) {
            cel_error err = {0};
            if (brk_cancel(s->b, s->ctags[i], &err) != CEL_OK)
                LOG(LOG_ERROR, "broker.cancel_failed", LF_S("error", err.msg));
        }
        cel_error err = {0};
        if (s->ev_ctag[0] && brk_cancel(s->b, s->ev_ctag, &err) != CEL_OK)
            LOG(LOG_ERROR, "broker.cancel_failed", LF_S("error", err.msg));
        s->consuming = false;
    }
    /* Hand back what hasn't started. */
    job **pp = &s->jobs;
    while (*pp) {
        job *j = *pp;
        if (j->state != JOB_RUNNING) {
            *pp = j->next;
            reject(s, j->d, true);
            job_free(j);
        } else {
            pp = &j->next;
        }
    }
    s->held = 0;
    brk_delivery *d;
    while (s->b && (d = brk_next_delivery(s->b))) {
        reject(s, d, true);
        brk_delivery_free(d);
    }
}

void sup_begin_warm_shutdown(sup *s) {
    begin_warm_shutdown(s);
}

static void stop_children(sup *s, bool force) {
    for (int i = 0; i < s->nchildren; i++) {
        child *c = &s->children[i];
        if (c->pid <= 0)
            continue;
        if (force)
            kill(c->pid, SIGKILL);
        if (c->fd >= 0)
            close(c->fd); /* EOF: an idle child exits */
        c->fd = -1;
    }
    for (int i = 0; i < s->nchildren; i++) {
        child *c = &s->children[i];
        if (c->pid > 0) {
            int st;
            waitpid(c->pid, &st, 0);
            c->pid = 0;
        }
        ipc_reader_free(&c->rd);
    }
}

/* ---------- revocation, introspection, consumers (for control.c) ---------- */

void sup_revoke_job(sup *s, job *j, const char *reason) {
    json_t *exc = cres_exception("TaskRevokedError", "celery.exceptions", reason);
    bool ok = publish_state(s, &j->t, "REVOKED", exc, NULL);
    json_decref(exc);
    bool expired = strcmp(reason, "expired") == 0;
    ev_task(s, "task-revoked", j,
            json_pack("{sbsnsb}", "terminated", 0, "signum", "expired", expired));
    metrics_count(s, j->def ? j->def->name : j->t.name, OUT_REVOKED, 0);
    LOG(LOG_WARNING, "task.revoked", LF_S("task_id", j->t.id), LF_S("task", j->t.name),
        LF_S("reason", reason));
    if (j->state == JOB_HELD) {
        s->held--;
        update_qos(s);
    }
    if (ok)
        ack(s, j->d);
    job_unlink(s, j);
    job_free(j);
}

json_t *sup_job_info(const sup *s, const job *j, bool safe) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(j->t.id));
    json_object_set_new(o, "name", json_string(j->def ? j->def->name : j->t.name));
    if (safe) {
        json_object_set_new(o, "args", json_string(j->t.argsrepr ? j->t.argsrepr : "()"));
        json_object_set_new(o, "kwargs", json_string(j->t.kwargsrepr ? j->t.kwargsrepr : "{}"));
    } else {
        json_object_set(o, "args", j->t.args);
        json_object_set(o, "kwargs", j->t.kwargs);
    }
    json_object_set_new(o, "type", json_string(j->def ? j->def->name : j->t.name));
    json_object_set_new(o, "hostname", json_string(s->cfg->hostname));
    json_object_set_new(o, "time_start",
                        j->state == JOB_RUNNING ? json_real(j->started_at) : json_null());
    json_object_set_new(o, "acknowledged", json_false());
    json_object_set_new(o, "delivery_info",
                        json_pack("{sssssisb}", "exchange", j->d->exchange ? j->d->exchange : "",
                                  "routing_key", j->d->routing_key ? j->d->routing_key : "",
                                  "priority", j->d->priority < 0 ? 0 : j->d->priority,
                                  "redelivered", j->d->redelivered));
    json_object_set_new(o, "worker_pid",
                        j->state == JOB_RUNNING ? json_integer(j->worker_pid) : json_null());
    return o;
}

cel_status sup_consume_queue(sup *s, const char *queue, cel_error *err) {
    for (size_t i = 0; i < s->nqueues; i++)
        if (!strcmp(s->queues[i], queue) && s->ctags[i][0])
            return CEL_OK; /* already consuming */
    size_t idx = s->nqueues;
    for (size_t i = 0; i < s->nqueues; i++)
        if (!strcmp(s->queues[i], queue))
            idx = i;
    if (idx == s->nqueues) {
        if (s->nqueues >= SUP_MAX_QUEUES)
            return cel_fail(err, CEL_ELIMIT, "more than %d queues", SUP_MAX_QUEUES);
        s->queues[idx] = strdup(queue);
        if (!s->queues[idx])
            abort();
        s->ctags[idx][0] = '\0';
        s->nqueues++;
    }
    if (!s->b || !brk_alive(s->b))
        return CEL_OK; /* consumed at the next connect */
    cel_status st = CEL_OK;
    if (strcmp(s->cfg->queue_declare, "kombu") == 0 &&
        ((st = brk_declare_exchange(s->b, queue, "direct", true, false, err)) ||
         (st = brk_declare_queue(s->b, queue, false, true, false, false, NULL, err)) ||
         (st = brk_bind_queue(s->b, queue, queue, queue, err))))
        return st;
    return brk_consume(s->b, queue, false, s->ctags[idx], sizeof s->ctags[idx], err);
}

cel_status sup_cancel_queue(sup *s, const char *queue, cel_error *err) {
    for (size_t i = 0; i < s->nqueues; i++) {
        if (strcmp(s->queues[i], queue) != 0)
            continue;
        cel_status st = CEL_OK;
        if (s->ctags[i][0] && s->b && brk_alive(s->b))
            st = brk_cancel(s->b, s->ctags[i], err);
        free(s->queues[i]);
        for (size_t k = i + 1; k < s->nqueues; k++) {
            s->queues[k - 1] = s->queues[k];
            memcpy(s->ctags[k - 1], s->ctags[k], sizeof s->ctags[k]);
        }
        s->nqueues--;
        return st;
    }
    return cel_fail(err, CEL_ENOTFOUND, "not consuming from %s", queue);
}

/* Kills children whose task ran past its hard time limit; child_lost() reports it. */
static void enforce_time_limits(sup *s) {
    double now = tu_now();
    for (int i = 0; i < s->nchildren; i++) {
        job *j = s->children[i].job;
        if (!j || j->time_limited || j->hard_limit <= 0 || now - j->started_at < j->hard_limit)
            continue;
        j->time_limited = true;
        kill(s->children[i].pid, SIGKILL);
    }
}

/* ---------- main loop ---------- */

static int split_queues(sup *s) {
    const char *p = s->cfg->queues;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *q = p;
        size_t n = len;
        while (n && *q == ' ') {
            q++;
            n--;
        }
        while (n && q[n - 1] == ' ')
            n--;
        if (n) {
            if (s->nqueues >= SUP_MAX_QUEUES)
                return -1;
            s->queues[s->nqueues] = strndup(q, n);
            if (!s->queues[s->nqueues])
                abort();
            s->nqueues++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return s->nqueues ? 0 : -1;
}

int sup_run(const worker_settings *cfg) {
    sup S;
    memset(&S, 0, sizeof S);
    sup *s = &S;
    s->cfg = cfg;
    cel_error err = {0};
    if (brk_url_parse(cfg->broker_url, &s->url, &err) != CEL_OK) {
        LOG(LOG_CRITICAL, "config.invalid", LF_S("error", err.msg));
        return 2;
    }
    if (split_queues(s) != 0) {
        LOG(LOG_CRITICAL, "config.invalid", LF_S("error", "no queues given (-Q), or more than 64"));
        return 2;
    }
    s->bopts = (brk_options){.heartbeat_s = (int)cfg->heartbeat,
                             .connect_timeout_ms = 10000,
                             .confirm_timeout_ms = (int)(cfg->confirm_timeout * 1000),
                             .max_body_bytes = (size_t)cfg->max_message_bytes,
                             .connection_name = cfg->hostname};
    long qos = cfg->prefetch_multiplier * cfg->concurrency;
    s->qos_base = (uint16_t)(qos > 65535 ? 65535 : (qos < 0 ? 0 : qos));
    s->completed = lru_new((size_t)cfg->completed_cache, completed_free);
    s->deaths = lru_new(10000, free);
    s->revoked = lru_new(50000, free); /* Celery's LimitedSet default size */
    s->limits = lru_new(1024, free);
    s->task_events = cfg->task_events;
    s->started_at = tu_monotonic();
    s->http_fd = -1;
    s->backoff = 1.0;

    if (pipe2(g_sigpipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        LOG(LOG_CRITICAL, "worker.pipe_failed", LF_S("error", strerror(errno)));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    s->nchildren = (int)cfg->concurrency;
    s->children = calloc((size_t)s->nchildren, sizeof *s->children);
    if (!s->children)
        abort();
    for (int i = 0; i < s->nchildren; i++) {
        s->children[i].fd = -1;
        spawn_child(s, i);
    }
    s->http_fd = metrics_listen(s);
    LOG(LOG_INFO, "worker.ready", LF_S("hostname", cfg->hostname), LF_S("queues", cfg->queues),
        LF_I("concurrency", s->nchildren), LF_I("prefetch", s->qos_base),
        LF_S("version", CELERIAC_VERSION));

    int exit_code = 0;
    int seen_terms = 0;
    for (;;) {
        if (g_quit || g_term_count >= 2) {
            s->cold = true;
            LOG(LOG_WARNING, "worker.cold_shutdown", LF_I("running", (long long)s->running));
            stop_children(s, true);
            exit_code = 1;
            break;
        }
        if (g_term_count > seen_terms) {
            seen_terms = (int)g_term_count;
            begin_warm_shutdown(s);
        }
        if (s->stopping && s->running == 0)
            break;
        if (!s->b)
            try_connect(s);

        /* poll set: signal pipe, broker, children */
        struct pollfd pfd[2 + 256];
        int npfd = 0;
        pfd[npfd++] = (struct pollfd){.fd = g_sigpipe[0], .events = POLLIN};
        if (s->b && brk_alive(s->b)) {
            pfd[npfd++] = (struct pollfd){.fd = brk_fd(s->b), .events = POLLIN};
        }
        int http_idx = -1;
        if (s->http_fd >= 0) {
            http_idx = npfd;
            pfd[npfd++] = (struct pollfd){.fd = s->http_fd, .events = POLLIN};
        }
        int child_base = npfd;
        for (int i = 0; i < s->nchildren && npfd < (int)(sizeof pfd / sizeof pfd[0]); i++)
            pfd[npfd++] = (struct pollfd){.fd = s->children[i].fd, .events = POLLIN};
        int timeout = 200;
        double now = tu_now();
        for (job *j = s->jobs; j; j = j->next)
            if (j->state == JOB_HELD) {
                double ms = (j->t.eta - now) * 1000.0;
                if (ms < timeout)
                    timeout = ms < 0 ? 0 : (int)ms + 1;
            }
        if (!s->b && !s->stopping) {
            double ms = (s->next_connect - tu_monotonic()) * 1000.0;
            if (ms < timeout)
                timeout = ms < 0 ? 0 : (int)ms + 1;
        }
        if (s->b && brk_alive(s->b) && brk_has_buffered(s->b))
            timeout = 0;
        int pr = poll(pfd, (nfds_t)npfd, timeout);
        if (pr < 0 && errno != EINTR) {
            LOG(LOG_CRITICAL, "worker.poll_failed", LF_S("error", strerror(errno)));
            exit_code = 1;
            break;
        }
        if (pr > 0 && (pfd[0].revents & POLLIN)) {
            char buf[64];
            while (read(g_sigpipe[0], buf, sizeof buf) > 0) {
            }
        }
        /* Broker frames (also drives heartbeats). */
        if (s->b && brk_alive(s->b)) {
            /* Always pump (it also lets rabbitmq-c send a due heartbeat), then drain
             * every queued delivery, including ones read during confirm waits. */
            cel_error e2 = {0};
            if (brk_pump(s->b, 0, &e2) != CEL_OK) {
                broker_lost(s, e2.msg);
            } else {
                brk_delivery *d;
                while (s->b && (d = brk_next_delivery(s->b)))
                    on_delivery(s, d);
            }
            if (s->b && !brk_alive(s->b))
                broker_lost(s, "connection closed");
        }
        /* Child replies. */
        for (int i = 0; i < s->nchildren; i++) {
            child *c = &s->children[i];
            int k = child_base + i;
            if (k >= npfd || c->fd < 0 || pfd[k].fd != c->fd || pr <= 0 ||
                !(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            cel_error e2 = {0};
            cel_status st = ipc_reader_fill(&c->rd, c->fd, &e2);
            char *frame;
            size_t len;
            int got;
            while ((got = ipc_reader_pop(&c->rd, &frame, &len)) == 1) {
                handle_outcome(s, c, frame, len);
                free(frame);
            }
            if (got < 0 || st == CEL_EIO) {
                LOG(LOG_ERROR, "child.protocol_error", LF_I("pid", c->pid));
                kill(c->pid, SIGKILL);
            }
            /* EOF (CEL_ENOTFOUND) means it exited: reap() handles it. */
        }
        if (http_idx >= 0 && pr > 0 && (pfd[http_idx].revents & POLLIN))
            metrics_serve(s);
        enforce_time_limits(s);
        if (g_chld) {
            g_chld = 0;
            reap(s);
        }
        ev_tick(s);
        if (!s->stopping)
            dispatch(s);
        /* Any children that failed to spawn get another chance. */
        for (int i = 0; !s->stopping && i < s->nchildren; i++)
            if (s->children[i].pid == 0 && s->children[i].dead)
                spawn_child(s, i);
        if (s->stopping && s->running > 0 && !s->b)
            try_connect(s); /* to publish and ack what is finishing */
    }

    if (s->online_sent)
        ev_worker(s, "worker-offline");
    if (!s->cold)
        stop_children(s, false);
    /* Results published while the broker was away are lost with us; the broker still
     * holds their messages (unacked), so another worker will run them again. */
    brk_close(s->b);
    s->b = NULL;
    while (s->jobs) {
        job *j = s->jobs;
        s->jobs = j->next;
        job_free(j);
    }
    lru_free(s->completed);
    lru_free(s->deaths);
    for (size_t i = 0; i < s->nqueues; i++)
        free(s->queues[i]);
    free(s->children);
    free(s->stats);
    lru_free(s->revoked);
    lru_free(s->limits);
    if (s->http_fd >= 0)
        close(s->http_fd);
    close(g_sigpipe[0]);
    close(g_sigpipe[1]);
    g_sigpipe[0] = g_sigpipe[1] = -1;
    LOG(LOG_INFO, "worker.stopped", LF_I("exit_code", exit_code), LF_I("processed", s->processed));
    return exit_code;
}
