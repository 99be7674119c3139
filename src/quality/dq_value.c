/*
 * dq_value.c: lexical parsers and validators for cell values (see dq_value.h).
 *
 * Design: hand-written scanners over (pointer, length), one per lexical form, so
 * that validity is decided by the spec's grammar and never by what a libc
 * function happens to accept. Values are converted only after the grammar
 * matched: decimal numbers take an exact fast path (Clinger: a mantissa below
 * 2^53 times a power of ten up to 1e22 is one correctly rounded operation) and
 * fall back to strtod on a bounded stack copy. The process runs in the "C"
 * locale (nothing calls setlocale), so strtod's radix is '.'.
 *
 * Not here: allocation, missing values, constraints, regex patterns.
 */
#include "quality/dq_value.h"

#include "quality/dq_bytes.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* s[0..n) equals the lower-case literal lit (of length l) in any case. */
static bool ieq_n(const char *s, size_t n, const char *lit, size_t l) {
    if (n != l)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') /* tolower() in the C locale, without the call */
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)lit[i])
            return false;
    }
    return true;
}

/* ieq(s, n, "lit"): the literal's length is known at compile time. */
#define ieq(s, n, lit) ieq_n((s), (n), (lit), sizeof(lit) - 1)

/* ---------------------------------------------------------------- numbers */

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef enum {
    DEC_NO,    /* not the decimal grammar */
    DEC_EXACT, /* matched, *out holds the value */
    DEC_SLOW,  /* matched, but the value needs decimal_strtod */
} dec_result;

/* Digits from *i on, into *mant (wrapping past 19 of them; the caller then takes the
 * slow path). Returns how many. */
static size_t take_digits(const char *s, size_t n, size_t *i, uint64_t *mant) {
    size_t a = *i, j = a;
    uint64_t m = *mant;
    for (unsigned d; j < n && (d = (unsigned)(unsigned char)s[j] - '0') <= 9; j++)
        m = m * 10 + d;
    *mant = m;
    *i = j;
    return j - a;
}

/* Zeros from *i on. Returns how many. */
static size_t skip_zeros(const char *s, size_t n, size_t *i) {
    size_t a = *i;
    while (*i < n && s[*i] == '0')
        (*i)++;
    return *i - a;
}

/* Scans [+-]? (d+ (. d*)? | . d+) ([eE][+-]?d+)? over all of s[0..n) and, in the
 * same pass, converts it when that is exact (Clinger's fast path: a mantissa of at
 * most 19 significant digits below 2^53, times or divided by a power of ten up to
 * 1e22, is one correctly rounded operation; zero is exact whatever the exponent).
 * Leading zeros are not significant digits; after the point they still scale. */
static dec_result scan_decimal(const char *s, size_t n, bool *has_point, bool *has_exp, double *out,
                               uint64_t *int_mag) {
    size_t i = 0;
    bool neg = false;
    uint64_t mant = 0;
    int64_t exp10 = 0; /* digit counts are bounded by n: no overflow */
    *has_point = *has_exp = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    size_t intd = skip_zeros(s, n, &i);
    size_t sig = take_digits(s, n, &i, &mant);
    intd += sig;
    size_t fracd = 0;
    if (i < n && s[i] == '.') {
        *has_point = true;
        i++;
        if (sig == 0) { /* still no significant digit: zeros after the point */
            size_t z = skip_zeros(s, n, &i);
            fracd += z;
            exp10 -= (int64_t)z;
        }
        size_t f = take_digits(s, n, &i, &mant);
        fracd += f;
        sig += f;
        exp10 -= (int64_t)f;
    }
    if (intd + fracd == 0)
        return DEC_NO;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *has_exp = true;
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        size_t ed = 0;
        long e = 0;
        for (; i < n && is_digit(s[i]); i++, ed++) {
            if (e < 100000) /* far beyond any fast-path exponent; no overflow */
                e = e * 10 + (s[i] - '0');
        }
        if (ed == 0)
            return DEC_NO;
        exp10 += eneg ? -e : e;
    }
    if (i != n)
        return DEC_NO;
    /* An integer literal of at most 18 significant digits: its magnitude, which
     * fits int64 (the caller may skip dq_parse_integer); else UINT64_MAX. */
    *int_mag = !*has_point && !*has_exp && sig <= 18 ? mant : UINT64_MAX;
    bool exact = sig <= 19; /* else mant wrapped: digits were dropped */
    if (exact && mant < (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
        *out = neg ? -v : v;
        return DEC_EXACT;
    }
    if (exact && mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return DEC_EXACT;
    }
    return DEC_SLOW;
}

/* The value of text scan_decimal matched but could not convert exactly: strtod
 * on a bounded stack copy (correctly rounded). */
static bool decimal_strtod(const char *s, size_t n, double *out) {
    char buf[DQ_NUM_MAX_TEXT + 1];
    if (n > DQ_NUM_MAX_TEXT)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end = NULL;
    double v = strtod(buf, &end);
    if (end != buf + n)
        return false;
    *out = v;
    return true;
}

/* Converts text the decimal grammar accepts. */
static bool convert_decimal(const char *s, size_t n, double *out) {
    bool pt, ex;
    uint64_t mag;
    switch (scan_decimal(s, n, &pt, &ex, out, &mag)) {
    case DEC_EXACT:
        return true;
    case DEC_SLOW:
        return decimal_strtod(s, n, out);
    default:
        return false;
    }
}

static bool special_number(const char *s, size_t n, double *out) {
    if (ieq(s, n, "nan")) {
        *out = NAN;
        return true;
    }
    if (ieq(s, n, "inf") || ieq(s, n, "+inf")) {
        *out = INFINITY;
        return true;
    }
    if (ieq(s, n, "-inf")) {
        *out = -INFINITY;
        return true;
    }
    return false;
}

/* Applies decimalChar / groupChar / bareNumber into buf. Returns the new length,
 * or (size_t)-1 when the text cannot be a number. */
static size_t normalize_num(const char *s, size_t n, const dq_numfmt *nf, char *buf) {
    size_t a = 0, b = n;
    if (!nf->bare_number) {
        while (a < b && !is_digit(s[a]) && s[a] != '+' && s[a] != '-' && s[a] != nf->decimal_char)
            a++;
        while (b > a && !is_digit(s[b - 1]))
            b--;
    }
    size_t o = 0;
    for (size_t i = a; i < b; i++) {
        char c = s[i];
        if (nf->group_char && c == nf->group_char)
            continue;
        if (o >= DQ_NUM_MAX_TEXT)
            return (size_t)-1;
        if (c == nf->decimal_char)
            c = '.';
        else if (c == '.')
            c = 'x'; /* a '.' that is neither decimal nor group char is not a number */
        buf[o++] = c;
    }
    return o;
}

static bool numfmt_plain(const dq_numfmt *nf) {
    return nf == NULL || (nf->decimal_char == '.' && nf->group_char == 0 && nf->bare_number);
}

bool dq_parse_number(const char *s, size_t n, const dq_numfmt *nf, double *out) {
    char buf[DQ_NUM_MAX_TEXT];
    if (!numfmt_plain(nf)) {
        size_t m = normalize_num(s, n, nf, buf);
        if (m == (size_t)-1)
            return false;
        s = buf;
        n = m;
    }
    if (n == 0 || n > DQ_NUM_MAX_TEXT)
        return false;
    /* nan/inf never scan as decimals, so trying them after a failed conversion is
     * the same as trying them only when the scan rejected the text */
    return convert_decimal(s, n, out) || (n <= 4 && special_number(s, n, out));
}

bool dq_parse_integer(const char *s, size_t n, const dq_numfmt *nf, int64_t *out, double *dbl,
                      bool *big) {
    char buf[DQ_NUM_MAX_TEXT];
    if (!numfmt_plain(nf)) {
        size_t m = normalize_num(s, n, nf, buf);
        if (m == (size_t)-1)
            return false;
        s = buf;
        n = m;
    }
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        return false;
    if (n - i <= 18) {
        /* At most 18 digits: below 10^18 < 2^63, so no overflow checks. */
        uint64_t mag = 0;
        for (; i < n; i++) {
            unsigned d = (unsigned)(unsigned char)s[i] - '0';
            if (d > 9)
                return false;
            mag = mag * 10 + d;
        }
        *big = false;
        *out = neg ? -(int64_t)mag : (int64_t)mag;
        if (dbl)
            *dbl = (double)*out;
        return true;
    }
    uint64_t mag = 0;
    bool over = false;
    double approx = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        approx = approx * 10 + d;
        if (!over) {
            if (mag > (UINT64_MAX - d) / 10)
                over = true;
            else
                mag = mag * 10 + d;
        }
    }
    if (!over && (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX))
        over = true;
    *big = over;
    if (over) {
        *out = neg ? INT64_MIN : INT64_MAX;
    } else if (neg) {
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        *out = (int64_t)mag;
    }
    if (dbl) {
        *dbl = (double)*out;
        if (over && !convert_decimal(s, n, dbl))
            *dbl = neg ? -approx : approx;
    }
    return true;
}

bool dq_parse_number_lenient(const char *s, size_t n, double *out, bool *is_int, int64_t *iv) {
    size_t a = 0;
    while (a < n && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    s += a;
    n -= a;
    *is_int = false;
    if (n == 0 || n > DQ_NUM_MAX_TEXT)
        return false;
    const char *t = s;
    size_t tn = n;
    bool neg = false;
    if (t[0] == '+' || t[0] == '-') {
        neg = t[0] == '-';
        t++;
        tn--;
    }
    if (ieq(t, tn, "inf") || ieq(t, tn, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (ieq(t, tn, "nan")) {
        *out = NAN;
        return true;
    }
    bool pt, ex;
    double x;
    uint64_t mag;
    dec_result r = scan_decimal(s, n, &pt, &ex, &x, &mag);
    if (r == DEC_NO)
        return false;
    if (!pt && !ex) {
        int64_t v;
        bool big = false;
        double d;
        bool ok = true;
        if (mag != UINT64_MAX) /* what dq_parse_integer gives, without a second read */
            v = neg ? -(int64_t)mag : (int64_t)mag;
        else
            ok = dq_parse_integer(s, n, NULL, &v, &d, &big);
        if (ok && !big) {
            *is_int = true;
            *iv = v;
            *out = (double)v;
            if (v == 0 && neg)
                *out = -0.0;
            return true;
        }
    }
    if (r == DEC_SLOW)
        return decimal_strtod(s, n, out);
    *out = x;
    return true;
}

/* ---------------------------------------------------------------- calendar */

int64_t dq_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? (int64_t)m - 3 : (int64_t)m + 9) + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m) {
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return m == 2 && leap(y) ? 29 : dm[m - 1];
}

double dq_tm_epoch(const dq_tm *tm) {
    double days = (double)dq_days_from_civil(tm->year, (unsigned)tm->mon, (unsigned)tm->day);
    double t = days * 86400.0 + tm->hour * 3600.0 + tm->min * 60.0 + tm->sec;
    if (tm->has_tz)
        t -= tm->tz_min * 60.0;
    return t;
}

double dq_tm_daysecs(const dq_tm *tm) {
    return tm->hour * 3600.0 + tm->min * 60.0 + tm->sec;
}

static void tm_init(dq_tm *tm) {
    memset(tm, 0, sizeof *tm);
    tm->year = 1900;
    tm->mon = 1;
    tm->day = 1;
}

/* Reads exactly k digits at *i. */
static bool digits(const char *s, size_t n, size_t *i, int k, int *out) {
    int v = 0;
    for (int j = 0; j < k; j++) {
        if (*i >= n || !is_digit(s[*i]))
            return false;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *out = v;
    return true;
}

static bool expect(const char *s, size_t n, size_t *i, char c) {
    if (*i < n && s[*i] == c) {
        (*i)++;
        return true;
    }
    return false;
}

/* The two ASCII digits at s as a number, or -1. */
static int two_digits(const char *s) {
    unsigned a = (unsigned)(unsigned char)s[0] - '0', b = (unsigned)(unsigned char)s[1] - '0';
    return a <= 9 && b <= 9 ? (int)(a * 10 + b) : -1;
}

static bool date_set(dq_tm *tm, int64_t y, int m, int d) {
    if (d < 1 || d > days_in_month(y, m))
        return false;
    tm->year = (int)y;
    tm->mon = m;
    tm->day = d;
    tm->has_date = 1;
    return true;
}

/* [-]YYYY[Y...]-MM-DD at *i */
static bool iso_date_at(const char *s, size_t n, size_t *i, dq_tm *tm) {
    size_t j = *i;
    if (n - j >= 10 && s[j + 4] == '-' && s[j + 7] == '-') {
        /* the usual form, four year digits: read at fixed offsets */
        int y1 = two_digits(s + j), y2 = two_digits(s + j + 2);
        int m = two_digits(s + j + 5), d = two_digits(s + j + 8);
        if (y1 >= 0 && y2 >= 0 && m >= 0 && d >= 0) {
            *i = j + 10;
            return date_set(tm, y1 * 100 + y2, m, d);
        }
    }
    bool neg = expect(s, n, i, '-');
    int64_t y = 0;
    int nd = 0;
    while (*i < n && is_digit(s[*i]) && nd < 9) {
        y = y * 10 + (s[(*i)++] - '0');
        nd++;
    }
    if (nd < 4)
        return false;
    int m, d;
    if (!expect(s, n, i, '-') || !digits(s, n, i, 2, &m) || !expect(s, n, i, '-') ||
        !digits(s, n, i, 2, &d))
        return false;
    if (neg)
        y = -y;
    return date_set(tm, y, m, d);
}

/* Z | ±hh:mm (also ±hhmm when loose) at *i; nothing is fine too. */
static bool zone_at(const char *s, size_t n, size_t *i, dq_tm *tm, bool loose) {
    if (*i >= n)
        return true;
    if (s[*i] == 'Z') {
        (*i)++;
        tm->has_tz = 1;
        tm->tz_min = 0;
        return true;
    }
    if (s[*i] != '+' && s[*i] != '-')
        return true;
    int sign = s[*i] == '-' ? -1 : 1;
    (*i)++;
    int hh, mm;
    if (!digits(s, n, i, 2, &hh))
        return false;
    if (!expect(s, n, i, ':') && !loose)
        return false;
    if (!digits(s, n, i, 2, &mm))
        return false;
    if (hh > 14 || mm > 59)
        return false;
    tm->has_tz = 1;
    tm->tz_min = sign * (hh * 60 + mm);
    return true;
}

/* hh:mm:ss[.f] at *i; seconds optional when opt_sec. */
static bool iso_time_at(const char *s, size_t n, size_t *i, dq_tm *tm, bool opt_sec) {
    int hh, mm, ss = 0;
    size_t j = *i;
    if (n - j < 5 || s[j + 2] != ':' || (hh = two_digits(s + j)) < 0 ||
        (mm = two_digits(s + j + 3)) < 0)
        return false;
    *i = j + 5;
    double frac = 0;
    if (expect(s, n, i, ':')) {
        if (n - *i < 2 || (ss = two_digits(s + *i)) < 0)
            return false;
        *i += 2;
        if (expect(s, n, i, '.')) {
            double scale = 0.1;
            size_t nd = 0;
            while (*i < n && is_digit(s[*i])) {
                frac += (s[(*i)++] - '0') * scale;
                scale /= 10;
                nd++;
            }
            if (nd == 0)
                return false;
        }
    } else if (!opt_sec) {
        return false;
    }
    if (hh == 24 && (mm != 0 || ss != 0 || frac != 0))
        return false;
    if (hh > 24 || mm > 59 || ss > 59)
        return false;
    tm->hour = hh;
    tm->min = mm;
    tm->sec = ss + frac;
    tm->has_time = 1;
    return true;
}

bool dq_parse_date_iso(const char *s, size_t n, dq_tm *tm) {
    tm_init(tm);
    size_t i = 0;
    return iso_date_at(s, n, &i, tm) && i == n;
}

bool dq_parse_time_iso(const char *s, size_t n, dq_tm *tm) {
    tm_init(tm);
    size_t i = 0;
    return iso_time_at(s, n, &i, tm, false) && zone_at(s, n, &i, tm, false) && i == n;
}

bool dq_parse_datetime_iso(const char *s, size_t n, bool allow_space, dq_tm *tm) {
    tm_init(tm);
    size_t i = 0;
    if (!iso_date_at(s, n, &i, tm))
        return false;
    if (!(expect(s, n, &i, 'T') || (allow_space && expect(s, n, &i, ' '))))
        return false;
    return iso_time_at(s, n, &i, tm, false) && zone_at(s, n, &i, tm, false) && i == n;
}

/* ---------------------------------------------------------------- strptime */

static const char *const month_full[12] = {"january",   "february", "march",    "april",
                                           "may",       "june",     "july",     "august",
                                           "september", "october",  "november", "december"};
static const char *const day_full[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                        "friday", "saturday", "sunday"};

/* Case-insensitive prefix match of name (or its first 3 letters when abbr). */
static size_t match_name(const char *s, size_t n, size_t i, const char *name, bool abbr) {
    size_t l = abbr ? 3 : strlen(name);
    if (n - i < l)
        return 0;
    for (size_t j = 0; j < l; j++)
        if (tolower((unsigned char)s[i + j]) != name[j])
            return 0;
    return l;
}

typedef struct sp_state {
    dq_tm tm;
    int yday;    /* 0 = not given */
    int hour12;  /* -1 = not given */
    int pm;      /* -1 = not given */
    int century; /* from %y */
    int sec;     /* %S */
    double frac; /* %f */
    long budget; /* backtracking steps left */
} sp_state;

static bool sp_match(const char *f, const char *s, size_t n, size_t i, sp_state *st);

/* Tries numeric widths max..min for a directive, recursing on the rest. */
static bool sp_num(const char *f_rest, const char *s, size_t n, size_t i, sp_state *st, int minw,
                   int maxw, int lo, int hi, int *slot) {
    for (int w = maxw; w >= minw; w--) {
        if (i + (size_t)w > n)
            continue;
        int v = 0;
        bool ok = true;
        for (int j = 0; j < w; j++) {
            if (!is_digit(s[i + (size_t)j])) {
                ok = false;
                break;
            }
            v = v * 10 + (s[i + (size_t)j] - '0');
        }
        if (!ok || v < lo || v > hi)
            continue;
        int saved = *slot;
        *slot = v;
        if (sp_match(f_rest, s, n, i + (size_t)w, st))
            return true;
        *slot = saved;
    }
    return false;
}

static bool sp_match(const char *f, const char *s, size_t n, size_t i, sp_state *st) {
    if (--st->budget < 0)
        return false;
    while (*f) {
        if (isspace((unsigned char)*f)) {
            while (isspace((unsigned char)*f))
                f++;
            size_t j = i;
            while (j < n && isspace((unsigned char)s[j]))
                j++;
            if (j == i)
                return false;
            i = j;
            continue;
        }
        if (*f != '%') {
            if (i >= n || s[i] != *f)
                return false;
            i++;
            f++;
            continue;
        }
        char d = f[1];
        const char *rest = f + 2;
        dq_tm *tm = &st->tm;
        switch (d) {
        case '%':
            if (i >= n || s[i] != '%')
                return false;
            i++;
            f = rest;
            continue;
        case 'Y':
            tm->has_date = 1;
            return sp_num(rest, s, n, i, st, 4, 4, 0, 9999, &tm->year);
        case 'm':
            tm->has_date = 1;
            return sp_num(rest, s, n, i, st, 1, 2, 1, 12, &tm->mon);
        case 'd':
            tm->has_date = 1;
            return sp_num(rest, s, n, i, st, 1, 2, 1, 31, &tm->day);
        case 'H':
            tm->has_time = 1;
            return sp_num(rest, s, n, i, st, 1, 2, 0, 23, &tm->hour);
        case 'I':
            tm->has_time = 1;
            return sp_num(rest, s, n, i, st, 1, 2, 1, 12, &st->hour12);
        case 'M':
            return sp_num(rest, s, n, i, st, 1, 2, 0, 59, &tm->min);
        case 'j':
            tm->has_date = 1;
            return sp_num(rest, s, n, i, st, 1, 3, 1, 366, &st->yday);
        case 'y':
            tm->has_date = 1;
            return sp_num(rest, s, n, i, st, 2, 2, 0, 99, &st->century);
        case 'S':
            return sp_num(rest, s, n, i, st, 1, 2, 0, 61, &st->sec);
        case 'f': {
            size_t j = i;
            double frac = 0, scale = 0.1;
            while (j < n && j - i < 6 && is_digit(s[j])) {
                frac += (s[j] - '0') * scale;
                scale /= 10;
                j++;
            }
            if (j == i)
                return false;
            st->frac = frac;
            i = j;
            f = rest;
            continue;
        }
        case 'b':
        case 'h':
        case 'B': {
            for (int m = 0; m < 12; m++) {
                size_t l = match_name(s, n, i, month_full[m], d != 'B');
                if (l) {
                    tm->mon = m + 1;
                    tm->has_date = 1;
                    if (sp_match(rest, s, n, i + l, st))
                        return true;
                }
            }
            return false;
        }
        case 'a':
        case 'A': {
            for (int w = 0; w < 7; w++) {
                size_t l = match_name(s, n, i, day_full[w], d == 'a');
                if (l && sp_match(rest, s, n, i + l, st))
                    return true;
            }
            return false;
        }
        case 'p': {
            if (n - i >= 2 && (s[i] == 'A' || s[i] == 'a' || s[i] == 'P' || s[i] == 'p') &&
                (s[i + 1] == 'M' || s[i + 1] == 'm')) {
                st->pm = (s[i] == 'P' || s[i] == 'p');
                i += 2;
                f = rest;
                continue;
            }
            return false;
        }
        case 'z': {
            if (i >= n)
                return false;
            size_t j = i;
            if (!zone_at(s, n, &j, tm, true) || j == i)
                return false;
            i = j;
            f = rest;
            continue;
        }
        default:
            return false; /* unknown directive never matches */
        }
    }
    return i == n;
}

/* Expands %F, %T, %D into out (bounded). Returns false when too long. */
static bool sp_expand(const char *fmt, char *out, size_t outsz) {
    size_t o = 0;
    for (const char *p = fmt; *p; p++) {
        const char *ins = NULL;
        if (p[0] == '%' && p[1] == 'F')
            ins = "%Y-%m-%d";
        else if (p[0] == '%' && p[1] == 'T')
            ins = "%H:%M:%S";
        else if (p[0] == '%' && p[1] == 'D')
            ins = "%m/%d/%y";
        if (ins) {
            size_t l = strlen(ins);
            if (o + l >= outsz)
                return false;
            memcpy(out + o, ins, l);
            o += l;
            p++;
            continue;
        }
        if (p[0] == '%' && p[1] != '\0') {
            if (o + 2 >= outsz)
                return false;
            out[o++] = *p++;
            out[o++] = *p;
            continue;
        }
        if (o + 1 >= outsz)
            return false;
        out[o++] = *p;
    }
    out[o] = '\0';
    return true;
}

bool dq_strptime(const char *fmt, const char *s, size_t n, dq_tm *tm) {
    char ex[256];
    if (!sp_expand(fmt, ex, sizeof ex))
        return false;
    sp_state st;
    tm_init(&st.tm);
    st.yday = 0;
    st.hour12 = -1;
    st.pm = -1;
    st.century = -1;
    st.sec = 0;
    st.frac = 0;
    st.budget = 4096;
    if (!sp_match(ex, s, n, 0, &st))
        return false;
    st.tm.sec = st.sec + st.frac;
    if (st.century >= 0)
        st.tm.year = st.century < 69 ? 2000 + st.century : 1900 + st.century;
    if (st.hour12 >= 0)
        st.tm.hour = st.hour12 % 12 + (st.pm == 1 ? 12 : 0);
    if (st.yday > 0) {
        int y = st.tm.year, left = st.yday;
        if (left > (leap(y) ? 366 : 365))
            return false;
        int m = 1;
        while (left > days_in_month(y, m)) {
            left -= days_in_month(y, m);
            m++;
        }
        st.tm.mon = m;
        st.tm.day = left;
    }
    if (st.tm.day > days_in_month(st.tm.year, st.tm.mon))
        return false;
    *tm = st.tm;
    return true;
}

bool dq_strptime_pattern_ok(const char *fmt) {
    char ex[256];
    if (!sp_expand(fmt, ex, sizeof ex))
        return false;
    for (const char *p = ex; *p; p++) {
        if (*p != '%')
            continue;
        p++;
        if (*p == '\0' || !strchr("%YmdHIMjySfbhBaApz", *p))
            return false;
    }
    return true;
}

/* The "any" lists: tried in order after the ISO form. Ambiguous day/month orders
 * (01/02/2020) are accepted by whichever matches first; "any" only asks whether
 * the text is *a* date. */
static const char *const date_any[] = {"%Y/%m/%d", "%d/%m/%Y",  "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y",
                                       "%Y%m%d",   "%d %b %Y",  "%d %B %Y", "%b %d %Y", "%b %d, %Y",
                                       "%B %d %Y", "%B %d, %Y", "%d-%b-%Y", "%m/%d/%y", "%d/%m/%y"};
static const char *const time_any[] = {"%H:%M", "%I:%M %p", "%I:%M:%S %p", "%I:%M%p", "%H%M%S"};

bool dq_parse_date_any(const char *s, size_t n, dq_tm *tm) {
    if (dq_parse_date_iso(s, n, tm))
        return true;
    for (size_t k = 0; k < sizeof date_any / sizeof date_any[0]; k++)
        if (dq_strptime(date_any[k], s, n, tm))
            return true;
    return false;
}

bool dq_parse_time_any(const char *s, size_t n, dq_tm *tm) {
    if (dq_parse_time_iso(s, n, tm))
        return true;
    for (size_t k = 0; k < sizeof time_any / sizeof time_any[0]; k++)
        if (dq_strptime(time_any[k], s, n, tm))
            return true;
    return false;
}

bool dq_parse_datetime_any(const char *s, size_t n, dq_tm *tm) {
    if (dq_parse_datetime_iso(s, n, true, tm))
        return true;
    /* date part (any form) + blank or 'T' + time (any form, seconds optional) */
    for (size_t cut = 1; cut < n; cut++) {
        if (s[cut] != ' ' && s[cut] != 'T')
            continue;
        dq_tm d, t;
        if (dq_parse_date_any(s, cut, &d) && (dq_parse_time_any(s + cut + 1, n - cut - 1, &t))) {
            d.hour = t.hour;
            d.min = t.min;
            d.sec = t.sec;
            d.has_tz = t.has_tz;
            d.tz_min = t.tz_min;
            d.has_time = 1;
            *tm = d;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- year, yearmonth, duration */

bool dq_parse_year(const char *s, size_t n, int64_t *year) {
    size_t i = 0;
    bool neg = expect(s, n, &i, '-');
    if (n - i < 4 || n - i > 9)
        return false;
    int64_t y = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        y = y * 10 + (s[i] - '0');
    }
    *year = neg ? -y : y;
    return true;
}

bool dq_parse_yearmonth(const char *s, size_t n, int64_t *year, int *month) {
    size_t dash = n;
    for (size_t i = n; i > 1; i--) {
        if (s[i - 1] == '-') {
            dash = i - 1;
            break;
        }
    }
    if (dash == n || n - dash != 3)
        return false;
    size_t i = dash + 1;
    int m;
    if (!digits(s, n, &i, 2, &m) || m < 1 || m > 12)
        return false;
    if (!dq_parse_year(s, dash, year))
        return false;
    *month = m;
    return true;
}

bool dq_parse_duration(const char *s, size_t n, double *secs) {
    size_t i = 0;
    bool neg = expect(s, n, &i, '-');
    if (!expect(s, n, &i, 'P'))
        return false;
    static const char date_units[] = "YMWD";
    static const double date_secs[] = {365 * 86400.0, 30 * 86400.0, 7 * 86400.0, 86400.0};
    static const char time_units[] = "HMS";
    static const double time_secs[] = {3600.0, 60.0, 1.0};
    double total = 0;
    int comps = 0, last = -1;
    bool in_time = false;
    int time_comps = 0;
    while (i < n) {
        if (s[i] == 'T') {
            if (in_time)
                return false;
            in_time = true;
            last = -1;
            i++;
            continue;
        }
        double v = 0;
        size_t nd = 0;
        while (i < n && is_digit(s[i])) {
            v = v * 10 + (s[i++] - '0');
            nd++;
        }
        bool frac = false;
        if (i < n && s[i] == '.') {
            i++;
            double scale = 0.1;
            size_t fd = 0;
            while (i < n && is_digit(s[i])) {
                v += (s[i++] - '0') * scale;
                scale /= 10;
                fd++;
            }
            if (fd == 0)
                return false;
            frac = true;
        }
        if (nd == 0 || i >= n)
            return false;
        const char *units = in_time ? time_units : date_units;
        const char *u = strchr(units, s[i]);
        if (u == NULL || s[i] == '\0')
            return false;
        int idx = (int)(u - units);
        if (idx <= last)
            return false; /* units in order, each once */
        if (frac && !(in_time && s[i] == 'S'))
            return false; /* XSD: a fraction only on seconds */
        last = idx;
        total += v * (in_time ? time_secs[idx] : date_secs[idx]);
        comps++;
        if (in_time)
            time_comps++;
        i++;
    }
    if (comps == 0 || (in_time && time_comps == 0))
        return false;
    *secs = neg ? -total : total;
    return true;
}

/* ---------------------------------------------------------------- geopoint */

static void skip_blank(const char *s, size_t n, size_t *i) {
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
        (*i)++;
}

/* A JSON-ish number token at *i (strict number grammar). */
static bool num_token(const char *s, size_t n, size_t *i, double *v) {
    size_t a = *i;
    while (*i < n && (is_digit(s[*i]) || strchr("+-.eE", s[*i]) != NULL))
        (*i)++;
    return *i > a && dq_parse_number(s + a, *i - a, NULL, v) && isfinite(*v);
}

static bool geo_ok(double lon, double lat) {
    return lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90;
}

bool dq_parse_geopoint(const char *s, size_t n, dq_geofmt f, double *lon, double *lat) {
    size_t i = 0;
    double a, b;
    if (f == DQ_GEO_DEFAULT) {
        skip_blank(s, n, &i);
        if (!num_token(s, n, &i, &a))
            return false;
        skip_blank(s, n, &i);
        if (!expect(s, n, &i, ','))
            return false;
        skip_blank(s, n, &i);
        if (!num_token(s, n, &i, &b))
            return false;
        skip_blank(s, n, &i);
    } else if (f == DQ_GEO_ARRAY) {
        skip_blank(s, n, &i);
        if (!expect(s, n, &i, '['))
            return false;
        skip_blank(s, n, &i);
        if (!num_token(s, n, &i, &a))
            return false;
        skip_blank(s, n, &i);
        if (!expect(s, n, &i, ','))
            return false;
        skip_blank(s, n, &i);
        if (!num_token(s, n, &i, &b))
            return false;
        skip_blank(s, n, &i);
        if (!expect(s, n, &i, ']'))
            return false;
        skip_blank(s, n, &i);
    } else {
        bool have_lon = false, have_lat = false;
        skip_blank(s, n, &i);
        if (!expect(s, n, &i, '{'))
            return false;
        for (int k = 0; k < 2; k++) {
            skip_blank(s, n, &i);
            bool is_lon;
            if (n - i >= 5 && memcmp(s + i, "\"lon\"", 5) == 0)
                is_lon = true;
            else if (n - i >= 5 && memcmp(s + i, "\"lat\"", 5) == 0)
                is_lon = false;
            else
                return false;
            i += 5;
            skip_blank(s, n, &i);
            if (!expect(s, n, &i, ':'))
                return false;
            skip_blank(s, n, &i);
            double v;
            if (!num_token(s, n, &i, &v))
                return false;
            if (is_lon) {
                if (have_lon)
                    return false;
                have_lon = true;
                a = v;
            } else {
                if (have_lat)
                    return false;
                have_lat = true;
                b = v;
            }
            skip_blank(s, n, &i);
            if (k == 0 && !expect(s, n, &i, ','))
                return false;
        }
        skip_blank(s, n, &i);
        if (!expect(s, n, &i, '}'))
            return false;
        skip_blank(s, n, &i);
    }
    if (i != n || !geo_ok(a, b))
        return false;
    *lon = a;
    *lat = b;
    return true;
}

/* ---------------------------------------------------------------- string formats */

static bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}

static bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool dq_is_email(const char *s, size_t n) {
    size_t at = n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '@') {
            if (at != n)
                return false;
            at = i;
        }
    }
    if (at == n || at == 0 || at > 64 || n - at - 1 == 0 || n - at - 1 > 253)
        return false;
    /* local part: dot-atom (RFC 5322 §3.2.3 atext), UTF-8 allowed (RFC 6531) */
    for (size_t i = 0; i < at; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (i == 0 || i == at - 1 || s[i - 1] == '.')
                return false;
            continue;
        }
        if (c >= 0x80 || is_alnum((char)c) || strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL)
            continue;
        return false;
    }
    /* domain: at least two labels of [A-Za-z0-9-] (or UTF-8), 1..63 each, no
     * leading/trailing hyphen; the last label is not all digits */
    const char *d = s + at + 1;
    size_t dn = n - at - 1, start = 0, labels = 0;
    for (size_t i = 0; i <= dn; i++) {
        if (i == dn || d[i] == '.') {
            size_t len = i - start;
            if (len == 0 || len > 63 || d[start] == '-' || d[i - 1] == '-')
                return false;
            bool all_digits = true;
            for (size_t k = start; k < i; k++)
                if (!is_digit(d[k]))
                    all_digits = false;
            if (i == dn && all_digits)
                return false;
            labels++;
            start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)d[i];
        if (!(c >= 0x80 || is_alnum((char)c) || c == '-'))
            return false;
    }
    return labels >= 2;
}

bool dq_is_uri(const char *s, size_t n) {
    size_t i = 0;
    if (n == 0 || !is_alpha(s[0]))
        return false;
    while (i < n && (is_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i >= n || s[i] != ':')
        return false;
    i++;
    if (i == n)
        return false;
    if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        if (n - i == 2 || s[i + 2] == '/')
            return false; /* "//" needs a non-empty authority */
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return false;
            i += 2;
            continue;
        }
        if (c >= 0x80)
            continue; /* IRI (RFC 3987) characters */
        if (is_alnum((char)c) || strchr("-._~:/?#[]@!$&'()*+,;=", c) != NULL)
            continue;
        return false;
    }
    return true;
}

bool dq_is_uuid(const char *s, size_t n) {
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

bool dq_is_base64(const char *s, size_t n) {
    if (n % 4 != 0)
        return false;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad)
            return false; /* data after padding */
        if (!(is_alnum(c) || c == '+' || c == '/'))
            return false;
    }
    return pad <= 2;
}

/* Continuation bytes (10xxxxxx) among the 8 bytes of w: bit 7 set and bit 6
 * clear. (w << 1) moves each byte's bit 6 to its bit 7; bits crossing into the
 * next byte are masked off. The multiply sums the per-byte 0/1 flags into the
 * top byte (at most 8, no carry). */
static size_t utf8_cont8(uint64_t w) {
    uint64_t m = w & ~(w << 1) & 0x8080808080808080ULL;
    return (size_t)(((m >> 7) * 0x0101010101010101ULL) >> 56);
}

size_t dq_utf8_chars(const char *text, size_t n) {
    /* code points = bytes - continuation bytes, eight bytes at a time */
    const unsigned char *s = (const unsigned char *)text;
    size_t cont = 0, i = 0;
    for (; i + 8 <= n; i += 8)
        cont += utf8_cont8(dq_load64(s + i));
    if (i == n)
        return n - cont;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n >= 8) /* the last 8 bytes, without the low ones already counted */
        return n - cont - utf8_cont8(dq_load64(s + n - 8) >> (8 * (8 - (n - i))));
#endif
    return n - cont - utf8_cont8(dq_load_tail(s + i, n - i));
}

bool dq_looks_boolean(const char *s, size_t n) {
    return ieq(s, n, "true") || ieq(s, n, "false");
}
