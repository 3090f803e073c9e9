/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate_sync.c: keep a disaster-recovery copy of a volume in
 * another region (see migrate.h): the same rounds as a move, without
 * a journal and without a cutover; nothing is detached.
 */
#include "rbdmove/core/migrate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openstack/cinder.h"
#include "rbdmove/base/buf.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/migrate_int.h"
#include "rbdmove/core/replicate.h"
#include "rbdmove/core/retention.h"
#include "rbdmove/base/xalloc.h"

/* ---- sync
 * ------------------------------------------------------------------------ */

void migrate_sync_result_release(struct migrate_sync_result *r)
{
    free(r->base);
    memset(r, 0, sizeof(*r));
}

/*
 * The destination volume that holds the copy of source id, if any. A copy
 * that was failed over (or is being) is the workload's volume now: syncing
 * the old primary into it would overwrite what the workload wrote since.
 */
static int find_sync_volume(struct cinder *c, const char *src_id, char *out,
                            struct error *err)
{
    struct cinder_volume *v = NULL;
    size_t n = 0, found = 0;
    int ret = 0;

    out[0] = '\0';
    if (cinder_volume_list(c, NULL, &v, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *s = cinder_volume_meta(&v[i], "rbdmove.sync_of");
        const char *state = cinder_volume_meta(&v[i], "rbdmove.state");

        if (!s || strcmp(s, src_id))
            continue;
        snprintf(out, 37, "%s", v[i].id);
        found++;
        if (ret == 0 && state && !strcmp(state, "failing-back"))
            ret = error_set(err, ERROR_STATE, 0,
                            "copy %s of volume %s is the source of a "
                            "failback under way: finish or abort that "
                            "first; nothing was synced",
                            v[i].id, src_id);
        else if (ret == 0 && state && !strncmp(state, "failing-over", 12))
            ret = error_set(err, ERROR_STATE, 0,
                            "copy %s of volume %s is being failed over: "
                            "finish that with 'rbdmove failover' first; "
                            "nothing was synced",
                            v[i].id, src_id);
        else if (ret == 0 && state && !strcmp(state, "failed-over"))
            ret = error_set(
                err, ERROR_STATE, 0,
                "copy %s of volume %s was failed over (to point %s) and "
                "is the workload's volume now: a sync from %s would "
                "overwrite what was written to it since ('rbdmove "
                "release' makes it an ordinary volume, and the next sync "
                "a new copy); nothing was synced",
                v[i].id, src_id,
                cinder_volume_meta(&v[i], "rbdmove.failover_point")
                    ? cinder_volume_meta(&v[i], "rbdmove.failover_point")
                    : "?",
                src_id);
    }
    cinder_volumes_free(v, n);
    if (ret < 0)
        return ret;
    if (found > 1)
        return error_set(err, ERROR_STATE, 0,
                         "%zu volumes claim to be the copy of %s "
                         "(rbdmove.sync_of); remove the extra ones",
                         found, src_id);
    return 0;
}

static int create_sync_volume(const struct plan *p, char *out,
                              struct error *err)
{
    struct cinder_kv meta[] = {{"rbdmove.sync_of", p->volume.id},
                               {"rbdmove.state", "syncing"}};
    char name[300];
    struct cinder_volume_spec spec = {p->volume.size_gib,
                                      name,
                                      "disaster-recovery copy kept by rbdmove",
                                      p->new_type,
                                      p->new_availability_zone,
                                      meta,
                                      2};
    struct cinder_volume v;

    memset(&v, 0, sizeof(v));
    snprintf(name, sizeof(name), "%s-dr",
             p->volume.name && *p->volume.name ? p->volume.name : p->volume.id);
    if (cinder_volume_create(p->dst.cinder, &spec, &v, err) < 0)
        return error_prefix(err, "creating the destination volume");
    snprintf(out, 37, "%s", v.id);
    cinder_volume_release(&v);
    return move_wait_volume(p->dst.cinder, out, "available", 600, err);
}

static void undo_sync_volume(const struct plan *p, const char *id,
                             struct error *err)
{
    struct error e = ERROR_INIT;

    if (cinder_volume_delete(p->dst.cinder, id, &e) < 0 ||
        move_wait_volume(p->dst.cinder, id, "deleted", 300, &e) < 0)
        error_prefix(err,
                     "%s; deleting copy volume %s failed too (%s): delete it "
                     "by hand",
                     "the sync stopped", id, e.msg);
    else
        error_prefix(err,
                     "the sync stopped before writing anything and copy "
                     "volume %s was deleted again",
                     id);
}

static void on_sync_event(void *ctx, const struct replicate_event *ev)
{
    struct move *m = ctx;
    struct migrate_event me = {"info", ev->msg, ev->round, ev->stats, NULL};
    char msg[256];

    if (ev->kind != REPLICATE_EV_INFO) {
        me.phase = ev->round ? "round" : "seed";
        snprintf(msg, sizeof(msg), "%s %u %s (%s)", me.phase, ev->round,
                 ev->kind == REPLICATE_EV_ROUND_START ? "started" : "done",
                 ev->snap);
        me.msg = msg;
        if (ev->kind == REPLICATE_EV_ROUND_START)
            me.stats = NULL;
    }
    if (m->o->event)
        m->o->event(m->o->event_ctx, &me);
}

/* The lock of the syncs of source volume source_id (migrate_int.h). */
int move_sync_lock(const char *dir, const char *source_id, int *fd,
                   struct error *err)
{
    char name[64];

    *fd = -1;
    if (!dir)
        return 0;
    snprintf(name, sizeof(name), "sync-%.40s", source_id);
    if (journal_lock_name(dir, name, fd, err) < 0) {
        if (err->kind == ERROR_BUSY)
            error_prefix(err,
                         "volume %s is being synced already (or its copy "
                         "released or failed over)",
                         source_id);
        return -1;
    }
    return 0;
}

/* Without --keep: the base alone, also on a copy an earlier --keep left
 * points on. */
static const struct retention base_only = {.count = 1};

static int sync_data(struct move *m, const struct migrate_sync_opts *o,
                     const char *dst_id, struct migrate_sync_result *res,
                     struct error *err)
{
    const struct plan *p = m->plan;
    struct replicate_opts ro;
    struct cinder_volume v;
    char image[64];
    int ret = -1;

    memset(&v, 0, sizeof(v));
    if (cinder_volume_get(p->dst.cinder, dst_id, &v, err) < 0)
        return error_prefix(err, "destination volume %s", dst_id);
    /* A copy Cinder migrated (retype) keeps its image under its name_id. */
    cinder_volume_rbd_image(&v, image, sizeof(image));
    if (cluster_connect(o->m.src_conf, o->m.src_id, o->m.ceph_timeout,
                        &m->src_cl, err) < 0 ||
        o->m.make_dest(o->m.make_dest_ctx,
                       o->m.dst_pool     ? o->m.dst_pool
                       : p->dst_rbd_pool ? p->dst_rbd_pool
                                         : "volumes",
                       image, &m->dst, err) < 0)
        return -1;
    move_record_set(&m->rec.src.pool, o->m.src_pool ? o->m.src_pool
                                      : p->rbd_pool ? p->rbd_pool
                                                    : "volumes");
    move_record_set(&m->rec.src.image, p->rbd_image);
    /* The sync lock is ours: the clients its notes name (the copy's and
     * the source's lock owners of a killed sync) are dead, and their
     * locks are broken at once. */
    if (o->state_dir) {
        char name[64], *prev, *self;

        snprintf(name, sizeof(name), "sync-%.40s", p->volume.id);
        prev = journal_note_get(o->state_dir, name);
        dest_set_dead_owner(m->dst, prev);
        self = dest_lock_self(m->dst);
        if (self)
            journal_note_set(o->state_dir, name, self);
        free(prev);
        free(self);
        snprintf(name, sizeof(name), "sync-src-%.40s", p->volume.id);
        prev = journal_note_get(o->state_dir, name);
        move_break_src_lock(m, prev);
        self = cluster_addr(m->src_cl);
        if (self && (!prev || strcmp(self, prev)))
            journal_note_set(o->state_dir, name, self);
        free(prev);
        free(self);
    }
    replicate_opts_init(&ro);
    ro.params = o->m.params;
    ro.converge = o->converge;
    ro.max_rounds = o->max_rounds;
    ro.keep = o->keep ? o->keep : &base_only;
    ro.clock_offset = o->clock_offset;
    ro.event = on_sync_event;
    ro.event_ctx = m;
    move_volume_expectations(&ro, p->dst_ceph_fsid, &v);
    if (replicate_open(m->src_cl, m->rec.src.pool, m->rec.src.image, m->dst,
                       &ro, &m->repl, err) < 0 ||
        replicate_run(m->repl, &res->converged, err) < 0)
        goto out;
    res->rounds = replicate_rounds(m->repl);
    res->base = xstrdup(replicate_base(m->repl));
    ret = 0;
out:
    cinder_volume_release(&v);
    return ret;
}

/*
 * The copy's Cinder metadata says what it holds, for `rbdmove points`
 * (and a failover), which read only the DR region's API: the state, the
 * base, and one rbdmove.point.SNAP key per recovery point ("time=...
 * verified=... fsid=... image=... snap=... snap_id=...": when it was
 * synced and which source snapshot it is). Keys of points the destination
 * no longer holds go.
 */
static int record_points(struct move *m, const char *dst_id,
                         struct migrate_sync_result *res, const char *when,
                         struct error *err)
{
    struct cinder *c = m->plan->dst.cinder;
    struct dest_state st;
    struct cinder_volume v;
    struct buf key = BUF_INIT, val = BUF_INIT;
    const char *ident;
    int ret = -1;

    memset(&v, 0, sizeof(v));
    if (dest_probe(m->dst, &st, err) < 0)
        return -1;
    ident = st.meta_base ? st.meta_base : "";
    if (!strncmp(ident, "v1 ", 3))
        ident += 3;
    buf_addf(&key, MIGRATE_POINT_PREFIX "%s", res->base);
    buf_addf(&val, "time=%s verified=%s %s", when, res->verified ? "yes" : "no",
             ident);
    {
        /* The server the source serves, for a failback that is given
         * none (only a volume attached to one server names it). */
        const char *server = m->plan->n_attachments == 1
                                 ? m->plan->attachments[0].server_id
                                 : NULL;
        struct cinder_kv meta[] = {{"rbdmove.state", "synced"},
                                   {"rbdmove.synced_at", when},
                                   {"rbdmove.base", res->base},
                                   {buf_str(&key), buf_str(&val)},
                                   {"rbdmove.sync_server", server}};

        if (cinder_volume_metadata_set(c, dst_id, meta, server ? 5 : 4, err) <
            0)
            goto out;
    }
    if (cinder_volume_get(c, dst_id, &v, err) < 0)
        goto out;
    for (size_t i = 0; i < v.n_metadata; i++) {
        const char *k = v.metadata[i].key;

        if (strncmp(k, MIGRATE_POINT_PREFIX, strlen(MIGRATE_POINT_PREFIX)))
            continue;
        if (dest_state_snap_id(&st, k + strlen(MIGRATE_POINT_PREFIX))) {
            res->points++;
            continue;
        }
        if (cinder_volume_metadata_unset(c, dst_id, k, err) < 0)
            goto out;
    }
    /* A point an earlier run kept but could not record (the API failed
     * after the data moved): recorded now from what its name says, so
     * that points lists every point the copy holds. */
    for (size_t i = 0; i < st.nsnaps; i++) {
        const char *snap = st.snaps[i].name;
        time_t t = retention_snap_time(snap);
        struct tm tm;
        char at[32];

        buf_reset(&key);
        buf_addf(&key, MIGRATE_POINT_PREFIX "%s", snap);
        if (!replicate_snap_is_ours(snap) ||
            cinder_volume_meta(&v, buf_str(&key)))
            continue;
        if (t >= 0 && gmtime_r(&t, &tm))
            strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        else
            snprintf(at, sizeof(at), "-");
        buf_reset(&val);
        buf_addf(&val, "time=%s verified=no", at);
        {
            struct cinder_kv one = {buf_str(&key), buf_str(&val)};

            if (cinder_volume_metadata_set(c, dst_id, &one, 1, err) < 0)
                goto out;
        }
        res->points++;
    }
    ret = 0;
out:
    cinder_volume_release(&v);
    dest_state_release(&st);
    buf_release(&key);
    buf_release(&val);
    return ret;
}

int migrate_sync(const struct migrate_sync_opts *o,
                 struct migrate_sync_result *res, struct error *err)
{
    struct migrate_report rep;
    struct move m;
    struct buf why = BUF_INIT;
    char dst_id[37];
    int lock_fd = -1, ret = -1;

    memset(res, 0, sizeof(*res));
    move_init(&m, NULL, &o->m, &rep);
    m.plan = plan_build(&o->m.plan);
    if (!m.plan->src.cinder || !m.plan->dst.cinder || !m.plan->have_volume ||
        !plan_ok(m.plan)) {
        move_preflight_failed(m.plan, "see 'rbdmove plan'", err);
        goto out;
    }
    /* Two syncs of one volume would each find no copy and make one, or
     * race on the same base snapshots. */
    if (move_sync_lock(o->state_dir, m.plan->volume.id, &lock_fd, err) < 0)
        goto out;
    if (find_sync_volume(m.plan->dst.cinder, m.plan->volume.id, dst_id, err) <
        0)
        goto out;
    if (!dst_id[0]) {
        if (create_sync_volume(m.plan, dst_id, err) < 0)
            goto out;
        res->created = true;
    }
    snprintf(res->dst_volume_id, sizeof(res->dst_volume_id), "%s", dst_id);
    if (sync_data(&m, o, dst_id, res, err) < 0) {
        /* Stopped before anything was written (the destination is not
         * the volume's image, or cannot be reached): a copy volume made
         * by this run goes again, so that the refusal leaves nothing. */
        if (res->created && err->kind != ERROR_INTERRUPTED && !m.repl)
            undo_sync_volume(m.plan, dst_id, err);
        goto out;
    }
    if (o->verify) {
        if (move_verify_base(&m, err) < 0)
            goto out;
        res->verified = true;
    }
    {
        char when[32];
        time_t now = time(NULL);
        struct tm tm;

        gmtime_r(&now, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (record_points(&m, dst_id, res, when, err) < 0)
            goto out;
    }
    ret = 0;
out:
    buf_release(&why);
    move_release(&m);
    journal_unlock_name(lock_fd);
    return ret;
}

/* ---- recovery points
 * --------------------------------------------------------- */

void migrate_points_release(struct migrate_points *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->p[i].snap);
        free(p->p[i].time);
        free(p->p[i].source);
    }
    free(p->p);
    free(p->sync_of);
    free(p->failover_point);
    memset(p, 0, sizeof(*p));
}

/* The value of "name=" in a point's value (a copy), or NULL. */
static char *point_field(const char *v, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = v; p && *p;) {
        if (!strncmp(p, name, n) && p[n] == '=')
            return xstrndup(p + n + 1, strcspn(p + n + 1, " "));
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return NULL;
}

/* s for a terminal: Cinder metadata is anyone's in the project. */
static char *escaped(const char *s)
{
    struct buf b = BUF_INIT;

    buf_add_escaped(&b, s, strlen(s));
    return buf_take(&b);
}

/* point_field, escaped; NULL when absent. */
static char *point_field_escaped(const char *v, const char *name)
{
    char *raw = point_field(v, name), *e;

    if (!raw)
        return NULL;
    e = escaped(raw);
    free(raw);
    return e;
}

static int point_newest_first(const void *a, const void *b)
{
    const struct migrate_point *x = a, *y = b;

    /* rbdmove's snapshot names start with their UTC time. */
    return strcmp(y->snap, x->snap);
}

int migrate_points(const struct plan_options *o, struct migrate_points *out,
                   struct error *err)
{
    struct plan *p = plan_build(o);
    const struct cinder_volume *v;
    const char *base, *of;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (!p->src.cinder || !p->have_volume) {
        move_preflight_failed(p, "the copy cannot be found", err);
        goto out;
    }
    v = &p->volume;
    snprintf(out->copy_id, sizeof(out->copy_id), "%s", v->id);
    of = cinder_volume_meta(v, "rbdmove.sync_of");
    if (!of) {
        error_set(err, ERROR_STATE, 0,
                  "volume %s is not a copy made by 'rbdmove sync' (it has "
                  "no rbdmove.sync_of)",
                  v->id);
        goto out;
    }
    out->sync_of = escaped(of);
    {
        const char *fp = cinder_volume_meta(v, "rbdmove.failover_point");
        const char *state = cinder_volume_meta(v, "rbdmove.state");

        out->failover_point = fp ? escaped(fp) : NULL;
        out->failed_over = fp && state && !strcmp(state, "failed-over");
    }
    base = cinder_volume_meta(v, "rbdmove.base");
    out->p = xcalloc(v->n_metadata + 1, sizeof(*out->p));
    for (size_t i = 0; i < v->n_metadata; i++) {
        const char *k = v->metadata[i].key, *val = v->metadata[i].value;
        struct migrate_point *pt = &out->p[out->n];
        char *verified;
        const char *src;

        if (strncmp(k, MIGRATE_POINT_PREFIX, strlen(MIGRATE_POINT_PREFIX)))
            continue;
        pt->base = base && !strcmp(base, k + strlen(MIGRATE_POINT_PREFIX));
        pt->snap = escaped(k + strlen(MIGRATE_POINT_PREFIX));
        pt->time = point_field_escaped(val, "time");
        verified = point_field(val, "verified");
        pt->verified = verified && !strcmp(verified, "yes");
        free(verified);
        src = strstr(val, "fsid=");
        pt->source = escaped(src ? src : "");
        if (!pt->time)
            pt->time = xstrdup("-");
        out->n++;
    }
    qsort(out->p, out->n, sizeof(*out->p), point_newest_first);
    ret = 0;
out:
    if (ret < 0)
        migrate_points_release(out);
    plan_free(p);
    return ret;
}

/* ---- release
 * ----------------------------------------------------------------- */

int migrate_release(const struct migrate_release_opts *o,
                    struct migrate_release_result *res, struct error *err)
{
    static const char *const image_keys[] = {DEST_META_BASE, DEST_META_SEED,
                                             DEST_META_PENDING,
                                             MOVE_FAILOVER_IMAGE_KEY};
    struct plan *p = plan_build(&o->plan);
    struct cluster *cl = NULL;
    struct image *img = NULL;
    struct image_snap *snaps = NULL;
    const struct cinder_volume *v;
    const char *state, *of, *pool;
    size_t n = 0;
    int lock_fd = -1, ret = -1;

    memset(res, 0, sizeof(*res));
    if (!p->src.cinder || !p->have_volume) {
        move_preflight_failed(p, "the volume cannot be found", err);
        goto out;
    }
    v = &p->volume;
    snprintf(res->volume_id, sizeof(res->volume_id), "%s", v->id);
    state = cinder_volume_meta(v, "rbdmove.state");
    if (state && (!strcmp(state, "moving") || !strcmp(state, "receiving"))) {
        const char *id = cinder_volume_meta(v, "rbdmove.move_id");

        error_set(err, ERROR_STATE, 0,
                  "volume %s is in a move that has not finished (%s%s%s): "
                  "finish it with 'rbdmove resume' or undo it with 'rbdmove "
                  "abort' first",
                  v->id, state, id ? ", move " : "", id ? id : "");
        goto out;
    }
    of = cinder_volume_meta(v, "rbdmove.sync_of");
    res->copy = of != NULL;
    /* The lock of the syncs that write it: its own, or its source's. */
    if (move_sync_lock(o->state_dir, of ? of : v->id, &lock_fd, err) < 0)
        goto out;
    if (cluster_connect(o->conf, o->id, o->ceph_timeout, &cl, err) < 0)
        goto out;
    if (p->ceph_fsid && strcmp(p->ceph_fsid, cluster_fsid(cl))) {
        error_set(err, ERROR_STATE, 0,
                  "volume %s lives in cluster %s, but %s is cluster %s: "
                  "nothing was changed",
                  v->id, p->ceph_fsid, o->conf, cluster_fsid(cl));
        goto out;
    }
    pool = o->pool ? o->pool : p->rbd_pool ? p->rbd_pool : "volumes";
    if (image_open(cl, pool, p->rbd_image, NULL, false, &img, err) < 0) {
        if (err->cause == ENOENT)
            error_prefix(err,
                         "volume %s is not in pool '%s' of %s (is that its "
                         "cluster? see --conf, --pool); nothing was changed",
                         v->id, pool, o->conf);
        else
            error_prefix(err, "volume %s", v->id);
        goto out;
    }
    if (image_snap_list(img, &snaps, &n, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!replicate_snap_is_ours(snaps[i].name))
            continue;
        if (image_snap_remove(img, snaps[i].name, err) < 0) {
            error_prefix(err,
                         "removed %zu of rbdmove's snapshots of %s/%s, not "
                         "'%s'",
                         res->snaps, pool, p->rbd_image, snaps[i].name);
            goto out;
        }
        res->snaps++;
        if (res->snaps == 1 && o->hold_point &&
            !strcmp(o->hold_point, "release-snap-removed")) {
            struct timespec ts = {(time_t)o->hold_seconds, 0};

            nanosleep(&ts, NULL);
        }
    }
    for (size_t i = 0; i < sizeof(image_keys) / sizeof(image_keys[0]); i++) {
        char *val = NULL;

        if (image_meta_get(img, image_keys[i], &val, err) < 0)
            goto out;
        if (!val)
            continue;
        free(val);
        if (image_meta_remove(img, image_keys[i], err) < 0)
            goto out;
        res->image_keys++;
    }
    for (size_t i = 0; i < v->n_metadata; i++) {
        if (strncmp(v->metadata[i].key, "rbdmove.", 8))
            continue;
        if (cinder_volume_metadata_unset(p->src.cinder, v->id,
                                         v->metadata[i].key, err) < 0)
            goto out;
        res->cinder_keys++;
    }
    ret = 0;
out:
    image_snaps_free(snaps, n);
    image_close(img);
    cluster_close(cl);
    journal_unlock_name(lock_fd);
    plan_free(p);
    return ret;
}
