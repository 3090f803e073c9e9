/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/dest.c: dispatch to a destination's ops. The optional ops
 * (hash_blocks, unlock) are checked here and nowhere else.
 */
#include "rbdmove/core/dest.h"

#include <stdlib.h>
#include <string.h>

#include "rbdmove/core/journal.h"

int dest_probe(struct dest *d, struct dest_state *st, struct error *err)
{
    return d->ops->probe(d, st, err);
}

int dest_create(struct dest *d, uint64_t size, int order, struct error *err)
{
    return d->ops->create(d, size, order, err);
}

int dest_resize(struct dest *d, uint64_t size, struct error *err)
{
    return d->ops->resize(d, size, err);
}

int dest_set_meta(struct dest *d, const char *key, const char *value,
                  struct error *err)
{
    return d->ops->set_meta(d, key, value, err);
}

void dest_batch(struct dest *d)
{
    if (d->ops->batch)
        d->ops->batch(d);
}

int dest_snap_create(struct dest *d, const char *name, struct error *err)
{
    return d->ops->snap_create(d, name, err);
}

int dest_snap_remove(struct dest *d, const char *name, struct error *err)
{
    return d->ops->snap_remove(d, name, err);
}

int dest_commit(struct dest *d, const char *snap, const char *key,
                const char *value, const char *remove_key, struct error *err)
{
    if (d->ops->commit)
        return d->ops->commit(d, snap, key, value, remove_key, err);
    if (d->ops->snap_create(d, snap, err) < 0 ||
        d->ops->set_meta(d, key, value, err) < 0 ||
        d->ops->set_meta(d, remove_key, NULL, err) < 0)
        return -1;
    return 0;
}

int dest_dirty(struct dest *d, const char *since, struct dest_extents *x,
               struct error *err)
{
    return d->ops->dirty(d, since, x, err);
}

int dest_transfer(struct dest *d, struct image *src, const char *from_snap,
                  const struct copy_params *p, struct copy_stats *st,
                  struct error *err)
{
    return d->ops->transfer(d, src, from_snap, p, st, err);
}

int dest_hash(struct dest *d, const char *snap, uint64_t block,
              struct dest_hashes *out, struct error *err)
{
    return d->ops->hash(d, snap, block, out, err);
}

int dest_hash_blocks(struct dest *d, const char *snap, uint64_t block,
                     const uint64_t *idx, size_t n, uint64_t *hashes,
                     struct error *err)
{
    if (!d->ops->hash_blocks)
        return error_set(err, ERROR_STATE, 0, "%s cannot hash single blocks",
                         d->name);
    return d->ops->hash_blocks(d, snap, block, idx, n, hashes, err);
}

char *dest_lock_self(struct dest *d)
{
    return d->ops->lock_self ? d->ops->lock_self(d) : NULL;
}

void dest_set_dead_owner(struct dest *d, const char *owner)
{
    if (d->ops->set_dead_owner && owner)
        d->ops->set_dead_owner(d, owner);
}

void dest_take_over_note(struct dest *d, const char *dir, const char *name)
{
    char *prev = journal_note_get(dir, name);
    char *self;

    dest_set_dead_owner(d, prev);
    self = dest_lock_self(d);
    if (self && (!prev || strcmp(self, prev)))
        journal_note_set(dir, name, self);
    free(prev);
    free(self);
}

int dest_rollback(struct dest *d, const char *snap, struct error *err)
{
    if (!d->ops->rollback)
        return error_set(err, ERROR_STATE, 0,
                         "%s cannot be rolled back to '%s' from here (a "
                         "receiver over SSH does not offer it): run 'rbd "
                         "snap rollback' on its cluster",
                         d->name, snap);
    return d->ops->rollback(d, snap, err);
}

int dest_unlock(struct dest *d, struct error *err)
{
    if (!d->ops->unlock)
        return 0;
    return d->ops->unlock(d, err);
}

void dest_free(struct dest *d)
{
    char *name;

    if (!d)
        return;
    name = d->name;
    d->ops->free(d);
    free(name);
}
