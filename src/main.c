/*
 * main.c: `celeriac <command> [args]`. Commands are small entrypoints (seed 001's
 * "jobs" style): the container ENTRYPOINT is this binary and a Job passes only
 * arguments. With no command, or with only options, `worker` is assumed, so
 * `celeriac -Q celery -c 2` works like `celery worker -Q celery -c 2`.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "celeriac %s: a Celery-compatible worker in C\n\n"
            "usage: celeriac <command> [options]\n\n"
            "commands:\n"
            "  worker    consume Celery tasks from RabbitMQ (default command)\n"
            "  check     validate and profile a local file, print quality + profile JSON\n"
            "  migrate   apply migrations-mirror/*.sql to DATABASE_URL (idempotent)\n"
            "  version   print the version\n\n"
            "`celeriac <command> --help` describes each command.\n",
            CELERIAC_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            usage(stdout);
            return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
            printf("celeriac %s\n", CELERIAC_VERSION);
            return 0;
        }
        argv[0] = "worker";
        return cmd_worker(argc, argv);
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "worker") == 0)
        return cmd_worker(argc - 1, argv + 1);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0) {
        printf("celeriac %s\n", CELERIAC_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "celeriac: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
