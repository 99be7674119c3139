/*
 * test_quality_spill.c: the quality engine's growing structures with and without
 * spilling: exact quantiles (numpy/pandas "linear") in memory and spilled (radix
 * select), exact duplicate detection in memory, spilled and re-partitioned,
 * distinct counting degrading to HyperLogLog, Misra-Gries top values.
 *
 * Reference numbers were computed with Debian 12's python3-pandas 1.5.3 /
 * numpy 1.24.2, e.g. pd.Series(A).quantile(0.25) (the generators below are
 * written so that C and Python compute the same doubles).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "quality/dq_sketch.h"
#include "quality/dq_spill.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *tmpdir(void) {
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

static double gen_a(int i) {
    return (double)((i * 7919) % 100003) / 7.0 - 5000.0;
}

static double gen_b(int i) {
    return i % 97 == 0 ? 1e300 * (i % 5 + 1) : ((i % 13) - 6) * 1e-300 + (i % 3);
}

static double gen_c(int i) {
    return (i % 10) * 1.0;
}

typedef double (*gen_fn)(int);

static void check_quantiles(gen_fn g, int n, size_t pool_limit, bool expect_spill,
                            const double want[3]) {
    dq_pool pool = {.limit = pool_limit};
    dq_numstore *ns = NULL;
    cel_error err = {0};
    assert_int_equal(dq_numstore_new(&pool, tmpdir(), &ns, &err), CEL_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(dq_numstore_add(ns, g(i), (uint64_t)i + 1, &err), CEL_OK);
    assert_int_equal(dq_numstore_spilled(ns), expect_spill);
    assert_true(pool.peak <= pool_limit);
    static const double qs[3] = {0.25, 0.5, 0.75};
    double got[3];
    assert_int_equal(dq_numstore_quantiles(ns, qs, 3, got, &err), CEL_OK);
    for (int k = 0; k < 3; k++)
        assert_true(got[k] == want[k]); /* bit-exact, like pandas */
    dq_numstore_free(ns);
}

static void test_quantiles_match_pandas(void **state) {
    (void)state;
    const double a[3] = {-1428.6071428571427, 2142.785714285714, 5714.178571428571};
    const double b[3] = {3e-300, 1.0, 2.0};
    const double c[3] = {2.0, 4.5, 7.0};
    /* in memory (pool large enough) */
    check_quantiles(gen_a, 100000, 64u << 20, false, a);
    check_quantiles(gen_b, 50000, 64u << 20, false, b);
    check_quantiles(gen_c, 30000, 64u << 20, false, c);
    /* spilled: a 4 KiB pool holds 256 records */
    check_quantiles(gen_a, 100000, 4096, true, a);
    check_quantiles(gen_b, 50000, 4096, true, b);
    check_quantiles(gen_c, 30000, 4096, true, c);
}

static double gen_two(int i) {
    return 1.0 + i;
}

static void test_quantiles_small(void **state) {
    (void)state;
    const double two[3] = {1.25, 1.5, 1.75};
    check_quantiles(gen_two, 2, 1 << 20, false, two);
    check_quantiles(gen_two, 2, 0, true, two);
    const double one[3] = {1.0, 1.0, 1.0};
    check_quantiles(gen_two, 1, 1 << 20, false, one);
    check_quantiles(gen_two, 1, 0, true, one);
}

static int dcmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Order statistics from the in-memory multi-select and the spilled radix select
 * equal a full sort, over sizes and adversarial patterns (sorted, reversed, all
 * equal, organ pipe, few values, signed zeros, huge/tiny magnitudes). */
static void test_select_patterns(void **state) {
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 16, 17, 100, 1000, 5003};
    uint64_t rng = 12345;
    for (int pat = 0; pat < 7; pat++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            double *v = malloc(n * sizeof *v), *ref = malloc(n * sizeof *ref);
            for (size_t i = 0; i < n; i++) {
                double x;
                switch (pat) {
                case 0:
                    x = (double)i;
                    break;
                case 1:
                    x = (double)(n - i);
                    break;
                case 2:
                    x = 7;
                    break;
                case 3:
                    x = (double)(i < n / 2 ? i : n - i);
                    break;
                case 4:
                    x = (double)(dq_rand_next(&rng) % 3);
                    break;
                case 5:
                    x = (i % 2 ? -0.0 : 0.0) + (double)(dq_rand_next(&rng) % 2);
                    break;
                default:
                    x = ldexp((double)(dq_rand_next(&rng) % 1000) - 500,
                              (int)(dq_rand_next(&rng) % 2000) - 1000);
                    break;
                }
                v[i] = x;
                ref[i] = x == 0 ? 0.0 : x;
            }
            qsort(ref, n, sizeof *ref, dcmp);
            for (int spill = 0; spill < 2; spill++) {
                dq_pool pool = {.limit = spill ? 0 : (64u << 20)};
                dq_numstore *ns = NULL;
                cel_error err = {0};
                assert_int_equal(dq_numstore_new(&pool, tmpdir(), &ns, &err), CEL_OK);
                for (size_t i = 0; i < n; i++)
                    assert_int_equal(dq_numstore_add(ns, v[i], i + 1, &err), CEL_OK);
                uint64_t ranks[6] = {0, n - 1, n / 2, n / 4, (3 * n) / 4, n / 3};
                double got[6];
                assert_int_equal(dq_numstore_select(ns, ranks, 6, got, &err), CEL_OK);
                for (int k = 0; k < 6; k++)
                    if (got[k] != ref[ranks[k]])
                        fail_msg("pattern %d n %zu spill %d rank %llu: %g != %g", pat, n, spill,
                                 (unsigned long long)ranks[k], got[k], ref[ranks[k]]);
                dq_numstore_free(ns);
            }
            free(v);
            free(ref);
        }
    }
}

static void test_lerp_numpy(void **state) {
    (void)state;
    /* pd.Series([0.1, 0.2, 0.7]).quantile(0.25 / 0.75) */
    assert_true(dq_lerp(0.1, 0.2, 0.5) == 0.15000000000000002);
    assert_true(dq_lerp(0.2, 0.7, 0.5) == 0.44999999999999996);
    assert_true(dq_lerp(5, 5, 0.3) == 5);
}

typedef struct scan_sum {
    double sum;
    uint64_t n, last_row;
    bool ordered;
} scan_sum;

static cel_status sum_visit(void *ud, const dq_nrec *r, size_t n, cel_error *err) {
    (void)err;
    scan_sum *s = ud;
    for (size_t i = 0; i < n; i++) {
        s->sum += r[i].v;
        if (r[i].row <= s->last_row)
            s->ordered = false;
        s->last_row = r[i].row;
        s->n++;
    }
    return CEL_OK;
}

static void test_numstore_scan_order(void **state) {
    (void)state;
    for (int spill = 0; spill < 2; spill++) {
        dq_pool pool = {.limit = spill ? 1024 : (8u << 20)};
        dq_numstore *ns = NULL;
        cel_error err = {0};
        assert_int_equal(dq_numstore_new(&pool, tmpdir(), &ns, &err), CEL_OK);
        double want = 0;
        for (int i = 0; i < 20000; i++) {
            want += gen_c(i);
            assert_int_equal(dq_numstore_add(ns, gen_c(i), (uint64_t)i + 1, &err), CEL_OK);
        }
        scan_sum s = {.ordered = true};
        assert_int_equal(dq_numstore_scan(ns, sum_visit, &s, &err), CEL_OK);
        assert_int_equal(s.n, 20000);
        assert_true(s.ordered);
        assert_true(s.sum == want);
        /* scanning twice works (the spill file is re-read) */
        scan_sum s2 = {.ordered = true};
        assert_int_equal(dq_numstore_scan(ns, sum_visit, &s2, &err), CEL_OK);
        assert_int_equal(s2.n, 20000);
        dq_numstore_free(ns);
    }
}

static dq_h128 key_of(uint64_t k) {
    return dq_hash128(&k, sizeof k, 42);
}

/* keys i % 7000 for i in 0..19999: 13000 duplicates, the first at row 7001 (of row 1) */
static void run_keyset(size_t pool_limit, bool expect_spill, cel_status want_st) {
    dq_pool pool = {.limit = pool_limit};
    dq_keyset *ks = NULL;
    cel_error err = {0};
    assert_int_equal(dq_keyset_new(&pool, tmpdir(), &ks, &err), CEL_OK);
    for (uint64_t i = 0; i < 20000; i++) {
        uint64_t dup_of = 0;
        assert_int_equal(dq_keyset_add(ks, key_of(i % 7000), i + 1, &dup_of, &err), CEL_OK);
        if (!expect_spill && i >= 7000)
            assert_int_equal(dup_of, i % 7000 + 1);
    }
    assert_int_equal(dq_keyset_spilled(ks), expect_spill);
    cel_status st = dq_keyset_finish(ks, &err);
    assert_int_equal(st, want_st);
    if (st == CEL_OK) {
        assert_int_equal(dq_keyset_keys(ks), 20000);
        assert_int_equal(dq_keyset_duplicates(ks), 13000);
        size_t n;
        const dq_dup *ex = dq_keyset_examples(ks, &n);
        assert_int_equal(n, DQ_KS_EXAMPLES);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(ex[i].row, 7001 + i);
            assert_int_equal(ex[i].first_row, 1 + i);
        }
    } else {
        assert_non_null(strstr(err.msg, "CELERIAC_DQ_MEMORY_BUDGET"));
    }
    assert_true(pool.peak <= pool_limit);
    dq_keyset_free(ks);
}

static void test_keyset_memory_and_spill(void **state) {
    (void)state;
    run_keyset(64u << 20, false, CEL_OK);
    run_keyset(16u << 10, true, CEL_OK); /* partitions fit: one level */
    run_keyset(4u << 10, true, CEL_OK);  /* partitions re-split once more */
    run_keyset(64, true, CEL_ELIMIT);    /* nothing fits: a clear error */
}

static void test_distinct_exact_then_hll(void **state) {
    (void)state;
    dq_pool pool = {.limit = 64u << 20};
    dq_distinct d;
    cel_error err = {0};
    dq_distinct_init(&d, &pool);
    for (uint64_t i = 0; i < 50000; i++)
        assert_int_equal(dq_distinct_add(&d, key_of(i % 1234).a, &err), CEL_OK);
    assert_false(d.approx);
    assert_int_equal(dq_distinct_value(&d), 1234);
    assert_int_equal(dq_distinct_count_of(&d, key_of(5).a), 41); /* 50000/1234 = 40.5 */
    uint64_t top[3];
    assert_int_equal(dq_distinct_top_counts(&d, top, 3), 3);
    assert_int_equal(top[0], 41);
    dq_distinct_free(&d);

    dq_pool small = {.limit = 16u << 10}; /* 1024 slots at most */
    dq_distinct_init(&d, &small);
    for (uint64_t i = 0; i < 200000; i++)
        assert_int_equal(dq_distinct_add(&d, key_of(i % 100000).a, &err), CEL_OK);
    assert_true(d.approx);
    assert_int_equal(small.used, 0);
    double est = (double)dq_distinct_value(&d);
    assert_true(fabs(est - 100000) < 100000 * 4 * DQ_HLL_RSE);
    dq_distinct_free(&d);
}

/* Adds may wait in the prefetch queue: reads between adds see all of them, and
 * the table grows (takes from the pool) at the same add as without the queue. */
static void test_distinct_queue(void **state) {
    (void)state;
    dq_pool pool = {.limit = 64u << 20};
    dq_distinct d;
    cel_error err = {0};
    dq_distinct_init(&d, &pool);
    d.max_exact = 300;
    for (uint64_t i = 0; i < 300; i++) {
        assert_int_equal(dq_distinct_add(&d, key_of(i).a, &err), CEL_OK);
        assert_int_equal(dq_distinct_value(&d), i + 1);
        assert_int_equal(dq_distinct_count_of(&d, key_of(i / 2).a), 1);
        /* the table holds n values at a load of at most 0.7 */
        assert_true(d.n * 10 <= d.cap * 7);
        assert_int_equal(pool.used, d.cap * sizeof(dq_dslot));
    }
    assert_false(d.approx);
    assert_int_equal(dq_distinct_add(&d, key_of(300).a, &err), CEL_OK);
    assert_true(d.approx); /* the 301st value switched at once */
    assert_int_equal(pool.used, 0);
    assert_int_equal(dq_distinct_count_of(&d, key_of(0).a), 0);
    dq_distinct_free(&d);
    dq_distinct_init(&d, &pool);
    for (uint64_t i = 0; i < 1000; i++)
        assert_int_equal(dq_distinct_add(&d, key_of(i % 3).a, &err), CEL_OK);
    assert_int_equal(dq_distinct_count_of(&d, key_of(0).a), 334);
    assert_int_equal(dq_distinct_count_of(&d, key_of(2).a), 333);
    dq_distinct_free(&d);
}

static void test_hll_small_and_large(void **state) {
    (void)state;
    dq_hll h;
    cel_error err = {0};
    assert_int_equal(dq_hll_init(&h, &err), CEL_OK);
    assert_true(dq_hll_estimate(&h) < 0.5);
    for (uint64_t i = 0; i < 10; i++)
        dq_hll_add(&h, key_of(i).a);
    assert_true(fabs(dq_hll_estimate(&h) - 10) < 1);
    for (uint64_t i = 0; i < 1000000; i++)
        dq_hll_add(&h, key_of(i).a);
    assert_true(fabs(dq_hll_estimate(&h) - 1e6) < 1e6 * 4 * DQ_HLL_RSE);
    dq_hll_free(&h);
}

static void test_topk(void **state) {
    (void)state;
    dq_topk t;
    dq_topk_init(&t);
    /* value "a" 1000 times, "b" 500 times, 5000 singletons */
    char buf[16];
    for (int i = 0; i < 6500; i++) {
        const char *s;
        if (i % 13 < 2)
            s = "a";
        else if (i % 13 == 2)
            s = "b";
        else {
            snprintf(buf, sizeof buf, "u%d", i);
            s = buf;
        }
        dq_topk_add(&t,
                    key_of((uint64_t)s[0] * 1000003u + strlen(s) + (s == buf ? (uint64_t)i : 0)).a,
                    s, strlen(s));
    }
    bool seen_a = false, seen_b = false;
    for (size_t i = 0; i < t.n; i++) {
        if (t.items[i].len == 1 && t.items[i].text[0] == 'a') {
            seen_a = true;
            assert_true(t.items[i].count + t.decrements >= 1000);
        }
        if (t.items[i].len == 1 && t.items[i].text[0] == 'b')
            seen_b = true;
    }
    assert_true(seen_a && seen_b);
    assert_true(t.decrements > 0);
}

static void test_copy_utf8(void **state) {
    (void)state;
    char out[8];
    /* "aé€" = 61 c3 a9 e2 82 ac: cutting at 4 bytes must not split the euro sign */
    assert_int_equal(dq_copy_utf8(out, "a\xc3\xa9\xe2\x82\xac", 6, 4), 3);
    assert_string_equal(out, "a\xc3\xa9");
    assert_int_equal(dq_copy_utf8(out, "abc", 3, 7), 3);
}

/* The hash's definition, one byte at a time (words little-endian): the fast
 * dq_hash128 must give the same values for every length and alignment, since
 * distinct counts, HyperLogLog registers and uniqueness keys depend on them. */
static uint64_t ref_rotl(uint64_t x, int r) {
    return (x << r) | (x >> (64 - r));
}

static dq_h128 ref_hash128(const unsigned char *s, size_t n, uint64_t seed) {
    uint64_t a = seed ^ 0x9e3779b97f4a7c15ULL ^ ((uint64_t)n * 0xff51afd7ed558ccdULL);
    uint64_t b = ~seed + 0xc4ceb9fe1a85ec53ULL + (uint64_t)n;
    size_t i = 0;
    for (;;) {
        size_t take = n - i < 8 ? n - i : 8;
        uint64_t w = 0;
        for (size_t k = 0; k < take; k++)
            w |= (uint64_t)s[i + k] << (8 * k);
        i += take;
        a = ref_rotl((a ^ w) * 0x87c37b91114253d5ULL, 31);
        b = ref_rotl((b + w) * 0x4cf5ad432745937fULL, 27) + a;
        if (take < 8)
            break;
    }
    dq_h128 h;
    h.a = dq_mix64(a ^ ref_rotl(b, 17));
    h.b = dq_mix64(b + h.a);
    return h;
}

static void test_hash128_definition(void **state) {
    (void)state;
    unsigned char buf[96];
    uint64_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(dq_rand_next(&x) >> 56);
    for (size_t off = 0; off < 8; off++) {
        for (size_t n = 0; n + off <= 80; n++) {
            for (uint64_t seed = 0; seed < 3; seed++) {
                dq_h128 got = dq_hash128(buf + off, n, seed);
                dq_h128 want = ref_hash128(buf + off, n, seed);
                assert_true(got.a == want.a && got.b == want.b);
            }
        }
    }
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t w = dq_rand_next(&x);
        dq_h128 one = dq_hash128_u64(w, i), gen = dq_hash128(&w, sizeof w, i);
        assert_true(one.a == gen.a && one.b == gen.b);
    }
    /* pinned values: a change of definition changes reported estimates */
    assert_true(dq_hash128("", 0, 1).a == 0x5d19976091ebdd66ULL);
    assert_true(dq_hash128("abc", 3, 1).b == 0xdf380bd66f4237f3ULL);
    assert_true(dq_hash128("user_92407", 10, 1).a == 0xa3f53339e3579e1cULL);
    assert_true(dq_hash128("2024-07-12T06:27:09", 19, 1).b == 0x6eadc25e7a5b6cc9ULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles_match_pandas),
        cmocka_unit_test(test_quantiles_small),
        cmocka_unit_test(test_select_patterns),
        cmocka_unit_test(test_lerp_numpy),
        cmocka_unit_test(test_numstore_scan_order),
        cmocka_unit_test(test_keyset_memory_and_spill),
        cmocka_unit_test(test_distinct_exact_then_hll),
        cmocka_unit_test(test_distinct_queue),
        cmocka_unit_test(test_hll_small_and_large),
        cmocka_unit_test(test_topk),
        cmocka_unit_test(test_copy_utf8),
        cmocka_unit_test(test_hash128_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
