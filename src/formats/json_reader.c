/*
 * json_reader.c: streaming JSON (top-level array of objects) and NDJSON → rows
 * (user-facing rules in celeriac/stream_reader.h).
 *
 * Design:
 * - A byte-level tokenizer walks the input across chunk boundaries. Outside a
 *   record it checks the framing itself ('[' , ',' ']' for JSON; one object per
 *   line for NDJSON). Inside a record it tracks strings, escapes and the container
 *   stack (depth bounded by max_depth) to find where the record ends, and copies
 *   the record's bytes into one buffer. Only that buffer is decoded, by jansson
 *   (json_loadb), so memory is one record, never the file.
 * - Python's json.dumps writes NaN, Infinity and -Infinity, which jansson rejects,
 *   and integers beyond int64, which jansson rejects too ("too big integer"). The
 *   tokenizer sees every bare token in value position and rewrites these into
 *   sentinel strings that start with a NUL ("\u0000N", "\u0000I", "\u0000-I",
 *   "\u0000#<digits>"); the row builder turns them back into DOUBLE values. A
 *   record that also has a real \u0000 in a string could be ambiguous, so that
 *   (rare) combination is refused with a clear message.
 * - The decoded object becomes one row: keys map to columns through a hash table
 *   (first-seen order); numbers and nested values get their text in a per-record
 *   arena; strings are borrowed from jansson until on_row returns.
 *
 * Grammar references: RFC 8259 (https://www.rfc-editor.org/rfc/rfc8259) sections 2
 * (whitespace), 6 (numbers), 7 (strings); NDJSON (https://github.com/ndjson/ndjson-spec)
 * and JSON Lines (https://jsonlines.org/): one JSON text per line, LF separated,
 * CRLF allowed.
 *
 * Not here: top-level objects or scalars, JSON with comments, JSON5, a path into
 * nested objects (nested values are delivered as compact JSON text).
 */
#include "formats/readers.h"

#include "formats/colmap.h"
#include "formats/numtext.h"
#include "util/dbuf.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's own nesting limit (JSON_PARSER_MAX_DEPTH in its load.c). */
#define JSR_DEPTH_CAP 2048
#define JSR_NO_TEXT ((size_t)-1)

typedef enum {
    JT_START,       /* JSON: before '['; NDJSON: at the start of a line */
    JT_BEFORE_ELEM, /* JSON: after '[' or ',' */
    JT_IN_ELEM,     /* inside a record */
    JT_AFTER_ELEM,  /* JSON: expecting ',' or ']'; NDJSON: rest of the line */
    JT_DONE,        /* JSON: after the closing ']' */
} jsr_top;

struct jsr {
    cel_reader_opts o;
    cel_row_sink sink;
    bool ndjson;
    size_t max_depth;

    jsr_top top;
    bool after_comma; /* JT_BEFORE_ELEM was entered by a ',' */
    uint64_t pos;     /* offset of the first byte of the current chunk */
    uint64_t line;    /* current physical line, 1-based */

    /* The record being scanned. */
    dbuf elem;
    uint64_t elem_off, elem_line;
    size_t depth;
    unsigned char *stack; /* 'o' / 'a' per open container, max_depth entries */
    bool in_str;
    int esc;           /* 0; 1 after '\\'; 2..5 = that many minus 2 hex digits of \u read */
    bool esc_zero;     /* the \u digits so far are all '0' */
    bool expect_value; /* the next bare token is a value (after ':' '[' or ',' in an array) */
    bool in_tok;
    bool tok_is_value;
    size_t tok_start;  /* offset of the token in elem */
    bool has_nul;      /* a \u0000 escape appeared in a string */
    bool has_sentinel; /* a token was rewritten to a sentinel */

    /* Rows. */
    uint64_t rows;
    colmap cols;
    size_t announced; /* columns the sink knows about */
    bool announced_once;
    cel_value *vals;
    size_t *aoff; /* arena offset of vals[i]'s text or JSR_NO_TEXT */
    size_t vcap;
    dbuf arena;

    cel_status st;
    cel_error *err;
};

static cel_status jsr_failf(jsr *r, cel_status code, const char *fmt, ...) CEL_PRINTF(3, 4);
static cel_status jsr_failf(jsr *r, cel_status code, const char *fmt, ...) {
    if (r->st == CEL_OK) {
        r->st = code;
        char msg[sizeof r->err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cel_fail(r->err, code, "%s", msg);
    }
    return code;
}

static size_t jsr_mul_sat(size_t a, size_t b) {
    return (b != 0 && a > ((size_t)-1) / b) ? (size_t)-1 : a * b;
}

cel_status jsr_new(const cel_reader_opts *opts, const cel_row_sink *sink, bool ndjson, jsr **out,
                   cel_error *err) {
    *out = NULL;
    jsr *r = calloc(1, sizeof *r);
    if (r == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory creating the JSON reader");
    r->o = *opts;
    r->sink = *sink;
    r->ndjson = ndjson;
    r->max_depth = opts->max_depth < JSR_DEPTH_CAP ? opts->max_depth : JSR_DEPTH_CAP;
    if (r->max_depth == 0)
        r->max_depth = 1;
    r->line = 1;
    /* Sentinels make a record at most ~4x longer than its input (see jsr_end_token). */
    dbuf_init(&r->elem, jsr_mul_sat(opts->max_line_bytes, 4));
    /* Number texts can be ~5x their input ("1e15" → "1000000000000000.0"). */
    dbuf_init(&r->arena, jsr_mul_sat(opts->max_line_bytes, 6));
    colmap_init(&r->cols, opts->max_columns);
    r->stack = malloc(r->max_depth);
    if (r->stack == NULL) {
        jsr_free(r);
        return cel_fail(err, CEL_ENOMEM, "out of memory creating the JSON reader");
    }
    *out = r;
    return CEL_OK;
}

void jsr_free(jsr *r) {
    if (r == NULL)
        return;
    free(r->stack);
    dbuf_free(&r->elem);
    dbuf_free(&r->arena);
    colmap_free(&r->cols);
    free(r->vals);
    free(r->aoff);
    free(r);
}

uint64_t jsr_rows(const jsr *r) {
    return r->rows;
}

/* "JSON record 3 (line 7, byte 120)" / "NDJSON line 7" prefixes for messages. */
static void jsr_where(const jsr *r, uint64_t off, uint64_t line, char *buf, size_t n) {
    if (r->ndjson)
        snprintf(buf, n, "NDJSON line %llu", (unsigned long long)line);
    else
        snprintf(buf, n, "JSON record %llu (line %llu, byte %llu)",
                 (unsigned long long)(r->rows + 1), (unsigned long long)line,
                 (unsigned long long)off);
}

static const char *jsr_describe(unsigned char c, char *buf, size_t n) {
    if (c == '"')
        return "a string";
    if (c == '[')
        return "an array";
    if (c == '-' || (c >= '0' && c <= '9'))
        return "a number";
    if (c == 't' || c == 'f')
        return "a boolean";
    if (c == 'n')
        return "null";
    if (c > 0x20 && c < 0x7F)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02X", c);
    return buf;
}

/* ---- rows --------------------------------------------------------------- */

static cel_status jsr_arena_put(jsr *r, const char *s, size_t n) {
    cel_status st = dbuf_append(&r->arena, s, n);
    if (st == CEL_ELIMIT)
        return CEL_ELIMIT;
    return st;
}

/* Appends s as a JSON string literal (RFC 8259 section 7). */
static cel_status jsr_dump_string(jsr *r, const char *s, size_t n) {
    cel_status st = jsr_arena_put(r, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n && st == CEL_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        st = jsr_arena_put(r, s + run, i - run);
        if (st != CEL_OK)
            break;
        char esc[8];
        switch (c) {
        case '"':
            st = jsr_arena_put(r, "\\\"", 2);
            break;
        case '\\':
            st = jsr_arena_put(r, "\\\\", 2);
            break;
        case '\b':
            st = jsr_arena_put(r, "\\b", 2);
            break;
        case '\f':
            st = jsr_arena_put(r, "\\f", 2);
            break;
        case '\n':
            st = jsr_arena_put(r, "\\n", 2);
            break;
        case '\r':
            st = jsr_arena_put(r, "\\r", 2);
            break;
        case '\t':
            st = jsr_arena_put(r, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            st = jsr_arena_put(r, esc, 6);
            break;
        }
        run = i + 1;
    }
    if (st == CEL_OK)
        st = jsr_arena_put(r, s + run, n - run);
    if (st == CEL_OK)
        st = jsr_arena_put(r, "\"", 1);
    return st;
}

/* Decodes a sentinel string (has_sentinel records only). Returns false when s is
 * not one. *text and *tlen get the number's text (static or inside s). */
static bool jsr_sentinel(const char *s, size_t n, double *d, const char **text, size_t *tlen) {
    if (n < 2 || s[0] != '\0')
        return false;
    if (n == 2 && s[1] == 'N') {
        *d = NAN;
        *text = "NaN";
        *tlen = 3;
    } else if (n == 2 && s[1] == 'I') {
        *d = INFINITY;
        *text = "Infinity";
        *tlen = 8;
    } else if (n == 3 && s[1] == '-' && s[2] == 'I') {
        *d = -INFINITY;
        *text = "-Infinity";
        *tlen = 9;
    } else if (s[1] == '#') {
        /* The digits were copied from the input token: a valid JSON integer. */
        *d = strtod(s + 2, NULL);
        *text = s + 2;
        *tlen = n - 2;
    } else {
        return false;
    }
    return true;
}

/* Appends the compact JSON text of v. */
static cel_status jsr_dump(jsr *r, json_t *v, size_t depth) {
    char num[NUMTEXT_MAX];
    size_t n;
    cel_status st = CEL_OK;
    bool container = json_is_object(v) || json_is_array(v);
    if (container && depth > r->max_depth)
        return CEL_ELIMIT; /* cannot happen: the tokenizer bounded the depth */
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        st = jsr_arena_put(r, "{", 1);
        bool first = true;
        for (void *it = json_object_iter(v); it != NULL && st == CEL_OK;
             it = json_object_iter_next(v, it)) {
            if (!first)
                st = jsr_arena_put(r, ",", 1);
            first = false;
            if (st == CEL_OK)
                st = jsr_dump_string(r, json_object_iter_key(it), json_object_iter_key_len(it));
            if (st == CEL_OK)
                st = jsr_arena_put(r, ":", 1);
            if (st == CEL_OK)
                st = jsr_dump(r, json_object_iter_value(it), depth + 1);
        }
        if (st == CEL_OK)
            st = jsr_arena_put(r, "}", 1);
        return st;
    }
    case JSON_ARRAY: {
        st = jsr_arena_put(r, "[", 1);
        size_t len = json_array_size(v);
        for (size_t i = 0; i < len && st == CEL_OK; i++) {
            if (i > 0)
                st = jsr_arena_put(r, ",", 1);
            if (st == CEL_OK)
                st = jsr_dump(r, json_array_get(v, i), depth + 1);
        }
        if (st == CEL_OK)
            st = jsr_arena_put(r, "]", 1);
        return st;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        double d;
        const char *text;
        size_t tlen;
        if (r->has_sentinel && jsr_sentinel(s, len, &d, &text, &tlen))
            return jsr_arena_put(r, text, tlen);
        return jsr_dump_string(r, s, len);
    }
    case JSON_INTEGER:
        n = numtext_int((int64_t)json_integer_value(v), num);
        return jsr_arena_put(r, num, n);
    case JSON_REAL:
        n = numtext_double(json_real_value(v), num);
        return jsr_arena_put(r, num, n);
    case JSON_TRUE:
        return jsr_arena_put(r, "true", 4);
    case JSON_FALSE:
        return jsr_arena_put(r, "false", 5);
    case JSON_NULL:
        return jsr_arena_put(r, "null", 4);
    }
    return CEL_EINTERNAL;
}

static cel_status jsr_grow_vals(jsr *r, size_t need) {
    if (need <= r->vcap)
        return CEL_OK;
    size_t ncap = r->vcap ? r->vcap : 16;
    while (ncap < need)
        ncap *= 2;
    cel_value *vals = realloc(r->vals, ncap * sizeof *vals);
    if (vals == NULL)
        return CEL_ENOMEM;
    r->vals = vals;
    size_t *aoff = realloc(r->aoff, ncap * sizeof *aoff);
    if (aoff == NULL)
        return CEL_ENOMEM;
    r->aoff = aoff;
    r->vcap = ncap;
    return CEL_OK;
}

static cel_status jsr_announce(jsr *r) {
    if (r->announced_once && r->announced == r->cols.n)
        return CEL_OK;
    r->announced_once = true;
    r->announced = r->cols.n;
    if (r->sink.on_columns == NULL)
        return CEL_OK;
    cel_status st = r->sink.on_columns(r->sink.ud, r->cols.n, colmap_names(&r->cols), r->err);
    if (st != CEL_OK) {
        cel_fail(r->err, st, "row sink rejected the columns");
        r->st = st;
    }
    return st;
}

/* Converts one top-level value into vals[i]. */
static cel_status jsr_set_value(jsr *r, size_t i, json_t *v, const char *where, const char *key) {
    cel_value *out = &r->vals[i];
    char num[NUMTEXT_MAX];
    size_t n;
    cel_status st = CEL_OK;
    memset(out, 0, sizeof *out);
    r->aoff[i] = JSR_NO_TEXT;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY: {
        size_t start = r->arena.len;
        st = jsr_dump(r, v, 2);
        if (st == CEL_OK && r->arena.len - start > r->o.max_field_bytes)
            st = CEL_ELIMIT;
        if (st == CEL_ELIMIT)
            return jsr_failf(r, CEL_ELIMIT,
                             "%s: value of \"%.64s\" is longer than max_field_bytes (%zu)", where,
                             key, r->o.max_field_bytes);
        if (st != CEL_OK)
            return jsr_failf(r, st, "%s: out of memory", where);
        out->kind = CEL_V_JSON;
        r->aoff[i] = start;
        out->len = r->arena.len - start;
        return CEL_OK;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (r->has_sentinel && jsr_sentinel(s, len, &out->d, &out->s, &out->len)) {
            out->kind = CEL_V_DOUBLE;
            return CEL_OK;
        }
        if (len > r->o.max_field_bytes)
            return jsr_failf(r, CEL_ELIMIT,
                             "%s: value of \"%.64s\" is longer than max_field_bytes (%zu)", where,
                             key, r->o.max_field_bytes);
        out->kind = CEL_V_STRING;
        out->s = s;
        out->len = len;
        return CEL_OK;
    }
    case JSON_INTEGER:
        out->kind = CEL_V_INT;
        out->i = (int64_t)json_integer_value(v);
        out->d = (double)out->i;
        n = numtext_int(out->i, num);
        break;
    case JSON_REAL:
        out->kind = CEL_V_DOUBLE;
        out->d = json_real_value(v);
        n = numtext_double(out->d, num);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        out->kind = CEL_V_BOOL;
        out->i = json_is_true(v) ? 1 : 0;
        out->s = out->i ? "true" : "false";
        out->len = out->i ? 4 : 5;
        return CEL_OK;
    case JSON_NULL:
        out->kind = CEL_V_NULL;
        return CEL_OK;
    default:
        return jsr_failf(r, CEL_EINTERNAL, "%s: unknown jansson type", where);
    }
    r->aoff[i] = r->arena.len;
    out->len = n;
    st = jsr_arena_put(r, num, n);
    if (st != CEL_OK)
        return jsr_failf(r, st, "%s: record text too large", where);
    return CEL_OK;
}

/* Decodes the buffered record and delivers it. */
static cel_status jsr_emit_record(jsr *r) {
    char where[128];
    jsr_where(r, r->elem_off, r->elem_line, where, sizeof where);
    if (r->has_nul && r->has_sentinel)
        return jsr_failf(r, CEL_EPARSE,
                         "%s: a record with \\u0000 in a string and NaN, Infinity or an "
                         "integer beyond 64 bits is not supported",
                         where);
    json_error_t je;
    json_t *root = json_loadb(r->elem.data, r->elem.len, JSON_ALLOW_NUL, &je);
    if (root == NULL) {
        if (r->ndjson)
            return jsr_failf(r, CEL_EPARSE, "NDJSON line %llu: %s (column %d)",
                             (unsigned long long)(r->elem_line + (uint64_t)je.line - 1), je.text,
                             je.column);
        return jsr_failf(
            r, CEL_EPARSE, "JSON record %llu (line %llu, byte %llu): %s",
            (unsigned long long)(r->rows + 1),
            (unsigned long long)(r->elem_line + (uint64_t)(je.line > 0 ? je.line : 1) - 1),
            (unsigned long long)(r->elem_off + (uint64_t)(je.position > 0 ? je.position : 0)),
            je.text);
    }
    cel_status st = CEL_OK;
    if (!json_is_object(root)) {
        st = jsr_failf(r, CEL_EPARSE, "%s: expected an object", where);
        goto exit;
    }
    for (size_t i = 0; i < r->cols.n; i++) {
        memset(&r->vals[i], 0, sizeof r->vals[i]);
        r->vals[i].kind = CEL_V_ABSENT;
        r->aoff[i] = JSR_NO_TEXT;
    }
    dbuf_reset(&r->arena);
    for (void *it = json_object_iter(root); it != NULL; it = json_object_iter_next(root, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        if (memchr(key, '\0', klen) != NULL) {
            st = jsr_failf(r, CEL_EPARSE, "%s: object key contains a NUL character (\\u0000)",
                           where);
            goto exit;
        }
        size_t idx = colmap_find(&r->cols, key, klen);
        if (idx == (size_t)-1) {
            st = colmap_add(&r->cols, key, klen, &idx);
            if (st == CEL_ELIMIT) {
                st = jsr_failf(r, CEL_ELIMIT,
                               "%s: more than max_columns (%zu) distinct keys, or a key longer "
                               "than %d bytes",
                               where, r->o.max_columns, COLMAP_NAME_MAX);
                goto exit;
            }
            if (st == CEL_OK)
                st = jsr_grow_vals(r, r->cols.n);
            if (st != CEL_OK) {
                st = jsr_failf(r, st, "%s: out of memory", where);
                goto exit;
            }
        }
        st = jsr_set_value(r, idx, json_object_iter_value(it), where, key);
        if (st != CEL_OK)
            goto exit;
    }
    for (size_t i = 0; i < r->cols.n; i++) {
        if (r->aoff[i] != JSR_NO_TEXT)
            r->vals[i].s = r->arena.data + r->aoff[i];
    }
    st = jsr_announce(r);
    if (st != CEL_OK)
        goto exit;
    r->rows++;
    if (r->sink.on_row)
        st = r->sink.on_row(r->sink.ud, r->rows, r->elem_line, r->cols.n, r->vals, r->err);
    if (st != CEL_OK) {
        cel_fail(r->err, st, "row sink stopped at %s record %llu (line %llu)",
                 r->ndjson ? "NDJSON" : "JSON", (unsigned long long)r->rows,
                 (unsigned long long)r->elem_line);
        r->st = st;
    }
exit:
    json_decref(root);
    return st;
}

/* ---- tokenizer ---------------------------------------------------------- */

static bool jsr_tok_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

static bool jsr_is_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* True when t[0..n) is a JSON integer (RFC 8259 section 6, no fraction or
 * exponent) that does not fit in int64. */
static bool jsr_big_integer(const char *t, size_t n) {
    size_t i = 0;
    bool neg = false;
    if (i < n && t[i] == '-') {
        neg = true;
        i++;
    }
    size_t digits = n - i;
    if (digits == 0 || (t[i] == '0' && digits > 1))
        return false;
    for (size_t k = i; k < n; k++) {
        if (t[k] < '0' || t[k] > '9')
            return false;
    }
    if (digits != 19)
        return digits > 19;
    return memcmp(t + i, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* Copies data[from..to) into the record buffer, enforcing max_line_bytes on the
 * record's input size (end = offset just past `to`). */
static cel_status jsr_flush(jsr *r, const char *data, size_t from, size_t to) {
    if (to <= from)
        return CEL_OK;
    uint64_t in_bytes = r->pos + to - r->elem_off;
    cel_status st = CEL_OK;
    if (in_bytes > r->o.max_line_bytes)
        st = CEL_ELIMIT;
    else
        st = dbuf_append(&r->elem, data + from, to - from);
    if (st != CEL_OK) {
        char where[128];
        jsr_where(r, r->elem_off, r->elem_line, where, sizeof where);
        if (st == CEL_ELIMIT)
            return jsr_failf(r, CEL_ELIMIT, "%s: record is longer than max_line_bytes (%zu)", where,
                             r->o.max_line_bytes);
        return jsr_failf(r, st, "%s: out of memory", where);
    }
    return CEL_OK;
}

/* A bare token just ended (it is the tail of the record buffer): rewrites the
 * Python extensions jansson rejects into sentinel strings. */
static cel_status jsr_end_token(jsr *r) {
    r->in_tok = false;
    if (!r->tok_is_value)
        return CEL_OK;
    const char *t = r->elem.data + r->tok_start;
    size_t n = r->elem.len - r->tok_start;
    const char *rep = NULL;
    if (n == 3 && memcmp(t, "NaN", 3) == 0)
        rep = "\"\\u0000N\"";
    else if (n == 8 && memcmp(t, "Infinity", 8) == 0)
        rep = "\"\\u0000I\"";
    else if (n == 9 && memcmp(t, "-Infinity", 9) == 0)
        rep = "\"\\u0000-I\"";
    cel_status st;
    if (rep != NULL) {
        r->elem.len = r->tok_start;
        st = dbuf_append_str(&r->elem, rep);
    } else if (jsr_big_integer(t, n)) {
        /* Shift the digits right and wrap them: "\u0000#<digits>". */
        static const char head[] = "\"\\u0000#";
        size_t hl = sizeof head - 1;
        st = dbuf_append(&r->elem, "\"", 1); /* grow by hl + 1 in two steps */
        if (st == CEL_OK)
            st = dbuf_append(&r->elem, head, hl);
        if (st == CEL_OK) {
            char *base = r->elem.data + r->tok_start;
            memmove(base + hl, base, n);
            memcpy(base, head, hl);
            base[hl + n] = '"';
        }
    } else {
        return CEL_OK;
    }
    if (st != CEL_OK) {
        char where[128];
        jsr_where(r, r->elem_off, r->elem_line, where, sizeof where);
        return jsr_failf(r, st == CEL_ELIMIT ? CEL_ELIMIT : st,
                         "%s: record is longer than max_line_bytes (%zu)", where,
                         r->o.max_line_bytes);
    }
    r->has_sentinel = true;
    return CEL_OK;
}

/* The record's '{' is data[i]; it is copied here, the rest by jsr_scan_elem. */
static cel_status jsr_begin_elem(jsr *r, size_t i) {
    r->top = JT_IN_ELEM;
    dbuf_reset(&r->elem);
    r->elem_off = r->pos + i;
    r->elem_line = r->line;
    r->depth = 1;
    r->stack[0] = 'o';
    r->in_str = false;
    r->esc = 0;
    r->expect_value = false;
    r->in_tok = false;
    r->has_nul = false;
    r->has_sentinel = false;
    if (dbuf_append(&r->elem, "{", 1) != CEL_OK)
        return jsr_failf(r, CEL_ENOMEM, "out of memory reading JSON");
    return CEL_OK;
}

/* Scans record bytes from data[i]; returns the index after the last byte consumed
 * (len when the record continues in the next chunk). */
static size_t jsr_scan_elem(jsr *r, const char *data, size_t i, size_t len) {
    size_t span = i; /* data[span..i) is record text not yet copied */
    char where[128];
    /* data[stop] would be the record's (max_line_bytes + 1)th byte: the bound is
     * checked at that exact byte, so the error does not depend on chunking. */
    uint64_t room = r->elem_off + r->o.max_line_bytes - r->pos;
    size_t end = room < len ? (size_t)room : len;
    for (; i < end; i++) {
        unsigned char c = (unsigned char)data[i];
        if (r->in_str) {
            if (r->esc == 1) {
                r->esc = 0;
                if (c == 'u') {
                    r->esc = 2;
                    r->esc_zero = true;
                }
                continue;
            }
            if (r->esc >= 2) {
                if (jsr_is_hex(c)) {
                    if (c != '0')
                        r->esc_zero = false;
                    if (++r->esc == 6) {
                        r->esc = 0;
                        if (r->esc_zero)
                            r->has_nul = true;
                    }
                    continue;
                }
                r->esc = 0; /* malformed \u: jansson will say so; go on scanning */
            }
            if (c == '\\') {
                r->esc = 1;
            } else if (c == '"') {
                r->in_str = false;
            } else if (c == '\n') {
                r->line++;
                if (r->ndjson) {
                    jsr_failf(r, CEL_EPARSE, "NDJSON line %llu: line ends inside a string",
                              (unsigned long long)(r->line - 1));
                    return i;
                }
            }
            continue;
        }
        if (r->in_tok) {
            if (jsr_tok_char(c))
                continue;
            if (jsr_flush(r, data, span, i) != CEL_OK || jsr_end_token(r) != CEL_OK)
                return i;
            span = i;
        }
        switch (c) {
        case '\n':
            r->line++;
            if (r->ndjson) {
                jsr_failf(r, CEL_EPARSE,
                          "NDJSON line %llu: line ends inside the record (each record must be "
                          "one complete object on one line)",
                          (unsigned long long)(r->line - 1));
                return i;
            }
            break;
        case '"':
            r->in_str = true;
            r->expect_value = false;
            break;
        case '{':
        case '[':
            if (r->depth >= r->max_depth) {
                jsr_where(r, r->elem_off, r->elem_line, where, sizeof where);
                jsr_failf(r, CEL_ELIMIT, "%s: nesting deeper than max_depth (%zu) at byte %llu",
                          where, r->max_depth, (unsigned long long)(r->pos + i));
                return i;
            }
            r->stack[r->depth++] = c == '{' ? 'o' : 'a';
            r->expect_value = c == '[';
            break;
        case '}':
        case ']':
            r->expect_value = false;
            if (--r->depth == 0) {
                if (jsr_flush(r, data, span, i + 1) != CEL_OK)
                    return i;
                r->top = JT_AFTER_ELEM;
                jsr_emit_record(r);
                return i + 1;
            }
            break;
        case ':':
            r->expect_value = true;
            break;
        case ',':
            r->expect_value = r->stack[r->depth - 1] == 'a';
            break;
        default:
            if (jsr_tok_char(c)) {
                r->in_tok = true;
                r->tok_is_value = r->expect_value;
                r->tok_start = r->elem.len + (i - span);
                r->expect_value = false;
            }
            break; /* whitespace, or garbage that jansson will reject */
        }
    }
    if (jsr_flush(r, data, span, end) != CEL_OK)
        return end;
    if (end < len) {
        jsr_where(r, r->elem_off, r->elem_line, where, sizeof where);
        jsr_failf(r, CEL_ELIMIT, "%s: record is longer than max_line_bytes (%zu)", where,
                  r->o.max_line_bytes);
    }
    return end;
}

static bool jsr_ws(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

cel_status jsr_feed(jsr *r, const char *data, size_t len, cel_error *err) {
    r->err = err;
    char desc[16], where[128];
    size_t i = 0;
    while (i < len && r->st == CEL_OK) {
        unsigned char c = (unsigned char)data[i];
        switch (r->top) {
        case JT_IN_ELEM:
            i = jsr_scan_elem(r, data, i, len);
            continue;
        case JT_START:
            if (jsr_ws(c)) {
                if (c == '\n')
                    r->line++;
                break;
            }
            if (r->ndjson) {
                if (c == '{') {
                    if (jsr_begin_elem(r, i) == CEL_OK)
                        i++;
                    continue;
                }
                jsr_failf(r, CEL_EPARSE, "NDJSON line %llu: expected a JSON object, found %s",
                          (unsigned long long)r->line, jsr_describe(c, desc, sizeof desc));
                break;
            }
            if (c == '[') {
                r->top = JT_BEFORE_ELEM;
                r->after_comma = false;
                break;
            }
            if (c == '{')
                jsr_failf(r, CEL_EPARSE,
                          "JSON: the top-level value is an object, expected an array of objects "
                          "(for one object per line use format ndjson)");
            else
                jsr_failf(r, CEL_EPARSE,
                          "JSON: expected '[' (an array of objects) at byte %llu, found %s",
                          (unsigned long long)(r->pos + i), jsr_describe(c, desc, sizeof desc));
            break;
        case JT_BEFORE_ELEM:
            if (jsr_ws(c)) {
                if (c == '\n')
                    r->line++;
                break;
            }
            if (c == '{') {
                if (jsr_begin_elem(r, i) == CEL_OK)
                    i++;
                continue;
            }
            if (c == ']' && !r->after_comma) {
                r->top = JT_DONE;
                break;
            }
            if (c == ']')
                jsr_failf(r, CEL_EPARSE, "JSON: trailing comma after record %llu (byte %llu)",
                          (unsigned long long)r->rows, (unsigned long long)(r->pos + i));
            else {
                jsr_where(r, r->pos + i, r->line, where, sizeof where);
                jsr_failf(r, CEL_EPARSE, "%s: expected an object, found %s", where,
                          jsr_describe(c, desc, sizeof desc));
            }
            break;
        case JT_AFTER_ELEM:
            if (r->ndjson) {
                if (c == '\n') {
                    r->line++;
                    r->top = JT_START;
                } else if (c != ' ' && c != '\t' && c != '\r') {
                    jsr_failf(r, CEL_EPARSE,
                              "NDJSON line %llu: data after the object (one object per line), "
                              "found %s",
                              (unsigned long long)r->line, jsr_describe(c, desc, sizeof desc));
                }
                break;
            }
            if (jsr_ws(c)) {
                if (c == '\n')
                    r->line++;
            } else if (c == ',') {
                r->top = JT_BEFORE_ELEM;
                r->after_comma = true;
            } else if (c == ']') {
                r->top = JT_DONE;
            } else {
                jsr_failf(r, CEL_EPARSE,
                          "JSON: expected ',' or ']' after record %llu at byte %llu (line %llu), "
                          "found %s",
                          (unsigned long long)r->rows, (unsigned long long)(r->pos + i),
                          (unsigned long long)r->line, jsr_describe(c, desc, sizeof desc));
            }
            break;
        case JT_DONE:
            if (jsr_ws(c)) {
                if (c == '\n')
                    r->line++;
                break;
            }
            jsr_failf(r, CEL_EPARSE,
                      "JSON: data after the end of the top-level array at byte %llu (line %llu), "
                      "found %s",
                      (unsigned long long)(r->pos + i), (unsigned long long)r->line,
                      jsr_describe(c, desc, sizeof desc));
            break;
        }
        i++;
    }
    r->pos += len;
    return r->st;
}

cel_status jsr_finish(jsr *r, cel_error *err) {
    r->err = err;
    if (r->st != CEL_OK)
        return r->st;
    char where[128];
    switch (r->top) {
    case JT_IN_ELEM:
        if (r->ndjson)
            return jsr_failf(r, CEL_EPARSE, "NDJSON line %llu: truncated record at end of input",
                             (unsigned long long)r->elem_line);
        jsr_where(r, r->elem_off, r->elem_line, where, sizeof where);
        return jsr_failf(r, CEL_EPARSE, "%s: truncated input inside the record", where);
    case JT_START:
        if (!r->ndjson)
            return jsr_failf(r, CEL_EPARSE, "JSON: empty input, expected an array of objects");
        break;
    case JT_BEFORE_ELEM:
    case JT_AFTER_ELEM:
        if (!r->ndjson)
            return jsr_failf(r, CEL_EPARSE,
                             "JSON: truncated input: the top-level array is not closed "
                             "(after record %llu, byte %llu)",
                             (unsigned long long)r->rows, (unsigned long long)r->pos);
        break;
    case JT_DONE:
        break;
    }
    return jsr_announce(r);
}
