/*
 * config.h: configuration from one table.
 *
 * Each entry names the setting, its type, default, bounds, the environment variables
 * it is read from (first set wins: Celery's and AWS's names first, then ours), its
 * command-line flags and its help text. The same table drives parsing, validation,
 * `--help` and the README's configuration table (`celeriac worker --help-markdown`),
 * so they can't drift apart. Environment first, then flags (flags win).
 * Errors name the variable or flag and what is wrong.
 */
#ifndef CELERIAC_CONFIG_H
#define CELERIAC_CONFIG_H

#include "celeriac/error.h"

#include <stddef.h>
#include <stdio.h>

typedef enum { CFG_STR, CFG_INT, CFG_BOOL, CFG_DOUBLE } cfg_type;

typedef struct cfg_entry {
    const char *name; /* setting name, e.g. "concurrency" */
    cfg_type type;
    size_t offset;      /* into the settings struct: char[CFG_STR_MAX], long, int (bool), double */
    const char *dflt;   /* default as text; NULL = empty / 0 */
    double min, max;    /* bounds for INT/DOUBLE (ignored when min > max) */
    const char *env[4]; /* environment variables, NULL-terminated */
    char short_flag;    /* 0 = none */
    const char *long_flag; /* without "--"; NULL = none */
    const char *help;
    int secret; /* never printed */
} cfg_entry;

#define CFG_STR_MAX 1024

/* Sets every entry's default, then the environment, then argv (from index 1). Unknown
 * flags and positional arguments are errors unless positional is non-NULL (then the
 * first positional argument is stored there, at most CFG_STR_MAX). */
cel_status cfg_load(const cfg_entry *table, size_t n, void *settings, int argc, char **argv,
                    char *positional, cel_error *err) CEL_MUST_CHECK;
void cfg_print_help(FILE *f, const cfg_entry *table, size_t n);
void cfg_print_markdown(FILE *f, const cfg_entry *table, size_t n);

#endif
