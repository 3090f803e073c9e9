/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cli_options.h: the groups of options that several commands
 * share, declared once so that their names, ranges and help texts cannot
 * drift apart: the OpenStack options (both clouds, the destination server
 * and the volume created there), the one or two Ceph clusters, the SSH
 * destination, and the copy engine's --progress, --chunk-size and
 * --checkpoint.
 *
 * Each group is a macro that expands to entries of a parse_options.h
 * table, pointed at the caller's variables:
 *
 *     struct parse_option opts[] = {
 *         OPT_OPENSTACK_CLOUDS(&plan), ..., OPT_REMOTE(&remote), OPT_END(),
 *     };
 *
 * CLI layer.
 */
#ifndef RBDMOVE_CLI_OPTIONS_H
#define RBDMOVE_CLI_OPTIONS_H

#include "rbdmove/cli/cli_remote.h"
#include "rbdmove/cli/parse_options.h"
#include "rbdmove/core/plan.h"
#include "rbdmove/cli/progress.h"

/*
 * Which clouds and regions (p: struct plan_options *). A named
 * destination cloud is read from clouds.yaml only (plan.h).
 */
#define OPT_OPENSTACK_CLOUDS(p)                                                \
    OPT_STRING(0, "os-cloud", &(p)->src.cloud, "CLOUD",                        \
               "source cloud in clouds.yaml (default $OS_CLOUD, else OS_* "    \
               "variables)"),                                                  \
        OPT_STRING(0, "os-region-name", &(p)->src.region, "REGION",            \
                   "source region (default $OS_REGION_NAME or the cloud's)"),  \
        OPT_STRING(0, "dst-os-cloud", &(p)->dst.cloud, "CLOUD",                \
                   "destination cloud in clouds.yaml (default: the source "    \
                   "cloud)"),                                                  \
        OPT_STRING(0, "dst-os-region-name", &(p)->dst.region, "REGION",        \
                   "destination region (required)")

/* The server in the destination region (p: struct plan_options *). */
/* One region only (points, release): --os-cloud and --os-region-name,
 * into p->src; region_help says whose region it is. */
#define OPT_OPENSTACK_CLOUD(p, region_help)                                    \
    OPT_STRING(0, "os-cloud", &(p)->src.cloud, "CLOUD",                        \
               "cloud in clouds.yaml (default $OS_CLOUD, else OS_* "           \
               "variables)"),                                                  \
        OPT_STRING(0, "os-region-name", &(p)->src.region, "REGION",            \
                   region_help)

#define OPT_OPENSTACK_DST_SERVER(p)                                            \
    OPT_STRING(0, "dst-server", &(p)->dst_server, "SERVER",                    \
               "server (name or id) in the destination region to attach to")

/*
 * The volume created in the destination region (p: struct plan_options *);
 * what names it in the help ("the new volume", "the copy").
 */
#define OPT_OPENSTACK_NEW_VOLUME(p, what)                                      \
    OPT_STRING(0, "dst-volume-type", &(p)->dst_volume_type, "TYPE",            \
               "volume type of " what " (default: the source's type)"),        \
        OPT_STRING(0, "dst-availability-zone", &(p)->dst_availability_zone,    \
                   "ZONE",                                                     \
                   "availability zone of " what " (default: Cinder's)")

/* How to reach both clouds' endpoints (p: struct plan_options *). */
#define OPT_OPENSTACK_CONNECTION(p)                                            \
    OPT_CALLBACK(0, "os-interface", PARSE_OPT_CHECK(struct plan_options, p),   \
                 "INTERFACE", cli_options_interface,                           \
                 "endpoint interface: public (default), internal or admin"),   \
        OPT_STRING(0, "os-cacert", &(p)->src.cacert, "FILE",                   \
                   "CA bundle to verify TLS with (default $OS_CACERT, the "    \
                   "system's)"),                                               \
        OPT_STRING(0, "dst-os-cacert", &(p)->dst.cacert, "FILE",               \
                   "CA bundle for the destination cloud (default: "            \
                   "--os-cacert)"),                                            \
        OPT_CALLBACK(0, "insecure", PARSE_OPT_CHECK(struct plan_options, p),   \
                     NULL, cli_options_insecure,                               \
                     "do not verify TLS certificates (both clouds)"),          \
        OPT_UINT(0, "api-timeout", &(p)->api_timeout, "SECONDS", 1, 3600,      \
                 "each OpenStack API request at most this long, a try "        \
                 "(default 60)")

/* How long a Ceph connect and each Ceph operation may take. */
#define OPT_CEPH_TIMEOUT()                                                     \
    OPT_UINT(0, "ceph-timeout", &cli_ceph_timeout_s, "SECONDS", 1, 3600,       \
             "Ceph connect and operation timeout (default "                    \
             "$RBDMOVE_CEPH_TIMEOUT, else 60)")

/* An RBD pool name (v: const char **): name_is_safe, said why not. */
#define OPT_POOL(l, v, h)                                                      \
    OPT_CALLBACK(0, l, PARSE_OPT_CHECK(const char *, v), "POOL",               \
                 cli_options_pool, h)

/* A Ceph client id, without "client." (v: const char **). */
#define OPT_CEPH_ID(l, v, h)                                                   \
    OPT_CALLBACK(0, l, PARSE_OPT_CHECK(const char *, v), "ID",                 \
                 cli_options_ceph_id, h)

/*
 * The source and destination clusters of copy, verify, move and sync
 * (pointers to const char *). remote is how a remote destination is
 * written ("ssh://" or "--ssh"): its --dst-conf is a path there.
 */
#define OPT_CLUSTERS(src_conf, src_id, dst_conf, dst_id, remote)               \
    OPT_STRING(0, "src-conf", src_conf, "CONF",                                \
               "ceph configuration of the source cluster"),                    \
        OPT_CEPH_ID("src-id", src_id,                                          \
                    "ceph client id at the source "                            \
                    "(default admin)"),                                        \
        OPT_STRING(0, "dst-conf", dst_conf, "CONF",                            \
                   "ceph configuration of the destination (a path on HOST "    \
                   "with " remote ")"),                                        \
        OPT_CEPH_ID("dst-id", dst_id,                                          \
                    "ceph client id at the destination "                       \
                    "(default admin)"),                                        \
        OPT_CEPH_TIMEOUT()

/* The one cluster of export-diff, import-diff and receive. */
#define OPT_CLUSTER(conf, id)                                                  \
    OPT_STRING('c', "conf", conf, "CONF", "ceph configuration file"),          \
        OPT_CEPH_ID("id", id, "ceph client id (default admin)"),               \
        OPT_CEPH_TIMEOUT()

/* An ssh:// destination (r: struct cli_remote *). */
#define OPT_REMOTE(r)                                                          \
    OPT_STRING('i', "identity", &(r)->identity, "FILE",                        \
               "SSH private key (default: ssh-agent, then "                    \
               "~/.ssh/id_ed25519)"),                                          \
        OPT_STRING(0, "known-hosts", &(r)->known_hosts, "FILE",                \
                   "SSH known hosts (default ~/.ssh/known_hosts)"),            \
        OPT_BOOL(0, "accept-new-host-key", &(r)->accept_new_host_key,          \
                 "trust and record an unknown host's key (never a changed "    \
                 "one)"),                                                      \
        OPT_STRING(0, "remote-rbdmove", &(r)->remote_rbdmove, "PATH",          \
                   "rbdmove on the remote host (default rbdmove)"),            \
        OPT_UINT(0, "streams", &(r)->streams, "N", 1, 32,                      \
                 "parallel SSH streams (default: from the round trip)"),       \
        OPT_UINT_OPTARG(0, "compress", &(r)->compress_level, "LEVEL", 1, 19,   \
                        1,                                                     \
                        "zstd-compress the streams (level 1-19, default 1)"),  \
        OPT_SIZE(0, "bwlimit", &(r)->bwlimit, "RATE",                          \
                 "limit the total rate, bytes per second (e.g. 50M)"),         \
        OPT_CALLBACK(0, "receiver", PARSE_OPT_CHECK(bool, &(r)->receiver_rbd), \
                     "KIND", cli_options_receiver,                             \
                     "rbdmove (default) or rbd (plain rbd import-diff on "     \
                     "HOST)"),                                                 \
        OPT_SECONDS(0, "ssh-timeout", &(r)->timeout, "SECONDS",                \
                    "SSH connect and I/O timeout (default 30)")

/* --progress WHEN (v: enum progress_mode *). */
#define OPT_PROGRESS(v)                                                        \
    OPT_CALLBACK(0, "progress", PARSE_OPT_CHECK(enum progress_mode, v),        \
                 "WHEN", cli_options_progress,                                 \
                 "auto, always or never (default auto)")

/* The copy engine's request size and seed checkpoints (copy.h). */
#define OPT_CHUNK_SIZE(v)                                                      \
    OPT_SIZE_RANGE(0, "chunk-size", v, "SIZE", 4096, 64u << 20, 4096,          \
                   "bytes per request (default 4M)")
#define OPT_CHECKPOINT(v)                                                      \
    OPT_SIZE_RANGE(0, "checkpoint", v, "SIZE", 1u << 20, UINT64_MAX, 0,        \
                   "record seed progress every SIZE bytes (default 1G)")

/* The callbacks of the groups above. */
parse_option_fn cli_options_interface; /* both clouds' */
parse_option_fn cli_options_insecure;  /* both clouds */
parse_option_fn cli_options_receiver;  /* "rbdmove" or "rbd" */
parse_option_fn cli_options_progress;  /* progress_mode_parse */
parse_option_fn cli_options_ceph_id;   /* a safe name, not "client.X" */
parse_option_fn cli_options_pool;      /* a safe name */

struct copy_params;
/* After parsing: the buffers --window and --chunk-size ask for fit
 * COPY_MEMORY_MAX (a usage error before any connection otherwise). */
enum parse_options_status
cli_options_check_memory(const struct cli_command *cmd,
                         const struct copy_params *p);

#endif
