/*
 * broker.c: rabbitmq-c wrapper for the supervisor (see broker.h for the design).
 *
 * Frame handling: we read frames ourselves with amqp_simple_wait_frame_noblock rather
 * than amqp_consume_message, because publisher confirms (basic.ack on channel 2),
 * returns and channel closes arrive interleaved with deliveries. A basic.deliver
 * method frame is followed by its content, read with amqp_read_message (which queues
 * frames of other channels inside rabbitmq-c; the next wait returns them first).
 *
 * Field tables: py-amqp and rabbitmq-c disagree about some type letters (Celery
 * research notes, pitfall 7): we read every kind leniently and write only
 * S, I, L (for non-negative 64-bit ints, which py-amqp reads as signed 64), d, t, V, A, F.
 */
#include "broker/broker.h"

#include "util/log.h"
#include "util/urlenc.h"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#define CH_CONSUME 1
#define CH_PUBLISH 2
#define MAX_TABLE_DEPTH 16

typedef struct dq_node {
    brk_delivery *d;
    struct dq_node *next;
} dq_node;

struct brk_conn {
    amqp_connection_state_t conn;
    bool alive;
    bool pub_open;
    uint64_t generation;
    uint64_t pub_seq;        /* sequence number of the last publish on channel 2 */
    uint64_t confirmed_upto; /* highest seq acked (with multiple handled) */
    uint64_t nacked_seq;     /* last nacked seq, 0 = none */
    uint64_t returned_seq;   /* seq during which a basic.return arrived */
    char pub_error[512];     /* channel-2 close reason during a publish */
    dq_node *head, *tail;
    brk_options opts;
    char server_version[64];
};

static uint64_t g_generation = 0;

/* ---------- URL ---------- */

static cel_status pct_decode(const char *s, size_t n, char *out, size_t outsz, cel_error *err) {
    cel_error e = {0};
    if (url_unescape(s, n, out, outsz, false, &e) != CEL_OK)
        return cel_fail(err, CEL_ECONFIG, "broker URL: %s", e.msg);
    return CEL_OK;
}

cel_status brk_url_parse(const char *url, brk_url *out, cel_error *err) {
    memset(out, 0, sizeof *out);
    snprintf(out->host, sizeof out->host, "localhost");
    snprintf(out->user, sizeof out->user, "guest");
    snprintf(out->password, sizeof out->password, "guest");
    snprintf(out->vhost, sizeof out->vhost, "/");
    out->port = 5672;
    if (url == NULL || *url == '\0')
        return cel_fail(err, CEL_ECONFIG, "CELERY_BROKER_URL is empty");
    const char *p = strstr(url, "://");
    if (p == NULL)
        return cel_fail(err, CEL_ECONFIG, "CELERY_BROKER_URL: missing scheme (want amqp://)");
    size_t sl = (size_t)(p - url);
    if ((sl == 4 && strncasecmp(url, "amqp", 4) == 0) ||
        (sl == 6 && strncasecmp(url, "pyamqp", 6) == 0) ||
        (sl == 12 && strncasecmp(url, "librabbitmq", 12) == 0)) {
        out->ssl = false;
    } else if (sl == 5 && strncasecmp(url, "amqps", 5) == 0) {
        out->ssl = true;
        out->port = 5671;
    } else {
        return cel_fail(err, CEL_ECONFIG,
                        "CELERY_BROKER_URL: unsupported scheme '%.*s' (want amqp:// or amqps://)",
                        (int)sl, url);
    }
    const char *rest = p + 3;
    const char *slash = strchr(rest, '/');
    const char *q = strchr(rest, '?');
    const char *authority_end = slash ? slash : (q ? q : rest + strlen(rest));
    if (q && q < authority_end)
        authority_end = q;
    const char *at = NULL;
    for (const char *c = rest; c < authority_end; c++)
        if (*c == '@')
            at = c;
    const char *host = rest;
    cel_status st;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        const char *uend = colon ? colon : at;
        if (uend > rest &&
            (st = pct_decode(rest, (size_t)(uend - rest), out->user, sizeof out->user, err)))
            return st;
        if (colon && (st = pct_decode(colon + 1, (size_t)(at - colon - 1), out->password,
                                      sizeof out->password, err)))
            return st;
        host = at + 1;
    }
    const char *hend = authority_end;
    const char *pcolon = NULL;
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(hend - host));
        if (!rb)
            return cel_fail(err, CEL_ECONFIG, "CELERY_BROKER_URL: bad IPv6 host");
        if (rb + 1 < hend && rb[1] == ':')
            pcolon = rb + 1;
        if ((size_t)(rb - host - 1) >= sizeof out->host)
            return cel_fail(err, CEL_ECONFIG, "CELERY_BROKER_URL: host too long");
        memcpy(out->host, host + 1, (size_t)(rb - host - 1));
        out->host[rb - host - 1] = '\0';
    } else {
        pcolon = memchr(host, ':', (size_t)(hend - host));
        const char *e = pcolon ? pcolon : hend;
        if (e > host) {
            if ((st = pct_decode(host, (size_t)(e - host), out->host, sizeof out->host, err)))
                return st;
        }
    }
    if (pcolon) {
        char *end = NULL;
        long port = strtol(pcolon + 1, &end, 10);
        if (end != hend || port <= 0 || port > 65535)
            return cel_fail(err, CEL_ECONFIG, "CELERY_BROKER_URL: bad port");
        out->port = (int)port;
    }
    if (slash && (!q || slash < q)) {
        const char *vend = q ? q : slash + strlen(slash);
        if (vend - slash > 1) {
            if ((st = pct_decode(slash + 1, (size_t)(vend - slash - 1), out->vhost,
                                 sizeof out->vhost, err)))
                return st;
        }
    }
    return CEL_OK;
}

/* ---------- table <-> JSON ---------- */

static json_t *bytes_to_json_string(amqp_bytes_t b, cel_error *err) {
    /* an empty AMQP string may come with a NULL pointer, which jansson refuses */
    json_t *s = json_stringn(b.len ? (const char *)b.bytes : "", b.len);
    if (s == NULL)
        cel_fail(err, CEL_EPARSE, "header string is not valid UTF-8");
    return s;
}

static cel_status value_to_json(const amqp_field_value_t *v, int depth, json_t **out,
                                cel_error *err);

static cel_status table_to_json(const amqp_table_t *t, int depth, json_t **out, cel_error *err) {
    if (depth > MAX_TABLE_DEPTH)
        return cel_fail(err, CEL_ELIMIT, "header table nested deeper than %d", MAX_TABLE_DEPTH);
    json_t *obj = json_object();
    if (!obj)
        return CEL_ENOMEM;
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        char key[257];
        size_t kl = e->key.len < 256 ? e->key.len : 256;
        memcpy(key, e->key.bytes, kl);
        key[kl] = '\0';
        json_t *val = NULL;
        cel_status st = value_to_json(&e->value, depth + 1, &val, err);
        if (st != CEL_OK) {
            json_decref(obj);
            return st;
        }
        if (json_object_set_new(obj, key, val) != 0) {
            json_decref(obj);
            return cel_fail(err, CEL_EPARSE, "header key is not valid UTF-8");
        }
    }
    *out = obj;
    return CEL_OK;
}

static cel_status value_to_json(const amqp_field_value_t *v, int depth, json_t **out,
                                cel_error *err) {
    json_t *j = NULL;
    switch (v->kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
        j = json_boolean(v->value.boolean);
        break;
    case AMQP_FIELD_KIND_I8:
        j = json_integer(v->value.i8);
        break;
    case AMQP_FIELD_KIND_U8:
        j = json_integer(v->value.u8);
        break;
    case AMQP_FIELD_KIND_I16:
        j = json_integer(v->value.i16);
        break;
    case AMQP_FIELD_KIND_U16:
        j = json_integer(v->value.u16);
        break;
    case AMQP_FIELD_KIND_I32:
        j = json_integer(v->value.i32);
        break;
    case AMQP_FIELD_KIND_U32:
        j = json_integer(v->value.u32);
        break;
    case AMQP_FIELD_KIND_I64:
        j = json_integer(v->value.i64);
        break;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        if (v->value.u64 > (uint64_t)INT64_MAX)
            j = json_real((double)v->value.u64);
        else
            j = json_integer((json_int_t)v->value.u64);
        break;
    case AMQP_FIELD_KIND_F32:
        j = isfinite(v->value.f32) ? json_real(v->value.f32) : json_null();
        break;
    case AMQP_FIELD_KIND_F64:
        j = isfinite(v->value.f64) ? json_real(v->value.f64) : json_null();
        break;
    case AMQP_FIELD_KIND_DECIMAL: {
        double d = (double)v->value.decimal.value;
        for (int i = 0; i < v->value.decimal.decimals; i++)
            d /= 10.0;
        j = json_real(d);
        break;
    }
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        j = bytes_to_json_string(v->value.bytes, err);
        if (!j)
            return CEL_EPARSE;
        break;
    case AMQP_FIELD_KIND_VOID:
        j = json_null();
        break;
    case AMQP_FIELD_KIND_TABLE:
        return table_to_json(&v->value.table, depth, out, err);
    case AMQP_FIELD_KIND_ARRAY: {
        if (depth > MAX_TABLE_DEPTH)
            return cel_fail(err, CEL_ELIMIT, "header array nested deeper than %d", MAX_TABLE_DEPTH);
        j = json_array();
        if (!j)
            return CEL_ENOMEM;
        for (int i = 0; i < v->value.array.num_entries; i++) {
            json_t *e = NULL;
            cel_status st = value_to_json(&v->value.array.entries[i], depth + 1, &e, err);
            if (st != CEL_OK) {
                json_decref(j);
                return st;
            }
            json_array_append_new(j, e);
        }
        break;
    }
    default:
        return cel_fail(err, CEL_EPARSE, "unknown header field kind '%c'", v->kind);
    }
    if (!j)
        return CEL_ENOMEM;
    *out = j;
    return CEL_OK;
}

cel_status brk_table_to_json(const struct amqp_table_t_ *t, json_t **out, cel_error *err) {
    return table_to_json(t, 0, out, err);
}

static cel_status json_to_value(amqp_pool_t *pool, json_t *j, int depth, amqp_field_value_t *v,
                                cel_error *err);

static cel_status json_to_table(amqp_pool_t *pool, json_t *obj, int depth, amqp_table_t *t,
                                cel_error *err) {
    if (depth > MAX_TABLE_DEPTH)
        return cel_fail(err, CEL_ELIMIT, "headers nested deeper than %d", MAX_TABLE_DEPTH);
    size_t n = json_object_size(obj);
    t->num_entries = (int)n;
    t->entries = n ? amqp_pool_alloc(pool, n * sizeof *t->entries) : NULL;
    if (n && !t->entries)
        return CEL_ENOMEM;
    const char *k;
    json_t *val;
    size_t i = 0;
    json_object_foreach(obj, k, val) {
        t->entries[i].key = amqp_cstring_bytes(k);
        cel_status st = json_to_value(pool, val, depth + 1, &t->entries[i].value, err);
        if (st != CEL_OK)
            return st;
        i++;
    }
    return CEL_OK;
}

static cel_status json_to_value(amqp_pool_t *pool, json_t *j, int depth, amqp_field_value_t *v,
                                cel_error *err) {
    switch (json_typeof(j)) {
    case JSON_NULL:
        v->kind = AMQP_FIELD_KIND_VOID;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v->kind = AMQP_FIELD_KIND_BOOLEAN;
        v->value.boolean = json_is_true(j);
        break;
    case JSON_INTEGER: {
        json_int_t x = json_integer_value(j);
        if (x >= INT32_MIN && x <= INT32_MAX) {
            v->kind = AMQP_FIELD_KIND_I32;
            v->value.i32 = (int32_t)x;
        } else if (x > 0) {
            v->kind = AMQP_FIELD_KIND_U64; /* 'L': py-amqp reads it as signed 64 */
            v->value.u64 = (uint64_t)x;
        } else {
            v->kind = AMQP_FIELD_KIND_F64;
            v->value.f64 = (double)x;
        }
        break;
    }
    case JSON_REAL:
        v->kind = AMQP_FIELD_KIND_F64;
        v->value.f64 = json_real_value(j);
        break;
    case JSON_STRING:
        v->kind = AMQP_FIELD_KIND_UTF8;
        v->value.bytes.bytes = (void *)json_string_value(j);
        v->value.bytes.len = json_string_length(j);
        break;
    case JSON_OBJECT:
        v->kind = AMQP_FIELD_KIND_TABLE;
        return json_to_table(pool, j, depth, &v->value.table, err);
    case JSON_ARRAY: {
        if (depth > MAX_TABLE_DEPTH)
            return cel_fail(err, CEL_ELIMIT, "headers nested deeper than %d", MAX_TABLE_DEPTH);
        size_t n = json_array_size(j);
        v->kind = AMQP_FIELD_KIND_ARRAY;
        v->value.array.num_entries = (int)n;
        v->value.array.entries = n ? amqp_pool_alloc(pool, n * sizeof(amqp_field_value_t)) : NULL;
        if (n && !v->value.array.entries)
            return CEL_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            cel_status st = json_to_value(pool, json_array_get(j, i), depth + 1,
                                          &v->value.array.entries[i], err);
            if (st != CEL_OK)
                return st;
        }
        break;
    }
    }
    return CEL_OK;
}

/* ---------- connection ---------- */

static const char *reply_text(amqp_rpc_reply_t r, char *buf, size_t n) {
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        snprintf(buf, n, "ok");
        break;
    case AMQP_RESPONSE_NONE:
        snprintf(buf, n, "missing RPC reply");
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(buf, n, "%s", amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(buf, n, "connection closed by broker: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(buf, n, "channel closed by broker: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else {
            snprintf(buf, n, "unexpected server method 0x%08x", r.reply.id);
        }
        break;
    }
    return buf;
}

static void mark_dead(brk_conn *b) {
    b->alive = false;
}

static cel_status open_pub_channel(brk_conn *b, cel_error *err) {
    char buf[256];
    amqp_channel_open(b->conn, CH_PUBLISH);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "opening publish channel: %s",
                        reply_text(r, buf, sizeof buf));
    }
    amqp_confirm_select(b->conn, CH_PUBLISH);
    r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "confirm.select: %s", reply_text(r, buf, sizeof buf));
    }
    b->pub_open = true;
    b->pub_seq = 0;
    b->confirmed_upto = 0;
    b->nacked_seq = 0;
    b->returned_seq = 0;
    return CEL_OK;
}

/* After an RPC failed on channel 2: acknowledge a channel close and reopen the channel;
 * a connection close kills the brk_conn. Returns the status to report for the RPC. */
static cel_status rpc_failed(brk_conn *b, amqp_rpc_reply_t r, amqp_channel_t ch, const char *what,
                             cel_error *err) {
    char buf[512];
    reply_text(r, buf, sizeof buf);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = r.reply.decoded;
        unsigned code = m->reply_code;
        amqp_channel_close_ok_t ok = {0};
        amqp_send_method(b->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        if (ch == CH_PUBLISH) {
            b->pub_open = false;
            cel_error e2 = {0};
            if (open_pub_channel(b, &e2) != CEL_OK)
                return cel_fail(err, CEL_EBROKER, "%s: %s; then %s", what, buf, e2.msg);
        } else {
            mark_dead(b);
            return cel_fail(err, CEL_EBROKER, "%s: %s", what, buf);
        }
        if (code == 406)
            return cel_fail(err, CEL_ECONFLICT, "%s: %s", what, buf);
        if (code == 404)
            return cel_fail(err, CEL_ENOTFOUND, "%s: %s", what, buf);
        if (code == 403)
            return cel_fail(err, CEL_EDENIED, "%s: %s", what, buf);
        return cel_fail(err, CEL_EPROTO, "%s: %s", what, buf);
    }
    mark_dead(b);
    return cel_fail(err, CEL_EBROKER, "%s: %s", what, buf);
}

cel_status brk_connect(const brk_url *url, const brk_options *opts, brk_conn **out,
                       cel_error *err) {
    char buf[512];
    brk_conn *b = calloc(1, sizeof *b);
    if (!b)
        return CEL_ENOMEM;
    b->opts = *opts;
    b->conn = amqp_new_connection();
    if (!b->conn) {
        free(b);
        return CEL_ENOMEM;
    }
    amqp_socket_t *sock = url->ssl ? amqp_ssl_socket_new(b->conn) : amqp_tcp_socket_new(b->conn);
    if (!sock) {
        amqp_destroy_connection(b->conn);
        free(b);
        return cel_fail(err, CEL_EBROKER, "cannot create %s socket", url->ssl ? "TLS" : "TCP");
    }
    if (url->ssl) {
        const char *ca = getenv("CELERIAC_BROKER_CA_FILE");
        if (ca && *ca && amqp_ssl_socket_set_cacert(sock, ca) != AMQP_STATUS_OK) {
            amqp_destroy_connection(b->conn);
            free(b);
            return cel_fail(err, CEL_ECONFIG, "CELERIAC_BROKER_CA_FILE: cannot load %s", ca);
        }
        const char *verify = getenv("CELERIAC_BROKER_VERIFY_TLS");
        bool v = !(verify && strcmp(verify, "0") == 0);
        amqp_ssl_socket_set_verify_peer(sock, v);
        amqp_ssl_socket_set_verify_hostname(sock, v);
    }
    struct timeval tv = {opts->connect_timeout_ms / 1000, (opts->connect_timeout_ms % 1000) * 1000};
    int rc = amqp_socket_open_noblock(sock, url->host, url->port, &tv);
    if (rc != AMQP_STATUS_OK) {
        amqp_destroy_connection(b->conn);
        free(b);
        return cel_fail(err, CEL_EBROKER, "cannot connect to %s:%d: %s", url->host, url->port,
                        amqp_error_string2(rc));
    }
    amqp_set_handshake_timeout(b->conn, &tv);
    amqp_table_entry_t props[3];
    props[0].key = amqp_cstring_bytes("product");
    props[0].value.kind = AMQP_FIELD_KIND_UTF8;
    props[0].value.value.bytes = amqp_cstring_bytes("celeriac");
    props[1].key = amqp_cstring_bytes("version");
    props[1].value.kind = AMQP_FIELD_KIND_UTF8;
    props[1].value.value.bytes = amqp_cstring_bytes(CELERIAC_VERSION);
    props[2].key = amqp_cstring_bytes("connection_name");
    props[2].value.kind = AMQP_FIELD_KIND_UTF8;
    props[2].value.value.bytes =
        amqp_cstring_bytes(opts->connection_name ? opts->connection_name : "celeriac");
    amqp_table_t ptable = {3, props};
    amqp_rpc_reply_t r =
        amqp_login_with_properties(b->conn, url->vhost, 0, 131072, opts->heartbeat_s, &ptable,
                                   AMQP_SASL_METHOD_PLAIN, url->user, url->password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        reply_text(r, buf, sizeof buf);
        amqp_destroy_connection(b->conn);
        free(b);
        return cel_fail(err, CEL_EBROKER, "login to %s:%d vhost '%s' as '%s' failed: %s", url->host,
                        url->port, url->vhost, url->user, buf);
    }
    b->alive = true;
    b->generation = ++g_generation;
    const amqp_table_t *sp = amqp_get_server_properties(b->conn);
    for (int i = 0; sp && i < sp->num_entries; i++) {
        if (sp->entries[i].key.len == 7 && memcmp(sp->entries[i].key.bytes, "version", 7) == 0 &&
            sp->entries[i].value.kind == AMQP_FIELD_KIND_UTF8) {
            snprintf(b->server_version, sizeof b->server_version, "%.*s",
                     (int)sp->entries[i].value.value.bytes.len,
                     (const char *)sp->entries[i].value.value.bytes.bytes);
        }
    }
    amqp_channel_open(b->conn, CH_CONSUME);
    r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        reply_text(r, buf, sizeof buf);
        brk_close(b);
        return cel_fail(err, CEL_EBROKER, "opening consume channel: %s", buf);
    }
    cel_status st = open_pub_channel(b, err);
    if (st != CEL_OK) {
        brk_close(b);
        return st;
    }
    *out = b;
    return CEL_OK;
}

void brk_delivery_free(brk_delivery *d) {
    if (!d)
        return;
    free(d->consumer_tag);
    free(d->exchange);
    free(d->routing_key);
    free(d->content_type);
    free(d->content_encoding);
    free(d->correlation_id);
    free(d->reply_to);
    free(d->expiration);
    free(d->message_id);
    json_decref(d->headers);
    free(d->body);
    free(d);
}

void brk_close(brk_conn *b) {
    if (!b)
        return;
    if (b->alive) {
        amqp_channel_close(b->conn, CH_PUBLISH, AMQP_REPLY_SUCCESS);
        amqp_channel_close(b->conn, CH_CONSUME, AMQP_REPLY_SUCCESS);
        amqp_connection_close(b->conn, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(b->conn);
    dq_node *n = b->head;
    while (n) {
        dq_node *next = n->next;
        brk_delivery_free(n->d);
        free(n);
        n = next;
    }
    free(b);
}

bool brk_alive(const brk_conn *b) {
    return b && b->alive;
}

int brk_fd(const brk_conn *b) {
    return amqp_get_sockfd(b->conn);
}

bool brk_has_buffered(const brk_conn *b) {
    return b->head != NULL || amqp_frames_enqueued(b->conn) || amqp_data_in_buffer(b->conn);
}

static bool lib_has_buffered(const brk_conn *b) {
    return amqp_frames_enqueued(b->conn) || amqp_data_in_buffer(b->conn);
}

const char *brk_server_version(const brk_conn *b) {
    return b->server_version;
}

uint64_t brk_generation(const brk_conn *b) {
    return b->generation;
}

/* ---------- declarations ---------- */

cel_status brk_declare_exchange(brk_conn *b, const char *name, const char *type, bool durable,
                                bool auto_delete, cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    amqp_exchange_declare(b->conn, CH_PUBLISH, amqp_cstring_bytes(name), amqp_cstring_bytes(type),
                          0, durable, auto_delete, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        char what[320];
        snprintf(what, sizeof what, "declaring exchange '%s'", name);
        return rpc_failed(b, r, CH_PUBLISH, what, err);
    }
    return CEL_OK;
}

cel_status brk_declare_queue(brk_conn *b, const char *name, bool passive, bool durable,
                             bool exclusive, bool auto_delete, json_t *arguments, cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    amqp_pool_t pool;
    init_amqp_pool(&pool, 1024);
    amqp_table_t args = amqp_empty_table;
    cel_status st = CEL_OK;
    if (arguments && json_is_object(arguments))
        st = json_to_table(&pool, arguments, 0, &args, err);
    if (st == CEL_OK) {
        amqp_queue_declare(b->conn, CH_PUBLISH, amqp_cstring_bytes(name), passive, durable,
                           exclusive, auto_delete, args);
        amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            char what[320];
            snprintf(what, sizeof what, "declaring queue '%s'", name);
            st = rpc_failed(b, r, CH_PUBLISH, what, err);
        }
    }
    empty_amqp_pool(&pool);
    return st;
}

cel_status brk_bind_queue(brk_conn *b, const char *queue, const char *exchange,
                          const char *routing_key, cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    amqp_queue_bind(b->conn, CH_PUBLISH, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                    amqp_cstring_bytes(routing_key), amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        char what[600];
        snprintf(what, sizeof what, "binding queue '%s' to '%s'", queue, exchange);
        return rpc_failed(b, r, CH_PUBLISH, what, err);
    }
    return CEL_OK;
}

cel_status brk_qos(brk_conn *b, uint16_t prefetch_count, cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    amqp_basic_qos(b->conn, CH_CONSUME, 0, prefetch_count, 1);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return rpc_failed(b, r, CH_CONSUME, "basic.qos", err);
    return CEL_OK;
}

cel_status brk_consume(brk_conn *b, const char *queue, bool no_ack, char *tag_out, size_t tagsz,
                       cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    amqp_basic_consume_ok_t *ok =
        amqp_basic_consume(b->conn, CH_CONSUME, amqp_cstring_bytes(queue), amqp_empty_bytes, 0,
                           no_ack, 0, amqp_empty_table);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL || !ok) {
        char what[320];
        snprintf(what, sizeof what, "consuming from '%s'", queue);
        return rpc_failed(b, r, CH_CONSUME, what, err);
    }
    snprintf(tag_out, tagsz, "%.*s", (int)ok->consumer_tag.len,
             (const char *)ok->consumer_tag.bytes);
    return CEL_OK;
}

cel_status brk_cancel(brk_conn *b, const char *consumer_tag, cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    amqp_basic_cancel(b->conn, CH_CONSUME, amqp_cstring_bytes(consumer_tag));
    amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return rpc_failed(b, r, CH_CONSUME, "basic.cancel", err);
    return CEL_OK;
}

/* ---------- frames ---------- */

static char *dup_bytes(amqp_bytes_t b) {
    char *s = malloc(b.len + 1);
    if (!s)
        return NULL;
    if (b.len)
        memcpy(s, b.bytes, b.len);
    s[b.len] = '\0';
    return s;
}

static char *prop(const amqp_basic_properties_t *p, amqp_flags_t flag, amqp_bytes_t v) {
    return (p->_flags & flag) ? dup_bytes(v) : NULL;
}

static void enqueue(brk_conn *b, brk_delivery *d) {
    dq_node *n = malloc(sizeof *n);
    if (!n) {
        /* Bookkeeping allocation: without it we can't track the message; abort is the
         * project's policy for small allocations (the broker will redeliver). */
        abort();
    }
    n->d = d;
    n->next = NULL;
    if (b->tail)
        b->tail->next = n;
    else
        b->head = n;
    b->tail = n;
}

brk_delivery *brk_next_delivery(brk_conn *b) {
    dq_node *n = b->head;
    if (!n)
        return NULL;
    b->head = n->next;
    if (!b->head)
        b->tail = NULL;
    brk_delivery *d = n->d;
    free(n);
    return d;
}

static cel_status read_delivery(brk_conn *b, amqp_channel_t ch, const amqp_basic_deliver_t *m,
                                cel_error *err) {
    brk_delivery *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->delivery_tag = m->delivery_tag;
    d->generation = b->generation;
    d->redelivered = m->redelivered;
    d->consumer_tag = dup_bytes(m->consumer_tag);
    d->exchange = dup_bytes(m->exchange);
    d->routing_key = dup_bytes(m->routing_key);
    d->priority = -1;
    amqp_message_t msg;
    amqp_rpc_reply_t r = amqp_read_message(b->conn, ch, &msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        char buf[256];
        brk_delivery_free(d);
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "reading message content: %s",
                        reply_text(r, buf, sizeof buf));
    }
    const amqp_basic_properties_t *p = &msg.properties;
    d->content_type = prop(p, AMQP_BASIC_CONTENT_TYPE_FLAG, p->content_type);
    d->content_encoding = prop(p, AMQP_BASIC_CONTENT_ENCODING_FLAG, p->content_encoding);
    d->correlation_id = prop(p, AMQP_BASIC_CORRELATION_ID_FLAG, p->correlation_id);
    d->reply_to = prop(p, AMQP_BASIC_REPLY_TO_FLAG, p->reply_to);
    d->expiration = prop(p, AMQP_BASIC_EXPIRATION_FLAG, p->expiration);
    d->message_id = prop(p, AMQP_BASIC_MESSAGE_ID_FLAG, p->message_id);
    if (p->_flags & AMQP_BASIC_PRIORITY_FLAG)
        d->priority = p->priority;
    d->delivery_mode = (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG) ? p->delivery_mode : 1;
    if (p->_flags & AMQP_BASIC_HEADERS_FLAG) {
        cel_error herr = {0};
        if (table_to_json(&p->headers, 0, &d->headers, &herr) != CEL_OK) {
            d->headers = NULL;
            snprintf(d->headers_error, sizeof d->headers_error, "%.200s", herr.msg);
        }
    }
    /* An oversized body is kept (rabbitmq-c already holds it) so that it can be
     * dead-lettered intact; the flag tells the supervisor not to decode it. */
    d->too_large = b->opts.max_body_bytes && msg.body.len > b->opts.max_body_bytes;
    d->body = dup_bytes(msg.body);
    d->body_len = msg.body.len;
    amqp_destroy_message(&msg);
    if (!d->body)
        abort();
    enqueue(b, d);
    return CEL_OK;
}

/* Handles one frame; *pub_event set when a confirm/return/close for channel 2 arrived. */
static cel_status handle_frame(brk_conn *b, amqp_frame_t *f, cel_error *err) {
    if (f->frame_type != AMQP_FRAME_METHOD)
        return CEL_OK; /* stray content frames (e.g. of a return we skipped) and heartbeats */
    amqp_method_number_t id = f->payload.method.id;
    void *dec = f->payload.method.decoded;
    switch (id) {
    case AMQP_BASIC_DELIVER_METHOD:
        return read_delivery(b, f->channel, dec, err);
    case AMQP_BASIC_ACK_METHOD: {
        amqp_basic_ack_t *a = dec;
        if (a->delivery_tag > b->confirmed_upto)
            b->confirmed_upto = a->delivery_tag;
        if (a->delivery_tag == 0 && a->multiple)
            b->confirmed_upto = b->pub_seq;
        return CEL_OK;
    }
    case AMQP_BASIC_NACK_METHOD: {
        amqp_basic_nack_t *a = dec;
        b->nacked_seq = a->delivery_tag ? a->delivery_tag : b->pub_seq;
        if (a->delivery_tag > b->confirmed_upto)
            b->confirmed_upto = a->delivery_tag;
        return CEL_OK;
    }
    case AMQP_BASIC_RETURN_METHOD: {
        amqp_message_t msg;
        amqp_rpc_reply_t r = amqp_read_message(b->conn, f->channel, &msg, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            mark_dead(b);
            return cel_fail(err, CEL_EBROKER, "reading returned message failed");
        }
        amqp_destroy_message(&msg);
        b->returned_seq = b->pub_seq; /* the ack for this seq follows the return */
        return CEL_OK;
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
        amqp_channel_close_t *m = dec;
        char text[400];
        snprintf(text, sizeof text, "%u %.*s", m->reply_code, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
        amqp_channel_close_ok_t ok = {0};
        amqp_send_method(b->conn, f->channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        if (f->channel == CH_PUBLISH) {
            snprintf(b->pub_error, sizeof b->pub_error, "%s", text);
            b->pub_open = false;
            return CEL_OK;
        }
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "broker closed the consume channel: %s", text);
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_connection_close_t *m = dec;
        amqp_connection_close_ok_t ok = {0};
        amqp_send_method(b->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "broker closed the connection: %u %.*s", m->reply_code,
                        (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    }
    case AMQP_BASIC_CANCEL_METHOD:
        /* The broker cancelled our consumer (queue deleted or failover): treat as a
         * connection failure so the supervisor re-declares and re-subscribes. */
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "broker cancelled the consumer (queue deleted?)");
    default:
        return CEL_OK;
    }
}

static cel_status wait_one(brk_conn *b, int timeout_ms, bool *got, cel_error *err) {
    amqp_frame_t f;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    *got = false;
    int rc = amqp_simple_wait_frame_noblock(b->conn, &f, &tv);
    if (rc == AMQP_STATUS_TIMEOUT)
        return CEL_OK;
    if (rc != AMQP_STATUS_OK) {
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "broker connection lost: %s", amqp_error_string2(rc));
    }
    *got = true;
    cel_status st = handle_frame(b, &f, err);
    if (!amqp_frames_enqueued(b->conn) && !amqp_data_in_buffer(b->conn))
        amqp_maybe_release_buffers(b->conn);
    return st;
}

cel_status brk_pump(brk_conn *b, int timeout_ms, cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    bool got = false;
    cel_status st = wait_one(b, timeout_ms, &got, err);
    /* Drain whatever else is already here without waiting. */
    while (st == CEL_OK && got && lib_has_buffered(b))
        st = wait_one(b, 0, &got, err);
    return st;
}

cel_status brk_ack(brk_conn *b, uint64_t delivery_tag, cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    int rc = amqp_basic_ack(b->conn, CH_CONSUME, delivery_tag, 0);
    if (rc != AMQP_STATUS_OK) {
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "basic.ack: %s", amqp_error_string2(rc));
    }
    return CEL_OK;
}

cel_status brk_reject(brk_conn *b, uint64_t delivery_tag, bool requeue, cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    int rc = amqp_basic_reject(b->conn, CH_CONSUME, delivery_tag, requeue);
    if (rc != AMQP_STATUS_OK) {
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "basic.reject: %s", amqp_error_string2(rc));
    }
    return CEL_OK;
}

static void set_bytes_prop(amqp_basic_properties_t *p, amqp_flags_t flag, amqp_bytes_t *field,
                           const char *v) {
    if (v) {
        p->_flags |= flag;
        *field = amqp_cstring_bytes(v);
    }
}

cel_status brk_publish(brk_conn *b, const brk_msg *m, cel_error *err) {
    if (!b->alive)
        return cel_fail(err, CEL_EBROKER, "broker connection is down");
    if (!b->pub_open) {
        cel_status st = open_pub_channel(b, err);
        if (st != CEL_OK)
            return st;
    }
    amqp_pool_t pool;
    init_amqp_pool(&pool, 2048);
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    set_bytes_prop(&p, AMQP_BASIC_CONTENT_TYPE_FLAG, &p.content_type, m->content_type);
    set_bytes_prop(&p, AMQP_BASIC_CONTENT_ENCODING_FLAG, &p.content_encoding, m->content_encoding);
    set_bytes_prop(&p, AMQP_BASIC_CORRELATION_ID_FLAG, &p.correlation_id, m->correlation_id);
    set_bytes_prop(&p, AMQP_BASIC_REPLY_TO_FLAG, &p.reply_to, m->reply_to);
    set_bytes_prop(&p, AMQP_BASIC_EXPIRATION_FLAG, &p.expiration, m->expiration);
    p._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.delivery_mode = (uint8_t)(m->delivery_mode == 2 ? 2 : 1);
    if (m->priority >= 0) {
        p._flags |= AMQP_BASIC_PRIORITY_FLAG;
        p.priority = (uint8_t)m->priority;
    }
    cel_status st = CEL_OK;
    if (m->headers && json_is_object(m->headers)) {
        p._flags |= AMQP_BASIC_HEADERS_FLAG;
        st = json_to_table(&pool, m->headers, 0, &p.headers, err);
    }
    if (st != CEL_OK) {
        empty_amqp_pool(&pool);
        return st;
    }
    amqp_bytes_t body = {m->body_len, (void *)m->body};
    b->pub_error[0] = '\0';
    int rc = amqp_basic_publish(
        b->conn, CH_PUBLISH, amqp_cstring_bytes(m->exchange ? m->exchange : ""),
        amqp_cstring_bytes(m->routing_key ? m->routing_key : ""), m->mandatory, 0, &p, body);
    empty_amqp_pool(&pool);
    if (rc != AMQP_STATUS_OK) {
        mark_dead(b);
        return cel_fail(err, CEL_EBROKER, "basic.publish: %s", amqp_error_string2(rc));
    }
    uint64_t seq = ++b->pub_seq;
    if (m->no_wait)
        return CEL_OK; /* its confirm is absorbed by a later wait (acks may be multiple) */
    uint64_t deadline = 0;
    {
        struct timeval now;
        gettimeofday(&now, NULL);
        deadline = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_usec / 1000u +
                   (uint64_t)(b->opts.confirm_timeout_ms > 0 ? b->opts.confirm_timeout_ms : 30000);
    }
    while (b->confirmed_upto < seq) {
        if (!b->pub_open) {
            return cel_fail(err, CEL_EPROTO, "publish to exchange '%s' key '%s' refused: %s",
                            m->exchange ? m->exchange : "", m->routing_key ? m->routing_key : "",
                            b->pub_error);
        }
        struct timeval now;
        gettimeofday(&now, NULL);
        uint64_t nowms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_usec / 1000u;
        if (nowms >= deadline)
            return cel_fail(err, CEL_ETIMEOUT, "no publisher confirm within %d ms",
                            b->opts.confirm_timeout_ms);
        bool got;
        st = wait_one(b, (int)(deadline - nowms > 200 ? 200 : deadline - nowms), &got, err);
        if (st != CEL_OK)
            return st;
    }
    if (b->nacked_seq == seq)
        return cel_fail(err, CEL_EBROKER, "broker nacked the publish (routing key '%s')",
                        m->routing_key ? m->routing_key : "");
    if (m->mandatory && b->returned_seq == seq)
        return cel_fail(err, CEL_ENOTFOUND, "message unroutable: no queue bound for key '%s'",
                        m->routing_key ? m->routing_key : "");
    return CEL_OK;
}
