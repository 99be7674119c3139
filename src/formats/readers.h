/*
 * readers.h: the internal interface between the format front (stream_reader.c,
 * source.c) and each text-format parser (csv_reader.c, json_reader.c).
 *
 * Design: every parser is a push parser with new/feed/finish/free over UTF-8 text
 * (textin.c has already removed the BOM and transcoded). A parser records its first
 * failure in the caller's err and remembers the status; the front makes it sticky.
 * opts arrive with defaults filled in and are copied.
 *
 * Not here: format detection (source.c), the public API (celeriac/stream_reader.h).
 */
#ifndef CELERIAC_FORMATS_READERS_H
#define CELERIAC_FORMATS_READERS_H

#include "celeriac/reader.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CSV: the delimiter detection window and the piece size fed to libcsv. */
#define CSVR_SNIFF_BYTES 65536
#define CSVR_SNIFF_LINES 32

typedef struct csvr csvr;
/* *out is new. validate_utf8 is false when the text was transcoded (always valid). */
cel_status csvr_new(const cel_reader_opts *opts, const cel_row_sink *sink, bool validate_utf8,
                    csvr **out, cel_error *err) CEL_MUST_CHECK;
cel_status csvr_feed(csvr *r, const char *data, size_t len, cel_error *err) CEL_MUST_CHECK;
cel_status csvr_finish(csvr *r, cel_error *err) CEL_MUST_CHECK;
uint64_t csvr_rows(const csvr *r);
void csvr_free(csvr *r);

/* Picks the delimiter of a CSV sample (see celeriac/stream_reader.h for the rule).
 * eof: the sample is the whole input, so its last line counts even without a
 * line end. */
char csvr_detect_delimiter(const char *s, size_t n, char quote, bool eof);

typedef struct jsr jsr;
/* ndjson: false = top-level array of objects, true = one object per line. *out is new. */
cel_status jsr_new(const cel_reader_opts *opts, const cel_row_sink *sink, bool ndjson, jsr **out,
                   cel_error *err) CEL_MUST_CHECK;
cel_status jsr_feed(jsr *r, const char *data, size_t len, cel_error *err) CEL_MUST_CHECK;
cel_status jsr_finish(jsr *r, cel_error *err) CEL_MUST_CHECK;
uint64_t jsr_rows(const jsr *r);
void jsr_free(jsr *r);

/* The thread-local row annotation behind cel_reader_row_extra(). Parsers set it
 * right before on_row and clear it right after. */
void rdx_set_extra(size_t cells, const char *first, size_t first_len);
void rdx_clear_extra(void);

#endif
