/*
 * fuzz_parquet.c: libFuzzer harness for the Parquet reader. Seeds:
 * tests/fuzz/corpus/parquet/ (small files written by DuckDB with every codec and
 * page version, and the hand-built files of tests/unit/test_parquet.c).
 *
 * The whole input is one Parquet object behind a memory cel_source (ranged reads
 * outside it fail like a short S3 object would). It is read three ways:
 * parquet_read_schema (footer only), parquet_read_source with default bounds, and
 * again with tiny bounds (max_page_bytes 4 KiB, max_field_bytes 16, max_columns 4)
 * so the limit paths run. The sink checks the reader contract (ncols matches
 * on_columns, row numbers count up, a typed value has text, INT text equals i,
 * parquet_current_columns agrees with ncols) and stops after 20000 rows so a tiny
 * file that legitimately encodes millions of nulls cannot stall the fuzzer. Any
 * failure must carry a message. A violation aborts.
 *
 * Not here: comparisons against other readers (tests/e2e/test_parquet.py).
 */
#include "celeriac/reader.h"
#include "formats/parquet.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX_ROWS 20000

typedef struct fz_src {
    const uint8_t *data;
    size_t len;
} fz_src;

static cel_status fz_read_at(void *ud, uint64_t off, size_t len, void *buf, cel_error *err) {
    fz_src *m = ud;
    if (off > m->len || len > m->len - off)
        return cel_fail(err, CEL_EIO, "read beyond the end");
    memcpy(buf, m->data + off, len);
    return CEL_OK;
}

typedef struct fz_sink {
    size_t ncols;
    uint64_t rows;
    int columns_seen;
} fz_sink;

static void fz_die(const char *what) {
    fprintf(stderr, "contract violation: %s\n", what);
    abort();
}

static cel_status fz_columns(void *ud, size_t n, const char *const *names, cel_error *err) {
    (void)err;
    fz_sink *s = ud;
    size_t ni = 99;
    const parquet_column_info *info = parquet_current_columns(&ni);
    if (info == NULL || ni != n)
        fz_die("parquet_current_columns disagrees with on_columns");
    for (size_t i = 0; i < n; i++) {
        if (names[i] == NULL || strcmp(names[i], info[i].name) != 0)
            fz_die("column names differ");
        if (!info[i].supported && (info[i].why == NULL || info[i].why[0] == '\0'))
            fz_die("unsupported column without a reason");
    }
    s->ncols = n;
    s->columns_seen = 1;
    return CEL_OK;
}

static cel_status fz_row(void *ud, uint64_t rn, uint64_t line, size_t n, const cel_value *v,
                         cel_error *err) {
    (void)line;
    fz_sink *s = ud;
    if (!s->columns_seen || n != s->ncols)
        fz_die("on_row ncols differs from on_columns");
    if (rn != s->rows + 1)
        fz_die("row numbers do not count up");
    s->rows = rn;
    for (size_t i = 0; i < n; i++) {
        const cel_value *x = &v[i];
        if (x->kind == CEL_V_NULL)
            continue;
        if (x->s == NULL && x->len > 0)
            fz_die("value without text");
        if (x->kind == CEL_V_INT) {
            char tmp[64];
            if (x->len == 0 || x->len >= sizeof tmp)
                fz_die("INT text length");
            memcpy(tmp, x->s, x->len);
            tmp[x->len] = '\0';
            if (strtoll(tmp, NULL, 10) != x->i)
                fz_die("INT text disagrees with i");
        }
        if (x->kind == CEL_V_TEMPORAL && x->len == 0)
            fz_die("empty temporal text");
    }
    if (rn >= FZ_MAX_ROWS)
        return cel_fail(err, CEL_ELIMIT, "fuzz row cap");
    return CEL_OK;
}

static void fz_read(const cel_source *src, const cel_reader_opts *o) {
    fz_sink s;
    memset(&s, 0, sizeof s);
    cel_row_sink sink = {.ud = &s, .on_columns = fz_columns, .on_row = fz_row};
    cel_error err;
    cel_error_clear(&err);
    cel_status st = parquet_read_source(src, o, &sink, &err);
    if (st != CEL_OK && err.msg[0] == '\0')
        fz_die("failure without a message");
    if (parquet_current_columns(NULL) != NULL)
        fz_die("current columns left behind");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_src m = {.data = data, .len = size};
    cel_source src = {
        .ud = &m, .name = "fuzz.parquet", .size = (int64_t)size, .read_at = fz_read_at};
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    o.max_page_bytes = 64u << 20;
    cel_reader_opts_defaults(&o);

    cel_error err;
    cel_error_clear(&err);
    parquet_schema *schema = NULL;
    cel_status st = parquet_read_schema(&src, &o, &schema, &err);
    if (st != CEL_OK && err.msg[0] == '\0')
        fz_die("schema failure without a message");
    parquet_schema_free(schema);

    fz_read(&src, &o);

    memset(&o, 0, sizeof o);
    o.max_page_bytes = 4096;
    o.max_field_bytes = 16;
    o.max_columns = 4;
    cel_reader_opts_defaults(&o);
    fz_read(&src, &o);
    return 0;
}
