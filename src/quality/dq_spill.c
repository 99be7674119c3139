/*
 * dq_spill.c: exact duplicate detection and exact order statistics with a
 * memory budget and temp-file spilling (see dq_spill.h for the design).
 *
 * Bounds: in-memory tables grow only through dq_pool_take(). Fixed extra
 * memory: 64 partition FILE buffers (64 KiB each) per spilled key set while it is
 * being written or split; for a spilled number store one 64 KiB buffer, and while
 * selecting, at most 6 radix histograms (512 KiB each) plus 6 candidate arrays
 * of at most 2 MiB. Recursion (re-partitioning) is limited to 4 levels.
 */
#include "quality/dq_spill.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPILL_BUF (64 * 1024)
#define KS_PARTS 64
#define KS_MAX_DEPTH 4
#define RS_COLLECT_CAP ((size_t)1 << 18)

static cel_status spill_open(const char *tmpdir, FILE **out, cel_error *err) {
    char path[4096];
    int w = snprintf(path, sizeof path, "%s/celeriac-dq-XXXXXX", tmpdir);
    if (w < 0 || (size_t)w >= sizeof path)
        return cel_fail(err, CEL_ECONFIG, "quality: spill directory path too long: %.200s", tmpdir);
    int fd = mkstemp(path);
    if (fd < 0)
        return cel_fail(err, CEL_EIO, "quality: cannot create a spill file in %.200s: %s", tmpdir,
                        strerror(errno));
    unlink(path);
    FILE *f = fdopen(fd, "w+b");
    if (f == NULL) {
        close(fd);
        return cel_fail(err, CEL_EIO, "quality: fdopen of a spill file failed: %s",
                        strerror(errno));
    }
    if (setvbuf(f, NULL, _IOFBF, SPILL_BUF) != 0) {
        fclose(f);
        return cel_fail(err, CEL_ENOMEM, "quality: no memory for a spill buffer");
    }
    *out = f;
    return CEL_OK;
}

static cel_status spill_write(FILE *f, const void *p, size_t size, size_t n, cel_error *err) {
    if (n && fwrite(p, size, n, f) != n)
        return cel_fail(err, CEL_EIO, "quality: writing a spill file failed: %s",
                        ferror(f) ? strerror(errno) : "short write");
    return CEL_OK;
}

static cel_status spill_rewind(FILE *f, cel_error *err) {
    if (fflush(f) != 0 || fseeko(f, 0, SEEK_SET) != 0)
        return cel_fail(err, CEL_EIO, "quality: rewinding a spill file failed: %s",
                        strerror(errno));
    return CEL_OK;
}

/* ================================================================ keyset */

typedef struct krec {
    uint64_t a, b, row; /* row == 0: empty slot */
} krec;

struct dq_keyset {
    dq_pool *pool;
    const char *tmpdir;
    krec *tab;
    size_t cap, n, taken;
    FILE *parts[KS_PARTS];
    bool spilled, finished;
    uint64_t keys, dups;
    dq_dup ex[DQ_KS_EXAMPLES];
    size_t nex;
};

cel_status dq_keyset_new(dq_pool *pool, const char *tmpdir, dq_keyset **out, cel_error *err) {
    dq_keyset *ks = calloc(1, sizeof *ks);
    if (ks == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory for a key set");
    ks->pool = pool;
    ks->tmpdir = tmpdir;
    *out = ks;
    return CEL_OK;
}

static void ks_example(dq_keyset *ks, uint64_t row, uint64_t first) {
    if (ks->nex == DQ_KS_EXAMPLES && row >= ks->ex[DQ_KS_EXAMPLES - 1].row)
        return;
    size_t j = ks->nex < DQ_KS_EXAMPLES ? ks->nex++ : DQ_KS_EXAMPLES - 1;
    while (j > 0 && ks->ex[j - 1].row > row) {
        ks->ex[j] = ks->ex[j - 1];
        j--;
    }
    ks->ex[j].row = row;
    ks->ex[j].first_row = first;
}

/* Inserts r into tab; returns the existing slot's row when the key is present, else 0. */
static uint64_t ktab_insert(krec *tab, size_t cap, const krec *r) {
    size_t i = (size_t)r->a & (cap - 1);
    while (tab[i].row != 0) {
        if (tab[i].a == r->a && tab[i].b == r->b)
            return tab[i].row;
        i = (i + 1) & (cap - 1);
    }
    tab[i] = *r;
    return 0;
}

static unsigned ks_part(const krec *r, int depth) {
    return (unsigned)((r->b >> (58 - 6 * depth)) & (KS_PARTS - 1));
}

static cel_status ks_spill(dq_keyset *ks, cel_error *err) {
    cel_status st = CEL_OK;
    for (int p = 0; p < KS_PARTS; p++) {
        st = spill_open(ks->tmpdir, &ks->parts[p], err);
        if (st != CEL_OK)
            return st;
    }
    for (size_t i = 0; i < ks->cap; i++) {
        if (ks->tab[i].row == 0)
            continue;
        st = spill_write(ks->parts[ks_part(&ks->tab[i], 0)], &ks->tab[i], sizeof(krec), 1, err);
        if (st != CEL_OK)
            return st;
    }
    free(ks->tab);
    ks->tab = NULL;
    dq_pool_give(ks->pool, ks->taken);
    ks->taken = ks->cap = ks->n = 0;
    ks->spilled = true;
    return CEL_OK;
}

static cel_status ks_grow(dq_keyset *ks, bool *spill, cel_error *err) {
    size_t ncap = ks->cap ? ks->cap * 2 : 1024;
    size_t bytes = ncap * sizeof(krec);
    *spill = false;
    if (!dq_pool_take(ks->pool, bytes)) {
        *spill = true;
        return ks_spill(ks, err);
    }
    krec *nt = calloc(ncap, sizeof *nt);
    if (nt == NULL) {
        dq_pool_give(ks->pool, bytes);
        *spill = true;
        return ks_spill(ks, err);
    }
    for (size_t i = 0; i < ks->cap; i++)
        if (ks->tab[i].row)
            (void)ktab_insert(nt, ncap, &ks->tab[i]);
    free(ks->tab);
    dq_pool_give(ks->pool, ks->taken);
    ks->tab = nt;
    ks->cap = ncap;
    ks->taken = bytes;
    return CEL_OK;
}

cel_status dq_keyset_add(dq_keyset *ks, dq_h128 key, uint64_t row, uint64_t *dup_of,
                         cel_error *err) {
    krec r = {key.a, key.b, row ? row : 1};
    if (dup_of)
        *dup_of = 0;
    ks->keys++;
    if (!ks->spilled && (ks->n + 1) * 10 > ks->cap * 7) {
        bool spilled;
        cel_status st = ks_grow(ks, &spilled, err);
        if (st != CEL_OK)
            return st;
    }
    if (ks->spilled)
        return spill_write(ks->parts[ks_part(&r, 0)], &r, sizeof r, 1, err);
    uint64_t first = ktab_insert(ks->tab, ks->cap, &r);
    if (first) {
        ks->dups++;
        ks_example(ks, r.row, first);
        if (dup_of)
            *dup_of = first;
    } else {
        ks->n++;
    }
    return CEL_OK;
}

/* Loads one partition file of `count` records and finds its duplicates, or
 * splits it further when it does not fit the pool. */
static cel_status ks_process(dq_keyset *ks, FILE *f, uint64_t count, int depth, krec *buf,
                             cel_error *err) {
    cel_status st = spill_rewind(f, err);
    if (st != CEL_OK)
        return st;
    if (count == 0)
        return CEL_OK;
    size_t cap = 16;
    while ((uint64_t)cap * 7 < count * 10 + 10)
        cap *= 2;
    size_t bytes = cap * sizeof(krec);
    const size_t nbuf = SPILL_BUF / sizeof(krec);
    if (dq_pool_take(ks->pool, bytes)) {
        krec *tab = calloc(cap, sizeof *tab);
        if (tab == NULL) {
            dq_pool_give(ks->pool, bytes);
            return cel_fail(err, CEL_ENOMEM, "quality: out of memory loading a key partition");
        }
        size_t got;
        while ((got = fread(buf, sizeof(krec), nbuf, f)) > 0) {
            for (size_t i = 0; i < got; i++) {
                uint64_t first = ktab_insert(tab, cap, &buf[i]);
                if (first) {
                    ks->dups++;
                    ks_example(ks, buf[i].row, first);
                }
            }
        }
        bool bad = ferror(f) != 0;
        free(tab);
        dq_pool_give(ks->pool, bytes);
        if (bad)
            return cel_fail(err, CEL_EIO, "quality: reading a spill file failed");
        return CEL_OK;
    }
    if (depth >= KS_MAX_DEPTH)
        return cel_fail(err, CEL_ELIMIT,
                        "quality: a uniqueness partition of %llu keys does not fit the memory "
                        "budget even after %d levels of partitioning; raise "
                        "CELERIAC_DQ_MEMORY_BUDGET",
                        (unsigned long long)count, depth);
    FILE *sub[KS_PARTS] = {0};
    uint64_t subn[KS_PARTS] = {0};
    for (int p = 0; p < KS_PARTS && st == CEL_OK; p++)
        st = spill_open(ks->tmpdir, &sub[p], err);
    size_t got;
    while (st == CEL_OK && (got = fread(buf, sizeof(krec), nbuf, f)) > 0) {
        for (size_t i = 0; i < got && st == CEL_OK; i++) {
            unsigned p = ks_part(&buf[i], depth);
            subn[p]++;
            st = spill_write(sub[p], &buf[i], sizeof(krec), 1, err);
        }
    }
    if (st == CEL_OK && ferror(f))
        st = cel_fail(err, CEL_EIO, "quality: reading a spill file failed");
    /* the records of this level are consumed: truncate to give the disk back */
    if (st == CEL_OK && ftruncate(fileno(f), 0) != 0)
        st = cel_fail(err, CEL_EIO, "quality: truncating a spill file failed: %s", strerror(errno));
    for (int p = 0; p < KS_PARTS; p++) {
        if (st == CEL_OK)
            st = ks_process(ks, sub[p], subn[p], depth + 1, buf, err);
        if (sub[p])
            fclose(sub[p]);
    }
    return st;
}

cel_status dq_keyset_finish(dq_keyset *ks, cel_error *err) {
    if (ks->finished || !ks->spilled) {
        ks->finished = true;
        return CEL_OK;
    }
    ks->finished = true;
    krec *buf = malloc(SPILL_BUF);
    if (buf == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory for a spill read buffer");
    cel_status st = CEL_OK;
    for (int p = 0; p < KS_PARTS && st == CEL_OK; p++) {
        FILE *f = ks->parts[p];
        if (fflush(f) != 0) {
            st = cel_fail(err, CEL_EIO, "quality: flushing a spill file failed: %s",
                          strerror(errno));
            break;
        }
        off_t size = ftello(f);
        if (size < 0) {
            st = cel_fail(err, CEL_EIO, "quality: sizing a spill file failed");
            break;
        }
        st = ks_process(ks, f, (uint64_t)size / sizeof(krec), 1, buf, err);
        fclose(f);
        ks->parts[p] = NULL;
    }
    free(buf);
    return st;
}

uint64_t dq_keyset_keys(const dq_keyset *ks) {
    return ks->keys;
}

uint64_t dq_keyset_duplicates(const dq_keyset *ks) {
    return ks->dups;
}

bool dq_keyset_spilled(const dq_keyset *ks) {
    return ks->spilled;
}

const dq_dup *dq_keyset_examples(const dq_keyset *ks, size_t *n) {
    *n = ks->nex;
    return ks->ex;
}

void dq_keyset_free(dq_keyset *ks) {
    if (ks == NULL)
        return;
    for (int p = 0; p < KS_PARTS; p++)
        if (ks->parts[p])
            fclose(ks->parts[p]);
    if (ks->tab) {
        free(ks->tab);
        dq_pool_give(ks->pool, ks->taken);
    }
    free(ks);
}

/* ================================================================ numstore */

#define NS_WBUF 4096 /* records batched per fwrite once spilled */

struct dq_numstore {
    dq_pool *pool;
    const char *tmpdir;
    dq_nrec *a;
    size_t n, cap, taken;
    FILE *f;
    dq_nrec *wbuf; /* NS_WBUF records, allocated at spill time */
    size_t wn;
    uint64_t count;
};

static cel_status ns_flush(dq_numstore *ns, cel_error *err) {
    cel_status st = spill_write(ns->f, ns->wbuf, sizeof(dq_nrec), ns->wn, err);
    ns->wn = 0;
    return st;
}

static cel_status ns_append(dq_numstore *ns, const dq_nrec *r, cel_error *err) {
    ns->wbuf[ns->wn++] = *r;
    return ns->wn == NS_WBUF ? ns_flush(ns, err) : CEL_OK;
}

cel_status dq_numstore_new(dq_pool *pool, const char *tmpdir, dq_numstore **out, cel_error *err) {
    dq_numstore *ns = calloc(1, sizeof *ns);
    if (ns == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory for a number store");
    ns->pool = pool;
    ns->tmpdir = tmpdir;
    *out = ns;
    return CEL_OK;
}

static cel_status ns_spill(dq_numstore *ns, cel_error *err) {
    ns->wbuf = malloc(NS_WBUF * sizeof(dq_nrec));
    if (ns->wbuf == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory for a spill buffer");
    cel_status st = spill_open(ns->tmpdir, &ns->f, err);
    if (st != CEL_OK)
        return st;
    st = spill_write(ns->f, ns->a, sizeof(dq_nrec), ns->n, err);
    free(ns->a);
    ns->a = NULL;
    dq_pool_give(ns->pool, ns->taken);
    ns->taken = ns->cap = ns->n = 0;
    return st;
}

cel_status dq_numstore_add(dq_numstore *ns, double v, uint64_t row, cel_error *err) {
    dq_nrec r = {v == 0 ? 0.0 : v, row};
    ns->count++;
    if (ns->f)
        return ns_append(ns, &r, err);
    if (ns->n == ns->cap) {
        size_t ncap = ns->cap ? ns->cap * 2 : 256;
        size_t bytes = ncap * sizeof(dq_nrec);
        if (!dq_pool_take(ns->pool, bytes - ns->taken)) {
            cel_status st = ns_spill(ns, err);
            if (st != CEL_OK)
                return st;
            return ns_append(ns, &r, err);
        }
        dq_nrec *na = realloc(ns->a, bytes);
        if (na == NULL) {
            dq_pool_give(ns->pool, bytes - ns->taken);
            cel_status st = ns_spill(ns, err);
            if (st != CEL_OK)
                return st;
            return ns_append(ns, &r, err);
        }
        ns->a = na;
        ns->cap = ncap;
        ns->taken = bytes;
    }
    ns->a[ns->n++] = r;
    return CEL_OK;
}

uint64_t dq_numstore_count(const dq_numstore *ns) {
    return ns->count;
}

bool dq_numstore_spilled(const dq_numstore *ns) {
    return ns->f != NULL;
}

cel_status dq_numstore_scan(dq_numstore *ns, dq_nrec_fn fn, void *ud, cel_error *err) {
    if (ns->f == NULL)
        return ns->n ? fn(ud, ns->a, ns->n, err) : CEL_OK;
    cel_status st = ns_flush(ns, err);
    if (st == CEL_OK)
        st = spill_rewind(ns->f, err);
    if (st != CEL_OK)
        return st;
    const size_t nbuf = SPILL_BUF / sizeof(dq_nrec);
    dq_nrec *buf = malloc(SPILL_BUF);
    if (buf == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory for a spill read buffer");
    size_t got;
    while (st == CEL_OK && (got = fread(buf, sizeof(dq_nrec), nbuf, ns->f)) > 0)
        st = fn(ud, buf, got, err);
    if (st == CEL_OK && ferror(ns->f))
        st = cel_fail(err, CEL_EIO, "quality: reading a spill file failed");
    free(buf);
    if (st == CEL_OK && fseeko(ns->f, 0, SEEK_END) != 0)
        st = cel_fail(err, CEL_EIO, "quality: seeking a spill file failed");
    return st;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Places the values of the sorted ranks r[0..nr) of v[lo..hi) at their sorted
 * positions (Hoare's FIND generalised to several ranks, with a three-way
 * partition so repeated values cost nothing). Falls back to qsort of the range
 * when the recursion budget `depth` runs out (bad pivots), so the worst case
 * stays O(n log n); recursion depth is bounded by that budget. */
static void multiselect(double *v, size_t lo, size_t hi, const uint64_t *r, size_t nr, int depth) {
    while (nr > 0 && hi - lo > 16) {
        if (depth-- <= 0) {
            qsort(v + lo, hi - lo, sizeof(double), cmp_double);
            return;
        }
        double a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
        double p = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (v[i] < p) {
                double t = v[lt];
                v[lt++] = v[i];
                v[i++] = t;
            } else if (v[i] > p) {
                double t = v[--gt];
                v[gt] = v[i];
                v[i] = t;
            } else {
                i++;
            }
        }
        size_t nl = 0, ne = 0;
        while (nl < nr && r[nl] < lt)
            nl++;
        while (nl + ne < nr && r[nl + ne] < gt)
            ne++;
        /* recurse into the smaller rank set, loop on the other */
        if (nl > 0)
            multiselect(v, lo, lt, r, nl, depth);
        r += nl + ne;
        nr -= nl + ne;
        lo = gt;
    }
    if (nr > 0 && hi - lo > 1) /* small range: insertion sort */
        for (size_t i = lo + 1; i < hi; i++) {
            double x = v[i];
            size_t j = i;
            while (j > lo && v[j - 1] > x) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
}

static uint64_t okey(double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : u | (1ULL << 63);
}

static double from_okey(uint64_t k) {
    uint64_t u = (k >> 63) ? k & ~(1ULL << 63) : ~k;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

typedef struct rs_group {
    uint64_t prefix;
    int bits;
    bool collect, sorted;
    uint64_t *hist;
    double *vals;
    size_t nvals;
} rs_group;

typedef struct rs_target {
    uint64_t rank, prefix;
    int bits;
    bool collect, done;
    int group;
    double value;
} rs_target;

typedef struct rs_scan {
    rs_group *g;
    size_t ng;
} rs_scan;

static cel_status rs_visit(void *ud, const dq_nrec *recs, size_t n, cel_error *err) {
    rs_scan *sc = ud;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = okey(recs[i].v);
        for (size_t j = 0; j < sc->ng; j++) {
            rs_group *g = &sc->g[j];
            if (g->bits != 0 && (k >> (64 - g->bits)) != g->prefix)
                continue;
            if (g->collect) {
                if (g->nvals >= RS_COLLECT_CAP)
                    return cel_fail(err, CEL_EINTERNAL,
                                    "quality: radix select bucket overflow (store changed?)");
                g->vals[g->nvals++] = recs[i].v;
            } else {
                g->hist[(k >> (48 - g->bits)) & 0xFFFF]++;
            }
        }
    }
    return CEL_OK;
}

static cel_status radix_select(dq_numstore *ns, const uint64_t *ranks, size_t nr, double *out,
                               cel_error *err) {
    rs_target t[8];
    rs_group g[8];
    if (nr > 8)
        return cel_fail(err, CEL_EINTERNAL, "quality: too many ranks for one selection");
    for (size_t i = 0; i < nr; i++) {
        t[i] = (rs_target){.rank = ranks[i]};
    }
    cel_status st = CEL_OK;
    for (int round = 0; round < 6 && st == CEL_OK; round++) {
        size_t ng = 0;
        for (size_t i = 0; i < nr; i++) {
            if (t[i].done)
                continue;
            size_t j;
            for (j = 0; j < ng; j++)
                if (g[j].prefix == t[i].prefix && g[j].bits == t[i].bits &&
                    g[j].collect == t[i].collect)
                    break;
            if (j == ng) {
                g[ng] =
                    (rs_group){.prefix = t[i].prefix, .bits = t[i].bits, .collect = t[i].collect};
                if (g[ng].collect)
                    g[ng].vals = malloc(RS_COLLECT_CAP * sizeof(double));
                else
                    g[ng].hist = calloc(65536, sizeof(uint64_t));
                ng++;
                if (g[ng - 1].vals == NULL && g[ng - 1].hist == NULL) {
                    st = cel_fail(err, CEL_ENOMEM, "quality: out of memory for quantile selection");
                    break;
                }
            }
            t[i].group = (int)j;
        }
        if (ng == 0)
            break;
        if (st == CEL_OK) {
            rs_scan sc = {g, ng};
            st = dq_numstore_scan(ns, rs_visit, &sc, err);
        }
        for (size_t i = 0; i < nr && st == CEL_OK; i++) {
            if (t[i].done)
                continue;
            rs_group *gr = &g[t[i].group];
            if (gr->collect) {
                if (t[i].rank >= gr->nvals) {
                    st = cel_fail(err, CEL_EINTERNAL, "quality: radix select lost a rank");
                    break;
                }
                /* sort once per group (several targets may share it) */
                if (!gr->sorted) {
                    qsort(gr->vals, gr->nvals, sizeof(double), cmp_double);
                    gr->sorted = true;
                }
                t[i].value = gr->vals[t[i].rank];
                t[i].done = true;
                continue;
            }
            uint64_t cum = 0, d;
            for (d = 0; d < 65536; d++) {
                if (cum + gr->hist[d] > t[i].rank)
                    break;
                cum += gr->hist[d];
            }
            if (d == 65536) {
                st = cel_fail(err, CEL_EINTERNAL, "quality: rank beyond the value count");
                break;
            }
            uint64_t cnt = gr->hist[d];
            t[i].rank -= cum;
            t[i].prefix = (t[i].prefix << 16) | d;
            t[i].bits += 16;
            if (t[i].bits == 64) {
                t[i].value = from_okey(t[i].prefix);
                t[i].done = true;
            } else if (cnt <= RS_COLLECT_CAP) {
                t[i].collect = true;
            }
        }
        for (size_t j = 0; j < ng; j++) {
            if (g[j].collect) {
                free(g[j].vals);
            } else {
                free(g[j].hist);
            }
        }
    }
    for (size_t i = 0; i < nr && st == CEL_OK; i++) {
        if (!t[i].done)
            return cel_fail(err, CEL_EINTERNAL, "quality: radix select did not converge");
        out[i] = t[i].value;
    }
    return st;
}

cel_status dq_numstore_select(dq_numstore *ns, const uint64_t *ranks, size_t nr, double *out,
                              cel_error *err) {
    for (size_t i = 0; i < nr; i++)
        if (ranks[i] >= ns->count)
            return cel_fail(err, CEL_EINTERNAL, "quality: rank %llu of %llu values",
                            (unsigned long long)ranks[i], (unsigned long long)ns->count);
    if (nr == 0)
        return CEL_OK;
    if (ns->f)
        return radix_select(ns, ranks, nr, out, err);
    double *v = malloc(ns->n * sizeof(double));
    if (v == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory selecting in %zu values", ns->n);
    for (size_t i = 0; i < ns->n; i++)
        v[i] = ns->a[i].v;
    uint64_t sorted[8];
    memcpy(sorted, ranks, nr * sizeof *sorted);
    qsort(sorted, nr, sizeof *sorted, cmp_u64);
    int depth = 8;
    for (size_t m = ns->n; m > 1; m >>= 1)
        depth += 2;
    multiselect(v, 0, ns->n, sorted, nr, depth);
    for (size_t i = 0; i < nr; i++)
        out[i] = v[ranks[i]];
    free(v);
    return CEL_OK;
}

double dq_lerp(double a, double b, double t) {
    double diff = b - a;
    if (t >= 0.5)
        return b - diff * (1 - t);
    return a + diff * t;
}

cel_status dq_numstore_quantiles(dq_numstore *ns, const double *qs, size_t nq, double *out,
                                 cel_error *err) {
    if (ns->count == 0)
        return cel_fail(err, CEL_EINTERNAL, "quality: quantile of no values");
    if (nq > 4)
        return cel_fail(err, CEL_EINTERNAL, "quality: at most 4 quantiles at once");
    uint64_t ranks[8] = {0};
    double gamma[4] = {0};
    uint64_t n = ns->count;
    for (size_t i = 0; i < nq; i++) {
        double vi = (double)(n - 1) * qs[i];
        double prev = floor(vi);
        uint64_t p = (uint64_t)prev;
        if (p > n - 1)
            p = n - 1;
        uint64_t nx = p + 1 > n - 1 ? n - 1 : p + 1;
        ranks[2 * i] = p;
        ranks[2 * i + 1] = nx;
        gamma[i] = vi - prev;
    }
    double vals[8];
    cel_status st = dq_numstore_select(ns, ranks, 2 * nq, vals, err);
    if (st != CEL_OK)
        return st;
    for (size_t i = 0; i < nq; i++)
        out[i] = dq_lerp(vals[2 * i], vals[2 * i + 1], gamma[i]);
    return CEL_OK;
}

void dq_numstore_free(dq_numstore *ns) {
    if (ns == NULL)
        return;
    if (ns->f)
        fclose(ns->f);
    free(ns->wbuf);
    if (ns->a) {
        free(ns->a);
        dq_pool_give(ns->pool, ns->taken);
    }
    free(ns);
}
