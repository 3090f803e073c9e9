/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_failover.c: `rbdmove failover`, the copies that sync keeps
 * take over in the DR region (migrate_failover), with the primary region
 * gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/cli/cmd_move_int.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/cli/progress.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/migrate.h"
#include "rbdmove/core/replicate.h"
#include "rbdmove/core/retention.h"

static const struct cli_command command = {
    "failover",
    "[--os-cloud CLOUD] [--os-region-name DR_REGION] --dst-conf DR_CONF\n"
    "       [--point TIME|SNAPSHOT|latest] --dst-server SERVER [--json]\n"
    "       COPY...",
    "Fail over to the copies that 'rbdmove sync' keeps in the disaster-\n"
    "recovery region: roll each COPY (its name or id there) back to a\n"
    "recovery point, attach it to SERVER and mark it failed over. Only the\n"
    "DR region's API and cluster are used; the primary may be gone. All\n"
    "copies are checked before any is changed; a second run after an\n"
    "interruption finishes the job. A sync into a failed-over copy is\n"
    "refused.",
};

static enum parse_options_status parse(int argc, char **argv,
                                       struct migrate_failover_opts *o,
                                       const char **state_dir)
{
    struct plan_options *p = &o->plan;
    struct parse_option opts[] = {
        OPT_OPENSTACK_CLOUD(
            p, "the DR region (default $OS_REGION_NAME or the cloud's)"),
        OPT_STRING(0, "dst-conf", &o->conf, "CONF",
                   "ceph configuration of the DR cluster"),
        OPT_CEPH_ID("dst-id", &o->id, "ceph client id (default admin)"),
        OPT_POOL("dst-pool", &o->pool,
                 "the copies' RBD pool (default: from Cinder, else "
                 "volumes)"),
        OPT_STRING(0, "point", &o->point, "TIME|SNAPSHOT|latest",
                   "the recovery point: the newest synced at or before "
                   "TIME (YYYY-MM-DDTHH:MM:SSZ, as 'rbdmove points' shows), "
                   "a snapshot by name, or latest (default)"),
        OPT_STRING(0, "dst-server", &p->dst_server, "SERVER",
                   "the server the copies are attached to (name or id)"),
        OPT_SECONDS(0, "attach-timeout", &o->attach_timeout, "SECONDS",
                    "how long Nova may take to attach a copy (default "
                    "120)"),
        OPT_CEPH_TIMEOUT(),
        OPT_STRING(0, "state-dir", state_dir, "DIR",
                   "where the syncs' locks are (default "
                   "$XDG_STATE_HOME/rbdmove, else ~/.local/state/rbdmove)"),
        OPT_OPENSTACK_CONNECTION(p),
        OPT_BOOL(0, "json", &cli_json, "print one JSON object per copy"),
        OPT_END(),
    };
    enum parse_options_status st;
    int n;

    st = parse_options(&command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n < 1)
        return parse_options_error(&command,
                                   "expected one or more copies (name or id)");
    for (int i = 0; i < n; i++)
        if (!argv[i][0])
            return parse_options_error(&command, "a copy's name is empty");
    if (!o->conf)
        return parse_options_error(&command,
                                   "--dst-conf is required (the DR cluster)");
    if (!p->dst_server || !p->dst_server[0])
        return parse_options_error(&command, "--dst-server is required");
    if (o->point && strcmp(o->point, "latest") &&
        retention_parse_time(o->point) < 0 && !replicate_snap_is_ours(o->point))
        return parse_options_error(
            &command,
            "--point '%s' is neither latest, a time YYYY-MM-DDTHH:MM:SSZ "
            "(UTC) nor the name of one of rbdmove's snapshots",
            o->point);
    o->copies = (const char *const *)argv;
    o->n_copies = (size_t)n;
    /* One region: the pre-flight's other side is the same one. */
    p->dst = p->src;
    return PARSE_OPT_DONE;
}

static void on_failover_event(void *ctx, const struct migrate_event *ev)
{
    struct json_out j = JSON_OUT_INIT;

    (void)ctx;
    fprintf(stderr, "rbdmove: %s: %s\n", ev->phase, ev->msg);
    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", ev->phase);
    json_out_str(&j, "message", ev->msg);
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

static void print_copy(const struct migrate_failover_result *res,
                       const struct migrate_failover_copy *c)
{
    struct json_out j = JSON_OUT_INIT;

    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", "failed_over");
    json_out_str(&j, "copy", c->volume_id);
    if (c->name)
        json_out_str(&j, "name", c->name);
    json_out_str(&j, "server", res->server_id);
    json_out_str(&j, "point", c->point);
    json_out_str(&j, "point_time", c->point_time);
    json_out_bool(&j, "rolled_back", c->rolled_back);
    json_out_bool(&j, "attached", c->attached);
    if (c->device)
        json_out_str(&j, "device", c->device);
    json_out_object_end(&j);
    events_print(&j);
    json_out_release(&j);
}

int cmd_failover(int argc, char **argv)
{
    struct migrate_failover_opts o;
    struct migrate_failover_result res;
    struct migrate_opts hold;
    struct error err = ERROR_INIT;
    enum parse_options_status st;
    const char *state_dir = NULL;
    char *dir;
    int ret;

    memset(&o, 0, sizeof(o));
    st = parse(argc, argv, &o, &state_dir);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    dir = state_dir ? xstrdup(state_dir) : journal_default_dir();
    o.state_dir = dir;
    o.ceph_timeout = cli_ceph_timeout();
    o.event = on_failover_event;
    memset(&hold, 0, sizeof(hold));
    test_hold_from_env(&hold);
    o.hold_point = hold.hold_phase;
    o.hold_seconds = hold.hold_seconds;
    progress_setup(PROGRESS_NEVER, cli_json);
    cli_install_signals();
    ret = migrate_failover(&o, &res, &err);
    for (size_t i = 0; i < res.n; i++)
        print_copy(&res, &res.c[i]);
    if (ret < 0) {
        cli_error_event("failover", &err);
        ret = cli_report_error(&err);
    } else {
        fprintf(stderr,
                "rbdmove: %zu cop%s failed over to server %s; 'rbdmove sync' "
                "into %s is refused from now on\n",
                res.n, res.n == 1 ? "y" : "ies", res.server_id,
                res.n == 1 ? "it" : "them");
        ret = EXIT_OK;
    }
    migrate_failover_result_release(&res);
    free(dir);
    return ret;
}
