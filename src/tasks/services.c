/*
 * services.c: lazily created per-child DB connection and S3 client (see services.h).
 */
#include "tasks/services.h"

#include "db/db.h"

static PGconn *g_db;
static s3_client *g_s3;

cel_status svc_db(PGconn **out, cel_error *err) {
    if (g_db && PQstatus(g_db) != CONNECTION_OK)
        svc_db_discard();
    if (!g_db) {
        char conninfo[2048];
        cel_status st = db_conninfo_from_env(conninfo, sizeof conninfo, err);
        if (st != CEL_OK)
            return st;
        if ((st = db_connect(conninfo, &g_db, err)) != CEL_OK)
            return st;
    }
    *out = g_db;
    return CEL_OK;
}

cel_status svc_s3(s3_client **out, cel_error *err) {
    if (!g_s3) {
        s3_config cfg;
        cel_status st = s3_config_from_env(&cfg, err);
        if (st != CEL_OK)
            return st;
        if ((st = s3_client_new(&cfg, &g_s3, err)) != CEL_OK)
            return st;
    }
    *out = g_s3;
    return CEL_OK;
}

void svc_set_db(PGconn *conn) {
    svc_db_discard();
    g_db = conn;
}

void svc_set_s3(s3_client *client) {
    s3_client_free(g_s3);
    g_s3 = client;
}

void svc_db_discard(void) {
    db_close(g_db);
    g_db = NULL;
}

void svc_shutdown(void) {
    svc_db_discard();
    s3_client_free(g_s3);
    g_s3 = NULL;
}
