/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/image.c: one open RBD image on one cluster, with its snapshots,
 * metadata, changed extents and asynchronous I/O.
 *
 * Owns the ioctx and the rbd_image_t; knows nothing about transports or
 * OpenStack. Every librbd error becomes ERROR_CEPH here, on the line where
 * it happens, naming pool/image@snap.
 */
#include "rbdmove/core/image.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/log.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

struct image {
    rados_ioctx_t ioctx;
    rbd_image_t rbd;
    char *spec;
    char *id;
    uint64_t size;
    int order;
    bool at_snap; /* opened at a snapshot: what it holds cannot change */
    bool locked;  /* its exclusive lock taken and kept (image_lock_exclusive) */
    struct object_runs *runs; /* the last window of image_diff, at_snap only */
    struct object_list *listed; /* the pool listing's objects, at_snap only */
    int listing;                /* 0 not asked yet, 1 list the pool, -1 not */
    pthread_mutex_t runs_lock;  /* runs, listed and listing */
};

/* The numbers of an image's data objects found by listing its pool. */
struct object_list {
    uint64_t *v; /* ascending */
    size_t n;
};

/* Runs of whole objects that changed, for one window of the image. */
struct run {
    uint64_t off, len;
    bool exists;
};

struct object_runs {
    char *from; /* NULL: since creation */
    uint64_t lo, hi;
    struct run *v;
    size_t n, cap;
};

static void object_list_free(struct object_list *l)
{
    if (l) {
        free(l->v);
        free(l);
    }
}

static void object_runs_free(struct object_runs *o)
{
    if (o) {
        free(o->from);
        free(o->v);
        free(o);
    }
}

enum aio_kind { AIO_READ, AIO_WRITE, AIO_ZERO, AIO_FLUSH };

struct image_aio {
    rbd_completion_t c;
    struct image *img;
    enum aio_kind kind;
    uint64_t off;
    size_t len;
};

/* -1 with a usage error naming the part of spec that is not a safe name. */
static int spec_part_check(const char *spec, const char *what, const char *part,
                           struct error *err)
{
    struct buf why = BUF_INIT;
    int ret = 0;

    if (name_problem(part, &why))
        ret = error_set(err, ERROR_USAGE, 0, "'%s': the %s name %s", spec, what,
                        buf_str(&why));
    buf_release(&why);
    return ret;
}

int image_spec_parse(const char *s, int snap_rule, struct image_spec *out,
                     struct error *err)
{
    const char *slash = strchr(s, '/');
    const char *at = strchr(s, '@');
    struct image_spec spec = {NULL, NULL, NULL};

    memset(out, 0, sizeof(*out));
    if (!slash || (at && at < slash))
        return error_set(err, ERROR_USAGE, 0, "'%s' is not POOL/IMAGE%s", s,
                         snap_rule == 1 ? "@SNAP" : "");
    if (strchr(slash + 1, '/') && (!at || strchr(slash + 1, '/') < at))
        return error_set(err, ERROR_USAGE, 0,
                         "'%s': RBD namespaces (POOL/NAMESPACE/IMAGE) are "
                         "not supported; give POOL/IMAGE",
                         s);
    if (at && strchr(at + 1, '@'))
        return error_set(err, ERROR_USAGE, 0,
                         "'%s': more than one '@' (POOL/IMAGE@SNAP has one)",
                         s);
    spec.pool = xstrndup(s, (size_t)(slash - s));
    spec.name =
        at ? xstrndup(slash + 1, (size_t)(at - slash - 1)) : xstrdup(slash + 1);
    spec.snap = at ? xstrdup(at + 1) : NULL;
    if (spec_part_check(s, "pool", spec.pool, err) < 0 ||
        spec_part_check(s, "image", spec.name, err) < 0 ||
        (spec.snap && spec_part_check(s, "snapshot", spec.snap, err) < 0)) {
        image_spec_release(&spec);
        return -1;
    }
    if ((snap_rule == 0 && spec.snap) || (snap_rule == 1 && !spec.snap)) {
        image_spec_release(&spec);
        return error_set(err, ERROR_USAGE, 0, "'%s': %s", s,
                         snap_rule == 1 ? "a snapshot (@SNAP) is required"
                                        : "a snapshot is not allowed here");
    }
    *out = spec;
    return 0;
}

void image_spec_release(struct image_spec *spec)
{
    free(spec->pool);
    free(spec->name);
    free(spec->snap);
    memset(spec, 0, sizeof(*spec));
}

static int open_ioctx(struct cluster *cl, const char *pool, rados_ioctx_t *io,
                      struct error *err)
{
    int r = rados_ioctx_create((rados_t)cluster_rados(cl), pool, io);

    if (r < 0) {
        *io = NULL;
        return error_set(err, ERROR_CEPH, -r, "cannot open pool '%s'", pool);
    }
    return 0;
}

static int read_identity(struct image *img, struct error *err)
{
    char id[128];
    uint8_t order = 0;
    rbd_image_info_t info;
    int r;

    r = rbd_get_id(img->rbd, id, sizeof(id));
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r, "cannot read the id of '%s'",
                         img->spec);
    img->id = xstrdup(id);
    r = rbd_stat(img->rbd, &info, sizeof(info));
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r, "cannot stat '%s'", img->spec);
    order = (uint8_t)info.order;
    img->order = order;
    img->size = info.size;
    return 0;
}

int image_open(struct cluster *cl, const char *pool, const char *name,
               const char *snap, bool read_only, struct image **out,
               struct error *err)
{
    struct image *img = xcalloc(1, sizeof(*img));
    int ret = -1;
    int r;

    *out = NULL;
    pthread_mutex_init(&img->runs_lock, NULL);
    img->at_snap = snap != NULL;
    img->spec =
        xasprintf("%s/%s%s%s", pool, name, snap ? "@" : "", snap ? snap : "");
    if (open_ioctx(cl, pool, &img->ioctx, err) < 0)
        goto out;
    if (read_only || snap)
        r = rbd_open_read_only(img->ioctx, name, &img->rbd, snap);
    else
        r = rbd_open(img->ioctx, name, &img->rbd, NULL);
    if (r < 0) {
        img->rbd = NULL;
        error_set(err, ERROR_CEPH, -r, "cannot open image '%s'", img->spec);
        goto out;
    }
    if (read_identity(img, err) < 0)
        goto out;
    *out = img;
    img = NULL;
    ret = 0;
out:
    image_close(img);
    return ret;
}

/*
 * rbd_close waits for a cluster that stopped answering (60-180 s seen on
 * the lab after an OSD died), long after the operation that found it dead
 * has failed. So the close runs in a helper thread and gets CLOSE_WAIT_S;
 * past that its handle is abandoned to the process's exit (our writes were
 * flushed or failed before any close), and so is the cluster connection:
 * cluster_close() does not shut librados down under a handle still open.
 */
#define CLOSE_WAIT_S 15

static atomic_uint abandoned_handles;

struct closer {
    rbd_image_t rbd;
    rados_ioctx_t ioctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    bool abandoned;
};

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    bool abandoned;

    rbd_close(c->rbd);
    rados_ioctx_destroy(c->ioctx);
    pthread_mutex_lock(&c->mu);
    c->done = true;
    abandoned = c->abandoned;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (abandoned) {
        /* Late, but closed after all. */
        atomic_fetch_sub(&abandoned_handles, 1);
        free(c);
    }
    return NULL;
}

static void close_bounded(rbd_image_t rbd, rados_ioctx_t ioctx)
{
    struct closer *c = xcalloc(1, sizeof(*c));
    struct timespec until;
    pthread_attr_t attr;
    pthread_t th;
    int rc;

    c->rbd = rbd;
    c->ioctx = ioctx;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&th, &attr, closer_main, c);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        rbd_close(rbd);
        rados_ioctx_destroy(ioctx);
        free(c);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CLOSE_WAIT_S;
    pthread_mutex_lock(&c->mu);
    while (!c->done &&
           pthread_cond_timedwait(&c->cv, &c->mu, &until) != ETIMEDOUT)
        ;
    if (!c->done) {
        c->abandoned = true;
        atomic_fetch_add(&abandoned_handles, 1);
        pthread_mutex_unlock(&c->mu);
        return; /* the helper frees c if it ever finishes */
    }
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

unsigned image_abandoned_handles(void)
{
    return atomic_load(&abandoned_handles);
}

void image_close(struct image *img)
{
    if (!img)
        return;
    if (img->rbd)
        close_bounded(img->rbd, img->ioctx);
    else if (img->ioctx)
        rados_ioctx_destroy(img->ioctx);
    object_runs_free(img->runs);
    object_list_free(img->listed);
    pthread_mutex_destroy(&img->runs_lock);
    free(img->spec);
    free(img->id);
    free(img);
}

int image_exists(struct cluster *cl, const char *pool, const char *name,
                 bool *exists, struct error *err)
{
    rados_ioctx_t io = NULL;
    rbd_image_t rbd = NULL;
    int r;

    *exists = false;
    if (open_ioctx(cl, pool, &io, err) < 0)
        return -1;
    r = rbd_open_read_only(io, name, &rbd, NULL);
    if (r == 0) {
        *exists = true;
        rbd_close(rbd);
    }
    rados_ioctx_destroy(io);
    if (r < 0 && r != -ENOENT)
        return error_set(err, ERROR_CEPH, -r, "cannot look up image '%s/%s'",
                         pool, name);
    return 0;
}

int image_create(struct cluster *cl, const char *pool, const char *name,
                 uint64_t size, int order, struct error *err)
{
    uint64_t features = RBD_FEATURE_LAYERING | RBD_FEATURE_EXCLUSIVE_LOCK |
                        RBD_FEATURE_OBJECT_MAP | RBD_FEATURE_FAST_DIFF |
                        RBD_FEATURE_DEEP_FLATTEN;
    rados_ioctx_t io = NULL;
    int o = order;
    int r;

    if (open_ioctx(cl, pool, &io, err) < 0)
        return -1;
    r = rbd_create2(io, name, size, features, &o);
    rados_ioctx_destroy(io);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r, "cannot create image '%s/%s'",
                         pool, name);
    return 0;
}

const char *image_name(const struct image *img)
{
    return img->spec;
}

uint64_t image_size(const struct image *img)
{
    return img->size;
}

uint64_t image_object_size(const struct image *img)
{
    return 1ull << img->order;
}

int image_order(const struct image *img)
{
    return img->order;
}

const char *image_id(const struct image *img)
{
    return img->id;
}

int64_t image_create_time(struct image *img)
{
    struct timespec ts;

    if (rbd_get_create_timestamp(img->rbd, &ts) < 0)
        return 0;
    return (int64_t)ts.tv_sec;
}

bool image_fast_diff_valid(struct image *img)
{
    uint64_t features = 0, flags = 0;

    if (rbd_get_features(img->rbd, &features) < 0 ||
        !(features & RBD_FEATURE_FAST_DIFF))
        return false;
    if (rbd_get_flags(img->rbd, &flags) < 0)
        return false;
    return !(flags &
             (RBD_FLAG_FAST_DIFF_INVALID | RBD_FLAG_OBJECT_MAP_INVALID));
}

/* librbd calls the progress callback of rbd_resize2 without checking it
 * for NULL (a shrink crashed here with a NULL one). */
static int no_progress(uint64_t offset, uint64_t total, void *arg)
{
    (void)offset;
    (void)total;
    (void)arg;
    return 0;
}

int image_resize(struct image *img, uint64_t size, bool allow_shrink,
                 struct error *err)
{
    int r;

    if (size < img->size && !allow_shrink)
        return error_set(err, ERROR_STATE, 0,
                         "'%s' would shrink from %" PRIu64 " to %" PRIu64
                         " bytes (use --allow-shrink)",
                         img->spec, img->size, size);
    r = rbd_resize2(img->rbd, size, allow_shrink, no_progress, NULL);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r, "cannot resize '%s'", img->spec);
    img->size = size;
    return 0;
}

int image_snap_list(struct image *img, struct image_snap **snaps, size_t *n,
                    struct error *err)
{
    rbd_snap_info_t *info = NULL;
    int max = 16;
    int r;

    *snaps = NULL;
    *n = 0;
    for (;;) {
        info = xrealloc(info, sizeof(*info) * (size_t)max);
        r = rbd_snap_list(img->rbd, info, &max);
        if (r != -ERANGE)
            break;
    }
    if (r < 0) {
        free(info);
        return error_set(err, ERROR_CEPH, -r,
                         "cannot list the snapshots of '%s'", img->spec);
    }
    *snaps = xcalloc((size_t)r + 1, sizeof(**snaps));
    for (int i = 0; i < r; i++) {
        (*snaps)[i].id = info[i].id;
        (*snaps)[i].size = info[i].size;
        (*snaps)[i].name = xstrdup(info[i].name);
    }
    *n = (size_t)r;
    rbd_snap_list_end(info);
    free(info);
    return 0;
}

void image_snaps_free(struct image_snap *snaps, size_t n)
{
    for (size_t i = 0; snaps && i < n; i++)
        free(snaps[i].name);
    free(snaps);
}

int image_snap_lookup(struct image *img, const char *name, bool *exists,
                      uint64_t *id, struct error *err)
{
    int r = rbd_snap_get_id(img->rbd, name, id);

    *exists = r == 0;
    if (r == -ENOENT) {
        *id = 0;
        return 0;
    }
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r, "cannot look up snapshot '%s@%s'",
                         img->spec, name);
    return 0;
}

/*
 * librbd takes the exclusive lock of an image for a snapshot's creation or
 * removal, and keeps it until another client asks. Where we did not take
 * it to keep (a source, which its VM writes): given back at once. A run
 * killed while holding it would stall that VM's next write until the dead
 * client's watch expires (30 s by default), and the next run's snapshot
 * too.
 */
static void yield_lock(struct image *img)
{
    int owner = 0;

    if (img->locked || img->at_snap ||
        rbd_is_exclusive_lock_owner(img->rbd, &owner) < 0 || !owner)
        return;
    (void)rbd_lock_release(img->rbd);
}

int image_snap_create(struct image *img, const char *name, struct error *err)
{
    int r = rbd_snap_create2(img->rbd, name, RBD_SNAP_CREATE_SKIP_QUIESCE, NULL,
                             NULL);

    yield_lock(img);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r, "cannot create snapshot '%s@%s'",
                         img->spec, name);
    return 0;
}

int image_snap_remove(struct image *img, const char *name, struct error *err)
{
    int r = rbd_snap_remove(img->rbd, name);

    yield_lock(img);
    if (r < 0 && r != -ENOENT)
        return error_set(err, ERROR_CEPH, -r, "cannot remove snapshot '%s@%s'",
                         img->spec, name);
    return 0;
}

/* ---- groups ---------------------------------------------------------------
 */

int image_open_group_snap(struct cluster *cl, const char *pool,
                          const char *name, const char *gpool,
                          const char *group, const char *gsnap,
                          struct image **out, struct error *err)
{
    struct image *img = NULL;
    struct image_snap *snaps = NULL;
    rados_ioctx_t gio = NULL;
    size_t n = 0;
    int64_t gpool_id;
    uint64_t id = 0;
    bool found = false;
    int ret = -1, r;

    *out = NULL;
    if (open_ioctx(cl, gpool, &gio, err) < 0)
        return -1;
    gpool_id = rados_ioctx_get_id(gio);
    rados_ioctx_destroy(gio);
    if (image_open(cl, pool, name, NULL, true, &img, err) < 0)
        return -1;
    if (image_snap_list(img, &snaps, &n, err) < 0)
        goto out;
    for (size_t i = 0; i < n && !found; i++) {
        rbd_snap_namespace_type_t type;
        rbd_snap_group_namespace_t ns;

        if (rbd_snap_get_namespace_type(img->rbd, snaps[i].id, &type) < 0 ||
            type != RBD_SNAP_NAMESPACE_TYPE_GROUP)
            continue;
        memset(&ns, 0, sizeof(ns));
        if (rbd_snap_get_group_namespace(img->rbd, snaps[i].id, &ns,
                                         sizeof(ns)) < 0)
            continue;
        found = ns.group_pool == gpool_id && ns.group_name &&
                !strcmp(ns.group_name, group) && ns.group_snap_name &&
                !strcmp(ns.group_snap_name, gsnap);
        if (found)
            id = snaps[i].id;
        rbd_snap_group_namespace_cleanup(&ns, sizeof(ns));
    }
    if (!found) {
        error_set(err, ERROR_CEPH, ENOENT,
                  "'%s' has no snapshot of group snapshot '%s/%s@%s'",
                  img->spec, gpool, group, gsnap);
        goto out;
    }
    r = rbd_snap_set_by_id(img->rbd, id);
    if (r < 0) {
        error_set(err, ERROR_CEPH, -r,
                  "cannot open '%s' at group snapshot '%s/%s@%s'", img->spec,
                  gpool, group, gsnap);
        goto out;
    }
    free(img->spec);
    img->spec = xasprintf("%s/%s@%s", pool, name, gsnap);
    free(img->id);
    img->id = NULL;
    img->at_snap = true;
    if (read_identity(img, err) < 0)
        goto out;
    *out = img;
    img = NULL;
    ret = 0;
out:
    image_snaps_free(snaps, n);
    image_close(img);
    return ret;
}

int image_group_of(struct image *img, char **group, int64_t *pool_id,
                   struct error *err)
{
    rbd_group_info_t info;
    int r;

    *group = NULL;
    *pool_id = -1;
    memset(&info, 0, sizeof(info));
    r = rbd_get_group(img->rbd, &info, sizeof(info));
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r, "cannot read the group of '%s'",
                         img->spec);
    if (info.name && *info.name) {
        *group = xstrdup(info.name);
        *pool_id = info.pool;
    }
    rbd_group_info_cleanup(&info, sizeof(info));
    return 0;
}

int image_group_create(struct cluster *cl, const char *gpool, const char *group,
                       struct error *err)
{
    rados_ioctx_t io = NULL;
    int r;

    if (open_ioctx(cl, gpool, &io, err) < 0)
        return -1;
    r = rbd_group_create(io, group);
    rados_ioctx_destroy(io);
    if (r < 0 && r != -EEXIST)
        return error_set(err, ERROR_CEPH, -r, "cannot create group '%s/%s'",
                         gpool, group);
    return 0;
}

int image_group_add(struct cluster *cl, const char *gpool, const char *group,
                    const char *pool, const char *image, struct error *err)
{
    rados_ioctx_t gio = NULL, io = NULL;
    int r;

    if (open_ioctx(cl, gpool, &gio, err) < 0)
        return -1;
    if (open_ioctx(cl, pool, &io, err) < 0) {
        rados_ioctx_destroy(gio);
        return -1;
    }
    r = rbd_group_image_add(gio, group, io, image);
    rados_ioctx_destroy(io);
    rados_ioctx_destroy(gio);
    if (r < 0 && r != -EEXIST)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot add '%s/%s' to group '%s/%s'", pool, image,
                         gpool, group);
    return 0;
}

int image_group_snap_create(struct cluster *cl, const char *gpool,
                            const char *group, const char *snap,
                            struct error *err)
{
    rados_ioctx_t io = NULL;
    int r;

    if (open_ioctx(cl, gpool, &io, err) < 0)
        return -1;
    r = rbd_group_snap_create2(io, group, snap, 0);
    rados_ioctx_destroy(io);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot snapshot group '%s/%s' as '%s'%s", gpool,
                         group, snap,
                         r == -ETIMEDOUT || r == -EBUSY
                             ? " (a client of one of its images did not "
                               "quiesce)"
                             : "");
    return 0;
}

int image_group_remove(struct cluster *cl, const char *gpool, const char *group,
                       struct error *err)
{
    rados_ioctx_t io = NULL;
    int r;

    if (open_ioctx(cl, gpool, &io, err) < 0)
        return -1;
    r = rbd_group_remove(io, group);
    rados_ioctx_destroy(io);
    if (r < 0 && r != -ENOENT)
        return error_set(err, ERROR_CEPH, -r, "cannot remove group '%s/%s'",
                         gpool, group);
    return 0;
}

int image_group_exists(struct cluster *cl, const char *gpool, const char *group,
                       bool *exists, struct error *err)
{
    rados_ioctx_t io = NULL;
    size_t size = 1024;
    char *names = xcalloc(1, size + 1);
    int r;

    /* librbd wants a buffer even when there are no groups (EINVAL). */
    *exists = false;
    if (open_ioctx(cl, gpool, &io, err) < 0) {
        free(names);
        return -1;
    }
    for (;;) {
        r = rbd_group_list(io, names, &size);
        if (r != -ERANGE)
            break;
        names = xrealloc(names, size + 1);
    }
    rados_ioctx_destroy(io);
    if (r < 0) {
        free(names);
        return error_set(err, ERROR_CEPH, -r,
                         "cannot list the groups of pool '%s'", gpool);
    }
    size = (size_t)r < size ? (size_t)r : size; /* the bytes it wrote */
    for (const char *p = names; p && p < names + size && *p; p += strlen(p) + 1)
        if (!strcmp(p, group))
            *exists = true;
    free(names);
    return 0;
}

int image_snap_rollback(struct image *img, const char *name, struct error *err)
{
    int r = rbd_snap_rollback(img->rbd, name);

    if (r == -EROFS || r == -EBUSY)
        return error_set(err, ERROR_STATE, -r,
                         "'%s' is in use by another client, it cannot be "
                         "rolled back to '%s'",
                         img->spec, name);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot roll '%s' back to snapshot '%s'", img->spec,
                         name);
    return 0;
}

int image_meta_get(struct image *img, const char *key, char **value,
                   struct error *err)
{
    size_t len = 256;
    char *v = NULL;
    int r;

    *value = NULL;
    for (;;) {
        v = xrealloc(v, len + 1);
        r = rbd_metadata_get(img->rbd, key, v, &len);
        if (r != -ERANGE)
            break;
    }
    if (r == -ENOENT) {
        free(v);
        return 0;
    }
    if (r < 0) {
        free(v);
        return error_set(err, ERROR_CEPH, -r,
                         "cannot read metadata '%s' of '%s'", key, img->spec);
    }
    v[len] = '\0';
    *value = v;
    return 0;
}

int image_meta_set(struct image *img, const char *key, const char *value,
                   struct error *err)
{
    int r = rbd_metadata_set(img->rbd, key, value);

    if (r < 0)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot set metadata '%s' of '%s'", key, img->spec);
    return 0;
}

int image_meta_remove(struct image *img, const char *key, struct error *err)
{
    int r = rbd_metadata_remove(img->rbd, key);

    if (r < 0 && r != -ENOENT)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot remove metadata '%s' of '%s'", key, img->spec);
    return 0;
}

int image_lock_exclusive(struct image *img, struct error *err)
{
    int r = rbd_lock_acquire(img->rbd, RBD_LOCK_MODE_EXCLUSIVE);

    img->locked = r == 0;
    if (r == -EROFS || r == -EBUSY)
        return error_set(err, ERROR_STATE, -r,
                         "'%s' is in use by another client (it holds the "
                         "image's exclusive lock)",
                         img->spec);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot take the exclusive lock of '%s'", img->spec);
    return 0;
}

/*
 * owner, dead, holds no lock of img (it gave it back after its snapshot,
 * yield_lock) but may still watch it: for 30 s, every wait for the image
 * to have no client (a move's detach) would wait for it. Blocklisted, as
 * a lock break would have, its watch goes at once.
 */
static int drop_dead_watch(struct image *img, const char *owner,
                           struct error *err)
{
    rbd_image_watcher_t w[16];
    size_t max = 16;
    bool watching = false;
    int r = rbd_watchers_list(img->rbd, w, &max);

    if (r < 0)
        return 0; /* more than 16, or none to list: the wait stays */
    for (size_t i = 0; i < max; i++)
        watching |= w[i].addr && !strcmp(w[i].addr, owner);
    rbd_watchers_list_cleanup(w, max);
    if (!watching)
        return 0;
    r = rados_blocklist_add(rados_ioctx_get_cluster(img->ioctx), (char *)owner,
                            0);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot blocklist %s, a killed run still watching "
                         "'%s'",
                         owner, img->spec);
    log_debug("blocklisted %s, a killed run still watching %s", owner,
              img->spec);
    return 0;
}

int image_lock_break_dead(struct image *img, const char *owner, bool *broke,
                          struct error *err)
{
    rbd_lock_mode_t mode = RBD_LOCK_MODE_EXCLUSIVE;
    char *owners[8], *self = NULL;
    size_t max = 8;
    bool held = false, ours;
    int r;

    *broke = false;
    /* Never our own client (an address repeats only within a process). */
    ours = rados_getaddrs(rados_ioctx_get_cluster(img->ioctx), &self) == 0 &&
           self && !strcmp(self, owner);
    if (self)
        rados_buffer_free(self);
    if (ours)
        return 0;
    r = rbd_lock_get_owners(img->rbd, &mode, owners, &max);
    if (r == -ENOENT) /* nobody holds it */
        return drop_dead_watch(img, owner, err);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot list the lock owners of '%s'", img->spec);
    for (size_t i = 0; i < max; i++)
        held |= !strcmp(owners[i], owner);
    rbd_lock_get_owners_cleanup(owners, max);
    if (!held)
        return drop_dead_watch(img, owner, err);
    r = rbd_lock_break(img->rbd, mode, owner);
    if (r < 0 && r != -ENOENT)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot break the lock %s left on '%s'", owner,
                         img->spec);
    *broke = r == 0;
    return 0;
}

int image_watcher_count(struct image *img, uint64_t self, int *count,
                        struct error *err)
{
    rbd_image_watcher_t *w = NULL;
    size_t max = 8;
    int r;

    for (;;) {
        w = xrealloc(w, sizeof(*w) * max);
        r = rbd_watchers_list(img->rbd, w, &max);
        if (r != -ERANGE)
            break;
    }
    if (r < 0) {
        free(w);
        return error_set(err, ERROR_CEPH, -r,
                         "cannot list the watchers of '%s'", img->spec);
    }
    *count = 0;
    for (size_t i = 0; i < max; i++) {
        if (!self || (uint64_t)w[i].id != self)
            (*count)++;
    }
    rbd_watchers_list_cleanup(w, max);
    free(w);
    return 0;
}

/* ---- extents ------------------------------------------------------------ */

/* librbd's callback has no error channel: keep the reason here and stop
 * the iteration with one named sentinel. */
#define DIFF_STOP (-0x7ff)

struct diff_ctx {
    struct image *img;
    image_diff_fn *fn;
    void *fn_ctx;
    uint64_t next; /* end of the previous extent */
    struct error *err;
    bool failed;
};

static int diff_cb(uint64_t off, size_t len, int exists, void *arg)
{
    struct diff_ctx *d = arg;

    if (off < d->next) {
        error_set(d->err, ERROR_CEPH, EIO,
                  "librbd reported extents of '%s' out of order "
                  "(%" PRIu64 " after %" PRIu64 ")",
                  d->img->spec, off, d->next);
        d->failed = true;
        return DIFF_STOP;
    }
    d->next = off + len;
    if (len == 0)
        return 0;
    if (d->fn(d->fn_ctx, off, len, exists != 0, d->err) != 0) {
        d->failed = true;
        return DIFF_STOP;
    }
    return 0;
}

/*
 * librbd lists the changes of an image without fast-diff, and any change
 * at all unless it reports whole objects, by asking every object in the
 * range for its snapshots: on a 1 TiB image that is 262144 requests
 * (13 s on the lab) however little changed. With a valid object map the
 * whole objects that changed come from the map in one pass, and only
 * they are asked for their precise extents. The map's answer is a
 * superset of the precise one (an object whose map says clean was not
 * written); librbd falls back to asking every object when a map in the
 * range is invalid, so the answer stays right, only slower.
 *
 * Object-map windows of DIFF_WINDOW_OBJECTS objects (256 GiB of 4 MiB
 * objects; at most 1.5 MiB of runs) bound the memory. An image opened at
 * a snapshot keeps its last window: the copy engine asks for the same
 * window segment after segment, and each fresh pass reloads the maps.
 */
#define DIFF_WINDOW_OBJECTS 65536u

static int collect_run(uint64_t off, size_t len, int exists, void *arg)
{
    struct object_runs *o = arg;

    if (len == 0)
        return 0;
    if (o->n > 0 && o->v[o->n - 1].exists == (exists != 0) &&
        o->v[o->n - 1].off + o->v[o->n - 1].len == off) {
        o->v[o->n - 1].len += len;
        return 0;
    }
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    o->v[o->n++] = (struct run){off, len, exists != 0};
    return 0;
}

/* The object-map runs of the window holding off, as a copy the caller
 * frees (the image's kept window may be replaced by another thread). */
static int window_runs(struct image *img, const char *from_snap, uint64_t off,
                       struct object_runs **out, struct error *err)
{
    uint64_t span = (1ull << img->order) * DIFF_WINDOW_OBJECTS;
    uint64_t lo = off / span * span;
    uint64_t hi = img->size - lo < span ? img->size : lo + span;
    struct object_runs *o;
    bool hit;
    int r;

    *out = NULL;
    pthread_mutex_lock(&img->runs_lock);
    hit =
        img->runs && img->runs->lo == lo && img->runs->hi == hi &&
        (img->runs->from && from_snap ? strcmp(img->runs->from, from_snap) == 0
                                      : img->runs->from == from_snap);
    if (hit) {
        o = xcalloc(1, sizeof(*o));
        *o = *img->runs;
        o->from = NULL;
        o->v = xmalloc((o->n ? o->n : 1) * sizeof(*o->v));
        memcpy(o->v, img->runs->v, o->n * sizeof(*o->v));
        o->cap = o->n;
        pthread_mutex_unlock(&img->runs_lock);
        *out = o;
        return 0;
    }
    pthread_mutex_unlock(&img->runs_lock);

    o = xcalloc(1, sizeof(*o));
    o->lo = lo;
    o->hi = hi;
    r = rbd_diff_iterate2(img->rbd, from_snap, lo, hi - lo, 1, 1, collect_run,
                          o);
    if (r < 0) {
        object_runs_free(o);
        return error_set(err, ERROR_CEPH, -r,
                         "cannot list the changed objects of '%s' since '%s'",
                         img->spec, from_snap ? from_snap : "creation");
    }
    if (img->at_snap) {
        struct object_runs *keep = xcalloc(1, sizeof(*keep));

        *keep = *o;
        keep->from = from_snap ? xstrdup(from_snap) : NULL;
        keep->v = xmalloc((o->n ? o->n : 1) * sizeof(*o->v));
        memcpy(keep->v, o->v, o->n * sizeof(*o->v));
        pthread_mutex_lock(&img->runs_lock);
        object_runs_free(img->runs);
        img->runs = keep;
        pthread_mutex_unlock(&img->runs_lock);
    }
    *out = o;
    return 0;
}

static int diff_plain(struct image *img, const char *from_snap, uint64_t off,
                      uint64_t len, bool whole_object, struct diff_ctx *d)
{
    int r = rbd_diff_iterate2(img->rbd, from_snap, off, len, 1,
                              whole_object ? 1 : 0, diff_cb, d);

    if (d->failed)
        return -1;
    if (r < 0)
        return error_set(d->err, ERROR_CEPH, -r,
                         "cannot list the changes of '%s' since '%s'",
                         img->spec, from_snap ? from_snap : "creation");
    return 0;
}

/* Through the object map: the runs of each window, whole or asked for
 * their precise extents. */
static int diff_by_map(struct image *img, const char *from_snap, uint64_t off,
                       uint64_t end, bool whole_object, struct diff_ctx *d)
{
    while (off < end) {
        struct object_runs *o;
        uint64_t stop;

        if (window_runs(img, from_snap, off, &o, d->err) < 0)
            return -1;
        stop = o->hi < end ? o->hi : end;
        for (size_t i = 0; i < o->n; i++) {
            uint64_t a = o->v[i].off, b = a + o->v[i].len;

            if (a < off)
                a = off;
            if (b > stop)
                b = stop;
            if (b <= a)
                continue;
            if (whole_object ? diff_cb(a, (size_t)(b - a), o->v[i].exists, d)
                             : diff_plain(img, from_snap, a, b - a, false, d)) {
                object_runs_free(o);
                return -1;
            }
        }
        object_runs_free(o);
        off = stop;
    }
    return 0;
}

/*
 * Without an object map librbd asks every object of the range, present or
 * not, which on a large thin image is most of a round's time (262144
 * requests for 1 TiB: 13-18 s on the lab, whatever changed). The pool can
 * say which objects exist instead: listing it costs requests in
 * proportion to the objects the pool holds (about a thousand names each),
 * not to the image's size, and librbd is then asked only about the
 * objects found. Only where the answer is the same:
 *
 * - An object that holds data at a snapshot still appears in the listing
 *   while that snapshot exists, even once deleted at the head (its head
 *   stays as a whiteout beside the snapshot's clone): the objects listed
 *   cover every object with data at from_snap or at the image's snapshot.
 *   At the head, a write that lands after the listing is missed as librbd
 *   misses one that lands behind its own pass.
 * - No parent: a clone's diff includes the parent's data, which lives in
 *   the parent's objects. No separate data pool, which is listed nowhere
 *   here.
 * - Chosen when the listing costs fewer requests than librbd's pass, one
 *   per object the image could hold: it asks every placement group of the
 *   pool at least once, and then for about a thousand names at a time, so
 *   its cost is bounded by the pool's PG count plus the objects it holds
 *   (all namespaces; both from one request each).
 */
#define LIST_PG_UNKNOWN 65536u /* pg_num when the monitor would not say */

/* The pool's pg_num, from the monitor ("osd pool get"), or 0. */
static uint64_t pool_pg_num(struct image *img)
{
    char pool[256], *cmd, *out = NULL, *outs = NULL;
    const char *hit;
    size_t outlen = 0, outslen = 0;
    uint64_t n = 0;

    if (rados_ioctx_get_pool_name(img->ioctx, pool, sizeof(pool)) < 0)
        return 0;
    /* A name JSON would need to escape is not sent (unknown then). */
    for (const char *c = pool; *c; c++) {
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            return 0;
    }
    cmd = xasprintf("{\"prefix\": \"osd pool get\", \"pool\": \"%s\", "
                    "\"var\": \"pg_num\", \"format\": \"json\"}",
                    pool);
    if (rados_mon_command(rados_ioctx_get_cluster(img->ioctx),
                          (const char **)&cmd, 1, NULL, 0, &out, &outlen, &outs,
                          &outslen) == 0 &&
        out && (hit = memmem(out, outlen, "\"pg_num\":", 9)) != NULL) {
        /* The answer is not a C string: digits within it only. */
        for (hit += 9; hit < out + outlen && *hit == ' '; hit++)
            ;
        for (;
             hit < out + outlen && *hit >= '0' && *hit <= '9' && n < UINT32_MAX;
             hit++)
            n = n * 10 + (uint64_t)(*hit - '0');
    }
    rados_buffer_free(out);
    rados_buffer_free(outs);
    free(cmd);
    return n;
}

static bool use_listing(struct image *img)
{
    struct rados_pool_stat_t st;
    rbd_linked_image_spec_t parent;
    rbd_snap_spec_t psnap;
    uint64_t unit = 0, count = 0, pgs;
    int r;

    if (rbd_get_data_pool_id(img->rbd) != rados_ioctx_get_id(img->ioctx))
        return false;
    /* Object n holds bytes [n, n + 1) x object size only without fancy
     * striping. */
    if (rbd_get_stripe_unit(img->rbd, &unit) < 0 ||
        rbd_get_stripe_count(img->rbd, &count) < 0 ||
        unit != 1ull << img->order || count != 1)
        return false;
    r = rbd_get_parent(img->rbd, &parent, &psnap);
    if (r == 0) {
        rbd_linked_image_spec_cleanup(&parent);
        rbd_snap_spec_cleanup(&psnap);
        return false;
    }
    if (r != -ENOENT)
        return false;
    if (rados_ioctx_pool_stat(img->ioctx, &st) < 0)
        return false;
    pgs = pool_pg_num(img);
    log_debug("%s: the pool holds %" PRIu64 " objects in %" PRIu64
              "%s placement groups; the image up to %" PRIu64 " objects",
              img->spec, (uint64_t)st.num_objects, pgs ? pgs : LIST_PG_UNKNOWN,
              pgs ? "" : " (assumed)", img->size >> img->order);
    return st.num_objects / 1000 + (pgs ? pgs : LIST_PG_UNKNOWN) <
           (img->size >> img->order);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The image's data objects in its pool (its ioctx's namespace), by
 * number: names "PREFIX.HEX". */
static int list_objects(struct image *img, struct object_list **out,
                        struct error *err)
{
    char prefix[RBD_MAX_BLOCK_NAME_SIZE + 1];
    struct object_list *l;
    rados_list_ctx_t ls;
    size_t plen, cap = 0;
    const char *name;
    int r;

    *out = NULL;
    r = rbd_get_block_name_prefix(img->rbd, prefix, sizeof(prefix) - 1);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot read the object prefix of '%s'", img->spec);
    prefix[sizeof(prefix) - 1] = '\0';
    plen = strlen(prefix);
    r = rados_nobjects_list_open(img->ioctx, &ls);
    if (r < 0)
        return error_set(err, ERROR_CEPH, -r,
                         "cannot list the objects of the pool of '%s'",
                         img->spec);
    l = xcalloc(1, sizeof(*l));
    while ((r = rados_nobjects_list_next(ls, &name, NULL, NULL)) == 0) {
        const char *hex;
        char *end;
        uint64_t no;

        if (strncmp(name, prefix, plen) || name[plen] != '.')
            continue;
        hex = name + plen + 1;
        if (!isxdigit((unsigned char)*hex))
            continue;
        errno = 0;
        no = strtoull(hex, &end, 16);
        if (*end || errno || no > (img->size >> img->order))
            continue; /* not a data object, or past the end */
        if (l->n == cap) {
            cap = cap ? cap * 2 : 256;
            l->v = xrealloc(l->v, cap * sizeof(*l->v));
        }
        l->v[l->n++] = no;
    }
    rados_nobjects_list_close(ls);
    if (r != -ENOENT) {
        object_list_free(l);
        return error_set(err, ERROR_CEPH, -r,
                         "cannot list the objects of the pool of '%s'",
                         img->spec);
    }
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
    log_debug("%s: %zu data objects found by listing the pool", img->spec,
              l->n);
    *out = l;
    return 0;
}

/* 1: list the pool, *out its objects: the image's own when it is at a
 * snapshot (set once, kept until image_close), else a fresh listing put in
 * *fresh for the caller to free. 0: ask librbd about every object (also
 * when the listing failed). */
static int listed_objects(struct image *img, const struct object_list **out,
                          struct object_list **fresh)
{
    struct error e = ERROR_INIT;
    struct object_list *l;
    int ret = 0;

    *out = NULL;
    *fresh = NULL;
    pthread_mutex_lock(&img->runs_lock);
    if (img->listing == 0)
        img->listing = use_listing(img) ? 1 : -1;
    if (img->listing < 0)
        goto out;
    ret = 1;
    if (img->listed) {
        *out = img->listed;
        goto out;
    }
    if (list_objects(img, &l, &e) < 0) {
        /* Only a shortcut: a client whose caps do not allow listing the
         * pool still gets librbd's answer. */
        log_debug("%s: %s; asking every object instead", img->spec, e.msg);
        img->listing = -1;
        ret = 0;
        goto out;
    }
    if (img->at_snap)
        img->listed = l;
    else
        *fresh = l;
    *out = l;
out:
    pthread_mutex_unlock(&img->runs_lock);
    return ret;
}

/* Through the pool's listing: librbd asked about the runs of objects
 * found in [off, end) only. */
static int diff_by_listing(struct image *img, const struct object_list *l,
                           const char *from_snap, uint64_t off, uint64_t end,
                           bool whole_object, struct diff_ctx *d)
{
    uint64_t osz = 1ull << img->order;
    size_t lo = 0, hi = l->n;

    /* The first object that ends after off. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if ((l->v[mid] + 1) * osz <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < l->n && l->v[i] * osz < end;) {
        size_t j = i + 1;
        uint64_t a, b;

        while (j < l->n && l->v[j] == l->v[j - 1] + 1)
            j++;
        a = l->v[i] * osz;
        b = (l->v[j - 1] + 1) * osz;
        i = j;
        if (a < off)
            a = off;
        if (b > end)
            b = end;
        if (b <= a)
            continue;
        if (diff_plain(img, from_snap, a, b - a, whole_object, d) < 0)
            return -1;
    }
    return 0;
}

int image_diff(struct image *img, const char *from_snap, uint64_t off,
               uint64_t len, bool whole_object, image_diff_fn *fn, void *ctx,
               struct error *err)
{
    struct diff_ctx d = {img, fn, ctx, off, err, false};

    if (off >= img->size)
        return 0;
    if (len > img->size - off)
        len = img->size - off;
    if (!image_fast_diff_valid(img)) {
        const struct object_list *l;
        struct object_list *fresh;
        int r = listed_objects(img, &l, &fresh);

        if (r > 0) {
            r = diff_by_listing(img, l, from_snap, off, off + len, whole_object,
                                &d);
            object_list_free(fresh);
            return r;
        }
        return diff_plain(img, from_snap, off, len, whole_object, &d);
    }
    /* Since creation, the precise answer includes a parent's data, which
     * the child's object map does not hold: ask librbd directly. */
    if (!whole_object && !from_snap)
        return diff_plain(img, from_snap, off, len, whole_object, &d);
    return diff_by_map(img, from_snap, off, off + len, whole_object, &d);
}

/* ---- asynchronous I/O -----------------------------------------------------
 */

static struct image_aio *aio_new(struct image *img, enum aio_kind kind,
                                 uint64_t off, size_t len, struct error *err)
{
    struct image_aio *a = xcalloc(1, sizeof(*a));
    int r = rbd_aio_create_completion(NULL, NULL, &a->c);

    if (r < 0) {
        free(a);
        error_set(err, ERROR_CEPH, -r, "cannot create a completion");
        return NULL;
    }
    a->img = img;
    a->kind = kind;
    a->off = off;
    a->len = len;
    return a;
}

static int aio_started(struct image_aio *a, int r, struct image_aio **out,
                       struct error *err)
{
    static const char *const what[] = {"read", "write", "zero", "flush"};

    if (r < 0) {
        error_set(err, ERROR_CEPH, -r,
                  "cannot %s %zu bytes at %" PRIu64 " of '%s'", what[a->kind],
                  a->len, a->off, a->img->spec);
        rbd_aio_release(a->c);
        free(a);
        return -1;
    }
    *out = a;
    return 0;
}

int image_aio_read(struct image *img, uint64_t off, size_t len, void *buf,
                   struct image_aio **out, struct error *err)
{
    struct image_aio *a = aio_new(img, AIO_READ, off, len, err);

    *out = NULL;
    if (!a)
        return -1;
    return aio_started(a, rbd_aio_read(img->rbd, off, len, buf, a->c), out,
                       err);
}

int image_aio_write(struct image *img, uint64_t off, size_t len,
                    const void *buf, struct image_aio **out, struct error *err)
{
    struct image_aio *a = aio_new(img, AIO_WRITE, off, len, err);

    *out = NULL;
    if (!a)
        return -1;
    return aio_started(
        a, rbd_aio_write(img->rbd, off, len, (const char *)buf, a->c), out,
        err);
}

int image_aio_zero(struct image *img, uint64_t off, uint64_t len,
                   struct image_aio **out, struct error *err)
{
    struct image_aio *a = aio_new(img, AIO_ZERO, off, (size_t)len, err);

    *out = NULL;
    if (!a)
        return -1;
    return aio_started(
        a, rbd_aio_write_zeroes(img->rbd, off, (size_t)len, a->c, 0, 0), out,
        err);
}

int image_aio_wait(struct image_aio *a, struct error *err)
{
    static const char *const what[] = {"read", "write", "zero", "flush"};
    ssize_t r;
    int ret = 0;

    if (!a)
        return 0;
    rbd_aio_wait_for_complete(a->c);
    r = rbd_aio_get_return_value(a->c);
    rbd_aio_release(a->c);
    if (r < 0)
        ret = error_set(err, ERROR_CEPH, (int)-r,
                        "cannot %s %zu bytes at %" PRIu64 " of '%s'",
                        what[a->kind], a->len, a->off, a->img->spec);
    else if (a->kind == AIO_READ && (size_t)r != a->len)
        ret = error_set(err, ERROR_CEPH, EIO,
                        "short read of '%s' at %" PRIu64 ": %zd of %zu bytes",
                        a->img->spec, a->off, r, a->len);
    free(a);
    return ret;
}

bool image_aio_done(struct image_aio *a)
{
    return !a || rbd_aio_is_complete(a->c);
}

int image_flush(struct image *img, struct error *err)
{
    int r = rbd_flush(img->rbd);

    if (r < 0)
        return error_set(err, ERROR_CEPH, -r, "cannot flush '%s'", img->spec);
    return 0;
}

static int add_bytes(void *ctx, uint64_t off, uint64_t len, bool exists,
                     struct error *err)
{
    (void)off;
    (void)exists;
    (void)err;
    *(uint64_t *)ctx += len;
    return 0;
}

int image_diff_bytes(struct image *img, const char *from_snap, uint64_t *bytes,
                     struct error *err)
{
    *bytes = 0;
    return image_diff(img, from_snap, 0, image_size(img), false, add_bytes,
                      bytes, err);
}
