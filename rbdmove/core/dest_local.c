/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/dest_local.c: a destination image reached with librbd from this
 * process. Also what `rbdmove receive` serves remote requests with.
 *
 * The head is opened once, at the first operation that finds or creates
 * it, and kept with its exclusive lock taken until the dest is freed: a
 * second rbdmove (or anyone else) cannot write into the image while a copy
 * runs, and every operation of ours goes through that one handle. After
 * unlock (the image is handed to a server) it is opened without the lock.
 */
#include "rbdmove/core/dest.h"

#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/log.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/copy.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/verify.h"
#include "rbdmove/base/xalloc.h"

struct dest_local {
    struct dest base;
    struct cluster *cl;
    char *pool;
    char *image;
    struct image *head; /* open and locked, once it exists */
    bool unlocked;      /* handed over: open the head without the lock */
    char *dead_owner;   /* a dead run's lock to break at once, or NULL */
    progress_fn *progress;
    void *progress_ctx;
};

/* A lock a dead run of this move left (dest.h, set_dead_owner): broken
 * now rather than waited for; a failure leaves the wait to the lock
 * request. */
static void break_dead(struct dest_local *d, struct image *img)
{
    struct error e = ERROR_INIT;
    bool broke = false;

    if (image_lock_break_dead(img, d->dead_owner, &broke, &e) < 0)
        log_info("%s", e.msg);
    if (broke)
        log_info("broke the lock a killed run left on %s/%s (%s)", d->pool,
                 d->image, d->dead_owner);
    free(d->dead_owner);
    d->dead_owner = NULL;
}

/* The locked head (borrowed). */
static int open_head(struct dest_local *d, struct image **out,
                     struct error *err)
{
    *out = NULL;
    if (!d->head) {
        struct image *img = NULL;

        if (image_open(d->cl, d->pool, d->image, NULL, false, &img, err) < 0)
            return -1;
        if (!d->unlocked && d->dead_owner)
            break_dead(d, img);
        if (!d->unlocked && image_lock_exclusive(img, err) < 0) {
            image_close(img);
            return -1;
        }
        d->head = img;
    }
    *out = d->head;
    return 0;
}

static int local_probe(struct dest *dd, struct dest_state *st,
                       struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;
    struct image *img = NULL;
    int ret = -1;

    memset(st, 0, sizeof(*st));
    st->cluster_fsid = xstrdup(cluster_fsid(d->cl));
    st->cluster_mons = xstrdup(cluster_mons(d->cl));
    if (image_exists(d->cl, d->pool, d->image, &st->exists, err) < 0)
        goto out;
    if (!st->exists)
        return 0;
    if (open_head(d, &img, err) < 0)
        goto out;
    st->size = image_size(img);
    st->order = image_order(img);
    st->image_id = xstrdup(image_id(img));
    st->created = image_create_time(img);
    if (image_meta_get(img, DEST_META_BASE, &st->meta_base, err) < 0 ||
        image_meta_get(img, DEST_META_SEED, &st->meta_seed, err) < 0 ||
        image_meta_get(img, DEST_META_PENDING, &st->meta_pending, err) < 0 ||
        image_snap_list(img, &st->snaps, &st->nsnaps, err) < 0)
        goto out;
    ret = 0;
out:
    if (ret < 0)
        dest_state_release(st);
    return ret;
}

static int local_create(struct dest *dd, uint64_t size, int order,
                        struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;

    return image_create(d->cl, d->pool, d->image, size, order, err);
}

static int local_resize(struct dest *dd, uint64_t size, struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;
    struct image *img = NULL;

    if (open_head(d, &img, err) < 0)
        return -1;
    if (image_size(img) == size)
        return 0;
    return image_resize(img, size, true, err);
}

static int local_set_meta(struct dest *dd, const char *key, const char *value,
                          struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;
    struct image *img = NULL;

    if (open_head(d, &img, err) < 0)
        return -1;
    if (value)
        return image_meta_set(img, key, value, err);
    return image_meta_remove(img, key, err);
}

static int local_snap(struct dest *dd, const char *name, bool create,
                      struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;
    struct image *img = NULL;

    if (open_head(d, &img, err) < 0)
        return -1;
    if (create)
        return image_snap_create(img, name, err);
    return image_snap_remove(img, name, err);
}

static int local_snap_create(struct dest *dd, const char *name,
                             struct error *err)
{
    return local_snap(dd, name, true, err);
}

static int local_snap_remove(struct dest *dd, const char *name,
                             struct error *err)
{
    return local_snap(dd, name, false, err);
}

static int local_rollback(struct dest *dd, const char *snap, struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;
    struct image *img = NULL;

    if (open_head(d, &img, err) < 0)
        return -1;
    if (image_snap_rollback(img, snap, err) < 0)
        return -1;
    return image_flush(img, err);
}

static int local_dirty(struct dest *dd, const char *since,
                       struct dest_extents *x, struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;
    struct image *img = NULL;
    int ret;

    memset(x, 0, sizeof(*x));
    if (open_head(d, &img, err) < 0)
        return -1;
    ret = image_diff(img, since, 0, image_size(img), true, dest_extents_collect,
                     x, err);
    if (ret < 0)
        dest_extents_release(x);
    return ret;
}

static int local_transfer(struct dest *dd, struct image *src,
                          const char *from_snap, const struct copy_params *p,
                          struct copy_stats *st, struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;
    struct image *img = NULL;

    if (open_head(d, &img, err) < 0)
        return -1;
    return copy_direct(src, from_snap, img, p, st, err);
}

static int local_hash(struct dest *dd, const char *snap, uint64_t block,
                      struct dest_hashes *out, struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;
    struct image *img = NULL;
    int ret;

    if (image_open(d->cl, d->pool, d->image, snap, true, &img, err) < 0)
        return -1;
    ret = verify_hash_image(img, block,
                            dd->hash_window ? dd->hash_window : VERIFY_WINDOW,
                            d->progress, d->progress_ctx, out, err);
    image_close(img);
    return ret;
}

static int local_hash_blocks(struct dest *dd, const char *snap, uint64_t block,
                             const uint64_t *idx, size_t n, uint64_t *hashes,
                             struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;
    struct image *img = NULL;
    int ret;

    if (image_open(d->cl, d->pool, d->image, snap, true, &img, err) < 0)
        return -1;
    ret = verify_hash_blocks(img, block, 16, idx, n, hashes, err);
    image_close(img);
    return ret;
}

static int local_unlock(struct dest *dd, struct error *err)
{
    struct dest_local *d = (struct dest_local *)dd;

    (void)err;
    /* Closing the handle releases the lock (rbd_close flushes first). */
    image_close(d->head);
    d->head = NULL;
    d->unlocked = true;
    return 0;
}

static char *local_lock_self(struct dest *dd)
{
    return cluster_addr(((struct dest_local *)dd)->cl);
}

static void local_set_dead_owner(struct dest *dd, const char *owner)
{
    struct dest_local *d = (struct dest_local *)dd;

    free(d->dead_owner);
    d->dead_owner = xstrdup(owner);
}

static void local_free(struct dest *dd)
{
    struct dest_local *d = (struct dest_local *)dd;

    free(d->dead_owner);
    image_close(d->head);
    free(d->pool);
    free(d->image);
    free(d);
}

static const struct dest_ops local_ops = {
    .probe = local_probe,
    .create = local_create,
    .resize = local_resize,
    .set_meta = local_set_meta,
    .snap_create = local_snap_create,
    .snap_remove = local_snap_remove,
    .dirty = local_dirty,
    .transfer = local_transfer,
    .hash = local_hash,
    .hash_blocks = local_hash_blocks,
    .unlock = local_unlock,
    .rollback = local_rollback,
    .lock_self = local_lock_self,
    .set_dead_owner = local_set_dead_owner,
    .free = local_free,
};

struct dest *dest_local_new(struct cluster *cl, const char *pool,
                            const char *image)
{
    struct dest_local *d = xcalloc(1, sizeof(*d));

    d->base.ops = &local_ops;
    d->base.name = xasprintf("%s/%s", pool, image);
    d->cl = cl;
    d->pool = xstrdup(pool);
    d->image = xstrdup(image);
    return &d->base;
}

void dest_local_set_progress(struct dest *dd, progress_fn *fn, void *ctx)
{
    struct dest_local *d = (struct dest_local *)dd;

    d->progress = fn;
    d->progress_ctx = ctx;
}

int dest_local_head(struct dest *dd, struct image **out, struct error *err)
{
    return open_head((struct dest_local *)dd, out, err);
}

/* ---- shared helpers -------------------------------------------------------
 */

void dest_state_release(struct dest_state *st)
{
    free(st->image_id);
    free(st->cluster_fsid);
    free(st->cluster_mons);
    free(st->meta_base);
    free(st->meta_seed);
    free(st->meta_pending);
    image_snaps_free(st->snaps, st->nsnaps);
    memset(st, 0, sizeof(*st));
}

uint64_t dest_state_snap_id(const struct dest_state *st, const char *name)
{
    for (size_t i = 0; i < st->nsnaps; i++) {
        if (!strcmp(st->snaps[i].name, name))
            return st->snaps[i].id;
    }
    return 0;
}

int dest_extents_collect(void *ctx, uint64_t off, uint64_t len, bool exists,
                         struct error *err)
{
    struct dest_extents *x = ctx;

    (void)exists;
    (void)err;
    if ((x->n & (x->n - 1)) == 0) {
        size_t cap = x->n ? x->n * 2 : 16;

        x->off = xrealloc(x->off, cap * sizeof(*x->off));
        x->len = xrealloc(x->len, cap * sizeof(*x->len));
    }
    x->off[x->n] = off;
    x->len[x->n] = len;
    x->n++;
    return 0;
}

void dest_extents_release(struct dest_extents *x)
{
    free(x->off);
    free(x->len);
    memset(x, 0, sizeof(*x));
}

void dest_hashes_release(struct dest_hashes *h)
{
    free(h->hash);
    memset(h, 0, sizeof(*h));
}
