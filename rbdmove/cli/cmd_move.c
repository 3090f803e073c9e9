/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_move.c: `rbdmove move`, and the commands that act on a move's
 * journal afterwards: `status`, `resume` and `abort`.
 *
 * They live in one file, departing from one-file-per-command, because
 * resume and abort rebuild exactly the options move recorded ("cli.*" keys
 * of the journal): keeping the recording and the rebuilding side by side is
 * what keeps them in step.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "rbdmove/cli/batch.h"
#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/cli/cli_remote.h"
#include "rbdmove/cli/cmd_move_int.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/base/cancel.h"
#include "rbdmove/base/hash.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/base/log.h"
#include "rbdmove/core/migrate.h"
#include "rbdmove/core/move_record.h"
#include "rbdmove/cli/progress.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

static const struct cli_command move_command = {
    "move",
    "[--os-cloud CLOUD] [--os-region-name REGION] [--dst-os-cloud CLOUD]\n"
    "       --dst-os-region-name REGION --dst-server SERVER --src-conf CONF\n"
    "       --dst-conf CONF [--ssh [USER@]HOST[:PORT]] [--max-downtime S]\n"
    "       [--no-auto-converge] [--min-write-rate RATE] [--json] VOLUME",
    "Move a Cinder volume, attached to a running server, to a server in\n"
    "another region: copy it while it is in use, then detach, apply the\n"
    "last changes, verify and attach it there, within the downtime budget.\n"
    "Interrupted, it is finished by 'rbdmove resume ID' or undone by\n"
    "'rbdmove abort ID'.",
};

static const struct cli_command failback_command = {
    "failback",
    "[--os-cloud CLOUD] --os-region-name DR_REGION [--dst-os-cloud CLOUD]\n"
    "       --dst-os-region-name PRIMARY_REGION --src-conf DR_CONF\n"
    "       --dst-conf PRIMARY_CONF [--ssh [USER@]HOST[:PORT]]\n"
    "       [--dst-server SERVER] [--discard-primary-changes]\n"
    "       [--max-downtime S] [--json] COPY",
    "Bring a failed-over copy's workload home: the copy (in DR_REGION) is\n"
    "the source, the volume it is a copy of (in PRIMARY_REGION) the\n"
    "destination, and only what changed since the point both hold is\n"
    "copied; then the cutover of a move, to the original's server or\n"
    "SERVER. Refused when the original was written after that point,\n"
    "unless --discard-primary-changes. Afterwards 'rbdmove sync' of the\n"
    "original goes on into the same copy, without a new seed.",
};

static const struct cli_command resume_command = {
    "resume", "[--state-dir DIR] [--json] ID",
    "Finish an interrupted move from where it stopped."};
static const struct cli_command abort_command = {
    "abort", "[--state-dir DIR] [--json] ID",
    "Undo an unfinished move: the source volume attached to its server\n"
    "again, rbdmove's snapshots and the volume it created removed."};
static const struct cli_command status_command = {
    "status", "[--state-dir DIR] [--json] [ID]",
    "List the moves, or show one: its phase, volumes and history."};

static int start_new(struct move_args *a, const char *what);

/* ---- recording and rebuilding the options ----------------------------------
 */

/*
 * The options of move. A move records those it was given in its journal
 * under "cli.<long name>", and resume and abort rebuild them from there
 * with this same table: one table keeps the two in step. The caller frees.
 */
static struct parse_option *move_options(struct move_args *a)
{
    struct plan_options *p = &a->mo.plan;
    const struct parse_option opts[] = {
        OPT_OPENSTACK_CLOUDS(p),
        OPT_OPENSTACK_DST_SERVER(p),
        OPT_STRING(0, "server", &a->server, "SERVER",
                   "instead of VOLUME: every data volume of SERVER, one "
                   "cutover"),
        OPT_CLUSTERS(&a->mo.src_conf, &a->mo.src_id, &a->dst_conf, &a->dst_id,
                     "--ssh"),
        OPT_STRING(0, "ssh", &a->ssh, "[USER@]HOST[:PORT]",
                   "reach the destination cluster through an rbdmove receiver "
                   "on HOST"),
        OPT_SECONDS(0, "max-downtime", &a->mo.max_downtime, "SECONDS",
                    "downtime budget of the cutover (default 10)"),
        OPT_UINT(0, "max-rounds", &a->mo.max_rounds, "N", 1, 60,
                 "incremental rounds at most before the cutover (default 20)"),
        OPT_BOOL(0, "auto-converge", &a->mo.auto_converge,
                 "when the rounds do not converge, limit the server's writes "
                 "to 50%, 30%, 10% of their rate before giving up (default)"),
        OPT_SET_BOOL(0, "no-auto-converge", &a->mo.auto_converge, false,
                     "never limit the server's writes: give up when the "
                     "rounds do not converge"),
        OPT_SIZE_RANGE(0, "min-write-rate", &a->mo.min_write_rate, "RATE",
                       64 << 10, UINT64_MAX, 0,
                       "auto-converge never limits the server's writes below "
                       "RATE bytes/s (default 1M, at least 64K)"),
        OPT_BOOL(0, "force-cutover", &a->mo.force_cutover,
                 "cut over even when the rounds do not converge"),
        OPT_BOOL(0, "delete-source", &a->mo.delete_source,
                 "delete the source volume after a successful move whose "
                 "whole image was compared after the final round"),
        OPT_SET_BOOL(0, "no-full-verify", &a->mo.full_verify, false,
                     "skip the full comparison before the cutover"),
        OPT_OPENSTACK_NEW_VOLUME(p, "the new volume"),
        OPT_POOL("src-pool", &a->mo.src_pool,
                 "source RBD pool (default: from Cinder, else volumes)"),
        OPT_POOL("dst-pool", &a->mo.dst_pool,
                 "destination RBD pool (default: from Cinder, else volumes)"),
        OPT_OPENSTACK_CONNECTION(p),
        OPT_UINT(0, "window", &a->mo.params.window, "N", 1, 256,
                 "chunks in flight per image (default 8)"),
        OPT_CHUNK_SIZE(&a->mo.params.chunk_size),
        OPT_CHECKPOINT(&a->mo.params.checkpoint_every),
        OPT_STRING(0, "state-dir", &a->state_dir, "DIR",
                   "where journals live (default ~/.local/state/rbdmove)"),
        OPT_BOOL(0, "json", &cli_json, "print JSON events on stdout"),
        OPT_PROGRESS(&a->progress),
        OPT_REMOTE(&a->remote),
        OPT_END(),
    };
    struct parse_option *copy = xmalloc(sizeof(opts));

    memcpy(copy, opts, sizeof(opts));
    return copy;
}

/* Not recorded: they say how this run talks, not what the move is. */
static bool recorded(const char *name)
{
    return strcmp(name, "json") && strcmp(name, "progress") &&
           strcmp(name, "state-dir");
}

/* Drop the options given so far that set target. */
static void forget_given(struct move_args *a, const void *target)
{
    size_t k = 0;

    for (size_t i = 0; i < a->n_given; i++) {
        if (a->given[i].target != target)
            a->given[k++] = a->given[i];
    }
    a->n_given = k;
}

/* parse_options_seen_fn: keep what record() will write. */
static void keep_given(void *ctx, const struct parse_option *opt,
                       const char *arg)
{
    struct move_args *a = ctx;

    if (!recorded(opt->long_name))
        return;
    /* Of two switches of one setting (--auto-converge, --no-auto-converge)
     * the last given wins, on the command line and so in the journal:
     * rebuild() applies its keys in the order they were first set. */
    if (opt->type == OPTION_BOOL)
        forget_given(a, opt->value);
    a->given = xrealloc(a->given, (a->n_given + 1) * sizeof(*a->given));
    a->given[a->n_given].name = opt->long_name;
    a->given[a->n_given].value = arg ? arg : "1";
    a->given[a->n_given].target = opt->value;
    a->n_given++;
}

/* Record the command line's options in the journal (no secrets: none is
 * an option). */
void record(struct journal *j, const struct move_args *a, const char *volume)
{
    for (size_t i = 0; i < a->n_given; i++) {
        struct buf key = BUF_INIT;

        buf_addf(&key, "cli.%s", a->given[i].name);
        journal_set(j, buf_str(&key), a->given[i].value);
        buf_release(&key);
    }
    journal_set(j, "cli.volume", volume);
}

/* Rebuild the move's options from the journal's "cli.*" keys. */
int rebuild(struct journal *j, struct move_args *a, struct error *err)
{
    struct parse_option *opts = move_options(a);
    int ret = -1;

    for (size_t i = 0; i < journal_count(j); i++) {
        const char *k = journal_key(j, i);
        const struct parse_option *o;

        if (strncmp(k, "cli.", 4) || !strcmp(k, "cli.volume"))
            continue;
        o = parse_options_find(opts, k + 4);
        if (o && parse_options_apply(o, journal_value(j, i), err) < 0)
            goto out;
    }
    a->mo.plan.volume = journal_get(j, "cli.volume");
    ret = 0;
out:
    free(opts);
    return ret;
}

/* ---- destinations
 * ------------------------------------------------------------- */

enum parse_options_status check_destination(const struct cli_command *cmd,
                                            const struct move_args *a)
{
    struct error err = ERROR_INIT;
    struct buf spec = BUF_INIT;
    enum parse_options_status st = PARSE_OPT_DONE;

    /* The URL make_dest() will build, with any pool and image: what is
     * checked here is the host part and the remote options. */
    if (a->ssh)
        buf_addf(&spec, "ssh://%s/", a->ssh);
    buf_adds(&spec, "volumes/volume");
    if (cli_remote_check(&a->remote, buf_str(&spec), a->dst_conf, &err) < 0)
        st = parse_options_error(cmd, "%s", err.msg);
    buf_release(&spec);
    error_clear(&err);
    return st;
}

int make_dest(void *ctx, const char *pool, const char *image, struct dest **out,
              struct error *err)
{
    struct dest_ctx *d = ctx;
    struct buf spec = BUF_INIT;
    struct cli_session *s = NULL;
    int ret;

    if (d->n == 64)
        return error_set(err, ERROR_STATE, 0, "too many destinations");
    if (d->a->ssh)
        buf_addf(&spec, "ssh://%s/", d->a->ssh);
    buf_addf(&spec, "%s/%s", pool, image);
    ret = cli_remote_dest(&d->a->remote, buf_str(&spec), d->a->dst_conf,
                          d->a->dst_id, out, &s, err);
    if (ret == 0)
        d->sessions[d->n++] = s;
    buf_release(&spec);
    return ret;
}

/* ---- events
 * ---------------------------------------------------------------------- */

/* A "throttle" event's fields: "level" is the percent of the guest's
 * rate before the first limit (50, 30, 10), "step" its place on the
 * ladder (1..3). A rate or time not known (NAN) is null. */
static void json_throttle(struct json_out *j, const struct migrate_throttle *t)
{
    json_out_str(j, "action", t->released ? "release" : "set");
    json_out_u64(j, "level", t->percent);
    json_out_u64(j, "step", t->level);
    json_out_u64(j, "limit_bps", t->limit_bps);
    json_out_double(j, "rate_before_bps", t->rate_before_bps);
    json_out_double(j, "rate_during_bps", t->rate_during_bps);
    if (t->released)
        json_out_double(j, "throttled_s", t->throttled_s);
}

void on_event(void *ctx, const struct migrate_event *ev)
{
    struct json_out j = JSON_OUT_INIT;
    const char *id = ctx;

    if (!strcmp(ev->phase, "seed") || !strcmp(ev->phase, "round")) {
        if (!ev->stats) {
            char label[32];

            snprintf(label, sizeof(label), "%s %u", ev->phase, ev->round);
            progress_start(ev->round ? label : "seed");
        } else {
            progress_stop();
        }
    }
    if (!strcmp(ev->phase, "info"))
        log_info("%s", ev->msg);
    else
        fprintf(stderr, "rbdmove: %s: %s\n", ev->phase, ev->msg);
    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", ev->phase);
    json_out_str(&j, "move", id);
    json_out_str(&j, "message", ev->msg);
    if (ev->stats) {
        json_out_u64(&j, "round", ev->round);
        json_out_u64(&j, "data_bytes", ev->stats->data_bytes);
        json_out_u64(&j, "stream_bytes", ev->stats->stream_bytes);
        json_out_double(&j, "seconds", ev->stats->seconds);
    }
    if (ev->throttle)
        json_throttle(&j, ev->throttle);
    json_out_object_end(&j);
    if (strcmp(ev->phase, "done"))
        events_print(&j);
    json_out_release(&j);
}

/* A downtime of 0 was not measured (the cutover began in an earlier,
 * interrupted run): null, not a made-up 0. */
void json_downtime(struct json_out *j, const char *key, double d)
{
    if (d > 0)
        json_out_double(j, key, d);
    else
        json_out_null(j, key);
}

static void print_done(struct journal *jr, const struct migrate_report *r)
{
    struct json_out j = JSON_OUT_INIT;

    /* No downtime: the cutover began in a run that was interrupted, and
     * its start died with it. Say so rather than print 0.00 s. */
    if (r->downtime > 0)
        fprintf(stderr,
                "rbdmove: moved in %u round%s; downtime %.2f s (detach %.2f "
                "s, final round %.2f s, verify %.2f s, attach %.2f s)\n",
                r->rounds, r->rounds == 1 ? "" : "s", r->downtime, r->t_detach,
                r->t_final, r->t_verify, r->t_attach);
    else
        fprintf(stderr,
                "rbdmove: moved in %u round%s; the cutover began in an "
                "earlier run, its downtime is not known\n",
                r->rounds, r->rounds == 1 ? "" : "s");
    if (r->throttle_pct)
        fprintf(stderr,
                "rbdmove: auto-converge limited the server's writes for "
                "%.1f s, down to %u%% of their rate\n",
                r->throttled_s, r->throttle_pct);
    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", "done");
    json_out_str(&j, "move", journal_id(jr));
    json_out_u64(&j, "rounds", r->rounds);
    json_out_array_begin(&j, "round_bytes");
    for (unsigned i = 0; i <= r->rounds && i < 64; i++)
        json_out_u64(&j, NULL, r->bytes[i]);
    json_out_array_end(&j);
    json_downtime(&j, "downtime_s", r->downtime);
    json_out_double(&j, "detach_s", r->t_detach);
    json_out_double(&j, "final_round_s", r->t_final);
    json_out_double(&j, "verify_s", r->t_verify);
    json_out_double(&j, "attach_s", r->t_attach);
    json_out_str(&j, "dst_volume_id", r->dst_volume_id);
    json_out_str(&j, "dst_device", r->dst_device);
    if (r->throttle_pct)
        json_out_u64(&j, "throttle_level", r->throttle_pct);
    else
        json_out_null(&j, "throttle_level");
    json_out_double(&j, "throttled_s", r->throttled_s);
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

void print_failed(struct journal *jr, const struct error *err)
{
    struct json_out j = JSON_OUT_INIT;

    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", "error");
    json_out_str(&j, "move", journal_id(jr));
    json_out_str(&j, "kind", error_kind_name(err->kind));
    json_out_str(&j, "message", err->msg);
    json_out_str(&j, "phase", journal_get(jr, "phase"));
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

/* RBDMOVE_TEST_HOLD=PHASE:SECONDS, for fault-injection tests. */
void test_hold_from_env(struct migrate_opts *mo)
{
    const char *v = getenv("RBDMOVE_TEST_HOLD");
    const char *colon = v ? strchr(v, ':') : NULL;
    static char phase[32];

    if (!colon || (size_t)(colon - v) >= sizeof(phase))
        return;
    memcpy(phase, v, (size_t)(colon - v));
    phase[colon - v] = '\0';
    mo->hold_phase = phase;
    mo->hold_seconds = strtod(colon + 1, NULL);
}

/*
 * The cutover's turn (migrate_gate_fn) under RBDMOVE_CUTOVER_LOCK_DIR=DIR,
 * which `rbdmove batch` sets for its moves: an exclusive flock on
 * DIR/cutover-HASH.lock, HASH of the destination server's id, kept until
 * this process ends (the kernel drops it then, whatever the end). Polled,
 * so that a signal stops the wait.
 */
static int gate_lock(void *ctx, const char *dst_server, double *waited,
                     struct error *err)
{
    static int fd = -1;
    const char *dir = ctx;
    struct timespec t0, t1;
    bool said = false;
    char *path;

    *waited = 0;
    if (fd >= 0)
        return 0;
    path = xasprintf("%s/cutover-%016" PRIx64 ".lock", dir,
                     hash_xxh64(dst_server, strlen(dst_server), 0));
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        error_set(err, ERROR_IO, errno, "cutover lock %s: %s", path,
                  strerror(errno));
        free(path);
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            error_set(err, ERROR_IO, errno, "cutover lock %s: %s", path,
                      strerror(errno));
            goto fail;
        }
        if (!said)
            log_info("waiting for another move's cutover to the same server "
                     "to end");
        said = true;
        if (!cancel_sleep(0.2)) {
            error_set(err, ERROR_INTERRUPTED, 0,
                      "stopped while waiting for the turn to cut over");
            goto fail;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (said)
        *waited = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    free(path);
    return 0;
fail:
    close(fd);
    fd = -1;
    free(path);
    return -1;
}

void cutover_gate_from_env(struct migrate_opts *mo)
{
    const char *v = getenv("RBDMOVE_CUTOVER_LOCK_DIR");

    if (v && v[0]) {
        mo->gate = gate_lock;
        mo->gate_ctx = (void *)v;
    }
}

/* What drive() does with its journal. Only a move this run created may
 * have its journal discarded, when its pre-flight fails: a resumed or
 * aborted journal is kept whatever happens (issue 11). */
enum drive_mode {
    DRIVE_NEW,
    DRIVE_RESUME,
    DRIVE_ABORT,
};

/* The pre-flight of a new move failed before its first step: its journal
 * has nothing a resume could use. */
static void discard_unused(struct journal *jr)
{
    struct error err = ERROR_INIT;

    if (journal_discard(jr, &err) < 0) {
        cli_report_error(&err);
        return;
    }
    fprintf(stderr, "rbdmove: nothing was changed\n");
}

/* The failed move jr can go on: say how. */
static void print_stopped(struct journal *jr)
{
    const char *phase = journal_get(jr, "phase");

    if (phase)
        fprintf(stderr,
                "rbdmove: move %s stopped in phase '%s': 'rbdmove "
                "resume %s' goes on, 'rbdmove abort %s' undoes it\n",
                journal_id(jr), phase, journal_id(jr), journal_id(jr));
    else
        fprintf(stderr,
                "rbdmove: move %s stopped before its first step: 'rbdmove "
                "resume %s' tries again, 'rbdmove abort %s' closes it\n",
                journal_id(jr), journal_id(jr), journal_id(jr));
}

/* Run, resume or abort the move of journal jr with options a. */
static int drive(struct journal *jr, struct move_args *a, enum drive_mode mode)
{
    struct dest_ctx dc = {a, {NULL}, 0};
    struct migrate_report rep;
    struct error err = ERROR_INIT;
    int ret;

    memset(&rep, 0, sizeof(rep));
    progress_setup(a->progress, cli_json);
    a->mo.make_dest = make_dest;
    a->mo.make_dest_ctx = &dc;
    a->mo.event = on_event;
    a->mo.event_ctx = (void *)journal_id(jr);
    a->mo.params.progress = progress_callback();
    /* Over SSH the streams carry the limit (dest_remote.c). */
    if (!a->ssh)
        a->mo.params.bwlimit = a->remote.bwlimit;
    a->mo.params.cancel = cli_cancelled;
    a->mo.ceph_timeout = cli_ceph_timeout();
    test_hold_from_env(&a->mo);
    cutover_gate_from_env(&a->mo);
    progress_setup(a->progress, cli_json);
    cli_install_signals();
    if (mode == DRIVE_ABORT)
        ret = migrate_abort(jr, &a->mo, &err);
    else
        ret = migrate_run(jr, &a->mo, &rep, &err);
    progress_stop();
    for (unsigned i = 0; i < dc.n; i++)
        cli_session_free(dc.sessions[i]);
    if (ret < 0 && mode == DRIVE_NEW && !journal_get(jr, "phase")) {
        print_failed(jr, &err);
        ret = cli_report_error(&err);
        discard_unused(jr);
    } else if (ret < 0) {
        print_failed(jr, &err);
        ret = cli_report_error(&err);
        /* A move that is done or aborted does not "go on". */
        if (mode != DRIVE_ABORT && ret != EXIT_USAGE &&
            !move_phase_name_is_final(journal_get(jr, "phase")))
            print_stopped(jr);
        if (err.kind == ERROR_INTERRUPTED)
            ret = EXIT_RESUMABLE;
    } else if (mode == DRIVE_ABORT) {
        fprintf(stderr, "rbdmove: move %s aborted\n", journal_id(jr));
    } else {
        print_done(jr, &rep);
    }
    migrate_report_release(&rep);
    return ret;
}

/* ---- commands
 * ----------------------------------------------------------------- */

static enum parse_options_status parse_move(int argc, char **argv,
                                            struct move_args *a)
{
    struct parse_option *opts = move_options(a);
    enum parse_options_status st;
    int n;

    st = parse_options_seen(&move_command, opts, argc, argv, &n, keep_given, a);
    free(opts);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n != (a->server ? 0 : 1))
        return parse_options_error(&move_command,
                                   a->server ? "--server moves its volumes: "
                                               "give no VOLUME"
                                             : "expected one volume");
    if (!a->mo.plan.dst_server || !a->mo.plan.dst.region)
        return parse_options_error(&move_command,
                                   "--dst-server and --dst-os-region-name are "
                                   "required");
    if (!a->mo.src_conf || !a->dst_conf)
        return parse_options_error(&move_command,
                                   "--src-conf and --dst-conf are required");
    /* Refused before anything starts: the cutover's final check hashes
     * single blocks, which a plain rbd on HOST cannot do, so such a move
     * could only fail after the server lost its disk. */
    if (a->remote.receiver_rbd)
        return parse_options_error(
            &move_command, "--receiver=rbd cannot serve a move: the "
                           "cutover's final check needs rbdmove's receiver "
                           "on HOST (leave --receiver out)");
    /* Nothing is deleted on the word of a partial check. */
    if (a->mo.delete_source && !a->mo.full_verify)
        return parse_options_error(&move_command,
                                   "--delete-source needs the full comparison: "
                                   "leave --no-full-verify out");
    if (!a->server)
        a->mo.plan.volume = argv[0];
    st = check_destination(&move_command, a);
    if (st != PARSE_OPT_DONE)
        return st;
    return cli_options_check_memory(&move_command, &a->mo.params);
}

/* failback: move's options and its own. The caller frees. */
static struct parse_option *failback_options(struct move_args *a)
{
    struct parse_option *m = move_options(a), *out;
    const struct parse_option own[] = {
        OPT_BOOL(0, "discard-primary-changes", &a->mo.discard_primary_changes,
                 "when the original was written after the common point, "
                 "discard those writes (it is rolled back to the point)"),
        OPT_END(),
    };
    size_t n = 0;

    while (m[n].type != OPTION_END)
        n++;
    out = xcalloc(n + 2, sizeof(*out));
    memcpy(out, m, n * sizeof(*out));
    memcpy(out + n, own, sizeof(own));
    free(m);
    return out;
}

static enum parse_options_status parse_failback(int argc, char **argv,
                                                struct move_args *a)
{
    struct parse_option *opts = failback_options(a);
    enum parse_options_status st;
    int n;

    st = parse_options_seen(&failback_command, opts, argc, argv, &n, keep_given,
                            a);
    free(opts);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n != 1)
        return parse_options_error(&failback_command,
                                   "expected one copy (its name or id in "
                                   "the DR region)");
    if (a->server)
        return parse_options_error(&failback_command,
                                   "--server is not an option of failback: "
                                   "name one copy");
    if (a->mo.delete_source)
        return parse_options_error(&failback_command,
                                   "--delete-source is not an option of "
                                   "failback: the copy is kept for the "
                                   "next sync");
    if (!a->mo.plan.dst.region)
        return parse_options_error(&failback_command,
                                   "--dst-os-region-name (the primary "
                                   "region) is required");
    if (!a->mo.src_conf || !a->dst_conf)
        return parse_options_error(&failback_command,
                                   "--src-conf and --dst-conf are required");
    if (a->remote.receiver_rbd)
        return parse_options_error(&failback_command,
                                   "--receiver=rbd cannot serve a failback: "
                                   "the cutover's final check needs "
                                   "rbdmove's receiver on HOST");
    a->mo.plan.volume = argv[0];
    a->mo.failback = true;
    st = check_destination(&failback_command, a);
    if (st != PARSE_OPT_DONE)
        return st;
    return cli_options_check_memory(&failback_command, &a->mo.params);
}

int cmd_failback(int argc, char **argv)
{
    struct move_args a;
    enum parse_options_status st;
    int ret;

    args_init(&a);
    st = parse_failback(argc, argv, &a);
    ret = st != PARSE_OPT_DONE ? parse_options_exit(st)
                               : start_new(&a, "failback of copy ");
    free(a.given);
    return ret;
}

/* The options of resume, abort and status; *nargs as parse_options. */
static enum parse_options_status parse_id(const struct cli_command *cmd,
                                          int argc, char **argv,
                                          struct move_args *a, int *nargs)
{
    struct parse_option opts[] = {
        OPT_STRING(0, "state-dir", &a->state_dir, "DIR",
                   "where journals live (default ~/.local/state/rbdmove)"),
        OPT_BOOL(0, "json", &cli_json, "print JSON on stdout"),
        OPT_PROGRESS(&a->progress),
        OPT_END(),
    };

    return parse_options(cmd, opts, argc, argv, nargs);
}

int move_check_option(const char *name, const char *value,
                      enum parse_option_arg *arg, struct error *err)
{
    struct move_args a;
    struct parse_option *opts;
    int ret;

    args_init(&a);
    opts = move_options(&a);
    ret = parse_options_try(opts, name, value, arg, err);
    free(opts);
    return ret;
}

int move_check_args(int argc, char **argv)
{
    struct move_args a;
    enum parse_options_status st;

    args_init(&a);
    st = parse_move(argc, argv, &a);
    free(a.given);
    return st == PARSE_OPT_DONE ? EXIT_OK : EXIT_USAGE;
}

void args_init(struct move_args *a)
{
    memset(a, 0, sizeof(*a));
    a->converge = 64ull << 20;
    migrate_opts_init(&a->mo);
    a->mo.ceph_timeout = cli_ceph_timeout();
    cli_remote_init(&a->remote);
    a->mo.plan.src.use_env = true;
}

/* A new move of a.mo.plan.volume, in a journal of its own; what (NULL:
 * none) says what kind, on the line that names the journal. */
static int start_new(struct move_args *a, const char *what)
{
    struct journal *jr = NULL;
    struct error err = ERROR_INIT;
    char *dir = a->state_dir ? xstrdup(a->state_dir) : journal_default_dir();
    int ret;

    if (journal_create(dir, &jr, &err) < 0) {
        ret = cli_report_error(&err);
    } else {
        record(jr, a, a->mo.plan.volume);
        fprintf(stderr, "rbdmove: move %s (journal in %s)%s%s%s\n",
                journal_id(jr), dir, what ? ": " : "", what ? what : "",
                what ? a->mo.plan.volume : "");
        ret = drive(jr, a, DRIVE_NEW);
    }
    journal_free(jr);
    free(dir);
    return ret;
}

int cmd_move(int argc, char **argv)
{
    struct move_args a;
    enum parse_options_status st;
    int ret;

    args_init(&a);
    st = parse_move(argc, argv, &a);
    if (st != PARSE_OPT_DONE) {
        ret = parse_options_exit(st);
        goto out;
    }
    if (a.server) {
        char *dir = a.state_dir ? xstrdup(a.state_dir) : journal_default_dir();

        ret = move_server(&a, dir);
        free(dir);
    } else {
        ret = start_new(&a, NULL);
    }
out:
    free(a.given);
    return ret;
}

/* resume and abort: ID and the journal's options. */
static int by_id(int argc, char **argv, const struct cli_command *cmd,
                 bool do_abort)
{
    struct move_args a, cl;
    struct journal *jr = NULL;
    struct error err = ERROR_INIT;
    enum parse_options_status st;
    char *dir = NULL;
    int n, ret;

    args_init(&a);
    args_init(&cl);
    st = parse_id(cmd, argc, argv, &cl, &n);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    if (n != 1)
        return cli_usage_error(cmd, "expected the id of a move");
    dir = cl.state_dir ? xstrdup(cl.state_dir) : journal_default_dir();
    if (journal_open(dir, argv[0], &jr, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    if (journal_get(jr, BATCH_KEY)) {
        ret = batch_by_id(jr, dir, do_abort);
        goto out;
    }
    if (journal_get(jr, "group.members")) {
        ret = group_by_id(jr, dir, &cl, do_abort);
        goto out;
    }
    if (journal_get(jr, "group")) {
        error_set(&err, ERROR_USAGE, 0,
                  "move %s is one volume of move %s: resume or abort that",
                  journal_id(jr), journal_get(jr, "group"));
        ret = cli_report_error(&err);
        goto out;
    }
    if (rebuild(jr, &a, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    a.progress = cl.progress;
    ret = drive(jr, &a, do_abort ? DRIVE_ABORT : DRIVE_RESUME);
out:
    journal_free(jr);
    free(dir);
    return ret;
}

int cmd_resume(int argc, char **argv)
{
    return by_id(argc, argv, &resume_command, false);
}

int cmd_abort(int argc, char **argv)
{
    return by_id(argc, argv, &abort_command, true);
}

static void show(struct journal *j)
{
    struct json_out o = JSON_OUT_INIT;

    json_out_object_begin(&o, NULL);
    json_out_str(&o, "id", journal_id(j));
    for (size_t i = 0; i < journal_count(j); i++)
        json_out_str(&o, journal_key(j, i), journal_value(j, i));
    json_out_object_end(&o);
    if (cli_json) {
        printf("%s\n", json_out_text(&o));
    } else {
        printf("move %s\n", journal_id(j));
        for (size_t i = 0; i < journal_count(j); i++) {
            const char *v = journal_value(j, i);
            struct buf e = BUF_INIT;

            /* Values come from the APIs (names): escaped for the terminal. */
            buf_add_escaped(&e, v, strlen(v));
            printf("  %-22s %s\n", journal_key(j, i), buf_str(&e));
            buf_release(&e);
        }
    }
    json_out_release(&o);
}

int cmd_status(int argc, char **argv)
{
    struct move_args a;
    struct error err = ERROR_INIT;
    enum parse_options_status st;
    char **ids = NULL;
    size_t n = 0;
    char *dir = NULL;
    int nargs, ret;

    args_init(&a);
    st = parse_id(&status_command, argc, argv, &a, &nargs);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    if (nargs > 1)
        return cli_usage_error(&status_command, "expected at most one id");
    dir = a.state_dir ? xstrdup(a.state_dir) : journal_default_dir();
    if (nargs == 1) {
        ids = xcalloc(1, sizeof(*ids));
        ids[0] = xstrdup(argv[0]);
        n = 1;
    } else if (journal_list(dir, &ids, &n, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    ret = EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        struct journal *j = NULL;

        if (journal_read(dir, ids[i], &j, &err) < 0) {
            ret = cli_report_error(&err);
            continue;
        }
        if (nargs == 1 && journal_get(j, BATCH_KEY))
            batch_show(j, dir);
        else if (nargs == 1 || cli_json)
            show(j);
        else if (journal_get(j, BATCH_KEY))
            printf("%s  %-12s batch %s\n", journal_id(j),
                   journal_get(j, "batch.state") ? journal_get(j, "batch.state")
                                                 : "?",
                   journal_get(j, "batch.plan") ? journal_get(j, "batch.plan")
                                                : "?");
        else
            printf("%s  %-12s %s -> %s\n", journal_id(j),
                   journal_get(j, "phase") ? journal_get(j, "phase") : "?",
                   journal_get(j, "src.volume") ? journal_get(j, "src.volume")
                                                : "?",
                   journal_get(j, "dst.volume") ? journal_get(j, "dst.volume")
                                                : "-");
        journal_free(j);
    }
out:
    journal_ids_free(ids, n);
    free(dir);
    return ret;
}
