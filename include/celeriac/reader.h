/*
 * reader.h: the embeddable engine's input side: files become rows of values.
 *
 * Design: a *source* provides bytes (a local file, an S3 object) either as a
 * forward stream or by random access (Parquet needs the footer first). A
 * *reader* for one format turns those bytes into rows and pushes them into a
 * *row sink* (the quality engine, the dataset statistics, an ingest loader).
 * Nothing here holds the whole input: CSV/JSON/NDJSON are parsed from the
 * stream chunk by chunk; Parquet reads one row group's column chunks at a time.
 *
 * Bounds: every reader enforces opts->max_* and fails with CEL_ELIMIT naming the
 * bound, never grows without limit. Malformed input is CEL_EPARSE with a message
 * that names the line/row/offset. Invalid UTF-8 in text formats is CEL_EPARSE.
 *
 * Not here: type inference and validation (quality engine), network I/O (s3).
 */
#ifndef CELERIAC_READER_H
#define CELERIAC_READER_H

#include "celeriac/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a cell holds. Text formats (CSV) deliver CEL_V_TEXT: untyped text that the
 * schema decides about. JSON/NDJSON/Parquet deliver typed values. */
typedef enum {
    CEL_V_ABSENT = 0, /* the row has no such column at all (JSON object without the key) */
    CEL_V_NULL,       /* explicit null (JSON null, Parquet null, CSV: never; empty is TEXT "") */
    CEL_V_TEXT,       /* untyped text from a text format */
    CEL_V_STRING,     /* typed string (JSON string, Parquet STRING/ENUM/UUID as text) */
    CEL_V_INT,        /* i holds the value; s/len hold its decimal text */
    CEL_V_DOUBLE,     /* d holds the value; s/len hold its shortest round-trip text */
    CEL_V_BOOL,       /* i is 0/1; s is "true"/"false" */
    CEL_V_JSON,       /* nested array/object, s/len hold compact JSON text */
    CEL_V_TEMPORAL,   /* date/time/timestamp from a typed format; s holds ISO-8601 text */
} cel_vkind;

/* A borrowed view: valid only during the on_row call that delivers it. For every
 * kind except ABSENT/NULL, s/len hold a textual rendering (not NUL-terminated
 * necessarily: always use len). */
typedef struct cel_value {
    cel_vkind kind;
    const char *s;
    size_t len;
    int64_t i;
    double d;
} cel_value;

/* Where rows go. Callbacks return CEL_OK to continue; anything else stops the read
 * and is returned by the reader (the sink records its own message in err). */
typedef struct cel_row_sink {
    void *ud;
    /* Called before the first row with the columns known so far, and again whenever a
     * later row introduces new columns (JSON): then ncols grows and the first columns
     * keep their names and order. names are borrowed for the call. */
    cel_status (*on_columns)(void *ud, size_t ncols, const char *const *names, cel_error *err);
    /* One data row. row_number is 1-based over data rows (the CSV header is not a row);
     * line is the 1-based physical line where the row starts (0 where it has no meaning).
     * vals has exactly ncols entries, matching the latest on_columns. */
    cel_status (*on_row)(void *ud, uint64_t row_number, uint64_t line, size_t ncols,
                         const cel_value *vals, cel_error *err);
} cel_row_sink;

typedef enum {
    CEL_FMT_AUTO = 0,
    CEL_FMT_CSV,
    CEL_FMT_JSON,   /* a top-level array of objects */
    CEL_FMT_NDJSON, /* one object per line */
    CEL_FMT_PARQUET,
} cel_format;

/* Parses "csv", "json", "ndjson"/"jsonl", "parquet", "auto" (any case). */
cel_status cel_format_parse(const char *name, cel_format *out, cel_error *err);
const char *cel_format_name(cel_format f);

typedef struct cel_reader_opts {
    cel_format format; /* AUTO: from the source name's extension, then content sniffing */
    char delimiter;    /* CSV; 0 = detect (',', ';', '\t', '|') */
    char quote;        /* CSV; 0 = '"' */
    int header; /* CSV; 1 = first row is the header, 0 = none (columns "column_1".."), -1 = 1 */
    const char *encoding;   /* "utf-8" (default; BOM skipped), "latin-1"/"iso-8859-1" transcoded */
    size_t max_line_bytes;  /* CSV/NDJSON record; default 16 MiB */
    size_t max_field_bytes; /* one cell; default 1 MiB */
    size_t max_columns;     /* default 4096 */
    size_t max_depth;       /* JSON nesting; default 64 */
    size_t max_page_bytes;  /* Parquet page / column chunk bound; default 256 MiB */
} cel_reader_opts;

/* Fills defaults for every zero field. */
void cel_reader_opts_defaults(cel_reader_opts *opts);

/* Where bytes come from. size < 0 means unknown (pure stream). read_at may be NULL
 * for pure streams (then Parquet can't be read: CEL_EUNSUPPORTED). stream delivers
 * the whole object front to back in chunks through chunk_fn. */
typedef cel_status (*cel_chunk_fn)(void *chunk_ud, const void *data, size_t len, cel_error *err);
typedef struct cel_source {
    void *ud;
    const char *name; /* file name or key, used for format detection and messages */
    int64_t size;
    cel_status (*read_at)(void *ud, uint64_t offset, size_t len, void *buf, cel_error *err);
    cel_status (*stream)(void *ud, cel_chunk_fn chunk_fn, void *chunk_ud, cel_error *err);
} cel_source;

/* A source over a local file. *out is new; free with cel_file_source_close. */
cel_status cel_file_source_open(const char *path, cel_source *out, cel_error *err) CEL_MUST_CHECK;
void cel_file_source_close(cel_source *src);

/* Reads the whole source with the format from opts (detected when AUTO) and pushes
 * every row into sink. Returns CEL_OK at the end of input. The format finally used is
 * stored in *used when used is non-NULL. */
cel_status cel_read_source(const cel_source *src, const cel_reader_opts *opts,
                           const cel_row_sink *sink, cel_format *used,
                           cel_error *err) CEL_MUST_CHECK;

#endif
