/*
 * parquet_reader.c: the streaming Parquet reader (see formats/parquet.h for the
 * contract and the value mapping).
 *
 * Design:
 * - Footer: read the last 64 KiB (ends with the length + "PAR1"; "PARE" = encrypted
 *   footer), check the leading magic, read the footer if the window missed part of
 *   it, decode FileMetaData (parquet_thrift.c).
 * - Schema: the depth-first schema list is walked once; each top-level field
 *   becomes one output column. A flat field (leaf, not REPEATED) maps to one
 *   leaf column chunk; nested fields cover a range of leaves that are never read.
 * - Row groups one at a time: the column chunks of the supported columns are
 *   read with src->read_at (one ranged read when they lie close together, else
 *   one per chunk), each at most opts->max_page_bytes. Memory is one row group's
 *   chunks plus, per column, the dictionary and one decoded page.
 * - Rows are assembled by pulling one value per column from a per-column page
 *   cursor; when a page is used up the next page header is decoded, the page is
 *   CRC-checked (when it carries a crc), decompressed (parquet_codec.c), its
 *   definition levels decoded and its non-null values decoded in one go
 *   (PLAIN, PLAIN_DICTIONARY/RLE_DICTIONARY, RLE booleans, DELTA_BINARY_PACKED,
 *   DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT; data pages v1
 *   and v2, Encodings.md / README "Data Pages" of apache/parquet-format).
 * - Consistency checks: every column must deliver exactly the row group's row
 *   count; a page may not hold more values than the rows left; dictionary
 *   indices must be in range; v2 num_nulls must match the levels; a REQUIRED
 *   column has no nulls.
 *
 * Bounds: footer, chunk and page sizes <= max_page_bytes; values per page <=
 * PR_MAX_PAGE_VALUES(opts); one value <= max_field_bytes; columns <= max_columns;
 * schema depth <= PARQ_MAX_SCHEMA_DEPTH. Each has its own CEL_ELIMIT message.
 *
 * Not here: nested assembly (repetition levels), page indexes, bloom filters,
 * statistics, encryption (detected and refused), LZO.
 */
#include "formats/parquet.h"
#include "formats/numtext.h"
#include "formats/parquet_internal.h"
#include "formats/utf8.h"
#include "util/dbuf.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PR_TEXT_MAX 1400           /* rendering of one scalar (a 128-byte decimal fits) */
#define PR_COALESCE_GAP (1u << 20) /* one request for a row group when gaps total less */
#define PR_MAX_SCALE 1000
#define PR_TAIL_WINDOW (64u << 10) /* first read: the end of the object */

static size_t pr_max_page_values(const cel_reader_opts *o) {
    size_t v = o->max_page_bytes / 16;
    return v < ((size_t)1 << 20) ? ((size_t)1 << 20) : v;
}

typedef union pr_val {
    int64_t i;
    double d;
    float f;
    struct {
        const uint8_t *p;
        uint32_t n;
    } b;
} pr_val;

typedef enum {
    RK_UNSUPPORTED,
    RK_BOOL,
    RK_INT,
    RK_UINT32,
    RK_UINT64,
    RK_FLOAT,
    RK_DOUBLE,
    RK_FLOAT16,
    RK_STRING,
    RK_BINARY,
    RK_UUID,
    RK_DECIMAL,
    RK_DATE,
    RK_TIME,
    RK_TIMESTAMP,
    RK_INT96,
} pr_rkind;

typedef struct pr_col {
    /* schema */
    const char *name;
    char type_text[64];
    char why[96];
    const char *table_type;
    bool supported;
    size_t leaf;
    const parq_schema_el *el;
    int ptype;
    int32_t type_length;
    int max_def;
    bool required;
    pr_rkind rk;
    int unit;
    bool utc;
    int32_t scale;
    /* chunk (borrowed from the row group buffer or owned) */
    const uint8_t *chunk;
    uint8_t *chunk_own;
    size_t chunk_len, pos;
    int codec;
    int64_t rg_left; /* values still due in this row group */
    /* dictionary */
    bool has_dict;
    uint8_t *dict_buf;
    pr_val *dict;
    size_t ndict, dict_cap;
    /* current page */
    uint8_t *page_buf;
    size_t page_cap;
    uint8_t *arena;
    size_t arena_cap;
    uint32_t *levels;
    size_t levels_cap;
    uint32_t *idx;
    size_t idx_cap;
    int64_t *deltas, *deltas2;
    size_t deltas_cap, deltas2_cap;
    pr_val *vals;
    size_t vals_cap;
    size_t page_n, page_i, val_i;
    /* rendering */
    char text[PR_TEXT_MAX];
    dbuf esc;
} pr_col;

typedef struct pr {
    const cel_source *src;
    const cel_reader_opts *opts;
    const char *srcname;
    parq_meta meta;
    uint64_t data_end; /* first byte of the footer */
    pr_col *cols;
    size_t ncols, nleaves;
    parquet_column_info *info;
    const char **names;
    cel_value *row;
    uint8_t *rg_buf;
    size_t rg_index;
    uint64_t row_number;
} pr;

/* ---------------------------------------------------------------- helpers */

static _Thread_local const parquet_column_info *tl_info;
static _Thread_local size_t tl_ninfo;

const parquet_column_info *parquet_current_columns(size_t *n) {
    if (n)
        *n = tl_info ? tl_ninfo : 0;
    return tl_info;
}

static cel_status pr_grow(void **p, size_t *cap, size_t need, size_t elem, cel_error *err) {
    if (need <= *cap && *p != NULL)
        return CEL_OK;
    size_t n = need < 16 ? 16 : need;
    if (n > SIZE_MAX / elem)
        return cel_fail(err, CEL_ENOMEM, "Parquet buffer size overflow");
    void *q = realloc(*p, n * elem);
    if (q == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory reading Parquet (%zu bytes)", n * elem);
    *p = q;
    *cap = n;
    return CEL_OK;
}

#define GROW(ptr, cap, need, err) pr_grow((void **)&(ptr), &(cap), (need), sizeof *(ptr), (err))

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Wraps a lower-level failure (in `sub`) with the column and row group. */
static cel_status pr_colfail(pr *r, pr_col *c, cel_error *err, cel_status st,
                             const cel_error *sub) {
    return cel_fail(err, st, "Parquet column '%s' row group %zu: %s", c->name, r->rg_index,
                    sub->msg[0] ? sub->msg : cel_strerror(st));
}

/* ---------------------------------------------------------------- schema */

static const char *unit_name(int unit) {
    return unit == PARQ_UNIT_MILLIS ? "ms" : unit == PARQ_UNIT_MICROS ? "us" : "ns";
}

/* Decides how a flat leaf is rendered; sets rk, type_text, table_type, or why. */
static void pr_classify(pr_col *c) {
    const parq_schema_el *el = c->el;
    const parq_logical *lt = &el->logical;
    int ct = el->converted;
    int t = el->type;
    c->ptype = t;
    c->type_length = el->type_length;
    c->rk = RK_UNSUPPORTED;
    c->unit = PARQ_UNIT_NONE;
#define TYPE(...) snprintf(c->type_text, sizeof c->type_text, __VA_ARGS__)
    if (t == PARQ_FLBA && el->type_length <= 0) {
        TYPE("fixed_len_byte_array(%d)", (int)el->type_length);
        snprintf(c->why, sizeof c->why, "FIXED_LEN_BYTE_ARRAY with type_length %d is invalid",
                 (int)el->type_length);
        return;
    }
    bool decimal =
        lt->kind == PARQ_LT_DECIMAL || (lt->kind == PARQ_LT_NONE && ct == PARQ_CT_DECIMAL);
    if (decimal && (t == PARQ_INT32 || t == PARQ_INT64 || t == PARQ_BYTE_ARRAY || t == PARQ_FLBA)) {
        int32_t scale = lt->kind == PARQ_LT_DECIMAL ? lt->scale : el->scale;
        int32_t prec = lt->kind == PARQ_LT_DECIMAL ? lt->precision : el->precision;
        TYPE("decimal(%d,%d)", (int)prec, (int)scale);
        if (scale < 0 || scale > PR_MAX_SCALE) {
            snprintf(c->why, sizeof c->why, "DECIMAL scale %d is not supported", (int)scale);
            return;
        }
        if (t == PARQ_FLBA && el->type_length > PARQ_MAX_DECIMAL_BYTES) {
            snprintf(c->why, sizeof c->why, "DECIMAL wider than %d bytes", PARQ_MAX_DECIMAL_BYTES);
            return;
        }
        c->scale = scale;
        c->rk = RK_DECIMAL;
        c->table_type = scale == 0 ? "integer" : "number";
        return;
    }
    switch (t) {
    case PARQ_BOOLEAN:
        c->rk = RK_BOOL;
        c->table_type = "boolean";
        TYPE("boolean");
        return;
    case PARQ_INT32:
    case PARQ_INT64: {
        int bits = t == PARQ_INT32 ? 32 : 64;
        if (lt->kind == PARQ_LT_DATE || (lt->kind == PARQ_LT_NONE && ct == PARQ_CT_DATE)) {
            if (t == PARQ_INT32) {
                c->rk = RK_DATE;
                c->table_type = "date";
                TYPE("date");
                return;
            }
        } else if (lt->kind == PARQ_LT_TIME ||
                   (lt->kind == PARQ_LT_NONE &&
                    (ct == PARQ_CT_TIME_MILLIS || ct == PARQ_CT_TIME_MICROS))) {
            c->unit = lt->kind == PARQ_LT_TIME    ? lt->unit
                      : ct == PARQ_CT_TIME_MILLIS ? PARQ_UNIT_MILLIS
                                                  : PARQ_UNIT_MICROS;
            c->utc = lt->kind == PARQ_LT_TIME ? lt->utc : true;
            if (c->unit != PARQ_UNIT_NONE && (t == PARQ_INT32) == (c->unit == PARQ_UNIT_MILLIS)) {
                c->rk = RK_TIME;
                c->table_type = "time";
                TYPE("time(%s%s)", unit_name(c->unit), c->utc ? ", UTC" : "");
                return;
            }
        } else if (lt->kind == PARQ_LT_TIMESTAMP ||
                   (lt->kind == PARQ_LT_NONE &&
                    (ct == PARQ_CT_TIMESTAMP_MILLIS || ct == PARQ_CT_TIMESTAMP_MICROS))) {
            /* Legacy TIMESTAMP_* converted types are UTC-adjusted (LogicalTypes.md). */
            c->unit = lt->kind == PARQ_LT_TIMESTAMP    ? lt->unit
                      : ct == PARQ_CT_TIMESTAMP_MILLIS ? PARQ_UNIT_MILLIS
                                                       : PARQ_UNIT_MICROS;
            c->utc = lt->kind == PARQ_LT_TIMESTAMP ? lt->utc : true;
            if (c->unit != PARQ_UNIT_NONE && t == PARQ_INT64) {
                c->rk = RK_TIMESTAMP;
                c->table_type = "datetime";
                TYPE("timestamp(%s%s)", unit_name(c->unit), c->utc ? ", UTC" : "");
                return;
            }
        } else {
            bool is_unsigned =
                (lt->kind == PARQ_LT_INTEGER && !lt->is_signed) ||
                (lt->kind == PARQ_LT_NONE && ct >= PARQ_CT_UINT_8 && ct <= PARQ_CT_UINT_64);
            int w = bits;
            if (lt->kind == PARQ_LT_INTEGER && lt->bits > 0 && lt->bits <= bits)
                w = lt->bits;
            else if (lt->kind == PARQ_LT_NONE && ct >= PARQ_CT_UINT_8 && ct <= PARQ_CT_INT_64)
                w = 8 << ((ct - PARQ_CT_UINT_8) % 4);
            if (w > bits)
                w = bits;
            c->rk = is_unsigned ? (t == PARQ_INT32 ? RK_UINT32 : RK_UINT64) : RK_INT;
            c->table_type = "integer";
            TYPE("%sint%d", is_unsigned ? "u" : "", w);
            return;
        }
        /* An annotation that does not fit the physical type: plain integers. */
        c->rk = RK_INT;
        c->table_type = "integer";
        TYPE("int%d", bits);
        return;
    }
    case PARQ_INT96:
        c->rk = RK_INT96;
        c->table_type = "datetime";
        TYPE("int96");
        return;
    case PARQ_FLOAT:
        c->rk = RK_FLOAT;
        c->table_type = "number";
        TYPE("float");
        return;
    case PARQ_DOUBLE:
        c->rk = RK_DOUBLE;
        c->table_type = "number";
        TYPE("double");
        return;
    case PARQ_BYTE_ARRAY:
    case PARQ_FLBA:
        if (t == PARQ_FLBA && (lt->kind == PARQ_LT_FLOAT16 && el->type_length == 2)) {
            c->rk = RK_FLOAT16;
            c->table_type = "number";
            TYPE("float16");
            return;
        }
        if (t == PARQ_FLBA && lt->kind == PARQ_LT_UUID && el->type_length == 16) {
            c->rk = RK_UUID;
            c->table_type = "string";
            TYPE("uuid");
            return;
        }
        if (ct == PARQ_CT_INTERVAL) {
            TYPE("interval");
            snprintf(c->why, sizeof c->why, "INTERVAL column is not supported");
            return;
        }
        if (lt->kind == PARQ_LT_STRING || lt->kind == PARQ_LT_ENUM || lt->kind == PARQ_LT_JSON ||
            (lt->kind == PARQ_LT_NONE &&
             (ct == PARQ_CT_UTF8 || ct == PARQ_CT_ENUM || ct == PARQ_CT_JSON))) {
            c->rk = RK_STRING;
            c->table_type = "string";
            TYPE(lt->kind == PARQ_LT_ENUM || ct == PARQ_CT_ENUM   ? "enum"
                 : lt->kind == PARQ_LT_JSON || ct == PARQ_CT_JSON ? "json"
                                                                  : "string");
            return;
        }
        c->rk = RK_BINARY;
        c->table_type = "string";
        if (t == PARQ_FLBA)
            TYPE("fixed_len_byte_array(%d)", (int)el->type_length);
        else
            TYPE("binary");
        return;
    }
#undef TYPE
}

/* Walks the subtree at *idx; counts leaves; *kind names the top-level shape. */
static cel_status pr_walk(pr *r, size_t *idx, int depth, size_t *leaves, cel_error *err) {
    if (depth > PARQ_MAX_SCHEMA_DEPTH)
        return cel_fail(err, CEL_ELIMIT, "Parquet schema of %s is nested deeper than %d levels",
                        r->srcname, PARQ_MAX_SCHEMA_DEPTH);
    if (*idx >= r->meta.nschema)
        return cel_fail(err, CEL_EPARSE,
                        "Parquet schema of %s: num_children promises more elements than exist",
                        r->srcname);
    const parq_schema_el *el = &r->meta.schema[(*idx)++];
    if (el->num_children == 0) {
        if (el->type < 0)
            return cel_fail(err, CEL_EPARSE, "Parquet schema of %s: leaf '%s' has no type",
                            r->srcname, el->name);
        (*leaves)++;
        return CEL_OK;
    }
    for (int32_t k = 0; k < el->num_children; k++) {
        cel_status st = pr_walk(r, idx, depth + 1, leaves, err);
        if (st != CEL_OK)
            return st;
    }
    return CEL_OK;
}

static cel_status pr_build_columns(pr *r, cel_error *err) {
    parq_meta *m = &r->meta;
    if (m->nschema == 0)
        return cel_fail(err, CEL_EPARSE, "Parquet schema of %s is empty", r->srcname);
    const parq_schema_el *root = &m->schema[0];
    size_t n = (size_t)root->num_children;
    if (n > m->nschema - 1)
        return cel_fail(err, CEL_EPARSE,
                        "Parquet schema of %s: the root has %zu children but %zu elements follow",
                        r->srcname, n, m->nschema - 1);
    if (n > r->opts->max_columns)
        return cel_fail(err, CEL_ELIMIT,
                        "Parquet file %s has %zu columns, more than max_columns %zu", r->srcname, n,
                        r->opts->max_columns);
    r->cols = calloc(n ? n : 1, sizeof *r->cols);
    r->info = calloc(n ? n : 1, sizeof *r->info);
    r->names = calloc(n ? n : 1, sizeof *r->names);
    r->row = calloc(n ? n : 1, sizeof *r->row);
    if (!r->cols || !r->info || !r->names || !r->row)
        return cel_fail(err, CEL_ENOMEM, "out of memory reading the Parquet schema");
    r->ncols = n;
    size_t idx = 1, leaves = 0;
    for (size_t i = 0; i < n; i++) {
        pr_col *c = &r->cols[i];
        dbuf_init(&c->esc, r->opts->max_field_bytes * 4 + 16);
        if (idx >= m->nschema)
            return cel_fail(err, CEL_EPARSE, "Parquet schema of %s ends before column %zu",
                            r->srcname, i + 1);
        const parq_schema_el *el = &m->schema[idx];
        size_t nlen = strlen(el->name);
        if (u8_invalid_at((const unsigned char *)el->name, nlen) != nlen)
            return cel_fail(err, CEL_EPARSE, "Parquet schema of %s: column %zu's name is not UTF-8",
                            r->srcname, i + 1);
        c->el = el;
        c->name = el->name;
        c->leaf = leaves;
        c->table_type = "any";
        cel_status st = pr_walk(r, &idx, 1, &leaves, err);
        if (st != CEL_OK)
            return st;
        if (el->num_children > 0 || el->repetition == PARQ_REPEATED) {
            const char *shape = "struct";
            if (el->logical.kind == PARQ_LT_LIST || el->converted == PARQ_CT_LIST)
                shape = "list";
            else if (el->logical.kind == PARQ_LT_MAP || el->converted == PARQ_CT_MAP ||
                     el->converted == PARQ_CT_MAP_KEY_VALUE)
                shape = "map";
            else if (el->repetition == PARQ_REPEATED)
                shape = "repeated";
            snprintf(c->type_text, sizeof c->type_text, "%s", shape);
            snprintf(c->why, sizeof c->why, "nested column (%s) is not supported", shape);
        } else {
            pr_classify(c);
            c->supported = c->rk != RK_UNSUPPORTED;
            c->max_def = el->repetition == PARQ_OPTIONAL ? 1 : 0;
            c->required = !c->max_def;
        }
        r->names[i] = c->name;
        r->info[i] = (parquet_column_info){.name = c->name,
                                           .type = c->type_text,
                                           .table_type = c->supported ? c->table_type : "any",
                                           .supported = c->supported,
                                           .why = c->supported ? NULL : c->why};
    }
    if (idx != m->nschema)
        return cel_fail(err, CEL_EPARSE,
                        "Parquet schema of %s: %zu elements are not reachable from the root",
                        r->srcname, m->nschema - idx);
    r->nleaves = leaves;
    return CEL_OK;
}

/* ---------------------------------------------------------------- footer */

/* Reads the tail window (the last PR_TAIL_WINDOW bytes: the footer of most files, the
 * whole of small ones), then the start magic and the footer only when the window
 * misses them: one ranged GET for a small S3 object, three at most. */
static cel_status pr_open(pr *r, cel_error *err) {
    const cel_source *src = r->src;
    uint8_t *win = NULL, *foot_own = NULL;
    cel_status st;
    if (src->read_at == NULL || src->size < 0)
        return cel_fail(err, CEL_EUNSUPPORTED,
                        "Parquet needs random access, but %s is a pure stream", r->srcname);
    uint64_t size = (uint64_t)src->size;
    if (size < 12)
        return cel_fail(err, CEL_EPARSE, "%s is not a Parquet file: only %llu bytes", r->srcname,
                        (unsigned long long)size);
    size_t wlen = size < PR_TAIL_WINDOW ? (size_t)size : PR_TAIL_WINDOW;
    uint64_t wstart = size - wlen;
    win = malloc(wlen);
    if (win == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory reading the Parquet footer");
    if ((st = src->read_at(src->ud, wstart, wlen, win, err)) != CEL_OK)
        goto exit;
    const uint8_t *tail = win + wlen - 8;
    if (memcmp(tail + 4, "PARE", 4) == 0) {
        st = cel_fail(err, CEL_EUNSUPPORTED,
                      "%s is an encrypted Parquet file (encrypted footer); encryption is not "
                      "supported",
                      r->srcname);
        goto exit;
    }
    if (memcmp(tail + 4, "PAR1", 4) != 0) {
        st = cel_fail(err, CEL_EPARSE, "%s is not a Parquet file: no PAR1 magic at the end",
                      r->srcname);
        goto exit;
    }
    uint8_t head[4];
    if (wstart == 0)
        memcpy(head, win, 4);
    else if ((st = src->read_at(src->ud, 0, 4, head, err)) != CEL_OK)
        goto exit;
    if (memcmp(head, "PAR1", 4) != 0) {
        st = cel_fail(err, CEL_EPARSE, "%s is not a Parquet file: no PAR1 magic at the start",
                      r->srcname);
        goto exit;
    }
    uint64_t flen = le32(tail);
    if (flen > size - 12) {
        st = cel_fail(err, CEL_EPARSE,
                      "Parquet file %s: footer length %llu does not fit in a %llu-byte file",
                      r->srcname, (unsigned long long)flen, (unsigned long long)size);
        goto exit;
    }
    if (flen > r->opts->max_page_bytes) {
        st = cel_fail(err, CEL_ELIMIT,
                      "Parquet file %s: footer of %llu bytes exceeds max_page_bytes %zu",
                      r->srcname, (unsigned long long)flen, r->opts->max_page_bytes);
        goto exit;
    }
    r->data_end = size - 8 - flen;
    const uint8_t *foot;
    if (r->data_end >= wstart) {
        foot = win + (r->data_end - wstart);
    } else {
        foot_own = malloc(flen);
        if (foot_own == NULL) {
            st = cel_fail(err, CEL_ENOMEM, "out of memory for a %llu-byte Parquet footer",
                          (unsigned long long)flen);
            goto exit;
        }
        if ((st = src->read_at(src->ud, r->data_end, (size_t)flen, foot_own, err)) != CEL_OK)
            goto exit;
        foot = foot_own;
    }
    cel_error sub;
    cel_error_clear(&sub);
    if ((st = parq_meta_decode(foot, (size_t)flen, &r->meta, &sub)) != CEL_OK) {
        st = cel_fail(err, st, "Parquet file %s: %s", r->srcname, sub.msg);
        goto exit;
    }
    if (r->meta.encryption_algo) {
        st = cel_fail(err, CEL_EUNSUPPORTED,
                      "%s is an encrypted Parquet file (plaintext footer with encrypted columns); "
                      "encryption is not supported",
                      r->srcname);
        goto exit;
    }
    st = pr_build_columns(r, err);
exit:
    free(win);
    free(foot_own);
    return st;
}

/* ---------------------------------------------------------------- values */

/* PLAIN values of the column's physical type: count values from p[0..n) into out;
 * *used = bytes taken. */
static cel_status pr_plain(pr_col *c, const uint8_t *p, size_t n, size_t count, pr_val *out,
                           size_t *used, cel_error *err) {
    size_t w = 0;
    switch (c->ptype) {
    case PARQ_BOOLEAN:
        if ((count + 7) / 8 > n)
            goto short_data;
        for (size_t k = 0; k < count; k++)
            out[k].i = (p[k >> 3] >> (k & 7)) & 1;
        *used = (count + 7) / 8;
        return CEL_OK;
    case PARQ_INT32:
    case PARQ_FLOAT:
        w = 4;
        break;
    case PARQ_INT64:
    case PARQ_DOUBLE:
        w = 8;
        break;
    case PARQ_INT96:
        w = 12;
        break;
    case PARQ_FLBA:
        w = (size_t)c->type_length;
        break;
    case PARQ_BYTE_ARRAY: {
        size_t at = 0;
        for (size_t k = 0; k < count; k++) {
            if (n - at < 4)
                goto short_data;
            uint32_t len = le32(p + at);
            at += 4;
            if (len > n - at)
                goto short_data;
            out[k].b.p = p + at;
            out[k].b.n = len;
            at += len;
        }
        *used = at;
        return CEL_OK;
    }
    }
    if (w == 0 || count > n / w)
        goto short_data;
    for (size_t k = 0; k < count; k++) {
        const uint8_t *q = p + k * w;
        switch (c->ptype) {
        case PARQ_INT32:
            out[k].i = (int32_t)le32(q);
            break;
        case PARQ_FLOAT: {
            uint32_t u = le32(q);
            memcpy(&out[k].f, &u, 4);
            break;
        }
        case PARQ_INT64:
            out[k].i = (int64_t)le64(q);
            break;
        case PARQ_DOUBLE: {
            uint64_t u = le64(q);
            memcpy(&out[k].d, &u, 8);
            break;
        }
        default:
            out[k].b.p = q;
            out[k].b.n = (uint32_t)w;
        }
    }
    *used = count * w;
    return CEL_OK;
short_data:
    return cel_fail(err, CEL_EPARSE, "PLAIN values: the page holds fewer than %zu values", count);
}

static size_t pr_width(const pr_col *c) {
    switch (c->ptype) {
    case PARQ_INT32:
    case PARQ_FLOAT:
        return 4;
    case PARQ_INT64:
    case PARQ_DOUBLE:
        return 8;
    case PARQ_FLBA:
        return (size_t)c->type_length;
    default:
        return 0;
    }
}

static cel_status pr_decode_values(pr *r, pr_col *c, int enc, const uint8_t *p, size_t n,
                                   size_t count, cel_error *err) {
    cel_status st;
    size_t used;
    if ((st = GROW(c->vals, c->vals_cap, count, err)) != CEL_OK)
        return st;
    switch (enc) {
    case PARQ_ENC_PLAIN:
        return pr_plain(c, p, n, count, c->vals, &used, err);
    case PARQ_ENC_PLAIN_DICTIONARY:
    case PARQ_ENC_RLE_DICTIONARY: {
        if (!c->has_dict)
            return cel_fail(err, CEL_EPARSE, "dictionary-encoded page without a dictionary page");
        if (count == 0)
            return CEL_OK;
        if (n < 1)
            return cel_fail(err, CEL_EPARSE, "dictionary-encoded page without a bit width");
        if ((st = GROW(c->idx, c->idx_cap, count, err)) != CEL_OK)
            return st;
        if ((st = parq_rle_decode(p + 1, n - 1, p[0], c->idx, count, err)) != CEL_OK)
            return st;
        for (size_t k = 0; k < count; k++) {
            if (c->idx[k] >= c->ndict)
                return cel_fail(err, CEL_EPARSE,
                                "dictionary index %u out of range (dictionary has %zu entries)",
                                c->idx[k], c->ndict);
            c->vals[k] = c->dict[c->idx[k]];
        }
        return CEL_OK;
    }
    case PARQ_ENC_RLE: {
        if (c->ptype != PARQ_BOOLEAN)
            return cel_fail(err, CEL_EUNSUPPORTED, "RLE encoding for a non-boolean column");
        if (n < 4 || le32(p) > n - 4)
            return cel_fail(err, CEL_EPARSE, "RLE boolean values: bad length prefix");
        if ((st = GROW(c->idx, c->idx_cap, count, err)) != CEL_OK)
            return st;
        if ((st = parq_rle_decode(p + 4, le32(p), 1, c->idx, count, err)) != CEL_OK)
            return st;
        for (size_t k = 0; k < count; k++)
            c->vals[k].i = c->idx[k];
        return CEL_OK;
    }
    case PARQ_ENC_DELTA_BINARY_PACKED: {
        if (c->ptype != PARQ_INT32 && c->ptype != PARQ_INT64)
            return cel_fail(err, CEL_EPARSE, "DELTA_BINARY_PACKED for a non-integer column");
        size_t got;
        if ((st = GROW(c->deltas, c->deltas_cap, count, err)) != CEL_OK)
            return st;
        if ((st = parq_delta_decode(p, n, c->deltas, count, &got, &used, err)) != CEL_OK)
            return st;
        if (got != count)
            return cel_fail(err, CEL_EPARSE, "DELTA_BINARY_PACKED holds %zu values, expected %zu",
                            got, count);
        for (size_t k = 0; k < count; k++)
            c->vals[k].i =
                c->ptype == PARQ_INT32 ? (int64_t)(int32_t)(uint32_t)c->deltas[k] : c->deltas[k];
        return CEL_OK;
    }
    case PARQ_ENC_DELTA_LENGTH_BYTE_ARRAY: {
        if (c->ptype != PARQ_BYTE_ARRAY)
            return cel_fail(err, CEL_EPARSE, "DELTA_LENGTH_BYTE_ARRAY for a non-BYTE_ARRAY column");
        size_t got;
        if ((st = GROW(c->deltas, c->deltas_cap, count, err)) != CEL_OK)
            return st;
        if ((st = parq_delta_decode(p, n, c->deltas, count, &got, &used, err)) != CEL_OK)
            return st;
        if (got != count)
            return cel_fail(err, CEL_EPARSE,
                            "DELTA_LENGTH_BYTE_ARRAY holds %zu lengths, expected %zu", got, count);
        size_t at = used;
        for (size_t k = 0; k < count; k++) {
            int64_t len = c->deltas[k];
            if (len < 0 || (uint64_t)len > n - at || len > UINT32_MAX)
                return cel_fail(err, CEL_EPARSE,
                                "DELTA_LENGTH_BYTE_ARRAY value %zu has a bad length", k);
            c->vals[k].b.p = p + at;
            c->vals[k].b.n = (uint32_t)len;
            at += (size_t)len;
        }
        return CEL_OK;
    }
    case PARQ_ENC_DELTA_BYTE_ARRAY: {
        if (c->ptype != PARQ_BYTE_ARRAY && c->ptype != PARQ_FLBA)
            return cel_fail(err, CEL_EPARSE, "DELTA_BYTE_ARRAY for a non-byte-array column");
        size_t got1, got2, used2;
        if ((st = GROW(c->deltas, c->deltas_cap, count, err)) != CEL_OK ||
            (st = GROW(c->deltas2, c->deltas2_cap, count, err)) != CEL_OK)
            return st;
        if ((st = parq_delta_decode(p, n, c->deltas, count, &got1, &used, err)) != CEL_OK)
            return st;
        if ((st = parq_delta_decode(p + used, n - used, c->deltas2, count, &got2, &used2, err)) !=
            CEL_OK)
            return st;
        if (got1 != count || got2 != count)
            return cel_fail(err, CEL_EPARSE, "DELTA_BYTE_ARRAY holds %zu/%zu lengths, expected %zu",
                            got1, got2, count);
        size_t at = used + used2;
        uint64_t total = 0;
        for (size_t k = 0; k < count; k++) {
            int64_t pre = c->deltas[k], suf = c->deltas2[k];
            if (pre < 0 || suf < 0 || pre > UINT32_MAX || suf > UINT32_MAX)
                return cel_fail(err, CEL_EPARSE, "DELTA_BYTE_ARRAY value %zu has a bad length", k);
            total += (uint64_t)pre + (uint64_t)suf;
            if (total > r->opts->max_page_bytes)
                return cel_fail(err, CEL_ELIMIT,
                                "DELTA_BYTE_ARRAY page expands beyond max_page_bytes %zu",
                                r->opts->max_page_bytes);
        }
        if ((st = GROW(c->arena, c->arena_cap, (size_t)total + 1, err)) != CEL_OK)
            return st;
        size_t out = 0, prev_at = 0, prev_len = 0;
        for (size_t k = 0; k < count; k++) {
            size_t pre = (size_t)c->deltas[k], suf = (size_t)c->deltas2[k];
            if (pre > prev_len)
                return cel_fail(err, CEL_EPARSE,
                                "DELTA_BYTE_ARRAY value %zu: prefix %zu longer than the previous "
                                "value",
                                k, pre);
            if (suf > n - at)
                return cel_fail(err, CEL_EPARSE,
                                "DELTA_BYTE_ARRAY value %zu: suffix runs past the page", k);
            memmove(c->arena + out, c->arena + prev_at, pre);
            memcpy(c->arena + out + pre, p + at, suf);
            at += suf;
            if (c->ptype == PARQ_FLBA && pre + suf != (size_t)c->type_length)
                return cel_fail(err, CEL_EPARSE, "DELTA_BYTE_ARRAY value %zu has the wrong width",
                                k);
            prev_at = out;
            prev_len = pre + suf;
            out += pre + suf;
        }
        /* Pointers only after the arena stopped moving. */
        out = 0;
        for (size_t k = 0; k < count; k++) {
            size_t len = (size_t)c->deltas[k] + (size_t)c->deltas2[k];
            c->vals[k].b.p = c->arena + out;
            c->vals[k].b.n = (uint32_t)len;
            out += len;
        }
        return CEL_OK;
    }
    case PARQ_ENC_BYTE_STREAM_SPLIT: {
        size_t w = pr_width(c);
        if (w == 0)
            return cel_fail(err, CEL_EPARSE, "BYTE_STREAM_SPLIT for a column of this type");
        if (n % w != 0 || n / w < count)
            return cel_fail(err, CEL_EPARSE,
                            "BYTE_STREAM_SPLIT: %zu bytes do not hold %zu values of %zu bytes", n,
                            count, w);
        size_t nv = n / w;
        if ((st = GROW(c->arena, c->arena_cap, n + 1, err)) != CEL_OK)
            return st;
        for (size_t k = 0; k < w; k++)
            for (size_t i = 0; i < nv; i++)
                c->arena[i * w + k] = p[k * nv + i];
        return pr_plain(c, c->arena, count * w, count, c->vals, &used, err);
    }
    default:
        return cel_fail(err, CEL_EUNSUPPORTED, "page encoding %d is not supported", enc);
    }
}

/* ---------------------------------------------------------------- pages */

/* The decompressed bytes of a page body: src itself when not compressed. */
static cel_status pr_inflate(pr_col *c, const uint8_t *src, size_t n, size_t dlen, bool compressed,
                             const uint8_t **out, cel_error *err) {
    if (!compressed || c->codec == PARQ_CODEC_UNCOMPRESSED) {
        if (n != dlen)
            return cel_fail(err, CEL_EPARSE,
                            "uncompressed page: %zu bytes stored but the header says %zu", n, dlen);
        *out = src;
        return CEL_OK;
    }
    if (n == 0 && dlen == 0) {
        /* An empty v2 value section: never handed to the codec (parquet-testing
         * datapage_v2_empty_datapage.snappy.parquet). */
        *out = src;
        return CEL_OK;
    }
    cel_status st = GROW(c->page_buf, c->page_cap, dlen + 1, err);
    if (st != CEL_OK)
        return st;
    if ((st = parq_decompress(c->codec, src, n, c->page_buf, dlen, err)) != CEL_OK)
        return st;
    *out = c->page_buf;
    return CEL_OK;
}

static cel_status pr_dict_page(pr *r, pr_col *c, const parq_page_header *h, const uint8_t *data,
                               cel_error *err) {
    if (!h->has_dict)
        return cel_fail(err, CEL_EPARSE, "dictionary page without a DictionaryPageHeader");
    if (c->has_dict)
        return cel_fail(err, CEL_EPARSE, "a second dictionary page in one column chunk");
    if (h->num_values < 0)
        return cel_fail(err, CEL_EPARSE, "dictionary page with %d values", (int)h->num_values);
    if ((size_t)h->num_values > pr_max_page_values(r->opts))
        return cel_fail(err, CEL_ELIMIT, "dictionary page with %d values exceeds the bound %zu",
                        (int)h->num_values, pr_max_page_values(r->opts));
    if (h->encoding != PARQ_ENC_PLAIN && h->encoding != PARQ_ENC_PLAIN_DICTIONARY)
        return cel_fail(err, CEL_EUNSUPPORTED, "dictionary page encoding %d", h->encoding);
    size_t dlen = (size_t)h->uncompressed_size;
    const uint8_t *body = data;
    cel_status st;
    if (c->codec != PARQ_CODEC_UNCOMPRESSED) {
        free(c->dict_buf);
        c->dict_buf = malloc(dlen + 1);
        if (c->dict_buf == NULL)
            return cel_fail(err, CEL_ENOMEM, "out of memory for a %zu-byte dictionary", dlen);
        if ((st = parq_decompress(c->codec, data, (size_t)h->compressed_size, c->dict_buf, dlen,
                                  err)) != CEL_OK)
            return st;
        body = c->dict_buf;
    } else if ((size_t)h->compressed_size != dlen) {
        return cel_fail(err, CEL_EPARSE, "uncompressed dictionary page: sizes %d and %zu differ",
                        (int)h->compressed_size, dlen);
    }
    if ((st = GROW(c->dict, c->dict_cap, (size_t)h->num_values, err)) != CEL_OK)
        return st;
    size_t used;
    if ((st = pr_plain(c, body, dlen, (size_t)h->num_values, c->dict, &used, err)) != CEL_OK)
        return st;
    c->ndict = (size_t)h->num_values;
    c->has_dict = true;
    return CEL_OK;
}

static cel_status pr_levels_done(pr_col *c, size_t n, size_t *nonnull, cel_error *err) {
    size_t nn = 0;
    for (size_t k = 0; k < n; k++) {
        if (c->levels[k] > (uint32_t)c->max_def)
            return cel_fail(err, CEL_EPARSE, "definition level %u above the maximum %d",
                            c->levels[k], c->max_def);
        nn += c->levels[k] == (uint32_t)c->max_def;
    }
    *nonnull = nn;
    return CEL_OK;
}

static cel_status pr_data_page(pr *r, pr_col *c, const parq_page_header *h, const uint8_t *data,
                               cel_error *err) {
    bool v2 = h->type == PARQ_PAGE_DATA_V2;
    if (v2 ? !h->has_data_v2 : !h->has_data)
        return cel_fail(err, CEL_EPARSE, "data page without its DataPageHeader");
    if (h->num_values < 0)
        return cel_fail(err, CEL_EPARSE, "data page with %d values", (int)h->num_values);
    size_t n = (size_t)h->num_values;
    if (n > pr_max_page_values(r->opts))
        return cel_fail(err, CEL_ELIMIT, "data page with %zu values exceeds the bound %zu", n,
                        pr_max_page_values(r->opts));
    if ((int64_t)n > c->rg_left)
        return cel_fail(err, CEL_EPARSE,
                        "a page holds %zu values but only %lld rows of the row group are left", n,
                        (long long)c->rg_left);
    cel_status st;
    if (c->max_def > 0 && (st = GROW(c->levels, c->levels_cap, n, err)) != CEL_OK)
        return st;
    size_t cs = (size_t)h->compressed_size, us = (size_t)h->uncompressed_size;
    size_t nonnull = n;
    const uint8_t *body, *vals;
    size_t vlen;
    if (!v2) {
        if ((st = pr_inflate(c, data, cs, us, true, &body, err)) != CEL_OK)
            return st;
        size_t at = 0;
        if (c->max_def > 0) {
            if (h->def_encoding == PARQ_ENC_RLE) {
                if (us < 4 || le32(body) > us - 4)
                    return cel_fail(err, CEL_EPARSE, "definition levels: bad length prefix");
                size_t len = le32(body);
                if ((st = parq_rle_decode(body + 4, len, 1, c->levels, n, err)) != CEL_OK)
                    return st;
                at = 4 + len;
            } else if (h->def_encoding == PARQ_ENC_BIT_PACKED) {
                if ((st = parq_bitpacked_decode(body, us, 1, c->levels, n, err)) != CEL_OK)
                    return st;
                at = (n + 7) / 8;
            } else {
                return cel_fail(err, CEL_EUNSUPPORTED, "definition level encoding %d",
                                h->def_encoding);
            }
            if ((st = pr_levels_done(c, n, &nonnull, err)) != CEL_OK)
                return st;
        }
        vals = body + at;
        vlen = us - at;
    } else {
        if (h->def_len < 0 || h->rep_len < 0 ||
            (size_t)h->def_len + (size_t)h->rep_len > (cs < us ? cs : us))
            return cel_fail(err, CEL_EPARSE, "v2 page: level lengths %d+%d exceed the page",
                            (int)h->rep_len, (int)h->def_len);
        size_t lv = (size_t)h->rep_len + (size_t)h->def_len;
        if (c->max_def > 0) {
            if ((st = parq_rle_decode(data + h->rep_len, (size_t)h->def_len, 1, c->levels, n,
                                      err)) != CEL_OK)
                return st;
            if ((st = pr_levels_done(c, n, &nonnull, err)) != CEL_OK)
                return st;
        }
        if (h->num_nulls < 0 || (size_t)h->num_nulls != n - nonnull)
            return cel_fail(
                err, CEL_EPARSE, "v2 page says %d nulls but its definition levels hold %zu%s",
                (int)h->num_nulls, n - nonnull, c->required ? " (the column is REQUIRED)" : "");
        if ((st = pr_inflate(c, data + lv, cs - lv, us - lv, h->is_compressed, &vals, err)) !=
            CEL_OK)
            return st;
        vlen = us - lv;
    }
    if ((st = pr_decode_values(r, c, h->encoding, vals, vlen, nonnull, err)) != CEL_OK)
        return st;
    c->page_n = n;
    c->page_i = 0;
    c->val_i = 0;
    c->rg_left -= (int64_t)n;
    return CEL_OK;
}

/* Moves to the next data page with at least one value. */
static cel_status pr_next_page(pr *r, pr_col *c, cel_error *err) {
    cel_error sub;
    cel_error_clear(&sub);
    cel_status st = CEL_OK;
    for (;;) {
        if (c->pos >= c->chunk_len) {
            cel_fail(&sub, CEL_EPARSE, "the column chunk ends %lld values short of the row count",
                     (long long)c->rg_left);
            st = CEL_EPARSE;
            break;
        }
        parq_page_header h;
        size_t used;
        size_t at = c->pos;
        if ((st = parq_page_header_decode(c->chunk + c->pos, c->chunk_len - c->pos, &h, &used,
                                          &sub)) != CEL_OK)
            break;
        c->pos += used;
        size_t cs = (size_t)h.compressed_size;
        if (cs > c->chunk_len - c->pos) {
            st = cel_fail(&sub, CEL_EPARSE, "page at chunk offset %zu runs past the column chunk",
                          at);
            break;
        }
        const uint8_t *data = c->chunk + c->pos;
        c->pos += cs;
        if ((size_t)h.uncompressed_size > r->opts->max_page_bytes) {
            st = cel_fail(&sub, CEL_ELIMIT, "page of %d bytes exceeds max_page_bytes %zu",
                          (int)h.uncompressed_size, r->opts->max_page_bytes);
            break;
        }
        if (h.has_crc && parq_crc32(data, cs) != h.crc) {
            st = cel_fail(&sub, CEL_EPARSE, "page at chunk offset %zu fails its CRC-32 check", at);
            break;
        }
        if (h.type == PARQ_PAGE_DICTIONARY) {
            if ((st = pr_dict_page(r, c, &h, data, &sub)) != CEL_OK)
                break;
        } else if (h.type == PARQ_PAGE_DATA || h.type == PARQ_PAGE_DATA_V2) {
            if ((st = pr_data_page(r, c, &h, data, &sub)) != CEL_OK)
                break;
            if (c->page_n > 0)
                return CEL_OK;
        }
        /* INDEX_PAGE and unknown page types are skipped. */
    }
    return pr_colfail(r, c, err, st, &sub);
}

/* ---------------------------------------------------------------- rendering */

static void pr_civil(int64_t days, int64_t *y, int *m, int *d) {
    /* days since 1970-01-01 → proleptic Gregorian date (H. Hinnant's civil_from_days). */
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Writes v (>= 0) as exactly w digits, zero padded (w <= 19). */
static size_t pr_digits(char *out, uint64_t v, int w) {
    for (int k = w - 1; k >= 0; k--) {
        out[k] = (char)('0' + v % 10);
        v /= 10;
    }
    return (size_t)w;
}

/* "YYYY-MM-DD"; years outside 0..9999 as a signed expanded year ("+290000", "-0044"). */
static size_t pr_fmt_date(char *out, size_t cap, int64_t days) {
    int64_t y;
    int m, d;
    pr_civil(days, &y, &m, &d);
    size_t o = 0;
    if (cap < 32)
        return 0;
    if (y >= 0 && y <= 9999) {
        o += pr_digits(out, (uint64_t)y, 4);
    } else {
        uint64_t a = y < 0 ? 0 - (uint64_t)y : (uint64_t)y;
        out[o++] = y < 0 ? '-' : '+';
        int w = 4;
        for (uint64_t t = a / 10000; t > 0; t /= 10)
            w++;
        o += pr_digits(out + o, a, w);
    }
    out[o++] = '-';
    o += pr_digits(out + o, (uint64_t)m, 2);
    out[o++] = '-';
    o += pr_digits(out + o, (uint64_t)d, 2);
    out[o] = '\0';
    return o;
}

/* "HH:MM:SS[.fff[fff[fff]]]" from nanoseconds within a day (0 <= ns; hours may
 * exceed 23 for out-of-range TIME values). */
static size_t pr_fmt_time(char *out, size_t cap, int64_t ns) {
    if (cap < 48)
        return 0;
    int64_t secs = ns / 1000000000, frac = ns % 1000000000;
    int64_t h = secs / 3600;
    size_t o = 0;
    int hw = 2;
    for (int64_t t = h / 100; t > 0; t /= 10)
        hw++;
    o += pr_digits(out, (uint64_t)h, hw);
    out[o++] = ':';
    o += pr_digits(out + o, (uint64_t)(secs / 60 % 60), 2);
    out[o++] = ':';
    o += pr_digits(out + o, (uint64_t)(secs % 60), 2);
    if (frac != 0) {
        int digits = 9;
        while (digits > 3 && frac % 1000 == 0) {
            frac /= 1000;
            digits -= 3;
        }
        out[o++] = '.';
        o += pr_digits(out + o, (uint64_t)frac, digits);
    }
    out[o] = '\0';
    return o;
}

static int64_t pr_floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* A timestamp of `days` + `ns` within the day; ns is normalised into 0..1 day. */
static size_t pr_fmt_ts(char *out, size_t cap, int64_t days, int64_t ns, bool utc) {
    const int64_t day = 86400 * INT64_C(1000000000);
    days += pr_floordiv(ns, day);
    ns -= pr_floordiv(ns, day) * day;
    size_t n = pr_fmt_date(out, cap, days);
    if (n + 1 < cap)
        out[n++] = 'T';
    n += pr_fmt_time(out + n, cap - n, ns);
    if (utc && n + 1 < cap)
        out[n++] = 'Z';
    if (n < cap)
        out[n] = '\0';
    return n;
}

static int64_t pr_unit_per_sec(int unit) {
    return unit == PARQ_UNIT_MILLIS ? 1000 : unit == PARQ_UNIT_MICROS ? 1000000 : 1000000000;
}

/* Shortest decimal text of a value that round-trips at half precision (same(),
 * maxprec digits at most); d gets the value of that text. */
static size_t pr_fmt_short(char *out, double exact, int maxprec, bool (*same)(double, double),
                           double *d) {
    if (!isfinite(exact)) {
        *d = exact;
        return numtext_double(exact, out);
    }
    char tmp[48];
    double v = exact;
    for (int prec = 1; prec <= maxprec; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, exact);
        v = strtod(tmp, NULL);
        if (same(v, exact))
            break;
        v = exact;
    }
    *d = v;
    return numtext_double(v, out);
}

static double half_to_double(uint16_t h) {
    int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* cand rounds to the half-precision value `exact` when it is strictly closer to it
 * than to either neighbouring half value. */
static bool same_half(double cand, double exact) {
    if (cand == exact)
        return true;
    double a = fabs(exact);
    int e;
    frexp(a == 0 ? ldexp(1, -14) : a, &e); /* a = f * 2^e, f in [0.5,1) */
    int ue = e - 11;
    if (ue < -24)
        ue = -24;
    double ulp = ldexp(1, ue);
    double below = ulp;
    if (a != 0 && a == ldexp(1, e - 1) && ue > -24)
        below = ulp / 2; /* at a power of two the step below is half as large */
    double diff = (exact < 0 ? -(cand - exact) : cand - exact);
    if ((cand < 0) != (exact < 0) && cand != 0 && exact != 0)
        return false;
    return diff >= 0 ? diff < ulp / 2 : -diff < below / 2;
}

/* Unscaled big-endian two's complement bytes → decimal digits with the scale. */
static size_t pr_fmt_decimal_bytes(char *out, size_t cap, const uint8_t *p, size_t n,
                                   int32_t scale) {
    uint8_t mag[PARQ_MAX_DECIMAL_BYTES];
    bool neg = n > 0 && (p[0] & 0x80);
    memcpy(mag, p, n);
    if (neg) { /* two's complement negate */
        int carry = 1;
        for (size_t k = n; k-- > 0;) {
            int v = (uint8_t)~mag[k] + carry;
            mag[k] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    /* limbs of 32 bits, most significant first */
    uint32_t limb[PARQ_MAX_DECIMAL_BYTES / 4 + 1];
    size_t nl = (n + 3) / 4;
    memset(limb, 0, sizeof limb);
    for (size_t k = 0; k < n; k++) {
        size_t from_end = n - 1 - k; /* byte index from the least significant */
        limb[nl - 1 - from_end / 4] |= (uint32_t)mag[k] << (8 * (from_end % 4));
    }
    char digits[PARQ_MAX_DECIMAL_BYTES * 3 + 8];
    size_t nd = 0;
    for (;;) {
        bool zero = true;
        uint64_t rem = 0;
        for (size_t k = 0; k < nl; k++) {
            uint64_t cur = (rem << 32) | limb[k];
            limb[k] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
            if (limb[k])
                zero = false;
        }
        for (int k = 0; k < 9; k++) {
            digits[nd++] = (char)('0' + rem % 10);
            rem /= 10;
            if (zero && rem == 0)
                break;
        }
        if (zero)
            break;
    }
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    /* digits is reversed; place the decimal point */
    size_t o = 0;
    if (neg && !(nd == 1 && digits[0] == '0'))
        out[o++] = '-';
    size_t sc = (size_t)scale;
    if (nd <= sc) {
        out[o++] = '0';
        out[o++] = '.';
        for (size_t k = nd; k < sc && o + 1 < cap; k++)
            out[o++] = '0';
        for (size_t k = nd; k-- > 0 && o + 1 < cap;)
            out[o++] = digits[k];
    } else {
        for (size_t k = nd; k-- > 0 && o + 2 < cap;) {
            out[o++] = digits[k];
            if (k == sc && sc > 0)
                out[o++] = '.';
        }
    }
    out[o] = '\0';
    return o;
}

static cel_status pr_render_bytes(pr *r, pr_col *c, const uint8_t *p, size_t n, cel_value *v,
                                  cel_error *err) {
    if (n > r->opts->max_field_bytes)
        return cel_fail(err, CEL_ELIMIT,
                        "Parquet column '%s' row %llu: a value of %zu bytes exceeds "
                        "max_field_bytes %zu",
                        c->name, (unsigned long long)r->row_number + 1, n,
                        r->opts->max_field_bytes);
    v->kind = CEL_V_STRING;
    if (u8_invalid_at(p, n) == n) {
        v->s = (const char *)p;
        v->len = n;
        return CEL_OK;
    }
    if (c->rk == RK_STRING)
        return cel_fail(err, CEL_EPARSE,
                        "Parquet column '%s' row %llu: invalid UTF-8 in a STRING value at byte %zu",
                        c->name, (unsigned long long)r->row_number + 1, u8_invalid_at(p, n));
    dbuf_reset(&c->esc);
    cel_status st = CEL_OK;
    for (size_t k = 0; k < n && st == CEL_OK; k++) {
        if (p[k] >= 0x20 && p[k] < 0x7F && p[k] != '\\')
            st = dbuf_append(&c->esc, &p[k], 1);
        else
            st = dbuf_printf(&c->esc, "\\x%02X", p[k]);
    }
    if (st != CEL_OK)
        return cel_fail(err, st, "Parquet column '%s': cannot escape a binary value", c->name);
    v->s = c->esc.data;
    v->len = c->esc.len;
    return CEL_OK;
}

static cel_status pr_render(pr *r, pr_col *c, const pr_val *x, cel_value *v, cel_error *err) {
    char *t = c->text;
    size_t cap = sizeof c->text;
    v->s = t;
    v->i = 0;
    v->d = 0;
    switch (c->rk) {
    case RK_BOOL:
        v->kind = CEL_V_BOOL;
        v->i = x->i != 0;
        v->s = v->i ? "true" : "false";
        v->len = v->i ? 4 : 5;
        return CEL_OK;
    case RK_INT:
        v->kind = CEL_V_INT;
        v->i = x->i;
        v->len = parq_text_int(x->i, t);
        return CEL_OK;
    case RK_UINT32:
        v->kind = CEL_V_INT;
        v->i = (int64_t)(uint32_t)x->i;
        v->len = parq_text_int(v->i, t);
        return CEL_OK;
    case RK_UINT64: {
        uint64_t u = (uint64_t)x->i;
        if (u <= INT64_MAX) {
            v->kind = CEL_V_INT;
            v->i = (int64_t)u;
            v->len = parq_text_int(v->i, t);
        } else {
            v->kind = CEL_V_DOUBLE;
            v->len = (size_t)snprintf(t, cap, "%" PRIu64, u);
            v->d = strtod(t, NULL);
        }
        return CEL_OK;
    }
    case RK_FLOAT:
        v->kind = CEL_V_DOUBLE;
        v->len = parq_text_float(x->f, t, &v->d);
        return CEL_OK;
    case RK_DOUBLE:
        v->kind = CEL_V_DOUBLE;
        v->d = x->d;
        v->len = parq_text_double(x->d, t);
        return CEL_OK;
    case RK_FLOAT16: {
        uint16_t h = (uint16_t)(x->b.p[0] | x->b.p[1] << 8);
        v->kind = CEL_V_DOUBLE;
        v->len = pr_fmt_short(t, half_to_double(h), 5, same_half, &v->d);
        return CEL_OK;
    }
    case RK_STRING:
    case RK_BINARY:
        return pr_render_bytes(r, c, x->b.p, x->b.n, v, err);
    case RK_UUID: {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;
        for (size_t k = 0; k < 16; k++) {
            if (k == 4 || k == 6 || k == 8 || k == 10)
                t[o++] = '-';
            t[o++] = hex[x->b.p[k] >> 4];
            t[o++] = hex[x->b.p[k] & 15];
        }
        v->kind = CEL_V_STRING;
        v->len = o;
        return CEL_OK;
    }
    case RK_DECIMAL: {
        uint8_t be[8];
        const uint8_t *p;
        size_t n;
        if (c->ptype == PARQ_INT32 || c->ptype == PARQ_INT64) {
            uint64_t u = (uint64_t)x->i;
            for (int k = 0; k < 8; k++)
                be[k] = (uint8_t)(u >> (56 - 8 * k));
            p = be;
            n = 8;
        } else {
            p = x->b.p;
            n = x->b.n;
            if (n > PARQ_MAX_DECIMAL_BYTES)
                return cel_fail(err, CEL_EUNSUPPORTED,
                                "Parquet column '%s' row %llu: a DECIMAL of %zu bytes (at most "
                                "%d supported)",
                                c->name, (unsigned long long)r->row_number + 1, n,
                                PARQ_MAX_DECIMAL_BYTES);
        }
        v->len = pr_fmt_decimal_bytes(t, cap, p, n, c->scale);
        if (c->scale == 0) {
            errno = 0;
            char *end;
            long long ll = strtoll(t, &end, 10);
            if (errno == 0 && *end == '\0') {
                v->kind = CEL_V_INT;
                v->i = ll;
                return CEL_OK;
            }
        }
        v->kind = CEL_V_DOUBLE;
        v->d = strtod(t, NULL);
        return CEL_OK;
    }
    case RK_DATE:
        v->kind = CEL_V_TEMPORAL;
        v->len = pr_fmt_date(t, cap, x->i);
        return CEL_OK;
    case RK_TIME: {
        int64_t per = pr_unit_per_sec(c->unit);
        int64_t val = x->i;
        v->kind = CEL_V_TEMPORAL;
        bool neg = val < 0;
        uint64_t mag = neg ? 0 - (uint64_t)val : (uint64_t)val;
        /* at most 2^63 ns: fits after scaling for ms/us/ns of a sane time */
        uint64_t ns =
            mag / (uint64_t)per * 1000000000u + mag % (uint64_t)per * (1000000000u / (uint64_t)per);
        size_t o = 0;
        if (neg)
            t[o++] = '-';
        o += pr_fmt_time(t + o, cap - o, (int64_t)(ns & INT64_MAX));
        if (c->utc && o + 1 < cap)
            t[o++] = 'Z';
        v->len = o;
        return CEL_OK;
    }
    case RK_TIMESTAMP: {
        int64_t per = pr_unit_per_sec(c->unit);
        int64_t secs = pr_floordiv(x->i, per);
        int64_t sub = x->i - secs * per;
        int64_t days = pr_floordiv(secs, 86400);
        int64_t sod = secs - days * 86400;
        v->kind = CEL_V_TEMPORAL;
        v->len = pr_fmt_ts(t, cap, days, sod * 1000000000 + sub * (1000000000 / per), c->utc);
        return CEL_OK;
    }
    case RK_INT96: {
        /* 8 bytes nanoseconds of the day, 4 bytes Julian day (Julian day 2440588 =
         * 1970-01-01). Converted the way Spark reads it back: microseconds in
         * wrapping 64-bit arithmetic, so the values Spark wrote with an overflowing
         * conversion (parquet-testing int96_from_spark.md) come back as Spark
         * shows them; the sub-microsecond nanoseconds are kept. */
        int64_t ns = (int64_t)le64(x->b.p);
        int64_t jd = (int32_t)le32(x->b.p + 8);
        const uint64_t us_day = UINT64_C(86400000000);
        int64_t us =
            (int64_t)((uint64_t)jd * us_day + (uint64_t)(ns / 1000) - UINT64_C(2440588) * us_day);
        int64_t secs = pr_floordiv(us, 1000000);
        int64_t days = pr_floordiv(secs, 86400);
        int64_t in_day =
            (secs - days * 86400) * 1000000000 + (us - secs * 1000000) * 1000 + ns % 1000;
        v->kind = CEL_V_TEMPORAL;
        v->len = pr_fmt_ts(t, cap, days, in_day, false);
        return CEL_OK;
    }
    case RK_UNSUPPORTED:
        break;
    }
    v->kind = CEL_V_NULL;
    v->s = NULL;
    v->len = 0;
    return CEL_OK;
}

/* ---------------------------------------------------------------- row groups */

static void pr_release_chunks(pr *r) {
    for (size_t i = 0; i < r->ncols; i++) {
        pr_col *c = &r->cols[i];
        free(c->chunk_own);
        c->chunk_own = NULL;
        c->chunk = NULL;
        c->chunk_len = c->pos = 0;
        c->has_dict = false;
        c->ndict = 0;
        c->page_n = c->page_i = c->val_i = 0;
    }
    free(r->rg_buf);
    r->rg_buf = NULL;
}

static cel_status pr_chunk_range(pr *r, pr_col *c, const parq_row_group *rg, uint64_t *start,
                                 uint64_t *len, cel_error *err) {
    const parq_chunk_meta *m = &rg->cols[c->leaf];
    const char *name = c->name;
    if (m->encrypted)
        return cel_fail(err, CEL_EUNSUPPORTED,
                        "Parquet column '%s' row group %zu is encrypted; encryption is not "
                        "supported",
                        name, r->rg_index);
    if (m->external)
        return cel_fail(err, CEL_EUNSUPPORTED,
                        "Parquet column '%s' row group %zu lives in another file (file_path)", name,
                        r->rg_index);
    if (!m->has_meta)
        return cel_fail(err, CEL_EPARSE, "Parquet column '%s' row group %zu has no metadata", name,
                        r->rg_index);
    if (m->type != c->ptype)
        return cel_fail(err, CEL_EPARSE,
                        "Parquet column '%s' row group %zu: physical type %d differs from the "
                        "schema's %d",
                        name, r->rg_index, m->type, c->ptype);
    int64_t s = m->data_page_offset;
    if (m->dictionary_page_offset > 0 && m->dictionary_page_offset < s)
        s = m->dictionary_page_offset;
    int64_t l = m->total_compressed_size;
    if (s < 4 || l < 0 || (uint64_t)s > r->data_end || (uint64_t)l > r->data_end - (uint64_t)s)
        return cel_fail(err, CEL_EPARSE,
                        "Parquet column '%s' row group %zu: chunk at %lld (+%lld bytes) lies "
                        "outside the data",
                        name, r->rg_index, (long long)s, (long long)l);
    if ((uint64_t)l > r->opts->max_page_bytes)
        return cel_fail(err, CEL_ELIMIT,
                        "Parquet column '%s' row group %zu: column chunk of %lld bytes exceeds "
                        "max_page_bytes %zu",
                        name, r->rg_index, (long long)l, r->opts->max_page_bytes);
    c->codec = m->codec;
    if (m->codec < 0 || m->codec > PARQ_CODEC_LZ4_RAW || m->codec == PARQ_CODEC_LZO)
        return cel_fail(err, CEL_EUNSUPPORTED,
                        "Parquet column '%s' row group %zu: compression codec %s (%d) is not "
                        "supported",
                        name, r->rg_index, parq_codec_name(m->codec), m->codec);
    *start = (uint64_t)s;
    *len = (uint64_t)l;
    return CEL_OK;
}

static cel_status pr_load_row_group(pr *r, const parq_row_group *rg, cel_error *err) {
    cel_status st;
    uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
    size_t nsup = 0;
    uint64_t *starts = calloc(r->ncols ? r->ncols : 1, sizeof *starts);
    uint64_t *lens = calloc(r->ncols ? r->ncols : 1, sizeof *lens);
    if (!starts || !lens) {
        st = cel_fail(err, CEL_ENOMEM, "out of memory reading a Parquet row group");
        goto exit;
    }
    for (size_t i = 0; i < r->ncols; i++)
        r->cols[i].rg_left = rg->num_rows;
    if (rg->num_rows == 0) {
        st = CEL_OK; /* nothing to read (a chunk may hold a lone dictionary page) */
        goto exit;
    }
    for (size_t i = 0; i < r->ncols; i++) {
        pr_col *c = &r->cols[i];
        if (!c->supported)
            continue;
        if ((st = pr_chunk_range(r, c, rg, &starts[i], &lens[i], err)) != CEL_OK)
            goto exit;
        nsup++;
        sum += lens[i];
        if (starts[i] < lo)
            lo = starts[i];
        if (starts[i] + lens[i] > hi)
            hi = starts[i] + lens[i];
    }
    if (nsup == 0 || rg->num_rows == 0) {
        st = CEL_OK;
        goto exit;
    }
    /* One request for the whole span when the chunks lie close together. */
    if (hi - lo <= sum + PR_COALESCE_GAP) {
        r->rg_buf = malloc(hi - lo ? hi - lo : 1);
        if (r->rg_buf == NULL) {
            st = cel_fail(err, CEL_ENOMEM, "out of memory for a %llu-byte row group",
                          (unsigned long long)(hi - lo));
            goto exit;
        }
        if ((st = r->src->read_at(r->src->ud, lo, (size_t)(hi - lo), r->rg_buf, err)) != CEL_OK)
            goto exit;
        for (size_t i = 0; i < r->ncols; i++) {
            pr_col *c = &r->cols[i];
            if (!c->supported)
                continue;
            c->chunk = r->rg_buf + (starts[i] - lo);
            c->chunk_len = (size_t)lens[i];
            c->pos = 0;
        }
    } else {
        for (size_t i = 0; i < r->ncols; i++) {
            pr_col *c = &r->cols[i];
            if (!c->supported)
                continue;
            c->chunk_own = malloc(lens[i] ? lens[i] : 1);
            if (c->chunk_own == NULL) {
                st = cel_fail(err, CEL_ENOMEM, "out of memory for a %llu-byte column chunk",
                              (unsigned long long)lens[i]);
                goto exit;
            }
            if ((st = r->src->read_at(r->src->ud, starts[i], (size_t)lens[i], c->chunk_own, err)) !=
                CEL_OK)
                goto exit;
            c->chunk = c->chunk_own;
            c->chunk_len = (size_t)lens[i];
            c->pos = 0;
        }
    }
    st = CEL_OK;
exit:
    free(starts);
    free(lens);
    return st;
}

static cel_status pr_rows(pr *r, const parq_row_group *rg, const cel_row_sink *sink,
                          cel_error *err) {
    cel_status st;
    for (int64_t k = 0; k < rg->num_rows; k++) {
        for (size_t i = 0; i < r->ncols; i++) {
            pr_col *c = &r->cols[i];
            cel_value *v = &r->row[i];
            if (!c->supported) {
                *v = (cel_value){.kind = CEL_V_NULL};
                continue;
            }
            if (c->page_i >= c->page_n && (st = pr_next_page(r, c, err)) != CEL_OK)
                return st;
            uint32_t lvl = c->max_def ? c->levels[c->page_i] : 0;
            c->page_i++;
            if (lvl < (uint32_t)c->max_def) {
                *v = (cel_value){.kind = CEL_V_NULL};
                continue;
            }
            if ((st = pr_render(r, c, &c->vals[c->val_i++], v, err)) != CEL_OK)
                return st;
        }
        r->row_number++;
        if (sink->on_row) {
            st = sink->on_row(sink->ud, r->row_number, 0, r->ncols, r->row, err);
            if (st != CEL_OK)
                return cel_fail(err, st, "row sink stopped at Parquet row %llu",
                                (unsigned long long)r->row_number);
        }
    }
    return CEL_OK;
}

/* ---------------------------------------------------------------- entry points */

static void pr_free(pr *r) {
    pr_release_chunks(r);
    for (size_t i = 0; i < r->ncols; i++) {
        pr_col *c = &r->cols[i];
        free(c->dict_buf);
        free(c->dict);
        free(c->page_buf);
        free(c->arena);
        free(c->levels);
        free(c->idx);
        free(c->deltas);
        free(c->deltas2);
        free(c->vals);
        dbuf_free(&c->esc);
    }
    free(r->cols);
    free(r->info);
    free(r->names);
    free(r->row);
    parq_meta_free(&r->meta);
    memset(r, 0, sizeof *r);
}

cel_status parquet_read_source(const cel_source *src, const cel_reader_opts *opts,
                               const cel_row_sink *sink, cel_error *err) {
    pr r;
    memset(&r, 0, sizeof r);
    r.src = src;
    r.opts = opts;
    r.srcname = src && src->name ? src->name : "input";
    cel_status st = pr_open(&r, err);
    if (st != CEL_OK)
        goto exit;
    for (size_t g = 0; g < r.meta.nrgs; g++) {
        if (r.meta.rgs[g].ncols != r.nleaves) {
            st = cel_fail(err, CEL_EPARSE,
                          "Parquet file %s: row group %zu has %zu column chunks, the schema has "
                          "%zu leaf columns",
                          r.srcname, g, r.meta.rgs[g].ncols, r.nleaves);
            goto exit;
        }
    }
    tl_info = r.info;
    tl_ninfo = r.ncols;
    if (sink->on_columns && (st = sink->on_columns(sink->ud, r.ncols, r.names, err)) != CEL_OK) {
        st = cel_fail(err, st, "row sink refused the Parquet columns");
        goto exit;
    }
    for (size_t g = 0; g < r.meta.nrgs; g++) {
        r.rg_index = g;
        const parq_row_group *rg = &r.meta.rgs[g];
        if ((st = pr_load_row_group(&r, rg, err)) != CEL_OK)
            goto exit;
        if ((st = pr_rows(&r, rg, sink, err)) != CEL_OK)
            goto exit;
        pr_release_chunks(&r);
    }
exit:
    tl_info = NULL;
    tl_ninfo = 0;
    pr_free(&r);
    return st;
}

struct parquet_schema {
    pr r;
};

cel_status parquet_read_schema(const cel_source *src, const cel_reader_opts *opts,
                               parquet_schema **out, cel_error *err) {
    *out = NULL;
    parquet_schema *s = calloc(1, sizeof *s);
    if (s == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory reading a Parquet schema");
    s->r.src = src;
    s->r.opts = opts;
    s->r.srcname = src && src->name ? src->name : "input";
    cel_status st = pr_open(&s->r, err);
    if (st != CEL_OK) {
        parquet_schema_free(s);
        return st;
    }
    s->r.src = NULL;
    s->r.srcname = NULL;
    *out = s;
    return CEL_OK;
}

const parquet_column_info *parquet_schema_columns(const parquet_schema *s, size_t *n) {
    *n = s ? s->r.ncols : 0;
    return s ? s->r.info : NULL;
}

int64_t parquet_schema_rows(const parquet_schema *s) {
    return s ? s->r.meta.num_rows : 0;
}

size_t parquet_schema_row_groups(const parquet_schema *s) {
    return s ? s->r.meta.nrgs : 0;
}

void parquet_schema_free(parquet_schema *s) {
    if (s == NULL)
        return;
    pr_free(&s->r);
    free(s);
}
