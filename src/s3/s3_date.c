/*
 * s3_date.c: HTTP-date and ISO-8601 timestamp parsing (see s3_date.h).
 *
 * Design: each form is matched field by field with fixed widths; any deviation is a
 * parse failure (false), never a guess. The civil-to-days conversion uses the
 * standard era decomposition of the Gregorian 400-year cycle (146097 days), with
 * March as the first month of the computational year so the leap day comes last.
 */
#include "s3/s3_date.h"

#include <string.h>

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int64_t s3_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;                         /* [0, 399] */
    const int64_t mp = (int64_t)m + (m > 2 ? -3 : 9);          /* Mar = 0 */
    const int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;   /* [0, 365] */
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static bool is_leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m) {
    static const unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Reads exactly n digits. */
static bool digits(const char **p, int n, int64_t *out) {
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool lit(const char **p, const char *s) {
    size_t n = strlen(s);
    if (strncmp(*p, s, n) != 0)
        return false;
    *p += n;
    return true;
}

static bool month(const char **p, unsigned *m) {
    for (unsigned i = 0; i < 12; i++) {
        if (strncmp(*p, month_names[i], 3) == 0) {
            *p += 3;
            *m = i + 1;
            return true;
        }
    }
    return false;
}

/* "HH:MM:SS" */
static bool hms(const char **p, int64_t *h, int64_t *mi, int64_t *s) {
    return digits(p, 2, h) && lit(p, ":") && digits(p, 2, mi) && lit(p, ":") && digits(p, 2, s);
}

static bool assemble(int64_t y, unsigned m, int64_t d, int64_t h, int64_t mi, int64_t s,
                     int64_t *out) {
    if (m < 1 || m > 12 || d < 1 || d > (int64_t)days_in_month(y, m) || h > 23 || mi > 59 || s > 59)
        return false;
    *out = s3_days_from_civil(y, m, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

static const char *skip_weekday(const char *p, bool long_form) {
    static const char *const days[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
    for (int i = 0; i < 7; i++) {
        size_t n = long_form ? strlen(days[i]) : 3;
        if (strncmp(p, days[i], n) == 0)
            return p + n;
    }
    return NULL;
}

bool s3_http_date_parse(const char *s, int64_t *out) {
    int64_t y, d, h, mi, sec;
    unsigned m;
    const char *p;
    if (s == NULL)
        return false;
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    p = skip_weekday(s, false);
    if (p && lit(&p, ", ") && digits(&p, 2, &d) && lit(&p, " ") && month(&p, &m) && lit(&p, " ") &&
        digits(&p, 4, &y) && lit(&p, " ") && hms(&p, &h, &mi, &sec) && lit(&p, " GMT") &&
        *p == '\0')
        return assemble(y, m, d, h, mi, sec, out);
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years are taken as 19xx for
     * 70..99 and 20xx otherwise (RFC 9110 asks for the nearest past century match;
     * this window agrees until 2070). */
    p = skip_weekday(s, true);
    if (p && lit(&p, ", ") && digits(&p, 2, &d) && lit(&p, "-") && month(&p, &m) && lit(&p, "-") &&
        digits(&p, 2, &y) && lit(&p, " ") && hms(&p, &h, &mi, &sec) && lit(&p, " GMT") &&
        *p == '\0') {
        y += y >= 70 ? 1900 : 2000;
        return assemble(y, m, d, h, mi, sec, out);
    }
    /* asctime: "Sun Nov  6 08:49:37 1994" (day space-padded) */
    p = skip_weekday(s, false);
    if (p && lit(&p, " ") && month(&p, &m) && lit(&p, " ")) {
        if (*p == ' ') {
            p++;
            if (!digits(&p, 1, &d))
                return false;
        } else if (!digits(&p, 2, &d)) {
            return false;
        }
        if (lit(&p, " ") && hms(&p, &h, &mi, &sec) && lit(&p, " ") && digits(&p, 4, &y) &&
            *p == '\0')
            return assemble(y, m, d, h, mi, sec, out);
    }
    return false;
}

bool s3_iso8601_parse(const char *s, int64_t *out) {
    int64_t y, mo, d, h, mi, sec, t;
    const char *p = s;
    if (s == NULL)
        return false;
    if (!(digits(&p, 4, &y) && lit(&p, "-") && digits(&p, 2, &mo) && lit(&p, "-") &&
          digits(&p, 2, &d) && (lit(&p, "T") || lit(&p, "t")) && hms(&p, &h, &mi, &sec)))
        return false;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9' && nd < 12) {
            p++;
            nd++;
        }
        if (nd == 0 || (*p >= '0' && *p <= '9'))
            return false;
    }
    if (mo < 1 || mo > 12 || !assemble(y, (unsigned)mo, d, h, mi, sec, &t))
        return false;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        *out = t;
        return true;
    }
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int64_t oh, om;
        p++;
        if (!(digits(&p, 2, &oh) && lit(&p, ":") && digits(&p, 2, &om)) || *p != '\0' || oh > 23 ||
            om > 59)
            return false;
        *out = t - sign * (oh * 3600 + om * 60);
        return true;
    }
    return false;
}
