/*
 * migrate.h: applies the SQL files of a migrations directory (migrations-mirror/) once each.
 *
 * Design: every `*.sql` file of the directory, in byte-wise lexical order of its name, runs
 * in its own transaction together with the row that records it in
 * celeriac.schema_migrations(filename, sha256, applied_at). A file already recorded with the
 * same SHA-256 is skipped; one recorded with a different SHA-256 is an error naming it (an
 * applied migration is never edited: write a new one), checked for every file before
 * anything is applied. Concurrent runners are serialized with a session advisory lock.
 *
 * Files must not contain transaction control (BEGIN/COMMIT) or statements that cannot run
 * inside a transaction (CREATE INDEX CONCURRENTLY, CREATE DATABASE); a file that ends the
 * runner's transaction is reported as an error.
 *
 * Deliberately not here: down-migrations, per-statement progress, templating.
 */
#ifndef CELERIAC_DB_MIGRATE_H
#define CELERIAC_DB_MIGRATE_H

#include "celeriac/error.h"

#include <libpq-fe.h>
#include <stdio.h>

#define DB_MIGRATION_MAX_BYTES (8u * 1024u * 1024u) /* one migration file */
#define DB_MIGRATION_MAX_FILES 10000                /* files in one directory */
#define DB_MIGRATION_NAME_MAX 200                   /* bytes in one file name */
#define DB_MIGRATE_LOCK_KEY "celeriac.migrate"      /* advisory lock, see db_lock_key() */

typedef struct db_migrate_stats {
    int applied; /* files applied by this run */
    int skipped; /* files already applied with the same sha256 */
    int pending; /* dry run: files that would be applied */
} db_migrate_stats;

/*
 * Applies the pending migrations of dir on conn (borrowed; must be idle, not inside a
 * transaction). dry_run: only reads and reports, writes nothing and takes no lock. Progress
 * goes to the log (events migrate.applied / migrate.skipped / migrate.pending).
 * Returns CEL_OK; CEL_ECONFIG for a changed already-applied file or a badly named file;
 * CEL_ELIMIT for a file over DB_MIGRATION_MAX_BYTES or too many files; CEL_EPARSE for a file
 * containing a NUL byte; CEL_EIO for unreadable files; a db error (message names the file
 * and line) when a migration fails, in which case that file is rolled back and the ones
 * before it stay applied.
 */
cel_status db_migrate(PGconn *conn, const char *dir, int dry_run, cel_error *err) CEL_MUST_CHECK;

/* As db_migrate, but prints one human-readable line per file to out instead of logging when
 * out is non-NULL, and fills *stats when stats is non-NULL (zeroed first). */
cel_status db_migrate_ex(PGconn *conn, const char *dir, int dry_run, FILE *out,
                         db_migrate_stats *stats, cel_error *err) CEL_MUST_CHECK;

/*
 * Writes the default migrations directory into out: $CELERIAC_MIGRATIONS_DIR if set (it must
 * be a directory), else the first existing of <CELERIAC_SOURCE_DIR>/migrations-mirror
 * (compile-time path of the source tree) and /usr/share/celeriac/migrations.
 * Returns CEL_OK, CEL_ECONFIG when none exists, CEL_ELIMIT when out is too small.
 */
cel_status db_migrations_dir(char *out, size_t n, cel_error *err) CEL_MUST_CHECK;

#endif
