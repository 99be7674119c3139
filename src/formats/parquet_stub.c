/*
 * parquet_stub.c: placeholder for the Parquet reader until it is written.
 *
 * It exists so cel_read_source links and detects Parquet already; it reads
 * nothing and always fails with CEL_EUNSUPPORTED. Replace this file (do not add a
 * second definition) when the real reader lands.
 */
#include "formats/parquet.h"

cel_status parquet_read_source(const cel_source *src, const cel_reader_opts *opts,
                               const cel_row_sink *sink, cel_error *err) {
    (void)opts;
    (void)sink;
    return cel_fail(err, CEL_EUNSUPPORTED, "Parquet reader not built yet (%s)",
                    src && src->name ? src->name : "input");
}
