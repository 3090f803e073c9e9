/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate_failover.c: the copies that `rbdmove sync` keeps
 * take over when the primary region is gone (see migrate.h). Only the DR
 * region is used: its Keystone, Cinder and Nova, and its Ceph cluster.
 *
 * The copy's Cinder metadata carries the failover, so that a rerun after
 * an interruption knows where it stopped:
 *   rbdmove.state           failing-over, then failed-over
 *   rbdmove.failover_point  the snapshot it was rolled back to
 *   rbdmove.failover_server the server it goes to
 *   rbdmove.failed_over_at  when it was done
 * and the image's metadata rbdmove.failover_point, so that the image
 * itself says what it holds even to someone looking only at Ceph.
 */
#include "rbdmove/core/migrate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openstack/cinder.h"
#include "openstack/nova.h"
#include "rbdmove/base/buf.h"
#include "rbdmove/base/cancel.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/migrate_int.h"
#include "rbdmove/core/replicate.h"
#include "rbdmove/core/retention.h"

/* What a run does to one copy, from what it finds. */
enum fo_todo {
    FO_NEW,      /* mark, roll back, attach, mark done */
    FO_REDO,     /* an earlier run marked it: roll back again, attach */
    FO_ATTACHED, /* an earlier run attached it: mark done */
    FO_REATTACH, /* failed over, then detached: attach as it is */
    FO_DONE,     /* failed over to this server already */
};

struct fo_copy {
    struct plan *p;
    const char *pool;
    enum fo_todo todo;
    char *point;      /* the snapshot */
    char *point_time; /* when it was synced, for people */
    int lock_fd;      /* the sync lock of its source */
    char *dead_owner; /* the copy's lock owner a killed sync noted */
};

static void migrate_failover_copy_release(struct migrate_failover_copy *c)
{
    free(c->name);
    free(c->point);
    free(c->point_time);
    free(c->device);
    memset(c, 0, sizeof(*c));
}

void migrate_failover_result_release(struct migrate_failover_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        migrate_failover_copy_release(&r->c[i]);
    free(r->c);
    memset(r, 0, sizeof(*r));
}

static void emit(const struct migrate_failover_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void emit(const struct migrate_failover_opts *o, const char *fmt, ...)
{
    struct migrate_event ev = {"failover", NULL, 0, NULL, NULL};
    char msg[512];
    va_list ap;

    if (!o->event)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ev.msg = msg;
    o->event(o->event_ctx, &ev);
}

static void hold(const struct migrate_failover_opts *o, const char *point)
{
    if (o->hold_point && !strcmp(o->hold_point, point)) {
        emit(o, "holding at %s for %.0f s (test)", point, o->hold_seconds);
        (void)cancel_sleep(o->hold_seconds);
    }
}

/* A signal asked to stop: between two steps, where a rerun goes on. (A
 * rollback under way is not cut short: librbd's cannot be.) */
static int stopped(const char *id, struct error *err)
{
    if (!cancel_requested())
        return 0;
    return error_set(err, ERROR_INTERRUPTED, 0,
                     "stopped by signal %d at copy %s; run the failover "
                     "again to finish it",
                     cancel_signal(), id);
}

static void now_utc(char *out, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The time a point was synced: its Cinder key's time=, else what its
 * name says (the source snapshot's time), else -1. *shown for people. */
static time_t point_time(const struct cinder_volume *v, const char *snap,
                         char **shown)
{
    struct buf key = BUF_INIT;
    const char *val, *t;
    time_t when = -1;

    buf_addf(&key, MIGRATE_POINT_PREFIX "%s", snap);
    val = cinder_volume_meta(v, buf_str(&key));
    buf_release(&key);
    t = val ? strstr(val, "time=") : NULL;
    if (t && (t == val || t[-1] == ' ')) {
        char *s = xstrndup(t + 5, strcspn(t + 5, " "));

        when = retention_parse_time(s);
        if (when >= 0) {
            *shown = s;
            return when;
        }
        free(s);
    }
    when = retention_snap_time(snap);
    if (when >= 0) {
        struct tm tm;
        char at[32];

        gmtime_r(&when, &tm);
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        *shown = xstrdup(at);
    } else {
        *shown = xstrdup("-");
    }
    return when;
}

/*
 * Choose c's point among rbdmove's snapshots of the copy's image: those
 * are the recovery points (a snapshot is made on the copy only once the
 * data under it is complete), whatever Cinder's metadata says.
 */
static int choose_point(const struct migrate_failover_opts *o,
                        struct fo_copy *c, struct image *img,
                        const char *recorded, struct error *err)
{
    const struct cinder_volume *v = &c->p->volume;
    struct image_snap *snaps = NULL;
    char **names = NULL, **shown = NULL;
    time_t *t = NULL;
    size_t n = 0, k = 0;
    long pick = -1;
    int ret = -1;

    if (image_snap_list(img, &snaps, &n, err) < 0)
        return -1;
    names = xcalloc(n + 1, sizeof(*names));
    shown = xcalloc(n + 1, sizeof(*shown));
    t = xcalloc(n + 1, sizeof(*t));
    for (size_t i = 0; i < n; i++) {
        if (!replicate_snap_is_ours(snaps[i].name))
            continue;
        names[k] = snaps[i].name;
        t[k] = point_time(v, snaps[i].name, &shown[k]);
        k++;
    }
    if (!k) {
        error_set(err, ERROR_STATE, 0,
                  "copy %s holds no recovery point (no snapshot of "
                  "rbdmove's on %s/%s): it was never synced to the end, "
                  "nothing to fail over to",
                  v->id, c->pool, c->p->rbd_image);
        goto out;
    }
    if (recorded) {
        /* A failover that was started: its point, whatever was asked. */
        for (size_t i = 0; i < k; i++)
            if (!strcmp(names[i], recorded))
                pick = (long)i;
        if (pick < 0) {
            error_set(err, ERROR_STATE, 0,
                      "copy %s was being failed over to point %s, which "
                      "its image no longer holds: look at it with 'rbdmove "
                      "points' and 'rbd snap ls'; nothing was changed",
                      v->id, recorded);
            goto out;
        }
        if (o->point && strcmp(o->point, "latest") &&
            strcmp(o->point, recorded) &&
            retention_point_at(t, k, retention_parse_time(o->point)) != pick) {
            error_set(err, ERROR_STATE, 0,
                      "copy %s was failed over (or is being) to point %s "
                      "(%s), not the point asked for now: run the failover "
                      "again without --point to finish it; nothing was "
                      "changed",
                      v->id, recorded, shown[pick]);
            goto out;
        }
    } else if (!o->point || !strcmp(o->point, "latest")) {
        /* rbdmove's snapshot names start with their UTC time. */
        pick = 0;
        for (size_t i = 1; i < k; i++)
            if (strcmp(names[i], names[pick]) > 0)
                pick = (long)i;
    } else if (retention_parse_time(o->point) >= 0) {
        pick = retention_point_at(t, k, retention_parse_time(o->point));
        if (pick < 0) {
            size_t old = 0;

            for (size_t i = 1; i < k; i++)
                if (strcmp(names[i], names[old]) < 0)
                    old = i;
            error_set(err, ERROR_STATE, 0,
                      "copy %s has no recovery point at or before %s (its "
                      "oldest is %s, %s); nothing was changed",
                      v->id, o->point, names[old], shown[old]);
            goto out;
        }
    } else {
        for (size_t i = 0; i < k; i++)
            if (!strcmp(names[i], o->point))
                pick = (long)i;
        if (pick < 0) {
            error_set(err, ERROR_STATE, 0,
                      "copy %s has no recovery point '%s' (see 'rbdmove "
                      "points'); nothing was changed",
                      v->id, o->point);
            goto out;
        }
    }
    c->point = xstrdup(names[pick]);
    c->point_time = shown[pick];
    shown[pick] = NULL;
    ret = 0;
out:
    for (size_t i = 0; i < k; i++)
        free(shown[i]);
    free(shown);
    free(names);
    free(t);
    image_snaps_free(snaps, n);
    return ret;
}

/* Everything about copy number i that can be checked without changing
 * anything; decides c->todo. */
static int check_copy(const struct migrate_failover_opts *o, size_t i,
                      struct cluster *cl, struct fo_copy *c, struct error *err)
{
    struct plan_options po = o->plan;
    const struct cinder_volume *v;
    const char *of, *state, *recorded, *server;
    struct image *img = NULL;
    struct buf why = BUF_INIT;
    int ret = -1;

    po.volume = o->copies[i];
    c->p = plan_build(&po);
    if (!c->p->src.cinder || !c->p->have_volume)
        return move_preflight_failed(c->p, "the copy cannot be found", err);
    v = &c->p->volume;
    if (!c->p->have_server || !c->p->dst.nova)
        return move_preflight_failed(c->p, "the server cannot be found", err);
    server = c->p->server.id;
    of = cinder_volume_meta(v, "rbdmove.sync_of");
    state = cinder_volume_meta(v, "rbdmove.state");
    recorded = cinder_volume_meta(v, "rbdmove.failover_point");
    if (!of)
        return error_set(err, ERROR_STATE, 0,
                         "volume %s is not a copy made by 'rbdmove sync' (it "
                         "has no rbdmove.sync_of); nothing was changed",
                         v->id);
    if (c->p->ceph_fsid && strcmp(c->p->ceph_fsid, cluster_fsid(cl)))
        return error_set(err, ERROR_STATE, 0,
                         "copy %s lives in cluster %s, but %s is cluster %s: "
                         "nothing was changed",
                         v->id, c->p->ceph_fsid, o->conf, cluster_fsid(cl));
    c->pool = o->pool ? o->pool : c->p->rbd_pool ? c->p->rbd_pool : "volumes";
    if (state && !strcmp(state, "failing-back"))
        return error_set(err, ERROR_STATE, 0,
                         "copy %s is the source of a failback under way "
                         "(move %s): finish or abort that first; nothing "
                         "was changed",
                         v->id,
                         cinder_volume_meta(v, "rbdmove.move_id")
                             ? cinder_volume_meta(v, "rbdmove.move_id")
                             : "?");
    if (state && !strcmp(state, "failed-over"))
        c->todo = FO_REATTACH;
    else if (state && !strcmp(state, "failing-over"))
        c->todo = FO_REDO;
    else
        c->todo = FO_NEW;
    /* An earlier run was killed once Nova took its attach request: let
     * the attach finish, then look again. */
    if (c->todo != FO_NEW &&
        (!strcmp(v->status, "attaching") || !strcmp(v->status, "reserved"))) {
        char id[37];

        snprintf(id, sizeof(id), "%s", v->id);
        if (move_wait_volume(c->p->src.cinder, id, "in-use",
                             o->attach_timeout > 0 ? o->attach_timeout : 120,
                             err) < 0)
            return -1;
        cinder_volume_release(&c->p->volume);
        if (cinder_volume_get(c->p->src.cinder, id, &c->p->volume, err) < 0)
            return -1;
        v = &c->p->volume;
        recorded = cinder_volume_meta(v, "rbdmove.failover_point");
        of = cinder_volume_meta(v, "rbdmove.sync_of");
        if (!of)
            return error_set(err, ERROR_STATE, 0,
                             "copy %s lost its rbdmove.sync_of while it "
                             "was attached; nothing was changed",
                             v->id);
    }
    if (v->n_attachments) {
        if (v->n_attachments > 1 ||
            strcmp(v->attachments[0].server_id, server) || c->todo == FO_NEW)
            return error_set(err, ERROR_STATE, 0,
                             "copy %s is attached to server %s: a copy "
                             "that something else uses cannot be failed "
                             "over (detach it first); nothing was changed",
                             v->id, v->attachments[0].server_id);
        c->todo = c->todo == FO_REDO ? FO_ATTACHED : FO_DONE;
    } else if (strcmp(v->status, "available")) {
        return error_set(err, ERROR_STATE, 0,
                         "copy %s is '%s', not available; nothing was "
                         "changed",
                         v->id, v->status);
    }
    if (c->todo != FO_DONE && !nova_server_can_attach(&c->p->server, &why)) {
        error_set(err, ERROR_STATE, 0, "%s; nothing was changed",
                  buf_str(&why));
        goto out;
    }
    /* A sync of its source on this host would write into it. */
    if ((c->todo == FO_NEW || c->todo == FO_REDO) &&
        move_sync_lock(o->state_dir, of, &c->lock_fd, err) < 0)
        goto out;
    /* Held: a sync killed while writing the copy is dead (its note). */
    if (c->lock_fd >= 0) {
        char name[64];

        snprintf(name, sizeof(name), "sync-%.40s", of);
        c->dead_owner = journal_note_get(o->state_dir, name);
    }
    if (image_open(cl, c->pool, c->p->rbd_image, NULL, true, &img, err) < 0) {
        if (err->cause == ENOENT)
            error_prefix(err,
                         "copy %s is not in pool '%s' of %s (is that its "
                         "cluster? see --dst-conf, --pool); nothing was "
                         "changed",
                         v->id, c->pool, o->conf);
        goto out;
    }
    /* A rerun keeps the point it recorded; naming another is refused
     * (a copy that was attached may hold its server's writes by now). */
    if (c->todo == FO_NEW || c->todo == FO_REDO ||
        (o->point && strcmp(o->point, "latest"))) {
        if (choose_point(o, c, img, c->todo == FO_NEW ? NULL : recorded, err) <
            0)
            goto out;
    } else {
        c->point = xstrdup(recorded ? recorded : "?");
        (void)point_time(v, c->point, &c->point_time);
    }
    ret = 0;
out:
    image_close(img);
    buf_release(&why);
    return ret;
}

/* *same: the head still holds what snapshot point does (nothing written
 * since, same size), as a sync leaves its base. A rollback would then
 * change nothing but rewrite every object, and a later failback would
 * find the whole image changed since the point and copy all of it. */
static int head_is_point(struct image *img, const char *point, bool *same,
                         struct error *err)
{
    struct image_snap *snaps = NULL;
    size_t n = 0;
    uint64_t changed = 0;
    bool found = false;

    *same = false;
    if (image_snap_list(img, &snaps, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(snaps[i].name, point)) {
            found = snaps[i].size == image_size(img);
            break;
        }
    }
    image_snaps_free(snaps, n);
    if (!found)
        return 0;
    if (image_diff_bytes(img, point, &changed, err) < 0)
        return -1;
    *same = changed == 0;
    return 0;
}

/* The copy's head becomes its point, with nobody else writing; *rolled:
 * a rollback was needed (the head did not hold the point already). */
static int roll_back(const struct migrate_failover_opts *o, struct cluster *cl,
                     struct fo_copy *c, bool *rolled, struct error *err)
{
    struct image *img = NULL;
    int count = 0, ret = -1;
    bool same = false;

    if (image_open(cl, c->pool, c->p->rbd_image, NULL, false, &img, err) < 0)
        return -1;
    if (c->dead_owner) {
        struct error e = ERROR_INIT;
        bool broke = false;

        if (image_lock_break_dead(img, c->dead_owner, &broke, &e) < 0)
            emit(o, "%s", e.msg);
        else if (broke)
            emit(o, "broke the lock a killed sync left on copy %s",
                 c->p->volume.id);
    }
    /* Our lock, then nobody else watching: a receiver still writing a
     * round (its sync was cut off with the primary) or a hypervisor. */
    if (image_lock_exclusive(img, err) < 0)
        goto out;
    if (image_watcher_count(img, cluster_instance_id(cl), &count, err) < 0)
        goto out;
    if (count) {
        error_set(err, ERROR_STATE, 0,
                  "%d other client%s hold%s %s/%s open (a sync still "
                  "writing into the copy, or a hypervisor): stop %s first",
                  count, count == 1 ? "" : "s", count == 1 ? "s" : "", c->pool,
                  c->p->rbd_image, count == 1 ? "it" : "them");
        goto out;
    }
    if (head_is_point(img, c->point, &same, err) < 0)
        goto out;
    if (same)
        emit(o, "copy %s holds recovery point %s (%s) already", c->p->volume.id,
             c->point, c->point_time);
    else
        emit(o, "rolling copy %s back to recovery point %s (%s)",
             c->p->volume.id, c->point, c->point_time);
    *rolled = !same;
    if ((!same && image_snap_rollback(img, c->point, err) < 0) ||
        image_meta_set(img, MOVE_FAILOVER_IMAGE_KEY, c->point, err) < 0 ||
        image_flush(img, err) < 0)
        goto out;
    ret = 0;
out:
    image_close(img);
    return ret;
}

static int fail_over(const struct migrate_failover_opts *o, struct cluster *cl,
                     struct fo_copy *c, struct migrate_failover_copy *out,
                     struct error *err)
{
    struct cinder *cinder = c->p->src.cinder;
    const char *id = c->p->volume.id, *server = c->p->server.id;
    double timeout = o->attach_timeout > 0 ? o->attach_timeout : 120;
    char when[32];

    if (c->todo == FO_DONE) {
        emit(o, "copy %s was failed over to server %s already (point %s)", id,
             server, c->point);
        return 0;
    }
    if (stopped(id, err) < 0)
        return -1;
    if (c->todo == FO_NEW) {
        struct cinder_kv meta[] = {{"rbdmove.state", "failing-over"},
                                   {"rbdmove.failover_point", c->point},
                                   {"rbdmove.failover_server", server}};

        if (cinder_volume_metadata_set(cinder, id, meta, 3, err) < 0)
            return error_prefix(err, "copy %s; nothing was changed", id);
    }
    if (c->todo == FO_NEW || c->todo == FO_REDO) {
        if (roll_back(o, cl, c, &out->rolled_back, err) < 0)
            return error_prefix(err, "copy %s", id);
        hold(o, "failover-rolled-back");
        if (stopped(id, err) < 0)
            return -1;
    }
    if (c->todo != FO_ATTACHED) {
        emit(o, "attaching copy %s to server %s", id, server);
        if (move_attach_request(c->p->dst.nova, server, id, NULL, &out->device,
                                err) < 0)
            return -1;
        out->attached = true;
        hold(o, "failover-attach-requested");
    }
    if (move_wait_volume(cinder, id, "in-use", timeout, err) < 0)
        return -1;
    now_utc(when, sizeof(when));
    {
        struct cinder_kv meta[] = {{"rbdmove.state", "failed-over"},
                                   {"rbdmove.failed_over_at", when}};

        if (cinder_volume_metadata_set(cinder, id, meta, 2, err) < 0)
            return error_prefix(err,
                                "copy %s is attached to server %s at point "
                                "%s, but could not be marked failed-over",
                                id, server, c->point);
    }
    emit(o, "copy %s failed over to server %s at recovery point %s (%s)", id,
         server, c->point, c->point_time);
    return 0;
}

/* ---- groups: one point for all copies of a server's volumes ---------- */

/* The group points (replicate_snap_is_group) rbdmove made on copy c's
 * image; owned names, oldest first. */
static int group_points(struct cluster *cl, const struct fo_copy *c,
                        char ***names, size_t *n, struct error *err)
{
    struct image *img = NULL;
    struct image_snap *snaps = NULL;
    size_t ns = 0;

    *names = NULL;
    *n = 0;
    if (image_open(cl, c->pool, c->p->rbd_image, NULL, true, &img, err) < 0 ||
        image_snap_list(img, &snaps, &ns, err) < 0) {
        image_close(img);
        return -1;
    }
    *names = xcalloc(ns + 1, sizeof(**names));
    for (size_t i = 0; i < ns; i++)
        if (replicate_snap_is_group(snaps[i].name))
            (*names)[(*n)++] = xstrdup(snaps[i].name);
    image_snaps_free(snaps, ns);
    image_close(img);
    return 0;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/*
 * Copies of a server's volumes synced together (rbdmove.group) fail over
 * to one point, which every one of them holds: all of the group's copies
 * must be given, and the point asked for is chosen among the points they
 * all hold (by the time in its name, which is the same on all).
 */
static int align_group(const struct migrate_failover_opts *o,
                       struct cluster *cl, struct fo_copy *c, size_t n,
                       size_t first, struct error *err)
{
    const char *group =
        cinder_volume_meta(&c[first].p->volume, "rbdmove.group");
    struct cinder_volume *all = NULL;
    char **common = NULL;
    size_t nall = 0, ncommon = 0;
    long pick = -1;
    int ret = -1;

    if (cinder_volume_list(c[first].p->src.cinder, NULL, &all, &nall, err) < 0)
        return -1;
    for (size_t i = 0; i < nall; i++) {
        const char *g = cinder_volume_meta(&all[i], "rbdmove.group");
        bool given = false;

        if (!g || strcmp(g, group) ||
            !cinder_volume_meta(&all[i], "rbdmove.sync_of"))
            continue;
        for (size_t k = 0; k < n; k++)
            given = given || !strcmp(c[k].p->volume.id, all[i].id);
        if (!given) {
            error_set(err, ERROR_STATE, 0,
                      "copy %s was synced with the other volumes of server "
                      "%s (sync --server), and copy %s of that group is not "
                      "among those given: fail them over together, so that "
                      "they hold one point; nothing was changed",
                      c[first].p->volume.id, group, all[i].id);
            goto out;
        }
    }
    for (size_t k = first; k < n; k++) {
        const char *g = cinder_volume_meta(&c[k].p->volume, "rbdmove.group");
        char **names;
        size_t nn, w = 0;

        if (!g || strcmp(g, group))
            continue;
        if (group_points(cl, &c[k], &names, &nn, err) < 0)
            goto out;
        if (!common) {
            common = names;
            ncommon = nn;
            continue;
        }
        for (size_t i = 0; i < ncommon; i++) {
            bool held = false;

            for (size_t j = 0; j < nn; j++)
                held = held || !strcmp(common[i], names[j]);
            if (held)
                common[w++] = common[i];
            else
                free(common[i]);
        }
        ncommon = w;
        free_names(names, nn);
    }
    for (size_t i = 0; i < ncommon; i++) {
        time_t t = retention_snap_time(common[i]);

        if (!o->point || !strcmp(o->point, "latest"))
            pick = pick < 0 || strcmp(common[i], common[pick]) > 0 ? (long)i
                                                                   : pick;
        else if (retention_parse_time(o->point) >= 0)
            pick = t >= 0 && t <= retention_parse_time(o->point) &&
                           (pick < 0 || strcmp(common[i], common[pick]) > 0)
                       ? (long)i
                       : pick;
        else if (!strcmp(common[i], o->point))
            pick = (long)i;
    }
    if (pick < 0) {
        error_set(err, ERROR_STATE, 0,
                  "the copies of server %s's volumes hold no common "
                  "recovery point%s%s (a group's point is complete only "
                  "on all of them; see 'rbdmove points'); nothing was "
                  "changed",
                  group, o->point && strcmp(o->point, "latest") ? " " : "",
                  o->point && strcmp(o->point, "latest") ? o->point : "");
        goto out;
    }
    for (size_t k = first; k < n; k++) {
        const char *g = cinder_volume_meta(&c[k].p->volume, "rbdmove.group");

        if (!g || strcmp(g, group))
            continue;
        if (c[k].todo != FO_NEW) {
            if (c[k].point && strcmp(c[k].point, common[pick])) {
                error_set(err, ERROR_STATE, 0,
                          "copy %s was failed over (or is being) to point "
                          "%s, and the other copies of server %s's "
                          "volumes have %s in common: finish or undo that "
                          "copy's failover by hand; nothing was changed",
                          c[k].p->volume.id, c[k].point, group, common[pick]);
                goto out;
            }
            continue;
        }
        free(c[k].point);
        free(c[k].point_time);
        c[k].point = xstrdup(common[pick]);
        (void)point_time(&c[k].p->volume, c[k].point, &c[k].point_time);
    }
    ret = 0;
out:
    free_names(common, ncommon);
    cinder_volumes_free(all, nall);
    return ret;
}

static int align_groups(const struct migrate_failover_opts *o,
                        struct cluster *cl, struct fo_copy *c, size_t n,
                        struct error *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *g = cinder_volume_meta(&c[i].p->volume, "rbdmove.group");
        bool seen = false;

        for (size_t k = 0; g && k < i; k++) {
            const char *h =
                cinder_volume_meta(&c[k].p->volume, "rbdmove.group");

            seen = seen || (h && !strcmp(h, g));
        }
        if (g && !seen && align_group(o, cl, c, n, i, err) < 0)
            return -1;
    }
    return 0;
}

int migrate_failover(const struct migrate_failover_opts *o,
                     struct migrate_failover_result *res, struct error *err)
{
    struct cluster *cl = NULL;
    struct fo_copy *c;
    int ret = -1;

    memset(res, 0, sizeof(*res));
    c = xcalloc(o->n_copies, sizeof(*c));
    for (size_t i = 0; i < o->n_copies; i++)
        c[i].lock_fd = -1;
    res->c = xcalloc(o->n_copies, sizeof(*res->c));
    if (cluster_connect(o->conf, o->id, o->ceph_timeout, &cl, err) < 0)
        goto out;
    /* All of them first: a failover of half a group helps nobody. */
    for (size_t i = 0; i < o->n_copies; i++) {
        if (check_copy(o, i, cl, &c[i], err) < 0) {
            if (i || o->n_copies > 1)
                error_prefix(err, "copy '%s'", o->copies[i]);
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(c[k].p->volume.id, c[i].p->volume.id)) {
                error_set(err, ERROR_USAGE, 0,
                          "copy %s is named twice; nothing was changed",
                          c[i].p->volume.id);
                goto out;
            }
    }
    if (align_groups(o, cl, c, o->n_copies, err) < 0)
        goto out;
    snprintf(res->server_id, sizeof(res->server_id), "%s", c[0].p->server.id);
    for (size_t i = 0; i < o->n_copies; i++) {
        struct migrate_failover_copy *r = &res->c[i];
        const struct cinder_volume *v = &c[i].p->volume;

        snprintf(r->volume_id, sizeof(r->volume_id), "%s", v->id);
        if (v->name) {
            struct buf b = BUF_INIT;

            buf_add_escaped(&b, v->name, strlen(v->name));
            r->name = buf_take(&b);
        }
        r->point = xstrdup(c[i].point);
        r->point_time = xstrdup(c[i].point_time);
        if (fail_over(o, cl, &c[i], r, err) < 0) {
            migrate_failover_copy_release(r);
            if (i)
                error_prefix(err,
                             "%zu of %zu copies were failed over, then copy "
                             "%s failed; run the failover again to go on",
                             i, o->n_copies, v->id);
            goto out;
        }
        res->n++;
    }
    ret = 0;
out:
    for (size_t i = 0; i < o->n_copies; i++) {
        journal_unlock_name(c[i].lock_fd);
        free(c[i].dead_owner);
        free(c[i].point);
        free(c[i].point_time);
        plan_free(c[i].p);
    }
    free(c);
    cluster_close(cl);
    return ret;
}
