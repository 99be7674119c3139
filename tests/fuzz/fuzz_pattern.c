/*
 * fuzz_pattern.c: differential libFuzzer harness for the pattern-constraint matcher
 * (src/quality/dq_pattern.c) against glibc's regexec, which it replaces for the subset.
 *
 * Input: byte 0 gives the pattern length L (mod 48), the next L bytes are the pattern
 * (cut at a NUL, as dq_schema.c's C string is), the rest is the subject. When our
 * compiler accepts the pattern (in DFA and in NFA-simulation mode alike, or neither),
 * glibc must accept ^(P)$ too, and every verdict (the subject and its prefixes) must
 * equal regexec's with REG_STARTEND; anything else aborts.
 *
 * Skipped for time, not for correctness (our side still runs, DFA against NFA): four
 * or more stacked quantifiers on one atom, a count above 3 on a group or after another
 * quantifier, three quantifiers on groups, or two with a count above 3 anywhere. Our
 * compiler bounds these, but glibc's regcomp is exponential in some of them
 * (`a++*+++++`: 15 s; `a??{22,}`: 13 s; `(a|b?){0,30}` twice: 11 s;
 * `(a|b||||||||){15,}` over 10 s under ASan), which would only produce libFuzzer
 * timeouts.
 */
#include "quality/dq_pattern.h"

#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* true when glibc's regcomp is likely to be slow (see the file comment) */
static bool glibc_slow(const char *p, size_t n) {
    unsigned group_quants = 0, run = 0;
    bool big = false, after_group = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\') {
            i++;
            after_group = false;
            run = 0;
            continue;
        }
        if (c == '{') {
            unsigned v = 0, most = 0;
            size_t j = i + 1;
            for (; j < n && p[j] != '}'; j++) {
                if (p[j] >= '0' && p[j] <= '9' && v < 1000)
                    v = v * 10 + (unsigned)(p[j] - '0');
                else
                    v = 0;
                if (v > most)
                    most = v;
            }
            if (most > 3) {
                big = true;
                if (after_group || run > 0)
                    return true; /* (..){15,}, a??{22,} */
            }
            if (after_group)
                group_quants++;
            if (++run >= 4)
                return true;
            i = j;
            continue;
        }
        if (c == '*' || c == '+' || c == '?') {
            if (after_group)
                group_quants++;
            if (++run >= 4)
                return true; /* a++*+++++: glibc copies the operand per '+' */
            continue;
        }
        after_group = c == ')';
        run = 0;
    }
    return group_quants >= 3 || (group_quants >= 2 && big);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    size_t take = data[0] % 48;
    if (take > size - 1)
        take = size - 1;
    char pat[48];
    memcpy(pat, data + 1, take);
    pat[take] = '\0';
    size_t plen = strlen(pat);
    /* ours reads the fuzzer's buffer in place (ASan sees any overread); glibc a copy */
    const char *subj = (const char *)data + 1 + take;
    size_t n = size - 1 - take;

    dq_pattern *p[2];
    p[0] = dq_pattern_compile(pat, plen, 0, NULL);
    p[1] = dq_pattern_compile(pat, plen, DQ_PATTERN_NO_DFA, NULL);
    if ((p[0] == NULL) != (p[1] == NULL))
        abort();
    if (p[0] == NULL)
        return 0;
    if (glibc_slow(pat, plen)) {
        if (dq_pattern_match(p[0], subj, n) != dq_pattern_match(p[1], subj, n))
            abort();
        dq_pattern_free(p[0]);
        dq_pattern_free(p[1]);
        return 0;
    }

    char anch[48 + 5];
    memcpy(anch, "^(", 2);
    memcpy(anch + 2, pat, plen);
    memcpy(anch + 2 + plen, ")$", 3);
    regex_t re;
    if (regcomp(&re, anch, REG_EXTENDED | REG_NOSUB) != 0)
        abort(); /* we accepted what glibc rejects: the parsers disagree */
    char *copy = malloc(n + 1);
    if (copy == NULL)
        abort();
    memcpy(copy, subj, n);
    copy[n] = '\0';
    /* the subject, and for short ones every prefix */
    for (size_t k = n;; k--) {
        regmatch_t range = {.rm_so = 0, .rm_eo = (regoff_t)k};
        bool g = regexec(&re, copy, 1, &range, REG_STARTEND) == 0;
        if (dq_pattern_match(p[0], subj, k) != g || dq_pattern_match(p[1], subj, k) != g)
            abort();
        if (k == 0 || n > 24)
            break;
    }
    free(copy);
    regfree(&re);
    dq_pattern_free(p[0]);
    dq_pattern_free(p[1]);
    return 0;
}
