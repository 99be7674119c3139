/*
 * message.h: Celery task messages: decoding (protocol 2, protocol 1, and the hybrid
 * of v2 headers with a v1-style body), and encoding (retries, chained tasks).
 *
 * Classification follows the Python worker (celery 5.2.6 consumer.py:573,
 * strategy.py:26,133; docs/research/celery.md §1.6): a `task` header means protocol
 * 2; otherwise the body must be a dict with `task` (protocol 1). A v2 message whose
 * body is a dict with `args` is the hybrid form. Only JSON is accepted: pickle, yaml
 * and msgpack are refused (CEL_EUNSUPPORTED) and never deserialized.
 *
 * Not here: whether the task exists (tasks/registry), what to do with a bad message
 * (worker/supervisor).
 */
#ifndef CELERIAC_MESSAGE_H
#define CELERIAC_MESSAGE_H

#include "broker/broker.h"
#include "celeriac/error.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct cmsg_task {
    int protocol; /* 1 or 2 */
    bool hybrid;
    char *id, *name;
    char *root_id, *parent_id, *group, *origin, *shadow; /* NULL when absent */
    int group_index;                                     /* -1 when absent */
    json_t *args;                                        /* array (new ref) */
    json_t *kwargs;                                      /* object (new ref) */
    json_t *embed; /* object with callbacks/errbacks/chain/chord (new ref; never NULL) */
    int retries;
    bool has_eta, has_expires;
    double eta, expires;                /* UNIX seconds */
    double time_limit, soft_time_limit; /* 0 = none */
    bool ignore_result;
    bool track_started;              /* header `track_started` set by the producer */
    char *reply_to, *correlation_id; /* from the AMQP properties; NULL when absent */
    int priority;                    /* -1 when absent */
    char *argsrepr, *kwargsrepr;     /* from headers, else computed */
} cmsg_task;

/* Decodes a delivery. On success *out owns everything (free with cmsg_task_clear).
 * Errors: CEL_EUNSUPPORTED (content type/encoding/compression not JSON), CEL_EPARSE
 * (body is not valid JSON), CEL_EINVAL (not a task message, missing id/task, bad eta,
 * expires, args or kwargs). On error, out->id/out->name hold whatever could be
 * recovered (for the FAILURE reply and the log), and must still be cleared. */
cel_status cmsg_decode(const brk_delivery *d, cmsg_task *out, cel_error *err) CEL_MUST_CHECK;
void cmsg_task_clear(cmsg_task *t);
/* Fills only what the properties and headers say (id, name, reply_to, correlation_id,
 * ignore_result) without touching the body: for messages refused before decoding. */
void cmsg_peek(const brk_delivery *d, cmsg_task *out);

/* Python repr of a JSON value, as Celery's saferepr prints it ('str', True, None,
 * [1, 2], {'k': 1}); as_tuple renders an array as a tuple ("(1,)"). The result is
 * truncated to maxlen bytes with "..." (at a UTF-8 boundary). New string (free()). */
char *cmsg_repr(json_t *v, bool as_tuple, size_t maxlen);

/* A message to publish: the v2 headers (new ref) and the JSON body text (malloc'd). */
typedef struct cmsg_out {
    json_t *headers;
    char *body;
    size_t body_len;
    char expiration[32]; /* AMQP expiration property in ms, "" when none */
} cmsg_out;

/* Builds the protocol-2 message that retries t: same id, retries + 1, eta = eta_at,
 * other headers and the body carried over (v1 input is upgraded to v2). origin is our
 * nodename. */
cel_status cmsg_encode_retry(const cmsg_task *t, double eta_at, const char *origin, cmsg_out *out,
                             cel_error *err) CEL_MUST_CHECK;
void cmsg_out_clear(cmsg_out *o);

/* Builds a fresh protocol-2 task message (what `app.send_task(name, args, kwargs)` sends):
 * new task id written to id_out (37 bytes), retries 0, no eta/expires. args/kwargs borrowed. */
cel_status cmsg_encode_new(const char *name, json_t *args, json_t *kwargs, const char *origin,
                           cmsg_out *out, char *id_out, cel_error *err) CEL_MUST_CHECK;

/* Builds the message for a canvas signature dict ({"task","args","kwargs","options",
 * "immutable","subtask_type"}) sent by the worker after `parent` finished (Celery's
 * Signature.apply_async from trace.py): prepend (borrowed, may be NULL) is put before the
 * signature's args unless it is immutable; chain_rest (borrowed array or NULL) becomes the new
 * message's embed.chain. Writes the task id (options.task_id or a new uuid, 64 bytes), the
 * queue to publish to (options.queue, else default_queue; 256 bytes) and *reply_to
 * (options.reply_to, borrowed from sig, may be NULL). CEL_EUNSUPPORTED for group/chord
 * signatures, CEL_EINVAL for malformed ones. */
cel_status cmsg_encode_signature(json_t *sig, json_t *prepend, json_t *chain_rest,
                                 const cmsg_task *parent, const char *origin,
                                 const char *default_queue, cmsg_out *out, char *id_out,
                                 char *queue_out, const char **reply_to,
                                 cel_error *err) CEL_MUST_CHECK;

/* ---- results (rpc:// backend, celery/backends/rpc.py _to_result) ---- */

/* {"exc_type", "exc_message": [message], "exc_module"}: new reference. */
json_t *cres_exception(const char *exc_type, const char *exc_module, const char *message);

/* Result body {"task_id","status","result","traceback","children"} as JSON text (malloc'd).
 * result is borrowed (NULL = null); traceback may be NULL; children borrowed (NULL = []). */
char *cres_body(const char *task_id, const char *status, json_t *result, const char *traceback,
                json_t *children);

#endif
