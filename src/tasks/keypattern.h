/*
 * keypattern.h: resolves identifiers from an S3 key with a pattern of '/'-separated
 * segments. A segment is a literal, `*` (any one segment), `**` (any number of
 * segments, at most once), `{agency_slug}` or `{file_name}` (one segment, captured).
 * Literal text may surround a capture inside a segment: `{file_name}.csv`.
 *
 * Default (CELERIAC_DQ_KEY_PATTERN): KP_DEFAULT below, i.e. the first segment is the
 * agency and the last is the file name ("acme/2024/05/sales.csv" →
 * agency "acme", file "sales.csv").
 */
#ifndef CELERIAC_KEYPATTERN_H
#define CELERIAC_KEYPATTERN_H

#include "celeriac/error.h"

#include <stddef.h>

#define KP_DEFAULT "{agency_slug}/**/{file_name}"

typedef struct kp_match {
    char agency_slug[256];
    char file_name[256];
} kp_match;

/* CEL_OK and *out filled when key matches; CEL_ENOTFOUND when it doesn't; CEL_ECONFIG
 * when the pattern itself is invalid. */
cel_status kp_resolve(const char *pattern, const char *key, kp_match *out,
                      cel_error *err) CEL_MUST_CHECK;

#endif
