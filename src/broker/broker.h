/*
 * broker.h: the AMQP 0-9-1 connection the supervisor owns (rabbitmq-c underneath).
 *
 * Design: one connection, two channels. Channel 1 consumes (manual acks, global
 * QoS as kombu sets it on RabbitMQ); channel 2 publishes in confirm mode and carries
 * declarations, so a 404/406 on a publish or a declare closes only channel 2, which
 * is reopened on the spot. Frames are read by brk_pump(), which never blocks longer
 * than asked: deliveries are copied out of rabbitmq-c's pools into brk_delivery
 * values queued for the caller; publisher confirms are matched by sequence number.
 * rabbitmq-c sends heartbeats from inside its frame waits, so calling brk_pump at
 * least every heartbeat/2 keeps the connection alive while tasks run elsewhere.
 *
 * Not here: what messages mean (celery/), retry policy (worker/). Any error on the
 * connection or on channel 1 is reported as CEL_EBROKER and the brk_conn is dead: the
 * caller closes it and reconnects (delivery tags of a dead brk_conn are meaningless).
 */
#ifndef CELERIAC_BROKER_H
#define CELERIAC_BROKER_H

#include "celeriac/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct brk_conn brk_conn;

typedef struct brk_url {
    char host[256];
    int port;
    char user[256];
    char password[256];
    char vhost[256];
    bool ssl;
} brk_url;

/* Parses amqp://, amqps://, pyamqp:// and librabbitmq:// URLs the way kombu does:
 * "amqp://u:p@h:5672//" has vhost "/", an empty path means "/", and %XX escapes
 * are decoded. Defaults: guest/guest@localhost:5672. */
cel_status brk_url_parse(const char *url, brk_url *out, cel_error *err) CEL_MUST_CHECK;

typedef struct brk_options {
    int heartbeat_s;             /* negotiated heartbeat; 0 disables */
    int connect_timeout_ms;      /* socket connect + handshake */
    int confirm_timeout_ms;      /* how long brk_publish waits for the broker's ack */
    size_t max_body_bytes;       /* larger deliveries are flagged too_large */
    const char *connection_name; /* shown in the management UI */
} brk_options;

/* Opens the connection, channel 1 (consume) and channel 2 (publish, confirm mode). *out is
 * new; free with brk_close. Errors: CEL_EBROKER (with the broker's reply text), CEL_EINVAL. */
cel_status brk_connect(const brk_url *url, const brk_options *opts, brk_conn **out,
                       cel_error *err) CEL_MUST_CHECK;
/* Closes gracefully when alive, frees everything. NULL-safe. */
void brk_close(brk_conn *b);
bool brk_alive(const brk_conn *b);
int brk_fd(const brk_conn *b);
/* True when deliveries are queued here or rabbitmq-c holds unread frames or bytes: then
 * pump and drain before polling the fd (a publish's confirm wait may have read them). */
bool brk_has_buffered(const brk_conn *b);
/* The broker's server properties "product"/"version" (borrowed, may be ""). */
const char *brk_server_version(const brk_conn *b);

/* Declarations (on channel 2). passive=true only checks existence. arguments may be NULL
 * (a JSON object converted to an AMQP table). A 406 "inequivalent arg" comes back as
 * CEL_ECONFLICT with the broker's text; the channel is reopened. */
cel_status brk_declare_exchange(brk_conn *b, const char *name, const char *type, bool durable,
                                bool auto_delete, cel_error *err) CEL_MUST_CHECK;
cel_status brk_declare_queue(brk_conn *b, const char *name, bool passive, bool durable,
                             bool exclusive, bool auto_delete, json_t *arguments,
                             cel_error *err) CEL_MUST_CHECK;
cel_status brk_bind_queue(brk_conn *b, const char *queue, const char *exchange,
                          const char *routing_key, cel_error *err) CEL_MUST_CHECK;

/* basic.qos on channel 1 (global, as kombu does against RabbitMQ). */
cel_status brk_qos(brk_conn *b, uint16_t prefetch_count, cel_error *err) CEL_MUST_CHECK;
/* basic.consume on channel 1 with manual acks (or no_ack for control queues). tag_out gets
 * the consumer tag (at least 128 bytes). */
cel_status brk_consume(brk_conn *b, const char *queue, bool no_ack, char *tag_out, size_t tagsz,
                       cel_error *err) CEL_MUST_CHECK;
cel_status brk_cancel(brk_conn *b, const char *consumer_tag, cel_error *err) CEL_MUST_CHECK;

typedef struct brk_delivery {
    uint64_t delivery_tag;
    uint64_t generation; /* brk_generation() of the connection it came on */
    bool redelivered;
    char *consumer_tag, *exchange, *routing_key;
    /* properties; NULL when absent */
    char *content_type, *content_encoding, *correlation_id, *reply_to, *expiration;
    char *message_id;
    int priority; /* -1 when absent */
    int delivery_mode;
    json_t *headers;         /* object (new ref) or NULL when the message had none */
    char headers_error[256]; /* non-empty when the header table could not be converted */
    bool too_large;          /* body exceeded max_body_bytes (kept, for dead-lettering) */
    char *body;              /* NUL-terminated copy; body_len excludes the NUL */
    size_t body_len;
} brk_delivery;

void brk_delivery_free(brk_delivery *d); /* NULL-safe */

/* Reads frames for up to timeout_ms (0 = only what is already available). Deliveries
 * are queued (take them with brk_next_delivery). Returns CEL_EBROKER when the connection
 * or channel 1 died. */
cel_status brk_pump(brk_conn *b, int timeout_ms, cel_error *err) CEL_MUST_CHECK;
/* Next queued delivery (caller owns it) or NULL. */
brk_delivery *brk_next_delivery(brk_conn *b);
uint64_t brk_generation(const brk_conn *b);

cel_status brk_ack(brk_conn *b, uint64_t delivery_tag, cel_error *err) CEL_MUST_CHECK;
cel_status brk_reject(brk_conn *b, uint64_t delivery_tag, bool requeue,
                      cel_error *err) CEL_MUST_CHECK;

typedef struct brk_msg {
    const char *exchange; /* "" = default exchange */
    const char *routing_key;
    const void *body;
    size_t body_len;
    const char *content_type, *content_encoding, *correlation_id, *reply_to, *expiration;
    json_t *headers;   /* borrowed; NULL = no headers */
    int delivery_mode; /* 1 transient, 2 persistent */
    int priority;      /* -1 = absent */
    bool mandatory;    /* basic.return when unroutable: reported as CEL_ENOTFOUND */
    bool no_wait;      /* don't wait for the confirm (events, control replies) */
} brk_msg;

/* Publishes on channel 2 and waits for the broker's confirm (while waiting, deliveries
 * arriving on channel 1 are queued as usual). Returns CEL_OK once confirmed; CEL_EBROKER
 * on nack or connection loss; CEL_ETIMEOUT when no confirm came in time; CEL_ENOTFOUND
 * when mandatory and unroutable; CEL_EPROTO for a channel error (e.g. no such exchange). */
cel_status brk_publish(brk_conn *b, const brk_msg *m, cel_error *err) CEL_MUST_CHECK;

/* Header-table conversion, exposed for tests. Tables nest at most 16 deep. */
struct amqp_table_t_;
cel_status brk_table_to_json(const struct amqp_table_t_ *t, json_t **out,
                             cel_error *err) CEL_MUST_CHECK;

#endif
