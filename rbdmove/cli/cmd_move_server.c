/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_move_server.c: `rbdmove move --server SERVER`, every data
 * volume of a server moved with one cutover, and the resume and abort of
 * such a move (a group journal naming one journal per volume). cmd_move.c
 * parses the options and dispatches here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cmd_move_int.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/core/migrate.h"
#include "rbdmove/core/move_record.h"
#include "rbdmove/cli/progress.h"
#include "rbdmove/base/xalloc.h"

/* ---- several volumes: move --server
 * ------------------------------------------------ */

#define GROUP_MAX 16

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
        json_out_u64(&j, "throttle_level", reps[i].throttle_pct);
        json_out_double(&j, "throttled_s", reps[i].throttled_s);
        json_out_object_end(&j);
    }
    json_out_array_end(&j);
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

/* True when no member of a group went past its pre-flight: no volume was
 * created, no snapshot taken (phase "new" comes before any of it). */
static bool group_untouched(struct journal **js, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *phase = journal_get(js[i], "phase");

        if (phase && strcmp(phase, move_phase_name(MOVE_NEW)))
            return false;
    }
    return true;
}

/* A member was aborted: the group does not "go on". */
static bool group_aborted(struct journal **js, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *phase = journal_get(js[i], "phase");

        if (phase && !strcmp(phase, move_phase_name(MOVE_ABORTED)))
            return true;
    }
    return false;
}

/* A new group that changed nothing: its journals go, as a single move's. */
static void discard_group(struct journal *g, struct journal **js, size_t n)
{
    struct error err = ERROR_INIT;
    bool ok = true;

    for (size_t i = 0; i < n; i++) {
        if (journal_discard(js[i], &err) < 0) {
            cli_report_error(&err);
            ok = false;
        }
    }
    if (journal_discard(g, &err) < 0) {
        cli_report_error(&err);
        ok = false;
    }
    if (ok)
        fprintf(stderr, "rbdmove: nothing was changed\n");
}

/*
 * Run, resume or abort group g, whose members js[i] have options as[i].
 * fresh: g was made by this run, and goes again if nothing was changed.
 */
static int drive_group(struct journal *g, struct journal **js,
                       struct move_args *as, size_t n, bool do_abort,
                       bool fresh)
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
        os[i].ceph_timeout = cli_ceph_timeout();
        test_hold_from_env(&os[i]);
    }
    /* One turn for the whole server, taken when the last volume is ready
     * (migrate_group.c prepares them in order, then looks again at the
     * first ones): the earlier volumes' seeds do not hold it. */
    cutover_gate_from_env(&os[n - 1]);
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
    if (ret < 0 && !do_abort && fresh && group_untouched(js, n)) {
        print_failed(g, &err);
        ret = cli_report_error(&err);
        discard_group(g, js, n);
    } else if (ret < 0 && !do_abort) {
        print_failed(g, &err);
        ret = cli_report_error(&err);
        if (!group_aborted(js, n))
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

int move_server(struct move_args *a, const char *dir)
{
    struct journal *g = NULL, *js[GROUP_MAX] = {NULL};
    struct move_args as[GROUP_MAX];
    struct error err = ERROR_INIT;
    struct buf members = BUF_INIT;
    char **ids = NULL;
    size_t n = 0, made = 0;
    int ret = EXIT_FAIL;

    if (migrate_server_volumes(&a->mo.plan, a->server, &ids, &n, NULL, &err) <
        0) {
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
        record(js[made], a, ids[made]);
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
    journal_set(g, "phase", move_phase_name(MOVE_GROUP));
    if (journal_save(g, &err) < 0) {
        ret = cli_report_error(&err);
        goto out;
    }
    fprintf(stderr,
            "rbdmove: move %s: %zu volumes of server %s (journals in "
            "%s)\n",
            journal_id(g), n, a->server, dir);
    ret = drive_group(g, js, as, n, false, true);
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
int group_by_id(struct journal *g, const char *dir, const struct move_args *cl,
                bool do_abort)
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
    ret = drive_group(g, js, as, n, do_abort, false);
out:
    free_journals(js, n);
    free(list);
    return ret;
}
