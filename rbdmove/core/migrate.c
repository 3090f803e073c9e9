/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate.c: the move of a Cinder volume between regions (see
 * migrate.h). The steps, each recorded in the journal before it is taken:
 *
 *   phase        what is true
 *   new          nothing changed yet
 *   creating     dst.volume requested (its id is recorded first)
 *   replicating  dst volume exists; seed and rounds run while the server
 *                keeps writing
 *   detaching    detach requested; the source may still be attached
 *   detached     the source is detached, nobody else has its image open
 *   attaching    final round applied and verified; attach requested
 *   attached     the destination volume is in use by the destination
 *   done         temporary snapshots removed, volumes marked
 *   rolled-back  a cutover failed and the source is attached again
 *   aborted      everything undone
 */
#include "rbdmove/core/migrate.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openstack/cinder.h"
#include "openstack/nova.h"
#include "rbdmove/base/buf.h"
#include "rbdmove/base/cancel.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/converge.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/move_record.h"
#include "rbdmove/core/replicate.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/core/verify.h"
#include "rbdmove/core/migrate_int.h"
#include "rbdmove/base/xalloc.h"

/* After the full check before the cutover, one more round when the final
 * one would take longer than this (see catch_up). */
#define CATCH_UP_S 0.25

/* The blocks the final check hashes on both sides: small, because a VM's
 * writes are small and scattered and every byte read here is downtime. */
#define FINAL_BLOCK (64u * 1024)

void migrate_opts_init(struct migrate_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_downtime = 10;
    o->full_verify = true;
    o->auto_converge = true;
    o->min_write_rate = 1ull << 20; /* a guest that still moves */
    o->max_rounds = 20;
    o->detach_timeout = 120;
    o->attach_timeout = 120;
    o->ceph_timeout = 60;
    copy_params_init(&o->params);
}

void migrate_report_release(struct migrate_report *r)
{
    free(r->dst_device);
    memset(r, 0, sizeof(*r));
}

/* ---- events and the journal ---------------------------------------------- */

void move_emit_event(struct move *m, struct migrate_event *ev, const char *fmt,
                     va_list ap)
{
    struct buf b = BUF_INIT;

    buf_vaddf(&b, fmt, ap);
    ev->msg = buf_str(&b);
    if (m->j)
        journal_log(m->j, "%s: %s", ev->phase, ev->msg);
    if (m->o->event)
        m->o->event(m->o->event_ctx, ev);
    buf_release(&b);
}

void move_emit(struct move *m, const char *phase, const struct copy_stats *st,
               const char *fmt, ...)
{
    struct migrate_event ev = {phase, NULL, m->round, st, NULL};
    va_list ap;

    va_start(ap, fmt);
    move_emit_event(m, &ev, fmt, ap);
    va_end(ap);
}

/* Fault-injection tests: pause at point (a phase, or "seeded"). */
void move_test_hold(struct move *m, const char *point)
{
    if (m->o->hold_phase && !strcmp(m->o->hold_phase, point)) {
        struct timespec ts = {(time_t)m->o->hold_seconds, 0};

        journal_log(m->j, "holding at %s for %.0f s (test)", point,
                    m->o->hold_seconds);
        nanosleep(&ts, NULL);
    }
}

/* Write the record into the journal and the journal to disk. */
int move_record_save(struct move *m, struct error *err)
{
    move_record_store(&m->rec, m->j);
    return journal_save(m->j, err);
}

/* Take the step to phase (move_record.h has the table): recorded before
 * what it stands for is done. */
int move_set_phase(struct move *m, enum move_phase phase, struct error *err)
{
    if (!move_phase_next(m->rec.phase, phase))
        return error_set(err, ERROR_STATE, 0,
                         "move %s: no step from phase '%s' to '%s' (a bug)",
                         journal_id(m->j), move_phase_name(m->rec.phase),
                         move_phase_name(phase));
    m->rec.phase = phase;
    if (move_record_save(m, err) < 0)
        return -1;
    move_test_hold(m, move_phase_name(phase));
    return 0;
}

/* ---- OpenStack steps
 * --------------------------------------------------------- */

int move_wait_volume(struct cinder *c, const char *id, const char *want,
                     double timeout, struct error *err)
{
    struct buf seen = BUF_INIT;
    struct cinder_wait w = {want, timeout, 0, &seen};
    int ret = cinder_volume_wait(c, id, &w, NULL, err);

    if (ret < 0)
        error_prefix(err, "volume %s (went through %s)", id,
                     seen.len ? buf_str(&seen) : "no status");
    buf_release(&seen);
    return ret;
}

/* Ask Nova to attach; the volume is in use a few seconds later. */
int move_attach_request(struct nova *n, const char *server, const char *volume,
                        const char *device, char **device_out,
                        struct error *err)
{
    struct nova_attachment a;

    memset(&a, 0, sizeof(a));
    if (nova_volume_attach(n, server, volume, device, &a, err) < 0)
        return error_prefix(err, "attaching volume %s to server %s", volume,
                            server);
    if (device_out && a.device)
        *device_out = xstrdup(a.device);
    free(a.device);
    free(a.attachment_id);
    return 0;
}

int move_attach(struct nova *n, struct cinder *c, const char *server,
                const char *volume, const char *device, double timeout,
                char **device_out, struct error *err)
{
    if (move_attach_request(n, server, volume, device, device_out, err) < 0)
        return -1;
    return move_wait_volume(c, volume, "in-use", timeout, err);
}

/* Put the source back on its server. */
int move_rollback(struct move *m, const struct error *why, struct error *err)
{
    const char *server = m->rec.src.server;
    const char *vol = m->rec.src.volume;
    struct error e2 = ERROR_INIT;
    bool still = false;

    *err = *why;
    /* Lifted when the cutover started; again, should that have failed. */
    if (move_throttle_release(m, &e2) < 0)
        move_emit(m, "info", NULL, "%s", e2.msg);
    /* Never two servers with a copy each: the destination's attach,
     * asked for or done, is undone first, or the source stays off. */
    if ((m->rec.phase == MOVE_ATTACHING || m->rec.phase == MOVE_ATTACHED) &&
        move_undo_dst_attach(m, &e2) < 0) {
        error_prefix(err,
                     "the cutover failed, and destination volume %s may "
                     "still be attached to server %s (%s); source volume %s "
                     "stays detached so that only one copy is in use: check "
                     "both, then run 'rbdmove resume %s' or 'rbdmove abort "
                     "%s'",
                     m->rec.dst.volume, m->rec.dst.server, e2.msg, vol,
                     journal_id(m->j), journal_id(m->j));
        return -1;
    }
    if (!server) {
        error_prefix(err,
                     "the source volume %s was not attached: nothing to "
                     "put back",
                     vol);
        return -1;
    }
    /* Act on a settled state only: a source still "detaching" is listed
     * as attached until Nova is done, and then it is not. */
    if (move_source_attached(m, true, &still, &e2) < 0) {
        error_prefix(err,
                     "the cutover failed, and whether source volume %s is "
                     "still attached to server %s cannot be told (%s): "
                     "check it, then run 'rbdmove resume %s' or 'rbdmove "
                     "abort %s'",
                     vol, server, e2.msg, journal_id(m->j), journal_id(m->j));
        return -1;
    }
    if (still) {
        /* The detach never happened (refused, or it timed out and Nova
         * gave up): nothing to put back. */
        error_prefix(err,
                     "volume %s is still attached to server %s (checked "
                     "once Nova was done); nothing was cut over",
                     vol, server);
        if (move_set_phase(m, MOVE_ROLLED_BACK, &e2) < 0)
            journal_log(m->j, "cannot record the rollback: %s", e2.msg);
        return -1;
    }
    move_emit(m, "rollback", NULL, "re-attaching volume %s to server %s", vol,
              server);
    if (move_attach(m->plan->src.nova, m->plan->src.cinder, server, vol,
                    m->rec.src.device, m->o->attach_timeout, NULL, &e2) < 0) {
        error_prefix(err,
                     "the cutover failed and re-attaching the source failed "
                     "too (%s); volume %s is detached: attach it to server "
                     "%s by hand, or run 'rbdmove abort %s'",
                     e2.msg, vol, server, journal_id(m->j));
        return -1;
    }
    if (move_set_phase(m, MOVE_ROLLED_BACK, &e2) < 0)
        journal_log(m->j, "cannot record the rollback: %s", e2.msg);
    error_prefix(err,
                 "cutover failed; volume %s is attached to server %s again "
                 "and destination volume %s is left unattached ('rbdmove "
                 "resume %s' tries again, 'rbdmove abort %s' undoes)",
                 vol, server, m->rec.dst.volume, journal_id(m->j),
                 journal_id(m->j));
    return -1;
}

/* ---- pre-flight
 * --------------------------------------------------------------- */

void move_plan_problems(const struct plan *p, struct buf *b)
{
    for (size_t i = 0; i < p->n_notes; i++) {
        if (p->notes[i].severity == PLAN_PROBLEM)
            buf_addf(b, "%s%s: %s", b->len ? "; " : "", p->notes[i].side,
                     p->notes[i].text);
    }
}

int move_preflight_failed(const struct plan *p, const char *dflt,
                          struct error *err)
{
    struct buf why = BUF_INIT;
    enum error_kind kind = ERROR_STATE;

    /* A stop asked for during the pre-flight is an interruption (exit 3:
     * the same command goes on), not a finding about the volume. */
    for (size_t i = 0; i < p->n_notes; i++) {
        if (p->notes[i].kind == ERROR_INTERRUPTED)
            kind = ERROR_INTERRUPTED;
    }
    move_plan_problems(p, &why);
    error_set(err, kind, 0, "pre-flight %s: %s",
              kind == ERROR_INTERRUPTED ? "stopped" : "failed",
              why.len ? buf_str(&why) : dflt);
    buf_release(&why);
    return -1;
}

int move_preflight(struct move *m, bool resuming, struct error *err)
{
    struct plan_options po = m->o->plan;

    if (resuming) {
        po.volume = m->rec.src.volume;
        po.dst_server = m->rec.dst.server;
    }
    po.dst_volume_exists = m->o->failback;
    m->plan = plan_build(&po);
    if (!m->plan->src.cinder || !m->plan->src.nova || !m->plan->dst.cinder ||
        !m->plan->dst.nova || !m->plan->have_volume ||
        (!resuming && !plan_ok(m->plan))) {
        return move_preflight_failed(m->plan, "see 'rbdmove plan'", err);
    }
    if (!resuming && m->o->failback && move_failback_plan(m, err) < 0)
        return -1;
    if (!resuming) {
        const struct plan *p = m->plan;

        move_record_set(&m->rec.src.volume, p->volume.id);
        move_record_set(&m->rec.src.name, p->volume.name);
        m->rec.src.size_gib = p->volume.size_gib;
        if (p->n_attachments == 1) {
            move_record_set(&m->rec.src.server, p->attachments[0].server_id);
            move_record_set(&m->rec.src.device, p->attachments[0].device);
        }
        move_record_set(&m->rec.src.pool, m->o->src_pool ? m->o->src_pool
                                          : p->rbd_pool  ? p->rbd_pool
                                                         : "volumes");
        move_record_set(&m->rec.src.image, p->rbd_image);
        move_record_set(&m->rec.dst.server, p->server.id);
        move_record_set(&m->rec.dst.pool, m->o->dst_pool    ? m->o->dst_pool
                                          : p->dst_rbd_pool ? p->dst_rbd_pool
                                                            : "volumes");
        m->rec.max_downtime = m->o->max_downtime;
        if (move_set_phase(m, MOVE_NEW, err) < 0)
            return -1;
    }
    move_emit(m, "preflight", NULL,
              "volume %s (%s, %" PRIu64 " GiB) to server %s", m->rec.src.volume,
              m->rec.src.name ? m->rec.src.name : "-", m->plan->volume.size_gib,
              m->rec.dst.server);
    return 0;
}

static int mark_source(struct move *m, const char *state, struct error *err)
{
    struct cinder_kv meta[] = {{"rbdmove.move_id", journal_id(m->j)},
                               {"rbdmove.state", state},
                               {"rbdmove.destination", m->rec.dst.volume}};

    return cinder_volume_metadata_set(m->plan->src.cinder, m->rec.src.volume,
                                      meta, m->rec.dst.volume ? 3 : 2, err);
}

/* ---- data
 * ----------------------------------------------------------------------- */

static void on_replicate(void *ctx, const struct replicate_event *ev)
{
    struct move *m = ctx;

    if (ev->kind == REPLICATE_EV_INFO) {
        move_emit(m, "info", NULL, "%s", ev->msg);
        return;
    }
    m->round = ev->round;
    if (ev->kind == REPLICATE_EV_ROUND_START) {
        double now = time_now();

        /* Since the last round started: its copy, and what a round costs
         * besides (commit, the change measured, the decision, this
         * round's snapshot). */
        if (ev->round >= 2 && m->copy_s > 0 && m->t_base > 0)
            m->overhead = now - m->t_base - m->copy_s;
        m->t_base = now; /* its snapshot was just taken */
        move_emit(m, ev->round ? "round" : "seed", NULL, "%s %u started (%s)",
                  ev->round ? "round" : "seed", ev->round, ev->snap);
        return;
    }
    if (ev->round < 64)
        m->rep->bytes[ev->round] = ev->stats->data_bytes;
    m->rep->rounds = ev->round;
    m->copy_s = ev->round ? ev->stats->seconds : 0;
    if (ev->stats->seconds > 0.05 && ev->stats->extent_bytes > (4u << 20)) {
        m->throughput = (double)ev->stats->extent_bytes / ev->stats->seconds;
        m->round_measured = ev->round > 0;
    }
    move_emit(m, ev->round ? "round" : "seed", ev->stats,
              "%s %u done: %" PRIu64 " bytes of data in %.2f s",
              ev->round ? "round" : "seed", ev->round, ev->stats->data_bytes,
              ev->stats->seconds);
}

int move_snap_intent(void *ctx, const char *name, struct error *err)
{
    struct move *m = ctx;

    move_record_set(&m->rec.snaps[MOVE_SNAP_NEXT], name);
    return move_record_save(m, err);
}

int move_make_dest(struct move *m, struct error *err)
{
    char *self;
    int ret = 0;

    if (m->o->make_dest(m->o->make_dest_ctx, m->rec.dst.pool, m->rec.dst.image,
                        &m->dst, err) < 0)
        return -1;
    m->dst->hash_window = verify_window(m->o->params.window);
    /* The journal is ours (locked): whoever recorded an owner is dead. */
    if (m->j)
        dest_set_dead_owner(m->dst, m->rec.dst.lock_owner);
    self = dest_lock_self(m->dst);
    if (m->j && self &&
        (!m->rec.dst.lock_owner || strcmp(self, m->rec.dst.lock_owner))) {
        move_record_set(&m->rec.dst.lock_owner, self);
        ret = move_record_save(m, err);
    }
    free(self);
    return ret;
}

void move_break_src_lock(struct move *m, const char *dead)
{
    struct error e = ERROR_INIT;
    struct image *img = NULL;
    bool broke = false;

    if (!dead || !m->src_cl || !m->rec.src.pool || !m->rec.src.image)
        return;
    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL, false,
                   &img, &e) == 0 &&
        image_lock_break_dead(img, dead, &broke, &e) == 0 && broke)
        move_emit(m, "info", NULL,
                  "broke the lock a killed run left on the source %s/%s (%s)",
                  m->rec.src.pool, m->rec.src.image, dead);
    else if (e.kind != ERROR_NONE)
        move_emit(m, "info", NULL, "%s", e.msg);
    image_close(img);
}

int move_src_connect(struct move *m, struct error *err)
{
    const char *dead = m->rec.src.lock_owner;
    char *self;
    int ret = 0;

    if (m->src_cl)
        return 0;
    if (cluster_connect(m->o->src_conf, m->o->src_id, m->o->ceph_timeout,
                        &m->src_cl, err) < 0)
        return -1;
    if (!m->j)
        return 0;
    /* The journal is ours (locked): whoever recorded an owner is dead. */
    move_break_src_lock(m, dead);
    self = cluster_addr(m->src_cl);
    if (self && (!dead || strcmp(self, dead))) {
        move_record_set(&m->rec.src.lock_owner, self);
        ret = move_record_save(m, err);
    }
    free(self);
    return ret;
}

/* Connect to both images. tidy: the destination is a server's now, only
 * the snapshots and marks are left to remove. The destination is the
 * image Cinder made for dst.volume, and is proved to be (replicate.h,
 * must_exist): never created here. */
static int open_data(struct move *m, bool tidy, struct error *err)
{
    struct replicate_opts ro;
    struct cinder_volume v;
    int ret = -1;

    memset(&v, 0, sizeof(v));
    if (cinder_volume_get(m->plan->dst.cinder, m->rec.dst.volume, &v, err) < 0)
        return error_prefix(err, "destination volume %s", m->rec.dst.volume);
    if (move_src_connect(m, err) < 0 || (!m->dst && move_make_dest(m, err) < 0))
        goto out;
    replicate_opts_init(&ro);
    ro.params = m->o->params;
    ro.max_rounds = m->o->max_rounds;
    ro.event = on_replicate;
    ro.event_ctx = m;
    ro.snap_intent = move_snap_intent;
    ro.orphan = m->rec.snaps[MOVE_SNAP_NEXT];
    ro.tidy_only = tidy;
    if (m->rec.failback.head_proved)
        ro.trust_head_at = m->rec.failback.point;
    if (m->rec.failback.on && !tidy && move_failback_window(m, err) < 0)
        goto out;
    ro.params.extra_off = m->window.off;
    ro.params.extra_len = m->window.len;
    ro.params.extra_n = m->window.n;
    move_volume_expectations(&ro, m->plan->dst_ceph_fsid, &v);
    ret = replicate_open(m->src_cl, m->rec.src.pool, m->rec.src.image, m->dst,
                         &ro, &m->repl, err);
out:
    cinder_volume_release(&v);
    return ret;
}

/* Rounds until the predicted final round fits the budget. */
int move_converge(struct move *m, struct error *err)
{
    struct converge c;
    uint64_t delta = 0;

    converge_init(&c, m->o->max_downtime);
    if (replicate_seed(m->repl, err) < 0)
        return -1;
    /* A failback from a group's point: the original differs from the
     * point by the window (migrate_failback.c) until a round copies it,
     * whatever changed on the copy. */
    if (m->window.n && replicate_snap_is_group(replicate_base(m->repl))) {
        struct copy_stats st;

        if (replicate_round(m->repl, &st, err) < 0)
            return -1;
    }
    move_test_hold(m, "seeded");
    for (;;) {
        struct copy_stats st;
        enum converge_step step;
        double p, rate;

        if (replicate_delta(m->repl, &delta, err) < 0)
            return -1;
        rate = move_write_rate(m, delta);
        step = converge_next(&c, delta, m->throughput, m->round_measured,
                             replicate_rounds(m->repl), m->o->max_rounds, &p);
        if (step == CONVERGE_ROUND && m->o->auto_converge &&
            m->round_measured &&
            converge_hopeless(&c, rate, m->throughput, m->overhead) &&
            move_throttle_early(m, &c, delta, rate, &step, err) < 0)
            return -1;
        if (step == CONVERGE_STUCK && m->o->auto_converge &&
            move_throttle_step(m, &c, delta, rate, &step, err) < 0)
            return -1;
        switch (step) {
        case CONVERGE_CUTOVER:
            move_emit(m, "info", NULL,
                      "%" PRIu64
                      " bytes changed since the last round: the final "
                      "round should take %.2f s (budget %.1f s)",
                      delta, p, c.budget);
            return 0;
        case CONVERGE_STUCK:
            return move_converge_stuck(m, &c, delta, p, err);
        case CONVERGE_THROTTLE: /* a round under the new limit measures it */
        case CONVERGE_ROUND:
            break;
        }
        if (replicate_round(m->repl, &st, err) < 0)
            return -1;
    }
}

/*
 * The full verify takes seconds while the writer goes on, and all it
 * writes meanwhile would land in the final round: catch up with one more
 * round when the final one would otherwise take more than CATCH_UP_S.
 * Not a convergence test (that was passed already): one round at most.
 */
static int catch_up(struct move *m, struct error *err)
{
    struct copy_stats st;
    uint64_t delta = 0;

    if (replicate_delta(m->repl, &delta, err) < 0)
        return -1;
    if (converge_predict(delta, m->throughput) <= CATCH_UP_S)
        return 0;
    move_emit(m, "info", NULL,
              "%" PRIu64 " bytes changed during the check: one more round",
              delta);
    return replicate_round(m->repl, &st, err);
}

/*
 * The cutover's turn (migrate_gate_fn), once the rounds converged. The
 * writes of a wait would all land in the final round: after one, the
 * convergence test again, with rounds until the final round fits the
 * budget (the turn is kept, so there is no second wait).
 */
int move_wait_turn(struct move *m, struct error *err)
{
    double waited = 0;

    if (!m->o->gate || !m->rec.dst.server)
        return 0;
    if (m->o->gate(m->o->gate_ctx, m->rec.dst.server, &waited, err) < 0)
        return -1;
    if (waited <= 0)
        return 0;
    move_emit(m, "info", NULL,
              "waited %.1f s for its turn to cut over: rounds again", waited);
    return move_converge(m, err);
}

/* Compare the whole image at snap (NULL: the heads) on both sides. */
static int verify_whole(struct move *m, const char *snap, struct error *err)
{
    struct dest_hashes a = {0}, b = {0};
    struct image *img = NULL;
    struct verify_range r[1];
    const char *what = snap ? snap : "the heads";
    int ret = -1;

    if (replicate_open_snap(m->src_cl, m->rec.src.pool, m->rec.src.image, snap,
                            &img, err) < 0 ||
        verify_hash_image(img, VERIFY_BLOCK, verify_window(m->o->params.window),
                          NULL, NULL, &a, err) < 0 ||
        dest_hash(m->dst, snap, VERIFY_BLOCK, &b, err) < 0)
        goto out;
    if (verify_compare(&a, &b, r, 1) != 0) {
        error_set(err, ERROR_MISMATCH, 0,
                  "the destination differs from the source at '%s' (first "
                  "at byte %" PRIu64 "); nothing was cut over",
                  what, r[0].off);
        goto out;
    }
    move_emit(m, "verify", NULL,
              "'%s' equal on both sides (%" PRIu64 " blocks)", what, a.nblocks);
    ret = 0;
out:
    image_close(img);
    dest_hashes_release(&a);
    dest_hashes_release(&b);
    return ret;
}

/* Verify the current base in full, while the server still runs. */
int move_verify_base(struct move *m, struct error *err)
{
    return verify_whole(m, replicate_base(m->repl), err);
}

/* With --delete-source, after the final round: every block of the
 * detached source against the destination, head against head. The source
 * goes, so the whole of what replaces it is compared (downtime for
 * certainty, which the operator asked for). */
static int verify_heads(struct move *m, struct error *err)
{
    return verify_whole(m, NULL, err);
}

struct dst_hash_job {
    struct dest *d;
    const char *snap;
    const uint64_t *idx;
    size_t n;
    uint64_t *hashes;
    struct error err;
    int ret;
};

static void *dst_hash_thread(void *arg)
{
    struct dst_hash_job *j = arg;

    j->ret = dest_hash_blocks(j->d, j->snap, FINAL_BLOCK, j->idx, j->n,
                              j->hashes, &j->err);
    return NULL;
}

/* Hash the blocks idx on both sides at once: the downtime pays for the
 * slower side only. */
static int hash_both(struct move *m, struct image *img, const char *snap,
                     const uint64_t *idx, size_t n, uint64_t *ha, uint64_t *hb,
                     struct error *err)
{
    struct dst_hash_job j = {m->dst, snap, idx, n, hb, ERROR_INIT, 0};
    pthread_t th;
    int r;

    if (pthread_create(&th, NULL, dst_hash_thread, &j) != 0)
        return error_set(err, ERROR_IO, EAGAIN, "cannot start a thread");
    r = verify_hash_blocks(img, FINAL_BLOCK, 32, idx, n, ha, err);
    pthread_join(th, NULL);
    if (r < 0)
        return -1;
    if (j.ret < 0) {
        *err = j.err;
        return -1;
    }
    return 0;
}

/* Verify, head against head, the blocks that changed on the source since
 * the base: the rest was verified in full before the detach
 * (verify_base). With --delete-source, the whole image (verify_heads). */
static int verify_final(struct move *m, const char *base, struct error *err)
{
    uint64_t *idx = NULL, *ha = NULL, *hb = NULL;
    struct image *img = NULL;
    size_t n = 0;
    int ret = -1;

    if (m->o->delete_source)
        return verify_heads(m, err);
    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL, true,
                   &img, err) < 0 ||
        verify_changed_blocks(img, base, FINAL_BLOCK, &idx, &n, err) < 0)
        goto out;
    ha = xcalloc(n + 1, sizeof(*ha));
    hb = xcalloc(n + 1, sizeof(*hb));
    if (n && hash_both(m, img, NULL, idx, n, ha, hb, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (ha[i] != hb[i]) {
            error_set(err, ERROR_MISMATCH, 0,
                      "the final round left the destination different from "
                      "the source at byte %" PRIu64,
                      idx[i] * FINAL_BLOCK);
            goto out;
        }
    }
    move_emit(m, "verify", NULL, "final round verified (%zu blocks)", n);
    ret = 0;
out:
    image_close(img);
    free(idx);
    free(ha);
    free(hb);
    return ret;
}

/* ---- cutover
 * -------------------------------------------------------------------- */

static int wait_watchers(struct move *m, struct error *err)
{
    struct image *img = NULL;
    double t0 = time_now();
    int count = 0, ret = -1;

    if (image_open(m->src_cl, m->rec.src.pool, m->rec.src.image, NULL, true,
                   &img, err) < 0)
        return -1;
    for (;;) {
        if (image_watcher_count(img, cluster_instance_id(m->src_cl), &count,
                                err) < 0)
            goto out;
        if (count == 0)
            break;
        if (time_now() - t0 > m->o->detach_timeout) {
            error_set(err, ERROR_STATE, 0,
                      "%d client%s still hold%s '%s/%s' open %.0f s after the "
                      "detach (a hypervisor that has not let go could still "
                      "write)",
                      count, count == 1 ? "" : "s", count == 1 ? "s" : "",
                      m->rec.src.pool, m->rec.src.image, m->o->detach_timeout);
            goto out;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ret = 0;
out:
    image_close(img);
    return ret;
}

/* Ask Nova to detach the source (phase detaching). */
int move_detach_request(struct move *m, struct error *err)
{
    const char *server = m->rec.src.server;
    const char *vol = m->rec.src.volume;

    if (move_set_phase(m, MOVE_DETACHING, err) < 0)
        return -1;
    if (!server)
        return 0;
    if (m->detach_done) {
        /* An earlier run asked, and Nova did it: asking again would be
         * refused ("not attached"), and that is no reason to roll back.
         * Looked at again: somebody may have attached it since. */
        bool attached = false;

        if (move_source_attached(m, false, &attached, err) < 0)
            return -1;
        if (!attached) {
            move_emit(m, "detach", NULL,
                      "volume %s was already detached from server %s", vol,
                      server);
            return 0;
        }
    }
    move_emit(m, "detach", NULL, "detaching volume %s from server %s", vol,
              server);
    if (nova_volume_detach(m->plan->src.nova, server, vol, err) < 0)
        return error_prefix(err, "detaching volume %s from server %s", vol,
                            server);
    move_test_hold(m, "detach-requested");
    return 0;
}

/* Wait until the source is available and nobody else has its image open
 * (phase detached). t0 is when the detach was asked for. */
int move_detach_wait(struct move *m, double t0, struct error *err)
{
    if (m->rec.src.server &&
        move_wait_volume(m->plan->src.cinder, m->rec.src.volume, "available",
                         m->o->detach_timeout, err) < 0)
        return -1;
    if (wait_watchers(m, err) < 0)
        return -1;
    m->rep->t_detach = t0 > 0 ? time_now() - t0 : 0;
    m->rec.cutover.t_detach = m->rep->t_detach;
    return move_set_phase(m, MOVE_DETACHED, err);
}

static int detach(struct move *m, double *t0, struct error *err)
{
    /* 0: the detach began in an earlier run, the downtime's start is
     * not known (resumed in "detaching", or found detached). */
    *t0 = m->rec.phase == MOVE_REPLICATING && !m->detach_done ? time_now() : 0;
    if (move_detach_request(m, err) < 0)
        return -1;
    return move_detach_wait(m, *t0, err);
}

/*
 * The final round and its check, on a detached source: straight from the
 * source head into the destination head, no snapshot on either side (each
 * would be a monitor update, up to a second of downtime); the snapshots of
 * the base go after the attach. Then the destination's lock is given up,
 * for the server that gets it.
 */
int move_final_verify(struct move *m, struct error *err)
{
    struct copy_stats st;
    double t;

    char *since = xstrdup(replicate_base(m->repl));
    int rc;

    t = time_now();
    move_emit(m, "final", NULL, "final round");
    /* A failback's ends with a snapshot on both sides (two monitor
     * updates of downtime): the base the next sync starts from. */
    rc = m->rec.failback.on ? replicate_round(m->repl, &st, err)
                            : replicate_final(m->repl, &st, err);
    m->rep->t_final = time_now() - t;
    t = time_now();
    if (rc == 0)
        rc = verify_final(m, since, err);
    free(since);
    if (rc < 0)
        return -1;
    m->rep->t_verify = time_now() - t;
    m->rec.cutover.t_final = m->rep->t_final;
    m->rec.cutover.t_verify = m->rep->t_verify;
    if (dest_unlock(m->dst, err) < 0)
        return error_prefix(err, "releasing the destination image");
    return move_set_phase(m, MOVE_ATTACHING, err);
}

void move_attach_started(struct move *m)
{
    move_emit(m, "attach", NULL, "attaching volume %s to server %s",
              m->rec.dst.volume, m->rec.dst.server);
    m->t_attach0 = time_now();
}

/* The destination volume is attached (or failed): record, tidy up. */
int move_attach_done(struct move *m, double t0, struct error *err)
{
    m->rep->t_attach = time_now() - m->t_attach0;
    m->rep->downtime = t0 > 0 ? time_now() - t0 : 0;
    m->rec.cutover.t_attach = m->rep->t_attach;
    m->rec.cutover.downtime = m->rep->downtime;
    return move_set_phase(m, MOVE_ATTACHED, err);
}

/* Attach the destination volume; t0 is when the downtime began. */
static int attach_dst(struct move *m, double t0, struct error *err)
{
    move_attach_started(m);
    if (move_attach_request(m->plan->dst.nova, m->rec.dst.server,
                            m->rec.dst.volume, NULL, &m->rep->dst_device,
                            err) < 0)
        return -1;
    move_test_hold(m, "attach-requested");
    if (move_wait_volume(m->plan->dst.cinder, m->rec.dst.volume, "in-use",
                         m->o->attach_timeout, err) < 0)
        return -1;
    return move_attach_done(m, t0, err);
}

/* From a detached source to an attached destination. */
static int finish_cutover(struct move *m, double t0, struct error *err)
{
    if (m->rec.phase != MOVE_ATTACHING && move_final_verify(m, err) < 0)
        return -1;
    return attach_dst(m, t0, err);
}

/* Do not take the source away from its server for a destination that
 * cannot take it: check the destination server once more. */
int move_check_dst_server(struct move *m, struct error *err)
{
    struct nova_server s;
    struct buf why = BUF_INIT;
    int ret = 0;

    memset(&s, 0, sizeof(s));
    if (nova_server_get(m->plan->dst.nova, m->rec.dst.server, &s, err) < 0)
        return error_prefix(err, "destination server %s; nothing was cut over",
                            m->rec.dst.server);
    if (!nova_server_can_attach(&s, &why))
        ret = error_set(err, ERROR_STATE, 0, "%s; nothing was cut over",
                        buf_str(&why));
    nova_server_release(&s);
    buf_release(&why);
    return ret;
}

static int cutover(struct move *m, struct error *err)
{
    struct error e = ERROR_INIT;
    double t0 = 0;
    int ret = 0;

    if (m->rec.phase != MOVE_DETACHED && move_check_dst_server(m, err) < 0)
        return -1;
    /* The server gets its writes back before it loses its disk: a source
     * re-attached by a rollback would be opened with the limit still on. */
    if (move_throttle_release(m, err) < 0)
        return error_prefix(err, "nothing was cut over");

    /* From the detach on, a signal must not leave the server without its
     * disk: finish, or roll back (cancel.h holds stops back until then). */
    replicate_set_cancel(m->repl, NULL, NULL);
    cancel_defer();
    if ((m->rec.phase != MOVE_DETACHED && detach(m, &t0, &e) < 0) ||
        finish_cutover(m, t0, &e) < 0)
        ret = move_rollback(m, &e, err);
    cancel_resume();
    return ret;
}

int move_cleanup(struct move *m, struct error *err)
{
    struct cinder_kv dst_meta[] = {{"rbdmove.state", "moved-here"}};
    struct error e2 = ERROR_INIT;

    if (m->rec.failback.on)
        return move_failback_finish(m, err);
    move_emit(m, "cleanup", NULL, "removing the temporary snapshots");
    if (replicate_drop_base(m->repl, err) < 0)
        return -1;
    if (mark_source(m, "moved", &e2) < 0 ||
        cinder_volume_metadata_set(m->plan->dst.cinder, m->rec.dst.volume,
                                   dst_meta, 1, &e2) < 0)
        move_emit(m, "info", NULL, "cannot update the volumes' metadata: %s",
                  e2.msg);
    if (m->o->delete_source) {
        move_emit(m, "cleanup", NULL, "deleting source volume %s",
                  m->rec.src.volume);
        if (cinder_volume_delete(m->plan->src.cinder, m->rec.src.volume, err) <
                0 ||
            move_wait_volume(m->plan->src.cinder, m->rec.src.volume, "deleted",
                             300, err) < 0)
            return error_prefix(err, "the move succeeded, but deleting the "
                                     "source failed");
    }
    return move_set_phase(m, MOVE_DONE, err);
}

/* Volume id as Cinder has it, settled: a run killed while Nova detached
 * or attached it leaves it busy ("detaching", "reserved", "attaching")
 * for a while, and where the move stands is known once Nova is done. */
static int volume_get(struct cinder *c, const char *id, bool settle,
                      double timeout, struct cinder_volume *v,
                      struct error *err)
{
    struct cinder_wait w = {NULL, timeout, 1.0, NULL};

    memset(v, 0, sizeof(*v));
    if (!settle)
        return cinder_volume_get(c, id, v, err);
    return cinder_volume_wait(c, id, &w, v, err);
}

/* Where a resumed cutover stands: a source that is attached again means
 * the move goes back to rounds. settle: once a detach under way is over. */
int move_source_attached(struct move *m, bool settle, bool *attached,
                         struct error *err)
{
    struct cinder_volume v;

    if (volume_get(m->plan->src.cinder, m->rec.src.volume, settle,
                   m->o->detach_timeout, &v, err) < 0)
        return -1;
    *attached = v.n_attachments > 0;
    cinder_volume_release(&v);
    return 0;
}

/* settle: once an attach under way is over. */
static int dst_attached(struct move *m, bool settle, bool *attached,
                        struct error *err)
{
    struct cinder_volume v;

    if (volume_get(m->plan->dst.cinder, m->rec.dst.volume, settle,
                   m->o->attach_timeout, &v, err) < 0)
        return -1;
    *attached = !strcmp(v.status, "in-use");
    cinder_volume_release(&v);
    return 0;
}

/* Detach the destination volume from its server if it is attached, or
 * about to be. */
int move_undo_dst_attach(struct move *m, struct error *err)
{
    bool attached = false;

    if (!m->rec.dst.volume)
        return 0;
    if (dst_attached(m, true, &attached, err) < 0)
        return -1;
    if (!attached)
        return 0;
    move_emit(m, "rollback", NULL, "detaching volume %s from server %s",
              m->rec.dst.volume, m->rec.dst.server);
    if (nova_volume_detach(m->plan->dst.nova, m->rec.dst.server,
                           m->rec.dst.volume, err) < 0 ||
        move_wait_volume(m->plan->dst.cinder, m->rec.dst.volume, "available",
                         m->o->detach_timeout, err) < 0)
        return -1;
    return 0;
}

/* Everything before the cutover: create, replicate until the final round
 * fits the budget, verify; or, resumed, find where the cutover stands. */
int move_prepare(struct move *m, struct error *err)
{
    bool attached = false;

    if (m->rec.phase == MOVE_NEW && move_check_source(m, err) < 0)
        return -1;
    if (m->rec.phase == MOVE_NEW && m->rec.failback.on) {
        /* The original exists: proved, re-based, never created. */
        if (move_failback_rebase(m, err) < 0 ||
            move_set_phase(m, MOVE_REPLICATING, err) < 0 ||
            open_data(m, false, err) < 0 ||
            mark_source(m, "failing-back", err) < 0)
            return -1;
    }
    if (m->rec.phase == MOVE_NEW || m->rec.phase == MOVE_CREATING) {
        bool created = !m->rec.dst.volume;

        if (m->rec.dst.volume) {
            if (move_wait_volume(m->plan->dst.cinder, m->rec.dst.volume,
                                 "available", 600, err) < 0 ||
                move_set_phase(m, MOVE_REPLICATING, err) < 0)
                return -1;
        } else if (move_create_dst_volume(m, err) < 0) {
            return -1;
        }
        /* Open before the source is marked: a destination that is not
         * the volume's image (or cannot be reached) is refused before
         * anything is written, and a volume made for it goes again. */
        if (open_data(m, false, err) < 0) {
            struct error why = *err;

            if (created && why.kind != ERROR_INTERRUPTED)
                return move_undo_create(m, &why, err);
            return -1;
        }
        if (mark_source(m, "moving", err) < 0)
            return -1;
    }
    if (m->rec.phase == MOVE_ATTACHING) {
        if (dst_attached(m, true, &attached, err) < 0)
            return -1;
        if (attached && move_set_phase(m, MOVE_ATTACHED, err) < 0)
            return -1;
        if (!attached && move_set_phase(m, MOVE_DETACHED, err) < 0)
            return -1;
    }
    if (!m->repl && open_data(m, m->rec.phase == MOVE_ATTACHED, err) < 0)
        return -1;
    if (m->rec.phase == MOVE_DETACHING || m->rec.phase == MOVE_DETACHED) {
        if (move_source_attached(m, m->rec.phase == MOVE_DETACHING, &attached,
                                 err) < 0)
            return -1;
        if (attached && move_set_phase(m, MOVE_REPLICATING, err) < 0)
            return -1;
        /* Killed after the detach request: it may have been carried out. */
        m->detach_done = !attached && m->rec.phase == MOVE_DETACHING;
    } else if (m->rec.phase == MOVE_ROLLED_BACK && m->rec.src.server) {
        /* A rollback that found the source still detaching (a timeout)
         * leaves it to Nova, which may finish the detach later. */
        if (move_source_attached(m, true, &attached, err) < 0)
            return -1;
        m->detach_done = !attached;
    }
    if (m->rec.phase == MOVE_REPLICATING || m->rec.phase == MOVE_ROLLED_BACK) {
        if (move_set_phase(m, MOVE_REPLICATING, err) < 0 ||
            move_converge(m, err) < 0 || move_wait_turn(m, err) < 0)
            return -1;
        /* A failback that proved the original's head instead of testing
         * it (open_data): the whole base is compared, whatever was asked. */
        if ((m->o->full_verify || m->rec.failback.head_proved) &&
            (move_verify_base(m, err) < 0 || catch_up(m, err) < 0))
            return -1;
    }
    return 0;
}

static int drive(struct move *m, struct error *err)
{
    if (move_prepare(m, err) < 0)
        return -1;
    if (move_phase_in_cutover(m->rec.phase) && cutover(m, err) < 0)
        return -1;
    if (m->rec.phase == MOVE_ATTACHED)
        return move_cleanup(m, err);
    return 0;
}

void move_release(struct move *m)
{
    dest_extents_release(&m->window);
    replicate_close(m->repl);
    dest_free(m->dst);
    cluster_close(m->src_cl);
    plan_free(m->plan);
    move_record_release(&m->rec);
}

void move_init(struct move *m, struct journal *j, const struct migrate_opts *o,
               struct migrate_report *rep)
{
    memset(m, 0, sizeof(*m));
    m->j = j;
    m->o = o;
    m->rep = rep;
    move_record_init(&m->rec);
    converge_throttle_init(&m->throttle, o->min_write_rate);
    m->rate_during = NAN;
}

int migrate_run(struct journal *j, const struct migrate_opts *o,
                struct migrate_report *rep, struct error *err)
{
    struct move m;
    int ret = -1;

    memset(rep, 0, sizeof(*rep));
    move_init(&m, j, o, rep);
    if (move_record_load(j, &m.rec, err) < 0)
        goto out;
    /* A limit a killed run left on is lifted first, whatever comes next;
     * a move back in its rounds may set one again, afresh. */
    if (move_throttle_release(&m, err) < 0)
        goto out;
    if (m.rec.phase == MOVE_DONE) {
        error_set(err, ERROR_STATE, 0, "move %s is already done",
                  journal_id(j));
        goto out;
    }
    if (m.rec.phase == MOVE_ABORTED) {
        error_set(err, ERROR_STATE, 0, "move %s was aborted", journal_id(j));
        goto out;
    }
    if (move_preflight(&m, m.rec.phase != MOVE_NONE, err) < 0)
        goto out;
    ret = drive(&m, err);
    ret = move_throttle_finish(&m, ret, err);
    if (m.rec.dst.volume)
        snprintf(rep->dst_volume_id, sizeof(rep->dst_volume_id), "%s",
                 m.rec.dst.volume);
    if (ret == 0) {
        if (!isnan(m.rec.cutover.downtime))
            rep->downtime = m.rec.cutover.downtime;
        move_emit(&m, "done", NULL, "volume %s now serves server %s",
                  m.rec.dst.volume, m.rec.dst.server);
    } else {
        journal_log(j, "stopped: %s", err->msg);
    }
out:
    move_release(&m);
    return ret;
}
