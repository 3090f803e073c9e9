/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate.h: the move of a Cinder volume to another region, with
 * seconds of downtime (`rbdmove move`), and its resume and abort.
 *
 * Pre-flight as plan.c; create the destination volume; seed and rounds
 * (replicate.c) until the predicted final round fits the downtime budget;
 * then the cutover: detach through Nova, wait until the volume is
 * available and nobody else watches its image, final round, verify the
 * blocks it touched (the base before it was verified in full while the
 * server still ran), attach the destination volume, wait until in-use.
 * A failure between detach and attach re-attaches the source. Every step
 * is recorded in a journal (journal.h) before it is taken, so a move
 * killed anywhere is finished by migrate_run on the same journal, or
 * undone by migrate_abort.
 *
 * This is the one core module that talks to OpenStack (with plan.c, its
 * pre-flight half).
 */
#ifndef RBDMOVE_MIGRATE_H
#define RBDMOVE_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/core/copy.h"
#include "rbdmove/base/error.h"
#include "rbdmove/core/plan.h"

struct dest;
struct journal;

/* Build the destination for pool/image (local librbd or SSH receiver). */
typedef int migrate_dest_fn(void *ctx, const char *pool, const char *image,
                            struct dest **out, struct error *err);

/* Auto-converge limited the source image's writes, or lifted the limit
 * (a "throttle" event). Rates in bytes/s; NAN: not known. */
struct migrate_throttle {
    bool released;          /* false: a limit was set */
    unsigned level;         /* 1..3, the step of the ladder (converge.h) */
    unsigned percent;       /* of rate_before: 50, 30, 10 */
    uint64_t limit_bps;     /* the limit set (released: the last one) */
    double rate_before_bps; /* the guest's write rate before the first limit */
    double rate_during_bps; /* measured under the limit (a round after) */
    double throttled_s;     /* released: how long the limit was on */
};

struct migrate_event {
    const char *phase; /* "preflight", "create", "seed", "round", "throttle",
                          "detach", "final", "verify", "attach",
                          "rollback", "cleanup", "done", "info",
                          "failover" */
    const char *msg;   /* what happened, for people */
    unsigned round;
    const struct copy_stats *stats;          /* after a round, else NULL */
    const struct migrate_throttle *throttle; /* "throttle", else NULL */
};

typedef void migrate_event_fn(void *ctx, const struct migrate_event *ev);

/*
 * Wait for this move's turn to cut over (a batch lets one move at a time
 * cut over to each destination server). Called once the rounds converged,
 * before the check and the detach; the turn is kept until the process
 * ends. dst_server: the destination server's id as Nova resolved it (never
 * the name an operator typed: two jobs naming one server differently must
 * share a turn). *waited: the seconds it waited, after which the move
 * catches up with rounds again. -1 with ERROR_INTERRUPTED on a signal.
 */
typedef int migrate_gate_fn(void *ctx, const char *dst_server, double *waited,
                            struct error *err);

struct migrate_opts {
    struct plan_options plan;
    const char *src_conf, *src_id; /* the source cluster, from here */
    const char *src_pool;          /* NULL: from Cinder, else "volumes" */
    const char *dst_pool;          /* NULL: from Cinder, else "volumes" */
    migrate_dest_fn *make_dest;
    void *make_dest_ctx;
    double max_downtime; /* seconds, default 10 */
    bool force_cutover;  /* cut over even when rounds do not converge */
    bool delete_source;  /* delete the source volume after success */
    bool full_verify;    /* verify the last base in full before cutover */
    /* When the rounds do not converge, limit the source image's writes
     * (its conf_rbd_qos_write_bps_limit) step by step before giving up;
     * the limit is lifted when the cutover starts, and on any failure,
     * resume or abort. Default on. */
    bool auto_converge;
    uint64_t min_write_rate; /* bytes/s never limited below; default 1 MiB */
    unsigned max_rounds;     /* default 20 */
    double detach_timeout;   /* default 120 s */
    double attach_timeout;   /* default 120 s */
    int ceph_timeout;        /* every Ceph operation, seconds; default 60 */
    /*
     * A failback (`rbdmove failback`, read by a new move only; its journal
     * keeps it): plan.volume is a copy sync made that failover put to
     * work, in plan.src's region, and the destination is the volume it is
     * a copy of, in plan.dst's region, which holds their common point:
     * only what changed since that point is copied, and the original is
     * never created or deleted. plan.dst_server NULL: the server the
     * original was attached to when it was last synced. Refused when the
     * original was written after the common point (split-brain), unless
     * discard_primary_changes: then those writes are rolled back first.
     */
    bool failback;
    bool discard_primary_changes;
    struct copy_params params;
    migrate_event_fn *event;
    void *event_ctx;
    migrate_gate_fn *gate; /* NULL: the cutover waits for nothing */
    void *gate_ctx;
    /* Tests: stay this many seconds in phase hold_phase once it is
     * recorded, or at one of the points "seeded" (after the seed),
     * "detach-requested" and "attach-requested" (once Nova accepted the
     * request); the CLI reads RBDMOVE_TEST_HOLD=POINT:SECONDS. So a fault
     * can be injected at a known point. */
    const char *hold_phase;
    double hold_seconds;
};

void migrate_opts_init(struct migrate_opts *o);

struct migrate_report {
    unsigned rounds;
    uint64_t bytes[64]; /* data bytes of the seed [0] and each round */
    double downtime;    /* from the detach request to the attached dst */
    double t_detach, t_final, t_verify, t_attach;
    char dst_volume_id[37];
    char *dst_device;
    double throttled_s;    /* auto-converge limited the writes this long */
    unsigned throttle_pct; /* its deepest level, percent; 0: never */
};

void migrate_report_release(struct migrate_report *r);

/*
 * Run the move recorded in j, from wherever it stands (a new journal
 * starts at the pre-flight). ERROR_INTERRUPTED when a signal stopped it
 * at a resumable point.
 */
int migrate_run(struct journal *j, const struct migrate_opts *o,
                struct migrate_report *rep, struct error *err) MUST_CHECK;

/*
 * The data volumes attached to server (name or id) in the source region
 * of po, in device order, the boot disk left out. Caller frees *ids.
 * server_id (NULL or 37 bytes) gets the server's id.
 */
int migrate_server_volumes(const struct plan_options *po, const char *server,
                           char ***ids, size_t *n, char *server_id /* [37] */,
                           struct error *err) MUST_CHECK;

/*
 * Move several volumes (of one server) with one cutover: each journal
 * js[i] with its options os[i] replicates as migrate_run does; then all
 * sources are detached, all final rounds applied and verified, all
 * destinations attached; a failure anywhere in between puts every source
 * back. reps[i] gets each volume's report (downtime from the first detach).
 */
int migrate_run_group(struct journal **js, size_t n,
                      const struct migrate_opts *os,
                      struct migrate_report *reps,
                      struct error *err) MUST_CHECK;

/*
 * Return to the starting state: the source attached to its server again,
 * rbdmove's snapshots removed on both sides, a destination volume rbdmove
 * created deleted, rbdmove's metadata removed.
 */
int migrate_abort(struct journal *j, const struct migrate_opts *o,
                  struct error *err) MUST_CHECK;

/* ---- sync: a DR copy kept fresh, no cutover
 * ---------------------------------- */

struct migrate_sync_opts {
    struct migrate_opts m; /* plan (no dst_server), clusters, dest, events */
    uint64_t converge;     /* stop rounds below this delta (default 64M) */
    unsigned max_rounds;   /* default 10 */
    bool verify;           /* compare the base snapshots at the end */
    /* Recovery points the copy keeps (retention.h); NULL: the base. */
    const struct retention *keep;
    int64_t clock_offset; /* tests: see replicate_opts */
    /* The lock of the volume's syncs (sync-SOURCE_ID.lock) goes there,
     * taken before anything is looked up in the destination region: a
     * second sync of the same volume is ERROR_BUSY. NULL: no lock. */
    const char *state_dir;
};

struct migrate_sync_result {
    char dst_volume_id[37];
    bool created;
    unsigned rounds;
    bool converged;
    bool verified;
    char *base;      /* the snapshot both sides share now */
    unsigned points; /* recovery points the copy holds now (--keep) */
};

void migrate_sync_result_release(struct migrate_sync_result *r);

/*
 * Keep a copy of the source volume in the destination region: the volume
 * whose metadata says rbdmove.sync_of=<source id> (created, with that
 * mark, the first time), seeded once and then brought up to date with
 * incremental rounds. Nothing is detached or attached. Safe to interrupt
 * and run again (replicate.c resumes), and it refuses a copy that was
 * written to since the last run.
 */
int migrate_sync(const struct migrate_sync_opts *o,
                 struct migrate_sync_result *res, struct error *err) MUST_CHECK;

/*
 * sync --server: the copies of the n volumes os[i].m.plan.volume (a
 * server's data volumes, all on one cluster) take a point at one instant,
 * a group snapshot of their images (librbd quiesces their clients first).
 * The copies are checked and opened before any source changes; a point
 * is recorded (with group=server_id) on each copy only when all of them
 * hold it. The RBD group rbdmove-SERVER_ID exists only while this runs:
 * a run that stops leaves it, with the snapshot its unfinished rounds read
 * from, for the next run. res[i] per volume.
 */
int migrate_sync_group(const struct migrate_sync_opts *os, size_t n,
                       const char *server_id, struct migrate_sync_result *res,
                       struct error *err) MUST_CHECK;

/* ---- recovery points of a copy (sync --keep)
 * -------------------------------- */

/* The copy's Cinder metadata key of each point: this, then the snapshot. */
#define MIGRATE_POINT_PREFIX "rbdmove.point."

struct migrate_point {
    char *snap; /* the snapshot on the copy (and once on the source) */
    char *time; /* when it was synced, "YYYY-MM-DDTHH:MM:SSZ" */
    bool verified;
    bool base;    /* the one the next sync goes on from */
    char *source; /* "fsid=... image=... snap=... snap_id=..." */
};

struct migrate_points {
    char copy_id[37];
    char *sync_of;        /* the source volume's id */
    char *failover_point; /* failed over (or being) to it; else NULL */
    bool failed_over;     /* the failover finished */
    /* Synced with its server's other volumes (sync --server): the
     * server's id, and how many copies the group has; only the points
     * all of them hold are listed. NULL, 0: synced on its own. */
    char *group;
    size_t group_size;
    struct migrate_point *p; /* newest first */
    size_t n;
};

/*
 * The recovery points of the copy o->volume (a name or id in the region of
 * o->src), from its Cinder metadata alone: no other region, no Ceph.
 * ERROR_STATE when it is not a copy made by `rbdmove sync`.
 */
int migrate_points(const struct plan_options *o, struct migrate_points *out,
                   struct error *err) MUST_CHECK;
void migrate_points_release(struct migrate_points *p);

/* ---- release: rbdmove's snapshots and marks off a volume
 * -------------------- */

struct migrate_release_opts {
    struct plan_options plan; /* the volume's cloud and region; volume */
    const char *conf, *id;    /* its Ceph cluster */
    const char *pool;         /* NULL: from Cinder, else "volumes" */
    int ceph_timeout;
    const char *state_dir; /* for the sync lock, as migrate_sync's */
    /* Tests: pause hold_seconds at "release-snap-removed" (after the
     * first snapshot went). */
    const char *hold_point;
    double hold_seconds;
};

struct migrate_release_result {
    char volume_id[37];
    bool copy;         /* it was a copy made by sync */
    size_t snaps;      /* rbdmove snapshots removed */
    size_t groups;     /* rbdmove's RBD group it was in, removed */
    size_t image_keys; /* rbdmove keys removed from the image's metadata */
    size_t cinder_keys;
};

/*
 * Remove every snapshot rbdmove made on the volume's RBD image, rbdmove's
 * image metadata and rbdmove's Cinder metadata, so that Cinder can delete
 * the volume, or a copy stops being one. Refused (ERROR_STATE) while a
 * move of it is under way (resume or abort it first), and ERROR_BUSY while
 * a sync of it (or, for a copy, of its source) runs. A snapshot that
 * cannot go (protected, cloned) stops it with the snapshot named; what was
 * removed stays removed, and a second run goes on.
 */
int migrate_release(const struct migrate_release_opts *o,
                    struct migrate_release_result *res,
                    struct error *err) MUST_CHECK;

/* ---- failover: the copies take over, from the DR region alone
 * -------------- */

struct migrate_failover_opts {
    /* The DR region (src and dst alike); dst_server the server the copies
     * are attached to; volume unused. */
    struct plan_options plan;
    const char *const *copies; /* names or ids of copies, in that region */
    size_t n_copies;
    const char *conf, *id; /* the DR cluster */
    const char *pool;      /* NULL: from Cinder, else "volumes" */
    int ceph_timeout;
    /* NULL or "latest": each copy's newest recovery point; a snapshot
     * name (as `rbdmove points` lists it); or a time
     * "YYYY-MM-DDTHH:MM:SSZ": the newest point synced at or before it. */
    const char *point;
    double attach_timeout; /* seconds, 0: 120 */
    const char *state_dir; /* the sync locks, as migrate_sync's */
    migrate_event_fn *event;
    void *event_ctx;
    /* Tests: pause hold_seconds at "failover-rolled-back" (the copy holds
     * the point, not attached yet) or "failover-attach-requested". */
    const char *hold_point;
    double hold_seconds;
};

struct migrate_failover_copy {
    char volume_id[37];
    char *name;       /* escaped; NULL when it has none */
    char *point;      /* the recovery point it holds now */
    char *point_time; /* when that point was synced, "-" when unknown */
    char *device;     /* where Nova attached it, NULL when not told */
    bool rolled_back; /* this run rolled it back (not: its head held the
                          point already, or it was attached) */
    bool attached;    /* this run attached it */
};

struct migrate_failover_result {
    char server_id[37];
    struct migrate_failover_copy *c; /* in the order of o->copies */
    size_t n;                        /* copies failed over so far */
};

void migrate_failover_result_release(struct migrate_failover_result *r);

/*
 * Fail the copies over: every copy is checked first (a copy made by sync,
 * its image in o->conf's cluster holding the chosen point, not attached
 * elsewhere, not being written by a sync; the server able to take it),
 * and nothing changes unless all pass. Then each copy in turn is marked
 * failing-over with its point (Cinder metadata), rolled back to the
 * point, attached to the server, and marked failed-over. Only the DR
 * region's API and cluster are used. Running it again after an
 * interruption finishes the job without rolling back a copy that was
 * attached (its server may have written); a copy already failed over to
 * the server is left as it is.
 */
int migrate_failover(const struct migrate_failover_opts *o,
                     struct migrate_failover_result *res,
                     struct error *err) MUST_CHECK;

#endif
