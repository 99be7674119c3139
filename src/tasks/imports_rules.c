/*
 * imports_rules.c: the per-row rules of the contact import (see imports.h for the exact
 * grammar accepted and the exact bytes hashed): email addr-spec check, required fields,
 * row hash, JSON string and COPY text encoders.
 *
 * Design: plain functions over byte views; nothing allocates except through the caller's
 * bounded dbuf. The validator is a single left-to-right scan with the part (local / domain)
 * and the previous character as its only state, so it is linear in the input and needs no
 * recursion or regex.
 *
 * Not here: anything that needs more than one row (duplicates, existing contacts), I/O.
 */
#include "tasks/imports.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

const char *const imp_field_names[IMP_NFIELDS] = {"email", "first_name", "last_name", "company"};

/* RFC 5321 §4.5.3.1.1 and §4.5.3.1.3. */
#define IMP_LOCAL_MAX 64
#define IMP_ADDR_MAX 254

void imp_trim(const char **s, size_t *len) {
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

/* atext, RFC 5322 §3.2.3. */
static bool is_atext(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* qtext, RFC 5322 §3.2.4: %d33 / %d35-91 / %d93-126. */
static bool is_qtext(unsigned char c) {
    return c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

/* dtext, RFC 5322 §3.4.1: %d33-90 / %d94-126. */
static bool is_dtext(unsigned char c) {
    return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

static void describe_char(unsigned char c, char *out, size_t n) {
    if (c >= 33 && c <= 126)
        snprintf(out, n, "'%c'", c);
    else if (c == ' ')
        snprintf(out, n, "a space");
    else
        snprintf(out, n, "byte 0x%02X", c);
}

/* false with a reason naming character i of s in part. */
static bool bad_char(const char *s, size_t i, const char *part, char *why, size_t whysz) {
    if (why && whysz) {
        char d[16];
        describe_char((unsigned char)s[i], d, sizeof d);
        snprintf(why, whysz, "character %s (position %zu) is not allowed in the %s", d, i + 1,
                 part);
    }
    return false;
}

static bool fail(char *why, size_t whysz, const char *msg) {
    if (why && whysz)
        snprintf(why, whysz, "%s", msg);
    return false;
}

/* dot-atom-text over s[from, to): labels of atext separated by single dots. */
static bool dot_atom(const char *s, size_t from, size_t to, const char *part, char *why,
                     size_t whysz) {
    if (from == to)
        return fail(why, whysz,
                    strcmp(part, "domain") == 0 ? "the domain is empty"
                                                : "the local part is empty");
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (i == from) {
                char m[96];
                snprintf(m, sizeof m, "the %s starts with a dot", part);
                return fail(why, whysz, m);
            }
            if (i + 1 == to) {
                char m[96];
                snprintf(m, sizeof m, "the %s ends with a dot", part);
                return fail(why, whysz, m);
            }
            if (s[i + 1] == '.') {
                char m[96];
                snprintf(m, sizeof m, "the %s has two consecutive dots (position %zu)", part,
                         i + 1);
                return fail(why, whysz, m);
            }
        } else if (!is_atext(c)) {
            return bad_char(s, i, part, why, whysz);
        }
    }
    return true;
}

bool imp_email_check(const char *s, size_t len, char *why, size_t whysz) {
    if (why && whysz)
        why[0] = '\0';
    if (len == 0)
        return fail(why, whysz, "the address is empty");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return fail(why, whysz,
                        "the address contains a non-ASCII character (RFC 6532 addresses are "
                        "not accepted)");
    if (len > IMP_ADDR_MAX)
        return fail(why, whysz, "the address is longer than 254 octets (RFC 5321 4.5.3.1.3)");
    size_t at; /* index of the '@' that ends the local part */
    if (s[0] == '"') {
        size_t i = 1;
        bool closed = false;
        while (i < len) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\') {
                if (i + 1 >= len)
                    return fail(why, whysz, "the quoted local part ends with a backslash");
                unsigned char n = (unsigned char)s[i + 1];
                if (!((n >= 33 && n <= 126) || n == ' ' || n == '\t'))
                    return bad_char(s, i + 1, "quoted local part", why, whysz);
                i += 2;
                continue;
            }
            if (c == '"') {
                closed = true;
                break;
            }
            if (!is_qtext(c) && c != ' ' && c != '\t')
                return bad_char(s, i, "quoted local part", why, whysz);
            i++;
        }
        if (!closed)
            return fail(why, whysz, "the quoted local part is not closed");
        at = i + 1;
        if (at >= len)
            return fail(why, whysz, "there is no '@'");
        if (s[at] != '@')
            return bad_char(s, at, "address after the quoted local part", why, whysz);
    } else {
        const char *p = memchr(s, '@', len);
        if (!p)
            return fail(why, whysz, "there is no '@'");
        at = (size_t)(p - s);
        if (!dot_atom(s, 0, at, "local part", why, whysz))
            return false;
    }
    if (at > IMP_LOCAL_MAX)
        return fail(why, whysz, "the local part is longer than 64 octets (RFC 5321 4.5.3.1.1)");
    size_t d = at + 1;
    if (d == len)
        return fail(why, whysz, "the domain is empty");
    if (s[d] == '[') {
        if (s[len - 1] != ']' || len - d < 2)
            return fail(why, whysz, "the domain literal is not closed with ']'");
        for (size_t i = d + 1; i < len - 1; i++) {
            unsigned char c = (unsigned char)s[i];
            if (!is_dtext(c) && c != ' ' && c != '\t')
                return bad_char(s, i, "domain literal", why, whysz);
        }
        return true;
    }
    return dot_atom(s, d, len, "domain", why, whysz);
}

unsigned imp_row_check(const char *const vals[IMP_NFIELDS], const size_t lens[IMP_NFIELDS],
                       char why[IMP_EMAIL_REASON_MAX]) {
    unsigned flags = 0;
    why[0] = '\0';
    for (int f = 0; f < IMP_NFIELDS; f++) {
        const char *v = vals[f];
        size_t n = lens[f];
        if (v)
            imp_trim(&v, &n);
        if (!v || n == 0) {
            flags |= IMP_MISSING(f);
            continue;
        }
        if (f == IMP_F_EMAIL && !imp_email_check(v, n, why, IMP_EMAIL_REASON_MAX))
            flags |= IMP_BAD_EMAIL;
    }
    return flags;
}

static cel_status netstring(dbuf *b, const char *s, size_t len) {
    cel_status st = dbuf_printf(b, "%zu:", len);
    if (st == CEL_OK && len)
        st = dbuf_append(b, s, len);
    if (st == CEL_OK)
        st = dbuf_append(b, ",", 1);
    return st;
}

cel_status imp_row_hash(uint64_t row_number, size_t ncols, const char *const *names,
                        const cel_value *vals, dbuf *scratch, char out[65], cel_error *err) {
    out[0] = '\0';
    dbuf_reset(scratch);
    char num[24];
    int nl = snprintf(num, sizeof num, "%llu", (unsigned long long)row_number);
    cel_status st = dbuf_append_str(scratch, "imports.row.v1:");
    if (st == CEL_OK)
        st = netstring(scratch, num, (size_t)nl);
    for (size_t i = 0; st == CEL_OK && i < ncols; i++) {
        st = netstring(scratch, names[i], strlen(names[i]));
        if (st != CEL_OK)
            break;
        if (vals[i].kind == CEL_V_ABSENT || vals[i].kind == CEL_V_NULL)
            st = dbuf_append(scratch, "~", 1);
        else
            st = netstring(scratch, vals[i].s, vals[i].len);
    }
    if (st != CEL_OK)
        return cel_fail(err, st, "row %llu: the row is too large to hash (%s)",
                        (unsigned long long)row_number, cel_strerror(st));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(scratch->data ? scratch->data : "", scratch->len, md, &mdlen, EVP_sha256(),
                   NULL) != 1 ||
        mdlen != 32)
        return cel_fail(err, CEL_EINTERNAL, "row %llu: SHA-256 failed",
                        (unsigned long long)row_number);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return CEL_OK;
}

cel_status imp_json_string(dbuf *b, const char *s, size_t len) {
    cel_status st = dbuf_append(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    for (size_t i = 0; st == CEL_OK && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        if (i > run)
            st = dbuf_append(b, s + run, i - run);
        if (st != CEL_OK)
            break;
        run = i + 1;
        switch (c) {
        case '"':
            st = dbuf_append(b, "\\\"", 2);
            break;
        case '\\':
            st = dbuf_append(b, "\\\\", 2);
            break;
        case '\n':
            st = dbuf_append(b, "\\n", 2);
            break;
        case '\r':
            st = dbuf_append(b, "\\r", 2);
            break;
        case '\t':
            st = dbuf_append(b, "\\t", 2);
            break;
        default:
            st = dbuf_printf(b, "\\u%04x", c);
            break;
        }
    }
    if (st == CEL_OK && len > run)
        st = dbuf_append(b, s + run, len - run);
    if (st == CEL_OK)
        st = dbuf_append(b, "\"", 1);
    return st;
}

cel_status imp_copy_field(dbuf *b, const char *s, size_t len) {
    if (!s)
        return dbuf_append(b, "\\N", 2);
    cel_status st = CEL_OK;
    size_t run = 0;
    for (size_t i = 0; st == CEL_OK && i < len; i++) {
        char c = s[i];
        const char *esc = c == '\\'   ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        if (!esc)
            continue;
        if (i > run)
            st = dbuf_append(b, s + run, i - run);
        if (st == CEL_OK)
            st = dbuf_append(b, esc, 2);
        run = i + 1;
    }
    if (st == CEL_OK && len > run)
        st = dbuf_append(b, s + run, len - run);
    return st;
}
