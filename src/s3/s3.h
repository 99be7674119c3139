/*
 * s3.h: the S3 client: configuration, signed requests over libcurl, and the
 * operations the tasks need (HEAD, streaming GET, ranged GET, PUT, ListObjectsV2),
 * plus a cel_source adapter so readers can consume an object directly.
 *
 * Design: one s3_client owns one CURL easy handle, reused for keep-alive, so a client
 * is for one thread (create one per worker child, after fork). Every request is
 * signed with SigV4 (sigv4.h) and sent with exactly the URL and headers that were
 * signed. Failures are classified once: 404/NoSuchKey/NoSuchBucket -> CEL_ENOTFOUND,
 * 403 and credential errors -> CEL_EDENIED, other 4xx -> CEL_ES3, and 5xx, 429,
 * SlowDown/RequestTimeout, timeouts and connection failures are retried with
 * exponential backoff and jitter, then reported as CEL_ETRANSIENT. Messages always
 * name the operation, bucket and key, and the S3 error code. A streaming GET that
 * breaks after delivering bytes resumes with a Range from the delivered offset,
 * pinned to the first response's ETag with If-Match, so data is never delivered twice.
 *
 * Bounds: XML bodies (list pages, error documents) are capped by
 * s3_config.max_xml_bytes, response headers by max_header_bytes, keys at 1024 bytes.
 * Object bodies are never held in memory by a streaming GET.
 *
 * Not here: multipart upload (single PUT, so objects up to 5 GiB), presigned URL
 * fetches, IMDS/STS/profile credential sources (static keys from the environment
 * only), redirects (a 301/307 from S3 is reported with the bucket's region), bucket
 * management, versioned reads.
 */
#ifndef CELERIAC_S3_H
#define CELERIAC_S3_H

#include "celeriac/error.h"
#include "celeriac/reader.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S3_MAX_KEY_BYTES 1024
#define S3_MAX_PUT_BYTES (5ull * 1024 * 1024 * 1024) /* S3's single-PUT limit */

typedef enum {
    S3_ADDRESSING_PATH = 0,    /* http://host/bucket/key */
    S3_ADDRESSING_VIRTUAL = 1, /* http://bucket.host/key (falls back to path for buckets
                                  that are not DNS-safe, e.g. with dots or uppercase) */
} s3_addressing;

/* Client configuration. A plain value: copy it freely. Secrets live here; never log
 * this struct (use s3_config_describe). */
typedef struct s3_config {
    char scheme[8];       /* "http" or "https" */
    char host[256];       /* endpoint host; IPv6 literals keep their brackets */
    unsigned port;        /* 0 = scheme default */
    bool custom_endpoint; /* false when the AWS default endpoint was derived */
    char region[64];
    char access_key[256];
    char secret_key[256];
    char session_token[4096]; /* "" when not using temporary credentials */
    s3_addressing addressing;
    bool verify_tls;      /* S3_VERIFY_TLS=0 turns verification off (dev only) */
    char ca_bundle[1024]; /* AWS_CA_BUNDLE; "" = system default */
    long connect_timeout_ms;
    long read_timeout_ms; /* a transfer stalling this long (no bytes) is a timeout */
    int max_attempts;     /* total tries per request, >= 1 */
    long retry_base_ms;   /* backoff: base * 2^(try-1), capped, with jitter */
    long retry_max_ms;
    size_t max_xml_bytes;
    size_t max_header_bytes;
} s3_config;

/* Fills every field with its default (AWS endpoint for us-east-1, no credentials,
 * virtual addressing, TLS verified, 10 s connect, 60 s read, 4 attempts from 200 ms
 * up to 20 s, 4 MiB XML, 64 KiB headers). */
void s3_config_defaults(s3_config *cfg);

/* Reads the configuration from the environment (see s3_config.c for the table of
 * variables). Returns CEL_OK, or CEL_ECONFIG naming the offending variable and what
 * is wrong with it (never its value when it is a secret). */
cel_status s3_config_from_env(s3_config *cfg, cel_error *err) CEL_MUST_CHECK;

/* Sets the endpoint from a URL "http[s]://host[:port][/]". Returns CEL_OK or
 * CEL_ECONFIG (message says what is wrong; the URL is quoted). */
cel_status s3_config_set_endpoint(s3_config *cfg, const char *url, cel_error *err) CEL_MUST_CHECK;

/* Human-readable one-line summary without secrets, e.g. for a startup log line:
 * "endpoint=http://127.0.0.1:4599 region=us-east-1 addressing=path key=AKIA...". */
void s3_config_describe(const s3_config *cfg, char *out, size_t outsz);

typedef struct s3_client s3_client;

/* Creates a client with a copy of cfg. *out is new: free with s3_client_free.
 * Errors: CEL_ECONFIG (no credentials, bad endpoint), CEL_ENOMEM, CEL_EINTERNAL
 * (libcurl could not initialise). */
cel_status s3_client_new(const s3_config *cfg, s3_client **out, cel_error *err) CEL_MUST_CHECK;
void s3_client_free(s3_client *c); /* NULL-safe */

/* Metadata of one object. etag has its surrounding quotes removed. */
typedef struct s3_object_info {
    uint64_t size;
    char etag[128];
    int64_t last_modified; /* UNIX seconds; -1 if the server sent none */
    char content_type[256];
} s3_object_info;

/* HEAD object. Fills *out. Errors as described at the top of this file. */
cel_status s3_head(s3_client *c, const char *bucket, const char *key, s3_object_info *out,
                   cel_error *err) CEL_MUST_CHECK;

/* Streaming GET: the body is delivered front to back through chunk_fn in pieces of at
 * most 256 KiB; nothing is buffered beyond one piece. A chunk_fn failure stops the
 * transfer and is returned as is. If the connection breaks mid-way the download is
 * resumed from the delivered offset (Range + If-Match on the ETag); if the object
 * changed meanwhile the result is CEL_ECONFLICT. The byte count is checked against
 * Content-Length. info (may be NULL) receives the object's metadata. */
cel_status s3_get_stream(s3_client *c, const char *bucket, const char *key, cel_chunk_fn chunk_fn,
                         void *chunk_ud, s3_object_info *info, cel_error *err) CEL_MUST_CHECK;

/* Ranged GET of exactly len bytes at offset into buf (len > 0). The server must answer
 * 206 with the matching Content-Range and exactly len bytes; a range that runs past the
 * end of the object is CEL_EINVAL (naming the object size when the answer carries it). */
cel_status s3_get_range(s3_client *c, const char *bucket, const char *key, uint64_t offset,
                        size_t len, void *buf, cel_error *err) CEL_MUST_CHECK;

/* PUT of a memory buffer (payload SHA-256 signed). content_type NULL means
 * "application/octet-stream". etag_out (may be NULL) receives the ETag without quotes. */
cel_status s3_put(s3_client *c, const char *bucket, const char *key, const void *data, size_t len,
                  const char *content_type, char etag_out[static 128],
                  cel_error *err) CEL_MUST_CHECK;

/* PUT of len bytes read from fd starting at offset 0 (pread: the file position is not
 * used or changed). The payload hash is computed by a first pass over the file; the
 * upload streams it again. Errors: CEL_EIO if the file is shorter than len or
 * unreadable, CEL_ELIMIT above S3_MAX_PUT_BYTES, plus the usual S3 errors. */
cel_status s3_put_file(s3_client *c, const char *bucket, const char *key, int fd, uint64_t len,
                       const char *content_type, char etag_out[static 128],
                       cel_error *err) CEL_MUST_CHECK;

/* One listed object (or, with a delimiter, one common prefix). All strings are
 * borrowed for the duration of the callback. */
typedef struct s3_object_entry {
    const char *key; /* decoded, NUL-terminated */
    uint64_t size;
    const char *etag;      /* quotes removed; "" when absent */
    int64_t last_modified; /* UNIX seconds; -1 when absent */
    bool is_prefix;        /* a CommonPrefixes entry: only key is meaningful */
} s3_object_entry;

/* Called for each entry. Return CEL_OK to continue; set *stop to end the listing
 * early (the list call then returns CEL_OK); any other status aborts the listing and
 * is returned (record your own message in err). */
typedef cel_status (*s3_list_fn)(void *ud, const s3_object_entry *e, bool *stop, cel_error *err);

typedef struct s3_list_opts {
    const char *prefix;      /* NULL = whole bucket */
    const char *delimiter;   /* NULL = flat listing */
    const char *start_after; /* NULL = from the beginning */
    unsigned max_keys;       /* page size; 0 = server default (1000) */
} s3_list_opts;

/* ListObjectsV2 over all pages (continuation-token), calling cb for every object in
 * key order. Pages are fetched one at a time; each is parsed completely before any of
 * its entries is delivered, so a malformed page delivers nothing. */
cel_status s3_list(s3_client *c, const char *bucket, const char *prefix, s3_list_fn cb, void *ud,
                   cel_error *err) CEL_MUST_CHECK;
cel_status s3_list_ex(s3_client *c, const char *bucket, const s3_list_opts *opts, s3_list_fn cb,
                      void *ud, cel_error *err) CEL_MUST_CHECK;

/* A cel_source over one object: size from HEAD, read_at by ranged GET, stream by
 * streaming GET, all pinned to the HEAD's ETag (If-Match) so a concurrent overwrite
 * is CEL_ECONFLICT instead of a mix of two versions. The client is borrowed and must
 * outlive the source. out->name is the key. info_out (may be NULL) receives the HEAD
 * result. Close with s3_source_close (NULL-safe, idempotent). */
cel_status s3_source_open(s3_client *c, const char *bucket, const char *key, cel_source *out,
                          s3_object_info *info_out, cel_error *err) CEL_MUST_CHECK;
void s3_source_close(cel_source *src);

#endif
