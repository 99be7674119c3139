/*
 * fuzz_celery_message.c: libFuzzer harness for Celery message decoding. The first byte
 * picks the shape: with a header table (v2/hybrid) parsed from the input's first line,
 * or without (v1); the rest is the body. Decoding must return a status, never crash,
 * leak or overflow, and a decoded task must re-encode for a retry.
 */
#include "celery/message.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    brk_delivery d;
    memset(&d, 0, sizeof d);
    d.priority = -1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        const char *nl = memchr(p, '\n', n);
        size_t hl = nl ? (size_t)(nl - p) : n;
        d.headers = json_loadb(p, hl, 0, NULL);
        if (d.headers && !json_is_object(d.headers)) {
            json_decref(d.headers);
            d.headers = NULL;
        }
        p += nl ? hl + 1 : hl;
        n -= nl ? hl + 1 : hl;
    }
    d.body = malloc(n + 1);
    memcpy(d.body, p, n);
    d.body[n] = '\0';
    d.body_len = n;
    d.content_type = (data[0] & 2) ? NULL : (char *)"application/json";
    d.reply_to = (char *)"r";
    cmsg_task t;
    cel_error err = {0};
    if (cmsg_decode(&d, &t, &err) == CEL_OK) {
        cmsg_out out;
        cel_error e2 = {0};
        if (cmsg_encode_retry(&t, 1e9, "fuzz@host", &out, &e2) == CEL_OK)
            cmsg_out_clear(&out);
    }
    cmsg_task_clear(&t);
    json_decref(d.headers);
    free(d.body);
    return 0;
}
