/*
 * dbuf.c: bounded growable buffer (see dbuf.h).
 */
#include "util/dbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dbuf_init(dbuf *b, size_t max) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void dbuf_free(dbuf *b) {
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void dbuf_reset(dbuf *b) {
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static cel_status dbuf_reserve(dbuf *b, size_t extra) {
    if (b->max && (extra > b->max || b->len > b->max - extra))
        return CEL_ELIMIT;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return CEL_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > ((size_t)-1) / 2 ? need : ncap * 2;
    char *p = realloc(b->data, ncap);
    if (p == NULL)
        return CEL_ENOMEM;
    b->data = p;
    b->cap = ncap;
    return CEL_OK;
}

cel_status dbuf_append(dbuf *b, const void *p, size_t n) {
    cel_status st = dbuf_reserve(b, n);
    if (st != CEL_OK)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CEL_OK;
}

cel_status dbuf_append_str(dbuf *b, const char *s) {
    return dbuf_append(b, s, strlen(s));
}

cel_status dbuf_printf(dbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CEL_EINVAL;
    cel_status st = dbuf_reserve(b, (size_t)n);
    if (st != CEL_OK)
        return st;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CEL_OK;
}

char *dbuf_take(dbuf *b) {
    if (b->data == NULL && dbuf_reserve(b, 0) != CEL_OK)
        return NULL;
    if (b->data)
        b->data[b->len] = '\0';
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
