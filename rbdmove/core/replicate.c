/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/replicate.c: seed and incremental rounds between a live source
 * image and a destination (see replicate.h for the guarantees).
 *
 * Destination metadata (all "v1 key=value ..."):
 *   rbdmove.base     fsid= image= snap= snap_id=   both sides hold snap
 *   rbdmove.seed     fsid= image= snap= snap_id= done=   seed in progress
 *   rbdmove.pending  fsid= image= snap= snap_id= from=   round in progress
 *   rbdmove.pending  fsid= image= snap=BASE snap_id= from=BASE head=1
 *                    the head holds (part of) the source head's changes
 *                    since the base: a final round (replicate_final)
 * fsid and image name the source cluster and image id; snap_id is the
 * source snapshot's id, so a snapshot deleted and re-created under the
 * same name is told apart.
 *
 * Order of a round, chosen so that a crash anywhere leaves a state the
 * next run recognises: pending set; transfer; destination snapshot; base
 * set; pending removed. The old bases are removed later, all together
 * (replicate_remove_retired).
 */
#include "rbdmove/core/replicate.h"
#include "rbdmove/core/retention.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/mark.h"
#include "rbdmove/core/stream.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

struct replicate {
    struct cluster *cl;
    char *pool;
    char *image;
    struct image *head; /* the source, read-write for snapshots */
    struct dest *dst;
    struct replicate_opts o;
    char *base;       /* shared snapshot, NULL before the seed */
    struct mark seed; /* a seed to resume (snap NULL: none) */
    struct mark pending;
    bool dst_fresh; /* absent or empty: zero ranges need no writes */
    bool dst_absent;
    unsigned rounds;
    /* The destination may hold bases that later rounds replaced (seen at
     * open, or a round made one): replicate_remove_retired has work. */
    bool retired;
    char *orphan; /* o.orphan, copied */
    char *early;  /* o.early_snap, copied; NULL once a round took it */
    /* Where the last commit's time went: the destination's snapshot and
     * marks. */
    double t_commit;
};

void replicate_opts_init(struct replicate_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->converge = 64ull << 20;
    o->max_rounds = 10;
    copy_params_init(&o->params);
}

/* ---- marks ----------------------------------------------------------------
 */

static int set_mark(struct replicate *r, const char *key, const struct mark *m,
                    struct error *err)
{
    char *v = m ? mark_format(cluster_fsid(r->cl), image_id(r->head), m) : NULL;
    int ret = dest_set_meta(r->dst, key, v, err);

    free(v);
    return ret;
}

/* The mark names this source, and the snapshot still exists there with
 * the same id. */
static int mark_matches(struct replicate *r, const struct mark *m, bool *match,
                        struct error *err)
{
    uint64_t id = 0;
    bool exists = false;

    *match = false;
    if (strcmp(m->fsid, cluster_fsid(r->cl)) ||
        strcmp(m->image, image_id(r->head)))
        return 0;
    if (image_snap_lookup(r->head, m->snap, &exists, &id, err) < 0)
        return -1;
    *match = exists && id == m->snap_id;
    return 0;
}

/* ---- events ----------------------------------------------------------------
 */

static void emit(struct replicate *r, enum replicate_event_kind kind,
                 const char *snap, uint64_t estimate,
                 const struct copy_stats *st, const char *msg)
{
    struct replicate_event ev = {kind, r->rounds, snap, estimate, st, msg};

    if (r->o.event)
        r->o.event(r->o.event_ctx, &ev);
}

static void info(struct replicate *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void info(struct replicate *r, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    emit(r, REPLICATE_EV_INFO, NULL, 0, NULL, buf_str(&b));
    buf_release(&b);
}

/* ---- opening and checking -------------------------------------------------
 */

static char *snap_name_at(int64_t clock_offset)
{
    unsigned char rnd[3] = {0, 0, 0};
    struct tm tm;
    time_t now = time(NULL) + (time_t)clock_offset;
    char ts[32];

    if (getrandom(rnd, sizeof(rnd), 0) < 0)
        rnd[0] = (unsigned char)now;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    return xasprintf(REPLICATE_SNAP_PREFIX "%s-%02x%02x%02x", ts, rnd[0],
                     rnd[1], rnd[2]);
}

static char *new_snap_name(const struct replicate *r)
{
    return snap_name_at(r->o.clock_offset);
}

char *replicate_group_snap_name(int64_t clock_offset)
{
    char *base = snap_name_at(clock_offset);
    char *name = xasprintf("%s" REPLICATE_GROUP_SUFFIX, base);

    free(base);
    return name;
}

bool replicate_snap_is_group(const char *name)
{
    size_t n = strlen(name), k = sizeof(REPLICATE_GROUP_SUFFIX) - 1;

    return replicate_snap_is_ours(name) && n > k &&
           !strcmp(name + n - k, REPLICATE_GROUP_SUFFIX);
}

int replicate_open_snap(struct cluster *cl, const char *pool, const char *image,
                        const char *snap, struct image **out, struct error *err)
{
    struct image *head = NULL;
    char *group = NULL, *gpool = NULL;
    int64_t pool_id = -1;
    int ret = -1;

    if (!snap || !replicate_snap_is_group(snap))
        return image_open(cl, pool, image, snap, true, out, err);
    *out = NULL;
    if (image_open(cl, pool, image, NULL, true, &head, err) < 0 ||
        image_group_of(head, &group, &pool_id, err) < 0)
        goto out;
    gpool = group ? cluster_pool_name(cl, pool_id) : NULL;
    if (!gpool) {
        /* In no group: a copy's snapshot of the point, which its receiver
         * made over the group's data (a failback reads it), or a
         * source's after its group sync finished, which only a lone
         * sync's --verify would read (it takes a round first). */
        ret = image_open(cl, pool, image, snap, true, out, err);
        goto out;
    }
    ret = image_open_group_snap(cl, pool, image, gpool, group, snap, out, err);
    if (ret < 0 && err->cause == ENOENT)
        error_prefix(err, "the point of a crash-consistent group cannot be "
                          "read");
out:
    image_close(head);
    free(group);
    free(gpool);
    return ret;
}

bool replicate_snap_is_ours(const char *name)
{
    return !strncmp(name, REPLICATE_SNAP_PREFIX,
                    sizeof(REPLICATE_SNAP_PREFIX) - 1) &&
           name_is_safe(name);
}

/* True when every extent of x lies within the union of the extents in y
 * (both ascending). */
static bool extents_covered(const struct dest_extents *x,
                            const struct dest_extents *y)
{
    size_t j = 0;

    for (size_t i = 0; i < x->n; i++) {
        uint64_t off = x->off[i], end = x->off[i] + x->len[i];

        while (off < end) {
            while (j < y->n && y->off[j] + y->len[j] <= off)
                j++;
            if (j == y->n || y->off[j] > off)
                return false;
            off = y->off[j] + y->len[j];
        }
    }
    return true;
}

/*
 * An interrupted round wrote part of the diff base..pending into the
 * destination head (snap NULL: a final round, base..the source head).
 * Check that whatever changed there since the base lies within what
 * changed at the source, so that applying the diff again (or that of any
 * later snapshot: the changes since the base only grow) makes the head
 * equal to the source.
 */
static int check_partial_round(struct replicate *r, const char *base,
                               const char *snap, struct error *err)
{
    struct dest_extents dirty = {0}, src = {0};
    struct image *at = NULL;
    int ret = -1;

    if (dest_dirty(r->dst, base, &dirty, err) < 0)
        goto out;
    if (replicate_open_snap(r->cl, r->pool, r->image, snap, &at, err) < 0)
        goto out;
    if (image_diff(at, base, 0, image_size(at), true, dest_extents_collect,
                   &src, err) < 0)
        goto out;
    if (!extents_covered(&dirty, &src)) {
        error_set(err, ERROR_STATE, 0,
                  "'%s' was written to outside the interrupted round from "
                  "'%s' to '%s'; refusing to apply a diff onto unknown data",
                  r->dst->name, base, snap);
        goto out;
    }
    ret = 0;
out:
    image_close(at);
    dest_extents_release(&dirty);
    dest_extents_release(&src);
    return ret;
}

static int check_base(struct replicate *r, const struct dest_state *st,
                      const struct mark *base, struct error *err)
{
    struct dest_extents dirty = {0};
    bool match = false;
    uint64_t base_size = 0;
    int ret = -1;

    if (mark_matches(r, base, &match, err) < 0)
        return -1;
    if (!match)
        return error_set(err, ERROR_STATE, 0,
                         "'%s' was copied from another source, or its base "
                         "snapshot '%s' no longer exists on '%s/%s'",
                         r->dst->name, base->snap, r->pool, r->image);
    if (!dest_state_snap_id(st, base->snap))
        return error_set(err, ERROR_STATE, 0,
                         "'%s' has lost its base snapshot '%s'", r->dst->name,
                         base->snap);
    for (size_t i = 0; i < st->nsnaps; i++) {
        if (!strcmp(st->snaps[i].name, base->snap))
            base_size = st->snaps[i].size;
    }
    if (r->pending.snap)
        return check_partial_round(
            r, base->snap, r->pending.head ? NULL : r->pending.snap, err);
    if (r->o.trust_head_at && !strcmp(r->o.trust_head_at, base->snap) &&
        st->size == base_size)
        return 0;
    if (dest_dirty(r->dst, base->snap, &dirty, err) < 0)
        goto out;
    if (dirty.n > 0 || st->size != base_size) {
        if (dirty.n > 0)
            error_set(err, ERROR_STATE, 0,
                      "'%s' was modified after its base snapshot '%s' (first "
                      "at byte %" PRIu64 ", %zu ranges); refusing to apply a "
                      "diff onto changed data",
                      r->dst->name, base->snap, dirty.off[0], dirty.n);
        else
            error_set(err, ERROR_STATE, 0,
                      "'%s' was resized after its base snapshot '%s' (%" PRIu64
                      " bytes, was %" PRIu64 "); refusing to apply a diff "
                      "onto changed data",
                      r->dst->name, base->snap, st->size, base_size);
        goto out;
    }
    ret = 0;
out:
    dest_extents_release(&dirty);
    return ret;
}

/* An existing destination with no marks: adopt it only when it holds
 * nothing at all. */
static int check_unmarked(struct replicate *r, const struct dest_state *st,
                          struct error *err)
{
    struct dest_extents used = {0};
    int ret;

    if (st->nsnaps > 0)
        return error_set(err, ERROR_STATE, 0,
                         "'%s' exists, has snapshots and was not made by "
                         "rbdmove; refusing to overwrite it",
                         r->dst->name);
    if (dest_dirty(r->dst, NULL, &used, err) < 0)
        return -1;
    ret = used.n ? error_set(err, ERROR_STATE, 0,
                             "'%s' exists, holds data and was not made by "
                             "rbdmove; refusing to overwrite it",
                             r->dst->name)
                 : 0;
    dest_extents_release(&used);
    r->dst_fresh = ret == 0;
    return ret;
}

static int check_pending(struct replicate *r, const struct dest_state *st,
                         struct error *err)
{
    bool match = false;

    if (mark_parse(DEST_META_PENDING, st->meta_pending, &r->pending, err) < 0)
        return -1;
    if (mark_matches(r, &r->pending, &match, err) < 0)
        return -1;
    if (!match || !r->pending.from || strcmp(r->pending.from, r->base))
        return error_set(err, ERROR_STATE, 0,
                         "'%s' holds part of a round towards '%s' whose "
                         "source snapshot is gone; roll it back with 'rbd "
                         "snap rollback %s@%s' and run again",
                         r->dst->name, r->pending.snap, r->dst->name, r->base);
    return 0;
}

/* "cluster FSID (mons MONS)", or what the destination can say. */
static void where(struct buf *b, const struct dest_state *st)
{
    if (!st->cluster_fsid)
        buf_adds(b, "its cluster (the receiver does not say which)");
    else
        buf_addf(b, "cluster %s (mons %s)", st->cluster_fsid,
                 st->cluster_mons && *st->cluster_mons ? st->cluster_mons
                                                       : "unknown");
}

/* The destination is the source: same cluster (fsid, and monitors where
 * both are known: cloned clusters share an fsid) and same image id. */
static bool is_source(const struct replicate *r, const struct dest_state *st)
{
    const char *mons = cluster_mons(r->cl);

    if (!st->exists || !st->cluster_fsid || !st->image_id ||
        strcmp(st->cluster_fsid, cluster_fsid(r->cl)) ||
        strcmp(st->image_id, image_id(r->head)))
        return false;
    return !*mons || !st->cluster_mons || !*st->cluster_mons ||
           !strcmp(mons, st->cluster_mons);
}

/* A volume's image (must_exist) that rbdmove has not written yet: is it
 * the one its cloud made? */
static int check_fresh_volume(struct replicate *r, const struct dest_state *st,
                              struct error *err)
{
    struct buf w = BUF_INIT;
    int ret = 0;

    where(&w, st);
    if (r->o.expect_size && st->size != r->o.expect_size)
        ret = error_set(err, ERROR_STATE, 0,
                        "'%s' on %s is %" PRIu64
                        " bytes, but the volume is %" PRIu64
                        " bytes: it is not the volume's image; nothing was "
                        "written",
                        r->dst->name, buf_str(&w), st->size, r->o.expect_size);
    else if (r->o.created_after && st->created &&
             st->created < r->o.created_after)
        ret = error_set(err, ERROR_STATE, 0,
                        "'%s' on %s was created %" PRId64 " s before its volume"
                        ": it is not the volume's image; nothing was written",
                        r->dst->name, buf_str(&w),
                        r->o.created_after - st->created);
    buf_release(&w);
    return ret;
}

/* Before anything is written: the destination is not the source, and with
 * must_exist it is on the volume's cluster and exists there. */
static int check_identity(struct replicate *r, const struct dest_state *st,
                          struct error *err)
{
    if (is_source(r, st)) {
        error_set(err, ERROR_STATE, 0,
                  "'%s' is the source image itself (cluster %s, image id %s); "
                  "refusing to copy an image onto itself",
                  r->dst->name, st->cluster_fsid, st->image_id);
        return -1;
    }
    if (r->o.must_exist && r->o.expect_fsid && st->cluster_fsid &&
        strcmp(r->o.expect_fsid, st->cluster_fsid)) {
        struct buf w = BUF_INIT;

        where(&w, st);
        error_set(err, ERROR_STATE, 0,
                  "'%s' is on %s, but the volume's backend uses cluster %s: "
                  "the destination's Ceph configuration names the wrong "
                  "cluster; nothing was written",
                  r->dst->name, buf_str(&w), r->o.expect_fsid);
        buf_release(&w);
        return -1;
    }
    if (!st->exists && r->o.must_exist) {
        struct buf w = BUF_INIT;

        where(&w, st);
        error_set(err, ERROR_STATE, 0,
                  "'%s' is not on %s: the volume's image is elsewhere (check "
                  "the destination's Ceph configuration and pool); nothing "
                  "was written",
                  r->dst->name, buf_str(&w));
        buf_release(&w);
        return -1;
    }
    return 0;
}

/* name is one of rbdmove's snapshots and no mark names it: a base that a
 * later round replaced (see "retired snapshots" below). */
static bool is_old_base(const struct replicate *r, const char *name)
{
    return replicate_snap_is_ours(name) &&
           !(r->base && !strcmp(name, r->base)) &&
           !(r->seed.snap && !strcmp(name, r->seed.snap)) &&
           !(r->pending.snap && !strcmp(name, r->pending.snap));
}

static int check_dest(struct replicate *r, struct error *err)
{
    struct dest_state st;
    struct mark base = {0};
    int ret = -1;

    if (r->o.tidy_only && dest_unlock(r->dst, err) < 0)
        return -1;
    if (dest_probe(r->dst, &st, err) < 0)
        return -1;
    if (r->o.tidy_only) {
        /* Only the marks are wanted, of an image in use elsewhere. */
        if (st.meta_base &&
            mark_parse(DEST_META_BASE, st.meta_base, &base, err) < 0)
            goto out;
        r->base = base.snap ? xstrdup(base.snap) : NULL;
        ret = 0;
        goto out;
    }
    if (check_identity(r, &st, err) < 0)
        goto out;
    if (!st.exists) {
        r->dst_absent = r->dst_fresh = true;
        ret = 0;
        goto out;
    }
    if (st.meta_base) {
        if (mark_parse(DEST_META_BASE, st.meta_base, &base, err) < 0)
            goto out;
        r->base = xstrdup(base.snap);
        if (st.meta_pending && check_pending(r, &st, err) < 0)
            goto out;
        ret = check_base(r, &st, &base, err);
    } else if (st.meta_seed) {
        bool match = false;

        if (mark_parse(DEST_META_SEED, st.meta_seed, &r->seed, err) < 0 ||
            mark_matches(r, &r->seed, &match, err) < 0)
            goto out;
        if (!match) {
            error_set(err, ERROR_STATE, 0,
                      "'%s' holds part of a seed from another source or a "
                      "snapshot that is gone; remove it and run again",
                      r->dst->name);
            goto out;
        }
        r->dst_fresh = true;
        ret = 0;
    } else {
        ret = r->o.must_exist ? check_fresh_volume(r, &st, err) : 0;
        if (ret == 0)
            ret = check_unmarked(r, &st, err);
    }
out:
    for (size_t i = 0; ret == 0 && i < st.nsnaps; i++)
        r->retired |= is_old_base(r, st.snaps[i].name);
    r->retired |= r->orphan != NULL;
    mark_release(&base);
    dest_state_release(&st);
    return ret;
}

int replicate_open(struct cluster *src_cl, const char *pool, const char *image,
                   struct dest *dst, const struct replicate_opts *o,
                   struct replicate **out, struct error *err)
{
    struct replicate *r = xcalloc(1, sizeof(*r));
    int ret = -1;

    *out = NULL;
    r->cl = src_cl;
    r->pool = xstrdup(pool);
    r->image = xstrdup(image);
    r->dst = dst;
    r->o = *o;
    r->orphan = o->orphan ? xstrdup(o->orphan) : NULL;
    r->o.orphan = NULL;
    r->early = o->early_snap ? xstrdup(o->early_snap) : NULL;
    r->o.early_snap = NULL;
    if (image_open(src_cl, pool, image, NULL, false, &r->head, err) < 0)
        goto out;
    if (check_dest(r, err) < 0)
        goto out;
    *out = r;
    r = NULL;
    ret = 0;
out:
    replicate_close(r);
    return ret;
}

void replicate_close(struct replicate *r)
{
    if (!r)
        return;
    if (r->early && r->head) {
        struct error e = ERROR_INIT;

        if (image_snap_remove(r->head, r->early, &e) < 0)
            info(r, "cannot remove the unused snapshot %s: %s", r->early,
                 e.msg);
    }
    free(r->early);
    image_close(r->head);
    free(r->pool);
    free(r->image);
    free(r->base);
    free(r->orphan);
    mark_release(&r->seed);
    mark_release(&r->pending);
    free(r);
}

int replicate_snapshot_early(struct cluster *cl, const char *pool,
                             const char *image, int64_t clock_offset,
                             char **name, uint64_t *id, struct error *err)
{
    struct image *img = NULL;
    char *snap = snap_name_at(clock_offset);
    bool exists = false;
    int ret = -1;

    *name = NULL;
    *id = 0;
    if (image_open(cl, pool, image, NULL, false, &img, err) < 0)
        goto out;
    if (image_snap_create(img, snap, err) < 0)
        goto out;
    if (image_snap_lookup(img, snap, &exists, id, err) < 0 || !exists) {
        if (!exists && err->kind == ERROR_NONE)
            error_set(err, ERROR_CEPH, ENOENT,
                      "snapshot '%s/%s@%s' vanished after its creation", pool,
                      image, snap);
        (void)!image_snap_remove(img, snap, &(struct error)ERROR_INIT);
        goto out;
    }
    *name = snap;
    snap = NULL;
    ret = 0;
out:
    free(snap);
    image_close(img);
    return ret;
}

void replicate_snapshot_drop(struct cluster *cl, const char *pool,
                             const char *image, const char *name)
{
    struct error e = ERROR_INIT;
    struct image *img = NULL;

    if (image_open(cl, pool, image, NULL, false, &img, &e) == 0)
        (void)!image_snap_remove(img, name, &e);
    image_close(img);
}

int replicate_remove_group_strays(struct replicate *r, struct error *err)
{
    struct image_snap *snaps = NULL;
    size_t n = 0;
    int ret = 0;

    if (image_snap_list(r->head, &snaps, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && ret == 0; i++) {
        if (!replicate_snap_is_group(snaps[i].name) ||
            !is_old_base(r, snaps[i].name) ||
            (r->early && !strcmp(snaps[i].name, r->early)))
            continue;
        info(r,
             "removing %s, a point of a group sync that stopped before "
             "it got there",
             snaps[i].name);
        ret = image_snap_remove(r->head, snaps[i].name, err);
    }
    image_snaps_free(snaps, n);
    return ret;
}

void replicate_set_early(struct replicate *r, const char *snap, uint64_t id)
{
    free(r->early);
    r->early = xstrdup(snap);
    r->o.early_snap_id = id;
}

bool replicate_early_pending(const struct replicate *r)
{
    return r->early != NULL;
}

const char *replicate_base(const struct replicate *r)
{
    return r->base;
}

unsigned replicate_rounds(const struct replicate *r)
{
    return r->rounds;
}

/* ---- transfers --------------------------------------------------------------
 */

struct seed_ckpt {
    struct replicate *r;
    struct mark *m;
};

static int seed_checkpoint(void *ctx, uint64_t done_below, struct error *err)
{
    struct seed_ckpt *c = ctx;

    c->m->done = done_below;
    return set_mark(c->r, DEST_META_SEED, c->m, err);
}

/* Snapshot the source under a new name; fills m->snap and m->snap_id. */
static int source_snapshot(struct replicate *r, struct mark *m,
                           struct error *err)
{
    bool exists = false;

    if (r->early) {
        /* Taken before the open, after every earlier run's base. */
        m->snap = r->early;
        m->snap_id = r->o.early_snap_id;
        r->early = NULL;
        return 0;
    }
    m->snap = new_snap_name(r);
    if (r->o.snap_intent && r->o.snap_intent(r->o.event_ctx, m->snap, err) < 0)
        return -1;
    if (image_snap_create(r->head, m->snap, err) < 0)
        return -1;
    if (image_snap_lookup(r->head, m->snap, &exists, &m->snap_id, err) < 0)
        return -1;
    if (!exists)
        return error_set(err, ERROR_CEPH, ENOENT,
                         "snapshot '%s/%s@%s' vanished after its creation",
                         r->pool, r->image, m->snap);
    return 0;
}

/* Move src@snap (NULL: the head) since from (NULL for a seed) into the
 * destination's head, after resizing it to the source's size. */
static int transfer(struct replicate *r, const char *snap, const char *from,
                    struct copy_params *p, struct copy_stats *st,
                    struct error *err)
{
    struct image *at = NULL;
    int ret = -1;

    if (replicate_open_snap(r->cl, r->pool, r->image, snap, &at, err) < 0)
        return -1;
    if (!r->dst_absent || from) {
        struct dest_state ds;

        if (dest_probe(r->dst, &ds, err) < 0)
            goto out;
        if (ds.size > image_size(at) && !r->o.allow_shrink) {
            error_set(err, ERROR_STATE, 0,
                      "'%s/%s%s%s' is smaller than '%s' (%" PRIu64 " < %" PRIu64
                      " bytes); use --allow-shrink to follow it",
                      r->pool, r->image, snap ? "@" : "", snap ? snap : "",
                      r->dst->name, image_size(at), ds.size);
            dest_state_release(&ds);
            goto out;
        }
        if (ds.size != image_size(at) &&
            dest_resize(r->dst, image_size(at), err) < 0) {
            dest_state_release(&ds);
            goto out;
        }
        dest_state_release(&ds);
    }
    p->whole_object = !from && image_fast_diff_valid(at);
    /* A snapshot's round (not the final one of the head) commits next. */
    p->commit_follows = snap != NULL;
    ret = dest_transfer(r->dst, at, from, p, st, err);
out:
    image_close(at);
    return ret;
}

struct dst_remove {
    struct dest *d;
    const char *snap;
    struct error err;
    int ret;
};

static void *dst_remove_main(void *arg)
{
    struct dst_remove *j = arg;

    j->ret = dest_snap_remove(j->d, j->snap, &j->err);
    if (j->ret < 0 && j->err.cause == ENOENT) {
        error_clear(&j->err);
        j->ret = 0;
    }
    return NULL;
}

/*
 * Remove snapshot name on both sides at once: each is a monitor update of
 * its own cluster (up to paxos_propose_interval, 1 s by default), so side
 * by side they cost the slower one, not the sum. One already gone is
 * fine (an interrupted earlier run).
 */
static int remove_both(struct replicate *r, const char *name, struct error *err)
{
    struct dst_remove j = {r->dst, name, ERROR_INIT, 0};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, dst_remove_main, &j) == 0;
    int rs;

    if (!threaded)
        dst_remove_main(&j);
    rs = image_snap_remove(r->head, name, err);
    if (rs < 0 && err->cause == ENOENT) {
        error_clear(err);
        rs = 0;
    }
    if (threaded)
        pthread_join(th, NULL);
    if (j.ret < 0) {
        if (rs == 0)
            *err = j.err;
        return -1;
    }
    return rs;
}

/*
 * Make snap the base on both sides. The old base is not removed here: it
 * becomes a retired snapshot (below), so that no round waits for the
 * monitor update a removal is, or competes with the trimming it starts.
 */
static int commit(struct replicate *r, const struct mark *m,
                  const char *meta_key, struct error *err)
{
    struct mark base = {0};
    double t0 = time_now();

    char *v;
    int ret;

    r->t_commit = 0;
    base.snap = m->snap;
    base.snap_id = m->snap_id;
    v = mark_format(cluster_fsid(r->cl), image_id(r->head), &base);
    ret = dest_commit(r->dst, m->snap, DEST_META_BASE, v, meta_key, err);
    free(v);
    if (ret < 0)
        return -1;
    r->retired |= r->base != NULL;
    free(r->base);
    r->base = xstrdup(m->snap);
    r->t_commit = time_now() - t0;
    return 0;
}

/* ---- retired snapshots ------------------------------------------------------
 *
 * The bases that later rounds replaced. They need no record of their own:
 * they are the snapshots with rbdmove's names that both the destination
 * and the source hold, other than the ones the marks name (base, seed,
 * pending). A destination belongs to one source (check_dest), so its
 * snapshot list names only this replication's snapshots, never those of
 * another rbdmove run from the same source. A run killed before removing
 * them leaves them to the next run (replicate_seed), the move's cleanup
 * or abort.
 */

static bool is_retired(const struct replicate *r, const char *name,
                       const struct image_snap *src, size_t nsrc)
{
    if (!is_old_base(r, name))
        return false;
    for (size_t i = 0; i < nsrc; i++) {
        if (!strcmp(src[i].name, name))
            return true;
    }
    return false;
}

/* keep[i]: whether the policy keeps st->snaps[i] as a recovery point
 * (only meaningful for rbdmove's earlier snapshots; the base counts as
 * the newest point). */
static bool *points_kept(const struct replicate *r, const struct dest_state *st)
{
    time_t *t = xcalloc(st->nsnaps + 1, sizeof(*t));
    bool *keep = xcalloc(st->nsnaps + 1, sizeof(*keep));
    size_t *at = xcalloc(st->nsnaps + 1, sizeof(*at));
    bool *out = xcalloc(st->nsnaps + 1, sizeof(*out));
    size_t n = 0;

    for (size_t i = 0; i < st->nsnaps; i++) {
        if (!is_old_base(r, st->snaps[i].name) &&
            !(r->base && !strcmp(st->snaps[i].name, r->base)))
            continue;
        t[n] = retention_snap_time(st->snaps[i].name);
        at[n++] = i;
    }
    retention_select(r->o.keep, time(NULL) + (time_t)r->o.clock_offset, t, n,
                     keep);
    for (size_t k = 0; k < n; k++)
        out[at[k]] = keep[k];
    free(t);
    free(keep);
    free(at);
    return out;
}

int replicate_remove_retired(struct replicate *r, struct error *err)
{
    struct dest_state st;
    struct image_snap *snaps = NULL;
    size_t n = 0, removed = 0, kept = 0, dropped = 0;
    bool *kept_by_policy = NULL;
    double t0 = time_now();
    int ret = -1;

    if (!r->retired)
        return 0; /* none seen at open, and no round since */
    if (dest_probe(r->dst, &st, err) < 0)
        return -1;
    if (image_snap_list(r->head, &snaps, &n, err) < 0)
        goto out;
    if (r->o.keep)
        kept_by_policy = points_kept(r, &st);
    for (size_t i = 0; i < st.nsnaps; i++) {
        const char *name = st.snaps[i].name;
        bool on_src = is_retired(r, name, snaps, n);

        if (r->o.keep && is_old_base(r, name)) {
            /* A recovery point the policy keeps: off the source only. */
            if (kept_by_policy[i]) {
                if (on_src && image_snap_remove(r->head, name, err) < 0 &&
                    err->cause != ENOENT)
                    goto out;
                error_clear(err);
                kept += on_src;
                continue;
            }
            if (!on_src) {
                if (dest_snap_remove(r->dst, name, err) < 0 &&
                    err->cause != ENOENT)
                    goto out;
                error_clear(err);
                dropped++;
                continue;
            }
        }
        if (!on_src)
            continue;
        if (remove_both(r, name, err) < 0)
            goto out;
        removed++;
    }
    /* Created on the source by a run killed before any mark named it. */
    if (r->orphan && is_old_base(r, r->orphan) &&
        !dest_state_snap_id(&st, r->orphan)) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(snaps[i].name, r->orphan))
                continue;
            if (image_snap_remove(r->head, r->orphan, err) < 0)
                goto out;
            removed++;
        }
    }
    free(r->orphan);
    r->orphan = NULL;
    if (removed)
        info(r, "removed %zu earlier round snapshot%s on both sides in %.3f s",
             removed, removed == 1 ? "" : "s", time_now() - t0);
    if (dropped)
        info(r, "removed %zu older recovery point%s from the destination",
             dropped, dropped == 1 ? "" : "s");
    if (kept)
        info(r,
             "kept %zu earlier round snapshot%s as recovery point%s on "
             "the destination only",
             kept, kept == 1 ? "" : "s", kept == 1 ? "" : "s");
    r->retired = false;
    ret = 0;
out:
    free(kept_by_policy);
    image_snaps_free(snaps, n);
    dest_state_release(&st);
    return ret;
}

static int do_seed(struct replicate *r, struct error *err)
{
    struct copy_params p = r->o.params;
    struct seed_ckpt ck = {r, &r->seed};
    struct copy_stats st;
    struct image *at = NULL;
    bool resumed = r->seed.snap != NULL;
    char *seed_prefix = NULL;
    int ret;

    if (!resumed && source_snapshot(r, &r->seed, err) < 0)
        return -1;
    /* The create and the seed's mark travel with the transfer's first
     * request (a receiver: one round trip instead of three); nothing here
     * depends on them before it, and their failure is its failure. */
    dest_batch(r->dst);
    if (r->dst_absent) {
        if (replicate_open_snap(r->cl, r->pool, r->image, r->seed.snap, &at,
                                err) < 0)
            return -1;
        if (dest_create(r->dst, image_size(at), image_order(at), err) < 0) {
            image_close(at);
            return -1;
        }
        image_close(at);
    }
    if (set_mark(r, DEST_META_SEED, &r->seed, err) < 0)
        return -1;
    if (resumed)
        info(r, "resuming the seed from '%s' at byte %" PRIu64, r->seed.snap,
             r->seed.done);
    emit(r, REPLICATE_EV_ROUND_START, r->seed.snap, 0, NULL, NULL);
    p.dst_is_zero = r->dst_fresh;
    p.resume_off = r->seed.done;
    p.checkpoint = seed_checkpoint;
    p.checkpoint_ctx = &ck;
    {
        struct mark m0 = r->seed;

        m0.done = 0;
        seed_prefix = mark_format(cluster_fsid(r->cl), image_id(r->head), &m0);
    }
    p.checkpoint_key = DEST_META_SEED;
    p.checkpoint_prefix = seed_prefix;
    ret = transfer(r, r->seed.snap, NULL, &p, &st, err);
    free(seed_prefix);
    if (ret < 0)
        return -1;
    if (commit(r, &r->seed, DEST_META_SEED, err) < 0)
        return -1;
    emit(r, REPLICATE_EV_ROUND_DONE, r->seed.snap, 0, &st, NULL);
    mark_release(&r->seed);
    r->dst_absent = r->dst_fresh = false;
    return 0;
}

/* Redo a round that an earlier run left half done. */
static int finish_pending(struct replicate *r, struct error *err)
{
    struct copy_params p = r->o.params;
    struct copy_stats st;

    info(r, "finishing the interrupted round from '%s' to '%s'", r->base,
         r->pending.snap);
    r->rounds++;
    emit(r, REPLICATE_EV_ROUND_START, r->pending.snap, 0, NULL, NULL);
    if (transfer(r, r->pending.snap, r->base, &p, &st, err) < 0)
        return -1;
    if (commit(r, &r->pending, DEST_META_PENDING, err) < 0)
        return -1;
    emit(r, REPLICATE_EV_ROUND_DONE, r->pending.snap, 0, &st, NULL);
    mark_release(&r->pending);
    return 0;
}

int replicate_seed(struct replicate *r, struct error *err)
{
    if (!r->base)
        return replicate_remove_retired(r, err) < 0 ? -1 : do_seed(r, err);
    /* A final round towards the head is not finished here: the next
     * round's diff from the base covers it (check_partial_round). */
    if (r->pending.snap && !r->pending.head && finish_pending(r, err) < 0)
        return -1;
    /* What an earlier run left behind goes before the new rounds add to
     * it (nothing to do, and quick, when that run finished). */
    return replicate_remove_retired(r, err);
}

int replicate_delta(struct replicate *r, uint64_t *bytes, struct error *err)
{
    *bytes = 0;
    if (!r->base)
        return error_set(err, ERROR_STATE, 0, "no base snapshot yet");
    return image_diff_bytes(r->head, r->base, bytes, err);
}

int replicate_round(struct replicate *r, struct copy_stats *st,
                    struct error *err)
{
    struct copy_params p = r->o.params;
    struct mark m = {0};
    uint64_t estimate = 0;
    double t0, t_snap;
    int ret = -1;

    if (!r->base)
        return error_set(err, ERROR_STATE, 0, "no base snapshot yet");
    /* No estimate here: measuring the delta walks the whole image, and in
     * a move's final round that walk is downtime. Callers that want one
     * measured it already (replicate_delta). */
    t0 = time_now();
    if (source_snapshot(r, &m, err) < 0)
        goto out;
    t_snap = time_now() - t0;
    m.from = xstrdup(r->base);
    if (set_mark(r, DEST_META_PENDING, &m, err) < 0)
        goto out;
    r->rounds++;
    emit(r, REPLICATE_EV_ROUND_START, m.snap, estimate, NULL, NULL);
    if (transfer(r, m.snap, r->base, &p, st, err) < 0)
        goto out;
    if (commit(r, &m, DEST_META_PENDING, err) < 0)
        goto out;
    mark_release(&r->pending); /* a final round's mark, if any, is gone */
    /* Where a round's time goes (issue 12): in the log and --json. */
    info(r,
         "round %u times: source snapshot %.3f s, changed extents %.3f s, "
         "copy %.3f s, destination snapshot and marks %.3f s",
         r->rounds, t_snap, st->diff_seconds, st->seconds - st->diff_seconds,
         r->t_commit);
    emit(r, REPLICATE_EV_ROUND_DONE, m.snap, estimate, st, NULL);
    ret = 0;
out:
    mark_release(&m);
    return ret;
}

int replicate_final(struct replicate *r, struct copy_stats *st,
                    struct error *err)
{
    struct copy_params p = r->o.params;
    struct mark m = {0};
    bool exists = false;
    int ret = -1;

    if (!r->base)
        return error_set(err, ERROR_STATE, 0, "no base snapshot yet");
    m.snap = xstrdup(r->base);
    m.from = xstrdup(r->base);
    m.head = true;
    if (image_snap_lookup(r->head, r->base, &exists, &m.snap_id, err) < 0)
        goto out;
    if (!exists) {
        error_set(err, ERROR_STATE, 0, "base snapshot '%s/%s@%s' is gone",
                  r->pool, r->image, r->base);
        goto out;
    }
    if (set_mark(r, DEST_META_PENDING, &m, err) < 0)
        goto out;
    r->rounds++;
    emit(r, REPLICATE_EV_ROUND_START, "head", 0, NULL, NULL);
    if (transfer(r, NULL, r->base, &p, st, err) < 0)
        goto out;
    emit(r, REPLICATE_EV_ROUND_DONE, "head", 0, st, NULL);
    ret = 0;
out:
    mark_release(&m);
    return ret;
}

int replicate_run(struct replicate *r, bool *converged, struct error *err)
{
    bool had_base = r->base && !r->pending.snap;
    uint64_t delta = 0;

    *converged = false;
    if (replicate_seed(r, err) < 0)
        return -1;
    for (;;) {
        struct copy_stats st;

        if (replicate_delta(r, &delta, err) < 0)
            return -1;
        if (delta == 0 || (delta < r->o.converge && !had_base)) {
            *converged = true;
            return replicate_remove_retired(r, err);
        }
        if (r->rounds >= r->o.max_rounds)
            return replicate_remove_retired(r, err);
        had_base = false;
        if (replicate_round(r, &st, err) < 0)
            return -1;
    }
}

int replicate_drop_base(struct replicate *r, struct error *err)
{
    if (!r->base)
        return 0;
    /* The base mark goes last: until then a rerun knows what to remove. */
    if (replicate_remove_retired(r, err) < 0 ||
        dest_set_meta(r->dst, DEST_META_PENDING, NULL, err) < 0 ||
        remove_both(r, r->base, err) < 0 ||
        dest_set_meta(r->dst, DEST_META_BASE, NULL, err) < 0)
        return -1;
    free(r->base);
    r->base = NULL;
    return 0;
}

void replicate_set_cancel(struct replicate *r, cancel_fn *fn, void *ctx)
{
    r->o.params.cancel = fn;
    r->o.params.cancel_ctx = ctx;
}
