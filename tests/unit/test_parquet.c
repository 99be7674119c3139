/*
 * test_parquet.c: unit tests of the Parquet reader, plus a dump mode used by
 * tests/e2e/test_parquet.py.
 *
 * Unit tests (no files needed): the Snappy, LZ4 block and Hadoop-LZ4 decoders
 * on hand-made streams, the RLE/bit-packed hybrid with the Encodings.md example,
 * DELTA_BINARY_PACKED with the spec's examples, the CRC-32 check value, Thrift
 * footer decoding of hand-built metadata, and whole files built in memory by a
 * tiny writer here (v1/v2 pages, dictionary, nulls, every rendering), including
 * truncation and bit flips of those files (clean errors, never a crash).
 * When ../shared/data/parquet-testing exists (CELERIAC_SOURCE_DIR/../shared),
 * every bad_data file must fail cleanly; the value comparisons against the
 * expectations and DuckDB live in the e2e test.
 *
 * `unit_test_parquet --write-seeds DIR` writes the in-memory files (fuzz seeds).
 * Dump mode: `unit_test_parquet --dump FILE` prints one JSON line with the
 * columns ({"columns":[{"name","type","table_type","supported"}]}) and then one
 * JSON array per row whose cells are null or [kind, text] (kind: int, double,
 * bool, str, temporal), or a final {"error": CODE, "message": ...} line; exit 0
 * on success, 1 on a reader error.
 *
 * Not here: DuckDB comparisons (e2e), fuzzing (tests/fuzz/fuzz_parquet.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "celeriac/reader.h"
#include "formats/numtext.h"
#include "formats/parquet.h"
#include "formats/parquet_internal.h"
#include "util/dbuf.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- memory source */

typedef struct mem_src {
    const uint8_t *data;
    size_t len;
    unsigned reads;
    size_t biggest; /* largest single read */
} mem_src;

static cel_status mem_read_at(void *ud, uint64_t off, size_t len, void *buf, cel_error *err) {
    mem_src *m = ud;
    m->reads++;
    if (len > m->biggest)
        m->biggest = len;
    if (off > m->len || len > m->len - off)
        return cel_fail(err, CEL_EIO, "read beyond the end");
    memcpy(buf, m->data + off, len);
    return CEL_OK;
}

static cel_status mem_stream(void *ud, cel_chunk_fn fn, void *chunk_ud, cel_error *err) {
    mem_src *m = ud;
    for (size_t at = 0; at < m->len; at += 7) {
        cel_status st = fn(chunk_ud, m->data + at, m->len - at < 7 ? m->len - at : 7, err);
        if (st != CEL_OK)
            return st;
    }
    return CEL_OK;
}

/* ---------------------------------------------------------------- JSON dump sink */

typedef struct dump_sink {
    dbuf out;
    uint64_t rows;
    long max_rows; /* > 0: stop after this many rows */
} dump_sink;

static void dump_str(dbuf *b, const char *s, size_t n) {
    cel_status st = dbuf_append(b, "\"", 1);
    for (size_t i = 0; i < n && st == CEL_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            st = dbuf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            st = dbuf_printf(b, "\\u%04x", c);
        else
            st = dbuf_append(b, &s[i], 1);
    }
    if (st == CEL_OK)
        st = dbuf_append(b, "\"", 1);
    (void)st;
}

static cel_status dump_columns(void *ud, size_t n, const char *const *names, cel_error *err) {
    (void)err;
    dump_sink *d = ud;
    size_t ni = 0;
    const parquet_column_info *info = parquet_current_columns(&ni);
    cel_status st = dbuf_append_str(&d->out, "{\"columns\":[");
    for (size_t i = 0; i < n && st == CEL_OK; i++) {
        st = dbuf_append_str(&d->out, i ? ",{\"name\":" : "{\"name\":");
        dump_str(&d->out, names[i], strlen(names[i]));
        if (info && i < ni)
            st =
                dbuf_printf(&d->out, ",\"type\":\"%s\",\"table_type\":\"%s\",\"supported\":%s}",
                            info[i].type, info[i].table_type, info[i].supported ? "true" : "false");
        else
            st = dbuf_append_str(&d->out, "}");
    }
    if (st == CEL_OK)
        st = dbuf_append_str(&d->out, "]}\n");
    return st;
}

static cel_status dump_row(void *ud, uint64_t rn, uint64_t line, size_t n, const cel_value *v,
                           cel_error *err) {
    (void)line;
    dump_sink *d = ud;
    d->rows = rn;
    cel_status st = dbuf_append(&d->out, "[", 1);
    static const char *const kinds[] = {"absent", "null", "text", "str",     "int",
                                        "double", "bool", "json", "temporal"};
    for (size_t i = 0; i < n && st == CEL_OK; i++) {
        if (i)
            st = dbuf_append(&d->out, ",", 1);
        if (v[i].kind == CEL_V_NULL || v[i].kind == CEL_V_ABSENT) {
            st = dbuf_append_str(&d->out, "null");
            continue;
        }
        st = dbuf_printf(&d->out, "[\"%s\",", kinds[v[i].kind]);
        dump_str(&d->out, v[i].s, v[i].len);
        st = dbuf_append(&d->out, "]", 1);
    }
    if (st == CEL_OK)
        st = dbuf_append_str(&d->out, "]\n");
    if (d->max_rows > 0 && (long)rn >= d->max_rows)
        return cel_fail(err, CEL_ELIMIT, "dump: row limit");
    return st;
}

static cel_status dump_bytes(const uint8_t *data, size_t len, const char *name, dbuf *out,
                             cel_error *err) {
    dump_sink d;
    memset(&d, 0, sizeof d);
    dbuf_init(&d.out, 0);
    mem_src m = {.data = data, .len = len};
    cel_source src = {.ud = &m, .name = name, .size = (int64_t)len, .read_at = mem_read_at};
    cel_row_sink sink = {.ud = &d, .on_columns = dump_columns, .on_row = dump_row};
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    o.format = CEL_FMT_PARQUET;
    cel_reader_opts_defaults(&o);
    cel_status st = parquet_read_source(&src, &o, &sink, err);
    *out = d.out;
    return st;
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct stat sb;
    uint8_t *buf = NULL;
    if (fstat(fileno(f), &sb) == 0) {
        buf = malloc((size_t)sb.st_size + 1);
        if (buf && fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)sb.st_size;
    }
    fclose(f);
    return buf;
}

static int dump_main(const char *path) {
    cel_source src;
    cel_error err;
    cel_error_clear(&err);
    if (cel_file_source_open(path, &src, &err) != CEL_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    dump_sink d;
    memset(&d, 0, sizeof d);
    dbuf_init(&d.out, 0);
    cel_row_sink sink = {.ud = &d, .on_columns = dump_columns, .on_row = dump_row};
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    o.format = CEL_FMT_PARQUET;
    cel_reader_opts_defaults(&o);
    cel_status st = parquet_read_source(&src, &o, &sink, &err);
    if (d.out.len > 0)
        fwrite(d.out.data, 1, d.out.len, stdout);
    if (st != CEL_OK) {
        dbuf e;
        dbuf_init(&e, 0);
        dump_str(&e, err.msg, strlen(err.msg));
        printf("{\"error\":\"%s\",\"message\":%s}\n", cel_strerror(st), e.data);
        dbuf_free(&e);
    }
    dbuf_free(&d.out);
    cel_file_source_close(&src);
    return st == CEL_OK ? 0 : 1;
}

/* ---------------------------------------------------------------- codecs, encodings */

static void test_crc32(void **state) {
    (void)state;
    assert_int_equal(parq_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
}

static void test_snappy(void **state) {
    (void)state;
    /* length 12; literal "abcd"; copy (1-byte offset) len 8 offset 4 */
    static const uint8_t z[] = {0x0c, 0x0c, 'a', 'b', 'c', 'd', 0x11, 0x04};
    uint8_t out[12];
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(parq_decompress(PARQ_CODEC_SNAPPY, z, sizeof z, out, 12, &err), CEL_OK);
    assert_memory_equal(out, "abcdabcdabcd", 12);
    /* wrong expected size, offset beyond the output, truncation */
    assert_int_equal(parq_decompress(PARQ_CODEC_SNAPPY, z, sizeof z, out, 11, &err), CEL_EPARSE);
    static const uint8_t bad[] = {0x0c, 0x0c, 'a', 'b', 'c', 'd', 0x11, 0x09};
    cel_error_clear(&err);
    assert_int_equal(parq_decompress(PARQ_CODEC_SNAPPY, bad, sizeof bad, out, 12, &err),
                     CEL_EPARSE);
    assert_non_null(strstr(err.msg, "snappy"));
    for (size_t n = 0; n < sizeof z; n++)
        assert_int_equal(parq_decompress(PARQ_CODEC_SNAPPY, z, n, out, 12, &err), CEL_EPARSE);
}

static void test_lz4(void **state) {
    (void)state;
    /* token 0x44: 4 literals, match length 4+4 at offset 4; then 1 literal "X" */
    static const uint8_t blk[] = {0x44, 'a', 'b', 'c', 'd', 0x04, 0x00, 0x10, 'X'};
    uint8_t out[13];
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(parq_decompress(PARQ_CODEC_LZ4_RAW, blk, sizeof blk, out, 13, &err), CEL_OK);
    assert_memory_equal(out, "abcdabcdabcdX", 13);
    /* deprecated LZ4: Hadoop framing, and the raw-block fallback */
    uint8_t framed[8 + sizeof blk] = {0, 0, 0, 13, 0, 0, 0, sizeof blk};
    memcpy(framed + 8, blk, sizeof blk);
    memset(out, 0, sizeof out);
    assert_int_equal(parq_decompress(PARQ_CODEC_LZ4, framed, sizeof framed, out, 13, &err), CEL_OK);
    assert_memory_equal(out, "abcdabcdabcdX", 13);
    memset(out, 0, sizeof out);
    assert_int_equal(parq_decompress(PARQ_CODEC_LZ4, blk, sizeof blk, out, 13, &err), CEL_OK);
    assert_memory_equal(out, "abcdabcdabcdX", 13);
    static const uint8_t bad[] = {0x44, 'a', 'b', 'c', 'd', 0x09, 0x00, 0x10, 'X'};
    assert_int_equal(parq_decompress(PARQ_CODEC_LZ4_RAW, bad, sizeof bad, out, 13, &err),
                     CEL_EPARSE);
    for (size_t n = 0; n < sizeof blk; n++)
        assert_int_equal(parq_decompress(PARQ_CODEC_LZ4_RAW, blk, n, out, 13, &err), CEL_EPARSE);
    assert_int_equal(parq_decompress(PARQ_CODEC_LZO, blk, 1, out, 1, &err), CEL_EUNSUPPORTED);
    assert_int_equal(parq_decompress(99, blk, 1, out, 1, &err), CEL_EUNSUPPORTED);
}

static void test_rle_hybrid(void **state) {
    (void)state;
    uint32_t v[16];
    cel_error err;
    cel_error_clear(&err);
    /* Encodings.md: 0..7 at width 3 bit-packed = 10001000 11000110 11111010 */
    static const uint8_t bp[] = {0x03, 0x88, 0xC6, 0xFA};
    assert_int_equal(parq_rle_decode(bp, sizeof bp, 3, v, 8, &err), CEL_OK);
    for (uint32_t k = 0; k < 8; k++)
        assert_int_equal(v[k], k);
    /* an RLE run of 5 threes (width 2), then a bit-packed run cut short after 2 values */
    static const uint8_t mix[] = {0x0a, 0x03, 0x03, 0x09};
    assert_int_equal(parq_rle_decode(mix, sizeof mix, 2, v, 7, &err), CEL_OK);
    static const uint32_t want[] = {3, 3, 3, 3, 3, 1, 2};
    assert_memory_equal(v, want, sizeof want);
    /* width 0: a run header and no value bytes means zeros */
    static const uint8_t zero[] = {0x14};
    v[0] = 7;
    assert_int_equal(parq_rle_decode(zero, sizeof zero, 0, v, 10, &err), CEL_OK);
    assert_int_equal(v[0], 0);
    /* too few values, zero-length run, value wider than the width, width out of range */
    assert_int_equal(parq_rle_decode(bp, sizeof bp, 3, v, 9, &err), CEL_EPARSE);
    static const uint8_t z0[] = {0x00, 0x01};
    assert_int_equal(parq_rle_decode(z0, sizeof z0, 1, v, 1, &err), CEL_EPARSE);
    static const uint8_t wide[] = {0x02, 0x05};
    assert_int_equal(parq_rle_decode(wide, sizeof wide, 2, v, 1, &err), CEL_EPARSE);
    assert_int_equal(parq_rle_decode(bp, sizeof bp, 33, v, 1, &err), CEL_EPARSE);
    /* deprecated BIT_PACKED (MSB first): 0..7 at width 3 = 00000101 00111001 01110111 */
    static const uint8_t msb[] = {0x05, 0x39, 0x77};
    assert_int_equal(parq_bitpacked_decode(msb, sizeof msb, 3, v, 8, &err), CEL_OK);
    for (uint32_t k = 0; k < 8; k++)
        assert_int_equal(v[k], k);
    assert_int_equal(parq_bitpacked_decode(msb, 2, 3, v, 8, &err), CEL_EPARSE);
}

static void test_delta(void **state) {
    (void)state;
    int64_t v[40];
    size_t n, used;
    cel_error err;
    cel_error_clear(&err);
    /* Encodings.md example 1: 1 2 3 4 5 -> min delta 1, widths 0 */
    static const uint8_t e1[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
    assert_int_equal(parq_delta_decode(e1, sizeof e1, v, 40, &n, &used, &err), CEL_OK);
    assert_int_equal(n, 5);
    assert_int_equal(used, sizeof e1);
    for (int k = 0; k < 5; k++)
        assert_int_equal(v[k], k + 1);
    /* example 2: 7 5 3 1 2 3 4 5 -> min delta -2, adjusted 0 0 0 3 3 3 3 at width 2 */
    static const uint8_t e2[] = {0x80, 0x01, 0x04, 0x08, 0x0e, 0x03, 2, 0, 0,
                                 0,    0xC0, 0x3F, 0,    0,    0,    0, 0, 0};
    assert_int_equal(parq_delta_decode(e2, sizeof e2, v, 40, &n, &used, &err), CEL_OK);
    static const int64_t w2[] = {7, 5, 3, 1, 2, 3, 4, 5};
    assert_int_equal(n, 8);
    assert_memory_equal(v, w2, sizeof w2);
    assert_int_equal(used, sizeof e2);
    /* more values than room, truncation, bad block sizes */
    assert_int_equal(parq_delta_decode(e2, sizeof e2, v, 7, &n, &used, &err), CEL_EPARSE);
    for (size_t k = 0; k < 12; k++)
        assert_int_equal(parq_delta_decode(e2, k, v, 40, &n, &used, &err), CEL_EPARSE);
    static const uint8_t badblock[] = {0x40, 0x04, 0x01, 0x00};
    assert_int_equal(parq_delta_decode(badblock, sizeof badblock, v, 40, &n, &used, &err),
                     CEL_EPARSE);
    assert_int_equal(parq_bit_width(0), 0);
    assert_int_equal(parq_bit_width(1), 1);
    assert_int_equal(parq_bit_width(255), 8);
}

/* The fast number text equals numtext_double for doubles, and for floats is the
 * shortest %.{p}g text that round-trips through float (the obvious slow search). */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_number_text(void **state) {
    (void)state;
    uint64_t seed = 0x9E3779B97F4A7C15u;
    char a[NUMTEXT_MAX], b[NUMTEXT_MAX];
    static const double fixed[] = {1.0,  0.1,     1e16,   1e15,    123456789012345678.0,
                                   1e-4, 1e-5,    0.3,    2.5e-7,  9007199254740993.0,
                                   -1.5, 1e308,   5e-324, DBL_MAX, DBL_MIN,
                                   1e23, 8.41e21, 0.5,    100.0,   9.999999999999999e22};
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
        numtext_double(fixed[k], a);
        parq_text_double(fixed[k], b);
        assert_string_equal(a, b);
    }
    for (int k = 0; k < 200000; k++) {
        uint64_t u = rng_next(&seed);
        double x;
        if (k % 3 == 0) {
            memcpy(&x, &u, 8); /* any bit pattern */
        } else if (k % 3 == 1) {
            x = (double)(u % 1000000) / (double)(1 + rng_next(&seed) % 10000);
        } else {
            x = (double)(int64_t)(u >> 11) * 1e-3;
        }
        numtext_double(x, a);
        parq_text_double(x, b);
        if (strcmp(a, b) != 0)
            fail_msg("double %a: numtext %s, fast %s", x, a, b);
    }
    for (int k = 0; k < 200000; k++) {
        uint32_t u = (uint32_t)rng_next(&seed);
        float f;
        if (k % 2)
            memcpy(&f, &u, 4);
        else
            f = (float)(u % 100000) / 7.0f;
        double d;
        parq_text_float(f, b, &d);
        if (!isfinite(f))
            continue;
        char tmp[48];
        double want = f;
        for (int prec = 1; prec <= 9; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
            if (strtof(tmp, NULL) == f) {
                want = strtod(tmp, NULL);
                break;
            }
        }
        numtext_double(want, a);
        if (strcmp(a, b) != 0 || d != want)
            fail_msg("float %a: slow %s, fast %s", (double)f, a, b);
    }
    assert_int_equal(parq_text_int(INT64_MIN, b), 20);
    assert_string_equal(b, "-9223372036854775808");
    parq_text_int(0, b);
    assert_string_equal(b, "0");
}

/* ---------------------------------------------------------------- a tiny Parquet writer */

/* Thrift compact encoder, just enough to write FileMetaData and page headers. */
typedef struct tw {
    dbuf *b;
    int last[16];
    int depth;
} tw;

static void tw_byte(tw *w, uint8_t c) {
    assert_int_equal(dbuf_append(w->b, &c, 1), CEL_OK);
}

static void tw_varint(tw *w, uint64_t v) {
    do {
        uint8_t c = v & 0x7F;
        v >>= 7;
        tw_byte(w, c | (v ? 0x80 : 0));
    } while (v);
}

static uint64_t zz(int64_t v) {
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void tw_field(tw *w, int id, int type) {
    int delta = id - w->last[w->depth];
    if (delta > 0 && delta <= 15) {
        tw_byte(w, (uint8_t)(delta << 4 | type));
    } else {
        tw_byte(w, (uint8_t)type);
        tw_varint(w, zz(id));
    }
    w->last[w->depth] = id;
}

static void tw_i32(tw *w, int id, int64_t v) {
    tw_field(w, id, 5);
    tw_varint(w, zz(v));
}

static void tw_i64(tw *w, int id, int64_t v) {
    tw_field(w, id, 6);
    tw_varint(w, zz(v));
}

static void tw_str(tw *w, int id, const char *s) {
    tw_field(w, id, 8);
    tw_varint(w, strlen(s));
    assert_int_equal(dbuf_append(w->b, s, strlen(s)), CEL_OK);
}

static void tw_bool(tw *w, int id, bool v) {
    tw_field(w, id, v ? 1 : 2);
}

static void tw_begin(tw *w, int id) { /* id 0: a list element */
    if (id)
        tw_field(w, id, 12);
    w->last[++w->depth] = 0;
}

static void tw_end(tw *w) {
    tw_byte(w, 0);
    w->depth--;
}

static void tw_list(tw *w, int id, int etype, size_t n) {
    tw_field(w, id, 9);
    if (n < 15)
        tw_byte(w, (uint8_t)(n << 4 | (size_t)etype));
    else {
        tw_byte(w, (uint8_t)(0xF0 | etype));
        tw_varint(w, n);
    }
}

typedef struct tpage {
    int type; /* 0 v1 data, 2 dictionary, 3 v2 data */
    int32_t num_values, num_nulls;
    int encoding;
    int32_t def_len; /* v2 */
    const uint8_t *body;
    size_t len;
} tpage;

typedef struct tchunk {
    int type;
    const char *path;
    tpage pages[2];
    size_t npages;
    int64_t num_values;
    /* filled by the writer */
    int64_t start, data_off, dict_off, size;
} tchunk;

static void write_page(dbuf *f, const tpage *p) {
    tw w = {.b = f};
    tw_i32(&w, 1, p->type);
    tw_i32(&w, 2, (int64_t)p->len);
    tw_i32(&w, 3, (int64_t)p->len);
    if (p->type == 0) {
        tw_begin(&w, 5);
        tw_i32(&w, 1, p->num_values);
        tw_i32(&w, 2, p->encoding);
        tw_i32(&w, 3, 3);
        tw_i32(&w, 4, 3);
        tw_end(&w);
    } else if (p->type == 2) {
        tw_begin(&w, 7);
        tw_i32(&w, 1, p->num_values);
        tw_i32(&w, 2, p->encoding);
        tw_end(&w);
    } else {
        tw_begin(&w, 8);
        tw_i32(&w, 1, p->num_values);
        tw_i32(&w, 2, p->num_nulls);
        tw_i32(&w, 3, p->num_values);
        tw_i32(&w, 4, p->encoding);
        tw_i32(&w, 5, p->def_len);
        tw_i32(&w, 6, 0);
        tw_bool(&w, 7, false);
        tw_end(&w);
    }
    tw_byte(&w, 0);
    assert_int_equal(dbuf_append(f, p->body, p->len), CEL_OK);
}

/* Writes "PAR1", the chunks of each row group (rgs groups of nleaves chunks), the
 * footer from schema_fn, and the tail. */
static void write_file(dbuf *f, tchunk *chunks, size_t nleaves, size_t rgs, const int64_t *rows,
                       void (*schema_fn)(tw *)) {
    assert_int_equal(dbuf_append(f, "PAR1", 4), CEL_OK);
    for (size_t k = 0; k < nleaves * rgs; k++) {
        tchunk *c = &chunks[k];
        c->start = (int64_t)f->len;
        c->dict_off = -1;
        for (size_t p = 0; p < c->npages; p++) {
            if (c->pages[p].type == 2)
                c->dict_off = (int64_t)f->len;
            else if (p == 0 || c->pages[p - 1].type == 2)
                c->data_off = (int64_t)f->len;
            write_page(f, &c->pages[p]);
        }
        c->size = (int64_t)f->len - c->start;
    }
    size_t foot = f->len;
    tw w = {.b = f};
    int64_t total = 0;
    for (size_t g = 0; g < rgs; g++)
        total += rows[g];
    tw_i32(&w, 1, 1);
    schema_fn(&w);
    tw_i64(&w, 3, total);
    tw_list(&w, 4, 12, rgs);
    for (size_t g = 0; g < rgs; g++) {
        tw_begin(&w, 0);
        tw_list(&w, 1, 12, nleaves);
        for (size_t k = 0; k < nleaves; k++) {
            tchunk *c = &chunks[g * nleaves + k];
            tw_begin(&w, 0);
            tw_i64(&w, 2, c->start);
            tw_begin(&w, 3);
            tw_i32(&w, 1, c->type);
            tw_list(&w, 2, 5, 1);
            tw_varint(&w, zz(0));
            tw_list(&w, 3, 8, 1);
            tw_varint(&w, strlen(c->path));
            assert_int_equal(dbuf_append(f, c->path, strlen(c->path)), CEL_OK);
            tw_i32(&w, 4, 0);
            tw_i64(&w, 5, c->num_values);
            tw_i64(&w, 6, c->size);
            tw_i64(&w, 7, c->size);
            tw_i64(&w, 9, c->data_off);
            if (c->dict_off >= 0)
                tw_i64(&w, 11, c->dict_off);
            tw_end(&w);
            tw_end(&w);
        }
        tw_i64(&w, 2, 100);
        tw_i64(&w, 3, rows[g]);
        tw_end(&w);
    }
    tw_str(&w, 6, "celeriac unit test");
    tw_byte(&w, 0);
    uint32_t flen = (uint32_t)(f->len - foot);
    uint8_t tail[8] = {(uint8_t)flen,
                       (uint8_t)(flen >> 8),
                       (uint8_t)(flen >> 16),
                       (uint8_t)(flen >> 24),
                       'P',
                       'A',
                       'R',
                       '1'};
    assert_int_equal(dbuf_append(f, tail, 8), CEL_OK);
}

static void el(tw *w, const char *name, int type, int rep, int children, int converted) {
    tw_begin(w, 0);
    if (type >= 0)
        tw_i32(w, 1, type);
    if (rep >= 0)
        tw_i32(w, 3, rep);
    tw_str(w, 4, name);
    if (children)
        tw_i32(w, 5, children);
    if (converted >= 0)
        tw_i32(w, 6, converted);
}

static void rich_schema(tw *w) {
    tw_list(w, 2, 12, 7);
    el(w, "schema", -1, -1, 5, -1);
    tw_end(w);
    el(w, "id", PARQ_INT64, PARQ_REQUIRED, 0, -1);
    tw_end(w);
    el(w, "name", PARQ_BYTE_ARRAY, PARQ_OPTIONAL, 0, PARQ_CT_UTF8);
    tw_end(w);
    el(w, "day", PARQ_INT32, PARQ_OPTIONAL, 0, PARQ_CT_DATE);
    tw_end(w);
    el(w, "nest", -1, PARQ_REQUIRED, 1, -1);
    tw_end(w);
    el(w, "x", PARQ_INT32, PARQ_REQUIRED, 0, -1);
    tw_end(w);
    el(w, "ts", PARQ_INT64, PARQ_OPTIONAL, 0, -1);
    tw_begin(w, 10); /* logicalType */
    tw_begin(w, 8);  /* TIMESTAMP */
    tw_bool(w, 1, true);
    tw_begin(w, 2); /* unit */
    tw_begin(w, 2); /* MICROS */
    tw_end(w);
    tw_end(w);
    tw_end(w);
    tw_end(w);
    tw_end(w);
}

/* Packs n values of width bw LSB first into out. */
static void pack_lsb(const uint64_t *v, size_t n, int bw, uint8_t *out) {
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < bw; b++, pos++)
            if ((v[i] >> b) & 1)
                out[pos >> 3] |= (uint8_t)(1u << (pos & 7));
}

/* The rich file: 3 rows; id INT64 PLAIN; name STRING dictionary with a null (v1);
 * day DATE with a null (v2 page); nest a struct (unsupported); ts TIMESTAMP(us, UTC)
 * DELTA_BINARY_PACKED (v1). */
static void build_rich(dbuf *f) {
    static uint8_t id_body[24];
    for (int k = 0; k < 3; k++)
        id_body[k * 8] = (uint8_t)(k + 1);
    static const uint8_t dict_body[] = {1, 0,   0,    0,    'x', 6,   0,  0,
                                        0, 'h', 0xC3, 0xA9, 'l', 'l', 'o'};
    static const uint8_t name_body[] = {2, 0, 0, 0, 0x03, 0x05, 1, 0x03, 0x01};
    static const uint8_t day_body[] = {0x03, 0x03, 0x38, 0x4A, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};
    static uint8_t x_body[12];
    static uint8_t ts_body[6 + 5 + 4 + 4 + 88];
    memset(ts_body, 0, sizeof ts_body);
    static const uint8_t ts_head[] = {2, 0, 0, 0, 0x06, 0x01, 0x80, 0x01, 0x04, 0x03, 0x00};
    memcpy(ts_body, ts_head, sizeof ts_head);
    size_t at = sizeof ts_head;
    uint64_t md = zz(-1500001);
    while (md >= 0x80) {
        ts_body[at++] = (uint8_t)(md | 0x80);
        md >>= 7;
    }
    ts_body[at++] = (uint8_t)md;
    ts_body[at++] = 22;
    at += 3;
    static const uint64_t adj[] = {3000001, 0};
    pack_lsb(adj, 2, 22, ts_body + at);
    at += 88;
    tchunk chunks[5] = {
        {.type = PARQ_INT64,
         .path = "id",
         .npages = 1,
         .num_values = 3,
         .pages = {{.type = 0, .num_values = 3, .body = id_body, .len = sizeof id_body}}},
        {.type = PARQ_BYTE_ARRAY,
         .path = "name",
         .npages = 2,
         .num_values = 3,
         .pages = {{.type = 2, .num_values = 2, .body = dict_body, .len = sizeof dict_body},
                   {.type = 0,
                    .num_values = 3,
                    .encoding = PARQ_ENC_PLAIN_DICTIONARY,
                    .body = name_body,
                    .len = sizeof name_body}}},
        {.type = PARQ_INT32,
         .path = "day",
         .npages = 1,
         .num_values = 3,
         .pages = {{.type = 3,
                    .num_values = 3,
                    .num_nulls = 1,
                    .def_len = 2,
                    .body = day_body,
                    .len = sizeof day_body}}},
        {.type = PARQ_INT32,
         .path = "x",
         .npages = 1,
         .num_values = 3,
         .pages = {{.type = 0, .num_values = 3, .body = x_body, .len = sizeof x_body}}},
        {.type = PARQ_INT64,
         .path = "ts",
         .npages = 1,
         .num_values = 3,
         .pages = {{.type = 0,
                    .num_values = 3,
                    .encoding = PARQ_ENC_DELTA_BINARY_PACKED,
                    .body = ts_body,
                    .len = at}}},
    };
    int64_t rows[1] = {3};
    write_file(f, chunks, 5, 1, rows, rich_schema);
}

static const char rich_expected[] =
    "{\"columns\":[{\"name\":\"id\",\"type\":\"int64\",\"table_type\":\"integer\","
    "\"supported\":true},{\"name\":\"name\",\"type\":\"string\",\"table_type\":\"string\","
    "\"supported\":true},{\"name\":\"day\",\"type\":\"date\",\"table_type\":\"date\","
    "\"supported\":true},{\"name\":\"nest\",\"type\":\"struct\",\"table_type\":\"any\","
    "\"supported\":false},{\"name\":\"ts\",\"type\":\"timestamp(us, UTC)\","
    "\"table_type\":\"datetime\",\"supported\":true}]}\n"
    "[[\"int\",\"1\"],[\"str\",\"h\xC3\xA9llo\"],[\"temporal\",\"2022-01-08\"],null,"
    "[\"temporal\",\"1970-01-01T00:00:00Z\"]]\n"
    "[[\"int\",\"2\"],null,[\"temporal\",\"1969-12-31\"],null,"
    "[\"temporal\",\"1970-01-01T00:00:01.500Z\"]]\n"
    "[[\"int\",\"3\"],[\"str\",\"x\"],null,null,"
    "[\"temporal\",\"1969-12-31T23:59:59.999999Z\"]]\n";

static void test_file_rich(void **state) {
    (void)state;
    dbuf f;
    dbuf_init(&f, 0);
    build_rich(&f);
    dbuf out;
    cel_error err;
    cel_error_clear(&err);
    cel_status st = dump_bytes((const uint8_t *)f.data, f.len, "rich.parquet", &out, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(out.data, rich_expected);
    dbuf_free(&out);
    /* outside callbacks there is no current column list */
    size_t n = 7;
    assert_null(parquet_current_columns(&n));
    assert_int_equal(n, 0);
    /* the schema alone */
    mem_src m = {.data = (const uint8_t *)f.data, .len = f.len};
    cel_source src = {.ud = &m, .name = "rich", .size = (int64_t)f.len, .read_at = mem_read_at};
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    cel_reader_opts_defaults(&o);
    parquet_schema *s = NULL;
    assert_int_equal(parquet_read_schema(&src, &o, &s, &err), CEL_OK);
    const parquet_column_info *ci = parquet_schema_columns(s, &n);
    assert_int_equal(n, 5);
    assert_string_equal(ci[3].name, "nest");
    assert_false(ci[3].supported);
    assert_non_null(strstr(ci[3].why, "nested"));
    assert_string_equal(ci[4].type, "timestamp(us, UTC)");
    assert_int_equal(parquet_schema_rows(s), 3);
    assert_int_equal(parquet_schema_row_groups(s), 1);
    parquet_schema_free(s);
    /* through cel_read_source with format detection from the content */
    o.format = CEL_FMT_AUTO;
    dump_sink d;
    memset(&d, 0, sizeof d);
    dbuf_init(&d.out, 0);
    cel_row_sink sink = {.ud = &d, .on_columns = dump_columns, .on_row = dump_row};
    src.name = "noext";
    src.stream = mem_stream;
    cel_format used = CEL_FMT_AUTO;
    st = cel_read_source(&src, &o, &sink, &used, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(used, CEL_FMT_PARQUET);
    assert_string_equal(d.out.data, rich_expected);
    dbuf_free(&d.out);
    dbuf_free(&f);
}

static void groups_schema(tw *w) {
    tw_list(w, 2, 12, 4);
    el(w, "root", -1, -1, 3, -1);
    tw_end(w);
    el(w, "v", PARQ_INT32, PARQ_REQUIRED, 0, PARQ_CT_UINT_32);
    tw_end(w);
    el(w, "d", PARQ_DOUBLE, PARQ_OPTIONAL, 0, -1);
    tw_end(w);
    el(w, "b", PARQ_BOOLEAN, PARQ_REQUIRED, 0, -1);
    tw_end(w);
}

/* Two row groups (2 rows, 1 row): v UINT_32 PLAIN; d DOUBLE BYTE_STREAM_SPLIT then
 * PLAIN with a null; b BOOLEAN RLE then PLAIN. */
static void build_groups(dbuf *f) {
    static const uint8_t v1[] = {10, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};
    static const uint8_t v2[] = {30, 0, 0, 0};
    /* 1.5 = 3FF8000000000000, -0.25 = BFD0000000000000, split into 8 streams of 2 */
    static const uint8_t d1[] = {2, 0, 0, 0, 0x06, 0x01, 0, 0,    0,    0,    0,
                                 0, 0, 0, 0, 0,    0,    0, 0xF8, 0xD0, 0x3F, 0xBF};
    static const uint8_t d2[] = {2, 0, 0, 0, 0x03, 0x00};
    static const uint8_t b1[] = {2, 0, 0, 0, 0x03, 0x02};
    static const uint8_t b2[] = {0x01};
    tchunk chunks[6] = {
        {.type = PARQ_INT32,
         .path = "v",
         .npages = 1,
         .num_values = 2,
         .pages = {{.type = 0, .num_values = 2, .body = v1, .len = sizeof v1}}},
        {.type = PARQ_DOUBLE,
         .path = "d",
         .npages = 1,
         .num_values = 2,
         .pages = {{.type = 0,
                    .num_values = 2,
                    .encoding = PARQ_ENC_BYTE_STREAM_SPLIT,
                    .body = d1,
                    .len = sizeof d1}}},
        {.type = PARQ_BOOLEAN,
         .path = "b",
         .npages = 1,
         .num_values = 2,
         .pages = {{.type = 0,
                    .num_values = 2,
                    .encoding = PARQ_ENC_RLE,
                    .body = b1,
                    .len = sizeof b1}}},
        {.type = PARQ_INT32,
         .path = "v",
         .npages = 1,
         .num_values = 1,
         .pages = {{.type = 0, .num_values = 1, .body = v2, .len = sizeof v2}}},
        {.type = PARQ_DOUBLE,
         .path = "d",
         .npages = 1,
         .num_values = 1,
         .pages = {{.type = 0, .num_values = 1, .body = d2, .len = sizeof d2}}},
        {.type = PARQ_BOOLEAN,
         .path = "b",
         .npages = 1,
         .num_values = 1,
         .pages = {{.type = 0, .num_values = 1, .body = b2, .len = sizeof b2}}},
    };
    int64_t rows[2] = {2, 1};
    write_file(f, chunks, 3, 2, rows, groups_schema);
}

static const char groups_expected[] =
    "{\"columns\":[{\"name\":\"v\",\"type\":\"uint32\",\"table_type\":\"integer\","
    "\"supported\":true},{\"name\":\"d\",\"type\":\"double\",\"table_type\":\"number\","
    "\"supported\":true},{\"name\":\"b\",\"type\":\"boolean\",\"table_type\":\"boolean\","
    "\"supported\":true}]}\n"
    "[[\"int\",\"10\"],[\"double\",\"1.5\"],[\"bool\",\"false\"]]\n"
    "[[\"int\",\"4294967295\"],[\"double\",\"-0.25\"],[\"bool\",\"true\"]]\n"
    "[[\"int\",\"30\"],null,[\"bool\",\"true\"]]\n";

static void test_file_row_groups(void **state) {
    (void)state;
    dbuf f;
    dbuf_init(&f, 0);
    build_groups(&f);
    dbuf out;
    cel_error err;
    cel_error_clear(&err);
    cel_status st = dump_bytes((const uint8_t *)f.data, f.len, "groups.parquet", &out, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(out.data, groups_expected);
    dbuf_free(&out);
    /* Access pattern of a small file: the tail window (here the whole file), then one
     * ranged read per row group (its chunks are adjacent). */
    mem_src m = {.data = (const uint8_t *)f.data, .len = f.len};
    cel_source src = {.ud = &m, .name = "g", .size = (int64_t)f.len, .read_at = mem_read_at};
    dump_sink d;
    memset(&d, 0, sizeof d);
    dbuf_init(&d.out, 0);
    cel_row_sink sink = {.ud = &d, .on_columns = dump_columns, .on_row = dump_row};
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    cel_reader_opts_defaults(&o);
    assert_int_equal(parquet_read_source(&src, &o, &sink, &err), CEL_OK);
    assert_int_equal(m.reads, 3);
    dbuf_free(&d.out);
    dbuf_free(&f);
}

static void big_schema(tw *w) {
    tw_list(w, 2, 12, 2);
    el(w, "root", -1, -1, 1, -1);
    tw_end(w);
    el(w, "n", PARQ_INT64, PARQ_REQUIRED, 0, -1);
    tw_end(w);
}

/* Three row groups of 20000 PLAIN INT64 values (160 KB each): reads are the tail
 * window, the start magic, then one per row group; never the whole file. */
static void test_file_bounded_reads(void **state) {
    (void)state;
    enum { N = 20000, G = 3 };
    uint8_t *body = malloc((size_t)N * 8 * G);
    assert_non_null(body);
    for (size_t k = 0; k < (size_t)N * G; k++)
        for (int b = 0; b < 8; b++)
            body[k * 8 + (size_t)b] = (uint8_t)((uint64_t)k >> (8 * b));
    tchunk chunks[G];
    int64_t rows[G];
    for (int g = 0; g < G; g++) {
        chunks[g] = (tchunk){.type = PARQ_INT64, .path = "n", .npages = 1, .num_values = N};
        chunks[g].pages[0] =
            (tpage){.type = 0, .num_values = N, .body = body + (size_t)g * N * 8, .len = N * 8};
        rows[g] = N;
    }
    dbuf f;
    dbuf_init(&f, 0);
    write_file(&f, chunks, 1, G, rows, big_schema);
    mem_src m = {.data = (const uint8_t *)f.data, .len = f.len};
    cel_source src = {.ud = &m, .name = "big", .size = (int64_t)f.len, .read_at = mem_read_at};
    dump_sink d;
    memset(&d, 0, sizeof d);
    dbuf_init(&d.out, 0);
    cel_row_sink sink = {.ud = &d, .on_columns = dump_columns, .on_row = dump_row};
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    cel_reader_opts_defaults(&o);
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(parquet_read_source(&src, &o, &sink, &err), CEL_OK);
    assert_int_equal(d.rows, (uint64_t)N * G);
    assert_non_null(strstr(d.out.data, "\n[[\"int\",\"59999\"]]\n"));
    assert_int_equal(m.reads, 2 + G);
    assert_true(m.biggest <= (size_t)N * 8 + 64);
    /* a chunk above max_page_bytes is refused before it is read */
    o.max_page_bytes = 100000;
    m.reads = 0;
    cel_error_clear(&err);
    assert_int_equal(parquet_read_source(&src, &o, &sink, &err), CEL_ELIMIT);
    assert_non_null(strstr(err.msg, "column chunk"));
    assert_int_equal(m.reads, 2);
    dbuf_free(&d.out);
    dbuf_free(&f);
    free(body);
}

/* Every truncation and every single-bit flip of a file: CEL_OK or a clean error
 * with a message (ASan/UBSan watch the rest). */
static void mutate_all(const dbuf *f) {
    uint8_t *b = malloc(f->len);
    assert_non_null(b);
    size_t ok = 0, failed = 0;
    for (size_t n = 0; n < f->len; n++) {
        dbuf out;
        cel_error err;
        cel_error_clear(&err);
        cel_status st = dump_bytes((const uint8_t *)f->data, n, "cut", &out, &err);
        assert_int_not_equal(st, CEL_OK);
        assert_true(err.msg[0] != '\0');
        dbuf_free(&out);
    }
    for (size_t k = 0; k < f->len * 8; k++) {
        memcpy(b, f->data, f->len);
        b[k / 8] ^= (uint8_t)(1u << (k % 8));
        dbuf out;
        cel_error err;
        cel_error_clear(&err);
        cel_status st = dump_bytes(b, f->len, "flip", &out, &err);
        if (st == CEL_OK) {
            ok++;
        } else {
            failed++;
            if (err.msg[0] == '\0')
                fail_msg("bit %zu: status %d without a message", k, st);
        }
        dbuf_free(&out);
    }
    assert_true(failed > 0);
    free(b);
}

static void test_mutations(void **state) {
    (void)state;
    dbuf f;
    dbuf_init(&f, 0);
    build_rich(&f);
    mutate_all(&f);
    dbuf_reset(&f);
    build_groups(&f);
    mutate_all(&f);
    dbuf_free(&f);
}

typedef struct stop_sink {
    int rows;
} stop_sink;

static cel_status stop_row(void *ud, uint64_t rn, uint64_t line, size_t n, const cel_value *v,
                           cel_error *err) {
    (void)line;
    (void)n;
    (void)v;
    stop_sink *s = ud;
    s->rows++;
    size_t ni;
    assert_non_null(parquet_current_columns(&ni));
    assert_int_equal(ni, 3);
    if (rn == 2)
        return cel_fail(err, CEL_EDB, "sink says no at row %llu", (unsigned long long)rn);
    return CEL_OK;
}

static void test_limits_and_errors(void **state) {
    (void)state;
    dbuf f;
    dbuf_init(&f, 0);
    build_groups(&f);
    mem_src m = {.data = (const uint8_t *)f.data, .len = f.len};
    cel_source src = {
        .ud = &m, .name = "g.parquet", .size = (int64_t)f.len, .read_at = mem_read_at};
    stop_sink ss = {0};
    cel_row_sink sink = {.ud = &ss, .on_row = stop_row};
    cel_reader_opts o;
    cel_error err;

    /* the sink's failure and message come back */
    memset(&o, 0, sizeof o);
    cel_reader_opts_defaults(&o);
    cel_error_clear(&err);
    assert_int_equal(parquet_read_source(&src, &o, &sink, &err), CEL_EDB);
    assert_string_equal(err.msg, "sink says no at row 2");
    assert_int_equal(ss.rows, 2);

    /* max_columns */
    o.max_columns = 2;
    cel_error_clear(&err);
    assert_int_equal(parquet_read_source(&src, &o, &sink, &err), CEL_ELIMIT);
    assert_non_null(strstr(err.msg, "max_columns"));

    /* max_page_bytes below the footer size */
    memset(&o, 0, sizeof o);
    o.max_page_bytes = 40;
    cel_reader_opts_defaults(&o);
    cel_error_clear(&err);
    assert_int_equal(parquet_read_source(&src, &o, &sink, &err), CEL_ELIMIT);
    assert_non_null(strstr(err.msg, "max_page_bytes"));

    /* a pure stream cannot be read */
    memset(&o, 0, sizeof o);
    cel_reader_opts_defaults(&o);
    cel_source stream = src;
    stream.read_at = NULL;
    stream.size = -1;
    cel_error_clear(&err);
    assert_int_equal(parquet_read_source(&stream, &o, &sink, &err), CEL_EUNSUPPORTED);

    /* an encrypted footer */
    uint8_t *enc = malloc(f.len);
    memcpy(enc, f.data, f.len);
    memcpy(enc + f.len - 4, "PARE", 4);
    mem_src me = {.data = enc, .len = f.len};
    cel_source esrc = {
        .ud = &me, .name = "e.parquet", .size = (int64_t)f.len, .read_at = mem_read_at};
    cel_error_clear(&err);
    assert_int_equal(parquet_read_source(&esrc, &o, &sink, &err), CEL_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "encrypted"));
    /* not Parquet at all */
    memcpy(enc + f.len - 4, "PAR2", 4);
    cel_error_clear(&err);
    assert_int_equal(parquet_read_source(&esrc, &o, &sink, &err), CEL_EPARSE);
    free(enc);
    dbuf_free(&f);
}

/* ---------------------------------------------------------------- parquet-testing bad_data */

static void test_shared_bad_data(void **state) {
    (void)state;
    const char *srcdir = getenv("CELERIAC_SOURCE_DIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/../shared/data/parquet-testing/bad_data",
             srcdir ? srcdir : CELERIAC_SOURCE_DIR);
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "SKIPPED: %s is absent (../shared not present)\n", dir);
        skip();
    }
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl < 8 || strcmp(e->d_name + nl - 8, ".parquet") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *data = slurp(path, &len);
        assert_non_null(data);
        dbuf out;
        cel_error err;
        cel_error_clear(&err);
        cel_status st = dump_bytes(data, len, e->d_name, &out, &err);
        /* ARROW-GH-43605 is valid; the nested-only ones are never read (no error). */
        if (st != CEL_OK)
            assert_true(err.msg[0] != '\0');
        files++;
        dbuf_free(&out);
        free(data);
    }
    closedir(d);
    assert_true(files >= 8);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0)
        return dump_main(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) {
        /* The in-memory files as fuzz seeds (tests/fuzz/corpus/parquet/). */
        void (*builders[2])(dbuf *) = {build_rich, build_groups};
        const char *names[2] = {"rich.parquet", "groups.parquet"};
        for (int k = 0; k < 2; k++) {
            dbuf f;
            dbuf_init(&f, 0);
            builders[k](&f);
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[2], names[k]);
            FILE *fp = fopen(path, "wb");
            if (fp == NULL || fwrite(f.data, 1, f.len, fp) != f.len || fclose(fp) != 0)
                return 1;
            dbuf_free(&f);
        }
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--has-codecs") == 0) {
#if defined(CELERIAC_HAVE_CODECS)
        return 0;
#else
        return 1;
#endif
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_snappy),
        cmocka_unit_test(test_lz4),
        cmocka_unit_test(test_rle_hybrid),
        cmocka_unit_test(test_delta),
        cmocka_unit_test(test_number_text),
        cmocka_unit_test(test_file_rich),
        cmocka_unit_test(test_file_row_groups),
        cmocka_unit_test(test_file_bounded_reads),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_limits_and_errors),
        cmocka_unit_test(test_shared_bad_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
