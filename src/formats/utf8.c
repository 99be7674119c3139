/*
 * utf8.c: strict UTF-8 validation (see utf8.h). The accepted byte sequences are the
 * table in RFC 3629 section 4 (https://www.rfc-editor.org/rfc/rfc3629#section-4).
 */
#include "formats/utf8.h"

#include <stdint.h>
#include <string.h>

#define U8_HIGH UINT64_C(0x8080808080808080)

static uint64_t u8_load(const unsigned char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}

size_t u8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path: 32, then 8 bytes at a time with no high bit set. */
        while (n - i >= 32 &&
               ((u8_load(s + i) | u8_load(s + i + 8) | u8_load(s + i + 16) | u8_load(s + i + 24)) &
                U8_HIGH) == 0)
            i += 32;
        while (n - i >= 8 && (u8_load(s + i) & U8_HIGH) == 0)
            i += 8;
        /* Fewer than 8 left: when the last 8 bytes are ASCII, so is the rest (i is at
         * the start of a character), and we are done without a byte loop. */
        if (n - i < 8 && n >= 8 && (u8_load(s + n - 8) & U8_HIGH) == 0)
            return n;
        if (i >= n)
            break;
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2;
            lo = 0xA0; /* no overlong 3-byte forms */
        } else if (c == 0xED) {
            need = 2;
            hi = 0x9F; /* no surrogates */
        } else if (c >= 0xE1 && c <= 0xEF) {
            need = 2;
        } else if (c == 0xF0) {
            need = 3;
            lo = 0x90; /* no overlong 4-byte forms */
        } else if (c >= 0xF1 && c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3;
            hi = 0x8F; /* nothing above U+10FFFF */
        } else {
            return i; /* 0x80..0xC1 (continuation / overlong lead) or 0xF5..0xFF */
        }
        if (n - i - 1 < need)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        }
        i += need + 1;
    }
    return n;
}
