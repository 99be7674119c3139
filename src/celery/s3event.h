/*
 * s3event.h: S3 event notifications as they arrive on an AMQP queue, turned into
 * (bucket, key, event time, size, etag) records.
 *
 * Accepted shapes (docs/research/s3_parquet.md §2): AWS `{"Records":[...]}` (SQS/SNS/
 * Lambda form; keys are form-URL-encoded: '+' is a space, then %XX), MinIO's AMQP
 * target `{"EventName","Key","Records":[...]}` (same records, same encoding), and
 * EventBridge `{"detail-type":"Object Created","detail":{...}}` (keys taken as sent:
 * no source says they are encoded; see the research note's open question).
 * Only ObjectCreated events become records; others (removals, s3:TestEvent) are
 * counted in *ignored so the caller can ack them with a log line.
 */
#ifndef CELERIAC_S3EVENT_H
#define CELERIAC_S3EVENT_H

#include "celeriac/error.h"

#include <stddef.h>
#include <stdint.h>

#define S3EV_MAX_RECORDS 1000

typedef struct s3ev_record {
    char *bucket;
    char *key;        /* decoded */
    char *event_time; /* ISO-8601 or NULL */
    char *etag;       /* or NULL */
    int64_t size;     /* -1 when absent */
} s3ev_record;

/* Parses one notification message. *out is a new array of *n records (free with
 * s3ev_free). CEL_EPARSE for invalid JSON or an unknown shape, CEL_ELIMIT over
 * S3EV_MAX_RECORDS. */
cel_status s3ev_parse(const char *body, size_t len, s3ev_record **out, size_t *n, size_t *ignored,
                      cel_error *err) CEL_MUST_CHECK;
void s3ev_free(s3ev_record *recs, size_t n);

/* Form-URL-decodes s in place ('+' → ' ', %XX → byte). CEL_EPARSE on a bad escape or an
 * encoded NUL. */
cel_status s3ev_url_decode(char *s, cel_error *err) CEL_MUST_CHECK;

#endif
