/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_copy.c: `rbdmove copy`, seed a destination image from a
 * snapshot of a live source, then incremental rounds until the delta is
 * small; run again, it moves only what changed (DR seeding).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/base/hash.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/base/log.h"
#include "rbdmove/cli/progress.h"
#include "rbdmove/cli/cli_remote.h"
#include "rbdmove/core/replicate.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/core/verify.h"

static const struct cli_command command = {
    "copy",
    "--src-conf CONF [--src-id ID] --dst-conf CONF [--dst-id ID] "
    "SRC_POOL/IMAGE DST_POOL/IMAGE|ssh://[USER@]HOST[:PORT]/POOL/IMAGE",
    "Copy an image to another cluster: seed from a snapshot of the live\n"
    "source, then incremental rounds until the change is small. One matching\n"
    "snapshot stays on both sides; a later run moves only what changed.",
};

struct copy_args {
    const char *src_conf, *src_id, *dst_conf, *dst_id;
    const char *src, *dst;
    bool verify;
    enum progress_mode progress;
    struct replicate_opts ro;
    struct cli_remote remote;
};

static enum parse_options_status parse(int argc, char **argv,
                                       struct copy_args *a)
{
    struct parse_option opts[] = {
        OPT_CLUSTERS(&a->src_conf, &a->src_id, &a->dst_conf, &a->dst_id,
                     "ssh://"),
        OPT_SIZE(0, "converge", &a->ro.converge, "SIZE",
                 "stop the rounds when less than SIZE changed (default 64M)"),
        OPT_UINT(0, "max-rounds", &a->ro.max_rounds, "N", 0, 60,
                 "incremental rounds at most, 0 (seed only) to 60 (default "
                 "10)"),
        OPT_BOOL(0, "verify", &a->verify,
                 "compare the base snapshots of both sides at the end"),
        OPT_BOOL(0, "allow-shrink", &a->ro.allow_shrink,
                 "follow a source that shrank"),
        OPT_UINT(0, "window", &a->ro.params.window, "N", 1, 256,
                 "chunks in flight per image (default 8)"),
        OPT_CHUNK_SIZE(&a->ro.params.chunk_size),
        OPT_PROGRESS(&a->progress),
        OPT_CHECKPOINT(&a->ro.params.checkpoint_every),
        OPT_BOOL(0, "json", &cli_json, "print JSON events on stdout"),
        OPT_REMOTE(&a->remote),
        OPT_END(),
    };
    enum parse_options_status st;
    struct image_spec is = {0};
    struct error err = ERROR_INIT;
    int n;

    st = parse_options(&command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n != 2)
        return parse_options_error(&command,
                                   "expected a source and a destination");
    if (!a->src_conf || !a->dst_conf)
        return parse_options_error(&command,
                                   "--src-conf and --dst-conf are required");
    a->src = argv[0];
    a->dst = argv[1];
    /* Before the first connection: a bad spec costs no Ceph timeout. */
    if (image_spec_parse(a->src, 0, &is, &err) < 0 ||
        cli_remote_check(&a->remote, a->dst, a->dst_conf, &err) < 0) {
        image_spec_release(&is);
        return parse_options_error(&command, "%s", err.msg);
    }
    image_spec_release(&is);
    return cli_options_check_memory(&command, &a->ro.params);
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
        json_out_u64(&j, "extent_bytes", ev->stats->extent_bytes);
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
                       struct dest *dst, const char *snap, unsigned window,
                       bool *equal, struct error *err)
{
    struct dest_hashes a = {0}, b = {0};
    struct verify_range r[4];
    struct image *img = NULL;
    uint64_t n;
    int ret = -1;

    progress_start("verify");
    if (image_open(src_cl, s->pool, s->name, snap, true, &img, err) < 0 ||
        verify_hash_image(img, VERIFY_BLOCK, window, progress_update, NULL, &a,
                          err) < 0 ||
        dest_hash(dst, snap, VERIFY_BLOCK, &b, err) < 0)
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
        unsigned w = verify_window(a->ro.params.window);

        dst->hash_window = w;
        if (verify_base(cl, s, dst, replicate_base(r), w, &equal, err) < 0)
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

/*
 * Over SSH the source is snapshotted while the login goes on: the
 * snapshot waits for the monitor (up to a second), the login for about
 * eight round trips, and one after the other they were most of a WAN
 * copy's fixed cost. The first round takes the snapshot (replicate.h,
 * early_snap); a run that needs none, or fails first, removes it.
 */
struct early {
    pthread_t th;
    bool started;
    struct cluster *cl;
    const struct image_spec *s;
    char *snap;
    uint64_t id;
};

static void *early_main(void *arg)
{
    struct early *e = arg;
    struct error err = ERROR_INIT;

    if (replicate_snapshot_early(e->cl, e->s->pool, e->s->name, 0, &e->snap,
                                 &e->id, &err) < 0)
        log_debug("no early snapshot: %s", err.msg); /* the open says why */
    return NULL;
}

static void early_start(struct early *e, struct cluster *cl,
                        const struct image_spec *s)
{
    *e = (struct early){.cl = cl, .s = s};
    if (s->snap)
        return;
    e->started = pthread_create(&e->th, NULL, early_main, e) == 0;
}

/* Its snapshot into ro, or removed (drop: the copy does not go on). */
static void early_finish(struct early *e, struct replicate_opts *ro, bool drop)
{
    if (!e->started)
        return;
    pthread_join(e->th, NULL);
    e->started = false;
    if (e->snap && drop)
        replicate_snapshot_drop(e->cl, e->s->pool, e->s->name, e->snap);
    if (e->snap && !drop) {
        ro->early_snap = e->snap;
        ro->early_snap_id = e->id;
    }
}

/*
 * A local destination's run lock: copy keeps no journal, so a run killed
 * with the destination's exclusive lock left it to a dead client, and the
 * next run's lock request waited out that client's watch (30 s, silent).
 * The lock "copy-HASH" in the state directory (journal_lock_name; HASH of
 * the cluster's fsid, pool and image) is held for the run: taking it
 * proves that every earlier copy to that image from this host has ended,
 * so the client address its note recorded is dead and its lock is broken
 * at once (dest_set_dead_owner). Another copy to the image from this host
 * is refused here, as the image's lock would refuse it. A state directory
 * that cannot be used costs only that wait: the copy goes on.
 */
static int run_lock(const char *spec, struct cli_session *rs, struct dest *dst,
                    int *fd, struct error *err)
{
    struct cluster *cl = cli_session_cluster(rs);
    struct error e = ERROR_INIT;
    char name[64], *dir, *key;
    int ret = 0;

    *fd = -1;
    if (!cl)
        return 0; /* ssh://: the receiver ends with the session */
    key = xasprintf("%s/%s", cluster_fsid(cl), spec);
    snprintf(name, sizeof(name), "copy-%016" PRIx64,
             hash_xxh64(key, strlen(key), 0));
    free(key);
    dir = journal_default_dir();
    if (journal_lock_name(dir, name, fd, &e) < 0) {
        if (e.kind == ERROR_BUSY) {
            *err = e;
            ret = error_prefix(err,
                               "'%s' is in use by another client (a copy "
                               "from this host)",
                               spec);
        } else {
            log_info("no run lock for '%s' (%s): after a killed run, "
                     "its lock is waited for",
                     spec, e.msg);
        }
        free(dir);
        return ret;
    }
    dest_take_over_note(dst, dir, name);
    free(dir);
    return 0;
}

int cmd_copy(int argc, char **argv)
{
    struct copy_args a;
    struct image_spec s = {0};
    struct error err = ERROR_INIT;
    struct cluster *src_cl = NULL;
    struct dest *dst = NULL;
    struct cli_session *rs = NULL;
    struct early early = {0};
    enum parse_options_status st;
    int ret, r, lock_fd = -1;

    memset(&a, 0, sizeof(a));
    replicate_opts_init(&a.ro);
    cli_remote_init(&a.remote);
    st = parse(argc, argv, &a);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    if (image_spec_parse(a.src, 0, &s, &err) < 0)
        return cli_usage_error(&command, "%s", err.msg);
    progress_setup(a.progress, cli_json);
    cli_install_signals();
    r = cluster_connect(a.src_conf, a.src_id, cli_ceph_timeout(), &src_cl,
                        &err);
    if (r == 0 && !strncmp(a.dst, "ssh://", 6))
        early_start(&early, src_cl, &s);
    if (r == 0)
        r = cli_remote_dest(&a.remote, a.dst, a.dst_conf, a.dst_id, &dst, &rs,
                            &err);
    if (r == 0)
        r = run_lock(a.dst, rs, dst, &lock_fd, &err);
    early_finish(&early, &a.ro, r < 0);
    if (r < 0 || run(&a, &s, src_cl, dst, &err) < 0) {
        cli_error_event("copy", &err);
        ret = cli_report_error(&err);
        goto out;
    }
    ret = EXIT_OK;
out:
    free(early.snap);
    dest_free(dst); /* the image's lock goes, then the run lock */
    journal_unlock_name(lock_fd);
    cli_session_free(rs);
    cluster_close(src_cl);
    image_spec_release(&s);
    return ret;
}
