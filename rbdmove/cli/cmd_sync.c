/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_sync.c: `rbdmove sync`, a disaster-recovery copy of a volume
 * kept in another region (migrate_sync). It shares the destinations and
 * the events with move (cmd_move_int.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/cli/cmd_move_int.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/cli/metrics.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/core/migrate.h"
#include "rbdmove/core/retention.h"
#include "rbdmove/cli/progress.h"

/* ---- sync
 * ------------------------------------------------------------------------ */

static const struct cli_command sync_command = {
    "sync",
    "[--os-cloud CLOUD] [--os-region-name REGION] [--dst-os-cloud CLOUD]\n"
    "       --dst-os-region-name REGION --src-conf CONF --dst-conf CONF\n"
    "       [--ssh [USER@]HOST[:PORT]] [--json] (VOLUME | --server SERVER)",
    "Keep a disaster-recovery copy of VOLUME in another region: the first\n"
    "run creates the copy (a volume marked rbdmove.sync_of) and seeds it,\n"
    "every later run moves only what changed. Nothing is detached. With\n"
    "--server, every data volume of SERVER, their recovery points taken at\n"
    "one instant (an RBD group snapshot).",
};

static const char *metrics_file;
static const char *sync_server;
static const char *sync_keep;
static struct retention sync_policy;

/* The options of sync. The caller frees. */
static struct parse_option *sync_options(struct move_args *a)
{
    struct plan_options *p = &a->mo.plan;
    const struct parse_option opts[] = {
        OPT_OPENSTACK_CLOUDS(p),
        OPT_CLUSTERS(&a->mo.src_conf, &a->mo.src_id, &a->dst_conf, &a->dst_id,
                     "--ssh"),
        OPT_STRING(0, "ssh", &a->ssh, "[USER@]HOST[:PORT]",
                   "reach the destination cluster through an rbdmove receiver "
                   "on HOST"),
        OPT_SIZE(0, "converge", &a->converge, "SIZE",
                 "stop the rounds when less than SIZE changed (default 64M)"),
        OPT_UINT(0, "max-rounds", &a->mo.max_rounds, "N", 1, 60,
                 "incremental rounds at most (default 10)"),
        OPT_STRING(0, "keep", &sync_keep, "N|POLICY",
                   "recovery points the copy keeps: the newest N, or a "
                   "policy such as 24h:hourly,7d:daily (default 1: the last "
                   "sync only)"),
        OPT_STRING(0, "server", &sync_server, "SERVER",
                   "sync every data volume of SERVER (name or id, source "
                   "region) at one instant, instead of one VOLUME"),
        OPT_BOOL(0, "verify", &a->verify,
                 "compare the snapshots both sides share at the end"),
        OPT_OPENSTACK_NEW_VOLUME(p, "the copy"),
        OPT_POOL("src-pool", &a->mo.src_pool,
                 "source RBD pool (default: from Cinder, else volumes)"),
        OPT_POOL("dst-pool", &a->mo.dst_pool,
                 "destination RBD pool (default: from Cinder, else volumes)"),
        OPT_UINT(0, "window", &a->mo.params.window, "N", 1, 256,
                 "chunks in flight per image (default 8)"),
        OPT_CHUNK_SIZE(&a->mo.params.chunk_size),
        OPT_OPENSTACK_CONNECTION(p),
        OPT_BOOL(0, "json", &cli_json, "print JSON events on stdout"),
        OPT_PROGRESS(&a->progress),
        OPT_REMOTE(&a->remote),
        OPT_STRING(0, "state-dir", &a->state_dir, "DIR",
                   "where the volume's sync lock is (default "
                   "$XDG_STATE_HOME/rbdmove, else ~/.local/state/rbdmove)"),
        OPT_STRING(0, "metrics-file", &metrics_file, "PATH",
                   "write Prometheus metrics of this run to PATH "
                   "(node_exporter's textfile collector)"),
        OPT_END(),
    };
    struct parse_option *copy = xmalloc(sizeof(opts));

    memcpy(copy, opts, sizeof(opts));
    return copy;
}

static enum parse_options_status parse_sync(int argc, char **argv,
                                            struct move_args *a)
{
    struct parse_option *opts = sync_options(a);
    enum parse_options_status st;
    int n;

    st = parse_options(&sync_command, opts, argc, argv, &n);
    free(opts);
    if (st != PARSE_OPT_DONE)
        return st;
    /* The systemd unit passes ${VOLUME}, empty for a server. */
    if (sync_server && n == 1 && !argv[0][0])
        n = 0;
    if (sync_server && (n != 0 || !sync_server[0]))
        return parse_options_error(&sync_command,
                                   n ? "give one volume or --server, not "
                                       "both"
                                     : "--server needs a server");
    if (!sync_server && (n != 1 || !argv[0][0]))
        return parse_options_error(&sync_command, "expected one volume");
    if (!a->mo.plan.dst.region)
        return parse_options_error(&sync_command,
                                   "--dst-os-region-name is required");
    if (!a->mo.src_conf || !a->dst_conf)
        return parse_options_error(&sync_command,
                                   "--src-conf and --dst-conf are required");
    a->mo.plan.volume = sync_server ? NULL : argv[0];
    if (sync_keep) {
        struct error err = ERROR_INIT;

        if (retention_parse(sync_keep, &sync_policy, &err) < 0)
            return parse_options_error(&sync_command, "%s", err.msg);
    }
    if (metrics_file) {
        /* Found out now, not after an hour of copying. */
        char *d = xstrdup(metrics_file);
        char *slash = strrchr(d, '/');
        bool ok;

        if (slash)
            *(slash == d ? slash + 1 : slash) = '\0';
        ok = !!metrics_file[0] && access(slash ? d : ".", W_OK) == 0;
        free(d);
        if (!ok)
            return parse_options_error(&sync_command,
                                       "--metrics-file '%s': cannot write "
                                       "in its directory",
                                       metrics_file);
    }
    st = check_destination(&sync_command, a);
    if (st != PARSE_OPT_DONE)
        return st;
    return cli_options_check_memory(&sync_command, &a->mo.params);
}

int sync_check_option(const char *name, const char *value,
                      enum parse_option_arg *arg, struct error *err)
{
    struct move_args a;
    struct parse_option *opts;
    int ret;

    args_init(&a);
    opts = sync_options(&a);
    ret = parse_options_try(opts, name, value, arg, err);
    free(opts);
    if (ret == 0 && !strcmp(name, "keep")) {
        struct retention r;

        if (retention_parse(value, &r, err) < 0)
            return -1;
    }
    return ret;
}

int sync_check_args(int argc, char **argv)
{
    struct move_args a;

    args_init(&a);
    return parse_sync(argc, argv, &a) == PARSE_OPT_DONE ? EXIT_OK : EXIT_USAGE;
}

static void print_synced(const struct migrate_sync_result *r)
{
    struct json_out j = JSON_OUT_INIT;

    fprintf(stderr,
            "rbdmove: volume %s holds the source as of snapshot '%s' (%s, %u "
            "incremental round%s%s%s)\n",
            r->dst_volume_id, r->base, r->created ? "created" : "updated",
            r->rounds, r->rounds == 1 ? "" : "s",
            r->converged ? "" : ", did not converge",
            r->verified ? ", verified equal" : "");
    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", "done");
    json_out_str(&j, "dst_volume_id", r->dst_volume_id);
    json_out_bool(&j, "created", r->created);
    json_out_str(&j, "base_snap", r->base);
    json_out_u64(&j, "rounds", r->rounds);
    json_out_bool(&j, "converged", r->converged);
    json_out_bool(&j, "verified", r->verified);
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

/* What the metrics need from the events, then the events as usual. */
struct sync_watch {
    uint64_t bytes;
    double round_start; /* when the last round began: its snapshot */
};

static void watch_event(void *ctx, const struct migrate_event *ev)
{
    struct sync_watch *w = ctx;

    if (!strcmp(ev->phase, "seed") || !strcmp(ev->phase, "round")) {
        if (ev->stats)
            w->bytes += ev->stats->data_bytes;
        else
            w->round_start = time_wall();
    }
    on_event((void *)"sync", ev);
}

static int write_metrics(const char *volume, double start, int status,
                         const struct sync_watch *w, int points)
{
    struct sync_metrics m = {volume,   start, time_wall(), status,
                             w->bytes, 0,     points};
    struct error err = ERROR_INIT;

    /* No round at all (already up to date): the point is still the base
     * of an earlier run, whose time only the old file knows. */
    m.point_time = w->round_start > 0 ? w->round_start : -1;
    if (metrics_write(metrics_file, &m, &err) < 0) {
        log_error("%s", err.msg);
        return EXIT_FAIL;
    }
    return status;
}

/* sync --server: the volumes' copies take one point together. */
static int sync_group(struct migrate_sync_opts *so, struct sync_watch *w,
                      double start)
{
    struct migrate_sync_opts *os = NULL;
    struct migrate_sync_result *res = NULL;
    struct error err = ERROR_INIT;
    char server_id[37] = "", **ids = NULL;
    size_t n = 0;
    int ret, points = -1;

    if (migrate_server_volumes(&so->m.plan, sync_server, &ids, &n, server_id,
                               &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    if (n > 16) {
        error_set(&err, ERROR_USAGE, 0,
                  "server %s has %zu data volumes; at most 16 are synced "
                  "together",
                  server_id, n);
        ret = cli_report_error(&err);
        goto out;
    }
    os = xcalloc(n, sizeof(*os));
    res = xcalloc(n, sizeof(*res));
    for (size_t i = 0; i < n; i++) {
        os[i] = *so;
        os[i].m.plan.volume = ids[i];
    }
    fprintf(stderr, "rbdmove: syncing %zu volume%s of server %s together\n", n,
            n == 1 ? "" : "s", server_id);
    if (migrate_sync_group(os, n, server_id, res, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        print_synced(&res[i]);
        if (points < 0 || (int)res[i].points < points)
            points = (int)res[i].points;
    }
    ret = EXIT_OK;
out:
    if (metrics_file)
        ret = write_metrics(sync_server, start, ret, w,
                            ret == EXIT_OK ? points : -1);
    for (size_t i = 0; res && i < n; i++)
        migrate_sync_result_release(&res[i]);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(os);
    free(res);
    return ret;
}

int cmd_sync(int argc, char **argv)
{
    struct move_args a;
    struct migrate_sync_opts so;
    struct migrate_sync_result res;
    struct dest_ctx dc;
    struct error err = ERROR_INIT;
    enum parse_options_status st;
    struct sync_watch w = {0, 0};
    double start = time_wall();
    char *dir;
    int ret;

    args_init(&a);
    a.mo.max_rounds = 10;
    st = parse_sync(argc, argv, &a);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    dir = a.state_dir ? xstrdup(a.state_dir) : journal_default_dir();
    memset(&dc, 0, sizeof(dc));
    dc.a = &a;
    memset(&so, 0, sizeof(so));
    so.m = a.mo;
    so.m.ceph_timeout = cli_ceph_timeout();
    so.m.make_dest = make_dest;
    so.m.make_dest_ctx = &dc;
    so.m.event = watch_event;
    so.m.event_ctx = &w;
    so.state_dir = dir;
    progress_setup(a.progress, cli_json);
    so.m.params.progress = progress_callback();
    if (!a.ssh)
        so.m.params.bwlimit = a.remote.bwlimit;
    so.m.params.cancel = cli_cancelled;
    so.converge = a.converge;
    so.max_rounds = a.mo.max_rounds;
    so.verify = a.verify;
    so.keep = sync_keep ? &sync_policy : NULL;
    {
        /* Tests: a clock hours ahead, to make hourly points in seconds. */
        const char *off = getenv("RBDMOVE_TEST_CLOCK_OFFSET");

        so.clock_offset = off ? strtoll(off, NULL, 10) : 0;
    }
    progress_setup(a.progress, cli_json);
    cli_install_signals();
    if (sync_server) {
        ret = sync_group(&so, &w, start);
        progress_stop();
        for (unsigned i = 0; i < dc.n; i++)
            cli_session_free(dc.sessions[i]);
        free(dir);
        return ret;
    }
    ret = migrate_sync(&so, &res, &err);
    progress_stop();
    for (unsigned i = 0; i < dc.n; i++)
        cli_session_free(dc.sessions[i]);
    free(dir);
    if (ret < 0) {
        ret = cli_report_error(&err);
        return metrics_file
                   ? write_metrics(a.mo.plan.volume, start, ret, &w, -1)
                   : ret;
    }
    print_synced(&res);
    ret = metrics_file ? write_metrics(a.mo.plan.volume, start, EXIT_OK, &w,
                                       (int)res.points)
                       : EXIT_OK;
    migrate_sync_result_release(&res);
    return ret;
}
