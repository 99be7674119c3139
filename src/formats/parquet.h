/*
 * parquet.h: the Parquet reader's entry points: parquet_read_source (called by
 * cel_read_source), a footer-only schema read, and the per-column information
 * the quality engine needs to tell unsupported columns from real nulls.
 *
 * Contract: read the whole Parquet object behind src with random access
 * (src->read_at, src->size >= 0): the last 8 bytes, then the footer, then each
 * row group's column chunks; push every row into sink like the text readers do
 * (on_columns once with the top-level field names, then on_row per row, line 0),
 * honour opts->max_page_bytes (footer, column chunk and page sizes),
 * opts->max_columns and opts->max_field_bytes (one value), and return CEL_OK at
 * the end, or CEL_EUNSUPPORTED / CEL_EPARSE / CEL_ELIMIT with a message naming
 * the column and row group.
 *
 * Values (cel_value kinds): BOOLEAN → BOOL; INT32/INT64 and INTEGER/INT_n/UINT_n
 * → INT (a UINT_64 above INT64_MAX → DOUBLE whose text is the exact digits);
 * FLOAT/DOUBLE/FLOAT16 → DOUBLE (FLOAT and FLOAT16 with the shortest text that
 * round-trips at their own precision, d parsed from that text); DECIMAL → DOUBLE
 * whose text is the exact decimal ("-12.340"), or INT when the scale is 0 and it
 * fits; STRING/ENUM/JSON/unannotated BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY →
 * STRING (a STRING with invalid UTF-8 is CEL_EPARSE; an unannotated binary value
 * that is not UTF-8 is rendered with \xHH escapes for bytes outside printable
 * ASCII and for '\'); UUID → STRING in 8-4-4-4-12 lowercase hex; DATE, TIME,
 * TIMESTAMP (millis/micros/nanos) and INT96 → TEMPORAL with ISO-8601 text:
 * "2024-01-31", "13:45:00.250", "2024-01-31T13:45:00.123456" (a "Z" suffix when
 * isAdjustedToUTC; fraction digits in groups of 3, as few as are exact; years
 * outside 0..9999 as a signed expanded year "+292277-01-01"). Nulls (definition
 * level below the maximum) → NULL.
 *
 * Unsupported columns: a top-level field that is nested (a group: struct, list,
 * map) or REPEATED, or a leaf of a type we cannot render (INTERVAL), is still one
 * column named by its top-level field, delivered as CEL_V_NULL in every row; its
 * data is never read. parquet_current_columns() tells which columns those are
 * while the sink callbacks run, and parquet_read_schema() without reading data.
 * Encrypted files (PARE footer, encryption_algorithm, encrypted column
 * metadata) fail with CEL_EUNSUPPORTED.
 *
 * Not here: writing Parquet, nested values, page indexes, bloom filters,
 * statistics (never trusted; values are always decoded).
 */
#ifndef CELERIAC_FORMATS_PARQUET_H
#define CELERIAC_FORMATS_PARQUET_H

#include "celeriac/reader.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* opts has its defaults filled in. */
cel_status parquet_read_source(const cel_source *src, const cel_reader_opts *opts,
                               const cel_row_sink *sink, cel_error *err) CEL_MUST_CHECK;

/* What a column delivered by the Parquet reader is. All strings are borrowed. */
typedef struct parquet_column_info {
    const char *name;       /* as in on_columns (the top-level field name) */
    const char *type;       /* Parquet type: "int64", "string", "decimal(10,2)",
                               "timestamp(us, UTC)", "int96", "list", "struct", ... */
    const char *table_type; /* the Table Schema type its values fit: "boolean",
                               "integer", "number", "string", "date", "time",
                               "datetime", or "any" for unsupported columns */
    bool supported;         /* false: every value is CEL_V_NULL, the data is not read */
    const char *why;        /* !supported: e.g. "nested column (list) is not supported" */
} parquet_column_info;

/* Inside on_columns/on_row callbacks that parquet_read_source makes (on the
 * calling thread): the columns of the file being read, *n = ncols; borrowed,
 * valid until the callback returns. NULL (and *n = 0) anywhere else. */
const parquet_column_info *parquet_current_columns(size_t *n);

/* The schema of a Parquet object read from its footer alone (no column data). */
typedef struct parquet_schema parquet_schema;
/* *out is new (free with parquet_schema_free). Errors as parquet_read_source. */
cel_status parquet_read_schema(const cel_source *src, const cel_reader_opts *opts,
                               parquet_schema **out, cel_error *err) CEL_MUST_CHECK;
/* Columns as parquet_current_columns would report them; borrowed from s. */
const parquet_column_info *parquet_schema_columns(const parquet_schema *s, size_t *n);
/* FileMetaData.num_rows and the number of row groups. */
int64_t parquet_schema_rows(const parquet_schema *s);
size_t parquet_schema_row_groups(const parquet_schema *s);
/* NULL-safe. */
void parquet_schema_free(parquet_schema *s);

#endif
