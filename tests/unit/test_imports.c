/*
 * test_imports.c: the pure rules of imports.process_job (tasks/imports.h): the RFC 5322
 * addr-spec validator (accepted and rejected forms, reasons), the per-row checks, the row
 * hash against vectors computed independently (Python hashlib over the documented bytes),
 * and the JSON / COPY text encoders. The database and S3 parts are covered end to end by
 * tests/e2e/test_imports.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tasks/imports.h"

#include <string.h>

static bool ok(const char *s) {
    char why[IMP_EMAIL_REASON_MAX];
    bool r = imp_email_check(s, strlen(s), why, sizeof why);
    if (r)
        assert_string_equal(why, "");
    else
        assert_true(why[0] != '\0');
    return r;
}

static void test_email_accepted(void **state) {
    (void)state;
    const char *good[] = {
        "a@b.co",
        "john.smith@example.com",
        "John.Smith@Example.COM",
        "a@localhost",                     /* addr-spec needs no dot in the domain */
        "user+tag@example.org",            /* atext specials */
        "!#$%&'*+-/=?^_`{|}~@example.com", /* every atext special */
        "x@sub-domain.example.co.uk",
        "\"john smith\"@example.com", /* quoted-string with a space */
        "\"a\\\"b\"@example.com",     /* quoted-pair \" */
        "\"a\\\\b\"@example.com",     /* quoted-pair \\ */
        "\"\"@example.com",           /* empty quoted-string */
        "\"a@b\"@example.com",        /* @ inside quotes */
        "\"a..b\"@example.com",       /* dots are free inside quotes */
        "user@[192.168.0.1]",         /* domain literal */
        "user@[IPv6:2001:db8::1]",
        "1@2",
        "a@b-", /* no RFC 1035 label rules */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (!ok(good[i]))
            fail_msg("rejected: %s", good[i]);
    }
    /* exactly 64 octets of local part and 254 of address */
    char addr[300];
    memset(addr, 'a', 64);
    memcpy(addr + 64, "@b.c", 5);
    assert_true(ok(addr));
    memset(addr, 'a', 64);
    addr[64] = '@';
    memset(addr + 65, 'b', 189);
    addr[254] = '\0';
    assert_int_equal(strlen(addr), 254);
    assert_true(ok(addr));
}

static void test_email_rejected(void **state) {
    (void)state;
    struct {
        const char *addr, *reason;
    } bad[] = {
        {"", "the address is empty"},
        {"plainaddress", "there is no '@'"},
        {"@example.com", "the local part is empty"},
        {"user@", "the domain is empty"},
        {".user@example.com", "the local part starts with a dot"},
        {"user.@example.com", "the local part ends with a dot"},
        {"us..er@example.com", "the local part has two consecutive dots (position 3)"},
        {"user@.example.com", "the domain starts with a dot"},
        {"user@example.com.", "the domain ends with a dot"},
        {"user@example..com", "the domain has two consecutive dots (position 13)"},
        {"a@b@c.com", "character '@' (position 4) is not allowed in the domain"},
        {"john smith@example.com", "character a space (position 5) is not allowed in the local "
                                   "part"},
        {"a,b@example.com", "character ',' (position 2) is not allowed in the local part"},
        {"a(comment)@example.com", "character '(' (position 2) is not allowed in the local part"},
        {"user@exa mple.com", "character a space (position 9) is not allowed in the domain"},
        {"user@example_com!", NULL}, /* '_' and '!' are atext: accepted, see below */
        {"\"unclosed@example.com", "the quoted local part is not closed"},
        {"\"a\"b@example.com",
         "character 'b' (position 4) is not allowed in the address after the quoted local part"},
        {"\"a\"", "there is no '@'"},
        {"\"a\\", "the quoted local part ends with a backslash"},
        {"\"a\x01\"@b", "character byte 0x01 (position 3) is not allowed in the quoted local part"},
        {"user@[1.2.3.4", "the domain literal is not closed with ']'"},
        {"user@[1.2[3].4]", "character '[' (position 10) is not allowed in the domain literal"},
        {"us\xc3\xa9r@example.com", "the address contains a non-ASCII character (RFC 6532 "
                                    "addresses are not accepted)"},
        {"a\tb@example.com", "character byte 0x09 (position 2) is not allowed in the local part"},
        {"a.\"b\".c@example.com", /* obs-local-part: not accepted */
         "character '\"' (position 3) is not allowed in the local part"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[IMP_EMAIL_REASON_MAX];
        bool r = imp_email_check(bad[i].addr, strlen(bad[i].addr), why, sizeof why);
        if (!bad[i].reason) {
            assert_true(r);
            continue;
        }
        if (r)
            fail_msg("accepted: %s", bad[i].addr);
        assert_string_equal(why, bad[i].reason);
    }
    char addr[300];
    memset(addr, 'a', 65);
    memcpy(addr + 65, "@b.c", 5);
    assert_false(ok(addr));
    char why[IMP_EMAIL_REASON_MAX];
    assert_false(imp_email_check(addr, strlen(addr), why, sizeof why));
    assert_string_equal(why, "the local part is longer than 64 octets (RFC 5321 4.5.3.1.1)");
    memset(addr, 'a', 64);
    addr[64] = '@';
    memset(addr + 65, 'b', 190);
    addr[255] = '\0';
    assert_false(imp_email_check(addr, strlen(addr), why, sizeof why));
    assert_string_equal(why, "the address is longer than 254 octets (RFC 5321 4.5.3.1.3)");
    /* not NUL-terminated input: only len bytes are looked at */
    assert_true(imp_email_check("a@b.cXXX junk", 5, why, sizeof why));
    /* why may be NULL */
    assert_false(imp_email_check("nope", 4, NULL, 0));
}

static void test_trim_and_row_check(void **state) {
    (void)state;
    const char *s = " \t a b \t";
    size_t n = strlen(s);
    imp_trim(&s, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "a b", 3);
    const char *e = "";
    size_t z = 0;
    imp_trim(&e, &z);
    assert_int_equal(z, 0);

    char why[IMP_EMAIL_REASON_MAX];
    const char *v1[IMP_NFIELDS] = {" a@b.co ", "Ann", "Lee", "ACME"};
    size_t l1[IMP_NFIELDS] = {8, 3, 3, 4};
    assert_int_equal(imp_row_check(v1, l1, why), 0);
    assert_string_equal(why, "");

    const char *v2[IMP_NFIELDS] = {"not-an-email", "  ", NULL, "ACME"};
    size_t l2[IMP_NFIELDS] = {12, 2, 0, 4};
    unsigned f = imp_row_check(v2, l2, why);
    assert_int_equal(f,
                     IMP_BAD_EMAIL | IMP_MISSING(IMP_F_FIRST_NAME) | IMP_MISSING(IMP_F_LAST_NAME));
    assert_string_equal(why, "there is no '@'");

    const char *v3[IMP_NFIELDS] = {"", "A", "B", "C"};
    size_t l3[IMP_NFIELDS] = {0, 1, 1, 1};
    assert_int_equal(imp_row_check(v3, l3, why), IMP_MISSING(IMP_F_EMAIL)); /* not BAD too */

    const char *v4[IMP_NFIELDS] = {NULL, NULL, NULL, NULL};
    size_t l4[IMP_NFIELDS] = {0, 0, 0, 0};
    assert_int_equal(imp_row_check(v4, l4, why), 15);
    assert_string_equal(imp_field_names[IMP_F_COMPANY], "company");
}

static cel_value text(const char *s) {
    cel_value v = {.kind = CEL_V_TEXT, .s = s, .len = strlen(s)};
    return v;
}

static void test_row_hash_vectors(void **state) {
    (void)state;
    dbuf scratch;
    dbuf_init(&scratch, 1 << 20);
    cel_error err = {0};
    char out[65];
    /* Expected values: hashlib.sha256 over the documented bytes, e.g.
     * b'imports.row.v1:1:3,5:email,7:a@x.com,10:first_name,3:Ann,9:last_name,3:Lee,'
     * b'7:company,4:ACME,4:note,~' */
    const char *names[] = {"email", "first_name", "last_name", "company", "note"};
    cel_value vals[5] = {
        text("a@x.com"), text("Ann"), text("Lee"), text("ACME"), {.kind = CEL_V_ABSENT}};
    assert_int_equal(imp_row_hash(3, 5, names, vals, &scratch, out, &err), CEL_OK);
    assert_string_equal(out, "c65592ac7358f666ea775706f569161abc855423e350975b1832b2e6d9b9eb45");
    /* deterministic */
    char again[65];
    assert_int_equal(imp_row_hash(3, 5, names, vals, &scratch, again, &err), CEL_OK);
    assert_string_equal(out, again);
    /* the row number matters */
    assert_int_equal(imp_row_hash(4, 5, names, vals, &scratch, again, &err), CEL_OK);
    assert_string_not_equal(out, again);
    /* an empty cell is not an absent cell */
    vals[4] = text("");
    assert_int_equal(imp_row_hash(3, 5, names, vals, &scratch, again, &err), CEL_OK);
    assert_string_not_equal(out, again);
    /* b'imports.row.v1:2:12,5:email,0:,4:n\xc3\xa9v,7:\xc3\xa9,"x"\n,' */
    const char *n2[] = {"email", "n\xc3\xa9v"};
    cel_value v2[2] = {text(""), text("\xc3\xa9,\"x\"\n")};
    assert_int_equal(imp_row_hash(12, 2, n2, v2, &scratch, out, &err), CEL_OK);
    assert_string_equal(out, "516ca75da59ca4495dd991cb7875a585e854127aac7412842caad01c1fe87e03");
    /* bound on the hashed bytes */
    dbuf small;
    dbuf_init(&small, 16);
    assert_int_equal(imp_row_hash(1, 5, names, vals, &small, out, &err), CEL_ELIMIT);
    assert_non_null(strstr(err.msg, "row 1"));
    dbuf_free(&small);
    dbuf_free(&scratch);
}

static void test_encoders(void **state) {
    (void)state;
    dbuf b;
    dbuf_init(&b, 1024);
    assert_int_equal(imp_json_string(&b, "a\"b\\c\n\t\r\x01\xc3\xa9", 11), CEL_OK);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\t\\r\\u0001\xc3\xa9\"");
    dbuf_reset(&b);
    assert_int_equal(imp_json_string(&b, "", 0), CEL_OK);
    assert_string_equal(b.data, "\"\"");
    dbuf_reset(&b);
    assert_int_equal(imp_json_string(&b, "a\0b", 3), CEL_OK);
    assert_string_equal(b.data, "\"a\\u0000b\"");
    dbuf_reset(&b);
    assert_int_equal(imp_copy_field(&b, "x\\y\tz\nw\rv", 10), CEL_OK);
    assert_string_equal(b.data, "x\\\\y\\tz\\nw\\rv");
    dbuf_reset(&b);
    assert_int_equal(imp_copy_field(&b, NULL, 0), CEL_OK);
    assert_string_equal(b.data, "\\N");
    dbuf_reset(&b);
    assert_int_equal(imp_copy_field(&b, "plain", 5), CEL_OK);
    assert_string_equal(b.data, "plain");
    dbuf small;
    dbuf_init(&small, 4);
    assert_int_equal(imp_copy_field(&small, "toolong", 7), CEL_ELIMIT);
    assert_int_equal(imp_json_string(&small, "abc", 3), CEL_ELIMIT);
    dbuf_free(&small);
    dbuf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_accepted),     cmocka_unit_test(test_email_rejected),
        cmocka_unit_test(test_trim_and_row_check), cmocka_unit_test(test_row_hash_vectors),
        cmocka_unit_test(test_encoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
