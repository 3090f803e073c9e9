/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/dest.h: the destination image of a copy, wherever it lives.
 *
 * replicate.c drives rounds against this interface and does not know
 * whether the image is reached through librbd on this machine
 * (dest_local.c) or through an rbdmove receiver on a remote host
 * (dest_remote.c, which runs `rbdmove receive` over transports the CLI
 * opens). The receiver itself serves requests with dest_local, so both
 * sides share one implementation of every rule.
 */
#ifndef RBDMOVE_DEST_H
#define RBDMOVE_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct cluster;
struct copy_params;
struct copy_stats;
struct image;
struct image_snap;
struct transport;
typedef void progress_fn(void *ctx, uint64_t done, uint64_t total);

/* Image metadata keys rbdmove keeps on a destination. */
#define DEST_META_BASE "rbdmove.base"       /* the snapshot both sides share */
#define DEST_META_SEED "rbdmove.seed"       /* a seed in progress */
#define DEST_META_PENDING "rbdmove.pending" /* a round in progress */

/* The head, where a request names a snapshot in the receiver's protocol
 * (no snapshot name rbdmove accepts begins with '-'). */
#define DEST_HEAD_TOKEN "-"

struct dest_state {
    bool exists;
    uint64_t size;
    int order;
    char *image_id;
    /* Where the image is, for checks and messages: the cluster's fsid and
     * monitors (NULL: the destination cannot tell, e.g. an older
     * receiver) and when the image was created (0: unknown). */
    char *cluster_fsid;
    char *cluster_mons;
    int64_t created;
    char *meta_base;    /* NULL when absent */
    char *meta_seed;    /* NULL when absent */
    char *meta_pending; /* NULL when absent */
    struct image_snap *snaps;
    size_t nsnaps;
};

void dest_state_release(struct dest_state *st);
/* The id of snapshot name in st, 0 when absent. */
uint64_t dest_state_snap_id(const struct dest_state *st, const char *name);

/* An extent list (whole objects) for the dirty check. */
struct dest_extents {
    uint64_t *off;
    uint64_t *len;
    size_t n;
};
void dest_extents_release(struct dest_extents *x);
/* An image_diff_fn (image.h) that appends each extent to the struct
 * dest_extents ctx. */
int dest_extents_collect(void *ctx, uint64_t off, uint64_t len, bool exists,
                         struct error *err);

/* Per-block hashes of a snapshot, for verify. hash[i] is of block i. */
struct dest_hashes {
    uint64_t block;
    uint64_t size;
    uint64_t nblocks;
    uint64_t *hash;
};
void dest_hashes_release(struct dest_hashes *h);

struct dest;

struct dest_ops {
    int (*probe)(struct dest *d, struct dest_state *st, struct error *err);
    int (*create)(struct dest *d, uint64_t size, int order, struct error *err);
    int (*resize)(struct dest *d, uint64_t size, struct error *err);
    /* value NULL removes the key. */
    int (*set_meta)(struct dest *d, const char *key, const char *value,
                    struct error *err);
    int (*snap_create)(struct dest *d, const char *name, struct error *err);
    int (*snap_remove)(struct dest *d, const char *name, struct error *err);
    /* From now until its next request, create and set_meta may travel
     * with that request (a receiver over a long link: one round trip for
     * all), and a failure of theirs is that request's. NULL: nothing to
     * gain, each is done at once. */
    void (*batch)(struct dest *d);
    /* Objects written since snapshot since (whole-object extents). */
    int (*dirty)(struct dest *d, const char *since, struct dest_extents *x,
                 struct error *err);
    /*
     * Write the diff of src (open at its to-snapshot) since from_snap into
     * the head, then flush. Resizing is done before, by resize().
     */
    int (*transfer)(struct dest *d, struct image *src, const char *from_snap,
                    const struct copy_params *p, struct copy_stats *st,
                    struct error *err);
    /* Hash snapshot snap (NULL: the head) in blocks of block bytes. */
    int (*hash)(struct dest *d, const char *snap, uint64_t block,
                struct dest_hashes *out, struct error *err);
    /* Hash only the blocks idx[0..n) of snap (NULL: the head) into hashes.
     * NULL: not supported (dest_hash_blocks fails). */
    int (*hash_blocks)(struct dest *d, const char *snap, uint64_t block,
                       const uint64_t *idx, size_t n, uint64_t *hashes,
                       struct error *err);
    /*
     * Give up the image's exclusive lock, for an image a server is about to
     * use: later operations (tidying snapshots and marks) open it without
     * taking the lock, which its new user's librbd will then hold. NULL:
     * this destination holds no lock.
     */
    int (*unlock)(struct dest *d, struct error *err);
    /* Make the head snapshot snap again (a failback that discards the
     * writes an original took after the common point). NULL: not offered
     * by this destination (dest_rollback fails). */
    int (*rollback)(struct dest *d, const char *snap, struct error *err);
    /* The address the lock this destination takes will carry (owned), or
     * NULL: it is not taken in this process (a remote receiver). NULL op:
     * likewise. */
    char *(*lock_self)(struct dest *d);
    /* An earlier run of the same move, dead (its caller holds that run's
     * journal), may still hold the image's lock as owner: break it at once
     * when taking the lock (image_lock_break_dead). NULL op: ignored. */
    void (*set_dead_owner)(struct dest *d, const char *owner);
    /* dest_commit in one go (one round trip for a remote destination);
     * NULL: dest_commit makes the three calls. */
    int (*commit)(struct dest *d, const char *snap, const char *key,
                  const char *value, const char *remove_key, struct error *err);
    void (*free)(struct dest *d);
};

struct dest {
    const struct dest_ops *ops;
    char *name; /* for messages: "pool/image" or "ssh://host/pool/image" */
    /* Reads in flight when this side hashes here (dest_hash of a local
     * destination); 0: VERIFY_WINDOW. See verify_window(). */
    unsigned hash_window;
};

/*
 * Calls through d->ops (dest.c); callers use these, never the table. Each
 * returns what the op returns.
 */
int dest_probe(struct dest *d, struct dest_state *st,
               struct error *err) MUST_CHECK;
int dest_create(struct dest *d, uint64_t size, int order,
                struct error *err) MUST_CHECK;
int dest_resize(struct dest *d, uint64_t size, struct error *err) MUST_CHECK;
/* value NULL removes the key. */
int dest_set_meta(struct dest *d, const char *key, const char *value,
                  struct error *err) MUST_CHECK;
int dest_snap_create(struct dest *d, const char *name,
                     struct error *err) MUST_CHECK;
/* The op batch, when d has it. Only before calls whose effect nothing
 * local depends on until the next request (a seed's create and mark,
 * before its transfer). */
void dest_batch(struct dest *d);
int dest_snap_remove(struct dest *d, const char *name,
                     struct error *err) MUST_CHECK;
/*
 * The end of a round: create snapshot snap, set key to value, remove
 * remove_key, in that order, stopping at the first failure (which is the
 * answer): a snapshot that failed leaves the marks as they were.
 */
int dest_commit(struct dest *d, const char *snap, const char *key,
                const char *value, const char *remove_key,
                struct error *err) MUST_CHECK;
int dest_dirty(struct dest *d, const char *since, struct dest_extents *x,
               struct error *err) MUST_CHECK;
int dest_transfer(struct dest *d, struct image *src, const char *from_snap,
                  const struct copy_params *p, struct copy_stats *st,
                  struct error *err) MUST_CHECK;
int dest_hash(struct dest *d, const char *snap, uint64_t block,
              struct dest_hashes *out, struct error *err) MUST_CHECK;
/* Fails with ERROR_STATE when d cannot hash single blocks (no
 * hash_blocks op, e.g. dest_rbdcli). */
int dest_hash_blocks(struct dest *d, const char *snap, uint64_t block,
                     const uint64_t *idx, size_t n, uint64_t *hashes,
                     struct error *err) MUST_CHECK;
/* Calls of lock_self and set_dead_owner; NULL / nothing without them. */
char *dest_lock_self(struct dest *d);
void dest_set_dead_owner(struct dest *d, const char *owner);
/*
 * For the holder of the lock NAME in dir (journal_lock_name): the client
 * its note names, d's lock owner in the run that held it before, is dead
 * (set_dead_owner: its lock is broken at once), and the note now names
 * ours (journal_note_get/set).
 */
void dest_take_over_note(struct dest *d, const char *dir, const char *name);
/* ERROR_STATE when d cannot (no rollback op). */
int dest_rollback(struct dest *d, const char *snap,
                  struct error *err) MUST_CHECK;
/* 0, doing nothing, when d holds no lock (no unlock op). */
int dest_unlock(struct dest *d, struct error *err) MUST_CHECK;
/* NULL-safe. */
void dest_free(struct dest *d);

/* A destination reached with librbd from this process. Keeps a reference
 * to cl, which must outlive it. */
struct dest *dest_local_new(struct cluster *cl, const char *pool,
                            const char *image);

/*
 * Runs command (already quoted for the remote shell) on the destination
 * host and returns a transport to it (the CLI opens an SSH exec channel).
 */
typedef int dest_remote_exec_fn(void *ctx, const char *command,
                                struct transport **out, struct error *err);

/*
 * Where a data session goes: the Unix socket *socket_path on the
 * destination host, else *command (already quoted). Blocks until the
 * receiver has said where; < 0 when the session is no longer wanted.
 */
typedef int dest_remote_await_fn(void *arg, const char **socket_path,
                                 const char **command);

/*
 * Opens a data session: logs in to the destination host, then asks await
 * (with await_arg) where to, so that the login can start before the
 * receiver has said; then straight to the socket where the host allows it
 * (*direct set: no command runs there), else by running the command, as
 * dest_remote_exec_fn.
 */
typedef int dest_remote_stream_fn(void *ctx, dest_remote_await_fn *await,
                                  void *await_arg, struct transport **out,
                                  bool *direct, struct error *err);

/*
 * Called once the host is known to be the one meant (its key verified),
 * while the login goes on, with the seconds its connection and key
 * exchange took: the first hint of how far away it is.
 */
typedef void dest_remote_verified_fn(void *arg, double seconds);

/* As dest_remote_exec_fn, calling verified(arg, ...) on the way. */
typedef int dest_remote_exec_hint_fn(void *ctx, const char *command,
                                     dest_remote_verified_fn *verified,
                                     void *arg, struct transport **out,
                                     struct error *err);

struct dest_remote_params {
    dest_remote_exec_fn *exec;
    void *exec_ctx;
    /* The control session's, where it can tell; NULL: exec. */
    dest_remote_exec_hint_fn *exec_hint;
    dest_remote_stream_fn *stream; /* NULL: every data session by exec */
    const char *program;           /* rbdmove on that host; NULL: "rbdmove" */
    unsigned streams;              /* parallel data sessions */
    int compress_level;            /* zstd level, 0: none */
    uint64_t bwlimit; /* bytes per second over all streams, 0: none */
};

/*
 * A destination served by `rbdmove receive` on another host: starts the
 * control session (which takes the image's lock once it exists) and checks
 * the receiver's protocol version. name is for messages. conf and id are
 * the ceph configuration path and client id there (conf may be NULL).
 */
int dest_remote_open(const struct dest_remote_params *p, const char *name,
                     const char *conf, const char *id, const char *pool,
                     const char *image, struct dest **out,
                     struct error *err) MUST_CHECK;

struct dest_rbdcli_params {
    dest_remote_exec_fn *exec;
    void *exec_ctx;
    uint64_t bwlimit; /* bytes per second of the transfer and export
                         streams, 0: none */
};

/*
 * A destination on a host that has the stock rbd CLI but no rbdmove
 * (dest_rbdcli.c, --receiver=rbd): every operation runs `rbd` there
 * through p->exec, one command per request, and a transfer is one plain
 * rbd diff v1 stream (no to-snap) piped into `rbd import-diff -`; hash
 * reads the snapshot back whole with `rbd export`. name is for messages;
 * conf and id are the ceph configuration path and client id there (NULL:
 * the host's defaults). Checks that rbd runs there before returning.
 * Fails with ERROR_USAGE, before running anything, when pool, image or id
 * is not name_is_safe or conf is not printable text; with the exec
 * callback's error when the host cannot be reached; with ERROR_STATE when
 * rbd does not run there. On success *out is a new dest (dest_free).
 */
int dest_rbdcli_open(const struct dest_rbdcli_params *p, const char *name,
                     const char *conf, const char *id, const char *pool,
                     const char *image, struct dest **out,
                     struct error *err) MUST_CHECK;

/* Progress of a local destination's hash (verify); fn NULL: none. */
void dest_local_set_progress(struct dest *d, progress_fn *fn, void *ctx);

/* The open, locked head of a local destination (borrowed), for the
 * receiver's parallel appliers. d must come from dest_local_new. */
int dest_local_head(struct dest *d, struct image **out,
                    struct error *err) MUST_CHECK;

#endif
