/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate_abort.c: undo an unfinished move (see migrate.h): the
 * source attached to its server again, auto-converge's write limit lifted,
 * rbdmove's snapshots and the volume it created removed, whatever phase
 * the journal stands in.
 */
#include "rbdmove/core/migrate.h"

#include <stdlib.h>
#include <string.h>

#include "openstack/cinder.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/migrate_int.h"
#include "rbdmove/core/replicate.h"
#include "rbdmove/base/xalloc.h"

/* ---- abort
 * ------------------------------------------------------------------------ */

/* Remove the snapshots rbdmove made for this move on the source: the ones
 * the destination's marks name, and the earlier rounds' bases the
 * destination still holds (retired, see replicate.c). */
static void drop_source_snaps(struct move *m, char **retired, size_t nretired)
{
    struct error e = ERROR_INIT;
    struct image *img = NULL;
    struct image_snap *snaps = NULL;
    size_t n = 0;

    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL, false,
                   &img, &e) < 0 ||
        image_snap_list(img, &snaps, &n, &e) < 0) {
        move_emit(m, "info", NULL, "cannot list the source's snapshots: %s",
                  e.msg);
        image_close(img);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = snaps[i].name;
        for (size_t k = 0; k < MOVE_SNAP_COUNT; k++) {
            const char *v = m->rec.snaps[k];

            if (v && !strcmp(v, s) && image_snap_remove(img, s, &e) < 0)
                move_emit(m, "info", NULL, "%s", e.msg);
        }
        for (size_t k = 0; k < nretired; k++) {
            if (!strcmp(retired[k], s) && image_snap_remove(img, s, &e) < 0)
                move_emit(m, "info", NULL, "%s", e.msg);
        }
    }
    image_snaps_free(snaps, n);
    image_close(img);
}

/* Read the destination's marks into the journal before deleting it, and
 * the names of its other snapshots that rbdmove made (*retired). */
static void note_snaps(struct move *m, char ***retired, size_t *nretired)
{
    struct dest_state st;
    struct error e = ERROR_INIT;
    const char *vals[MOVE_SNAP_COUNT] = {0}; /* NEXT: the journal's own */

    if (!m->dst || dest_probe(m->dst, &st, &e) < 0)
        return;
    *retired = xcalloc(st.nsnaps + 1, sizeof(**retired));
    for (size_t i = 0; i < st.nsnaps; i++) {
        const char *s = st.snaps[i].name;

        if (replicate_snap_is_ours(s))
            (*retired)[(*nretired)++] = xstrdup(s);
    }
    vals[MOVE_SNAP_BASE] = st.meta_base;
    vals[MOVE_SNAP_SEED] = st.meta_seed;
    vals[MOVE_SNAP_PENDING] = st.meta_pending;
    for (size_t k = 0; k < MOVE_SNAP_COUNT; k++) {
        const char *p = vals[k] ? strstr(vals[k], " snap=") : NULL;

        if (p) {
            char *name = xstrndup(p + 6, strcspn(p + 6, " "));

            free(m->rec.snaps[k]);
            m->rec.snaps[k] = name;
        }
    }
    dest_state_release(&st);
}

static int delete_volume(struct move *m, const char *id, struct error *err)
{
    move_emit(m, "cleanup", NULL, "deleting destination volume %s", id);
    if (cinder_volume_delete(m->plan->dst.cinder, id, err) < 0 &&
        !(err->kind == ERROR_API && err->cause == 404))
        return -1;
    error_clear(err);
    return move_wait_volume(m->plan->dst.cinder, id, "deleted", 300, err);
}

/* Delete the destination volumes this move asked for: the one recorded,
 * and any other tagged with its id (a create whose answer was lost, or a
 * run killed before recording it). A volume rbdmove did not create (a
 * resumed move's recorded one without dst.created) is never touched. */
static int abort_dst(struct move *m, struct error *err)
{
    struct dest_state st;
    char **ids = NULL;
    size_t n = 0;
    int ret = 0;

    if (move_find_created(m, &ids, &n, err) < 0)
        return -1;
    if (m->rec.dst.volume && m->rec.dst.created) {
        /* Cinder's RBD driver cannot delete an image that has snapshots. */
        if (m->dst && dest_probe(m->dst, &st, err) == 0) {
            for (size_t i = 0; i < st.nsnaps; i++) {
                struct error e = ERROR_INIT;

                if (dest_snap_remove(m->dst, st.snaps[i].name, &e) < 0)
                    move_emit(m, "info", NULL, "%s", e.msg);
            }
            dest_state_release(&st);
        }
        error_clear(err);
        dest_free(m->dst);
        m->dst = NULL;
        ret = delete_volume(m, m->rec.dst.volume, err);
    }
    for (size_t i = 0; i < n && ret == 0; i++) {
        if (m->rec.dst.volume && !strcmp(ids[i], m->rec.dst.volume))
            continue;
        ret = delete_volume(m, ids[i], err);
    }
    move_free_ids(ids, n);
    return ret;
}

int migrate_abort(struct journal *j, const struct migrate_opts *o,
                  struct error *err)
{
    struct migrate_report rep;
    struct move m;
    struct error ce = ERROR_INIT;
    char **retired = NULL;
    size_t nretired = 0;
    bool attached = false;
    int ret = -1;

    memset(&rep, 0, sizeof(rep));
    move_init(&m, j, o, &rep);
    if (move_record_load(j, &m.rec, err) < 0)
        goto out;
    /* The write limit goes first, before the source is attached again
     * (its server would open it with the limit on): exactly the value the
     * image had before the move, or no key at all. */
    if (move_throttle_release(&m, err) < 0)
        goto out;
    if (m.rec.phase == MOVE_DONE || m.rec.phase == MOVE_ATTACHED) {
        error_set(err, ERROR_STATE, 0,
                  "move %s is complete: the destination volume is in use; "
                  "nothing to abort",
                  journal_id(j));
        goto out;
    }
    if (m.rec.phase == MOVE_NONE) {
        ret = move_set_phase(&m, MOVE_ABORTED, err);
        goto out;
    }
    if (move_preflight(&m, true, err) < 0)
        goto out;
    /* A lock the killed run left on the source is broken before its server
     * gets it back, whose writes would otherwise wait for it. A cluster
     * that cannot be reached now does not keep the server waiting: the
     * connect below fails again, after the attach. */
    if (move_src_connect(&m, &ce) < 0)
        error_clear(&ce);
    /* An attach the killed run asked for is undone before the source
     * goes back, so that two servers never hold a copy each. */
    if (m.rec.phase == MOVE_ATTACHING && move_undo_dst_attach(&m, err) < 0) {
        error_prefix(err,
                     "destination volume %s may be attached to server "
                     "%s; the source was left as it is",
                     m.rec.dst.volume, m.rec.dst.server);
        goto out;
    }
    if (m.rec.src.server) {
        /* A detach under way would end after the check below. */
        if (move_source_attached(&m, true, &attached, err) < 0)
            goto out;
        if (!attached &&
            move_attach(m.plan->src.nova, m.plan->src.cinder, m.rec.src.server,
                        m.rec.src.volume, m.rec.src.device, o->attach_timeout,
                        NULL, err) < 0)
            goto out;
        if (!attached)
            move_emit(&m, "rollback", NULL,
                      "volume %s attached to server %s again", m.rec.src.volume,
                      m.rec.src.server);
    }
    if (m.rec.failback.on) {
        /* The original is never deleted, and what both share stays. */
        if (move_failback_abort(&m, err) < 0)
            goto out;
        ret = move_set_phase(&m, MOVE_ABORTED, err);
        goto out;
    }
    if (move_src_connect(&m, err) < 0)
        goto out;
    if (m.rec.dst.image && move_make_dest(&m, err) == 0)
        note_snaps(&m, &retired, &nretired);
    error_clear(err);
    drop_source_snaps(&m, retired, nretired);
    if (abort_dst(&m, err) < 0)
        goto out;
    for (size_t k = 0; k < 3; k++) {
        static const char *const keys[] = {"rbdmove.move_id", "rbdmove.state",
                                           "rbdmove.destination"};
        struct error e = ERROR_INIT;

        if (cinder_volume_metadata_unset(m.plan->src.cinder, m.rec.src.volume,
                                         keys[k], &e) < 0)
            move_emit(&m, "info", NULL, "%s", e.msg);
    }
    ret = move_set_phase(&m, MOVE_ABORTED, err);
out:
    for (size_t i = 0; i < nretired; i++)
        free(retired[i]);
    free(retired);
    move_release(&m);
    return ret;
}
