/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_plan.c: `rbdmove plan`, the read-only pre-flight of a move.
 *
 * Parses the options, runs plan_build (rbdmove/core/plan.c) and prints the
 * plan on stdout, as text or as one JSON object (--json). Exit status: 0
 * when the move can proceed, 1 when a problem was found, 2 for usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/core/plan.h"
#include "rbdmove/base/strutil.h"

static const struct cli_command command = {
    "plan",
    "[--os-cloud CLOUD] [--os-region-name REGION] [--dst-os-cloud CLOUD]\n"
    "           --dst-os-region-name REGION --dst-server SERVER [--json] "
    "VOLUME",
    "Check, without changing anything, whether VOLUME can move to SERVER in\n"
    "the destination region: print the source volume, its attachment and\n"
    "RBD image, the destination server and the volume that would be\n"
    "created there, and every problem found. Exits 0 when the move can\n"
    "proceed, 1 when it cannot.",
};

static enum parse_options_status parse(int argc, char **argv,
                                       struct plan_options *o)
{
    struct parse_option opts[] = {
        OPT_OPENSTACK_CLOUDS(o),
        OPT_OPENSTACK_DST_SERVER(o),
        OPT_OPENSTACK_NEW_VOLUME(o, "the new volume"),
        OPT_OPENSTACK_CONNECTION(o),
        OPT_BOOL(0, "json", &cli_json, "print the plan as one JSON object"),
        OPT_END(),
    };
    enum parse_options_status st;
    int n;

    st = parse_options(&command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return st;
    if (n != 1)
        return parse_options_error(&command,
                                   "expected one volume (name or id)");
    if (!o->dst_server)
        return parse_options_error(&command, "--dst-server is required");
    if (!o->dst.region)
        return parse_options_error(&command,
                                   "--dst-os-region-name is required");
    o->volume = argv[0];
    return PARSE_OPT_DONE;
}

/* ---- text ------------------------------------------------------------------
 */

static const char * or (const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

static void print_side_header(const char *what, const struct plan_side *s)
{
    printf("%s: cloud '%s'", what, or (s->cloud, "?"));
    if (s->source)
        printf(" (from %s)", s->source);
    printf(", region '%s'", or (s->region, "(none)"));
    if (s->auth_url)
        printf(" at %s", s->auth_url);
    printf("%s\n", s->authenticated ? "" : " (not authenticated)");
}

static void print_source(const struct plan *p)
{
    const struct cinder_volume *v = &p->volume;
    char size[32];

    print_side_header("source", &p->src);
    if (!p->have_volume)
        return;
    printf("  volume       %s '%s'\n", v->id, or (v->name, ""));
    printf("  size         %" PRIu64 " GiB (%s)\n", v->size_gib,
           format_bytes(v->size_gib << 30, size, sizeof(size)));
    printf("  type         %s\n", or (v->volume_type, "(none)"));
    printf("  status       %s\n", v->status);
    for (size_t i = 0; i < p->n_attachments; i++) {
        const struct plan_attachment *a = &p->attachments[i];

        printf("  attached to  server %s '%s' (%s) as %s\n", a->server_id,
               or (a->server_name, "?"), or (a->server_status, "?"),
               or (a->device, "?"));
    }
    if (!p->n_attachments)
        printf("  attached to  nothing\n");
    printf("  rbd image    %s/%s\n", or (p->rbd_pool, "(pool unknown)"),
           p->rbd_image);
    if (p->ceph_fsid)
        printf("  ceph fsid    %s\n", p->ceph_fsid);
    if (v->host)
        printf("  backend      %s\n", v->host);
}

static void print_limit(const char *what, int64_t used, int64_t max,
                        const char *sep)
{
    if (max == CINDER_LIMIT_UNKNOWN)
        return;
    if (max < 0)
        printf("%s%s %" PRId64 " (unlimited)", sep, what, used);
    else
        printf("%s%s %" PRId64 " of %" PRId64, sep, what, used, max);
}

static void print_destination(const struct plan *p)
{
    const struct nova_server *s = &p->server;

    print_side_header("destination", &p->dst);
    if (p->have_server)
        printf("  server       %s '%s' (%s%s%s)\n", s->id, or (s->name, ""),
               s->status, s->availability_zone ? ", availability zone " : "",
               or (s->availability_zone, ""));
    if (p->have_volume) {
        printf("  new volume   '%s', %" PRIu64 " GiB, type %s, availability "
               "zone %s\n",
               or (p->new_name, ""), p->new_size_gib,
               or (p->new_type, "(default)"),
               or (p->new_availability_zone, "(default)"));
        printf("  rbd pool     %s\n", or (p->dst_rbd_pool, "(unknown)"));
    }
    if (p->dst_ceph_fsid)
        printf("  ceph fsid    %s\n", p->dst_ceph_fsid);
    if (p->have_limits) {
        printf("  quota used   ");
        print_limit("volumes", p->dst_limits.volumes_used,
                    p->dst_limits.volumes_max, "");
        print_limit("gigabytes", p->dst_limits.gigabytes_used,
                    p->dst_limits.gigabytes_max, ", ");
        printf("\n");
    }
}

static void print_notes(const struct plan *p, enum plan_severity sev,
                        const char *title)
{
    size_t n = plan_count(p, sev);

    if (!n)
        return;
    printf("%s (%zu):\n", title, n);
    for (size_t i = 0; i < p->n_notes; i++) {
        if (p->notes[i].severity == sev)
            printf("  - %s: %s\n", p->notes[i].side, p->notes[i].text);
    }
}

static void print_text(const struct plan *p)
{
    size_t problems = plan_count(p, PLAN_PROBLEM);

    print_source(p);
    print_destination(p);
    print_notes(p, PLAN_PROBLEM, "problems");
    print_notes(p, PLAN_WARNING, "warnings");
    if (problems)
        printf("result: the move cannot proceed (%zu problem%s)\n", problems,
               problems == 1 ? "" : "s");
    else
        printf("result: the move can proceed\n");
}

/* ---- JSON ------------------------------------------------------------------
 */

static void json_side(struct json_out *j, const struct plan_side *s)
{
    json_out_str(j, "cloud", s->cloud);
    json_out_str(j, "region", s->region);
    json_out_str(j, "config_file", s->source);
    json_out_str(j, "auth_url", s->auth_url);
    json_out_str(j, "project_id", s->project_id);
    json_out_bool(j, "authenticated", s->authenticated);
    json_out_str(j, "cinder_url", s->cinder_url);
    json_out_str(j, "nova_url", s->nova_url);
}

static void json_volume(struct json_out *j, const struct cinder_volume *v)
{
    json_out_object_begin(j, "volume");
    json_out_str(j, "id", v->id);
    json_out_str(j, "name", v->name);
    json_out_u64(j, "size_gib", v->size_gib);
    json_out_str(j, "type", v->volume_type);
    json_out_str(j, "status", v->status);
    json_out_str(j, "availability_zone", v->availability_zone);
    json_out_str(j, "host", v->host);
    json_out_bool(j, "bootable", v->bootable);
    json_out_bool(j, "multiattach", v->multiattach);
    json_out_bool(j, "encrypted", v->encrypted);
    json_out_object_end(j);
}

static void json_source(struct json_out *j, const struct plan *p)
{
    json_out_object_begin(j, "source");
    json_side(j, &p->src);
    if (!p->have_volume) {
        json_out_null(j, "volume");
        json_out_null(j, "rbd");
        json_out_object_end(j);
        return;
    }
    json_volume(j, &p->volume);
    json_out_array_begin(j, "attachments");
    for (size_t i = 0; i < p->n_attachments; i++) {
        json_out_object_begin(j, NULL);
        json_out_str(j, "server_id", p->attachments[i].server_id);
        json_out_str(j, "server_name", p->attachments[i].server_name);
        json_out_str(j, "server_status", p->attachments[i].server_status);
        json_out_str(j, "device", p->attachments[i].device);
        json_out_object_end(j);
    }
    json_out_array_end(j);
    json_out_object_begin(j, "rbd");
    json_out_str(j, "pool", p->rbd_pool);
    json_out_str(j, "image", p->rbd_image);
    json_out_str(j, "ceph_fsid", p->ceph_fsid);
    json_out_object_end(j);
    json_out_object_end(j);
}

static void json_limit(struct json_out *j, const char *key, int64_t v)
{
    if (v == CINDER_LIMIT_UNKNOWN)
        json_out_null(j, key);
    else
        json_out_i64(j, key, v);
}

static void json_quota(struct json_out *j, const struct plan *p)
{
    const struct cinder_limits *l = &p->dst_limits;

    if (!p->have_limits) {
        json_out_null(j, "quota");
        return;
    }
    json_out_object_begin(j, "quota");
    json_limit(j, "volumes_used", l->volumes_used);
    json_limit(j, "volumes_max", l->volumes_max);
    json_limit(j, "gigabytes_used", l->gigabytes_used);
    json_limit(j, "gigabytes_max", l->gigabytes_max);
    json_limit(j, "per_volume_gigabytes", l->per_volume_gigabytes);
    json_out_object_end(j);
}

static void json_destination(struct json_out *j, const struct plan *p)
{
    const struct nova_server *s = &p->server;

    json_out_object_begin(j, "destination");
    json_side(j, &p->dst);
    if (p->have_server) {
        json_out_object_begin(j, "server");
        json_out_str(j, "id", s->id);
        json_out_str(j, "name", s->name);
        json_out_str(j, "status", s->status);
        json_out_str(j, "task_state", s->task_state);
        json_out_str(j, "availability_zone", s->availability_zone);
        json_out_bool(j, "locked", s->locked);
        json_out_object_end(j);
    } else {
        json_out_null(j, "server");
    }
    if (p->have_volume) {
        json_out_object_begin(j, "volume");
        json_out_str(j, "name", p->new_name);
        json_out_u64(j, "size_gib", p->new_size_gib);
        json_out_str(j, "type", p->new_type);
        json_out_str(j, "availability_zone", p->new_availability_zone);
        json_out_object_end(j);
    } else {
        json_out_null(j, "volume");
    }
    json_out_object_begin(j, "rbd");
    json_out_str(j, "pool", p->dst_rbd_pool);
    json_out_str(j, "ceph_fsid", p->dst_ceph_fsid);
    json_out_object_end(j);
    json_quota(j, p);
    json_out_object_end(j);
}

static void json_notes(struct json_out *j, const struct plan *p,
                       enum plan_severity sev, const char *key)
{
    json_out_array_begin(j, key);
    for (size_t i = 0; i < p->n_notes; i++) {
        const struct plan_note *n = &p->notes[i];

        if (n->severity != sev)
            continue;
        json_out_object_begin(j, NULL);
        json_out_str(j, "side", n->side);
        json_out_str(j, "kind", error_kind_name(n->kind));
        json_out_i64(j, "cause", n->cause);
        json_out_str(j, "message", n->text);
        json_out_object_end(j);
    }
    json_out_array_end(j);
}

static void print_json(const struct plan *p)
{
    struct json_out j = JSON_OUT_INIT;

    json_out_object_begin(&j, NULL);
    json_out_bool(&j, "ok", plan_ok(p));
    json_source(&j, p);
    json_destination(&j, p);
    json_notes(&j, p, PLAN_PROBLEM, "problems");
    json_notes(&j, p, PLAN_WARNING, "warnings");
    json_out_object_end(&j);
    printf("%s\n", json_out_text(&j));
    json_out_release(&j);
}

int cmd_plan(int argc, char **argv)
{
    struct plan_options o;
    enum parse_options_status st;
    struct plan *p;
    int ret;

    memset(&o, 0, sizeof(o));
    o.src.use_env = true;
    st = parse(argc, argv, &o);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    p = plan_build(&o);
    if (cli_json)
        print_json(p);
    else
        print_text(p);
    fflush(stdout);
    ret = plan_ok(p) ? EXIT_OK : EXIT_FAIL;
    plan_free(p);
    return ret;
}
