/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate_throttle.c: auto-converge, the move's limit on the
 * source image's writes (see migrate.h; converge.h has the ladder).
 *
 * librbd takes image-level configuration from the image's metadata, the
 * option's name behind "conf_", and every client that has the image open
 * applies it when the header changes; metadata set through librbd
 * notifies them (the exclusive lock's owner, QEMU, carries the change out
 * when it holds the lock). So the limit is one key on the source image,
 * conf_rbd_qos_write_bps_limit, and the server need not restart.
 *
 * The journal records the value the key had (or that it had none), and
 * the limit, before the limit is set: whoever finds a limit recorded as
 * set (a resume, an abort, after a kill -9) puts that value back exactly.
 * The limit is lifted before the cutover's detach, at the end of every run
 * and by abort; move_throttle_release does nothing twice.
 */
#include "rbdmove/core/migrate_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/replicate.h"

#define QOS_KEY "conf_rbd_qos_write_bps_limit"

/* The source image, writable (librbd refuses metadata on a read-only
 * open), on the move's connection or, when the data is not open yet (a
 * resume, an abort, an early failure), on one of its own in *own. */
static int open_source(struct move *m, struct cluster **own, struct image **img,
                       struct error *err)
{
    struct cluster *cl = m->src_cl;

    *own = NULL;
    if (!m->rec.src.pool || !m->rec.src.image)
        return error_set(err, ERROR_STATE, 0,
                         "move %s records a write limit but no source "
                         "image",
                         journal_id(m->j));
    if (!cl) {
        if (cluster_connect(m->o->src_conf, m->o->src_id, m->o->ceph_timeout,
                            own, err) < 0)
            return -1;
        cl = *own;
    }
    return image_open(cl, m->rec.src.pool, m->rec.src.image, NULL, false, img,
                      err);
}

static void close_source(struct cluster *own, struct image *img)
{
    image_close(img);
    cluster_close(own);
}

static void __attribute__((format(printf, 3, 4)))
emit_throttle(struct move *m, const struct migrate_throttle *t, const char *fmt,
              ...)
{
    struct migrate_event ev = {"throttle", NULL, m->round, NULL, t};
    va_list ap;

    va_start(ap, fmt);
    move_emit_event(m, &ev, fmt, ap);
    va_end(ap);
}

/* "12.5 MiB/s" into out (at least 24 bytes). */
static const char *rate_str(double bps, char *out, size_t len)
{
    char b[16];

    snprintf(out, len, "%s/s", format_bytes((uint64_t)bps, b, sizeof(b)));
    return out;
}

double move_write_rate(struct move *m, uint64_t delta)
{
    double rate;

    if (m->t_base <= 0)
        return 0;
    rate = converge_write_rate(delta, time_now() - m->t_base);
    /* All of it written under the current level: its measure. */
    if (m->throttle.level && m->t_base >= m->t_level)
        m->rate_during = rate;
    return rate;
}

/* A limit in force before the move, never raised (0: none, or not a
 * number librbd would take). */
static uint64_t parse_cap(const char *v)
{
    struct error e = ERROR_INIT;
    uint64_t n = 0;

    if (!v || parse_uint(v, QOS_KEY, 0, UINT64_MAX, &n, &e) < 0)
        return 0;
    return n;
}

static void emit_set(struct move *m, double rate)
{
    const struct converge_throttle *t = &m->throttle;
    struct migrate_throttle ev = {
        false,    t->level,       converge_throttle_percent(t->level),
        t->limit, t->rate_before, t->level > 1 ? rate : NAN,
        NAN,
    };
    char r[24], l[24];

    emit_throttle(
        m, &ev,
        "%s (%s written): limiting the server's writes to %s, %u%% "
        "of its rate before, with %s on %s/%s",
        t->level > 1 ? "still not converging" : "the writer outruns the copy",
        rate_str(rate, r, sizeof(r)), rate_str((double)t->limit, l, sizeof(l)),
        ev.percent, QOS_KEY, m->rec.src.pool, m->rec.src.image);
}

/* Record, then set, the level converge_throttle_next chose. fresh: the
 * first limit on the image, which had prev before (NULL: no such key). */
static int set_limit(struct move *m, struct image *img, bool fresh,
                     const char *prev, double rate, struct error *err)
{
    unsigned pct;
    char val[24];

    if (fresh) {
        m->rec.throttle.prev_exists = prev != NULL;
        move_record_set(&m->rec.throttle.prev, prev);
    }
    m->rec.throttle.state = MOVE_THROTTLE_SET;
    m->rec.throttle.level = m->throttle.level;
    m->rec.throttle.limit = m->throttle.limit;
    if (move_record_save(m, err) < 0)
        return -1;
    snprintf(val, sizeof(val), "%" PRIu64, m->throttle.limit);
    if (image_meta_set(img, QOS_KEY, val, err) < 0)
        return error_prefix(err, "limiting the server's writes");
    m->t_level = time_now();
    if (!m->t_throttled)
        m->t_throttled = m->t_level;
    pct = converge_throttle_percent(m->throttle.level);
    if (!m->rep->throttle_pct || pct < m->rep->throttle_pct)
        m->rep->throttle_pct = pct; /* the deepest, over a group's ladders */
    emit_set(m, rate);
    return 0;
}

int move_throttle_step(struct move *m, struct converge *c, uint64_t delta,
                       double rate, enum converge_step *step, struct error *err)
{
    bool fresh = m->rec.throttle.state != MOVE_THROTTLE_SET;
    struct cluster *own = NULL;
    struct image *img = NULL;
    char *prev = NULL;
    int ret = -1;

    if (open_source(m, &own, &img, err) < 0)
        goto out;
    /* Read before the first limit only: later, the key holds ours. */
    if (fresh && image_meta_get(img, QOS_KEY, &prev, err) < 0)
        goto out;
    m->throttle.cap = parse_cap(fresh ? prev : m->rec.throttle.prev);
    *step = converge_throttle_next(c, &m->throttle, delta, rate,
                                   replicate_rounds(m->repl), m->o->max_rounds);
    if (*step == CONVERGE_THROTTLE &&
        set_limit(m, img, fresh, prev, rate, err) < 0)
        goto out;
    ret = 0;
out:
    free(prev);
    close_source(own, img);
    return ret;
}

/*
 * The rounds would settle above the budget (converge_hopeless): the next
 * throttle level now, rather than after rounds that do not shrink. With
 * no level left, one more round: only the stall test gives up a move.
 */
int move_throttle_early(struct move *m, struct converge *c, uint64_t delta,
                        double rate, enum converge_step *step,
                        struct error *err)
{
    char w[24], r[24];

    move_emit(m, "info", NULL,
              "the server writes %s and rounds copy %s with %.1f s of "
              "snapshots and checks each: more rounds alone would not fit "
              "the final round into %.1f s",
              rate_str(rate, w, sizeof(w)),
              rate_str(m->throughput, r, sizeof(r)), m->overhead, c->budget);
    if (move_throttle_step(m, c, delta, rate, step, err) < 0)
        return -1;
    if (*step == CONVERGE_STUCK)
        *step = CONVERGE_ROUND;
    return 0;
}

int move_converge_stuck(struct move *m, const struct converge *c,
                        uint64_t delta, double p, struct error *err)
{
    const struct converge_throttle *t = &m->throttle;
    struct buf tried = BUF_INIT;
    char l[24];
    int ret = 0;

    if (t->level)
        buf_addf(&tried,
                 " even with the server's writes limited to %s (%u%% of "
                 "its rate%s)",
                 rate_str((double)t->limit, l, sizeof(l)),
                 converge_throttle_percent(t->level),
                 t->limit == t->floor ? ", at --min-write-rate" : "");
    if (m->o->force_cutover)
        move_emit(m, "info", NULL,
                  "not converging%s (%" PRIu64 " bytes pending, final round "
                  "%.1f s); cutting over anyway (--force-cutover)",
                  buf_str(&tried), delta, p);
    else
        ret = error_set(err, ERROR_STATE, 0,
                        "the writer outruns the copy%s: %" PRIu64
                        " bytes change between rounds and the final round "
                        "would take %.1f s, over the %.1f s budget; nothing "
                        "was cut over (raise --max-downtime, or "
                        "--force-cutover)",
                        buf_str(&tried), delta, p, c->budget);
    buf_release(&tried);
    return ret;
}

static void emit_released(struct move *m)
{
    const struct move_record *r = &m->rec;
    double now = time_now();
    struct migrate_throttle ev = {
        true,
        r->throttle.level,
        r->throttle.level ? converge_throttle_percent(r->throttle.level) : 0,
        r->throttle.limit,
        m->throttle.rate_before > 0 ? m->throttle.rate_before : NAN,
        m->rate_during,
        m->t_throttled > 0 ? now - m->t_throttled : NAN,
    };
    struct buf how = BUF_INIT;

    if (!isnan(ev.throttled_s)) {
        m->rep->throttled_s += ev.throttled_s;
        buf_addf(&how, " after %.1f s", ev.throttled_s);
    }
    if (r->throttle.prev_exists)
        buf_addf(&how, "; %s is '%s' again", QOS_KEY, r->throttle.prev);
    else
        buf_addf(&how, "; %s removed, as before the move", QOS_KEY);
    emit_throttle(m, &ev, "lifted the limit on the server's writes%s",
                  buf_str(&how));
    buf_release(&how);
}

int move_throttle_release(struct move *m, struct error *err)
{
    struct cluster *own = NULL;
    struct image *img = NULL;
    int ret = -1, r;

    if (m->rec.throttle.state != MOVE_THROTTLE_SET)
        return 0;
    if (open_source(m, &own, &img, err) < 0)
        goto out;
    if (m->rec.throttle.prev_exists)
        r = image_meta_set(img, QOS_KEY, m->rec.throttle.prev, err);
    else
        r = image_meta_remove(img, QOS_KEY, err);
    if (r < 0)
        goto out;
    m->rec.throttle.state = MOVE_THROTTLE_RESTORED;
    if (move_record_save(m, err) < 0)
        goto out;
    emit_released(m);
    /* A later ladder, if any, starts afresh. */
    converge_throttle_init(&m->throttle, m->o->min_write_rate);
    m->t_throttled = 0;
    m->rate_during = NAN;
    ret = 0;
out:
    close_source(own, img);
    if (ret < 0)
        error_prefix(err, "lifting auto-converge's limit on the server's "
                          "writes");
    return ret;
}

int move_throttle_finish(struct move *m, int ret, struct error *err)
{
    struct error e = ERROR_INIT;

    if (move_throttle_release(m, &e) == 0)
        return ret;
    if (ret == 0) {
        *err = e;
        return error_prefix(err,
                            "the move is done, but %s is still set "
                            "('rbdmove resume %s' lifts it)",
                            QOS_KEY, journal_id(m->j));
    }
    error_suffix(err,
                 "; the server's writes are still limited (%s): 'rbdmove "
                 "resume %s' or 'rbdmove abort %s' lifts the limit",
                 e.msg, journal_id(m->j), journal_id(m->j));
    return ret;
}
