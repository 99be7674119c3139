/*
 * textin.c: BOM removal and latin-1 / windows-1252 → UTF-8 (see textin.h).
 *
 * windows-1252 table: https://www.unicode.org/Public/MAPPINGS/VENDORS/MICSFT/WINDOWS/CP1252.TXT;
 * its five unassigned bytes (81 8D 8F 90 9D) map to the C1 controls of the same value,
 * as the WHATWG Encoding Standard does (https://encoding.spec.whatwg.org/index-windows-1252.txt).
 */
#include "formats/textin.h"

#include <string.h>
#include <strings.h>

cel_status txin_encoding_parse(const char *name, txin_encoding *out, cel_error *err) {
    if (name == NULL || name[0] == '\0' || strcasecmp(name, "utf-8") == 0 ||
        strcasecmp(name, "utf8") == 0 || strcasecmp(name, "utf-8-sig") == 0) {
        *out = TXIN_UTF8;
        return CEL_OK;
    }
    if (strcasecmp(name, "latin-1") == 0 || strcasecmp(name, "latin1") == 0 ||
        strcasecmp(name, "iso-8859-1") == 0 || strcasecmp(name, "iso8859-1") == 0 ||
        strcasecmp(name, "l1") == 0) {
        *out = TXIN_LATIN1;
        return CEL_OK;
    }
    if (strcasecmp(name, "windows-1252") == 0 || strcasecmp(name, "cp1252") == 0) {
        *out = TXIN_CP1252;
        return CEL_OK;
    }
    return cel_fail(err, CEL_EUNSUPPORTED,
                    "unsupported text encoding '%.64s' (supported: utf-8, latin-1, windows-1252)",
                    name);
}

void txin_init(txin *t, txin_encoding enc) {
    t->enc = enc;
    t->started = false;
    t->nheld = 0;
    t->bom_skipped = false;
}

/* Code points of windows-1252 bytes 0x80..0x9F. */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

static cel_status tx_transcode(txin *t, const unsigned char *p, size_t len, txin_emit_fn emit,
                               void *ud, cel_error *err) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o + 3 > sizeof t->out) {
            cel_status st = emit(ud, t->out, o, err);
            if (st != CEL_OK)
                return st;
            o = 0;
        }
        unsigned c = p[i];
        if (c < 0x80) {
            t->out[o++] = (char)c;
            continue;
        }
        if (t->enc == TXIN_CP1252 && c < 0xA0)
            c = cp1252_high[c - 0x80];
        if (c < 0x800) {
            t->out[o++] = (char)(0xC0 | (c >> 6));
            t->out[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            t->out[o++] = (char)(0xE0 | (c >> 12));
            t->out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            t->out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return o ? emit(ud, t->out, o, err) : CEL_OK;
}

static cel_status tx_pass(txin *t, const unsigned char *p, size_t len, txin_emit_fn emit, void *ud,
                          cel_error *err) {
    if (len == 0)
        return CEL_OK;
    if (t->enc == TXIN_UTF8)
        return emit(ud, (const char *)p, len, err);
    return tx_transcode(t, p, len, emit, ud, err);
}

cel_status txin_feed(txin *t, const void *data, size_t len, txin_emit_fn emit, void *ud,
                     cel_error *err) {
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    const unsigned char *p = data;
    if (t->enc != TXIN_UTF8)
        t->started = true; /* a BOM is only looked for in UTF-8 mode */
    /* Hold leading bytes until they are known to be (or not be) a byte order mark. */
    while (!t->started && len > 0) {
        t->held[t->nheld++] = *p++;
        len--;
        if (t->nheld == 2 && ((t->held[0] == 0xFF && t->held[1] == 0xFE) ||
                              (t->held[0] == 0xFE && t->held[1] == 0xFF)))
            return cel_fail(err, CEL_EUNSUPPORTED,
                            "UTF-16 input (byte order mark %02X %02X) is not supported; "
                            "convert the file to UTF-8",
                            t->held[0], t->held[1]);
        bool bom_prefix = memcmp(t->held, bom, t->nheld) == 0;
        bool utf16_prefix = t->nheld == 1 && (t->held[0] == 0xFF || t->held[0] == 0xFE);
        if (bom_prefix && t->nheld == 3) {
            t->started = true;
            t->bom_skipped = true;
            t->nheld = 0;
        } else if (!bom_prefix && !utf16_prefix) {
            t->started = true;
            size_t n = t->nheld;
            t->nheld = 0;
            cel_status st = tx_pass(t, t->held, n, emit, ud, err);
            if (st != CEL_OK)
                return st;
        }
    }
    if (!t->started)
        return CEL_OK;
    return tx_pass(t, p, len, emit, ud, err);
}

cel_status txin_finish(txin *t, txin_emit_fn emit, void *ud, cel_error *err) {
    if (!t->started) {
        t->started = true;
        size_t n = t->nheld;
        t->nheld = 0;
        return tx_pass(t, t->held, n, emit, ud, err);
    }
    return CEL_OK;
}
