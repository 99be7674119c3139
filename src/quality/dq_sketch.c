/*
 * dq_sketch.c: hashing, pool, PRNG, HyperLogLog, distinct counter, Misra-Gries
 * (see dq_sketch.h for the contracts and the references).
 *
 * Bounds: the distinct table grows only with dq_pool_take(); HLL and top-k are
 * fixed size. Small bookkeeping allocations (the 16 KiB HLL) propagate ENOMEM.
 */
#include "quality/dq_sketch.h"

#include "quality/dq_bytes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- hashing */

uint64_t dq_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t rotl(uint64_t x, int r) {
    return (x << r) | (x >> (64 - r));
}

/* The last n % 8 bytes (fewer than 8) as a little-endian word: the hash is
 * defined with s[i] at bits 8i. Most keys are short cells, so this tail is a good
 * part of the hash's cost: no byte loop. */
static uint64_t hash_tail(const unsigned char *p, size_t n) {
    size_t r = n & 7;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (r && n >= 8) /* the 8 bytes ending at the end; drop the ones the loop hashed */
        return dq_load64(p + n - 8) >> (8 * (8 - r));
#endif
    return dq_load_tail(p + (n - r), r);
}

dq_h128 dq_hash128(const void *p, size_t n, uint64_t seed) {
    const unsigned char *s = p;
    uint64_t a = seed ^ 0x9e3779b97f4a7c15ULL ^ ((uint64_t)n * 0xff51afd7ed558ccdULL);
    uint64_t b = ~seed + 0xc4ceb9fe1a85ec53ULL + (uint64_t)n;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w = dq_load64(s + i);
        a = rotl((a ^ w) * 0x87c37b91114253d5ULL, 31);
        b = rotl((b + w) * 0x4cf5ad432745937fULL, 27) + a;
    }
    uint64_t t = hash_tail(s, n);
    a = rotl((a ^ t) * 0x87c37b91114253d5ULL, 31);
    b = rotl((b + t) * 0x4cf5ad432745937fULL, 27) + a;
    dq_h128 h;
    h.a = dq_mix64(a ^ rotl(b, 17));
    h.b = dq_mix64(b + h.a);
    return h;
}

dq_h128 dq_hash128_u64(uint64_t w, uint64_t seed) {
    /* dq_hash128 with n = 8, its constants folded: one word round, then the round
     * for the empty tail (t = 0) */
    uint64_t a = seed ^ 0x9e3779b97f4a7c15ULL ^ (8 * 0xff51afd7ed558ccdULL);
    uint64_t b = ~seed + 0xc4ceb9fe1a85ec53ULL + 8;
    a = rotl((a ^ w) * 0x87c37b91114253d5ULL, 31);
    b = rotl((b + w) * 0x4cf5ad432745937fULL, 27) + a;
    a = rotl(a * 0x87c37b91114253d5ULL, 31);
    b = rotl(b * 0x4cf5ad432745937fULL, 27) + a;
    dq_h128 h;
    h.a = dq_mix64(a ^ rotl(b, 17));
    h.b = dq_mix64(b + h.a);
    return h;
}

dq_h128 dq_h128_combine(dq_h128 acc, dq_h128 x) {
    dq_h128 h;
    h.a = dq_mix64(rotl(acc.a, 23) * 0x9e3779b97f4a7c15ULL ^ x.a);
    h.b = dq_mix64(rotl(acc.b, 41) * 0xd6e8feb86659fd93ULL + x.b + h.a);
    return h;
}

uint64_t dq_rand_next(uint64_t *state) {
    *state += 0x9e3779b97f4a7c15ULL;
    return dq_mix64(*state);
}

/* ---------------------------------------------------------------- pool */

/* Atomic, so columns worked on by different threads (dq_parallel.c) can share one
 * budget: a compare-and-swap loop never lets `used` pass the limit. */
bool dq_pool_take(dq_pool *p, size_t n) {
    size_t used = __atomic_load_n(&p->used, __ATOMIC_RELAXED);
    do {
        if (n > p->limit || used > p->limit - n)
            return false;
    } while (!__atomic_compare_exchange_n(&p->used, &used, used + n, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    size_t now = used + n;
    size_t peak = __atomic_load_n(&p->peak, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&p->peak, &peak, now, true, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
        ;
    return true;
}

void dq_pool_give(dq_pool *p, size_t n) {
    size_t used = __atomic_load_n(&p->used, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&p->used, &used, n > used ? 0 : used - n, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* ---------------------------------------------------------------- HyperLogLog */

#define HLL_M (1u << DQ_HLL_P)
#define HLL_Q (64 - DQ_HLL_P)

cel_status dq_hll_init(dq_hll *h, cel_error *err) {
    h->reg = calloc(HLL_M, 1);
    if (h->reg == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory for a HyperLogLog sketch");
    return CEL_OK;
}

void dq_hll_add(dq_hll *h, uint64_t hash) {
    uint32_t idx = (uint32_t)(hash >> HLL_Q);
    uint64_t w = hash << DQ_HLL_P;
    uint8_t rho = w == 0 ? (uint8_t)(HLL_Q + 1) : (uint8_t)(__builtin_clzll(w) + 1);
    if (rho > HLL_Q + 1)
        rho = HLL_Q + 1;
    if (rho > h->reg[idx])
        h->reg[idx] = rho;
}

/* Ertl 2017, Algorithm 6 helper functions sigma and tau. */
static double hll_sigma(double x) {
    if (x == 1.0)
        return INFINITY;
    double y = 1, z = x, zp;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (zp != z);
    return z;
}

static double hll_tau(double x) {
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1, z = 1 - x, zp;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= (1 - x) * (1 - x) * y;
    } while (zp != z);
    return z / 3;
}

double dq_hll_estimate(const dq_hll *h) {
    uint32_t c[HLL_Q + 2];
    memset(c, 0, sizeof c);
    for (uint32_t i = 0; i < HLL_M; i++)
        c[h->reg[i]]++;
    double m = HLL_M;
    double z = m * hll_tau(1.0 - c[HLL_Q + 1] / m);
    for (int k = HLL_Q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    z += m * hll_sigma(c[0] / m);
    const double alpha_inf = 0.5 / log(2.0);
    return alpha_inf * m * m / z;
}

void dq_hll_free(dq_hll *h) {
    free(h->reg);
    h->reg = NULL;
}

/* ---------------------------------------------------------------- distinct */

void dq_distinct_init(dq_distinct *d, dq_pool *pool) {
    memset(d, 0, sizeof *d);
    d->pool = pool;
}

/* Home slot of h. The engine's keys come out of dq_hash128 (a splitmix64
 * finalizer), so their low bits are already uniform: mixing them again would only
 * cost time. Slot order never shows in results (counts are read back by key or
 * as a sorted list, and HLL registers take a maximum). */
static size_t dtab_home(uint64_t h, size_t cap) {
    return (size_t)h & (cap - 1);
}

static void dtab_put(dq_dslot *tab, size_t cap, uint64_t h, uint64_t count) {
    size_t i = dtab_home(h, cap);
    while (tab[i].h != 0 && tab[i].h != h)
        i = (i + 1) & (cap - 1);
    tab[i].h = h;
    tab[i].count += count;
}

static cel_status distinct_to_hll(dq_distinct *d, cel_error *err) {
    cel_status st = dq_hll_init(&d->hll, err);
    if (st != CEL_OK)
        return st;
    for (size_t i = 0; i < d->cap; i++)
        if (d->tab[i].h)
            dq_hll_add(&d->hll, d->tab[i].h);
    free(d->tab);
    d->tab = NULL;
    dq_pool_give(d->pool, d->taken);
    d->taken = 0;
    d->cap = 0;
    d->approx = true;
    return CEL_OK;
}

static cel_status distinct_grow(dq_distinct *d, cel_error *err) {
    size_t ncap = d->cap ? d->cap * 2 : 64;
    size_t bytes = ncap * sizeof(dq_dslot);
    if (!dq_pool_take(d->pool, bytes))
        return distinct_to_hll(d, err);
    dq_dslot *nt = calloc(ncap, sizeof *nt);
    if (nt == NULL) {
        dq_pool_give(d->pool, bytes);
        return distinct_to_hll(d, err);
    }
    for (size_t i = 0; i < d->cap; i++)
        if (d->tab[i].h)
            dtab_put(nt, ncap, d->tab[i].h, d->tab[i].count);
    free(d->tab);
    dq_pool_give(d->pool, d->taken);
    d->tab = nt;
    d->cap = ncap;
    d->taken = bytes;
    return CEL_OK;
}

/* Applies one add now: may grow the table or switch to HyperLogLog. */
static cel_status distinct_apply(dq_distinct *d, uint64_t h, cel_error *err) {
    if (d->approx) {
        dq_hll_add(&d->hll, h);
        return CEL_OK;
    }
    if (d->cap) {
        size_t i = dtab_home(h, d->cap);
        while (d->tab[i].h != 0 && d->tab[i].h != h)
            i = (i + 1) & (d->cap - 1);
        if (d->tab[i].h == h) {
            d->tab[i].count++;
            return CEL_OK;
        }
    }
    /* a new value */
    cel_status st = CEL_OK;
    if (d->max_exact && d->n >= d->max_exact)
        st = distinct_to_hll(d, err);
    else if ((d->n + 1) * 10 > d->cap * 7)
        st = distinct_grow(d, err);
    if (st != CEL_OK)
        return st;
    if (d->approx) {
        dq_hll_add(&d->hll, h);
        return CEL_OK;
    }
    dtab_put(d->tab, d->cap, h, 1);
    d->n++;
    return CEL_OK;
}

/* True when k more adds, all of new values in the worst case, can neither
 * grow the table nor switch it to HyperLogLog (the tests in distinct_apply). */
static bool distinct_room(const dq_distinct *d, size_t k) {
    if (d->approx)
        return true;
    if (d->cap == 0)
        return false;
    if (d->max_exact && d->n + k > d->max_exact)
        return false;
    return (d->n + k) * 10 <= d->cap * 7;
}

/* Applies the queued adds. distinct_room() held for each when it was queued,
 * so none of them can fail. */
__attribute__((noinline)) static void distinct_flush(dq_distinct *d) {
    for (size_t k = 0; k < d->npend; k++) {
        uint64_t h = d->pend[k];
        if (d->approx) {
            dq_hll_add(&d->hll, h);
            continue;
        }
        size_t i = dtab_home(h, d->cap);
        while (d->tab[i].h != 0 && d->tab[i].h != h)
            i = (i + 1) & (d->cap - 1);
        if (d->tab[i].h == 0) {
            d->tab[i].h = h;
            d->n++;
        }
        d->tab[i].count++;
    }
    d->npend = 0;
}

/* The readers take a const pointer (they do not change the counter's value);
 * applying the queue is how they read it. */
static const dq_distinct *distinct_settled(const dq_distinct *d) {
    if (d->npend)
        distinct_flush((dq_distinct *)d);
    return d;
}

/* An add that may grow the table or switch it to HyperLogLog: the queue goes
 * first, so the pool sees the same takes in the same order. Out of line, so that
 * the queueing path below stays a leaf with few registers to save. */
__attribute__((noinline)) static cel_status distinct_add_now(dq_distinct *d, uint64_t h,
                                                             cel_error *err) {
    distinct_flush(d);
    return distinct_apply(d, h, err);
}

cel_status dq_distinct_add(dq_distinct *d, uint64_t h, cel_error *err) {
    if (h == 0)
        h = 1;
    /* GCC/Clang builtin; a hint only (no fault on any address) */
    if (d->approx)
        __builtin_prefetch(&d->hll.reg[h >> HLL_Q], 1);
    else if (distinct_room(d, d->npend + 1))
        __builtin_prefetch(&d->tab[dtab_home(h, d->cap)], 1);
    else
        return distinct_add_now(d, h, err);
    d->pend[d->npend++] = h;
    if (d->npend == DQ_DISTINCT_PEND)
        distinct_flush(d);
    return CEL_OK;
}

uint64_t dq_distinct_count_of(const dq_distinct *d, uint64_t h) {
    d = distinct_settled(d);
    if (h == 0)
        h = 1;
    if (d->approx || d->cap == 0)
        return 0;
    size_t i = dtab_home(h, d->cap);
    while (d->tab[i].h != 0) {
        if (d->tab[i].h == h)
            return d->tab[i].count;
        i = (i + 1) & (d->cap - 1);
    }
    return 0;
}

uint64_t dq_distinct_value(const dq_distinct *d) {
    d = distinct_settled(d);
    if (!d->approx)
        return d->n;
    return (uint64_t)llround(dq_hll_estimate(&d->hll));
}

size_t dq_distinct_top_counts(const dq_distinct *d, uint64_t *out, size_t k) {
    d = distinct_settled(d);
    size_t have = 0;
    if (d->approx)
        return 0;
    for (size_t i = 0; i < d->cap; i++) {
        if (d->tab[i].h == 0)
            continue;
        uint64_t c = d->tab[i].count;
        if (have == k && c <= out[k - 1])
            continue;
        size_t j = have < k ? have++ : k - 1;
        while (j > 0 && out[j - 1] < c) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = c;
    }
    return have;
}

void dq_distinct_free(dq_distinct *d) {
    if (d->tab) {
        free(d->tab);
        dq_pool_give(d->pool, d->taken);
    }
    d->tab = NULL;
    d->taken = d->cap = d->n = d->npend = 0;
    dq_hll_free(&d->hll);
}

/* ---------------------------------------------------------------- top-k */

#define TOPK_IDX (DQ_TOPK_K * 2)

void dq_topk_init(dq_topk *t) {
    memset(t, 0, sizeof *t);
    memset(t->index, 0xFF, sizeof t->index); /* every slot -1 */
}

static void topk_reindex(dq_topk *t) {
    memset(t->index, 0xFF, sizeof t->index); /* every slot -1 */
    for (size_t k = 0; k < t->n; k++) {
        size_t i = (size_t)(t->items[k].h % TOPK_IDX);
        while (t->index[i] >= 0)
            i = (i + 1) % TOPK_IDX;
        t->index[i] = (int16_t)k;
    }
}

/* How many bytes of s[0..len) fit in max bytes without splitting a UTF-8
 * sequence: cut before the lead byte of the sequence s[max] belongs to. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
    size_t n = len;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

size_t dq_copy_utf8(char *out, const char *s, size_t len, size_t max) {
    size_t n = utf8_cut(s, len, max);
    if (n)
        memcpy(out, s, n);
    out[n] = '\0';
    return n;
}

void dq_topk_add(dq_topk *t, uint64_t h, const char *text, size_t len) {
    size_t i = (size_t)(h % TOPK_IDX);
    while (t->index[i] >= 0) {
        dq_topk_item *it = &t->items[t->index[i]];
        if (it->h == h) {
            it->count++;
            return;
        }
        i = (i + 1) % TOPK_IDX;
    }
    if (t->n < DQ_TOPK_K) {
        dq_topk_item *it = &t->items[t->n];
        it->h = h;
        it->count = 1;
        size_t c = utf8_cut(text, len, DQ_TOPK_TEXT); /* text is not NUL-terminated */
        if (c)
            memcpy(it->text, text, c);
        it->len = (uint16_t)c;
        it->truncated = c < len;
        t->index[i] = (int16_t)t->n;
        t->n++;
        return;
    }
    /* full: decrement every counter (the new value's single count is dropped too) */
    t->decrements++;
    size_t w = 0;
    for (size_t k = 0; k < t->n; k++) {
        if (--t->items[k].count > 0)
            t->items[w++] = t->items[k];
    }
    if (w < t->n) { /* the index holds positions: rebuild it only when items moved */
        t->n = w;
        topk_reindex(t);
    }
}
