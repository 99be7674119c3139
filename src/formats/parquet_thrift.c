/*
 * parquet_thrift.c: Thrift compact protocol decoding of the Parquet metadata a
 * flat reader needs: FileMetaData (schema, row groups, column chunk metadata)
 * and PageHeader (see parquet_internal.h for the structs).
 *
 * Design: a cursor over one complete buffer (the footer, or the bytes at a page
 * start). Wire format from apache/thrift doc/specs/thrift-compact-protocol.md:
 * ULEB128 varints, zigzag i16/i32/i64, field headers with id deltas (long form:
 * a zigzag i16 id), booleans in the field type nibble, list headers with a size
 * nibble (15 = varint size follows), maps with a varint size. Field ids and
 * types come from apache/parquet-format src/main/thrift/parquet.thrift. Unknown
 * fields (and unknown LogicalType union members, e.g. id 2555 in
 * parquet-testing's unknown-logical-type.parquet) are skipped by wire type. A
 * known field with the wrong wire type is CEL_EPARSE.
 *
 * Bounds: every varint has at most 10 bytes; every length and list size is
 * checked against the bytes left (each element takes at least one byte); struct
 * and container nesting stops at PARQ_MAX_THRIFT_DEPTH; schema element, row
 * group and column chunk counts have PARQ_MAX_* limits (CEL_ELIMIT).
 *
 * Not here: statistics, page indexes, bloom filters, key/value metadata, sorting
 * columns and encryption metadata are skipped (encryption is only detected).
 */
#include "formats/parquet_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARQ_MAX_CHUNKS 10000000 /* column chunks over all row groups */

enum {
    TT_STOP = 0,
    TT_TRUE = 1,
    TT_FALSE = 2,
    TT_I8 = 3,
    TT_I16 = 4,
    TT_I32 = 5,
    TT_I64 = 6,
    TT_DOUBLE = 7,
    TT_BINARY = 8,
    TT_LIST = 9,
    TT_SET = 10,
    TT_MAP = 11,
    TT_STRUCT = 12,
    TT_UUID = 13
};

typedef struct tr {
    const uint8_t *start, *p, *end;
    int depth;
    const char *what; /* "footer" / "page header" */
    cel_error *err;
} tr;

static cel_status tr_bad(tr *t, const char *why) {
    return cel_fail(t->err, CEL_EPARSE, "Parquet %s: malformed Thrift at byte %zu: %s", t->what,
                    (size_t)(t->p - t->start), why);
}

static cel_status tr_varint(tr *t, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (t->p >= t->end)
            return tr_bad(t, "truncated varint");
        uint8_t b = *t->p++;
        if (shift == 63 && (b & 0x7E) != 0)
            return tr_bad(t, "varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return CEL_OK;
        }
    }
    return tr_bad(t, "varint longer than 10 bytes");
}

static cel_status tr_i64(tr *t, int64_t *out) {
    uint64_t u;
    cel_status st = tr_varint(t, &u);
    if (st != CEL_OK)
        return st;
    *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return CEL_OK;
}

static cel_status tr_i32(tr *t, int32_t *out) {
    int64_t v;
    cel_status st = tr_i64(t, &v);
    if (st != CEL_OK)
        return st;
    if (v < INT32_MIN || v > INT32_MAX)
        return tr_bad(t, "i32 out of range");
    *out = (int32_t)v;
    return CEL_OK;
}

static cel_status tr_binary(tr *t, const uint8_t **p, size_t *n) {
    uint64_t len;
    cel_status st = tr_varint(t, &len);
    if (st != CEL_OK)
        return st;
    if (len > (uint64_t)(t->end - t->p))
        return tr_bad(t, "binary length beyond the end of the data");
    *p = t->p;
    *n = (size_t)len;
    t->p += len;
    return CEL_OK;
}

/* Reads a field header; *type = TT_STOP at the end of the struct. */
static cel_status tr_field(tr *t, int *last, int *id, int *type) {
    if (t->p >= t->end)
        return tr_bad(t, "truncated struct (no stop byte)");
    uint8_t b = *t->p++;
    *type = b & 0x0F;
    if (*type == TT_STOP) {
        if (b != 0)
            return tr_bad(t, "stop byte with a field delta");
        return CEL_OK;
    }
    int delta = b >> 4;
    if (delta == 0) {
        int32_t v;
        cel_status st = tr_i32(t, &v);
        if (st != CEL_OK)
            return st;
        if (v < INT16_MIN || v > INT16_MAX)
            return tr_bad(t, "field id out of i16 range");
        *id = v;
    } else {
        *id = *last + delta;
    }
    *last = *id;
    return CEL_OK;
}

static cel_status tr_list_header(tr *t, int *etype, size_t *n) {
    if (t->p >= t->end)
        return tr_bad(t, "truncated list header");
    uint8_t b = *t->p++;
    *etype = b & 0x0F;
    uint64_t size = b >> 4;
    if (size == 15) {
        cel_status st = tr_varint(t, &size);
        if (st != CEL_OK)
            return st;
    }
    /* Every element takes at least one byte on the wire (booleans are bytes here). */
    if (size > (uint64_t)(t->end - t->p))
        return tr_bad(t, "list size beyond the end of the data");
    *n = (size_t)size;
    return CEL_OK;
}

static cel_status tr_skip(tr *t, int type);

static cel_status tr_enter(tr *t) {
    if (++t->depth > PARQ_MAX_THRIFT_DEPTH)
        return cel_fail(t->err, CEL_ELIMIT, "Parquet %s: Thrift nesting deeper than %d at byte %zu",
                        t->what, PARQ_MAX_THRIFT_DEPTH, (size_t)(t->p - t->start));
    return CEL_OK;
}

static cel_status tr_skip_struct(tr *t) {
    cel_status st = tr_enter(t);
    int last = 0, id, type;
    while (st == CEL_OK) {
        st = tr_field(t, &last, &id, &type);
        if (st != CEL_OK || type == TT_STOP)
            break;
        st = tr_skip(t, type);
    }
    t->depth--;
    return st;
}

/* Skips one value of wire type `type` (as it appears in a field header; inside
 * lists booleans are one byte, handled by the caller passing TT_I8). */
static cel_status tr_skip(tr *t, int type) {
    uint64_t u;
    const uint8_t *p = NULL;
    size_t n = 0;
    cel_status st = CEL_OK;
    switch (type) {
    case TT_TRUE:
    case TT_FALSE:
        return CEL_OK;
    case TT_I8:
        if (t->p >= t->end)
            return tr_bad(t, "truncated byte");
        t->p++;
        return CEL_OK;
    case TT_I16:
    case TT_I32:
    case TT_I64:
        return tr_varint(t, &u);
    case TT_DOUBLE:
        if (t->end - t->p < 8)
            return tr_bad(t, "truncated double");
        t->p += 8;
        return CEL_OK;
    case TT_UUID:
        if (t->end - t->p < 16)
            return tr_bad(t, "truncated uuid");
        t->p += 16;
        return CEL_OK;
    case TT_BINARY:
        return tr_binary(t, &p, &n);
    case TT_STRUCT:
        return tr_skip_struct(t);
    case TT_LIST:
    case TT_SET: {
        int et;
        if ((st = tr_list_header(t, &et, &n)) != CEL_OK)
            return st;
        if ((st = tr_enter(t)) != CEL_OK)
            return st;
        if (et == TT_TRUE || et == TT_FALSE)
            et = TT_I8;
        for (size_t i = 0; i < n && st == CEL_OK; i++)
            st = tr_skip(t, et);
        t->depth--;
        return st;
    }
    case TT_MAP: {
        if ((st = tr_varint(t, &u)) != CEL_OK)
            return st;
        if (u == 0)
            return CEL_OK;
        if (u > (uint64_t)(t->end - t->p))
            return tr_bad(t, "map size beyond the end of the data");
        if (t->p >= t->end)
            return tr_bad(t, "truncated map header");
        uint8_t kv = *t->p++;
        int kt = kv >> 4, vt = kv & 0x0F;
        if (kt == TT_TRUE || kt == TT_FALSE)
            kt = TT_I8;
        if (vt == TT_TRUE || vt == TT_FALSE)
            vt = TT_I8;
        if ((st = tr_enter(t)) != CEL_OK)
            return st;
        for (uint64_t i = 0; i < u && st == CEL_OK; i++) {
            st = tr_skip(t, kt);
            if (st == CEL_OK)
                st = tr_skip(t, vt);
        }
        t->depth--;
        return st;
    }
    default:
        return tr_bad(t, "unknown wire type");
    }
}

static cel_status tr_want(tr *t, int type, int want, const char *field) {
    bool ok = type == want || (want == TT_TRUE && type == TT_FALSE);
    if (ok)
        return CEL_OK;
    char why[96];
    snprintf(why, sizeof why, "field %s has wire type %d", field, type);
    return tr_bad(t, why);
}

#define WANT(T, W, NAME)                                                                           \
    do {                                                                                           \
        if ((st = tr_want(t, (T), (W), (NAME))) != CEL_OK)                                         \
            goto exit;                                                                             \
    } while (0)

/* ---------------------------------------------------------------- logical types */

static cel_status decode_time_unit(tr *t, int *unit) {
    cel_status st = tr_enter(t);
    int last = 0, id, type;
    *unit = PARQ_UNIT_NONE;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        if (type == TT_STRUCT && id >= 1 && id <= 3)
            *unit = id; /* MILLIS=1, MICROS=2, NANOS=3 */
        st = tr_skip(t, type);
    }
    t->depth--;
    return st;
}

/* DECIMAL{1 scale, 2 precision}, TIME/TIMESTAMP{1 utc, 2 unit}, INTEGER{1 bits, 2 signed}. */
static cel_status decode_logical_member(tr *t, int kind, parq_logical *lt) {
    cel_status st = tr_enter(t);
    int last = 0, id, type;
    int32_t v;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        if (kind == PARQ_LT_DECIMAL && (id == 1 || id == 2)) {
            WANT(type, TT_I32, "DecimalType");
            if ((st = tr_i32(t, &v)) != CEL_OK)
                break;
            if (id == 1)
                lt->scale = v;
            else
                lt->precision = v;
        } else if ((kind == PARQ_LT_TIME || kind == PARQ_LT_TIMESTAMP) && id == 1) {
            WANT(type, TT_TRUE, "isAdjustedToUTC");
            lt->utc = type == TT_TRUE;
        } else if ((kind == PARQ_LT_TIME || kind == PARQ_LT_TIMESTAMP) && id == 2) {
            WANT(type, TT_STRUCT, "TimeUnit");
            st = decode_time_unit(t, &lt->unit);
        } else if (kind == PARQ_LT_INTEGER && id == 1) {
            WANT(type, TT_I8, "IntType.bitWidth");
            if (t->p >= t->end) {
                st = tr_bad(t, "truncated byte");
                break;
            }
            lt->bits = (int8_t)*t->p++;
        } else if (kind == PARQ_LT_INTEGER && id == 2) {
            WANT(type, TT_TRUE, "IntType.isSigned");
            lt->is_signed = type == TT_TRUE;
        } else {
            st = tr_skip(t, type);
        }
    }
exit:
    t->depth--;
    return st;
}

static cel_status decode_logical(tr *t, parq_logical *lt) {
    cel_status st = tr_enter(t);
    int last = 0, id, type;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        if (type != TT_STRUCT) {
            st = tr_skip(t, type);
            continue;
        }
        if ((id >= PARQ_LT_STRING && id <= PARQ_LT_FLOAT16) && id != 9) {
            lt->kind = id;
            st = decode_logical_member(t, id, lt);
        } else {
            lt->kind = PARQ_LT_OTHER;
            st = tr_skip(t, type);
        }
    }
    t->depth--;
    return st;
}

/* ---------------------------------------------------------------- schema */

static cel_status decode_schema_el(tr *t, parq_schema_el *el) {
    cel_status st = tr_enter(t);
    int last = 0, id, type;
    int32_t v;
    const uint8_t *p = NULL;
    size_t n = 0;
    el->type = -1;
    el->repetition = -1;
    el->converted = -1;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        switch (id) {
        case 1:
            WANT(type, TT_I32, "SchemaElement.type");
            if ((st = tr_i32(t, &v)) == CEL_OK && (v < 0 || v > PARQ_FLBA))
                st = tr_bad(t, "unknown physical type");
            el->type = v;
            break;
        case 2:
            WANT(type, TT_I32, "SchemaElement.type_length");
            st = tr_i32(t, &el->type_length);
            break;
        case 3:
            WANT(type, TT_I32, "SchemaElement.repetition_type");
            if ((st = tr_i32(t, &v)) == CEL_OK && (v < 0 || v > PARQ_REPEATED))
                st = tr_bad(t, "unknown repetition type");
            el->repetition = v;
            break;
        case 4:
            WANT(type, TT_BINARY, "SchemaElement.name");
            if ((st = tr_binary(t, &p, &n)) != CEL_OK)
                break;
            if (n > PARQ_MAX_NAME) {
                st = cel_fail(t->err, CEL_ELIMIT,
                              "Parquet footer: a column name is longer than %d bytes",
                              PARQ_MAX_NAME);
                break;
            }
            if (memchr(p, 0, n) != NULL) {
                st = tr_bad(t, "column name contains a NUL byte");
                break;
            }
            free(el->name);
            el->name = malloc(n + 1);
            if (el->name == NULL) {
                st = cel_fail(t->err, CEL_ENOMEM, "out of memory decoding the Parquet schema");
                break;
            }
            memcpy(el->name, p, n);
            el->name[n] = '\0';
            break;
        case 5:
            WANT(type, TT_I32, "SchemaElement.num_children");
            if ((st = tr_i32(t, &el->num_children)) == CEL_OK && el->num_children < 0)
                st = tr_bad(t, "negative num_children");
            break;
        case 6:
            WANT(type, TT_I32, "SchemaElement.converted_type");
            if ((st = tr_i32(t, &v)) == CEL_OK)
                el->converted = v;
            break;
        case 7:
            WANT(type, TT_I32, "SchemaElement.scale");
            st = tr_i32(t, &el->scale);
            el->has_scale = true;
            break;
        case 8:
            WANT(type, TT_I32, "SchemaElement.precision");
            st = tr_i32(t, &el->precision);
            el->has_precision = true;
            break;
        case 10:
            WANT(type, TT_STRUCT, "SchemaElement.logicalType");
            st = decode_logical(t, &el->logical);
            break;
        default:
            st = tr_skip(t, type);
        }
    }
    if (st == CEL_OK && el->name == NULL)
        st = tr_bad(t, "schema element without a name");
exit:
    t->depth--;
    return st;
}

/* ---------------------------------------------------------------- row groups */

static cel_status decode_col_meta(tr *t, parq_chunk_meta *c) {
    cel_status st = tr_enter(t);
    int last = 0, id, type;
    int32_t v = 0; /* assigned before st is checked below */
    c->has_meta = true;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        switch (id) {
        case 1:
            WANT(type, TT_I32, "ColumnMetaData.type");
            st = tr_i32(t, &v);
            c->type = v;
            break;
        case 4:
            WANT(type, TT_I32, "ColumnMetaData.codec");
            st = tr_i32(t, &v);
            c->codec = v;
            break;
        case 5:
            WANT(type, TT_I64, "ColumnMetaData.num_values");
            st = tr_i64(t, &c->num_values);
            break;
        case 7:
            WANT(type, TT_I64, "ColumnMetaData.total_compressed_size");
            st = tr_i64(t, &c->total_compressed_size);
            break;
        case 9:
            WANT(type, TT_I64, "ColumnMetaData.data_page_offset");
            st = tr_i64(t, &c->data_page_offset);
            break;
        case 11:
            WANT(type, TT_I64, "ColumnMetaData.dictionary_page_offset");
            st = tr_i64(t, &c->dictionary_page_offset);
            break;
        default:
            st = tr_skip(t, type);
        }
    }
exit:
    t->depth--;
    return st;
}

static cel_status decode_chunk(tr *t, parq_chunk_meta *c) {
    cel_status st = tr_enter(t);
    int last = 0, id, type;
    c->dictionary_page_offset = -1;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        if (id == 1 && type == TT_BINARY) {
            c->external = true;
            st = tr_skip(t, type);
        } else if (id == 3) {
            WANT(type, TT_STRUCT, "ColumnChunk.meta_data");
            st = decode_col_meta(t, c);
        } else {
            if (id == 8 || id == 9)
                c->encrypted = true;
            st = tr_skip(t, type);
        }
    }
exit:
    t->depth--;
    return st;
}

static cel_status decode_row_group(tr *t, parq_row_group *rg, size_t *chunks_total) {
    cel_status st = tr_enter(t);
    int last = 0, id, type;
    bool have_rows = false;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        if (id == 1) {
            WANT(type, TT_LIST, "RowGroup.columns");
            int et;
            size_t n = 0;
            if ((st = tr_list_header(t, &et, &n)) != CEL_OK)
                break;
            if (et != TT_STRUCT || rg->cols != NULL) {
                st = tr_bad(t, "RowGroup.columns is not a single list of structs");
                break;
            }
            if (n > PARQ_MAX_CHUNKS - *chunks_total) {
                st = cel_fail(t->err, CEL_ELIMIT,
                              "Parquet footer: more than %d column chunks in all row groups",
                              PARQ_MAX_CHUNKS);
                break;
            }
            *chunks_total += n;
            rg->cols = calloc(n ? n : 1, sizeof *rg->cols);
            if (rg->cols == NULL) {
                st = cel_fail(t->err, CEL_ENOMEM, "out of memory decoding the Parquet footer");
                break;
            }
            rg->ncols = n;
            if ((st = tr_enter(t)) != CEL_OK)
                break;
            for (size_t i = 0; i < n && st == CEL_OK; i++)
                st = decode_chunk(t, &rg->cols[i]);
            t->depth--;
        } else if (id == 3) {
            WANT(type, TT_I64, "RowGroup.num_rows");
            st = tr_i64(t, &rg->num_rows);
            have_rows = true;
        } else {
            st = tr_skip(t, type);
        }
    }
    if (st == CEL_OK && (!have_rows || rg->num_rows < 0))
        st = tr_bad(t, "row group without a valid num_rows");
exit:
    t->depth--;
    return st;
}

/* ---------------------------------------------------------------- file metadata */

void parq_meta_free(parq_meta *m) {
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nschema; i++)
        free(m->schema[i].name);
    free(m->schema);
    for (size_t i = 0; i < m->nrgs; i++)
        free(m->rgs[i].cols);
    free(m->rgs);
    free(m->created_by);
    memset(m, 0, sizeof *m);
}

cel_status parq_meta_decode(const uint8_t *buf, size_t len, parq_meta *m, cel_error *err) {
    tr tt = {.start = buf, .p = buf, .end = buf + len, .what = "footer", .err = err};
    tr *t = &tt;
    memset(m, 0, sizeof *m);
    int last = 0, id, type, et;
    size_t n = 0, chunks_total = 0;
    const uint8_t *p = NULL;
    bool have_schema = false;
    cel_status st = CEL_OK;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        switch (id) {
        case 2:
            WANT(type, TT_LIST, "FileMetaData.schema");
            if ((st = tr_list_header(t, &et, &n)) != CEL_OK)
                break;
            if (et != TT_STRUCT || have_schema) {
                st = tr_bad(t, "FileMetaData.schema is not a single list of structs");
                break;
            }
            if (n > PARQ_MAX_SCHEMA_ELEMENTS) {
                st = cel_fail(err, CEL_ELIMIT, "Parquet footer: more than %d schema elements",
                              PARQ_MAX_SCHEMA_ELEMENTS);
                break;
            }
            have_schema = true;
            m->schema = calloc(n ? n : 1, sizeof *m->schema);
            if (m->schema == NULL) {
                st = cel_fail(err, CEL_ENOMEM, "out of memory decoding the Parquet schema");
                break;
            }
            m->nschema = n;
            if ((st = tr_enter(t)) != CEL_OK)
                break;
            for (size_t i = 0; i < n && st == CEL_OK; i++)
                st = decode_schema_el(t, &m->schema[i]);
            t->depth--;
            break;
        case 3:
            WANT(type, TT_I64, "FileMetaData.num_rows");
            st = tr_i64(t, &m->num_rows);
            break;
        case 4:
            WANT(type, TT_LIST, "FileMetaData.row_groups");
            if ((st = tr_list_header(t, &et, &n)) != CEL_OK)
                break;
            if (et != TT_STRUCT || m->rgs != NULL) {
                st = tr_bad(t, "FileMetaData.row_groups is not a single list of structs");
                break;
            }
            if (n > PARQ_MAX_ROW_GROUPS) {
                st = cel_fail(err, CEL_ELIMIT, "Parquet footer: more than %d row groups",
                              PARQ_MAX_ROW_GROUPS);
                break;
            }
            m->rgs = calloc(n ? n : 1, sizeof *m->rgs);
            if (m->rgs == NULL) {
                st = cel_fail(err, CEL_ENOMEM, "out of memory decoding the Parquet footer");
                break;
            }
            m->nrgs = n;
            if ((st = tr_enter(t)) != CEL_OK)
                break;
            for (size_t i = 0; i < n && st == CEL_OK; i++)
                st = decode_row_group(t, &m->rgs[i], &chunks_total);
            t->depth--;
            break;
        case 6:
            WANT(type, TT_BINARY, "FileMetaData.created_by");
            if ((st = tr_binary(t, &p, &n)) != CEL_OK)
                break;
            if (n > PARQ_MAX_NAME)
                n = PARQ_MAX_NAME;
            free(m->created_by);
            m->created_by = strndup((const char *)p, n);
            if (m->created_by == NULL)
                st = cel_fail(err, CEL_ENOMEM, "out of memory decoding the Parquet footer");
            break;
        case 8:
            m->encryption_algo = true;
            st = tr_skip(t, type);
            break;
        default:
            st = tr_skip(t, type);
        }
    }
    if (st == CEL_OK && !have_schema)
        st = tr_bad(t, "FileMetaData has no schema");
    if (st == CEL_OK && m->rgs == NULL) {
        m->rgs = calloc(1, sizeof *m->rgs); /* row_groups is required, but an empty list works */
        if (m->rgs == NULL)
            st = cel_fail(err, CEL_ENOMEM, "out of memory decoding the Parquet footer");
    }
exit:
    if (st != CEL_OK)
        parq_meta_free(m);
    return st;
}

/* ---------------------------------------------------------------- page header */

static cel_status decode_page_sub(tr *t, int which, parq_page_header *h) {
    cel_status st = tr_enter(t);
    int last = 0, id, type;
    int32_t v;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        int32_t *dst = NULL;
        if (which == 7 && type == TT_TRUE && id == 3)
            continue; /* is_sorted */
        if (which == 8 && id == 7) {
            WANT(type, TT_TRUE, "DataPageHeaderV2.is_compressed");
            h->is_compressed = type == TT_TRUE;
            continue;
        }
        if (id == 1)
            dst = &h->num_values;
        else if (which == 5 && id >= 2 && id <= 4)
            dst = &v;
        else if (which == 7 && id == 2)
            dst = &v;
        else if (which == 8 && id == 2)
            dst = &h->num_nulls;
        else if (which == 8 && id == 3)
            dst = &h->num_rows;
        else if (which == 8 && id == 4)
            dst = &v;
        else if (which == 8 && id == 5)
            dst = &h->def_len;
        else if (which == 8 && id == 6)
            dst = &h->rep_len;
        if (dst == NULL) {
            st = tr_skip(t, type);
            continue;
        }
        WANT(type, TT_I32, "page header field");
        if ((st = tr_i32(t, dst)) != CEL_OK)
            break;
        if (dst == &v) {
            if ((which == 5 && id == 2) || (which == 7 && id == 2) || (which == 8 && id == 4))
                h->encoding = v;
            else if (id == 3)
                h->def_encoding = v;
            else
                h->rep_encoding = v;
        }
    }
exit:
    t->depth--;
    return st;
}

cel_status parq_page_header_decode(const uint8_t *buf, size_t len, parq_page_header *h,
                                   size_t *used, cel_error *err) {
    tr tt = {.start = buf, .p = buf, .end = buf + len, .what = "page header", .err = err};
    tr *t = &tt;
    memset(h, 0, sizeof *h);
    h->type = -1;
    h->is_compressed = true;
    h->def_encoding = PARQ_ENC_RLE;
    h->rep_encoding = PARQ_ENC_RLE;
    bool have_sizes[2] = {false, false};
    int last = 0, id, type;
    int32_t v;
    cel_status st = CEL_OK;
    while (st == CEL_OK) {
        if ((st = tr_field(t, &last, &id, &type)) != CEL_OK || type == TT_STOP)
            break;
        switch (id) {
        case 1:
            WANT(type, TT_I32, "PageHeader.type");
            st = tr_i32(t, &h->type);
            break;
        case 2:
            WANT(type, TT_I32, "PageHeader.uncompressed_page_size");
            st = tr_i32(t, &h->uncompressed_size);
            have_sizes[0] = true;
            break;
        case 3:
            WANT(type, TT_I32, "PageHeader.compressed_page_size");
            st = tr_i32(t, &h->compressed_size);
            have_sizes[1] = true;
            break;
        case 4:
            WANT(type, TT_I32, "PageHeader.crc");
            st = tr_i32(t, &v);
            h->crc = (uint32_t)v;
            h->has_crc = true;
            break;
        case 5:
        case 7:
        case 8:
            WANT(type, TT_STRUCT, "PageHeader page header struct");
            if (id == 5)
                h->has_data = true;
            else if (id == 7)
                h->has_dict = true;
            else
                h->has_data_v2 = true;
            st = decode_page_sub(t, id, h);
            break;
        default:
            st = tr_skip(t, type);
        }
    }
    if (st == CEL_OK && (!have_sizes[0] || !have_sizes[1] || h->type < 0))
        st = tr_bad(t, "page header without type or sizes");
    if (st == CEL_OK && (h->uncompressed_size < 0 || h->compressed_size < 0))
        st = tr_bad(t, "negative page size");
exit:
    *used = (size_t)(t->p - t->start);
    return st;
}
