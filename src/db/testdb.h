/*
 * testdb.h: throwaway databases for integration tests (prefix db_testdb_).
 *
 * Design: a test connects with the stack's DATABASE_URL (the "admin" conninfo), creates a
 * uniquely named empty database (<prefix>_<pid>_<seconds>_<counter>), works in it through a
 * conninfo that differs from the admin one only in dbname, and drops it at the end (WITH
 * (FORCE), so leftover sessions don't block the drop). Reruns therefore start clean and two
 * test executables never share tables. Usually followed by db_migrate().
 *
 * Deliberately not here: templates, schema snapshots, anything a production path would use.
 */
#ifndef CELERIAC_DB_TESTDB_H
#define CELERIAC_DB_TESTDB_H

#include "celeriac/error.h"

#include <stddef.h>

#define DB_TESTDB_NAME_MAX 64 /* PostgreSQL identifiers are at most 63 bytes */

/*
 * Creates an empty database named <prefix>_<pid>_<unix seconds>_<counter> on the server of
 * admin_conninfo. prefix: 1..30 characters of [a-z0-9_]. name (DB_TESTDB_NAME_MAX bytes)
 * receives the name, conninfo_out (n bytes) a conninfo for it.
 * Returns CEL_OK, CEL_EINVAL (bad prefix), or a db_connect()/db_exec() error.
 */
cel_status db_testdb_create(const char *admin_conninfo, const char *prefix,
                            char name[DB_TESTDB_NAME_MAX], char *conninfo_out, size_t n,
                            cel_error *err) CEL_MUST_CHECK;

/* DROP DATABASE IF EXISTS name WITH (FORCE) on the server of admin_conninfo.
 * Returns CEL_OK or a db error. */
cel_status db_testdb_drop(const char *admin_conninfo, const char *name, cel_error *err);

#endif
