/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/copy.h: the data path. Moves the changed extents of one snapshot
 * (since an older one, or everything allocated) from an image to a diff
 * stream, from a diff stream into an image, or straight from image to
 * image.
 *
 * Reads and writes run as windows of parallel librbd aio requests in one
 * thread (no callbacks of our own); memory is bounded by the window,
 * whatever the image size. Ranges that read back as zeros (checked per
 * 4 KiB block) travel as zero records, never as data. Knows nothing of
 * snapshots' meaning, rounds or OpenStack: replicate.c decides those.
 */
#ifndef RBDMOVE_COPY_H
#define RBDMOVE_COPY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct image;
struct transport;
struct stream_reader;
struct stream_header;

typedef void progress_fn(void *ctx, uint64_t done, uint64_t total);

/*
 * Optional cancellation: returns true when the copy must stop (a signal
 * arrived). The copy then fails with ERROR_INTERRUPTED.
 */
typedef bool cancel_fn(void *ctx);

/* The most memory one copy's buffers may take (window x chunk_size). */
#define COPY_MEMORY_MAX ((size_t)1 << 30)

/*
 * The next unclaimed piece of a transfer split over parallel streams.
 * A stream claims one piece at a time, once fewer than 'ahead' of its own
 * are still queued (read or being read, not yet sent): a stream that
 * drains faster sends more, and the streams end together whatever the
 * layout of the data. A static split by chunk index ended them up to 3x
 * apart, and sent data laid out at every n-th chunk down one stream.
 * Claiming as far ahead as the window would let the first streams take a
 * small round's pieces before the others start.
 */
struct copy_claims {
    atomic_uint_fast64_t next;
    unsigned ahead; /* at least 2: one piece sent, the next one read */
};

/* One stream's place in the claims. */
struct copy_claim_cursor {
    uint64_t seen; /* pieces enumerated so far */
    uint64_t mine; /* the ordinal claimed last ... */
    bool claimed;  /* ... if any */
};

/*
 * Whether the next piece the stream enumerates is its own, claiming a new
 * one when its last claim is behind it; c NULL: every piece is. Every
 * piece goes to exactly one stream, whatever the interleaving, as long as
 * every stream enumerates the same pieces in the same order to the end.
 */
bool copy_claim_next(struct copy_claims *c, struct copy_claim_cursor *cur);

/* Whether the stream's next copy_claim_next claims a piece. */
bool copy_claim_due(const struct copy_claims *c,
                    const struct copy_claim_cursor *cur);

struct copy_params {
    size_t chunk_size;   /* bytes per aio request; default 4 MiB */
    unsigned window;     /* chunks in flight per image (bytes: window x
                            chunk_size; small requests: up to 16x as
                            many); default 8 */
    size_t zero_block;   /* zero detection granularity; default 4096 */
    bool whole_object;   /* enumerate whole objects (fast-diff) */
    bool commit_follows; /* the caller's next request of the destination
                            is its dest_commit: a remote transfer's own
                            answer is read with the commit's, which the
                            receiver does only if the transfer was whole
                            (one round trip less a round) */
    bool dst_is_zero;    /* destination known to read as zeros (fresh):
                            zero ranges need not be written */
    uint64_t resume_off; /* skip extents below this offset (resumed seed) */
    /* Parallel streams of one transfer: each walks the same changed
     * extents and sends the pieces (chunks) whose ordinal it claimed from
     * here; NULL: send them all. See copy_claims. */
    struct copy_claims *claims;
    progress_fn *progress;
    void *progress_ctx;
    cancel_fn *cancel;
    void *cancel_ctx;
    /* Called after each checkpoint_every bytes with an offset below which
     * everything is durably written (flushed); may be NULL. */
    int (*checkpoint)(void *ctx, uint64_t done_below, struct error *err);
    void *checkpoint_ctx;
    uint64_t checkpoint_every;
    /* Bytes the whole transfer covers, when the caller measured it already
     * (parallel streams); 0: measured here when progress is wanted. */
    uint64_t known_total;
    /* Bytes per second this copy may read at most (0: no limit): a
     * shared link or a busy cluster. */
    uint64_t bwlimit;
    /*
     * Seeds through a remote receiver: the receiver cannot call back, so
     * it records its own progress every checkpoint_every bytes as the
     * image metadata checkpoint_key = "checkpoint_prefix done=N" (after a
     * flush, N being an offset below which everything is written).
     */
    const char *checkpoint_key;
    const char *checkpoint_prefix;
    /* Applying a stream: called after the writes of each record up to
     * image offset end were submitted (end only grows). */
    void (*submitted)(void *ctx, uint64_t end);
    void *submitted_ctx;
    /* Ranges copied as well as the diff's, whatever it says of them
     * (ascending, not overlapping; NULL: none): a failback from a group's
     * point (migrate_failback.c). */
    const uint64_t *extra_off, *extra_len;
    size_t extra_n;
};

struct copy_stats {
    uint64_t extent_bytes; /* bytes covered by the changed extents */
    uint64_t data_bytes;   /* bytes sent or written as data */
    uint64_t zero_bytes;   /* bytes sent or written as zeros */
    uint64_t data_records;
    uint64_t zero_records;
    uint64_t stream_bytes; /* bytes of stream produced or consumed */
    double seconds;
    /* Of seconds, spent asking librbd for the changed extents (the
     * longest of parallel senders'): a round's enumeration cost. */
    double diff_seconds;
};

/* Fill p with the defaults. */
void copy_params_init(struct copy_params *p);

/*
 * Bytes and extents changed in src (open at the to-snapshot, or the head)
 * since from_snap (NULL: everything allocated).
 */
int copy_measure(struct image *src, const char *from_snap, bool whole_object,
                 uint64_t *bytes, uint64_t *extents,
                 struct error *err) MUST_CHECK;

/*
 * Write the diff of src since from_snap to t as an rbd diff v1 stream with
 * header h, ending with 'e'. Does not close t.
 */
int copy_send(struct image *src, const char *from_snap,
              const struct stream_header *h, const struct copy_params *p,
              struct transport *t, struct copy_stats *st,
              struct error *err) MUST_CHECK;

/*
 * Apply the data records of the stream r (whose header h was already
 * read) to dst, through END, then flush. Resizing and snapshots are the
 * caller's business. total (may be 0) is only for progress.
 */
int copy_apply(struct image *dst, struct stream_reader *r,
               const struct copy_params *p, uint64_t total,
               struct copy_stats *st, struct error *err) MUST_CHECK;

/*
 * Copy the diff of src since from_snap straight into dst (same cluster or
 * not), then flush dst.
 */
int copy_direct(struct image *src, const char *from_snap, struct image *dst,
                const struct copy_params *p, struct copy_stats *st,
                struct error *err) MUST_CHECK;

/*
 * Split [0, len) of buf, which holds the bytes at image offset off, into
 * runs of data and runs of zeros, checking blocks of block bytes aligned
 * on image offsets. fn is called for each run in order with is_zero; adjacent
 * runs of the same kind are merged. Stops and returns -1 when fn does.
 */
int copy_zero_runs(const char *buf, uint64_t off, size_t len, size_t block,
                   int (*fn)(void *ctx, size_t start, size_t len, bool is_zero,
                             struct error *err),
                   void *ctx, struct error *err) MUST_CHECK;

#endif
