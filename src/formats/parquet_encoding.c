/*
 * parquet_encoding.c: the integer encodings of Parquet pages: the RLE/bit-packed
 * hybrid (levels, dictionary indices, RLE booleans), the deprecated BIT_PACKED
 * levels, and DELTA_BINARY_PACKED (also the length streams of
 * DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY).
 *
 * Design (apache/parquet-format Encodings.md):
 * - Hybrid: runs until `count` values are out. A varint header; low bit 1 = a
 *   bit-packed run of (header>>1)*8 values packed LSB first, else an RLE run of
 *   header>>1 copies of one value in ceil(bw/8) little-endian bytes. A final
 *   bit-packed run may be cut short by the writer: only the bytes holding the
 *   values still needed must be present. bw 0 means every value is 0 (a run header
 *   with no value bytes; parquet-testing bad_data/ARROW-GH-43605).
 * - BIT_PACKED: values packed MSB first, no header.
 * - DELTA_BINARY_PACKED: <block size> <miniblocks per block> <total count>
 *   <first value zigzag>, then blocks of <min delta zigzag> <one width byte per
 *   miniblock> <miniblocks>. Miniblocks past the last value have width bytes but
 *   no data. Arithmetic is modulo 2^64 (the spec's wrapping rule).
 *
 * Bounds: widths above 32 (hybrid) or 64 (delta) are CEL_EPARSE; counts never
 * exceed what the caller has room for; every byte read is inside p[0..n).
 *
 * Not here: PLAIN and dictionary values, byte arrays (parquet_reader.c).
 */
#include "formats/parquet_internal.h"

#include <string.h>

int parq_bit_width(uint32_t v) {
    return v == 0 ? 0 : 32 - __builtin_clz(v);
}

static cel_status en_varint(const uint8_t *p, size_t n, size_t *at, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*at >= n)
            return CEL_EPARSE;
        uint8_t b = p[(*at)++];
        v |= (uint64_t)(b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return CEL_OK;
        }
    }
    return CEL_EPARSE;
}

/* Reads bw (0..64) bits LSB first starting at bit `pos` of q; all bytes touched
 * lie below byte ceil((pos+bw)/8), which the caller has checked. */
static uint64_t en_bits(const uint8_t *q, uint64_t pos, int bw) {
    uint64_t v = 0;
    int got = 0;
    while (got < bw) {
        size_t byte = (size_t)(pos >> 3);
        int shift = (int)(pos & 7);
        int take = 8 - shift;
        if (take > bw - got)
            take = bw - got;
        uint64_t bits = ((uint64_t)q[byte] >> shift) & ((1u << take) - 1);
        v |= bits << got;
        got += take;
        pos += (uint64_t)take;
    }
    return v;
}

cel_status parq_rle_decode(const uint8_t *p, size_t n, int bw, uint32_t *out, size_t count,
                           cel_error *err) {
    if (bw < 0 || bw > 32)
        return cel_fail(err, CEL_EPARSE, "RLE bit width %d is out of range", bw);
    size_t at = 0, i = 0;
    size_t vbytes = (size_t)(bw + 7) / 8;
    uint32_t mask = bw == 32 ? 0xFFFFFFFFu : (1u << bw) - 1;
    while (i < count) {
        uint64_t h;
        if (en_varint(p, n, &at, &h) != CEL_OK)
            return cel_fail(err, CEL_EPARSE, "RLE data ends after %zu of %zu values", i, count);
        if (h & 1) {
            uint64_t groups = h >> 1;
            if (groups > ((uint64_t)1 << 31))
                return cel_fail(err, CEL_EPARSE, "RLE bit-packed run too long");
            uint64_t nvals = groups * 8;
            size_t take = nvals < count - i ? (size_t)nvals : count - i;
            uint64_t need = ((uint64_t)take * (uint64_t)bw + 7) / 8;
            if (need > n - at)
                return cel_fail(err, CEL_EPARSE,
                                "RLE bit-packed run ends early after %zu of %zu values", i, count);
            const uint8_t *q = p + at;
            if (bw == 0) {
                memset(out + i, 0, take * sizeof *out);
            } else {
                uint64_t acc = 0;
                int nbits = 0;
                size_t qi = 0;
                for (size_t j = 0; j < take; j++) {
                    while (nbits < bw) {
                        acc |= (uint64_t)q[qi++] << nbits;
                        nbits += 8;
                    }
                    out[i + j] = (uint32_t)acc & mask;
                    acc >>= bw;
                    nbits -= bw;
                }
            }
            uint64_t run_bytes = groups * (uint64_t)bw;
            at += run_bytes < n - at ? (size_t)run_bytes : n - at;
            i += take;
        } else {
            uint64_t run = h >> 1;
            if (run == 0)
                return cel_fail(err, CEL_EPARSE, "RLE run of length 0");
            if (vbytes > n - at)
                return cel_fail(err, CEL_EPARSE, "RLE run value is truncated");
            uint32_t v = 0;
            for (size_t k = 0; k < vbytes; k++)
                v |= (uint32_t)p[at + k] << (8 * k);
            at += vbytes;
            if ((v & mask) != v)
                return cel_fail(err, CEL_EPARSE, "RLE run value %u wider than %d bits", v, bw);
            size_t take = run < count - i ? (size_t)run : count - i;
            for (size_t j = 0; j < take; j++)
                out[i + j] = v;
            i += take;
        }
    }
    return CEL_OK;
}

cel_status parq_bitpacked_decode(const uint8_t *p, size_t n, int bw, uint32_t *out, size_t count,
                                 cel_error *err) {
    if (bw < 0 || bw > 32)
        return cel_fail(err, CEL_EPARSE, "BIT_PACKED width %d is out of range", bw);
    uint64_t need = ((uint64_t)count * (uint64_t)bw + 7) / 8;
    if (need > n)
        return cel_fail(err, CEL_EPARSE, "BIT_PACKED levels: %zu values need %llu bytes, have %zu",
                        count, (unsigned long long)need, n);
    uint64_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t v = 0;
        for (int b = 0; b < bw; b++, pos++)
            v = (v << 1) | ((p[pos >> 3] >> (7 - (pos & 7))) & 1u);
        out[i] = v;
    }
    return CEL_OK;
}

cel_status parq_delta_decode(const uint8_t *p, size_t n, int64_t *out, size_t max_count,
                             size_t *count, size_t *used, cel_error *err) {
    size_t at = 0;
    uint64_t block, mbs, total, zz;
    if (en_varint(p, n, &at, &block) != CEL_OK || en_varint(p, n, &at, &mbs) != CEL_OK ||
        en_varint(p, n, &at, &total) != CEL_OK || en_varint(p, n, &at, &zz) != CEL_OK)
        return cel_fail(err, CEL_EPARSE, "DELTA_BINARY_PACKED header is truncated");
    if (block == 0 || block % 128 != 0 || block > (1u << 20) || mbs == 0 || block % mbs != 0 ||
        (block / mbs) % 32 != 0)
        return cel_fail(err, CEL_EPARSE,
                        "DELTA_BINARY_PACKED header: block size %llu with %llu miniblocks is "
                        "invalid",
                        (unsigned long long)block, (unsigned long long)mbs);
    if (total > max_count)
        return cel_fail(err, CEL_EPARSE,
                        "DELTA_BINARY_PACKED holds %llu values, expected at most %zu",
                        (unsigned long long)total, max_count);
    uint64_t vpm = block / mbs;
    uint64_t last = (zz >> 1) ^ (0 - (zz & 1));
    size_t i = 0;
    if (total > 0)
        out[i++] = (int64_t)last;
    while (i < total) {
        uint64_t mzz;
        if (en_varint(p, n, &at, &mzz) != CEL_OK)
            return cel_fail(err, CEL_EPARSE, "DELTA_BINARY_PACKED block header is truncated");
        uint64_t min_delta = (mzz >> 1) ^ (0 - (mzz & 1));
        if (mbs > n - at)
            return cel_fail(err, CEL_EPARSE, "DELTA_BINARY_PACKED bit widths are truncated");
        const uint8_t *widths = p + at;
        at += (size_t)mbs;
        for (uint64_t m = 0; m < mbs && i < total; m++) {
            int bw = widths[m];
            if (bw > 64)
                return cel_fail(err, CEL_EPARSE, "DELTA_BINARY_PACKED bit width %d > 64", bw);
            size_t take = vpm < total - i ? (size_t)vpm : (size_t)(total - i);
            uint64_t need = ((uint64_t)take * (uint64_t)bw + 7) / 8;
            if (need > n - at)
                return cel_fail(err, CEL_EPARSE,
                                "DELTA_BINARY_PACKED miniblock is truncated after %zu values", i);
            const uint8_t *q = p + at;
            for (size_t j = 0; j < take; j++) {
                uint64_t v = bw ? en_bits(q, (uint64_t)j * (uint64_t)bw, bw) : 0;
                last += min_delta + v;
                out[i++] = (int64_t)last;
            }
            uint64_t mb_bytes = vpm * (uint64_t)bw / 8;
            at += mb_bytes < n - at ? (size_t)mb_bytes : n - at;
        }
    }
    *count = (size_t)total;
    *used = at;
    return CEL_OK;
}
