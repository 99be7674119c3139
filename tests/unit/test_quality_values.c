/*
 * test_quality_values.c: the lexical validators behind Table Schema types and
 * formats (src/quality/dq_value.c). Each case documents what counts as valid:
 * strict spec forms for validation, pandas-like forms for statistics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "quality/dq_value.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) x, strlen(x)

static bool num(const char *s, double *v) {
    return dq_parse_number(s, strlen(s), NULL, v);
}

static void test_number_strict(void **state) {
    (void)state;
    double v;
    assert_true(num("1", &v) && v == 1);
    assert_true(num("-1", &v) && v == -1);
    assert_true(num("+1", &v) && v == 1);
    assert_true(num("1.5", &v) && v == 1.5);
    assert_true(num(".5", &v) && v == 0.5);
    assert_true(num("5.", &v) && v == 5);
    assert_true(num("1e3", &v) && v == 1000);
    assert_true(num("1E-3", &v) && v == 0.001);
    assert_true(num("-0", &v) && v == 0 && signbit(v));
    assert_true(num("007", &v) && v == 7); /* XSD decimal allows leading zeros */
    assert_true(num("0.1", &v) && v == 0.1);
    assert_true(num("123456789012345678901234567890", &v) && v == 1.2345678901234568e29);
    assert_true(num("2.2250738585072014e-308", &v) && v == 2.2250738585072014e-308);
    /* NaN / INF / -INF in any case (Table Schema number) */
    assert_true(num("NaN", &v) && isnan(v));
    assert_true(num("nan", &v) && isnan(v));
    assert_true(num("INF", &v) && isinf(v) && v > 0);
    assert_true(num("-inf", &v) && isinf(v) && v < 0);
    assert_true(num("+INF", &v) && isinf(v));
    /* not numbers: blanks, group separators, hex, bare signs, words */
    assert_false(num(" 12 ", &v));
    assert_false(num("12 ", &v));
    assert_false(num("", &v));
    assert_false(num("1,000", &v));
    assert_false(num("1e", &v));
    assert_false(num("e3", &v));
    assert_false(num(".", &v));
    assert_false(num("-", &v));
    assert_false(num("1.2.3", &v));
    assert_false(num("0x10", &v));
    assert_false(num("Infinity", &v));
    assert_false(num("1_000", &v));
}

static void test_number_options(void **state) {
    (void)state;
    double v;
    dq_numfmt comma = {.decimal_char = ',', .group_char = 0, .bare_number = true};
    assert_true(dq_parse_number(S("1,5"), &comma, &v) && v == 1.5);
    assert_false(dq_parse_number(S("1.5"), &comma, &v));
    dq_numfmt group = {.decimal_char = '.', .group_char = ',', .bare_number = true};
    assert_true(dq_parse_number(S("1,000,000.5"), &group, &v) && v == 1000000.5);
    dq_numfmt eu = {.decimal_char = ',', .group_char = '.', .bare_number = true};
    assert_true(dq_parse_number(S("1.234,5"), &eu, &v) && v == 1234.5);
    dq_numfmt bare = {.decimal_char = '.', .group_char = 0, .bare_number = false};
    assert_true(dq_parse_number(S("95%"), &bare, &v) && v == 95);
    assert_true(dq_parse_number(S("\xe2\x82\xac"
                                  "95"),
                                &bare, &v) &&
                v == 95);
    assert_true(dq_parse_number(S("EUR -95.5"), &bare, &v) && v == -95.5);
    assert_false(dq_parse_number(S("EUR"), &bare, &v));
}

static void test_integer_strict(void **state) {
    (void)state;
    int64_t i;
    double d;
    bool big;
    assert_true(dq_parse_integer(S("1"), NULL, &i, &d, &big) && i == 1 && !big);
    assert_true(dq_parse_integer(S("-0"), NULL, &i, &d, &big) && i == 0);
    assert_true(dq_parse_integer(S("+5"), NULL, &i, &d, &big) && i == 5);
    assert_true(dq_parse_integer(S("9223372036854775807"), NULL, &i, &d, &big) && !big &&
                i == INT64_MAX);
    assert_true(dq_parse_integer(S("-9223372036854775808"), NULL, &i, &d, &big) && !big &&
                i == INT64_MIN);
    assert_true(dq_parse_integer(S("9223372036854775808"), NULL, &i, &d, &big) && big &&
                d == 9223372036854775808.0);
    assert_false(dq_parse_integer(S("1.0"), NULL, &i, &d, &big));
    assert_false(dq_parse_integer(S("1e3"), NULL, &i, &d, &big));
    assert_false(dq_parse_integer(S(" 12"), NULL, &i, &d, &big));
    assert_false(dq_parse_integer(S(""), NULL, &i, &d, &big));
    assert_false(dq_parse_integer(S("-"), NULL, &i, &d, &big));
    dq_numfmt group = {.decimal_char = '.', .group_char = ' ', .bare_number = true};
    assert_true(dq_parse_integer(S("1 000 000"), &group, &i, &d, &big) && i == 1000000);
}

static void test_number_lenient(void **state) {
    (void)state;
    double v;
    bool is_int;
    int64_t iv;
    /* what pandas.read_csv turns into a number */
    assert_true(dq_parse_number_lenient(S(" 12 "), &v, &is_int, &iv) && v == 12 && is_int);
    assert_true(dq_parse_number_lenient(S("1e3"), &v, &is_int, &iv) && v == 1000 && !is_int);
    assert_true(dq_parse_number_lenient(S("007"), &v, &is_int, &iv) && v == 7 && is_int);
    assert_true(dq_parse_number_lenient(S("-0"), &v, &is_int, &iv) && v == 0 && signbit(v));
    assert_true(dq_parse_number_lenient(S("inf"), &v, &is_int, &iv) && isinf(v));
    assert_true(dq_parse_number_lenient(S("-Infinity"), &v, &is_int, &iv) && isinf(v) && v < 0);
    assert_true(dq_parse_number_lenient(S("NaN"), &v, &is_int, &iv) && isnan(v));
    assert_true(dq_parse_number_lenient(S("\t.5"), &v, &is_int, &iv) && v == 0.5);
    assert_false(dq_parse_number_lenient(S(""), &v, &is_int, &iv));
    assert_false(dq_parse_number_lenient(S("  "), &v, &is_int, &iv));
    assert_false(dq_parse_number_lenient(S("12a"), &v, &is_int, &iv));
    assert_false(dq_parse_number_lenient(S("1,5"), &v, &is_int, &iv));
}

static void test_dates(void **state) {
    (void)state;
    dq_tm tm;
    assert_true(dq_parse_date_iso(S("2020-02-29"), &tm) && tm.day == 29);
    assert_false(dq_parse_date_iso(S("2021-02-29"), &tm));
    assert_false(dq_parse_date_iso(S("2020-13-01"), &tm));
    assert_false(dq_parse_date_iso(S("2020-1-01"), &tm));
    assert_false(dq_parse_date_iso(S("2020-01-01 "), &tm));
    assert_int_equal(dq_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(dq_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(dq_days_from_civil(1969, 12, 31), -1);
    /* strptime patterns (Python semantics: %m/%d take 1 or 2 digits) */
    assert_true(dq_strptime("%d/%m/%Y", S("31/12/2020"), &tm) && tm.mon == 12 && tm.day == 31);
    assert_true(dq_strptime("%d/%m/%Y", S("1/2/2020"), &tm) && tm.mon == 2 && tm.day == 1);
    assert_false(dq_strptime("%d/%m/%Y", S("31/02/2020"), &tm));
    assert_false(dq_strptime("%d/%m/%Y", S("31/12/20"), &tm));
    assert_true(dq_strptime("%Y%m%d", S("20200102"), &tm) && tm.mon == 1 && tm.day == 2);
    assert_true(dq_strptime("%m%d%Y", S("1122020"), &tm) && tm.mon == 11 &&
                tm.day == 2); /* backtracks */
    assert_true(dq_strptime("%m%d%Y", S("1312020"), &tm) && tm.mon == 1 && tm.day == 31);
    assert_true(dq_strptime("%b %d, %Y", S("Jan 02, 2020"), &tm) && tm.mon == 1);
    assert_true(dq_strptime("%d %B %Y", S("2 january 2020"), &tm) && tm.mon == 1);
    assert_true(dq_strptime("%d  %m", S("2 \t 3"), &tm) && tm.mon == 3);
    assert_false(dq_strptime("%d %m", S("23"), &tm)); /* blank needs at least one blank */
    assert_true(dq_strptime("%I:%M %p", S("01:30 PM"), &tm) && tm.hour == 13);
    assert_true(dq_strptime("%I:%M %p", S("12:05 am"), &tm) && tm.hour == 0);
    assert_false(dq_strptime("%H:%M", S("25:00"), &tm));
    assert_true(dq_strptime("%Y-%m-%dT%H:%M:%S%z", S("2020-01-01T10:00:00+0100"), &tm) &&
                tm.has_tz && tm.tz_min == 60);
    assert_true(dq_strptime("%y", S("69"), &tm) && tm.year == 1969);
    assert_true(dq_strptime("%y", S("68"), &tm) && tm.year == 2068);
    assert_true(dq_strptime("%Y %j", S("2020 060"), &tm) && tm.mon == 2 && tm.day == 29);
    assert_true(dq_strptime("%F", S("2020-05-06"), &tm) && tm.day == 6);
    assert_true(dq_strptime("%H:%M:%S.%f", S("10:11:12.5"), &tm) && tm.sec == 12.5);
    assert_true(dq_strptime("100%%", S("100%"), &tm));
    assert_false(dq_strptime("%Q", S("x"), &tm));
    assert_false(dq_strptime_pattern_ok("%Y-%Q"));
    assert_true(dq_strptime_pattern_ok("%d.%m.%Y %H:%M"));
    /* "any" */
    assert_true(dq_parse_date_any(S("2020-01-02"), &tm));
    assert_true(dq_parse_date_any(S("02/01/2020"), &tm));
    assert_true(dq_parse_date_any(S("2 Jan 2020"), &tm));
    assert_true(dq_parse_date_any(S("Jan 2, 2020"), &tm));
    assert_false(dq_parse_date_any(S("yesterday"), &tm));
    assert_true(dq_parse_datetime_any(S("02/01/2020 10:30"), &tm) && tm.hour == 10);
    assert_true(dq_parse_time_any(S("1:30 PM"), &tm) && tm.hour == 13);
}

static void test_times(void **state) {
    (void)state;
    dq_tm tm;
    assert_true(dq_parse_time_iso(S("10:00:00"), &tm));
    assert_true(dq_parse_time_iso(S("23:59:59.5"), &tm) && tm.sec == 59.5);
    assert_true(dq_parse_time_iso(S("24:00:00"), &tm));
    assert_false(dq_parse_time_iso(S("24:00:01"), &tm));
    assert_false(dq_parse_time_iso(S("10:00"), &tm));
    assert_false(dq_parse_time_iso(S("10:60:00"), &tm));
    assert_true(dq_parse_time_iso(S("10:00:00Z"), &tm) && tm.has_tz);
    assert_true(dq_parse_time_iso(S("10:00:00+05:30"), &tm) && tm.tz_min == 330);
    assert_false(dq_parse_time_iso(S("10:00:00+0530"), &tm));
    assert_true(dq_parse_datetime_iso(S("2020-01-01T10:00:00Z"), false, &tm));
    assert_false(dq_parse_datetime_iso(S("2020-01-01 10:00:00"), false, &tm));
    assert_true(dq_parse_datetime_iso(S("2020-01-01 10:00:00"), true, &tm));
    assert_false(dq_parse_datetime_iso(S("2020-01-01T10:00"), false, &tm));
    assert_true(dq_parse_datetime_iso(S("1970-01-01T00:00:00Z"), false, &tm) &&
                dq_tm_epoch(&tm) == 0);
    assert_true(dq_parse_datetime_iso(S("1970-01-01T01:00:00+01:00"), false, &tm) &&
                dq_tm_epoch(&tm) == 0);
    assert_true(dq_parse_datetime_iso(S("2024-01-26T15:00:00.300-05:00"), false, &tm));
}

static void test_year_month_duration(void **state) {
    (void)state;
    int64_t y;
    int m;
    double s;
    assert_true(dq_parse_year(S("2020"), &y) && y == 2020);
    assert_true(dq_parse_year(S("-0044"), &y) && y == -44);
    assert_false(dq_parse_year(S("20"), &y));
    assert_false(dq_parse_year(S("2020a"), &y));
    assert_true(dq_parse_yearmonth(S("2020-05"), &y, &m) && y == 2020 && m == 5);
    assert_false(dq_parse_yearmonth(S("2020-13"), &y, &m));
    assert_false(dq_parse_yearmonth(S("2020-5"), &y, &m));
    assert_true(dq_parse_duration(S("P1Y2M3DT4H5M6.5S"), &s) &&
                s == 365 * 86400.0 + 60 * 86400.0 + 3 * 86400.0 + 4 * 3600 + 5 * 60 + 6.5);
    assert_true(dq_parse_duration(S("PT1H"), &s) && s == 3600);
    assert_true(dq_parse_duration(S("P1W"), &s) && s == 7 * 86400);
    assert_true(dq_parse_duration(S("-P1D"), &s) && s == -86400);
    assert_false(dq_parse_duration(S("P"), &s));
    assert_false(dq_parse_duration(S("PT"), &s));
    assert_false(dq_parse_duration(S("P1DT"), &s));
    assert_false(dq_parse_duration(S("P1Y1Y"), &s));
    assert_false(dq_parse_duration(S("P1M1Y"), &s));
    assert_false(dq_parse_duration(S("P1.5Y"), &s)); /* XSD: a fraction only on seconds */
    assert_false(dq_parse_duration(S("1Y"), &s));
}

static void test_geopoint(void **state) {
    (void)state;
    double lon, lat;
    assert_true(dq_parse_geopoint(S("90, 45"), DQ_GEO_DEFAULT, &lon, &lat) && lon == 90 &&
                lat == 45);
    assert_true(dq_parse_geopoint(S("-122.4,37.8"), DQ_GEO_DEFAULT, &lon, &lat));
    assert_false(dq_parse_geopoint(S("200, 45"), DQ_GEO_DEFAULT, &lon, &lat));
    assert_false(dq_parse_geopoint(S("90, 95"), DQ_GEO_DEFAULT, &lon, &lat));
    assert_false(dq_parse_geopoint(S("90"), DQ_GEO_DEFAULT, &lon, &lat));
    assert_true(dq_parse_geopoint(S("[90, 45]"), DQ_GEO_ARRAY, &lon, &lat));
    assert_false(dq_parse_geopoint(S("[90, 45, 1]"), DQ_GEO_ARRAY, &lon, &lat));
    assert_true(dq_parse_geopoint(S("{\"lat\": 45, \"lon\": 90}"), DQ_GEO_OBJECT, &lon, &lat) &&
                lon == 90 && lat == 45);
    assert_false(dq_parse_geopoint(S("{\"lon\": 90}"), DQ_GEO_OBJECT, &lon, &lat));
}

static void test_string_formats(void **state) {
    (void)state;
    assert_true(dq_is_email(S("a@b.co")));
    assert_true(dq_is_email(S("first.last+tag@sub.example.org")));
    assert_true(dq_is_email(S("o'neil@example.ie")));
    assert_true(dq_is_email(S("j\xc3\xb6rg@b\xc3\xbc"
                              "cher.de"))); /* RFC 6531 */
    assert_false(dq_is_email(S("a@b")));
    assert_false(dq_is_email(S("a..b@x.com")));
    assert_false(dq_is_email(S(".a@x.com")));
    assert_false(dq_is_email(S("a.@x.com")));
    assert_false(dq_is_email(S("a@-x.com")));
    assert_false(dq_is_email(S("a b@x.com")));
    assert_false(dq_is_email(S("a@x.123")));
    assert_false(dq_is_email(S("@x.com")));
    assert_false(dq_is_email(S("a@x.com@y.com")));
    assert_false(dq_is_email(S("a@x..com")));

    assert_true(dq_is_uri(S("http://example.com/a?b=c#d")));
    assert_true(dq_is_uri(S("mailto:a@b.c")));
    assert_true(dq_is_uri(S("urn:isbn:0451450523")));
    assert_true(dq_is_uri(S("s3://bucket/key%20x")));
    assert_false(dq_is_uri(S("http://")));
    assert_false(dq_is_uri(S("example.com")));
    assert_false(dq_is_uri(S("1http://x")));
    assert_false(dq_is_uri(S("http://a b")));
    assert_false(dq_is_uri(S("http://x/%zz")));
    assert_false(dq_is_uri(S("/relative/path")));

    assert_true(dq_is_uuid(S("123e4567-e89b-12d3-a456-426614174000")));
    assert_true(dq_is_uuid(S("123E4567-E89B-12D3-A456-426614174000")));
    assert_false(dq_is_uuid(S("123e4567e89b-12d3-a456-426614174000")));
    assert_false(dq_is_uuid(S("123e4567-e89b-12d3-a456-42661417400g")));

    assert_true(dq_is_base64(S("")));
    assert_true(dq_is_base64(S("YQ==")));
    assert_true(dq_is_base64(S("YWI=")));
    assert_true(dq_is_base64(S("YWJj")));
    assert_false(dq_is_base64(S("YQ=")));
    assert_false(dq_is_base64(S("Y===")));
    assert_false(dq_is_base64(S("YQ==YQ==")));
    assert_false(dq_is_base64(S("a b=")));

    assert_int_equal(dq_utf8_chars(S("h\xc3\xa9llo")), 5);
    assert_true(dq_looks_boolean(S("TRUE")));
    assert_false(dq_looks_boolean(S("yes")));
}

/* Random short texts from an alphabet of the parsers' own characters, through
 * every parser (the sanitizer build catches any read past the length). */
static void test_random_inputs(void **state) {
    (void)state;
    static const char alphabet[] =
        "0123456789+-.eE:TZ% /,PYMDWHS[]{}\"latoninfNa@x\xc3\xa9\xff%%dmYHbp";
    static const char *const patterns[] = {"%Y-%m-%d", "%d/%m/%Y %H:%M", "%b %d, %Y",      "%j %y",
                                           "%I:%M %p", "%Y%m%d%H%M%S",   "%a %d %B %Y %z", "%%%f"};
    uint64_t x = 99;
    char buf[48], pat[24];
    for (int it = 0; it < 200000; it++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = (size_t)(x >> 58) % 40;
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[i] = alphabet[(x >> 33) % (sizeof alphabet - 1)];
        }
        double d, d2;
        int64_t i64;
        bool b;
        int m;
        dq_tm tm;
        dq_numfmt odd = {.decimal_char = ',', .group_char = '.', .bare_number = false};
        (void)dq_parse_number(buf, n, NULL, &d);
        (void)dq_parse_number(buf, n, &odd, &d);
        (void)dq_parse_integer(buf, n, &odd, &i64, &d, &b);
        (void)dq_parse_number_lenient(buf, n, &d, &b, &i64);
        (void)dq_parse_date_any(buf, n, &tm);
        (void)dq_parse_time_any(buf, n, &tm);
        (void)dq_parse_datetime_any(buf, n, &tm);
        (void)dq_strptime(patterns[it % 8], buf, n, &tm);
        (void)dq_parse_year(buf, n, &i64);
        (void)dq_parse_yearmonth(buf, n, &i64, &m);
        (void)dq_parse_duration(buf, n, &d);
        for (int g = 0; g < 3; g++)
            (void)dq_parse_geopoint(buf, n, (dq_geofmt)g, &d, &d2);
        (void)dq_is_email(buf, n);
        (void)dq_is_uri(buf, n);
        (void)dq_is_uuid(buf, n);
        (void)dq_is_base64(buf, n);
        size_t chars = 0;
        for (size_t i = 0; i < n; i++)
            chars += ((unsigned char)buf[i] & 0xC0) != 0x80;
        assert_int_equal(dq_utf8_chars(buf, n), chars);
        /* a random pattern over the same alphabet */
        size_t pn = n < sizeof pat - 1 ? n : sizeof pat - 1;
        memcpy(pat, buf, pn);
        pat[pn] = '\0';
        if (dq_strptime_pattern_ok(pat))
            (void)dq_strptime(pat, buf, n, &tm);
    }
}

/* Random decimal texts (leading zeros, points, exponents, up to 25 digits): the
 * strict and lenient parsers give strtod's correctly rounded value, bit for bit,
 * whether they took the exact fast path or not. */
static void test_number_random_vs_strtod(void **state) {
    (void)state;
    uint64_t x = 2024;
    char buf[64];
    for (int it = 0; it < 300000; it++) {
        size_t o = 0;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t r = x;
        if (r % 3 == 0)
            buf[o++] = (r >> 2) % 2 ? '-' : '+';
        size_t zeros = (r >> 4) % 4, intd = (r >> 6) % 22, fracd = (r >> 10) % 14;
        for (size_t k = 0; k < zeros; k++)
            buf[o++] = '0';
        for (size_t k = 0; k < intd; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[o++] = (char)('0' + (x >> 40) % 10);
        }
        if ((r >> 14) % 4 != 0) {
            buf[o++] = '.';
            for (size_t k = 0; k < (r >> 16) % 5; k++)
                buf[o++] = '0';
            for (size_t k = 0; k < fracd; k++) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                buf[o++] = (char)('0' + (x >> 40) % 10);
            }
        }
        if ((r >> 20) % 3 == 0) {
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%d", (r >> 22) % 2 ? "e-" : "E",
                                  (int)((r >> 24) % 40));
        }
        buf[o] = '\0';
        char *end;
        double want = strtod(buf, &end);
        bool valid =
            end == buf + o && o > 0 && strcspn(buf, "0123456789") < o && !(buf[0] == '.' && o == 1);
        double got = 0, lenient = 0;
        bool ok = dq_parse_number(buf, o, NULL, &got);
        bool is_int;
        int64_t iv;
        bool lok = dq_parse_number_lenient(buf, o, &lenient, &is_int, &iv);
        if (ok != valid || lok != valid)
            fail_msg("'%s': strict %d lenient %d, strtod says %d", buf, ok, lok, valid);
        if (valid && (memcmp(&got, &want, sizeof got) != 0 || memcmp(&lenient, &want, sizeof got)))
            fail_msg("'%s': got %.17g / %.17g, strtod %.17g", buf, got, lenient, want);
        if (valid && strpbrk(buf, ".eE") == NULL) { /* an integer literal */
            errno = 0;
            long long w = strtoll(buf, &end, 10);
            bool fits = errno == 0;
            if (is_int != fits || (fits && iv != w))
                fail_msg("'%s': is_int %d iv %lld, strtoll %lld (fits %d)", buf, is_int,
                         (long long)iv, w, fits);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_strict),  cmocka_unit_test(test_number_random_vs_strtod),
        cmocka_unit_test(test_number_options), cmocka_unit_test(test_integer_strict),
        cmocka_unit_test(test_number_lenient), cmocka_unit_test(test_dates),
        cmocka_unit_test(test_times),          cmocka_unit_test(test_year_month_duration),
        cmocka_unit_test(test_geopoint),       cmocka_unit_test(test_string_formats),
        cmocka_unit_test(test_random_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
