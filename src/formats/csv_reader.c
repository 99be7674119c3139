/*
 * csv_reader.c: streaming CSV → rows on top of libcsv (the dialect and its rules
 * are documented for users in celeriac/stream_reader.h).
 *
 * Design:
 * - libcsv (strict mode, no space trimming) does the quoting state machine. We
 *   feed it pieces that end at each CR or LF (or after CSVR_PIECE bytes), so
 *   between two csv_parse calls we know the physical line (LFs seen + 1), and since
 *   a record starts right after a CR/LF terminator, it starts at the beginning of a
 *   piece: the first piece of a record that is not a bare line end. Line numbers
 *   stay right across quoted line breaks without a second tokenizer.
 * - libcsv hands us one cell at a time; we copy the cells of the current record
 *   into one buffer (bounded by max_line_bytes) and deliver the row when libcsv
 *   reports its end. libcsv's own cell buffer is unbounded, so after every piece we
 *   check the length of the cell in progress: it can exceed max_field_bytes by at
 *   most one piece (plus one growth block of allocation) before we fail.
 * - Delimiter detection (delimiter 0) buffers the first CSVR_SNIFF_BYTES or
 *   CSVR_SNIFF_LINES lines, picks the delimiter, then replays that buffer.
 * - libcsv's callbacks cannot stop it; after a failure the callbacks do nothing and
 *   we return at the end of the current piece (one line at most).
 * - Most records are one line without quotes. Parsed from the start state, such a
 *   piece yields its cells verbatim, back to back, one delimiter apart (nothing is
 *   unquoted, trimmed or skipped), and the record ends with the piece, inside the
 *   csv_parse call. Then the record's cells point into the piece instead of being
 *   copied (csvr_start_piece decides, csvr_on_cell keeps the offsets).
 * - UTF-8 is validated per piece (one call per line instead of one per cell). A
 *   cell is the record's text cut at ASCII delimiters, minus ASCII quotes, and
 *   valid UTF-8 stays valid under both, so while every piece of the current record
 *   was valid its cells are too. Otherwise each cell is checked on its own, which
 *   finds the cell and line for the error message exactly as before.
 *
 * Not here: typing cells (the quality engine), multi-character delimiters,
 * escape characters other than the doubled quote, comment lines.
 */
#include "formats/readers.h"

#include "formats/colmap.h"
#include "formats/utf8.h"
#include "util/dbuf.h"

#include <csv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest piece handed to csv_parse at once, and libcsv's cell buffer growth step
 * (libcsv grows linearly by this much, so it must not be tiny). */
#define CSVR_PIECE 65536
#define CSVR_BLOCK 65536

struct csvr {
    cel_reader_opts o;
    cel_row_sink sink;
    bool validate_utf8;
    unsigned char quote;
    unsigned char delim; /* 0 while detecting */

    struct csv_parser p;
    bool p_ready;

    dbuf sniff; /* input held back while the delimiter is detected */
    size_t sniff_lines;

    /* The record being assembled. */
    dbuf cells;    /* cell bytes back to back */
    size_t *coff;  /* cell i starts at csvr_base() + coff[i] */
    size_t *clen;  /* and is clen[i] bytes long */
    size_t ncells; /* cells so far */
    size_t ccap;   /* capacity of coff / clen */
    size_t rec_bytes;

    colmap cols;
    bool have_cols;
    cel_value *vals; /* cols.n entries once the columns are known */

    uint64_t line;     /* physical line of the piece being parsed (1-based) */
    uint64_t row_line; /* line where the current record started */
    bool row_line_known;
    uint64_t rows;

    bool line_start;   /* the next piece starts a physical line */
    bool direct;       /* the current record's cells are in the piece, not in cells */
    const char *piece; /* the piece being parsed */
    size_t piece_next; /* direct: where the next cell starts in it */

    bool piece_utf8; /* the piece being parsed is valid UTF-8 on its own */
    bool rec_utf8;   /* so was every piece of the current record so far */

    cel_status st;  /* first failure, sticky */
    cel_error *err; /* where callbacks record messages during feed/finish */
};

static int csvr_no_space(unsigned char c) {
    (void)c;
    return 0; /* never trim: a cell's spaces are data */
}

cel_status csvr_new(const cel_reader_opts *opts, const cel_row_sink *sink, bool validate_utf8,
                    csvr **out, cel_error *err) {
    *out = NULL;
    unsigned char quote = opts->quote ? (unsigned char)opts->quote : '"';
    unsigned char delim = (unsigned char)opts->delimiter;
    if (quote >= 0x80 || quote == '\n' || quote == '\r')
        return cel_fail(err, CEL_EINVAL, "CSV quote character must be ASCII and not a line end");
    if (delim >= 0x80 || delim == '\n' || delim == '\r' || (delim != 0 && delim == quote))
        return cel_fail(err, CEL_EINVAL,
                        "CSV delimiter must be ASCII, not a line end and not the quote character");
    csvr *r = calloc(1, sizeof *r);
    if (r == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory creating the CSV reader");
    r->o = *opts;
    r->sink = *sink;
    r->validate_utf8 = validate_utf8;
    r->quote = quote;
    r->delim = delim;
    dbuf_init(&r->sniff, CSVR_SNIFF_BYTES);
    dbuf_init(&r->cells, opts->max_line_bytes);
    colmap_init(&r->cols, opts->max_columns);
    r->line = 1;
    r->piece_utf8 = r->rec_utf8 = true;
    r->line_start = true;
    *out = r;
    return CEL_OK;
}

void csvr_free(csvr *r) {
    if (r == NULL)
        return;
    if (r->p_ready)
        csv_free(&r->p);
    dbuf_free(&r->sniff);
    dbuf_free(&r->cells);
    free(r->coff);
    free(r->clen);
    colmap_free(&r->cols);
    free(r->vals);
    free(r);
}

uint64_t csvr_rows(const csvr *r) {
    return r->rows;
}

/* Records the reader's first failure. */
static cel_status csvr_failf(csvr *r, cel_status code, const char *fmt, ...) CEL_PRINTF(3, 4);
static cel_status csvr_failf(csvr *r, cel_status code, const char *fmt, ...) {
    if (r->st == CEL_OK) {
        r->st = code;
        char msg[sizeof r->err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cel_fail(r->err, code, "%s", msg);
    }
    return code;
}

static void csvr_mark_row_start(csvr *r) {
    if (!r->row_line_known) {
        r->row_line = r->line;
        r->row_line_known = true;
    }
}

static void csvr_reset_record(csvr *r) {
    dbuf_reset(&r->cells);
    r->ncells = 0;
    r->rec_bytes = 0;
    r->row_line_known = false;
    /* The next record starts after this one's terminator, which ends the piece;
     * were it to start inside the piece, it inherits the piece's verdict. */
    r->rec_utf8 = r->piece_utf8;
}

static size_t csvr_count_lf(const char *s, size_t n) {
    size_t k = 0;
    const char *end = s + n;
    while (s < end && (s = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        k++;
        s++;
    }
    return k;
}

/* Reports the first limit the cell breaks, in the order csvr_on_cell checks them.
 * Kept out of the callback so that its common path stays short. */
static void csvr_cell_too_big(csvr *r, size_t len, size_t add) {
    size_t col = r->ncells + 1;
    /* The cell length first: csvr_check_partial can only know that one. */
    if (len > r->o.max_field_bytes)
        csvr_failf(r, CEL_ELIMIT, "CSV line %llu: cell %zu is longer than max_field_bytes (%zu)",
                   (unsigned long long)r->row_line, col, r->o.max_field_bytes);
    else if (r->ncells >= r->o.max_columns)
        csvr_failf(r, CEL_ELIMIT, "CSV line %llu: more than max_columns (%zu) cells",
                   (unsigned long long)r->row_line, r->o.max_columns);
    else if (add > r->o.max_line_bytes || r->rec_bytes > r->o.max_line_bytes - add)
        csvr_failf(r, CEL_ELIMIT, "CSV line %llu: record is longer than max_line_bytes (%zu)",
                   (unsigned long long)r->row_line, r->o.max_line_bytes);
}

/* Fails the read when s[0..len), the next cell, is not valid UTF-8. */
static bool csvr_cell_utf8_ok(csvr *r, const char *s, size_t len) {
    size_t bad = u8_invalid_at((const unsigned char *)s, len);
    if (bad == len)
        return true;
    /* All line breaks inside a record are inside its cells. */
    uint64_t at = r->row_line + csvr_count_lf(r->cells.data ? r->cells.data : "", r->cells.len) +
                  csvr_count_lf(s, bad);
    csvr_failf(r, CEL_EPARSE, "CSV line %llu: invalid UTF-8 (byte 0x%02X) in column %zu",
               (unsigned long long)at, (unsigned char)s[bad], r->ncells + 1);
    return false;
}

/* Doubles the per-cell offset and length arrays. */
static bool csvr_grow_cells(csvr *r) {
    size_t ncap = r->ccap ? r->ccap * 2 : 64;
    size_t *coff = realloc(r->coff, ncap * sizeof *coff);
    if (coff != NULL)
        r->coff = coff;
    size_t *clen = coff != NULL ? realloc(r->clen, ncap * sizeof *clen) : NULL;
    if (clen == NULL) {
        csvr_failf(r, CEL_ENOMEM, "out of memory reading CSV line %llu",
                   (unsigned long long)r->row_line);
        return false;
    }
    r->clen = clen;
    r->ccap = ncap;
    return true;
}

/* libcsv cell callback: copies the cell into the record after the checks. */
static void csvr_on_cell(void *data, size_t len, void *ud) {
    csvr *r = ud;
    if (r->st != CEL_OK)
        return;
    csvr_mark_row_start(r);
    const char *s = data ? data : "";
    size_t add = len + (r->ncells ? 1 : 0);
    if (len > r->o.max_field_bytes || r->ncells >= r->o.max_columns || add > r->o.max_line_bytes ||
        r->rec_bytes > r->o.max_line_bytes - add) {
        csvr_cell_too_big(r, len, add);
        return;
    }
    r->rec_bytes += add;
    if (r->validate_utf8 && !r->rec_utf8 && !csvr_cell_utf8_ok(r, s, len))
        return;
    if (r->ncells == r->ccap && !csvr_grow_cells(r))
        return;
    r->clen[r->ncells] = len;
    dbuf *b = &r->cells;
    if (r->direct) {
        /* s holds the same bytes as the piece at piece_next (see csvr_start_piece) */
        r->coff[r->ncells] = r->piece_next;
        r->piece_next += len + 1;
    } else if (b->cap - b->len > len) {
        r->coff[r->ncells] = b->len;
        /* Room in the buffer: append in place (dbuf_append's own work, minus its
         * max check: the cells' bytes are at most rec_bytes, checked above against
         * the same max_line_bytes). */
        memcpy(b->data + b->len, s, len);
        b->len += len;
        b->data[b->len] = '\0';
    } else {
        r->coff[r->ncells] = b->len;
        cel_status st = dbuf_append(b, s, len);
        if (st != CEL_OK) {
            csvr_failf(r, st, "CSV line %llu: %s", (unsigned long long)r->row_line,
                       st == CEL_ELIMIT ? "record is longer than max_line_bytes" : "out of memory");
            return;
        }
    }
    r->ncells++;
}

/* Where the current record's cell offsets point. */
static const char *csvr_base(const csvr *r) {
    return r->direct ? r->piece : r->cells.data;
}

static const char *csvr_cell(const csvr *r, size_t i) {
    return csvr_base(r) + r->coff[i];
}

/* Makes the columns from the current record (header) or from its width. */
static cel_status csvr_set_columns(csvr *r, bool from_header) {
    size_t n = r->ncells;
    size_t *next_k = NULL; /* per column: the next suffix to try for a repeat of its name */
    cel_status st = CEL_OK;
    dbuf name;
    dbuf_init(&name, COLMAP_NAME_MAX);
    if (n > 0) {
        next_k = calloc(n, sizeof *next_k);
        if (next_k == NULL) {
            st = csvr_failf(r, CEL_ENOMEM, "out of memory reading the CSV header");
            goto exit;
        }
    }
    for (size_t i = 0; i < n; i++) {
        dbuf_reset(&name);
        if (from_header && r->clen[i] > 0) {
            if (memchr(csvr_cell(r, i), '\0', r->clen[i]) != NULL) {
                st = csvr_failf(r, CEL_EPARSE, "CSV line %llu: header cell %zu contains a NUL byte",
                                (unsigned long long)r->row_line, i + 1);
                goto exit;
            }
            st = dbuf_append(&name, csvr_cell(r, i), r->clen[i]);
        } else {
            st = dbuf_printf(&name, "column_%zu", i + 1);
        }
        if (st != CEL_OK)
            break;
        size_t base = colmap_find(&r->cols, name.data, name.len);
        if (base != (size_t)-1) {
            /* A repeat: the first free "<name>.<k>", k = 1, 2, ... (pandas' rule). */
            size_t blen = name.len;
            size_t k = next_k[base] ? next_k[base] : 1;
            for (;; k++) {
                name.len = blen;
                st = dbuf_printf(&name, ".%zu", k);
                if (st != CEL_OK || colmap_find(&r->cols, name.data, name.len) == (size_t)-1)
                    break;
            }
            if (st != CEL_OK)
                break;
            next_k[base] = k + 1;
        }
        size_t idx;
        st = colmap_add(&r->cols, name.data, name.len, &idx);
        if (st != CEL_OK)
            break;
    }
    if (st == CEL_ELIMIT) {
        st = csvr_failf(r, CEL_ELIMIT,
                        "CSV line %llu: header name longer than %d bytes or more than "
                        "max_columns (%zu) columns",
                        (unsigned long long)r->row_line, COLMAP_NAME_MAX, r->o.max_columns);
        goto exit;
    }
    if (st != CEL_OK) {
        st = csvr_failf(r, st, "out of memory reading the CSV header");
        goto exit;
    }
    r->vals = calloc(r->cols.n ? r->cols.n : 1, sizeof *r->vals);
    if (r->vals == NULL) {
        st = csvr_failf(r, CEL_ENOMEM, "out of memory reading the CSV header");
        goto exit;
    }
    r->have_cols = true;
    if (r->sink.on_columns) {
        st = r->sink.on_columns(r->sink.ud, r->cols.n, colmap_names(&r->cols), r->err);
        if (st != CEL_OK) {
            cel_fail(r->err, st, "row sink rejected the CSV columns");
            r->st = st;
        }
    }
exit:
    free(next_k);
    dbuf_free(&name);
    return st;
}

/* libcsv record callback: header or data row. */
static void csvr_on_record(int term, void *ud) {
    (void)term;
    csvr *r = ud;
    if (r->st != CEL_OK)
        return;
    csvr_mark_row_start(r);
    if (r->ncells == 0) {
        csvr_reset_record(r);
        return;
    }
    if (!r->have_cols) {
        bool header = r->o.header != 0;
        if (csvr_set_columns(r, header) != CEL_OK)
            return;
        if (header) {
            csvr_reset_record(r);
            return;
        }
    }
    size_t ncols = r->cols.n;
    size_t have = r->ncells < ncols ? r->ncells : ncols;
    const char *base = csvr_base(r);
    /* Only kind, s and len vary: the other members stay 0 from calloc (sinks get
     * the values read-only). */
    for (size_t i = 0; i < have; i++) {
        cel_value *v = &r->vals[i];
        v->kind = CEL_V_TEXT;
        v->s = base + r->coff[i];
        v->len = r->clen[i];
    }
    for (size_t i = have; i < ncols; i++) {
        cel_value *v = &r->vals[i];
        v->kind = CEL_V_ABSENT;
        v->s = NULL;
        v->len = 0;
    }
    if (r->ncells > ncols)
        rdx_set_extra(r->ncells - ncols, csvr_cell(r, ncols), r->clen[ncols]);
    r->rows++;
    cel_status st = CEL_OK;
    if (r->sink.on_row)
        st = r->sink.on_row(r->sink.ud, r->rows, r->row_line, ncols, r->vals, r->err);
    rdx_clear_extra();
    if (st != CEL_OK) {
        cel_fail(r->err, st, "row sink stopped at CSV row %llu (line %llu)",
                 (unsigned long long)r->rows, (unsigned long long)r->row_line);
        r->st = st;
        return;
    }
    csvr_reset_record(r);
}

static cel_status csvr_start_parser(csvr *r) {
    if (csv_init(&r->p, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return csvr_failf(r, CEL_ENOMEM, "out of memory creating the CSV parser");
    r->p_ready = true;
    csv_set_delim(&r->p, r->delim);
    csv_set_quote(&r->p, r->quote);
    csv_set_space_func(&r->p, csvr_no_space);
    csv_set_blk_size(&r->p, CSVR_BLOCK);
    return CEL_OK;
}

/* The cell libcsv is still collecting must not pass max_field_bytes either: its
 * buffer is libcsv's, unbounded. entry_pos (a public member of struct csv_parser
 * in csv.h) is that cell's length so far, plus one when the last byte seen was a
 * quote inside a quoted cell: libcsv keeps that quote until the next byte tells
 * whether it closes the cell (then it is dropped) or is doubled. So one byte more
 * is allowed here, or a cell of exactly max_field_bytes would fail when a piece
 * ends right after its closing quote and pass otherwise; a cell that is really
 * longer still fails here one byte later, or in csvr_on_cell. Checked after every
 * piece and before a parse error is reported, so a cell that is both too long and
 * malformed gives the same error however the input was split. */
static cel_status csvr_check_partial(csvr *r) {
    size_t held = r->p.entry_pos;
    if (held > 0)
        held--; /* the quote libcsv may still drop */
    if (held <= r->o.max_field_bytes)
        return CEL_OK;
    csvr_mark_row_start(r);
    return csvr_failf(r, CEL_ELIMIT, "CSV line %llu: cell %zu is longer than max_field_bytes (%zu)",
                      (unsigned long long)r->row_line, r->ncells + 1, r->o.max_field_bytes);
}

/* Before csv_parse of s[0..n): may the record's cells point into the piece? Yes
 * when the parser is in its start state (the previous piece ended a line, and no
 * cell of a record is pending: a line end inside quotes is a pending cell byte),
 * the piece holds a whole line (it ends with CR or LF) and no quote. libcsv then
 * copies every byte but the delimiters and the line end into cells, in order (with
 * csvr_no_space it trims and skips nothing), and ends the record at the piece's
 * end. Cells never hold a line break here, so the UTF-8 error's line count over
 * the (empty) cells buffer stays right. */
static void csvr_start_piece(csvr *r, const char *s, size_t n) {
    r->piece = s;
    r->piece_next = 0;
    r->direct = r->line_start && r->ncells == 0 && r->p.entry_pos == 0 &&
                (s[n - 1] == '\n' || s[n - 1] == '\r') && memchr(s, r->quote, n) == NULL;
    r->line_start = s[n - 1] == '\n' || s[n - 1] == '\r';
}

/* Feeds text to libcsv, one line (or CSVR_PIECE bytes) per call. */
static cel_status csvr_parse(csvr *r, const char *data, size_t len) {
    while (len > 0) {
        /* A piece ends after the first CR or LF, so a record (which starts right
         * after a CR or LF terminator) always starts at the beginning of a piece. */
        size_t n = len < CSVR_PIECE ? len : CSVR_PIECE;
        const char *nl = memchr(data, '\n', n);
        if (nl != NULL)
            n = (size_t)(nl - data) + 1;
        const char *cr = memchr(data, '\r', nl != NULL ? n - 1 : n);
        if (cr != NULL) {
            n = (size_t)(cr - data) + 1;
            nl = NULL;
        }
        if (!r->row_line_known && data[0] != '\n' && data[0] != '\r')
            csvr_mark_row_start(r); /* the next record starts here */
        if (r->validate_utf8) {
            r->piece_utf8 = u8_invalid_at((const unsigned char *)data, n) == n;
            r->rec_utf8 = r->rec_utf8 && r->piece_utf8;
        }
        csvr_start_piece(r, data, n);
        size_t done;
        if (r->direct) {
            /* A whole quote-free line from the start state (csvr_start_piece): libcsv
             * would hand over the bytes between delimiters verbatim (strict mode, no
             * space trimming, nothing to unquote) and end the record at the line end,
             * so we split it ourselves with memchr; it is the common case and libcsv's
             * byte-at-a-time state machine was about a fifth of `celeriac check`'s
             * instructions. A lone line end (an empty line, or the LF of CRLF) yields
             * nothing, as in libcsv. Anything with a quote, a partial line or a
             * pending cell goes through libcsv below. */
            if (n > 1) {
                const char *p = data, *end = data + n - 1;
                for (;;) {
                    const char *q = memchr(p, r->delim, (size_t)(end - p));
                    if (q == NULL) {
                        csvr_on_cell((void *)p, (size_t)(end - p), r);
                        break;
                    }
                    csvr_on_cell((void *)p, (size_t)(q - p), r);
                    p = q + 1;
                }
                csvr_on_record(data[n - 1], r);
            }
            done = n;
        } else {
            done = csv_parse(&r->p, data, n, csvr_on_cell, csvr_on_record, r);
        }
        r->direct = false; /* the piece is gone after this call */
        if (r->st != CEL_OK)
            return r->st;
        if (csvr_check_partial(r) != CEL_OK)
            return r->st;
        if (done < n) {
            if (csv_error(&r->p) == CSV_EPARSE)
                return csvr_failf(r, CEL_EPARSE,
                                  "CSV line %llu: malformed quoting (a quote inside an unquoted "
                                  "cell, or text after a closing quote)",
                                  (unsigned long long)r->line);
            return csvr_failf(r, CEL_ENOMEM, "CSV line %llu: %s", (unsigned long long)r->line,
                              csv_strerror(csv_error(&r->p)));
        }
        if (nl != NULL)
            r->line++;
        data += n;
        len -= n;
    }
    return CEL_OK;
}

char csvr_detect_delimiter(const char *s, size_t n, char quote, bool eof) {
    static const char cand[4] = {',', ';', '\t', '|'};
    size_t counts[4][CSVR_SNIFF_LINES];
    size_t cur[4] = {0};
    size_t nrec = 0;
    bool in_quotes = false, nonempty = false;
    for (size_t i = 0; i <= n && nrec < CSVR_SNIFF_LINES; i++) {
        bool end_of_sample = i == n;
        char c = end_of_sample ? '\n' : s[i];
        if (end_of_sample && !eof && nrec > 0)
            break; /* an incomplete last line only counts when it is the only one */
        if (c == quote) {
            in_quotes = !in_quotes;
            nonempty = true;
            continue;
        }
        if (in_quotes && !end_of_sample)
            continue;
        if (c == '\n' || c == '\r') {
            if (nonempty) {
                for (int k = 0; k < 4; k++)
                    counts[k][nrec] = cur[k];
                nrec++;
            }
            memset(cur, 0, sizeof cur);
            nonempty = false;
            continue;
        }
        nonempty = true;
        for (int k = 0; k < 4; k++) {
            if (c == cand[k])
                cur[k]++;
        }
    }
    char best = ',';
    size_t best_score = 0;
    for (int k = 0; k < 4; k++) {
        /* The most frequent per-line count (larger count on ties) and how often. */
        size_t mode = 0, mode_freq = 0;
        for (size_t a = 0; a < nrec; a++) {
            size_t f = 0;
            for (size_t b = 0; b < nrec; b++)
                f += counts[k][b] == counts[k][a];
            if (f > mode_freq || (f == mode_freq && counts[k][a] > mode)) {
                mode = counts[k][a];
                mode_freq = f;
            }
        }
        if (mode > 0 && mode_freq > best_score) {
            best = cand[k];
            best_score = mode_freq;
        }
    }
    return best;
}

/* Ends delimiter detection: picks the delimiter and replays the held text. */
static cel_status csvr_end_sniff(csvr *r, bool eof) {
    r->delim = (unsigned char)csvr_detect_delimiter(r->sniff.data ? r->sniff.data : "",
                                                    r->sniff.len, (char)r->quote, eof);
    if (r->delim == r->quote)
        r->delim = r->quote == ',' ? ';' : ',';
    cel_status st = csvr_start_parser(r);
    if (st == CEL_OK && r->sniff.len > 0)
        st = csvr_parse(r, r->sniff.data, r->sniff.len);
    dbuf_free(&r->sniff);
    return st;
}

cel_status csvr_feed(csvr *r, const char *data, size_t len, cel_error *err) {
    r->err = err;
    if (r->st != CEL_OK)
        return r->st;
    if (!r->p_ready && r->delim != 0) {
        cel_status st = csvr_start_parser(r);
        if (st != CEL_OK)
            return st;
    }
    if (!r->p_ready) {
        /* Detecting the delimiter: hold text until the sample is big enough. */
        /* The sample is exactly the first CSVR_SNIFF_LINES lines or CSVR_SNIFF_BYTES
         * bytes, whichever is shorter, so the choice never depends on chunking. */
        size_t room = CSVR_SNIFF_BYTES - r->sniff.len;
        size_t take = len < room ? len : room;
        const char *p = data, *end = data + take;
        while (r->sniff_lines < CSVR_SNIFF_LINES && p < end &&
               (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            p++;
            if (++r->sniff_lines == CSVR_SNIFF_LINES)
                take = (size_t)(p - data);
        }
        cel_status st = dbuf_append(&r->sniff, data, take);
        if (st != CEL_OK)
            return csvr_failf(r, st, "out of memory detecting the CSV delimiter");
        data += take;
        len -= take;
        if (r->sniff.len < CSVR_SNIFF_BYTES && r->sniff_lines < CSVR_SNIFF_LINES)
            return CEL_OK;
        st = csvr_end_sniff(r, false);
        if (st != CEL_OK)
            return st;
    }
    return csvr_parse(r, data, len);
}

cel_status csvr_finish(csvr *r, cel_error *err) {
    r->err = err;
    if (r->st != CEL_OK)
        return r->st;
    cel_status st;
    if (!r->p_ready) {
        if (r->delim == 0)
            st = csvr_end_sniff(r, true);
        else
            st = csvr_start_parser(r);
        if (st != CEL_OK)
            return st;
    }
    if (csvr_check_partial(r) != CEL_OK)
        return r->st;
    if (csv_fini(&r->p, csvr_on_cell, csvr_on_record, r) != 0) {
        if (r->st != CEL_OK)
            return r->st;
        return csvr_failf(r, CEL_EPARSE,
                          "CSV line %llu: unterminated quoted cell (end of input inside quotes)",
                          (unsigned long long)r->row_line);
    }
    if (r->st != CEL_OK)
        return r->st;
    if (!r->have_cols) {
        /* No record at all: still tell the sink there are (zero) columns. */
        r->ncells = 0;
        st = csvr_set_columns(r, false);
        if (st != CEL_OK)
            return st;
    }
    return CEL_OK;
}
