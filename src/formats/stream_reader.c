/*
 * stream_reader.c: the public push API over the text parsers (see
 * celeriac/stream_reader.h).
 *
 * Design: bytes go through the textin filter (BOM, transcoding) into the CSV or
 * JSON parser. The first failure is kept with its message and returned again by
 * every later call, so a caller that ignores one status still cannot read on past
 * an error. The ragged-row annotation lives in one thread-local value that the
 * parsers set around on_row.
 *
 * Not here: format detection and sources (source.c), Parquet.
 */
#include "celeriac/stream_reader.h"

#include "formats/readers.h"
#include "formats/textin.h"

#include <stdlib.h>
#include <string.h>

struct cel_stream_reader {
    cel_format fmt;
    txin in;
    csvr *csv;
    jsr *json;
    bool finished;
    cel_status st;  /* sticky first failure */
    cel_error fail; /* its message */
};

static _Thread_local cel_row_extra rdx_current;

void rdx_set_extra(size_t cells, const char *first, size_t first_len) {
    rdx_current.cells = cells;
    rdx_current.first = first;
    rdx_current.first_len = first_len;
}

void rdx_clear_extra(void) {
    memset(&rdx_current, 0, sizeof rdx_current);
}

const cel_row_extra *cel_reader_row_extra(void) {
    return &rdx_current;
}

cel_status cel_stream_reader_new(cel_format fmt, const cel_reader_opts *opts,
                                 const cel_row_sink *sink, cel_stream_reader **out,
                                 cel_error *err) {
    *out = NULL;
    if (fmt != CEL_FMT_CSV && fmt != CEL_FMT_JSON && fmt != CEL_FMT_NDJSON)
        return cel_fail(err, CEL_EINVAL, "stream reader: format %s is not a text format",
                        cel_format_name(fmt));
    if (sink == NULL)
        return cel_fail(err, CEL_EINVAL, "stream reader: no row sink");
    cel_reader_opts o;
    if (opts != NULL)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    cel_reader_opts_defaults(&o);
    txin_encoding enc;
    cel_status st = txin_encoding_parse(o.encoding, &enc, err);
    if (st != CEL_OK)
        return st;
    o.encoding = NULL; /* parsed; the string need not outlive this call */
    cel_stream_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory creating a stream reader");
    r->fmt = fmt;
    txin_init(&r->in, enc);
    if (fmt == CEL_FMT_CSV)
        st = csvr_new(&o, sink, enc == TXIN_UTF8, &r->csv, err);
    else
        st = jsr_new(&o, sink, fmt == CEL_FMT_NDJSON, &r->json, err);
    if (st != CEL_OK) {
        cel_stream_reader_free(r);
        return st;
    }
    *out = r;
    return CEL_OK;
}

static cel_status sr_emit(void *ud, const char *data, size_t len, cel_error *err) {
    cel_stream_reader *r = ud;
    if (r->csv != NULL)
        return csvr_feed(r->csv, data, len, err);
    return jsr_feed(r->json, data, len, err);
}

/* Remembers a failure (message from the parser or sink, now in r->fail). */
static cel_status sr_fail(cel_stream_reader *r, cel_status st, cel_error *err) {
    r->st = st;
    if (r->fail.msg[0] == '\0')
        cel_fail(&r->fail, st, "stream reader stopped with %s", cel_strerror(st));
    return cel_fail(err, st, "%s", r->fail.msg);
}

cel_status cel_stream_reader_feed(cel_stream_reader *r, const void *data, size_t len,
                                  cel_error *err) {
    if (r->st != CEL_OK)
        return cel_fail(err, r->st, "%s", r->fail.msg);
    if (r->finished)
        return cel_fail(err, CEL_EINVAL, "stream reader: feed after finish");
    if (len == 0)
        return CEL_OK;
    cel_status st = txin_feed(&r->in, data, len, sr_emit, r, &r->fail);
    if (st != CEL_OK)
        return sr_fail(r, st, err);
    return CEL_OK;
}

cel_status cel_stream_reader_finish(cel_stream_reader *r, cel_error *err) {
    if (r->st != CEL_OK)
        return cel_fail(err, r->st, "%s", r->fail.msg);
    if (r->finished)
        return cel_fail(err, CEL_EINVAL, "stream reader: finish called twice");
    r->finished = true;
    cel_status st = txin_finish(&r->in, sr_emit, r, &r->fail);
    if (st == CEL_OK)
        st = r->csv != NULL ? csvr_finish(r->csv, &r->fail) : jsr_finish(r->json, &r->fail);
    if (st != CEL_OK)
        return sr_fail(r, st, err);
    return CEL_OK;
}

uint64_t cel_stream_reader_rows(const cel_stream_reader *r) {
    if (r == NULL)
        return 0;
    return r->csv != NULL ? csvr_rows(r->csv) : r->json != NULL ? jsr_rows(r->json) : 0;
}

void cel_stream_reader_free(cel_stream_reader *r) {
    if (r == NULL)
        return;
    csvr_free(r->csv);
    jsr_free(r->json);
    free(r);
}
