/* Placeholder until the subsystem lands: exits 2 with a message. */
#include "cli.h"

#include <stdio.h>

int cmd_migrate(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "celeriac %s: not implemented yet\n", argv[0]);
    return 2;
}
