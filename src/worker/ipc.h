/*
 * ipc.h: length-prefixed frames between the supervisor and its children over a
 * socketpair: 4-byte big-endian length, then that many bytes of JSON. Frames have a
 * hard maximum; a peer that announces more is broken and is treated as dead.
 */
#ifndef CELERIAC_IPC_H
#define CELERIAC_IPC_H

#include "celeriac/error.h"
#include "util/dbuf.h"

#include <stddef.h>

#define IPC_MAX_FRAME (64u * 1024u * 1024u)

/* Writes one whole frame (blocking; retries on EINTR). CEL_EIO when the peer is gone. */
cel_status ipc_write_frame(int fd, const char *data, size_t len, cel_error *err) CEL_MUST_CHECK;
/* Reads one whole frame into out (reset first), blocking. CEL_ENOTFOUND on clean EOF. */
cel_status ipc_read_frame(int fd, dbuf *out, cel_error *err) CEL_MUST_CHECK;

/* Non-blocking side: accumulate whatever is readable into acc; then pop complete frames. */
typedef struct ipc_reader {
    dbuf acc;
} ipc_reader;
void ipc_reader_init(ipc_reader *r);
void ipc_reader_free(ipc_reader *r);
/* Reads what is available. CEL_ENOTFOUND on EOF, CEL_EIO on error, CEL_OK otherwise. */
cel_status ipc_reader_fill(ipc_reader *r, int fd, cel_error *err) CEL_MUST_CHECK;
/* Pops the next complete frame into out (malloc'd, NUL-terminated). Returns 1 if one was
 * popped, 0 if none is complete, -1 if the stream is corrupt (oversized frame). */
int ipc_reader_pop(ipc_reader *r, char **out, size_t *len);

#endif
