/*
 * test_formats_corpus.c: runs the readers over tests/corpus/<format>/{valid,invalid}.
 *
 * Layout (jansson's test/suites style): each case is one input file
 * <case>.<ext> (ext csv, tsv, txt, json, ndjson, jsonl, ...), optional
 * <case>.opts with key=value lines (delimiter, quote, header, encoding,
 * max_line_bytes, max_field_bytes, max_columns, max_depth, format), and
 *   valid/<case>.expected   the rendering of test_formats_render.h, exactly;
 *   invalid/<case>.error    line 1: the status name (EPARSE, ELIMIT, ...),
 *                           line 2: a substring of the error message.
 * The format is the directory name unless .opts sets format= (auto tests detection).
 *
 * Every case is read twice more through the stream reader, byte by byte and in
 * random pieces; rows, status and message must equal the one-shot read.
 * CELERIAC_CORPUS_BLESS=1 writes missing .expected files (review them!).
 * The corpus is found through CELERIAC_SOURCE_DIR (set by ctest), falling back to
 * the compile-time source directory.
 *
 * Not here: unit tests of the pieces (test_formats.c).
 */
#include "test_formats_render.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <strings.h>

typedef struct corpus_case {
    char path[2048]; /* input file */
    char base[2048]; /* path without the extension */
    char fmtdir[16];
    bool valid;
    char name[320];
} corpus_case;

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    dbuf b;
    dbuf_init(&b, 0);
    char tmp[65536];
    size_t n;
    cel_status st = CEL_OK;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && st == CEL_OK)
        st = dbuf_append(&b, tmp, n);
    fclose(f);
    if (st != CEL_OK) {
        dbuf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return dbuf_take(&b);
}

static size_t parse_size(const char *v) {
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    assert_true(errno == 0 && end != v);
    return (size_t)x;
}

/* Loads <base>.opts into o (defaults filled). enc_buf keeps the encoding string. */
static void load_opts(const corpus_case *c, cel_reader_opts *o, char *enc_buf, size_t enc_sz) {
    memset(o, 0, sizeof *o);
    o->header = 1;
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(cel_format_parse(c->fmtdir, &o->format, &err), CEL_OK);
    char path[2100];
    snprintf(path, sizeof path, "%s.opts", c->base);
    char *text = read_all(path, NULL);
    if (text != NULL) {
        for (char *line = text, *next; line != NULL && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            char *eq = strchr(line, '=');
            if (eq == NULL)
                continue;
            *eq = '\0';
            const char *k = line, *v = eq + 1;
            if (strcmp(k, "delimiter") == 0)
                o->delimiter = strcmp(v, "tab") == 0 ? '\t' : v[0];
            else if (strcmp(k, "quote") == 0)
                o->quote = v[0];
            else if (strcmp(k, "header") == 0)
                o->header = (int)strtol(v, NULL, 10);
            else if (strcmp(k, "encoding") == 0) {
                snprintf(enc_buf, enc_sz, "%s", v);
                o->encoding = enc_buf;
            } else if (strcmp(k, "max_line_bytes") == 0)
                o->max_line_bytes = parse_size(v);
            else if (strcmp(k, "max_field_bytes") == 0)
                o->max_field_bytes = parse_size(v);
            else if (strcmp(k, "max_columns") == 0)
                o->max_columns = parse_size(v);
            else if (strcmp(k, "max_depth") == 0)
                o->max_depth = parse_size(v);
            else if (strcmp(k, "format") == 0)
                assert_int_equal(cel_format_parse(v, &o->format, &err), CEL_OK);
            else
                fail_msg("%s: unknown option %s", path, k);
        }
        free(text);
    }
    cel_reader_opts_defaults(o);
}

static void run_case(void **state) {
    const corpus_case *c = *state;
    cel_reader_opts o;
    char enc[64];
    load_opts(c, &o, enc, sizeof enc);

    /* One-shot read through the file source and format dispatch. */
    render_sink rs;
    render_init(&rs);
    cel_row_sink sink = render_as_sink(&rs);
    cel_source src;
    cel_error err;
    cel_error_clear(&err);
    assert_int_equal(cel_file_source_open(c->path, &src, &err), CEL_OK);
    cel_format used = CEL_FMT_AUTO;
    cel_status st = cel_read_source(&src, &o, &sink, &used, &err);
    cel_file_source_close(&src);
    if (rs.contract[0])
        fail_msg("%s: reader contract violated: %s", c->path, rs.contract);

    char path[2100];
    if (c->valid) {
        if (st != CEL_OK)
            fail_msg("%s: expected success, got %s: %s", c->path, cel_strerror(st), err.msg);
        snprintf(path, sizeof path, "%s.expected", c->base);
        char *expected = read_all(path, NULL);
        if (expected == NULL && getenv("CELERIAC_CORPUS_BLESS")) {
            FILE *f = fopen(path, "wb");
            assert_non_null(f);
            fwrite(rs.out.data, 1, rs.out.len, f);
            fclose(f);
            expected = read_all(path, NULL);
        }
        if (expected == NULL)
            fail_msg("%s: missing (run with CELERIAC_CORPUS_BLESS=1 to create it)", path);
        if (strcmp(expected, rs.out.data ? rs.out.data : "") != 0)
            fail_msg("%s: output differs from %s\n--- got ---\n%s--- expected ---\n%s", c->path,
                     path, rs.out.data ? rs.out.data : "", expected);
        free(expected);
    } else {
        snprintf(path, sizeof path, "%s.error", c->base);
        char *want = read_all(path, NULL);
        if (want == NULL)
            fail_msg("%s: missing", path);
        char *nl = strchr(want, '\n');
        assert_non_null(nl);
        *nl = '\0';
        char *sub = nl + 1;
        char *nl2 = strchr(sub, '\n');
        if (nl2)
            *nl2 = '\0';
        if (st == CEL_OK || strcmp(cel_strerror(st), want) != 0)
            fail_msg("%s: expected %s, got %s: %s", c->path, want, cel_strerror(st), err.msg);
        if (strstr(err.msg, sub) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", c->path, err.msg, sub);
        free(want);
    }

    /* The same through the stream reader, split in different ways. Format
     * detection happens in cel_read_source only, so use the format it chose. */
    if (used != CEL_FMT_AUTO && used != CEL_FMT_PARQUET) {
        size_t len = 0;
        char *data = read_all(c->path, &len);
        assert_non_null(data);
        char status[1200];
        snprintf(status, sizeof status, "status %s: %s\n", cel_strerror(st), err.msg);
        dbuf ref;
        dbuf_init(&ref, 0);
        assert_int_equal(dbuf_append(&ref, rs.out.data ? rs.out.data : "", rs.out.len), CEL_OK);
        assert_int_equal(dbuf_append_str(&ref, status), CEL_OK);
        cel_reader_opts so = o;
        if (so.delimiter == 0 && strcmp(c->fmtdir, "csv") == 0) {
            /* cel_read_source may have taken TAB from a .tsv name */
            const char *dot = strrchr(c->path, '.');
            if (dot && strcasecmp(dot, ".tsv") == 0)
                so.delimiter = '\t';
        }
        size_t *cuts = malloc((len + 1) * sizeof *cuts);
        assert_non_null(cuts);
        for (int round = 0; round < 6; round++) {
            size_t ncut = 0;
            if (round == 0) {
                for (size_t k = 1; k < len; k++)
                    cuts[ncut++] = k; /* byte by byte */
            } else {
                srand((unsigned)(round * 7919 + len));
                for (size_t k = 0; k < len; k += 1 + (size_t)rand() % (round * 5))
                    cuts[ncut++] = k;
            }
            render_sink rs2;
            render_init(&rs2);
            render_stream(used, &so, data, len, cuts, ncut, &rs2);
            if (rs2.contract[0])
                fail_msg("%s: contract violated in split round %d: %s", c->path, round,
                         rs2.contract);
            if (strcmp(ref.data, rs2.out.data) != 0)
                fail_msg("%s: split round %d differs\n--- got ---\n%s--- one-shot ---\n%s", c->path,
                         round, rs2.out.data, ref.data);
            render_free(&rs2);
        }
        free(cuts);
        dbuf_free(&ref);
        free(data);
    }
    render_free(&rs);
}

static bool is_aux(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot == NULL || strcmp(dot, ".expected") == 0 || strcmp(dot, ".error") == 0 ||
           strcmp(dot, ".opts") == 0 || strcmp(dot, ".md") == 0 || name[0] == '.';
}

static int cmp_case(const void *a, const void *b) {
    return strcmp(((const corpus_case *)a)->name, ((const corpus_case *)b)->name);
}

int main(void) {
    const char *root = getenv("CELERIAC_SOURCE_DIR");
    if (root == NULL || root[0] == '\0')
        root = CELERIAC_SOURCE_DIR;
    static const char *const formats[] = {"csv", "json", "ndjson"};
    static const char *const kinds[] = {"valid", "invalid"};
    size_t ncases = 0, cap = 64;
    corpus_case *cases = calloc(cap, sizeof *cases);
    for (size_t f = 0; f < 3; f++) {
        for (size_t k = 0; k < 2; k++) {
            char dir[1024];
            snprintf(dir, sizeof dir, "%s/tests/corpus/%s/%s", root, formats[f], kinds[k]);
            DIR *d = opendir(dir);
            if (d == NULL) {
                fprintf(stderr, "corpus directory %s missing\n", dir);
                return 1;
            }
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (is_aux(e->d_name))
                    continue;
                if (ncases == cap) {
                    cap *= 2;
                    cases = realloc(cases, cap * sizeof *cases);
                }
                corpus_case *c = &cases[ncases++];
                memset(c, 0, sizeof *c);
                snprintf(c->path, sizeof c->path, "%s/%s", dir, e->d_name);
                snprintf(c->base, sizeof c->base, "%s", c->path);
                char *dot = strrchr(c->base, '.');
                if (dot)
                    *dot = '\0';
                snprintf(c->fmtdir, sizeof c->fmtdir, "%s", formats[f]);
                c->valid = k == 0;
                snprintf(c->name, sizeof c->name, "%s/%s/%s", formats[f], kinds[k], e->d_name);
            }
            closedir(d);
        }
    }
    qsort(cases, ncases, sizeof *cases, cmp_case);
    struct CMUnitTest *tests = calloc(ncases ? ncases : 1, sizeof *tests);
    for (size_t i = 0; i < ncases; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = run_case;
        tests[i].initial_state = &cases[i];
    }
    int rc = _cmocka_run_group_tests("formats_corpus", tests, ncases, NULL, NULL);
    free(tests);
    free(cases);
    return rc;
}
