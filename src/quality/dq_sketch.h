/*
 * dq_sketch.h: the small building blocks of the quality engine's column state:
 * hashing, a memory pool accountant, a deterministic PRNG, HyperLogLog, an exact
 * distinct counter that degrades to HyperLogLog, and Misra-Gries top values.
 *
 * Design: every structure here is either O(1) in memory or draws its growth from
 * a dq_pool (a byte budget shared by many structures). When the pool refuses,
 * the structure degrades (distinct -> HLL) instead of failing, so the engine's
 * peak memory is bounded by the pool limits plus O(columns).
 *
 * Hashes: our own 128-bit multiply-rotate hash with a splitmix64 finalizer
 * (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014). It is not cryptographic: adversarial inputs can collide.
 *
 * Not here: spilling (dq_keyset.c, dq_numstore.c), JSON output.
 */
#ifndef CELERIAC_DQ_SKETCH_H
#define CELERIAC_DQ_SKETCH_H

#include "celeriac/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dq_h128 {
    uint64_t a, b;
} dq_h128;

uint64_t dq_mix64(uint64_t x);
dq_h128 dq_hash128(const void *p, size_t n, uint64_t seed);
/* dq_hash128(&w, 8, seed), for keys that are one word (numbers, integers). */
dq_h128 dq_hash128_u64(uint64_t w, uint64_t seed);
/* Order-dependent combination of a running hash with the next component. */
dq_h128 dq_h128_combine(dq_h128 acc, dq_h128 x);

/* splitmix64 step: deterministic, seeded by *state. */
uint64_t dq_rand_next(uint64_t *state);

/* A byte budget, safe to share between threads (take and give are atomic).
 * take() returns false (and changes nothing) when n would exceed the limit. peak
 * records the highest use seen. */
typedef struct dq_pool {
    size_t limit, used, peak;
} dq_pool;
bool dq_pool_take(dq_pool *p, size_t n);
void dq_pool_give(dq_pool *p, size_t n);

/* HyperLogLog with p = 14 (16384 one-byte registers, 16 KiB), Ertl's improved
 * raw estimator (arXiv:1702.01284, "New cardinality estimation algorithms for
 * HyperLogLog sketches", §4), which needs no bias tables and is accurate from
 * 0 up; relative standard error 1.04/sqrt(16384) ~ 0.81%. */
#define DQ_HLL_P 14
#define DQ_HLL_RSE (1.04 / 128.0)
typedef struct dq_hll {
    uint8_t *reg; /* owned, 1 << DQ_HLL_P bytes; NULL until init */
} dq_hll;
cel_status dq_hll_init(dq_hll *h, cel_error *err) CEL_MUST_CHECK;
void dq_hll_add(dq_hll *h, uint64_t hash);
double dq_hll_estimate(const dq_hll *h);
void dq_hll_free(dq_hll *h);

/* Distinct values of one column: an exact hash64 -> count table while the pool
 * allows it to grow and it holds at most max_exact values (0 = no own limit), then
 * HyperLogLog (approx = true; counts are then lost).
 *
 * Keys must be well mixed (dq_hash128 output): the table uses their low bits.
 * Adds may wait in a short queue (pend) whose slots are prefetched, so that a
 * table or register array larger than the cache costs one overlapped miss per
 * batch instead of one stall per cell. Only adds that cannot grow the table or
 * switch it to HyperLogLog wait, so every pool take happens at the same add as
 * without the queue; the readers below apply the queue first. */
#define DQ_DISTINCT_PEND 8
typedef struct dq_dslot {
    uint64_t h, count; /* h == 0: empty */
} dq_dslot;
typedef struct dq_distinct {
    dq_pool *pool; /* borrowed */
    dq_dslot *tab;
    size_t cap, n, taken, max_exact;
    bool approx;
    dq_hll hll;
    size_t npend;
    uint64_t pend[DQ_DISTINCT_PEND]; /* adds not yet applied, in order */
} dq_distinct;
void dq_distinct_init(dq_distinct *d, dq_pool *pool);
cel_status dq_distinct_add(dq_distinct *d, uint64_t h, cel_error *err) CEL_MUST_CHECK;
/* The readers apply queued adds first: the queue is part of the counter's value,
 * so they take a const pointer, but d itself must not be a const object. */
/* Exact count of h, or 0 when unknown (approx mode or never seen). */
uint64_t dq_distinct_count_of(const dq_distinct *d, uint64_t h);
/* Number of distinct values: exact, or the HLL estimate (rounded). */
uint64_t dq_distinct_value(const dq_distinct *d);
/* The k largest exact counts, descending, into out (k <= n). Returns how many. */
size_t dq_distinct_top_counts(const dq_distinct *d, uint64_t *out, size_t k);
void dq_distinct_free(dq_distinct *d);

/* Misra-Gries frequent items with DQ_TOPK_K counters (Misra & Gries, "Finding
 * repeated elements", 1982): every value with frequency > n/(k+1) survives, and
 * each count underestimates the truth by at most `decrements`. Values are kept
 * as display text truncated to DQ_TOPK_TEXT bytes; identity is the hash. */
#define DQ_TOPK_K 64
#define DQ_TOPK_TEXT 64
typedef struct dq_topk_item {
    uint64_t h, count;
    uint16_t len;
    bool truncated;
    char text[DQ_TOPK_TEXT];
} dq_topk_item;
typedef struct dq_topk {
    dq_topk_item items[DQ_TOPK_K];
    int16_t index[DQ_TOPK_K * 2]; /* open addressing over items, -1 = empty */
    size_t n;
    uint64_t decrements;
} dq_topk;
void dq_topk_init(dq_topk *t);
void dq_topk_add(dq_topk *t, uint64_t h, const char *text, size_t len);

/* Copies at most max bytes of s into out (NUL-terminated, out has max+1 bytes),
 * cutting on a UTF-8 boundary. Returns the bytes copied. */
size_t dq_copy_utf8(char *out, const char *s, size_t len, size_t max);

#endif
