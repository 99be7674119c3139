/*
 * textin.h: the byte-level front of the text readers: BOM and character encoding.
 *
 * Design: a push filter between the byte stream and a format parser. In UTF-8
 * mode a leading UTF-8 byte order mark (EF BB BF) is dropped and everything else
 * passes through untouched, without copying; a UTF-16 BOM is rejected. In
 * latin-1 (ISO-8859-1) and windows-1252 modes every byte is transcoded to UTF-8
 * through a fixed 64 KiB output buffer, so memory does not depend on the input.
 * Output arrives through an emit callback in order; a BOM split across feeds is
 * handled by holding at most two bytes.
 *
 * Not here: UTF-8 validation (the parsers validate whole cells/records so their
 * messages can name a line), UTF-16/32 input, compression.
 */
#ifndef CELERIAC_FORMATS_TEXTIN_H
#define CELERIAC_FORMATS_TEXTIN_H

#include "celeriac/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TXIN_UTF8 = 0, TXIN_LATIN1, TXIN_CP1252 } txin_encoding;

/* Parses an encoding name: NULL/""/"utf-8"/"utf8"/"utf-8-sig" → UTF8,
 * "latin-1"/"latin1"/"iso-8859-1"/"iso8859-1"/"l1" → LATIN1,
 * "windows-1252"/"cp1252" → CP1252 (any case). Other names: CEL_EUNSUPPORTED. */
cel_status txin_encoding_parse(const char *name, txin_encoding *out, cel_error *err) CEL_MUST_CHECK;

/* Receives filtered text. Returning non-OK stops the feed with that status. */
typedef cel_status (*txin_emit_fn)(void *ud, const char *data, size_t len, cel_error *err);

#define TXIN_OUTBUF 65536

typedef struct txin {
    txin_encoding enc;
    bool started;          /* the BOM decision has been made */
    unsigned char held[3]; /* leading bytes held back while deciding */
    size_t nheld;
    bool bom_skipped;
    char out[TXIN_OUTBUF]; /* transcoding buffer */
} txin;

void txin_init(txin *t, txin_encoding enc);

/* Filters len bytes and emits the result. Returns CEL_OK, the emitter's status, or
 * CEL_EUNSUPPORTED for a UTF-16 BOM. */
cel_status txin_feed(txin *t, const void *data, size_t len, txin_emit_fn emit, void *ud,
                     cel_error *err) CEL_MUST_CHECK;

/* End of input: emits any held bytes. */
cel_status txin_finish(txin *t, txin_emit_fn emit, void *ud, cel_error *err) CEL_MUST_CHECK;

#endif
