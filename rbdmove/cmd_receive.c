/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cmd_receive.c: `rbdmove receive`, the far end of a remote copy.
 * (Being written: see issue 3.)
 */
#include <stdio.h>

#include "rbdmove/cli.h"
#include "rbdmove/commands.h"

int cmd_receive(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "rbdmove receive: not available in this build\n");
    return EXIT_FAIL;
}
