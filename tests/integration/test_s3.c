/*
 * test_s3.c: the S3 client against a real, signature-verifying S3 server (the test
 * stack's @20minutes/s3rver; see tests/stack/s3server.mjs). Round trips of PUT / HEAD /
 * GET / ranged GET / ListObjectsV2 (several pages), awkward keys, a 50 MB object
 * streamed with bounded memory, the cel_source adapter, error mapping (404, wrong
 * secret, connection refused with retries) and a cross-check with boto3 in both
 * directions (tests/integration/s3_boto3_check.py).
 *
 * Environment: AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (required,
 * else exit 77 = skipped), AWS_REGION, S3_BUCKET_UPLOADS (default "uploads"),
 * S3_BUCKET_REPORTS (default "reports"). Every object is written under a prefix unique to
 * this run, so runs do not interfere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "s3/s3.h"
#include "s3/sigv4.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static s3_config g_cfg;
static const char *g_bucket = "uploads";
static const char *g_reports = "reports";
static char g_prefix[128];

static s3_client *new_client(const s3_config *cfg) {
    s3_client *c = NULL;
    cel_error err = {0};
    cel_status st = s3_client_new(cfg, &c, &err);
    if (st != CEL_OK)
        fail_msg("s3_client_new: %s", err.msg);
    return c;
}

static void key_of(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s%s", g_prefix, name);
}

/* ---- helpers: collecting streams ------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len, cap;
    size_t max_chunk;
    size_t chunks;
} sink_t;

static cel_status sink_fn(void *ud, const void *data, size_t len, cel_error *err) {
    sink_t *s = ud;
    (void)err;
    if (s->len + len > s->cap) {
        size_t nc = (s->len + len) * 2 + 1024;
        char *p = realloc(s->data, nc);
        assert_non_null(p);
        s->data = p;
        s->cap = nc;
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->chunks++;
    if (len > s->max_chunk)
        s->max_chunk = len;
    return CEL_OK;
}

static void put_str(s3_client *c, const char *bucket, const char *key, const char *body) {
    cel_error err = {0};
    char etag[128];
    cel_status st = s3_put(c, bucket, key, body, strlen(body), "text/plain", etag, &err);
    if (st != CEL_OK)
        fail_msg("PUT %s: %s", key, err.msg);
    assert_true(strlen(etag) > 0);
}

static void get_str_equal(s3_client *c, const char *bucket, const char *key, const char *want) {
    cel_error err = {0};
    sink_t s = {0};
    s3_object_info info;
    cel_status st = s3_get_stream(c, bucket, key, sink_fn, &s, &info, &err);
    if (st != CEL_OK)
        fail_msg("GET %s: %s", key, err.msg);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.data ? s.data : "", want, s.len);
    assert_int_equal(info.size, strlen(want));
    free(s.data);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_put_head_get_range(void **state) {
    (void)state;
    s3_client *c = new_client(&g_cfg);
    char key[512], etag[128];
    cel_error err = {0};
    const char *body = "0123456789abcdefghijklmnopqrstuvwxyz";
    key_of(key, sizeof key, "basic/hello.txt");
    time_t before = time(NULL);
    assert_int_equal(s3_put(c, g_bucket, key, body, strlen(body), "text/csv", etag, &err), CEL_OK);
    s3_object_info info;
    assert_int_equal(s3_head(c, g_bucket, key, &info, &err), CEL_OK);
    assert_int_equal(info.size, strlen(body));
    assert_string_equal(info.etag, etag);
    assert_string_equal(info.content_type, "text/csv");
    assert_true(info.last_modified >= before - 300 && info.last_modified <= time(NULL) + 300);
    get_str_equal(c, g_bucket, key, body);

    char buf[16];
    assert_int_equal(s3_get_range(c, g_bucket, key, 0, 10, buf, &err), CEL_OK);
    assert_memory_equal(buf, "0123456789", 10);
    assert_int_equal(s3_get_range(c, g_bucket, key, 30, 6, buf, &err), CEL_OK);
    assert_memory_equal(buf, "uvwxyz", 6);
    /* runs past the end / starts past the end */
    assert_int_equal(s3_get_range(c, g_bucket, key, 30, 16, buf, &err), CEL_EINVAL);
    assert_non_null(strstr(err.msg, "size 36"));
    cel_error_clear(&err);
    assert_int_equal(s3_get_range(c, g_bucket, key, 100, 4, buf, &err), CEL_EINVAL);
    cel_error_clear(&err);

    /* empty object */
    key_of(key, sizeof key, "basic/empty");
    assert_int_equal(s3_put(c, g_bucket, key, "", 0, NULL, etag, &err), CEL_OK);
    assert_int_equal(s3_head(c, g_bucket, key, &info, &err), CEL_OK);
    assert_int_equal(info.size, 0);
    get_str_equal(c, g_bucket, key, "");

    /* overwrite, and the reports bucket */
    key_of(key, sizeof key, "basic/hello.txt");
    put_str(c, g_bucket, key, "second version");
    get_str_equal(c, g_bucket, key, "second version");
    key_of(key, sizeof key, "report.json");
    put_str(c, g_reports, key, "{\"ok\": true}");
    get_str_equal(c, g_reports, key, "{\"ok\": true}");
    s3_client_free(c);
}

static const char *const AWKWARD[] = {
    "awk/with space.csv",
    "awk/plus+sign.csv",
    "awk/percent%41%2F.csv",
    "awk/equals=and&amp.csv",
    "awk/question?mark#hash.csv",
    "awk/unicod\xC3\xA9-\xE2\x82\xAC-\xF0\x9F\x98\x80.csv",
    "awk/semi;colon:comma,at@dollar$.csv",
    "awk/tilde~under_score-dash.csv",
    "/awk-leading-slash.csv",
    "awk/trailing-slash/",
    "awk//double//slash.csv",
    "awk/dots/./and/../dots.csv",
};

static void test_awkward_keys_round_trip(void **state) {
    (void)state;
    s3_client *c = new_client(&g_cfg);
    cel_error err = {0};
    for (size_t i = 0; i < sizeof AWKWARD / sizeof AWKWARD[0]; i++) {
        char key[512], body[600];
        key_of(key, sizeof key, AWKWARD[i]);
        snprintf(body, sizeof body, "body of <%s>", key);
        put_str(c, g_bucket, key, body);
        s3_object_info info;
        cel_status st = s3_head(c, g_bucket, key, &info, &err);
        if (st != CEL_OK)
            fail_msg("HEAD %s: %s", key, err.msg);
        assert_int_equal(info.size, strlen(body));
        get_str_equal(c, g_bucket, key, body);
        char b4[4];
        assert_int_equal(s3_get_range(c, g_bucket, key, 5, 2, b4, &err), CEL_OK);
        assert_memory_equal(b4, "of", 2);
    }
    s3_client_free(c);
}

typedef struct {
    int n;
    char keys[64][512];
    uint64_t sizes[64];
    bool prefix[64];
    int stop_at;
} listed_t;

static cel_status list_cb(void *ud, const s3_object_entry *e, bool *stop, cel_error *err) {
    listed_t *l = ud;
    (void)err;
    assert_true(l->n < 64);
    snprintf(l->keys[l->n], sizeof l->keys[0], "%s", e->key);
    l->sizes[l->n] = e->size;
    l->prefix[l->n] = e->is_prefix;
    assert_true(e->is_prefix || strlen(e->etag) > 0);
    assert_true(e->is_prefix || e->last_modified > 0);
    l->n++;
    if (l->stop_at && l->n == l->stop_at)
        *stop = true;
    return CEL_OK;
}

static void test_list_pages(void **state) {
    (void)state;
    s3_client *c = new_client(&g_cfg);
    cel_error err = {0};
    char prefix[256], key[512];
    /* keys chosen so that list order is the byte order below; no '&' (s3rver escapes it
     * twice in listings), no leading or doubled '/' (its file store normalises them) */
    const char *names[] = {"a b.csv", "a+b.csv",  "a=b.csv",      "b/1.csv",
                           "b/2.csv", "c%20.csv", "d\xC3\xA9.csv"};
    const size_t n = sizeof names / sizeof names[0];
    key_of(prefix, sizeof prefix, "list/");
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, names[i]);
        char body[32];
        snprintf(body, sizeof body, "%zu", i * 1000);
        put_str(c, g_bucket, key, body);
    }
    listed_t l = {0};
    s3_list_opts o = {.prefix = prefix, .max_keys = 2};
    cel_status st = s3_list_ex(c, g_bucket, &o, list_cb, &l, &err);
    if (st != CEL_OK)
        fail_msg("list: %s", err.msg);
    assert_int_equal(l.n, (int)n);
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, names[i]);
        assert_string_equal(l.keys[i], key);
        char body[32];
        snprintf(body, sizeof body, "%zu", i * 1000);
        assert_int_equal(l.sizes[i], strlen(body));
    }
    /* stop early */
    memset(&l, 0, sizeof l);
    l.stop_at = 3;
    assert_int_equal(s3_list_ex(c, g_bucket, &o, list_cb, &l, &err), CEL_OK);
    assert_int_equal(l.n, 3);
    /* default page size through s3_list */
    memset(&l, 0, sizeof l);
    assert_int_equal(s3_list(c, g_bucket, prefix, list_cb, &l, &err), CEL_OK);
    assert_int_equal(l.n, (int)n);
    /* delimiter: b/ becomes a common prefix */
    memset(&l, 0, sizeof l);
    s3_list_opts od = {.prefix = prefix, .delimiter = "/"};
    assert_int_equal(s3_list_ex(c, g_bucket, &od, list_cb, &l, &err), CEL_OK);
    bool saw_prefix = false;
    for (int i = 0; i < l.n; i++) {
        if (l.prefix[i]) {
            snprintf(key, sizeof key, "%sb/", prefix);
            assert_string_equal(l.keys[i], key);
            saw_prefix = true;
        }
    }
    assert_true(saw_prefix);
    assert_int_equal(l.n, (int)n - 1);
    /* empty listing */
    memset(&l, 0, sizeof l);
    key_of(prefix, sizeof prefix, "list-nothing-here/");
    assert_int_equal(s3_list(c, g_bucket, prefix, list_cb, &l, &err), CEL_OK);
    assert_int_equal(l.n, 0);
    s3_client_free(c);
}

static void test_not_found(void **state) {
    (void)state;
    s3_client *c = new_client(&g_cfg);
    cel_error err = {0};
    char key[512];
    sink_t s = {0};
    s3_object_info info;
    key_of(key, sizeof key, "missing/no such.csv");
    assert_int_equal(s3_get_stream(c, g_bucket, key, sink_fn, &s, NULL, &err), CEL_ENOTFOUND);
    assert_non_null(strstr(err.msg, g_bucket));
    assert_non_null(strstr(err.msg, "no such.csv"));
    assert_non_null(strstr(err.msg, "NoSuchKey"));
    assert_int_equal(s.len, 0);
    cel_error_clear(&err);
    assert_int_equal(s3_head(c, g_bucket, key, &info, &err), CEL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no such.csv"));
    cel_error_clear(&err);
    char b[4];
    assert_int_equal(s3_get_range(c, g_bucket, key, 0, 4, b, &err), CEL_ENOTFOUND);
    cel_error_clear(&err);
    assert_int_equal(s3_get_stream(c, "no-such-bucket-celeriac", "k", sink_fn, &s, NULL, &err),
                     CEL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no-such-bucket-celeriac"));
    cel_error_clear(&err);
    cel_source src;
    assert_int_equal(s3_source_open(c, g_bucket, key, &src, NULL, &err), CEL_ENOTFOUND);
    cel_error_clear(&err);
    /* bad arguments never reach the network */
    assert_int_equal(s3_head(c, "bad/bucket", "k", &info, &err), CEL_EINVAL);
    cel_error_clear(&err);
    assert_int_equal(s3_head(c, g_bucket, "", &info, &err), CEL_EINVAL);
    s3_client_free(c);
}

static void test_wrong_secret_denied(void **state) {
    (void)state;
    s3_config bad = g_cfg;
    snprintf(bad.secret_key, sizeof bad.secret_key, "definitely-not-the-secret");
    s3_client *c = new_client(&bad);
    cel_error err = {0};
    char key[512], etag[128];
    key_of(key, sizeof key, "denied.txt");
    assert_int_equal(s3_put(c, g_bucket, key, "x", 1, NULL, etag, &err), CEL_EDENIED);
    assert_non_null(strstr(err.msg, "403"));
    assert_non_null(strstr(err.msg, "denied.txt"));
    assert_null(strstr(err.msg, "definitely-not-the-secret"));
    cel_error_clear(&err);
    sink_t s = {0};
    assert_int_equal(s3_get_stream(c, g_bucket, key, sink_fn, &s, NULL, &err), CEL_EDENIED);
    assert_non_null(strstr(err.msg, "SignatureDoesNotMatch"));
    cel_error_clear(&err);
    s3_object_info info;
    assert_int_equal(s3_head(c, g_bucket, key, &info, &err), CEL_EDENIED);
    s3_client_free(c);
    /* and the object was really not written */
    c = new_client(&g_cfg);
    cel_error_clear(&err);
    assert_int_equal(s3_head(c, g_bucket, key, &info, &err), CEL_ENOTFOUND);
    s3_client_free(c);
}

static void test_connection_refused_retries(void **state) {
    (void)state;
    s3_config cfg = g_cfg;
    cel_error err = {0};
    /* a port nothing listens on: bind an ephemeral port, read it, close it */
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(sfd, (struct sockaddr *)&sa, &sl), 0);
    close(sfd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    assert_int_equal(s3_config_set_endpoint(&cfg, url, &err), CEL_OK);
    cfg.max_attempts = 3;
    cfg.retry_base_ms = 50;
    s3_client *c = new_client(&cfg);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    s3_object_info info;
    assert_int_equal(s3_head(c, g_bucket, "some/key.csv", &info, &err), CEL_ETRANSIENT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_non_null(strstr(err.msg, "some/key.csv"));
    assert_non_null(strstr(err.msg, "3 attempts"));
    /* two backoffs: >= 25 + 50 ms (equal jitter keeps at least half of each delay) */
    assert_true(ms >= 75);
    s3_client_free(c);
}

/* ---- 50 MB ---------------------------------------------------------------------------- */

#define BIG_SIZE (50u * 1024u * 1024u)

static uint64_t rng_state = 0x1234567887654321ULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef struct {
    s3_sha256 h;
    uint64_t total;
    size_t max_chunk;
} hash_sink_t;

static cel_status hash_fn(void *ud, const void *data, size_t len, cel_error *err) {
    hash_sink_t *s = ud;
    (void)err;
    assert_int_equal(s3_sha256_update(&s->h, data, len), CEL_OK);
    s->total += len;
    if (len > s->max_chunk)
        s->max_chunk = len;
    return CEL_OK;
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_big_object_streams(void **state) {
    (void)state;
    s3_client *c = new_client(&g_cfg);
    cel_error err = {0};
    char key[512], etag[128], want[65], got[65];
    char path[] = "/tmp/celeriac-s3-big-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    s3_sha256 h;
    assert_int_equal(s3_sha256_begin(&h), CEL_OK);
    static uint64_t block[8192];
    for (uint64_t off = 0; off < BIG_SIZE; off += sizeof block) {
        for (size_t i = 0; i < 8192; i++)
            block[i] = rnd();
        assert_int_equal(write(fd, block, sizeof block), (ssize_t)sizeof block);
        assert_int_equal(s3_sha256_update(&h, block, sizeof block), CEL_OK);
    }
    assert_int_equal(s3_sha256_end(&h, want), CEL_OK);

    key_of(key, sizeof key, "big/fifty megs.bin");
    long rss0 = maxrss_kb();
    cel_status st = s3_put_file(c, g_bucket, key, fd, BIG_SIZE, NULL, etag, &err);
    if (st != CEL_OK)
        fail_msg("PUT big: %s", err.msg);
    /* a file shorter than the length given is refused before anything is sent */
    cel_error_clear(&err);
    assert_int_equal(s3_put_file(c, g_bucket, key, fd, BIG_SIZE + 1ull, NULL, etag, &err), CEL_EIO);
    cel_error_clear(&err);
    close(fd);

    hash_sink_t hs = {0};
    assert_int_equal(s3_sha256_begin(&hs.h), CEL_OK);
    s3_object_info info;
    st = s3_get_stream(c, g_bucket, key, hash_fn, &hs, &info, &err);
    if (st != CEL_OK)
        fail_msg("GET big: %s", err.msg);
    assert_int_equal(s3_sha256_end(&hs.h, got), CEL_OK);
    long rss1 = maxrss_kb();
    assert_int_equal(hs.total, BIG_SIZE);
    assert_int_equal(info.size, BIG_SIZE);
    assert_string_equal(got, want);
    assert_true(hs.max_chunk <= 256 * 1024);
    /* neither the upload nor the download held the object: peak RSS grew far less than
     * its 50 MB (ASan's allocator is included in this figure) */
    print_message("big object: peak RSS %ld -> %ld KiB, largest chunk %zu\n", rss0, rss1,
                  hs.max_chunk);
    assert_true(rss1 - rss0 < 24 * 1024);

    /* the source adapter over the same object: tail reads like a Parquet footer */
    cel_source src;
    s3_object_info sinfo;
    assert_int_equal(s3_source_open(c, g_bucket, key, &src, &sinfo, &err), CEL_OK);
    assert_int_equal(src.size, (int64_t)BIG_SIZE);
    assert_string_equal(src.name, key);
    assert_string_equal(sinfo.etag, etag);
    unsigned char tail[8], mid[4096];
    assert_int_equal(src.read_at(src.ud, BIG_SIZE - 8, 8, tail, &err), CEL_OK);
    assert_int_equal(src.read_at(src.ud, 12345, sizeof mid, mid, &err), CEL_OK);
    assert_int_equal(src.read_at(src.ud, BIG_SIZE - 4, 8, tail, &err), CEL_EINVAL);
    s3_source_close(&src);
    s3_source_close(&src);
    s3_client_free(c);
}

/* The source pins the ETag: an overwrite between open and read is CEL_ECONFLICT. */
static void test_source_conflict(void **state) {
    (void)state;
    s3_client *c = new_client(&g_cfg);
    cel_error err = {0};
    char key[512];
    key_of(key, sizeof key, "source/changing.csv");
    put_str(c, g_bucket, key, "a,b\n1,2\n");
    cel_source src;
    assert_int_equal(s3_source_open(c, g_bucket, key, &src, NULL, &err), CEL_OK);
    assert_int_equal(src.size, 8);
    sink_t s = {0};
    assert_int_equal(src.stream(src.ud, sink_fn, &s, &err), CEL_OK);
    assert_int_equal(s.len, 8);
    assert_memory_equal(s.data, "a,b\n1,2\n", 8);
    free(s.data);
    put_str(c, g_bucket, key, "x,y\n3,4\n");
    char b[4];
    cel_status st = src.read_at(src.ud, 0, 4, b, &err);
    assert_int_equal(st, CEL_ECONFLICT);
    assert_non_null(strstr(err.msg, "changing.csv"));
    s3_source_close(&src);
    s3_client_free(c);
}

/* ---- helpers in Python (Debian's python3 with boto3 / kombu) --------------------------- */

/* Runs tests/integration/<script> with args under /usr/bin/python3 and captures its stdout
 * into out. Returns the exit status, or -1 when python3 or the script is missing. */
static int run_script(const char *script, const char *const *args, size_t nargs, char *out,
                      size_t outsz) {
    const char *py = "/usr/bin/python3";
    char path[1024];
    const char *src = getenv("CELERIAC_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/integration/%s", src ? src : CELERIAC_SOURCE_DIR, script);
    if (access(py, X_OK) != 0 || access(path, R_OK) != 0)
        return -1;
    const char *argv[16];
    size_t k = 0;
    argv[k++] = py;
    argv[k++] = path;
    for (size_t i = 0; i < nargs && k < 15; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        execv(py, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t r;
    while (n < outsz - 1 && (r = read(pipefd[0], out + n, outsz - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void test_boto3_cross_check(void **state) {
    (void)state;
    if (system("/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1") != 0)
        skip();
    s3_client *c = new_client(&g_cfg);
    char ours[512], theirs[512], sha[65], out[4096];
    const char *body = "written by celeriac: caf\xC3\xA9, 1+1=2 & more\n";
    key_of(ours, sizeof ours, "boto3/ours \xC3\xA9 +&=?#.txt");
    key_of(theirs, sizeof theirs, "boto3/theirs \xE2\x82\xAC +&=%.txt");
    put_str(c, g_bucket, ours, body);
    assert_int_equal(s3_sha256_hex(body, strlen(body), sha), CEL_OK);
    const char *args[] = {g_bucket, ours, sha, theirs};
    int rc = run_script("s3_boto3_check.py", args, 4, out, sizeof out);
    if (rc < 0)
        skip();
    if (rc != 0)
        fail_msg("s3_boto3_check.py failed (exit %d): %s", rc, out);
    /* the script printed the body it wrote */
    const char *mark = "WROTE:";
    char *w = strstr(out, mark);
    assert_non_null(w);
    w += strlen(mark);
    char *nl = strchr(w, '\n');
    if (nl)
        *nl = '\0';
    get_str_equal(c, g_bucket, theirs, w);
    s3_client_free(c);
}

/* Last: take this run's event notifications off the stack's events queue (the stack
 * publishes one per PUT), so a worker consuming it later is not fed our test objects. */
static void test_zz_drain_events(void **state) {
    (void)state;
    char p1[256], p2[256], out[1024];
    if (getenv("CELERY_BROKER_URL") == NULL ||
        system("/usr/bin/python3 -c 'import kombu' >/dev/null 2>&1") != 0)
        skip();
    snprintf(p1, sizeof p1, "%s/%s", g_bucket, g_prefix);
    snprintf(p2, sizeof p2, "%s/%s", g_reports, g_prefix);
    const char *args[] = {p1, p2};
    int rc = run_script("s3_drain_events.py", args, 2, out, sizeof out);
    if (rc < 0)
        skip();
    if (rc != 0)
        fail_msg("s3_drain_events.py failed (exit %d): %s", rc, out);
    print_message("%s", out);
}

int main(void) {
    cel_error err = {0};
    const char *ep = getenv("AWS_ENDPOINT_URL_S3");
    if (ep == NULL || !ep[0] || !getenv("AWS_ACCESS_KEY_ID") || !getenv("AWS_SECRET_ACCESS_KEY")) {
        printf("skipped: AWS_ENDPOINT_URL_S3 / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY not set "
               "(start the stack: eval \"$(tests/stack/up)\")\n");
        return 77;
    }
    if (s3_config_from_env(&g_cfg, &err) != CEL_OK) {
        printf("bad S3 configuration: %s\n", err.msg);
        return 1;
    }
    if (getenv("S3_BUCKET_UPLOADS") && getenv("S3_BUCKET_UPLOADS")[0])
        g_bucket = getenv("S3_BUCKET_UPLOADS");
    if (getenv("S3_BUCKET_REPORTS") && getenv("S3_BUCKET_REPORTS")[0])
        g_reports = getenv("S3_BUCKET_REPORTS");
    snprintf(g_prefix, sizeof g_prefix, "celeriac-it/%ld-%d/", (long)time(NULL), (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_head_get_range),
        cmocka_unit_test(test_awkward_keys_round_trip),
        cmocka_unit_test(test_list_pages),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_wrong_secret_denied),
        cmocka_unit_test(test_connection_refused_retries),
        cmocka_unit_test(test_big_object_streams),
        cmocka_unit_test(test_source_conflict),
        cmocka_unit_test(test_boto3_cross_check),
        cmocka_unit_test(test_zz_drain_events),
    };
    return cmocka_run_group_tests_name("s3_integration", tests, NULL, NULL);
}
