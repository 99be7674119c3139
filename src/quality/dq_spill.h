/*
 * dq_spill.h: the two quality-engine structures whose size grows with the data,
 * each with a memory budget and a spill path to temporary files.
 *
 * dq_keyset: exact duplicate detection over 128-bit key hashes (unique fields,
 * primaryKey, uniqueKeys, duplicate rows). In memory it is an open-addressing
 * table of (hash, first row). When the pool refuses to let it grow, every entry
 * is written to 64 partition files chosen by 6 bits of the hash, the table is
 * freed, and later keys are appended to their partition (24 bytes each). At
 * finish, each partition is loaded into a table on its own; a partition still
 * too large for the pool is re-partitioned by the next 6 bits (up to 4 levels,
 * i.e. 2^24 partitions, then CEL_ELIMIT). Duplicates are counted exactly
 * (up to 128-bit hash collisions); the examples are the smallest duplicate row
 * numbers with the row of the first occurrence.
 *
 * dq_numstore: the finite numeric values of one column with their row numbers
 * (16 bytes each), for exact quantiles, histograms and IQR outliers. In memory
 * while the pool allows, else appended to one temp file. Order statistics: an
 * in-memory store sorts a copy of its values; a spilled one runs a radix select
 * over the order-preserving 64-bit image of the doubles, 16 bits per pass, with
 * candidates collected and sorted once a bucket holds at most 256Ki values
 * (at most 5 passes over the file, 2 in the common case).
 *
 * Temp files are created with mkstemp in tmpdir and unlinked at once, so they
 * vanish with the process. Not here: choosing what to hash, the pools' sizes.
 */
#ifndef CELERIAC_DQ_SPILL_H
#define CELERIAC_DQ_SPILL_H

#include "celeriac/error.h"
#include "quality/dq_sketch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DQ_KS_EXAMPLES 10

typedef struct dq_dup {
    uint64_t row;       /* the duplicate (a later occurrence) */
    uint64_t first_row; /* the first occurrence of the same key */
} dq_dup;

typedef struct dq_keyset dq_keyset;

/* pool and tmpdir are borrowed and must outlive the set. *out is new. */
cel_status dq_keyset_new(dq_pool *pool, const char *tmpdir, dq_keyset **out,
                         cel_error *err) CEL_MUST_CHECK;
/* row: 1-based, non-decreasing across calls. When the key is already known in
 * memory, *dup_of (may be NULL) receives its first row, else 0 (duplicates found
 * later in spilled partitions are only counted and kept as row examples). */
cel_status dq_keyset_add(dq_keyset *ks, dq_h128 key, uint64_t row, uint64_t *dup_of,
                         cel_error *err) CEL_MUST_CHECK;
/* Resolves spilled partitions (no-op in memory). Call once, after the last add. */
cel_status dq_keyset_finish(dq_keyset *ks, cel_error *err) CEL_MUST_CHECK;
uint64_t dq_keyset_keys(const dq_keyset *ks);       /* keys added */
uint64_t dq_keyset_duplicates(const dq_keyset *ks); /* keys added minus distinct keys */
bool dq_keyset_spilled(const dq_keyset *ks);
/* Borrowed examples, ordered by row; *n <= DQ_KS_EXAMPLES. */
const dq_dup *dq_keyset_examples(const dq_keyset *ks, size_t *n);
void dq_keyset_free(dq_keyset *ks);

typedef struct dq_nrec {
    double v;
    uint64_t row;
} dq_nrec;

typedef struct dq_numstore dq_numstore;

cel_status dq_numstore_new(dq_pool *pool, const char *tmpdir, dq_numstore **out,
                           cel_error *err) CEL_MUST_CHECK;
/* v must be finite (-0.0 is stored as 0.0). */
cel_status dq_numstore_add(dq_numstore *ns, double v, uint64_t row, cel_error *err) CEL_MUST_CHECK;
uint64_t dq_numstore_count(const dq_numstore *ns);
bool dq_numstore_spilled(const dq_numstore *ns);
/* Calls fn over every record in insertion order, in batches. */
typedef cel_status (*dq_nrec_fn)(void *ud, const dq_nrec *recs, size_t n, cel_error *err);
cel_status dq_numstore_scan(dq_numstore *ns, dq_nrec_fn fn, void *ud,
                            cel_error *err) CEL_MUST_CHECK;
/* Exact order statistics: out[i] = the ranks[i]-th smallest value (0-based). */
cel_status dq_numstore_select(dq_numstore *ns, const uint64_t *ranks, size_t nr, double *out,
                              cel_error *err) CEL_MUST_CHECK;
/* Quantiles with numpy's default "linear" method (what pandas' Series.quantile
 * uses): position (n-1)*q, numpy's _lerp. Needs count >= 1. */
cel_status dq_numstore_quantiles(dq_numstore *ns, const double *qs, size_t nq, double *out,
                                 cel_error *err) CEL_MUST_CHECK;
void dq_numstore_free(dq_numstore *ns);

/* numpy's _lerp(a, b, t) (numpy/lib/function_base.py): a + (b-a)*t, computed as
 * b - (b-a)*(1-t) when t >= 0.5. Exposed for tests. */
double dq_lerp(double a, double b, double t);

#endif
