/*
 * fuzz_imports.c: libFuzzer harness for the pure rules of imports.process_job
 * (tasks/imports.h). Seeds: tests/fuzz/corpus/imports/.
 *
 * One input drives four checks:
 *   - imp_email_check on the whole input: an accepted address is ASCII, at most 254 bytes,
 *     has an '@' after a non-empty local part of at most 64 bytes, no control character
 *     outside a quoted local part or domain literal; a rejected one always has a reason.
 *   - imp_row_check on the input split at 0x1F into up to four fields: the flags agree with
 *     imp_email_check and with "blank after imp_trim".
 *   - imp_json_string: for valid UTF-8 input, jansson decodes the output back to the input
 *     bytes exactly (NUL included).
 *   - imp_copy_field: the COPY text unescaping of the output gives the input back, and the
 *     output has no raw tab, newline or carriage return.
 * Any violation aborts (the harness's own check, not an assert on input in product code).
 *
 * Not here: the row hash (a digest has no property to check beyond the unit test vectors),
 * anything touching PostgreSQL or S3.
 */
#include "formats/utf8.h"
#include "tasks/imports.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_email(const char *s, size_t n) {
    char why[IMP_EMAIL_REASON_MAX];
    memset(why, 'x', sizeof why);
    bool ok = imp_email_check(s, n, why, sizeof why);
    CHECK(memchr(why, '\0', sizeof why) != NULL);
    if (!ok) {
        CHECK(why[0] != '\0');
        return;
    }
    CHECK(why[0] == '\0');
    CHECK(n <= 254);
    const char *at = NULL;
    if (s[0] == '"') {
        /* the '@' right after the closing quote (quoted pairs skipped) */
        size_t i = 1;
        while (i < n && s[i] != '"')
            i += s[i] == '\\' ? 2 : 1;
        CHECK(i + 1 < n && s[i + 1] == '@');
        at = s + i + 1;
    } else {
        at = memchr(s, '@', n);
    }
    CHECK(at != NULL && at > s && (size_t)(at - s) <= 64 && at + 1 < s + n);
    bool literal = at[1] == '[';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        CHECK(c < 0x80);
        bool quoted_part = s[0] == '"' && s + i < at;
        bool literal_part = literal && s + i > at;
        if (!quoted_part && !literal_part)
            CHECK(c > 32 && c < 127);
        else
            CHECK((c >= 32 && c < 127) || c == '\t');
    }
}

static void check_row(const char *s, size_t n) {
    const char *v[IMP_NFIELDS] = {NULL, NULL, NULL, NULL};
    size_t l[IMP_NFIELDS] = {0, 0, 0, 0};
    size_t f = 0, start = 0;
    for (size_t i = 0; i <= n && f < IMP_NFIELDS; i++)
        if (i == n || s[i] == 0x1f) {
            v[f] = s + start;
            l[f] = i - start;
            f++;
            start = i + 1;
        }
    char why[IMP_EMAIL_REASON_MAX];
    unsigned flags = imp_row_check(v, l, why);
    for (int k = 0; k < IMP_NFIELDS; k++) {
        const char *p = v[k];
        size_t len = l[k];
        if (p)
            imp_trim(&p, &len);
        bool missing = !p || len == 0;
        CHECK(missing == ((flags & IMP_MISSING(k)) != 0));
        if (k == IMP_F_EMAIL && !missing)
            CHECK(imp_email_check(p, len, NULL, 0) == ((flags & IMP_BAD_EMAIL) == 0));
    }
    if (flags & IMP_BAD_EMAIL)
        CHECK(why[0] != '\0');
}

static void check_json(const char *s, size_t n) {
    dbuf b;
    dbuf_init(&b, 6 * n + 16);
    CHECK(imp_json_string(&b, s, n) == CEL_OK);
    if (u8_invalid_at((const unsigned char *)s, n) == n) {
        json_error_t jerr;
        json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        CHECK(v != NULL && json_is_string(v));
        CHECK(json_string_length(v) == n && memcmp(json_string_value(v), s, n) == 0);
        json_decref(v);
    }
    dbuf_free(&b);
}

static void check_copy(const char *s, size_t n) {
    dbuf b;
    dbuf_init(&b, 2 * n + 16);
    CHECK(imp_copy_field(&b, s, n) == CEL_OK);
    CHECK(memchr(b.data ? b.data : "", '\t', b.len) == NULL);
    CHECK(memchr(b.data ? b.data : "", '\n', b.len) == NULL);
    CHECK(memchr(b.data ? b.data : "", '\r', b.len) == NULL);
    size_t o = 0;
    for (size_t i = 0; i < b.len; i++) {
        char c = b.data[i];
        if (c == '\\') {
            CHECK(i + 1 < b.len);
            char e = b.data[++i];
            c = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
            CHECK(e == 'n' || e == 'r' || e == 't' || e == '\\');
        }
        CHECK(o < n && s[o] == c);
        o++;
    }
    CHECK(o == n);
    dbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096)
        return 0;
    const char *s = (const char *)data;
    check_email(s, size);
    check_row(s, size);
    check_json(s, size);
    check_copy(s, size);
    return 0;
}
