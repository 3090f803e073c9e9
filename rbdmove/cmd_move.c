/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cmd_move.c: `rbdmove move`, and the commands that act on a move's
 * journal afterwards: `status`, `resume` and `abort`.
 *
 * They live in one file, departing from one-file-per-command, because
 * resume and abort rebuild exactly the options move recorded ("cli.*" keys
 * of the journal): keeping the recording and the rebuilding side by side is
 * what keeps them in step.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/cli.h"
#include "rbdmove/cli_remote.h"
#include "rbdmove/commands.h"
#include "rbdmove/dest.h"
#include "rbdmove/journal.h"
#include "rbdmove/json_out.h"
#include "rbdmove/log.h"
#include "rbdmove/migrate.h"
#include "rbdmove/progress.h"
#include "rbdmove/strutil.h"
#include "rbdmove/xalloc.h"

enum {
    OPT_OS_CLOUD = 256,
    OPT_OS_REGION,
    OPT_DST_OS_CLOUD,
    OPT_DST_OS_REGION,
    OPT_OS_INTERFACE,
    OPT_OS_CACERT,
    OPT_DST_OS_CACERT,
    OPT_INSECURE,
    OPT_DST_SERVER,
    OPT_DST_VOLUME_TYPE,
    OPT_DST_AZ,
    OPT_SRC_CONF,
    OPT_SRC_ID,
    OPT_DST_CONF,
    OPT_DST_ID,
    OPT_SRC_POOL,
    OPT_DST_POOL,
    OPT_SSH,
    OPT_MAX_DOWNTIME,
    OPT_MAX_ROUNDS,
    OPT_FORCE_CUTOVER,
    OPT_DELETE_SOURCE,
    OPT_NO_FULL_VERIFY,
    OPT_STATE_DIR,
    OPT_JSON,
    OPT_PROGRESS,
    OPT_WINDOW,
    OPT_CHUNK,
    OPT_CHECKPOINT,
    OPT_CONVERGE,
    OPT_VERIFY,
    OPT_SERVER,
};

/* The options move records in the journal, by long name. */
static const struct cli_option move_options[] = {
    {"os-cloud", required_argument, OPT_OS_CLOUD, "CLOUD",
     "source cloud in clouds.yaml (default $OS_CLOUD)"},
    {"os-region-name", required_argument, OPT_OS_REGION, "REGION",
     "source region"},
    {"dst-os-cloud", required_argument, OPT_DST_OS_CLOUD, "CLOUD",
     "destination cloud (default: the source's)"},
    {"dst-os-region-name", required_argument, OPT_DST_OS_REGION, "REGION",
     "destination region"},
    {"dst-server", required_argument, OPT_DST_SERVER, "SERVER",
     "server (name or id) to attach the volume to"},
    {"server", required_argument, OPT_SERVER, "SERVER",
     "instead of VOLUME: every data volume of SERVER, one cutover"},
    {"src-conf", required_argument, OPT_SRC_CONF, "CONF",
     "ceph configuration of the source cluster"},
    {"src-id", required_argument, OPT_SRC_ID, "ID",
     "ceph client id at the source (default admin)"},
    {"dst-conf", required_argument, OPT_DST_CONF, "CONF",
     "ceph configuration of the destination (a path on HOST with --ssh)"},
    {"dst-id", required_argument, OPT_DST_ID, "ID",
     "ceph client id at the destination (default admin)"},
    {"ssh", required_argument, OPT_SSH, "[USER@]HOST[:PORT]",
     "reach the destination cluster through an rbdmove receiver on HOST"},
    {"max-downtime", required_argument, OPT_MAX_DOWNTIME, "SECONDS",
     "downtime budget of the cutover (default 10)"},
    {"max-rounds", required_argument, OPT_MAX_ROUNDS, "N",
     "incremental rounds at most before the cutover (default 20)"},
    {"force-cutover", no_argument, OPT_FORCE_CUTOVER, NULL,
     "cut over even when the rounds do not converge"},
    {"delete-source", no_argument, OPT_DELETE_SOURCE, NULL,
     "delete the source volume after a successful move"},
    {"no-full-verify", no_argument, OPT_NO_FULL_VERIFY, NULL,
     "skip the full comparison before the cutover"},
    {"dst-volume-type", required_argument, OPT_DST_VOLUME_TYPE, "TYPE",
     "volume type at the destination (default: the source's)"},
    {"dst-availability-zone", required_argument, OPT_DST_AZ, "ZONE",
     "availability zone of the new volume"},
    {"src-pool", required_argument, OPT_SRC_POOL, "POOL",
     "source RBD pool (default: from Cinder, else volumes)"},
    {"dst-pool", required_argument, OPT_DST_POOL, "POOL",
     "destination RBD pool (default: from Cinder, else volumes)"},
    {"os-interface", required_argument, OPT_OS_INTERFACE, "INTERFACE",
     "endpoint interface (default public)"},
    {"os-cacert", required_argument, OPT_OS_CACERT, "FILE",
     "CA bundle for the source cloud"},
    {"dst-os-cacert", required_argument, OPT_DST_OS_CACERT, "FILE",
     "CA bundle for the destination cloud"},
    {"insecure", no_argument, OPT_INSECURE, NULL,
     "do not verify TLS certificates (never in production)"},
    {"window", required_argument, OPT_WINDOW, "N",
     "chunks in flight per image (default 8)"},
    {"chunk-size", required_argument, OPT_CHUNK, "SIZE",
     "bytes per request (default 4M)"},
    {"checkpoint", required_argument, OPT_CHECKPOINT, "SIZE",
     "record seed progress every SIZE bytes (default 1G)"},
    {"state-dir", required_argument, OPT_STATE_DIR, "DIR",
     "where journals live (default ~/.local/state/rbdmove)"},
    {"json", no_argument, OPT_JSON, NULL, "print JSON events on stdout"},
    {"progress", required_argument, OPT_PROGRESS, "WHEN",
     "auto, always or never (default auto)"},
    REMOTE_CLI_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_command move_command = {
    "move",
    "--os-cloud CLOUD --os-region-name REGION [--dst-os-cloud CLOUD]\n"
    "       --dst-os-region-name REGION --dst-server SERVER --src-conf CONF\n"
    "       --dst-conf CONF [--ssh [USER@]HOST[:PORT]] [--max-downtime S]\n"
    "       [--json] VOLUME",
    "Move a Cinder volume, attached to a running server, to a server in\n"
    "another region: copy it while it is in use, then detach, apply the\n"
    "last changes, verify and attach it there, within the downtime budget.\n"
    "Interrupted, it is finished by 'rbdmove resume ID' or undone by\n"
    "'rbdmove abort ID'.",
    move_options,
};

static const struct cli_option id_options[] = {
    {"state-dir", required_argument, OPT_STATE_DIR, "DIR",
     "where journals live (default ~/.local/state/rbdmove)"},
    {"json", no_argument, OPT_JSON, NULL, "print JSON on stdout"},
    {"progress", required_argument, OPT_PROGRESS, "WHEN",
     "auto, always or never (default auto)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_command resume_command = {
    "resume", "[--state-dir DIR] [--json] ID",
    "Finish an interrupted move from where it stopped.", id_options};
static const struct cli_command abort_command = {
    "abort", "[--state-dir DIR] [--json] ID",
    "Undo an unfinished move: the source volume attached to its server\n"
    "again, rbdmove's snapshots and the volume it created removed.",
    id_options};
static const struct cli_command status_command = {
    "status", "[--state-dir DIR] [--json] [ID]",
    "List the moves, or show one: its phase, volumes and history.", id_options};

/* ---- recording and rebuilding the options ----------------------------------
 */

/* Options whose value is recorded under "cli.<name>". */
static const char *long_name(int val)
{
    for (const struct cli_option *o = move_options; o->name; o++) {
        if (o->val == val)
            return o->name;
    }
    return NULL;
}

struct move_args {
    struct migrate_opts mo;
    const char *server; /* move --server */
    uint64_t converge;  /* sync */
    bool verify;        /* sync */
    struct cli_remote remote;
    const char *dst_conf, *dst_id, *ssh;
    const char *state_dir;
    enum progress_mode progress;
};

/* Apply one option to a (from the command line or from the journal). */
static int apply_opt(struct move_args *a, int c, const char *v,
                     struct error *err)
{
    struct plan_options *p = &a->mo.plan;
    uint64_t n;

    switch (c) {
    case OPT_OS_CLOUD:
        p->src.cloud = v;
        break;
    case OPT_OS_REGION:
        p->src.region = v;
        break;
    case OPT_DST_OS_CLOUD:
        p->dst.cloud = v;
        break;
    case OPT_DST_OS_REGION:
        p->dst.region = v;
        break;
    case OPT_OS_INTERFACE:
        p->src.interface = p->dst.interface = v;
        break;
    case OPT_OS_CACERT:
        p->src.cacert = v;
        break;
    case OPT_DST_OS_CACERT:
        p->dst.cacert = v;
        break;
    case OPT_INSECURE:
        p->src.insecure = p->dst.insecure = true;
        break;
    case OPT_DST_SERVER:
        p->dst_server = v;
        break;
    case OPT_DST_VOLUME_TYPE:
        p->dst_volume_type = v;
        break;
    case OPT_DST_AZ:
        p->dst_availability_zone = v;
        break;
    case OPT_SRC_CONF:
        a->mo.src_conf = v;
        break;
    case OPT_SRC_ID:
        a->mo.src_id = v;
        break;
    case OPT_DST_CONF:
        a->dst_conf = v;
        break;
    case OPT_DST_ID:
        a->dst_id = v;
        break;
    case OPT_SRC_POOL:
        a->mo.src_pool = v;
        break;
    case OPT_DST_POOL:
        a->mo.dst_pool = v;
        break;
    case OPT_SSH:
        a->ssh = v;
        break;
    case OPT_FORCE_CUTOVER:
        a->mo.force_cutover = true;
        break;
    case OPT_DELETE_SOURCE:
        a->mo.delete_source = true;
        break;
    case OPT_NO_FULL_VERIFY:
        a->mo.full_verify = false;
        break;
    case OPT_STATE_DIR:
        a->state_dir = v;
        break;
    case OPT_JSON:
        cli_json = true;
        break;
    case OPT_PROGRESS:
        return progress_mode_parse(v, &a->progress, err);
    case OPT_MAX_DOWNTIME:
        return parse_seconds(v, "--max-downtime", &a->mo.max_downtime, err);
    case OPT_WINDOW:
        if (parse_uint(v, "--window", 1, 256, &n, err) < 0)
            return -1;
        a->mo.params.window = (unsigned)n;
        break;
    case OPT_CHUNK:
        if (parse_size(v, "--chunk-size", &n, err) < 0)
            return -1;
        if (n < 4096 || n > (64u << 20) || n % 4096)
            return error_set(err, ERROR_USAGE, 0,
                             "--chunk-size must be a multiple of 4K between "
                             "4K and 64M");
        a->mo.params.chunk_size = (size_t)n;
        break;
    case OPT_CHECKPOINT:
        if (parse_size(v, "--checkpoint", &n, err) < 0)
            return -1;
        if (n < (1u << 20))
            return error_set(err, ERROR_USAGE, 0,
                             "--checkpoint must be at least 1M");
        a->mo.params.checkpoint_every = n;
        break;
    case OPT_SERVER:
        a->server = v;
        break;
    case OPT_CONVERGE:
        return parse_size(v, "--converge", &a->converge, err);
    case OPT_VERIFY:
        a->verify = true;
        break;
    case OPT_MAX_ROUNDS:
        if (parse_uint(v, "--max-rounds", 1, 60, &n, err) < 0)
            return -1;
        a->mo.max_rounds = (unsigned)n;
        break;
    default:
        return cli_remote_option(&a->remote, c, v, err);
    }
    return 0;
}

/* Record the command line's options in the journal (no secrets: none is
 * an option). */
static void record(struct journal *j, int argc, char **argv, const char *volume)
{
    struct cli_parser p;
    int c;

    cli_parser_init(&p, &move_command);
    while ((c = cli_next(&p, argc, argv)) >= 0) {
        const char *name = long_name(c);
        struct buf key = BUF_INIT;

        if (!name || c == OPT_JSON || c == OPT_PROGRESS || c == OPT_STATE_DIR)
            continue;
        buf_addf(&key, "cli.%s", name);
        journal_set(j, buf_str(&key), optarg ? optarg : "1");
        buf_release(&key);
    }
    cli_parser_release(&p);
    journal_set(j, "cli.volume", volume);
}

/* Rebuild the move's options from the journal's "cli.*" keys. */
static int rebuild(struct journal *j, struct move_args *a, struct error *err)
{
    for (size_t i = 0; i < journal_count(j); i++) {
        const char *k = journal_key(j, i);

        if (strncmp(k, "cli.", 4) || !strcmp(k, "cli.volume"))
            continue;
        for (const struct cli_option *o = move_options; o->name; o++) {
            if (strcmp(o->name, k + 4))
                continue;
            if (apply_opt(a, o->val,
                          o->has_arg == no_argument ? NULL
                                                    : journal_value(j, i),
                          err) < 0)
                return -1;
        }
    }
    a->mo.plan.volume = journal_get(j, "cli.volume");
    return 0;
}

/* ---- destinations
 * ------------------------------------------------------------- */

struct dest_ctx {
    struct move_args *a;
    struct cli_session *sessions[64];
    unsigned n;
};

static int make_dest(void *ctx, const char *pool, const char *image,
                     struct dest **out, struct error *err)
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

static void on_event(void *ctx, const struct migrate_event *ev)
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
    json_out_object_end(&j);
    if (strcmp(ev->phase, "done"))
        events_print(&j);
    json_out_release(&j);
}

/* A downtime of 0 was not measured (the cutover began in an earlier,
 * interrupted run): null, not a made-up 0. */
static void json_downtime(struct json_out *j, const char *key, double d)
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
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

static void print_failed(struct journal *jr, const struct error *err)
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
static void test_hold(struct migrate_opts *mo)
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

/* Run or resume the move of journal jr with options a. */
static int drive(struct journal *jr, struct move_args *a, bool do_abort)
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
    test_hold(&a->mo);
    progress_setup(a->progress, cli_json);
    cli_install_signals();
    if (do_abort)
        ret = migrate_abort(jr, &a->mo, &err);
    else
        ret = migrate_run(jr, &a->mo, &rep, &err);
    progress_stop();
    for (unsigned i = 0; i < dc.n; i++)
        cli_session_free(dc.sessions[i]);
    if (ret < 0 && !do_abort && !journal_get(jr, "phase")) {
        /* The pre-flight failed: nothing changed, nothing to resume. */
        print_failed(jr, &err);
        ret = cli_report_error(&err);
        journal_discard(jr);
        fprintf(stderr, "rbdmove: nothing was changed\n");
    } else if (ret < 0) {
        print_failed(jr, &err);
        ret = cli_report_error(&err);
        if (!do_abort && ret != EXIT_USAGE)
            fprintf(stderr,
                    "rbdmove: move %s stopped in phase '%s': 'rbdmove "
                    "resume %s' goes on, 'rbdmove abort %s' undoes it\n",
                    journal_id(jr), journal_get(jr, "phase"), journal_id(jr),
                    journal_id(jr));
        if (err.kind == ERROR_INTERRUPTED)
            ret = EXIT_RESUMABLE;
    } else if (do_abort) {
        fprintf(stderr, "rbdmove: move %s aborted\n", journal_id(jr));
    } else {
        print_done(jr, &rep);
    }
    migrate_report_release(&rep);
    return ret;
}

/* ---- several volumes: move --server
 * ------------------------------------------------ */

#define GROUP_MAX 16

static void args_init(struct move_args *a);

static void print_group_done(struct journal *g, struct journal **js,
                             const struct migrate_report *reps, size_t n)
{
    struct json_out j = JSON_OUT_INIT;
    double worst = 0;
    bool timed = true; /* false: a cutover began in an earlier run */

    for (size_t i = 0; i < n; i++) {
        if (reps[i].downtime > worst)
            worst = reps[i].downtime;
        if (!(reps[i].downtime > 0))
            timed = false;
        fprintf(stderr,
                "rbdmove: volume %s -> %s: %u round%s, final round %.2f s, "
                "verify %.2f s, attach %.2f s\n",
                journal_get(js[i], "src.volume"), reps[i].dst_volume_id,
                reps[i].rounds, reps[i].rounds == 1 ? "" : "s", reps[i].t_final,
                reps[i].t_verify, reps[i].t_attach);
    }
    if (timed)
        fprintf(stderr,
                "rbdmove: moved %zu volumes with one cutover; downtime "
                "%.2f s\n",
                n, worst);
    else
        fprintf(stderr,
                "rbdmove: moved %zu volumes with one cutover; it began in an "
                "earlier run, its downtime is not known\n",
                n);
    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", "done");
    json_out_str(&j, "move", journal_id(g));
    json_downtime(&j, "downtime_s", timed ? worst : 0);
    json_out_array_begin(&j, "volumes");
    for (size_t i = 0; i < n; i++) {
        json_out_object_begin(&j, NULL);
        json_out_str(&j, "src_volume_id", journal_get(js[i], "src.volume"));
        json_out_str(&j, "dst_volume_id", reps[i].dst_volume_id);
        json_out_str(&j, "dst_device", reps[i].dst_device);
        json_downtime(&j, "downtime_s", reps[i].downtime);
        json_out_double(&j, "final_round_s", reps[i].t_final);
        json_out_u64(&j, "rounds", reps[i].rounds);
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

/* Run, resume or abort group g, whose members js[i] have options as[i]. */
static int drive_group(struct journal *g, struct journal **js,
                       struct move_args *as, size_t n, bool do_abort)
{
    struct dest_ctx dc = {&as[0], {NULL}, 0};
    struct migrate_opts os[GROUP_MAX];
    struct migrate_report reps[GROUP_MAX];
    struct error err = ERROR_INIT;
    int ret = 0;

    memset(reps, 0, sizeof(reps));
    progress_setup(as[0].progress, cli_json);
    for (size_t i = 0; i < n; i++) {
        os[i] = as[i].mo;
        os[i].make_dest = make_dest;
        os[i].make_dest_ctx = &dc;
        os[i].event = on_event;
        os[i].event_ctx = (void *)journal_id(js[i]);
        os[i].params.progress = progress_callback();
        if (!as[i].ssh)
            os[i].params.bwlimit = as[i].remote.bwlimit;
        os[i].params.cancel = cli_cancelled;
        test_hold(&os[i]);
    }
    progress_setup(as[0].progress, cli_json);
    cli_install_signals();
    if (do_abort) {
        for (size_t i = 0; i < n; i++) {
            if (migrate_abort(js[i], &os[i], &err) < 0) {
                cli_report_error(&err);
                ret = -1;
            }
        }
    } else {
        ret = migrate_run_group(js, n, os, reps, &err);
    }
    progress_stop();
    for (unsigned i = 0; i < dc.n; i++)
        cli_session_free(dc.sessions[i]);
    if (ret < 0 && !do_abort) {
        print_failed(g, &err);
        ret = cli_report_error(&err);
        fprintf(stderr,
                "rbdmove: move %s stopped: 'rbdmove resume %s' goes on, "
                "'rbdmove abort %s' undoes it\n",
                journal_id(g), journal_id(g), journal_id(g));
        if (err.kind == ERROR_INTERRUPTED)
            ret = EXIT_RESUMABLE;
    } else if (ret < 0) {
        ret = EXIT_FAIL;
    } else if (do_abort) {
        fprintf(stderr, "rbdmove: move %s aborted\n", journal_id(g));
    } else {
        print_group_done(g, js, reps, n);
    }
    for (size_t i = 0; i < n; i++)
        migrate_report_release(&reps[i]);
    return ret;
}

static void free_journals(struct journal **js, size_t n)
{
    for (size_t i = 0; i < n; i++)
        journal_free(js[i]);
}

static int move_server(struct move_args *a, int argc, char **argv,
                       const char *dir)
{
    struct journal *g = NULL, *js[GROUP_MAX] = {NULL};
    struct move_args as[GROUP_MAX];
    struct error err = ERROR_INIT;
    struct buf members = BUF_INIT;
    char **ids = NULL;
    size_t n = 0, made = 0;
    int ret = EXIT_FAIL;

    if (migrate_server_volumes(&a->mo.plan, a->server, &ids, &n, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    if (n > GROUP_MAX) {
        error_set(&err, ERROR_USAGE, 0,
                  "server %s has %zu volumes; at most %d move together",
                  a->server, n, GROUP_MAX);
        ret = cli_report_error(&err);
        goto out;
    }
    if (journal_create(dir, &g, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    for (; made < n; made++) {
        if (journal_create(dir, &js[made], &err) < 0) {
            ret = cli_report_error(&err);
            goto out;
        }
        record(js[made], argc, argv, ids[made]);
        journal_set(js[made], "group", journal_id(g));
        if (journal_save(js[made], &err) < 0) {
            ret = cli_report_error(&err);
            goto out;
        }
        buf_addf(&members, "%s%s", made ? "," : "", journal_id(js[made]));
        as[made] = *a;
        as[made].mo.plan.volume = ids[made];
    }
    journal_set(g, "group.server", a->server);
    journal_set(g, "group.members", buf_str(&members));
    journal_set(g, "phase", "group");
    if (journal_save(g, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    fprintf(stderr,
            "rbdmove: move %s: %zu volumes of server %s (journals in "
            "%s)\n",
            journal_id(g), n, a->server, dir);
    ret = drive_group(g, js, as, n, false);
out:
    free_journals(js, made);
    journal_free(g);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    buf_release(&members);
    return ret;
}

/* resume/abort of a group: its members' journals and options. */
static int group_by_id(struct journal *g, const char *dir,
                       const struct move_args *cl, bool do_abort)
{
    struct journal *js[GROUP_MAX] = {NULL};
    struct move_args as[GROUP_MAX];
    struct error err = ERROR_INIT;
    char *list = xstrdup(journal_get(g, "group.members"));
    char *save = NULL;
    size_t n = 0;
    int ret = EXIT_FAIL;

    for (char *id = strtok_r(list, ",", &save); id && n < GROUP_MAX;
         id = strtok_r(NULL, ",", &save)) {
        args_init(&as[n]);
        if (journal_open(dir, id, &js[n], &err) < 0 ||
            rebuild(js[n], &as[n], &err) < 0) {
            ret = cli_report_error(&err);
            n += js[n] != NULL;
            goto out;
        }
        as[n].progress = cl->progress;
        n++;
    }
    ret = drive_group(g, js, as, n, do_abort);
out:
    free_journals(js, n);
    free(list);
    return ret;
}

/* ---- commands
 * ----------------------------------------------------------------- */

static int parse_move(int argc, char **argv, struct move_args *a)
{
    struct cli_parser p;
    struct error err = ERROR_INIT;
    int c, ret = -1;

    cli_parser_init(&p, &move_command);
    while ((c = cli_next(&p, argc, argv)) != -1) {
        if (c == CLI_DONE_HELP || c == CLI_DONE_USAGE) {
            ret = c == CLI_DONE_HELP ? EXIT_OK : EXIT_USAGE;
            goto out;
        }
        if (apply_opt(a, c, optarg, &err) < 0) {
            ret = cli_usage_error(&move_command, "%s", err.msg);
            goto out;
        }
    }
    if (argc - optind != (a->server ? 0 : 1))
        ret = cli_usage_error(&move_command,
                              a->server ? "--server moves its volumes: give "
                                          "no VOLUME"
                                        : "expected one volume");
    else if (!a->mo.plan.dst_server || !a->mo.plan.dst.region)
        ret = cli_usage_error(&move_command,
                              "--dst-server and --dst-os-region-name are "
                              "required");
    else if (!a->mo.src_conf || !a->dst_conf)
        ret = cli_usage_error(&move_command,
                              "--src-conf and --dst-conf are required");
    else if (!a->server)
        a->mo.plan.volume = argv[optind];
out:
    cli_parser_release(&p);
    return ret;
}

static void args_init(struct move_args *a)
{
    memset(a, 0, sizeof(*a));
    a->converge = 64ull << 20;
    migrate_opts_init(&a->mo);
    a->mo.ceph_timeout = cli_ceph_timeout();
    cli_remote_init(&a->remote);
    a->mo.plan.src.use_env = true;
}

int cmd_move(int argc, char **argv)
{
    struct move_args a;
    struct journal *jr = NULL;
    struct error err = ERROR_INIT;
    char *dir = NULL;
    int ret;

    args_init(&a);
    ret = parse_move(argc, argv, &a);
    if (ret >= 0)
        return ret;
    dir = a.state_dir ? xstrdup(a.state_dir) : journal_default_dir();
    if (a.server) {
        ret = move_server(&a, argc, argv, dir);
        goto out;
    }
    if (journal_create(dir, &jr, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    record(jr, argc, argv, a.mo.plan.volume);
    fprintf(stderr, "rbdmove: move %s (journal in %s)\n", journal_id(jr), dir);
    ret = drive(jr, &a, false);
out:
    journal_free(jr);
    free(dir);
    return ret;
}

/* resume and abort: ID and the journal's options. */
static int by_id(int argc, char **argv, const struct cli_command *cmd,
                 bool do_abort)
{
    struct move_args a, cl;
    struct cli_parser p;
    struct journal *jr = NULL;
    struct error err = ERROR_INIT;
    char *dir = NULL;
    int c, ret = -1;

    args_init(&a);
    args_init(&cl);
    cli_parser_init(&p, cmd);
    while ((c = cli_next(&p, argc, argv)) != -1) {
        if (c == CLI_DONE_HELP || c == CLI_DONE_USAGE) {
            ret = c == CLI_DONE_HELP ? EXIT_OK : EXIT_USAGE;
            goto out;
        }
        if (apply_opt(&cl, c, optarg, &err) < 0) {
            ret = cli_usage_error(cmd, "%s", err.msg);
            goto out;
        }
    }
    if (argc - optind != 1) {
        ret = cli_usage_error(cmd, "expected the id of a move");
        goto out;
    }
    dir = cl.state_dir ? xstrdup(cl.state_dir) : journal_default_dir();
    if (journal_open(dir, argv[optind], &jr, &err) < 0) {
        ret = cli_report_error(&err);
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
    ret = drive(jr, &a, do_abort);
out:
    cli_parser_release(&p);
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
        for (size_t i = 0; i < journal_count(j); i++)
            printf("  %-22s %s\n", journal_key(j, i), journal_value(j, i));
    }
    json_out_release(&o);
}

int cmd_status(int argc, char **argv)
{
    struct move_args a;
    struct cli_parser p;
    struct error err = ERROR_INIT;
    char **ids = NULL;
    size_t n = 0;
    char *dir = NULL;
    int c, ret = -1;

    args_init(&a);
    cli_parser_init(&p, &status_command);
    while ((c = cli_next(&p, argc, argv)) != -1) {
        if (c == CLI_DONE_HELP || c == CLI_DONE_USAGE) {
            ret = c == CLI_DONE_HELP ? EXIT_OK : EXIT_USAGE;
            goto out;
        }
        if (apply_opt(&a, c, optarg, &err) < 0) {
            ret = cli_usage_error(&status_command, "%s", err.msg);
            goto out;
        }
    }
    dir = a.state_dir ? xstrdup(a.state_dir) : journal_default_dir();
    if (argc - optind > 1) {
        ret = cli_usage_error(&status_command, "expected at most one id");
        goto out;
    }
    if (argc - optind == 1) {
        ids = xcalloc(1, sizeof(*ids));
        ids[0] = xstrdup(argv[optind]);
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
        if (argc - optind == 1 || cli_json)
            show(j);
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
    cli_parser_release(&p);
    journal_ids_free(ids, n);
    free(dir);
    return ret;
}

/* ---- sync
 * ------------------------------------------------------------------------ */

static const struct cli_option sync_options[] = {
    {"os-cloud", required_argument, OPT_OS_CLOUD, "CLOUD",
     "source cloud in clouds.yaml (default $OS_CLOUD)"},
    {"os-region-name", required_argument, OPT_OS_REGION, "REGION",
     "source region"},
    {"dst-os-cloud", required_argument, OPT_DST_OS_CLOUD, "CLOUD",
     "destination cloud (default: the source's)"},
    {"dst-os-region-name", required_argument, OPT_DST_OS_REGION, "REGION",
     "destination region"},
    {"src-conf", required_argument, OPT_SRC_CONF, "CONF",
     "ceph configuration of the source cluster"},
    {"src-id", required_argument, OPT_SRC_ID, "ID",
     "ceph client id at the source (default admin)"},
    {"dst-conf", required_argument, OPT_DST_CONF, "CONF",
     "ceph configuration of the destination (a path on HOST with --ssh)"},
    {"dst-id", required_argument, OPT_DST_ID, "ID",
     "ceph client id at the destination (default admin)"},
    {"ssh", required_argument, OPT_SSH, "[USER@]HOST[:PORT]",
     "reach the destination cluster through an rbdmove receiver on HOST"},
    {"converge", required_argument, OPT_CONVERGE, "SIZE",
     "stop the rounds when less than SIZE changed (default 64M)"},
    {"max-rounds", required_argument, OPT_MAX_ROUNDS, "N",
     "incremental rounds at most (default 10)"},
    {"verify", no_argument, OPT_VERIFY, NULL,
     "compare the snapshots both sides share at the end"},
    {"dst-volume-type", required_argument, OPT_DST_VOLUME_TYPE, "TYPE",
     "volume type of the copy (default: the source's)"},
    {"dst-availability-zone", required_argument, OPT_DST_AZ, "ZONE",
     "availability zone of the copy"},
    {"src-pool", required_argument, OPT_SRC_POOL, "POOL",
     "source RBD pool (default: from Cinder, else volumes)"},
    {"dst-pool", required_argument, OPT_DST_POOL, "POOL",
     "destination RBD pool (default: from Cinder, else volumes)"},
    {"window", required_argument, OPT_WINDOW, "N",
     "chunks in flight per image (default 8)"},
    {"chunk-size", required_argument, OPT_CHUNK, "SIZE",
     "bytes per request (default 4M)"},
    {"os-interface", required_argument, OPT_OS_INTERFACE, "INTERFACE",
     "endpoint interface (default public)"},
    {"os-cacert", required_argument, OPT_OS_CACERT, "FILE",
     "CA bundle for the source cloud"},
    {"dst-os-cacert", required_argument, OPT_DST_OS_CACERT, "FILE",
     "CA bundle for the destination cloud"},
    {"insecure", no_argument, OPT_INSECURE, NULL,
     "do not verify TLS certificates (never in production)"},
    {"json", no_argument, OPT_JSON, NULL, "print JSON events on stdout"},
    {"progress", required_argument, OPT_PROGRESS, "WHEN",
     "auto, always or never (default auto)"},
    REMOTE_CLI_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_command sync_command = {
    "sync",
    "--os-cloud CLOUD --os-region-name REGION [--dst-os-cloud CLOUD]\n"
    "       --dst-os-region-name REGION --src-conf CONF --dst-conf CONF\n"
    "       [--ssh [USER@]HOST[:PORT]] [--json] VOLUME",
    "Keep a disaster-recovery copy of VOLUME in another region: the first\n"
    "run creates the copy (a volume marked rbdmove.sync_of) and seeds it,\n"
    "every later run moves only what changed. Nothing is detached.",
    sync_options,
};

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

int cmd_sync(int argc, char **argv)
{
    struct move_args a;
    struct migrate_sync_opts so;
    struct migrate_sync_result res;
    struct dest_ctx dc;
    struct cli_parser p;
    struct error err = ERROR_INIT;
    int c, ret = -1;

    args_init(&a);
    a.mo.max_rounds = 10;
    cli_parser_init(&p, &sync_command);
    while ((c = cli_next(&p, argc, argv)) != -1) {
        if (c == CLI_DONE_HELP || c == CLI_DONE_USAGE) {
            cli_parser_release(&p);
            return c == CLI_DONE_HELP ? EXIT_OK : EXIT_USAGE;
        }
        if (apply_opt(&a, c, optarg, &err) < 0) {
            cli_parser_release(&p);
            return cli_usage_error(&sync_command, "%s", err.msg);
        }
    }
    if (argc - optind != 1)
        ret = cli_usage_error(&sync_command, "expected one volume");
    else if (!a.mo.plan.dst.region)
        ret =
            cli_usage_error(&sync_command, "--dst-os-region-name is required");
    else if (!a.mo.src_conf || !a.dst_conf)
        ret = cli_usage_error(&sync_command,
                              "--src-conf and --dst-conf are required");
    if (ret >= 0) {
        cli_parser_release(&p);
        return ret;
    }
    a.mo.plan.volume = argv[optind];
    cli_parser_release(&p);
    memset(&dc, 0, sizeof(dc));
    dc.a = &a;
    memset(&so, 0, sizeof(so));
    so.m = a.mo;
    so.m.make_dest = make_dest;
    so.m.make_dest_ctx = &dc;
    so.m.event = on_event;
    so.m.event_ctx = (void *)"sync";
    progress_setup(a.progress, cli_json);
    so.m.params.progress = progress_callback();
    if (!a.ssh)
        so.m.params.bwlimit = a.remote.bwlimit;
    so.m.params.cancel = cli_cancelled;
    so.converge = a.converge;
    so.max_rounds = a.mo.max_rounds;
    so.verify = a.verify;
    progress_setup(a.progress, cli_json);
    cli_install_signals();
    ret = migrate_sync(&so, &res, &err);
    progress_stop();
    for (unsigned i = 0; i < dc.n; i++)
        cli_session_free(dc.sessions[i]);
    if (ret < 0)
        return cli_report_error(&err);
    print_synced(&res);
    migrate_sync_result_release(&res);
    return EXIT_OK;
}
