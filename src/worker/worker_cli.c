/*
 * worker_cli.c: `celeriac worker [options]`: the settings table, their validation
 * (bad config fails at start, naming the variable), then the supervisor.
 * Flags mirror `celery worker`: -Q, -c, --prefetch-multiplier, -n, -E, -l.
 */
#include "cli.h"
#include "tasks/task.h"
#include "util/log.h"
#include "worker/supervisor.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OFF(f) offsetof(worker_settings, f)

static const cfg_entry k_settings[] = {
    {"broker_url",
     CFG_STR,
     OFF(broker_url),
     "",
     1,
     0,
     {"CELERY_BROKER_URL", "BROKER_URL", "CELERIAC_BROKER_URL", NULL},
     'b',
     "broker",
     "AMQP broker URL (amqp://user:pass@host:5672/vhost; amqps:// for TLS). When unset, built "
     "from RABBITMQ_USER/PASSWORD/HOST/PORT/VHOST; else amqp://guest:guest@localhost:5672//",
     1},
    {"result_backend",
     CFG_STR,
     OFF(result_backend),
     "rpc://",
     1,
     0,
     {"CELERY_RESULT_BACKEND", "CELERIAC_RESULT_BACKEND", NULL},
     0,
     "result-backend",
     "result backend; only rpc:// (results to the producer's reply queue) is supported",
     0},
    {"queues",
     CFG_STR,
     OFF(queues),
     "celery",
     1,
     0,
     {"CELERIAC_QUEUES", NULL},
     'Q',
     "queues",
     "comma-separated queues to consume",
     0},
    {"concurrency",
     CFG_INT,
     OFF(concurrency),
     "0",
     0,
     256,
     {"CELERY_WORKER_CONCURRENCY", "CELERIAC_CONCURRENCY", NULL},
     'c',
     "concurrency",
     "child processes (0 = number of CPUs)",
     0},
    {"prefetch_multiplier",
     CFG_INT,
     OFF(prefetch_multiplier),
     "4",
     0,
     65535,
     {"CELERY_WORKER_PREFETCH_MULTIPLIER", "CELERIAC_PREFETCH_MULTIPLIER", NULL},
     0,
     "prefetch-multiplier",
     "prefetch = multiplier x concurrency (0 = unlimited)",
     0},
    {"hostname",
     CFG_STR,
     OFF(hostname),
     "celery@%h",
     1,
     0,
     {"CELERIAC_HOSTNAME", NULL},
     'n',
     "hostname",
     "node name; %h = host name, %n = short host name, %d = domain",
     0},
    {"task_events",
     CFG_BOOL,
     OFF(task_events),
     "false",
     1,
     0,
     {"CELERY_WORKER_SEND_TASK_EVENTS", "CELERIAC_TASK_EVENTS", NULL},
     'E',
     "task-events",
     "send task events (for Flower / celery events)",
     0},
    {"loglevel",
     CFG_STR,
     OFF(loglevel),
     "info",
     1,
     0,
     {"LOG_LEVEL", "CELERIAC_LOG_LEVEL", NULL},
     'l',
     "loglevel",
     "debug, info, warning, error or critical",
     0},
    {"log_format",
     CFG_STR,
     OFF(logformat),
     "text",
     1,
     0,
     {"LOG_FORMAT", NULL},
     0,
     "log-format",
     "text or json (one JSON object per line)",
     0},
    {"track_started",
     CFG_BOOL,
     OFF(track_started),
     "false",
     1,
     0,
     {"CELERY_TASK_TRACK_STARTED", "CELERIAC_TASK_TRACK_STARTED", NULL},
     0,
     "track-started",
     "publish a STARTED state before running each task (also per message with header "
     "track_started=true)",
     0},
    {"broker_heartbeat",
     CFG_INT,
     OFF(heartbeat),
     "60",
     0,
     3600,
     {"CELERY_BROKER_HEARTBEAT", "CELERIAC_BROKER_HEARTBEAT", NULL},
     0,
     "heartbeat",
     "AMQP heartbeat in seconds (0 = off)",
     0},
    {"max_message_bytes",
     CFG_INT,
     OFF(max_message_bytes),
     "16777216",
     1024,
     1073741824,
     {"CELERIAC_MAX_MESSAGE_BYTES", NULL},
     0,
     "max-message-bytes",
     "larger task messages are dead-lettered",
     0},
    {"dead_letter_queue",
     CFG_STR,
     OFF(dead_letter_queue),
     "celeriac.dead_letter",
     1,
     0,
     {"CELERIAC_DEAD_LETTER_QUEUE", NULL},
     0,
     "dead-letter-queue",
     "durable queue receiving refused messages, with the reason in x-celeriac-* headers",
     0},
    {"dead_letter_mode",
     CFG_STR,
     OFF(dead_letter_mode),
     "queue",
     1,
     0,
     {"CELERIAC_DEAD_LETTER_MODE", NULL},
     0,
     "dead-letter-mode",
     "queue (publish to the dead-letter queue, then ack) or reject (basic.reject without "
     "requeue, for a broker-side dead-letter exchange set by policy)",
     0},
    {"queue_declare",
     CFG_STR,
     OFF(queue_declare),
     "kombu",
     1,
     0,
     {"CELERIAC_QUEUE_DECLARE", NULL},
     0,
     "queue-declare",
     "kombu (declare queues exactly as a Python worker does), passive (only check they exist) "
     "or none",
     0},
    {"task_aliases",
     CFG_STR,
     OFF(task_aliases),
     "",
     1,
     0,
     {"CELERIAC_TASK_ALIASES", NULL},
     0,
     "task-aliases",
     "extra task names: alias=task,alias2=task2",
     0},
    {"completed_cache",
     CFG_INT,
     OFF(completed_cache),
     "10000",
     16,
     10000000,
     {"CELERIAC_COMPLETED_CACHE", NULL},
     0,
     "completed-cache",
     "task ids remembered as completed, so a redelivery after a lost ack is not run twice",
     0},
    {"confirm_timeout",
     CFG_DOUBLE,
     OFF(confirm_timeout),
     "30",
     0.1,
     3600,
     {"CELERIAC_CONFIRM_TIMEOUT", NULL},
     0,
     "confirm-timeout",
     "seconds to wait for a publisher confirm",
     0},
    {"events_queue",
     CFG_STR,
     OFF(events_queue),
     "",
     1,
     0,
     {"CELERIAC_EVENTS_QUEUE", NULL},
     0,
     "events-queue",
     "queue of raw S3 event notifications (AWS Records, EventBridge, MinIO AMQP) to turn into "
     "tasks; empty = off",
     0},
    {"event_routes",
     CFG_STR,
     OFF(event_routes),
     "dq.process_s3_object",
     1,
     0,
     {"CELERIAC_S3_EVENT_ROUTES", NULL},
     0,
     "event-routes",
     "key prefix → task for S3 events: prefix=task,prefix2=task2 (longest prefix wins); a bare "
     "task name routes every key",
     0},
    {"events_task_queue",
     CFG_STR,
     OFF(events_task_queue),
     "",
     1,
     0,
     {"CELERIAC_EVENTS_TASK_QUEUE", NULL},
     0,
     "events-task-queue",
     "queue the tasks made from S3 events are sent to (default: the first -Q queue)",
     0},
    {"task_time_limit",
     CFG_DOUBLE,
     OFF(task_time_limit),
     "0",
     0,
     31536000,
     {"CELERY_TASK_TIME_LIMIT", "CELERIAC_TASK_TIME_LIMIT", NULL},
     0,
     "time-limit",
     "hard time limit in seconds for every task (0 = none; a message's timelimit header and "
     "`celery control time_limit` override it): the child is killed, the task fails with "
     "TimeLimitExceeded",
     0},
    {"task_soft_time_limit",
     CFG_DOUBLE,
     OFF(task_soft_time_limit),
     "0",
     0,
     31536000,
     {"CELERY_TASK_SOFT_TIME_LIMIT", "CELERIAC_TASK_SOFT_TIME_LIMIT", NULL},
     0,
     "soft-time-limit",
     "soft time limit in seconds: logged when exceeded (C tasks can't be "
     "interrupted safely)",
     0},
    {"metrics_port",
     CFG_INT,
     OFF(metrics_port),
     "0",
     0,
     65535,
     {"CELERIAC_METRICS_PORT", NULL},
     0,
     "metrics-port",
     "HTTP port for /metrics (Prometheus) and /healthz; 0 = off",
     0},
    {"metrics_address",
     CFG_STR,
     OFF(metrics_address),
     "127.0.0.1",
     1,
     0,
     {"CELERIAC_METRICS_ADDRESS", NULL},
     0,
     "metrics-address",
     "address the metrics port binds to (0.0.0.0 in containers)",
     0},
    {"help", CFG_BOOL, OFF(help), "false", 1, 0, {NULL}, 'h', "help", "show this help", 0},
    {"help_markdown",
     CFG_BOOL,
     OFF(help_markdown),
     "false",
     1,
     0,
     {NULL},
     0,
     "help-markdown",
     "print the settings as a Markdown table (for the README)",
     0},
};
#define N_SETTINGS (sizeof k_settings / sizeof k_settings[0])

/* Percent-encodes s into out for a URL component. */
static void url_escape(const char *s, char *out, size_t n) {
    size_t o = 0;
    for (; *s && o + 4 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, n - o, "%%%02X", c);
            o += 3;
        }
    }
    out[o] = '\0';
}

static void broker_from_components(worker_settings *w) {
    const char *host = getenv("RABBITMQ_HOST");
    if (!host || !*host) {
        snprintf(w->broker_url, sizeof w->broker_url, "amqp://guest:guest@localhost:5672//");
        return;
    }
    const char *user = getenv("RABBITMQ_USER"), *pass = getenv("RABBITMQ_PASSWORD");
    const char *port = getenv("RABBITMQ_PORT"), *vhost = getenv("RABBITMQ_VHOST");
    char u[256], p[256], v[256];
    url_escape(user && *user ? user : "guest", u, sizeof u);
    url_escape(pass && *pass ? pass : "guest", p, sizeof p);
    url_escape(vhost && *vhost ? vhost : "/", v, sizeof v);
    snprintf(w->broker_url, sizeof w->broker_url, "amqp://%s:%s@%s:%s/%s", u, p, host,
             port && *port ? port : "5672", v);
}

/* Celery's nodename rules: "name@host" with %h/%n/%d expanded; no '@' means celery@<value>. */
static void expand_hostname(worker_settings *w) {
    char host[256] = "localhost";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    char shortn[256], domain[256] = "";
    snprintf(shortn, sizeof shortn, "%s", host);
    char *dot = strchr(shortn, '.');
    if (dot) {
        snprintf(domain, sizeof domain, "%s", dot + 1);
        *dot = '\0';
    }
    char out[CFG_STR_MAX];
    size_t o = 0;
    for (const char *p = w->hostname; *p && o + 1 < sizeof out; p++) {
        const char *sub = NULL;
        if (*p == '%' && p[1]) {
            p++;
            sub = *p == 'h'   ? host
                  : *p == 'n' ? shortn
                  : *p == 'd' ? domain
                  : *p == '%' ? "%"
                              : NULL;
            if (!sub) {
                out[o++] = '%';
                if (o + 1 < sizeof out)
                    out[o++] = *p;
                continue;
            }
            size_t n = strlen(sub);
            if (o + n >= sizeof out)
                break;
            memcpy(out + o, sub, n);
            o += n;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    if (!strchr(out, '@'))
        snprintf(w->hostname, sizeof w->hostname, "celery@%.1000s", out);
    else
        snprintf(w->hostname, sizeof w->hostname, "%s", out);
}

int cmd_worker(int argc, char **argv) {
    static worker_settings w;
    memset(&w, 0, sizeof w);
    cel_error err = {0};
    if (cfg_load(k_settings, N_SETTINGS, &w, argc, argv, NULL, &err) != CEL_OK) {
        fprintf(stderr, "celeriac worker: %s\n(see celeriac worker --help)\n", err.msg);
        return 2;
    }
    if (w.help) {
        printf("usage: celeriac worker [options]\n\nSettings (flags override environment):\n");
        cfg_print_help(stdout, k_settings, N_SETTINGS);
        return 0;
    }
    if (w.help_markdown) {
        cfg_print_markdown(stdout, k_settings, N_SETTINGS);
        return 0;
    }
    int level = log_level_from_name(w.loglevel);
    if (level < 0) {
        fprintf(stderr, "celeriac worker: LOG_LEVEL/-l: unknown level '%s'\n", w.loglevel);
        return 2;
    }
    if (strcmp(w.logformat, "json") != 0 && strcmp(w.logformat, "text") != 0) {
        fprintf(stderr, "celeriac worker: LOG_FORMAT: want json or text, got '%s'\n", w.logformat);
        return 2;
    }
    log_init(level, strcmp(w.logformat, "json") == 0);
    if (!w.broker_url[0])
        broker_from_components(&w);
    if (w.result_backend[0] && strncmp(w.result_backend, "rpc://", 6) != 0) {
        fprintf(stderr,
                "celeriac worker: CELERY_RESULT_BACKEND: only rpc:// is supported, got '%.*s'\n",
                (int)strcspn(w.result_backend, ":"), w.result_backend);
        return 2;
    }
    if (strcmp(w.dead_letter_mode, "queue") != 0 && strcmp(w.dead_letter_mode, "reject") != 0) {
        fprintf(stderr, "celeriac worker: CELERIAC_DEAD_LETTER_MODE: want queue or reject\n");
        return 2;
    }
    if (strcmp(w.queue_declare, "kombu") != 0 && strcmp(w.queue_declare, "passive") != 0 &&
        strcmp(w.queue_declare, "none") != 0) {
        fprintf(stderr, "celeriac worker: CELERIAC_QUEUE_DECLARE: want kombu, passive or none\n");
        return 2;
    }
    if (w.concurrency == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        w.concurrency = n > 0 ? n : 1;
    }
    expand_hostname(&w);
    task_registry_init();
    if (task_aliases_parse(w.task_aliases, &err) != CEL_OK) {
        fprintf(stderr, "celeriac worker: %s\n", err.msg);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "celeriac worker: libcurl initialisation failed\n");
        return 1;
    }
    int rc = sup_run(&w);
    curl_global_cleanup();
    return rc;
}
