/*
 * dbuf.h: a growable byte buffer with a hard maximum.
 *
 * Every input-sized buffer in celeriac is a dbuf with a cap taken from config:
 * growing past the cap fails with CEL_ELIMIT instead of eating memory. The
 * buffer is always NUL-terminated (the terminator is not counted in len), so
 * text can be passed to C APIs directly. Allocation failure propagates as
 * CEL_ENOMEM (input-sized), never aborts.
 */
#ifndef CELERIAC_DBUF_H
#define CELERIAC_DBUF_H

#include "celeriac/error.h"

#include <stddef.h>

typedef struct dbuf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* hard limit on len; 0 = unlimited (only for tests/bookkeeping) */
} dbuf;

void dbuf_init(dbuf *b, size_t max);
void dbuf_free(dbuf *b);  /* NULL-safe; leaves b empty */
void dbuf_reset(dbuf *b); /* len = 0, keeps the allocation */
cel_status dbuf_append(dbuf *b, const void *p, size_t n) CEL_MUST_CHECK;
cel_status dbuf_append_str(dbuf *b, const char *s) CEL_MUST_CHECK;
cel_status dbuf_printf(dbuf *b, const char *fmt, ...) CEL_PRINTF(2, 3) CEL_MUST_CHECK;
/* Detaches the data (caller frees with free()); b becomes empty. Never NULL on success. */
char *dbuf_take(dbuf *b);

#endif
