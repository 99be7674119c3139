/*
 * ipc.c: supervisor <-> child framing (see ipc.h).
 */
#include "worker/ipc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cel_status write_all(int fd, const void *p, size_t n, cel_error *err) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                usleep(1000);
                continue;
            }
            return cel_fail(err, CEL_EIO, "ipc write: %s", strerror(errno));
        }
        c += w;
        n -= (size_t)w;
    }
    return CEL_OK;
}

cel_status ipc_write_frame(int fd, const char *data, size_t len, cel_error *err) {
    if (len > IPC_MAX_FRAME)
        return cel_fail(err, CEL_ELIMIT, "ipc frame of %zu bytes exceeds %u", len, IPC_MAX_FRAME);
    unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8), (unsigned char)len};
    cel_status st = write_all(fd, hdr, 4, err);
    return st ? st : write_all(fd, data, len, err);
}

static cel_status read_all(int fd, void *p, size_t n, bool *eof, cel_error *err) {
    char *c = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, c + got, n - got);
        if (r == 0) {
            *eof = true;
            return got == 0 ? CEL_ENOTFOUND : cel_fail(err, CEL_EIO, "ipc: truncated frame");
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return cel_fail(err, CEL_EIO, "ipc read: %s", strerror(errno));
        }
        got += (size_t)r;
    }
    return CEL_OK;
}

cel_status ipc_read_frame(int fd, dbuf *out, cel_error *err) {
    unsigned char hdr[4];
    bool eof = false;
    cel_status st = read_all(fd, hdr, 4, &eof, err);
    if (st)
        return st;
    size_t len = ((size_t)hdr[0] << 24) | ((size_t)hdr[1] << 16) | ((size_t)hdr[2] << 8) | hdr[3];
    if (len > IPC_MAX_FRAME)
        return cel_fail(err, CEL_ELIMIT, "ipc frame of %zu bytes exceeds %u", len, IPC_MAX_FRAME);
    dbuf_reset(out);
    char tmp[65536];
    size_t left = len;
    while (left) {
        size_t n = left < sizeof tmp ? left : sizeof tmp;
        if ((st = read_all(fd, tmp, n, &eof, err)) != CEL_OK)
            return st == CEL_ENOTFOUND ? cel_fail(err, CEL_EIO, "ipc: truncated frame") : st;
        if ((st = dbuf_append(out, tmp, n)) != CEL_OK)
            return cel_fail(err, st, "ipc: frame buffer");
        left -= n;
    }
    if (out->data == NULL && (st = dbuf_append(out, "", 0)) != CEL_OK)
        return st;
    return CEL_OK;
}

void ipc_reader_init(ipc_reader *r) {
    dbuf_init(&r->acc, IPC_MAX_FRAME + 4);
}

void ipc_reader_free(ipc_reader *r) {
    dbuf_free(&r->acc);
}

cel_status ipc_reader_fill(ipc_reader *r, int fd, cel_error *err) {
    char tmp[65536];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n == 0)
            return CEL_ENOTFOUND;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return CEL_OK;
            return cel_fail(err, CEL_EIO, "ipc read: %s", strerror(errno));
        }
        cel_status st = dbuf_append(&r->acc, tmp, (size_t)n);
        if (st)
            return cel_fail(err, st, "ipc: child sent more than the frame limit");
        if ((size_t)n < sizeof tmp)
            return CEL_OK;
    }
}

int ipc_reader_pop(ipc_reader *r, char **out, size_t *len) {
    if (r->acc.len < 4)
        return 0;
    const unsigned char *h = (const unsigned char *)r->acc.data;
    size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
    if (n > IPC_MAX_FRAME)
        return -1;
    if (r->acc.len < 4 + n)
        return 0;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, r->acc.data + 4, n);
    s[n] = '\0';
    memmove(r->acc.data, r->acc.data + 4 + n, r->acc.len - 4 - n);
    r->acc.len -= 4 + n;
    *out = s;
    *len = n;
    return 1;
}
