/*
 * test_dq_pattern.c: the pattern-constraint matcher (src/quality/dq_pattern.c). A table of
 * patterns x subjects with the expected verdict, the patterns that must stay on glibc,
 * the locale rule, and a differential check against glibc's regexec on the anchored
 * pattern (as dq_schema.c ran it before) for generated patterns and subjects, in both
 * the DFA and the NFA-simulation mode. Also: matching from several threads at once, and
 * the schema wiring (subset patterns leave glibc, others keep it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "quality/dq_internal.h"
#include "quality/dq_pattern.h"

#include <jansson.h>
#include <locale.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* glibc's verdict, exactly as dq_schema.c computed it before: 1 match, 0 not, -1 invalid */
static int glibc_match(const char *pat, const char *s, size_t n) {
    size_t pl = strlen(pat);
    char *anch = malloc(pl + 5);
    assert_non_null(anch);
    snprintf(anch, pl + 5, "^(%s)$", pat);
    regex_t re;
    int rc = regcomp(&re, anch, REG_EXTENDED | REG_NOSUB);
    free(anch);
    if (rc != 0)
        return -1;
    regmatch_t range = {.rm_so = 0, .rm_eo = (regoff_t)n};
    int m = regexec(&re, s ? s : "", 1, &range, REG_STARTEND) == 0;
    regfree(&re);
    return m;
}

typedef struct row {
    const char *pat;
    const char *s;
    size_t n; /* 0 = strlen(s) unless s is "" */
    bool match;
} row;

#define R(p, s, m)                                                                                 \
    { p, s, sizeof(s) - 1, m }

static const row table[] = {
    /* the benchmark's patterns */
    R("user_[0-9]+", "user_92407", true),
    R("user_[0-9]+", "user_", false),
    R("user_[0-9]+", "user_12a", false),
    R("user_[0-9]+", "xuser_1", false),
    R("[0-9]{5}", "27382", true),
    R("[0-9]{5}", "2738", false),
    R("[0-9]{5}", "273820", false),
    R("[A-Z]{3}-[0-9]+", "ABC-12", true),
    R("[A-Z]{3}-[0-9]+", "AB-12", false),
    /* anchoring: the whole value, also across alternatives */
    R("[a-z]+|x[0-9]", "ab1", false),
    R("[a-z]+|x[0-9]", "x1", true),
    R("[a-z]+|x[0-9]", "x1y", false),
    R("a|b", "ab", false),
    /* empty pattern, empty groups and branches */
    R("", "", true),
    R("", "a", false),
    R("()", "", true),
    R("a|", "", true),
    R("|a", "a", true),
    R("()*", "", true),
    R("()+a", "a", true),
    /* quantifiers */
    R("a?", "", true),
    R("a*", "aaaa", true),
    R("a+", "", false),
    R("a{0}", "", true),
    R("a{0}b", "b", true),
    R("a{2,3}", "a", false),
    R("a{2,3}", "aa", true),
    R("a{2,3}", "aaa", true),
    R("a{2,3}", "aaaa", false),
    R("a{2,}", "aaaaaaa", true),
    R("a{2,}", "a", false),
    R("a{2}{3}", "aaaaaa", true),
    R("a{2}{3}", "aaaaa", false),
    R("a**", "aa", true),
    R("a+?", "", true),
    R("(a|ab)(c|bcd)(d*)", "abcd", true),
    R("(a*)*b", "aaab", true),
    R("(a|b*)*c", "abbac", true),
    R("((ab|c){1,3})+d", "abcabd", true),
    R("((ab|c){1,3})+d", "abd", true),
    R("((ab|c){1,3})+d", "d", false),
    R("(x|y){3,}", "xyx", true),
    R("(x|y){3,}", "xy", false),
    R("(a|b)*a(a|b){12}",
      "ba"
      "aaaaaaaaaaaa",
      true),
    R("(a|b)*a(a|b){12}",
      "ab"
      "aaaaaaaaaaaa",
      false),
    /* . and brackets: bytes, in the C locale */
    R(".", "\xc3\xa9", false), /* "é" is two bytes */
    R("..", "\xc3\xa9", true),
    R(".", "\n", true),
    R(".", "\0", false), /* RE_DOT_NOT_NULL */
    R("[^a]", "\0", true),
    R("[^a]", "\n", true),
    R("[^a]", "\xff", true),
    R("[^a]", "a", false),
    R("[]a]", "]", true),
    R("[^]a]", "]", false),
    R("[a-]", "-", true),
    R("[-a]", "-", true),
    R("[]-a]", "^", true),
    R("[\\d]", "\\", true),
    R("[\\d]", "d", true),
    R("[a-\xff]", "\xc3", true),
    R("[\xc3\xa9]", "\xa9", true),
    R("\xc3\xa9+", "\xc3\xa9\xa9", true),
    R("[[:digit:]]+", "0123456789", true),
    R("[[:alpha:]]", "\xe9", false),
    R("[[:alnum:]_]+", "a_1", true),
    R("[[:space:]]", "\t", true),
    R("[[:upper:]][[:lower:]]", "Ab", true),
    R("[[:xdigit:]]+", "09afAF", true),
    R("[[:xdigit:]]+", "g", false),
    R("[[:punct:]]", "!", true),
    R("[[:digit:]-]+", "1-2", true),
    R("[:alpha:]", "p", true), /* a plain bracket: ':', 'a', 'l', 'p', 'h' */
    /* escaped metacharacters and ordinary } ] */
    R("\\.\\*\\{\\}\\|\\(\\)\\[\\]\\\\", ".*{}|()[]\\", true),
    R("\\.", "x", false),
    R("a}", "a}", true),
    R("a]", "a]", true),
    R("\\-\\_", "-_", true),
    /* the cell bytes as they are: NUL inside a value */
    R("a.b", "a\0b", false),
    R("a[^x]b", "a\0b", true),
};

static const char *const fallback[] = {
    "^a",      "a$",           "(a)\\1",     "\\w+",  "\\bfoo",
    "a\\'",    "\\<a",         "\\n",        "\\d",   "a{,3}",
    "[[.a.]]", "[[=a=]]",      "[[:word:]]", "a)|(b", "a)b",
    "a{2000}", "(a{100}){20}", "[--/]",      "[!--]", "x{1}{1}{1}{1}{1}{1}{1}{1}{1}",
};

static void test_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const row *r = &table[i];
        for (unsigned fl = 0; fl <= DQ_PATTERN_NO_DFA; fl++) {
            const char *why = NULL;
            dq_pattern *p = dq_pattern_compile(r->pat, strlen(r->pat), fl, &why);
            if (p == NULL)
                fail_msg("row %zu /%s/ not compiled: %s", i, r->pat, why);
            if (dq_pattern_match(p, r->s, r->n) != r->match)
                fail_msg("row %zu /%s/ flags %u: expected %d", i, r->pat, fl, r->match);
            dq_pattern_free(p);
        }
        int g = glibc_match(r->pat, r->s, r->n);
        if (g != (int)r->match)
            fail_msg("row %zu /%s/: glibc says %d, the table %d", i, r->pat, g, r->match);
    }
    /* a NULL subject of length 0 is the empty string */
    dq_pattern *p = dq_pattern_compile("a*", 2, 0, NULL);
    assert_non_null(p);
    assert_true(dq_pattern_match(p, NULL, 0));
    assert_true(dq_pattern_is_dfa(p));
    dq_pattern_free(p);
    p = dq_pattern_compile("(a|b)*a(a|b){12}", 16, 0, NULL);
    assert_non_null(p);
    assert_false(dq_pattern_is_dfa(p)); /* 2^13 DFA states: simulated */
    dq_pattern_free(p);
}

static void test_fallback(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof fallback / sizeof fallback[0]; i++) {
        const char *why = NULL;
        dq_pattern *p = dq_pattern_compile(fallback[i], strlen(fallback[i]), 0, &why);
        if (p != NULL)
            fail_msg("/%s/ should stay on glibc", fallback[i]);
        assert_non_null(why);
    }
    /* group nesting over the bound */
    char deep[2 * (DQ_PATTERN_MAX_NEST + 1) + 2];
    size_t k = 0;
    for (int i = 0; i <= DQ_PATTERN_MAX_NEST; i++)
        deep[k++] = '(';
    deep[k++] = 'a';
    for (int i = 0; i <= DQ_PATTERN_MAX_NEST; i++)
        deep[k++] = ')';
    assert_null(dq_pattern_compile(deep, k, 0, NULL));
    dq_pattern *p = dq_pattern_compile(deep + 1, k - 2, 0, NULL); /* at the bound */
    assert_non_null(p);
    assert_true(dq_pattern_match(p, "a", 1));
    dq_pattern_free(p);
}

/* A 1 MB subject against a pattern that makes backtracking matchers exponential. */
static void test_linear(void **state) {
    (void)state;
    size_t n = 1 << 20;
    char *s = malloc(n);
    assert_non_null(s);
    memset(s, 'a', n);
    for (unsigned fl = 0; fl <= DQ_PATTERN_NO_DFA; fl++) {
        dq_pattern *p = dq_pattern_compile("(a*)*(a|b)*b", 12, fl, NULL);
        assert_non_null(p);
        assert_false(dq_pattern_match(p, s, n));
        s[n - 1] = 'b';
        assert_true(dq_pattern_match(p, s, n));
        s[n - 1] = 'a';
        dq_pattern_free(p);
    }
    free(s);
}

static void test_locale(void **state) {
    (void)state;
    dq_pattern *p = dq_pattern_compile(".", 1, 0, NULL);
    assert_non_null(p); /* the test runs in the "C" locale, like celeriac */
    dq_pattern_free(p);
    if (setlocale(LC_ALL, "C.UTF-8") == NULL) {
        print_message("C.UTF-8 locale not installed: locale fallback not exercised\n");
        return;
    }
    const char *why = NULL;
    p = dq_pattern_compile(".", 1, 0, &why);
    int g = glibc_match(".", "\xc3\xa9", 2); /* characters now: one '.' matches "é" */
    setlocale(LC_ALL, "C");
    assert_null(p);
    assert_string_equal(why, "locale is not C");
    assert_int_equal(g, 1);
}

/* ---------------------------------------------------------------- differential */

typedef struct rng {
    uint64_t x;
} rng;

static unsigned rnd(rng *r, unsigned n) {
    r->x ^= r->x << 13;
    r->x ^= r->x >> 7;
    r->x ^= r->x << 17;
    return (unsigned)((r->x >> 11) % n);
}

typedef struct buf {
    char s[256];
    size_t n;
    bool full;
} buf;

static void put(buf *b, const char *s) {
    size_t l = strlen(s);
    if (b->n + l >= sizeof b->s) {
        b->full = true;
        return;
    }
    memcpy(b->s + b->n, s, l);
    b->n += l;
    b->s[b->n] = '\0';
}

static void putc1(buf *b, char c) {
    char t[2] = {c, 0};
    put(b, t);
}

static const char lits[] = "abc-]}x\xc3\xa9 1.";

static void gen_alt(rng *r, buf *b, int depth);

static void gen_bracket(rng *r, buf *b) {
    static const char *const classes[] = {"[:digit:]", "[:alpha:]", "[:space:]",
                                          "[:upper:]", "[:punct:]", "[:xdigit:]"};
    put(b, "[");
    if (rnd(r, 3) == 0)
        put(b, "^");
    if (rnd(r, 6) == 0)
        put(b, "]");
    unsigned k = 1 + rnd(r, 3);
    for (unsigned i = 0; i < k; i++) {
        switch (rnd(r, 5)) {
        case 0:
            put(b, classes[rnd(r, 6)]);
            break;
        case 1: {
            char lo = "a0\x01\xa0"[rnd(r, 4)];
            putc1(b, lo);
            put(b, "-");
            putc1(b, (char)(lo + (char)rnd(r, 5)));
            break;
        }
        default:
            putc1(b, "abcx1\\.*\xc3\xa9\n"[rnd(r, 12)]);
        }
    }
    if (rnd(r, 6) == 0)
        put(b, "-");
    put(b, "]");
}

static void gen_atom(rng *r, buf *b, int depth) {
    switch (rnd(r, depth > 0 ? 8 : 6)) {
    case 0:
        put(b, ".");
        break;
    case 1:
        gen_bracket(r, b);
        break;
    case 2: {
        char e[3] = {'\\', ".*+?{}()[]|\\-_/"[rnd(r, 16)], 0};
        put(b, e);
        break;
    }
    case 6:
    case 7:
        put(b, "(");
        gen_alt(r, b, depth - 1);
        put(b, ")");
        break;
    default:
        putc1(b, lits[rnd(r, sizeof lits - 1)]);
    }
}

static void gen_item(rng *r, buf *b, int depth) {
    gen_atom(r, b, depth);
    /* at most two stacked quantifiers: glibc's regcomp computes epsilon closures that
     * grow steeply with stacked counted repetitions of groups */
    for (int k = 0; k < 2 && rnd(r, 3) == 0; k++) {
        static const char *const q[] = {"*",     "+",    "?",     "{0}",   "{1}", "{2}",
                                        "{0,1}", "{1,}", "{0,2}", "{2,3}", "{3,}"};
        put(b, q[rnd(r, 11)]);
    }
}

static void gen_alt(rng *r, buf *b, int depth) {
    do {
        unsigned k = rnd(r, 4);
        for (unsigned i = 0; i < k; i++)
            gen_item(r, b, depth);
        if (rnd(r, 3) != 0)
            break;
        put(b, "|");
    } while (1);
}

/* A subject: bytes of the pattern's alphabet plus a few others, NUL and newline. */
static size_t gen_subject(rng *r, char *s, size_t cap) {
    static const char alpha[] = "aaabbbccx-]}.\xc3\xa9 10\n\x01\xa2\\/";
    size_t n = rnd(r, 10);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++)
        s[i] = rnd(r, 40) == 0 ? '\0' : alpha[rnd(r, sizeof alpha - 1)];
    return n;
}

static void differential(rng *r, const char *pat, unsigned subjects, size_t *compiled,
                         size_t *checks, size_t *matches) {
    dq_pattern *p[2];
    for (unsigned fl = 0; fl <= DQ_PATTERN_NO_DFA; fl++)
        p[fl] = dq_pattern_compile(pat, strlen(pat), fl, NULL);
    size_t al = strlen(pat) + 5;
    char *anch = malloc(al);
    assert_non_null(anch);
    snprintf(anch, al, "^(%s)$", pat);
    regex_t re;
    int rc = regcomp(&re, anch, REG_EXTENDED | REG_NOSUB);
    free(anch);
    if (rc != 0) {
        /* outside what glibc accepts: dq_schema.c never asks us; nothing to compare */
        dq_pattern_free(p[0]);
        dq_pattern_free(p[1]);
        return;
    }
    if (p[0] == NULL || p[1] == NULL) {
        assert_true(p[0] == NULL && p[1] == NULL);
        regfree(&re);
        return;
    }
    ++*compiled;
    char s[16];
    for (unsigned j = 0; j < subjects; j++) {
        size_t n = gen_subject(r, s, sizeof s);
        regmatch_t range = {.rm_so = 0, .rm_eo = (regoff_t)n};
        bool g = regexec(&re, s, 1, &range, REG_STARTEND) == 0;
        for (int fl = 0; fl < 2; fl++)
            if (dq_pattern_match(p[fl], s, n) != g) {
                char hex[64] = "";
                for (size_t i = 0; i < n; i++)
                    snprintf(hex + 3 * i, 4, "%02x ", (unsigned char)s[i]);
                fail_msg("/%s/ mode %d on [%s]: glibc %d", pat, fl, hex, g);
            }
        ++*checks;
        *matches += g;
    }
    regfree(&re);
    dq_pattern_free(p[0]);
    dq_pattern_free(p[1]);
}

static void test_differential_generated(void **state) {
    (void)state;
    rng r = {0x9e3779b97f4a7c15u};
    size_t compiled = 0, checks = 0, matches = 0, tried = 0;
    for (unsigned it = 0; it < 4000; it++) {
        buf b = {.n = 0};
        b.s[0] = '\0';
        gen_alt(&r, &b, 3);
        if (b.full || b.n > 40) /* long ones take glibc's regcomp seconds under ASan */
            continue;
        tried++;
        differential(&r, b.s, 60, &compiled, &checks, &matches);
    }
    print_message("generated: %zu patterns, %zu compiled by us, %zu subjects, %zu matches\n", tried,
                  compiled, checks, matches);
    assert_true(compiled > tried / 2);
    assert_true(matches > checks / 50); /* both verdicts are exercised */
}

/* Random bytes from a metacharacter-heavy alphabet: what the parser does with odd input. */
static void test_differential_noise(void **state) {
    (void)state;
    static const char alpha[] = "ab-]}[^$.*+?{}(),|\\:0123d\xc3\xa9";
    rng r = {0x2545f4914f6cdd1du};
    size_t compiled = 0, checks = 0, matches = 0;
    for (unsigned it = 0; it < 20000; it++) {
        char pat[12];
        size_t n = 1 + rnd(&r, sizeof pat - 1);
        for (size_t i = 0; i + 1 < n; i++)
            pat[i] = alpha[rnd(&r, sizeof alpha - 1)];
        pat[n - 1] = '\0';
        differential(&r, pat, 8, &compiled, &checks, &matches);
    }
    print_message("noise: %zu compiled by us, %zu subjects, %zu matches\n", compiled, checks,
                  matches);
    assert_true(compiled > 100);
}

/* ---------------------------------------------------------------- threads */

typedef struct job {
    const dq_pattern *p[2];
    unsigned bad;
} job;

static void *worker(void *arg) {
    job *j = arg;
    char s[32];
    for (unsigned i = 0; i < 20000; i++) {
        int n = snprintf(s, sizeof s, "user_%u", i);
        if (!dq_pattern_match(j->p[0], s, (size_t)n))
            j->bad++;
        if (dq_pattern_match(j->p[1], s, (size_t)n) != (i % 2 == 0))
            j->bad++;
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    dq_pattern *a = dq_pattern_compile("user_[0-9]+", 11, 0, NULL);
    dq_pattern *b = dq_pattern_compile("user_[0-9]*[02468]", 18, DQ_PATTERN_NO_DFA, NULL);
    assert_non_null(a);
    assert_non_null(b);
    pthread_t t[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){.p = {a, b}, .bad = 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(jobs[i].bad, 0);
    }
    dq_pattern_free(a);
    dq_pattern_free(b);
}

/* ---------------------------------------------------------------- schema wiring */

static void test_schema(void **state) {
    (void)state;
    json_error_t je;
    /* group 1 is the ^(...)$ wrapper, so the back-reference to (a) is \2 */
    json_t *def = json_loads("{\"fields\":["
                             "{\"name\":\"a\",\"type\":\"string\","
                             "\"constraints\":{\"pattern\":\"user_[0-9]+\"}},"
                             "{\"name\":\"b\",\"type\":\"string\","
                             "\"constraints\":{\"pattern\":\"(a)\\\\2\"}}]}",
                             0, &je);
    assert_non_null(def);
    dq_schema *s = NULL;
    cel_error err = {0};
    if (dq_schema_parse(def, &s, &err) != CEL_OK)
        fail_msg("%s", err.msg);
    assert_non_null(s->fields[0].pat); /* ours */
    assert_null(s->fields[1].pat);     /* back-reference: glibc */
    dq_cell c = {.valid = true};
    cel_value v = {.kind = CEL_V_TEXT, .s = "user_7", .len = 6};
    assert_int_equal(dq_check_bounds(&s->fields[0], &v, &c, NULL), 0);
    v.s = "user_", v.len = 5;
    assert_int_equal(dq_check_bounds(&s->fields[0], &v, &c, NULL), 1u << DQ_B_PATTERN);
    v.s = "aa", v.len = 2;
    assert_int_equal(dq_check_bounds(&s->fields[1], &v, &c, NULL), 0);
    v.s = "ab", v.len = 2;
    assert_int_equal(dq_check_bounds(&s->fields[1], &v, &c, NULL), 1u << DQ_B_PATTERN);
    dq_schema_free(s);
    json_decref(def);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_locale),
        cmocka_unit_test(test_differential_generated),
        cmocka_unit_test(test_differential_noise),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
