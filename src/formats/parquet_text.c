/*
 * parquet_text.c: fast number text for the Parquet reader, with the exact output of
 * formats/numtext.h (Python repr layout, shortest round-trip digits).
 *
 * Design: numtext_double tries "%.14e", "%.15e", "%.16e", each followed by strtod.
 * Here one "%.16e" gives the correctly rounded 17 significant digits; the 15- and
 * 16-digit candidates are derived by rounding that digit string, which equals
 * rounding the value itself except when the dropped digits are exactly "5", "50"
 * (a tie of the string, not necessarily of the value): then the candidate comes from
 * snprintf as before. Each candidate is still verified with strtod, so the result is
 * the same text numtext_double produces, with one snprintf instead of up to three.
 * Floats (FLOAT columns) get the shortest digits that round-trip through strtof: one
 * "%.8e" (9 digits always suffice for binary32), then a binary search over shorter
 * roundings (round-tripping is monotonic in the digit count for correctly rounded
 * candidates). Candidates are parsed with Clinger's exact fast path where it applies
 * (pt_parse), else strtod/strtof. Integers are written without printf.
 *
 * Not here: parsing; the layout rules themselves are numtext.c's (repeated in
 * pt_layout: scientific below 1e-4 and from 1e16, two exponent digits at least, ".0"
 * after integral fixed output).
 */
#include "formats/numtext.h"
#include "formats/parquet_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t parq_text_int(int64_t v, char *out) {
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t o = 0;
    if (v < 0)
        out[o++] = '-';
    while (n)
        out[o++] = tmp[--n];
    out[o] = '\0';
    return o;
}

/* "d.ddddde[+-]XX" of |x| with prec significant digits → digits and exponent. */
static int pt_sci(double x, int prec, char *dig, int *e10) {
    char buf[48];
    snprintf(buf, sizeof buf, "%.*e", prec - 1, fabs(x));
    int nd = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            dig[nd++] = *p;
    int e = 0, sign = 1;
    if (*p == 'e') {
        p++;
        if (*p == '-' || *p == '+')
            sign = *p++ == '-' ? -1 : 1;
        for (; *p >= '0' && *p <= '9'; p++)
            e = e * 10 + (*p - '0');
    }
    *e10 = sign * e;
    return nd;
}

/* Rounds dig[0..nd) half-up to k digits into out (*e10 grows on a carry into a new
 * digit). False when the dropped digits are exactly 5 followed by zeros. */
static bool pt_round(const char *dig, int nd, int k, char *out, int *e10) {
    bool up = dig[k] > '5';
    if (dig[k] == '5') {
        bool rest = false;
        for (int i = k + 1; i < nd; i++)
            rest |= dig[i] != '0';
        if (!rest)
            return false;
        up = true;
    }
    memcpy(out, dig, (size_t)k);
    if (up) {
        int i = k - 1;
        while (i >= 0 && out[i] == '9')
            out[i--] = '0';
        if (i >= 0) {
            out[i]++;
        } else {
            memmove(out + 1, out, (size_t)k - 1);
            out[0] = '1';
            (*e10)++;
        }
    }
    return true;
}

static const double pt_p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The value of digits × 10^(e10 - nd + 1), correctly rounded to double (or to
 * float when as_float), as strtod/strtof would give. Fast path (W. D. Clinger, "How
 * to read floating point numbers accurately", PLDI 1990): when the digits and the
 * power of ten are both exact in the target format, one IEEE multiplication or
 * division is correctly rounded. Otherwise strtod/strtof. */
static double pt_parse(bool neg, const char *dig, int nd, int e10, bool as_float) {
    uint64_t m = 0;
    for (int i = 0; i < nd; i++)
        m = m * 10 + (uint64_t)(dig[i] - '0');
    int p = e10 - nd + 1;
    if (!as_float && m <= ((uint64_t)1 << 53) && p >= -22 && p <= 22) {
        double v = p >= 0 ? (double)m * pt_p10[p] : (double)m / pt_p10[-p];
        return neg ? -v : v;
    }
    if (as_float && m <= ((uint64_t)1 << 24) && p >= -10 && p <= 10) {
        float v = p >= 0 ? (float)m * (float)pt_p10[p] : (float)m / (float)pt_p10[-p];
        return neg ? -(double)v : (double)v;
    }
    char buf[48];
    size_t o = 0;
    if (neg)
        buf[o++] = '-';
    buf[o++] = dig[0];
    buf[o++] = '.';
    memcpy(buf + o, dig + 1, (size_t)nd - 1);
    o += (size_t)nd - 1;
    snprintf(buf + o, sizeof buf - o, "e%d", e10);
    return as_float ? (double)strtof(buf, NULL) : strtod(buf, NULL);
}

static size_t pt_layout(char *out, bool neg, const char *dig, int nd, int e10) {
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (e10 < -4 || e10 >= 16) {
        out[o++] = dig[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, dig + 1, (size_t)nd - 1);
            o += (size_t)nd - 1;
        }
        int a = e10 < 0 ? -e10 : e10;
        out[o++] = 'e';
        out[o++] = e10 < 0 ? '-' : '+';
        if (a >= 100)
            out[o++] = (char)('0' + a / 100);
        out[o++] = (char)('0' + a / 10 % 10);
        out[o++] = (char)('0' + a % 10);
    } else if (e10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int k = -1; k > e10; k--)
            out[o++] = '0';
        memcpy(out + o, dig, (size_t)nd);
        o += (size_t)nd;
    } else {
        int intlen = e10 + 1;
        for (int k = 0; k < intlen; k++)
            out[o++] = k < nd ? dig[k] : '0';
        out[o++] = '.';
        if (nd > intlen) {
            memcpy(out + o, dig + intlen, (size_t)(nd - intlen));
            o += (size_t)(nd - intlen);
        } else {
            out[o++] = '0';
        }
    }
    out[o] = '\0';
    return o;
}

size_t parq_text_double(double x, char *out) {
    if (!isfinite(x) || x == 0 || fabs(x) < DBL_MIN)
        return numtext_double(x, out); /* NaN, infinities, zeros, subnormals */
    bool neg = x < 0;
    char d17[24], cand[24];
    int e17;
    int nd = pt_sci(x, 17, d17, &e17);
    if (nd != 17)
        return numtext_double(x, out);
    for (int k = 15; k <= 16; k++) {
        int e = e17;
        if (!pt_round(d17, 17, k, cand, &e))
            e = -1000; /* string tie: ask snprintf below */
        if (e == -1000 && pt_sci(x, k, cand, &e) != k)
            return numtext_double(x, out);
        if (pt_parse(neg, cand, k, e, false) == x)
            return pt_layout(out, neg, cand, k, e);
    }
    return pt_layout(out, neg, d17, 17, e17);
}

size_t parq_text_float(float f, char *out, double *d) {
    double x = (double)f;
    if (!isfinite(x) || x == 0) {
        *d = x;
        return numtext_double(x, out);
    }
    bool neg = x < 0;
    char d9[16], cand[16], best[16];
    int e9;
    int nd = pt_sci(x, 9, d9, &e9);
    if (nd != 9) {
        *d = x;
        return numtext_double(x, out);
    }
    /* binary search for the fewest digits k in 1..9 that round-trip (9 always does) */
    int lo = 1, hi = 9, best_e = e9;
    memcpy(best, d9, 9);
    while (lo < hi) {
        int k = (lo + hi) / 2, e = e9;
        if (!pt_round(d9, 9, k, cand, &e) && pt_sci(x, k, cand, &e) != k) {
            lo = k + 1;
            continue;
        }
        if ((float)pt_parse(neg, cand, k, e, true) == f) {
            hi = k;
            memcpy(best, cand, (size_t)k);
            best_e = e;
        } else {
            lo = k + 1;
        }
    }
    *d = pt_parse(neg, best, hi, best_e, false);
    return pt_layout(out, neg, best, hi, best_e);
}
