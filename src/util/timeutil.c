/*
 * timeutil.c: clocks, ISO-8601, UUIDs (see timeutil.h).
 */
#include "util/timeutil.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double tu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tu_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t tu_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return 0;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm,
 * http://howardhinnant.github.io/date_algorithms.html#days_from_civil). */
static long long days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153u * (unsigned)(m + (m > 2 ? -3 : 9)) + 2u) / 5u + (unsigned)d - 1u;
    const unsigned doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
    return era * 146097 + (long long)doe - 719468;
}

cel_status tu_parse_iso8601(const char *s, double *out, cel_error *err) {
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    double frac = 0;
    if (s == NULL)
        return cel_fail(err, CEL_EINVAL, "missing date-time");
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        goto bad;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        goto bad;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            goto bad;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                goto bad;
            if (*p == '.' || *p == ',') {
                p++;
                double scale = 0.1;
                int nd = 0;
                while (isdigit((unsigned char)*p)) {
                    if (nd++ < 9)
                        frac += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
                if (nd == 0)
                    goto bad;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            goto bad;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;
        p++;
        if (!digits(&p, 2, &oh))
            goto bad;
        if (*p == ':')
            p++;
        if (isdigit((unsigned char)*p) && !digits(&p, 2, &om))
            goto bad;
        if (oh > 23 || om > 59)
            goto bad;
        offset = sign * (oh * 3600L + om * 60L);
    }
    if (*p != '\0')
        goto bad;
    long long days = days_from_civil(y, mo, d);
    *out = (double)(days * 86400LL + h * 3600LL + mi * 60LL + sec - offset) + frac;
    return CEL_OK;
bad:
    return cel_fail(err, CEL_EINVAL, "invalid ISO-8601 date-time '%.64s'", s);
}

void tu_format_iso8601(double t, char *out, size_t outsz) {
    time_t secs = (time_t)t;
    if ((double)secs > t)
        secs--;
    long usec = (long)((t - (double)secs) * 1e6 + 0.5);
    if (usec >= 1000000) {
        secs++;
        usec -= 1000000;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
}

void tu_uuid4(char *out) {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        /* OpenSSL's CSPRNG failing is not recoverable input; fall back to time-seeded bytes
         * so ids stay unique enough for correlation (not security). */
        unsigned seed = (unsigned)(tu_monotonic() * 1e6);
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand_r(&seed);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
