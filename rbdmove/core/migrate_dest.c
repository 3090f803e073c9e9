/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate_dest.c: the destination volume of a move (see
 * migrate.h), and the proof that rbdmove writes where it means to. Cinder
 * makes the volume and its image, asked at most once (a create whose
 * answer was lost is found again by its tags); before anything is written
 * the source image and the destination image are shown to be the
 * volumes' own (replicate.h, must_exist), and a refused destination
 * volume goes again.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "openstack/cinder.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/migrate_int.h"
#include "rbdmove/core/replicate.h"

/* The volumes in the destination region that this move asked for: tagged
 * with its id and the source's (the source itself carries the move's id
 * too, and in a move within one region it is in the same list). A create
 * whose answer was lost, or a run killed before it recorded the id, is
 * found again this way. Caller frees *ids (each, and the array). */
int move_find_created(struct move *m, char ***ids, size_t *n, struct error *err)
{
    struct cinder_volume *v = NULL;
    size_t count = 0;

    *ids = NULL;
    *n = 0;
    if (cinder_volume_list(m->plan->dst.cinder, NULL, &v, &count, err) < 0)
        return error_prefix(err, "looking for the volumes of move %s",
                            journal_id(m->j));
    for (size_t i = 0; i < count; i++) {
        const char *id = cinder_volume_meta(&v[i], "rbdmove.move_id");
        const char *src = cinder_volume_meta(&v[i], "rbdmove.source");

        if (!id || strcmp(id, journal_id(m->j)) || !src || !m->rec.src.volume ||
            strcmp(src, m->rec.src.volume) ||
            !strcmp(v[i].id, m->rec.src.volume))
            continue;
        *ids = xrealloc(*ids, (*n + 1) * sizeof(char *));
        (*ids)[(*n)++] = xstrdup(v[i].id);
    }
    cinder_volumes_free(v, count);
    return 0;
}

void move_free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Ask Cinder for the destination volume, at most once: a create whose
 * answer is lost (a 5xx from a proxy, a connection cut) may have been
 * carried out, so it is looked for by its tags before anything else, and
 * never sent again blindly. */
static int request_dst_volume(struct move *m, char *id, struct error *err)
{
    const struct plan *p = m->plan;
    struct cinder_kv meta[] = {{"rbdmove.move_id", journal_id(m->j)},
                               {"rbdmove.source", p->volume.id},
                               {"rbdmove.state", "receiving"}};
    struct cinder_volume_spec spec = {p->volume.size_gib,
                                      p->new_name,
                                      "moved by rbdmove",
                                      p->new_type,
                                      p->new_availability_zone,
                                      meta,
                                      3};
    struct cinder_volume v;
    struct error e = ERROR_INIT;
    char **ids = NULL;
    size_t n = 0;
    int ret = -1;

    memset(&v, 0, sizeof(v));
    /* An earlier run may have asked already (killed before recording). */
    if (move_find_created(m, &ids, &n, err) < 0)
        return -1;
    if (n == 0 && cinder_volume_create(p->dst.cinder, &spec, &v, &e) == 0) {
        snprintf(id, 37, "%s", v.id);
        cinder_volume_release(&v);
        return 0;
    }
    if (n == 0) {
        /* Refused, or its answer lost: only the latter may have made one. */
        bool unknown =
            e.kind == ERROR_HTTP || (e.kind == ERROR_API && e.cause >= 500);

        if (unknown && move_find_created(m, &ids, &n, err) < 0)
            return error_prefix(err, "after a create whose answer was lost");
        if (n == 0) {
            *err = e;
            return error_prefix(err, "creating the destination volume");
        }
        move_emit(
            m, "info", NULL,
            "the create's answer was lost (%s), but Cinder made the volume",
            e.msg);
    }
    if (n > 1) {
        error_set(err, ERROR_STATE, 0,
                  "%zu volumes in the destination region are tagged as the "
                  "destination of move %s (rbdmove.move_id); 'rbdmove abort "
                  "%s' deletes them",
                  n, journal_id(m->j), journal_id(m->j));
        goto out;
    }
    snprintf(id, 37, "%s", ids[0]);
    ret = 0;
out:
    move_free_ids(ids, n);
    return ret;
}

int move_create_dst_volume(struct move *m, struct error *err)
{
    const struct plan *p = m->plan;
    char id[37], image[64];

    if (m->rec.phase != MOVE_CREATING &&
        move_set_phase(m, MOVE_CREATING, err) < 0)
        return -1;
    if (request_dst_volume(m, id, err) < 0)
        return -1;
    move_record_set(&m->rec.dst.volume, id);
    m->rec.dst.created = true;
    snprintf(image, sizeof(image), "volume-%s", id);
    move_record_set(&m->rec.dst.image, image);
    if (move_record_save(m, err) < 0)
        return -1;
    move_emit(m, "create", NULL, "destination volume %s requested",
              m->rec.dst.volume);
    if (move_wait_volume(p->dst.cinder, m->rec.dst.volume, "available", 600,
                         err) < 0)
        return -1;
    return move_set_phase(m, MOVE_REPLICATING, err);
}

/* Clock skew allowed between Cinder's hosts and Ceph's when comparing the
 * creation of a volume with that of its image. */
#define CREATED_SKEW_S 300

void move_volume_expectations(struct replicate_opts *ro, const char *fsid,
                              const struct cinder_volume *v)
{
    ro->must_exist = true;
    ro->expect_fsid = fsid;
    ro->expect_size = v->size_gib << 30;
    ro->created_after = v->created_at > CREATED_SKEW_S
                            ? (int64_t)v->created_at - CREATED_SKEW_S
                            : 0;
}

/* Before anything changes: the source image is where --src-conf and the
 * pool say, on the cluster Cinder uses, and has the volume's size. */
int move_check_source(struct move *m, struct error *err)
{
    const struct plan *p = m->plan;
    struct image *img = NULL;
    int ret = -1;

    if (move_src_connect(m, err) < 0)
        return -1;
    if (p->ceph_fsid && strcmp(p->ceph_fsid, cluster_fsid(m->src_cl))) {
        error_set(err, ERROR_STATE, 0,
                  "source volume %s lives on cluster %s (Cinder), but the "
                  "source Ceph configuration names cluster %s (mons %s); "
                  "nothing was changed",
                  m->rec.src.volume, p->ceph_fsid, cluster_fsid(m->src_cl),
                  cluster_mons(m->src_cl));
        goto out;
    }
    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL, true,
                   &img, err) < 0) {
        error_prefix(err,
                     "source volume %s: its image is not in pool '%s' of "
                     "cluster %s (mons %s); nothing was changed",
                     m->rec.src.volume, m->rec.src.pool,
                     cluster_fsid(m->src_cl), cluster_mons(m->src_cl));
        goto out;
    }
    if (image_size(img) != p->volume.size_gib << 30) {
        error_set(err, ERROR_STATE, 0,
                  "image '%s/%s' on cluster %s is %" PRIu64
                  " bytes, but source volume %s is %" PRIu64
                  " GiB: it is not the volume's image; nothing was changed",
                  m->rec.src.pool, m->rec.src.image, cluster_fsid(m->src_cl),
                  image_size(img), m->rec.src.volume, p->volume.size_gib);
        goto out;
    }
    ret = 0;
out:
    image_close(img);
    cluster_close(m->src_cl);
    m->src_cl = NULL;
    return ret;
}

/* The destination volume that this run asked for is not what rbdmove can
 * write to (open_data refused it before writing anything): give it back
 * to Cinder, so that the refusal leaves nothing behind. */
int move_undo_create(struct move *m, const struct error *why, struct error *err)
{
    struct error e = ERROR_INIT;

    *err = *why;
    move_emit(m, "cleanup", NULL, "deleting destination volume %s again",
              m->rec.dst.volume);
    if (cinder_volume_delete(m->plan->dst.cinder, m->rec.dst.volume, &e) < 0 ||
        move_wait_volume(m->plan->dst.cinder, m->rec.dst.volume, "deleted", 300,
                         &e) < 0 ||
        move_set_phase(m, MOVE_ABORTED, &e) < 0)
        return error_prefix(err,
                            "%s; deleting destination volume %s failed too "
                            "(%s): run 'rbdmove abort %s'",
                            "the move stopped", m->rec.dst.volume, e.msg,
                            journal_id(m->j));
    return error_prefix(err,
                        "the move stopped before writing anything and "
                        "destination volume %s was deleted again",
                        m->rec.dst.volume);
}
