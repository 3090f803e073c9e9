/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/replicate.h: keep a destination image equal to a snapshot of a
 * live source, round after round.
 *
 * A seed copies a snapshot of the source; each round then snapshots the
 * source again and applies only the difference. After every round exactly
 * one snapshot is shared by both sides (the base); the destination's
 * metadata says which source image and snapshot (by id) it matches, and a
 * destination whose head or base does not match is refused instead of
 * receiving a diff onto the wrong data. Interrupted seeds resume from
 * their last checkpoint, interrupted rounds are redone (applying a diff
 * again is idempotent).
 *
 * The steps are exposed one by one so that the move can put its cutover
 * between the last two rounds; replicate_run() composes them for copy and
 * sync.
 */
#ifndef RBDMOVE_REPLICATE_H
#define RBDMOVE_REPLICATE_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/core/copy.h"
#include "rbdmove/base/error.h"

struct cluster;
struct dest;
struct image;

enum replicate_event_kind {
    REPLICATE_EV_INFO,        /* msg says what happens */
    REPLICATE_EV_ROUND_START, /* round, snap, estimate */
    REPLICATE_EV_ROUND_DONE,  /* round, snap, stats */
};

struct replicate_event {
    enum replicate_event_kind kind;
    unsigned round; /* 0 = seed */
    const char *snap;
    uint64_t estimate; /* bytes the round is expected to move */
    const struct copy_stats *stats;
    const char *msg;
};

typedef void replicate_event_fn(void *ctx, const struct replicate_event *ev);

struct replicate_opts {
    uint64_t converge;   /* stop when the remaining delta is below */
    unsigned max_rounds; /* incremental rounds at most, after the seed */
    bool allow_shrink;   /* follow a source that shrank */
    /* Only tidy up (replicate_drop_base) a destination that a server now
     * uses: give up its lock first (dest unlock) and check nothing. */
    bool tidy_only;
    /*
     * The destination is a volume's image that its cloud made (move,
     * sync): never create it. Absent, it is refused (the cluster or pool
     * is not the volume's); unmarked (not written by rbdmove yet), it must
     * be expect_size bytes (0: any) and not older than created_after
     * (seconds since the epoch, 0: any).
     */
    bool must_exist;
    uint64_t expect_size;
    int64_t created_after;
    /* With must_exist: the fsid of the cluster the cloud keeps the volume
     * on (NULL: unknown); a destination on another cluster is refused. */
    const char *expect_fsid;
    struct copy_params params;
    /*
     * The caller made the destination's head equal to this snapshot
     * itself (a failback that rolled the original back: a rollback
     * rewrites every object, so the head looks written since): while it
     * is the base, the head is not tested for writes since. NULL: always
     * tested.
     */
    const char *trust_head_at;
    /*
     * Called with event_ctx and a source snapshot's name before it is
     * created: the caller records it, since a run killed while the monitor
     * creates it leaves a snapshot that no mark names. < 0 fails the round
     * (nothing created).
     */
    int (*snap_intent)(void *ctx, const char *name, struct error *err);
    /* A name an earlier run recorded so: removed from the source with the
     * retired snapshots, when no mark names it and the destination does
     * not hold it. NULL: none. */
    const char *orphan;
    /* Recovery points (sync --keep): the destination keeps the snapshots
     * rbdmove made that this policy keeps (retention.h; the base always),
     * and loses the others even where the source no longer has them; the
     * source keeps only the base. NULL (move, copy): earlier snapshots go
     * where both sides hold them. */
    const struct retention *keep;
    /* Tests: seconds added to the clock that names the snapshots and
     * judges their age (RBDMOVE_TEST_CLOCK_OFFSET). */
    int64_t clock_offset;
    /*
     * A snapshot of the source the caller took just before the open
     * (replicate_snapshot_early; NULL: none), with its id: the first
     * snapshot a seed or round would create, so that taking it overlapped
     * something else (copy over SSH: the login). replicate_close removes
     * it from the source when no round used it. Copied.
     */
    const char *early_snap;
    uint64_t early_snap_id;
    replicate_event_fn *event;
    void *event_ctx;
};

void replicate_opts_init(struct replicate_opts *o);

struct replicate;

/*
 * Open the source pool/image on src_cl and check the destination: absent
 * (it will be created, unless must_exist), empty and unmarked (adopted),
 * or marked by an earlier run from this very source with an untouched
 * head. The source itself (same cluster, same image) is refused, and so
 * is anything else, with ERROR_STATE. Keeps references to src_cl and dst.
 */
int replicate_open(struct cluster *src_cl, const char *pool, const char *image,
                   struct dest *dst, const struct replicate_opts *o,
                   struct replicate **out, struct error *err) MUST_CHECK;
void replicate_close(struct replicate *r);

/*
 * Snapshot pool/image now, named as rounds name theirs (*name owned, *id
 * its id), for replicate_opts.early_snap. It changes the source before
 * the destination is checked, and is removed again by replicate_close,
 * or by replicate_snapshot_drop when the open never came.
 */
int replicate_snapshot_early(struct cluster *cl, const char *pool,
                             const char *image, int64_t clock_offset,
                             char **name, uint64_t *id,
                             struct error *err) MUST_CHECK;
/* Remove such a snapshot; failures are ignored (it is named as rbdmove's,
 * and no mark names it). */
void replicate_snapshot_drop(struct cluster *cl, const char *pool,
                             const char *image, const char *name);

/* Every snapshot rbdmove makes is named REPLICATE_SNAP_PREFIX, a UTC
 * time and a random suffix. */
#define REPLICATE_SNAP_PREFIX "rbdmove-"
/* name is one of rbdmove's snapshots (its prefix, and a safe name). */
bool replicate_snap_is_ours(const char *name);

/*
 * A point of a crash-consistent group (sync --server) is a snapshot of
 * each image taken just before the group's snapshot, named as the group
 * snapshot and ending in REPLICATE_GROUP_SUFFIX: the next diff starts from
 * it (librbd diffs only from a user snapshot), but its data is read from
 * the group snapshot of the image's group. A diff from the snapshot before
 * the group's one covers all that changed since the group's one.
 */
#define REPLICATE_GROUP_SUFFIX "-g"
char *replicate_group_snap_name(int64_t clock_offset);
bool replicate_snap_is_group(const char *name);
/* Open pool/image at snap read-only: for a group's point of an image in a
 * group, at the group snapshot of that name (ENOENT when it is gone). */
int replicate_open_snap(struct cluster *cl, const char *pool, const char *image,
                        const char *snap, struct image **out,
                        struct error *err) MUST_CHECK;

/* Remove the source's group points (replicate_snap_is_group) that no
 * mark names: taken by a group sync that stopped before this copy's round
 * began. The caller holds the group's sync locks. */
int replicate_remove_group_strays(struct replicate *r,
                                  struct error *err) MUST_CHECK;
/* Hand the open replicate an early snapshot (as replicate_opts.early_snap)
 * taken after the open. */
void replicate_set_early(struct replicate *r, const char *snap, uint64_t id);
/* The early snapshot has not been used by a seed or round yet. */
bool replicate_early_pending(const struct replicate *r);

/* The snapshot both sides share, NULL before the seed (borrowed). */
const char *replicate_base(const struct replicate *r);
/* Rounds done in this run, the seed not counted. */
unsigned replicate_rounds(const struct replicate *r);

/*
 * Finish whatever an interrupted run left (seed or round), or seed when
 * there is no base yet. No-op when a base exists and nothing is pending.
 */
int replicate_seed(struct replicate *r, struct error *err) MUST_CHECK;

/* Bytes changed on the source head since the base. */
int replicate_delta(struct replicate *r, uint64_t *bytes,
                    struct error *err) MUST_CHECK;

/* One round: snapshot the source, move the diff since the base, make the
 * new snapshot the base on both sides. The old base stays on both sides
 * (a removal is a monitor update, up to a second) until
 * replicate_remove_retired. */
int replicate_round(struct replicate *r, struct copy_stats *st,
                    struct error *err) MUST_CHECK;

/*
 * The final round of a move: move the source head's changes since the
 * base into the destination head, with no snapshot on either side (each
 * snapshot is a monitor update, up to a second of downtime). Only for a
 * source nobody can write any more (detached, no watchers): then the
 * destination head equals the source head. The base stays the base; the
 * destination is marked pending towards the head, so that a rerun checks
 * it like an interrupted round, and a later round from the base (after a
 * rollback) covers what this one wrote.
 */
int replicate_final(struct replicate *r, struct copy_stats *st,
                    struct error *err) MUST_CHECK;

/*
 * Remove the bases that later rounds replaced, on both sides: the
 * snapshots with rbdmove's names that the destination and the source both
 * hold, other than the ones the destination's marks name. replicate_seed
 * and replicate_run call it; a move calls it through replicate_drop_base.
 */
int replicate_remove_retired(struct replicate *r, struct error *err) MUST_CHECK;

/*
 * The end of a move: remove the retired snapshots, the base snapshot on
 * both sides and the destination's marks; no later run can continue from
 * it. Snapshots that are already gone are fine (an interrupted earlier
 * attempt).
 */
int replicate_drop_base(struct replicate *r, struct error *err) MUST_CHECK;

/* Cancel checks on or off (the cutover must not stop half way). */
void replicate_set_cancel(struct replicate *r, cancel_fn *fn, void *ctx);

/*
 * Seed if needed, then rounds while the delta is at least o->converge,
 * at most o->max_rounds, and at least one round when anything changed
 * since an existing base; then remove the retired snapshots. *converged
 * tells whether the last delta measured was below the threshold.
 */
int replicate_run(struct replicate *r, bool *converged,
                  struct error *err) MUST_CHECK;

#endif
