/*
 * error.h: the project's one status enum and the caller-owned error value.
 *
 * Every fallible function returns a cel_status (CEL_OK = 0) and, when it fails,
 * records a human-readable message in a caller-owned cel_error. The first
 * message recorded wins: callers further up may add nothing, so the root cause
 * ("S3 403 on uploads/x.csv", "CSV line 812: unterminated quote") survives the
 * unwinding. Codes are never reused or renumbered: they appear in stored errors.
 */
#ifndef CELERIAC_ERROR_H
#define CELERIAC_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define CEL_MUST_CHECK __attribute__((warn_unused_result))
#define CEL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

typedef enum {
    CEL_OK = 0,
    CEL_ENOMEM = 1,       /* allocation failed */
    CEL_EINVAL = 2,       /* invalid argument or input (caller's fault, not retryable) */
    CEL_EIO = 3,          /* local I/O error */
    CEL_EPARSE = 4,       /* malformed input data (file, message, JSON) */
    CEL_ELIMIT = 5,       /* a configured bound was exceeded */
    CEL_ENOTFOUND = 6,    /* object / row / task does not exist */
    CEL_EDENIED = 7,      /* permission denied (S3 403, DB privilege) */
    CEL_ETRANSIENT = 8,   /* temporary failure: retry may succeed */
    CEL_EUNSUPPORTED = 9, /* valid but unsupported input (codec, nested column) */
    CEL_EDB = 10,         /* database error (non-transient) */
    CEL_ES3 = 11,         /* S3 error (non-transient) */
    CEL_EBROKER = 12,     /* AMQP broker error */
    CEL_ETIMEOUT = 13,    /* an operation timed out */
    CEL_ECONFIG = 14,     /* bad configuration */
    CEL_EPROTO = 15,      /* protocol violation by a peer */
    CEL_EINTERNAL = 16,   /* a bug: an invariant did not hold */
    CEL_ESCHEMA = 17,     /* invalid schema definition */
    CEL_ECONFLICT = 18,   /* concurrent delivery / lock held elsewhere */
} cel_status;

typedef struct cel_error {
    cel_status code;
    char msg[1024];
} cel_error;

/* Static name of a status code ("ENOMEM", ...). Never NULL. */
const char *cel_strerror(cel_status code);

/* Records code + formatted message in err unless err already holds one (first wins).
 * err may be NULL. Returns code, so `return cel_fail(err, CEL_EINVAL, "...")` works.
 * The macro makes that return value visible to the optimizer at the call site (the
 * function lives in another translation unit), so code after `if (st) return st;` is
 * known to run only on success and -O3 doesn't report its out-parameters as maybe
 * uninitialized. (A GNU statement expression, as gcc and clang provide.) */
cel_status cel_fail_record(cel_error *err, cel_status code, const char *fmt, ...) CEL_PRINTF(3, 4);
#define cel_fail(err, code, ...)                                                                   \
    __extension__({                                                                                \
        cel_status cel_fail_code_ = (code);                                                        \
        cel_fail_record((err), cel_fail_code_, __VA_ARGS__);                                       \
        cel_fail_code_;                                                                            \
    })

/* Clears err to CEL_OK with an empty message. NULL-safe. */
void cel_error_clear(cel_error *err);

/* True when a failure with this code may succeed if retried later. */
bool cel_status_transient(cel_status code);

#endif
