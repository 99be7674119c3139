/*
 * parquet_internal.h: the pieces of the Parquet reader shared between its files
 * (prefix parq_): the Thrift compact decoder and the metadata it produces
 * (parquet_thrift.c), page codecs and CRC (parquet_codec.c), value and level
 * encodings (parquet_encoding.c). parquet_reader.c puts them together.
 *
 * Design: metadata is decoded into plain structs owned by one parq_meta (one
 * free); only the fields a flat reader needs are kept, everything else is
 * skipped by type. Every Thrift length and count is checked against the bytes
 * that remain and against the PARQ_MAX_* bounds below; struct nesting is bounded
 * by PARQ_MAX_THRIFT_DEPTH.
 *
 * Specs: apache/parquet-format parquet.thrift, README.md, Encodings.md,
 * Compression.md, LogicalTypes.md; apache/thrift doc/specs/thrift-compact-protocol.md.
 *
 * Not here: the public entry points (formats/parquet.h), rendering of values.
 */
#ifndef CELERIAC_FORMATS_PARQUET_INTERNAL_H
#define CELERIAC_FORMATS_PARQUET_INTERNAL_H

#include "celeriac/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARQ_MAX_THRIFT_DEPTH 32        /* nested structs/lists in metadata */
#define PARQ_MAX_SCHEMA_ELEMENTS 100000 /* schema tree nodes */
#define PARQ_MAX_SCHEMA_DEPTH 64        /* schema tree depth */
#define PARQ_MAX_ROW_GROUPS 1000000
#define PARQ_MAX_NAME 4096         /* a column name in bytes */
#define PARQ_MAX_DECIMAL_BYTES 128 /* a DECIMAL stored in (FIXED_LEN_)BYTE_ARRAY */

/* parquet.thrift enums */
enum {
    PARQ_BOOLEAN,
    PARQ_INT32,
    PARQ_INT64,
    PARQ_INT96,
    PARQ_FLOAT,
    PARQ_DOUBLE,
    PARQ_BYTE_ARRAY,
    PARQ_FLBA
};
enum { PARQ_REQUIRED, PARQ_OPTIONAL, PARQ_REPEATED };
enum {
    PARQ_CT_UTF8 = 0,
    PARQ_CT_MAP = 1,
    PARQ_CT_MAP_KEY_VALUE = 2,
    PARQ_CT_LIST = 3,
    PARQ_CT_ENUM = 4,
    PARQ_CT_DECIMAL = 5,
    PARQ_CT_DATE = 6,
    PARQ_CT_TIME_MILLIS = 7,
    PARQ_CT_TIME_MICROS = 8,
    PARQ_CT_TIMESTAMP_MILLIS = 9,
    PARQ_CT_TIMESTAMP_MICROS = 10,
    PARQ_CT_UINT_8 = 11,
    PARQ_CT_UINT_16 = 12,
    PARQ_CT_UINT_32 = 13,
    PARQ_CT_UINT_64 = 14,
    PARQ_CT_INT_8 = 15,
    PARQ_CT_INT_16 = 16,
    PARQ_CT_INT_32 = 17,
    PARQ_CT_INT_64 = 18,
    PARQ_CT_JSON = 19,
    PARQ_CT_BSON = 20,
    PARQ_CT_INTERVAL = 21
};
enum {
    PARQ_ENC_PLAIN = 0,
    PARQ_ENC_PLAIN_DICTIONARY = 2,
    PARQ_ENC_RLE = 3,
    PARQ_ENC_BIT_PACKED = 4,
    PARQ_ENC_DELTA_BINARY_PACKED = 5,
    PARQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
    PARQ_ENC_DELTA_BYTE_ARRAY = 7,
    PARQ_ENC_RLE_DICTIONARY = 8,
    PARQ_ENC_BYTE_STREAM_SPLIT = 9
};
enum {
    PARQ_CODEC_UNCOMPRESSED = 0,
    PARQ_CODEC_SNAPPY = 1,
    PARQ_CODEC_GZIP = 2,
    PARQ_CODEC_LZO = 3,
    PARQ_CODEC_BROTLI = 4,
    PARQ_CODEC_LZ4 = 5,
    PARQ_CODEC_ZSTD = 6,
    PARQ_CODEC_LZ4_RAW = 7
};
enum { PARQ_PAGE_DATA = 0, PARQ_PAGE_INDEX = 1, PARQ_PAGE_DICTIONARY = 2, PARQ_PAGE_DATA_V2 = 3 };

/* LogicalType union member (parquet.thrift field ids), 0 = none. */
enum {
    PARQ_LT_NONE = 0,
    PARQ_LT_STRING = 1,
    PARQ_LT_MAP = 2,
    PARQ_LT_LIST = 3,
    PARQ_LT_ENUM = 4,
    PARQ_LT_DECIMAL = 5,
    PARQ_LT_DATE = 6,
    PARQ_LT_TIME = 7,
    PARQ_LT_TIMESTAMP = 8,
    PARQ_LT_INTEGER = 10,
    PARQ_LT_UNKNOWN = 11,
    PARQ_LT_JSON = 12,
    PARQ_LT_BSON = 13,
    PARQ_LT_UUID = 14,
    PARQ_LT_FLOAT16 = 15,
    PARQ_LT_OTHER = 1000 /* a member we do not know */
};
enum { PARQ_UNIT_NONE = 0, PARQ_UNIT_MILLIS = 1, PARQ_UNIT_MICROS = 2, PARQ_UNIT_NANOS = 3 };

typedef struct parq_logical {
    int kind;                 /* PARQ_LT_* */
    int unit;                 /* TIME/TIMESTAMP: PARQ_UNIT_* */
    bool utc;                 /* TIME/TIMESTAMP isAdjustedToUTC */
    int bits;                 /* INTEGER bitWidth */
    bool is_signed;           /* INTEGER */
    int32_t scale, precision; /* DECIMAL */
} parq_logical;

typedef struct parq_schema_el {
    char *name;           /* new, NUL-terminated */
    int type;             /* PARQ_BOOLEAN.., -1 = none (a group) */
    int32_t type_length;  /* FIXED_LEN_BYTE_ARRAY width */
    int repetition;       /* PARQ_REQUIRED.., -1 = not given */
    int32_t num_children; /* 0 = leaf */
    int converted;        /* PARQ_CT_*, -1 = none */
    int32_t scale, precision;
    bool has_scale, has_precision;
    parq_logical logical;
} parq_schema_el;

typedef struct parq_chunk_meta {
    bool has_meta;  /* ColumnChunk.meta_data present */
    bool encrypted; /* crypto_metadata / encrypted_column_metadata present */
    bool external;  /* file_path set: data in another file */
    int type;
    int codec;
    int64_t num_values;
    int64_t total_compressed_size;
    int64_t data_page_offset;
    int64_t dictionary_page_offset; /* -1 = absent */
} parq_chunk_meta;

typedef struct parq_row_group {
    parq_chunk_meta *cols; /* new */
    size_t ncols;
    int64_t num_rows;
} parq_row_group;

typedef struct parq_meta {
    parq_schema_el *schema; /* new, nschema elements, depth-first */
    size_t nschema;
    int64_t num_rows;
    parq_row_group *rgs; /* new */
    size_t nrgs;
    char *created_by;     /* new or NULL */
    bool encryption_algo; /* FileMetaData.encryption_algorithm present (plaintext-footer mode) */
} parq_meta;

typedef struct parq_page_header {
    int type;
    int32_t uncompressed_size, compressed_size;
    bool has_crc;
    uint32_t crc;
    bool has_data, has_dict, has_data_v2;
    /* DataPageHeader / DataPageHeaderV2 / DictionaryPageHeader */
    int32_t num_values;
    int encoding;
    int def_encoding, rep_encoding; /* v1 */
    int32_t num_nulls, num_rows;    /* v2 */
    int32_t def_len, rep_len;       /* v2 */
    bool is_compressed;             /* v2, default true */
} parq_page_header;

/* ---- parquet_thrift.c ---- */

/* Decodes a FileMetaData from buf[0..len) into *out (zeroed first). On failure
 * *out is freed and err names the field. Returns CEL_OK, CEL_EPARSE (malformed),
 * CEL_ELIMIT (a PARQ_MAX_* bound), CEL_ENOMEM. */
cel_status parq_meta_decode(const uint8_t *buf, size_t len, parq_meta *out,
                            cel_error *err) CEL_MUST_CHECK;
/* NULL-safe; leaves *m zeroed. */
void parq_meta_free(parq_meta *m);
/* Decodes a PageHeader at buf[0..len); *used = bytes it took. */
cel_status parq_page_header_decode(const uint8_t *buf, size_t len, parq_page_header *out,
                                   size_t *used, cel_error *err) CEL_MUST_CHECK;

/* ---- parquet_codec.c ---- */

/* Static lower-case codec name ("snappy", "codec 42"...); buf for unknown codes. */
const char *parq_codec_name(int codec);
/* Decompresses src[0..n) with codec into dst, which must come out exactly dlen
 * bytes. CEL_EPARSE on corrupt data or a size mismatch, CEL_EUNSUPPORTED for LZO,
 * unknown codecs, or a library the build lacks. */
cel_status parq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst, size_t dlen,
                           cel_error *err) CEL_MUST_CHECK;
/* CRC-32 (ISO-HDLC, as in gzip) of p[0..n). */
uint32_t parq_crc32(const uint8_t *p, size_t n);

/* ---- parquet_text.c ---- */

/* Decimal text of v into out (room for 21 bytes + NUL). Returns the length. */
size_t parq_text_int(int64_t v, char *out);
/* The same text as numtext_double(x) (out has NUMTEXT_MAX bytes), faster. */
size_t parq_text_double(double x, char *out);
/* Shortest text that round-trips through binary32, in numtext's layout; *d = the
 * double value of that text. out has NUMTEXT_MAX bytes. */
size_t parq_text_float(float f, char *out, double *d);

/* ---- parquet_encoding.c ---- */

/* RLE/bit-packed hybrid (Encodings.md "RLE"): decodes exactly count values of
 * width bw (0..32) from p[0..n) into out. CEL_EPARSE when the data ends early or a
 * header is malformed. */
cel_status parq_rle_decode(const uint8_t *p, size_t n, int bw, uint32_t *out, size_t count,
                           cel_error *err) CEL_MUST_CHECK;
/* Deprecated BIT_PACKED levels (MSB first): count values of width bw from p[0..n). */
cel_status parq_bitpacked_decode(const uint8_t *p, size_t n, int bw, uint32_t *out, size_t count,
                                 cel_error *err) CEL_MUST_CHECK;
/* DELTA_BINARY_PACKED: decodes the stream at p[0..n). The header's value count
 * must be <= max_count (else CEL_EPARSE); values go to out (room for max_count),
 * *count = the header's count, *used = bytes consumed. Arithmetic wraps (int32
 * columns: the caller truncates). */
cel_status parq_delta_decode(const uint8_t *p, size_t n, int64_t *out, size_t max_count,
                             size_t *count, size_t *used, cel_error *err) CEL_MUST_CHECK;
/* Bit width needed for values 0..v (0 for 0). */
int parq_bit_width(uint32_t v);

#endif
