/*
 * utf8.h: UTF-8 validation for the text readers.
 *
 * Design: one pass over a complete byte range (a CSV cell), ASCII fast path eight
 * bytes at a time, then a strict decoder per RFC 3629 section 4: no overlong forms,
 * no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
 *
 * Not here: incremental validation across chunk boundaries (callers validate whole
 * cells or records), repair or replacement characters.
 */
#ifndef CELERIAC_FORMATS_UTF8_H
#define CELERIAC_FORMATS_UTF8_H

#include <stddef.h>

/* Returns n when s[0..n) is valid UTF-8, else the offset of the first byte of the
 * first invalid or truncated sequence. */
size_t u8_invalid_at(const unsigned char *s, size_t n);

#endif
