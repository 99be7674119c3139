/*
 * dq_pattern.c: the pattern-constraint matcher (contract, subset, locale rule and the
 * method with its sources are in dq_pattern.h).
 *
 * Pipeline of dq_pattern_compile():
 *  1. parse P into a tree of nodes (SET = one byte out of a 256-bit set, CAT, ALT, REP)
 *     and give up on anything outside the subset;
 *  2. a counting pass bounds what unrolling will create (positions, node visits, depth)
 *     before anything is allocated for it;
 *  3. Glushkov construction: every SET leaf visited becomes a position (counted
 *     repetitions visit their operand once per copy); first/last/follow are bitsets,
 *     position 0 is the start state;
 *  4. bytes that no position tells apart share a class;
 *  5. subset construction into a DFA over the classes, abandoned for the NFA simulation
 *     when it grows past the bounds.
 *
 * Not here: validation and error messages (glibc's regcomp stays the judge of what a
 * valid pattern is; dq_schema.c compiles with it first).
 */
#include "quality/dq_pattern.h"

#include <ctype.h>
#include <langinfo.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REP_INF UINT16_MAX
#define MAX_WORDS ((DQ_PATTERN_MAX_POSITIONS + 1 + 63) / 64)

typedef struct set256 {
    uint64_t w[4];
} set256;

enum { N_SET, N_CAT, N_ALT, N_REP };

typedef struct node {
    uint8_t kind;
    uint16_t min, max; /* N_REP; max == REP_INF for no upper bound */
    int32_t child;     /* first child (CAT: -1 = empty, ALT, REP) */
    int32_t next;      /* next sibling, -1 = none */
    int32_t set;       /* N_SET: index into sets */
} node;

typedef struct parser {
    const unsigned char *p, *end;
    node *nodes;
    size_t nn, ncap;
    set256 *sets;
    size_t ns, scap;
    const char *why;
} parser;

struct dq_pattern {
    bool dfa;
    uint16_t ncls;
    uint8_t cls[256];
    /* DFA: next[state * ncls + class] = next state * ncls; 0 = dead, ncls = start */
    uint16_t *next;
    uint8_t *accept; /* per state */
    /* NFA: positions 0..npos (0 = start), words per set */
    size_t words;
    uint64_t *follow;    /* (npos + 1) x words */
    uint64_t *clsmask;   /* ncls x words: positions whose byte set holds the class */
    uint64_t *acceptset; /* words: last positions, plus 0 when P matches "" */
};

/* ---------------------------------------------------------------- parsing */

static int32_t fail(parser *ps, const char *why) {
    if (ps->why == NULL)
        ps->why = why;
    return -1;
}

static int32_t new_node(parser *ps, uint8_t kind) {
    if (ps->nn >= ps->ncap)
        return fail(ps, "pattern too large"); /* cannot happen: ncap is 2 per byte + 4 */
    node *n = &ps->nodes[ps->nn];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->child = n->next = n->set = -1;
    return (int32_t)ps->nn++;
}

static int32_t new_set(parser *ps, const set256 *s) {
    int32_t n = new_node(ps, N_SET);
    if (n < 0)
        return -1;
    if (ps->ns >= ps->scap)
        return fail(ps, "pattern too large");
    ps->sets[ps->ns] = *s;
    ps->nodes[n].set = (int32_t)ps->ns++;
    return n;
}

static void set_add(set256 *s, unsigned c) {
    s->w[c >> 6] |= UINT64_C(1) << (c & 63);
}

static bool set_has(const set256 *s, unsigned c) {
    return (s->w[c >> 6] >> (c & 63)) & 1;
}

/* Appends child c to parent's child list; *tail tracks the last child. */
static void link_child(parser *ps, int32_t parent, int32_t *tail, int32_t c) {
    if (*tail < 0)
        ps->nodes[parent].child = c;
    else
        ps->nodes[*tail].next = c;
    *tail = c;
}

/* The POSIX classes, as glibc's build_charclass() fills them: ctype over all 256 bytes
 * (ASCII only, since we compile in the "C" locale). */
static bool add_class(set256 *s, const unsigned char *name, size_t len) {
    static const struct {
        const char *name;
        int (*fn)(int);
    } classes[] = {{"alpha", isalpha}, {"digit", isdigit}, {"alnum", isalnum},
                   {"upper", isupper}, {"lower", islower}, {"space", isspace},
                   {"blank", isblank}, {"punct", ispunct}, {"print", isprint},
                   {"graph", isgraph}, {"cntrl", iscntrl}, {"xdigit", isxdigit}};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        if (strlen(classes[i].name) == len && memcmp(classes[i].name, name, len) == 0) {
            for (unsigned c = 0; c < 256; c++)
                if (classes[i].fn((int)c))
                    set_add(s, c);
            return true;
        }
    }
    return false;
}

/* After '['. POSIX bracket expression, bytes only (see dq_pattern.h for the subset). */
static int32_t parse_bracket(parser *ps) {
    set256 s = {{0}};
    bool neg = false, first = true;
    if (ps->p < ps->end && *ps->p == '^') {
        neg = true;
        ps->p++;
    }
    for (;;) {
        if (ps->p >= ps->end)
            return fail(ps, "unterminated bracket");
        unsigned c = *ps->p;
        if (c == ']' && !first) {
            ps->p++;
            break;
        }
        if (c == '[' && ps->p + 1 < ps->end &&
            (ps->p[1] == '.' || ps->p[1] == '=' || ps->p[1] == ':')) {
            if (ps->p[1] != ':')
                return fail(ps, "collating element or equivalence class");
            const unsigned char *name = ps->p + 2, *q = name;
            while (q + 1 < ps->end && !(q[0] == ':' && q[1] == ']'))
                q++;
            if (q + 1 >= ps->end)
                return fail(ps, "unterminated character class");
            if (!add_class(&s, name, (size_t)(q - name)))
                return fail(ps, "unknown character class");
            ps->p = q + 2;
            if (ps->p < ps->end && *ps->p == '-' && ps->p + 1 < ps->end && ps->p[1] != ']')
                return fail(ps, "range from a class");
            first = false;
            continue;
        }
        ps->p++;
        if (c == '-' && !first && !(ps->p < ps->end && *ps->p == ']'))
            return fail(ps, "'-' inside a bracket");
        if (ps->p + 1 < ps->end && ps->p[0] == '-' && ps->p[1] != ']') {
            unsigned e = ps->p[1];
            if (c == '-' || e == '-' || e == '[')
                return fail(ps, "range with '-' or '[' as an end");
            if (e < c)
                return fail(ps, "reversed range");
            for (unsigned x = c; x <= e; x++)
                set_add(&s, x);
            ps->p += 2;
        } else {
            set_add(&s, c);
        }
        first = false;
    }
    if (neg)
        for (int i = 0; i < 4; i++)
            s.w[i] = ~s.w[i];
    return new_set(ps, &s);
}

static int32_t parse_alt(parser *ps, unsigned nest);

static int32_t parse_atom(parser *ps, unsigned nest) {
    unsigned c = *ps->p++;
    set256 s = {{0}};
    switch (c) {
    case '(': {
        if (nest >= DQ_PATTERN_MAX_NEST)
            return fail(ps, "groups nested too deeply");
        int32_t sub = parse_alt(ps, nest + 1);
        if (sub < 0)
            return -1;
        if (ps->p >= ps->end || *ps->p != ')')
            return fail(ps, "unbalanced '('");
        ps->p++;
        return sub;
    }
    case '*':
    case '+':
    case '?':
    case '{':
        return fail(ps, "quantifier without an operand");
    case '^':
    case '$':
        return fail(ps, "anchor inside the pattern");
    case '.':
        memset(s.w, 0xff, sizeof s.w);
        s.w[0] &= ~UINT64_C(1); /* RE_DOT_NOT_NULL */
        return new_set(ps, &s);
    case '[':
        return parse_bracket(ps);
    case '\\': {
        if (ps->p >= ps->end)
            return fail(ps, "trailing backslash");
        unsigned e = *ps->p++;
        if (e >= 0x80 || !ispunct((int)e) || e == '`' || e == '\'' || e == '<' || e == '>')
            return fail(ps, "escape outside the subset");
        set_add(&s, e);
        return new_set(ps, &s);
    }
    default:
        set_add(&s, c);
        return new_set(ps, &s);
    }
}

/* Reads a decimal count at ps->p; false when there is none or it exceeds the bound. */
static bool parse_count(parser *ps, uint16_t *out) {
    unsigned v = 0;
    if (ps->p >= ps->end || !isdigit(*ps->p))
        return false;
    while (ps->p < ps->end && isdigit(*ps->p)) {
        v = v * 10 + (unsigned)(*ps->p++ - '0');
        if (v > DQ_PATTERN_MAX_REPEAT)
            return false;
    }
    *out = (uint16_t)v;
    return true;
}

static int32_t parse_item(parser *ps, unsigned nest) {
    int32_t atom = parse_atom(ps, nest);
    unsigned stacked = 0;
    while (atom >= 0 && ps->p < ps->end &&
           (*ps->p == '*' || *ps->p == '+' || *ps->p == '?' || *ps->p == '{')) {
        uint16_t min, max;
        unsigned q = *ps->p++;
        if (++stacked > DQ_PATTERN_MAX_STACKED)
            return fail(ps, "too many stacked quantifiers");
        if (q == '*') {
            min = 0, max = REP_INF;
        } else if (q == '+') {
            min = 1, max = REP_INF;
        } else if (q == '?') {
            min = 0, max = 1;
        } else {
            if (!parse_count(ps, &min))
                return fail(ps, "interval outside the subset");
            max = min;
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                max = REP_INF;
                if (ps->p < ps->end && *ps->p != '}' && !parse_count(ps, &max))
                    return fail(ps, "interval outside the subset");
            }
            if (ps->p >= ps->end || *ps->p != '}' || min > max)
                return fail(ps, "interval outside the subset");
            ps->p++;
        }
        int32_t rep = new_node(ps, N_REP);
        if (rep < 0)
            return -1;
        ps->nodes[rep].min = min;
        ps->nodes[rep].max = max;
        ps->nodes[rep].child = atom;
        atom = rep;
    }
    return atom;
}

static int32_t parse_cat(parser *ps, unsigned nest) {
    int32_t cat = new_node(ps, N_CAT), tail = -1;
    if (cat < 0)
        return -1;
    while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
        int32_t it = parse_item(ps, nest);
        if (it < 0)
            return -1;
        link_child(ps, cat, &tail, it);
    }
    return cat;
}

static int32_t parse_alt(parser *ps, unsigned nest) {
    int32_t alt = new_node(ps, N_ALT), tail = -1;
    if (alt < 0)
        return -1;
    for (;;) {
        int32_t br = parse_cat(ps, nest);
        if (br < 0)
            return -1;
        link_child(ps, alt, &tail, br);
        if (ps->p < ps->end && *ps->p == '|') {
            ps->p++;
            continue;
        }
        return alt;
    }
}

/* ---------------------------------------------------------------- bounds */

typedef struct cost {
    uint64_t pos, visits; /* saturating */
    unsigned depth;
} cost;

static uint64_t sat_add(uint64_t a, uint64_t b) {
    return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b) {
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* How many copies of a REP's operand the construction visits. */
static unsigned rep_copies(const node *n) {
    if (n->max == REP_INF)
        return n->min > 0 ? n->min : 1;
    return n->max;
}

/* Depth is bounded by the parser (nesting x stacked quantifiers), so this recursion is. */
static cost measure(const parser *ps, int32_t i) {
    const node *n = &ps->nodes[i];
    cost r = {0, 1, 1};
    if (n->kind == N_SET) {
        r.pos = 1;
        return r;
    }
    if (n->kind == N_REP) {
        cost c = measure(ps, n->child);
        unsigned k = rep_copies(n);
        r.pos = sat_mul(c.pos, k);
        r.visits = sat_add(1, sat_mul(c.visits, k));
        r.depth = c.depth + 1;
        return r;
    }
    for (int32_t c = n->child; c >= 0; c = ps->nodes[c].next) {
        cost cc = measure(ps, c);
        r.pos = sat_add(r.pos, cc.pos);
        r.visits = sat_add(r.visits, cc.visits);
        if (cc.depth + 1 > r.depth)
            r.depth = cc.depth + 1;
    }
    return r;
}

/* ---------------------------------------------------------------- Glushkov */

typedef struct gl {
    const parser *ps;
    size_t words;
    size_t npos;      /* positions made so far; position 0 is the start */
    uint64_t *follow; /* (maxpos + 1) x words */
    set256 *pset;     /* byte set per position */
    uint64_t *tmp;    /* depth x 2 x words */
} gl;

static void bs_zero(uint64_t *a, size_t w) {
    memset(a, 0, w * sizeof *a);
}

static void bs_or(uint64_t *a, const uint64_t *b, size_t w) {
    for (size_t i = 0; i < w; i++)
        a[i] |= b[i];
}

/* follow[p] |= to, for every p in from */
static void bs_link(gl *g, const uint64_t *from, const uint64_t *to) {
    for (size_t i = 0; i < g->words; i++)
        for (uint64_t b = from[i]; b; b &= b - 1) {
            size_t p = i * 64 + (size_t)__builtin_ctzll(b);
            bs_or(g->follow + p * g->words, to, g->words);
        }
}

/* Concatenates a part (pf, pl, pn) onto the accumulated (first, last, *nullable). */
static void cat_step(gl *g, uint64_t *first, uint64_t *last, bool *nullable, const uint64_t *pf,
                     const uint64_t *pl, bool pn) {
    bs_link(g, last, pf);
    if (*nullable)
        bs_or(first, pf, g->words);
    if (pn)
        bs_or(last, pl, g->words);
    else
        memcpy(last, pl, g->words * sizeof *last);
    *nullable = *nullable && pn;
}

/* Adds the positions of node i; writes its first and last sets; returns nullable. */
static bool walk(gl *g, int32_t i, uint64_t *first, uint64_t *last, unsigned depth) {
    const node *n = &g->ps->nodes[i];
    size_t w = g->words;
    bs_zero(first, w);
    bs_zero(last, w);
    if (n->kind == N_SET) {
        size_t p = ++g->npos;
        g->pset[p] = g->ps->sets[n->set];
        first[p / 64] |= UINT64_C(1) << (p % 64);
        last[p / 64] |= UINT64_C(1) << (p % 64);
        return false;
    }
    uint64_t *tf = g->tmp + (size_t)depth * 2 * w, *tl = tf + w;
    bool nullable = n->kind != N_ALT;
    if (n->kind == N_REP) {
        unsigned k = rep_copies(n);
        for (unsigned c = 0; c < k; c++) {
            bool cn = walk(g, n->child, tf, tl, depth + 1);
            if (n->max == REP_INF && c + 1 == k) {
                bs_link(g, tl, tf); /* the last copy loops: X+ (or X* when min is 0) */
                cn = cn || n->min == 0;
            } else if (c >= n->min) {
                cn = true; /* optional copy: X{m,n} = X^m (X?)^(n-m) */
            }
            cat_step(g, first, last, &nullable, tf, tl, cn);
        }
        return nullable;
    }
    for (int32_t c = n->child; c >= 0; c = g->ps->nodes[c].next) {
        bool cn = walk(g, c, tf, tl, depth + 1);
        if (n->kind == N_CAT) {
            cat_step(g, first, last, &nullable, tf, tl, cn);
        } else {
            bs_or(first, tf, w);
            bs_or(last, tl, w);
            nullable = nullable || cn;
        }
    }
    return nullable;
}

/* ---------------------------------------------------------------- DFA */

typedef struct dfa_build {
    size_t words, ncls, nstates, cap;
    uint64_t *sets; /* cap x words */
    int32_t *hash;  /* hcap slots, -1 = empty */
    size_t hcap;
} dfa_build;

static uint64_t bs_hash(const uint64_t *a, size_t w) {
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < w; i++)
        h = (h ^ a[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

/* State id of set s, adding it when new; -1 when the state bound is reached. */
static int32_t dfa_state(dfa_build *d, const uint64_t *s) {
    size_t slot = (size_t)bs_hash(s, d->words) & (d->hcap - 1);
    for (;; slot = (slot + 1) & (d->hcap - 1)) {
        int32_t id = d->hash[slot];
        if (id < 0)
            break;
        if (memcmp(d->sets + (size_t)id * d->words, s, d->words * sizeof *s) == 0)
            return id;
    }
    if (d->nstates >= d->cap || (d->nstates + 1) * d->ncls > DQ_PATTERN_MAX_DFA_CELLS)
        return -1;
    memcpy(d->sets + d->nstates * d->words, s, d->words * sizeof *s);
    d->hash[slot] = (int32_t)d->nstates;
    return (int32_t)d->nstates++;
}

static bool bs_meets(const uint64_t *a, const uint64_t *b, size_t w) {
    for (size_t i = 0; i < w; i++)
        if (a[i] & b[i])
            return true;
    return false;
}

/* Builds p->next/p->accept from p's NFA; false (p unchanged) when over the bounds or
 * out of memory. */
static bool build_dfa(dq_pattern *p) {
    size_t w = p->words, ncls = p->ncls;
    dfa_build d = {.words = w, .ncls = ncls, .cap = DQ_PATTERN_MAX_DFA_STATES};
    d.hcap = 2 * DQ_PATTERN_MAX_DFA_STATES;
    d.sets = calloc(d.cap, w * sizeof *d.sets);
    d.hash = malloc(d.hcap * sizeof *d.hash);
    uint16_t *next = calloc(DQ_PATTERN_MAX_DFA_CELLS, sizeof *next);
    uint64_t u[MAX_WORDS], t[MAX_WORDS];
    bool ok = false;
    if (d.sets == NULL || d.hash == NULL || next == NULL)
        goto out;
    memset(d.hash, 0xff, d.hcap * sizeof *d.hash);
    bs_zero(t, w);
    (void)dfa_state(&d, t); /* 0: dead */
    t[0] = 1;
    (void)dfa_state(&d, t); /* 1: start = {position 0} */
    for (size_t s = 1; s < d.nstates; s++) {
        bs_zero(u, w);
        for (size_t i = 0; i < w; i++)
            for (uint64_t b = d.sets[s * w + i]; b; b &= b - 1)
                bs_or(u, p->follow + (i * 64 + (size_t)__builtin_ctzll(b)) * w, w);
        for (size_t k = 0; k < ncls; k++) {
            for (size_t i = 0; i < w; i++)
                t[i] = u[i] & p->clsmask[k * w + i];
            int32_t id = dfa_state(&d, t);
            if (id < 0)
                goto out;
            next[s * ncls + k] = (uint16_t)((size_t)id * ncls);
        }
    }
    p->accept = malloc(d.nstates);
    if (p->accept == NULL)
        goto out;
    for (size_t s = 0; s < d.nstates; s++)
        p->accept[s] = bs_meets(d.sets + s * w, p->acceptset, w);
    p->next = next;
    next = NULL;
    p->dfa = true;
    ok = true;
out:
    free(next);
    free(d.sets);
    free(d.hash);
    return ok;
}

/* ---------------------------------------------------------------- compile */

/* glibc's regex follows the thread's LC_CTYPE/LC_COLLATE; we reproduce the "C" one only. */
static bool locale_is_c(void) {
#ifdef _NL_LOCALE_NAME
    if (MB_CUR_MAX != 1)
        return false;
    const char *ct = nl_langinfo(_NL_LOCALE_NAME(LC_CTYPE));
    const char *co = nl_langinfo(_NL_LOCALE_NAME(LC_COLLATE));
    return ct && co && (strcmp(ct, "C") == 0 || strcmp(ct, "POSIX") == 0) &&
           (strcmp(co, "C") == 0 || strcmp(co, "POSIX") == 0);
#else
    return false;
#endif
}

dq_pattern *dq_pattern_compile(const char *pat, size_t len, unsigned flags, const char **why) {
    parser ps = {.p = (const unsigned char *)pat, .end = (const unsigned char *)pat + len};
    gl g = {0};
    dq_pattern *p = NULL;
    uint64_t *sig = NULL;
    const char *reason = NULL;
    if (!locale_is_c()) {
        reason = "locale is not C";
        goto out;
    }
    ps.ncap = 2 * len + 4;
    ps.scap = len + 1;
    ps.nodes = malloc(ps.ncap * sizeof *ps.nodes);
    ps.sets = malloc(ps.scap * sizeof *ps.sets);
    if (ps.nodes == NULL || ps.sets == NULL) {
        reason = "out of memory";
        goto out;
    }
    int32_t root = parse_alt(&ps, 0);
    if (root >= 0 && ps.p < ps.end)
        root = fail(&ps, "unbalanced ')'");
    if (root < 0) {
        reason = ps.why;
        goto out;
    }
    cost c = measure(&ps, root);
    if (c.pos > DQ_PATTERN_MAX_POSITIONS || c.visits > DQ_PATTERN_MAX_WORK) {
        reason = "program over the size bound";
        goto out;
    }

    g.ps = &ps;
    g.words = (size_t)(c.pos + 1 + 63) / 64;
    size_t w = g.words, npos_max = (size_t)c.pos;
    p = calloc(1, sizeof *p);
    g.follow = calloc((npos_max + 1) * w, sizeof *g.follow);
    g.pset = calloc(npos_max + 1, sizeof *g.pset);
    g.tmp = calloc((size_t)(c.depth + 1) * 2 * w, sizeof *g.tmp);
    if (p == NULL || g.follow == NULL || g.pset == NULL || g.tmp == NULL) {
        reason = "out of memory";
        goto out;
    }
    p->words = w;
    p->acceptset = calloc(w, sizeof *p->acceptset);
    uint64_t first[MAX_WORDS];
    if (p->acceptset == NULL) {
        reason = "out of memory";
        goto out;
    }
    bool nullable = walk(&g, root, first, p->acceptset, 0);
    memcpy(g.follow, first, w * sizeof *first); /* start -> first(P) */
    if (nullable)
        p->acceptset[0] |= 1;

    /* byte classes: bytes with the same column of position sets behave alike */
    sig = calloc(256 * w, sizeof *sig);
    p->clsmask = calloc(256 * w, sizeof *p->clsmask);
    if (sig == NULL || p->clsmask == NULL) {
        reason = "out of memory";
        goto out;
    }
    for (size_t q = 1; q <= g.npos; q++)
        for (unsigned b = 0; b < 256; b++)
            if (set_has(&g.pset[q], b))
                sig[b * w + q / 64] |= UINT64_C(1) << (q % 64);
    for (unsigned b = 0; b < 256; b++) {
        size_t k = 0;
        while (k < p->ncls && memcmp(p->clsmask + k * w, sig + b * w, w * sizeof *sig) != 0)
            k++;
        if (k == p->ncls)
            memcpy(p->clsmask + p->ncls++ * w, sig + b * w, w * sizeof *sig);
        p->cls[b] = (uint8_t)k;
    }
    p->follow = g.follow;
    g.follow = NULL;

    if (!(flags & DQ_PATTERN_NO_DFA) && build_dfa(p)) {
        free(p->follow);
        free(p->clsmask);
        free(p->acceptset);
        p->follow = p->clsmask = p->acceptset = NULL;
    }
out:
    free(ps.nodes);
    free(ps.sets);
    free(g.follow);
    free(g.pset);
    free(g.tmp);
    free(sig);
    if (reason != NULL) {
        dq_pattern_free(p);
        p = NULL;
    }
    if (why)
        *why = reason;
    return p;
}

/* ---------------------------------------------------------------- matching */

static bool match_nfa(const dq_pattern *p, const unsigned char *s, size_t n) {
    size_t w = p->words;
    uint64_t cur[MAX_WORDS] = {1}, nxt[MAX_WORDS];
    for (size_t j = 0; j < n; j++) {
        bs_zero(nxt, w);
        for (size_t i = 0; i < w; i++)
            for (uint64_t b = cur[i]; b; b &= b - 1)
                bs_or(nxt, p->follow + (i * 64 + (size_t)__builtin_ctzll(b)) * w, w);
        const uint64_t *m = p->clsmask + (size_t)p->cls[s[j]] * w;
        uint64_t any = 0;
        for (size_t i = 0; i < w; i++)
            any |= cur[i] = nxt[i] & m[i];
        if (!any)
            return false;
    }
    return bs_meets(cur, p->acceptset, w);
}

bool dq_pattern_match(const dq_pattern *p, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    if (!p->dfa)
        return match_nfa(p, u, n);
    const uint16_t *next = p->next;
    const uint8_t *cls = p->cls;
    size_t st = p->ncls; /* start */
    for (size_t j = 0; j < n; j++) {
        st = next[st + cls[u[j]]];
        if (st == 0)
            return false;
    }
    return p->accept[st / p->ncls];
}

bool dq_pattern_is_dfa(const dq_pattern *p) {
    return p->dfa;
}

void dq_pattern_free(dq_pattern *p) {
    if (p == NULL)
        return;
    free(p->next);
    free(p->accept);
    free(p->follow);
    free(p->clsmask);
    free(p->acceptset);
    free(p);
}
