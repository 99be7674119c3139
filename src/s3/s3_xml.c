/*
 * s3_xml.c: bounded XML scanner plus the ListObjectsV2 and error-document parsers
 * (see s3_xml.h for what is and is not handled).
 *
 * Document shapes: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 * (ListBucketResult: IsTruncated, Contents{Key, LastModified, ETag, Size, ...},
 * CommonPrefixes{Prefix}, EncodingType, NextContinuationToken) and
 * https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (Error{Code,
 * Message, RequestId, ...}). XML syntax from https://www.w3.org/TR/xml/ (entity and
 * character references §4.1, the Char production §2.2, CDATA §2.7).
 *
 * The list parser makes three passes over the (capped) body: page facts and
 * well-formedness, then entry validation, then delivery; so a broken page never
 * delivers half of its entries, and EncodingType (which S3 sends after the Contents)
 * is known before any key is decoded.
 */
#include "s3/s3_xml.h"

#include "util/urlenc.h"
#include "s3/s3_date.h"

#include <stdlib.h>
#include <string.h>

void s3_xml_init(s3_xml *x, const char *data, size_t len, size_t max_text) {
    memset(x, 0, sizeof *x);
    x->begin = x->p = data;
    x->end = data + len;
    /* UTF-8 byte order mark */
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        x->p += 3;
    dbuf_init(&x->text, max_text ? max_text : S3_XML_MAX_TEXT);
}

void s3_xml_free(s3_xml *x) {
    if (x == NULL)
        return;
    dbuf_free(&x->text);
}

static size_t xoff(const s3_xml *x) {
    return (size_t)(x->p - x->begin);
}

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Finds needle in [p, end); NULL if absent. */
static const char *find(const char *p, const char *end, const char *needle) {
    size_t n = strlen(needle);
    while ((size_t)(end - p) >= n) {
        const char *q = memchr(p, needle[0], (size_t)(end - p) - n + 1);
        if (q == NULL)
            return NULL;
        if (memcmp(q, needle, n) == 0)
            return q;
        p = q + 1;
    }
    return NULL;
}

static bool starts(const s3_xml *x, const char *s) {
    size_t n = strlen(s);
    return (size_t)(x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

static cel_status text_append(s3_xml *x, const void *p, size_t n, cel_error *err) {
    cel_status st = dbuf_append(&x->text, p, n);
    if (st == CEL_ELIMIT)
        return cel_fail(err, st, "XML: text run exceeds %zu bytes at byte %zu", x->text.max,
                        xoff(x));
    if (st != CEL_OK)
        return cel_fail(err, st, "XML: out of memory");
    return CEL_OK;
}

/* XML 1.0 Char production (§2.2). */
static bool xml_char_ok(unsigned long cp) {
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

static size_t utf8_encode(unsigned long cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* x->p is at '&'. Decodes one reference into the text buffer. */
static cel_status decode_entity(s3_xml *x, cel_error *err) {
    size_t at = xoff(x);
    const char *semi = NULL;
    for (const char *q = x->p + 1; q < x->end && q - x->p <= 12; q++) {
        if (*q == ';') {
            semi = q;
            break;
        }
    }
    if (semi == NULL)
        return cel_fail(err, CEL_EPARSE, "XML: unterminated or overlong entity at byte %zu", at);
    const char *name = x->p + 1;
    size_t n = (size_t)(semi - name);
    static const struct {
        const char *name;
        char ch;
    } named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (strlen(named[i].name) == n && memcmp(name, named[i].name, n) == 0) {
            x->p = semi + 1;
            return text_append(x, &named[i].ch, 1, err);
        }
    }
    if (n >= 2 && name[0] == '#') {
        unsigned long cp = 0;
        bool hex = name[1] == 'x';
        size_t i = hex ? 2 : 1;
        if (i >= n)
            return cel_fail(err, CEL_EPARSE, "XML: empty character reference at byte %zu", at);
        for (; i < n; i++) {
            char c = name[i];
            unsigned d;
            if (c >= '0' && c <= '9')
                d = (unsigned)(c - '0');
            else if (hex && c >= 'a' && c <= 'f')
                d = (unsigned)(c - 'a' + 10);
            else if (hex && c >= 'A' && c <= 'F')
                d = (unsigned)(c - 'A' + 10);
            else
                return cel_fail(err, CEL_EPARSE, "XML: bad character reference at byte %zu", at);
            cp = cp * (hex ? 16 : 10) + d;
            if (cp > 0x10FFFF)
                break;
        }
        if (!xml_char_ok(cp))
            return cel_fail(err, CEL_EPARSE,
                            "XML: character reference to a non-XML character at byte %zu", at);
        char u[4];
        size_t un = utf8_encode(cp, u);
        x->p = semi + 1;
        return text_append(x, u, un, err);
    }
    return cel_fail(err, CEL_EPARSE, "XML: unknown entity '&%.*s;' at byte %zu", (int)n, name, at);
}

/* Reads a tag name at x->p into out (local part only). */
static cel_status read_name(s3_xml *x, char out[S3_XML_MAX_NAME], cel_error *err) {
    const char *s = x->p;
    while (x->p < x->end && !is_ws(*x->p) && *x->p != '>' && *x->p != '/') {
        char c = *x->p;
        if (c == '<' || c == '&' || c == '"' || c == '\'' || c == '=')
            return cel_fail(err, CEL_EPARSE, "XML: bad character in tag name at byte %zu", xoff(x));
        x->p++;
    }
    if (x->p == x->end)
        return cel_fail(err, CEL_EPARSE, "XML: truncated inside a tag at byte %zu", xoff(x));
    size_t n = (size_t)(x->p - s);
    if (n == 0)
        return cel_fail(err, CEL_EPARSE, "XML: empty tag name at byte %zu", xoff(x));
    if (n >= S3_XML_MAX_NAME)
        return cel_fail(err, CEL_ELIMIT, "XML: tag name longer than %d bytes at byte %zu",
                        S3_XML_MAX_NAME - 1, xoff(x));
    const char *local = s;
    for (const char *q = s; q < s + n; q++)
        if (*q == ':')
            local = q + 1;
    size_t ln = (size_t)(s + n - local);
    if (ln == 0)
        return cel_fail(err, CEL_EPARSE, "XML: empty local name at byte %zu", xoff(x));
    memcpy(out, local, ln);
    out[ln] = '\0';
    return CEL_OK;
}

static void skip_ws(s3_xml *x) {
    while (x->p < x->end && is_ws(*x->p))
        x->p++;
}

/* After the name of a start tag: skips attributes up to '>' or "/>". */
static cel_status skip_attributes(s3_xml *x, bool *self_closing, cel_error *err) {
    for (;;) {
        skip_ws(x);
        if (x->p >= x->end)
            break;
        if (*x->p == '>') {
            x->p++;
            *self_closing = false;
            return CEL_OK;
        }
        if (*x->p == '/') {
            if (x->p + 1 < x->end && x->p[1] == '>') {
                x->p += 2;
                *self_closing = true;
                return CEL_OK;
            }
            return cel_fail(err, CEL_EPARSE, "XML: stray '/' in tag at byte %zu", xoff(x));
        }
        /* attribute name */
        const char *s = x->p;
        while (x->p < x->end && !is_ws(*x->p) && *x->p != '=' && *x->p != '>' && *x->p != '/')
            x->p++;
        if (x->p == s)
            return cel_fail(err, CEL_EPARSE, "XML: bad attribute at byte %zu", xoff(x));
        skip_ws(x);
        if (x->p >= x->end)
            break;
        if (*x->p != '=')
            return cel_fail(err, CEL_EPARSE, "XML: attribute without value at byte %zu", xoff(x));
        x->p++;
        skip_ws(x);
        if (x->p >= x->end)
            break;
        char q = *x->p;
        if (q != '"' && q != '\'')
            return cel_fail(err, CEL_EPARSE, "XML: unquoted attribute value at byte %zu", xoff(x));
        const char *close = memchr(x->p + 1, q, (size_t)(x->end - x->p - 1));
        if (close == NULL)
            break;
        x->p = close + 1;
    }
    return cel_fail(err, CEL_EPARSE, "XML: truncated inside a tag at byte %zu", xoff(x));
}

cel_status s3_xml_next(s3_xml *x, s3_xml_event *ev, cel_error *err) {
    cel_status st;
    memset(ev, 0, sizeof *ev);
    if (x->pending_end) {
        x->pending_end = false;
        dbuf_reset(&x->text);
        ev->kind = S3_XML_END;
        ev->name = x->stack[x->depth - 1];
        ev->depth = x->depth;
        ev->text = "";
        x->depth--;
        return CEL_OK;
    }
    dbuf_reset(&x->text);
    for (;;) {
        if (x->p >= x->end) {
            if (x->depth > 0)
                return cel_fail(err, CEL_EPARSE, "XML: truncated: <%s> not closed at byte %zu",
                                x->stack[x->depth - 1], xoff(x));
            if (!x->seen_root)
                return cel_fail(err, CEL_EPARSE, "XML: no root element");
            ev->kind = S3_XML_EOF;
            return CEL_OK;
        }
        char c = *x->p;
        if (c != '<') {
            if (x->depth == 0) {
                if (!is_ws(c))
                    return cel_fail(err, CEL_EPARSE, "XML: text outside the root at byte %zu",
                                    xoff(x));
                x->p++;
                continue;
            }
            if (c == '&') {
                st = decode_entity(x, err);
                if (st != CEL_OK)
                    return st;
                continue;
            }
            const char *s = x->p;
            while (x->p < x->end && *x->p != '<' && *x->p != '&')
                x->p++;
            st = text_append(x, s, (size_t)(x->p - s), err);
            if (st != CEL_OK)
                return st;
            continue;
        }
        if (starts(x, "<?")) {
            const char *e = find(x->p + 2, x->end, "?>");
            if (e == NULL)
                return cel_fail(err, CEL_EPARSE, "XML: unterminated <? at byte %zu", xoff(x));
            x->p = e + 2;
            continue;
        }
        if (starts(x, "<!--")) {
            const char *e = find(x->p + 4, x->end, "-->");
            if (e == NULL)
                return cel_fail(err, CEL_EPARSE, "XML: unterminated comment at byte %zu", xoff(x));
            x->p = e + 3;
            continue;
        }
        if (starts(x, "<![CDATA[")) {
            if (x->depth == 0)
                return cel_fail(err, CEL_EPARSE, "XML: CDATA outside the root at byte %zu",
                                xoff(x));
            const char *s = x->p + 9;
            const char *e = find(s, x->end, "]]>");
            if (e == NULL)
                return cel_fail(err, CEL_EPARSE, "XML: unterminated CDATA at byte %zu", xoff(x));
            st = text_append(x, s, (size_t)(e - s), err);
            if (st != CEL_OK)
                return st;
            x->p = e + 3;
            continue;
        }
        if (starts(x, "<!"))
            return cel_fail(err, CEL_EPARSE,
                            "XML: DOCTYPE/declarations are not supported (byte %zu)", xoff(x));
        if (starts(x, "</")) {
            char name[S3_XML_MAX_NAME];
            size_t at = xoff(x);
            x->p += 2;
            st = read_name(x, name, err);
            if (st != CEL_OK)
                return st;
            skip_ws(x);
            if (x->p >= x->end)
                return cel_fail(err, CEL_EPARSE, "XML: truncated end tag at byte %zu", at);
            if (*x->p != '>')
                return cel_fail(err, CEL_EPARSE, "XML: bad end tag at byte %zu", at);
            x->p++;
            if (x->depth == 0 || strcmp(x->stack[x->depth - 1], name) != 0)
                return cel_fail(err, CEL_EPARSE, "XML: </%s> does not match <%s> at byte %zu", name,
                                x->depth ? x->stack[x->depth - 1] : "(none)", at);
            ev->kind = S3_XML_END;
            ev->name = x->stack[x->depth - 1];
            ev->depth = x->depth;
            ev->text = x->text.data ? x->text.data : "";
            ev->text_len = x->text.len;
            x->depth--;
            return CEL_OK;
        }
        /* start tag */
        size_t at = xoff(x);
        if (x->depth == 0 && x->seen_root)
            return cel_fail(err, CEL_EPARSE, "XML: content after the root element at byte %zu", at);
        if (x->depth >= S3_XML_MAX_DEPTH)
            return cel_fail(err, CEL_ELIMIT, "XML: nesting deeper than %d at byte %zu",
                            S3_XML_MAX_DEPTH, at);
        x->p++;
        st = read_name(x, x->stack[x->depth], err);
        if (st != CEL_OK)
            return st;
        bool self_closing = false;
        st = skip_attributes(x, &self_closing, err);
        if (st != CEL_OK)
            return st;
        x->depth++;
        x->seen_root = true;
        x->pending_end = self_closing;
        ev->kind = S3_XML_START;
        ev->name = x->stack[x->depth - 1];
        ev->depth = x->depth;
        return CEL_OK;
    }
}

/* Copies src (len bytes) into dst[sz], cutting on a UTF-8 boundary when too long. */
static void copy_trunc(char *dst, size_t sz, const char *src, size_t len) {
    if (len >= sz) {
        len = sz - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

cel_status s3_xml_parse_error(const char *body, size_t len, s3_xml_error *out, cel_error *err) {
    s3_xml x;
    s3_xml_event ev;
    cel_status st = CEL_OK;
    memset(out, 0, sizeof *out);
    s3_xml_init(&x, body, len, 0);
    for (;;) {
        st = s3_xml_next(&x, &ev, err);
        if (st != CEL_OK)
            goto exit;
        if (ev.kind == S3_XML_EOF)
            break;
        if (ev.kind == S3_XML_START && ev.depth == 1 && strcmp(ev.name, "Error") != 0) {
            st = cel_fail(err, CEL_EPARSE, "XML: root is <%s>, expected <Error>", ev.name);
            goto exit;
        }
        if (ev.kind != S3_XML_END || ev.depth != 2)
            continue;
        if (strcmp(ev.name, "Code") == 0)
            copy_trunc(out->code, sizeof out->code, ev.text, ev.text_len);
        else if (strcmp(ev.name, "Message") == 0)
            copy_trunc(out->message, sizeof out->message, ev.text, ev.text_len);
        else if (strcmp(ev.name, "RequestId") == 0)
            copy_trunc(out->request_id, sizeof out->request_id, ev.text, ev.text_len);
        else if (strcmp(ev.name, "Region") == 0)
            copy_trunc(out->region, sizeof out->region, ev.text, ev.text_len);
        else if (strcmp(ev.name, "Endpoint") == 0)
            copy_trunc(out->endpoint, sizeof out->endpoint, ev.text, ev.text_len);
    }
exit:
    s3_xml_free(&x);
    if (st != CEL_OK)
        memset(out, 0, sizeof *out);
    return st;
}

/* Decodes an encoding-type=url value in place ('+' is a space, %XY a byte), the way
 * the AWS SDKs do (botocore unquote_plus). Returns false on a bad escape or %00. */
static bool url_decode_inplace(char *s, size_t *len) {
    size_t o = 0;
    for (size_t i = 0; i < *len; i++) {
        if (s[i] == '+') {
            s[o++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= *len)
                return false;
            int h = url_hexval(s[i + 1]), l = url_hexval(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return false;
            s[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    *len = o;
    return true;
}

static bool parse_u64(const char *s, size_t len, uint64_t *out) {
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++) {
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

enum { LIST_FACTS, LIST_CHECK, LIST_DELIVER };

/* One pass over a ListBucketResult body. */
static cel_status list_pass(const char *body, size_t len, int pass, s3_list_fn cb, void *ud,
                            bool *stop, s3_list_page *page, cel_error *err) {
    s3_xml x;
    s3_xml_event ev;
    cel_status st = CEL_OK;
    dbuf key;
    char etag[128];
    uint64_t size = 0;
    int64_t mtime = -1;
    bool have_key = false, have_size = false, in_contents = false, in_prefixes = false;
    size_t n_contents = 0;

    dbuf_init(&key, 4 * S3_MAX_KEY_BYTES);
    etag[0] = '\0';
    s3_xml_init(&x, body, len, 0);
    for (;;) {
        st = s3_xml_next(&x, &ev, err);
        if (st != CEL_OK)
            goto exit;
        if (ev.kind == S3_XML_EOF)
            break;
        if (ev.kind == S3_XML_START) {
            if (ev.depth == 1 && strcmp(ev.name, "ListBucketResult") != 0) {
                st = cel_fail(err, CEL_EPARSE, "S3 list: root is <%s>, expected <ListBucketResult>",
                              ev.name);
                goto exit;
            }
            if (ev.depth == 2 &&
                (strcmp(ev.name, "Contents") == 0 || strcmp(ev.name, "CommonPrefixes") == 0)) {
                in_contents = strcmp(ev.name, "Contents") == 0;
                in_prefixes = !in_contents;
                have_key = have_size = false;
                dbuf_reset(&key);
                etag[0] = '\0';
                size = 0;
                mtime = -1;
            }
            continue;
        }
        /* END events */
        if (ev.depth == 2 && pass == LIST_FACTS) {
            if (strcmp(ev.name, "IsTruncated") == 0) {
                if (ev.text_len == 4 && memcmp(ev.text, "true", 4) == 0)
                    page->is_truncated = true;
                else if (ev.text_len == 5 && memcmp(ev.text, "false", 5) == 0)
                    page->is_truncated = false;
                else {
                    st = cel_fail(err, CEL_EPARSE, "S3 list: IsTruncated is not true/false");
                    goto exit;
                }
            } else if (strcmp(ev.name, "NextContinuationToken") == 0) {
                free(page->next_token);
                page->next_token = strndup(ev.text, ev.text_len);
                if (page->next_token == NULL) {
                    st = cel_fail(err, CEL_ENOMEM, "S3 list: out of memory");
                    goto exit;
                }
            } else if (strcmp(ev.name, "EncodingType") == 0) {
                page->url_encoded = ev.text_len == 3 && memcmp(ev.text, "url", 3) == 0;
            }
        }
        if (pass == LIST_FACTS)
            continue;
        if (ev.depth == 3 && (in_contents || in_prefixes)) {
            const char *want_key = in_contents ? "Key" : "Prefix";
            if (strcmp(ev.name, want_key) == 0) {
                dbuf_reset(&key);
                if (dbuf_append(&key, ev.text, ev.text_len) != CEL_OK) {
                    st = cel_fail(err, CEL_ELIMIT, "S3 list: key longer than %zu bytes", key.max);
                    goto exit;
                }
                if (page->url_encoded && !url_decode_inplace(key.data, &key.len)) {
                    st = cel_fail(err, CEL_EPARSE, "S3 list: bad URL encoding in key '%.200s'",
                                  key.data);
                    goto exit;
                }
                if (memchr(key.data, '\0', key.len) != NULL) {
                    st = cel_fail(err, CEL_EPARSE, "S3 list: key contains a NUL byte");
                    goto exit;
                }
                have_key = true;
            } else if (in_contents && strcmp(ev.name, "Size") == 0) {
                if (!parse_u64(ev.text, ev.text_len, &size)) {
                    st = cel_fail(err, CEL_EPARSE, "S3 list: bad Size '%.40s'", ev.text);
                    goto exit;
                }
                have_size = true;
            } else if (in_contents && strcmp(ev.name, "ETag") == 0) {
                const char *t = ev.text;
                size_t tl = ev.text_len;
                if (tl >= 2 && t[0] == '"' && t[tl - 1] == '"') {
                    t++;
                    tl -= 2;
                }
                if (tl >= sizeof etag) {
                    st = cel_fail(err, CEL_ELIMIT, "S3 list: ETag longer than %zu bytes",
                                  sizeof etag - 1);
                    goto exit;
                }
                memcpy(etag, t, tl);
                etag[tl] = '\0';
            } else if (in_contents && strcmp(ev.name, "LastModified") == 0) {
                /* lenient: an unparsable timestamp is reported as unknown (-1) */
                if (!s3_iso8601_parse(ev.text, &mtime))
                    mtime = -1;
            }
            continue;
        }
        if (ev.depth == 2 && (in_contents || in_prefixes)) {
            bool was_contents = in_contents;
            in_contents = in_prefixes = false;
            if (!have_key) {
                st = cel_fail(err, CEL_EPARSE, "S3 list: %s entry %zu without %s",
                              was_contents ? "Contents" : "CommonPrefixes", n_contents + 1,
                              was_contents ? "Key" : "Prefix");
                goto exit;
            }
            if (was_contents && !have_size) {
                st = cel_fail(err, CEL_EPARSE, "S3 list: entry '%.200s' without Size", key.data);
                goto exit;
            }
            n_contents++;
            if (pass == LIST_DELIVER) {
                s3_object_entry e = {.key = key.data,
                                     .size = was_contents ? size : 0,
                                     .etag = was_contents ? etag : "",
                                     .last_modified = was_contents ? mtime : -1,
                                     .is_prefix = !was_contents};
                st = cb(ud, &e, stop, err);
                if (st != CEL_OK) {
                    cel_fail(err, st, "S3 list: callback failed on '%.200s'", key.data);
                    goto exit;
                }
                page->entries++;
                if (*stop)
                    goto exit;
            }
        }
    }
exit:
    s3_xml_free(&x);
    dbuf_free(&key);
    return st;
}

cel_status s3_xml_parse_list(const char *body, size_t len, s3_list_fn cb, void *ud, bool *stop,
                             s3_list_page *page, cel_error *err) {
    cel_status st;
    bool local_stop = false;
    if (stop == NULL)
        stop = &local_stop;
    *stop = false;
    memset(page, 0, sizeof *page);
    st = list_pass(body, len, LIST_FACTS, cb, ud, stop, page, err);
    if (st == CEL_OK)
        st = list_pass(body, len, LIST_CHECK, cb, ud, stop, page, err);
    if (st == CEL_OK && cb != NULL)
        st = list_pass(body, len, LIST_DELIVER, cb, ud, stop, page, err);
    if (st != CEL_OK) {
        free(page->next_token);
        page->next_token = NULL;
    }
    return st;
}
