/*
 * ingest.h: the pieces of `ingest.process_s3_object(bucket, key)` (seed 003), shared by
 * tasks/ingest.c (the task and its status workflow), tasks/ingest_strategy.c (the
 * declarative strategies file), tasks/ingest_row.c (per-row validation and COPY encoding)
 * and tasks/ingest_sql.c (the staging / merge statements), and by tests/unit/test_ingest.c.
 * Prefix: ing_.
 *
 * Design: a *strategy* is data, not code: key pattern -> format/dialect -> Frictionless
 * Table Schema -> target table + column mapping -> conflict key. A file is streamed from
 * S3 through the reader into an ing_loader (a cel_row_sink) that checks every row against
 * the schema and the target columns' PostgreSQL types and writes COPY text-format lines:
 * valid rows with their values, rejected rows with their reason and raw text. Everything
 * lands in one temporary staging table of text columns inside one transaction; SQL then
 * marks in-file conflict-key duplicates, records rejects, and either merges
 * (INSERT ... SELECT ... ON CONFLICT) or, over the reject threshold, merges nothing.
 *
 * Not here: S3 and broker I/O (s3/, worker/), uniqueness other than the conflict key
 * (the target's unique indexes are the authority), CHECK constraints of the target table
 * beyond NOT NULL and type ranges (a strategy's schema should state them; if it does not,
 * the merge fails for the whole file with PostgreSQL's message).
 */
#ifndef CELERIAC_INGEST_H
#define CELERIAC_INGEST_H

#include "celeriac/error.h"
#include "celeriac/quality.h"
#include "celeriac/reader.h"
#include "util/dbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ING_FILE_MAX (4u * 1024u * 1024u) /* strategies file */
#define ING_MAX_STRATEGIES 256
#define ING_MAX_COLUMNS 1024  /* mapped target columns per strategy */
#define ING_IDENT_MAX 63      /* PostgreSQL NAMEDATALEN - 1 */
#define ING_NAME_MAX 128      /* strategy name */
#define ING_PATTERN_MAX 1024  /* key / bucket glob */
#define ING_MAX_PATTERNS 64   /* key patterns per strategy */
#define ING_REASON_MAX 512    /* one reject reason */
#define ING_RAW_MAX 2048      /* raw_row bytes kept per rejected row */
#define ING_VALUE_SHOWN 64    /* bytes of a value quoted in a reason */
#define ING_COPY_CHUNK 262144 /* COPY data is handed to libpq in pieces of this size */

/* ---------------------------------------------------------------- strategies */

/* Values a target column can take besides a source field ("$name" in the file). */
typedef enum {
    ING_META_NONE = 0,     /* a source field */
    ING_META_INGESTION_ID, /* $ingestion_id: ingest.ingestion_record.id */
    ING_META_BUCKET,       /* $bucket */
    ING_META_KEY,          /* $key */
    ING_META_ETAG,         /* $etag: the object version loaded */
    ING_META_LINE,         /* $line: 1-based line of the row (row number where lines have no
                              meaning, e.g. Parquet) */
    ING_META_TASK_ID,      /* $task_id: the Celery task id */
    ING_META_NOW,          /* $now: transaction time */
} ing_meta;

typedef struct ing_colmap {
    char column[ING_IDENT_MAX + 1]; /* target column */
    ing_meta meta;
    char *field;      /* source field name (owned) when meta == ING_META_NONE */
    size_t field_idx; /* its index among the schema's fields */
    size_t stage_idx; /* its staging column c<stage_idx + 1> (field columns only) */
} ing_colmap;

typedef enum { ING_CONFLICT_UPDATE = 0, ING_CONFLICT_NOTHING } ing_on_conflict;
typedef enum { ING_VERSION_REPLACE = 0, ING_VERSION_KEEP } ing_on_version;

typedef struct ing_strategy {
    char *name;
    char *description;    /* may be NULL */
    char *bucket_pattern; /* NULL = every bucket */
    char **key_patterns;  /* any of them matching the key selects the strategy */
    size_t nkey_patterns;
    cel_format format;  /* from the strategy, else the schema's "format", else AUTO */
    dq_schema *schema;  /* owned reference */
    json_t *schema_def; /* owned: the schema as given, plus the strategy's format/dialect */
    char target_schema[ING_IDENT_MAX + 1]; /* "" = search_path */
    char target_table[ING_IDENT_MAX + 1];
    ing_colmap *cols; /* owned */
    size_t ncols;
    size_t nstage;    /* columns mapped from fields (= staging value columns) */
    size_t *conflict; /* indexes into cols (owned) */
    size_t nconflict;
    ing_on_conflict on_conflict;
    ing_on_version on_new_version;
    double reject_threshold;            /* 0..1: a larger share of rejects fails the file */
    long col_bucket, col_key, col_etag; /* cols index of $bucket/$key/$etag, or -1 */
} ing_strategy;

typedef struct ing_strategies {
    ing_strategy *v; /* owned, n entries, in file order */
    size_t n;
} ing_strategies;

/*
 * Parses a strategies document ({"strategies": [...]}, see README "Ingestion strategies").
 * root is borrowed. *out is new (ing_strategies_free). Every problem is CEL_ECONFIG with the
 * JSON path and what is wrong ("strategies[1].target.conflict_key[0]: 'x' is not a mapped
 * column"); an invalid Table Schema reports dq_schema_parse's message under its path.
 */
cel_status ing_strategies_parse(const json_t *root, ing_strategies **out,
                                cel_error *err) CEL_MUST_CHECK;
/* Reads (at most ING_FILE_MAX bytes) and parses a strategies file: CEL_EIO when it can't be
 * read, CEL_ECONFIG when it is not valid JSON or not a valid strategies document; messages
 * start with the path. */
cel_status ing_strategies_load(const char *path, ing_strategies **out,
                               cel_error *err) CEL_MUST_CHECK;
void ing_strategies_free(ing_strategies *s); /* NULL-safe */

/* The strategies file to use: $CELERIAC_INGEST_STRATEGIES, else the source tree's
 * strategies/ingest.json, else /usr/share/celeriac/strategies/ingest.json. CEL_ECONFIG when
 * none exists (naming what was tried), CEL_ELIMIT when out is too small. */
cel_status ing_strategies_path(char *out, size_t n, cel_error *err) CEL_MUST_CHECK;

/* First strategy (file order) whose bucket pattern (if any) and a key pattern match; borrowed,
 * NULL when none does. */
const ing_strategy *ing_strategy_match(const ing_strategies *s, const char *bucket,
                                       const char *key);

/* Glob match of the whole string s: `*` = any run of characters except '/', `**` = any run
 * including '/', a `**` followed by '/' also matches nothing (so "**\/a.csv" matches
 * "a.csv"), `?` = one character except '/', `\x` = literal x; everything else is literal
 * (byte-wise, case-sensitive). Runs in O(len(pattern) x len(s)) time, no recursion. Returns
 * false for a pattern longer than ING_PATTERN_MAX or a string longer than 4096 bytes. */
bool ing_glob_match(const char *pattern, const char *s);

/* ---------------------------------------------------------------- target column types */

typedef enum {
    ING_PG_OTHER = 0, /* not checked here; PostgreSQL decides at merge */
    ING_PG_TEXT,      /* text, unbounded varchar */
    ING_PG_VARCHAR,   /* character varying(n) / character(n): at most n characters */
    ING_PG_INT2,
    ING_PG_INT4,
    ING_PG_INT8,
    ING_PG_NUMERIC, /* numeric / numeric(p) / numeric(p,s) */
    ING_PG_FLOAT,   /* real, double precision */
    ING_PG_BOOL,
} ing_pgkind;

typedef struct ing_pgtype {
    ing_pgkind kind;
    int precision, scale; /* NUMERIC: precision 0 = unconstrained */
    long maxlen;          /* VARCHAR */
    bool not_null;
    char sql[128];  /* format_type() with the modifier, e.g. "numeric(12,3)" (messages) */
    char cast[128]; /* the type without modifier for casts, e.g. "numeric": assignment to
                       the column then applies the modifier with an error, never the silent
                       truncation an explicit cast to varchar(n) would do */
} ing_pgtype;

/* Classifies PostgreSQL's format_type() output ("integer", "numeric(12,3)", "character
 * varying(20)", ...); cast_type is the name to cast to (NULL = format_type). Unknown types
 * become ING_PG_OTHER. CEL_ELIMIT when a name does not fit. */
cel_status ing_pgtype_parse(const char *format_type, const char *cast_type, bool not_null,
                            ing_pgtype *out, cel_error *err) CEL_MUST_CHECK;

/* Would PostgreSQL accept the text s[0..n) (not NULL) for a column of type t? When not,
 * writes why (e.g. "out of range for integer") into why and returns false. Checks ranges of
 * integers, numeric(p,s) overflow after rounding (as numeric_in does) and infinities,
 * varchar lengths in characters, boolean literals and number syntax; other types pass. */
bool ing_pg_accepts(const ing_pgtype *t, const char *s, size_t n, char *why, size_t whysz);

/* ---------------------------------------------------------------- the loader (row sink) */

/* Receives COPY text-format data, in pieces of up to ING_COPY_CHUNK bytes (borrowed). */
typedef cel_status (*ing_emit_fn)(void *ud, const char *data, size_t len, cel_error *err);

typedef struct ing_loader ing_loader;

/*
 * A row sink that validates each row with st's schema and the target column types
 * (types[i] for st->cols[i]; borrowed, must outlive the loader) and emits one COPY line per
 * data row for the staging table (ing_sql_staging): rownum, line, reason, raw, then the
 * st->nstage values. Valid rows have reason/raw NULL; a rejected row has its first problem
 * as reason, its cells as raw text (CSV for CSV input, else a JSON object; at most
 * ING_RAW_MAX bytes) and NULL values. st is borrowed. *out is new (ing_loader_free).
 */
cel_status ing_loader_new(const ing_strategy *st, const ing_pgtype *types, ing_emit_fn emit,
                          void *emit_ud, ing_loader **out, cel_error *err) CEL_MUST_CHECK;
cel_row_sink ing_loader_sink(ing_loader *l);
/* Emits what is buffered. Call once after the reader finished. */
cel_status ing_loader_flush(ing_loader *l, cel_error *err) CEL_MUST_CHECK;
uint64_t ing_loader_rows(const ing_loader *l);
uint64_t ing_loader_rejected(const ing_loader *l);
void ing_loader_free(ing_loader *l); /* NULL-safe */

/* Checks one row without emitting (for the unit tests): true when valid, and then
 * ing_loader_row_text() is the row's staging values as tab-separated COPY text (borrowed
 * until the next call); false with the first problem in why. Call the sink's on_columns
 * first. */
bool ing_loader_check_row(ing_loader *l, size_t ncols, const cel_value *vals, char *why,
                          size_t whysz);
const char *ing_loader_row_text(const ing_loader *l);

/* Appends s[0..n) to b escaped for COPY text format (backslash, tab, LF, CR escaped;
 * https://www.postgresql.org/docs/15/sql-copy.html "Text Format"). */
cel_status ing_copy_escape(dbuf *b, const char *s, size_t n, cel_error *err) CEL_MUST_CHECK;

/* ---------------------------------------------------------------- SQL */

/* Statements for one strategy; each returns a new malloc'd string (free()) or NULL on
 * ENOMEM. types as for ing_loader_new. Identifiers are double-quoted. */
char *ing_sql_staging(const ing_strategy *st);
/* COPY pg_temp.ingest_staging FROM STDIN */
const char *ing_sql_copy(void);
/* Marks later rows repeating an earlier row's conflict key as rejected; NULL (no SQL) when
 * the key includes $line (rows are unique by construction). */
char *ing_sql_dedupe(const ing_strategy *st, const ing_pgtype *types);
/* One row, one boolean: do valid rows repeat a conflict key? (A hash aggregate: much cheaper
 * than the de-duplication UPDATE, which then runs only when needed.) NULL as for dedupe. */
char *ing_sql_has_dups(const ing_strategy *st, const ing_pgtype *types);
/* INSERT INTO target ... SELECT ... FROM staging ON CONFLICT ...; parameters $1 ingestion
 * id, $2 bucket, $3 key, $4 etag, $5 task id. */
char *ing_sql_merge(const ing_strategy *st, const ing_pgtype *types);
/* DELETE of rows an older version of the object loaded ($1 bucket, $2 key, $3 etag); NULL
 * when on_new_version is "keep". */
char *ing_sql_replace(const ing_strategy *st);
/* The quoted target: "schema"."table" or "table". */
void ing_sql_target(const ing_strategy *st, char *out, size_t n);

#endif
