/*
 * keypattern.c: segment-wise key matching (see keypattern.h). Patterns and keys are
 * split on '/'; `**` is matched by trying every split (at most one `**`, so the cost
 * is linear in the number of key segments).
 */
#include "tasks/keypattern.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_SEGS 64

typedef struct {
    const char *p;
    size_t n;
} seg;

static int split(const char *s, seg *out, int max) {
    int n = 0;
    const char *start = s;
    for (const char *c = s;; c++) {
        if (*c == '/' || *c == '\0') {
            if (n >= max)
                return -1;
            out[n].p = start;
            out[n].n = (size_t)(c - start);
            n++;
            if (*c == '\0')
                break;
            start = c + 1;
        }
    }
    return n;
}

static bool capture(char *dst, size_t dstsz, const char *p, size_t n) {
    if (n == 0 || n >= dstsz)
        return false;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return true;
}

/* Matches one pattern segment against one key segment. */
static bool match_seg(seg ps, seg ks, kp_match *m) {
    if (ps.n == 1 && ps.p[0] == '*')
        return ks.n > 0;
    const char *open = memchr(ps.p, '{', ps.n);
    if (!open)
        return ps.n == ks.n && memcmp(ps.p, ks.p, ps.n) == 0;
    const char *close = memchr(open, '}', ps.n - (size_t)(open - ps.p));
    if (!close)
        return false;
    size_t pre = (size_t)(open - ps.p), post = ps.n - (size_t)(close - ps.p) - 1;
    if (ks.n < pre + post + 1 || memcmp(ks.p, ps.p, pre) != 0 ||
        memcmp(ks.p + ks.n - post, close + 1, post) != 0)
        return false;
    size_t nl = (size_t)(close - open - 1);
    const char *cap = ks.p + pre;
    size_t capn = ks.n - pre - post;
    if (nl == 11 && memcmp(open + 1, "agency_slug", 11) == 0)
        return capture(m->agency_slug, sizeof m->agency_slug, cap, capn);
    if (nl == 9 && memcmp(open + 1, "file_name", 9) == 0)
        return capture(m->file_name, sizeof m->file_name, cap, capn);
    return false;
}

static bool match_range(const seg *ps, int pn, const seg *ks, int kn, kp_match *m) {
    if (pn != kn)
        return false;
    for (int i = 0; i < pn; i++)
        if (!match_seg(ps[i], ks[i], m))
            return false;
    return true;
}

cel_status kp_resolve(const char *pattern, const char *key, kp_match *out, cel_error *err) {
    seg ps[MAX_SEGS], ks[MAX_SEGS];
    memset(out, 0, sizeof *out);
    int pn = split(pattern, ps, MAX_SEGS);
    if (pn < 0)
        return cel_fail(err, CEL_ECONFIG, "key pattern has more than %d segments", MAX_SEGS);
    int star2 = -1;
    bool has_agency = false, has_file = false;
    for (int i = 0; i < pn; i++) {
        if (ps[i].n == 2 && memcmp(ps[i].p, "**", 2) == 0) {
            if (star2 >= 0)
                return cel_fail(err, CEL_ECONFIG, "key pattern '%s': '**' may appear once",
                                pattern);
            star2 = i;
        }
        if (memmem(ps[i].p, ps[i].n, "{agency_slug}", 13))
            has_agency = true;
        if (memmem(ps[i].p, ps[i].n, "{file_name}", 11))
            has_file = true;
    }
    if (!has_agency || !has_file)
        return cel_fail(err, CEL_ECONFIG,
                        "key pattern '%s' must capture {agency_slug} and {file_name}", pattern);
    int kn = split(key, ks, MAX_SEGS);
    if (kn < 0)
        return cel_fail(err, CEL_ENOTFOUND, "key has more than %d segments", MAX_SEGS);
    bool ok;
    if (star2 < 0) {
        ok = match_range(ps, pn, ks, kn, out);
    } else {
        int before = star2, after = pn - star2 - 1;
        ok = kn >= before + after && match_range(ps, before, ks, before, out) &&
             match_range(ps + star2 + 1, after, ks + kn - after, after, out);
    }
    if (!ok)
        return cel_fail(err, CEL_ENOTFOUND, "key '%s' does not match the key pattern '%s'", key,
                        pattern);
    return CEL_OK;
}
