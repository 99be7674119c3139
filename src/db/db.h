/*
 * db.h: the small libpq layer every task uses (prefix db_).
 *
 * Design: callers hold a plain libpq PGconn (no wrapper struct) and go through these
 * helpers for the parts that must be the same everywhere:
 *   - configuration: DATABASE_URL (a postgresql:// URL or a libpq "key=value" conninfo),
 *     else seed 002's POSTGRES_HOST/PORT/USER/PASSWORD/DB;
 *   - connecting with a connect timeout, application_name=celeriac and UTF-8;
 *   - turning a failed PGresult into a cel_status + message that carries the SQLSTATE,
 *     classified so that retryable failures (lost connection, serialization failure,
 *     deadlock, shutdown, out of resources) are CEL_ETRANSIENT and the task layer retries
 *     them while everything else fails fast;
 *   - transactions and advisory locks keyed by text ("two deliveries of the same task
 *     never run at once").
 * Passwords never reach a log or an error message: use db_mask_conninfo() for display.
 *
 * Deliberately not here: connection pooling (one connection per child process), an ORM or
 * query builder (each task writes its SQL), COPY helpers, retries (the task layer decides).
 */
#ifndef CELERIAC_DB_H
#define CELERIAC_DB_H

#include "celeriac/error.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Default connect_timeout in seconds; a connect_timeout in the conninfo wins. */
#define DB_CONNECT_TIMEOUT_S 10
/* Largest conninfo string db_conninfo_from_env() produces. */
#define DB_CONNINFO_MAX 4096
/* Largest number of parameters of one statement (the protocol's Bind message limit). */
#define DB_MAX_PARAMS 65535

/*
 * Writes the conninfo to use into out (n bytes, NUL-terminated): DATABASE_URL if set and
 * non-empty (a SQLAlchemy scheme such as postgresql+psycopg:// is accepted and rewritten to
 * postgresql://), else a "key='value' ..." conninfo built from POSTGRES_HOST (required),
 * POSTGRES_PORT (default 5432), POSTGRES_USER (required), POSTGRES_PASSWORD (optional),
 * POSTGRES_DB (required).
 * Returns CEL_OK; CEL_ECONFIG naming the variable that is missing or malformed (the message
 * never contains a password); CEL_ELIMIT when the result does not fit in n bytes.
 */
cel_status db_conninfo_from_env(char *out, size_t n, cel_error *err) CEL_MUST_CHECK;

/*
 * Rewrites conninfo (URL or key=value) as a key='value' conninfo with dbname replaced.
 * out receives it (n bytes). Returns CEL_OK, CEL_ECONFIG (unparseable conninfo),
 * CEL_ELIMIT (does not fit), CEL_ENOMEM.
 */
cel_status db_conninfo_set_dbname(const char *conninfo, const char *dbname, char *out, size_t n,
                                  cel_error *err) CEL_MUST_CHECK;

/*
 * Copies a displayable form of conninfo (URL or key=value) into out, password replaced by
 * "***": "host=db port=5432 dbname=x user=u password=***". Unparseable input gives
 * "(unparseable conninfo)". Always NUL-terminates when n > 0.
 */
void db_mask_conninfo(const char *conninfo, char *out, size_t n);

/*
 * Opens a connection. *out receives a new PGconn (close with db_close) on success and NULL
 * on failure. connect_timeout defaults to DB_CONNECT_TIMEOUT_S, application_name to
 * "celeriac", client_encoding is UTF8; server NOTICEs go to the debug log.
 * Returns CEL_OK; CEL_EDENIED (authentication refused), CEL_ECONFIG (database or role does
 * not exist, bad option), CEL_ETRANSIENT (server unreachable, starting up, ...), CEL_ENOMEM.
 */
cel_status db_connect(const char *conninfo, PGconn **out, cel_error *err) CEL_MUST_CHECK;

/* Closes conn. NULL-safe. */
void db_close(PGconn *conn);

/*
 * Maps a 5-character SQLSTATE to a status: CEL_ETRANSIENT for class 08 (connection
 * exception), 40001 (serialization_failure), 40P01 (deadlock_detected), class 53
 * (insufficient resources), 55P03 (lock_not_available), 57P01/57P02/57P03 (admin/crash
 * shutdown, cannot connect now); CEL_ETIMEOUT for 57014 (query_canceled, which is how
 * statement_timeout ends a query); CEL_EDB for every other state, NULL or malformed input.
 * (SQLSTATE list: https://www.postgresql.org/docs/15/errcodes-appendix.html)
 */
cel_status db_classify_sqlstate(const char *sqlstate);

/*
 * Checks a result. CEL_OK when res is PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE
 * or PGRES_EMPTY_QUERY. Otherwise records "<what>: SQLSTATE <s>: <primary message>
 * (constraint <c>, table <schema.t>, column <col>)" and returns the classified status; a
 * failure without SQLSTATE is CEL_ETRANSIENT if the connection is gone, CEL_ENOMEM for a NULL
 * result on a live connection, CEL_EDB otherwise. DETAIL is deliberately left out: it can
 * quote row values. If sqlstate is non-NULL it receives the SQLSTATE ("" when none).
 * conn and res are borrowed; res may be NULL.
 */
cel_status db_result_check(PGconn *conn, const PGresult *res, const char *what, char sqlstate[6],
                           cel_error *err) CEL_MUST_CHECK;

/* Runs one or more statements without parameters, discarding any rows (PQexec).
 * Returns CEL_OK or as db_result_check(). */
cel_status db_exec(PGconn *conn, const char *sql, cel_error *err) CEL_MUST_CHECK;

/*
 * Runs one statement with nparams text parameters ($1..$n; values[i] NULL = SQL NULL).
 * On CEL_OK, *out (if out is non-NULL) receives the new result (caller PQclear()s it); on
 * failure *out is NULL. Returns as db_result_check(); CEL_EINVAL for nparams outside
 * 0..DB_MAX_PARAMS.
 */
cel_status db_query_params(PGconn *conn, const char *sql, int nparams, const char *const *values,
                           PGresult **out, cel_error *err) CEL_MUST_CHECK;

/* BEGIN / COMMIT / ROLLBACK. db_commit reports a COMMIT that rolled back (the transaction
 * had failed) as CEL_EDB. db_rollback is safe to call on any connection state, including
 * outside a transaction and on a dead connection (then it does nothing and returns CEL_OK),
 * so cleanup paths can always call it. */
cel_status db_begin(PGconn *conn, cel_error *err) CEL_MUST_CHECK;
cel_status db_commit(PGconn *conn, cel_error *err) CEL_MUST_CHECK;
cel_status db_rollback(PGconn *conn, cel_error *err);

/* The 64-bit advisory-lock key of a text key: the first 8 bytes of SHA-256(key), big-endian,
 * as a signed integer. Stable across versions and platforms; key is borrowed. */
int64_t db_lock_key(const char *key);

/*
 * pg_try_advisory_xact_lock(db_lock_key(key)): takes a transaction-scoped advisory lock
 * without waiting; it is released by COMMIT/ROLLBACK. Name keys by task, e.g.
 * "datasets.process_dataset:<dataset_id>".
 * Returns CEL_OK when acquired, CEL_ECONFLICT when another session holds it, CEL_EINVAL when
 * called outside a transaction (the lock would be released at once), or a db error.
 */
cel_status db_try_xact_lock(PGconn *conn, const char *key, cel_error *err) CEL_MUST_CHECK;

/* pg_advisory_lock / pg_advisory_unlock of db_lock_key(key): a session-scoped lock that
 * waits until granted (subject to the session's lock_timeout). Unlocking a lock this session
 * does not hold is CEL_EINTERNAL. */
cel_status db_session_lock(PGconn *conn, const char *key, cel_error *err) CEL_MUST_CHECK;
cel_status db_session_unlock(PGconn *conn, const char *key, cel_error *err) CEL_MUST_CHECK;

#endif
