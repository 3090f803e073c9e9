/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/plan.c: the pre-flight of a move, which changes nothing.
 *
 * This is the first half of the move and, like migrate.c, one of the two
 * core files allowed to talk to openstack/ (style.md §4.1 says core reaches
 * OpenStack only through migrate.c; plan.c is migrate.c's pre-flight, split
 * out so that `rbdmove plan` can run it alone). It asks both regions what
 * they have and records every problem as a note instead of stopping at the
 * first one, so that one run tells an operator everything to fix. It never
 * prints: cmd_plan.c does.
 */
#include "rbdmove/core/plan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

static const char *const SRC = "source";
static const char *const DST = "destination";

static void __attribute__((format(printf, 6, 0)))
note_v(struct plan *p, enum plan_severity severity, const char *side,
       enum error_kind kind, int cause, const char *fmt, va_list ap)
{
    struct plan_note *n;
    struct buf b = BUF_INIT;

    buf_vaddf(&b, fmt, ap);
    p->notes = xrealloc(p->notes, (p->n_notes + 1) * sizeof(*p->notes));
    n = &p->notes[p->n_notes++];
    n->severity = severity;
    n->side = side;
    n->kind = kind;
    n->cause = cause;
    n->text = buf_take(&b);
}

static void __attribute__((format(printf, 3, 4)))
problem(struct plan *p, const char *side, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    note_v(p, PLAN_PROBLEM, side, ERROR_STATE, 0, fmt, ap);
    va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
warning(struct plan *p, const char *side, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    note_v(p, PLAN_WARNING, side, ERROR_STATE, 0, fmt, ap);
    va_end(ap);
}

/* A failed call as a note, keeping its kind and cause. */
static void failed(struct plan *p, enum plan_severity severity,
                   const char *side, const struct error *err)
{
    struct plan_note *n;

    p->notes = xrealloc(p->notes, (p->n_notes + 1) * sizeof(*p->notes));
    n = &p->notes[p->n_notes++];
    n->severity = severity;
    n->side = side;
    n->kind = err->kind;
    n->cause = err->cause;
    n->text = xstrdup(err->msg);
}

/* ---- the source volume alone ------------------------------------------- */

/* Device names a server boots from; Nova refuses to detach those. */
static bool is_root_device(const char *dev)
{
    static const char *const roots[] = {"/dev/vda", "/dev/sda", "/dev/xvda",
                                        "/dev/hda", NULL};

    for (int i = 0; dev && roots[i]; i++) {
        if (!strcmp(dev, roots[i]))
            return true;
    }
    return false;
}

static void check_status(struct plan *p, const struct cinder_volume *v)
{
    switch (cinder_status_classify(v->status)) {
    case CINDER_STATUS_STABLE:
        break;
    case CINDER_STATUS_ERROR:
        problem(p, SRC, "volume %s is in status '%s'", v->id, v->status);
        break;
    case CINDER_STATUS_BUSY:
        problem(p, SRC,
                "volume %s is '%s': wait until it is 'available' or "
                "'in-use'",
                v->id, v->status);
        break;
    default:
        problem(p, SRC, "volume %s has a status rbdmove does not know: '%s'",
                v->id, v->status);
    }
}

void plan_check_volume(struct plan *p, const struct cinder_volume *v)
{
    const char *mig = v->migration_status;

    check_status(p, v);
    if (v->n_attachments > 1)
        problem(p, SRC,
                "volume %s is attached to %zu servers: a multi-attached "
                "volume cannot be moved",
                v->id, v->n_attachments);
    if (v->encrypted)
        problem(p, SRC, "volume %s is encrypted: its key does not move with it",
                v->id);
    if (mig && (!strcmp(mig, "starting") || !strcmp(mig, "migrating") ||
                !strcmp(mig, "completing")))
        problem(p, SRC, "volume %s is being migrated by Cinder (%s)", v->id,
                mig);
    for (size_t i = 0; i < v->n_attachments; i++) {
        if (v->bootable && is_root_device(v->attachments[i].device))
            problem(p, SRC,
                    "volume %s is the boot disk (%s) of server %s: Nova "
                    "cannot detach it",
                    v->id, v->attachments[i].device,
                    v->attachments[i].server_id);
    }
    for (size_t i = 0; i < v->n_metadata; i++) {
        if (!strncmp(v->metadata[i].key, "rbdmove.", 8))
            warning(p, SRC,
                    "volume %s carries metadata of an earlier rbdmove run "
                    "(%s=%s)",
                    v->id, v->metadata[i].key, v->metadata[i].value);
    }
}

/* ---- opening a side ----------------------------------------------------- */

/* Resolve the cloud, authenticate, find Cinder and Nova. Returns false
 * when nothing more can be asked on that side. */
static bool open_side(struct plan *p, struct plan_side *s, const char *side,
                      const struct config_args *args, unsigned api_timeout)
{
    struct config_cloud cloud;
    struct http_options http;
    struct error err = ERROR_INIT;
    bool ok = false;

    memset(&cloud, 0, sizeof(cloud));
    if (config_cloud_load(args, &cloud, &err) < 0) {
        s->cloud = xstrdup(args->cloud);
        s->region = xstrdup(args->region);
        failed(p, PLAN_PROBLEM, side, &err);
        return false;
    }
    s->cloud = xstrdup(cloud.name);
    s->region = xstrdup(cloud.region);
    s->source = xstrdup(cloud.source);
    {
        char shown[1024];

        /* Shown by plan: never a password inside the URL. */
        s->auth_url =
            cloud.auth.auth_url
                ? xstrdup(url_redact(cloud.auth.auth_url, shown, sizeof(shown)))
                : NULL;
    }
    config_cloud_http(&cloud, &http);
    if (cloud.insecure) {
        /* Said wherever it comes from, not only with --insecure. */
        warning(p, side,
                "TLS certificates of %s are NOT verified (%s): anyone on the "
                "path can read the credentials",
                s->auth_url ? s->auth_url : "the cloud",
                cloud.insecure_why ? cloud.insecure_why : "insecure");
        log_warn("%s: TLS certificates of %s are NOT verified (%s)", side,
                 s->auth_url ? s->auth_url : "the cloud",
                 cloud.insecure_why ? cloud.insecure_why : "insecure");
    }
    http.timeout_ms = 1000L * (api_timeout ? api_timeout : 60);
    if (keystone_open(&cloud.auth, cloud.region, cloud.interface, &http, &s->ks,
                      &err) < 0) {
        failed(p, PLAN_PROBLEM, side, &err);
        goto out;
    }
    s->authenticated = true;
    s->project_id = xstrdup(keystone_project_id(s->ks));
    if (cinder_open(s->ks, &s->cinder, &err) < 0)
        failed(p, PLAN_PROBLEM, side, &err);
    else
        s->cinder_url = xstrdup(cinder_url(s->cinder));
    error_clear(&err);
    if (nova_open(s->ks, &s->nova, &err) < 0)
        failed(p, PLAN_PROBLEM, side, &err);
    else
        s->nova_url = xstrdup(nova_url(s->nova));
    ok = true;
out:
    config_cloud_release(&cloud);
    return ok;
}

static void close_side(struct plan_side *s)
{
    nova_close(s->nova);
    cinder_close(s->cinder);
    keystone_close(s->ks);
    free(s->cloud);
    free(s->region);
    free(s->source);
    free(s->auth_url);
    free(s->project_id);
    free(s->cinder_url);
    free(s->nova_url);
    memset(s, 0, sizeof(*s));
}

/* ---- source ---------------------------------------------------------------
 */

static void describe_attachments(struct plan *p)
{
    const struct cinder_volume *v = &p->volume;

    if (!v->n_attachments)
        return;
    p->attachments = xcalloc(v->n_attachments, sizeof(*p->attachments));
    for (size_t i = 0; i < v->n_attachments; i++) {
        struct plan_attachment *a = &p->attachments[p->n_attachments++];
        struct nova_server s;
        struct error err = ERROR_INIT;

        a->server_id = xstrdup(v->attachments[i].server_id);
        a->device = xstrdup(v->attachments[i].device);
        if (!p->src.nova || !a->server_id)
            continue;
        if (nova_server_get(p->src.nova, a->server_id, &s, &err) < 0) {
            failed(p, PLAN_WARNING, SRC, &err);
            continue;
        }
        a->server_name = xstrdup(s.name);
        a->server_status = xstrdup(s.status);
        nova_server_release(&s);
    }
}

/* The RBD pool of the source volume, from its backend pool's
 * location_info; only admins see the host and the pools. */
static void find_source_pool(struct plan *p)
{
    struct cinder_pool *pools = NULL;
    const struct cinder_pool *pool;
    struct error err = ERROR_INIT;
    size_t n = 0;

    if (!p->volume.host) {
        warning(p, SRC,
                "the RBD pool of volume %s is unknown: Cinder shows a "
                "volume's backend to admins only",
                p->volume.id);
        return;
    }
    if (cinder_pools_list(p->src.cinder, &pools, &n, &err) < 0) {
        failed(p, PLAN_WARNING, SRC, &err);
        return;
    }
    pool = cinder_pool_for_host(pools, n, p->volume.host);
    if (!pool) {
        warning(p, SRC,
                "backend '%s' of volume %s is not among the scheduler's "
                "pools: RBD pool unknown",
                p->volume.host, p->volume.id);
    } else if (!pool->rbd_pool) {
        problem(p, SRC,
                "volume %s lives on backend '%s', which is not RBD (storage "
                "protocol '%s')",
                p->volume.id, p->volume.host,
                pool->storage_protocol ? pool->storage_protocol : "unknown");
    } else {
        p->rbd_pool = xstrdup(pool->rbd_pool);
        p->ceph_fsid = xstrdup(pool->ceph_fsid);
    }
    cinder_pools_free(pools, n);
}

static void check_source(struct plan *p, const struct plan_options *o)
{
    struct error err = ERROR_INIT;

    /* No volume: only the sessions are wanted (move --server). */
    if (!p->src.cinder || !o->volume)
        return;
    if (cinder_volume_find(p->src.cinder, o->volume, &p->volume, &err) < 0) {
        failed(p, PLAN_PROBLEM, SRC, &err);
        return;
    }
    p->have_volume = true;
    cinder_volume_rbd_image(&p->volume, p->rbd_image, sizeof(p->rbd_image));
    plan_check_volume(p, &p->volume);
    describe_attachments(p);
    find_source_pool(p);
}

/* ---- destination ------------------------------------------------------------
 */

static void check_server(struct plan *p, const struct plan_options *o)
{
    struct error err = ERROR_INIT;
    struct buf why = BUF_INIT;

    /* No server: a pre-flight without one (rbdmove sync). */
    if (!p->dst.nova || !o->dst_server)
        return;
    if (nova_server_find(p->dst.nova, o->dst_server, &p->server, &err) < 0) {
        failed(p, PLAN_PROBLEM, DST, &err);
        return;
    }
    p->have_server = true;
    if (!nova_server_can_attach(&p->server, &why))
        problem(p, DST, "%s", buf_str(&why));
    if (p->server.locked)
        warning(p, DST,
                "server %s is locked: only its owner or an admin can "
                "attach to it",
                p->server.id);
    buf_release(&why);
}

static void list_type_names(const struct cinder_volume_type *t, size_t n,
                            struct buf *out)
{
    for (size_t i = 0; i < n; i++)
        buf_addf(out, "%s%s", i ? ", " : "", t[i].name ? t[i].name : t[i].id);
}

/* Does the destination have the volume type? Returns its backend name
 * (owned) when visible. */
static char *check_type(struct plan *p)
{
    struct cinder_volume_type *types = NULL;
    const struct cinder_volume_type *t;
    struct error err = ERROR_INIT;
    struct buf names = BUF_INIT;
    char *backend = NULL;
    size_t n = 0;

    if (!p->new_type)
        return NULL;
    if (cinder_types_list(p->dst.cinder, &types, &n, &err) < 0) {
        failed(p, PLAN_WARNING, DST, &err);
        return NULL;
    }
    t = cinder_type_lookup(types, n, p->new_type);
    if (!t) {
        list_type_names(types, n, &names);
        problem(p, DST,
                "volume type '%s' does not exist in region '%s' (types: %s): "
                "choose one with --dst-volume-type",
                p->new_type, p->dst.region ? p->dst.region : "(default)",
                names.len ? buf_str(&names) : "none");
    } else {
        backend = xstrdup(t->backend_name);
    }
    buf_release(&names);
    cinder_types_free(types, n);
    return backend;
}

/* The RBD pool where the new volume would land: the one pool of the
 * type's backend (or the only pool there is). Admin only. */
static void check_dst_pool(struct plan *p, const char *backend, bool new_volume)
{
    struct cinder_pool *pools = NULL;
    const struct cinder_pool *pick = NULL;
    struct error err = ERROR_INIT;
    size_t n = 0, hits = 0;

    if (cinder_pools_list(p->dst.cinder, &pools, &n, &err) < 0) {
        log_debug("destination pools not visible: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (n == 1 || (backend && pools[i].backend_name &&
                       !strcmp(pools[i].backend_name, backend))) {
            pick = &pools[i];
            hits++;
        }
    }
    if (hits == 1 && !pick->rbd_pool) {
        problem(p, DST,
                "the destination backend '%s' is not RBD (storage protocol "
                "'%s')",
                pick->name,
                pick->storage_protocol ? pick->storage_protocol : "unknown");
    } else if (hits == 1) {
        p->dst_rbd_pool = xstrdup(pick->rbd_pool);
        p->dst_ceph_fsid = xstrdup(pick->ceph_fsid);
        if (new_volume && pick->free_gib >= 0 &&
            pick->free_gib < (double)p->new_size_gib)
            problem(p, DST,
                    "backend pool '%s' has %.1f GiB free; the volume needs "
                    "%" PRIu64 " GiB",
                    pick->name, pick->free_gib, p->new_size_gib);
    }
    cinder_pools_free(pools, n);
}

static void check_quota(struct plan *p)
{
    struct error err = ERROR_INIT;
    struct buf why = BUF_INIT;
    const char *s, *nl;

    if (cinder_limits_get(p->dst.cinder, p->new_type, &p->dst_limits, &err) <
        0) {
        failed(p, PLAN_WARNING, DST, &err);
        return;
    }
    p->have_limits = true;
    cinder_limits_check(&p->dst_limits, p->new_size_gib, &why);
    for (s = buf_str(&why); *s; s = *nl ? nl + 1 : nl) {
        nl = strchr(s, '\n');
        if (!nl)
            nl = s + strlen(s);
        problem(p, DST, "%.*s", (int)(nl - s), s);
    }
    buf_release(&why);
}

static void check_name_taken(struct plan *p)
{
    struct cinder_volume *same = NULL;
    struct error err = ERROR_INIT;
    size_t n = 0;

    if (!p->new_name)
        return;
    if (cinder_volume_list(p->dst.cinder, p->new_name, &same, &n, &err) < 0) {
        failed(p, PLAN_WARNING, DST, &err);
        return;
    }
    if (n)
        warning(p, DST,
                "region '%s' already has %zu volume(s) named '%s': later "
                "lookups by name will be ambiguous",
                p->dst.region ? p->dst.region : "(default)", n, p->new_name);
    cinder_volumes_free(same, n);
}

static void check_destination(struct plan *p, const struct plan_options *o)
{
    char *backend;

    check_server(p, o);
    if (!p->have_volume)
        return;
    p->new_name = xstrdup(p->volume.name);
    p->new_size_gib = p->volume.size_gib;
    p->new_type = xstrdup(o->dst_volume_type ? o->dst_volume_type
                                             : p->volume.volume_type);
    p->new_availability_zone = xstrdup(o->dst_availability_zone);
    if (!p->dst.cinder)
        return;
    backend = check_type(p);
    check_dst_pool(p, backend, !o->dst_volume_exists);
    free(backend);
    if (o->dst_volume_exists)
        return;
    check_quota(p);
    check_name_taken(p);
}

static bool str_same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

struct plan *plan_build(const struct plan_options *o)
{
    struct plan *p = xcalloc(1, sizeof(*p));
    struct config_args dst = o->dst;

    /* Without --dst-os-cloud the destination is the source's cloud, read
     * the same way (OS_* included) but in the destination region. */
    if (!dst.cloud) {
        dst.cloud = o->src.cloud;
        dst.use_env = o->src.use_env;
    }
    if (!dst.cacert)
        dst.cacert = o->src.cacert;
    dst.insecure = dst.insecure || o->src.insecure;

    log_info("checking the source: volume '%s'",
             o->volume ? o->volume : "(none)");
    if (open_side(p, &p->src, SRC, &o->src, o->api_timeout))
        check_source(p, o);
    log_info("checking the destination: server '%s'",
             o->dst_server ? o->dst_server : "(none)");
    if (open_side(p, &p->dst, DST, &dst, o->api_timeout))
        check_destination(p, o);
    if (str_same(p->src.auth_url, p->dst.auth_url) &&
        str_same(p->src.region, p->dst.region))
        warning(p, "move",
                "source and destination are the same cloud and region "
                "('%s')",
                p->src.region);
    return p;
}

bool plan_ok(const struct plan *p)
{
    return plan_count(p, PLAN_PROBLEM) == 0;
}

size_t plan_count(const struct plan *p, enum plan_severity severity)
{
    size_t n = 0;

    for (size_t i = 0; i < p->n_notes; i++)
        n += p->notes[i].severity == severity;
    return n;
}

void plan_free(struct plan *p)
{
    if (!p)
        return;
    close_side(&p->src);
    close_side(&p->dst);
    cinder_volume_release(&p->volume);
    for (size_t i = 0; i < p->n_attachments; i++) {
        free(p->attachments[i].server_id);
        free(p->attachments[i].server_name);
        free(p->attachments[i].server_status);
        free(p->attachments[i].device);
    }
    free(p->attachments);
    free(p->rbd_pool);
    free(p->ceph_fsid);
    nova_server_release(&p->server);
    free(p->new_name);
    free(p->new_type);
    free(p->new_availability_zone);
    free(p->dst_rbd_pool);
    free(p->dst_ceph_fsid);
    for (size_t i = 0; i < p->n_notes; i++)
        free(p->notes[i].text);
    free(p->notes);
    free(p);
}
