/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cmd_copy.c: `rbdmove copy`, seed a destination image from a
 * snapshot of a live source, then incremental rounds until the delta is
 * small; run again, it moves only what changed (DR seeding).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rbdmove/cli.h"
#include "rbdmove/cluster.h"
#include "rbdmove/commands.h"
#include "rbdmove/dest.h"
#include "rbdmove/image.h"
#include "rbdmove/json_out.h"
#include "rbdmove/log.h"
#include "rbdmove/progress.h"
#include "rbdmove/cli_remote.h"
#include "rbdmove/replicate.h"
#include "rbdmove/strutil.h"
#include "rbdmove/verify.h"

enum {
    OPT_SRC_CONF = 256,
    OPT_SRC_ID,
    OPT_DST_CONF,
    OPT_DST_ID,
    OPT_CONVERGE,
    OPT_MAX_ROUNDS,
    OPT_VERIFY,
    OPT_ALLOW_SHRINK,
    OPT_WINDOW,
    OPT_CHUNK,
    OPT_PROGRESS,
    OPT_JSON,
    OPT_CHECKPOINT,
};

static const struct cli_option options[] = {
    {"src-conf", required_argument, OPT_SRC_CONF, "CONF",
     "ceph configuration of the source cluster"},
    {"src-id", required_argument, OPT_SRC_ID, "ID",
     "ceph client id at the source (default admin)"},
    {"dst-conf", required_argument, OPT_DST_CONF, "CONF",
     "ceph configuration of the destination (a path on HOST with ssh://)"},
    {"dst-id", required_argument, OPT_DST_ID, "ID",
     "ceph client id at the destination (default admin)"},
    {"converge", required_argument, OPT_CONVERGE, "SIZE",
     "stop the rounds when less than SIZE changed (default 64M)"},
    {"max-rounds", required_argument, OPT_MAX_ROUNDS, "N",
     "incremental rounds at most (default 10)"},
    {"verify", no_argument, OPT_VERIFY, NULL,
     "compare the base snapshots of both sides at the end"},
    {"allow-shrink", no_argument, OPT_ALLOW_SHRINK, NULL,
     "follow a source that shrank"},
    {"window", required_argument, OPT_WINDOW, "N",
     "chunks in flight per image (default 8)"},
    {"chunk-size", required_argument, OPT_CHUNK, "SIZE",
     "bytes per request (default 4M)"},
    {"progress", required_argument, OPT_PROGRESS, "WHEN",
     "auto, always or never (default auto)"},
    {"checkpoint", required_argument, OPT_CHECKPOINT, "SIZE",
     "record seed progress every SIZE bytes (default 1G)"},
    {"json", no_argument, OPT_JSON, NULL, "print JSON events on stdout"},
    REMOTE_CLI_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_command command = {
    "copy",
    "--src-conf CONF [--src-id ID] --dst-conf CONF [--dst-id ID] "
    "SRC_POOL/IMAGE DST_POOL/IMAGE|ssh://[USER@]HOST[:PORT]/POOL/IMAGE",
    "Copy an image to another cluster: seed from a snapshot of the live\n"
    "source, then incremental rounds until the change is small. One matching\n"
    "snapshot stays on both sides; a later run moves only what changed.",
    options,
};

struct copy_args {
    const char *src_conf, *src_id, *dst_conf, *dst_id;
    const char *src, *dst;
    bool verify;
    enum progress_mode progress;
    struct replicate_opts ro;
    struct cli_remote remote;
};

static int parse_opt(int c, struct copy_args *a, struct error *err)
{
    uint64_t v;

    switch (c) {
    case OPT_SRC_CONF:
        a->src_conf = optarg;
        return 0;
    case OPT_SRC_ID:
        a->src_id = optarg;
        return 0;
    case OPT_DST_CONF:
        a->dst_conf = optarg;
        return 0;
    case OPT_DST_ID:
        a->dst_id = optarg;
        return 0;
    case OPT_CONVERGE:
        return parse_size(optarg, "--converge", &a->ro.converge, err);
    case OPT_MAX_ROUNDS:
        if (parse_uint(optarg, "--max-rounds", 0, 1000, &v, err) < 0)
            return -1;
        a->ro.max_rounds = (unsigned)v;
        return 0;
    case OPT_VERIFY:
        a->verify = true;
        return 0;
    case OPT_ALLOW_SHRINK:
        a->ro.allow_shrink = true;
        return 0;
    case OPT_WINDOW:
        if (parse_uint(optarg, "--window", 1, 256, &v, err) < 0)
            return -1;
        a->ro.params.window = (unsigned)v;
        return 0;
    case OPT_CHUNK:
        if (parse_size(optarg, "--chunk-size", &v, err) < 0)
            return -1;
        if (v < 4096 || v > (64u << 20) || v % 4096)
            return error_set(err, ERROR_USAGE, 0,
                             "--chunk-size must be a multiple of 4K between "
                             "4K and 64M");
        a->ro.params.chunk_size = (size_t)v;
        return 0;
    case OPT_PROGRESS:
        return progress_mode_parse(optarg, &a->progress, err);
    case OPT_CHECKPOINT:
        if (parse_size(optarg, "--checkpoint", &v, err) < 0)
            return -1;
        if (v < (1u << 20))
            return error_set(err, ERROR_USAGE, 0,
                             "--checkpoint must be at least 1M");
        a->ro.params.checkpoint_every = v;
        return 0;
    case OPT_JSON:
        cli_json = true;
        return 0;
    default:
        return cli_remote_option(&a->remote, c, optarg, err);
    }
}

static int parse(int argc, char **argv, struct copy_args *a)
{
    struct cli_parser p;
    struct error err = ERROR_INIT;
    int c, ret = -1;

    cli_parser_init(&p, &command);
    while ((c = cli_next(&p, argc, argv)) != -1) {
        if (c == CLI_DONE_HELP || c == CLI_DONE_USAGE) {
            ret = c == CLI_DONE_HELP ? EXIT_OK : EXIT_USAGE;
            goto out;
        }
        if (parse_opt(c, a, &err) < 0) {
            ret = cli_usage_error(&command, "%s", err.msg);
            goto out;
        }
    }
    if (argc - optind != 2)
        ret = cli_usage_error(&command, "expected a source and a destination");
    else if (!a->src_conf || !a->dst_conf)
        ret = cli_usage_error(&command, "--src-conf and --dst-conf are "
                                        "required");
    a->src = argv[optind];
    a->dst = argv[optind + 1];
out:
    cli_parser_release(&p);
    return ret;
}

static void print_event(void *ctx, const struct replicate_event *ev)
{
    struct json_out j = JSON_OUT_INIT;
    char b1[32], b2[32], b3[32], label[32];

    (void)ctx;
    if (ev->kind == REPLICATE_EV_INFO) {
        log_info("%s", ev->msg);
        return;
    }
    if (ev->round)
        snprintf(label, sizeof(label), "round %u", ev->round);
    else
        snprintf(label, sizeof(label), "seed");
    json_out_object_begin(&j, NULL);
    if (ev->kind == REPLICATE_EV_ROUND_START) {
        progress_start(label);
        log_info("%s: snapshot '%s'%s", label, ev->snap,
                 ev->round ? ", moving the changes since the last one" : "");
        json_out_str(&j, "event", "round_start");
        json_out_u64(&j, "round", ev->round);
        json_out_str(&j, "snap", ev->snap);
        json_out_u64(&j, "estimate", ev->estimate);
    } else {
        progress_stop();
        fprintf(stderr, "%s: %s of data, %s of zeros in %.1f s (%s/s)\n", label,
                format_bytes(ev->stats->data_bytes, b1, sizeof(b1)),
                format_bytes(ev->stats->zero_bytes, b2, sizeof(b2)),
                ev->stats->seconds,
                format_bytes(ev->stats->seconds > 0
                                 ? (uint64_t)((double)ev->stats->extent_bytes /
                                              ev->stats->seconds)
                                 : 0,
                             b3, sizeof(b3)));
        json_out_str(&j, "event", "round_done");
        json_out_u64(&j, "round", ev->round);
        json_out_str(&j, "snap", ev->snap);
        json_out_u64(&j, "data_bytes", ev->stats->data_bytes);
        json_out_u64(&j, "zero_bytes", ev->stats->zero_bytes);
        json_out_u64(&j, "stream_bytes", ev->stats->stream_bytes);
        json_out_double(&j, "seconds", ev->stats->seconds);
    }
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

struct verify_job {
    struct cluster *cl;
    const char *pool, *image, *snap;
    struct dest_hashes h;
    struct error err;
    int ret;
};

static int verify_base(struct cluster *src_cl, const struct image_spec *s,
                       struct dest *dst, const char *snap, bool *equal,
                       struct error *err)
{
    struct dest_hashes a = {0}, b = {0};
    struct verify_range r[4];
    struct image *img = NULL;
    uint64_t n;
    int ret = -1;

    progress_start("verify");
    if (image_open(src_cl, s->pool, s->name, snap, true, &img, err) < 0 ||
        verify_hash_image(img, VERIFY_BLOCK, 16, progress_update, NULL, &a,
                          err) < 0 ||
        dst->ops->hash(dst, snap, VERIFY_BLOCK, &b, err) < 0)
        goto out;
    n = verify_compare(&a, &b, r, 4);
    *equal = n == 0;
    for (uint64_t i = 0; i < n && i < 4; i++)
        log_error("differs at [%" PRIu64 ", %" PRIu64 ")", r[i].off,
                  r[i].off + r[i].len);
    ret = 0;
out:
    progress_stop();
    image_close(img);
    dest_hashes_release(&a);
    dest_hashes_release(&b);
    return ret;
}

static void print_done(const struct copy_args *a, struct replicate *r,
                       bool converged, int verified)
{
    struct json_out j = JSON_OUT_INIT;

    fprintf(stderr, "%s is '%s@%s' (%u incremental round%s%s)%s\n", a->dst,
            a->src, replicate_base(r), replicate_rounds(r),
            replicate_rounds(r) == 1 ? "" : "s",
            converged ? "" : ", did not converge",
            verified > 0 ? ", verified equal" : "");
    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", "done");
    json_out_str(&j, "base_snap", replicate_base(r));
    json_out_u64(&j, "rounds", replicate_rounds(r));
    json_out_bool(&j, "converged", converged);
    if (verified >= 0)
        json_out_bool(&j, "verified", verified > 0);
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

static int run(struct copy_args *a, const struct image_spec *s,
               struct cluster *cl, struct dest *dst, struct error *err)
{
    struct replicate *r = NULL;
    bool converged = false, equal = false;
    int verified = -1;
    int ret = -1;

    a->ro.event = print_event;
    a->ro.params.progress = progress_callback();
    /* Over SSH the streams carry the limit (dest_remote.c). */
    if (strncmp(a->dst, "ssh://", 6))
        a->ro.params.bwlimit = a->remote.bwlimit;
    a->ro.params.cancel = cli_cancelled;
    if (replicate_open(cl, s->pool, s->name, dst, &a->ro, &r, err) < 0)
        return -1;
    if (replicate_run(r, &converged, err) < 0)
        goto out;
    if (a->verify) {
        if (verify_base(cl, s, dst, replicate_base(r), &equal, err) < 0)
            goto out;
        if (!equal) {
            error_set(err, ERROR_MISMATCH, 0, "'%s@%s' and '%s@%s' differ",
                      a->src, replicate_base(r), a->dst, replicate_base(r));
            goto out;
        }
        verified = 1;
    }
    print_done(a, r, converged, verified);
    ret = 0;
out:
    replicate_close(r);
    return ret;
}

int cmd_copy(int argc, char **argv)
{
    struct copy_args a;
    struct image_spec s = {0};
    struct error err = ERROR_INIT;
    struct cluster *src_cl = NULL;
    struct dest *dst = NULL;
    struct cli_session *rs = NULL;
    int ret;

    memset(&a, 0, sizeof(a));
    replicate_opts_init(&a.ro);
    cli_remote_init(&a.remote);
    ret = parse(argc, argv, &a);
    if (ret >= 0)
        return ret;
    if (image_spec_parse(a.src, 0, &s, &err) < 0)
        return cli_usage_error(&command, "%s", err.msg);
    progress_setup(a.progress, cli_json);
    cli_install_signals();
    if (cluster_connect(a.src_conf, a.src_id, cli_ceph_timeout(), &src_cl,
                        &err) < 0 ||
        cli_remote_dest(&a.remote, a.dst, a.dst_conf, a.dst_id, &dst, &rs,
                        &err) < 0 ||
        run(&a, &s, src_cl, dst, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    ret = EXIT_OK;
out:
    dest_free(dst);
    cli_session_free(rs);
    cluster_close(src_cl);
    image_spec_release(&s);
    return ret;
}
