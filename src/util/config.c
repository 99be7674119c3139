/*
 * config.c: table-driven settings (see config.h).
 */
#include "util/config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static cel_status set_value(const cfg_entry *e, void *settings, const char *val, const char *src,
                            cel_error *err) {
    char *p = (char *)settings + e->offset;
    char *end = NULL;
    switch (e->type) {
    case CFG_STR:
        if (strlen(val) >= CFG_STR_MAX)
            return cel_fail(err, CEL_ECONFIG, "%s: value longer than %d bytes", src,
                            CFG_STR_MAX - 1);
        memcpy(p, val, strlen(val) + 1);
        return CEL_OK;
    case CFG_INT: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end != '\0')
            return cel_fail(err, CEL_ECONFIG, "%s: '%s' is not an integer", src, val);
        if (e->min <= e->max && ((double)v < e->min || (double)v > e->max))
            return cel_fail(err, CEL_ECONFIG, "%s: %ld is outside [%g, %g]", src, v, e->min,
                            e->max);
        memcpy(p, &v, sizeof v);
        return CEL_OK;
    }
    case CFG_DOUBLE: {
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || *end != '\0')
            return cel_fail(err, CEL_ECONFIG, "%s: '%s' is not a number", src, val);
        if (e->min <= e->max && (v < e->min || v > e->max))
            return cel_fail(err, CEL_ECONFIG, "%s: %g is outside [%g, %g]", src, v, e->min, e->max);
        memcpy(p, &v, sizeof v);
        return CEL_OK;
    }
    case CFG_BOOL: {
        int v;
        if (!strcasecmp(val, "1") || !strcasecmp(val, "true") || !strcasecmp(val, "yes") ||
            !strcasecmp(val, "on"))
            v = 1;
        else if (!strcasecmp(val, "0") || !strcasecmp(val, "false") || !strcasecmp(val, "no") ||
                 !strcasecmp(val, "off") || !*val)
            v = 0;
        else
            return cel_fail(err, CEL_ECONFIG, "%s: '%s' is not a boolean (true/false)", src, val);
        memcpy(p, &v, sizeof v);
        return CEL_OK;
    }
    }
    return CEL_OK;
}

cel_status cfg_load(const cfg_entry *t, size_t n, void *settings, int argc, char **argv,
                    char *positional, cel_error *err) {
    cel_status st;
    for (size_t i = 0; i < n; i++)
        if ((st = set_value(&t[i], settings,
                            t[i].dflt ? t[i].dflt : (t[i].type == CFG_STR ? "" : "0"), t[i].name,
                            err)))
            return st;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < 4 && t[i].env[k]; k++) {
            const char *v = getenv(t[i].env[k]);
            if (v && *v) {
                if ((st = set_value(&t[i], settings, v, t[i].env[k], err)))
                    return st;
                break;
            }
        }
    }
    bool have_positional = false;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        const cfg_entry *e = NULL;
        const char *val = NULL;
        char src[96];
        if (arg[0] == '-' && arg[1] == '-' && arg[2]) {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t nl = eq ? (size_t)(eq - name) : strlen(name);
            for (size_t i = 0; i < n && !e; i++)
                if (t[i].long_flag && strlen(t[i].long_flag) == nl &&
                    !strncmp(t[i].long_flag, name, nl))
                    e = &t[i];
            if (!e)
                return cel_fail(err, CEL_ECONFIG, "unknown option '--%.*s'", (int)nl, name);
            snprintf(src, sizeof src, "--%s", e->long_flag);
            if (eq)
                val = eq + 1;
        } else if (arg[0] == '-' && arg[1] && arg[1] != '-') {
            for (size_t i = 0; i < n && !e; i++)
                if (t[i].short_flag == arg[1])
                    e = &t[i];
            if (!e)
                return cel_fail(err, CEL_ECONFIG, "unknown option '-%c'", arg[1]);
            snprintf(src, sizeof src, "-%c", e->short_flag);
            if (arg[2])
                val = arg + 2;
        } else {
            if (positional && !have_positional) {
                if (strlen(arg) >= CFG_STR_MAX)
                    return cel_fail(err, CEL_ECONFIG, "argument too long");
                memcpy(positional, arg, strlen(arg) + 1);
                have_positional = true;
                continue;
            }
            return cel_fail(err, CEL_ECONFIG, "unexpected argument '%s'", arg);
        }
        if (!val) {
            if (e->type == CFG_BOOL) {
                val = "true";
            } else {
                if (a + 1 >= argc)
                    return cel_fail(err, CEL_ECONFIG, "%s needs a value", src);
                val = argv[++a];
            }
        }
        if ((st = set_value(e, settings, val, src, err)))
            return st;
    }
    return CEL_OK;
}

static void flags_text(const cfg_entry *e, char *buf, size_t n) {
    buf[0] = '\0';
    if (e->short_flag && e->long_flag)
        snprintf(buf, n, "-%c, --%s", e->short_flag, e->long_flag);
    else if (e->long_flag)
        snprintf(buf, n, "--%s", e->long_flag);
    else if (e->short_flag)
        snprintf(buf, n, "-%c", e->short_flag);
}

void cfg_print_help(FILE *f, const cfg_entry *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char flags[96];
        flags_text(&t[i], flags, sizeof flags);
        fprintf(f, "  %-28s %s\n", flags[0] ? flags : "(env only)", t[i].help);
        fprintf(f, "  %-28s env:", "");
        for (size_t k = 0; k < 4 && t[i].env[k]; k++)
            fprintf(f, " %s", t[i].env[k]);
        if (t[i].dflt && *t[i].dflt && !t[i].secret)
            fprintf(f, "; default: %s", t[i].dflt);
        fprintf(f, "\n");
    }
}

void cfg_print_markdown(FILE *f, const cfg_entry *t, size_t n) {
    fprintf(f, "| setting | environment | flag | default | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        char flags[96];
        flags_text(&t[i], flags, sizeof flags);
        fprintf(f, "| %s | ", t[i].name);
        for (size_t k = 0; k < 4 && t[i].env[k]; k++)
            fprintf(f, "%s`%s`", k ? ", " : "", t[i].env[k]);
        fprintf(f, " | %s%s%s | %s%s%s | %s |\n", flags[0] ? "`" : "", flags, flags[0] ? "`" : "",
                t[i].dflt && *t[i].dflt ? "`" : "", t[i].dflt ? t[i].dflt : "",
                t[i].dflt && *t[i].dflt ? "`" : "", t[i].help);
    }
}
