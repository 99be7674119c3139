/*
 * migrate.c: `celeriac migrate [--dir DIR] [--dry-run]` and db_migrate() (see migrate.h).
 *
 * Order of work: list and hash every file (nothing touches the database yet, so a bad file
 * fails before any change); take the advisory lock; create the bookkeeping table; read what
 * is recorded; refuse if any applied file changed; then apply each pending file in its own
 * transaction, re-hashing it on the way so a file edited during the run is caught.
 * Error positions reported by the server (PG_DIAG_STATEMENT_POSITION, in characters from 1:
 * https://www.postgresql.org/docs/15/libpq-exec.html) are turned into file line numbers.
 *
 * Not done here: reverting, partial application of a file, reordering.
 */
#include "db/migrate.h"

#include "cli.h"
#include "db/db.h"
#include "util/dbuf.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SHA_HEX 65
#define PATH_BYTES 4096

typedef struct mfile {
    char *name;        /* owned */
    char sha[SHA_HEX]; /* hex SHA-256 of the content */
    int state;         /* 0 pending, 1 applied (same sha) */
} mfile;

typedef struct applied_row {
    char *name; /* owned */
    char *sha;  /* owned */
    int seen;   /* a file of the directory matches it */
} applied_row;

static const char BOOKKEEPING_SQL[] = "CREATE SCHEMA IF NOT EXISTS celeriac;\n"
                                      "CREATE TABLE IF NOT EXISTS celeriac.schema_migrations (\n"
                                      "    filename text PRIMARY KEY,\n"
                                      "    sha256 text NOT NULL,\n"
                                      "    applied_at timestamptz NOT NULL DEFAULT now()\n"
                                      ");";

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

cel_status db_migrations_dir(char *out, size_t n, cel_error *err) {
    if (out == NULL || n == 0)
        return cel_fail(err, CEL_EINVAL, "db_migrations_dir: no output buffer");
    out[0] = '\0';
    const char *env = getenv("CELERIAC_MIGRATIONS_DIR");
    if (env != NULL && env[0] != '\0') {
        if (!is_dir(env))
            return cel_fail(err, CEL_ECONFIG, "CELERIAC_MIGRATIONS_DIR=%s is not a directory", env);
        if ((size_t)snprintf(out, n, "%s", env) >= n)
            return cel_fail(err, CEL_ELIMIT, "CELERIAC_MIGRATIONS_DIR is too long");
        return CEL_OK;
    }
    const char *candidates[] = {
#ifdef CELERIAC_SOURCE_DIR
        CELERIAC_SOURCE_DIR "/migrations-mirror",
#endif
        "/usr/share/celeriac/migrations",
    };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (!is_dir(candidates[i]))
            continue;
        if ((size_t)snprintf(out, n, "%s", candidates[i]) >= n)
            return cel_fail(err, CEL_ELIMIT, "migrations directory path is too long");
        return CEL_OK;
    }
    return cel_fail(err, CEL_ECONFIG,
                    "no migrations directory found: set CELERIAC_MIGRATIONS_DIR or pass --dir "
                    "(looked for %s%s/usr/share/celeriac/migrations)",
#ifdef CELERIAC_SOURCE_DIR
                    CELERIAC_SOURCE_DIR "/migrations-mirror", ", "
#else
                    "", ""
#endif
    );
}

/* ---- files ---------------------------------------------------------------------------- */

static int name_ok(const char *name) {
    for (const char *p = name; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '.';
        if (!ok)
            return 0;
    }
    return 1;
}

static int ends_with_sql(const char *name) {
    size_t len = strlen(name);
    return len > 4 && strcmp(name + len - 4, ".sql") == 0;
}

static int cmp_mfile(const void *a, const void *b) {
    return strcmp(((const mfile *)a)->name, ((const mfile *)b)->name);
}

static void free_files(mfile *files, size_t count) {
    for (size_t i = 0; i < count; i++)
        free(files[i].name);
    free(files);
}

/* Lists the *.sql regular files of dir, sorted. *out is new (free_files). */
static cel_status list_files(const char *dir, mfile **out, size_t *count, cel_error *err) {
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return cel_fail(err, errno == ENOENT ? CEL_ECONFIG : CEL_EIO,
                        "cannot open migrations directory %s: %s", dir, strerror(errno));
    cel_status st = CEL_OK;
    mfile *files = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.' || !ends_with_sql(name))
            continue;
        if (strlen(name) > DB_MIGRATION_NAME_MAX || !name_ok(name)) {
            st = cel_fail(err, CEL_ECONFIG,
                          "migration file name '%.*s' in %s: use at most %d characters from "
                          "[A-Za-z0-9._-]",
                          DB_MIGRATION_NAME_MAX, name, dir, DB_MIGRATION_NAME_MAX);
            goto exit;
        }
        char path[PATH_BYTES];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
            st = cel_fail(err, CEL_ELIMIT, "path of migration %s is too long", name);
            goto exit;
        }
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue; /* dangling link, directory named x.sql, ... */
        if (n == DB_MIGRATION_MAX_FILES) {
            st = cel_fail(err, CEL_ELIMIT, "more than %d migration files in %s",
                          DB_MIGRATION_MAX_FILES, dir);
            goto exit;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            mfile *nf = realloc(files, ncap * sizeof *nf);
            if (nf == NULL) {
                st = cel_fail(err, CEL_ENOMEM, "out of memory listing %s", dir);
                goto exit;
            }
            files = nf;
            cap = ncap;
        }
        files[n].name = strdup(name);
        if (files[n].name == NULL) {
            st = cel_fail(err, CEL_ENOMEM, "out of memory listing %s", dir);
            goto exit;
        }
        files[n].sha[0] = '\0';
        files[n].state = 0;
        n++;
    }
    if (n > 1)
        qsort(files, n, sizeof *files, cmp_mfile);
exit:
    closedir(d);
    if (st != CEL_OK) {
        free_files(files, n);
        return st;
    }
    *out = files;
    *count = n;
    return CEL_OK;
}

/* Reads dir/name into b (max DB_MIGRATION_MAX_BYTES) and writes its hex SHA-256 into sha. */
static cel_status read_file(const char *dir, const char *name, dbuf *b, char sha[SHA_HEX],
                            cel_error *err) {
    char path[PATH_BYTES];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return cel_fail(err, CEL_ELIMIT, "path of migration %s is too long", name);
    dbuf_reset(b);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cel_fail(err, CEL_EIO, "cannot open migration %s: %s", path, strerror(errno));
    cel_status st = CEL_OK;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        st = dbuf_append(b, chunk, got);
        if (st == CEL_ELIMIT) {
            st = cel_fail(err, CEL_ELIMIT, "migration %s is larger than %u bytes", name,
                          DB_MIGRATION_MAX_BYTES);
            goto exit;
        }
        if (st != CEL_OK) {
            st = cel_fail(err, st, "out of memory reading migration %s", name);
            goto exit;
        }
    }
    if (ferror(f)) {
        st = cel_fail(err, CEL_EIO, "error reading migration %s", path);
        goto exit;
    }
    if (b->len > 0 && memchr(b->data, '\0', b->len) != NULL) {
        st = cel_fail(err, CEL_EPARSE, "migration %s contains a NUL byte", name);
        goto exit;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(b->data ? b->data : "", b->len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != 32) {
        st = cel_fail(err, CEL_EINTERNAL, "SHA-256 of migration %s failed", name);
        goto exit;
    }
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        sha[2 * i] = hex[md[i] >> 4];
        sha[2 * i + 1] = hex[md[i] & 15];
    }
    sha[64] = '\0';
exit:
    fclose(f);
    return st;
}

/* 1-based line of the pos-th character (1-based, UTF-8 characters) of text. */
static long line_of_position(const char *text, size_t len, long pos) {
    long line = 1, chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c & 0xC0) != 0x80 && ++chars >= pos)
            break;
        if (c == '\n')
            line++;
    }
    return line;
}

/* ---- bookkeeping ------------------------------------------------------------------------ */

static void free_applied(applied_row *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(rows[i].name);
        free(rows[i].sha);
    }
    free(rows);
}

/* Reads celeriac.schema_migrations (sorted by filename, byte order) into *out (new). When
 * the table does not exist (dry run on a fresh database), returns an empty set. */
static cel_status load_applied(PGconn *conn, applied_row **out, size_t *count, cel_error *err) {
    *out = NULL;
    *count = 0;
    PGresult *res = NULL;
    cel_status st = db_query_params(
        conn, "SELECT to_regclass('celeriac.schema_migrations') IS NOT NULL", 0, NULL, &res, err);
    if (st != CEL_OK)
        return st;
    int exists = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    res = NULL;
    if (!exists)
        return CEL_OK;
    st = db_query_params(conn,
                         "SELECT filename, sha256 FROM celeriac.schema_migrations "
                         "ORDER BY filename COLLATE \"C\"",
                         0, NULL, &res, err);
    if (st != CEL_OK)
        return st;
    int nrows = PQntuples(res);
    applied_row *rows = calloc(nrows > 0 ? (size_t)nrows : 1, sizeof *rows);
    if (rows == NULL) {
        PQclear(res);
        return cel_fail(err, CEL_ENOMEM, "out of memory reading schema_migrations");
    }
    for (int i = 0; i < nrows; i++) {
        rows[i].name = strdup(PQgetvalue(res, i, 0));
        rows[i].sha = strdup(PQgetvalue(res, i, 1));
        if (rows[i].name == NULL || rows[i].sha == NULL) {
            free_applied(rows, (size_t)i + 1);
            PQclear(res);
            return cel_fail(err, CEL_ENOMEM, "out of memory reading schema_migrations");
        }
    }
    PQclear(res);
    *out = rows;
    *count = (size_t)nrows;
    return CEL_OK;
}

static applied_row *find_applied(applied_row *rows, size_t n, const char *name) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(rows[mid].name, name);
        if (c == 0)
            return &rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Applies one file (content in b, hash sha) in its own transaction. */
static cel_status apply_one(PGconn *conn, const char *name, const dbuf *b, const char *sha,
                            cel_error *err) {
    cel_status st = db_begin(conn, err);
    if (st != CEL_OK)
        return st;
    /* Unqualified names in the mirror mean `public` (seed 002's tables). The default
     * search_path "$user", public would send them to a schema named like the role (e.g.
     * our own `celeriac` bookkeeping schema when the role is `celeriac`). */
    if ((st = db_exec(conn, "SET LOCAL search_path TO public", err)) != CEL_OK) {
        db_rollback(conn, NULL);
        return st;
    }
    PGresult *res = PQexec(conn, b->data ? b->data : "");
    char what[DB_MIGRATION_NAME_MAX + 64];
    snprintf(what, sizeof what, "migration %s", name);
    if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR) {
        const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
        long p = pos ? strtol(pos, NULL, 10) : 0;
        if (p > 0)
            snprintf(what, sizeof what, "migration %s line %ld", name,
                     line_of_position(b->data, b->len, p));
    }
    st = db_result_check(conn, res, what, NULL, err);
    PQclear(res);
    if (st != CEL_OK)
        goto exit;
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        st = cel_fail(err, CEL_ECONFIG,
                      "migration %s ended the runner's transaction (COMMIT/ROLLBACK/BEGIN in "
                      "the file?): remove transaction control, each file already runs in its "
                      "own transaction; it was not recorded",
                      name);
        goto exit;
    }
    const char *params[2] = {name, sha};
    st = db_query_params(conn,
                         "INSERT INTO celeriac.schema_migrations (filename, sha256) "
                         "VALUES ($1, $2)",
                         2, params, NULL, err);
    if (st != CEL_OK)
        goto exit;
    st = db_commit(conn, err);
exit:
    if (st != CEL_OK)
        (void)db_rollback(conn, NULL);
    return st;
}

/* ---- the runner ------------------------------------------------------------------------- */

static void report(FILE *out, const char *event, const char *verb, const char *name,
                   const char *sha, double ms) {
    if (out != NULL) {
        if (ms >= 0)
            fprintf(out, "%-12s %s (sha256 %.12s, %.0f ms)\n", verb, name, sha, ms);
        else
            fprintf(out, "%-12s %s (sha256 %.12s)\n", verb, name, sha);
        fflush(out);
        return;
    }
    LOG(LOG_INFO, event, LF_S("file", name), LF_S("sha256", sha), LF_D("ms", ms < 0 ? 0 : ms));
}

cel_status db_migrate_ex(PGconn *conn, const char *dir, int dry_run, FILE *out,
                         db_migrate_stats *stats, cel_error *err) {
    if (stats != NULL)
        *stats = (db_migrate_stats){0};
    if (conn == NULL || dir == NULL)
        return cel_fail(err, CEL_EINVAL, "db_migrate: NULL argument");
    if (PQstatus(conn) != CONNECTION_OK)
        return cel_fail(err, CEL_ETRANSIENT, "db_migrate: the connection is not open");
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        return cel_fail(err, CEL_EINVAL, "db_migrate: the connection is inside a transaction");

    cel_status st = CEL_OK;
    mfile *files = NULL;
    size_t nfiles = 0;
    applied_row *applied = NULL;
    size_t napplied = 0;
    int locked = 0;
    dbuf b;
    dbuf_init(&b, DB_MIGRATION_MAX_BYTES);

    /* 1. list and hash: a bad file fails before anything changes */
    st = list_files(dir, &files, &nfiles, err);
    if (st != CEL_OK)
        goto exit;
    for (size_t i = 0; i < nfiles; i++) {
        st = read_file(dir, files[i].name, &b, files[i].sha, err);
        if (st != CEL_OK)
            goto exit;
    }

    /* 2. serialize runners, make sure the bookkeeping table exists */
    if (!dry_run) {
        st = db_session_lock(conn, DB_MIGRATE_LOCK_KEY, err);
        if (st != CEL_OK)
            goto exit;
        locked = 1;
        st = db_exec(conn, BOOKKEEPING_SQL, err);
        if (st != CEL_OK)
            goto exit;
    }

    /* 3. what is applied; refuse if an applied file changed */
    st = load_applied(conn, &applied, &napplied, err);
    if (st != CEL_OK)
        goto exit;
    for (size_t i = 0; i < nfiles; i++) {
        applied_row *a = find_applied(applied, napplied, files[i].name);
        if (a == NULL)
            continue;
        a->seen = 1;
        if (strcmp(a->sha, files[i].sha) != 0) {
            st = cel_fail(err, CEL_ECONFIG,
                          "migration %s was applied with sha256 %.12s but the file in %s now "
                          "has sha256 %.12s: applied migrations must not change (restore the "
                          "file and add a new migration); nothing was applied",
                          files[i].name, a->sha, dir, files[i].sha);
            goto exit;
        }
        files[i].state = 1;
    }
    for (size_t i = 0; i < napplied; i++) {
        if (applied[i].seen)
            continue;
        if (out != NULL)
            fprintf(out, "note: %s is recorded as applied but is not in %s\n", applied[i].name,
                    dir);
        else
            LOG(LOG_WARNING, "migrate.missing_file", LF_S("file", applied[i].name),
                LF_S("dir", dir));
    }

    /* 4. apply what is pending, in order */
    for (size_t i = 0; i < nfiles; i++) {
        if (files[i].state == 1) {
            report(out, "migrate.skipped", "skipped", files[i].name, files[i].sha, -1);
            if (stats != NULL)
                stats->skipped++;
            continue;
        }
        if (dry_run) {
            report(out, "migrate.pending", "would apply", files[i].name, files[i].sha, -1);
            if (stats != NULL)
                stats->pending++;
            continue;
        }
        char sha[SHA_HEX];
        st = read_file(dir, files[i].name, &b, sha, err);
        if (st != CEL_OK)
            goto exit;
        if (strcmp(sha, files[i].sha) != 0) {
            st = cel_fail(err, CEL_ECONFLICT, "migration %s changed while migrating; not applied",
                          files[i].name);
            goto exit;
        }
        double t0 = now_ms();
        st = apply_one(conn, files[i].name, &b, sha, err);
        if (st != CEL_OK)
            goto exit;
        report(out, "migrate.applied", "applied", files[i].name, sha, now_ms() - t0);
        if (stats != NULL)
            stats->applied++;
    }

exit:
    if (locked) {
        cel_error uerr = {0};
        (void)db_rollback(conn, NULL);
        if (PQstatus(conn) == CONNECTION_OK &&
            db_session_unlock(conn, DB_MIGRATE_LOCK_KEY, &uerr) != CEL_OK)
            LOG(LOG_WARNING, "migrate.unlock_failed", LF_S("error", uerr.msg));
    }
    dbuf_free(&b);
    free_applied(applied, napplied);
    free_files(files, nfiles);
    return st;
}

cel_status db_migrate(PGconn *conn, const char *dir, int dry_run, cel_error *err) {
    return db_migrate_ex(conn, dir, dry_run, NULL, NULL, err);
}

/* ---- the command ------------------------------------------------------------------------- */

static void migrate_usage(FILE *f) {
    fprintf(f, "usage: celeriac migrate [--dir DIR] [--dry-run]\n\n"
               "Applies DIR/*.sql in lexical order to the database of DATABASE_URL (or\n"
               "POSTGRES_HOST/PORT/USER/PASSWORD/DB), each file once, in its own transaction,\n"
               "recorded in celeriac.schema_migrations. A recorded file whose content changed\n"
               "is an error. Concurrent runs wait for each other.\n\n"
               "  --dir DIR   migrations directory (default: $CELERIAC_MIGRATIONS_DIR, else\n"
               "              the source tree's migrations-mirror/, else\n"
               "              /usr/share/celeriac/migrations)\n"
               "  --dry-run   list what would be applied; change nothing\n\n"
               "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

int cmd_migrate(int argc, char **argv) {
    const char *dir_arg = NULL;
    int dry_run = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            migrate_usage(stdout);
            return 0;
        } else if (strcmp(a, "--dry-run") == 0) {
            dry_run = 1;
        } else if (strcmp(a, "--dir") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "celeriac migrate: --dir needs a directory\n");
                return 2;
            }
            dir_arg = argv[++i];
        } else if (strncmp(a, "--dir=", 6) == 0) {
            dir_arg = a + 6;
        } else {
            fprintf(stderr, "celeriac migrate: unknown argument '%s'\n\n", a);
            migrate_usage(stderr);
            return 2;
        }
    }

    cel_error err = {0};
    PGconn *conn = NULL;
    int rc = 1;
    char dir[PATH_BYTES];
    char conninfo[DB_CONNINFO_MAX];
    char masked[512];
    db_migrate_stats stats = {0};

    if (dir_arg != NULL) {
        if ((size_t)snprintf(dir, sizeof dir, "%s", dir_arg) >= sizeof dir) {
            fprintf(stderr, "celeriac migrate: --dir path is too long\n");
            return 2;
        }
    } else if (db_migrations_dir(dir, sizeof dir, &err) != CEL_OK) {
        goto exit;
    }
    if (db_conninfo_from_env(conninfo, sizeof conninfo, &err) != CEL_OK)
        goto exit;
    db_mask_conninfo(conninfo, masked, sizeof masked);
    printf("migrate: %s%s -> %s\n", dry_run ? "(dry run) " : "", dir, masked);
    if (db_connect(conninfo, &conn, &err) != CEL_OK)
        goto exit;
    if (db_migrate_ex(conn, dir, dry_run, stdout, &stats, &err) != CEL_OK)
        goto exit;
    if (dry_run)
        printf("migrate: %d to apply, %d already applied (dry run, nothing changed)\n",
               stats.pending, stats.skipped);
    else
        printf("migrate: %d applied, %d already applied\n", stats.applied, stats.skipped);
    rc = 0;
exit:
    if (rc != 0) {
        if (stats.applied > 0)
            fprintf(stderr, "celeriac migrate: %d file(s) applied before the failure\n",
                    stats.applied);
        fprintf(stderr, "celeriac migrate: %s: %s\n", cel_strerror(err.code), err.msg);
    }
    db_close(conn);
    return rc;
}
