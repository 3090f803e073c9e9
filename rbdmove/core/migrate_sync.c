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

/* Connect both sides of the copy dst_id and open the replicate (the
 * destination checked; nothing changed on the source). */
static int sync_open(struct move *m, const struct migrate_sync_opts *o,
                     const char *dst_id, struct error *err)
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
        dest_take_over_note(m->dst, o->state_dir, name);
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
                       &ro, &m->repl, err) < 0)
        goto out;
    ret = 0;
out:
    cinder_volume_release(&v);
    return ret;
}

static int sync_data(struct move *m, const struct migrate_sync_opts *o,
                     const char *dst_id, struct migrate_sync_result *res,
                     struct error *err)
{
    if (sync_open(m, o, dst_id, err) < 0 ||
        replicate_run(m->repl, &res->converged, err) < 0)
        return -1;
    /* A base that is a group's point (sync --server) has its data in the
     * group's snapshot, gone once that sync finished: one round makes a
     * base of the image's own, which --verify can read. */
    if (o->verify && replicate_snap_is_group(replicate_base(m->repl))) {
        struct copy_stats st;

        if (replicate_round(m->repl, &st, err) < 0 ||
            replicate_remove_retired(m->repl, err) < 0)
            return -1;
    }
    res->rounds = replicate_rounds(m->repl);
    res->base = xstrdup(replicate_base(m->repl));
    return 0;
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
                         const char *group, struct error *err)
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
    buf_addf(&val, "time=%s verified=%s %s%s%s", when,
             res->verified ? "yes" : "no", group ? "group=" : "",
             group ? group : "", group ? " " : "");
    buf_addf(&val, "%s", ident);
    {
        /* The server the source serves, for a failback that is given
         * none (only a volume attached to one server names it). */
        const char *server = m->plan->n_attachments == 1
                                 ? m->plan->attachments[0].server_id
                                 : NULL;
        struct cinder_kv meta[] = {
            {"rbdmove.state", "synced"},     {"rbdmove.synced_at", when},
            {"rbdmove.base", res->base},     {buf_str(&key), buf_str(&val)},
            {"rbdmove.sync_server", server}, {"rbdmove.group", group}};
        size_t nmeta = server ? 5 : 4;

        if (group) {
            meta[nmeta].key = meta[5].key;
            meta[nmeta].value = group;
            nmeta++;
        }
        if (cinder_volume_metadata_set(c, dst_id, meta, nmeta, err) < 0)
            goto out;
    }
    if (cinder_volume_get(c, dst_id, &v, err) < 0)
        goto out;
    /* A copy synced on its own is no longer one of its server's group:
     * its newest point is not the group's. */
    if (!group && cinder_volume_meta(&v, "rbdmove.group") &&
        cinder_volume_metadata_unset(c, dst_id, "rbdmove.group", err) < 0)
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
        if (record_points(&m, dst_id, res, when, NULL, err) < 0)
            goto out;
    }
    ret = 0;
out:
    buf_release(&why);
    move_release(&m);
    journal_unlock_name(lock_fd);
    return ret;
}

/* ---- sync --server: a crash-consistent group
 * -------------------------------- */

/* The RBD group of a server's images (in the pool of the first), which
 * exists only while a group sync runs, or after one that stopped. */
static char *group_name(const char *server_id)
{
    return xasprintf("rbdmove-%s", server_id);
}

/* Every image may join our group: in none, or in ours (a sync stopped). */
static int check_group_free(struct move *m, const char *gpool,
                            const char *group, struct error *err)
{
    struct image *img = NULL;
    char *in = NULL, *in_pool = NULL;
    int64_t pool_id = -1;
    int ret = -1;

    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL, true,
                   &img, err) < 0 ||
        image_group_of(img, &in, &pool_id, err) < 0)
        goto out;
    in_pool = in ? cluster_pool_name(m->src_cl, pool_id) : NULL;
    if (in && (strcmp(in, group) || !in_pool || strcmp(in_pool, gpool))) {
        error_set(err, ERROR_STATE, 0,
                  "image %s/%s of volume %s is in RBD group '%s/%s' "
                  "already (an image joins one group only); nothing was "
                  "changed",
                  m->rec.src.pool, m->rec.src.image, m->plan->volume.id,
                  in_pool ? in_pool : "?", in);
        goto out;
    }
    ret = 0;
out:
    free(in);
    free(in_pool);
    image_close(img);
    return ret;
}

/*
 * Record on the copy what the source took between its own snapshot point
 * and the group's (MOVE_GROUP_WINDOW_KEY), while the group's exists: a
 * failback from the point copies those ranges as well.
 */
static int store_window(struct move *m, const char *point, struct error *err)
{
    struct image *at = NULL;
    struct dest_extents x = {0};
    char *v = NULL;
    int ret = -1;

    if (replicate_open_snap(m->src_cl, m->rec.src.pool, m->rec.src.image, point,
                            &at, err) < 0 ||
        image_diff(at, point, 0, image_size(at), false, dest_extents_collect,
                   &x, err) < 0)
        goto out;
    v = move_group_window_format(point, &x);
    ret = dest_set_meta(m->dst, MOVE_GROUP_WINDOW_KEY, v, err);
out:
    free(v);
    dest_extents_release(&x);
    image_close(at);
    return ret;
}

int migrate_sync_group(const struct migrate_sync_opts *os, size_t n,
                       const char *server_id, struct migrate_sync_result *res,
                       struct error *err)
{
    struct move *m = xcalloc(n ? n : 1, sizeof(*m));
    struct migrate_report *rep = xcalloc(n ? n : 1, sizeof(*rep));
    int *lock_fd = xcalloc(n ? n : 1, sizeof(*lock_fd));
    char(*dst_id)[37] = xcalloc(n ? n : 1, sizeof(*dst_id));
    char *group = group_name(server_id), *point = NULL;
    const char *gpool = NULL;
    struct cluster *cl = NULL;
    size_t inited = 0;
    bool group_made = false, group_existed = false;
    int ret = -1;

    for (size_t i = 0; i < n; i++)
        lock_fd[i] = -1;
    /* Every volume checked, its copy found or made, both sides opened:
     * nothing changed on any source yet. */
    for (; inited < n; inited++) {
        size_t i = inited;
        const struct migrate_sync_opts *o = &os[i];

        memset(&res[i], 0, sizeof(res[i]));
        move_init(&m[i], NULL, &o->m, &rep[i]);
        m[i].plan = plan_build(&o->m.plan);
        if (!m[i].plan->src.cinder || !m[i].plan->dst.cinder ||
            !m[i].plan->have_volume || !plan_ok(m[i].plan)) {
            move_preflight_failed(m[i].plan, "see 'rbdmove plan'", err);
            error_prefix(err, "volume %s", o->m.plan.volume);
            inited++;
            goto out;
        }
        if (move_sync_lock(o->state_dir, m[i].plan->volume.id, &lock_fd[i],
                           err) < 0 ||
            find_sync_volume(m[i].plan->dst.cinder, m[i].plan->volume.id,
                             dst_id[i], err) < 0) {
            inited++;
            goto out;
        }
        if (!dst_id[i][0]) {
            if (create_sync_volume(m[i].plan, dst_id[i], err) < 0) {
                inited++;
                goto out;
            }
            res[i].created = true;
        }
        snprintf(res[i].dst_volume_id, sizeof(res[i].dst_volume_id), "%s",
                 dst_id[i]);
        if (sync_open(&m[i], o, dst_id[i], err) < 0) {
            if (res[i].created && err->kind != ERROR_INTERRUPTED && !m[i].repl)
                undo_sync_volume(m[i].plan, dst_id[i], err);
            error_prefix(err, "volume %s", m[i].plan->volume.id);
            inited++;
            goto out;
        }
        if (i > 0 &&
            strcmp(cluster_fsid(m[i].src_cl), cluster_fsid(m[0].src_cl))) {
            error_set(err, ERROR_STATE, 0,
                      "volumes %s and %s are on different Ceph clusters: "
                      "no group snapshot spans them; nothing was synced",
                      m[0].plan->volume.id, m[i].plan->volume.id);
            inited++;
            goto out;
        }
    }
    if (n == 0) {
        error_set(err, ERROR_STATE, 0, "no volume to sync");
        goto out;
    }
    cl = m[0].src_cl;
    gpool = m[0].rec.src.pool;
    for (size_t i = 0; i < n; i++)
        if (check_group_free(&m[i], gpool, group, err) < 0)
            goto out;
    for (size_t i = 0; i < n; i++)
        if (replicate_remove_group_strays(m[i].repl, err) < 0)
            goto out;
    /* The group, with every image in it; a sync that stopped left it with
     * the group snapshot its unfinished rounds read from. */
    if (image_group_exists(cl, gpool, group, &group_existed, err) < 0 ||
        image_group_create(cl, gpool, group, err) < 0)
        goto out;
    group_made = true;
    for (size_t i = 0; i < n; i++)
        if (image_group_add(cl, gpool, group, m[i].rec.src.pool,
                            m[i].rec.src.image, err) < 0)
            goto out;
    /* Each image's own snapshot first (the next diff starts there), then
     * the group's at one instant, under the same name: what changed
     * between the two goes again next time. */
    point = replicate_group_snap_name(os[0].clock_offset);
    for (size_t i = 0; i < n; i++) {
        uint64_t id = 0;
        struct image *img = NULL;
        bool exists = false;

        if (image_open(m[i].src_cl, m[i].rec.src.pool, m[i].rec.src.image, NULL,
                       false, &img, err) < 0)
            goto out;
        if (image_snap_create(img, point, err) < 0 ||
            image_snap_lookup(img, point, &exists, &id, err) < 0) {
            image_close(img);
            goto out;
        }
        image_close(img);
        replicate_set_early(m[i].repl, point, id);
    }
    if (image_group_snap_create(cl, gpool, group, point, err) < 0) {
        /* Nothing reads from a group this run made: it goes again (the
         * images' own snapshots go with the replicates). */
        if (!group_existed) {
            struct error e = ERROR_INIT;

            if (image_group_remove(cl, gpool, group, &e) == 0)
                group_made = false;
        }
        goto out;
    }
    move_emit(&m[0], "info", NULL,
              "group snapshot '%s' of %zu volumes of server %s taken", point, n,
              server_id);
    /* Each copy finishes what a stopped run left, then takes the point. */
    for (size_t i = 0; i < n; i++) {
        struct copy_stats st;

        if (replicate_seed(m[i].repl, err) < 0 ||
            (replicate_early_pending(m[i].repl) &&
             replicate_round(m[i].repl, &st, err) < 0) ||
            replicate_remove_retired(m[i].repl, err) < 0) {
            error_prefix(err,
                         "volume %s (the group's point is not complete; "
                         "the next run finishes it)",
                         m[i].plan->volume.id);
            goto out;
        }
        if (store_window(&m[i], point, err) < 0) {
            error_prefix(err, "volume %s", m[i].plan->volume.id);
            goto out;
        }
        res[i].rounds = replicate_rounds(m[i].repl);
        res[i].converged = true;
        res[i].base = xstrdup(replicate_base(m[i].repl));
    }
    /* Compared while the group snapshot that holds the point exists. */
    for (size_t i = 0; i < n && os[i].verify; i++) {
        if (move_verify_base(&m[i], err) < 0) {
            error_prefix(err, "volume %s", m[i].plan->volume.id);
            goto out;
        }
        res[i].verified = true;
    }
    {
        char when[32];
        time_t now = time(NULL);
        struct tm tm;

        gmtime_r(&now, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        for (size_t i = 0; i < n; i++)
            if (record_points(&m[i], dst_id[i], &res[i], when, server_id, err) <
                0)
                goto out;
    }
    /* Complete: the group (and its snapshot) goes, so that Cinder can
     * delete the volumes; each image's own snapshot is the next base. */
    group_made = false;
    if (image_group_remove(cl, gpool, group, err) < 0) {
        error_prefix(err,
                     "the copies hold point %s, but RBD group %s/%s stays "
                     "(Cinder cannot delete its volumes until it goes: run "
                     "the sync again, or 'rbdmove release')",
                     point, gpool, group);
        goto out;
    }
    ret = 0;
out:
    if (ret < 0 && group_made)
        move_emit(&m[0], "info", NULL,
                  "RBD group %s/%s stays until a later run finishes the "
                  "point",
                  gpool, group);
    for (size_t i = 0; i < inited; i++) {
        move_release(&m[i]);
        journal_unlock_name(lock_fd[i]);
    }
    free(point);
    free(group);
    free(m);
    free(rep);
    free(lock_fd);
    free(dst_id);
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
    free(p->group);
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

/*
 * A copy synced with the other volumes of its server (sync --server): a
 * point of the group's is one only where every copy of the group holds
 * it (a run that stopped half way left it on some); the others are left
 * out.
 */
static int group_filter(struct cinder *c, const struct cinder_volume *v,
                        struct migrate_points *out, struct error *err)
{
    const char *group = cinder_volume_meta(v, "rbdmove.group");
    struct cinder_volume *all = NULL;
    struct buf key = BUF_INIT;
    size_t nall = 0, w = 0;

    if (cinder_volume_list(c, NULL, &all, &nall, err) < 0)
        return -1;
    out->group = escaped(group);
    for (size_t i = 0; i < nall; i++) {
        const char *g = cinder_volume_meta(&all[i], "rbdmove.group");

        if (g && !strcmp(g, group) &&
            cinder_volume_meta(&all[i], "rbdmove.sync_of"))
            out->group_size++;
    }
    for (size_t i = 0; i < out->n; i++) {
        struct migrate_point *pt = &out->p[i];
        bool complete = true;

        buf_reset(&key);
        buf_addf(&key, MIGRATE_POINT_PREFIX "%s", pt->snap);
        for (size_t k = 0; k < nall && replicate_snap_is_group(pt->snap); k++) {
            const char *g = cinder_volume_meta(&all[k], "rbdmove.group");

            if (g && !strcmp(g, group) &&
                cinder_volume_meta(&all[k], "rbdmove.sync_of") &&
                !cinder_volume_meta(&all[k], buf_str(&key)))
                complete = false;
        }
        if (complete) {
            out->p[w++] = *pt;
            continue;
        }
        free(pt->snap);
        free(pt->time);
        free(pt->source);
    }
    out->n = w;
    buf_release(&key);
    cinder_volumes_free(all, nall);
    return 0;
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
    if (cinder_volume_meta(v, "rbdmove.group") &&
        group_filter(p->src.cinder, v, out, err) < 0)
        goto out;
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
    static const char *const image_keys[] = {
        DEST_META_BASE, DEST_META_SEED, DEST_META_PENDING,
        MOVE_FAILOVER_IMAGE_KEY, MOVE_GROUP_WINDOW_KEY};
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
    {
        /* The RBD group a sync --server that stopped left (with snapshots
         * of the image that Cinder cannot remove). */
        char *group = NULL, *gpool = NULL;
        int64_t gpool_id = -1;

        if (image_group_of(img, &group, &gpool_id, err) < 0)
            goto out;
        gpool = group ? cluster_pool_name(cl, gpool_id) : NULL;
        if (group && gpool && !strncmp(group, "rbdmove-", 8)) {
            if (image_group_remove(cl, gpool, group, err) < 0) {
                free(group);
                free(gpool);
                goto out;
            }
            res->groups++;
        }
        free(group);
        free(gpool);
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
