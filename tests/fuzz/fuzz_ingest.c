/*
 * fuzz_ingest.c: libFuzzer harness for the ingest row loader (tasks/ingest_row.c) behind a
 * real stream reader, plus the key glob and the target-type checks.
 *
 * Input: byte 0 picks the format (even: CSV, odd: NDJSON) and how the bytes are split into
 * feeds; the rest is the file. The strategy is fixed and uses every normalization path
 * (date pattern, trueValues, decimal/group characters, datetime "any", enum, pattern,
 * bounds) against typed target columns (integer, numeric(6,2), varchar(8), boolean, date).
 * Checked for every input: the COPY text has exactly one line per row the reader
 * delivered, every line has 4 + nstage tab-separated fields, a valid row's values never
 * contain a raw tab/newline, and the reject count matches the lines with a reason. The
 * same bytes also go through ing_glob_match (pattern | key split at the first '|') and
 * ing_pg_accepts for each type (the bound checks must never crash or read out of bounds).
 *
 * Not here: the database (the COPY text is checked structurally, not loaded).
 */
#include "celeriac/stream_reader.h"
#include "tasks/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *k_strategy =
    "{\"strategies\": [{\"name\": \"fz\", \"key_pattern\": \"**\", \"schema\": {\"fields\": ["
    " {\"name\": \"id\", \"type\": \"integer\", \"constraints\": {\"required\": true}},"
    " {\"name\": \"amt\", \"type\": \"number\", \"decimalChar\": \",\", \"groupChar\": \".\","
    "  \"constraints\": {\"minimum\": -100}},"
    " {\"name\": \"code\", \"type\": \"string\", \"constraints\": {\"pattern\": \"[A-Z]{1,8}\"}},"
    " {\"name\": \"ok\", \"type\": \"boolean\", \"trueValues\": [\"Y\", \"1\"], "
    "\"falseValues\": [\"N\", \"0\"]},"
    " {\"name\": \"day\", \"type\": \"date\", \"format\": \"%d/%m/%Y\"},"
    " {\"name\": \"at\", \"type\": \"datetime\", \"format\": \"any\"},"
    " {\"name\": \"kind\", \"type\": \"string\", \"constraints\": {\"enum\": [\"a\", \"b\"]}},"
    " {\"name\": \"tags\", \"type\": \"array\"}], \"primaryKey\": [\"id\"]},"
    " \"target\": {\"table\": \"t\", \"columns\": {\"id\": \"id\", \"amt\": \"amt\", \"code\": "
    "\"code\", \"ok\": \"ok\", \"day\": \"day\", \"at\": \"at\", \"kind\": \"kind\", \"tags\": "
    "\"tags\", \"k\": \"$key\", \"ln\": \"$line\"},"
    " \"conflict_key\": [\"id\"], \"on_new_version\": \"keep\"}, \"reject_threshold\": 1}]}";

static const char *k_types[] = {"integer", "numeric(6,2)", "character varying(8)",
                                "boolean", "date",         "timestamp with time zone",
                                "text",    "jsonb",        "text",
                                "bigint"};

static ing_strategies *g_s;
static ing_pgtype g_t[10];

typedef struct sink_state {
    dbuf out;
    bool overflow;
} sink_state;

static cel_status collect(void *ud, const char *d, size_t n, cel_error *err) {
    sink_state *s = ud;
    (void)err;
    if (dbuf_append(&s->out, d, n) != CEL_OK)
        s->overflow = true; /* very large inputs: stop checking, keep loading */
    return CEL_OK;
}

static void setup(void) {
    json_t *root = json_loads(k_strategy, 0, NULL);
    cel_error err = {0};
    if (!root || ing_strategies_parse(root, &g_s, &err) != CEL_OK) {
        fprintf(stderr, "fuzz_ingest: strategy: %s\n", err.msg);
        abort();
    }
    json_decref(root);
    for (size_t i = 0; i < 10; i++)
        if (ing_pgtype_parse(k_types[i], NULL, false, &g_t[i], &err) != CEL_OK)
            abort();
}

static void check_copy(const sink_state *s, uint64_t rows, uint64_t rejected, size_t nstage) {
    if (s->overflow)
        return;
    uint64_t lines = 0, with_reason = 0;
    const char *p = s->out.data ? s->out.data : "";
    const char *end = p + s->out.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            abort(); /* every line ends with a newline */
        size_t fields = 1;
        for (const char *q = p; q < nl; q++)
            fields += *q == '\t';
        if (fields != 4 + nstage)
            abort();
        const char *t1 = memchr(p, '\t', (size_t)(nl - p));
        const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
        if (!t2)
            abort();
        if (!(t2[1] == '\\' && t2[2] == 'N'))
            with_reason++;
        lines++;
        p = nl + 1;
    }
    if (lines != rows || with_reason != rejected)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_s)
        setup();
    if (size < 1)
        return 0;
    cel_format fmt = (data[0] & 1) ? CEL_FMT_NDJSON : CEL_FMT_CSV;
    size_t step = 1 + (data[0] >> 1);
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    const ing_strategy *st = &g_s->v[0];

    sink_state s = {0};
    dbuf_init(&s.out, 1u << 24);
    ing_loader *l = NULL;
    cel_error err = {0};
    if (ing_loader_new(st, g_t, collect, &s, &l, &err) != CEL_OK)
        abort();
    cel_row_sink sink = ing_loader_sink(l);
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    o.header = -1;
    o.max_line_bytes = 1u << 16;
    o.max_field_bytes = 1u << 14;
    o.max_columns = 64;
    cel_stream_reader *r = NULL;
    if (cel_stream_reader_new(fmt, &o, &sink, &r, &err) != CEL_OK)
        abort();
    cel_status rc = CEL_OK;
    for (size_t off = 0; off < n && rc == CEL_OK; off += step) {
        size_t len = n - off < step ? n - off : step;
        rc = cel_stream_reader_feed(r, in + off, len, &err);
    }
    if (rc == CEL_OK)
        rc = cel_stream_reader_finish(r, &err);
    if (rc == CEL_OK && ing_loader_flush(l, &err) == CEL_OK)
        check_copy(&s, ing_loader_rows(l), ing_loader_rejected(l), st->nstage);
    cel_stream_reader_free(r);
    ing_loader_free(l);
    dbuf_free(&s.out);

    /* glob: "pattern|key" from the same bytes (NUL-terminated copies) */
    char *text = malloc(n + 1);
    if (!text)
        return 0;
    memcpy(text, in, n);
    text[n] = '\0';
    char *bar = strchr(text, '|');
    if (bar) {
        *bar = '\0';
        (void)ing_glob_match(text, bar + 1);
    }
    char why[160];
    for (size_t i = 0; i < 10; i++)
        (void)ing_pg_accepts(&g_t[i], (const char *)in, n, why, sizeof why);
    free(text);
    return 0;
}
