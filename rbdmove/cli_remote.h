/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli_remote.h: turning a destination argument into a struct dest
 * (CLI layer). "POOL/IMAGE" is reached with librbd from here;
 * "ssh://[USER@]HOST[:PORT]/POOL/IMAGE" through rbdmove receivers that
 * run on HOST over SSH. The options that shape the SSH side are shared by
 * every command that takes such a destination.
 */
#ifndef RBDMOVE_CLI_REMOTE_H
#define RBDMOVE_CLI_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/cli.h"
#include "rbdmove/error.h"

struct dest;
struct cluster;

enum {
    OPT_REMOTE_KNOWN_HOSTS = 0x300,
    OPT_REMOTE_ACCEPT_NEW,
    OPT_REMOTE_RBDMOVE,
    OPT_REMOTE_STREAMS,
    OPT_REMOTE_COMPRESS,
    OPT_REMOTE_BWLIMIT,
    OPT_REMOTE_RECEIVER,
    OPT_REMOTE_TIMEOUT,
};

#define REMOTE_CLI_OPTIONS                                                     \
    {"identity", required_argument, 'i', "FILE",                               \
     "SSH private key (default: ssh-agent, then ~/.ssh/id_ed25519)"},          \
        {"known-hosts", required_argument, OPT_REMOTE_KNOWN_HOSTS, "FILE",     \
         "SSH known hosts (default ~/.ssh/known_hosts)"},                      \
        {"accept-new-host-key", no_argument, OPT_REMOTE_ACCEPT_NEW, NULL,      \
         "trust and record an unknown host's key (never a changed one)"},      \
        {"remote-rbdmove", required_argument, OPT_REMOTE_RBDMOVE, "PATH",      \
         "rbdmove on the remote host (default rbdmove)"},                      \
        {"streams", required_argument, OPT_REMOTE_STREAMS, "N",                \
         "parallel SSH streams (default: from the round trip)"},               \
        {"compress", optional_argument, OPT_REMOTE_COMPRESS, "LEVEL",          \
         "zstd-compress the streams (level 1-19, default 1)"},                 \
        {"bwlimit", required_argument, OPT_REMOTE_BWLIMIT, "RATE",             \
         "limit the total rate, bytes per second (e.g. 50M)"},                 \
        {"receiver", required_argument, OPT_REMOTE_RECEIVER, "KIND",           \
         "rbdmove (default) or rbd (plain rbd import-diff on HOST)"},          \
    {                                                                          \
        "ssh-timeout", required_argument, OPT_REMOTE_TIMEOUT, "SECONDS",       \
            "SSH connect and I/O timeout (default 30)"                         \
    }

struct cli_remote {
    const char *identity;
    const char *known_hosts;
    bool accept_new_host_key;
    const char *remote_rbdmove;
    unsigned streams;
    bool streams_given; /* --streams was on the command line */
    int compress_level; /* 0: off */
    uint64_t bwlimit;
    bool receiver_rbd;
    int timeout_s;
};

/* What a destination needs kept alive: the local cluster connection, or
 * the SSH settings. */
struct cli_session;

void cli_remote_init(struct cli_remote *r);
/* Handle one of REMOTE_CLI_OPTIONS; ERROR_USAGE for anything else. */
int cli_remote_option(struct cli_remote *r, int c, const char *arg,
                      struct error *err) MUST_CHECK;
/*
 * Build the destination for spec ("POOL/IMAGE" or an ssh:// URL) with the
 * ceph configuration conf and client id (local paths, or paths on HOST).
 */
int cli_remote_dest(const struct cli_remote *r, const char *spec,
                    const char *conf, const char *id, struct dest **out,
                    struct cli_session **session, struct error *err) MUST_CHECK;
/* NULL-safe. Free the dest first. */
void cli_session_free(struct cli_session *s);

#endif
