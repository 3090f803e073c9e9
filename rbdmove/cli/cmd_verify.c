/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_verify.c: `rbdmove verify`, compare two snapshots block by
 * block, hashing both sides at once. Exit status as cmp(1): 0 equal,
 * 1 different, 2 trouble (usage, or the comparison could not be made).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/cli/cli_remote.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/base/log.h"
#include "rbdmove/cli/progress.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/core/verify.h"
#include "rbdmove/base/xalloc.h"

static const struct cli_command command = {
    "verify",
    "--src-conf CONF --dst-conf CONF SRC_POOL/IMAGE@SNAP "
    "DST_POOL/IMAGE@SNAP|ssh://[USER@]HOST[:PORT]/POOL/IMAGE@SNAP",
    "Compare two snapshots in 4 MiB blocks, hashing both sides in parallel\n"
    "and reading only allocated data. Exits 0 when equal, 1 when not (naming\n"
    "the first differing ranges), 2 when they could not be compared.",
};

struct verify_args {
    const char *src_conf, *src_id, *dst_conf, *dst_id;
    const char *src, *dst;
    enum progress_mode progress;
    struct cli_remote remote;
};

static enum parse_options_status parse(int argc, char **argv,
                                       struct verify_args *a)
{
    struct parse_option opts[] = {
        OPT_CLUSTERS(&a->src_conf, &a->src_id, &a->dst_conf, &a->dst_id,
                     "ssh://"),
        OPT_PROGRESS(&a->progress),
        OPT_BOOL(0, "json", &cli_json, "print the result as JSON"),
        OPT_REMOTE(&a->remote),
        OPT_END(),
    };
    enum parse_options_status st;
    int n;

    st = parse_options(&command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n != 2)
        return parse_options_error(&command, "expected two snapshots");
    if (!a->src_conf || !a->dst_conf)
        return parse_options_error(&command,
                                   "--src-conf and --dst-conf are required");
    a->src = argv[0];
    a->dst = argv[1];
    return PARSE_OPT_DONE;
}

struct hash_job {
    struct dest *d;
    const char *snap;
    struct dest_hashes h;
    struct error err;
    int ret;
};

static void *hash_thread(void *arg)
{
    struct hash_job *j = arg;

    j->ret = dest_hash(j->d, j->snap, VERIFY_BLOCK, &j->h, &j->err);
    return NULL;
}

/* Split "...@SNAP" off a destination argument. */
static char *split_snap(const char *s, char **snap)
{
    const char *at = strrchr(s, '@');
    const char *slash = strrchr(s, '/');

    *snap = NULL;
    if (!at || (slash && at < slash))
        return NULL;
    *snap = xstrdup(at + 1);
    return xstrndup(s, (size_t)(at - s));
}

static void report(const struct verify_args *a, const struct verify_range *r,
                   uint64_t n, uint64_t size)
{
    struct json_out j = JSON_OUT_INIT;

    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", "verify");
    json_out_bool(&j, "equal", n == 0);
    json_out_u64(&j, "size", size);
    json_out_array_begin(&j, "differences");
    for (uint64_t i = 0; i < n && i < 8; i++) {
        json_out_object_begin(&j, NULL);
        json_out_u64(&j, "offset", r[i].off);
        json_out_u64(&j, "length", r[i].len);
        json_out_object_end(&j);
        log_error("'%s' and '%s' differ in [%" PRIu64 ", %" PRIu64 ")", a->src,
                  a->dst, r[i].off, r[i].off + r[i].len);
    }
    json_out_array_end(&j);
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
    if (n > 8)
        log_error("... and %" PRIu64 " more differing ranges", n - 8);
    if (n == 0)
        fprintf(stderr, "'%s' and '%s' are equal\n", a->src, a->dst);
}

static int compare(struct dest *src, const char *src_snap, struct dest *dst,
                   const char *dst_snap, const struct verify_args *a,
                   bool *equal, struct error *err)
{
    struct hash_job js = {src, src_snap, {0}, ERROR_INIT, 0};
    struct hash_job jd = {dst, dst_snap, {0}, ERROR_INIT, 0};
    struct verify_range r[8];
    pthread_t th;
    uint64_t n;
    int ret = -1;

    if (pthread_create(&th, NULL, hash_thread, &jd) != 0)
        return error_set(err, ERROR_IO, 0, "cannot start a thread");
    hash_thread(&js);
    pthread_join(th, NULL);
    if (js.ret < 0 || jd.ret < 0) {
        *err = js.ret < 0 ? js.err : jd.err;
        goto out;
    }
    n = verify_compare(&js.h, &jd.h, r, 8);
    report(a, r, n, js.h.size);
    *equal = n == 0;
    ret = 0;
out:
    dest_hashes_release(&js.h);
    dest_hashes_release(&jd.h);
    return ret;
}

int cmd_verify(int argc, char **argv)
{
    struct verify_args a;
    struct error err = ERROR_INIT;
    struct cluster *cl = NULL;
    struct image_spec s = {0};
    struct dest *src = NULL, *dst = NULL;
    struct cli_session *ses = NULL;
    char *dst_base = NULL, *dst_snap = NULL;
    struct buf why = BUF_INIT;
    bool equal = false;
    enum parse_options_status st;
    int ret;

    memset(&a, 0, sizeof(a));
    cli_remote_init(&a.remote);
    st = parse(argc, argv, &a);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    dst_base = split_snap(a.dst, &dst_snap);
    if (!dst_base) {
        ret = cli_usage_error(&command, "'%s': a snapshot (@SNAP) is required",
                              a.dst);
        goto out;
    }
    if (cli_remote_check(&a.remote, dst_base, a.dst_conf, &err) < 0 ||
        image_spec_parse(a.src, 1, &s, &err) < 0) {
        ret = cli_usage_error(&command, "%s", err.msg);
        goto out;
    }
    if (name_problem(dst_snap, &why)) {
        ret = cli_usage_error(&command, "'%s': the snapshot name %s", a.dst,
                              buf_str(&why));
        goto out;
    }
    progress_setup(a.progress, cli_json);
    ret = EXIT_USAGE;
    if (cluster_connect(a.src_conf, a.src_id, cli_ceph_timeout(), &cl, &err) <
            0 ||
        cli_remote_dest(&a.remote, dst_base, a.dst_conf, a.dst_id, &dst, &ses,
                        &err) < 0)
        goto fail;
    src = dest_local_new(cl, s.pool, s.name);
    dest_local_set_progress(src, progress_update, NULL);
    progress_start("verify");
    if (compare(src, s.snap, dst, dst_snap, &a, &equal, &err) < 0)
        goto fail;
    progress_stop();
    ret = equal ? EXIT_OK : EXIT_FAIL;
    goto out;
fail:
    cli_error_event("verify", &err);
    cli_report_error(&err);
    ret = EXIT_USAGE;
out:
    dest_free(src);
    dest_free(dst);
    cli_session_free(ses);
    cluster_close(cl);
    image_spec_release(&s);
    free(dst_base);
    free(dst_snap);
    buf_release(&why);
    return ret;
}
