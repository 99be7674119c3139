/*
 * check_cli.c: `celeriac check FILE [--schema S.json] [--format F] [--report R]`:
 * validates and profiles a local file with the quality engine and prints JSON.
 *
 * Design: the same path a task takes, minus S3 and the database: open the file
 * as a cel_source, read it into the engine (dq_engine_read), finish,
 * print {"input", "quality", "profile"} (--report quality, the default),
 * {"input", "dataset"} (--report dataset) or all of them (--report both).
 * A reader failure on the data (EPARSE, ELIMIT, EUNSUPPORTED) is a quality
 * result ("the file cannot be parsed": format deduction 35), not a CLI error.
 *
 * Exit status: 0 quality passed (or --report dataset succeeded), 1 quality
 * failed, 2 usage, schema, configuration or I/O errors (message on stderr).
 *
 * Not here: the engine (dq_*.c), readers (src/formats).
 */
#include "quality/dq_check.h"

#include "celeriac/reader.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: celeriac check FILE [options]\n\n"
            "Validates FILE against a schema (Frictionless Table Schema + format/dialect)\n"
            "and profiles every column; prints JSON on stdout.\n\n"
            "options:\n"
            "  --schema PATH          schema definition JSON (without: profile only)\n"
            "  --format F             csv, json, ndjson, parquet or auto (default: schema, then\n"
            "                         the file extension, then content sniffing)\n"
            "  --report R             quality (default: quality + profile), dataset (the\n"
            "                         seed-002 dataset report), or both\n"
            "  --memory-budget SIZE   engine memory budget, e.g. 256M (default:\n"
            "                         $CELERIAC_DQ_MEMORY_BUDGET or 256 MiB)\n"
            "  --tmp-dir DIR          spill directory (default: $TMPDIR or /tmp)\n"
            "  --threads N            threads, 1..64 (default: $CELERIAC_DQ_THREADS or one\n"
            "                         per online CPU); the results do not depend on it\n"
            "  --compact              one-line JSON\n"
            "  -h, --help             this text\n\n"
            "exit status: 0 passed, 1 failed (score < 80), 2 usage/schema/I/O error\n");
}

/* Returns the value of option `name` at argv[*i] ("--x v" or "--x=v"), advancing *i. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *bad) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "celeriac check: %s needs a value\n", name);
        *bad = true;
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

static bool parse_mem(const char *s, size_t *out) {
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || s[0] == '-')
        return false;
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1ULL << 10;
    else if (*end == 'M' || *end == 'm')
        mul = 1ULL << 20;
    else if (*end == 'G' || *end == 'g')
        mul = 1ULL << 30;
    else if (*end != '\0')
        return false;
    if (mul > 1 && end[1] != '\0' && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
        return false;
    if (v > SIZE_MAX / mul)
        return false;
    *out = (size_t)(v * mul);
    return true;
}

int dq_check_run(const dq_check_args *a, json_t **result, cel_error *err) {
    int rc = 2;
    dq_schema *schema = NULL;
    dq_engine *eng = NULL;
    cel_source src;
    bool src_open = false;
    dq_result res;
    memset(&res, 0, sizeof res);
    json_t *out = NULL, *profile = NULL, *dataset = NULL;
    dq_options opts;
    *result = NULL;
    const char *report = a->report ? a->report : "quality";
    bool want_quality = strcmp(report, "quality") == 0 || strcmp(report, "both") == 0;
    bool want_dataset = strcmp(report, "dataset") == 0 || strcmp(report, "both") == 0;
    if (!want_quality && !want_dataset) {
        cel_fail(err, CEL_EINVAL, "--report must be quality, dataset or both");
        goto done;
    }
    if (dq_options_from_env(&opts, err) != CEL_OK)
        goto done;
    if (a->memory_budget)
        opts.memory_budget = a->memory_budget;
    opts.tmp_dir = a->tmp_dir;
    if (a->threads)
        opts.threads = a->threads;
    if (opts.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        opts.threads = n < 1 ? 1 : n > DQ_CHECK_MAX_THREADS ? DQ_CHECK_MAX_THREADS : (unsigned)n;
    }
    opts.dataset_report = want_dataset;
    if (a->schema_path && dq_schema_load(a->schema_path, &schema, err) != CEL_OK)
        goto done;

    cel_reader_opts ropts;
    memset(&ropts, 0, sizeof ropts);
    ropts.header = -1; /* 0 would mean "no header" to the readers */
    dq_schema_reader_opts(schema, &ropts);
    if (a->format && cel_format_parse(a->format, &ropts.format, err) != CEL_OK)
        goto done;
    cel_reader_opts_defaults(&ropts);
    opts.no_header = ropts.header == 0;

    if (dq_engine_new(schema, &opts, &eng, err) != CEL_OK)
        goto done;
    if (cel_file_source_open(a->file, &src, err) != CEL_OK)
        goto done;
    src_open = true;
    cel_format used = ropts.format;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cel_error perr;
    if (dq_engine_read(eng, &src, &ropts, &used, &perr, err) != CEL_OK)
        goto done;
    if (perr.code != CEL_OK)
        dq_engine_parse_failed(eng, &perr);
    struct timespec tr;
    clock_gettime(CLOCK_MONOTONIC, &tr);
    if (dq_engine_finish(eng, err) != CEL_OK)
        goto done;
    clock_gettime(CLOCK_MONOTONIC, &t1);

    out = json_object();
    json_t *input = json_object();
    if (out == NULL || input == NULL) {
        json_decref(input);
        cel_fail(err, CEL_ENOMEM, "out of memory");
        goto done;
    }
    json_object_set_new(input, "path", json_string(a->file));
    json_object_set_new(input, "format", json_string(cel_format_name(used)));
    json_object_set_new(input, "bytes", json_integer((json_int_t)src.size));
    json_object_set_new(input, "rows", json_integer((json_int_t)dq_engine_rows(eng)));
    json_object_set_new(
        input, "seconds",
        json_real((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9));
    json_object_set_new(
        input, "readSeconds",
        json_real((double)(tr.tv_sec - t0.tv_sec) + (double)(tr.tv_nsec - t0.tv_nsec) / 1e9));
    json_object_set_new(input, "threads", json_integer((json_int_t)opts.threads));
    json_object_set_new(input, "poolPeakBytes", json_integer((json_int_t)dq_engine_pool_peak(eng)));
    if (a->schema_path)
        json_object_set_new(input, "schema", json_string(a->schema_path));
    json_object_set_new(out, "input", input);

    if (want_quality) {
        if (dq_engine_result(eng, &res, err) != CEL_OK)
            goto done;
        json_t *q = dq_result_json(&res);
        if (q == NULL) {
            cel_fail(err, CEL_ENOMEM, "out of memory");
            goto done;
        }
        json_object_set_new(out, "quality", q);
        if (dq_engine_profile(eng, &profile, err) != CEL_OK)
            goto done;
        json_object_set_new(out, "profile", profile);
        profile = NULL;
    }
    if (want_dataset) {
        if (dq_dataset_report(eng, &dataset, err) != CEL_OK)
            goto done;
        json_object_set_new(out, "dataset", dataset);
        dataset = NULL;
    }
    rc = want_quality && !res.passed ? 1 : 0;
    *result = out;
    out = NULL;
done:
    dq_result_free(&res);
    json_decref(out);
    json_decref(profile);
    json_decref(dataset);
    if (src_open)
        cel_file_source_close(&src);
    dq_engine_free(eng);
    dq_schema_free(schema);
    return rc;
}

int cmd_check(int argc, char **argv) {
    dq_check_args a;
    memset(&a, 0, sizeof a);
    const char *mem = NULL, *threads = NULL;
    bool compact = false, bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        const char *v;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--schema", &bad)) != NULL) {
            a.schema_path = v;
        } else if ((v = opt_value(argc, argv, &i, "--format", &bad)) != NULL) {
            a.format = v;
        } else if ((v = opt_value(argc, argv, &i, "--report", &bad)) != NULL) {
            a.report = v;
        } else if ((v = opt_value(argc, argv, &i, "--memory-budget", &bad)) != NULL) {
            mem = v;
        } else if ((v = opt_value(argc, argv, &i, "--tmp-dir", &bad)) != NULL) {
            a.tmp_dir = v;
        } else if ((v = opt_value(argc, argv, &i, "--threads", &bad)) != NULL) {
            threads = v;
        } else if (strcmp(argv[i], "--compact") == 0) {
            compact = true;
        } else if (!bad && argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "celeriac check: unknown option %s\n", argv[i]);
            bad = true;
        } else if (!bad) {
            if (a.file) {
                fprintf(stderr, "celeriac check: only one FILE\n");
                bad = true;
            }
            a.file = argv[i];
        }
    }
    if (!bad && mem && !parse_mem(mem, &a.memory_budget)) {
        fprintf(stderr, "celeriac check: --memory-budget: '%s' is not a size (e.g. 256M)\n", mem);
        bad = true;
    }
    if (!bad && threads) {
        char *end = NULL;
        unsigned long t = strtoul(threads, &end, 10);
        if (end == threads || *end != '\0' || threads[0] == '-' || t < 1 ||
            t > DQ_CHECK_MAX_THREADS) {
            fprintf(stderr, "celeriac check: --threads: '%s' is not a number from 1 to %d\n",
                    threads, DQ_CHECK_MAX_THREADS);
            bad = true;
        } else {
            a.threads = (unsigned)t;
        }
    }
    if (!bad && a.file == NULL) {
        fprintf(stderr, "celeriac check: FILE is required\n");
        bad = true;
    }
    if (bad) {
        usage(stderr);
        return 2;
    }
    cel_error err;
    cel_error_clear(&err);
    json_t *out = NULL;
    int rc = dq_check_run(&a, &out, &err);
    if (out == NULL) {
        fprintf(stderr, "celeriac check: %s: %s\n", cel_strerror(err.code), err.msg);
        return 2;
    }
    if (json_dumpf(out, stdout, compact ? JSON_COMPACT : JSON_INDENT(2)) != 0 ||
        fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        fprintf(stderr, "celeriac check: writing the result failed\n");
        rc = 2;
    }
    json_decref(out);
    return rc;
}
