/*
 * timeutil.h: wall/monotonic clocks, ISO-8601 parsing and formatting, UUIDs.
 *
 * Celery sends `eta`/`expires` as Python `datetime.isoformat()` strings, with an
 * offset ("2024-05-01T12:00:10.123456+00:00") or naive (then UTC: we assume the
 * producer's `enable_utc`, Celery's default) or with a trailing "Z" (kombu's JSON
 * encoder). We parse those forms to UNIX seconds as a double; anything else is an
 * error, never a guess.
 */
#ifndef CELERIAC_TIMEUTIL_H
#define CELERIAC_TIMEUTIL_H

#include "celeriac/error.h"

#include <stddef.h>
#include <stdint.h>

double tu_now(void);       /* UNIX time, seconds with microseconds */
double tu_monotonic(void); /* CLOCK_MONOTONIC seconds */
uint64_t tu_monotonic_ms(void);

/* Parses ISO-8601 date-time ("YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]][Z|±HH[:MM]]") or a
 * bare date "YYYY-MM-DD" (midnight). Naive values are taken as UTC. */
cel_status tu_parse_iso8601(const char *s, double *out, cel_error *err) CEL_MUST_CHECK;

/* Formats t as "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (what Python's isoformat gives for an
 * aware UTC datetime). out must hold 40 bytes. */
void tu_format_iso8601(double t, char *out, size_t outsz);

/* Random (version 4) UUID in canonical 36-char form; out must hold 37 bytes. */
void tu_uuid4(char *out);

#endif
