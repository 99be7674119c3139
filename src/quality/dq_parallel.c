/*
 * dq_parallel.c: the quality engine on several threads, with exactly the results
 * of the single-threaded engine.
 *
 * Design: column parallelism. A column's statistics (counters, Welford mean,
 * sketches, top values, number store, examples) depend on the order of its own
 * cells only, never on other columns, so the pipeline keeps each column's order
 * and lets different columns run on different threads:
 *
 *   the reading thread (the caller) parses and copies rows into batches
 *   (at most PB_CELLS cells and about PB_TEXT bytes of text each), in a ring of
 *   PB_BATCHES; for each batch, every column is one task ("run column j over the
 *   batch's rows"); when all columns of batch s are done, batch s+1's columns may
 *   start, and batch s's row task (dq_row_tail over its rows: completeness,
 *   shape, unique keys, duplicate rows, the sample) may run, after batch s-1's.
 *   A batch's slot is reused once its row task is done.
 *
 * So column j sees batches in order and rows in order within a batch, and the row
 * tasks run in stream order: the same calls, in the same per-structure order, as
 * the single-threaded sink, hence identical output. The only shared mutable
 * state between concurrent tasks is the memory pools (atomic, dq_sketch.c): when
 * a pool runs out, which column hits the limit first can differ from run to run
 * (a spilled number store gives the same answers; an exact distinct count that
 * falls back to HyperLogLog does not), as the README says.
 *
 * Threads: opts.threads in all, the caller's included: threads-1 workers run
 * tasks; the caller reads, and whenever the ring is full it runs tasks too
 * instead of waiting, so no core idles while the reader is ahead. Tasks are
 * handed out under one mutex; a task is a column over up to 8192 rows (about a
 * millisecond), so the lock is cold. Columns of a batch go out in descending
 * order of their measured cost (longest processing time first, Graham 1969,
 * "Bounds on multiprocessing timing anomalies"), so the batch's last task is a
 * short one and the barrier between batches wastes little.
 *
 * The finish (quantiles, histograms, key-set partitions) is a list of
 * independent tasks (dq_finish_task), shared out the same way.
 *
 * Errors: a failing task (ENOMEM, a spill file's EIO) marks the engine broken and
 * stops the pipeline; the reader's next row gets the error, the read returns it.
 *
 * Not here: what a cell or a row does to the statistics (dq_engine.c).
 */
#include "quality/dq_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PB_BATCHES 4
#define PB_CELLS 65536            /* cells (rows x columns) per batch */
#define PB_ROWS 8192              /* rows per batch at most */
#define PB_TEXT ((size_t)1 << 20) /* a batch is sealed once its text passes this */
#define PB_TEXT_CAP (PB_TEXT * 2) /* arena size (more only for a row larger than that) */
#define PB_ORDER_COLS 256         /* wider tables keep their column order */
#define PB_MAX_THREADS 64

typedef struct pb_row {
    uint64_t ordinal, row, line;
    size_t extra_cells, extra_len;
    const char *extra_first; /* in the batch's text, or NULL */
} pb_row;

typedef struct pb_batch {
    size_t nrows, cap_rows, ncols, cap_cells;
    cel_value *vals; /* row-major: vals[r * ncols + j] */
    dq_cell *cells;  /* same layout */
    pb_row *rows;
    char *text;
    size_t tlen, tcap;
    /* under the mutex */
    size_t next_col; /* order[] positions below this are all claimed */
    size_t cols_done;
    bool claimed[PB_ORDER_COLS]; /* per order[] position (narrow tables) */
    bool tail_claimed;
} pb_batch;

typedef struct dq_par {
    dq_engine *e;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* any change: broadcast */
    pb_batch b[PB_BATCHES];
    uint64_t fill_seq; /* batches below this are sealed */
    uint64_t col_seq;  /* batches below this have all their columns done */
    uint64_t tail_seq; /* batches below this are completely done (slot free) */
    pb_batch *cur;     /* the reading thread's batch, or NULL */
    size_t ncols;      /* columns of order/cost */
    size_t *order;     /* column task order for the current batch */
    double *cost;      /* per column: smoothed seconds per batch */
    unsigned *owner;   /* per column: the thread that ran it last */
    bool closing, failed;
    cel_status st;
    cel_error err;
    dbuf caller_scratch;
} dq_par;

typedef struct pb_worker {
    dq_par *p;
    unsigned id; /* 1.. (the caller's thread is 0) */
    dbuf scratch;
} pb_worker;

static pb_batch *slot(dq_par *p, uint64_t seq) {
    return &p->b[seq % PB_BATCHES];
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Under the mutex: the first failure wins; everyone is woken to stop. */
static void par_fail(dq_par *p, cel_status st, const cel_error *err) {
    if (!p->failed) {
        p->failed = true;
        p->st = st;
        p->err = *err;
        p->e->broken = true;
    }
    pthread_cond_broadcast(&p->cv);
}

/* ---------------------------------------------------------------- tasks */

static cel_status run_column(dq_par *p, pb_batch *b, size_t j, dbuf *scratch, cel_error *err) {
    dq_engine *e = p->e;
    size_t nc = b->ncols;
    for (size_t r = 0; r < b->nrows; r++) {
        const pb_row *row = &b->rows[r];
        cel_status st = dq_col_cell(e, scratch, j, &b->vals[r * nc + j], &b->cells[r * nc + j],
                                    row->row, row->line, err);
        if (st != CEL_OK)
            return st;
    }
    return CEL_OK;
}

static cel_status run_tail(dq_par *p, pb_batch *b, cel_error *err) {
    size_t nc = b->ncols;
    for (size_t r = 0; r < b->nrows; r++) {
        const pb_row *row = &b->rows[r];
        cel_row_extra ex = {
            .cells = row->extra_cells, .first = row->extra_first, .first_len = row->extra_len};
        cel_status st = dq_row_tail(p->e, row->ordinal, row->row, row->line, nc, &b->vals[r * nc],
                                    &b->cells[r * nc], &ex, err);
        if (st != CEL_OK)
            return st;
    }
    return CEL_OK;
}

/* Under the mutex, when a batch's columns are all done: the next batch's columns
 * by cost, longest first (ties by position); insertion sort, at most
 * PB_ORDER_COLS columns. */
static void reorder(dq_par *p) {
    for (size_t j = 0; j < p->ncols; j++)
        p->order[j] = j;
    if (p->ncols > PB_ORDER_COLS)
        return;
    for (size_t i = 1; i < p->ncols; i++) {
        size_t x = p->order[i], k = i;
        while (k > 0 && p->cost[p->order[k - 1]] < p->cost[x]) {
            p->order[k] = p->order[k - 1];
            k--;
        }
        p->order[k] = x;
    }
}

/* Under the mutex (released while the task runs). Claims and runs one task;
 * false when none is ready. */
/* Under the mutex: the order[] position of the column thread `me` should run
 * next in batch b, or b->ncols when every column is claimed. Tables up to
 * PB_ORDER_COLS columns: the longest unclaimed column this thread ran last time,
 * else the longest unclaimed one (cache affinity: a column's hash tables and
 * buffers stay in one core's cache while the split stays balanced). Wider
 * tables: in order. */
static size_t pick_column(dq_par *p, pb_batch *b, unsigned me) {
    if (b->ncols > PB_ORDER_COLS)
        return b->next_col < b->ncols ? b->next_col++ : b->ncols;
    while (b->next_col < b->ncols && b->claimed[b->next_col])
        b->next_col++;
    if (b->next_col == b->ncols)
        return b->ncols;
    size_t pick = b->next_col;
    for (size_t k = b->next_col; k < b->ncols; k++) {
        if (!b->claimed[k] && p->owner[p->order[k]] == me) {
            pick = k;
            break;
        }
    }
    b->claimed[pick] = true;
    return pick;
}

static bool par_run_one(dq_par *p, unsigned me, dbuf *scratch) {
    if (p->failed)
        return false;
    /* a sealed batch whose columns are all done moves the column front on */
    while (p->col_seq < p->fill_seq &&
           slot(p, p->col_seq)->cols_done == slot(p, p->col_seq)->ncols) {
        p->col_seq++;
        reorder(p);
        pthread_cond_broadcast(&p->cv);
    }
    cel_error err = {0};
    if (p->col_seq < p->fill_seq) {
        pb_batch *b = slot(p, p->col_seq);
        size_t k = pick_column(p, b, me);
        if (k < b->ncols) {
            size_t j = p->order[k];
            p->owner[j] = me;
            pthread_mutex_unlock(&p->mu);
            double t0 = now_s();
            cel_status st = run_column(p, b, j, scratch, &err);
            double dt = now_s() - t0;
            pthread_mutex_lock(&p->mu);
            p->cost[j] = p->cost[j] == 0 ? dt : 0.75 * p->cost[j] + 0.25 * dt;
            b->cols_done++;
            if (st != CEL_OK)
                par_fail(p, st, &err);
            pthread_cond_broadcast(&p->cv);
            return true;
        }
    }
    if (p->tail_seq < p->col_seq && !slot(p, p->tail_seq)->tail_claimed) {
        pb_batch *b = slot(p, p->tail_seq);
        b->tail_claimed = true;
        pthread_mutex_unlock(&p->mu);
        cel_status st = run_tail(p, b, &err);
        pthread_mutex_lock(&p->mu);
        p->tail_seq++;
        if (st != CEL_OK)
            par_fail(p, st, &err);
        pthread_cond_broadcast(&p->cv);
        return true;
    }
    return false;
}

static void *worker_main(void *ud) {
    pb_worker *w = ud;
    dq_par *p = w->p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (par_run_one(p, w->id, &w->scratch))
            continue;
        if (p->failed || (p->closing && p->tail_seq == p->fill_seq))
            break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Under the mutex: the caller's thread works (or waits) until cond holds. */
typedef bool (*pb_cond)(const dq_par *p);
static void help_until(dq_par *p, pb_cond cond) {
    while (!cond(p) && !p->failed) {
        if (!par_run_one(p, 0, &p->caller_scratch))
            pthread_cond_wait(&p->cv, &p->mu);
    }
}

static bool slot_free(const dq_par *p) {
    return p->fill_seq < p->tail_seq + PB_BATCHES;
}

static bool all_done(const dq_par *p) {
    return p->tail_seq == p->fill_seq;
}

/* ---------------------------------------------------------------- the reading side */

/* Makes the next slot the reading thread's batch, sized for ncols. */
static cel_status batch_open(dq_par *p, size_t ncols, cel_error *err) {
    pthread_mutex_lock(&p->mu);
    help_until(p, slot_free);
    bool failed = p->failed;
    pthread_mutex_unlock(&p->mu);
    if (failed)
        return cel_fail(err, p->st, "%s", p->err.msg);
    pb_batch *b = slot(p, p->fill_seq);
    size_t rows = ncols ? PB_CELLS / ncols : PB_ROWS;
    if (rows > PB_ROWS)
        rows = PB_ROWS;
    if (rows == 0)
        rows = 1;
    size_t cells = rows * (ncols ? ncols : 1);
    if (cells > b->cap_cells) {
        free(b->vals);
        free(b->cells);
        b->vals = malloc(cells * sizeof *b->vals);
        b->cells = malloc(cells * sizeof *b->cells);
        b->cap_cells = b->vals && b->cells ? cells : 0;
        if (b->cap_cells == 0)
            return cel_fail(err, CEL_ENOMEM, "quality: out of memory for a row batch");
    }
    if (rows > b->cap_rows) {
        free(b->rows);
        b->rows = malloc(rows * sizeof *b->rows);
        b->cap_rows = b->rows ? rows : 0;
        if (b->rows == NULL)
            return cel_fail(err, CEL_ENOMEM, "quality: out of memory for a row batch");
    }
    b->cap_rows = rows;
    b->ncols = ncols;
    b->nrows = 0;
    b->tlen = 0;
    b->next_col = b->cols_done = 0;
    if (ncols <= PB_ORDER_COLS)
        memset(b->claimed, 0, ncols);
    b->tail_claimed = false;
    p->cur = b;
    return CEL_OK;
}

/* Makes room for need more bytes of text in an empty batch (nothing points into
 * the arena yet, so it may move). */
static cel_status text_reserve(pb_batch *b, size_t need, cel_error *err) {
    size_t ncap = b->tcap ? b->tcap : PB_TEXT_CAP;
    while (ncap < need)
        ncap *= 2;
    if (ncap == b->tcap && b->text)
        return CEL_OK;
    char *nt = realloc(b->text, ncap);
    if (nt == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory for a row batch");
    b->text = nt;
    b->tcap = ncap;
    return CEL_OK;
}

static const char *text_put(pb_batch *b, const char *s, size_t n) {
    char *d = b->text + b->tlen;
    if (n)
        memcpy(d, s, n);
    b->tlen += n;
    return d;
}

/* Hands the reading thread's batch to the workers. */
static void batch_seal(dq_par *p) {
    p->cur = NULL;
    pthread_mutex_lock(&p->mu);
    p->fill_seq++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Seals what is being filled and works until every batch is done. */
static cel_status drain(dq_par *p, cel_error *err) {
    if (p->cur && p->cur->nrows)
        batch_seal(p);
    p->cur = NULL;
    pthread_mutex_lock(&p->mu);
    help_until(p, all_done);
    bool failed = p->failed;
    pthread_mutex_unlock(&p->mu);
    if (failed)
        return cel_fail(err, p->st, "%s", p->err.msg);
    return CEL_OK;
}

static cel_status par_on_columns(void *ud, size_t ncols, const char *const *names, cel_error *err) {
    dq_par *p = ud;
    /* the engine's column arrays may move: nothing may be in flight */
    cel_status st = drain(p, err);
    if (st == CEL_OK)
        st = dq_on_columns(p->e, ncols, names, err);
    if (st != CEL_OK)
        return st;
    size_t n = p->e->ncols;
    if (n > p->ncols) {
        size_t *o = realloc(p->order, n * sizeof *o);
        if (o)
            p->order = o;
        double *c = realloc(p->cost, n * sizeof *c);
        if (c)
            p->cost = c;
        unsigned *w = realloc(p->owner, n * sizeof *w);
        if (w)
            p->owner = w;
        if (o == NULL || c == NULL || w == NULL)
            return cel_fail(err, CEL_ENOMEM, "quality: out of memory");
        for (size_t j = p->ncols; j < n; j++)
            p->cost[j] = 0, p->owner[j] = 0;
        p->ncols = n;
        reorder(p);
    }
    return CEL_OK;
}

static cel_status par_on_row(void *ud, uint64_t row_number, uint64_t line, size_t ncols,
                             const cel_value *vals, cel_error *err) {
    dq_par *p = ud;
    dq_engine *e = p->e;
    cel_status st = dq_row_check(e, row_number, ncols, err);
    if (st != CEL_OK)
        return st;
    /* the row's text goes into the arena in one piece: a row that does not fit
     * starts a new batch, so the arena only ever moves while it is empty */
    const cel_row_extra *ex = cel_reader_row_extra();
    bool extra_text = ex->cells && ex->first;
    size_t need = extra_text ? ex->first_len : 0;
    for (size_t j = 0; j < ncols; j++)
        if (vals[j].s)
            need += vals[j].len;
    if (p->cur && p->cur->nrows && p->cur->tlen + need > p->cur->tcap)
        batch_seal(p);
    if (p->cur == NULL && (st = batch_open(p, ncols, err)) != CEL_OK)
        return st;
    pb_batch *b = p->cur;
    if ((b->text == NULL || b->tlen + need > b->tcap) &&
        (st = text_reserve(b, b->tlen + need, err)) != CEL_OK)
        return st;
    size_t r = b->nrows;
    cel_value *dst = &b->vals[r * ncols];
    for (size_t j = 0; j < ncols; j++) {
        dst[j] = vals[j];
        if (vals[j].s)
            dst[j].s = text_put(b, vals[j].s, vals[j].len);
    }
    e->rows++;
    pb_row *row = &b->rows[r];
    row->ordinal = e->rows;
    row->row = row_number ? row_number : e->rows;
    row->line = line;
    row->extra_cells = ex->cells;
    row->extra_first = extra_text ? text_put(b, ex->first, ex->first_len) : NULL;
    row->extra_len = extra_text ? ex->first_len : 0;
    b->nrows++;
    if (b->nrows == b->cap_rows || b->tlen >= PB_TEXT)
        batch_seal(p);
    return CEL_OK;
}

static unsigned clamp_threads(unsigned t) {
    return t > PB_MAX_THREADS ? PB_MAX_THREADS : t;
}

cel_status dq_par_read(dq_engine *e, const cel_source *src, const cel_reader_opts *opts,
                       cel_format *fmt, cel_error *err) {
    dq_par *p = calloc(1, sizeof *p);
    if (p == NULL)
        return cel_fail(err, CEL_ENOMEM, "quality: out of memory");
    p->e = e;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    dbuf_init(&p->caller_scratch, (size_t)64 << 20);
    unsigned nw = clamp_threads(e->opts.threads) - 1;
    pthread_t th[PB_MAX_THREADS];
    pb_worker w[PB_MAX_THREADS];
    unsigned started = 0;
    cel_status st = CEL_OK;
    /* columns the engine already knows (a previous read) */
    if (e->ncols && (st = par_on_columns(p, e->ncols, NULL, err)) != CEL_OK)
        goto out;
    for (; started < nw; started++) {
        w[started].p = p;
        w[started].id = started + 1;
        dbuf_init(&w[started].scratch, (size_t)64 << 20);
        if (pthread_create(&th[started], NULL, worker_main, &w[started]) != 0) {
            dbuf_free(&w[started].scratch);
            break; /* fewer workers: the caller's thread still does everything */
        }
    }
    cel_row_sink sink = {.ud = p, .on_columns = par_on_columns, .on_row = par_on_row};
    st = cel_read_source(src, opts, &sink, fmt, err);
    /* rows delivered before a parse error count, as in the single-threaded sink */
    cel_error derr = {0};
    cel_status dst = drain(p, &derr);
    if (st == CEL_OK && dst != CEL_OK)
        st = cel_fail(err, dst, "%s", derr.msg);
out:
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    if (st != CEL_OK && !p->failed)
        p->failed = true; /* workers stop without finishing the ring */
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        dbuf_free(&w[i].scratch);
    }
    if (p->e->broken && st == CEL_OK)
        st = cel_fail(err, p->st ? p->st : CEL_EINTERNAL, "%s", p->err.msg);
    for (size_t i = 0; i < PB_BATCHES; i++) {
        free(p->b[i].vals);
        free(p->b[i].cells);
        free(p->b[i].rows);
        free(p->b[i].text);
    }
    free(p->order);
    free(p->cost);
    free(p->owner);
    dbuf_free(&p->caller_scratch);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return st;
}

/* ---------------------------------------------------------------- finish */

typedef struct pf_ctx {
    dq_engine *e;
    pthread_mutex_t mu;
    size_t next, n;
    bool failed;
    cel_status st;
    cel_error err;
} pf_ctx;

static void *finish_main(void *ud) {
    pf_ctx *f = ud;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        size_t t = f->next < f->n && !f->failed ? f->next++ : f->n;
        pthread_mutex_unlock(&f->mu);
        if (t == f->n)
            return NULL;
        cel_error err = {0};
        cel_status st = dq_finish_task(f->e, t, &err);
        if (st != CEL_OK) {
            pthread_mutex_lock(&f->mu);
            if (!f->failed) {
                f->failed = true;
                f->st = st;
                f->err = err;
            }
            pthread_mutex_unlock(&f->mu);
        }
    }
}

cel_status dq_par_finish(dq_engine *e, cel_error *err) {
    pf_ctx f = {.e = e, .n = dq_finish_tasks(e)};
    pthread_mutex_init(&f.mu, NULL);
    unsigned nw = clamp_threads(e->opts.threads) - 1;
    if (nw > f.n)
        nw = (unsigned)f.n;
    pthread_t th[PB_MAX_THREADS];
    unsigned started = 0;
    for (; started < nw; started++)
        if (pthread_create(&th[started], NULL, finish_main, &f) != 0)
            break;
    finish_main(&f);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&f.mu);
    if (f.failed)
        return cel_fail(err, f.st, "%s", f.err.msg);
    return CEL_OK;
}
