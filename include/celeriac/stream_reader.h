/*
 * stream_reader.h: push-style readers for CSV, JSON and NDJSON.
 *
 * Design: the caller already has the bytes arriving in chunks (an S3 GET body
 * callback, a pipe) and pushes them in with cel_stream_reader_feed; rows come out
 * of the row sink (reader.h) as soon as they are complete. Chunk boundaries may
 * fall anywhere, even inside a UTF-8 sequence, a quoted field or a JSON string:
 * the rows delivered are the same for every split. Memory is bounded by the
 * largest record (opts->max_line_bytes), never by the input. cel_read_source uses
 * this API for these three formats.
 *
 * Conventions shared by the three formats (details in the sections below):
 * - on_columns is always called at least once before the reader finishes, also
 *   for input without rows (ncols may then be 0), and always before the first row.
 * - A leading UTF-8 byte order mark is skipped; a UTF-16 BOM is CEL_EUNSUPPORTED.
 *   opts->encoding "latin-1"/"iso-8859-1"/"windows-1252" transcodes to UTF-8
 *   first; other encodings are CEL_EUNSUPPORTED. Compressed input is not
 *   supported here.
 * - Errors: CEL_EPARSE for malformed input, CEL_ELIMIT for an exceeded bound; the
 *   message names the line (CSV, NDJSON) or the record, line and byte offset
 *   (JSON). Byte offsets count the text after BOM removal and transcoding.
 *   After the first error the reader is stuck: feed/finish return the same code
 *   and message again. A sink callback's non-OK status stops the read and is
 *   returned unchanged (the sink's own message in err wins).
 *
 * CSV (libcsv, strict mode):
 * - Delimiter from opts (0 = detected from the first 64 KiB or 32 lines: the
 *   candidate among , ; TAB | that occurs outside quotes the same nonzero number
 *   of times on the most lines; ties in that order; none found → ',').
 *   Quote char from opts (0 = '"'); a quote is escaped by doubling it.
 * - Records end at LF, CRLF or CR. Empty lines are skipped (they are not rows).
 *   Cells are never trimmed. A quote inside an unquoted cell, text after a closing
 *   quote, or an unterminated quoted cell is CEL_EPARSE "CSV line N: ...".
 * - opts->header != 0 (1, or -1 = the default 1): the first record is the header.
 *   Beware: header == 0 means "no header", and cel_reader_opts_defaults keeps 0.
 *   Header names are delivered as written, except an empty name becomes
 *   "column_<i>" (1-based position) and a repeated name gets the pandas-style
 *   suffix ".1", ".2", ... (the first unused one). Without a header the names are
 *   "column_1".."column_N" with N = the cell count of the first record.
 *   The column list of a CSV never changes after the first on_columns.
 * - Cells are CEL_V_TEXT (s/len, not NUL-terminated). A row with fewer cells than
 *   columns gets CEL_V_ABSENT for the missing ones; a row with more cells than
 *   columns reports them through cel_reader_row_extra() below.
 * - Rows are numbered 1.. over data records; `line` is the physical line (count of
 *   LF + 1) where the record starts, correct across quoted line breaks.
 * - Bounds: a cell over max_field_bytes, a record over max_line_bytes (cells plus
 *   delimiters), more than max_columns cells → CEL_ELIMIT "CSV line N: ...".
 *   Invalid UTF-8 in a cell → CEL_EPARSE "CSV line N: invalid UTF-8 ... column K".
 *
 * JSON (a top-level array of objects) and NDJSON (one object per line):
 * - jansson decodes one record at a time; a streaming tokenizer finds each
 *   record's extent. Each record must be an object. Keys become columns in
 *   first-seen order; a record with new keys triggers on_columns with the grown
 *   list first (bounded by max_columns). Duplicate keys: the last value wins.
 * - Values: missing key → ABSENT; null → NULL; string → STRING (may contain NUL
 *   bytes written as \u0000: always use len); integer → INT; real → DOUBLE with
 *   the shortest round-trip text in Python repr style ("0.1", "1e+16", "1.0");
 *   true/false → BOOL; arrays/objects → JSON with compact text (",", ":" without
 *   spaces, non-ASCII kept as UTF-8). Python's NaN, Infinity and -Infinity are
 *   accepted as DOUBLE (also inside nested values, rendered back the same way).
 *   Integers outside int64 become DOUBLE with d = strtod(text) and s/len = their
 *   exact digits.
 * - Bounds: a record over max_line_bytes, nesting deeper than max_depth (the
 *   record object is depth 1; values above 2048 are treated as 2048, jansson's own
 *   limit), a string or nested value over max_field_bytes, more than max_columns
 *   distinct keys → CEL_ELIMIT. A key containing NUL is CEL_EPARSE.
 * - JSON: whitespace around the array; "[]" is valid (no rows); an empty input,
 *   a top-level value that is not an array, a non-object element, a trailing
 *   comma, trailing data after ']' and truncated input are CEL_EPARSE naming the
 *   record number, line and byte offset. `line` is the line where the record's
 *   '{' is.
 * - NDJSON: blank (whitespace-only) lines are skipped; CRLF is fine; the last line
 *   needs no newline. A record must sit on one line: a line that ends inside an
 *   object, or has text after the object, is CEL_EPARSE "NDJSON line N: ...".
 */
#ifndef CELERIAC_STREAM_READER_H
#define CELERIAC_STREAM_READER_H

#include "celeriac/error.h"
#include "celeriac/reader.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cel_stream_reader cel_stream_reader;

/* Creates a reader for fmt (CEL_FMT_CSV, CEL_FMT_JSON or CEL_FMT_NDJSON; AUTO and
 * PARQUET are CEL_EINVAL). opts may be NULL (all defaults); zero fields get the
 * defaults of cel_reader_opts_defaults; opts->format is ignored. opts and *sink are
 * copied (opts->encoding is parsed here), so neither needs to outlive this call;
 * sink->ud must outlive the reader. *out is new: free with cel_stream_reader_free.
 * Returns CEL_EINVAL (bad format, delimiter or quote not ASCII), CEL_EUNSUPPORTED
 * (unknown encoding), CEL_ENOMEM. */
cel_status cel_stream_reader_new(cel_format fmt, const cel_reader_opts *opts,
                                 const cel_row_sink *sink, cel_stream_reader **out,
                                 cel_error *err) CEL_MUST_CHECK;

/* Pushes len bytes (borrowed for the call). Rows completed by these bytes are
 * delivered before it returns. Returns CEL_OK, a parse/limit error, or the sink's
 * status. CEL_EINVAL after finish. */
cel_status cel_stream_reader_feed(cel_stream_reader *r, const void *data, size_t len,
                                  cel_error *err) CEL_MUST_CHECK;

/* End of input: delivers the last record and checks the input is complete
 * (unterminated quote, truncated JSON). Calls on_columns if it never was. */
cel_status cel_stream_reader_finish(cel_stream_reader *r, cel_error *err) CEL_MUST_CHECK;

/* Data rows delivered so far. */
uint64_t cel_stream_reader_rows(const cel_stream_reader *r);

/* NULL-safe. Must not be called from inside one of the reader's sink callbacks. */
void cel_stream_reader_free(cel_stream_reader *r);

/*
 * Cells beyond the columns (CSV ragged rows, Frictionless "extra-cell").
 *
 * cel_value arrays carry exactly ncols entries, so the cells a CSV record has
 * beyond its header travel on the side: while a reader of this module is inside
 * an on_row call, cel_reader_row_extra() (thread-local, never NULL) describes that
 * row's extra cells; outside on_row, and for rows without extra cells, and for
 * every other reader, cells == 0. first/first_len is the first extra cell's text
 * (borrowed like the row's values, NULL when cells == 0).
 */
typedef struct cel_row_extra {
    size_t cells;
    const char *first;
    size_t first_len;
} cel_row_extra;

const cel_row_extra *cel_reader_row_extra(void);

#endif
