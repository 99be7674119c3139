/*
 * urlenc.c: percent-decoding (see urlenc.h).
 */
#include "util/urlenc.h"

int url_hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

cel_status url_unescape(const char *in, size_t n, char *out, size_t outsz, bool plus_is_space,
                        cel_error *err) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') {
            int h = i + 2 < n ? url_hexval((unsigned char)in[i + 1]) : -1;
            int l = h >= 0 ? url_hexval((unsigned char)in[i + 2]) : -1;
            if (h < 0 || l < 0)
                return cel_fail(err, CEL_EPARSE, "bad %%-escape");
            c = h * 16 + l;
            if (c == 0)
                return cel_fail(err, CEL_EPARSE, "encoded NUL byte");
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o + 1 >= outsz)
            return cel_fail(err, CEL_ELIMIT, "decoded value longer than %zu bytes", outsz - 1);
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return CEL_OK;
}
