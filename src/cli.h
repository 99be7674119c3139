/*
 * cli.h: the subcommands of the `celeriac` binary. Each takes the arguments after
 * its own name (argv[0] is the subcommand name) and returns the process exit code.
 */
#ifndef CELERIAC_CLI_H
#define CELERIAC_CLI_H

int cmd_worker(int argc, char **argv);  /* src/worker/worker_cli.c */
int cmd_migrate(int argc, char **argv); /* src/db/migrate.c */
int cmd_check(int argc, char **argv);   /* src/quality/check_cli.c */

#endif
