/*
 * quality.h: the data-quality engine: validate rows against a Frictionless Table
 * Schema, profile every column, score the file, build the dataset report.
 *
 * Design: the engine is a cel_row_sink (reader.h). A reader pushes rows into it;
 * each cell updates its column's state once (one streaming pass). After the last
 * row, dq_engine_finish() resolves what needs the whole column (exact
 * uniqueness, exact quartiles, histograms, IQR outliers) and the result, profile
 * and dataset report are read from the same state. Nothing reads the input twice.
 *
 * Memory guarantees (CELERIAC_DQ_MEMORY_BUDGET = B, default 256 MiB, min 4 MiB):
 *  - Per column O(1): counters, Welford moments, min/max, a 64-counter
 *    Misra-Gries top-values table (~6 KiB), a 16 KiB HyperLogLog once the exact
 *    distinct table is given up, ten example cells per check, 256-byte text
 *    min/max copies. Plus the sample reservoir: rows x columns x <= 128 bytes.
 *  - Exact distinct counting up to 65,536 distinct values per column, in hash
 *    tables drawing from a shared pool of B/8; past either limit the column
 *    switches to HyperLogLog (relative standard error 0.81%, stated in the
 *    payload; never reported above the count).
 *  - Numeric values (for exact quartiles/histogram/outliers): 16 bytes per value
 *    in memory up to a shared pool of min(B/16, 16 MiB), then appended to a
 *    temp file per column (TMPDIR); quartiles of a spilled column are found by
 *    radix selection over the file (<= 5 sequential passes, typically 2).
 *  - Exact uniqueness (unique fields, primaryKey, uniqueKeys) and duplicate rows
 *    (dataset report only): 24-byte (128-bit hash, row) entries drawing from the
 *    rest of B; past it, partitioned temp files resolved one partition at a time.
 *  So without unique constraints (and without the dataset report) the peak is
 *  bounded by ~B/16 + B/8 + O(columns), independent of the row count; disk use
 *  is <= 16 bytes per numeric cell + 24 bytes per unique-key cell.
 *  "Exact" uniqueness means exact up to collisions of a 128-bit
 *  non-cryptographic hash (~n^2/2^129 for n keys).
 *
 * Checks and scoring (seed 000 + docs/data-quality.md §2). One check is:
 *  - schema (40): one per field position/name in the union of declared fields
 *    and data columns. exact: position i passes when field i and column i both
 *    exist and have the same name; equal: a declared field is present and a
 *    data column is declared; subset: declared fields must be present (extra
 *    columns pass); superset: data columns must be declared (absent fields
 *    pass); partial: all pass when at least one declared field is present, else
 *    all fail. A repeated data column name fails (except under subset/partial).
 *    CSV without header: fields map to columns by position, names are ignored.
 *  - format (35): one per declared field present in the data: passes when
 *    every non-missing cell casts to the field's type/format; plus one failing
 *    "rowShape" check when CSV rows have more cells than the header (extra
 *    cells) or fewer (short rows). A file that cannot be parsed deducts the
 *    full 35 and nothing else is evaluated.
 *  - completeness (20): one per required field (constraints.required or in
 *    primaryKey): passes when no cell is missing (absent field with rows: fails).
 *  - bounds (15): one per field with any of minimum, maximum, exclusiveMinimum,
 *    exclusiveMaximum, minLength, maxLength, pattern, enum: passes when no
 *    castable cell violates any of them (cells failing the type are format's).
 *  - uniqueness (10): one per distinct key: each constraints.unique field,
 *    primaryKey, each uniqueKeys entry (identical column sets are counted once):
 *    passes when no two rows share a key; keys with a missing part are skipped
 *    (SQL UNIQUE semantics, Table Schema v2 uniqueKeys).
 *  Deduction = weight x failed / checks (0 with no checks); deductions are
 *  stored unrounded (JSON integers when integral, else IEEE doubles, e.g.
 *  6.666666666666667). Score = round-half-even(clamp(100 - sum, 0, 100)) (as
 *  Python's round()); passed = score >= 80. Without a schema only the profile
 *  is computed and every category passes with details "no schema".
 *
 * Not here: reading bytes (reader.h), the database, S3.
 */
#ifndef CELERIAC_QUALITY_H
#define CELERIAC_QUALITY_H

#include "celeriac/error.h"
#include "celeriac/reader.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DQ_CAT_SCHEMA = 0,
    DQ_CAT_FORMAT,
    DQ_CAT_COMPLETENESS,
    DQ_CAT_BOUNDS,
    DQ_CAT_UNIQUENESS,
    DQ_CAT_COUNT
} dq_category;

/* 40, 35, 20, 15, 10. */
double dq_category_weight(dq_category c);
/* deductions key: "schema", "format", "completeness", "bounds", "uniqueness". */
const char *dq_category_name(dq_category c);
/* metrics key: "schemaValidation", "formatParsing", "completeness", "boundsRange",
 * "uniqueness". */
const char *dq_category_metric(dq_category c);
/* Score from deductions (round half to even of clamp(100 - sum, 0, 100));
 * *passed (may be NULL) = score >= 80. */
int dq_score(const double deductions[DQ_CAT_COUNT], bool *passed);

/* ---------------------------------------------------------------- schema */

typedef struct dq_schema dq_schema;

/* Parses a schema definition: a Frictionless Table Schema object plus our file
 * options "format" ("csv|json|ndjson|parquet|auto") and "dialect" {delimiter,
 * quoteChar, header, encoding}. def is borrowed. *out is new (dq_schema_free).
 * Errors: CEL_ESCHEMA with a message naming the JSON path ("$.fields[2].type"). */
cel_status dq_schema_parse(const json_t *def, dq_schema **out, cel_error *err) CEL_MUST_CHECK;
/* Reads and parses a schema file (at most 16 MiB). CEL_EIO / CEL_ESCHEMA. */
cel_status dq_schema_load(const char *path, dq_schema **out, cel_error *err) CEL_MUST_CHECK;
/* Drops the caller's reference (NULL-safe). Engines keep their own reference, so
 * a schema may be freed right after dq_engine_new. Not thread-safe. */
void dq_schema_free(dq_schema *s);
size_t dq_schema_nfields(const dq_schema *s);
/* Copies the schema's format/dialect (where given) into opts; leaves the rest. */
void dq_schema_reader_opts(const dq_schema *s, cel_reader_opts *opts);
/* True when the dialect says header: false. */
bool dq_schema_no_header(const dq_schema *s);

/* ---------------------------------------------------------------- engine */

typedef struct dq_options {
    size_t memory_budget; /* B above; 0 = default */
    const char *tmp_dir;  /* spill directory (borrowed); NULL = $TMPDIR or /tmp */
    bool dataset_report;  /* also count duplicate rows (costs a key set) */
    bool no_header;       /* CSV without header: map fields by position */
    size_t sample_rows;   /* reservoir size, 1..50; 0 = 25 */
    uint64_t seed;        /* reservoir PRNG seed; 0 = a fixed default */
    unsigned threads;     /* threads for the read and finish, the caller's included;
                             0 or 1 = all in the caller's thread. Results are the same
                             for every value (see dq_parallel.c) */
} dq_options;

/* Zeroes o and reads CELERIAC_DQ_MEMORY_BUDGET ("268435456", "256M", "1GiB", ...)
 * and CELERIAC_DQ_THREADS (1..64; unset = 0). CEL_ECONFIG naming the variable
 * when it is malformed (or the budget below 4 MiB). */
cel_status dq_options_from_env(dq_options *o, cel_error *err) CEL_MUST_CHECK;

typedef struct dq_engine dq_engine;

/* schema: may be NULL (profile only); the engine takes its own reference.
 * opts may be NULL (defaults). *out is new (dq_engine_free). */
cel_status dq_engine_new(const dq_schema *schema, const dq_options *opts, dq_engine **out,
                         cel_error *err) CEL_MUST_CHECK;
/* The sink to hand to cel_read_source (ud = the engine). Its callbacks fail with
 * CEL_ENOMEM/CEL_EIO/CEL_ELIMIT only (bad data is counted, never an error). */
cel_row_sink dq_engine_sink(dq_engine *e);
/* Tells the engine which format was read (JSON/NDJSON objects have no column
 * order: `exact` then compares names only). Optional; call before finish. */
void dq_engine_set_format(dq_engine *e, cel_format f);
/* The reader failed on the data (CEL_EPARSE, or a reader bound CEL_ELIMIT, or
 * CEL_EUNSUPPORTED): the file "cannot be parsed" for scoring. cause is copied. */
void dq_engine_parse_failed(dq_engine *e, const cel_error *cause);
/* End of input: resolves spills, quantiles, uniqueness. Call exactly once, before
 * reading results. CEL_EIO/CEL_ENOMEM/CEL_ELIMIT on spill trouble. */
cel_status dq_engine_finish(dq_engine *e, cel_error *err) CEL_MUST_CHECK;
uint64_t dq_engine_rows(const dq_engine *e);
/* Reads src with opts into the engine's sink and records the format used (in *used
 * too, when non-NULL). Returns CEL_OK when the whole input was read, and also when the
 * *input* was malformed — the reader's CEL_EPARSE, a reader bound CEL_ELIMIT, or
 * CEL_EUNSUPPORTED, while the engine itself is healthy: then parse_err holds that code
 * and message, and the caller decides (a format verdict via dq_engine_parse_failed, or
 * a fail-fast task error). Any other failure — I/O, the source (S3), or the engine's
 * own sink error — is returned with its message in err. Does not call finish. */
cel_status dq_engine_read(dq_engine *e, const cel_source *src, const cel_reader_opts *opts,
                          cel_format *used, cel_error *parse_err, cel_error *err) CEL_MUST_CHECK;
/* True when a sink callback or finish failed (the engine's own error, not the data's). */
bool dq_engine_failed(const dq_engine *e);
/* Peak bytes drawn from the engine's pools (for diagnostics/benchmarks). */
size_t dq_engine_pool_peak(const dq_engine *e);
void dq_engine_free(dq_engine *e); /* NULL-safe */

/* ---------------------------------------------------------------- results */

/* One failure for reporting.monitoring_file_failed_validation: each string fits
 * varchar(250) (truncated on a UTF-8 boundary). */
#define DQ_FV_MAX 250
typedef struct dq_failed_validation {
    bool present;
    char rule_name[DQ_FV_MAX + 1];             /* "required", "maximum", "type", ... */
    char rule_type[DQ_FV_MAX + 1];             /* category: "schema", "format", ... */
    char rule_path[DQ_FV_MAX + 1];             /* "fields[2].constraints.maximum" */
    char validated_field_names[DQ_FV_MAX + 1]; /* "amount" or "a,b" */
    char validated_values[DQ_FV_MAX + 1];      /* first failing values, JSON array text */
    char rule_parameters[DQ_FV_MAX + 1];       /* JSON text, e.g. {"maximum":100} */
    char validated_message[DQ_FV_MAX + 1];     /* one sentence */
} dq_failed_validation;

typedef struct dq_result {
    int score;
    bool passed;
    double deductions[DQ_CAT_COUNT];
    json_t *metrics;              /* new: {schemaValidation, formatParsing, ...} */
    json_t *deductions_json;      /* new: {schema, format, completeness, bounds, uniqueness} */
    char *failed_message;         /* new (free()), NULL when no check failed */
    json_t *failed_rules;         /* new JSON array (<= 25 items), empty when none failed */
    dq_failed_validation failure; /* the most important failure (present=false if none) */
} dq_result;

/* Fills *out after dq_engine_finish. Free with dq_result_free. */
cel_status dq_engine_result(dq_engine *e, dq_result *out, cel_error *err) CEL_MUST_CHECK;
void dq_result_free(dq_result *r); /* NULL-safe, leaves r zeroed */
/* {score, passed, deductions, metrics, failed_validation_message,
 * failed_validation_rules, failed_validation{...}}: new reference, NULL on ENOMEM. */
json_t *dq_result_json(const dq_result *r);

/* The profile payload: {statisticalSummary, completenessOverview, typeFormatIssues,
 * uniquenessOverview, valueDistributions, boundsAnomalies, sampleData{columns,
 * rows}}. *out is new. Lists are capped (<= 25 items, <= 50 sample rows, <= 100
 * columns with "truncated": true beyond). */
cel_status dq_engine_profile(dq_engine *e, json_t **out, cel_error *err) CEL_MUST_CHECK;

/* The dataset report of seed 002: {row_count, column_count, columns, null_counts,
 * numeric{field:{min,max,mean}}, duplicates{count, examples}, outliers{field:{count,
 * q1, q3, iqr, lower_fence, upper_fence, examples}}}. A field is "numeric-ish"
 * when it has at least one non-missing value and every non-missing value is a
 * number: typed numbers (JSON/Parquet) or text that pandas' read_csv would parse
 * as a number (blanks around, leading zeros, exponent, inf); or when the schema
 * declares it integer/number (then type-invalid cells are ignored). Duplicate
 * rows need opts.dataset_report. *out is new. */
cel_status dq_dataset_report(dq_engine *e, json_t **out, cel_error *err) CEL_MUST_CHECK;

/* Truncates the NUL-terminated s in place to at most max_bytes bytes without
 * splitting a UTF-8 sequence. Returns the new length. */
size_t dq_truncate_utf8(char *s, size_t max_bytes);

#endif
