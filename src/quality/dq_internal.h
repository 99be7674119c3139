/*
 * dq_internal.h: the quality engine's internal data structures, shared by
 * dq_schema.c (parsing, casting, constraints), dq_engine.c (the row sink) and
 * dq_report.c (scoring and JSON output).
 *
 * Design: a parsed schema is immutable and owns its fields; the engine holds one
 * dq_col per data column (O(1) state each, see quality.h), one key set per
 * uniqueness check, and a sample reservoir. Cells are turned into a dq_cell
 * (missing? valid? logical value, canonical 128-bit key) once per row and that
 * one view feeds validation, profiling and uniqueness alike.
 *
 * Not here: public API (celeriac/quality.h), JSON of results (dq_report.c).
 */
#ifndef CELERIAC_DQ_INTERNAL_H
#define CELERIAC_DQ_INTERNAL_H

#include "celeriac/quality.h"
#include "celeriac/stream_reader.h"
#include "quality/dq_sketch.h"
#include "quality/dq_spill.h"
#include "quality/dq_value.h"
#include "util/dbuf.h"

#include <regex.h>

#define DQ_MAX_FIELDS 4096
#define DQ_MAX_ENUM 65536
#define DQ_MAX_PATTERN 4096
#define DQ_EXAMPLES 10     /* first failing rows kept per check */
#define DQ_EXAMPLE_TEXT 96 /* bytes of a cell kept in an example */
#define DQ_TEXT_MINMAX 256 /* bytes of text min/max kept per column */
#define DQ_SAMPLE_TEXT 128 /* bytes of a cell kept in the sample */
#define DQ_HIST_BINS 20
#define DQ_TOP_VALUES 10
#define DQ_LIST_CAP 25
#define DQ_PROFILE_COLUMNS 100
#define DQ_INFER_CONFIDENCE 0.9 /* frictionless DEFAULT_FIELD_CONFIDENCE */
/* exact distinct counting per column up to this many values, then HyperLogLog: a
 * larger table is a cache miss per cell (measured: 24% of the run time on a
 * 1M-row file with unique columns before this cap) */
#define DQ_DISTINCT_EXACT 65536

typedef enum {
    DQ_T_STRING,
    DQ_T_INTEGER,
    DQ_T_NUMBER,
    DQ_T_BOOLEAN,
    DQ_T_DATE,
    DQ_T_TIME,
    DQ_T_DATETIME,
    DQ_T_YEAR,
    DQ_T_YEARMONTH,
    DQ_T_DURATION,
    DQ_T_GEOPOINT,
    DQ_T_OBJECT,
    DQ_T_ARRAY,
    DQ_T_ANY,
} dq_type;

typedef enum {
    DQ_F_DEFAULT,
    DQ_F_EMAIL,
    DQ_F_URI,
    DQ_F_UUID,
    DQ_F_BINARY,
    DQ_F_ANY,     /* date/time/datetime "any" */
    DQ_F_PATTERN, /* strptime-style pattern */
    DQ_F_GEO_ARRAY,
    DQ_F_GEO_OBJECT,
} dq_fmt;

typedef enum {
    DQ_MATCH_EXACT,
    DQ_MATCH_EQUAL,
    DQ_MATCH_SUBSET,
    DQ_MATCH_SUPERSET,
    DQ_MATCH_PARTIAL,
} dq_match;

/* bounds constraints, in the order reported */
typedef enum {
    DQ_B_MINIMUM,
    DQ_B_MAXIMUM,
    DQ_B_XMIN,
    DQ_B_XMAX,
    DQ_B_MINLEN,
    DQ_B_MAXLEN,
    DQ_B_PATTERN,
    DQ_B_ENUM,
    DQ_B_COUNT
} dq_bkind;

const char *dq_bkind_name(dq_bkind b); /* "minimum", "exclusiveMinimum", ... */
const char *dq_type_name(dq_type t);

typedef struct dq_strlist {
    char **v;
    size_t *len;
    size_t n;
} dq_strlist;

typedef struct dq_bound {
    bool set, is_int;
    int64_t i;
    double d;
} dq_bound;

typedef struct dq_field {
    char *name;
    size_t index;
    dq_type type;
    dq_fmt fmt;
    char *format;       /* as written (after "fmt:" stripping), NULL = default */
    dq_strlist missing; /* field-level missingValues (replaces the schema's) */
    bool own_missing;
    dq_strlist truev, falsev;
    dq_numfmt nf;
    bool required, unique, in_pk;
    dq_bound bnd[4]; /* minimum, maximum, exclusiveMinimum, exclusiveMaximum */
    bool has_minlen, has_maxlen;
    uint64_t minlen, maxlen;
    bool has_pattern;
    regex_t re;
    /* our matcher (dq_pattern.h) when not NULL; re is then already freed */
    struct dq_pattern *pat;
    dq_h128 *enum_keys; /* sorted by (a, b) */
    size_t n_enum;
    bool has_bounds;
    json_t *constraints; /* new reference to the definition's constraints (or NULL) */
} dq_field;

typedef struct dq_keydef {
    char *label; /* "unique", "primaryKey", "uniqueKeys[1]" */
    char *path;  /* JSON path of the declaration */
    size_t *fields;
    size_t n;
} dq_keydef;

struct dq_schema {
    unsigned refs; /* 1 for the creator + 1 per engine using it */
    dq_field *fields;
    size_t nfields;
    dq_strlist missing; /* schema-level missingValues */
    dq_match match;
    size_t *pk;
    size_t npk;
    dq_keydef *keys; /* every uniqueness check, identical field sets merged */
    size_t nkeys;
    bool has_format;
    cel_format format;
    char delimiter, quote; /* 0 = not given */
    int header;            /* -1 = not given */
    char *encoding;
};

const dq_strlist *dq_field_missing(const dq_schema *s, const dq_field *f);
bool dq_strlist_has(const dq_strlist *l, const char *s, size_t n);

/* A cell after missing-value handling and casting. */
typedef struct dq_cell {
    bool missing;
    bool valid;   /* cast to the field's type succeeded (true when no field) */
    bool has_num; /* a numeric logical value (integer, number, temporal keys, ...) */
    bool has_int;
    double num;
    int64_t ival;
    uint64_t items; /* array/object items; string characters (computed lazily) */
    bool has_items;
    dq_h128 key; /* canonical key of the logical value (raw text when invalid) */
} dq_cell;

/* Casts v (not missing) with field f (NULL = no schema / undeclared column).
 * scratch is used for canonical JSON text. Sets c->valid, values and key. */
void dq_cast(const dq_field *f, const cel_value *v, dq_cell *c, dbuf *scratch);
/* Canonical key of an uncast value (no field, or a cast failure). */
dq_h128 dq_raw_key(const cel_value *v);
/* Returns a bitmask of violated bounds constraints (1u << dq_bkind) for a valid
 * cell. Patterns match in place (dq_pattern, or glibc regexec with REG_STARTEND);
 * scratch is the calling thread's buffer, currently unused here. */
unsigned dq_check_bounds(const dq_field *f, const cel_value *v, dq_cell *c, dbuf *scratch);
/* Numeric value of a cell for statistics (see quality.h "numeric-ish"). */
bool dq_stat_number(const dq_field *f, const cel_value *v, const dq_cell *c, double *out);

/* ---------------------------------------------------------------- engine state */

typedef struct dq_example {
    uint64_t row, line;
    char *text;    /* owned, <= DQ_EXAMPLE_TEXT bytes; NULL for no value */
    uint64_t what; /* bounds: bitmask of violated constraints; uniqueness: first row */
} dq_example;

typedef struct dq_exlist {
    dq_example it[DQ_EXAMPLES];
    size_t n;
} dq_exlist;

enum {
    DQ_INF_INTEGER,
    DQ_INF_NUMBER,
    DQ_INF_BOOLEAN,
    DQ_INF_DATE,
    DQ_INF_DATETIME,
    DQ_INF_TIME,
    DQ_INF_OBJECT,
    DQ_INF_ARRAY,
    DQ_INF_COUNT
};

typedef struct dq_col {
    char *name;
    size_t index;
    const dq_field *field; /* mapped schema field or NULL */
    bool dup_name;         /* an earlier column has the same name */
    bool unsupported;      /* the reader can't deliver its values (Parquet nested column) */
    char unsupported_why[160];
    uint64_t missing, present;
    uint64_t type_invalid;
    dq_exlist type_ex;
    uint64_t bound_cnt[DQ_B_COUNT];
    uint64_t bound_cells;
    dq_exlist bound_ex;
    dq_exlist missing_ex;
    uint64_t inf[DQ_INF_COUNT];
    uint64_t leading_zeros;
    dq_exlist nonnum_ex; /* first cells that are not numbers */
    /* numbers */
    uint64_t n_num, n_nonfinite, zeros, negatives, n_nonnum;
    double min, max, mean, m2;
    dq_numstore *ns;
    /* text */
    uint64_t len_n, len_min, len_max, len_sum;
    char tmin[DQ_TEXT_MINMAX + 1], tmax[DQ_TEXT_MINMAX + 1];
    size_t tmin_len, tmax_len;
    bool have_text;
    dq_distinct dist;
    dq_topk topk;
    /* resolved at finish */
    bool q_ok;
    double q[3];
    uint64_t hist[DQ_HIST_BINS];
    double hist_lo, hist_hi;
    uint64_t outliers;
    dq_nrec out_ex[DQ_EXAMPLES];
    size_t n_out_ex;
} dq_col;

typedef struct dq_ukey {
    const dq_keydef *def;
    dq_keyset *ks;
    uint64_t skipped; /* rows with a missing key part */
    bool absent;      /* a key field is not in the data */
    dq_exlist ex;     /* duplicates seen in memory, with the key's text; what = first row */
} dq_ukey;

typedef struct dq_sample_row {
    uint64_t row, line;
    dbuf cells; /* per cell: 1 byte kind (0xFF = missing), u32 len, bytes */
    bool used;
} dq_sample_row;

struct dq_engine {
    const dq_schema *schema;
    dq_options opts;
    char tmpdir[1024];
    dq_pool pool_q, pool_d, pool_k;
    dq_col *cols;
    size_t ncols, capcols;
    long *field_col; /* per field: data column or -1 */
    dq_cell *cells;  /* per-row scratch, capcols entries */
    uint64_t rows;
    uint64_t complete_rows, missing_cells;
    uint64_t extra_rows, short_rows; /* CSV rows with more / fewer cells than the header */
    dq_exlist shape_ex;              /* what = extra cells (0 for a short row) */
    bool parse_failed;
    cel_error parse_err;
    bool finished, broken;
    cel_format format;
    dq_ukey *ukeys;
    size_t nukeys;
    dq_keyset *rowset;
    dq_sample_row *sample;
    size_t nsample;
    uint64_t rng;
    dbuf scratch;
};

void dq_exlist_add(dq_exlist *l, uint64_t row, uint64_t line, const char *s, size_t n,
                   uint64_t what);
void dq_exlist_free(dq_exlist *l);

/* The engine's steps, shared by the single-threaded sink (dq_engine.c) and the
 * column-parallel pipeline (dq_parallel.c). A column's cells must reach
 * dq_col_cell in row order, one thread at a time per column; dq_row_tail runs
 * for each row in order, after that row's cells. */
cel_status dq_on_columns(void *ud, size_t ncols, const char *const *names, cel_error *err);
/* Rejects a row after finish or with the wrong cell count. */
cel_status dq_row_check(dq_engine *e, uint64_t row_number, size_t ncols, cel_error *err);
/* Column j's part of one row: missing?, cast, bounds, profile. scratch: the
 * calling thread's own. */
cel_status dq_col_cell(dq_engine *e, dbuf *scratch, size_t j, const cel_value *v, dq_cell *cell,
                       uint64_t row, uint64_t line, cel_error *err);
/* The row's own part: completeness, shape, unique keys, duplicate rows, sample.
 * ordinal: the row's 1-based position in the stream. */
cel_status dq_row_tail(dq_engine *e, uint64_t ordinal, uint64_t row, uint64_t line, size_t ncols,
                       const cel_value *vals, const dq_cell *cells, const cel_row_extra *extra,
                       cel_error *err);
/* End-of-stream work as independent tasks 0..dq_finish_tasks()-1 (key sets,
 * duplicate rows, columns); any order, any thread, each once. */
size_t dq_finish_tasks(const dq_engine *e);
cel_status dq_finish_task(dq_engine *e, size_t t, cel_error *err);
/* dq_parallel.c: cel_read_source into the engine with opts.threads threads, and
 * the finish tasks spread over them. */
cel_status dq_par_read(dq_engine *e, const cel_source *src, const cel_reader_opts *opts,
                       cel_format *fmt, cel_error *err);
cel_status dq_par_finish(dq_engine *e, cel_error *err);

/* numeric-ish per the profile (inferred/declared number) and per the dataset report */
bool dq_col_profile_numeric(const dq_col *c);
bool dq_col_dataset_numeric(const dq_col *c);
const char *dq_col_inferred(const dq_col *c);

#endif
