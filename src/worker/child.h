/*
 * child.h: the prefork child: runs one task at a time for the supervisor.
 *
 * Request frame (supervisor → child), JSON:
 *   {"id", "name", "args", "kwargs", "retries", "root_id", "hostname"}
 * Response frame (child → supervisor), JSON:
 *   {"id", "status": "SUCCESS"|"FAILURE"|"RETRY", "result", "exc_type", "exc_module",
 *    "exc_message", "traceback", "countdown", "runtime"}
 *
 * The child owns blocking work (libcurl, libpq, parsing); it never touches the broker.
 * It exits when the supervisor closes the socket (EOF) and dies with it (PDEATHSIG).
 * SIGTERM/SIGINT are ignored in children: shutdown is the supervisor's decision.
 */
#ifndef CELERIAC_CHILD_H
#define CELERIAC_CHILD_H

#include "tasks/task.h"

/* Runs the child loop on fd; never returns. */
void child_main(int fd) __attribute__((noreturn));

/* Runs one request in-process (used by child_main, and by tests). Returns the response
 * JSON text (malloc'd). */
char *child_run_request(const char *request, size_t len);

#endif
