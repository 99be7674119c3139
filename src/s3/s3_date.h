/*
 * s3_date.h: the two timestamp forms S3 sends, parsed to UNIX seconds.
 *
 * - HTTP dates (Last-Modified, Date): RFC 9110 §5.6.7 (formerly RFC 7231 §7.1.1.1)
 *   says a recipient MUST accept IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" and the
 *   obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime
 *   "Sun Nov  6 08:49:37 1994" forms; all three are accepted here.
 * - ISO-8601 as used in ListObjectsV2 LastModified: "2009-10-12T17:50:30.000Z"
 *   (fraction optional, 'Z' or "+00:00" / "-hh:mm" offsets accepted).
 *
 * Design: strict, allocation-free scanners with our own days-from-civil arithmetic
 * (proleptic Gregorian), no locale, no timegm. Not here: time zones other than
 * numeric offsets / GMT / UTC, leap seconds (":60" is refused).
 */
#ifndef CELERIAC_S3_DATE_H
#define CELERIAC_S3_DATE_H

#include <stdbool.h>
#include <stdint.h>

/* Parses an HTTP date. Returns true and sets *out on success; false if malformed. */
bool s3_http_date_parse(const char *s, int64_t *out);

/* Parses an S3 ISO-8601 timestamp. Returns true and sets *out (seconds, fraction
 * dropped) on success; false if malformed. */
bool s3_iso8601_parse(const char *s, int64_t *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
int64_t s3_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
