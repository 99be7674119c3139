/*
 * dq_check.h: the body of `celeriac check` as a function, so the corpus tests run
 * exactly what the command prints without spawning it.
 *
 * Not here: argument parsing and printing (check_cli.c's cmd_check).
 */
#ifndef CELERIAC_DQ_CHECK_H
#define CELERIAC_DQ_CHECK_H

#include "celeriac/error.h"
#include "celeriac/quality.h"

#include <jansson.h>
#include <stddef.h>

typedef struct dq_check_args {
    const char *file;        /* required */
    const char *schema_path; /* NULL: profile only */
    const char *format;      /* NULL: schema's, else detected */
    const char *report;      /* "quality" (default), "dataset", "both" */
    const char *tmp_dir;     /* NULL: $TMPDIR or /tmp */
    size_t memory_budget;    /* 0: $CELERIAC_DQ_MEMORY_BUDGET or the default */
    unsigned threads;        /* 0: one per online CPU, at most DQ_CHECK_MAX_THREADS */
} dq_check_args;

#define DQ_CHECK_MAX_THREADS 64

/* Validates and profiles a->file. Returns the exit status of `celeriac check`:
 * 0 passed (or a dataset-only report), 1 quality failed, 2 error. On 0 and 1
 * *out is the printed JSON (new reference); on 2 *out is NULL and err says why. */
int dq_check_run(const dq_check_args *a, json_t **out, cel_error *err);

#endif
