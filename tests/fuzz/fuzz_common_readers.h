/*
 * fuzz_common_readers.h: the shared body of fuzz_csv.c, fuzz_json.c, fuzz_ndjson.c.
 *
 * Input layout: byte 0 = option flags, bytes 1 and 2 = two cut points (scaled to
 * the payload length), the rest = the payload. The payload is read once in one
 * piece and once cut in three pieces; the renderings (rows, status and message)
 * must be identical, else the harness aborts. CSV is also read byte by byte (no
 * piece is a whole line, so the reader's quote-free-line fast path is off and
 * libcsv does all the parsing), which must render the same again. Bounds are tiny so the limit
 * paths run: max_field 64, max_line 256, max_columns 16, max_depth 2..9. For CSV the payload also
 * goes through cel_read_source with format AUTO over a memory source, to fuzz sniffing and
 * dispatch.
 *
 * Not here: Parquet (its own harness).
 */
#ifndef FUZZ_COMMON_READERS_H
#define FUZZ_COMMON_READERS_H

#include "../unit/test_formats_render.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct fz_mem {
    const uint8_t *data;
    size_t len;
    size_t piece;
} fz_mem;

static cel_status fz_stream(void *ud, cel_chunk_fn fn, void *chunk_ud, cel_error *err) {
    fz_mem *m = ud;
    for (size_t at = 0; at < m->len;) {
        size_t n = m->len - at < m->piece ? m->len - at : m->piece;
        cel_status st = fn(chunk_ud, m->data + at, n, err);
        if (st != CEL_OK)
            return st;
        at += n;
    }
    return CEL_OK;
}

static cel_status fz_read_at(void *ud, uint64_t off, size_t len, void *buf, cel_error *err) {
    fz_mem *m = ud;
    if (off > m->len || len > m->len - off)
        return cel_fail(err, CEL_EIO, "read beyond the end");
    memcpy(buf, m->data + off, len);
    return CEL_OK;
}

static int fz_run(cel_format fmt, const uint8_t *data, size_t size) {
    if (size < 3)
        return 0;
    uint8_t flags = data[0];
    size_t payload = size - 3;
    size_t cut[2] = {data[1] * payload / 255, data[2] * payload / 255};
    if (cut[0] > cut[1]) {
        size_t t = cut[0];
        cut[0] = cut[1];
        cut[1] = t;
    }
    const char *text = (const char *)data + 3;

    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    o.max_field_bytes = 64;
    o.max_line_bytes = 256;
    o.max_columns = 16;
    o.max_depth = 2 + (flags >> 5);
    o.header = flags & 1;
    static const char delims[4] = {0, ',', ';', '\t'};
    o.delimiter = delims[(flags >> 1) & 3];
    if (flags & 8)
        o.encoding = "latin-1";
    if (flags & 16)
        o.quote = '\'';

    render_sink a, b;
    render_init(&a);
    render_init(&b);
    render_stream(fmt, &o, text, payload, NULL, 0, &a);
    render_stream(fmt, &o, text, payload, cut, 2, &b);
    if (a.contract[0] || b.contract[0] || a.out.len != b.out.len ||
        memcmp(a.out.data, b.out.data, a.out.len) != 0) {
        fprintf(stderr, "one piece:\n%s\nthree pieces at %zu,%zu:\n%s\ncontract: %s / %s\n",
                a.out.data, cut[0], cut[1], b.out.data, a.contract, b.contract);
        abort();
    }
    render_free(&b);

    if (fmt == CEL_FMT_CSV && payload > 1) {
        /* Every byte its own piece: no piece then holds a whole line, so the CSV
         * reader's quote-free-line fast path never runs and libcsv parses it all;
         * the rendering must equal the one-piece read, which takes the fast path
         * wherever it can. */
        size_t *every = malloc((payload - 1) * sizeof *every);
        if (every == NULL)
            abort();
        for (size_t i = 0; i + 1 < payload; i++)
            every[i] = i + 1;
        render_sink d;
        render_init(&d);
        render_stream(fmt, &o, text, payload, every, payload - 1, &d);
        if (d.contract[0] || a.out.len != d.out.len ||
            memcmp(a.out.data, d.out.data, a.out.len) != 0) {
            fprintf(stderr, "one piece:\n%s\nbyte by byte:\n%s\ncontract: %s\n", a.out.data,
                    d.out.data, d.contract);
            abort();
        }
        render_free(&d);
        free(every);
    }
    render_free(&a);

    if (fmt == CEL_FMT_CSV) {
        fz_mem m = {.data = data + 3, .len = payload, .piece = 1 + cut[0]};
        cel_source src = {.ud = &m,
                          .name = (flags & 2) ? "fuzz.json" : "fuzz",
                          .size = (int64_t)payload,
                          .read_at = fz_read_at,
                          .stream = fz_stream};
        render_sink c;
        render_init(&c);
        cel_row_sink sink = render_as_sink(&c);
        cel_error err;
        cel_error_clear(&err);
        cel_format used;
        o.format = CEL_FMT_AUTO;
        cel_status st = cel_read_source(&src, &o, &sink, &used, &err);
        if (c.contract[0] || (st != CEL_OK && err.msg[0] == '\0')) {
            fprintf(stderr, "cel_read_source: %s / status %d without message\n", c.contract, st);
            abort();
        }
        render_free(&c);
    }
    return 0;
}

#endif
