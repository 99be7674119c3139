/*
 * testdb.c: create and drop throwaway test databases (see testdb.h).
 *
 * Names are built only from a checked prefix and numbers, and still quoted with
 * PQescapeIdentifier. CREATE/DROP DATABASE cannot run in a transaction, so each is one
 * PQexec on a short-lived admin connection.
 */
#include "db/testdb.h"

#include "db/db.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Runs one statement `<verb> <quoted name><suffix>` on a new admin connection. */
static cel_status admin_exec(const char *admin_conninfo, const char *verb, const char *name,
                             const char *suffix, cel_error *err) {
    PGconn *conn = NULL;
    char *ident = NULL;
    cel_status st = db_connect(admin_conninfo, &conn, err);
    if (st != CEL_OK)
        goto exit;
    ident = PQescapeIdentifier(conn, name, strlen(name));
    if (ident == NULL) {
        st = cel_fail(err, CEL_ENOMEM, "cannot quote database name %s", name);
        goto exit;
    }
    char sql[256];
    snprintf(sql, sizeof sql, "%s %s%s", verb, ident, suffix);
    st = db_exec(conn, sql, err);
exit:
    PQfreemem(ident);
    db_close(conn);
    return st;
}

cel_status db_testdb_create(const char *admin_conninfo, const char *prefix,
                            char name[DB_TESTDB_NAME_MAX], char *conninfo_out, size_t n,
                            cel_error *err) {
    static unsigned counter;
    if (admin_conninfo == NULL || prefix == NULL || name == NULL || conninfo_out == NULL)
        return cel_fail(err, CEL_EINVAL, "db_testdb_create: NULL argument");
    size_t plen = strlen(prefix);
    if (plen == 0 || plen > 30 || strspn(prefix, "abcdefghijklmnopqrstuvwxyz0123456789_") != plen)
        return cel_fail(err, CEL_EINVAL, "test database prefix must be 1..30 of [a-z0-9_]");
    snprintf(name, DB_TESTDB_NAME_MAX, "%s_%ld_%lld_%u", prefix, (long)getpid(),
             (long long)time(NULL), counter++);
    cel_status st = db_conninfo_set_dbname(admin_conninfo, name, conninfo_out, n, err);
    if (st != CEL_OK)
        return st;
    return admin_exec(admin_conninfo, "CREATE DATABASE", name, "", err);
}

cel_status db_testdb_drop(const char *admin_conninfo, const char *name, cel_error *err) {
    if (admin_conninfo == NULL || name == NULL)
        return cel_fail(err, CEL_EINVAL, "db_testdb_drop: NULL argument");
    return admin_exec(admin_conninfo, "DROP DATABASE IF EXISTS", name, " WITH (FORCE)", err);
}
