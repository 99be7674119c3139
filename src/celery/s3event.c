/*
 * s3event.c: S3 notification decoding (see s3event.h).
 */
#include "celery/s3event.h"

#include "util/urlenc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

cel_status s3ev_url_decode(char *s, cel_error *err) {
    cel_error e = {0};
    if (url_unescape(s, strlen(s), s, strlen(s) + 1, true, &e) != CEL_OK)
        return cel_fail(err, CEL_EPARSE, "S3 event key: %s", e.msg);
    return CEL_OK;
}

static char *dupstr(json_t *v) {
    if (!json_is_string(v))
        return NULL;
    char *s = strdup(json_string_value(v));
    if (!s)
        abort();
    return s;
}

static bool created(const char *name) {
    /* AWS "ObjectCreated:Put", MinIO "s3:ObjectCreated:Put", EventBridge "Object Created" */
    return name && (strstr(name, "ObjectCreated:") || strcmp(name, "Object Created") == 0);
}

void s3ev_free(s3ev_record *recs, size_t n) {
    if (!recs)
        return;
    for (size_t i = 0; i < n; i++) {
        free(recs[i].bucket);
        free(recs[i].key);
        free(recs[i].event_time);
        free(recs[i].etag);
    }
    free(recs);
}

static cel_status add(s3ev_record **recs, size_t *n, json_t *bucket, json_t *key, json_t *time,
                      json_t *size, json_t *etag, bool encoded, cel_error *err) {
    if (!json_is_string(bucket) || !json_is_string(key) || !*json_string_value(bucket) ||
        !*json_string_value(key))
        return cel_fail(err, CEL_EPARSE, "S3 event record without bucket name or object key");
    if (*n >= S3EV_MAX_RECORDS)
        return cel_fail(err, CEL_ELIMIT, "S3 event message has more than %d records",
                        S3EV_MAX_RECORDS);
    s3ev_record *r2 = realloc(*recs, (*n + 1) * sizeof **recs);
    if (!r2)
        abort();
    *recs = r2;
    s3ev_record *r = &r2[*n];
    memset(r, 0, sizeof *r);
    r->bucket = dupstr(bucket);
    r->key = dupstr(key);
    r->event_time = dupstr(time);
    r->etag = dupstr(etag);
    r->size = json_is_integer(size) ? (int64_t)json_integer_value(size) : -1;
    (*n)++;
    if (encoded) {
        cel_status st = s3ev_url_decode(r->key, err);
        if (st != CEL_OK)
            return st;
    }
    return CEL_OK;
}

cel_status s3ev_parse(const char *body, size_t len, s3ev_record **out, size_t *n, size_t *ignored,
                      cel_error *err) {
    *out = NULL;
    *n = 0;
    *ignored = 0;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root)
        return cel_fail(err, CEL_EPARSE, "S3 event is not valid JSON: %s", jerr.text);
    cel_status st = CEL_OK;
    json_t *records = json_object_get(root, "Records");
    json_t *detail = json_object_get(root, "detail");
    if (json_is_array(records)) {
        size_t i;
        json_t *rec;
        json_array_foreach(records, i, rec) {
            const char *name = json_string_value(json_object_get(rec, "eventName"));
            if (!created(name)) {
                (*ignored)++;
                continue;
            }
            json_t *s3 = json_object_get(rec, "s3");
            json_t *obj = json_object_get(s3, "object");
            st = add(out, n, json_object_get(json_object_get(s3, "bucket"), "name"),
                     json_object_get(obj, "key"), json_object_get(rec, "eventTime"),
                     json_object_get(obj, "size"), json_object_get(obj, "eTag"), true, err);
            if (st != CEL_OK)
                break;
        }
    } else if (json_is_object(detail) && json_is_string(json_object_get(root, "detail-type"))) {
        if (!created(json_string_value(json_object_get(root, "detail-type")))) {
            (*ignored)++;
        } else {
            json_t *obj = json_object_get(detail, "object");
            st = add(out, n, json_object_get(json_object_get(detail, "bucket"), "name"),
                     json_object_get(obj, "key"), json_object_get(root, "time"),
                     json_object_get(obj, "size"), json_object_get(obj, "etag"), false, err);
        }
    } else if (json_object_get(root, "Event") || json_object_get(root, "Service")) {
        (*ignored)++; /* s3:TestEvent */
    } else {
        st = cel_fail(err, CEL_EPARSE,
                      "not an S3 event notification (no Records[], EventBridge detail or "
                      "s3:TestEvent)");
    }
    json_decref(root);
    if (st != CEL_OK) {
        s3ev_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return st;
}
