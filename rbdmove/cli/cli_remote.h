/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cli_remote.h: turning a destination argument into a struct dest
 * (CLI layer). "POOL/IMAGE" is reached with librbd from here;
 * "ssh://[USER@]HOST[:PORT]/POOL/IMAGE" through rbdmove receivers that
 * run on HOST over SSH. The options that shape the SSH side are shared by
 * every command that takes such a destination (OPT_REMOTE, cli_options.h).
 */
#ifndef RBDMOVE_CLI_REMOTE_H
#define RBDMOVE_CLI_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct dest;
struct cluster;

/* What the SSH options set (OPT_REMOTE in cli_options.h). */
struct cli_remote {
    const char *identity;
    const char *known_hosts;
    bool accept_new_host_key;
    const char *remote_rbdmove;
    unsigned streams;        /* 0: from the round trip (dest_remote.c) */
    unsigned compress_level; /* 0: off */
    uint64_t bwlimit;
    bool receiver_rbd;
    double timeout; /* seconds; under 1 counts as 1 */
};

/* What a destination needs kept alive: the local cluster connection, or
 * the SSH settings. */
struct cli_session;

/* The defaults: rbdmove as the remote program, a 30 s timeout. */
void cli_remote_init(struct cli_remote *r);
/*
 * Check spec ("POOL/IMAGE" or an ssh:// URL) and the remote options as far
 * as it can be done without connecting: ERROR_USAGE naming what is wrong.
 */
int cli_remote_check(const struct cli_remote *r, const char *spec,
                     const char *conf, struct error *err) MUST_CHECK;
/*
 * Build the destination for spec ("POOL/IMAGE" or an ssh:// URL) with the
 * ceph configuration conf and client id (local paths, or paths on HOST).
 */
int cli_remote_dest(const struct cli_remote *r, const char *spec,
                    const char *conf, const char *id, struct dest **out,
                    struct cli_session **session, struct error *err) MUST_CHECK;
/* The destination's cluster of a local spec; NULL for an ssh:// one. */
struct cluster *cli_session_cluster(const struct cli_session *s);
/* NULL-safe. Free the dest first. */
void cli_session_free(struct cli_session *s);

#endif
