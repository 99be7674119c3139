/*
 * s3_client.c: signed S3 requests over one reused libcurl easy handle, with error
 * classification, retries and the object operations (see s3.h for the contract).
 *
 * Design: an operation fills an s3_req (method, bucket/key, query, body source,
 * response sink) and calls s3_execute, which runs attempts: each attempt signs the
 * request afresh (sigv4.c), sends exactly the signed URL and headers, and routes the
 * response body to the sink only for 2xx answers (error bodies go to a capped buffer
 * and are parsed by s3_xml.c). After an attempt the outcome is classified into a
 * cel_status; retryable outcomes (5xx, 429, SlowDown-like codes, timeouts, refused or
 * reset connections) sleep base*2^(n-1) ms, capped, with "equal jitter" (half fixed,
 * half random; see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/)
 * and try again. A streaming GET resumes from the delivered offset with
 * "Range: bytes=N-" and If-Match on the first ETag (RFC 9110 §13.1.1, §14.2), so no
 * byte reaches the caller twice.
 *
 * S3 behaviour relied on: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 * (Range, If-Match -> 412 PreconditionFailed), API_HeadObject.html (no body on errors),
 * API_PutObject.html, API_ListObjectsV2.html, ErrorResponses.html (error codes and
 * their HTTP statuses). libcurl: https://curl.se/libcurl/c/ (curl_easy_reset keeps
 * live connections; CURLOPT_PATH_AS_IS stops dot-segment squashing).
 *
 * Not here: multipart, redirects (reported, not followed), HTTP/2 (HTTP/1.1 is
 * forced so the signed Host is the one sent), proxies beyond libcurl's own env
 * handling.
 */
#include "s3/s3.h"
#include "s3/s3_date.h"
#include "s3/s3_xml.h"
#include "s3/sigv4.h"
#include "util/dbuf.h"
#include "util/log.h"

#include <curl/curl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef CELERIAC_VERSION
#define CELERIAC_VERSION "dev"
#endif

#define S3_STREAM_BUFFER (256L * 1024L)
#define S3_MAX_BUCKET 255
#define S3_EXPECT_MIN (1024u * 1024u) /* bodies from here on use Expect: 100-continue */

struct s3_client {
    s3_config cfg;
    CURL *curl;
    uint64_t rng;
    char errbuf[CURL_ERROR_SIZE];
};

typedef enum { BODY_NONE, BODY_MEM, BODY_FD } s3_body_kind;
typedef enum { SINK_DISCARD, SINK_XML, SINK_STREAM, SINK_BUF } s3_sink_kind;

typedef struct s3_req {
    const char *op; /* for messages: "GET", "HEAD", "PUT", "LIST" */
    const char *method;
    const char *bucket;
    const char *key; /* NULL for bucket-level requests */
    const s3_kv *query;
    size_t nquery;
    const char *payload_hash;
    const char *content_type;
    char range[64];
    char if_match[136];
    /* request body */
    s3_body_kind body;
    const void *mem;
    int fd;
    uint64_t body_len;
    uint64_t body_off; /* read position of the current attempt */
    /* response sink */
    s3_sink_kind sink;
    dbuf *xml;
    cel_chunk_fn chunk_fn;
    void *chunk_ud;
    char *buf;
    size_t buf_len;
    uint64_t range_offset; /* SINK_BUF: requested offset */
    /* SINK_STREAM resume state */
    uint64_t delivered;
    uint64_t total; /* object size once known */
    bool total_known;
    uint64_t skip; /* bytes of this attempt's body to drop (200 to a resume) */
    bool got_info;
    s3_object_info info; /* from the first successful response */
} s3_req;

typedef struct s3_resp {
    long status;
    bool have_length;
    uint64_t content_length;
    bool have_range;
    uint64_t range_start, range_end, range_total;
    bool range_total_known;
    char etag[128];
    int64_t last_modified;
    char content_type[256];
    char request_id[128];
    char bucket_region[64];
    size_t header_bytes;
    uint64_t body_bytes;
    bool body_checked;
    dbuf errbody;
    cel_status cb_status; /* failure raised inside a curl callback */
    cel_error cb_err;
} s3_resp;

/* ---- small helpers ------------------------------------------------------------- */

/* Printable rendering of a key for messages: control bytes as \xNN, cut at ~300. */
static void key_for_msg(const char *key, char *out, size_t outsz) {
    size_t o = 0;
    if (key == NULL) {
        snprintf(out, outsz, "%s", "");
        return;
    }
    for (const unsigned char *p = (const unsigned char *)key; *p && o + 5 < outsz; p++) {
        if (o > 300) {
            snprintf(out + o, outsz - o, "...");
            return;
        }
        if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02X", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
}

/* "s3://bucket/key" for messages. */
static void obj_name(const s3_req *r, char *out, size_t outsz) {
    char k[340];
    key_for_msg(r->key, k, sizeof k);
    snprintf(out, outsz, "s3://%s/%s", r->bucket, k);
}

static bool eq_nocase_n(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] + 32) : b[i];
        if (x != y)
            return false;
    }
    return true;
}

static bool parse_u64_str(const char *s, size_t n, uint64_t *out) {
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void strip_quotes_copy(char *dst, size_t dstsz, const char *v, size_t n) {
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n >= dstsz)
        n = dstsz - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static bool bucket_ok(const char *b) {
    size_t n = strlen(b);
    if (n == 0 || n > S3_MAX_BUCKET)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Can this bucket be a DNS label in front of the endpoint host (virtual style)? Dots
 * are refused too: they break TLS wildcard certificates. */
static bool bucket_dns_safe(const char *b) {
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i + 1 < n))
            return false;
    }
    return true;
}

static bool host_is_ip(const char *h) {
    if (h[0] == '[')
        return true;
    for (const char *p = h; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return false;
    return true;
}

static bool use_virtual(const s3_client *c, const char *bucket) {
    return c->cfg.addressing == S3_ADDRESSING_VIRTUAL && bucket_dns_safe(bucket) &&
           !host_is_ip(c->cfg.host);
}

static cel_status check_args(const char *op, const char *bucket, const char *key, bool need_key,
                             cel_error *err) {
    if (bucket == NULL || !bucket_ok(bucket))
        return cel_fail(err, CEL_EINVAL, "S3 %s: invalid bucket name '%.80s'", op,
                        bucket ? bucket : "(null)");
    if (need_key) {
        char k[340];
        key_for_msg(key, k, sizeof k);
        if (key == NULL || key[0] == '\0')
            return cel_fail(err, CEL_EINVAL, "S3 %s s3://%s/: empty object key", op, bucket);
        if (strlen(key) > S3_MAX_KEY_BYTES)
            return cel_fail(err, CEL_EINVAL, "S3 %s s3://%s/%s: key longer than %d bytes", op,
                            bucket, k, S3_MAX_KEY_BYTES);
    }
    return CEL_OK;
}

/* xorshift64*: jitter only, not security. */
static uint64_t rng_next(s3_client *c) {
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static long backoff_ms(s3_client *c, int attempt) {
    long d = c->cfg.retry_base_ms;
    for (int i = 1; i < attempt && d < c->cfg.retry_max_ms; i++)
        d *= 2;
    if (d > c->cfg.retry_max_ms)
        d = c->cfg.retry_max_ms;
    long half = d / 2;
    return d - half + (long)(rng_next(c) % (uint64_t)(half + 1));
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- client lifecycle ---------------------------------------------------------- */

cel_status s3_client_new(const s3_config *cfg, s3_client **out, cel_error *err) {
    *out = NULL;
    if (cfg->access_key[0] == '\0' || cfg->secret_key[0] == '\0')
        return cel_fail(err, CEL_ECONFIG,
                        "S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                        "(or S3_ACCESS_KEY and S3_SECRET_KEY)");
    if (cfg->host[0] == '\0' ||
        (strcmp(cfg->scheme, "http") != 0 && strcmp(cfg->scheme, "https") != 0))
        return cel_fail(err, CEL_ECONFIG, "S3 endpoint is not set or has a bad scheme");
    if (cfg->max_attempts < 1 || cfg->retry_base_ms < 1 || cfg->max_xml_bytes < 1024 ||
        cfg->max_header_bytes < 1024 || cfg->read_timeout_ms < 1 || cfg->connect_timeout_ms < 1)
        return cel_fail(err, CEL_ECONFIG, "S3 config has out-of-range limits");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return cel_fail(err, CEL_EINTERNAL, "S3: curl_global_init failed");
    s3_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        curl_global_cleanup();
        return cel_fail(err, CEL_ENOMEM, "S3: out of memory");
    }
    c->cfg = *cfg;
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        curl_global_cleanup();
        return cel_fail(err, CEL_EINTERNAL, "S3: curl_easy_init failed");
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
             (uint64_t)(uintptr_t)c;
    if (c->rng == 0)
        c->rng = 0x9E3779B97F4A7C15ULL;
    *out = c;
    return CEL_OK;
}

void s3_client_free(s3_client *c) {
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    /* the struct holds the secret key: wipe it before it goes back to the heap */
    memset(&c->cfg, 0, sizeof c->cfg);
    free(c);
    curl_global_cleanup();
}

/* ---- curl callbacks ------------------------------------------------------------ */

typedef struct s3_xfer {
    s3_client *c;
    s3_req *req;
    s3_resp *resp;
} s3_xfer;

static void resp_reset_headers(s3_resp *r) {
    r->status = 0;
    r->have_length = r->have_range = r->range_total_known = false;
    r->content_length = r->range_start = r->range_end = r->range_total = 0;
    r->etag[0] = r->content_type[0] = r->request_id[0] = r->bucket_region[0] = '\0';
    r->last_modified = -1;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *ud) {
    s3_xfer *x = ud;
    s3_resp *r = x->resp;
    size_t n = size * nitems;
    r->header_bytes += n;
    if (r->header_bytes > x->c->cfg.max_header_bytes) {
        char on[400];
        obj_name(x->req, on, sizeof on);
        r->cb_status =
            cel_fail(&r->cb_err, CEL_ELIMIT, "S3 %s %s: response headers exceed %zu bytes",
                     x->req->op, on, x->c->cfg.max_header_bytes);
        return 0;
    }
    /* strip CRLF */
    size_t len = n;
    while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
        len--;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* a new response (after 100 Continue, for example) */
        resp_reset_headers(r);
        const char *sp = memchr(data, ' ', len);
        if (sp != NULL && (size_t)(data + len - sp) >= 4) {
            uint64_t st;
            if (parse_u64_str(sp + 1, 3, &st))
                r->status = (long)st;
        }
        return n;
    }
    const char *colon = memchr(data, ':', len);
    if (colon == NULL)
        return n;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
#define HDR_IS(name) (nl == sizeof(name) - 1 && eq_nocase_n(data, name, nl))
    if (HDR_IS("content-length")) {
        r->have_length = parse_u64_str(v, vl, &r->content_length);
    } else if (HDR_IS("etag")) {
        strip_quotes_copy(r->etag, sizeof r->etag, v, vl);
    } else if (HDR_IS("content-type")) {
        strip_quotes_copy(r->content_type, sizeof r->content_type, v, vl);
    } else if (HDR_IS("x-amz-request-id")) {
        strip_quotes_copy(r->request_id, sizeof r->request_id, v, vl);
    } else if (HDR_IS("x-amz-bucket-region")) {
        strip_quotes_copy(r->bucket_region, sizeof r->bucket_region, v, vl);
    } else if (HDR_IS("last-modified")) {
        char tmp[64];
        int64_t t;
        if (vl < sizeof tmp) {
            memcpy(tmp, v, vl);
            tmp[vl] = '\0';
            if (s3_http_date_parse(tmp, &t))
                r->last_modified = t;
        }
    } else if (HDR_IS("content-range")) {
        /* "bytes a-b/total" or "bytes a-b/" followed by a star (RFC 9110 §14.4) */
        if (vl > 6 && eq_nocase_n(v, "bytes ", 6)) {
            const char *p = v + 6, *e = v + vl;
            const char *dash = memchr(p, '-', (size_t)(e - p));
            const char *slash = memchr(p, '/', (size_t)(e - p));
            if (dash && slash && dash < slash &&
                parse_u64_str(p, (size_t)(dash - p), &r->range_start) &&
                parse_u64_str(dash + 1, (size_t)(slash - dash - 1), &r->range_end) &&
                r->range_end >= r->range_start) {
                r->have_range = true;
                r->range_total_known =
                    parse_u64_str(slash + 1, (size_t)(e - slash - 1), &r->range_total);
            }
        }
    }
#undef HDR_IS
    return n;
}

/* The first 2xx answer of a streaming GET fixes the object's size and ETag. */
static void capture_stream_info(s3_req *q, const s3_resp *r) {
    if (q->got_info)
        return;
    q->got_info = true;
    q->info.size = r->status == 206 && r->range_total_known ? r->range_total : r->content_length;
    q->total_known = r->status == 206 ? r->range_total_known : r->have_length;
    q->total = q->info.size;
    snprintf(q->info.etag, sizeof q->info.etag, "%s", r->etag);
    snprintf(q->info.content_type, sizeof q->info.content_type, "%s", r->content_type);
    q->info.last_modified = r->last_modified;
}

/* First body bytes of a 2xx answer: check the answer fits the request. */
static cel_status check_body_start(s3_xfer *x) {
    s3_req *q = x->req;
    s3_resp *r = x->resp;
    char on[400];
    obj_name(q, on, sizeof on);
    if (q->sink == SINK_STREAM && q->delivered == 0)
        capture_stream_info(q, r);
    /* If-Match is checked here too: not every S3 implementation honours it (s3rver
     * ignores it), and a changed ETag must never be spliced into what was read. */
    if (q->if_match[0] && r->etag[0]) {
        size_t el = strlen(r->etag), ml = strlen(q->if_match);
        if (ml != el + 2 || memcmp(q->if_match + 1, r->etag, el) != 0)
            return cel_fail(&r->cb_err, CEL_ECONFLICT,
                            "S3 GET %s: the object changed while it was being read (ETag %s, "
                            "expected %s)",
                            on, r->etag, q->if_match);
    }
    if (q->sink == SINK_BUF) {
        if (r->status == 206) {
            if (!r->have_range || r->range_start != q->range_offset)
                return cel_fail(&r->cb_err, CEL_EPROTO,
                                "S3 GET %s: 206 without a Content-Range at offset %llu", on,
                                (unsigned long long)q->range_offset);
            if (r->range_end - r->range_start + 1 != q->buf_len) {
                if (r->range_total_known)
                    return cel_fail(&r->cb_err, CEL_EINVAL,
                                    "S3 GET %s: range %llu+%zu runs past the end of the object "
                                    "(size %llu)",
                                    on, (unsigned long long)q->range_offset, q->buf_len,
                                    (unsigned long long)r->range_total);
                return cel_fail(&r->cb_err, CEL_EPROTO, "S3 GET %s: server sent a shorter range",
                                on);
            }
        } else if (!(q->range_offset == 0 && r->have_length && r->content_length == q->buf_len)) {
            return cel_fail(&r->cb_err, CEL_EPROTO,
                            "S3 GET %s: expected 206 Partial Content for a range, got %ld", on,
                            r->status);
        }
    } else if (q->sink == SINK_STREAM) {
        if (q->delivered == 0) {
            if (r->status != 200 && r->status != 206)
                return cel_fail(&r->cb_err, CEL_EPROTO, "S3 GET %s: unexpected status %ld", on,
                                r->status);
        } else if (r->status == 206) {
            if (!r->have_range || r->range_start != q->delivered ||
                (q->total_known && r->range_total_known && r->range_total != q->total))
                return cel_fail(&r->cb_err, CEL_EPROTO,
                                "S3 GET %s: resume at %llu answered with another range", on,
                                (unsigned long long)q->delivered);
        } else if (r->status == 200) {
            q->skip = q->delivered; /* server ignored Range: drop what we already have */
        } else {
            return cel_fail(&r->cb_err, CEL_EPROTO, "S3 GET %s: unexpected status %ld on resume",
                            on, r->status);
        }
    }
    return CEL_OK;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud) {
    s3_xfer *x = ud;
    s3_req *q = x->req;
    s3_resp *r = x->resp;
    size_t n = size * nmemb;
    char on[400];

    if (r->status < 200 || r->status > 299) {
        /* error document: keep what fits under the cap, ignore the rest */
        size_t room = r->errbody.max > r->errbody.len ? r->errbody.max - r->errbody.len : 0;
        if (room > 0 && dbuf_append(&r->errbody, data, n < room ? n : room) != CEL_OK) {
            r->cb_status = cel_fail(&r->cb_err, CEL_ENOMEM, "S3: out of memory");
            return 0;
        }
        return n;
    }
    if (!r->body_checked) {
        r->body_checked = true;
        cel_status st = check_body_start(x);
        if (st != CEL_OK) {
            r->cb_status = st;
            return 0;
        }
    }
    switch (q->sink) {
    case SINK_DISCARD:
        break;
    case SINK_XML: {
        cel_status st = dbuf_append(q->xml, data, n);
        if (st != CEL_OK) {
            obj_name(q, on, sizeof on);
            r->cb_status = cel_fail(&r->cb_err, st, "S3 %s %s: response body exceeds %zu bytes",
                                    q->op, on, q->xml->max);
            return 0;
        }
        break;
    }
    case SINK_BUF:
        if (r->body_bytes + n > q->buf_len) {
            obj_name(q, on, sizeof on);
            r->cb_status = cel_fail(&r->cb_err, CEL_EPROTO,
                                    "S3 GET %s: server sent more than the %zu bytes requested", on,
                                    q->buf_len);
            return 0;
        }
        memcpy(q->buf + r->body_bytes, data, n);
        break;
    case SINK_STREAM: {
        const char *p = data;
        size_t m = n;
        if (q->skip > 0) {
            size_t drop = q->skip < m ? (size_t)q->skip : m;
            q->skip -= drop;
            p += drop;
            m -= drop;
        }
        if (m > 0) {
            if (q->total_known && q->delivered + m > q->total) {
                obj_name(q, on, sizeof on);
                r->cb_status = cel_fail(&r->cb_err, CEL_EPROTO,
                                        "S3 GET %s: more bytes than the object size %llu", on,
                                        (unsigned long long)q->total);
                return 0;
            }
            cel_status st = q->chunk_fn(q->chunk_ud, p, m, &r->cb_err);
            if (st != CEL_OK) {
                obj_name(q, on, sizeof on);
                r->cb_status = cel_fail(&r->cb_err, st, "S3 GET %s: consumer stopped at byte %llu",
                                        on, (unsigned long long)q->delivered);
                return 0;
            }
            q->delivered += m;
        }
        break;
    }
    }
    r->body_bytes += n;
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud) {
    s3_xfer *x = ud;
    s3_req *q = x->req;
    size_t want = size * nitems;
    uint64_t left = q->body_len - q->body_off;
    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (q->body == BODY_MEM) {
        memcpy(buf, (const char *)q->mem + q->body_off, want);
    } else {
        ssize_t got;
        do {
            got = pread(q->fd, buf, want, (off_t)q->body_off);
        } while (got < 0 && errno == EINTR);
        if (got <= 0) {
            char on[400];
            obj_name(q, on, sizeof on);
            x->resp->cb_status = cel_fail(
                &x->resp->cb_err, CEL_EIO, "S3 PUT %s: reading the file at offset %llu failed: %s",
                on, (unsigned long long)q->body_off, got == 0 ? "file shrank" : strerror(errno));
            return CURL_READFUNC_ABORT;
        }
        want = (size_t)got;
    }
    q->body_off += want;
    return want;
}

static int on_seek(void *ud, curl_off_t offset, int origin) {
    s3_xfer *x = ud;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->req->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->req->body_off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ---- one attempt ----------------------------------------------------------------- */

static bool curl_transient(CURLcode cc) {
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_AGAIN:
        return true;
    default:
        return false;
    }
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (curl_easy_setopt(c->curl, opt, val) != CURLE_OK) {                                     \
            st = cel_fail(err, CEL_EINTERNAL, "S3: curl_easy_setopt(%s) failed", #opt);            \
            goto exit;                                                                             \
        }                                                                                          \
    } while (0)

/* Runs one HTTP exchange. Returns CEL_OK when a complete HTTP response arrived (any
 * status: resp->status says which), the callback's status when a callback stopped the
 * transfer, CEL_ETRANSIENT for retryable transport failures and CEL_ES3 for others.
 * *retry is set for retryable outcomes. */
static cel_status perform_once(s3_client *c, s3_req *q, s3_resp *r, bool *retry, cel_error *err) {
    cel_status st = CEL_OK;
    s3_signature sig;
    struct curl_slist *hdrs = NULL;
    dbuf path, url, line;
    char host[320], on[400];
    s3_kv extra[4];
    size_t nextra = 0;
    bool virt = use_virtual(c, q->bucket);
    s3_xfer x = {c, q, r};

    memset(&sig, 0, sizeof sig);
    dbuf_init(&path, 8192);
    dbuf_init(&url, S3_SIGV4_MAX_TEXT + 1024);
    dbuf_init(&line, S3_SIGV4_MAX_TEXT + 64);
    *retry = false;
    obj_name(q, on, sizeof on);

    /* host and decoded path */
    {
        char port[16] = "";
        if (c->cfg.port)
            snprintf(port, sizeof port, ":%u", c->cfg.port);
        int hn = virt ? snprintf(host, sizeof host, "%s.%s%s", q->bucket, c->cfg.host, port)
                      : snprintf(host, sizeof host, "%s%s", c->cfg.host, port);
        if (hn < 0 || (size_t)hn >= sizeof host) {
            st = cel_fail(err, CEL_EINVAL, "S3 %s %s: host name too long", q->op, on);
            goto exit;
        }
        cel_status ps = virt ? dbuf_printf(&path, "/%s", q->key ? q->key : "")
                             : dbuf_printf(&path, "/%s%s%s", q->bucket, q->key ? "/" : "",
                                           q->key ? q->key : "");
        if (ps != CEL_OK) {
            st = cel_fail(err, ps, "S3 %s %s: path too long", q->op, on);
            goto exit;
        }
    }

    if (q->range[0])
        extra[nextra++] = (s3_kv){"range", q->range};
    if (q->if_match[0])
        extra[nextra++] = (s3_kv){"if-match", q->if_match};
    if (q->content_type)
        extra[nextra++] = (s3_kv){"content-type", q->content_type};
    s3_sign_input in = {
        .method = q->method,
        .path = path.data,
        .query = q->query,
        .nquery = q->nquery,
        .headers = extra,
        .nheaders = nextra,
        .host = host,
        .payload_hash = q->payload_hash ? q->payload_hash : S3_EMPTY_SHA256,
        .access_key = c->cfg.access_key,
        .secret_key = c->cfg.secret_key,
        .session_token = c->cfg.session_token,
        .region = c->cfg.region,
        .service = "s3",
        .when = time(NULL),
    };
    st = s3_sigv4_sign(&in, &sig, err);
    if (st != CEL_OK)
        goto exit;

    if (dbuf_printf(&url, "%s://%s%s%s%s", c->cfg.scheme, host, sig.canonical_uri,
                    sig.url_query[0] ? "?" : "", sig.url_query) != CEL_OK) {
        st = cel_fail(err, CEL_ELIMIT, "S3 %s %s: URL too long", q->op, on);
        goto exit;
    }

    /* headers: exactly the signed values */
    {
        const char *fixed[][2] = {
            {"Host", host},
            {"x-amz-date", sig.amz_date},
            {"x-amz-content-sha256", in.payload_hash},
            {"Authorization", sig.authorization},
            {"x-amz-security-token", c->cfg.session_token[0] ? c->cfg.session_token : NULL},
            {"Range", q->range[0] ? q->range : NULL},
            {"If-Match", q->if_match[0] ? q->if_match : NULL},
            {"Content-Type", q->content_type},
            {"Accept", ""},
            /* libcurl asks for 100-continue on every PUT and waits up to 1 s for it; only
             * worth it for big bodies (an auth failure then costs no upload) */
            {"Expect", q->body != BODY_NONE && q->body_len < S3_EXPECT_MIN ? "" : NULL},
        };
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
            if (fixed[i][1] == NULL)
                continue;
            dbuf_reset(&line);
            /* "Name;" sends an empty header in libcurl, "Name:" removes it */
            if (dbuf_printf(&line, "%s: %s", fixed[i][0], fixed[i][1]) != CEL_OK) {
                st = cel_fail(err, CEL_ELIMIT, "S3 %s %s: header too long", q->op, on);
                goto exit;
            }
            if (fixed[i][1][0] == '\0') {
                line.len--;
                line.data[line.len] = '\0';
            }
            struct curl_slist *nh = curl_slist_append(hdrs, line.data);
            if (nh == NULL) {
                st = cel_fail(err, CEL_ENOMEM, "S3: out of memory");
                goto exit;
            }
            hdrs = nh;
        }
    }

    curl_easy_reset(c->curl);
    c->errbuf[0] = '\0';
    SETOPT(CURLOPT_URL, url.data);
    SETOPT(CURLOPT_HTTPHEADER, hdrs);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PATH_AS_IS, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
    SETOPT(CURLOPT_USERAGENT, "celeriac/" CELERIAC_VERSION);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms);
    SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SETOPT(CURLOPT_LOW_SPEED_TIME, (c->cfg.read_timeout_ms + 999) / 1000);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, c->cfg.verify_tls ? 1L : 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, c->cfg.verify_tls ? 2L : 0L);
    if (c->cfg.ca_bundle[0])
        SETOPT(CURLOPT_CAINFO, c->cfg.ca_bundle);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, &x);
    SETOPT(CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(CURLOPT_WRITEDATA, &x);
    if (q->sink == SINK_STREAM)
        SETOPT(CURLOPT_BUFFERSIZE, S3_STREAM_BUFFER);
    if (strcmp(q->method, "HEAD") == 0) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (strcmp(q->method, "PUT") == 0) {
        q->body_off = 0;
        SETOPT(CURLOPT_UPLOAD, 1L);
        SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
        SETOPT(CURLOPT_READFUNCTION, on_read);
        SETOPT(CURLOPT_READDATA, &x);
        SETOPT(CURLOPT_SEEKFUNCTION, on_seek);
        SETOPT(CURLOPT_SEEKDATA, &x);
    } else if (strcmp(q->method, "GET") != 0) {
        SETOPT(CURLOPT_CUSTOMREQUEST, q->method);
    }

    CURLcode cc = curl_easy_perform(c->curl);
    if (r->cb_status != CEL_OK) {
        st = cel_fail(err, r->cb_status, "%s", r->cb_err.msg);
        goto exit;
    }
    if (cc != CURLE_OK) {
        *retry = curl_transient(cc);
        st = cel_fail(err, *retry ? CEL_ETRANSIENT : CEL_ES3, "S3 %s %s: %s (curl %d: %s)", q->op,
                      on, curl_easy_strerror(cc), (int)cc, c->errbuf[0] ? c->errbuf : "no detail");
        goto exit;
    }
    if (r->status == 0) {
        *retry = true;
        st = cel_fail(err, CEL_ETRANSIENT, "S3 %s %s: no HTTP status line", q->op, on);
        goto exit;
    }
    st = CEL_OK;
exit:
    curl_slist_free_all(hdrs);
    s3_signature_free(&sig);
    dbuf_free(&path);
    dbuf_free(&url);
    dbuf_free(&line);
    return st;
}

/* ---- classification ---------------------------------------------------------- */

static bool code_in(const char *code, const char *const *list) {
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return true;
    return false;
}

/* Turns a non-2xx response into a status + message. Sets *retry when retryable. */
static cel_status classify_http(const s3_client *c, const s3_req *q, const s3_resp *r, bool *retry,
                                cel_error *err) {
    static const char *const notfound[] = {"NoSuchKey", "NoSuchBucket", "NotFound", NULL};
    static const char *const denied[] = {
        "AccessDenied",      "InvalidAccessKeyId", "SignatureDoesNotMatch",
        "ExpiredToken",      "InvalidToken",       "TokenRefreshRequired",
        "AllAccessDisabled", "AccountProblem",     NULL};
    static const char *const transient[] = {"SlowDown",
                                            "RequestTimeout",
                                            "InternalError",
                                            "ServiceUnavailable",
                                            "Throttling",
                                            "ThrottlingException",
                                            "RequestThrottled",
                                            "RequestLimitExceeded",
                                            "BandwidthLimitExceeded",
                                            "OperationAborted",
                                            NULL};
    s3_xml_error xe;
    cel_error perr = {0};
    char on[400], detail[900];
    const char *code;
    cel_status st;

    *retry = false;
    obj_name(q, on, sizeof on);
    memset(&xe, 0, sizeof xe);
    if (r->errbody.len > 0 &&
        s3_xml_parse_error(r->errbody.data, r->errbody.len, &xe, &perr) != CEL_OK)
        memset(&xe, 0, sizeof xe);
    code = xe.code;
    if (code[0] == '\0') {
        /* HEAD answers carry no body (API_HeadObject.html): name the status instead */
        switch (r->status) {
        case 301:
            code = "PermanentRedirect";
            break;
        case 307:
            code = "TemporaryRedirect";
            break;
        case 400:
            code = "BadRequest";
            break;
        case 403:
            code = "Forbidden";
            break;
        case 404:
            code = "NotFound";
            break;
        case 412:
            code = "PreconditionFailed";
            break;
        case 416:
            code = "InvalidRange";
            break;
        case 429:
            code = "TooManyRequests";
            break;
        case 500:
            code = "InternalError";
            break;
        case 503:
            code = "ServiceUnavailable";
            break;
        default:
            code = "HTTPError";
            break;
        }
    }

    if (r->status == 404 || code_in(code, notfound))
        st = CEL_ENOTFOUND;
    else if (r->status == 403 || code_in(code, denied))
        st = CEL_EDENIED;
    else if (r->status == 412 && q->if_match[0])
        st = CEL_ECONFLICT;
    else if (r->status == 416 && q->sink == SINK_BUF)
        st = CEL_EINVAL; /* the whole range lies past the end of the object */
    else if (r->status >= 500 || r->status == 429 || code_in(code, transient)) {
        st = CEL_ETRANSIENT;
        *retry = true;
    } else
        st = CEL_ES3;

    {
        size_t o = 0;
        detail[0] = '\0';
        if (xe.message[0])
            o += (size_t)snprintf(detail + o, sizeof detail - o, ": %s", xe.message);
        if (st == CEL_ECONFLICT && o < sizeof detail)
            o += (size_t)snprintf(detail + o, sizeof detail - o,
                                  " (the object changed while it was being read)");
        const char *region = r->bucket_region[0] ? r->bucket_region : xe.region;
        if ((r->status == 301 || r->status == 307 ||
             strcmp(code, "AuthorizationHeaderMalformed") == 0) &&
            region[0] && o < sizeof detail)
            o += (size_t)snprintf(detail + o, sizeof detail - o,
                                  " (the bucket is in region %s; configured %s)", region,
                                  c->cfg.region);
        if ((r->request_id[0] || xe.request_id[0]) && o < sizeof detail)
            snprintf(detail + o, sizeof detail - o, " [request id %s]",
                     r->request_id[0] ? r->request_id : xe.request_id);
    }
    return cel_fail(err, st, "S3 %s %s: %ld %s%s", q->op, on, r->status, code, detail);
}

/* After a complete 2xx response: length checks that do not fit in the callbacks. */
static cel_status check_success(s3_req *q, s3_resp *r, bool *retry, cel_error *err) {
    char on[400];
    obj_name(q, on, sizeof on);
    *retry = false;
    if (!r->body_checked && q->sink != SINK_DISCARD && strcmp(q->method, "HEAD") != 0) {
        /* empty body: the write callback never ran */
        s3_xfer x = {NULL, q, r};
        r->body_checked = true;
        if ((q->sink == SINK_BUF && q->buf_len > 0) ||
            (q->sink == SINK_STREAM && q->delivered > 0)) {
            cel_status st = check_body_start(&x);
            if (st != CEL_OK)
                return cel_fail(err, st, "%s", r->cb_err.msg);
        }
    }
    if (r->have_length && strcmp(q->method, "HEAD") != 0 && r->body_bytes != r->content_length) {
        *retry = true;
        return cel_fail(err, CEL_ETRANSIENT,
                        "S3 %s %s: received %llu bytes but Content-Length is %llu", q->op, on,
                        (unsigned long long)r->body_bytes, (unsigned long long)r->content_length);
    }
    if (q->sink == SINK_BUF && r->body_bytes != q->buf_len)
        return cel_fail(err, CEL_EPROTO, "S3 GET %s: received %llu bytes, requested %zu", on,
                        (unsigned long long)r->body_bytes, q->buf_len);
    return CEL_OK;
}

/* Runs a request with retries. Returns CEL_OK with *r describing the final 2xx
 * response (caller frees r->errbody via resp_free). */
static void resp_init(s3_resp *r, size_t max_err) {
    memset(r, 0, sizeof *r);
    resp_reset_headers(r);
    dbuf_init(&r->errbody, max_err);
}

static void resp_free(s3_resp *r) {
    dbuf_free(&r->errbody);
}

static cel_status s3_execute(s3_client *c, s3_req *q, s3_resp *r, cel_error *err) {
    cel_error aerr;
    cel_status st = CEL_EINTERNAL;
    int attempt;
    bool retry = false;

    for (attempt = 1; attempt <= c->cfg.max_attempts; attempt++) {
        cel_error_clear(&aerr);
        resp_free(r);
        resp_init(r, c->cfg.max_xml_bytes);
        if (q->sink == SINK_XML)
            dbuf_reset(q->xml);
        if (q->sink == SINK_STREAM) {
            q->skip = 0;
            if (q->delivered > 0) {
                snprintf(q->range, sizeof q->range, "bytes=%llu-",
                         (unsigned long long)q->delivered);
                if (q->if_match[0] == '\0' && q->info.etag[0])
                    snprintf(q->if_match, sizeof q->if_match, "\"%s\"", q->info.etag);
            }
        }
        st = perform_once(c, q, r, &retry, &aerr);
        if (st == CEL_OK) {
            if (r->status >= 200 && r->status <= 299) {
                if (q->sink == SINK_STREAM)
                    capture_stream_info(q, r);
                st = check_success(q, r, &retry, &aerr);
                if (st == CEL_OK)
                    return CEL_OK;
            } else {
                st = classify_http(c, q, r, &retry, &aerr);
            }
        }
        if (!retry || attempt == c->cfg.max_attempts)
            break;
        if (q->sink == SINK_STREAM && q->delivered > 0 && q->if_match[0] == '\0' &&
            q->info.etag[0] == '\0') {
            /* no ETag to pin a resume to: resuming could splice two versions */
            st = CEL_ETRANSIENT;
            break;
        }
        long d = backoff_ms(c, attempt);
        LOG(LOG_WARNING, "s3.retry", LF_S("op", q->op), LF_S("bucket", q->bucket),
            LF_S("key", q->key ? q->key : ""), LF_I("attempt", attempt), LF_I("delay_ms", d),
            LF_I("resume_at", q->delivered), LF_S("error", aerr.msg));
        sleep_ms(d);
    }
    if (retry && st == CEL_ETRANSIENT)
        return cel_fail(err, CEL_ETRANSIENT, "%s (gave up after %d attempt%s)", aerr.msg,
                        attempt > c->cfg.max_attempts ? c->cfg.max_attempts : attempt,
                        attempt == 1 ? "" : "s");
    return cel_fail(err, st, "%s", aerr.msg);
}

/* ---- operations ---------------------------------------------------------------- */

static void fill_info(const s3_resp *r, uint64_t size, s3_object_info *out) {
    memset(out, 0, sizeof *out);
    out->size = size;
    snprintf(out->etag, sizeof out->etag, "%s", r->etag);
    snprintf(out->content_type, sizeof out->content_type, "%s", r->content_type);
    out->last_modified = r->last_modified;
}

static cel_status head_impl(s3_client *c, const char *bucket, const char *key, s3_object_info *out,
                            cel_error *err) {
    s3_req q = {.op = "HEAD", .method = "HEAD", .bucket = bucket, .key = key, .sink = SINK_DISCARD};
    s3_resp r;
    cel_status st = check_args("HEAD", bucket, key, true, err);
    if (st != CEL_OK)
        return st;
    resp_init(&r, c->cfg.max_xml_bytes);
    st = s3_execute(c, &q, &r, err);
    if (st == CEL_OK) {
        if (!r.have_length) {
            char on[400];
            obj_name(&q, on, sizeof on);
            st = cel_fail(err, CEL_EPROTO, "S3 HEAD %s: no Content-Length in the answer", on);
        } else {
            fill_info(&r, r.content_length, out);
        }
    }
    resp_free(&r);
    return st;
}

cel_status s3_head(s3_client *c, const char *bucket, const char *key, s3_object_info *out,
                   cel_error *err) {
    return head_impl(c, bucket, key, out, err);
}

static cel_status get_stream_impl(s3_client *c, const char *bucket, const char *key,
                                  const char *if_match, cel_chunk_fn fn, void *ud,
                                  s3_object_info *info, cel_error *err) {
    s3_req q = {.op = "GET",
                .method = "GET",
                .bucket = bucket,
                .key = key,
                .sink = SINK_STREAM,
                .chunk_fn = fn,
                .chunk_ud = ud};
    s3_resp r;
    cel_status st = check_args("GET", bucket, key, true, err);
    if (st != CEL_OK)
        return st;
    if (fn == NULL)
        return cel_fail(err, CEL_EINVAL, "S3 GET: chunk_fn is NULL");
    if (if_match && if_match[0])
        snprintf(q.if_match, sizeof q.if_match, "\"%s\"", if_match);
    resp_init(&r, c->cfg.max_xml_bytes);
    st = s3_execute(c, &q, &r, err);
    if (st == CEL_OK && q.total_known && q.delivered != q.total) {
        char on[400];
        obj_name(&q, on, sizeof on);
        st = cel_fail(err, CEL_EPROTO, "S3 GET %s: delivered %llu bytes of %llu", on,
                      (unsigned long long)q.delivered, (unsigned long long)q.total);
    }
    if (st == CEL_OK && info != NULL) {
        *info = q.info;
        if (!q.total_known)
            info->size = q.delivered;
    }
    resp_free(&r);
    return st;
}

cel_status s3_get_stream(s3_client *c, const char *bucket, const char *key, cel_chunk_fn chunk_fn,
                         void *chunk_ud, s3_object_info *info, cel_error *err) {
    return get_stream_impl(c, bucket, key, NULL, chunk_fn, chunk_ud, info, err);
}

static cel_status get_range_impl(s3_client *c, const char *bucket, const char *key,
                                 const char *if_match, uint64_t offset, size_t len, void *buf,
                                 cel_error *err) {
    s3_req q = {.op = "GET",
                .method = "GET",
                .bucket = bucket,
                .key = key,
                .sink = SINK_BUF,
                .buf = buf,
                .buf_len = len,
                .range_offset = offset};
    s3_resp r;
    cel_status st = check_args("GET", bucket, key, true, err);
    if (st != CEL_OK)
        return st;
    if (len == 0 || buf == NULL)
        return cel_fail(err, CEL_EINVAL, "S3 GET s3://%s: ranged read needs len > 0 and a buffer",
                        bucket);
    if (offset > UINT64_MAX - len)
        return cel_fail(err, CEL_EINVAL, "S3 GET s3://%s: range overflows", bucket);
    snprintf(q.range, sizeof q.range, "bytes=%llu-%llu", (unsigned long long)offset,
             (unsigned long long)(offset + len - 1));
    if (if_match && if_match[0])
        snprintf(q.if_match, sizeof q.if_match, "\"%s\"", if_match);
    resp_init(&r, c->cfg.max_xml_bytes);
    st = s3_execute(c, &q, &r, err);
    resp_free(&r);
    return st;
}

cel_status s3_get_range(s3_client *c, const char *bucket, const char *key, uint64_t offset,
                        size_t len, void *buf, cel_error *err) {
    return get_range_impl(c, bucket, key, NULL, offset, len, buf, err);
}

static cel_status put_impl(s3_client *c, s3_req *q, const char *hash, char *etag_out,
                           cel_error *err) {
    s3_resp r;
    cel_status st;
    q->op = "PUT";
    q->method = "PUT";
    q->payload_hash = hash;
    q->sink = SINK_DISCARD;
    if (q->content_type == NULL || q->content_type[0] == '\0')
        q->content_type = "application/octet-stream";
    resp_init(&r, c->cfg.max_xml_bytes);
    st = s3_execute(c, q, &r, err);
    if (st == CEL_OK && etag_out != NULL)
        snprintf(etag_out, 128, "%s", r.etag);
    resp_free(&r);
    return st;
}

static cel_status check_content_type(const char *ct, cel_error *err) {
    if (ct == NULL)
        return CEL_OK;
    for (const unsigned char *p = (const unsigned char *)ct; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return cel_fail(err, CEL_EINVAL, "S3 PUT: content type has a control character");
    if (strlen(ct) > 255)
        return cel_fail(err, CEL_EINVAL, "S3 PUT: content type longer than 255 bytes");
    return CEL_OK;
}

cel_status s3_put(s3_client *c, const char *bucket, const char *key, const void *data, size_t len,
                  const char *content_type, char etag_out[static 128], cel_error *err) {
    char hash[65];
    s3_req q = {.bucket = bucket,
                .key = key,
                .body = BODY_MEM,
                .mem = data,
                .body_len = len,
                .content_type = content_type};
    cel_status st = check_args("PUT", bucket, key, true, err);
    if (st == CEL_OK)
        st = check_content_type(content_type, err);
    if (st != CEL_OK)
        return st;
    if (data == NULL && len > 0)
        return cel_fail(err, CEL_EINVAL, "S3 PUT s3://%s: NULL data", bucket);
    if ((uint64_t)len > S3_MAX_PUT_BYTES)
        return cel_fail(err, CEL_ELIMIT,
                        "S3 PUT s3://%s: %zu bytes exceeds the 5 GiB single-PUT limit "
                        "(multipart upload is not implemented)",
                        bucket, len);
    if (s3_sha256_hex(len ? data : "", len, hash) != CEL_OK)
        return cel_fail(err, CEL_EINTERNAL, "S3 PUT: SHA-256 failed");
    return put_impl(c, &q, hash, etag_out, err);
}

cel_status s3_put_file(s3_client *c, const char *bucket, const char *key, int fd, uint64_t len,
                       const char *content_type, char etag_out[static 128], cel_error *err) {
    char hash[65];
    s3_sha256 h = {0};
    char *buf = NULL;
    uint64_t off = 0;
    s3_req q = {.bucket = bucket,
                .key = key,
                .body = BODY_FD,
                .fd = fd,
                .body_len = len,
                .content_type = content_type};
    char on[400];
    cel_status st = check_args("PUT", bucket, key, true, err);
    if (st == CEL_OK)
        st = check_content_type(content_type, err);
    if (st != CEL_OK)
        return st;
    obj_name(&q, on, sizeof on);
    if (fd < 0)
        return cel_fail(err, CEL_EINVAL, "S3 PUT %s: bad file descriptor", on);
    if (len > S3_MAX_PUT_BYTES)
        return cel_fail(err, CEL_ELIMIT,
                        "S3 PUT %s: %llu bytes exceeds the 5 GiB single-PUT limit "
                        "(multipart upload is not implemented)",
                        on, (unsigned long long)len);
    buf = malloc(S3_STREAM_BUFFER);
    if (buf == NULL)
        return cel_fail(err, CEL_ENOMEM, "S3 PUT: out of memory");
    if (s3_sha256_begin(&h) != CEL_OK) {
        st = cel_fail(err, CEL_EINTERNAL, "S3 PUT: SHA-256 init failed");
        goto exit;
    }
    while (off < len) {
        size_t want =
            len - off < (uint64_t)S3_STREAM_BUFFER ? (size_t)(len - off) : (size_t)S3_STREAM_BUFFER;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            st = cel_fail(err, CEL_EIO, "S3 PUT %s: reading the file at offset %llu failed: %s", on,
                          (unsigned long long)off,
                          got == 0 ? "file shorter than the length given" : strerror(errno));
            goto exit;
        }
        if (s3_sha256_update(&h, buf, (size_t)got) != CEL_OK) {
            st = cel_fail(err, CEL_EINTERNAL, "S3 PUT: SHA-256 failed");
            goto exit;
        }
        off += (uint64_t)got;
    }
    if (s3_sha256_end(&h, hash) != CEL_OK) {
        st = cel_fail(err, CEL_EINTERNAL, "S3 PUT: SHA-256 failed");
        goto exit;
    }
    st = put_impl(c, &q, hash, etag_out, err);
exit:
    s3_sha256_abort(&h);
    free(buf);
    return st;
}

cel_status s3_list(s3_client *c, const char *bucket, const char *prefix, s3_list_fn cb, void *ud,
                   cel_error *err) {
    s3_list_opts o = {.prefix = prefix};
    return s3_list_ex(c, bucket, &o, cb, ud, err);
}

cel_status s3_list_ex(s3_client *c, const char *bucket, const s3_list_opts *opts, s3_list_fn cb,
                      void *ud, cel_error *err) {
    s3_req q = {.op = "LIST", .method = "GET", .bucket = bucket, .key = NULL, .sink = SINK_XML};
    s3_resp r;
    dbuf xml;
    s3_kv qp[8];
    char maxkeys[16];
    char *token = NULL;
    bool stop = false;
    s3_list_opts none = {0};
    cel_status st = check_args("LIST", bucket, NULL, false, err);
    if (st != CEL_OK)
        return st;
    if (cb == NULL)
        return cel_fail(err, CEL_EINVAL, "S3 LIST s3://%s: callback is NULL", bucket);
    if (opts == NULL)
        opts = &none;
    if (opts->prefix && strlen(opts->prefix) > S3_MAX_KEY_BYTES)
        return cel_fail(err, CEL_EINVAL, "S3 LIST s3://%s: prefix longer than %d bytes", bucket,
                        S3_MAX_KEY_BYTES);
    dbuf_init(&xml, c->cfg.max_xml_bytes);
    resp_init(&r, c->cfg.max_xml_bytes);
    q.xml = &xml;
    for (size_t page_no = 1;; page_no++) {
        size_t n = 0;
        s3_list_page page;
        qp[n++] = (s3_kv){"list-type", "2"};
        qp[n++] = (s3_kv){"encoding-type", "url"};
        if (opts->prefix && opts->prefix[0])
            qp[n++] = (s3_kv){"prefix", opts->prefix};
        if (opts->delimiter && opts->delimiter[0])
            qp[n++] = (s3_kv){"delimiter", opts->delimiter};
        if (opts->start_after && opts->start_after[0])
            qp[n++] = (s3_kv){"start-after", opts->start_after};
        if (opts->max_keys > 0) {
            snprintf(maxkeys, sizeof maxkeys, "%u", opts->max_keys);
            qp[n++] = (s3_kv){"max-keys", maxkeys};
        }
        if (token != NULL)
            qp[n++] = (s3_kv){"continuation-token", token};
        q.query = qp;
        q.nquery = n;
        st = s3_execute(c, &q, &r, err);
        if (st != CEL_OK)
            goto exit;
        cel_error perr = {0};
        st = s3_xml_parse_list(xml.data ? xml.data : "", xml.len, cb, ud, &stop, &page, &perr);
        if (st != CEL_OK) {
            st = cel_fail(err, st, "S3 LIST s3://%s page %zu: %s", bucket, page_no, perr.msg);
            goto exit;
        }
        if (stop || !page.is_truncated) {
            free(page.next_token);
            break;
        }
        if (page.next_token == NULL || page.next_token[0] == '\0' ||
            (token != NULL && strcmp(token, page.next_token) == 0)) {
            free(page.next_token);
            st = cel_fail(err, CEL_EPROTO,
                          "S3 LIST s3://%s page %zu: truncated listing without a new "
                          "NextContinuationToken",
                          bucket, page_no);
            goto exit;
        }
        free(token);
        token = page.next_token;
    }
    st = CEL_OK;
exit:
    free(token);
    dbuf_free(&xml);
    resp_free(&r);
    return st;
}

/* ---- cel_source adapter -------------------------------------------------------- */

typedef struct s3_source_state {
    s3_client *c; /* borrowed */
    char *bucket;
    char *key;
    s3_object_info info;
} s3_source_state;

static cel_status src_read_at(void *ud, uint64_t offset, size_t len, void *buf, cel_error *err) {
    s3_source_state *s = ud;
    if (len == 0)
        return CEL_OK;
    if (offset > s->info.size || len > s->info.size - offset) {
        char k[340];
        key_for_msg(s->key, k, sizeof k);
        return cel_fail(err, CEL_EINVAL,
                        "S3 GET s3://%s/%s: read of %zu bytes at %llu is past the end (size %llu)",
                        s->bucket, k, len, (unsigned long long)offset,
                        (unsigned long long)s->info.size);
    }
    return get_range_impl(s->c, s->bucket, s->key, s->info.etag, offset, len, buf, err);
}

static cel_status src_stream(void *ud, cel_chunk_fn fn, void *chunk_ud, cel_error *err) {
    s3_source_state *s = ud;
    return get_stream_impl(s->c, s->bucket, s->key, s->info.etag, fn, chunk_ud, NULL, err);
}

cel_status s3_source_open(s3_client *c, const char *bucket, const char *key, cel_source *out,
                          s3_object_info *info_out, cel_error *err) {
    cel_status st;
    s3_source_state *s;
    memset(out, 0, sizeof *out);
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return cel_fail(err, CEL_ENOMEM, "S3: out of memory");
    s->c = c;
    s->bucket = bucket ? strdup(bucket) : NULL;
    s->key = key ? strdup(key) : NULL;
    if ((bucket && !s->bucket) || (key && !s->key)) {
        st = cel_fail(err, CEL_ENOMEM, "S3: out of memory");
        goto fail;
    }
    st = head_impl(c, bucket, key, &s->info, err);
    if (st != CEL_OK)
        goto fail;
    if (s->info.size > (uint64_t)INT64_MAX) {
        st = cel_fail(err, CEL_EPROTO, "S3 HEAD s3://%s: absurd object size", bucket);
        goto fail;
    }
    out->ud = s;
    out->name = s->key;
    out->size = (int64_t)s->info.size;
    out->read_at = src_read_at;
    out->stream = src_stream;
    if (info_out != NULL)
        *info_out = s->info;
    return CEL_OK;
fail:
    free(s->bucket);
    free(s->key);
    free(s);
    return st;
}

void s3_source_close(cel_source *src) {
    if (src == NULL || src->ud == NULL)
        return;
    s3_source_state *s = src->ud;
    free(s->bucket);
    free(s->key);
    free(s);
    memset(src, 0, sizeof *src);
}
