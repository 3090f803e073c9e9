/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_move_int.h: internal to cmd_move.c, cmd_move_server.c and
 * cmd_sync.c; nothing else includes it. The options of a move as these
 * commands hold them, and the helpers of cmd_move.c (recording and
 * rebuilding the options, destinations, events) that move --server and
 * sync reuse. They were static in cmd_move.c before it was split by
 * feature, and keep their short names: read them as part of cmd_move.c.
 */
#ifndef RBDMOVE_CMD_MOVE_INT_H
#define RBDMOVE_CMD_MOVE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rbdmove/cli/cli_remote.h"
#include "rbdmove/core/migrate.h"
#include "rbdmove/cli/progress.h"

struct cli_session;
struct dest;
struct error;
struct journal;
struct json_out;

/* One option given to move, as it is recorded in the journal. */
struct given_option {
    const char *name;   /* long name, static */
    const char *value;  /* borrowed from argv; "1" for none */
    const void *target; /* the variable it sets */
};

struct move_args {
    struct migrate_opts mo;
    const char *server; /* move --server */
    uint64_t converge;  /* sync */
    bool verify;        /* sync */
    struct cli_remote remote;
    const char *dst_conf, *dst_id, *ssh;
    const char *state_dir;
    enum progress_mode progress;
    struct given_option *given; /* move's command line, for its journal */
    size_t n_given;
};

struct dest_ctx {
    struct move_args *a;
    struct cli_session *sessions[64];
    unsigned n;
};

void record(struct journal *j, const struct move_args *a, const char *volume);
int rebuild(struct journal *j, struct move_args *a, struct error *err);
int make_dest(void *ctx, const char *pool, const char *image, struct dest **out,
              struct error *err);
void on_event(void *ctx, const struct migrate_event *ev);
void json_downtime(struct json_out *j, const char *key, double d);
void print_failed(struct journal *jr, const struct error *err);
void test_hold_from_env(struct migrate_opts *mo);
/* RBDMOVE_CUTOVER_LOCK_DIR=DIR: wait for an flock on a file in DIR named
 * by the destination server's id before the cutover (migrate_opts.gate);
 * set by `rbdmove batch`. */
void cutover_gate_from_env(struct migrate_opts *mo);
int move_server(struct move_args *a, const char *dir);
int group_by_id(struct journal *g, const char *dir, const struct move_args *cl,
                bool do_abort);
void args_init(struct move_args *a);
/* After parsing move or sync: the destination options (--ssh, the remote
 * options, --dst-conf) as far as they can be checked without connecting. */
enum parse_options_status check_destination(const struct cli_command *cmd,
                                            const struct move_args *a);

#endif
