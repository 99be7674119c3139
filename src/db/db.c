/*
 * db.c: configuration, connection, error classification, transactions and advisory locks
 * over libpq (see db.h for the contracts).
 *
 * Error messages are built from the server's diagnostic fields
 * (https://www.postgresql.org/docs/15/libpq-exec.html#LIBPQ-PQRESULTERRORFIELD): SQLSTATE,
 * primary message and the schema/table/column/constraint names, never DETAIL (it can quote
 * row values) and never the conninfo itself (it can hold a password).
 *
 * Not done here: retrying (callers look at cel_status_transient()), reconnecting.
 */
#include "db/db.h"

#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ---------------------------------------------------------------- */

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Appends `key='value' ` with libpq quoting (backslash before ' and \) to out at *pos.
 * https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING */
static cel_status put_kv(char *out, size_t n, size_t *pos, const char *key, const char *value,
                         cel_error *err) {
    size_t need = strlen(key) + 4; /* key, '=', two quotes; space/NUL counted below */
    for (const char *p = value; *p; p++)
        need += (*p == '\'' || *p == '\\') ? 2 : 1;
    if (*pos + need + 2 > n)
        return cel_fail(err, CEL_ELIMIT, "database conninfo longer than %zu bytes", n - 1);
    size_t i = *pos;
    if (i > 0)
        out[i++] = ' ';
    size_t klen = strlen(key);
    memcpy(out + i, key, klen);
    i += klen;
    out[i++] = '=';
    out[i++] = '\'';
    for (const char *p = value; *p; p++) {
        if (*p == '\'' || *p == '\\')
            out[i++] = '\\';
        out[i++] = *p;
    }
    out[i++] = '\'';
    out[i] = '\0';
    *pos = i;
    return CEL_OK;
}

/* Rewrites a SQLAlchemy-style scheme ("postgresql+psycopg://", "postgres+asyncpg://") to
 * "postgresql://" into out. Returns CEL_OK, or CEL_ELIMIT when out is too small. */
static cel_status copy_url(const char *url, char *out, size_t n, cel_error *err) {
    const char *rest = url;
    if (strncmp(url, "postgresql+", 11) == 0 || strncmp(url, "postgres+", 9) == 0) {
        const char *sep = strstr(url, "://");
        if (sep != NULL)
            rest = sep + 3;
    }
    int w = (rest == url) ? snprintf(out, n, "%s", url) : snprintf(out, n, "postgresql://%s", rest);
    if (w < 0 || (size_t)w >= n)
        return cel_fail(err, CEL_ELIMIT, "DATABASE_URL is longer than %zu bytes", n - 1);
    return CEL_OK;
}

cel_status db_conninfo_from_env(char *out, size_t n, cel_error *err) {
    if (out == NULL || n == 0)
        return cel_fail(err, CEL_EINVAL, "db_conninfo_from_env: no output buffer");
    out[0] = '\0';
    const char *url = env_nonempty("DATABASE_URL");
    if (url != NULL) {
        cel_status st = copy_url(url, out, n, err);
        if (st != CEL_OK)
            return st;
        char *perr = NULL;
        PQconninfoOption *opts = PQconninfoParse(out, &perr);
        if (opts == NULL) {
            /* libpq's message can quote part of the string (a password), so it is not shown */
            int oom = (perr == NULL);
            PQfreemem(perr);
            out[0] = '\0';
            if (oom)
                return cel_fail(err, CEL_ENOMEM, "out of memory parsing DATABASE_URL");
            return cel_fail(err, CEL_ECONFIG,
                            "DATABASE_URL is neither a PostgreSQL URL "
                            "(postgresql://user:password@host:5432/dbname) nor a libpq conninfo "
                            "(host=... dbname=...)");
        }
        PQconninfoFree(opts);
        return CEL_OK;
    }

    const char *host = env_nonempty("POSTGRES_HOST");
    const char *port = env_nonempty("POSTGRES_PORT");
    const char *user = env_nonempty("POSTGRES_USER");
    const char *password = env_nonempty("POSTGRES_PASSWORD");
    const char *dbname = env_nonempty("POSTGRES_DB");
    if (host == NULL)
        return cel_fail(err, CEL_ECONFIG,
                        "DATABASE_URL is not set, nor is POSTGRES_HOST: set DATABASE_URL="
                        "postgresql://user:password@host:5432/dbname, or POSTGRES_HOST, "
                        "POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB");
    if (user == NULL)
        return cel_fail(err, CEL_ECONFIG,
                        "POSTGRES_HOST is set but POSTGRES_USER is not (DATABASE_URL is unset)");
    if (dbname == NULL)
        return cel_fail(err, CEL_ECONFIG,
                        "POSTGRES_HOST is set but POSTGRES_DB is not (DATABASE_URL is unset)");
    if (port != NULL) {
        char *end = NULL;
        errno = 0;
        long p = strtol(port, &end, 10);
        if (errno != 0 || end == port || *end != '\0' || p < 1 || p > 65535)
            return cel_fail(err, CEL_ECONFIG, "POSTGRES_PORT must be a port number 1..65535");
    }
    size_t pos = 0;
    cel_status st = put_kv(out, n, &pos, "host", host, err);
    if (st == CEL_OK)
        st = put_kv(out, n, &pos, "port", port ? port : "5432", err);
    if (st == CEL_OK)
        st = put_kv(out, n, &pos, "user", user, err);
    if (st == CEL_OK && password != NULL)
        st = put_kv(out, n, &pos, "password", password, err);
    if (st == CEL_OK)
        st = put_kv(out, n, &pos, "dbname", dbname, err);
    if (st != CEL_OK)
        out[0] = '\0';
    return st;
}

cel_status db_conninfo_set_dbname(const char *conninfo, const char *dbname, char *out, size_t n,
                                  cel_error *err) {
    if (conninfo == NULL || dbname == NULL || out == NULL || n == 0)
        return cel_fail(err, CEL_EINVAL, "db_conninfo_set_dbname: NULL argument");
    out[0] = '\0';
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (opts == NULL) {
        int oom = perr == NULL;
        PQfreemem(perr);
        return oom ? cel_fail(err, CEL_ENOMEM, "out of memory parsing conninfo")
                   : cel_fail(err, CEL_ECONFIG, "conninfo is not parseable");
    }
    cel_status st = CEL_OK;
    size_t pos = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL && st == CEL_OK; o++) {
        if (strcmp(o->keyword, "dbname") == 0 || o->val == NULL)
            continue;
        st = put_kv(out, n, &pos, o->keyword, o->val, err);
    }
    if (st == CEL_OK)
        st = put_kv(out, n, &pos, "dbname", dbname, err);
    PQconninfoFree(opts);
    if (st != CEL_OK)
        out[0] = '\0';
    return st;
}

/* Appends s to out (bounded, always NUL-terminated); quotes it when it has spaces/quotes. */
static void mask_put(char *out, size_t n, size_t *pos, const char *s, int quote) {
    if (quote && *pos + 1 < n)
        out[(*pos)++] = '\'';
    for (const char *p = s; *p && *pos + 1 < n; p++) {
        if (quote && (*p == '\'' || *p == '\\')) {
            if (*pos + 2 >= n)
                break;
            out[(*pos)++] = '\\';
        }
        out[(*pos)++] = *p;
    }
    if (quote && *pos + 1 < n)
        out[(*pos)++] = '\'';
    out[*pos] = '\0';
}

void db_mask_conninfo(const char *conninfo, char *out, size_t n) {
    if (out == NULL || n == 0)
        return;
    out[0] = '\0';
    char *perr = NULL;
    PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, &perr) : NULL;
    PQfreemem(perr);
    if (opts == NULL) {
        snprintf(out, n, "(unparseable conninfo)");
        return;
    }
    size_t pos = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        int secret = strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0;
        if (pos > 0)
            mask_put(out, n, &pos, " ", 0);
        mask_put(out, n, &pos, o->keyword, 0);
        mask_put(out, n, &pos, "=", 0);
        const char *v = secret ? "***" : o->val;
        int quote = v[0] == '\0' || strpbrk(v, " '\\") != NULL;
        mask_put(out, n, &pos, v, quote);
    }
    PQconninfoFree(opts);
}

/* ---- connecting --------------------------------------------------------------------- */

/* Server NOTICE/WARNING messages (e.g. "relation already exists, skipping"). */
static void db_notice(void *arg, const PGresult *res) {
    (void)arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    int level = (sev != NULL && strcmp(sev, "WARNING") == 0) ? LOG_WARNING : LOG_DEBUG;
    LOG(level, "db.notice", LF_S("severity", sev ? sev : "NOTICE"), LF_S("message", msg));
}

/* Copies libpq's multi-line message into out as one line without trailing newline. */
static void one_line(const char *msg, char *out, size_t n) {
    size_t j = 0;
    for (const char *p = msg ? msg : ""; *p && j + 1 < n; p++) {
        if (*p == '\n') {
            if (p[1] == '\0')
                break;
            if (j + 3 >= n)
                break;
            out[j++] = ';';
            out[j++] = ' ';
            continue;
        }
        if (*p == '\t' || *p == '\r') {
            if (j > 0 && out[j - 1] != ' ')
                out[j++] = ' ';
            continue;
        }
        if (*p == ' ' && j > 0 && out[j - 1] == ' ')
            continue;
        out[j++] = *p;
    }
    out[j] = '\0';
}

/* libpq reports a failed connection only as text (no SQLSTATE before the session exists),
 * so classify by the server's well-known messages; anything unrecognised (refused, timeout,
 * "the database system is starting up", "too many clients") is treated as transient. */
static cel_status classify_connect_failure(const char *msg) {
    static const char *const denied[] = {"password authentication failed", "authentication failed",
                                         "no pg_hba.conf entry", "permission denied",
                                         "password is required"};
    static const char *const config[] = {"does not exist",        "invalid connection option",
                                         "invalid port number",   "invalid sslmode",
                                         "invalid integer value", "could not translate host name"};
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++)
        if (strstr(msg, denied[i]) != NULL)
            return CEL_EDENIED;
    for (size_t i = 0; i < sizeof config / sizeof config[0]; i++)
        if (strstr(msg, config[i]) != NULL)
            return CEL_ECONFIG;
    return CEL_ETRANSIENT;
}

cel_status db_connect(const char *conninfo, PGconn **out, cel_error *err) {
    if (out == NULL || conninfo == NULL)
        return cel_fail(err, CEL_EINVAL, "db_connect: NULL argument");
    *out = NULL;
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", DB_CONNECT_TIMEOUT_S);
    /* Our defaults come first and dbname (expanded as a conninfo/URL) last, so anything the
     * operator put in the URL overrides them (libpq processes the arrays in order). */
    const char *const keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname",
                                NULL};
    const char *const vals[] = {timeout, "celeriac", "UTF8", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL)
        return cel_fail(err, CEL_ENOMEM, "out of memory creating a PostgreSQL connection");
    if (PQstatus(conn) != CONNECTION_OK) {
        char masked[512], msg[768];
        db_mask_conninfo(conninfo, masked, sizeof masked);
        one_line(PQerrorMessage(conn), msg, sizeof msg);
        cel_status code = classify_connect_failure(msg);
        PQfinish(conn);
        return cel_fail(err, code, "cannot connect to PostgreSQL (%s): %s", masked, msg);
    }
    PQsetNoticeReceiver(conn, db_notice, NULL);
    *out = conn;
    return CEL_OK;
}

void db_close(PGconn *conn) {
    if (conn != NULL)
        PQfinish(conn);
}

/* ---- errors --------------------------------------------------------------------------- */

cel_status db_classify_sqlstate(const char *s) {
    if (s == NULL || strlen(s) != 5)
        return CEL_EDB;
    if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0)
        return CEL_ETRANSIENT;
    static const char *const transient[] = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        if (strcmp(s, transient[i]) == 0)
            return CEL_ETRANSIENT;
    if (strcmp(s, "57014") == 0)
        return CEL_ETIMEOUT;
    return CEL_EDB;
}

/* A short label for a statement: its first 60 bytes on one line. */
static void sql_label(const char *sql, char *out, size_t n) {
    size_t j = 0;
    const char *p = sql ? sql : "";
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    for (; *p && j + 1 < n && j < 60; p++)
        out[j++] = (*p == '\n' || *p == '\t' || *p == '\r') ? ' ' : *p;
    out[j] = '\0';
    if (*p && j + 4 < n) {
        memcpy(out + j, "...", 4);
    }
}

cel_status db_result_check(PGconn *conn, const PGresult *res, const char *what, char sqlstate[6],
                           cel_error *err) {
    if (sqlstate != NULL)
        sqlstate[0] = '\0';
    if (what == NULL)
        what = "query";
    if (res == NULL) {
        char msg[512];
        one_line(conn ? PQerrorMessage(conn) : "no connection", msg, sizeof msg);
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
            return cel_fail(err, CEL_ETRANSIENT, "%s: connection lost: %s", what, msg);
        return cel_fail(err, CEL_ENOMEM, "%s: no result (out of memory?): %s", what, msg);
    }
    ExecStatusType est = PQresultStatus(res);
    switch (est) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE:
    case PGRES_EMPTY_QUERY:
        return CEL_OK;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        return cel_fail(err, CEL_EINVAL, "%s: COPY is not supported through this helper", what);
    default:
        break;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char msg[512];
    if (primary != NULL)
        one_line(primary, msg, sizeof msg);
    else
        one_line(PQresultErrorMessage(res), msg, sizeof msg);
    if (state == NULL) {
        int gone = conn == NULL || PQstatus(conn) != CONNECTION_OK;
        return cel_fail(err, gone ? CEL_ETRANSIENT : CEL_EDB, "%s: %s%s", what,
                        gone ? "connection lost: " : "", msg);
    }
    if (sqlstate != NULL)
        snprintf(sqlstate, 6, "%s", state);
    cel_status code = db_classify_sqlstate(state);
    /* Where the error is: names only, never values. */
    const char *schema = PQresultErrorField(res, PG_DIAG_SCHEMA_NAME);
    const char *table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
    const char *column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    char where[384];
    int w = 0;
    where[0] = '\0';
    if (constraint != NULL)
        w += snprintf(where + w, sizeof where - (size_t)w, "%sconstraint %s", w ? ", " : "",
                      constraint);
    if (table != NULL && w >= 0 && (size_t)w < sizeof where)
        w += snprintf(where + w, sizeof where - (size_t)w, "%stable %s%s%s", w ? ", " : "",
                      schema ? schema : "", schema ? "." : "", table);
    if (column != NULL && w >= 0 && (size_t)w < sizeof where)
        snprintf(where + w, sizeof where - (size_t)w, "%scolumn %s", w ? ", " : "", column);
    if (where[0] != '\0')
        return cel_fail(err, code, "%s: SQLSTATE %s: %s (%s)", what, state, msg, where);
    return cel_fail(err, code, "%s: SQLSTATE %s: %s", what, state, msg);
}

/* ---- statements ------------------------------------------------------------------------ */

cel_status db_exec(PGconn *conn, const char *sql, cel_error *err) {
    if (conn == NULL || sql == NULL)
        return cel_fail(err, CEL_EINVAL, "db_exec: NULL argument");
    char label[72];
    sql_label(sql, label, sizeof label);
    PGresult *res = PQexec(conn, sql);
    cel_status st = db_result_check(conn, res, label, NULL, err);
    PQclear(res);
    return st;
}

cel_status db_query_params(PGconn *conn, const char *sql, int nparams, const char *const *values,
                           PGresult **out, cel_error *err) {
    if (out != NULL)
        *out = NULL;
    if (conn == NULL || sql == NULL || (nparams > 0 && values == NULL))
        return cel_fail(err, CEL_EINVAL, "db_query_params: NULL argument");
    if (nparams < 0 || nparams > DB_MAX_PARAMS)
        return cel_fail(err, CEL_EINVAL, "db_query_params: %d parameters (limit %d)", nparams,
                        DB_MAX_PARAMS);
    char label[72];
    sql_label(sql, label, sizeof label);
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
    cel_status st = db_result_check(conn, res, label, NULL, err);
    if (st != CEL_OK || out == NULL) {
        PQclear(res);
        return st;
    }
    *out = res;
    return CEL_OK;
}

/* ---- transactions ------------------------------------------------------------------------ */

cel_status db_begin(PGconn *conn, cel_error *err) {
    return db_exec(conn, "BEGIN", err);
}

cel_status db_commit(PGconn *conn, cel_error *err) {
    if (conn == NULL)
        return cel_fail(err, CEL_EINVAL, "db_commit: NULL connection");
    PGresult *res = PQexec(conn, "COMMIT");
    cel_status st = db_result_check(conn, res, "COMMIT", NULL, err);
    /* COMMIT of a failed transaction "succeeds" with command tag ROLLBACK. */
    if (st == CEL_OK && strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
        st = cel_fail(err, CEL_EDB, "COMMIT: the transaction had failed and was rolled back");
    PQclear(res);
    return st;
}

cel_status db_rollback(PGconn *conn, cel_error *err) {
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
        return CEL_OK;
    if (PQtransactionStatus(conn) == PQTRANS_IDLE)
        return CEL_OK;
    return db_exec(conn, "ROLLBACK", err);
}

/* ---- advisory locks ------------------------------------------------------------------------ */

int64_t db_lock_key(const char *key) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const char *k = key ? key : "";
    if (EVP_Digest(k, strlen(k), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 8) {
        /* Only on a broken OpenSSL: fall back to FNV-1a 64 so the lock still works. */
        uint64_t h = 1469598103934665603ULL;
        for (const unsigned char *p = (const unsigned char *)k; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        return (int64_t)h;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | md[i];
    return (int64_t)v;
}

/* Runs `SELECT fn($1::bigint)` for the key and stores the boolean result in *result. */
static cel_status lock_call(PGconn *conn, const char *fn, const char *key, int *result,
                            cel_error *err) {
    char num[24], sql[96], what[160];
    snprintf(num, sizeof num, "%" PRId64, db_lock_key(key));
    snprintf(sql, sizeof sql, "SELECT %s($1::bigint)", fn);
    snprintf(what, sizeof what, "%s('%.100s')", fn, key);
    const char *params[1] = {num};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    cel_status st = db_result_check(conn, res, what, NULL, err);
    if (st == CEL_OK) {
        if (PQntuples(res) != 1 || PQnfields(res) != 1)
            st = cel_fail(err, CEL_EPROTO, "%s: expected one value", what);
        else /* pg_advisory_lock returns void (''): callers ignore *result then */
            *result = !PQgetisnull(res, 0, 0) && PQgetvalue(res, 0, 0)[0] == 't';
    }
    PQclear(res);
    return st;
}

cel_status db_try_xact_lock(PGconn *conn, const char *key, cel_error *err) {
    if (conn == NULL || key == NULL)
        return cel_fail(err, CEL_EINVAL, "db_try_xact_lock: NULL argument");
    PGTransactionStatusType ts = PQtransactionStatus(conn);
    if (ts == PQTRANS_INERROR)
        return cel_fail(err, CEL_EDB, "advisory lock '%s': the transaction has already failed",
                        key);
    if (ts != PQTRANS_INTRANS)
        return cel_fail(err, CEL_EINVAL,
                        "advisory lock '%s': must be taken inside a transaction (db_begin)", key);
    int got = 0;
    cel_status st = lock_call(conn, "pg_try_advisory_xact_lock", key, &got, err);
    if (st != CEL_OK)
        return st;
    if (!got)
        return cel_fail(err, CEL_ECONFLICT, "advisory lock '%s' is held by another session", key);
    return CEL_OK;
}

cel_status db_session_lock(PGconn *conn, const char *key, cel_error *err) {
    if (conn == NULL || key == NULL)
        return cel_fail(err, CEL_EINVAL, "db_session_lock: NULL argument");
    int got = 0;
    return lock_call(conn, "pg_advisory_lock", key, &got, err);
}

cel_status db_session_unlock(PGconn *conn, const char *key, cel_error *err) {
    if (conn == NULL || key == NULL)
        return cel_fail(err, CEL_EINVAL, "db_session_unlock: NULL argument");
    int released = 0;
    cel_status st = lock_call(conn, "pg_advisory_unlock", key, &released, err);
    if (st != CEL_OK)
        return st;
    if (!released)
        return cel_fail(err, CEL_EINTERNAL, "advisory lock '%s' was not held by this session", key);
    return CEL_OK;
}
