/*
 * message.c: Celery message decoding/encoding (see message.h).
 */
#include "celery/message.h"

#include "util/dbuf.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *xstrdup(const char *s) {
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort(); /* bookkeeping-sized allocation */
    return d;
}

void cmsg_task_clear(cmsg_task *t) {
    if (!t)
        return;
    free(t->id);
    free(t->name);
    free(t->root_id);
    free(t->parent_id);
    free(t->group);
    free(t->origin);
    free(t->shadow);
    json_decref(t->args);
    json_decref(t->kwargs);
    json_decref(t->embed);
    free(t->reply_to);
    free(t->correlation_id);
    free(t->argsrepr);
    free(t->kwargsrepr);
    memset(t, 0, sizeof *t);
}

/* A string-or-null field: *dst = copy of the string; null/absent leave NULL. Anything
 * else is invalid. */
static cel_status opt_string(json_t *obj, const char *key, char **dst, cel_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return CEL_OK;
    if (!json_is_string(v))
        return cel_fail(err, CEL_EINVAL, "field '%s' must be a string or null", key);
    free(*dst);
    *dst = xstrdup(json_string_value(v));
    return CEL_OK;
}

static cel_status opt_time(json_t *obj, const char *key, bool *has, double *dst, cel_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return CEL_OK;
    if (json_is_number(v)) { /* tolerated: UNIX seconds */
        *has = true;
        *dst = json_number_value(v);
        return CEL_OK;
    }
    if (!json_is_string(v))
        return cel_fail(err, CEL_EINVAL, "field '%s' must be an ISO-8601 string or null", key);
    cel_error e2 = {0};
    if (tu_parse_iso8601(json_string_value(v), dst, &e2) != CEL_OK)
        return cel_fail(err, CEL_EINVAL, "field '%s': %s", key, e2.msg);
    *has = true;
    return CEL_OK;
}

static cel_status parse_timelimit(json_t *v, cmsg_task *t, cel_error *err) {
    if (!v || json_is_null(v))
        return CEL_OK;
    if (!json_is_array(v) || json_array_size(v) > 2)
        return cel_fail(err, CEL_EINVAL, "timelimit must be [hard, soft]");
    json_t *hard = json_array_get(v, 0), *soft = json_array_get(v, 1);
    if (hard && json_is_number(hard) && json_number_value(hard) > 0)
        t->time_limit = json_number_value(hard);
    if (soft && json_is_number(soft) && json_number_value(soft) > 0)
        t->soft_time_limit = json_number_value(soft);
    return CEL_OK;
}

static bool content_type_is_json(const char *ct) {
    if (ct == NULL || *ct == '\0')
        return true; /* no content type: we try JSON (raw publishers, management UI) */
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' '))
        n--;
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0);
}

static bool encoding_ok(const char *ce) {
    return ce == NULL || *ce == '\0' || strcasecmp(ce, "utf-8") == 0 ||
           strcasecmp(ce, "utf8") == 0 || strcasecmp(ce, "ascii") == 0 ||
           strcasecmp(ce, "us-ascii") == 0;
}

/* Fills the embed object from a v1/hybrid dict body (callbacks, errbacks, chain, chord). */
static json_t *embed_from_dict(json_t *body) {
    json_t *e = json_object();
    static const char *keys[] = {"callbacks", "errbacks", "chain", "chord"};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(body, keys[i]);
        json_object_set(e, keys[i], v ? v : json_null());
    }
    return e;
}

void cmsg_peek(const brk_delivery *d, cmsg_task *t) {
    memset(t, 0, sizeof *t);
    t->group_index = -1;
    t->priority = d->priority;
    t->reply_to = xstrdup(d->reply_to);
    t->correlation_id = xstrdup(d->correlation_id);
    json_t *h = d->headers;
    if (h) {
        json_t *v = json_object_get(h, "id");
        if (json_is_string(v))
            t->id = xstrdup(json_string_value(v));
        v = json_object_get(h, "task");
        if (json_is_string(v))
            t->name = xstrdup(json_string_value(v));
    }
    if (!t->id && d->correlation_id && *d->correlation_id)
        t->id = xstrdup(d->correlation_id);
    t->ignore_result = h && json_is_true(json_object_get(h, "ignore_result"));
}

cel_status cmsg_decode(const brk_delivery *d, cmsg_task *t, cel_error *err) {
    json_t *h = d->headers;
    json_t *body = NULL;
    cel_status st = CEL_OK;
    /* id/name first, so even a rejected message can be answered and logged. */
    cmsg_peek(d, t);
    if (d->headers_error[0])
        return cel_fail(err, CEL_EINVAL, "message headers unreadable: %s", d->headers_error);
    if (!content_type_is_json(d->content_type))
        return cel_fail(err, CEL_EUNSUPPORTED,
                        "content type '%s' refused: only application/json is accepted",
                        d->content_type);
    if (!encoding_ok(d->content_encoding))
        return cel_fail(err, CEL_EUNSUPPORTED, "content encoding '%s' refused: want utf-8",
                        d->content_encoding);
    if (h && json_object_get(h, "compression"))
        return cel_fail(err, CEL_EUNSUPPORTED, "compressed message bodies are not supported");

    json_error_t jerr;
    body = json_loadb(d->body, d->body_len, JSON_DECODE_ANY, &jerr);
    if (!body)
        return cel_fail(err, CEL_EPARSE, "body is not valid JSON: %s (line %d, column %d)",
                        jerr.text, jerr.line, jerr.column);

    json_t *meta; /* where id/retries/eta/... live: the headers (v2) or the body (v1) */
    if (h && json_object_get(h, "task")) {
        t->protocol = 2;
        meta = h;
        if (!json_is_string(json_object_get(h, "task"))) {
            st = cel_fail(err, CEL_EINVAL, "header 'task' must be a string");
            goto out;
        }
        if (json_is_object(body) && json_object_get(body, "args")) {
            t->hybrid = true;
            t->args = json_incref(json_object_get(body, "args"));
            json_t *kw = json_object_get(body, "kwargs");
            t->kwargs = kw && !json_is_null(kw) ? json_incref(kw) : json_object();
            t->embed = embed_from_dict(body);
        } else if (json_is_array(body) && json_array_size(body) >= 2 &&
                   json_array_size(body) <= 3) {
            t->args = json_incref(json_array_get(body, 0));
            t->kwargs = json_incref(json_array_get(body, 1));
            json_t *e = json_array_get(body, 2);
            if (e && json_is_object(e)) {
                t->embed = json_incref(e);
            } else if (!e || json_is_null(e)) {
                t->embed = json_object();
            } else {
                st = cel_fail(err, CEL_EINVAL, "protocol 2 body: embed must be an object or null");
                goto out;
            }
        } else {
            st = cel_fail(err, CEL_EINVAL, "protocol 2 body must be [args, kwargs, embed]");
            goto out;
        }
    } else {
        t->protocol = 1;
        meta = body;
        if (!json_is_object(body) || !json_is_string(json_object_get(body, "task"))) {
            st = cel_fail(err, CEL_EINVAL,
                          "not a task message: no 'task' header and the body "
                          "is not a protocol 1 task dict");
            goto out;
        }
        free(t->name);
        t->name = xstrdup(json_string_value(json_object_get(body, "task")));
        json_t *id = json_object_get(body, "id");
        if (json_is_string(id)) {
            free(t->id);
            t->id = xstrdup(json_string_value(id));
        }
        json_t *a = json_object_get(body, "args");
        t->args = a && !json_is_null(a) ? json_incref(a) : json_array();
        json_t *kw = json_object_get(body, "kwargs");
        t->kwargs = kw && !json_is_null(kw) ? json_incref(kw) : json_object();
        t->embed = embed_from_dict(body);
        if (!json_object_get(body, "group") && json_is_string(json_object_get(body, "taskset")))
            t->group = xstrdup(json_string_value(json_object_get(body, "taskset")));
    }
    if (t->protocol == 2) {
        json_t *id = json_object_get(h, "id");
        if (!json_is_string(id)) {
            free(t->id);
            t->id = NULL;
        }
    }
    if (!t->id || !*t->id) {
        st = cel_fail(err, CEL_EINVAL, "task message has no id");
        goto out;
    }
    if (!t->name || !*t->name) {
        st = cel_fail(err, CEL_EINVAL, "task message has an empty task name");
        goto out;
    }
    if (!json_is_array(t->args)) {
        st = cel_fail(err, CEL_EINVAL, "args must be a list");
        goto out;
    }
    if (!json_is_object(t->kwargs)) {
        st = cel_fail(err, CEL_EINVAL, "kwargs must be a dict");
        goto out;
    }
    if ((st = opt_string(meta, "root_id", &t->root_id, err)) ||
        (st = opt_string(meta, "parent_id", &t->parent_id, err)) ||
        (st = opt_string(meta, "group", &t->group, err)) ||
        (st = opt_string(meta, "origin", &t->origin, err)) ||
        (st = opt_string(meta, "shadow", &t->shadow, err)) ||
        (st = opt_string(meta, "argsrepr", &t->argsrepr, err)) ||
        (st = opt_string(meta, "kwargsrepr", &t->kwargsrepr, err)) ||
        (st = opt_time(meta, "eta", &t->has_eta, &t->eta, err)) ||
        (st = opt_time(meta, "expires", &t->has_expires, &t->expires, err)) ||
        (st = parse_timelimit(json_object_get(meta, "timelimit"), t, err)))
        goto out;
    json_t *r = json_object_get(meta, "retries");
    if (r && json_is_integer(r)) {
        json_int_t rv = json_integer_value(r);
        t->retries = rv < 0 ? 0 : (rv > 1000000 ? 1000000 : (int)rv);
    } else if (r && !json_is_null(r)) {
        st = cel_fail(err, CEL_EINVAL, "retries must be an integer");
        goto out;
    }
    json_t *gi = json_object_get(meta, "group_index");
    if (gi && json_is_integer(gi))
        t->group_index = (int)json_integer_value(gi);
    t->ignore_result = json_is_true(json_object_get(h ? h : meta, "ignore_result"));
    t->track_started = json_is_true(json_object_get(h ? h : meta, "track_started"));
    if (!t->argsrepr)
        t->argsrepr = cmsg_repr(t->args, true, 1024);
    if (!t->kwargsrepr)
        t->kwargsrepr = cmsg_repr(t->kwargs, false, 1024);
out:
    json_decref(body);
    return st;
}

/* ---- repr ---- */

static cel_status repr_into(dbuf *b, json_t *v, bool as_tuple, int depth) {
    cel_status st = CEL_OK;
    if (depth > 32)
        return dbuf_append_str(b, "...");
    switch (json_typeof(v)) {
    case JSON_NULL:
        return dbuf_append_str(b, "None");
    case JSON_TRUE:
        return dbuf_append_str(b, "True");
    case JSON_FALSE:
        return dbuf_append_str(b, "False");
    case JSON_INTEGER:
        return dbuf_printf(b, "%lld", (long long)json_integer_value(v));
    case JSON_REAL: {
        double d = json_real_value(v);
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%.17g", d);
        /* shortest round-trip, as Python prints floats */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        if (!strpbrk(tmp, ".eEn"))
            strncat(tmp, ".0", sizeof tmp - strlen(tmp) - 1);
        return dbuf_append_str(b, tmp);
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
        char q = (has_sq && !has_dq) ? '"' : '\'';
        if ((st = dbuf_append(b, &q, 1)))
            return st;
        for (size_t i = 0; i < n && st == CEL_OK; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\')
                st = dbuf_append_str(b, "\\\\");
            else if (c == (unsigned char)q)
                st = dbuf_printf(b, "\\%c", q);
            else if (c == '\n')
                st = dbuf_append_str(b, "\\n");
            else if (c == '\r')
                st = dbuf_append_str(b, "\\r");
            else if (c == '\t')
                st = dbuf_append_str(b, "\\t");
            else if (c < 0x20 || c == 0x7f)
                st = dbuf_printf(b, "\\x%02x", c);
            else
                st = dbuf_append(b, &s[i], 1);
        }
        return st ? st : dbuf_append(b, &q, 1);
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if ((st = dbuf_append_str(b, as_tuple ? "(" : "[")))
            return st;
        for (size_t i = 0; i < n && st == CEL_OK; i++) {
            if (i && (st = dbuf_append_str(b, ", ")))
                return st;
            st = repr_into(b, json_array_get(v, i), false, depth + 1);
        }
        if (st == CEL_OK && as_tuple && n == 1)
            st = dbuf_append_str(b, ",");
        return st ? st : dbuf_append_str(b, as_tuple ? ")" : "]");
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *val;
        bool first = true;
        if ((st = dbuf_append_str(b, "{")))
            return st;
        json_object_foreach(v, k, val) {
            if (!first && (st = dbuf_append_str(b, ", ")))
                return st;
            first = false;
            json_t *ks = json_string(k);
            st = ks ? repr_into(b, ks, false, depth + 1) : CEL_ENOMEM;
            json_decref(ks);
            if (st || (st = dbuf_append_str(b, ": ")) || (st = repr_into(b, val, false, depth + 1)))
                return st;
        }
        return dbuf_append_str(b, "}");
    }
    }
    return CEL_OK;
}

char *cmsg_repr(json_t *v, bool as_tuple, size_t maxlen) {
    dbuf b;
    dbuf_init(&b, maxlen + 64);
    cel_status st = v ? repr_into(&b, v, as_tuple, 0) : dbuf_append_str(&b, "None");
    if (st == CEL_ELIMIT || b.len > maxlen) {
        size_t cut = maxlen > 3 ? maxlen - 3 : 0;
        if (cut > b.len)
            cut = b.len;
        while (cut > 0 && ((unsigned char)b.data[cut] & 0xC0) == 0x80)
            cut--;
        b.len = cut;
        if (dbuf_append_str(&b, "...") != CEL_OK) {
            /* cap leaves room for the ellipsis by construction */
        }
    }
    char *s = dbuf_take(&b);
    if (!s)
        abort();
    return s;
}

/* ---- encoding ---- */

void cmsg_out_clear(cmsg_out *o) {
    if (!o)
        return;
    json_decref(o->headers);
    free(o->body);
    memset(o, 0, sizeof *o);
}

static json_t *str_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

cel_status cmsg_encode_retry(const cmsg_task *t, double eta_at, const char *origin, cmsg_out *out,
                             cel_error *err) {
    memset(out, 0, sizeof *out);
    char eta[48], expires[48];
    tu_format_iso8601(eta_at, eta, sizeof eta);
    json_t *h = json_object();
    json_object_set_new(h, "lang", json_string("py"));
    json_object_set_new(h, "task", json_string(t->name));
    json_object_set_new(h, "id", json_string(t->id));
    json_object_set_new(h, "shadow", str_or_null(t->shadow));
    json_object_set_new(h, "eta", json_string(eta));
    if (t->has_expires) {
        tu_format_iso8601(t->expires, expires, sizeof expires);
        json_object_set_new(h, "expires", json_string(expires));
        double ms = (t->expires - tu_now()) * 1000.0;
        snprintf(out->expiration, sizeof out->expiration, "%lld", (long long)(ms > 0 ? ms : 0));
    } else {
        json_object_set_new(h, "expires", json_null());
    }
    json_object_set_new(h, "group", str_or_null(t->group));
    json_object_set_new(h, "group_index",
                        t->group_index >= 0 ? json_integer(t->group_index) : json_null());
    json_object_set_new(h, "retries", json_integer(t->retries + 1));
    json_t *tl = json_array();
    json_array_append_new(tl, t->time_limit > 0 ? json_real(t->time_limit) : json_null());
    json_array_append_new(tl, t->soft_time_limit > 0 ? json_real(t->soft_time_limit) : json_null());
    json_object_set_new(h, "timelimit", tl);
    json_object_set_new(h, "root_id", json_string(t->root_id ? t->root_id : t->id));
    json_object_set_new(h, "parent_id", str_or_null(t->parent_id));
    json_object_set_new(h, "argsrepr", json_string(t->argsrepr ? t->argsrepr : "()"));
    json_object_set_new(h, "kwargsrepr", json_string(t->kwargsrepr ? t->kwargsrepr : "{}"));
    json_object_set_new(h, "origin", json_string(origin));
    json_object_set_new(h, "ignore_result", json_boolean(t->ignore_result));
    if (t->track_started)
        json_object_set_new(h, "track_started", json_true());
    json_t *body = json_array();
    json_array_append(body, t->args);
    json_array_append(body, t->kwargs);
    json_array_append(body, t->embed);
    out->body = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(body);
    if (!out->body) {
        json_decref(h);
        return cel_fail(err, CEL_ENOMEM, "encoding retry body failed");
    }
    out->body_len = strlen(out->body);
    out->headers = h;
    return CEL_OK;
}

cel_status cmsg_encode_new(const char *name, json_t *args, json_t *kwargs, const char *origin,
                           cmsg_out *out, char *id_out, cel_error *err) {
    cmsg_task t;
    memset(&t, 0, sizeof t);
    tu_uuid4(id_out);
    t.id = id_out;
    t.name = (char *)name;
    t.args = args;
    t.kwargs = kwargs;
    t.group_index = -1;
    t.retries = -1; /* encode_retry writes retries + 1 */
    json_t *embed = json_pack("{snsnsnsn}", "callbacks", "errbacks", "chain", "chord");
    t.embed = embed;
    t.argsrepr = cmsg_repr(args, true, 1024);
    t.kwargsrepr = cmsg_repr(kwargs, false, 1024);
    cel_status st = cmsg_encode_retry(&t, 0, origin, out, err);
    if (st == CEL_OK)
        json_object_set_new(out->headers, "eta", json_null());
    free(t.argsrepr);
    free(t.kwargsrepr);
    json_decref(embed);
    return st;
}

static json_t *as_list(json_t *v) {
    if (!v || json_is_null(v))
        return json_null();
    if (json_is_array(v))
        return json_incref(v);
    json_t *a = json_array();
    json_array_append(a, v);
    return a;
}

cel_status cmsg_encode_signature(json_t *sig, json_t *prepend, json_t *chain_rest,
                                 const cmsg_task *parent, const char *origin,
                                 const char *default_queue, cmsg_out *out, char *id_out,
                                 char *queue_out, const char **reply_to, cel_error *err) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(sig) || !json_is_string(json_object_get(sig, "task")))
        return cel_fail(err, CEL_EINVAL, "canvas signature without a task name");
    json_t *stype = json_object_get(sig, "subtask_type");
    if (stype && !json_is_null(stype))
        return cel_fail(err, CEL_EUNSUPPORTED, "canvas signature type '%s' is not supported",
                        json_is_string(stype) ? json_string_value(stype) : "?");
    json_t *opts = json_object_get(sig, "options");
    if (!json_is_object(opts))
        opts = NULL;
    const char *tid = json_string_value(json_object_get(opts, "task_id"));
    if (tid && strlen(tid) < 64)
        snprintf(id_out, 64, "%s", tid);
    else
        tu_uuid4(id_out);
    const char *q = json_string_value(json_object_get(opts, "queue"));
    if (!q && json_is_object(json_object_get(opts, "queue")))
        q = json_string_value(json_object_get(json_object_get(opts, "queue"), "name"));
    snprintf(queue_out, 256, "%s", q ? q : default_queue);
    *reply_to = json_string_value(json_object_get(opts, "reply_to"));
    json_t *sargs = json_object_get(sig, "args");
    json_t *args = json_array();
    if (prepend && !json_is_true(json_object_get(sig, "immutable")))
        json_array_append(args, prepend);
    if (json_is_array(sargs))
        json_array_extend(args, sargs);
    json_t *kwargs = json_object_get(sig, "kwargs");
    kwargs = json_is_object(kwargs) ? json_incref(kwargs) : json_object();
    cmsg_task t;
    memset(&t, 0, sizeof t);
    t.id = id_out;
    t.name = (char *)json_string_value(json_object_get(sig, "task"));
    t.args = args;
    t.kwargs = kwargs;
    t.retries = -1;
    t.group = (char *)json_string_value(json_object_get(opts, "group_id"));
    json_t *gi = json_object_get(opts, "group_index");
    t.group_index = json_is_integer(gi) ? (int)json_integer_value(gi) : -1;
    t.shadow = (char *)json_string_value(json_object_get(opts, "shadow"));
    t.root_id = parent->root_id ? parent->root_id : parent->id;
    t.parent_id = parent->id;
    json_t *tl = json_object_get(opts, "time_limit"),
           *stl = json_object_get(opts, "soft_time_limit");
    t.time_limit = json_is_number(tl) ? json_number_value(tl) : 0;
    t.soft_time_limit = json_is_number(stl) ? json_number_value(stl) : 0;
    t.ignore_result = json_is_true(json_object_get(opts, "ignore_result"));
    json_t *exp = json_object_get(opts, "expires");
    if (json_is_number(exp)) {
        t.has_expires = true;
        t.expires = tu_now() + json_number_value(exp);
    } else if (json_is_string(exp) &&
               tu_parse_iso8601(json_string_value(exp), &t.expires, NULL) == CEL_OK) {
        t.has_expires = true;
    }
    double eta = 0;
    json_t *cd = json_object_get(opts, "countdown"), *etaj = json_object_get(opts, "eta");
    if (json_is_number(cd))
        eta = tu_now() + json_number_value(cd);
    else if (json_is_string(etaj) &&
             tu_parse_iso8601(json_string_value(etaj), &eta, NULL) != CEL_OK)
        eta = 0;
    t.embed = json_object();
    json_object_set_new(t.embed, "callbacks", as_list(json_object_get(opts, "link")));
    json_object_set_new(t.embed, "errbacks", as_list(json_object_get(opts, "link_error")));
    json_object_set(t.embed, "chain",
                    chain_rest && json_array_size(chain_rest) ? chain_rest : json_null());
    json_t *chord = json_object_get(opts, "chord");
    json_object_set(t.embed, "chord", chord ? chord : json_null());
    t.argsrepr = cmsg_repr(args, true, 1024);
    t.kwargsrepr = cmsg_repr(kwargs, false, 1024);
    cel_status st = cmsg_encode_retry(&t, eta, origin, out, err);
    if (st == CEL_OK && eta == 0)
        json_object_set_new(out->headers, "eta", json_null());
    free(t.argsrepr);
    free(t.kwargsrepr);
    json_decref(t.embed);
    json_decref(args);
    json_decref(kwargs);
    return st;
}

json_t *cres_exception(const char *exc_type, const char *exc_module, const char *message) {
    json_t *e = json_object();
    json_t *msg = json_array();
    json_array_append_new(msg, json_string(message ? message : ""));
    if (!json_array_size(msg)) /* message was not UTF-8 */
        json_array_append_new(msg, json_string("(message not valid UTF-8)"));
    json_object_set_new(e, "exc_type", json_string(exc_type));
    json_object_set_new(e, "exc_message", msg);
    json_object_set_new(e, "exc_module", json_string(exc_module));
    return e;
}

char *cres_body(const char *task_id, const char *status, json_t *result, const char *traceback,
                json_t *children) {
    json_t *o = json_object();
    json_object_set_new(o, "task_id", json_string(task_id));
    json_object_set_new(o, "status", json_string(status));
    json_object_set(o, "result", result ? result : json_null());
    json_t *tb = traceback ? json_string(traceback) : NULL;
    json_object_set_new(o, "traceback", tb ? tb : json_null());
    if (children)
        json_object_set(o, "children", children);
    else
        json_object_set_new(o, "children", json_array());
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    return s;
}
