/*
 * test_s3_client.c: the S3 client's network behaviour against a scripted HTTP server
 * running in a forked child on loopback: retries with backoff (503/500/SlowDown, dropped
 * connections, stalls), streaming resume with Range + If-Match and no duplicated bytes,
 * ETag changes mid-read, Content-Length checks, error classification (404/403/400/301
 * with and without XML bodies), header and body bounds, ListObjectsV2 pagination and
 * a server that loops, ranged-GET answer checks, path and virtual-hosted addressing.
 *
 * The server is deliberately dumb: each request consumes the next scripted action, and
 * every request line plus the headers that matter are logged to a file the test reads.
 * Real-server behaviour (signatures, awkward keys, big objects) is in
 * tests/integration/test_s3.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "s3/s3.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the scripted server ------------------------------------------------------------- */

typedef enum {
    A_RESPOND,       /* status + headers + body, connection kept */
    A_RESPOND_CLOSE, /* the same with "Connection: close", then close */
    A_TRUNCATE,      /* headers announce the whole body, send send_len bytes, close */
    A_CLOSE,         /* read the request, close without answering */
    A_STALL,         /* read the request, say nothing for 3 s, close */
} act_kind;

typedef struct {
    act_kind kind;
    int status;
    const char *headers; /* extra "Name: value\r\n" lines */
    const char *body;
    size_t body_len; /* 0 with body != NULL: strlen(body) */
    size_t send_len;
} act;

typedef struct {
    pid_t pid;
    unsigned port;
    char logpath[64];
} server;

static size_t act_body_len(const act *a) {
    if (a->body == NULL)
        return 0;
    return a->body_len ? a->body_len : strlen(a->body);
}

/* Copies a header value into a 128-byte field, cut if longer. */
static void field(char *dst, const char *src) {
    size_t n = strlen(src);
    if (n > 127)
        n = 127;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Reads one request; method[16], path[4096], range/ifmatch/host[128]. 0 at EOF. */
static int read_request(int fd, char *method, char *path, char *range, char *ifmatch, char *host,
                        size_t *body_len) {
    char buf[65536];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return 0;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    buf[n] = '\0';
    range[0] = ifmatch[0] = host[0] = '\0';
    *body_len = 0;
    if (sscanf(buf, "%15s %4095s", method, path) != 2)
        return 0;
    for (char *line = strstr(buf, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        char *l = line + 2;
        char *end = strstr(l, "\r\n");
        if (end == NULL)
            break;
        size_t ll = (size_t)(end - l);
        char hdr[8192];
        if (ll >= sizeof hdr)
            continue;
        memcpy(hdr, l, ll);
        hdr[ll] = '\0';
        if (strncasecmp(hdr, "range: ", 7) == 0)
            field(range, hdr + 7);
        else if (strncasecmp(hdr, "if-match: ", 10) == 0)
            field(ifmatch, hdr + 10);
        else if (strncasecmp(hdr, "host: ", 6) == 0)
            field(host, hdr + 6);
        else if (strncasecmp(hdr, "content-length: ", 16) == 0)
            *body_len = (size_t)strtoull(hdr + 16, NULL, 10);
    }
    for (size_t left = *body_len; left > 0;) {
        ssize_t r = read(fd, buf, left < sizeof buf ? left : sizeof buf);
        if (r <= 0)
            return 0;
        left -= (size_t)r;
    }
    return 1;
}

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static void serve(int lfd, const act *acts, size_t nacts, int logfd) {
    size_t ai = 0;
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd < 0)
            _exit(0);
        for (;;) {
            char method[16], path[4096], range[128], ifm[128], host[128], line[8192];
            size_t blen;
            if (!read_request(cfd, method, path, range, ifm, host, &blen))
                break;
            int ln = snprintf(line, sizeof line, "%s %s|%s|%s|%s|%zu\n", method, path, range, ifm,
                              host, blen);
            write_all(logfd, line, (size_t)ln);
            act fallback = {A_RESPOND, 418, NULL, "script exhausted", 0, 0};
            const act *a = ai < nacts ? &acts[ai] : &fallback;
            ai++;
            if (a->kind == A_CLOSE)
                break;
            if (a->kind == A_STALL) {
                sleep(3);
                break;
            }
            size_t bl = act_body_len(a);
            char head[131072];
            int hl = snprintf(head, sizeof head,
                              "HTTP/1.1 %d Scripted\r\nContent-Length: %zu\r\n%s%s\r\n", a->status,
                              bl, a->headers ? a->headers : "",
                              a->kind == A_RESPOND_CLOSE ? "Connection: close\r\n" : "");
            if (hl < 0 || (size_t)hl >= sizeof head)
                _exit(3);
            write_all(cfd, head, (size_t)hl);
            if (strcmp(method, "HEAD") != 0) {
                size_t send = a->kind == A_TRUNCATE ? a->send_len : bl;
                write_all(cfd, a->body, send);
            }
            if (a->kind == A_TRUNCATE || a->kind == A_RESPOND_CLOSE)
                break;
        }
        close(cfd);
    }
}

static void server_start(server *s, const act *acts, size_t nacts) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 16), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    snprintf(s->logpath, sizeof s->logpath, "/tmp/celeriac-s3-fake-XXXXXX");
    int logfd = mkstemp(s->logpath);
    assert_true(logfd >= 0);
    fflush(NULL);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        /* never outlive the test, even when an assertion longjmps past server_stop */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(0);
        serve(lfd, acts, nacts, logfd);
        _exit(0);
    }
    close(lfd);
    close(logfd);
}

/* Stops the server and returns its request log (new string). */
static char *server_stop(server *s) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    FILE *f = fopen(s->logpath, "r");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(s->logpath);
    return strdup(buf);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Line i (0-based) of the log, into out. */
static void log_line(const char *log, int i, char *out, size_t n) {
    const char *p = log;
    for (int k = 0; k < i && p; k++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    assert_non_null(p);
    const char *e = strchr(p, '\n');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l >= n)
        l = n - 1;
    memcpy(out, p, l);
    out[l] = '\0';
}

static s3_client *client_for_rt(const server *s, int attempts, long read_timeout_ms) {
    s3_config cfg;
    cel_error err = {0};
    char url[64];
    s3_config_defaults(&cfg);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", s->port);
    assert_int_equal(s3_config_set_endpoint(&cfg, url, &err), CEL_OK);
    cfg.addressing = S3_ADDRESSING_PATH;
    snprintf(cfg.access_key, sizeof cfg.access_key, "AKIDTEST");
    snprintf(cfg.secret_key, sizeof cfg.secret_key, "secret");
    cfg.max_attempts = attempts;
    cfg.retry_base_ms = 1;
    cfg.retry_max_ms = 5;
    cfg.read_timeout_ms = read_timeout_ms;
    cfg.connect_timeout_ms = 2000;
    cfg.max_xml_bytes = 64 * 1024;
    cfg.max_header_bytes = 16 * 1024;
    s3_client *c = NULL;
    assert_int_equal(s3_client_new(&cfg, &c, &err), CEL_OK);
    return c;
}

static s3_client *client_for(const server *s, int attempts) {
    return client_for_rt(s, attempts, 1000);
}

/* ---- stream sink ------------------------------------------------------------------------ */

typedef struct {
    char data[200000];
    size_t len;
    size_t fail_after; /* 0 = never */
} sink_t;

static cel_status sink_fn(void *ud, const void *data, size_t len, cel_error *err) {
    sink_t *s = ud;
    if (s->fail_after && s->len + len > s->fail_after)
        return cel_fail(err, CEL_EPARSE, "consumer: bad CSV at byte %zu", s->fail_after);
    assert_true(s->len + len <= sizeof s->data);
    memcpy(s->data + s->len, data, len);
    s->len += len;
    return CEL_OK;
}

static char g_body[100000];

static int setup_body(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof g_body; i++)
        g_body[i] = (char)('a' + (i * 7 + i / 13) % 26);
    return 0;
}

#define ETAG_E1 "ETag: \"e1\"\r\n"

/* ---- tests ---------------------------------------------------------------------------- */

static void test_retry_then_success(void **state) {
    (void)state;
    static const act acts[] = {
        {A_RESPOND, 503, NULL,
         "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>", 0, 0},
        {A_CLOSE, 0, NULL, NULL, 0, 0},
        {A_RESPOND, 500, NULL, "not xml at all", 0, 0},
        {A_RESPOND, 200, ETAG_E1, "hello", 0, 0},
    };
    server s;
    server_start(&s, acts, 4);
    s3_client *c = client_for(&s, 4);
    sink_t *sk = calloc(1, sizeof *sk);
    cel_error err = {0};
    s3_object_info info;
    assert_int_equal(s3_get_stream(c, "uploads", "dir/a b.csv", sink_fn, sk, &info, &err), CEL_OK);
    assert_int_equal(sk->len, 5);
    assert_memory_equal(sk->data, "hello", 5);
    assert_string_equal(info.etag, "e1");
    char *log = server_stop(&s);
    assert_int_equal(count_lines(log), 4);
    char l0[512];
    log_line(log, 0, l0, sizeof l0);
    char want[512];
    snprintf(want, sizeof want, "GET /uploads/dir/a%%20b.csv|||127.0.0.1:%u|0", s.port);
    assert_string_equal(l0, want);
    free(log);
    free(sk);
    s3_client_free(c);
}

static void test_retries_exhausted(void **state) {
    (void)state;
    static const act acts[] = {
        {A_RESPOND, 500, NULL,
         "<Error><Code>InternalError</Code><Message>boom</Message>"
         "<RequestId>RID1</RequestId></Error>",
         0, 0},
        {A_RESPOND, 502, NULL, "<html>bad gateway</html>", 0, 0},
        {A_RESPOND, 503, NULL, "", 0, 0},
    };
    server s;
    server_start(&s, acts, 3);
    s3_client *c = client_for(&s, 3);
    cel_error err = {0};
    s3_object_info info;
    assert_int_equal(s3_head(c, "uploads", "k.csv", &info, &err), CEL_ETRANSIENT);
    assert_non_null(strstr(err.msg, "s3://uploads/k.csv"));
    assert_non_null(strstr(err.msg, "503"));
    assert_non_null(strstr(err.msg, "3 attempts"));
    char *log = server_stop(&s);
    assert_int_equal(count_lines(log), 3);
    free(log);
    s3_client_free(c);
}

/* A GET that breaks after 40000 bytes resumes at 40000 with If-Match: nothing twice. */
static void test_stream_resume(void **state) {
    (void)state;
    char hdr2[128];
    snprintf(hdr2, sizeof hdr2, ETAG_E1 "Content-Range: bytes 40000-99999/100000\r\n");
    act acts[] = {
        {A_TRUNCATE, 200, ETAG_E1, g_body, sizeof g_body, 40000},
        {A_RESPOND, 206, hdr2, g_body + 40000, 60000, 0},
    };
    server s;
    server_start(&s, acts, 2);
    s3_client *c = client_for(&s, 3);
    sink_t *sk = calloc(1, sizeof *sk);
    cel_error err = {0};
    s3_object_info info;
    cel_status st = s3_get_stream(c, "uploads", "big.csv", sink_fn, sk, &info, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(sk->len, sizeof g_body);
    assert_memory_equal(sk->data, g_body, sizeof g_body);
    assert_int_equal(info.size, sizeof g_body);
    char *log = server_stop(&s);
    assert_int_equal(count_lines(log), 2);
    char l1[512];
    log_line(log, 1, l1, sizeof l1);
    assert_non_null(strstr(l1, "GET /uploads/big.csv|bytes=40000-|\"e1\"|"));
    free(log);
    free(sk);
    s3_client_free(c);
}

/* A server that ignores Range on the resume and sends 200: the prefix is dropped. */
static void test_stream_resume_full_answer(void **state) {
    (void)state;
    act acts[] = {
        {A_TRUNCATE, 200, ETAG_E1, g_body, sizeof g_body, 12345},
        {A_TRUNCATE, 200, ETAG_E1, g_body, sizeof g_body, 5000}, /* shorter than delivered */
        {A_RESPOND, 200, ETAG_E1, g_body, sizeof g_body, 0},
    };
    server s;
    server_start(&s, acts, 3);
    s3_client *c = client_for(&s, 4);
    sink_t *sk = calloc(1, sizeof *sk);
    cel_error err = {0};
    cel_status st = s3_get_stream(c, "uploads", "big.csv", sink_fn, sk, NULL, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(sk->len, sizeof g_body);
    assert_memory_equal(sk->data, g_body, sizeof g_body);
    char *log = server_stop(&s);
    assert_int_equal(count_lines(log), 3);
    char l2[512];
    log_line(log, 2, l2, sizeof l2);
    assert_non_null(strstr(l2, "|bytes=12345-|"));
    free(log);
    free(sk);
    s3_client_free(c);
}

/* The object changes between the break and the resume. */
static void test_stream_resume_changed(void **state) {
    (void)state;
    act acts[] = {
        {A_TRUNCATE, 200, ETAG_E1, g_body, sizeof g_body, 1000},
        {A_RESPOND, 206, "ETag: \"e2\"\r\nContent-Range: bytes 1000-99999/100000\r\n",
         g_body + 1000, 99000, 0},
    };
    server s;
    server_start(&s, acts, 2);
    s3_client *c = client_for(&s, 3);
    sink_t *sk = calloc(1, sizeof *sk);
    cel_error err = {0};
    assert_int_equal(s3_get_stream(c, "uploads", "x.csv", sink_fn, sk, NULL, &err), CEL_ECONFLICT);
    assert_int_equal(sk->len, 1000);
    assert_non_null(strstr(err.msg, "changed"));
    free(server_stop(&s));

    /* ... and a server that honours If-Match answers 412 */
    act acts412[] = {
        {A_TRUNCATE, 200, ETAG_E1, g_body, sizeof g_body, 1000},
        {A_RESPOND, 412, NULL,
         "<Error><Code>PreconditionFailed</Code><Message>At least one of "
         "the pre-conditions you specified did not hold</Message></Error>",
         0, 0},
    };
    server_start(&s, acts412, 2);
    s3_client_free(c);
    c = client_for(&s, 3);
    memset(sk, 0, sizeof *sk);
    cel_error_clear(&err);
    assert_int_equal(s3_get_stream(c, "uploads", "x.csv", sink_fn, sk, NULL, &err), CEL_ECONFLICT);
    assert_non_null(strstr(err.msg, "PreconditionFailed"));
    assert_int_equal(sk->len, 1000);
    free(server_stop(&s));
    free(sk);
    s3_client_free(c);
}

/* A consumer failure stops the transfer at once, keeps its message, and is not retried. */
static void test_stream_consumer_failure(void **state) {
    (void)state;
    act acts[] = {{A_RESPOND, 200, ETAG_E1, g_body, sizeof g_body, 0}};
    server s;
    server_start(&s, acts, 1);
    s3_client *c = client_for(&s, 4);
    sink_t *sk = calloc(1, sizeof *sk);
    sk->fail_after = 30000;
    cel_error err = {0};
    assert_int_equal(s3_get_stream(c, "uploads", "x.csv", sink_fn, sk, NULL, &err), CEL_EPARSE);
    assert_string_equal(err.msg, "consumer: bad CSV at byte 30000");
    assert_true(sk->len <= 30000);
    char *log = server_stop(&s);
    assert_int_equal(count_lines(log), 1);
    free(log);
    free(sk);
    s3_client_free(c);
}

static void test_error_classification(void **state) {
    (void)state;
    static const act acts[] = {
        {A_RESPOND, 404, "x-amz-request-id: REQ404\r\n",
         "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does "
         "not exist.</Message><Key>a/b.csv</Key></Error>",
         0, 0},
        {A_RESPOND, 404, NULL, "<Error><Code>NoSuchBucket</Code><Message>nope</Message></Error>", 0,
         0},
        {A_RESPOND, 403, NULL, NULL, 0, 0}, /* HEAD: no body */
        {A_RESPOND, 400, NULL,
         "<Error><Code>InvalidArgument</Code><Message>bad arg</Message></Error>", 0, 0},
        {A_RESPOND, 301, "x-amz-bucket-region: eu-west-1\r\n",
         "<Error><Code>PermanentRedirect</Code><Message>use the other endpoint</Message></Error>",
         0, 0},
        {A_RESPOND, 400, NULL, "<Error><Code>ExpiredToken</Code><Message>old</Message></Error>", 0,
         0},
        {A_RESPOND, 400, NULL, "<Error><Code>RequestTimeout</Code><Message>slow</Message></Error>",
         0, 0},
        {A_RESPOND, 200, NULL, "ok", 0, 0},
    };
    server s;
    server_start(&s, acts, 8);
    s3_client *c = client_for(&s, 2);
    sink_t *sk = calloc(1, sizeof *sk);
    cel_error err = {0};
    s3_object_info info;

    assert_int_equal(s3_get_stream(c, "uploads", "a/b.csv", sink_fn, sk, NULL, &err),
                     CEL_ENOTFOUND);
    assert_string_equal(err.msg, "S3 GET s3://uploads/a/b.csv: 404 NoSuchKey: The specified key "
                                 "does not exist. [request id REQ404]");
    assert_int_equal(sk->len, 0);
    cel_error_clear(&err);
    assert_int_equal(s3_get_stream(c, "nobucket", "k", sink_fn, sk, NULL, &err), CEL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "NoSuchBucket"));
    cel_error_clear(&err);
    assert_int_equal(s3_head(c, "uploads", "secret.csv", &info, &err), CEL_EDENIED);
    assert_string_equal(err.msg, "S3 HEAD s3://uploads/secret.csv: 403 Forbidden");
    cel_error_clear(&err);
    assert_int_equal(s3_get_stream(c, "uploads", "k", sink_fn, sk, NULL, &err), CEL_ES3);
    assert_non_null(strstr(err.msg, "400 InvalidArgument: bad arg"));
    cel_error_clear(&err);
    assert_int_equal(s3_get_stream(c, "uploads", "k", sink_fn, sk, NULL, &err), CEL_ES3);
    assert_non_null(strstr(err.msg, "region eu-west-1"));
    cel_error_clear(&err);
    assert_int_equal(s3_get_stream(c, "uploads", "k", sink_fn, sk, NULL, &err), CEL_EDENIED);
    assert_non_null(strstr(err.msg, "ExpiredToken"));
    cel_error_clear(&err);
    /* RequestTimeout (400) is retried; the next answer succeeds */
    assert_int_equal(s3_get_stream(c, "uploads", "k", sink_fn, sk, NULL, &err), CEL_OK);
    assert_int_equal(sk->len, 2);
    char *log = server_stop(&s);
    assert_int_equal(count_lines(log), 8);
    free(log);
    free(sk);
    s3_client_free(c);
}

static void test_content_length_and_ranges(void **state) {
    (void)state;
    static const act acts[] = {
        /* range answered with 200 and the whole object: refused */
        {A_RESPOND, 200, NULL, "0123456789", 0, 0},
        /* 206 at the wrong offset */
        {A_RESPOND, 206, "Content-Range: bytes 0-3/10\r\n", "0123", 0, 0},
        /* 206 shorter than asked: past the end */
        {A_RESPOND, 206, "Content-Range: bytes 8-9/10\r\n", "89", 0, 0},
        /* good */
        {A_RESPOND, 206, "Content-Range: bytes 2-5/10\r\n", "2345", 0, 0},
        /* whole object answered with 200 for offset 0 and exact length: fine */
        {A_RESPOND, 200, NULL, "0123", 0, 0},
        /* 416 */
        {A_RESPOND, 416, NULL,
         "<Error><Code>InvalidRange</Code><Message>The requested range "
         "is not satisfiable</Message></Error>",
         0, 0},
    };
    server s;
    server_start(&s, acts, 6);
    s3_client *c = client_for(&s, 1);
    cel_error err = {0};
    char buf[16];
    assert_int_equal(s3_get_range(c, "uploads", "k", 2, 4, buf, &err), CEL_EPROTO);
    assert_non_null(strstr(err.msg, "206"));
    cel_error_clear(&err);
    assert_int_equal(s3_get_range(c, "uploads", "k", 2, 4, buf, &err), CEL_EPROTO);
    cel_error_clear(&err);
    assert_int_equal(s3_get_range(c, "uploads", "k", 8, 4, buf, &err), CEL_EINVAL);
    assert_non_null(strstr(err.msg, "size 10"));
    cel_error_clear(&err);
    assert_int_equal(s3_get_range(c, "uploads", "k", 2, 4, buf, &err), CEL_OK);
    assert_memory_equal(buf, "2345", 4);
    assert_int_equal(s3_get_range(c, "uploads", "k", 0, 4, buf, &err), CEL_OK);
    assert_memory_equal(buf, "0123", 4);
    assert_int_equal(s3_get_range(c, "uploads", "k", 50, 4, buf, &err), CEL_EINVAL);
    char *log = server_stop(&s);
    char l0[512];
    log_line(log, 0, l0, sizeof l0);
    assert_non_null(strstr(l0, "|bytes=2-5|"));
    free(log);
    /* bad arguments */
    cel_error_clear(&err);
    assert_int_equal(s3_get_range(c, "uploads", "k", 0, 0, buf, &err), CEL_EINVAL);
    s3_client_free(c);
}

typedef struct {
    int n;
    char keys[8][64];
} listed_t;

static cel_status list_cb(void *ud, const s3_object_entry *e, bool *stop, cel_error *err) {
    listed_t *l = ud;
    (void)stop;
    (void)err;
    assert_true(l->n < 8);
    snprintf(l->keys[l->n++], 64, "%s", e->key);
    return CEL_OK;
}

/* A body shorter than its Content-Length is retried (from scratch for a list page). */
static void test_truncated_xml_retried(void **state) {
    (void)state;
    static const char page[] = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents>"
                               "<Key>only.csv</Key><Size>3</Size></Contents></ListBucketResult>";
    act acts[] = {
        {A_TRUNCATE, 200, NULL, page, 0, 30},
        {A_RESPOND, 200, NULL, page, 0, 0},
    };
    server s;
    server_start(&s, acts, 2);
    s3_client *c = client_for(&s, 2);
    cel_error err = {0};
    listed_t l = {0};
    cel_status st = s3_list(c, "uploads", "", list_cb, &l, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.keys[0], "only.csv");
    char *log = server_stop(&s);
    assert_int_equal(count_lines(log), 2);
    free(log);
    cel_error_clear(&err);
    assert_int_equal(s3_list(c, "uploads", "", NULL, NULL, &err), CEL_EINVAL);
    s3_client_free(c);
}

static void test_list_pagination(void **state) {
    (void)state;
    static const act acts[] = {
        {A_TRUNCATE, 200, NULL, "<ListBucketResult><IsTruncated>true</IsTruncated>", 0, 20},
        {A_RESPOND, 200, NULL,
         "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t/1+=</"
         "NextContinuationToken><Contents><Key>a%20b</Key><Size>1</Size></Contents>"
         "<EncodingType>url</EncodingType></ListBucketResult>",
         0, 0},
        {A_RESPOND, 200, NULL,
         "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>c</Key><Size>2</Size>"
         "</Contents></ListBucketResult>",
         0, 0},
    };
    server s;
    server_start(&s, acts, 3);
    s3_client *c = client_for(&s, 2);
    cel_error err = {0};
    listed_t l = {0};
    s3_list_opts o = {.prefix = "p re/", .max_keys = 1};
    cel_status st = s3_list_ex(c, "uploads", &o, list_cb, &l, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.keys[0], "a b");
    assert_string_equal(l.keys[1], "c");
    char *log = server_stop(&s);
    assert_int_equal(count_lines(log), 3);
    char line[512];
    log_line(log, 1, line, sizeof line);
    assert_non_null(
        strstr(line, "GET /uploads?encoding-type=url&list-type=2&max-keys=1&prefix=p%20re%2F|"));
    log_line(log, 2, line, sizeof line);
    assert_non_null(strstr(line, "continuation-token=t%2F1%2B%3D&"));
    free(log);

    /* a server that hands out the same token forever is caught */
    static const act loop[] = {
        {A_RESPOND, 200, NULL,
         "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>same</"
         "NextContinuationToken></ListBucketResult>",
         0, 0},
        {A_RESPOND, 200, NULL,
         "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>same</"
         "NextContinuationToken></ListBucketResult>",
         0, 0},
        {A_RESPOND, 200, NULL,
         "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", 0, 0},
    };
    server_start(&s, loop, 3);
    s3_client_free(c);
    c = client_for(&s, 1);
    memset(&l, 0, sizeof l);
    cel_error_clear(&err);
    assert_int_equal(s3_list(c, "uploads", NULL, list_cb, &l, &err), CEL_EPROTO);
    assert_non_null(strstr(err.msg, "page 2"));
    free(server_stop(&s));

    /* a malformed page is an error that names the page */
    static const act bad[] = {{A_RESPOND, 200, NULL, "<ListBucketResult><Contents>", 0, 0}};
    server_start(&s, bad, 1);
    s3_client_free(c);
    c = client_for(&s, 1);
    cel_error_clear(&err);
    assert_int_equal(s3_list(c, "uploads", NULL, list_cb, &l, &err), CEL_EPARSE);
    assert_non_null(strstr(err.msg, "page 1"));
    free(server_stop(&s));
    s3_client_free(c);
}

static void test_bounds(void **state) {
    (void)state;
    static char big_header[40000];
    static char big_body[70000];
    memset(big_header, 0, sizeof big_header);
    snprintf(big_header, sizeof big_header, "x-amz-meta-big: ");
    memset(big_header + 16, 'h', 30000);
    memcpy(big_header + 16 + 30000, "\r\n", 3);
    memset(big_body, ' ', sizeof big_body - 1);
    act acts[] = {
        {A_RESPOND, 200, big_header, "x", 0, 0},
        {A_RESPOND, 200, NULL, big_body, 0, 0},
    };
    server s;
    server_start(&s, acts, 2);
    s3_client *c = client_for(&s, 3);
    cel_error err = {0};
    s3_object_info info;
    assert_int_equal(s3_head(c, "uploads", "k", &info, &err), CEL_ELIMIT);
    assert_non_null(strstr(err.msg, "headers exceed"));
    cel_error_clear(&err);
    listed_t l = {0};
    assert_int_equal(s3_list(c, "uploads", NULL, list_cb, &l, &err), CEL_ELIMIT);
    assert_non_null(strstr(err.msg, "exceeds"));
    char *log = server_stop(&s);
    assert_int_equal(count_lines(log), 2); /* bounds are not retried */
    free(log);
    s3_client_free(c);
}

static void test_read_timeout(void **state) {
    (void)state;
    static const act acts[] = {
        {A_STALL, 0, NULL, NULL, 0, 0}, /* 3 s of silence */
        {A_RESPOND, 200,
         "Content-Type: text/csv\r\nLast-Modified: Fri, 24 May 2013 00:00:00 GMT\r\n" ETAG_E1,
         "abc", 0, 0},
    };
    server s;
    server_start(&s, acts, 2);
    s3_client *c = client_for_rt(&s, 2, 2000); /* the stall (3 s) outlasts it; the retry does not */
    cel_error err = {0};
    s3_object_info info;
    cel_status st = s3_head(c, "uploads", "k", &info, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(info.size, 3);
    assert_string_equal(info.content_type, "text/csv");
    assert_int_equal(info.last_modified, 1369353600);
    free(server_stop(&s));
    s3_client_free(c);
}

static void test_put_and_addressing(void **state) {
    (void)state;
    static const act acts[] = {
        /* one connection per host: close so the single-threaded server gets the next */
        {A_RESPOND_CLOSE, 200, "ETag: \"abc123\"\r\n", NULL, 0, 0},
        {A_RESPOND_CLOSE, 200, "ETag: \"def\"\r\n", NULL, 0, 0},
        {A_RESPOND, 200, "ETag: \"ghi\"\r\n", NULL, 0, 0},
    };
    server s;
    server_start(&s, acts, 3);
    s3_client *c = client_for(&s, 1);
    cel_error err = {0};
    char etag[128];
    cel_status st = s3_put(c, "uploads", "r/report.json", "{}", 2, "application/json", etag, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(etag, "abc123");
    s3_client_free(c);

    /* virtual-hosted: "uploads.localhost" (libcurl resolves *.localhost to loopback) */
    s3_config cfg;
    char url[64];
    s3_config_defaults(&cfg);
    snprintf(url, sizeof url, "http://localhost:%u", s.port);
    assert_int_equal(s3_config_set_endpoint(&cfg, url, &err), CEL_OK);
    cfg.addressing = S3_ADDRESSING_VIRTUAL;
    snprintf(cfg.access_key, sizeof cfg.access_key, "AK");
    snprintf(cfg.secret_key, sizeof cfg.secret_key, "SK");
    cfg.max_attempts = 1;
    assert_int_equal(s3_client_new(&cfg, &c, &err), CEL_OK);
    st = s3_put(c, "uploads", "/lead//x", "1", 1, NULL, etag, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    /* a bucket with dots falls back to path style */
    st = s3_put(c, "my.bucket", "k", "1", 1, NULL, etag, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    s3_client_free(c);

    char *log = server_stop(&s);
    char line[512], want[512];
    log_line(log, 0, line, sizeof line);
    snprintf(want, sizeof want, "PUT /uploads/r/report.json|||127.0.0.1:%u|2", s.port);
    assert_string_equal(line, want);
    log_line(log, 1, line, sizeof line);
    snprintf(want, sizeof want, "PUT //lead//x|||uploads.localhost:%u|1", s.port);
    assert_string_equal(line, want);
    log_line(log, 2, line, sizeof line);
    snprintf(want, sizeof want, "PUT /my.bucket/k|||localhost:%u|1", s.port);
    assert_string_equal(line, want);
    free(log);
}

/* https through libcurl + OpenSSL against `openssl s_server -www` with a self-signed
 * certificate: verification on fails (not retried), S3_VERIFY_TLS=0 and AWS_CA_BUNDLE work. */
static void test_tls(void **state) {
    (void)state;
    char dir[] = "/tmp/celeriac-s3-tls-XXXXXX", cert[128], key[128], cmd[1024], url[64];
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        skip();
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext "
             "subjectAltName=DNS:localhost,IP:127.0.0.1 -days 1 -keyout %s -out %s >/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0) {
        unlink(key);
        unlink(cert);
        rmdir(dir);
        skip();
    }
    /* a free port */
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(sfd, (struct sockaddr *)&sa, &sl), 0);
    close(sfd);
    unsigned port = ntohs(sa.sin_port);
    char accept_arg[32];
    snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%u", port);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("openssl", "openssl", "s_server", "-accept", accept_arg, "-cert", cert, "-key", key,
               "-www", "-quiet", (char *)NULL);
        _exit(127);
    }
    /* wait until it listens */
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        int t = socket(AF_INET, SOCK_STREAM, 0);
        up = connect(t, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(t);
        if (!up)
            usleep(50000);
    }
    assert_true(up);

    s3_config cfg;
    cel_error err = {0};
    s3_config_defaults(&cfg);
    snprintf(url, sizeof url, "https://127.0.0.1:%u", port);
    assert_int_equal(s3_config_set_endpoint(&cfg, url, &err), CEL_OK);
    cfg.addressing = S3_ADDRESSING_PATH;
    snprintf(cfg.access_key, sizeof cfg.access_key, "AK");
    snprintf(cfg.secret_key, sizeof cfg.secret_key, "SK");
    cfg.max_attempts = 3;
    cfg.retry_base_ms = 1;
    s3_client *c = NULL;
    sink_t *sk = calloc(1, sizeof *sk);

    assert_int_equal(s3_client_new(&cfg, &c, &err), CEL_OK);
    assert_int_equal(s3_get_stream(c, "uploads", "k", sink_fn, sk, NULL, &err), CEL_ES3);
    assert_non_null(strstr(err.msg, "certificate"));
    assert_null(strstr(err.msg, "attempts")); /* not retried */
    s3_client_free(c);

    cfg.verify_tls = false;
    cel_error_clear(&err);
    assert_int_equal(s3_client_new(&cfg, &c, &err), CEL_OK);
    cel_status st = s3_get_stream(c, "uploads", "k", sink_fn, sk, NULL, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_true(sk->len > 0);
    s3_client_free(c);

    cfg.verify_tls = true;
    snprintf(cfg.ca_bundle, sizeof cfg.ca_bundle, "%s", cert);
    sk->len = 0;
    assert_int_equal(s3_client_new(&cfg, &c, &err), CEL_OK);
    st = s3_get_stream(c, "uploads", "k", sink_fn, sk, NULL, &err);
    if (st != CEL_OK)
        fail_msg("%s", err.msg);
    assert_true(sk->len > 0);
    s3_client_free(c);

    free(sk);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(key);
    unlink(cert);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_then_success),
        cmocka_unit_test(test_retries_exhausted),
        cmocka_unit_test(test_stream_resume),
        cmocka_unit_test(test_stream_resume_full_answer),
        cmocka_unit_test(test_stream_resume_changed),
        cmocka_unit_test(test_stream_consumer_failure),
        cmocka_unit_test(test_error_classification),
        cmocka_unit_test(test_content_length_and_ranges),
        cmocka_unit_test(test_truncated_xml_retried),
        cmocka_unit_test(test_list_pagination),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_put_and_addressing),
        cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests_name("s3_client", tests, setup_body, NULL);
}
