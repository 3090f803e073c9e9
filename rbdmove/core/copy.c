/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/copy.c: the data path between images and diff streams.
 *
 * One engine serves the three directions. Chunks of changed extents go
 * through a ring of slots:
 *
 *   free_seq <= read_seq <= tail_seq   (counters; slot = seq % n)
 *   [free_seq, read_seq)  processed, their writes may still be in flight
 *   [read_seq, tail_seq)  submitted, their reads may still be in flight
 *
 * Their buffers are cut from one circular arena of window x chunk_size
 * bytes, in ring order (slots are freed in the same order): memory is
 * bounded by bytes in flight, not by requests. A full copy of 4 MiB chunks
 * keeps `window` requests in flight as before, while a diff of scattered
 * 64 KiB extents keeps up to SLOTS_PER_CHUNK times as many, which is what
 * a latency-bound round of small writes needs.
 *
 * Slots are processed strictly in order, so a stream comes out in
 * ascending offsets and "everything below the oldest busy slot is written"
 * holds, which is what a resumable seed checkpoints. No aio buffer is ever
 * freed while librbd may still touch it: every exit path drains the ring.
 */
#include "rbdmove/core/copy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rbdmove/core/image.h"
#include "rbdmove/core/stream.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "transport/transport.h"

#define MIB (1024u * 1024u)
/* Slots per chunk of the window: small requests in flight at most. */
#define SLOTS_PER_CHUNK 16

struct slot {
    char *buf;     /* in the arena; NULL for a zero range */
    size_t charge; /* arena bytes this slot holds (with a skipped tail) */
    uint64_t off;
    size_t len;
    bool zero; /* a range to zero: nothing to read */
    struct image_aio *read;
    struct image_aio **writes;
    size_t nwrites;
    size_t capwrites;
};

struct engine {
    const struct copy_params *p;
    struct copy_stats *st;
    struct image *src;   /* read side; NULL when applying a stream */
    struct image *dst;   /* write side; NULL when sending */
    struct transport *t; /* stream sink when sending */
    struct slot *slots;
    unsigned n;
    char *arena;
    size_t arena_size;
    size_t a_head, a_tail, a_used; /* allocate at head, free from tail */
    uint64_t free_seq, read_seq, tail_seq;
    uint64_t done, total;
    uint64_t next_checkpoint;
    double start;                   /* for bwlimit */
    uint64_t submitted;             /* bytes, for bwlimit */
    struct copy_claim_cursor claim; /* p->claims */
};

void copy_params_init(struct copy_params *p)
{
    memset(p, 0, sizeof(*p));
    p->chunk_size = 4 * MIB;
    /* 8 x 4 MiB: on the lab, faster than 16 and 32 (the OSDs, not the
     * queue depth, are the limit) and a peak RSS of 170 MiB instead of
     * 240 MiB for a copy. */
    p->window = 8;
    p->zero_block = 4096;
    p->checkpoint_every = 1024ull * MIB;
}

/* ---- zero detection ----------------------------------------------------- */

int copy_zero_runs(const char *buf, uint64_t off, size_t len, size_t block,
                   int (*fn)(void *ctx, size_t start, size_t len, bool is_zero,
                             struct error *err),
                   void *ctx, struct error *err)
{
    size_t run_start = 0;
    bool run_zero = false;
    size_t pos = 0;

    while (pos < len) {
        /* Blocks are aligned on image offsets, so the same data gives the
         * same runs whichever chunk it arrived in. */
        size_t blen = block - (size_t)((off + pos) % block);
        bool z;

        if (blen > len - pos)
            blen = len - pos;
        z = mem_is_zero(buf + pos, blen);
        if (pos == 0) {
            run_zero = z;
        } else if (z != run_zero) {
            if (fn(ctx, run_start, pos - run_start, run_zero, err) != 0)
                return -1;
            run_start = pos;
            run_zero = z;
        }
        pos += blen;
    }
    if (len > 0 && fn(ctx, run_start, len - run_start, run_zero, err) != 0)
        return -1;
    return 0;
}

/* ---- the ring ----------------------------------------------------------- */

static int engine_init(struct engine *e, const struct copy_params *p,
                       struct copy_stats *st, struct error *err)
{
    memset(st, 0, sizeof(*st));
    unsigned window = p->window ? p->window : 1;

    e->p = p;
    e->st = st;
    e->n = window * SLOTS_PER_CHUNK;
    e->slots = xcalloc(e->n, sizeof(*e->slots));
    e->arena_size = (size_t)window * p->chunk_size;
    if (e->arena_size > COPY_MEMORY_MAX)
        return error_set(err, ERROR_USAGE, 0,
                         "--window %u x --chunk-size %zu is %zu MiB of buffers,"
                         " over the %u MiB rbdmove allows",
                         window, p->chunk_size, e->arena_size >> 20,
                         (unsigned)(COPY_MEMORY_MAX >> 20));
    /* Large buffers report ENOMEM instead of aborting (style 4.4.5). */
    e->arena = malloc(e->arena_size);
    if (!e->arena)
        return error_set(err, ERROR_IO, ENOMEM,
                         "cannot allocate %u buffers of %zu bytes", window,
                         p->chunk_size);
    e->next_checkpoint = p->checkpoint_every;
    e->start = time_now();
    return 0;
}

/* Hold the pace to p->bwlimit: sleep until the bytes submitted so far are
 * within the budget of the time elapsed. */
static void engine_pace(struct engine *e, size_t len)
{
    double due, now;

    if (!e->p->bwlimit)
        return;
    e->submitted += len;
    due = (double)e->submitted / (double)e->p->bwlimit;
    now = time_now() - e->start;
    if (due > now) {
        double s = due - now;
        struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

        nanosleep(&ts, NULL);
    }
}

/* ---- the arena: FIFO allocation of slot buffers ----------------------- */

/* Cut len bytes for s from the arena; false when they do not fit yet. */
static bool arena_take(struct engine *e, struct slot *s, size_t len)
{
    size_t skip = 0;

    s->buf = NULL;
    s->charge = 0;
    if (len == 0)
        return true;
    if (e->a_used == 0)
        e->a_head = e->a_tail = 0;
    if (e->a_used > 0 && e->a_head == e->a_tail)
        return false; /* full */
    if (e->a_head >= e->a_tail) {
        /* Free: [head, size) and [0, tail). Buffers are contiguous, so
         * when the end is too short it is skipped. */
        if (e->arena_size - e->a_head < len) {
            if (e->a_tail < len)
                return false;
            skip = e->arena_size - e->a_head;
            e->a_head = 0;
        }
    } else if (e->a_tail - e->a_head < len) {
        return false;
    }
    s->buf = e->arena + e->a_head;
    s->charge = len + skip;
    e->a_head += len;
    e->a_used += s->charge;
    return true;
}

/* Give back the buffer of the oldest slot still holding one. */
static void arena_give(struct engine *e, struct slot *s)
{
    if (!s->buf)
        return;
    e->a_used -= s->charge;
    /* Slots are freed in the order they were cut: the free space now
     * begins where this buffer ends (a skipped end went with it). */
    e->a_tail = (size_t)(s->buf - e->arena) + s->len;
    s->buf = NULL;
    s->charge = 0;
}

static int slot_wait_writes(struct slot *s, struct error *err)
{
    int ret = 0;

    for (size_t i = 0; i < s->nwrites; i++) {
        struct error e2 = ERROR_INIT;

        /* Wait for every one even after a failure: their buffers. */
        if (image_aio_wait(s->writes[i], ret < 0 ? &e2 : err) < 0)
            ret = -1;
    }
    s->nwrites = 0;
    return ret;
}

static bool slot_writes_done(const struct slot *s)
{
    for (size_t i = 0; i < s->nwrites; i++) {
        if (!image_aio_done(s->writes[i]))
            return false;
    }
    return true;
}

/* Wait for everything in flight, ignoring errors: for exit paths. */
static void engine_drain_quiet(struct engine *e)
{
    struct error ignored = ERROR_INIT;

    for (uint64_t q = e->free_seq; q < e->tail_seq; q++) {
        struct slot *s = &e->slots[q % e->n];

        if (image_aio_wait(s->read, &ignored) < 0)
            error_clear(&ignored);
        s->read = NULL;
        if (slot_wait_writes(s, &ignored) < 0)
            error_clear(&ignored);
    }
    e->free_seq = e->read_seq = e->tail_seq;
}

static void engine_release(struct engine *e)
{
    if (!e->slots)
        return;
    engine_drain_quiet(e);
    for (unsigned i = 0; i < e->n; i++)
        free(e->slots[i].writes);
    free(e->slots);
    e->slots = NULL;
    free(e->arena);
    e->arena = NULL;
}

static int add_write(struct slot *s, struct image_aio *a)
{
    if (s->nwrites == s->capwrites) {
        s->capwrites = s->capwrites ? s->capwrites * 2 : 4;
        s->writes = xrealloc(s->writes, s->capwrites * sizeof(*s->writes));
    }
    s->writes[s->nwrites++] = a;
    return 0;
}

/* Free processed slots: all whose writes are done, and at least one when
 * block is set. */
static int engine_reclaim(struct engine *e, bool block, struct error *err)
{
    while (e->free_seq < e->read_seq) {
        struct slot *s = &e->slots[e->free_seq % e->n];

        if (!block && !slot_writes_done(s))
            break;
        if (slot_wait_writes(s, err) < 0)
            return -1;
        arena_give(e, s);
        e->free_seq++;
        block = false;
    }
    return 0;
}

static bool engine_full(const struct engine *e)
{
    return e->tail_seq - e->free_seq >= e->n;
}

/* The next slot, with a buffer of len bytes (0: none), or false while
 * neither is free yet. */
static struct slot *engine_take(struct engine *e, size_t len)
{
    struct slot *s = &e->slots[e->tail_seq % e->n];

    if (engine_full(e) || !arena_take(e, s, len))
        return NULL;
    return s;
}

/* ---- sinks ----------------------------------------------------------------
 */

struct run_ctx {
    struct engine *e;
    struct slot *s;
};

static int stream_run(void *ctx, size_t start, size_t len, bool is_zero,
                      struct error *err)
{
    struct run_ctx *rc = ctx;
    struct engine *e = rc->e;
    uint64_t off = rc->s->off + start;

    if (is_zero) {
        e->st->zero_bytes += len;
        e->st->zero_records++;
        return stream_write_zero(e->t, off, len, err);
    }
    e->st->data_bytes += len;
    e->st->data_records++;
    return stream_write_data(e->t, off, len, rc->s->buf + start, err);
}

static int image_run(void *ctx, size_t start, size_t len, bool is_zero,
                     struct error *err)
{
    struct run_ctx *rc = ctx;
    struct engine *e = rc->e;
    struct image_aio *a = NULL;
    uint64_t off = rc->s->off + start;

    if (is_zero) {
        e->st->zero_bytes += len;
        if (e->p->dst_is_zero)
            return 0;
        e->st->zero_records++;
        if (image_aio_zero(e->dst, off, len, &a, err) < 0)
            return -1;
    } else {
        e->st->data_bytes += len;
        e->st->data_records++;
        if (image_aio_write(e->dst, off, len, rc->s->buf + start, &a, err) < 0)
            return -1;
    }
    return add_write(rc->s, a);
}

/* Hand one slot whose data is in place (or that is a zero range) to the
 * sink. */
static int engine_emit(struct engine *e, struct slot *s, struct error *err)
{
    struct run_ctx rc = {e, s};
    int (*run)(void *, size_t, size_t, bool, struct error *) =
        e->t ? stream_run : image_run;

    if (s->zero)
        return run(&rc, 0, s->len, true, err);
    return copy_zero_runs(s->buf, s->off, s->len, e->p->zero_block, run, &rc,
                          err);
}

static int engine_process(struct engine *e, struct error *err);

static int engine_checkpoint(struct engine *e, uint64_t below,
                             struct error *err)
{
    if (!e->p->checkpoint || e->done < e->next_checkpoint)
        return 0;
    e->next_checkpoint = e->done + e->p->checkpoint_every;
    /* Every chunk below 'below' was submitted, but reads may still be in
     * flight and their writes not even started: emit them all and wait
     * for every write before claiming anything is written. */
    while (e->read_seq < e->tail_seq) {
        if (engine_process(e, err) < 0)
            return -1;
    }
    while (e->free_seq < e->read_seq) {
        if (engine_reclaim(e, true, err) < 0)
            return -1;
    }
    if (e->dst && image_flush(e->dst, err) < 0)
        return -1;
    return e->p->checkpoint(e->p->checkpoint_ctx, below, err);
}

/* Wait for the oldest submitted read and emit it. */
static int engine_process(struct engine *e, struct error *err)
{
    struct slot *s = &e->slots[e->read_seq % e->n];
    struct image_aio *a = s->read;

    s->read = NULL;
    if (image_aio_wait(a, err) < 0)
        return -1;
    if (engine_emit(e, s, err) < 0)
        return -1;
    e->read_seq++;
    e->done += s->len;
    if (e->p->progress)
        e->p->progress(e->p->progress_ctx, e->done, e->total);
    return 0;
}

static int check_cancel(struct engine *e, struct error *err)
{
    if (e->p->cancel && e->p->cancel(e->p->cancel_ctx))
        return error_set(err, ERROR_INTERRUPTED, EINTR, "interrupted");
    return 0;
}

/* Queue one chunk of the source: make room, start its read. */
static int engine_submit(struct engine *e, uint64_t off, size_t len, bool zero,
                         struct error *err)
{
    struct slot *s;

    if (check_cancel(e, err) < 0)
        return -1;
    engine_pace(e, zero ? 0 : len);
    while (!(s = engine_take(e, zero ? 0 : len))) {
        if (e->read_seq < e->tail_seq) {
            if (engine_process(e, err) < 0)
                return -1;
            if (engine_reclaim(e, false, err) < 0)
                return -1;
        } else {
            if (e->free_seq == e->read_seq)
                BUG("an empty arena cannot take %zu bytes", len);
            if (engine_reclaim(e, true, err) < 0)
                return -1;
        }
    }
    s->off = off;
    s->len = len;
    s->zero = zero;
    s->read = NULL;
    if (!zero && image_aio_read(e->src, off, len, s->buf, &s->read, err) < 0)
        return -1;
    e->tail_seq++;
    /* Emit whatever has already arrived, so the sink keeps busy. */
    while (e->read_seq < e->tail_seq &&
           image_aio_done(e->slots[e->read_seq % e->n].read)) {
        if (engine_process(e, err) < 0)
            return -1;
    }
    if (engine_reclaim(e, false, err) < 0)
        return -1;
    return engine_checkpoint(e, off + len, err);
}

static int engine_finish(struct engine *e, struct error *err)
{
    while (e->read_seq < e->tail_seq) {
        if (engine_process(e, err) < 0)
            return -1;
    }
    while (e->free_seq < e->read_seq) {
        if (engine_reclaim(e, true, err) < 0)
            return -1;
    }
    if (e->dst && image_flush(e->dst, err) < 0)
        return -1;
    return 0;
}

/* ---- enumeration ------------------------------------------------------------
 */

struct extent {
    uint64_t off;
    uint64_t len;
    bool exists;
};

struct extent_list {
    struct extent *v;
    size_t n, cap;
    uint64_t lo, hi; /* the segment: extents are clipped to it */
    uint64_t bytes;
};

static int collect_extent(void *ctx, uint64_t off, uint64_t len, bool exists,
                          struct error *err)
{
    struct extent_list *l = ctx;
    uint64_t end = off + len;

    (void)err;
    if (off < l->lo)
        off = l->lo;
    if (end > l->hi)
        end = l->hi;
    if (end <= off)
        return 0;
    /* Merge with the previous extent when they touch and agree. */
    if (l->n > 0 && l->v[l->n - 1].exists == exists &&
        l->v[l->n - 1].off + l->v[l->n - 1].len == off) {
        l->v[l->n - 1].len += end - off;
    } else {
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 256;
            l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        l->v[l->n++] = (struct extent){off, end - off, exists};
    }
    l->bytes += end - off;
    return 0;
}

/*
 * The segment's extents and the extra ranges of p that fall in it, as one
 * list: where a range covers what the diff has not (or has as a hole), its
 * data is read, so the destination gets the source's whatever it held.
 */
static void add_extra(struct extent_list *l, const struct copy_params *p)
{
    struct extent_list out = {NULL, 0, 0, l->lo, l->hi, 0};
    uint64_t *cut, before = 0;
    size_t ncut = 0, i = 0, j = 0;

    if (!p->extra_n)
        return;
    for (size_t k = 0; k < l->n; k++)
        before += l->v[k].len;
    cut = xcalloc(2 * (l->n + p->extra_n) + 2, sizeof(*cut));
    for (size_t k = 0; k < l->n; k++) {
        cut[ncut++] = l->v[k].off;
        cut[ncut++] = l->v[k].off + l->v[k].len;
    }
    for (size_t k = 0; k < p->extra_n; k++) {
        uint64_t a = p->extra_off[k], b = a + p->extra_len[k];

        if (b <= l->lo || a >= l->hi)
            continue;
        cut[ncut++] = a < l->lo ? l->lo : a;
        cut[ncut++] = b > l->hi ? l->hi : b;
    }
    /* Insertion sort: the lists are short (one segment's). */
    for (size_t k = 1; k < ncut; k++)
        for (size_t m = k; m > 0 && cut[m - 1] > cut[m]; m--) {
            uint64_t t = cut[m];

            cut[m] = cut[m - 1];
            cut[m - 1] = t;
        }
    for (size_t k = 0; k + 1 < ncut; k++) {
        uint64_t a = cut[k], b = cut[k + 1];
        bool in_l = false, in_x = false, exists = false;

        if (a == b)
            continue;
        while (i < l->n && l->v[i].off + l->v[i].len <= a)
            i++;
        if (i < l->n && l->v[i].off <= a) {
            in_l = true;
            exists = l->v[i].exists;
        }
        while (j < p->extra_n && p->extra_off[j] + p->extra_len[j] <= a)
            j++;
        in_x = j < p->extra_n && p->extra_off[j] <= a;
        if (in_x)
            exists = true;
        if (in_l || in_x)
            (void)collect_extent(&out, a, b - a, exists, NULL);
    }
    free(cut);
    free(l->v);
    l->v = out.v;
    l->n = out.n;
    l->cap = out.cap;
    l->bytes = l->bytes - before + out.bytes;
}

static uint64_t segment_length(struct image *img, const struct copy_params *p)
{
    uint64_t unit = image_object_size(img);

    if (unit < p->chunk_size)
        unit = p->chunk_size;
    return unit * 256;
}

int copy_measure(struct image *src, const char *from_snap, bool whole_object,
                 uint64_t *bytes, uint64_t *extents, struct error *err)
{
    struct extent_list l = {NULL, 0, 0, 0, 0, 0};
    uint64_t size = image_size(src);
    uint64_t seg = image_object_size(src) * 1024;
    int ret = 0;

    *bytes = 0;
    *extents = 0;
    for (uint64_t off = 0; off < size && ret == 0; off += seg) {
        l.n = 0;
        l.lo = off;
        l.hi = off + seg < size ? off + seg : size;
        ret = image_diff(src, from_snap, l.lo, l.hi - l.lo, whole_object,
                         collect_extent, &l, err);
        *extents += l.n;
    }
    *bytes = l.bytes;
    free(l.v);
    return ret;
}

bool copy_claim_due(const struct copy_claims *c,
                    const struct copy_claim_cursor *cur)
{
    return c && (!cur->claimed || cur->mine < cur->seen);
}

/*
 * A new claim is never behind the stream: the counter is past every
 * ordinal claimed, including the one the stream has just reached.
 */
bool copy_claim_next(struct copy_claims *c, struct copy_claim_cursor *cur)
{
    uint64_t k = cur->seen++;

    if (!c)
        return true;
    if (!cur->claimed || cur->mine < k) {
        /* (copy_claim_due, before seen++) */
        cur->mine = atomic_fetch_add(&c->next, 1);
        cur->claimed = true;
    }
    return cur->mine == k;
}

/* Send queued pieces until fewer than 'ahead' are left (claims). */
static int engine_hold(struct engine *e, unsigned ahead, struct error *err)
{
    while (e->tail_seq - e->read_seq >= (ahead < 2 ? 2 : ahead)) {
        if (engine_process(e, err) < 0)
            return -1;
        if (engine_reclaim(e, false, err) < 0)
            return -1;
    }
    return 0;
}

/* Feed the chunks of one extent list to the engine. */
static int submit_extents(struct engine *e, const struct extent_list *l,
                          struct error *err)
{
    const struct copy_params *p = e->p;
    uint64_t chunk = p->chunk_size;

    for (size_t i = 0; i < l->n; i++) {
        uint64_t off = l->v[i].off;
        uint64_t end = off + l->v[i].len;

        if (end <= p->resume_off)
            continue;
        if (off < p->resume_off)
            off = p->resume_off;
        while (off < end) {
            /* Pieces never cross a multiple of chunk_size, and every
             * stream enumerates the same extents of the same snapshot:
             * every stream counts the same pieces in the same order. */
            uint64_t cend = (off / chunk + 1) * chunk;

            if (cend > end)
                cend = end;
            if (copy_claim_due(p->claims, &e->claim) &&
                engine_hold(e, p->claims->ahead, err) < 0)
                return -1;
            if (copy_claim_next(p->claims, &e->claim)) {
                if (engine_submit(e, off, (size_t)(cend - off), !l->v[i].exists,
                                  err) < 0)
                    return -1;
            }
            off = cend;
        }
    }
    return 0;
}

/* Enumerate src's changes segment by segment and run them through e. */
static int engine_run_source(struct engine *e, const char *from_snap,
                             struct error *err)
{
    const struct copy_params *p = e->p;
    struct extent_list l = {NULL, 0, 0, 0, 0, 0};
    uint64_t size = image_size(e->src);
    uint64_t seg = segment_length(e->src, p);
    uint64_t extents = 0;
    int ret = -1;

    e->total = p->known_total;
    if (p->progress && !e->total &&
        copy_measure(e->src, from_snap, p->whole_object, &e->total, &extents,
                     err) < 0)
        return -1;
    for (uint64_t off = p->resume_off / seg * seg; off < size; off += seg) {
        l.n = 0;
        l.lo = off;
        l.hi = off + seg < size ? off + seg : size;
        double t0 = time_now();

        if (image_diff(e->src, from_snap, l.lo, l.hi - l.lo, p->whole_object,
                       collect_extent, &l, err) < 0)
            goto out;
        add_extra(&l, p);
        e->st->diff_seconds += time_now() - t0;
        if (submit_extents(e, &l, err) < 0)
            goto out;
    }
    if (engine_finish(e, err) < 0)
        goto out;
    e->st->extent_bytes = l.bytes;
    ret = 0;
out:
    free(l.v);
    return ret;
}

int copy_send(struct image *src, const char *from_snap,
              const struct stream_header *h, const struct copy_params *p,
              struct transport *t, struct copy_stats *st, struct error *err)
{
    struct engine e = {0};
    uint64_t out0 = t->bytes_out;
    double t0 = time_now();
    int ret = -1;

    e.src = src;
    e.t = t;
    if (engine_init(&e, p, st, err) < 0)
        goto out;
    if (stream_write_header(t, h, err) < 0)
        goto out;
    if (engine_run_source(&e, from_snap, err) < 0)
        goto out;
    if (stream_write_end(t, err) < 0)
        goto out;
    ret = 0;
out:
    engine_release(&e);
    st->stream_bytes = t->bytes_out - out0;
    st->seconds = time_now() - t0;
    return ret;
}

int copy_direct(struct image *src, const char *from_snap, struct image *dst,
                const struct copy_params *p, struct copy_stats *st,
                struct error *err)
{
    struct engine e = {0};
    double t0 = time_now();
    int ret = -1;

    e.src = src;
    e.dst = dst;
    if (engine_init(&e, p, st, err) < 0)
        goto out;
    if (engine_run_source(&e, from_snap, err) < 0)
        goto out;
    ret = 0;
out:
    engine_release(&e);
    st->seconds = time_now() - t0;
    return ret;
}

/* ---- applying a stream ----------------------------------------------------
 */

/* Take a free slot (with len bytes of buffer) for data arriving from the
 * stream. */
static int apply_slot(struct engine *e, size_t len, struct slot **out,
                      struct error *err)
{
    while (!(*out = engine_take(e, len))) {
        if (e->free_seq == e->read_seq)
            BUG("an empty arena cannot take %zu bytes", len);
        if (engine_reclaim(e, true, err) < 0)
            return -1;
    }
    (*out)->read = NULL;
    return 0;
}

static int apply_piece(struct engine *e, struct stream_reader *r, uint64_t off,
                       size_t len, bool zero, struct error *err)
{
    struct slot *s;

    if (check_cancel(e, err) < 0)
        return -1;
    if (apply_slot(e, zero ? 0 : len, &s, err) < 0)
        return -1;
    s->off = off;
    s->len = len;
    s->zero = zero;
    if (!zero && stream_read_data(r, s->buf, len, err) < 0)
        return -1;
    e->tail_seq++;
    if (engine_emit(e, s, err) < 0)
        return -1;
    e->read_seq++;
    e->done += len;
    if (e->p->submitted)
        e->p->submitted(e->p->submitted_ctx, off + len);
    if (e->p->progress)
        e->p->progress(e->p->progress_ctx, stream_reader_offset(r), e->total);
    return engine_reclaim(e, false, err);
}

static int apply_record(struct engine *e, struct stream_reader *r,
                        const struct stream_record *rec, struct error *err)
{
    uint64_t off = rec->off;
    uint64_t end = rec->off + rec->len;

    if (rec->type == STREAM_RECORD_ZERO) {
        /* One request: librbd splits it by object itself. */
        return rec->len ? apply_piece(e, r, off, (size_t)rec->len, true, err)
                        : 0;
    }
    while (off < end) {
        uint64_t len = end - off;

        if (len > e->p->chunk_size)
            len = e->p->chunk_size;
        if (apply_piece(e, r, off, (size_t)len, false, err) < 0)
            return -1;
        off += len;
    }
    return 0;
}

int copy_apply(struct image *dst, struct stream_reader *r,
               const struct copy_params *p, uint64_t total,
               struct copy_stats *st, struct error *err)
{
    struct engine e = {0};
    uint64_t in0 = stream_reader_offset(r);
    struct stream_record rec;
    double t0 = time_now();
    int ret = -1;

    e.dst = dst;
    e.total = total;
    if (engine_init(&e, p, st, err) < 0)
        goto out;
    for (;;) {
        if (stream_read_record(r, &rec, err) < 0)
            goto out;
        if (rec.type == STREAM_RECORD_END)
            break;
        st->extent_bytes += rec.len;
        if (apply_record(&e, r, &rec, err) < 0)
            goto out;
    }
    if (engine_finish(&e, err) < 0)
        goto out;
    ret = 0;
out:
    engine_release(&e);
    st->stream_bytes = stream_reader_offset(r) - in0;
    st->seconds = time_now() - t0;
    return ret;
}
