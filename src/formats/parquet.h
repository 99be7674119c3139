/*
 * parquet.h: the entry point of the Parquet reader, called by cel_read_source.
 *
 * Contract (owned by the Parquet reader; src/formats/parquet_stub.c stands in
 * until it exists): read the whole Parquet object behind src with random access
 * (src->read_at, src->size >= 0), push every row into sink like the text readers
 * do (on_columns once with the schema's flat column names, then on_row per row),
 * honour opts->max_page_bytes / max_columns, and return CEL_OK at the end, or
 * CEL_EUNSUPPORTED / CEL_EPARSE / CEL_ELIMIT with a message naming the column
 * and row group.
 */
#ifndef CELERIAC_FORMATS_PARQUET_H
#define CELERIAC_FORMATS_PARQUET_H

#include "celeriac/reader.h"

/* opts has its defaults filled in. */
cel_status parquet_read_source(const cel_source *src, const cel_reader_opts *opts,
                               const cel_row_sink *sink, cel_error *err) CEL_MUST_CHECK;

#endif
