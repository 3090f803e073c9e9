/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/commands.h: the subcommands, one cmd_<verb>.c each. Each parses
 * its own options, calls the core and returns an exit status.
 */
#ifndef RBDMOVE_COMMANDS_H
#define RBDMOVE_COMMANDS_H

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

#endif
