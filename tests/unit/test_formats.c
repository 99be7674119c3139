/*
 * test_formats.c: unit tests of the formats subsystem pieces: names and defaults,
 * number text, UTF-8 validation, BOM/transcoding, delimiter detection, the stream
 * reader API (chunking invariance on generated input, sticky errors, sink errors,
 * ragged-row annotation, bounded memory), the file source and format detection.
 *
 * Not here: the per-case corpus (test_formats_corpus.c).
 */
#include "test_formats_render.h"

#include "formats/numtext.h"
#include "formats/readers.h"
#include "formats/textin.h"
#include "formats/utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rng(void) {
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}
static size_t rng_below(size_t n) {
    return n ? (size_t)(rng() % n) : 0;
}

static char tmpdir[256];

static int setup_tmpdir(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/celeriac-test-formats-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmpdir(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *write_tmp(const char *name, const void *data, size_t len) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

/* Renders data read one-shot, byte by byte, and in random pieces, asserts the
 * three agree, and returns the one-shot rendering (caller frees). */
static char *render_all_splits(cel_format fmt, const cel_reader_opts *o, const char *data,
                               size_t len, cel_status *st_out) {
    render_sink one;
    render_init(&one);
    cel_status st = render_stream(fmt, o, data, len, NULL, 0, &one);
    assert_string_equal(one.contract, "");
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (int round = 0; round < 4; round++) {
        size_t ncut = 0;
        if (round == 0) {
            for (size_t k = 1; k < len; k++)
                cuts[ncut++] = k;
        } else {
            for (size_t k = rng_below(7); k < len; k += 1 + rng_below(round == 3 ? 4000 : 40))
                cuts[ncut++] = k;
        }
        render_sink other;
        render_init(&other);
        cel_status st2 = render_stream(fmt, o, data, len, cuts, ncut, &other);
        assert_string_equal(other.contract, "");
        assert_int_equal(st, st2);
        if (strcmp(one.out.data, other.out.data) != 0)
            fail_msg("split round %d differs:\n--- one piece ---\n%s--- split ---\n%s", round,
                     one.out.data, other.out.data);
        render_free(&other);
    }
    free(cuts);
    if (st_out)
        *st_out = st;
    char *out = dbuf_take(&one.out);
    render_free(&one);
    return out;
}

/* ---- names and defaults ------------------------------------------------------ */

static void test_format_names(void **state) {
    (void)state;
    cel_error err;
    cel_error_clear(&err);
    cel_format f;
    const struct {
        const char *name;
        cel_format fmt;
    } ok[] = {{"csv", CEL_FMT_CSV},      {"CSV", CEL_FMT_CSV},
              {"json", CEL_FMT_JSON},    {"NDJSON", CEL_FMT_NDJSON},
              {"jsonl", CEL_FMT_NDJSON}, {"parquet", CEL_FMT_PARQUET},
              {"Auto", CEL_FMT_AUTO},    {"jsonlines", CEL_FMT_NDJSON}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(cel_format_parse(ok[i].name, &f, &err), CEL_OK);
        assert_int_equal(f, ok[i].fmt);
    }
    assert_string_equal(cel_format_name(CEL_FMT_CSV), "csv");
    assert_string_equal(cel_format_name(CEL_FMT_JSON), "json");
    assert_string_equal(cel_format_name(CEL_FMT_NDJSON), "ndjson");
    assert_string_equal(cel_format_name(CEL_FMT_PARQUET), "parquet");
    assert_string_equal(cel_format_name(CEL_FMT_AUTO), "auto");
    assert_string_equal(cel_format_name((cel_format)99), "unknown");
    assert_int_equal(cel_format_parse("xml", &f, &err), CEL_EINVAL);
    assert_non_null(strstr(err.msg, "unknown format 'xml'"));
    cel_error_clear(&err);
    assert_int_equal(cel_format_parse(NULL, &f, &err), CEL_EINVAL);
}

static void test_opts_defaults(void **state) {
    (void)state;
    cel_reader_opts o;
    memset(&o, 0, sizeof o);
    cel_reader_opts_defaults(&o);
    assert_int_equal(o.format, CEL_FMT_AUTO);
    assert_int_equal(o.delimiter, 0);
    assert_int_equal(o.quote, '"');
    assert_int_equal(o.header, 0); /* 0 means "no header" and is kept */
    assert_string_equal(o.encoding, "utf-8");
    assert_int_equal(o.max_line_bytes, 16u << 20);
    assert_int_equal(o.max_field_bytes, 1u << 20);
    assert_int_equal(o.max_columns, 4096);
    assert_int_equal(o.max_depth, 64);
    assert_int_equal(o.max_page_bytes, 256u << 20);
    cel_reader_opts p = {.header = -1, .quote = '\'', .max_columns = 7, .encoding = "latin-1"};
    cel_reader_opts_defaults(&p);
    assert_int_equal(p.header, 1);
    assert_int_equal(p.quote, '\'');
    assert_int_equal(p.max_columns, 7);
    assert_string_equal(p.encoding, "latin-1");
}

/* ---- number text ------------------------------------------------------------- */

static void test_numtext_python_repr(void **state) {
    (void)state;
    /* Expected texts are Python 3's repr() of the same values. */
    static const struct {
        double d;
        const char *text;
    } cases[] = {
        {0.1, "0.1"},
        {0.2, "0.2"},
        {0.3333333333333333, "0.3333333333333333"},
        {1e+16, "1e+16"},
        {1000000000000000.0, "1000000000000000.0"},
        {123456789.123, "123456789.123"},
        {1e-05, "1e-05"},
        {0.0001, "0.0001"},
        {1e+22, "1e+22"},
        {100.0, "100.0"},
        {1.2345678901234568e+16, "1.2345678901234568e+16"},
        {5e-324, "5e-324"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {2.225073858507201e-308, "2.225073858507201e-308"},
        {1.7976931348623157e+308, "1.7976931348623157e+308"},
        {9007199254740992.0, "9007199254740992.0"},
        {0.30000000000000004, "0.30000000000000004"},
        {1e-07, "1e-07"},
        {1.23e-18, "1.23e-18"},
        {4.35, "4.35"},
        {2.718281828459045, "2.718281828459045"},
        {-1.25e-10, "-1.25e-10"},
        {299792458.0, "299792458.0"},
        {6.02214076e+23, "6.02214076e+23"},
        {1e-310, "1e-310"},
        {5e-310, "5e-310"},
        {1e+23, "1e+23"},
        {8.41e+21, "8.41e+21"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {-2.5, "-2.5"},
    };
    char buf[NUMTEXT_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = numtext_double(cases[i].d, buf);
        assert_int_equal(n, strlen(buf));
        assert_string_equal(buf, cases[i].text);
    }
    numtext_double(NAN, buf);
    assert_string_equal(buf, "NaN");
    numtext_double(INFINITY, buf);
    assert_string_equal(buf, "Infinity");
    numtext_double(-INFINITY, buf);
    assert_string_equal(buf, "-Infinity");
    numtext_int(INT64_MIN, buf);
    assert_string_equal(buf, "-9223372036854775808");
}

/* Random doubles: the text round-trips and has the fewest possible digits. */
static void test_numtext_shortest_property(void **state) {
    (void)state;
    rng_state = 0x9E3779B97F4A7C15u;
    char buf[NUMTEXT_MAX], shorter[64];
    for (int k = 0; k < 200000; k++) {
        uint64_t bits = rng();
        if (k % 4 == 1)
            bits &= UINT64_C(0x800FFFFFFFFFFFFF); /* subnormals */
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isnan(d) || isinf(d))
            continue;
        size_t n = numtext_double(d, buf);
        assert_true(n > 0 && n < NUMTEXT_MAX);
        if (strtod(buf, NULL) != d)
            fail_msg("%s does not round-trip (bits %016llx)", buf, (unsigned long long)bits);
        /* count significant digits */
        int digits = 0, seen_nonzero = 0, trailing_zeros = 0;
        for (const char *p = buf; *p && *p != 'e'; p++) {
            if (*p < '0' || *p > '9')
                continue;
            if (*p != '0')
                seen_nonzero = 1;
            if (seen_nonzero) {
                digits++;
                trailing_zeros = *p == '0' ? trailing_zeros + 1 : 0;
            }
        }
        digits -= trailing_zeros; /* "100.0" has one significant digit */
        if (digits > 1) {
            snprintf(shorter, sizeof shorter, "%.*e", digits - 2, d);
            if (strtod(shorter, NULL) == d)
                fail_msg("%s is not the shortest: %s also round-trips", buf, shorter);
        }
    }
}

/* ---- UTF-8 ------------------------------------------------------------------- */

static void test_utf8(void **state) {
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        size_t bad;
    } cases[] = {
        {"", 0, 0},
        {"plain ascii text, long enough for the fast path", 48, 48},
        {"caf\xC3\xA9", 5, 5},
        {"\xE2\x82\xAC", 3, 3},
        {"\xF0\x9F\x98\x80", 4, 4},
        {"\xF4\x8F\xBF\xBF", 4, 4}, /* U+10FFFF */
        {"\xF4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"ab\xC0\xAF", 4, 2},       /* overlong */
        {"\xE0\x80\xAF", 3, 0},     /* overlong 3-byte */
        {"\xF0\x80\x80\xAF", 4, 0}, /* overlong 4-byte */
        {"\xED\xA0\x80", 3, 0},     /* surrogate */
        {"\xED\x9F\xBF", 3, 3},     /* U+D7FF */
        {"abcdefgh\x80", 9, 8},     /* lone continuation after the fast path */
        {"x\xE2\x82", 3, 1},        /* truncated */
        {"\xC3", 1, 0},
        {"\xFF", 1, 0},
        {"\xC3\x28", 2, 0},
        {"12345678\xC3\xA9"
         "12345678",
         18, 18},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t got = u8_invalid_at((const unsigned char *)cases[i].s, cases[i].len);
        if (got != cases[i].bad)
            fail_msg("case %zu: got %zu, want %zu", i, got, cases[i].bad);
    }
}

/* RFC 3629 section 4's table, one byte at a time: the reference for the fast paths. */
static size_t ref_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], need, lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c >= 0xE0 && c <= 0xEF)
            need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4)
            need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else
            return i;
        if (n - i - 1 < need || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += need + 1;
    }
    return n;
}

static void test_utf8_random(void **state) {
    (void)state;
    /* mostly ASCII, so that the word-at-a-time paths run, with every kind of lead and
     * continuation byte sprinkled in */
    static const unsigned char rare[] = {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF,
                                         0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF3, 0xF4, 0xF5, 0xFF};
    unsigned char buf[100];
    uint64_t x = 7;
    for (int it = 0; it < 300000; it++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t n = (size_t)(x >> 40) % 90, odds = 1 + (size_t)(x >> 20) % 64;
        static const char *const seqs[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                           "\xED\x9F\xBF", "\xF4\x8F\xBF\xBF"};
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            if ((x >> 33) % odds != 0) {
                buf[i] = (unsigned char)('a' + (x >> 50) % 26);
            } else if ((x >> 40) % 4 == 0) {
                buf[i] = rare[(x >> 45) % sizeof rare];
            } else { /* a valid sequence, cut by the end of the buffer */
                const char *q = seqs[(x >> 45) % 5];
                for (; *q && i < n; q++)
                    buf[i++] = (unsigned char)*q;
                i--;
            }
        }
        size_t want = ref_invalid_at(buf, n);
        size_t got = u8_invalid_at(buf, n);
        if (got != want)
            fail_msg("iteration %d: got %zu, want %zu", it, got, want);
    }
}

/* ---- textin ------------------------------------------------------------------ */

static cel_status collect_emit(void *ud, const char *data, size_t len, cel_error *err) {
    (void)err;
    return dbuf_append(ud, data, len);
}

static cel_status collect_emit_chunk(void *ud, const void *data, size_t len, cel_error *err) {
    (void)err;
    return dbuf_append(ud, data, len);
}

static char *txin_run(txin_encoding enc, const char *in, size_t len, size_t piece, cel_status *st) {
    txin *t = malloc(sizeof *t);
    assert_non_null(t);
    txin_init(t, enc);
    dbuf out;
    dbuf_init(&out, 0);
    cel_error err;
    cel_error_clear(&err);
    *st = CEL_OK;
    for (size_t at = 0; at < len && *st == CEL_OK; at += piece)
        *st = txin_feed(t, in + at, len - at < piece ? len - at : piece, collect_emit, &out, &err);
    if (*st == CEL_OK)
        *st = txin_finish(t, collect_emit, &out, &err);
    free(t);
    return dbuf_take(&out);
}

static void test_textin(void **state) {
    (void)state;
    cel_status st;
    for (size_t piece = 1; piece <= 4; piece++) {
        char *s = txin_run(TXIN_UTF8,
                           "\xEF\xBB\xBF"
                           "abc",
                           6, piece, &st);
        assert_int_equal(st, CEL_OK);
        assert_string_equal(s, "abc");
        free(s);
        s = txin_run(TXIN_UTF8,
                     "\xEF\xBB"
                     "x",
                     3, piece, &st); /* not a BOM: kept */
        assert_int_equal(st, CEL_OK);
        assert_string_equal(s, "\xEF\xBB"
                               "x");
        free(s);
        s = txin_run(TXIN_UTF8, "\xEF\xBB", 2, piece, &st); /* BOM prefix then EOF */
        assert_string_equal(s, "\xEF\xBB");
        free(s);
        s = txin_run(TXIN_UTF8, "a\xEF\xBB\xBF", 4, piece, &st); /* only leading */
        assert_string_equal(s, "a\xEF\xBB\xBF");
        free(s);
        s = txin_run(TXIN_UTF8,
                     "\xFF\xFE"
                     "a",
                     3, piece, &st);
        assert_int_equal(st, CEL_EUNSUPPORTED);
        free(s);
        s = txin_run(TXIN_UTF8,
                     "\xFF"
                     "a",
                     2, piece, &st); /* invalid, but not a BOM */
        assert_int_equal(st, CEL_OK);
        assert_string_equal(s, "\xFF"
                               "a");
        free(s);
    }
    /* latin-1: every byte maps to the code point of the same value. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    char *s = txin_run(TXIN_LATIN1, all, 256, 100, &st);
    assert_int_equal(st, CEL_OK);
    assert_int_equal(strlen(s + 1) + 1, 128 + 2 * 128); /* s[0] is NUL */
    assert_int_equal(u8_invalid_at((const unsigned char *)s + 1, strlen(s + 1)), strlen(s + 1));
    assert_memory_equal(s + 128 + 2 * (0xE9 - 0x80), "\xC3\xA9", 2); /* é */
    free(s);
    /* windows-1252: the 0x80..0x9F block. */
    s = txin_run(TXIN_CP1252, "\x80\x93\x94\x81\x9F\xE9", 6, 2, &st);
    assert_int_equal(st, CEL_OK);
    assert_string_equal(s, "\xE2\x82\xAC\xE2\x80\x9C\xE2\x80\x9D\xC2\x81\xC5\xB8\xC3\xA9");
    free(s);
    /* Output larger than the internal buffer arrives in several emits, in order. */
    size_t big = 100000;
    char *in = malloc(big);
    for (size_t i = 0; i < big; i++)
        in[i] = (char)(0x80 | (i % 64));
    s = txin_run(TXIN_CP1252, in, big, big, &st);
    assert_int_equal(st, CEL_OK);
    assert_true(strlen(s) >= 2 * big);
    free(s);
    free(in);

    txin_encoding enc;
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(txin_encoding_parse("ISO-8859-1", &enc, &err), CEL_OK);
    assert_int_equal(enc, TXIN_LATIN1);
    assert_int_equal(txin_encoding_parse("cp1252", &enc, &err), CEL_OK);
    assert_int_equal(enc, TXIN_CP1252);
    assert_int_equal(txin_encoding_parse(NULL, &enc, &err), CEL_OK);
    assert_int_equal(enc, TXIN_UTF8);
    assert_int_equal(txin_encoding_parse("utf-16", &enc, &err), CEL_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "utf-16"));
}

/* ---- delimiter detection --------------------------------------------------------- */

static void test_detect_delimiter(void **state) {
    (void)state;
    static const struct {
        const char *s;
        bool eof;
        char want;
    } cases[] = {
        {"a,b,c\n1,2,3\n", true, ','},
        {"a;b;c\n1;2;3\n", true, ';'},
        {"a\tb\n1\t2\n", true, '\t'},
        {"a|b\n1|2\n", true, '|'},
        {"name;amount\nA;1,5\nB;2,25\nC;3\n", true, ';'}, /* decimal commas */
        {"name\nSmith, John\nDoe\n", true, ','},          /* nothing consistent */
        {"single\n", true, ','},
        {"", true, ','},
        {"a;b\n\"x,y,z\";1\n\"p,q\";2\n", true, ';'}, /* commas inside quotes */
        {"a,b;c\n1,2;3\n", true, ','},                /* tie: ',' first */
        {"a;b;c;d;e", false, ';'},                    /* one incomplete line */
        {"a;b\n1;2\n3,4,5,6,7,8", false, ';'},        /* incomplete last line ignored */
        {"a;b\r\n1;2\r\n", true, ';'},
        {"\"multi\nline\";x\n1;2\n", true, ';'},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got = csvr_detect_delimiter(cases[i].s, strlen(cases[i].s), '"', cases[i].eof);
        if (got != cases[i].want)
            fail_msg("case %zu: got '%c', want '%c'", i, got, cases[i].want);
    }
}

/* The detection sample is the first 32 lines exactly, however the input arrives. */
static void test_detect_window_split(void **state) {
    (void)state;
    dbuf b;
    dbuf_init(&b, 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(dbuf_append_str(&b, i < 20 ? "a;b\n" : "a,b,c,d\n"), CEL_OK);
    cel_reader_opts o = {.header = 0};
    cel_status st;
    char *out = render_all_splits(CEL_FMT_CSV, &o, b.data, b.len, &st);
    assert_int_equal(st, CEL_OK);
    /* ';' wins 20:12 in the 32-line window (over all 40 lines ',' would win the tie). */
    assert_non_null(strstr(out, "row 1 line 1: text \"a\" | text \"b\""));
    free(out);
    dbuf_free(&b);
}

/* A quoted cell of exactly max_field_bytes fits however the input is cut, also
 * right after its closing quote (libcsv holds that quote until the next byte). */
static void test_quoted_cell_at_limit_split(void **state) {
    (void)state;
    static const char csv[] = "a,b\n\"1234\",x\n\"12\"\"\",y\n";
    cel_reader_opts o = {.header = 1, .delimiter = ',', .max_field_bytes = 4};
    cel_status st;
    char *out = render_all_splits(CEL_FMT_CSV, &o, csv, sizeof csv - 1, &st);
    assert_int_equal(st, CEL_OK);
    assert_non_null(strstr(out, "text \"1234\""));
    assert_non_null(strstr(out, "text \"12\\\"\""));
    free(out);
    /* one byte more is still too long, wherever the cut falls */
    static const char longer[] = "a,b\n\"12345\",x\n";
    out = render_all_splits(CEL_FMT_CSV, &o, longer, sizeof longer - 1, &st);
    assert_int_equal(st, CEL_ELIMIT);
    free(out);
}

/* ---- generated inputs: every split gives the same rows ---------------------------- */

static void gen_csv_cell(dbuf *b) {
    static const char *const plain[] = {
        "x", "hello", "12.5", "", "caf\xC3\xA9", "\xF0\x9F\x98\x80", "a b", "  "};
    static const char *const quoted[] = {
        "\"a,b\"", "\"say \"\"hi\"\"\"", "\"line\nbreak\"", "\"crlf\r\ninside\"", "\"\"",
        "\"\n\n\""};
    cel_status st = rng_below(3) == 0 ? dbuf_append_str(b, quoted[rng_below(6)])
                                      : dbuf_append_str(b, plain[rng_below(8)]);
    assert_int_equal(st, CEL_OK);
}

/* regular: every row has the same 2+ cells, so delimiter detection must find delim. */
static void gen_csv(dbuf *b, char delim, bool regular) {
    size_t rows = 1 + rng_below(50), cols = (regular ? 2 : 1) + rng_below(6);
    for (size_t r = 0; r < rows; r++) {
        size_t n = !regular && rng_below(5) == 0 ? 1 + rng_below(cols + 2) : cols; /* ragged */
        for (size_t c = 0; c < n; c++) {
            if (c)
                assert_int_equal(dbuf_append(b, &delim, 1), CEL_OK);
            gen_csv_cell(b);
        }
        static const char *const ends[] = {"\n", "\r\n", "\n\n", "\r\n\r\n", "\r"};
        if (r + 1 < rows || rng_below(2))
            assert_int_equal(dbuf_append_str(b, ends[rng_below(5)]), CEL_OK);
    }
}

static void gen_json_value(dbuf *b, int depth, bool one_line) {
    static const char *const scalars[] = {"0",
                                          "-17",
                                          "1.5",
                                          "1e300",
                                          "-0.0",
                                          "true",
                                          "false",
                                          "null",
                                          "NaN",
                                          "-Infinity",
                                          "Infinity",
                                          "123456789012345678901234",
                                          "\"s\"",
                                          "\"caf\\u00e9\"",
                                          "\"\\ud83d\\ude00\"",
                                          "\"q\\\"\\\\\\n\"",
                                          "\"\xE6\x97\xA5\"",
                                          "\"\"",
                                          "9223372036854775807",
                                          "0.1"};
    size_t k = rng_below(depth < 3 ? 24 : 20);
    cel_status st = CEL_OK;
    if (k < 20) {
        st = dbuf_append_str(b, scalars[k]);
    } else if (k < 22) {
        st = dbuf_append_str(b, rng_below(2) ? "[ " : "[");
        size_t n = rng_below(4);
        for (size_t i = 0; i < n && st == CEL_OK; i++) {
            if (i)
                st = dbuf_append_str(b, !one_line && rng_below(2) ? ",\n " : ",");
            gen_json_value(b, depth + 1, one_line);
        }
        if (st == CEL_OK)
            st = dbuf_append_str(b, "]");
    } else {
        st = dbuf_append_str(b, "{");
        size_t n = rng_below(4);
        for (size_t i = 0; i < n && st == CEL_OK; i++) {
            st = dbuf_printf(b, "%s\"k%zu\" : ", i ? "," : "", rng_below(5));
            gen_json_value(b, depth + 1, one_line);
        }
        if (st == CEL_OK)
            st = dbuf_append_str(b, "}");
    }
    assert_int_equal(st, CEL_OK);
}

static void gen_json_record(dbuf *b, bool one_line) {
    static const char *const keys[] = {"id", "name", "score", "tags", "n\\u00e4me", "x y"};
    size_t n = rng_below(5);
    cel_status st = dbuf_append_str(b, "{");
    for (size_t i = 0; i < n && st == CEL_OK; i++) {
        st = dbuf_printf(b, "%s\"%s\":%s", i ? "," : "", keys[rng_below(6)],
                         one_line || rng_below(3) ? "" : "\n  ");
        gen_json_value(b, 1, one_line);
    }
    if (st == CEL_OK)
        st = dbuf_append_str(b, "}");
    assert_int_equal(st, CEL_OK);
}

static void test_chunking_generated(void **state) {
    (void)state;
    rng_state = 42;
    cel_reader_opts o = {.header = 1};
    for (int iter = 0; iter < 150; iter++) {
        dbuf b;
        dbuf_init(&b, 0);
        cel_format fmt;
        int kind = iter % 3;
        if (kind == 0) {
            static const char delims[] = {',', ';', '\t', '|'};
            char d = delims[rng_below(4)];
            bool detect = iter % 2 == 0; /* detection then runs on every split too */
            gen_csv(&b, d, detect);
            fmt = CEL_FMT_CSV;
            o.delimiter = detect ? 0 : d;
        } else if (kind == 1) {
            assert_int_equal(dbuf_append_str(&b, rng_below(2) ? "\xEF\xBB\xBF[" : " [\n"), CEL_OK);
            size_t n = rng_below(12);
            for (size_t i = 0; i < n; i++) {
                if (i)
                    assert_int_equal(dbuf_append_str(&b, rng_below(2) ? ",\n" : ","), CEL_OK);
                gen_json_record(&b, false);
            }
            assert_int_equal(dbuf_append_str(&b, "]\n"), CEL_OK);
            fmt = CEL_FMT_JSON;
        } else {
            size_t n = rng_below(12);
            for (size_t i = 0; i < n; i++) {
                gen_json_record(&b, true);
                static const char *const ends[] = {"\n", "\r\n", "\n\n", "  \n"};
                if (i + 1 < n || rng_below(2))
                    assert_int_equal(dbuf_append_str(&b, ends[rng_below(4)]), CEL_OK);
            }
            fmt = CEL_FMT_NDJSON;
        }
        cel_status st;
        char *out = render_all_splits(fmt, &o, b.data ? b.data : "", b.len, &st);
        if (st != CEL_OK) {
            dbuf esc;
            dbuf_init(&esc, 0);
            render_quoted(&esc, b.data, b.len);
            fail_msg("generated input %d failed: %s\ninput: %s", iter, out, esc.data);
        }
        free(out);
        /* Truncations of the same input: errors must not depend on the split either. */
        for (int t = 0; t < 3 && b.len > 1; t++) {
            size_t cut = 1 + rng_below(b.len - 1);
            out = render_all_splits(fmt, &o, b.data, cut, NULL);
            free(out);
        }
        dbuf_free(&b);
    }
}

/* ---- stream reader API ------------------------------------------------------------ */

typedef struct extra_probe {
    size_t rows;
    size_t extra[8];
    char first[8][16];
} extra_probe;

static cel_status probe_cols(void *ud, size_t n, const char *const *names, cel_error *err) {
    (void)ud;
    (void)n;
    (void)names;
    (void)err;
    return CEL_OK;
}

static cel_status probe_row(void *ud, uint64_t row, uint64_t line, size_t ncols,
                            const cel_value *vals, cel_error *err) {
    (void)row;
    (void)line;
    (void)ncols;
    (void)vals;
    (void)err;
    extra_probe *p = ud;
    const cel_row_extra *x = cel_reader_row_extra();
    if (p->rows < 8) {
        p->extra[p->rows] = x->cells;
        snprintf(p->first[p->rows], sizeof p->first[0], "%.*s", (int)x->first_len,
                 x->first ? x->first : "");
    }
    p->rows++;
    return CEL_OK;
}

static void test_extra_cells(void **state) {
    (void)state;
    extra_probe p;
    memset(&p, 0, sizeof p);
    cel_row_sink sink = {.ud = &p, .on_columns = probe_cols, .on_row = probe_row};
    cel_reader_opts o = {.header = 1};
    cel_stream_reader *r = NULL;
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(cel_stream_reader_new(CEL_FMT_CSV, &o, &sink, &r, &err), CEL_OK);
    const char *in = "a,b\n1,2\n1,2,3,4\n1\n1,2,\"x,y\"\n";
    assert_int_equal(cel_stream_reader_feed(r, in, strlen(in), &err), CEL_OK);
    assert_int_equal(cel_stream_reader_finish(r, &err), CEL_OK);
    assert_int_equal(cel_stream_reader_rows(r), 4);
    cel_stream_reader_free(r);
    assert_int_equal(p.rows, 4);
    assert_int_equal(p.extra[0], 0);
    assert_int_equal(p.extra[1], 2);
    assert_string_equal(p.first[1], "3");
    assert_int_equal(p.extra[2], 0);
    assert_int_equal(p.extra[3], 1);
    assert_string_equal(p.first[3], "x,y");
    /* Outside on_row it reads as "no extra cells". */
    assert_int_equal(cel_reader_row_extra()->cells, 0);
    assert_null(cel_reader_row_extra()->first);
}

static void test_sink_error_sticky(void **state) {
    (void)state;
    render_sink rs;
    render_init(&rs);
    rs.stop_at_row = 2;
    cel_row_sink sink = render_as_sink(&rs);
    cel_stream_reader *r = NULL;
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(cel_stream_reader_new(CEL_FMT_NDJSON, NULL, &sink, &r, &err), CEL_OK);
    const char *in = "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n";
    assert_int_equal(cel_stream_reader_feed(r, in, strlen(in), &err), CEL_EDB);
    assert_string_equal(err.msg, "test sink refuses row 2");
    /* Later calls repeat the failure and deliver nothing more. */
    cel_error err2;
    cel_error_clear(&err2);
    assert_int_equal(cel_stream_reader_feed(r, in, strlen(in), &err2), CEL_EDB);
    assert_string_equal(err2.msg, "test sink refuses row 2");
    cel_error_clear(&err2);
    assert_int_equal(cel_stream_reader_finish(r, &err2), CEL_EDB);
    assert_int_equal(rs.rows, 2);
    cel_stream_reader_free(r);
    render_free(&rs);

    /* A parse error is sticky too. */
    render_init(&rs);
    sink = render_as_sink(&rs);
    cel_error_clear(&err);
    cel_reader_opts o = {.delimiter = ','}; /* detection would hold the input back */
    assert_int_equal(cel_stream_reader_new(CEL_FMT_CSV, &o, &sink, &r, &err), CEL_OK);
    assert_int_equal(cel_stream_reader_feed(r, "a\n\"x\"y\n", 7, &err), CEL_EPARSE);
    cel_error_clear(&err);
    assert_int_equal(cel_stream_reader_feed(r, "b\n", 2, &err), CEL_EPARSE);
    assert_non_null(strstr(err.msg, "CSV line 2"));
    cel_stream_reader_free(r);
    render_free(&rs);
}

static void test_api_misuse(void **state) {
    (void)state;
    render_sink rs;
    render_init(&rs);
    cel_row_sink sink = render_as_sink(&rs);
    cel_stream_reader *r = NULL;
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(cel_stream_reader_new(CEL_FMT_AUTO, NULL, &sink, &r, &err), CEL_EINVAL);
    assert_null(r);
    cel_error_clear(&err);
    assert_int_equal(cel_stream_reader_new(CEL_FMT_PARQUET, NULL, &sink, &r, &err), CEL_EINVAL);
    cel_error_clear(&err);
    assert_int_equal(cel_stream_reader_new(CEL_FMT_CSV, NULL, NULL, &r, &err), CEL_EINVAL);
    cel_error_clear(&err);
    cel_reader_opts o = {.delimiter = '"'};
    assert_int_equal(cel_stream_reader_new(CEL_FMT_CSV, &o, &sink, &r, &err), CEL_EINVAL);
    cel_error_clear(&err);
    o = (cel_reader_opts){.delimiter = '\n'};
    assert_int_equal(cel_stream_reader_new(CEL_FMT_CSV, &o, &sink, &r, &err), CEL_EINVAL);
    cel_error_clear(&err);
    o = (cel_reader_opts){.encoding = "koi8-r"};
    assert_int_equal(cel_stream_reader_new(CEL_FMT_JSON, &o, &sink, &r, &err), CEL_EUNSUPPORTED);
    cel_error_clear(&err);
    assert_int_equal(cel_stream_reader_new(CEL_FMT_JSON, NULL, &sink, &r, &err), CEL_OK);
    assert_int_equal(cel_stream_reader_feed(r, "[]", 2, &err), CEL_OK);
    assert_int_equal(cel_stream_reader_feed(r, "", 0, &err), CEL_OK);
    assert_int_equal(cel_stream_reader_finish(r, &err), CEL_OK);
    assert_int_equal(cel_stream_reader_feed(r, " ", 1, &err), CEL_EINVAL);
    cel_error_clear(&err);
    assert_int_equal(cel_stream_reader_finish(r, &err), CEL_EINVAL);
    cel_stream_reader_free(r);
    cel_stream_reader_free(NULL);
    assert_string_equal(rs.out.data, "columns 0:\n");
    render_free(&rs);
}

/* A sink that only counts, for the large inputs. */
static cel_status count_row(void *ud, uint64_t row, uint64_t line, size_t ncols,
                            const cel_value *vals, cel_error *err) {
    (void)row;
    (void)line;
    (void)ncols;
    (void)vals;
    (void)err;
    (*(uint64_t *)ud)++;
    return CEL_OK;
}

/* Feeds `total` bytes of generated text in 64 KiB pieces; returns the status and
 * how many bytes went in before it failed. */
typedef size_t (*gen_fn)(char *buf, size_t n, size_t at);

static cel_status feed_generated(cel_format fmt, const cel_reader_opts *o, gen_fn gen, size_t total,
                                 size_t *fed, cel_error *err) {
    uint64_t rows = 0;
    cel_row_sink sink = {.ud = &rows, .on_row = count_row};
    cel_stream_reader *r = NULL;
    cel_status st = cel_stream_reader_new(fmt, o, &sink, &r, err);
    assert_int_equal(st, CEL_OK);
    char *buf = malloc(65536);
    *fed = 0;
    while (*fed < total && st == CEL_OK) {
        size_t n = gen(buf, 65536, *fed);
        st = cel_stream_reader_feed(r, buf, n, err);
        *fed += n;
    }
    if (st == CEL_OK)
        st = cel_stream_reader_finish(r, err);
    free(buf);
    cel_stream_reader_free(r);
    return st;
}

static size_t gen_open_quote(char *buf, size_t n, size_t at) {
    memset(buf, 'x', n);
    if (at == 0)
        memcpy(buf, "a\n\"", 3);
    return n;
}

static size_t gen_long_json_string(char *buf, size_t n, size_t at) {
    memset(buf, 'y', n);
    if (at == 0)
        memcpy(buf, "[{\"a\":\"", 7);
    return n;
}

static size_t gen_ndjson_no_newline(char *buf, size_t n, size_t at) {
    memset(buf, ' ', n);
    if (at == 0)
        memcpy(buf, "{\"a\":[", 6);
    return n;
}

static void test_bounded_memory(void **state) {
    (void)state;
    cel_error err;
    size_t fed;
    /* A quoted cell that never ends: fails soon after max_field_bytes, not at EOF. */
    cel_reader_opts o = {.header = 1, .max_field_bytes = 1 << 20};
    cel_error_clear(&err);
    assert_int_equal(feed_generated(CEL_FMT_CSV, &o, gen_open_quote, 64u << 20, &fed, &err),
                     CEL_ELIMIT);
    assert_true(fed <= (1u << 20) + 2 * 65536);
    assert_non_null(strstr(err.msg, "CSV line 2: cell 1 is longer than max_field_bytes (1048576)"));
    /* JSON: a record that never ends stops at max_line_bytes. */
    o = (cel_reader_opts){.max_line_bytes = 1 << 20};
    cel_error_clear(&err);
    assert_int_equal(feed_generated(CEL_FMT_JSON, &o, gen_long_json_string, 64u << 20, &fed, &err),
                     CEL_ELIMIT);
    assert_true(fed <= (1u << 20) + 65536);
    assert_non_null(strstr(err.msg, "record is longer than max_line_bytes (1048576)"));
    cel_error_clear(&err);
    assert_int_equal(
        feed_generated(CEL_FMT_NDJSON, &o, gen_ndjson_no_newline, 64u << 20, &fed, &err),
        CEL_ELIMIT);
    assert_true(fed <= (1u << 20) + 65536);
}

static size_t gen_many_rows(char *buf, size_t n, size_t at) {
    (void)at;
    static const char row[] = "12345,\"quoted, text\",3.25,\"multi\nline\"\r\n";
    size_t rl = sizeof row - 1, k = 0;
    while (k + rl <= n) {
        memcpy(buf + k, row, rl);
        k += rl;
    }
    return k;
}

static void test_many_rows(void **state) {
    (void)state;
    cel_error err;
    cel_error_clear(&err);
    size_t fed;
    cel_reader_opts o = {.header = 0};
    assert_int_equal(feed_generated(CEL_FMT_CSV, &o, gen_many_rows, 20u << 20, &fed, &err), CEL_OK);
}

static void test_long_lines_and_depth(void **state) {
    (void)state;
    /* A CSV record much longer than libcsv's 64 KiB pieces, then a short one. */
    dbuf b;
    dbuf_init(&b, 0);
    assert_int_equal(dbuf_append_str(&b, "h\n\""), CEL_OK);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(dbuf_append_str(&b, "0123456789"), CEL_OK);
    assert_int_equal(dbuf_append_str(&b, "\n\"\nlast\n"), CEL_OK);
    cel_reader_opts o = {.header = 1};
    cel_status st;
    char *out = render_all_splits(CEL_FMT_CSV, &o, b.data, b.len, &st);
    assert_int_equal(st, CEL_OK);
    assert_non_null(strstr(out, "row 2 line 4: text \"last\""));
    free(out);
    dbuf_free(&b);

    /* max_depth above jansson's 2048 is capped there. */
    dbuf_init(&b, 0);
    assert_int_equal(dbuf_append_str(&b, "[{\"a\":"), CEL_OK);
    for (int i = 0; i < 2047; i++)
        assert_int_equal(dbuf_append_str(&b, "["), CEL_OK);
    for (int i = 0; i < 2047; i++)
        assert_int_equal(dbuf_append_str(&b, "]"), CEL_OK);
    assert_int_equal(dbuf_append_str(&b, "}]"), CEL_OK);
    o = (cel_reader_opts){.max_depth = 100000, .max_field_bytes = 1 << 20};
    render_sink rs;
    render_init(&rs);
    assert_int_equal(render_stream(CEL_FMT_JSON, &o, b.data, b.len, NULL, 0, &rs), CEL_OK);
    render_free(&rs);
    /* one level more */
    dbuf_reset(&b);
    assert_int_equal(dbuf_append_str(&b, "[{\"a\":"), CEL_OK);
    for (int i = 0; i < 2048; i++)
        assert_int_equal(dbuf_append_str(&b, "["), CEL_OK);
    render_init(&rs);
    assert_int_equal(render_stream(CEL_FMT_JSON, &o, b.data, b.len, NULL, 0, &rs), CEL_ELIMIT);
    assert_non_null(strstr(rs.out.data, "max_depth (2048)"));
    render_free(&rs);
    dbuf_free(&b);
}

/* ---- file source and detection ------------------------------------------------ */

static void test_file_source(void **state) {
    (void)state;
    const char *path = write_tmp("src.bin", "0123456789", 10);
    cel_source src;
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(cel_file_source_open(path, &src, &err), CEL_OK);
    assert_int_equal(src.size, 10);
    assert_string_equal(src.name, path);
    char buf[8] = {0};
    assert_int_equal(src.read_at(src.ud, 3, 4, buf, &err), CEL_OK);
    assert_memory_equal(buf, "3456", 4);
    assert_int_equal(src.read_at(src.ud, 8, 4, buf, &err), CEL_EIO);
    assert_non_null(strstr(err.msg, "unexpected end of file"));
    cel_error_clear(&err);
    dbuf got;
    dbuf_init(&got, 0);
    assert_int_equal(src.stream(src.ud, collect_emit_chunk, &got, &err), CEL_OK);
    assert_int_equal(got.len, 10);
    /* streaming twice works (pread, not the file position) */
    assert_int_equal(src.stream(src.ud, collect_emit_chunk, &got, &err), CEL_OK);
    assert_int_equal(got.len, 20);
    dbuf_free(&got);
    cel_file_source_close(&src);
    assert_null(src.ud);
    cel_file_source_close(&src); /* twice is harmless */

    char missing[600];
    snprintf(missing, sizeof missing, "%s/does-not-exist.csv", tmpdir);
    assert_int_equal(cel_file_source_open(missing, &src, &err), CEL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "does-not-exist.csv"));
    cel_error_clear(&err);
    assert_int_equal(cel_file_source_open(tmpdir, &src, &err), CEL_EINVAL);
    assert_non_null(strstr(err.msg, "is a directory"));
}

typedef struct detect_case {
    const char *name;
    const char *content;
    size_t len; /* 0: strlen(content) */
    cel_format opt;
    cel_status want_st;
    cel_format want_used;
    const char *want_text; /* substring of the rendering or of the error message;
                              NULL: any error is fine */
} detect_case;

static void test_read_source_detection(void **state) {
    (void)state;
    static const detect_case cases[] = {
        {"a.csv", "x;y\n1;2\n", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_CSV, "text \"1\" | text \"2\""},
        {"a.TSV", "x,y\tz\n1,2\t3\n", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_CSV, "\"x,y\" \"z\""},
        {"a.json", "[{\"a\":1}]", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_JSON, "int 1"},
        {"a.json", " {\"a\":1}\n{\"a\":2}\n", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_NDJSON,
         "row 2 line 2: int 2"},
        {"a.ndjson", "{\"a\":1}\n", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_NDJSON, "int 1"},
        {"dir.x/a.jsonl", "{\"a\":1}\n", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_NDJSON, "int 1"},
        {"noext", "\xEF\xBB\xBF \n[{\"a\":true}]", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_JSON,
         "bool true"},
        {"noext", "\n\n{\"a\":null}", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_NDJSON,
         "row 1 line 3: null"},
        {"noext.txt", "a,b\n1,2\n", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_CSV, "text \"2\""},
        {"empty", "", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_CSV, "columns 0:"},
        {"blank", "  \n ", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_CSV, "columns 1:"},
        /* Not real Parquet: only the routing is checked (any error, used = PARQUET). */
        {"p.bin", "PAR1\0\0\0\0PAR1", 12, CEL_FMT_AUTO, CEL_EINTERNAL, CEL_FMT_PARQUET, NULL},
        {"p.parquet", "whatever", 0, CEL_FMT_AUTO, CEL_EINTERNAL, CEL_FMT_PARQUET, NULL},
        {"PAR", "PAR", 0, CEL_FMT_AUTO, CEL_OK, CEL_FMT_CSV, "columns 1: \"PAR\""},
        {"a.csv.gz", "\x1F\x8B\x08", 0, CEL_FMT_AUTO, CEL_EUNSUPPORTED, CEL_FMT_AUTO,
         "compressed input (.gz) is not supported"},
        {"gz", "\x1F\x8B\x08\x00", 0, CEL_FMT_AUTO, CEL_EUNSUPPORTED, CEL_FMT_AUTO,
         "gzip-compressed"},
        {"a.csv", "[{\"a\":1}]", 0, CEL_FMT_JSON, CEL_OK, CEL_FMT_JSON, "int 1"},
        {"a.json", "{\"a\":1}", 0, CEL_FMT_JSON, CEL_EPARSE, CEL_FMT_JSON,
         "top-level value is an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const detect_case *c = &cases[i];
        char rel[64];
        snprintf(rel, sizeof rel, "d%zu", i);
        char dir[600];
        snprintf(dir, sizeof dir, "%s/%s", tmpdir, rel);
        mkdir(dir, 0700);
        char name[700];
        snprintf(name, sizeof name, "%s/%s", rel, c->name);
        if (strchr(c->name, '/')) {
            char sub[700];
            snprintf(sub, sizeof sub, "%s/%.*s", dir, (int)(strchr(c->name, '/') - c->name),
                     c->name);
            mkdir(sub, 0700);
        }
        const char *path = write_tmp(name, c->content, c->len ? c->len : strlen(c->content));
        cel_source src;
        cel_error err;
        cel_error_clear(&err);
        assert_int_equal(cel_file_source_open(path, &src, &err), CEL_OK);
        render_sink rs;
        render_init(&rs);
        cel_row_sink sink = render_as_sink(&rs);
        cel_reader_opts o = {.format = c->opt, .header = 1};
        cel_format used = (cel_format)77;
        cel_status st = cel_read_source(&src, &o, &sink, &used, &err);
        cel_file_source_close(&src);
        bool any_error = c->want_text == NULL; /* want_st is then only a placeholder */
        if ((any_error ? st == CEL_OK : st != c->want_st) || used != c->want_used)
            fail_msg("case %zu (%s): got %s/%s, want %s/%s: %s", i, c->name, cel_strerror(st),
                     cel_format_name(used), cel_strerror(c->want_st), cel_format_name(c->want_used),
                     err.msg);
        const char *hay = st == CEL_OK ? (rs.out.data ? rs.out.data : "") : err.msg;
        if (!any_error && strstr(hay, c->want_text) == NULL)
            fail_msg("case %zu (%s): \"%s\" not in:\n%s", i, c->name, c->want_text, hay);
        render_free(&rs);
    }
}

/* A pipe is a pure stream: detection works from the stream; Parquet cannot. */
static void test_pipe_source(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        const char *data = k == 0 ? "[{\"a\":1},{\"a\":2}]" : "PAR1xxxxPAR1";
        assert_int_equal(write(fds[1], data, strlen(data)), (ssize_t)strlen(data));
        close(fds[1]);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
        cel_source src;
        cel_error err;
        cel_error_clear(&err);
        assert_int_equal(cel_file_source_open(path, &src, &err), CEL_OK);
        assert_true(src.size < 0);
        assert_null(src.read_at);
        render_sink rs;
        render_init(&rs);
        cel_row_sink sink = render_as_sink(&rs);
        cel_format used;
        cel_status st = cel_read_source(&src, NULL, &sink, &used, &err);
        cel_file_source_close(&src);
        close(fds[0]);
        if (k == 0) {
            assert_int_equal(st, CEL_OK);
            assert_int_equal(used, CEL_FMT_JSON);
            assert_int_equal(rs.rows, 2);
        } else {
            assert_int_equal(st, CEL_EUNSUPPORTED);
            assert_int_equal(used, CEL_FMT_PARQUET);
            assert_non_null(strstr(err.msg, "random-access"));
        }
        render_free(&rs);
    }
}

/* A source with read_at but no stream function is streamed through read_at. */
typedef struct mem_src {
    const char *data;
    size_t len;
} mem_src;

static cel_status mem_read_at(void *ud, uint64_t off, size_t len, void *buf, cel_error *err) {
    mem_src *m = ud;
    if (off > m->len || len > m->len - off)
        return cel_fail(err, CEL_EIO, "beyond end");
    memcpy(buf, m->data + off, len);
    return CEL_OK;
}

static void test_read_at_only_source(void **state) {
    (void)state;
    mem_src m = {"a,b\n1,2\n3,4\n", 12};
    cel_source src = {.ud = &m, .name = "mem.csv", .size = 12, .read_at = mem_read_at};
    render_sink rs;
    render_init(&rs);
    cel_row_sink sink = render_as_sink(&rs);
    cel_error err;
    cel_error_clear(&err);
    cel_format used;
    cel_reader_opts o = {.header = 1};
    assert_int_equal(cel_read_source(&src, &o, &sink, &used, &err), CEL_OK);
    assert_int_equal(rs.rows, 2);
    render_free(&rs);
    cel_source none = {.name = "none"};
    render_init(&rs);
    sink = render_as_sink(&rs);
    assert_int_equal(cel_read_source(&none, &o, &sink, &used, &err), CEL_EINVAL);
    render_free(&rs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_opts_defaults),
        cmocka_unit_test(test_numtext_python_repr),
        cmocka_unit_test(test_numtext_shortest_property),
        cmocka_unit_test(test_utf8_random),
        cmocka_unit_test(test_quoted_cell_at_limit_split),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_textin),
        cmocka_unit_test(test_detect_delimiter),
        cmocka_unit_test(test_detect_window_split),
        cmocka_unit_test(test_chunking_generated),
        cmocka_unit_test(test_extra_cells),
        cmocka_unit_test(test_sink_error_sticky),
        cmocka_unit_test(test_api_misuse),
        cmocka_unit_test(test_bounded_memory),
        cmocka_unit_test(test_many_rows),
        cmocka_unit_test(test_long_lines_and_depth),
        cmocka_unit_test(test_file_source),
        cmocka_unit_test(test_read_source_detection),
        cmocka_unit_test(test_pipe_source),
        cmocka_unit_test(test_read_at_only_source),
    };
    return cmocka_run_group_tests_name("formats", tests, setup_tmpdir, teardown_tmpdir);
}
