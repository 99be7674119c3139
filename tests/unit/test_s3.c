/*
 * test_s3.c: unit tests of the S3 pieces that need no server: SigV4 against the AWS S3
 * documentation examples (docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 * and sigv4-query-string-auth.html, quoted in research/s3_parquet.md §1.5), S3 URI
 * encoding of awkward keys, the XML scanner with list/error documents (valid, malformed,
 * truncated, hostile), HTTP/ISO date parsing and configuration from the environment.
 * Network behaviour (retries, resume, error mapping) is in test_s3_client.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "s3/s3.h"
#include "s3/s3_date.h"
#include "s3/s3_xml.h"
#include "s3/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SigV4: AWS S3 documentation examples -------------------------------------- */

#define EX_AK "AKIAIOSFODNN7EXAMPLE"
#define EX_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EX_HOST "examplebucket.s3.amazonaws.com"
#define EX_TIME ((time_t)1369353600) /* 20130524T000000Z */

static s3_sign_input example_input(const char *method, const char *path) {
    s3_sign_input in = {
        .method = method,
        .path = path,
        .host = EX_HOST,
        .access_key = EX_AK,
        .secret_key = EX_SK,
        .region = "us-east-1",
        .service = "s3",
        .when = EX_TIME,
    };
    return in;
}

static void test_example_time(void **state) {
    (void)state;
    char d[17];
    assert_int_equal(s3_days_from_civil(2013, 5, 24) * 86400, 1369353600);
    assert_true(s3_amz_date(EX_TIME, d));
    assert_string_equal(d, "20130524T000000Z");
}

/* E1: GET Object with Range. */
static void test_sigv4_get_object_range(void **state) {
    (void)state;
    s3_signature sig;
    cel_error err = {0};
    s3_kv hdr[] = {{"Range", "bytes=0-9"}};
    s3_sign_input in = example_input("GET", "/test.txt");
    in.headers = hdr;
    in.nheaders = 1;
    in.payload_hash = S3_EMPTY_SHA256;
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_OK);
    assert_string_equal(sig.canonical_request,
                        "GET\n"
                        "/test.txt\n"
                        "\n"
                        "host:examplebucket.s3.amazonaws.com\n"
                        "range:bytes=0-9\n"
                        "x-amz-content-sha256:"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                        "x-amz-date:20130524T000000Z\n"
                        "\n"
                        "host;range;x-amz-content-sha256;x-amz-date\n"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(sig.string_to_sign,
                        "AWS4-HMAC-SHA256\n"
                        "20130524T000000Z\n"
                        "20130524/us-east-1/s3/aws4_request\n"
                        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    assert_string_equal(sig.signature,
                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_string_equal(
        sig.authorization,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_string_equal(sig.canonical_uri, "/test.txt");
    assert_string_equal(sig.url_query, "");
    s3_signature_free(&sig);
    s3_signature_free(&sig); /* idempotent */
}

/* E2: PUT Object, key "test$file.text", body "Welcome to Amazon S3." */
static void test_sigv4_put_object(void **state) {
    (void)state;
    s3_signature sig;
    cel_error err = {0};
    char hash[65];
    const char *body = "Welcome to Amazon S3.";
    assert_int_equal(s3_sha256_hex(body, strlen(body), hash), CEL_OK);
    assert_string_equal(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    /* header order and name case on input must not matter */
    s3_kv hdr[] = {{"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                   {"Date", "Fri, 24 May 2013 00:00:00 GMT"}};
    s3_sign_input in = example_input("PUT", "/test$file.text");
    in.headers = hdr;
    in.nheaders = 2;
    in.payload_hash = hash;
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_OK);
    assert_string_equal(sig.canonical_request,
                        "PUT\n"
                        "/test%24file.text\n"
                        "\n"
                        "date:Fri, 24 May 2013 00:00:00 GMT\n"
                        "host:examplebucket.s3.amazonaws.com\n"
                        "x-amz-content-sha256:"
                        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
                        "x-amz-date:20130524T000000Z\n"
                        "x-amz-storage-class:REDUCED_REDUNDANCY\n"
                        "\n"
                        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
                        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    assert_string_equal(sig.string_to_sign,
                        "AWS4-HMAC-SHA256\n"
                        "20130524T000000Z\n"
                        "20130524/us-east-1/s3/aws4_request\n"
                        "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
    assert_string_equal(sig.signature,
                        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    assert_string_equal(sig.signed_headers,
                        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
    s3_signature_free(&sig);
}

/* E3: GET Bucket Lifecycle ("?lifecycle" signs as "lifecycle="). */
static void test_sigv4_get_lifecycle(void **state) {
    (void)state;
    s3_signature sig;
    cel_error err = {0};
    s3_kv q[] = {{"lifecycle", NULL}};
    s3_sign_input in = example_input("GET", "/");
    in.query = q;
    in.nquery = 1;
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_OK);
    assert_string_equal(sig.canonical_request,
                        "GET\n/\nlifecycle=\n"
                        "host:examplebucket.s3.amazonaws.com\n"
                        "x-amz-content-sha256:" S3_EMPTY_SHA256 "\n"
                        "x-amz-date:20130524T000000Z\n\n"
                        "host;x-amz-content-sha256;x-amz-date\n" S3_EMPTY_SHA256);
    assert_string_equal(sig.string_to_sign,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                        "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
    assert_string_equal(sig.signature,
                        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    assert_string_equal(sig.url_query, "lifecycle=");
    s3_signature_free(&sig);
}

/* E4: Get Bucket (List Objects) "?max-keys=2&prefix=J", given out of order. */
static void test_sigv4_list_objects(void **state) {
    (void)state;
    s3_signature sig;
    cel_error err = {0};
    s3_kv q[] = {{"prefix", "J"}, {"max-keys", "2"}};
    s3_sign_input in = example_input("GET", "/");
    in.query = q;
    in.nquery = 2;
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_OK);
    assert_string_equal(sig.canonical_query, "max-keys=2&prefix=J");
    assert_string_equal(sig.string_to_sign,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                        "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
    assert_string_equal(sig.signature,
                        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    s3_signature_free(&sig);
}

/* E5: presigned GET, 86400 s. */
static void test_sigv4_presign(void **state) {
    (void)state;
    s3_signature sig;
    cel_error err = {0};
    s3_sign_input in = example_input("GET", "/test.txt");
    assert_int_equal(s3_sigv4_presign(&in, 86400, &sig, &err), CEL_OK);
    assert_string_equal(sig.canonical_request,
                        "GET\n/test.txt\n"
                        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%"
                        "2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&"
                        "X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
                        "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD");
    assert_string_equal(sig.signature,
                        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    assert_string_equal(sig.url_query,
                        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%"
                        "2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&"
                        "X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
                        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    assert_null(sig.authorization);
    s3_signature_free(&sig);
    assert_int_equal(s3_sigv4_presign(&in, 604801, &sig, &err), CEL_EINVAL);
    s3_signature_free(&sig);
}

static void test_sigv4_session_token_and_trim(void **state) {
    (void)state;
    s3_signature sig;
    cel_error err = {0};
    s3_kv hdr[] = {{"X-Amz-Meta-A", "  two   spaces\tand tab  "}, {"x-amz-meta-a", "second"}};
    s3_sign_input in = example_input("GET", "/k");
    in.headers = hdr;
    in.nheaders = 2;
    in.session_token = "TOKEN/+=";
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_OK);
    assert_string_equal(sig.signed_headers,
                        "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-security-token");
    assert_non_null(strstr(sig.canonical_request, "\nx-amz-meta-a:two spaces and tab,second\n"));
    assert_non_null(strstr(sig.canonical_request, "\nx-amz-security-token:TOKEN/+=\n"));
    s3_signature_free(&sig);

    /* the signer owns host/x-amz-date/...: callers may not pass them */
    s3_kv bad[] = {{"Host", "evil"}};
    in.headers = bad;
    in.nheaders = 1;
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_EINVAL);
    s3_signature_free(&sig);
    /* header injection */
    cel_error_clear(&err);
    s3_kv crlf[] = {{"x-amz-meta-x", "a\r\nInjected: 1"}};
    in.headers = crlf;
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_EINVAL);
    s3_signature_free(&sig);
    /* missing credentials */
    cel_error_clear(&err);
    in = example_input("GET", "/");
    in.secret_key = "";
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_EINVAL);
    s3_signature_free(&sig);
}

/* Query sorting is by encoded name, then value; not by the joined "k=v" string. */
static void test_sigv4_query_sort(void **state) {
    (void)state;
    s3_signature sig;
    cel_error err = {0};
    s3_kv q[] = {{"a-b", "1"},         {"a", "1"}, {"Param", "Value2"}, {"\xE1\x88\xB4", "Value1"},
                 {"Param-3", "x y/z"}, {"a", "0"}};
    s3_sign_input in = example_input("GET", "/");
    in.query = q;
    in.nquery = 6;
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_OK);
    assert_string_equal(sig.canonical_query,
                        "%E1%88%B4=Value1&Param=Value2&Param-3=x%20y%2Fz&a=0&a=1&a-b=1");
    s3_signature_free(&sig);
}

/* The path is encoded once and never normalised (S3 rule). */
static void test_sigv4_path_not_normalised(void **state) {
    (void)state;
    s3_signature sig;
    cel_error err = {0};
    s3_sign_input in = example_input("GET", "/bucket//a/./b/../c d/");
    assert_int_equal(s3_sigv4_sign(&in, &sig, &err), CEL_OK);
    assert_string_equal(sig.canonical_uri, "/bucket//a/./b/../c%20d/");
    s3_signature_free(&sig);
}

/* ---- URI encoding ----------------------------------------------------------------- */

static void check_enc(const char *in, bool keep_slash, const char *want) {
    dbuf b;
    dbuf_init(&b, 4096);
    assert_int_equal(s3_uri_encode(&b, in, strlen(in), keep_slash), CEL_OK);
    assert_string_equal(b.data ? b.data : "", want);
    dbuf_free(&b);
}

static void test_uri_encode_awkward_keys(void **state) {
    (void)state;
    check_enc("a b+c%d=e&f?g#h", true, "a%20b%2Bc%25d%3De%26f%3Fg%23h");
    check_enc("dir/sub dir/file.csv", true, "dir/sub%20dir/file.csv");
    check_enc("dir/sub dir/file.csv", false, "dir%2Fsub%20dir%2Ffile.csv");
    check_enc("/lead//multi///trail/", true, "/lead//multi///trail/");
    check_enc("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", true,
              "caf%C3%A9%20%E2%82%AC%20%F0%9F%98%80");
    check_enc("-._~AZaz09", false, "-._~AZaz09");
    check_enc("!'()*,;:@$[]", true, "%21%27%28%29%2A%2C%3B%3A%40%24%5B%5D");
    check_enc("tab\tnl\n\x7f", true, "tab%09nl%0A%7F");
    dbuf b;
    dbuf_init(&b, 5);
    assert_int_equal(s3_uri_encode(&b, "  ", 2, true), CEL_ELIMIT);
    dbuf_free(&b);
}

/* ---- XML: list ----------------------------------------------------------------------- */

typedef struct {
    int n;
    char keys[16][128];
    uint64_t sizes[16];
    char etags[16][64];
    int64_t mtimes[16];
    bool prefix[16];
    int stop_after;
    cel_status fail_with;
} collect_t;

static cel_status collect_cb(void *ud, const s3_object_entry *e, bool *stop, cel_error *err) {
    collect_t *c = ud;
    if (c->fail_with != CEL_OK)
        return cel_fail(err, c->fail_with, "collector refuses %s", e->key);
    assert_true(c->n < 16);
    snprintf(c->keys[c->n], sizeof c->keys[0], "%s", e->key);
    c->sizes[c->n] = e->size;
    snprintf(c->etags[c->n], sizeof c->etags[0], "%s", e->etag);
    c->mtimes[c->n] = e->last_modified;
    c->prefix[c->n] = e->is_prefix;
    c->n++;
    if (c->stop_after && c->n == c->stop_after)
        *stop = true;
    return CEL_OK;
}

static const char LIST_OK[] =
    "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>uploads</Name><Prefix></Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "<Contents><Key>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;</Key>"
    "<LastModified>2009-10-12T17:50:30.000Z</LastModified>"
    "<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
    "<StorageClass>STANDARD</StorageClass>"
    "<Owner><ID>x</ID><Key>not-this-one</Key></Owner></Contents>"
    "<!-- a comment -->"
    "<Contents><Key>caf&#233; &#x1F600;<![CDATA[<raw & data>]]></Key>"
    "<Size>0</Size><ETag>\"e\"</ETag><LastModified>garbage</LastModified></Contents>"
    "<Contents><Key>dir/  spaced  /</Key><Size>18446744073709551615</Size></Contents>"
    "<CommonPrefixes><Prefix>photos/</Prefix></CommonPrefixes>"
    "</ListBucketResult>\n";

static void test_list_parse_ok(void **state) {
    (void)state;
    collect_t c = {0};
    s3_list_page page;
    cel_error err = {0};
    bool stop = false;
    assert_int_equal(
        s3_xml_parse_list(LIST_OK, sizeof LIST_OK - 1, collect_cb, &c, &stop, &page, &err), CEL_OK);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.keys[0], "a & b <c> \"d\" 'e'");
    assert_int_equal(c.sizes[0], 434234);
    assert_string_equal(c.etags[0], "fba9dede5f27731c9771645a39863328");
    assert_int_equal(c.mtimes[0], 1255369830);
    assert_string_equal(c.keys[1], "caf\xC3\xA9 \xF0\x9F\x98\x80<raw & data>");
    assert_string_equal(c.etags[1], "e");
    assert_int_equal(c.mtimes[1], -1);
    assert_string_equal(c.keys[2], "dir/  spaced  /");
    assert_true(c.sizes[2] == UINT64_MAX);
    assert_string_equal(c.keys[3], "photos/");
    assert_true(c.prefix[3]);
    assert_true(page.is_truncated);
    assert_false(page.url_encoded);
    assert_string_equal(page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    assert_int_equal(page.entries, 4);
    free(page.next_token);

    /* stop early */
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    assert_int_equal(
        s3_xml_parse_list(LIST_OK, sizeof LIST_OK - 1, collect_cb, &c, &stop, &page, &err), CEL_OK);
    assert_true(stop);
    assert_int_equal(c.n, 2);
    free(page.next_token);

    /* callback failure is returned with its own message */
    memset(&c, 0, sizeof c);
    c.fail_with = CEL_EDB;
    assert_int_equal(
        s3_xml_parse_list(LIST_OK, sizeof LIST_OK - 1, collect_cb, &c, &stop, &page, &err),
        CEL_EDB);
    assert_non_null(strstr(err.msg, "collector refuses"));
}

/* EncodingType=url comes after the Contents; keys are still decoded. */
static void test_list_parse_url_encoded(void **state) {
    (void)state;
    static const char xml[] =
        "<ListBucketResult><IsTruncated>false</IsTruncated>"
        "<Contents><Key>a+b%2Bc%25d%3D%26%3F%23%2F%C3%A9</Key><Size>1</Size></Contents>"
        "<CommonPrefixes><Prefix>p+q%2F</Prefix></CommonPrefixes>"
        "<EncodingType>url</EncodingType></ListBucketResult>";
    collect_t c = {0};
    s3_list_page page;
    cel_error err = {0};
    assert_int_equal(s3_xml_parse_list(xml, sizeof xml - 1, collect_cb, &c, NULL, &page, &err),
                     CEL_OK);
    assert_true(page.url_encoded);
    assert_false(page.is_truncated);
    assert_null(page.next_token);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.keys[0], "a b+c%d=&?#/\xC3\xA9");
    assert_string_equal(c.keys[1], "p q/");

    static const char bad[] = "<ListBucketResult><Contents><Key>a%2</Key><Size>1</Size>"
                              "</Contents><EncodingType>url</EncodingType></ListBucketResult>";
    memset(&c, 0, sizeof c);
    assert_int_equal(s3_xml_parse_list(bad, sizeof bad - 1, collect_cb, &c, NULL, &page, &err),
                     CEL_EPARSE);
    assert_int_equal(c.n, 0);
    static const char nul[] = "<ListBucketResult><Contents><Key>a%00b</Key><Size>1</Size>"
                              "</Contents><EncodingType>url</EncodingType></ListBucketResult>";
    assert_int_equal(s3_xml_parse_list(nul, sizeof nul - 1, collect_cb, &c, NULL, &page, &err),
                     CEL_EPARSE);
}

static cel_status parse_list_status(const char *xml, collect_t *c, cel_error *err) {
    s3_list_page page;
    cel_error_clear(err);
    memset(c, 0, sizeof *c);
    cel_status st = s3_xml_parse_list(xml, strlen(xml), collect_cb, c, NULL, &page, err);
    if (st == CEL_OK)
        free(page.next_token);
    return st;
}

static void test_list_parse_malformed(void **state) {
    (void)state;
    collect_t c;
    cel_error err;
    /* truncated anywhere: never delivers anything */
    for (size_t cut = 0; cut < sizeof LIST_OK - 2; cut += 7) {
        char *t = strndup(LIST_OK, cut);
        cel_status st = parse_list_status(t, &c, &err);
        assert_int_not_equal(st, CEL_OK);
        assert_int_equal(c.n, 0);
        free(t);
    }
    assert_int_equal(parse_list_status("", &c, &err), CEL_EPARSE);
    assert_int_equal(parse_list_status("   ", &c, &err), CEL_EPARSE);
    assert_int_equal(parse_list_status("<Error><Code>x</Code></Error>", &c, &err), CEL_EPARSE);
    assert_non_null(strstr(err.msg, "expected <ListBucketResult>"));
    assert_int_equal(parse_list_status("<ListBucketResult><Contents><Size>1</Size></Contents>"
                                       "</ListBucketResult>",
                                       &c, &err),
                     CEL_EPARSE);
    assert_non_null(strstr(err.msg, "without Key"));
    assert_int_equal(parse_list_status("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
                                       "</Contents></ListBucketResult>",
                                       &c, &err),
                     CEL_EPARSE);
    assert_int_equal(parse_list_status("<ListBucketResult><Contents><Key>k</Key>"
                                       "<Size>18446744073709551616</Size></Contents>"
                                       "</ListBucketResult>",
                                       &c, &err),
                     CEL_EPARSE);
    assert_int_equal(parse_list_status("<ListBucketResult><Contents><Key>k</Key></Contents>"
                                       "</ListBucketResult>",
                                       &c, &err),
                     CEL_EPARSE);
    assert_int_equal(parse_list_status("<ListBucketResult><IsTruncated>maybe</IsTruncated>"
                                       "</ListBucketResult>",
                                       &c, &err),
                     CEL_EPARSE);
    /* mismatched / stray tags, two roots, text outside */
    assert_int_equal(parse_list_status("<ListBucketResult><a></b></ListBucketResult>", &c, &err),
                     CEL_EPARSE);
    assert_int_equal(parse_list_status("<ListBucketResult/><ListBucketResult/>", &c, &err),
                     CEL_EPARSE);
    assert_int_equal(parse_list_status("junk<ListBucketResult/>", &c, &err), CEL_EPARSE);
    assert_int_equal(parse_list_status("<ListBucketResult></ListBucketResult></x>", &c, &err),
                     CEL_EPARSE);
    /* entities */
    assert_int_equal(
        parse_list_status("<ListBucketResult><Name>&foo;</Name></ListBucketResult>", &c, &err),
        CEL_EPARSE);
    assert_int_equal(
        parse_list_status("<ListBucketResult><Name>&#0;</Name></ListBucketResult>", &c, &err),
        CEL_EPARSE);
    assert_int_equal(
        parse_list_status("<ListBucketResult><Name>&#xD800;</Name></ListBucketResult>", &c, &err),
        CEL_EPARSE);
    assert_int_equal(
        parse_list_status("<ListBucketResult><Name>&#x110000;</Name></ListBucketResult>", &c, &err),
        CEL_EPARSE);
    assert_int_equal(
        parse_list_status("<ListBucketResult><Name>a & b</Name></ListBucketResult>", &c, &err),
        CEL_EPARSE);
    /* DTDs are refused (no entity expansion) */
    assert_int_equal(parse_list_status("<!DOCTYPE lolz [<!ENTITY lol \"lol\">]>"
                                       "<ListBucketResult>&lol;</ListBucketResult>",
                                       &c, &err),
                     CEL_EPARSE);
    assert_non_null(strstr(err.msg, "DOCTYPE"));
    /* attributes with '>' inside quotes are skipped correctly */
    assert_int_equal(parse_list_status("<ListBucketResult a=\"x>y\" b='q'><Contents><Key>k</Key>"
                                       "<Size>1</Size></Contents></ListBucketResult>",
                                       &c, &err),
                     CEL_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(parse_list_status("<ListBucketResult a=x></ListBucketResult>", &c, &err),
                     CEL_EPARSE);
    /* namespace prefixes are dropped */
    assert_int_equal(parse_list_status("<s3:ListBucketResult xmlns:s3=\"u\"><s3:Contents>"
                                       "<s3:Key>k</s3:Key><s3:Size>2</s3:Size></s3:Contents>"
                                       "</s3:ListBucketResult>",
                                       &c, &err),
                     CEL_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.sizes[0], 2);
}

/* Builds head + n copies of fill + tail into a new string. */
static char *build(const char *head, const char *fill, size_t n, const char *tail) {
    size_t hl = strlen(head), fl = strlen(fill), tl = strlen(tail);
    char *s = malloc(hl + fl * n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * fl, fill, fl);
    memcpy(s + hl + fl * n, tail, tl + 1);
    return s;
}

static void test_xml_bounds(void **state) {
    (void)state;
    collect_t c;
    cel_error err;
    /* nesting deeper than S3_XML_MAX_DEPTH */
    char *t = build("<ListBucketResult>", "<a>", S3_XML_MAX_DEPTH + 2, "");
    assert_int_equal(parse_list_status(t, &c, &err), CEL_ELIMIT);
    assert_non_null(strstr(err.msg, "nesting"));
    free(t);
    /* a text run over the bound */
    t = build("<ListBucketResult><Name>", "x", S3_XML_MAX_TEXT + 10, "</Name></ListBucketResult>");
    assert_int_equal(parse_list_status(t, &c, &err), CEL_ELIMIT);
    free(t);
    /* an over-long tag name */
    t = build("<", "n", 300, "/>");
    assert_int_equal(parse_list_status(t, &c, &err), CEL_ELIMIT);
    free(t);
    /* a key over 4 KiB */
    t = build("<ListBucketResult><Contents><Key>", "k", 5000,
              "</Key><Size>1</Size></Contents></ListBucketResult>");
    assert_int_equal(parse_list_status(t, &c, &err), CEL_ELIMIT);
    free(t);
}

static void test_xml_scanner_events(void **state) {
    (void)state;
    static const char doc[] = "<r><a>1</a><b/><c x='1'>t<!--c-->u</c></r>";
    s3_xml x;
    s3_xml_event ev;
    cel_error err = {0};
    const char *want[] = {"+r", "+a", "-a:1", "+b", "-b:", "+c", "-c:tu", "-r:", "."};
    s3_xml_init(&x, doc, sizeof doc - 1, 0);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char got[64];
        assert_int_equal(s3_xml_next(&x, &ev, &err), CEL_OK);
        if (ev.kind == S3_XML_START)
            snprintf(got, sizeof got, "+%s", ev.name);
        else if (ev.kind == S3_XML_END)
            snprintf(got, sizeof got, "-%s:%s", ev.name, ev.text);
        else
            snprintf(got, sizeof got, ".");
        assert_string_equal(got, want[i]);
    }
    s3_xml_free(&x);
}

/* ---- XML: error documents ------------------------------------------------------------ */

static void test_error_parse(void **state) {
    (void)state;
    static const char doc[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<Error><Code>NoSuchKey</Code>"
                              "<Message>The specified key does not exist.</Message>"
                              "<Key>a &amp; b</Key><RequestId>4442587FB7D0A2F9</RequestId>"
                              "<Resource><Region>nested-ignored</Region></Resource></Error>";
    s3_xml_error xe;
    cel_error err = {0};
    assert_int_equal(s3_xml_parse_error(doc, sizeof doc - 1, &xe, &err), CEL_OK);
    assert_string_equal(xe.code, "NoSuchKey");
    assert_string_equal(xe.message, "The specified key does not exist.");
    assert_string_equal(xe.request_id, "4442587FB7D0A2F9");
    assert_string_equal(xe.region, "");

    static const char redirect[] = "<Error><Code>PermanentRedirect</Code><Message>m</Message>"
                                   "<Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint>"
                                   "<Region>eu-west-1</Region></Error>";
    assert_int_equal(s3_xml_parse_error(redirect, sizeof redirect - 1, &xe, &err), CEL_OK);
    assert_string_equal(xe.region, "eu-west-1");
    assert_string_equal(xe.endpoint, "b.s3.eu-west-1.amazonaws.com");

    /* long message: cut on a UTF-8 boundary */
    char *longdoc = build("<Error><Code>C</Code><Message>", "\xC3\xA9", 300, "</Message></Error>");
    assert_int_equal(s3_xml_parse_error(longdoc, strlen(longdoc), &xe, &err), CEL_OK);
    assert_int_equal(strlen(xe.message), 510);
    free(longdoc);

    cel_error_clear(&err);
    assert_int_equal(s3_xml_parse_error("<Error><Code>x</Code>", 21, &xe, &err), CEL_EPARSE);
    assert_string_equal(xe.code, "");
    assert_non_null(strstr(err.msg, "truncated"));
    cel_error_clear(&err);
    assert_int_equal(s3_xml_parse_error("<html>502</html>", 16, &xe, &err), CEL_EPARSE);
    cel_error_clear(&err);
    assert_int_equal(s3_xml_parse_error("Bad Gateway", 11, &xe, &err), CEL_EPARSE);
}

/* ---- dates ------------------------------------------------------------------------------ */

static void test_http_dates(void **state) {
    (void)state;
    int64_t t = 0;
    /* RFC 9110 §5.6.7 examples: the three forms of the same instant */
    assert_true(s3_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    assert_int_equal(t, 784111777);
    t = 0;
    assert_true(s3_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t));
    assert_int_equal(t, 784111777);
    t = 0;
    assert_true(s3_http_date_parse("Sun Nov  6 08:49:37 1994", &t));
    assert_int_equal(t, 784111777);
    assert_true(s3_http_date_parse("Fri, 24 May 2013 00:00:00 GMT", &t));
    assert_int_equal(t, 1369353600);
    assert_true(s3_http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT", &t));
    assert_int_equal(t, 0);
    assert_true(s3_http_date_parse("Tue, 29 Feb 2000 23:59:59 GMT", &t));
    assert_int_equal(t, 951868799);
    assert_false(s3_http_date_parse("Wed, 29 Feb 2001 00:00:00 GMT", &t));
    assert_false(s3_http_date_parse("Sun, 06 Nov 1994 08:49:37 UTC", &t));
    assert_false(s3_http_date_parse("Sun, 06 Nov 1994 24:00:00 GMT", &t));
    assert_false(s3_http_date_parse("Sun, 06 Nov 1994 08:49:60 GMT", &t));
    assert_false(s3_http_date_parse("Sun, 6 Nov 1994 08:49:37 GMT", &t));
    assert_false(s3_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT ", &t));
    assert_false(s3_http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT", &t));
    assert_false(s3_http_date_parse("", &t));
    assert_false(s3_http_date_parse(NULL, &t));
}

static void test_iso_dates(void **state) {
    (void)state;
    int64_t t = 0;
    assert_true(s3_iso8601_parse("2009-10-12T17:50:30.000Z", &t));
    assert_int_equal(t, 1255369830);
    assert_true(s3_iso8601_parse("2009-10-12T17:50:30Z", &t));
    assert_int_equal(t, 1255369830);
    assert_true(s3_iso8601_parse("2009-10-12T19:50:30.5+02:00", &t));
    assert_int_equal(t, 1255369830);
    assert_true(s3_iso8601_parse("1969-12-31T23:59:59Z", &t));
    assert_int_equal(t, -1);
    assert_false(s3_iso8601_parse("2009-10-12T17:50:30", &t));
    assert_false(s3_iso8601_parse("2009-13-12T17:50:30Z", &t));
    assert_false(s3_iso8601_parse("2009-10-12T17:50:30.Z", &t));
    assert_false(s3_iso8601_parse("2009-10-12 17:50:30Z", &t));
}

/* ---- configuration --------------------------------------------------------------------- */

static const char *const S3_VARS[] = {"AWS_ENDPOINT_URL_S3",
                                      "S3_ENDPOINT_URL",
                                      "AWS_ENDPOINT_URL",
                                      "S3_SCHEME",
                                      "S3_HOST",
                                      "S3_PORT",
                                      "AWS_ACCESS_KEY_ID",
                                      "AWS_SECRET_ACCESS_KEY",
                                      "AWS_SESSION_TOKEN",
                                      "S3_ACCESS_KEY",
                                      "S3_SECRET_KEY",
                                      "AWS_REGION",
                                      "AWS_DEFAULT_REGION",
                                      "S3_ADDRESSING_STYLE",
                                      "S3_VERIFY_TLS",
                                      "AWS_CA_BUNDLE",
                                      "S3_CONNECT_TIMEOUT_MS",
                                      "S3_READ_TIMEOUT_MS",
                                      "S3_MAX_ATTEMPTS",
                                      "AWS_MAX_ATTEMPTS",
                                      "S3_RETRY_BASE_MS",
                                      "S3_RETRY_MAX_MS",
                                      "S3_MAX_XML_BYTES",
                                      "S3_MAX_HEADER_BYTES"};

static int clear_env(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof S3_VARS / sizeof S3_VARS[0]; i++)
        unsetenv(S3_VARS[i]);
    return 0;
}

static void test_config_defaults_aws(void **state) {
    (void)state;
    s3_config cfg;
    cel_error err = {0};
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "sekrit-value", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
    setenv("AWS_SESSION_TOKEN", "tok", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_OK);
    assert_string_equal(cfg.scheme, "https");
    assert_string_equal(cfg.host, "s3.eu-west-3.amazonaws.com");
    assert_int_equal(cfg.port, 0);
    assert_false(cfg.custom_endpoint);
    assert_int_equal(cfg.addressing, S3_ADDRESSING_VIRTUAL);
    assert_string_equal(cfg.region, "eu-west-3");
    assert_string_equal(cfg.session_token, "tok");
    assert_int_equal(cfg.max_attempts, 4);
    assert_int_equal(cfg.retry_base_ms, 200);
    assert_true(cfg.verify_tls);
    char d[512];
    s3_config_describe(&cfg, d, sizeof d);
    assert_null(strstr(d, "sekrit"));
    assert_null(strstr(d, "tok "));
    assert_non_null(strstr(d, "endpoint=https://s3.eu-west-3.amazonaws.com"));
    /* AWS_REGION wins over AWS_DEFAULT_REGION */
    setenv("AWS_REGION", "us-west-2", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_OK);
    assert_string_equal(cfg.region, "us-west-2");
}

static void test_config_endpoint_url(void **state) {
    (void)state;
    s3_config cfg;
    cel_error err = {0};
    setenv("S3_ACCESS_KEY", "minio", 1);
    setenv("S3_SECRET_KEY", "minio123", 1);
    setenv("AWS_SESSION_TOKEN", "stale", 1);
    setenv("S3_ENDPOINT_URL", "HTTP://LocalHost:9000/", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_OK);
    assert_string_equal(cfg.scheme, "http");
    assert_string_equal(cfg.host, "localhost");
    assert_int_equal(cfg.port, 9000);
    assert_true(cfg.custom_endpoint);
    assert_int_equal(cfg.addressing, S3_ADDRESSING_PATH);
    assert_string_equal(cfg.access_key, "minio");
    assert_string_equal(cfg.session_token, ""); /* not applied to S3_* keys */
    /* AWS_ENDPOINT_URL_S3 wins; default ports are dropped; IPv6 */
    setenv("AWS_ENDPOINT_URL_S3", "https://[::1]:443", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_OK);
    assert_string_equal(cfg.host, "[::1]");
    assert_int_equal(cfg.port, 0);
    setenv("S3_ADDRESSING_STYLE", "virtual", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_OK);
    assert_int_equal(cfg.addressing, S3_ADDRESSING_VIRTUAL);

    const char *bad[] = {"ftp://h",     "http://",        "http://u:p@h",  "http://h/path",
                         "http://h:0",  "http://h:65536", "http://h:12ab", "http://h?x=1",
                         "http://[::1", "http://h h",     "http://[::1]x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cel_error_clear(&err);
        setenv("AWS_ENDPOINT_URL_S3", bad[i], 1);
        assert_int_equal(s3_config_from_env(&cfg, &err), CEL_ECONFIG);
        assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL_S3"));
    }
    cel_error_clear(&err);
    assert_int_equal(s3_config_set_endpoint(&cfg, "http://127.0.0.1:4599", &err), CEL_OK);
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_int_equal(cfg.port, 4599);
}

static void test_config_components(void **state) {
    (void)state;
    s3_config cfg;
    cel_error err = {0};
    /* seed 002's variables */
    setenv("S3_SCHEME", "http", 1);
    setenv("S3_HOST", "minio", 1);
    setenv("S3_PORT", "9000", 1);
    setenv("S3_ACCESS_KEY", "minio", 1);
    setenv("S3_SECRET_KEY", "minio123", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_OK);
    assert_string_equal(cfg.scheme, "http");
    assert_string_equal(cfg.host, "minio");
    assert_int_equal(cfg.port, 9000);
    assert_int_equal(cfg.addressing, S3_ADDRESSING_PATH);
    unsetenv("S3_SCHEME");
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_OK);
    assert_string_equal(cfg.scheme, "https");
    setenv("S3_PORT", "nine", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "S3_PORT"));
    cel_error_clear(&err);
    unsetenv("S3_HOST");
    setenv("S3_PORT", "9000", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "S3_HOST"));
    cel_error_clear(&err);
    setenv("S3_HOST", "minio", 1);
    setenv("S3_SCHEME", "gopher", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_ECONFIG);
    assert_non_null(strstr(err.msg, "S3_SCHEME"));
}

static void test_config_errors_name_variables(void **state) {
    (void)state;
    s3_config cfg;
    cel_error err = {0};
    struct {
        const char *var, *val, *other_var, *other_val, *want;
    } cases[] = {
        {"AWS_ACCESS_KEY_ID", "AK", NULL, NULL, "AWS_SECRET_ACCESS_KEY"},
        {"AWS_SECRET_ACCESS_KEY", "topsecret", NULL, NULL, "AWS_ACCESS_KEY_ID"},
        {"S3_ACCESS_KEY", "AK", NULL, NULL, "S3_SECRET_KEY"},
        {"AWS_REGION", "Not A Region", NULL, NULL, "AWS_REGION"},
        {"S3_ADDRESSING_STYLE", "sideways", NULL, NULL, "S3_ADDRESSING_STYLE"},
        {"S3_VERIFY_TLS", "perhaps", NULL, NULL, "S3_VERIFY_TLS"},
        {"AWS_CA_BUNDLE", "/nonexistent/ca.pem", NULL, NULL, "AWS_CA_BUNDLE"},
        {"S3_MAX_ATTEMPTS", "0", NULL, NULL, "S3_MAX_ATTEMPTS"},
        {"AWS_MAX_ATTEMPTS", "99", NULL, NULL, "AWS_MAX_ATTEMPTS"},
        {"S3_RETRY_BASE_MS", "12x", NULL, NULL, "S3_RETRY_BASE_MS"},
        {"S3_RETRY_BASE_MS", "5000", "S3_RETRY_MAX_MS", "100", "S3_RETRY_MAX_MS"},
        {"S3_MAX_XML_BYTES", "10", NULL, NULL, "S3_MAX_XML_BYTES"},
        {"AWS_SECRET_ACCESS_KEY", "has\nnewline", "AWS_ACCESS_KEY_ID", "AK",
         "AWS_SECRET_ACCESS_KEY"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_env(NULL);
        cel_error_clear(&err);
        setenv(cases[i].var, cases[i].val, 1);
        if (cases[i].other_var)
            setenv(cases[i].other_var, cases[i].other_val, 1);
        assert_int_equal(s3_config_from_env(&cfg, &err), CEL_ECONFIG);
        assert_non_null(strstr(err.msg, cases[i].want));
        /* secrets are never echoed */
        assert_null(strstr(err.msg, "topsecret"));
        assert_null(strstr(err.msg, "newline"));
    }
    /* empty values count as unset */
    clear_env(NULL);
    setenv("AWS_ACCESS_KEY_ID", "", 1);
    setenv("S3_MAX_ATTEMPTS", "", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_OK);
    /* no credentials: config loads, the client refuses with a clear message */
    s3_client *c = NULL;
    cel_error_clear(&err);
    assert_int_equal(s3_client_new(&cfg, &c, &err), CEL_ECONFIG);
    assert_null(c);
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));
    /* numbers and booleans parse */
    setenv("S3_MAX_ATTEMPTS", "7", 1);
    setenv("S3_VERIFY_TLS", "false", 1);
    setenv("S3_READ_TIMEOUT_MS", "1500", 1);
    assert_int_equal(s3_config_from_env(&cfg, &err), CEL_OK);
    assert_int_equal(cfg.max_attempts, 7);
    assert_false(cfg.verify_tls);
    assert_int_equal(cfg.read_timeout_ms, 1500);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_time),
        cmocka_unit_test(test_sigv4_get_object_range),
        cmocka_unit_test(test_sigv4_put_object),
        cmocka_unit_test(test_sigv4_get_lifecycle),
        cmocka_unit_test(test_sigv4_list_objects),
        cmocka_unit_test(test_sigv4_presign),
        cmocka_unit_test(test_sigv4_session_token_and_trim),
        cmocka_unit_test(test_sigv4_query_sort),
        cmocka_unit_test(test_sigv4_path_not_normalised),
        cmocka_unit_test(test_uri_encode_awkward_keys),
        cmocka_unit_test(test_list_parse_ok),
        cmocka_unit_test(test_list_parse_url_encoded),
        cmocka_unit_test(test_list_parse_malformed),
        cmocka_unit_test(test_xml_bounds),
        cmocka_unit_test(test_xml_scanner_events),
        cmocka_unit_test(test_error_parse),
        cmocka_unit_test(test_http_dates),
        cmocka_unit_test(test_iso_dates),
        cmocka_unit_test_setup(test_config_defaults_aws, clear_env),
        cmocka_unit_test_setup(test_config_endpoint_url, clear_env),
        cmocka_unit_test_setup(test_config_components, clear_env),
        cmocka_unit_test_setup(test_config_errors_name_variables, clear_env),
    };
    return cmocka_run_group_tests_name("s3", tests, NULL, NULL);
}
