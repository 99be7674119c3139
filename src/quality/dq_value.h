/*
 * dq_value.h: lexical parsers and validators for Table Schema cell values.
 *
 * What: pure functions from a (pointer, length) text to a verdict and, where there
 * is one, a logical value: numbers, integers, booleans, dates, times, datetimes,
 * years, year-months, ISO durations, geopoints, e-mail addresses, URIs, UUIDs,
 * base64, plus a strptime-style pattern matcher. Inputs are never NUL-terminated
 * necessarily and are never modified.
 *
 * Design: strict by default, following the lexical forms of Frictionless Table
 * Schema v2 (https://datapackage.org/standard/table-schema/ "Field Types") and the
 * XML Schema types it points to (https://www.w3.org/TR/xmlschema-2/ §3.2.3
 * decimal, §3.2.7 dateTime, §3.2.6 duration). A "lenient" number parser mirrors
 * what pandas' read_csv accepts for a numeric column (surrounding blanks, leading
 * zeros, inf), for statistics and type inference only.
 *
 * Not here: missing-value handling, constraints, anything that allocates. Every
 * function is bounded by the input length; none recurses.
 */
#ifndef CELERIAC_DQ_VALUE_H
#define CELERIAC_DQ_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Number text options (Table Schema number/integer properties). */
typedef struct dq_numfmt {
    char decimal_char; /* '.' by default */
    char group_char;   /* 0 = none */
    bool bare_number;  /* true by default; false strips leading/trailing non-numeric text */
} dq_numfmt;

/* The longest number text we convert (after group-char removal); longer is invalid. */
#define DQ_NUM_MAX_TEXT 1024

/* Strict Table Schema number: [+-]digits[.digits][(e|E)[+-]digits], ".5", "5.", or
 * NaN / INF / -INF / +INF (any case). No surrounding whitespace. nf may be NULL.
 * Returns true and stores the value in *out. */
bool dq_parse_number(const char *s, size_t n, const dq_numfmt *nf, double *out);

/* Strict Table Schema integer: [+-]digits. *big is set when the value does not fit
 * int64 (still a valid integer; *out is then clamped and *dbl holds an approximation).
 * nf may be NULL. dbl may be NULL. */
bool dq_parse_integer(const char *s, size_t n, const dq_numfmt *nf, int64_t *out, double *dbl,
                      bool *big);

/* pandas-like number: optional surrounding ASCII blanks, leading zeros allowed,
 * exponent allowed, "inf"/"infinity"/"nan" (any case, signed) accepted as non-finite.
 * *is_int is set when the text is an integer literal (no '.', no exponent) whose
 * value fits int64; then *iv holds it. */
bool dq_parse_number_lenient(const char *s, size_t n, double *out, bool *is_int, int64_t *iv);

/* A broken-down time parsed from text. Fields not present in the text stay at
 * their defaults (year 1900, month 1, day 1, 00:00:00, no zone). */
typedef struct dq_tm {
    int year, mon, day; /* mon 1..12, day 1..31 */
    int hour, min;
    double sec;   /* may hold a fraction */
    int has_tz;   /* 1 when a zone (Z or ±hh:mm) was given */
    int tz_min;   /* offset east of UTC in minutes */
    int has_date; /* year/month/day given */
    int has_time; /* hour given */
} dq_tm;

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil,
 * http://howardhinnant.github.io/date_algorithms.html). */
int64_t dq_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Seconds since the epoch (UTC when a zone was given, else the naive wall time). */
double dq_tm_epoch(const dq_tm *tm);
/* Seconds since midnight (zone ignored). */
double dq_tm_daysecs(const dq_tm *tm);

/* ISO/XSD lexical forms. date: YYYY-MM-DD. time: hh:mm:ss[.f][zone]. datetime:
 * YYYY-MM-DDThh:mm:ss[.f][zone] (space instead of T only when allow_space).
 * zone: Z or ±hh:mm. Calendar validity is checked (no 2023-02-29). */
bool dq_parse_date_iso(const char *s, size_t n, dq_tm *tm);
bool dq_parse_time_iso(const char *s, size_t n, dq_tm *tm);
bool dq_parse_datetime_iso(const char *s, size_t n, bool allow_space, dq_tm *tm);

/* Python-strptime-style pattern: %Y %m %d %H %M %S %y %b %B %h %a %A %j %f %z %p %I
 * %T %F %D %% and literals; whitespace in the pattern matches one or more
 * whitespace characters (as Python's _strptime does). The whole text must be
 * consumed; numeric directives backtrack over their widths (bounded steps). Returns false on a
 * mismatch or an impossible date. An unknown directive never matches. */
bool dq_strptime(const char *fmt, const char *s, size_t n, dq_tm *tm);
/* True when fmt only uses directives dq_strptime knows (for schema validation). */
bool dq_strptime_pattern_ok(const char *fmt);

/* "any" formats: ISO first, then a fixed list of common patterns (see dq_value.c). */
bool dq_parse_date_any(const char *s, size_t n, dq_tm *tm);
bool dq_parse_time_any(const char *s, size_t n, dq_tm *tm);
bool dq_parse_datetime_any(const char *s, size_t n, dq_tm *tm);

/* XSD gYear (YYYY, optional '-', 4+ digits) and gYearMonth (YYYY-MM). */
bool dq_parse_year(const char *s, size_t n, int64_t *year);
bool dq_parse_yearmonth(const char *s, size_t n, int64_t *year, int *month);

/* ISO 8601 duration PnYnMnWnDTnHnMn(.n)S, optional leading '-'. *secs is an
 * approximation for ordering: 1Y = 365 days, 1M = 30 days, 1W = 7 days. */
bool dq_parse_duration(const char *s, size_t n, double *secs);

/* geopoint default form "lon, lat" (blank after the comma optional); array form
 * "[lon, lat]"; object form {"lon": x, "lat": y} (the latter two parsed with a
 * small scanner, not a full JSON parser). Ranges: lon -180..180, lat -90..90. */
typedef enum { DQ_GEO_DEFAULT, DQ_GEO_ARRAY, DQ_GEO_OBJECT } dq_geofmt;
bool dq_parse_geopoint(const char *s, size_t n, dq_geofmt f, double *lon, double *lat);

/* String formats. */
bool dq_is_email(const char *s, size_t n);  /* pragmatic RFC 5322 dot-atom@domain */
bool dq_is_uri(const char *s, size_t n);    /* RFC 3986 absolute URI: scheme ":" rest */
bool dq_is_uuid(const char *s, size_t n);   /* 8-4-4-4-12 hex digits, any version */
bool dq_is_base64(const char *s, size_t n); /* RFC 4648 §4 with padding, no blanks */

/* Number of UTF-8 code points (continuation bytes are not counted). */
size_t dq_utf8_chars(const char *s, size_t n);

/* Type inference shapes (no schema): integer / number are the lenient forms. */
bool dq_looks_boolean(const char *s, size_t n);

#endif
