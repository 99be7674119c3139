/*
 * sigv4.h: AWS Signature Version 4 for S3, header-based and presigned.
 *
 * Design: the signer takes a request described by its *raw* parts (method, the
 * decoded path "/bucket/key", decoded query names and values, the headers we set
 * ourselves) and produces every intermediate artefact: the canonical URI and query
 * (which the HTTP client then puts in the URL verbatim, so what is sent is exactly
 * what was signed), the canonical request, the string to sign, the signature and
 * the Authorization header. Tests compare each piece with the AWS documentation
 * examples (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 * and sigv4-query-string-auth.html).
 *
 * S3 rules followed (from those pages, "Task 1: Create a Canonical Request"):
 * - UriEncode every byte except A-Z a-z 0-9 - . _ ~ as %XY (uppercase hex); space is
 *   %20, never '+'; '/' is kept in the object key path and encoded everywhere else.
 * - The path is encoded exactly once and never normalised (no "//" squashing, no dot
 *   segments removed), unlike the generic SigV4 suite.
 * - Query parameters are encoded separately, sorted by encoded name then encoded
 *   value (byte order), a parameter without a value signs as "name=".
 * - Header names are lowercased and sorted; values trimmed with inner runs of spaces
 *   collapsed; repeated names joined with ','. host, x-amz-date,
 *   x-amz-content-sha256 and (when a session token is given) x-amz-security-token
 *   are always signed, added by the signer itself.
 *
 * Not here: chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) uploads, SigV4a, and any
 * network I/O. Secrets are only read, never copied into outputs other than the
 * derived signature.
 */
#ifndef CELERIAC_S3_SIGV4_H
#define CELERIAC_S3_SIGV4_H

#include "celeriac/error.h"
#include "util/dbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Hex SHA-256 of the empty string: the payload hash of a body-less request. */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* Bound on every signer output (canonical request, query string, header). A key is at
 * most 1024 bytes (3 KiB encoded); the rest is small. Exceeding it is CEL_ELIMIT. */
#define S3_SIGV4_MAX_TEXT (256u * 1024u)

/* A name/value pair. For query parameters value may be NULL (signs as "name="). */
typedef struct s3_kv {
    const char *name;
    const char *value;
} s3_kv;

/* What to sign. All pointers are borrowed for the duration of the call. */
typedef struct s3_sign_input {
    const char *method; /* "GET", "PUT", "HEAD", ... */
    const char *path;   /* decoded path, e.g. "/bucket/dir/a b.csv"; NULL or "" = "/" */
    const s3_kv *query; /* decoded query parameters, any order */
    size_t nquery;
    const s3_kv *headers; /* extra headers to sign (e.g. range, date, content-type) */
    size_t nheaders;
    const char *host;         /* Host header value exactly as sent ("h" or "h:port") */
    const char *payload_hash; /* hex SHA-256 of the body, or UNSIGNED-PAYLOAD; NULL = empty */
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "" when not using temporary credentials */
    const char *region;        /* e.g. "us-east-1" */
    const char *service;       /* NULL = "s3" */
    time_t when;               /* request time (UTC seconds) */
} s3_sign_input;

/* Everything the signer produced. Strings are new (owned by the struct): release
 * them with s3_signature_free. */
typedef struct s3_signature {
    char amz_date[17];     /* "YYYYMMDDTHHMMSSZ" */
    char scope[128];       /* "YYYYMMDD/region/service/aws4_request" */
    char signature[65];    /* lowercase hex */
    char *canonical_uri;   /* encoded path: put it in the URL verbatim */
    char *canonical_query; /* sorted encoded query (without X-Amz-Signature) */
    char *url_query;       /* query to send: canonical_query, plus X-Amz-Signature
                              for presigned requests */
    char *signed_headers;  /* "host;range;x-amz-content-sha256;x-amz-date" */
    char *canonical_request;
    char *string_to_sign;
    char *authorization; /* Authorization header value; NULL for presigned */
} s3_signature;

/* Header-based signing. On success *out holds new strings (free with
 * s3_signature_free, also after a failure: it is always safe). Errors: CEL_EINVAL for
 * missing inputs or header names/values with control characters, CEL_ELIMIT when an
 * output exceeds S3_SIGV4_MAX_TEXT, CEL_EINTERNAL if OpenSSL fails. */
cel_status s3_sigv4_sign(const s3_sign_input *in, s3_signature *out, cel_error *err) CEL_MUST_CHECK;

/* Query-string (presigned URL) signing: X-Amz-Algorithm, -Credential, -Date,
 * -Expires (1..604800 seconds), -SignedHeaders (and -Security-Token) are added to the
 * query; the payload hash is UNSIGNED-PAYLOAD unless in->payload_hash says otherwise.
 * out->url_query is the complete query to append after '?'; out->authorization is
 * NULL. Same errors as s3_sigv4_sign, plus CEL_EINVAL for a bad expiry. */
cel_status s3_sigv4_presign(const s3_sign_input *in, unsigned expires_s, s3_signature *out,
                            cel_error *err) CEL_MUST_CHECK;

/* Frees the strings of sig and zeroes it. NULL-safe, idempotent. */
void s3_signature_free(s3_signature *sig);

/* Appends the S3 UriEncode of s[0..len) to b. keep_slash keeps '/' (object key
 * paths); otherwise '/' becomes %2F. Returns CEL_OK, CEL_ELIMIT or CEL_ENOMEM (no
 * message: the caller names the context). */
cel_status s3_uri_encode(dbuf *b, const char *s, size_t len, bool keep_slash) CEL_MUST_CHECK;

/* Hex SHA-256 of data (65 bytes with the NUL). Returns CEL_EINTERNAL if OpenSSL fails. */
cel_status s3_sha256_hex(const void *data, size_t len, char out[65]) CEL_MUST_CHECK;

/* Incremental SHA-256 for bodies read in pieces (PUT from a file). */
typedef struct s3_sha256 {
    void *md_ctx; /* EVP_MD_CTX, owned */
} s3_sha256;
cel_status s3_sha256_begin(s3_sha256 *h) CEL_MUST_CHECK;
cel_status s3_sha256_update(s3_sha256 *h, const void *data, size_t len) CEL_MUST_CHECK;
/* Finishes and frees the context; out gets the lowercase hex digest. */
cel_status s3_sha256_end(s3_sha256 *h, char out[65]) CEL_MUST_CHECK;
/* Frees an unfinished context (NULL-safe). */
void s3_sha256_abort(s3_sha256 *h);

/* Formats t (UTC) as "YYYYMMDDTHHMMSSZ" into out[17]. Returns false if t is out of
 * the representable range (years 0..9999). */
bool s3_amz_date(time_t t, char out[17]);

#endif
