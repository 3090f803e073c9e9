/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/image.h: one open RBD image (or snapshot of it) on one cluster.
 *
 * Owns the ioctx and the rbd_image_t; knows nothing about transports or
 * OpenStack. Every librbd error is turned into ERROR_CEPH here and names
 * the image as pool/image@snap. Also the asynchronous I/O used by the copy
 * engine: a struct image_aio wraps one librbd completion, released in
 * image_aio_wait() and nowhere else.
 */
#ifndef RBDMOVE_IMAGE_H
#define RBDMOVE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct cluster;
struct image;
struct image_aio;

/* "pool/image" split; both parts checked against name_is_safe(). */
struct image_spec {
    char *pool;
    char *name;
    char *snap; /* NULL when the spec had no @snap */
};

/*
 * Parse "POOL/IMAGE" or "POOL/IMAGE@SNAP". snap_rule: 0 = no @snap allowed,
 * 1 = @snap required, 2 = optional. ERROR_USAGE on anything else.
 */
int image_spec_parse(const char *s, int snap_rule, struct image_spec *out,
                     struct error *err) MUST_CHECK;
void image_spec_release(struct image_spec *spec);

/*
 * Open pool/name, at snapshot snap when not NULL (then read-only). A
 * read_only open of the head takes no exclusive lock.
 */
int image_open(struct cluster *cl, const char *pool, const char *name,
               const char *snap, bool read_only, struct image **out,
               struct error *err) MUST_CHECK;
/* NULL-safe; also safe on a half-opened image. */
void image_close(struct image *img);
/* Handles whose close gave up waiting for a cluster that stopped
 * answering (see image.c); their cluster must not be shut down. */
unsigned image_abandoned_handles(void);

/* ENOENT is not an error: *exists tells. */
int image_exists(struct cluster *cl, const char *pool, const char *name,
                 bool *exists, struct error *err) MUST_CHECK;

/*
 * Create pool/name with size bytes, objects of 1 << order bytes, and the
 * features layering, exclusive-lock, object-map, fast-diff, deep-flatten.
 */
int image_create(struct cluster *cl, const char *pool, const char *name,
                 uint64_t size, int order, struct error *err) MUST_CHECK;

/* "pool/image@snap" (borrowed). */
const char *image_name(const struct image *img);
uint64_t image_size(const struct image *img);
/* Bytes per object (1 << order). */
uint64_t image_object_size(const struct image *img);
int image_order(const struct image *img);
/* The image's id (borrowed); stable across renames. */
const char *image_id(const struct image *img);
/* When the image was created (seconds since the epoch), 0 if unknown. */
int64_t image_create_time(struct image *img);
/* True when fast-diff is enabled and its object map is valid. */
bool image_fast_diff_valid(struct image *img);

int image_resize(struct image *img, uint64_t size, bool allow_shrink,
                 struct error *err) MUST_CHECK;

/* ---- snapshots --------------------------------------------------------- */

struct image_snap {
    uint64_t id;
    uint64_t size;
    char *name;
};

/* All snapshots, oldest first. Free with image_snaps_free. */
int image_snap_list(struct image *img, struct image_snap **snaps, size_t *n,
                    struct error *err) MUST_CHECK;
void image_snaps_free(struct image_snap *snaps, size_t n);
/* *id = 0 and *exists = false when there is no such snapshot. */
int image_snap_lookup(struct image *img, const char *name, bool *exists,
                      uint64_t *id, struct error *err) MUST_CHECK;
int image_snap_create(struct image *img, const char *name,
                      struct error *err) MUST_CHECK;
/* A missing snapshot is not an error. */
int image_snap_remove(struct image *img, const char *name,
                      struct error *err) MUST_CHECK;

/* Make the image's head what snapshot name holds (every object is
 * rewritten; the snapshots stay). The caller should hold the exclusive
 * lock, so that no other client writes meanwhile. */
int image_snap_rollback(struct image *img, const char *name,
                        struct error *err) MUST_CHECK;

/* ---- groups: one instant for several images ---------------------------- */

/*
 * Open pool/name read-only at its snapshot that group snapshot gsnap of
 * group gpool/group made. ENOENT (ERROR_CEPH) when it has none.
 */
int image_open_group_snap(struct cluster *cl, const char *pool,
                          const char *name, const char *gpool,
                          const char *group, const char *gsnap,
                          struct image **out, struct error *err) MUST_CHECK;
/* The group the image belongs to: *group NULL when none, else owned, and
 * *pool_id its pool's id. */
int image_group_of(struct image *img, char **group, int64_t *pool_id,
                   struct error *err) MUST_CHECK;
/* Create group gpool/group; one that exists already is fine. */
int image_group_create(struct cluster *cl, const char *gpool, const char *group,
                       struct error *err) MUST_CHECK;
/* Add pool/image to it; an image already in it is fine. */
int image_group_add(struct cluster *cl, const char *gpool, const char *group,
                    const char *pool, const char *image,
                    struct error *err) MUST_CHECK;
/*
 * Snapshot every image of the group at one instant: librbd asks each
 * image's clients to quiesce (and waits for them) first, and a client
 * that cannot is an error.
 */
int image_group_snap_create(struct cluster *cl, const char *gpool,
                            const char *group, const char *snap,
                            struct error *err) MUST_CHECK;
/* Remove the group with its snapshots (its images stay, out of it); a
 * missing group is fine. */
int image_group_remove(struct cluster *cl, const char *gpool, const char *group,
                       struct error *err) MUST_CHECK;
/* *exists: group gpool/group exists. */
int image_group_exists(struct cluster *cl, const char *gpool, const char *group,
                       bool *exists, struct error *err) MUST_CHECK;

/* ---- metadata (image-level key/value) ----------------------------------- */

/* *value = NULL when the key is absent; else an owned string. */
int image_meta_get(struct image *img, const char *key, char **value,
                   struct error *err) MUST_CHECK;
int image_meta_set(struct image *img, const char *key, const char *value,
                   struct error *err) MUST_CHECK;
/* A missing key is not an error. */
int image_meta_remove(struct image *img, const char *key,
                      struct error *err) MUST_CHECK;

/*
 * Take the image's exclusive lock and keep it until the image is closed:
 * librbd then refuses to hand it to another client (a second rbdmove, a
 * hypervisor, an operator's tool), whose writes fail instead of
 * interleaving with ours. A lock left by a dead client is broken (and that
 * client blocklisted) once its watch has expired.
 */
int image_lock_exclusive(struct image *img, struct error *err) MUST_CHECK;

/*
 * The exclusive lock is held by owner (an address, as cluster_addr gives
 * one): break it (librbd blocklists owner), without waiting for owner's
 * watch to expire as a lock request does (30 s by default). Only for an
 * owner the caller has proved dead: one of its own earlier runs, whose
 * journal it now holds. *broke: it was held, and is broken. Not held by
 * owner but still watched by it (it gave the lock back, then died):
 * owner is blocklisted, so that its watch goes at once. Owner is this
 * very client: nothing done.
 */
int image_lock_break_dead(struct image *img, const char *owner, bool *broke,
                          struct error *err) MUST_CHECK;

/*
 * Number of clients watching the image (a hypervisor holding it open),
 * not counting the client whose global id is self (0: count all).
 */
int image_watcher_count(struct image *img, uint64_t self, int *count,
                        struct error *err) MUST_CHECK;

/* ---- extents ------------------------------------------------------------ */

/*
 * Called for each changed extent, in ascending order. exists = false means
 * the range was discarded (reads as zeros). Return 0 to go on, non-zero to
 * stop (the value is passed back as the result of image_diff as -1 with
 * the callback's error already in err).
 */
typedef int image_diff_fn(void *ctx, uint64_t off, uint64_t len, bool exists,
                          struct error *err);

/*
 * Changed extents of the open image (or snapshot) since from_snap (NULL:
 * everything allocated, parent data included) within [off, off + len).
 * whole_object reports whole objects (fast when fast-diff is valid).
 * Extents are checked to be ascending and non-overlapping (ceph tracker
 * 53784 broke that once): a violation is an ERROR_CEPH, not a silent
 * mis-copy.
 */
int image_diff(struct image *img, const char *from_snap, uint64_t off,
               uint64_t len, bool whole_object, image_diff_fn *fn, void *ctx,
               struct error *err) MUST_CHECK;

/* *bytes: how much of the image changed since from_snap (image_diff over
 * all of it, exact extents). */
int image_diff_bytes(struct image *img, const char *from_snap, uint64_t *bytes,
                     struct error *err) MUST_CHECK;

/* ---- asynchronous I/O -----------------------------------------------------
 */

/* Start a read of len bytes at off into buf. */
int image_aio_read(struct image *img, uint64_t off, size_t len, void *buf,
                   struct image_aio **out, struct error *err) MUST_CHECK;
/* Start a write; buf must stay valid until image_aio_wait returns. */
int image_aio_write(struct image *img, uint64_t off, size_t len,
                    const void *buf, struct image_aio **out,
                    struct error *err) MUST_CHECK;
/* Start making [off, off + len) read as zeros (write_zeroes, never a
 * discard that librbd may skip for partial objects). */
int image_aio_zero(struct image *img, uint64_t off, uint64_t len,
                   struct image_aio **out, struct error *err) MUST_CHECK;
/*
 * Wait for the operation, release it, and fail if it failed or (reads)
 * returned fewer bytes than asked. aio may be NULL (nothing to wait for).
 */
int image_aio_wait(struct image_aio *aio, struct error *err) MUST_CHECK;
/* True when the operation has completed (does not release it). */
bool image_aio_done(struct image_aio *aio);

int image_flush(struct image *img, struct error *err) MUST_CHECK;

#endif
