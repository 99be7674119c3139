/*
 * parquet_codec.c: page decompression for the Parquet reader, and the page CRC.
 *
 * Design: one call decompresses one whole page into a caller buffer of the exact
 * size the page header promises; producing fewer or more bytes is CEL_EPARSE.
 * Codecs (Compression.md in apache/parquet-format):
 * - SNAPPY: the raw Snappy block format (google/snappy format_description.txt):
 *   a varint length, then literal and copy elements. Decoded here.
 * - LZ4_RAW: the LZ4 block format (lz4/lz4 doc/lz4_Block_format.md). Decoded here.
 * - LZ4 (deprecated): Hadoop framing, repeated [BE32 decompressed size][BE32
 *   compressed size][LZ4 block]; when the input does not parse as that framing it
 *   is read as one raw LZ4 block, as files from early parquet-cpp need (the same
 *   fallback Arrow's reader applies; parquet-testing non_hadoop_lz4_compressed).
 * - GZIP: RFC 1952 via zlib, every member of a multi-member stream.
 * - ZSTD: RFC 8878 frames via libzstd. BROTLI: RFC 7932 via libbrotlidec.
 *   These three need the Debian libraries; they are compiled in when the build
 *   defines CELERIAC_HAVE_CODECS (CMake links zlib, libzstd, libbrotlidec), else
 *   they fail with CEL_EUNSUPPORTED naming the codec.
 * - CRC-32: the gzip polynomial (reflected 0xEDB88320), table driven, as the
 *   Parquet README "Checksumming" section specifies for PageHeader.crc.
 *
 * Bounds: output never exceeds dlen (the caller caps it with max_page_bytes);
 * every copy is checked against input and output ends.
 *
 * Not here: LZO (CEL_EUNSUPPORTED), streaming decompression.
 */
#include "formats/parquet_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(CELERIAC_HAVE_CODECS)
#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>
#endif

const char *parq_codec_name(int codec) {
    static const char *const names[] = {"uncompressed", "snappy", "gzip", "lzo",
                                        "brotli",       "lz4",    "zstd", "lz4_raw"};
    if (codec >= 0 && codec < (int)(sizeof names / sizeof names[0]))
        return names[codec];
    return "unknown codec";
}

static cel_status cx_bad(cel_error *err, const char *codec, const char *why) {
    return cel_fail(err, CEL_EPARSE, "corrupt %s page data: %s", codec, why);
}

/* ---------------------------------------------------------------- snappy */

static cel_status snappy_decode(const uint8_t *ip, size_t n, uint8_t *dst, size_t dlen,
                                cel_error *err) {
    const uint8_t *end = ip + n;
    uint64_t ulen = 0;
    int shift = 0;
    for (;;) {
        if (ip >= end || shift > 28)
            return cx_bad(err, "snappy", "bad length preamble");
        uint8_t b = *ip++;
        ulen |= (uint64_t)(b & 0x7F) << shift;
        shift += 7;
        if ((b & 0x80) == 0)
            break;
    }
    if (ulen != dlen)
        return cx_bad(err, "snappy", "decompressed length differs from the page header");
    size_t op = 0;
    while (ip < end) {
        uint8_t tag = *ip++;
        size_t len, off;
        if ((tag & 3) == 0) {
            len = tag >> 2;
            if (len >= 60) {
                size_t nb = len - 59;
                if ((size_t)(end - ip) < nb)
                    return cx_bad(err, "snappy", "truncated literal length");
                len = 0;
                for (size_t k = 0; k < nb; k++)
                    len |= (size_t)ip[k] << (8 * k);
                ip += nb;
            }
            len += 1;
            if ((size_t)(end - ip) < len || dlen - op < len)
                return cx_bad(err, "snappy", "literal runs past the end");
            memcpy(dst + op, ip, len);
            ip += len;
            op += len;
            continue;
        }
        if ((tag & 3) == 1) {
            if (ip >= end)
                return cx_bad(err, "snappy", "truncated copy");
            len = 4 + ((tag >> 2) & 7);
            off = ((size_t)(tag >> 5) << 8) | *ip++;
        } else if ((tag & 3) == 2) {
            if (end - ip < 2)
                return cx_bad(err, "snappy", "truncated copy");
            len = (size_t)(tag >> 2) + 1;
            off = (size_t)ip[0] | (size_t)ip[1] << 8;
            ip += 2;
        } else {
            if (end - ip < 4)
                return cx_bad(err, "snappy", "truncated copy");
            len = (size_t)(tag >> 2) + 1;
            off = (size_t)ip[0] | (size_t)ip[1] << 8 | (size_t)ip[2] << 16 | (size_t)ip[3] << 24;
            ip += 4;
        }
        if (off == 0 || off > op)
            return cx_bad(err, "snappy", "copy offset outside the output");
        if (dlen - op < len)
            return cx_bad(err, "snappy", "copy runs past the end");
        if (off >= len) {
            memcpy(dst + op, dst + op - off, len);
            op += len;
        } else {
            for (size_t k = 0; k < len; k++, op++)
                dst[op] = dst[op - off];
        }
    }
    if (op != dlen)
        return cx_bad(err, "snappy", "output shorter than the page header says");
    return CEL_OK;
}

/* ---------------------------------------------------------------- lz4 block */

/* Decodes one LZ4 block from ip[0..n) into dst[0..cap); *out = bytes produced. */
static cel_status lz4_block(const uint8_t *ip, size_t n, uint8_t *dst, size_t cap, size_t *out,
                            cel_error *err) {
    const uint8_t *end = ip + n;
    size_t op = 0;
    while (ip < end) {
        uint8_t token = *ip++;
        size_t lit = token >> 4;
        if (lit == 15) {
            uint8_t b;
            do {
                if (ip >= end)
                    return cx_bad(err, "lz4", "truncated literal length");
                b = *ip++;
                lit += b;
            } while (b == 255 && lit < ((size_t)1 << 40));
        }
        if ((size_t)(end - ip) < lit || cap - op < lit)
            return cx_bad(err, "lz4", "literals run past the end");
        memcpy(dst + op, ip, lit);
        ip += lit;
        op += lit;
        if (ip == end)
            break; /* the last sequence has no match */
        if (end - ip < 2)
            return cx_bad(err, "lz4", "truncated match offset");
        size_t off = (size_t)ip[0] | (size_t)ip[1] << 8;
        ip += 2;
        if (off == 0 || off > op)
            return cx_bad(err, "lz4", "match offset outside the output");
        size_t ml = token & 15;
        if (ml == 15) {
            uint8_t b;
            do {
                if (ip >= end)
                    return cx_bad(err, "lz4", "truncated match length");
                b = *ip++;
                ml += b;
            } while (b == 255 && ml < ((size_t)1 << 40));
        }
        ml += 4;
        if (cap - op < ml)
            return cx_bad(err, "lz4", "match runs past the end");
        if (off >= ml) {
            memcpy(dst + op, dst + op - off, ml);
            op += ml;
        } else {
            for (size_t k = 0; k < ml; k++, op++)
                dst[op] = dst[op - off];
        }
    }
    *out = op;
    return CEL_OK;
}

static cel_status lz4_raw(const uint8_t *ip, size_t n, uint8_t *dst, size_t dlen, cel_error *err) {
    size_t got = 0;
    cel_status st = lz4_block(ip, n, dst, dlen, &got, err);
    if (st == CEL_OK && got != dlen)
        st = cx_bad(err, "lz4", "output shorter than the page header says");
    return st;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Hadoop framing; false when the input is not in that framing (caller falls back). */
static bool lz4_hadoop(const uint8_t *ip, size_t n, uint8_t *dst, size_t dlen) {
    size_t op = 0;
    while (n > 0) {
        if (n < 8)
            return false;
        size_t usz = be32(ip), csz = be32(ip + 4);
        ip += 8;
        n -= 8;
        if (csz > n || usz > dlen - op)
            return false;
        size_t got = 0;
        cel_error scratch;
        cel_error_clear(&scratch);
        if (lz4_block(ip, csz, dst + op, usz, &got, &scratch) != CEL_OK || got != usz)
            return false;
        ip += csz;
        n -= csz;
        op += usz;
    }
    return op == dlen;
}

/* ---------------------------------------------------------------- library codecs */

#if defined(CELERIAC_HAVE_CODECS)
static cel_status gzip_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t dlen,
                              cel_error *err) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return cel_fail(err, CEL_ENOMEM, "gzip: inflateInit2 failed");
    cel_status st = CEL_OK;
    size_t in_at = 0, out_at = 0;
    for (;;) {
        /* zlib counts in uInt: feed at most 1 GiB per call. */
        size_t in_left = n - in_at, out_left = dlen - out_at;
        z.next_in = (Bytef *)(uintptr_t)(src + in_at);
        z.avail_in = (uInt)(in_left > (1u << 30) ? (1u << 30) : in_left);
        z.next_out = dst + out_at;
        z.avail_out = (uInt)(out_left > (1u << 30) ? (1u << 30) : out_left);
        uInt in0 = z.avail_in, out0 = z.avail_out;
        int rc = inflate(&z, Z_NO_FLUSH);
        in_at += in0 - z.avail_in;
        out_at += out0 - z.avail_out;
        if (rc == Z_STREAM_END) {
            /* Another member may follow (Compression.md: readers should support them). */
            if (in_at < n && out_at < dlen) {
                if (inflateReset(&z) != Z_OK) {
                    st = cx_bad(err, "gzip", "inflateReset failed");
                    break;
                }
                continue;
            }
            break;
        }
        if (rc == Z_OK && (in0 != z.avail_in || out0 != z.avail_out))
            continue;
        if (rc == Z_BUF_ERROR && out_at == dlen)
            st = cx_bad(err, "gzip", "output longer than the page header says");
        else
            st = cx_bad(err, "gzip", z.msg ? z.msg : "truncated or invalid stream");
        break;
    }
    inflateEnd(&z);
    if (st == CEL_OK && out_at != dlen)
        st = cx_bad(err, "gzip", "output shorter than the page header says");
    return st;
}

static cel_status zstd_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t dlen,
                              cel_error *err) {
    size_t r = ZSTD_decompress(dst, dlen, src, n);
    if (ZSTD_isError(r))
        return cx_bad(err, "zstd", ZSTD_getErrorName(r));
    if (r != dlen)
        return cx_bad(err, "zstd", "output shorter than the page header says");
    return CEL_OK;
}

static cel_status brotli_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t dlen,
                                cel_error *err) {
    size_t out = dlen;
    if (BrotliDecoderDecompress(n, src, &out, dst) != BROTLI_DECODER_RESULT_SUCCESS)
        return cx_bad(err, "brotli", "invalid stream or output longer than the page header says");
    if (out != dlen)
        return cx_bad(err, "brotli", "output shorter than the page header says");
    return CEL_OK;
}
#endif

cel_status parq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst, size_t dlen,
                           cel_error *err) {
    switch (codec) {
    case PARQ_CODEC_UNCOMPRESSED:
        if (n != dlen)
            return cel_fail(err, CEL_EPARSE,
                            "uncompressed page: compressed size %zu differs from size %zu", n,
                            dlen);
        memcpy(dst, src, n);
        return CEL_OK;
    case PARQ_CODEC_SNAPPY:
        return snappy_decode(src, n, dst, dlen, err);
    case PARQ_CODEC_LZ4_RAW:
        return lz4_raw(src, n, dst, dlen, err);
    case PARQ_CODEC_LZ4:
        if (lz4_hadoop(src, n, dst, dlen))
            return CEL_OK;
        return lz4_raw(src, n, dst, dlen, err);
#if defined(CELERIAC_HAVE_CODECS)
    case PARQ_CODEC_GZIP:
        return gzip_decode(src, n, dst, dlen, err);
    case PARQ_CODEC_ZSTD:
        return zstd_decode(src, n, dst, dlen, err);
    case PARQ_CODEC_BROTLI:
        return brotli_decode(src, n, dst, dlen, err);
#else
    case PARQ_CODEC_GZIP:
    case PARQ_CODEC_ZSTD:
    case PARQ_CODEC_BROTLI:
        return cel_fail(err, CEL_EUNSUPPORTED,
                        "Parquet codec %s: this build lacks zlib/libzstd/libbrotlidec",
                        parq_codec_name(codec));
#endif
    case PARQ_CODEC_LZO:
        return cel_fail(err, CEL_EUNSUPPORTED, "Parquet codec LZO is not supported");
    default:
        return cel_fail(err, CEL_EUNSUPPORTED, "unknown Parquet compression codec %d", codec);
    }
}

/* ---------------------------------------------------------------- crc32 */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t parq_crc32(const uint8_t *p, size_t n) {
    pthread_once(&crc_once, crc_init);
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}
