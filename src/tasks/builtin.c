/*
 * builtin.c: tasks every celeriac has: `celeriac.ping` (smoke test through the
 * whole task path: decode, child, result) returns "pong".
 */
#include "tasks/task.h"

static void ping(const task_ctx *ctx, task_outcome *out) {
    (void)ctx;
    task_succeed(out, json_string("pong"));
}

static const task_def k_ping = {.name = "celeriac.ping", .fn = ping, .max_retries = 0};

void task_builtin_register(void) {
    task_register(&k_ping);
}
