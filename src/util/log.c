/*
 * log.c: structured log lines (see log.h). One write(2) per line so lines from
 * the supervisor and its children never interleave mid-line.
 */
#include "util/log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int g_level = LOG_INFO;
static int g_json = 0;

void log_init(int level, int json) {
    g_level = level;
    g_json = json;
}

int log_enabled(int level) {
    return level >= g_level;
}

int log_level_from_name(const char *name) {
    static const struct {
        const char *n;
        int l;
    } t[] = {{"debug", LOG_DEBUG},   {"info", LOG_INFO},   {"warning", LOG_WARNING},
             {"warn", LOG_WARNING},  {"error", LOG_ERROR}, {"critical", LOG_CRITICAL},
             {"fatal", LOG_CRITICAL}};
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcasecmp(name, t[i].n) == 0)
            return t[i].l;
    return -1;
}

static const char *level_name(int level) {
    if (level >= LOG_CRITICAL)
        return "CRITICAL";
    if (level >= LOG_ERROR)
        return "ERROR";
    if (level >= LOG_WARNING)
        return "WARNING";
    if (level >= LOG_INFO)
        return "INFO";
    return "DEBUG";
}

typedef struct {
    char buf[8192];
    size_t len;
} line;

static void put(line *l, const char *s, size_t n) {
    const size_t cap = sizeof l->buf - 2; /* room for '\n' and a spare byte */
    if (l->len >= cap)
        return;
    size_t room = cap - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(line *l, const char *s) {
    put(l, s, strlen(s));
}

/* JSON string escape; also used for quoted text values. */
static void put_escaped(line *l, const char *s) {
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char tmp[8];
        switch (*p) {
        case '"':
            put(l, "\\\"", 2);
            break;
        case '\\':
            put(l, "\\\\", 2);
            break;
        case '\n':
            put(l, "\\n", 2);
            break;
        case '\r':
            put(l, "\\r", 2);
            break;
        case '\t':
            put(l, "\\t", 2);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                snprintf(tmp, sizeof tmp, "\\u%04x", *p);
                puts_(l, tmp);
            } else {
                put(l, (const char *)p, 1);
            }
        }
    }
    put(l, "\"", 1);
}

static int needs_quotes(const char *s) {
    if (s == NULL || *s == '\0')
        return 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            return 1;
    return 0;
}

static void put_value(line *l, const log_field *f) {
    char tmp[64];
    switch (f->kind) {
    case LF_STR:
        if (g_json || needs_quotes(f->s)) {
            if (g_json && f->s == NULL)
                puts_(l, "null");
            else
                put_escaped(l, f->s);
        } else {
            puts_(l, f->s);
        }
        break;
    case LF_INT:
        snprintf(tmp, sizeof tmp, "%lld", f->i);
        puts_(l, tmp);
        break;
    case LF_DBL:
        if (isfinite(f->d))
            snprintf(tmp, sizeof tmp, "%.6g", f->d);
        else
            snprintf(tmp, sizeof tmp, "null");
        puts_(l, tmp);
        break;
    case LF_BOOL:
        puts_(l, f->i ? "true" : "false");
        break;
    }
}

void log_write(int level, const char *event, const log_field *fields, size_t n) {
    if (!log_enabled(level))
        return;
    line l = {.len = 0};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    if (g_json) {
        puts_(&l, "{\"ts\":\"");
        puts_(&l, ts);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, level_name(level));
        puts_(&l, "\",\"pid\":");
        puts_(&l, pid);
        puts_(&l, ",\"event\":");
        put_escaped(&l, event);
        for (size_t i = 0; i < n; i++) {
            put(&l, ",", 1);
            put_escaped(&l, fields[i].key);
            put(&l, ":", 1);
            put_value(&l, &fields[i]);
        }
        put(&l, "}", 1);
    } else {
        puts_(&l, ts);
        put(&l, " ", 1);
        puts_(&l, level_name(level));
        put(&l, " [", 2);
        puts_(&l, pid);
        put(&l, "] ", 2);
        puts_(&l, event ? event : "");
        for (size_t i = 0; i < n; i++) {
            put(&l, " ", 1);
            puts_(&l, fields[i].key);
            put(&l, "=", 1);
            put_value(&l, &fields[i]);
        }
    }
    l.buf[l.len++] = '\n';
    ssize_t off = 0;
    while ((size_t)off < l.len) {
        ssize_t w = write(2, l.buf + off, l.len - (size_t)off);
        if (w <= 0)
            break;
        off += w;
    }
}

void log_mask_url(const char *url, char *out, size_t outsz) {
    if (outsz == 0)
        return;
    if (url == NULL) {
        out[0] = '\0';
        return;
    }
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = NULL;
    if (at) {
        for (const char *p = scheme + 3; p < at; p++)
            if (*p == ':') {
                colon = p;
                break;
            }
    }
    if (!colon) {
        snprintf(out, outsz, "%s", url);
        return;
    }
    snprintf(out, outsz, "%.*s:***%s", (int)(colon - url), url, at);
}
