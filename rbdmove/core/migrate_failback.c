/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate_failback.c: `rbdmove failback`, a move whose source
 * is a copy that sync made and failover put to work (in the DR region) and
 * whose destination is the volume it is a copy of (in the primary region).
 *
 * The two images share a snapshot: the copy's base, which its mark
 * (rbdmove.base: the original's fsid, image id, snapshot name and id)
 * names on the original. Proved by those identities, that snapshot is
 * the common point, and the original is re-based onto the copy (its mark
 * now names the copy's image and its snapshot of that name): from there
 * on the move's own rounds and cutover copy only what changed since. The
 * move's final round takes a snapshot on both sides here (a normal round,
 * the source detached), so that its cleanup can hand the roles back: the
 * copy marked again as a copy of the original at that snapshot, which the
 * original keeps as the base of the next sync. That sync moves only what
 * the server writes after the failback.
 *
 * Split-brain: an original written after the common point (the primary
 * went on after its last sync) is refused, with the amounts written on
 * each side, unless discard_primary_changes rolls it back to the point.
 *
 * The journal is the move's (move_record.failback); resume and abort are
 * the move's, with the differences below: the original is never deleted,
 * and an abort keeps the marks and shared snapshots, so that the next
 * failback continues from them.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openstack/cinder.h"
#include "openstack/nova.h"
#include "rbdmove/base/buf.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/mark.h"
#include "rbdmove/core/migrate_int.h"
#include "rbdmove/core/replicate.h"
#include "rbdmove/core/verify.h"

/* ---- pre-flight ---------------------------------------------------------- */

int move_failback_plan(struct move *m, struct error *err)
{
    struct plan *p = m->plan;
    const struct cinder_volume *c = &p->volume;
    const char *of = cinder_volume_meta(c, "rbdmove.sync_of");
    const char *state = cinder_volume_meta(c, "rbdmove.state");
    const char *point = cinder_volume_meta(c, "rbdmove.failover_point");
    const char *server = m->o->plan.dst_server;
    struct cinder_volume orig;
    struct buf why = BUF_INIT;
    char image[64];
    int ret = -1;

    memset(&orig, 0, sizeof(orig));
    if (!of)
        return error_set(err, ERROR_STATE, 0,
                         "volume %s is not a copy made by 'rbdmove sync' (it "
                         "has no rbdmove.sync_of); nothing was changed",
                         c->id);
    if (!state ||
        (strcmp(state, "failed-over") && strcmp(state, "failing-back")) ||
        !point)
        return error_set(err, ERROR_STATE, 0,
                         "copy %s is not failed over (its state is %s): "
                         "failback brings home a copy that 'rbdmove "
                         "failover' put to work; nothing was changed",
                         c->id, state ? state : "not recorded");
    if (cinder_volume_get(p->dst.cinder, of, &orig, err) < 0)
        return error_prefix(err, "the original volume %s of copy %s", of,
                            c->id);
    if (orig.n_attachments || strcmp(orig.status, "available")) {
        error_set(err, ERROR_STATE, 0,
                  "the original volume %s is %s%s%s: detach it first, so "
                  "that nothing writes it while the failback runs; nothing "
                  "was changed",
                  of, orig.status,
                  orig.n_attachments ? ", attached to server " : "",
                  orig.n_attachments ? orig.attachments[0].server_id : "");
        goto out;
    }
    if (!server)
        server = cinder_volume_meta(c, "rbdmove.sync_server");
    if (!server) {
        error_set(err, ERROR_USAGE, 0,
                  "copy %s does not say which server its original served "
                  "(it was synced while detached): name one with "
                  "--dst-server",
                  c->id);
        goto out;
    }
    if (!p->have_server) {
        if (nova_server_find(p->dst.nova, server, &p->server, err) < 0) {
            error_prefix(err, "the original's server %s", server);
            goto out;
        }
        p->have_server = true;
        if (!nova_server_can_attach(&p->server, &why)) {
            error_set(err, ERROR_STATE, 0, "%s; nothing was changed",
                      buf_str(&why));
            goto out;
        }
    }
    cinder_volume_rbd_image(&orig, image, sizeof(image));
    move_record_set(&m->rec.dst.volume, orig.id);
    move_record_set(&m->rec.dst.image, image);
    m->rec.dst.created = false;
    m->rec.failback.on = true;
    m->rec.failback.discard = m->o->discard_primary_changes;
    move_record_set(&m->rec.failback.point, point);
    ret = 0;
out:
    buf_release(&why);
    cinder_volume_release(&orig);
    return ret;
}

/* ---- the common point ---------------------------------------------------- */

/* "12.5 MiB" and the like, for messages. */
static void amount(struct buf *b, uint64_t n)
{
    if (n >= (1u << 20))
        buf_addf(b, "%.1f MiB", (double)n / (1u << 20));
    else
        buf_addf(b, "%" PRIu64 " bytes", n);
}

/* The block of the split-brain test's comparison. */
#define FB_BLOCK (1u << 20)

static int window_reference(struct move *m, const char *point,
                            const uint64_t *idx, size_t n, uint64_t *a,
                            struct error *err);

/*
 * What the original really holds differently from point, in the extents
 * its object map says were written since (dirty): each block hashed at
 * point and in the head. A rollback, or data written again as it was,
 * marks objects without changing them: that is no split-brain. *bytes:
 * the differing blocks' size; *ranges: runs of them.
 */
static int really_changed(struct move *m, const char *point, uint64_t size,
                          const struct dest_extents *dirty, uint64_t *bytes,
                          size_t *ranges, struct error *err)
{
    uint64_t *idx = NULL, *a = NULL, *b = NULL, last = UINT64_MAX;
    size_t n = 0, cap = 0;
    int ret = -1;

    *bytes = 0;
    *ranges = 0;
    for (size_t i = 0; i < dirty->n; i++) {
        uint64_t end = dirty->off[i] + dirty->len[i];

        if (end > size)
            end = size;
        for (uint64_t k = dirty->off[i] / FB_BLOCK;
             k * FB_BLOCK < end && (n == 0 || idx[n - 1] != k); k++) {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                idx = xrealloc(idx, cap * sizeof(*idx));
            }
            idx[n++] = k;
        }
    }
    if (n == 0)
        return 0;
    a = xcalloc(n, sizeof(*a));
    b = xcalloc(n, sizeof(*b));
    if (dest_hash_blocks(m->dst, point, FB_BLOCK, idx, n, a, err) < 0 ||
        dest_hash_blocks(m->dst, NULL, FB_BLOCK, idx, n, b, err) < 0)
        goto out;
    /* A group's point: where the source wrote between its own snapshot
     * and the group's, the point's data is the copy's, not what the
     * original holds under that name. */
    if (m->window.n && window_reference(m, point, idx, n, a, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (a[i] == b[i])
            continue;
        *bytes += FB_BLOCK;
        *ranges += last == UINT64_MAX || idx[i] != last + 1;
        last = idx[i];
    }
    ret = 0;
out:
    free(idx);
    free(a);
    free(b);
    return ret;
}

/* ---- a group's point (sync --server) --------------------------------------
 */

char *move_group_window_format(const char *point, const struct dest_extents *x)
{
    struct buf b = BUF_INIT;

    buf_adds(&b, point);
    if (x->n > MOVE_GROUP_WINDOW_MAX) {
        uint64_t end = x->off[x->n - 1] + x->len[x->n - 1];

        buf_addf(&b, " %" PRIu64 "+%" PRIu64, x->off[0], end - x->off[0]);
        return buf_take(&b);
    }
    for (size_t i = 0; i < x->n; i++)
        buf_addf(&b, " %" PRIu64 "+%" PRIu64, x->off[i], x->len[i]);
    return buf_take(&b);
}

int move_group_window_parse(const char *v, const char *point,
                            struct dest_extents *x)
{
    size_t n = strlen(point);
    const char *p = v;
    uint64_t end = 0;

    memset(x, 0, sizeof(*x));
    if (strncmp(v, point, n) || (v[n] && v[n] != ' '))
        return -1;
    for (p = v + n; *p == ' ';) {
        char *e;
        unsigned long long off, len;

        p++;
        if (*p < '0' || *p > '9')
            goto bad;
        off = strtoull(p, &e, 10);
        if (*e != '+' || e[1] < '0' || e[1] > '9')
            goto bad;
        len = strtoull(e + 1, &e, 10);
        if ((*e && *e != ' ') || len == 0 || off < end || off + len < off ||
            x->n >= MOVE_GROUP_WINDOW_MAX)
            goto bad;
        (void)dest_extents_collect(x, off, len, true, NULL);
        end = off + len;
        p = e;
    }
    if (*p)
        goto bad;
    return 0;
bad:
    dest_extents_release(x);
    return -1;
}

/* The union of the ascending ranges a and b, ascending and apart. */
static void extents_union(const struct dest_extents *a,
                          const struct dest_extents *b,
                          struct dest_extents *out)
{
    size_t i = 0, j = 0;
    uint64_t lo = 0, hi = 0;
    bool open = false;

    memset(out, 0, sizeof(*out));
    while (i < a->n || j < b->n) {
        bool take_a = j >= b->n || (i < a->n && a->off[i] <= b->off[j]);
        uint64_t off = take_a ? a->off[i] : b->off[j];
        uint64_t end = off + (take_a ? a->len[i] : b->len[j]);

        if (take_a)
            i++;
        else
            j++;
        if (open && off <= hi) {
            if (end > hi)
                hi = end;
            continue;
        }
        if (open)
            (void)dest_extents_collect(out, lo, hi - lo, true, NULL);
        lo = off;
        hi = end;
        open = true;
    }
    if (open)
        (void)dest_extents_collect(out, lo, hi - lo, true, NULL);
}

/*
 * The ranges every round of this failback copies besides the copy's
 * changes since its base (m->window), which the diff from the base does
 * not show:
 * - a group's point (sync --server) holds the group snapshot's data, but
 *   what the original keeps under that name is its own snapshot, taken a
 *   moment before the group's: the ranges written in that moment, which
 *   sync recorded on the copy (MOVE_GROUP_WINDOW_KEY);
 * - a copy failed over to a point older than its base was rolled back to
 *   it, and librbd's rollback leaves the object map saying "unchanged"
 *   where the head went back: the ranges that differ between that point
 *   and the base.
 */
static int load_window(struct move *m, struct image *copy, const char *point,
                       struct error *err)
{
    struct dest_extents w = {0}, r = {0};
    struct image *at = NULL;
    char *v = NULL, *fo = NULL;
    int ret = -1;

    dest_extents_release(&m->window);
    if (replicate_snap_is_group(point)) {
        if (image_meta_get(copy, MOVE_GROUP_WINDOW_KEY, &v, err) < 0)
            goto out;
        if (!v || move_group_window_parse(v, point, &w) < 0) {
            error_set(err, ERROR_STATE, 0,
                      "copy %s holds point %s of a crash-consistent group "
                      "(sync --server), but not the record of what its "
                      "source took in the moment between its own snapshot "
                      "and the group's (%s): a delta-only failback could "
                      "leave those writes behind; move the copy back in "
                      "full with 'rbdmove move' instead; nothing was "
                      "changed",
                      m->rec.src.volume, point, MOVE_GROUP_WINDOW_KEY);
            goto out;
        }
        if (w.n)
            move_emit(m, "info", NULL,
                      "point %s is a group's: %zu range%s written on the "
                      "original between its own snapshot and the group's "
                      "are copied as well",
                      point, w.n, w.n == 1 ? "" : "s");
    }
    if (image_meta_get(copy, MOVE_FAILOVER_IMAGE_KEY, &fo, err) < 0)
        goto out;
    /* rbdmove's snapshot names start with their time. */
    if (fo && replicate_snap_is_ours(fo) && strcmp(fo, point) < 0) {
        if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, point,
                       true, &at, err) < 0 ||
            image_diff(at, fo, 0, image_size(at), false, dest_extents_collect,
                       &r, err) < 0)
            goto out;
        if (r.n)
            move_emit(m, "info", NULL,
                      "copy %s was rolled back to %s when it was failed "
                      "over, before its base %s: the %zu range%s that "
                      "differ between them are copied as well",
                      m->rec.src.volume, fo, point, r.n, r.n == 1 ? "" : "s");
    }
    extents_union(&w, &r, &m->window);
    ret = 0;
out:
    image_close(at);
    free(v);
    free(fo);
    dest_extents_release(&w);
    dest_extents_release(&r);
    return ret;
}

/* For the blocks idx that the window touches, a[i] becomes the hash of the
 * copy's block at point (the group's data there). */
static int window_reference(struct move *m, const char *point,
                            const uint64_t *idx, size_t n, uint64_t *a,
                            struct error *err)
{
    struct image *at = NULL;
    uint64_t *sel = xcalloc(n + 1, sizeof(*sel)), *h = NULL;
    size_t *pos = xcalloc(n + 1, sizeof(*pos)), k = 0, w = 0;
    int ret = -1;

    for (size_t i = 0; i < n; i++) {
        uint64_t lo = idx[i] * FB_BLOCK, hi = lo + FB_BLOCK;

        while (w < m->window.n && m->window.off[w] + m->window.len[w] <= lo)
            w++;
        if (w < m->window.n && m->window.off[w] < hi) {
            sel[k] = idx[i];
            pos[k++] = i;
        }
    }
    if (k == 0) {
        ret = 0;
        goto out;
    }
    h = xcalloc(k, sizeof(*h));
    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, point, true,
                   &at, err) < 0 ||
        verify_hash_blocks(at, FB_BLOCK, 16, sel, k, h, err) < 0)
        goto out;
    for (size_t i = 0; i < k; i++)
        a[pos[i]] = h[i];
    ret = 0;
out:
    image_close(at);
    free(sel);
    free(pos);
    free(h);
    return ret;
}

int move_failback_window(struct move *m, struct error *err)
{
    struct image *img = NULL;
    char *cmark = NULL;
    struct mark cm = {0};
    int ret = -1;

    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL, true,
                   &img, err) < 0 ||
        image_meta_get(img, DEST_META_BASE, &cmark, err) < 0)
        goto out;
    if (!cmark) {
        ret = 0; /* checked by rebase; nothing to add */
        goto out;
    }
    if (mark_parse(DEST_META_BASE, cmark, &cm, err) < 0)
        goto out;
    ret = load_window(m, img, cm.snap, err);
out:
    mark_release(&cm);
    free(cmark);
    image_close(img);
    return ret;
}

/* Both images' identities checked, the split-brain test, and the original
 * re-based: called once the source cluster and the destination are open
 * (img: the copy's head). */
static int rebase(struct move *m, struct image *img, struct error *err)
{
    struct dest_state st;
    struct dest_extents dirty = {0};
    struct mark cm = {0}, om = {0}, nb = {0};
    struct buf a = BUF_INIT, b = BUF_INIT;
    char *cmark = NULL, *v = NULL;
    uint64_t c_changed = 0, o_changed = 0, c_id = 0, o_size = 0;
    size_t o_ranges = 0;
    bool exists = false;
    int ret = -1;

    memset(&st, 0, sizeof(st));
    if (image_meta_get(img, DEST_META_BASE, &cmark, err) < 0)
        return -1;
    if (!cmark)
        return error_set(err, ERROR_STATE, 0,
                         "copy %s has no base mark (%s): it holds no point "
                         "in common with its original; nothing was changed",
                         m->rec.src.volume, DEST_META_BASE);
    if (mark_parse(DEST_META_BASE, cmark, &cm, err) < 0)
        goto out;
    /* A group's point: the ranges its rounds copy as well, or a refusal
     * now, before anything changes. */
    if (load_window(m, img, cm.snap, err) < 0)
        goto out;
    if (dest_probe(m->dst, &st, err) < 0)
        goto out;
    if (!st.exists) {
        error_set(err, ERROR_STATE, 0,
                  "the original volume's image '%s' is not there (check "
                  "the destination's Ceph configuration and pool); nothing "
                  "was changed",
                  m->dst->name);
        goto out;
    }
    if (st.meta_base) {
        /* Re-based by an earlier run (killed, or aborted): replicate_open
         * checks the rest, as for any destination it wrote. */
        if (mark_parse(DEST_META_BASE, st.meta_base, &om, err) < 0)
            goto out;
        if (strcmp(om.fsid, cluster_fsid(m->src_cl)) ||
            strcmp(om.image, image_id(img))) {
            error_set(err, ERROR_STATE, 0,
                      "'%s' is marked as a copy of another image (%s on "
                      "cluster %s), not of copy %s: it is not this copy's "
                      "original; nothing was changed",
                      m->dst->name, om.image, om.fsid, m->rec.src.volume);
            goto out;
        }
        move_emit(m, "info", NULL,
                  "the original was prepared by an earlier run (base %s)",
                  om.snap);
        move_record_set(&m->rec.failback.point, om.snap);
        ret = 0;
        goto out;
    }
    if (!st.cluster_fsid || !st.image_id || strcmp(st.cluster_fsid, cm.fsid) ||
        strcmp(st.image_id, cm.image)) {
        error_set(err, ERROR_STATE, 0,
                  "copy %s was synced from image %s of cluster %s, but '%s' "
                  "is image %s of cluster %s: it is not the copy's original "
                  "(check the destination's Ceph configuration and pool); "
                  "nothing was changed",
                  m->rec.src.volume, cm.image, cm.fsid, m->dst->name,
                  st.image_id ? st.image_id : "?",
                  st.cluster_fsid ? st.cluster_fsid : "?");
        goto out;
    }
    if (dest_state_snap_id(&st, cm.snap) != cm.snap_id) {
        error_set(err, ERROR_STATE, 0,
                  "the original no longer holds snapshot '%s' (id %" PRIu64
                  "), the last point it shares with copy %s: only a full "
                  "copy can bring it back ('rbdmove move' to a new volume); "
                  "nothing was changed",
                  cm.snap, cm.snap_id, m->rec.src.volume);
        goto out;
    }
    if (image_snap_lookup(img, cm.snap, &exists, &c_id, err) < 0)
        goto out;
    if (!exists) {
        error_set(err, ERROR_STATE, 0,
                  "copy %s no longer holds snapshot '%s', its base: it "
                  "shares no point with its original; nothing was changed",
                  m->rec.src.volume, cm.snap);
        goto out;
    }
    for (size_t i = 0; i < st.nsnaps; i++) {
        if (!strcmp(st.snaps[i].name, cm.snap))
            o_size = st.snaps[i].size;
    }
    if (dest_dirty(m->dst, cm.snap, &dirty, err) < 0 ||
        really_changed(m, cm.snap, o_size, &dirty, &o_changed, &o_ranges, err) <
            0 ||
        image_diff_bytes(img, cm.snap, &c_changed, err) < 0)
        goto out;
    amount(&a, c_changed);
    amount(&b, o_changed);
    move_emit(m, "info", NULL,
              "common point %s: %s changed on copy %s since, %s on the "
              "original %s",
              cm.snap, buf_str(&a), m->rec.src.volume, buf_str(&b),
              m->rec.dst.volume);
    if (o_changed || st.size != o_size) {
        if (!m->rec.failback.discard) {
            error_set(err, ERROR_STATE, 0,
                      "split-brain: the original volume %s was written after "
                      "the common point %s (%s in %zu range%s%s), and copy "
                      "%s since (%s): failing back would lose what the "
                      "original took. Nothing was changed; "
                      "--discard-primary-changes discards the original's "
                      "writes (it is rolled back to %s first)",
                      m->rec.dst.volume, cm.snap, buf_str(&b), o_ranges,
                      o_ranges == 1 ? "" : "s",
                      st.size != o_size ? ", and resized" : "",
                      m->rec.src.volume, buf_str(&a), cm.snap);
            goto out;
        }
        move_emit(m, "info", NULL,
                  "discarding what the original took after %s (%s; "
                  "--discard-primary-changes): rolling it back",
                  cm.snap, buf_str(&b));
        if (dest_rollback(m->dst, cm.snap, err) < 0)
            goto out;
        /* Every object rewritten: the first round's check of the head
         * would take them all for writes (replicate.h, trust_head_at);
         * the full comparison before the cutover covers them. */
        m->rec.failback.head_proved = true;
    } else if (dirty.n) {
        /* Marked written, but holding the point's data (checked above):
         * the same trust, and the same full comparison. */
        move_emit(m, "info", NULL,
                  "the original's object map marks %zu range%s written "
                  "since %s, but they hold the point's data",
                  dirty.n, dirty.n == 1 ? "" : "s", cm.snap);
        m->rec.failback.head_proved = true;
    }
    /* The original becomes a copy of the copy at the common point: the
     * copy's own snapshot of that name, by its id there. */
    nb.snap = cm.snap;
    nb.snap_id = c_id;
    v = mark_format(cluster_fsid(m->src_cl), image_id(img), &nb);
    if (dest_set_meta(m->dst, DEST_META_BASE, v, err) < 0)
        goto out;
    move_record_set(&m->rec.failback.point, cm.snap);
    ret = 0;
out:
    free(v);
    free(cmark);
    buf_release(&a);
    buf_release(&b);
    mark_release(&cm);
    mark_release(&om);
    dest_extents_release(&dirty);
    dest_state_release(&st);
    return ret;
}

int move_failback_rebase(struct move *m, struct error *err)
{
    struct image *img = NULL;
    int ret = -1;

    if (move_src_connect(m, err) < 0)
        return -1;
    if (!m->dst && move_make_dest(m, err) < 0)
        return -1;
    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL, true,
                   &img, err) < 0)
        return -1;
    ret = rebase(m, img, err);
    image_close(img);
    if (ret == 0)
        ret = move_record_save(m, err);
    return ret;
}

/* ---- the end: the roles handed back -------------------------------------- */

/* The copy's Cinder metadata: a synced copy again, at base (its point
 * key as sync writes it), the failover's keys gone, and the keys of
 * points whose snapshots the copy no longer holds. */
static int copy_synced(struct move *m, struct image *img, const char *base,
                       const char *ident, struct error *err)
{
    struct cinder *c = m->plan->src.cinder;
    const char *id = m->rec.src.volume;
    struct cinder_volume v;
    struct buf key = BUF_INIT, val = BUF_INIT;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    int ret = -1;
    static const char *const gone[] = {
        "rbdmove.failover_point", "rbdmove.failover_server",
        "rbdmove.failed_over_at", "rbdmove.move_id", "rbdmove.destination"};

    memset(&v, 0, sizeof(v));
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    buf_addf(&key, MIGRATE_POINT_PREFIX "%s", base);
    buf_addf(&val, "time=%s verified=yes %s", when, ident);
    {
        struct cinder_kv meta[] = {{"rbdmove.state", "synced"},
                                   {"rbdmove.synced_at", when},
                                   {"rbdmove.base", base},
                                   {buf_str(&key), buf_str(&val)},
                                   {"rbdmove.sync_server", m->rec.dst.server}};

        if (cinder_volume_metadata_set(c, id, meta, 5, err) < 0)
            goto out;
    }
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        if (cinder_volume_metadata_unset(c, id, gone[i], err) < 0)
            goto out;
    }
    if (cinder_volume_get(c, id, &v, err) < 0)
        goto out;
    for (size_t i = 0; i < v.n_metadata; i++) {
        const char *k = v.metadata[i].key;
        size_t pl = strlen(MIGRATE_POINT_PREFIX);
        bool exists = false;
        uint64_t sid = 0;

        if (strncmp(k, MIGRATE_POINT_PREFIX, pl))
            continue;
        if (image_snap_lookup(img, k + pl, &exists, &sid, err) < 0)
            goto out;
        if (!exists && cinder_volume_metadata_unset(c, id, k, err) < 0)
            goto out;
    }
    ret = 0;
out:
    cinder_volume_release(&v);
    buf_release(&key);
    buf_release(&val);
    return ret;
}

int move_failback_finish(struct move *m, struct error *err)
{
    struct dest_state st;
    struct image *img = NULL;
    struct mark nb = {0};
    const char *base = replicate_base(m->repl);
    char *v = NULL;
    bool exists = false;
    uint64_t sid = 0;
    int ret = -1;

    memset(&st, 0, sizeof(st));
    /* A rerun finds the original's marks gone (they go last): the
     * journal has the base. */
    if (base && (!m->rec.failback.base || strcmp(base, m->rec.failback.base))) {
        move_record_set(&m->rec.failback.base, base);
        if (move_record_save(m, err) < 0)
            return -1;
    }
    base = m->rec.failback.base;
    if (!base)
        return error_set(err, ERROR_STATE, 0,
                         "the failback's last base is not known: neither the "
                         "original's mark nor the journal names it");
    move_emit(m, "cleanup", NULL,
              "handing the roles back: copy %s becomes the copy of %s at %s",
              m->rec.src.volume, m->rec.dst.volume, base);
    if (replicate_remove_retired(m->repl, err) < 0 ||
        dest_probe(m->dst, &st, err) < 0)
        goto out;
    nb.snap = (char *)base;
    nb.snap_id = dest_state_snap_id(&st, base);
    if (!nb.snap_id || !st.cluster_fsid || !st.image_id) {
        error_set(err, ERROR_STATE, 0,
                  "the original no longer holds snapshot '%s' (or does not "
                  "say its cluster): copy %s cannot be made its copy again; "
                  "the next sync makes a new one",
                  base, m->rec.src.volume);
        goto out;
    }
    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL, false,
                   &img, err) < 0 ||
        image_snap_lookup(img, base, &exists, &sid, err) < 0)
        goto out;
    if (!exists) {
        error_set(err, ERROR_STATE, 0,
                  "copy %s no longer holds snapshot '%s'; the next sync "
                  "makes a new copy",
                  m->rec.src.volume, base);
        goto out;
    }
    v = mark_format(st.cluster_fsid, st.image_id, &nb);
    if (image_meta_set(img, DEST_META_BASE, v, err) < 0 ||
        image_meta_remove(img, DEST_META_PENDING, err) < 0 ||
        image_meta_remove(img, DEST_META_SEED, err) < 0 ||
        image_meta_remove(img, MOVE_FAILOVER_IMAGE_KEY, err) < 0 ||
        copy_synced(m, img, base, !strncmp(v, "v1 ", 3) ? v + 3 : v, err) < 0)
        goto out;
    move_test_hold(m, "failback-copy-rebased");
    /* The original is a source again: its marks go last, so that a rerun
     * until then finds everything it needs. */
    if (dest_set_meta(m->dst, DEST_META_PENDING, NULL, err) < 0 ||
        dest_set_meta(m->dst, DEST_META_BASE, NULL, err) < 0)
        goto out;
    ret = move_set_phase(m, MOVE_DONE, err);
out:
    free(v);
    image_close(img);
    dest_state_release(&st);
    return ret;
}

/* ---- abort --------------------------------------------------------------- */

int move_failback_abort(struct move *m, struct error *err)
{
    struct cinder *c = m->plan->src.cinder;
    const char *id = m->rec.src.volume;
    struct cinder_kv meta[] = {{"rbdmove.state", "failed-over"}};
    struct error e = ERROR_INIT;

    /* The snapshots and marks both sides share stay: the next failback
     * continues from them. A snapshot a killed round made on the copy
     * that the original never got goes. An original whose head was
     * proved (not tested: a rollback made it look written since) and
     * that is still at the common point loses its mark: the next
     * failback proves it again. */
    if ((m->rec.snaps[MOVE_SNAP_NEXT] || m->rec.failback.head_proved) &&
        m->rec.dst.image) {
        struct dest_state st;
        struct image *img = NULL;
        const char *next = m->rec.snaps[MOVE_SNAP_NEXT];
        struct mark om = {0};

        memset(&st, 0, sizeof(st));
        if (move_src_connect(m, &e) == 0 && move_make_dest(m, &e) == 0 &&
            dest_probe(m->dst, &st, &e) == 0) {
            if (next && !dest_state_snap_id(&st, next) &&
                image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL,
                           false, &img, &e) == 0 &&
                image_snap_remove(img, next, &e) == 0)
                move_emit(m, "cleanup", NULL,
                          "removed snapshot %s from copy %s", next, id);
            if (m->rec.failback.head_proved && st.meta_base &&
                mark_parse(DEST_META_BASE, st.meta_base, &om, &e) == 0 &&
                m->rec.failback.point &&
                !strcmp(om.snap, m->rec.failback.point) &&
                dest_set_meta(m->dst, DEST_META_BASE, NULL, &e) == 0)
                move_emit(m, "cleanup", NULL,
                          "the original %s is unmarked again: the next "
                          "failback checks it afresh",
                          m->rec.dst.volume);
        }
        if (e.kind)
            move_emit(m, "info", NULL, "%s", e.msg);
        mark_release(&om);
        image_close(img);
        dest_state_release(&st);
    }
    if (cinder_volume_metadata_set(c, id, meta, 1, err) < 0 ||
        cinder_volume_metadata_unset(c, id, "rbdmove.move_id", err) < 0 ||
        cinder_volume_metadata_unset(c, id, "rbdmove.destination", err) < 0)
        return error_prefix(err, "copy %s", id);
    move_emit(m, "info", NULL,
              "copy %s is failed over again; the original %s keeps what the "
              "failback copied, and the next failback continues from it",
              id, m->rec.dst.volume);
    return 0;
}
