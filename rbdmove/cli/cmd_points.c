/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_points.c: `rbdmove points`, the recovery points of a copy
 * that `rbdmove sync --keep` keeps, read from the DR region alone.
 */
#include <stdio.h>
#include <string.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/core/migrate.h"

static const struct cli_command command = {
    "points",
    "[--os-cloud CLOUD] [--os-region-name REGION] [--json] COPY",
    "List the recovery points of COPY, a copy that 'rbdmove sync' keeps\n"
    "(its name or id in the disaster-recovery region), newest first: when\n"
    "each was synced, whether it was verified, and which source snapshot\n"
    "it is. Reads only that region's API.",
};

static enum parse_options_status parse(int argc, char **argv,
                                       struct plan_options *o)
{
    struct parse_option opts[] = {
        OPT_OPENSTACK_CLOUD(
            o, "the copy's region (default $OS_REGION_NAME or the cloud's)"),
        OPT_OPENSTACK_CONNECTION(o),
        OPT_BOOL(0, "json", &cli_json, "print one JSON object per point"),
        OPT_END(),
    };
    enum parse_options_status st;
    int n;

    st = parse_options(&command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n != 1 || !argv[0][0])
        return parse_options_error(&command, "expected one copy (name or id)");
    o->volume = argv[0];
    /* One region: the pre-flight's other side is the same one. */
    o->dst = o->src;
    return PARSE_OPT_DONE;
}

int cmd_points(int argc, char **argv)
{
    struct plan_options o;
    struct migrate_points pts;
    struct error err = ERROR_INIT;
    enum parse_options_status st;

    memset(&o, 0, sizeof(o));
    st = parse(argc, argv, &o);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    if (migrate_points(&o, &pts, &err) < 0)
        return cli_report_error(&err);
    if (!cli_json) {
        printf("copy %s of volume %s: %zu recovery point%s\n", pts.copy_id,
               pts.sync_of, pts.n, pts.n == 1 ? "" : "s");
        if (pts.group)
            printf("synced with the other volumes of server %s (%zu "
                   "copies): only the points all of them hold\n",
                   pts.group, pts.group_size);
        if (pts.failover_point)
            printf("%s to point %s: it is the workload's volume now\n",
                   pts.failed_over ? "failed over" : "being failed over",
                   pts.failover_point);
        for (size_t i = 0; i < pts.n; i++)
            printf("  %s  %-40s  %-10s%s  %s\n", pts.p[i].time, pts.p[i].snap,
                   pts.p[i].verified ? "verified" : "unverified",
                   pts.p[i].base ? "  base" : "", pts.p[i].source);
    }
    for (size_t i = 0; i < pts.n && cli_json; i++) {
        struct json_out j = JSON_OUT_INIT;

        json_out_object_begin(&j, NULL);
        json_out_str(&j, "event", "point");
        json_out_str(&j, "copy_id", pts.copy_id);
        json_out_str(&j, "sync_of", pts.sync_of);
        json_out_str(&j, "snap", pts.p[i].snap);
        json_out_str(&j, "time", pts.p[i].time);
        json_out_bool(&j, "verified", pts.p[i].verified);
        json_out_bool(&j, "base", pts.p[i].base);
        json_out_str(&j, "source", pts.p[i].source);
        if (pts.group) {
            json_out_str(&j, "group", pts.group);
            json_out_u64(&j, "group_size", pts.group_size);
        }
        if (pts.failover_point) {
            json_out_str(&j, "failover_point", pts.failover_point);
            json_out_bool(&j, "failed_over", pts.failed_over);
        }
        json_out_object_end(&j);
        printf("%s\n", json_out_text(&j));
        json_out_release(&j);
    }
    migrate_points_release(&pts);
    return EXIT_OK;
}
