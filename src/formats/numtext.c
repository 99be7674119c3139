/*
 * numtext.c: shortest round-trip double text, Python repr style (see numtext.h).
 *
 * Shortest digits: a value that round-trips with q <= 15 significant digits is
 * the 15-digit rounding with its trailing zeros removed (a double is within 2^-53
 * relative of that q-digit decimal, far closer than half a 15-digit step), so we
 * try 15, then 16, then 17 digits (17 always round-trips, IEEE 754-2008 5.12.2).
 * Subnormals carry fewer bits, so for them we search 1..17 digits instead.
 * Layout rules follow CPython's float_repr_style "short" (Python/pystrtod.c,
 * format code 'r'): scientific when the decimal exponent is < -4 or >= 16, at
 * least two exponent digits, and ".0" appended to integral fixed output.
 */
#include "formats/numtext.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Formats d with prec significant digits as "d.ddde+XX" in buf; true when it
 * parses back to exactly d. */
static int nt_try(double d, int prec, char *buf, size_t bufsz) {
    snprintf(buf, bufsz, "%.*e", prec - 1, d);
    return strtod(buf, NULL) == d;
}

size_t numtext_double(double d, char out[NUMTEXT_MAX]) {
    if (isnan(d)) {
        memcpy(out, "NaN", 4);
        return 3;
    }
    if (isinf(d)) {
        if (d < 0) {
            memcpy(out, "-Infinity", 10);
            return 9;
        }
        memcpy(out, "Infinity", 9);
        return 8;
    }
    if (d == 0) {
        if (signbit(d)) {
            memcpy(out, "-0.0", 5);
            return 4;
        }
        memcpy(out, "0.0", 4);
        return 3;
    }
    char sci[48];
    if (fabs(d) < DBL_MIN) {
        /* Subnormal: fewer significant bits, so the 15-digit argument does not
         * hold; search upward (at most 17 tries, rare values). */
        for (int prec = 1; prec <= 17 && !nt_try(d, prec, sci, sizeof sci); prec++)
            ;
    } else if (!nt_try(d, 15, sci, sizeof sci) && !nt_try(d, 16, sci, sizeof sci)) {
        nt_try(d, 17, sci, sizeof sci);
    }

    /* Split "-d.ddddde[+-]XX" into sign, digits and exponent. */
    const char *p = sci;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    char digits[24];
    size_t nd = 0;
    while (*p && *p != 'e') {
        if (*p >= '0' && *p <= '9' && nd < sizeof digits - 1)
            digits[nd++] = *p;
        p++;
    }
    long exp10 = 0;
    if (*p == 'e')
        exp10 = strtol(p + 1, NULL, 10);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';

    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (exp10 < -4 || exp10 >= 16) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, nd - 1);
            o += nd - 1;
        }
        int n = snprintf(out + o, NUMTEXT_MAX - o, "e%c%02ld", exp10 < 0 ? '-' : '+',
                         exp10 < 0 ? -exp10 : exp10);
        o += (size_t)n;
    } else if (exp10 < 0) {
        /* 0.000ddd */
        out[o++] = '0';
        out[o++] = '.';
        for (long k = -1; k > exp10; k--)
            out[o++] = '0';
        memcpy(out + o, digits, nd);
        o += nd;
    } else {
        size_t intlen = (size_t)exp10 + 1;
        for (size_t k = 0; k < intlen; k++)
            out[o++] = k < nd ? digits[k] : '0';
        out[o++] = '.';
        if (nd > intlen) {
            memcpy(out + o, digits + intlen, nd - intlen);
            o += nd - intlen;
        } else {
            out[o++] = '0';
        }
    }
    out[o] = '\0';
    return o;
}

size_t numtext_int(int64_t v, char out[NUMTEXT_MAX]) {
    int n = snprintf(out, NUMTEXT_MAX, "%lld", (long long)v);
    return n > 0 ? (size_t)n : 0;
}
