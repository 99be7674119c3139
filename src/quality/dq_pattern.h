/*
 * dq_pattern.h: a linear-time matcher for the common subset of the POSIX extended
 * regular expressions that Table Schema `pattern` constraints use, so that the per-cell
 * check does not go through glibc's regexec (its backtracking-free but heavy search
 * takes a lock and allocates per call).
 *
 * Contract: dq_pattern_compile() turns the schema's pattern P into a program that
 * answers exactly what glibc's regexec answers for regcomp("^(P)$", REG_EXTENDED |
 * REG_NOSUB) on the same bytes with REG_STARTEND, i.e. "do the bytes s[0..n) as a whole
 * match P". It returns NULL (and says why) for anything outside the subset; the caller
 * then keeps using glibc. It does not validate: call it only for patterns regcomp
 * accepted, and keep regcomp's error messages for the rest.
 *
 * The subset: literal bytes (also bytes >= 0x80, taken one by one), `\` + an ASCII
 * punctuation character other than ` ' < > (a literal), `.`, bracket expressions with
 * single bytes, ranges between single bytes (neither end `-` nor `[`), `-` first or
 * last, `]` first, `^` negation and the twelve POSIX classes [:alpha:] [:digit:]
 * [:alnum:] [:upper:] [:lower:] [:space:] [:blank:] [:punct:] [:print:] [:graph:]
 * [:cntrl:] [:xdigit:], groups, `|`, and `*` `+` `?` `{m}` `{m,}` `{m,n}` (stacked
 * quantifiers too) with counts up to DQ_PATTERN_MAX_REPEAT. Falls back: anchors `^` `$`,
 * back-references and the GNU escapes (`\1`, `\w`, `\<`, `\'`, ...), `\` + a letter, digit
 * or non-ASCII byte, `{,n}`, collating elements `[. .]` and equivalence classes `[= =]`,
 * parentheses that do not balance inside P (glibc would pair them with the wrapper's),
 * and programs over the size bounds below.
 *
 * Locale: celeriac never calls setlocale, so the process runs in the "C" locale, where
 * glibc's regex works on bytes: `.` is any byte but NUL (RE_DOT_NOT_NULL), a negated
 * bracket is any byte not listed (NUL and newline included), ranges follow byte values,
 * classes are ASCII, and a multi-byte UTF-8 character is several "characters" (`.`
 * matches one byte of it, `^.$` does not match "é"). This module reproduces those byte
 * semantics and compiles only when LC_CTYPE and LC_COLLATE are "C"/"POSIX" with
 * MB_CUR_MAX == 1; in any other locale (for example after setlocale(LC_ALL, "C.UTF-8"),
 * where glibc matches characters) every pattern falls back to glibc.
 *
 * Method: the pattern is parsed into a small tree, counted repetitions are unrolled,
 * and Glushkov's position automaton (an epsilon-free NFA: V. M. Glushkov, "The abstract
 * theory of automata", 1961; first/last/follow sets as in Berry & Sethi 1986) is built
 * on bitsets. Its input bytes are grouped into equivalence classes and, when the result
 * stays within DQ_PATTERN_MAX_DFA_STATES, turned into a DFA by the subset construction
 * (Rabin & Scott 1959) once at compile time; matching is then one table lookup per
 * byte. Larger automata are simulated as sets of states advanced in lockstep (K.
 * Thompson, "Regular expression search algorithm", CACM 1968; R. Cox, "Regular
 * Expression Matching Can Be Simple And Fast", 2007). Both are O(n) in the subject
 * (times a bounded program size): no backtracking.
 *
 * Threads: a compiled program is immutable; dq_pattern_match() keeps its state on the
 * stack (at most two bitsets of DQ_PATTERN_MAX_POSITIONS bits), takes no lock and
 * touches no global state, so any number of threads may match with the same program.
 */
#ifndef CELERIAC_DQ_PATTERN_H
#define CELERIAC_DQ_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define DQ_PATTERN_MAX_POSITIONS 1024  /* NFA states (byte-consuming) after unrolling */
#define DQ_PATTERN_MAX_REPEAT 1024     /* largest m or n in {m,n} */
#define DQ_PATTERN_MAX_NEST 32         /* group nesting */
#define DQ_PATTERN_MAX_STACKED 8       /* quantifiers on one atom (a*+?{2}...) */
#define DQ_PATTERN_MAX_WORK (1u << 20) /* tree nodes visited while unrolling */
#define DQ_PATTERN_MAX_DFA_STATES 1024 /* else: NFA simulation */
#define DQ_PATTERN_MAX_DFA_CELLS 65535 /* DFA states x byte classes */
#define DQ_PATTERN_NO_DFA 1u           /* compile flag (tests): always simulate the NFA */

typedef struct dq_pattern dq_pattern;

/* Compiles the schema pattern pat[0..len) (not anchored; the match is always the whole
 * subject). Returns a new program, or NULL when the pattern is outside the subset, over
 * a bound, the locale is not "C", or memory ran out; *why (if why is not NULL) then
 * names the reason (a static string). flags: 0 or DQ_PATTERN_NO_DFA. */
dq_pattern *dq_pattern_compile(const char *pat, size_t len, unsigned flags, const char **why);

/* true when s[0..n) as a whole matches the program (s may be NULL when n == 0). */
bool dq_pattern_match(const dq_pattern *p, const char *s, size_t n);

/* true when the program runs as a DFA (false: NFA simulation). */
bool dq_pattern_is_dfa(const dq_pattern *p);

/* Frees a program; NULL is fine. */
void dq_pattern_free(dq_pattern *p);

#endif
