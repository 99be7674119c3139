/*
 * log.h: structured logging, one line per event, to stderr.
 *
 * A log line is an event name plus typed key/value fields. LOG_FORMAT=json
 * prints one JSON object per line ({"ts","level","pid","event",...fields});
 * text prints `ts LEVEL event key=value ...`. Values are escaped in both forms,
 * so a hostile S3 key or task name can't forge a line. Secrets never go in: use
 * log_mask_url() for URLs with passwords.
 *
 * Usage: LOG(LOG_INFO, "task.succeeded", LF_S("task_id", id), LF_D("runtime", 0.2));
 */
#ifndef CELERIAC_LOG_H
#define CELERIAC_LOG_H

#include <stddef.h>

enum { LOG_DEBUG = 10, LOG_INFO = 20, LOG_WARNING = 30, LOG_ERROR = 40, LOG_CRITICAL = 50 };

typedef enum { LF_STR, LF_INT, LF_DBL, LF_BOOL } log_field_kind;

typedef struct log_field {
    const char *key;
    log_field_kind kind;
    const char *s;
    long long i;
    double d;
} log_field;

#define LF_S(k, v) ((log_field){.key = (k), .kind = LF_STR, .s = (v)})
#define LF_I(k, v) ((log_field){.key = (k), .kind = LF_INT, .i = (long long)(v)})
#define LF_D(k, v) ((log_field){.key = (k), .kind = LF_DBL, .d = (double)(v)})
#define LF_B(k, v) ((log_field){.key = (k), .kind = LF_BOOL, .i = (v) ? 1 : 0})

/* level: LOG_* threshold; json: nonzero for JSON lines. Safe to call again. */
void log_init(int level, int json);
/* Parses "debug|info|warning|error|critical" (any case); -1 if unknown. */
int log_level_from_name(const char *name);
int log_enabled(int level);
void log_write(int level, const char *event, const log_field *fields, size_t n);

#define LOG(level, event, ...)                                                                     \
    do {                                                                                           \
        if (log_enabled(level)) {                                                                  \
            const log_field log_f_[] = {LF_S(NULL, NULL), __VA_ARGS__};                            \
            log_write((level), (event), log_f_ + 1, sizeof log_f_ / sizeof log_f_[0] - 1);         \
        }                                                                                          \
    } while (0)
#define LOG0(level, event) log_write((level), (event), NULL, 0)

/* Copies url into out with any password replaced by "***". Always NUL-terminates. */
void log_mask_url(const char *url, char *out, size_t outsz);

#endif
