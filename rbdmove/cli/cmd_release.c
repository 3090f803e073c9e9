/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_release.c: `rbdmove release`, rbdmove's snapshots and
 * marks off a volume (migrate_release), so that Cinder can delete it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/cli/cmd_move_int.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/migrate.h"

static const struct cli_command command = {
    "release",
    "[--os-cloud CLOUD] [--os-region-name REGION] --conf CONF [--json]\n"
    "       VOLUME",
    "Remove rbdmove's snapshots and marks from VOLUME (a volume that sync\n"
    "keeps a copy of, or such a copy, or what a move left behind), so that\n"
    "Cinder can delete it. A copy stops being one; the next sync of its\n"
    "source makes a new copy and seeds it.",
};

static enum parse_options_status parse(int argc, char **argv,
                                       struct migrate_release_opts *o,
                                       const char **state_dir, bool *json)
{
    struct plan_options *p = &o->plan;
    struct parse_option opts[] = {
        OPT_OPENSTACK_CLOUD(
            p, "the volume's region (default $OS_REGION_NAME or the cloud's)"),
        OPT_STRING(0, "conf", &o->conf, "CONF",
                   "ceph configuration of the volume's cluster"),
        OPT_CEPH_ID("id", &o->id, "ceph client id (default admin)"),
        OPT_POOL("pool", &o->pool,
                 "the volume's RBD pool (default: from Cinder, else "
                 "volumes)"),
        OPT_CEPH_TIMEOUT(),
        OPT_STRING(0, "state-dir", state_dir, "DIR",
                   "where the syncs' locks are (default "
                   "$XDG_STATE_HOME/rbdmove, else ~/.local/state/rbdmove)"),
        OPT_OPENSTACK_CONNECTION(p),
        OPT_BOOL(0, "json", json, "print the result as one JSON object"),
        OPT_END(),
    };
    enum parse_options_status st;
    int n;

    st = parse_options(&command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n != 1 || !argv[0][0])
        return parse_options_error(&command,
                                   "expected one volume (name or id)");
    if (!o->conf)
        return parse_options_error(&command, "--conf is required");
    p->volume = argv[0];
    p->dst = p->src;
    return PARSE_OPT_DONE;
}

int cmd_release(int argc, char **argv)
{
    struct migrate_release_opts o;
    struct migrate_release_result res;
    struct error err = ERROR_INIT;
    enum parse_options_status st;
    const char *state_dir = NULL;
    bool json = false;
    char *dir;
    int ret;

    memset(&o, 0, sizeof(o));
    st = parse(argc, argv, &o, &state_dir, &json);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    dir = state_dir ? xstrdup(state_dir) : journal_default_dir();
    o.state_dir = dir;
    o.ceph_timeout = cli_ceph_timeout();
    {
        struct migrate_opts hold;

        memset(&hold, 0, sizeof(hold));
        test_hold_from_env(&hold);
        o.hold_point = hold.hold_phase;
        o.hold_seconds = hold.hold_seconds;
    }
    ret = migrate_release(&o, &res, &err);
    free(dir);
    if (ret < 0)
        return cli_report_error(&err);
    fprintf(stderr,
            "rbdmove: released %svolume %s: %zu snapshot%s, %zu image and "
            "%zu Cinder metadata key%s removed\n",
            res.copy ? "copy " : "", res.volume_id, res.snaps,
            res.snaps == 1 ? "" : "s", res.image_keys, res.cinder_keys,
            res.cinder_keys == 1 ? "" : "s");
    if (res.groups)
        fprintf(stderr,
                "rbdmove: the RBD group a stopped 'sync --server' left on it "
                "was removed too (its other volumes left it with it)\n");
    if (json) {
        struct json_out j = JSON_OUT_INIT;

        json_out_object_begin(&j, NULL);
        json_out_str(&j, "event", "released");
        json_out_str(&j, "volume_id", res.volume_id);
        json_out_bool(&j, "copy", res.copy);
        json_out_u64(&j, "snapshots", res.snaps);
        json_out_u64(&j, "image_keys", res.image_keys);
        json_out_u64(&j, "cinder_keys", res.cinder_keys);
        json_out_u64(&j, "groups", res.groups);
        json_out_object_end(&j);
        printf("%s\n", json_out_text(&j));
        json_out_release(&j);
    }
    return EXIT_OK;
}
