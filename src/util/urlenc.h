/*
 * urlenc.h: percent-decoding, shared by broker URLs (RFC 3986 %XX), S3 event keys
 * (application/x-www-form-urlencoded: '+' is a space) and XML numeric references.
 */
#ifndef CELERIAC_URLENC_H
#define CELERIAC_URLENC_H

#include "celeriac/error.h"

#include <stdbool.h>
#include <stddef.h>

/* Value of one hex digit, or -1. */
int url_hexval(int c);

/* Decodes n bytes of in into out (outsz bytes, always NUL-terminated on success).
 * plus_is_space: form encoding. CEL_EPARSE on a malformed escape or an encoded NUL,
 * CEL_ELIMIT when out is too small. in and out may be the same buffer. */
cel_status url_unescape(const char *in, size_t n, char *out, size_t outsz, bool plus_is_space,
                        cel_error *err) CEL_MUST_CHECK;

#endif
