/*
 * fuzz_s3_xml.c: libFuzzer harness for the S3 client's parsers of untrusted input: the
 * ListObjectsV2 and error-document XML scanner (s3_xml.c), the HTTP-date and ISO-8601
 * parsers (s3_date.c) and the SigV4 canonicaliser fed with hostile paths and queries
 * (sigv4.c). The first byte picks the target; the rest is the input. Every call must
 * return a status, never crash, leak, overflow or hang; delivered keys must be
 * NUL-terminated and free of NUL bytes, and a canonical URI may only contain unreserved
 * characters, '/' and %XX escapes.
 */
#include "s3/s3_date.h"
#include "s3/s3_xml.h"
#include "s3/sigv4.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static cel_status on_entry(void *ud, const s3_object_entry *e, bool *stop, cel_error *err) {
    size_t *n = ud;
    (void)err;
    if (e->key == NULL || e->etag == NULL)
        abort();
    (void)strlen(e->key);
    (void)strlen(e->etag);
    if (++*n > 100000)
        *stop = true;
    return CEL_OK;
}

/* extra: the separators allowed besides unreserved characters and %XX */
static void check_encoded(const char *s, const char *extra) {
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '%' && !(p[1] && p[2]))
            abort();
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || strchr(extra, c);
        if (!ok)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    cel_error err = {0};
    switch (data[0] % 4) {
    case 0: {
        s3_list_page page;
        size_t count = 0;
        bool stop = false;
        if (s3_xml_parse_list(p, n, on_entry, &count, &stop, &page, &err) == CEL_OK)
            free(page.next_token);
        break;
    }
    case 1: {
        s3_xml_error xe;
        (void)s3_xml_parse_error(p, n, &xe, &err);
        break;
    }
    case 2: {
        char *s = malloc(n + 1);
        if (s == NULL)
            return 0;
        memcpy(s, p, n);
        s[n] = '\0';
        int64_t t;
        (void)s3_http_date_parse(s, &t);
        (void)s3_iso8601_parse(s, &t);
        free(s);
        break;
    }
    case 3: {
        /* "path\nname=value\nname=value..." */
        char *s = malloc(n + 2);
        if (s == NULL)
            return 0;
        s[0] = '/';
        memcpy(s + 1, p, n);
        s[n + 1] = '\0';
        s3_kv q[8];
        size_t nq = 0;
        char *line = strchr(s, '\n');
        if (line)
            *line++ = '\0';
        while (line && nq < 8) {
            char *next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            char *eq = strchr(line, '=');
            if (eq)
                *eq++ = '\0';
            if (line[0]) {
                q[nq].name = line;
                q[nq].value = eq;
                nq++;
            }
            line = next;
        }
        s3_sign_input in = {.method = "GET",
                            .path = s,
                            .query = q,
                            .nquery = nq,
                            .host = "h",
                            .access_key = "AK",
                            .secret_key = "SK",
                            .region = "us-east-1",
                            .when = 1369353600};
        s3_signature sig;
        if (s3_sigv4_sign(&in, &sig, &err) == CEL_OK) {
            check_encoded(sig.canonical_uri, "/");
            check_encoded(sig.canonical_query, "=&");
        }
        s3_signature_free(&sig);
        free(s);
        break;
    }
    }
    return 0;
}
