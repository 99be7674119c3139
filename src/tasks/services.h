/*
 * services.h: the external resources a task uses, created lazily once per child and
 * reused across tasks (one PostgreSQL connection, one S3 client with keep-alive).
 *
 * Dependency injection: tests (and embedders) install their own handles with
 * svc_set_db / svc_set_s3; tasks only ever ask svc_db / svc_s3. A broken database
 * connection is reset on the next request, so a transient outage costs one retry.
 */
#ifndef CELERIAC_SERVICES_H
#define CELERIAC_SERVICES_H

#include "celeriac/error.h"
#include "s3/s3.h"

#include <libpq-fe.h>

/* Borrowed handle, valid until svc_shutdown. CEL_ECONFIG when DATABASE_URL/POSTGRES_* are
 * missing, CEL_ETRANSIENT when the server can't be reached. */
cel_status svc_db(PGconn **out, cel_error *err) CEL_MUST_CHECK;
cel_status svc_s3(s3_client **out, cel_error *err) CEL_MUST_CHECK;
/* Installs a handle (ownership passes to services). NULL clears. */
void svc_set_db(PGconn *conn);
void svc_set_s3(s3_client *client);
/* Drops the DB connection (after an error that may have left it unusable). */
void svc_db_discard(void);
void svc_shutdown(void);

#endif
