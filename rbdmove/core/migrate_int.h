/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate_int.h: internal to the move's own files, migrate.c,
 * migrate_dest.c, migrate_group.c, migrate_abort.c, migrate_sync.c,
 * migrate_failover.c, migrate_failback.c and migrate_throttle.c; nothing else
 * includes it (the interface is migrate.h). The state of one move, and the
 * steps of the single move that the group cutover, the abort and the sync
 * reuse, all named move_*.
 */
#ifndef RBDMOVE_MIGRATE_INT_H
#define RBDMOVE_MIGRATE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/core/converge.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/migrate.h"
#include "rbdmove/core/move_record.h"

struct buf;
struct cinder;
struct cinder_volume;
struct replicate_opts;
struct cluster;
struct nova;
struct replicate;

struct move {
    struct journal *j;      /* NULL for sync, which has none */
    struct move_record rec; /* what the journal holds, typed */
    const struct migrate_opts *o;
    struct migrate_report *rep;
    struct plan *plan;
    struct cluster *src_cl;
    struct dest *dst;
    struct replicate *repl;
    double throughput; /* bytes/s of the last transfer, 0: unknown */
    unsigned round;
    double t_attach0;
    bool round_measured; /* throughput comes from an incremental round */
    bool detach_done;    /* resumed in "detaching" with the source detached */
    /* Auto-converge, this run (the journal has what outlives it). */
    struct converge_throttle throttle;
    double t_base;      /* when this run took the base snapshot, 0: unknown */
    double copy_s;      /* the last incremental round's copy, seconds */
    double overhead;    /* a round's seconds besides its copy, 0: unknown */
    double t_throttled; /* when this run set the first limit, 0: never */
    double t_level;     /* when it set the current level */
    double rate_during; /* bytes/s measured under the limit, NAN: not yet */
    /* A failback from a group's point: the ranges its rounds copy as well
     * (MOVE_GROUP_WINDOW_KEY); n 0: none. */
    struct dest_extents window;
};

void move_emit(struct move *m, const char *phase, const struct copy_stats *st,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* move_emit for an event with more than a round's stats: ev->msg is set
 * from fmt here. */
void move_emit_event(struct move *m, struct migrate_event *ev, const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));
void move_test_hold(struct move *m, const char *point);
/*
 * The lock of the syncs of source volume source_id, sync-ID.lock in dir
 * (NULL: none): ERROR_BUSY while another process holds it. *fd for
 * journal_unlock_name. Sync, release and failover take it.
 */
/* The image key a failover leaves on a copy: the point it holds. */
#define MOVE_FAILOVER_IMAGE_KEY "rbdmove.failover_point"

/*
 * The image key sync --server leaves on each copy with a point: "POINT
 * OFF+LEN ...", the ranges written on the source between the image's own
 * snapshot POINT and the group's (migrate_sync_group), at most
 * MOVE_GROUP_WINDOW_MAX of them (more are one range that covers them).
 * A failback from POINT copies them too: under that name the original
 * holds its own snapshot, which lacks those writes.
 */
#define MOVE_GROUP_WINDOW_KEY "rbdmove.group_window"
#define MOVE_GROUP_WINDOW_MAX 1024
/* The key's value for point from the ranges x (owned). */
char *move_group_window_format(const char *point, const struct dest_extents *x);
/* Parse v for point: 0 and *x filled; -1 when it is not for point or is
 * malformed (ranges out of order, too many). */
int move_group_window_parse(const char *v, const char *point,
                            struct dest_extents *x);

int move_sync_lock(const char *dir, const char *source_id, int *fd,
                   struct error *err);
void move_init(struct move *m, struct journal *j, const struct migrate_opts *o,
               struct migrate_report *rep);
int move_record_save(struct move *m, struct error *err);
/* m->dst for the destination image, through o->make_dest. A lock an
 * earlier run of this journal left (killed) is broken at once, and this
 * run's lock owner is recorded first (dst.lock_owner). */
int move_make_dest(struct move *m, struct error *err);
/* Connect to the source's cluster (m->src_cl; nothing when connected).
 * With the journal held, a source lock that an earlier, dead run left
 * (src.lock_owner) is broken at once, and this run's client recorded. */
int move_src_connect(struct move *m, struct error *err);
/* The source image's exclusive lock is held by dead (an address, NULL:
 * none), a client of an earlier run the caller proved dead: break it now.
 * Without this, every snapshot and tidy-up of an image no server holds
 * waits until the dead client's watch expires (30 s by default). A
 * failure is reported as info and leaves the wait to librbd. */
void move_break_src_lock(struct move *m, const char *dead);
/* replicate_opts.snap_intent: the name goes into the journal (snap.next)
 * before the snapshot is created. ctx: the move. */
int move_snap_intent(void *ctx, const char *name, struct error *err);
int move_set_phase(struct move *m, enum move_phase phase, struct error *err);
int move_wait_volume(struct cinder *c, const char *id, const char *want,
                     double timeout, struct error *err);
int move_attach_request(struct nova *n, const char *server, const char *volume,
                        const char *device, char **device_out,
                        struct error *err);
int move_attach(struct nova *n, struct cinder *c, const char *server,
                const char *volume, const char *device, double timeout,
                char **device_out, struct error *err);
int move_rollback(struct move *m, const struct error *why, struct error *err);
/* The destination is the image Cinder made for volume v, on the cluster
 * with fsid (NULL: unknown): prove it before writing (replicate.h). */
void move_volume_expectations(struct replicate_opts *ro, const char *fsid,
                              const struct cinder_volume *v);
/* migrate_dest.c: the destination volume, and proving the images. */
int move_find_created(struct move *m, char ***ids, size_t *n,
                      struct error *err);
int move_create_dst_volume(struct move *m, struct error *err);
int move_check_source(struct move *m, struct error *err);
int move_undo_create(struct move *m, const struct error *why,
                     struct error *err);
void move_free_ids(char **ids, size_t n);
/* ERROR_STATE "pre-flight failed: ..." with the plan's problems (dflt when
 * none is named), or ERROR_INTERRUPTED when a signal stopped it. */
int move_preflight_failed(const struct plan *p, const char *dflt,
                          struct error *err);
void move_plan_problems(const struct plan *p, struct buf *b);
int move_preflight(struct move *m, bool resuming, struct error *err);
int move_converge(struct move *m, struct error *err);
/* Wait for the turn to cut over (o->gate), then converge again. */
int move_wait_turn(struct move *m, struct error *err);
/* migrate_throttle.c: auto-converge's write limit on the source image. */
/* The guest's write rate (bytes/s) from delta bytes changed since the
 * base; 0 when not known. Noted as the rate under the limit when the
 * whole of it was. */
double move_write_rate(struct move *m, uint64_t delta);
/* The rounds would settle above the budget (converge_hopeless): the next
 * level now, not after rounds that do not shrink; with no level left, a
 * round (only the stall test gives up a move). */
int move_throttle_early(struct move *m, struct converge *c, uint64_t delta,
                        double rate, enum converge_step *step,
                        struct error *err) MUST_CHECK;
/* converge_next said stuck with delta pending at rate: *step becomes
 * CONVERGE_THROTTLE (a lower limit is on, recorded first), CONVERGE_ROUND
 * (measure the rate first) or stays CONVERGE_STUCK. */
int move_throttle_step(struct move *m, struct converge *c, uint64_t delta,
                       double rate, enum converge_step *step,
                       struct error *err);
/* The rounds are stuck for good (p: the final round's seconds): cut over
 * anyway with --force-cutover (0), else the refusal, naming the limit
 * tried (-1). */
int move_converge_stuck(struct move *m, const struct converge *c,
                        uint64_t delta, double p, struct error *err);
/* Put back the value the source image had before the limit (or remove the
 * key), and record so. Nothing to do unless the journal says a limit is
 * set: safe to call anywhere, again and again. */
int move_throttle_release(struct move *m, struct error *err);
/* At the end of a run that returns ret (err set when ret < 0): lift a
 * limit still on. A failure to is added to err (or becomes it). */
int move_throttle_finish(struct move *m, int ret, struct error *err);
int move_verify_base(struct move *m, struct error *err);
int move_detach_request(struct move *m, struct error *err);
int move_detach_wait(struct move *m, double t0, struct error *err);
int move_final_verify(struct move *m, struct error *err);
void move_attach_started(struct move *m);
int move_attach_done(struct move *m, double t0, struct error *err);
int move_check_dst_server(struct move *m, struct error *err);
int move_cleanup(struct move *m, struct error *err);
/* migrate_failback.c. A new failback's pre-flight, once the plan is
 * built: the copy is a failed-over one, its original available, the
 * server known; the record says so (failback, dst.volume, dst.image). */
int move_failback_plan(struct move *m, struct error *err);
/* Before its first round: the common point proved on both sides, the
 * split-brain test, and the original re-based onto the copy (connects
 * m->src_cl and m->dst when not yet). */
int move_failback_rebase(struct move *m, struct error *err);
/* A failback whose common point is a group's (sync --server): load the
 * ranges its rounds copy as well into m->window (none otherwise);
 * ERROR_STATE when the copy does not say which. */
int move_failback_window(struct move *m, struct error *err);
/* Its cleanup (attached): the copy marked as the original's copy at the
 * last base, which both keep; the original's marks removed; done. */
int move_failback_finish(struct move *m, struct error *err);
/* Its abort, once the copy is attached again: shared snapshots and marks
 * kept, the copy failed over again. */
int move_failback_abort(struct move *m, struct error *err);
int move_source_attached(struct move *m, bool settle, bool *attached,
                         struct error *err);
int move_undo_dst_attach(struct move *m, struct error *err);
int move_prepare(struct move *m, struct error *err);
void move_release(struct move *m);

#endif
