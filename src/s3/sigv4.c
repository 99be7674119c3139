/*
 * sigv4.c: AWS Signature Version 4 for S3 (see sigv4.h for the rules followed).
 *
 * Design: build the canonical request in bounded dbufs, hash it into the string to
 * sign, derive the signing key with the four chained HMACs (kDate, kRegion,
 * kService, kSigning) and HMAC the string to sign. Sources:
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 *   https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 * OpenSSL provides SHA-256 (EVP) and HMAC; everything else is ours.
 *
 * Not here: path normalisation (S3 forbids it), double encoding (other services),
 * chunked payload signatures, credential lookup.
 */
#include "s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGV4_MAX_HEADERS 64
#define SIGV4_MAX_QUERY 64
#define SIGV4_ALGO "AWS4-HMAC-SHA256"

static const char hexdig_upper[] = "0123456789ABCDEF";
static const char hexdig_lower[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig_lower[in[i] >> 4];
        out[2 * i + 1] = hexdig_lower[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

cel_status s3_uri_encode(dbuf *b, const char *s, size_t len, bool keep_slash) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        cel_status st;
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            st = dbuf_append(b, &s[i], 1);
        } else {
            char enc[3] = {'%', hexdig_upper[c >> 4], hexdig_upper[c & 15]};
            st = dbuf_append(b, enc, 3);
        }
        if (st != CEL_OK)
            return st;
    }
    return CEL_OK;
}

cel_status s3_sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return CEL_EINTERNAL;
    to_hex(md, 32, out);
    return CEL_OK;
}

cel_status s3_sha256_begin(s3_sha256 *h) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    h->md_ctx = NULL;
    if (ctx == NULL)
        return CEL_ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return CEL_EINTERNAL;
    }
    h->md_ctx = ctx;
    return CEL_OK;
}

cel_status s3_sha256_update(s3_sha256 *h, const void *data, size_t len) {
    if (h->md_ctx == NULL)
        return CEL_EINTERNAL;
    return EVP_DigestUpdate(h->md_ctx, data, len) == 1 ? CEL_OK : CEL_EINTERNAL;
}

cel_status s3_sha256_end(s3_sha256 *h, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    cel_status st = CEL_EINTERNAL;
    if (h->md_ctx != NULL && EVP_DigestFinal_ex(h->md_ctx, md, &mdlen) == 1 && mdlen == 32) {
        to_hex(md, 32, out);
        st = CEL_OK;
    }
    s3_sha256_abort(h);
    return st;
}

void s3_sha256_abort(s3_sha256 *h) {
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->md_ctx);
    h->md_ctx = NULL;
}

bool s3_amz_date(time_t t, char out[17]) {
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return false;
    return strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) == 16;
}

static bool hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                        unsigned char out[32]) {
    unsigned int outlen = 0;
    if (keylen > (size_t)0x7fffffff)
        return false;
    if (HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen) == NULL)
        return false;
    return outlen == 32;
}

/* One canonical header: lowercase name, normalised value(s). */
typedef struct sig_hdr {
    char name[128];
    size_t order; /* input position, to keep repeated names in their given order */
    const char *value;
} sig_hdr;

static int sig_hdr_cmp(const void *a, const void *b) {
    const sig_hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* One encoded query parameter. */
typedef struct sig_qp {
    char *name;
    char *value;
} sig_qp;

static int sig_qp_cmp(const void *a, const void *b) {
    const sig_qp *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

/* Appends value with leading/trailing whitespace removed and inner runs collapsed to
 * one space (the "Trimall" of the IAM page). Control characters are refused. */
static cel_status append_trimmed(dbuf *b, const char *v, cel_error *err, const char *name) {
    bool pending_space = false, started = false;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            pending_space = started;
            continue;
        }
        if (*p < 0x20 || *p == 0x7f)
            return cel_fail(err, CEL_EINVAL, "sigv4: header %s has a control character", name);
        if (pending_space && dbuf_append(b, " ", 1) != CEL_OK)
            goto limit;
        pending_space = false;
        started = true;
        if (dbuf_append(b, p, 1) != CEL_OK)
            goto limit;
    }
    return CEL_OK;
limit:
    return cel_fail(err, CEL_ELIMIT, "sigv4: canonical headers exceed %u bytes", S3_SIGV4_MAX_TEXT);
}

static bool reserved_header(const char *lname) {
    return strcmp(lname, "host") == 0 || strcmp(lname, "x-amz-date") == 0 ||
           strcmp(lname, "x-amz-content-sha256") == 0 ||
           strcmp(lname, "x-amz-security-token") == 0 || strcmp(lname, "authorization") == 0;
}

static void sig_qp_free(sig_qp *q, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(q[i].name);
        free(q[i].value);
    }
}

static cel_status encode_dup(const char *s, char **out, cel_error *err) {
    dbuf b;
    dbuf_init(&b, S3_SIGV4_MAX_TEXT);
    cel_status st = s3_uri_encode(&b, s, strlen(s), false);
    if (st != CEL_OK) {
        dbuf_free(&b);
        return cel_fail(err, st, "sigv4: query parameter too long to encode");
    }
    *out = dbuf_take(&b);
    if (*out == NULL)
        return cel_fail(err, CEL_ENOMEM, "sigv4: out of memory");
    return CEL_OK;
}

/* The shared body of header-based and presigned signing. presign_expires == 0 means
 * header mode. */
static cel_status sigv4_build(const s3_sign_input *in, unsigned presign_expires, s3_signature *out,
                              cel_error *err) {
    cel_status st = CEL_OK;
    sig_hdr hdrs[SIGV4_MAX_HEADERS + 4];
    size_t nh = 0;
    sig_qp qps[SIGV4_MAX_QUERY + 8];
    size_t nq = 0;
    dbuf creq, sts, tmp, auth;
    dbuf_init(&creq, S3_SIGV4_MAX_TEXT);
    dbuf_init(&sts, S3_SIGV4_MAX_TEXT);
    dbuf_init(&tmp, S3_SIGV4_MAX_TEXT);
    dbuf_init(&auth, S3_SIGV4_MAX_TEXT);
    const bool presign = presign_expires > 0;
    const char *service = in->service && in->service[0] ? in->service : "s3";
    const char *payload = in->payload_hash && in->payload_hash[0]
                              ? in->payload_hash
                              : (presign ? S3_UNSIGNED_PAYLOAD : S3_EMPTY_SHA256);
    const bool have_token = in->session_token != NULL && in->session_token[0] != '\0';
    char datestamp[9];

    memset(out, 0, sizeof *out);
    if (in->method == NULL || in->method[0] == '\0' || in->host == NULL || in->host[0] == '\0' ||
        in->access_key == NULL || in->access_key[0] == '\0' || in->secret_key == NULL ||
        in->secret_key[0] == '\0' || in->region == NULL || in->region[0] == '\0') {
        st = cel_fail(err, CEL_EINVAL, "sigv4: method, host, credentials and region are required");
        goto exit;
    }
    if (in->nheaders > SIGV4_MAX_HEADERS || in->nquery > SIGV4_MAX_QUERY) {
        st = cel_fail(err, CEL_ELIMIT, "sigv4: more than %d headers or query parameters",
                      SIGV4_MAX_HEADERS);
        goto exit;
    }
    if (strchr(in->region, '/') != NULL || strchr(service, '/') != NULL) {
        st = cel_fail(err, CEL_EINVAL, "sigv4: region/service must not contain '/'");
        goto exit;
    }
    if (!s3_amz_date(in->when, out->amz_date)) {
        st = cel_fail(err, CEL_EINVAL, "sigv4: request time out of range");
        goto exit;
    }
    memcpy(datestamp, out->amz_date, 8);
    datestamp[8] = '\0';
    if ((size_t)snprintf(out->scope, sizeof out->scope, "%s/%s/%s/aws4_request", datestamp,
                         in->region, service) >= sizeof out->scope) {
        st = cel_fail(err, CEL_ELIMIT, "sigv4: region/service names too long");
        goto exit;
    }

    /* Headers: ours first, then the caller's, lowercased and validated. */
    snprintf(hdrs[nh].name, sizeof hdrs[nh].name, "host");
    hdrs[nh].value = in->host;
    hdrs[nh].order = nh;
    nh++;
    if (!presign) {
        snprintf(hdrs[nh].name, sizeof hdrs[nh].name, "x-amz-date");
        hdrs[nh].value = out->amz_date;
        hdrs[nh].order = nh;
        nh++;
        snprintf(hdrs[nh].name, sizeof hdrs[nh].name, "x-amz-content-sha256");
        hdrs[nh].value = payload;
        hdrs[nh].order = nh;
        nh++;
        if (have_token) {
            snprintf(hdrs[nh].name, sizeof hdrs[nh].name, "x-amz-security-token");
            hdrs[nh].value = in->session_token;
            hdrs[nh].order = nh;
            nh++;
        }
    }
    for (size_t i = 0; i < in->nheaders; i++) {
        const char *n = in->headers[i].name;
        size_t nl = n ? strlen(n) : 0;
        if (nl == 0 || nl >= sizeof hdrs[0].name || in->headers[i].value == NULL) {
            st = cel_fail(err, CEL_EINVAL, "sigv4: header %zu has an empty or too long name", i);
            goto exit;
        }
        for (size_t k = 0; k < nl; k++) {
            unsigned char c = (unsigned char)n[k];
            if (c <= 0x20 || c >= 0x7f || c == ':') {
                st = cel_fail(err, CEL_EINVAL, "sigv4: header name %zu is not an HTTP token", i);
                goto exit;
            }
            hdrs[nh].name[k] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        hdrs[nh].name[nl] = '\0';
        if (reserved_header(hdrs[nh].name)) {
            st = cel_fail(err, CEL_EINVAL, "sigv4: header %s is set by the signer", hdrs[nh].name);
            goto exit;
        }
        hdrs[nh].value = in->headers[i].value;
        hdrs[nh].order = nh;
        nh++;
    }
    qsort(hdrs, nh, sizeof hdrs[0], sig_hdr_cmp);

    /* Canonical URI: the decoded path encoded once, '/' kept, never normalised. */
    {
        const char *path = in->path && in->path[0] ? in->path : "/";
        if (path[0] != '/') {
            st = cel_fail(err, CEL_EINVAL, "sigv4: path must start with '/'");
            goto exit;
        }
        if (s3_uri_encode(&tmp, path, strlen(path), true) != CEL_OK) {
            st = cel_fail(err, CEL_ELIMIT, "sigv4: path exceeds %u bytes encoded",
                          S3_SIGV4_MAX_TEXT);
            goto exit;
        }
        out->canonical_uri = dbuf_take(&tmp);
        if (out->canonical_uri == NULL) {
            st = cel_fail(err, CEL_ENOMEM, "sigv4: out of memory");
            goto exit;
        }
    }

    /* Signed header list. */
    dbuf_reset(&tmp);
    for (size_t i = 0; i < nh; i++) {
        if (i > 0 && strcmp(hdrs[i].name, hdrs[i - 1].name) == 0)
            continue;
        if ((i > 0 && dbuf_append(&tmp, ";", 1) != CEL_OK) ||
            dbuf_append_str(&tmp, hdrs[i].name) != CEL_OK) {
            st = cel_fail(err, CEL_ELIMIT, "sigv4: signed headers too long");
            goto exit;
        }
    }
    out->signed_headers = dbuf_take(&tmp);
    if (out->signed_headers == NULL) {
        st = cel_fail(err, CEL_ENOMEM, "sigv4: out of memory");
        goto exit;
    }

    /* Query parameters: the caller's, plus the X-Amz-* ones when presigning. */
    for (size_t i = 0; i < in->nquery; i++) {
        if (in->query[i].name == NULL || in->query[i].name[0] == '\0') {
            st = cel_fail(err, CEL_EINVAL, "sigv4: query parameter %zu has no name", i);
            goto exit;
        }
        qps[nq].name = qps[nq].value = NULL;
        nq++;
        st = encode_dup(in->query[i].name, &qps[nq - 1].name, err);
        if (st == CEL_OK)
            st = encode_dup(in->query[i].value ? in->query[i].value : "", &qps[nq - 1].value, err);
        if (st != CEL_OK)
            goto exit;
    }
    if (presign) {
        char credential[512], expires[16];
        if ((size_t)snprintf(credential, sizeof credential, "%s/%s", in->access_key, out->scope) >=
            sizeof credential) {
            st = cel_fail(err, CEL_ELIMIT, "sigv4: access key too long");
            goto exit;
        }
        snprintf(expires, sizeof expires, "%u", presign_expires);
        const s3_kv extra[] = {
            {"X-Amz-Algorithm", SIGV4_ALGO},
            {"X-Amz-Credential", credential},
            {"X-Amz-Date", out->amz_date},
            {"X-Amz-Expires", expires},
            {"X-Amz-SignedHeaders", out->signed_headers},
            {"X-Amz-Security-Token", in->session_token},
        };
        size_t nextra = have_token ? 6 : 5;
        for (size_t i = 0; i < nextra; i++) {
            qps[nq].name = qps[nq].value = NULL;
            nq++;
            st = encode_dup(extra[i].name, &qps[nq - 1].name, err);
            if (st == CEL_OK)
                st = encode_dup(extra[i].value, &qps[nq - 1].value, err);
            if (st != CEL_OK)
                goto exit;
        }
    }
    qsort(qps, nq, sizeof qps[0], sig_qp_cmp);
    dbuf_reset(&tmp);
    for (size_t i = 0; i < nq; i++) {
        if (dbuf_printf(&tmp, "%s%s=%s", i ? "&" : "", qps[i].name, qps[i].value) != CEL_OK) {
            st = cel_fail(err, CEL_ELIMIT, "sigv4: query string exceeds %u bytes",
                          S3_SIGV4_MAX_TEXT);
            goto exit;
        }
    }
    out->canonical_query = dbuf_take(&tmp);
    if (out->canonical_query == NULL) {
        st = cel_fail(err, CEL_ENOMEM, "sigv4: out of memory");
        goto exit;
    }

    /* Canonical request. */
    if (dbuf_printf(&creq, "%s\n%s\n%s\n", in->method, out->canonical_uri, out->canonical_query) !=
        CEL_OK)
        goto limit;
    for (size_t i = 0; i < nh; i++) {
        bool same_as_prev = i > 0 && strcmp(hdrs[i].name, hdrs[i - 1].name) == 0;
        if (same_as_prev) {
            if (dbuf_append(&creq, ",", 1) != CEL_OK)
                goto limit;
        } else {
            if ((i > 0 && dbuf_append(&creq, "\n", 1) != CEL_OK) ||
                dbuf_printf(&creq, "%s:", hdrs[i].name) != CEL_OK)
                goto limit;
        }
        st = append_trimmed(&creq, hdrs[i].value, err, hdrs[i].name);
        if (st != CEL_OK)
            goto exit;
    }
    if (dbuf_printf(&creq, "\n\n%s\n%s", out->signed_headers, payload) != CEL_OK)
        goto limit;

    /* String to sign. */
    {
        char creq_hash[65];
        if (s3_sha256_hex(creq.data, creq.len, creq_hash) != CEL_OK) {
            st = cel_fail(err, CEL_EINTERNAL, "sigv4: SHA-256 failed");
            goto exit;
        }
        if (dbuf_printf(&sts, "%s\n%s\n%s\n%s", SIGV4_ALGO, out->amz_date, out->scope, creq_hash) !=
            CEL_OK)
            goto limit;
    }

    /* Signing key and signature. */
    {
        unsigned char k[32], k2[32];
        bool ok = true;
        dbuf_reset(&tmp);
        if (dbuf_printf(&tmp, "AWS4%s", in->secret_key) != CEL_OK)
            goto limit;
        ok = hmac_sha256(tmp.data, tmp.len, datestamp, 8, k);
        /* the secret-derived key material is wiped before the buffer goes back */
        memset(tmp.data, 0, tmp.len);
        dbuf_reset(&tmp);
        ok = ok && hmac_sha256(k, 32, in->region, strlen(in->region), k2);
        ok = ok && hmac_sha256(k2, 32, service, strlen(service), k);
        ok = ok && hmac_sha256(k, 32, "aws4_request", 12, k2);
        ok = ok && hmac_sha256(k2, 32, sts.data, sts.len, k);
        if (!ok) {
            st = cel_fail(err, CEL_EINTERNAL, "sigv4: HMAC-SHA256 failed");
            goto exit;
        }
        to_hex(k, 32, out->signature);
        memset(k2, 0, sizeof k2);
        memset(k, 0, sizeof k);
    }

    if (presign) {
        if (dbuf_printf(&auth, "%s&X-Amz-Signature=%s", out->canonical_query, out->signature) !=
            CEL_OK)
            goto limit;
        out->url_query = dbuf_take(&auth);
    } else {
        if (dbuf_printf(&auth, "%s Credential=%s/%s,SignedHeaders=%s,Signature=%s", SIGV4_ALGO,
                        in->access_key, out->scope, out->signed_headers, out->signature) != CEL_OK)
            goto limit;
        out->authorization = dbuf_take(&auth);
        out->url_query = strdup(out->canonical_query);
        if (out->authorization == NULL) {
            st = cel_fail(err, CEL_ENOMEM, "sigv4: out of memory");
            goto exit;
        }
    }
    out->canonical_request = dbuf_take(&creq);
    out->string_to_sign = dbuf_take(&sts);
    if (out->url_query == NULL || out->canonical_request == NULL || out->string_to_sign == NULL) {
        st = cel_fail(err, CEL_ENOMEM, "sigv4: out of memory");
        goto exit;
    }
    st = CEL_OK;
    goto exit;

limit:
    st = cel_fail(err, CEL_ELIMIT, "sigv4: canonical request exceeds %u bytes", S3_SIGV4_MAX_TEXT);
exit:
    sig_qp_free(qps, nq);
    if (tmp.data)
        memset(tmp.data, 0, tmp.cap);
    dbuf_free(&tmp);
    dbuf_free(&creq);
    dbuf_free(&sts);
    dbuf_free(&auth);
    if (st != CEL_OK)
        s3_signature_free(out);
    return st;
}

cel_status s3_sigv4_sign(const s3_sign_input *in, s3_signature *out, cel_error *err) {
    return sigv4_build(in, 0, out, err);
}

cel_status s3_sigv4_presign(const s3_sign_input *in, unsigned expires_s, s3_signature *out,
                            cel_error *err) {
    if (expires_s == 0 || expires_s > 604800) {
        memset(out, 0, sizeof *out);
        return cel_fail(err, CEL_EINVAL, "sigv4: presign expiry must be 1..604800 seconds, got %u",
                        expires_s);
    }
    return sigv4_build(in, expires_s, out, err);
}

void s3_signature_free(s3_signature *sig) {
    if (sig == NULL)
        return;
    free(sig->canonical_uri);
    free(sig->canonical_query);
    free(sig->url_query);
    free(sig->signed_headers);
    free(sig->canonical_request);
    free(sig->string_to_sign);
    free(sig->authorization);
    memset(sig, 0, sizeof *sig);
}
