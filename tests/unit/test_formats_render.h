/*
 * test_formats_render.h: a row sink that renders what a reader delivers as text,
 * shared by the formats tests (test_formats.c, test_formats_corpus.c) and the
 * fuzz harnesses.
 *
 * Rendering (one line per event; the corpus .expected files use it):
 *   columns N: "a" "b" ...
 *   row R line L: text "x" | absent | null | str "s" | int 5 | double 0.1 | bool true | json [1]
 *   ... +extra K "first extra cell"           (CSV rows with cells beyond the header)
 * Text in quotes escapes \ " and bytes < 0x20 / 0x7F as \n \r \t or \xHH.
 * The sink also checks the reader contract (ncols matches the latest on_columns,
 * names only grow, row numbers count up, INT/DOUBLE/BOOL text agrees with i/d)
 * and records a violation in `contract`, which the tests assert is empty.
 *
 * Not here: comparison and file handling (the tests do that).
 */
#ifndef TEST_FORMATS_RENDER_H
#define TEST_FORMATS_RENDER_H

#include "celeriac/reader.h"
#include "celeriac/stream_reader.h"
#include "util/dbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct render_sink {
    dbuf out;
    size_t ncols;
    char **names;
    uint64_t rows;
    bool columns_seen;
    char contract[256]; /* first contract violation, "" when none */
    long stop_at_row;   /* > 0: on_row returns CEL_EDB at this row */
} render_sink;

static void render_violation(render_sink *rs, const char *what) {
    if (rs->contract[0] == '\0')
        snprintf(rs->contract, sizeof rs->contract, "%s", what);
}

static void render_quoted(dbuf *b, const char *s, size_t n) {
    cel_status st = dbuf_append(b, "\"", 1);
    for (size_t i = 0; i < n && st == CEL_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == '"')
            st = dbuf_printf(b, "\\%c", c);
        else if (c == '\n')
            st = dbuf_append(b, "\\n", 2);
        else if (c == '\r')
            st = dbuf_append(b, "\\r", 2);
        else if (c == '\t')
            st = dbuf_append(b, "\\t", 2);
        else if (c < 0x20 || c == 0x7F)
            st = dbuf_printf(b, "\\x%02X", c);
        else
            st = dbuf_append(b, &s[i], 1);
    }
    if (st == CEL_OK)
        st = dbuf_append(b, "\"", 1);
    (void)st;
}

static void render_free_names(render_sink *rs) {
    for (size_t i = 0; i < rs->ncols; i++)
        free(rs->names[i]);
    free(rs->names);
    rs->names = NULL;
    rs->ncols = 0;
}

static cel_status render_on_columns(void *ud, size_t ncols, const char *const *names,
                                    cel_error *err) {
    (void)err;
    render_sink *rs = ud;
    if (ncols < rs->ncols)
        render_violation(rs, "on_columns: column count shrank");
    for (size_t i = 0; i < rs->ncols && i < ncols; i++) {
        if (strcmp(rs->names[i], names[i]) != 0)
            render_violation(rs, "on_columns: an earlier column changed its name");
    }
    render_free_names(rs);
    rs->names = calloc(ncols ? ncols : 1, sizeof *rs->names);
    for (size_t i = 0; i < ncols; i++)
        rs->names[i] = strdup(names[i]);
    rs->ncols = ncols;
    rs->columns_seen = true;
    cel_status st = dbuf_printf(&rs->out, "columns %zu:", ncols);
    for (size_t i = 0; i < ncols && st == CEL_OK; i++) {
        st = dbuf_append(&rs->out, " ", 1);
        render_quoted(&rs->out, names[i], strlen(names[i]));
    }
    if (st == CEL_OK)
        st = dbuf_append(&rs->out, "\n", 1);
    return CEL_OK;
}

static void render_check_number(render_sink *rs, const cel_value *v) {
    char tmp[64];
    if (v->s == NULL || v->len == 0) {
        render_violation(rs, "number without text");
        return;
    }
    if (v->len >= sizeof tmp)
        return; /* a long exact integer: not checked here */
    memcpy(tmp, v->s, v->len);
    tmp[v->len] = '\0';
    if (v->kind == CEL_V_INT) {
        if (strtoll(tmp, NULL, 10) != v->i)
            render_violation(rs, "INT text disagrees with i");
    } else if (strcmp(tmp, "NaN") == 0) {
        if (!isnan(v->d))
            render_violation(rs, "DOUBLE NaN text with a non-NaN d");
    } else if (strcmp(tmp, "Infinity") == 0 || strcmp(tmp, "-Infinity") == 0) {
        if (!isinf(v->d) || (tmp[0] == '-') != (v->d < 0))
            render_violation(rs, "DOUBLE infinity text disagrees with d");
    } else if (strtod(tmp, NULL) != v->d) {
        render_violation(rs, "DOUBLE text does not round-trip to d");
    }
}

static cel_status render_on_row(void *ud, uint64_t row_number, uint64_t line, size_t ncols,
                                const cel_value *vals, cel_error *err) {
    render_sink *rs = ud;
    if (!rs->columns_seen)
        render_violation(rs, "on_row before on_columns");
    if (ncols != rs->ncols)
        render_violation(rs, "on_row: ncols differs from the latest on_columns");
    if (row_number != rs->rows + 1)
        render_violation(rs, "on_row: row numbers do not count up by one");
    rs->rows = row_number;
    cel_status st = dbuf_printf(&rs->out, "row %llu line %llu:", (unsigned long long)row_number,
                                (unsigned long long)line);
    for (size_t i = 0; i < ncols && st == CEL_OK; i++) {
        const cel_value *v = &vals[i];
        st = dbuf_append_str(&rs->out, i ? " | " : " ");
        switch (v->kind) {
        case CEL_V_ABSENT:
            st = dbuf_append_str(&rs->out, "absent");
            break;
        case CEL_V_NULL:
            st = dbuf_append_str(&rs->out, "null");
            break;
        case CEL_V_TEXT:
            st = dbuf_append_str(&rs->out, "text ");
            render_quoted(&rs->out, v->s, v->len);
            break;
        case CEL_V_STRING:
            st = dbuf_append_str(&rs->out, "str ");
            render_quoted(&rs->out, v->s, v->len);
            break;
        case CEL_V_INT:
        case CEL_V_DOUBLE:
            render_check_number(rs, v);
            st = dbuf_printf(&rs->out, "%s %.*s", v->kind == CEL_V_INT ? "int" : "double",
                             (int)v->len, v->s ? v->s : "");
            break;
        case CEL_V_BOOL:
            if (v->len != (v->i ? 4u : 5u) || memcmp(v->s, v->i ? "true" : "false", v->len) != 0)
                render_violation(rs, "BOOL text disagrees with i");
            st = dbuf_printf(&rs->out, "bool %.*s", (int)v->len, v->s);
            break;
        case CEL_V_JSON:
            st = dbuf_printf(&rs->out, "json %.*s", (int)v->len, v->s);
            break;
        case CEL_V_TEMPORAL:
            st = dbuf_append_str(&rs->out, "temporal ");
            render_quoted(&rs->out, v->s, v->len);
            break;
        }
    }
    const cel_row_extra *x = cel_reader_row_extra();
    if (x->cells > 0 && st == CEL_OK) {
        st = dbuf_printf(&rs->out, " +extra %zu ", x->cells);
        render_quoted(&rs->out, x->first, x->first_len);
    }
    if (st == CEL_OK)
        st = dbuf_append(&rs->out, "\n", 1);
    if (rs->stop_at_row > 0 && (long)row_number == rs->stop_at_row)
        return cel_fail(err, CEL_EDB, "test sink refuses row %llu", (unsigned long long)row_number);
    return CEL_OK;
}

static void render_init(render_sink *rs) {
    memset(rs, 0, sizeof *rs);
    dbuf_init(&rs->out, 0);
}

static void render_free(render_sink *rs) {
    render_free_names(rs);
    dbuf_free(&rs->out);
}

static cel_row_sink render_as_sink(render_sink *rs) {
    cel_row_sink s = {.ud = rs, .on_columns = render_on_columns, .on_row = render_on_row};
    return s;
}

/* Feeds data[0..len) to a new stream reader in pieces: cut[] holds ascending cut
 * points (ncut of them). Appends "status CODE: message" to the rendering. */
static cel_status render_stream(cel_format fmt, const cel_reader_opts *opts, const char *data,
                                size_t len, const size_t *cut, size_t ncut, render_sink *rs) {
    cel_row_sink sink = render_as_sink(rs);
    cel_error err;
    cel_error_clear(&err);
    cel_stream_reader *r = NULL;
    cel_status st = cel_stream_reader_new(fmt, opts, &sink, &r, &err);
    size_t at = 0;
    for (size_t k = 0; k <= ncut && st == CEL_OK; k++) {
        size_t end = k < ncut ? cut[k] : len;
        if (end > len)
            end = len;
        if (end < at)
            continue;
        st = cel_stream_reader_feed(r, data + at, end - at, &err);
        at = end;
    }
    if (st == CEL_OK)
        st = cel_stream_reader_finish(r, &err);
    cel_stream_reader_free(r);
    cel_status st2 = dbuf_printf(&rs->out, "status %s: %s\n", cel_strerror(st), err.msg);
    (void)st2;
    return st;
}

#endif
