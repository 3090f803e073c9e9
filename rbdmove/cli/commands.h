/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/commands.h: the subcommands, one cmd_<verb>.c each. Each parses
 * its own options, calls the core and returns an exit status.
 */
#ifndef RBDMOVE_COMMANDS_H
#define RBDMOVE_COMMANDS_H

#include "rbdmove/base/error.h"
#include "rbdmove/cli/parse_options.h"

int cmd_export_diff(int argc, char **argv);
int cmd_import_diff(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_move(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_abort(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_points(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_failover(int argc, char **argv);
int cmd_failback(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_batch(int argc, char **argv);

/*
 * For `rbdmove batch`, which checks every job of a plan before it starts
 * any. <verb>_check_option applies value (NULL: none) to the verb's
 * option name on scratch arguments: 1 when the verb has no such option,
 * -1 with ERROR_USAGE when value is not valid for it, else 0 with *arg
 * the argument it takes. <verb>_check_args parses a whole command line
 * (argv[0] the verb) as the command would, connecting to nothing, and
 * returns EXIT_OK or EXIT_USAGE after printing what was wrong.
 */
int move_check_option(const char *name, const char *value,
                      enum parse_option_arg *arg, struct error *err);
int move_check_args(int argc, char **argv);
int sync_check_option(const char *name, const char *value,
                      enum parse_option_arg *arg, struct error *err);
int sync_check_args(int argc, char **argv);

#endif
