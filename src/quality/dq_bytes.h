/*
 * dq_bytes.h: unaligned little-endian loads for the word-at-a-time scanners of the
 * quality engine (hashing, UTF-8 character counts).
 *
 * Design: memcpy into a word is the portable unaligned load that compilers turn
 * into one instruction. dq_load_tail reads the last 0..7 bytes of a key without a
 * byte loop and without touching memory outside the range.
 *
 * Not here: anything that depends on the data's meaning.
 */
#ifndef CELERIAC_DQ_BYTES_H
#define CELERIAC_DQ_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t dq_load64(const unsigned char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}

static inline uint64_t dq_load32(const unsigned char *s) {
    uint32_t w;
    memcpy(&w, s, 4);
    return w;
}

/* s[0..r) (r < 8) as a little-endian word: s[i] at bits 8i, zeros above. On
 * little-endian hosts that is two overlapping 4-byte loads (r >= 4) or three byte
 * loads (r < 4); bytes read twice land on the same bits, so OR-ing is exact. */
static inline uint64_t dq_load_tail(const unsigned char *s, size_t r) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (r >= 4)
        return dq_load32(s) | dq_load32(s + r - 4) << (8 * (r - 4));
    if (r == 0)
        return 0;
    return (uint64_t)s[0] | (uint64_t)s[r >> 1] << (8 * (r >> 1)) |
           (uint64_t)s[r - 1] << (8 * (r - 1));
#else
    uint64_t t = 0;
    for (size_t i = 0; i < r; i++)
        t |= (uint64_t)s[i] << (8 * i);
    return t;
#endif
}

#endif
