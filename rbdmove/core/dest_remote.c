/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/dest_remote.c: a destination served by `rbdmove receive` on
 * another host (see receiver.c for the protocol).
 *
 * One control session carries the requests. Right after hello it asks for
 * the data sessions ("streams N"), which log in at once, in the background,
 * while the control session probes and prepares the image; every transfer
 * then sends each of them a share of the chunks (chunk index modulo the
 * number of streams) from its own thread, so that several SSH sessions
 * fill a long fat pipe that one cannot (sshd's 2 MiB channel window), and
 * no round pays for logins again. Compression and rate limits wrap each
 * data session. A failed transfer leaves the control session unusable:
 * the destination is then "broken" and every further request fails at
 * once. So does an answer
 * with a number out of the limits of proto.h (the rest of it is unread):
 * counts, sizes and offsets are checked before they size an allocation, a
 * loop or a division.
 */
#include "rbdmove/core/dest.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/log.h"
#include "rbdmove/core/copy.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/proto.h"
#include "rbdmove/core/stream.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "transport/transport.h"

struct dest_remote {
    struct dest base;
    struct dest_remote_params p;
    char *program;
    struct transport *ctl;
    struct proto_reader r;
    bool broken;
    bool greeted; /* `receive --greet`: hello and streams come unasked */
    /* dest_batch: create and set_meta requests held back (later, nlater
     * of them) until the next request, and sent in its packet. */
    bool batching;
    struct buf later;
    unsigned nlater;
    uint64_t size; /* of the head, as last probed, created or resized */
    /* The data sessions: asked for right after hello and logged in in
     * the background while the control session works; every transfer
     * then reuses them. */
    unsigned nstreams;
    char *sock;
    struct opener *open; /* the logins, until the first transfer */
    unsigned open_cap;   /* room in open: more may start (control_verified) */
    unsigned nstarted;   /* logins started: nstreams wanted, the rest let go */
    struct transport **data;
    pthread_mutex_t login_mu;
    pthread_cond_t login_cv;
    unsigned logging_in;
    /* The data sessions may log in before the receiver names its socket
     * (sock): they wait on sock_cv, under login_mu, for sock or for
     * sock_abandoned (the receiver failed, or the run ends). */
    pthread_cond_t sock_cv;
    bool sock_abandoned;
    /* The answer to the probe sent along with "streams": the first
     * dest_probe takes it, any other request first (request()) drops it. */
    bool early_probe;
    int early_ret;
    struct dest_state early_st;
    struct error early_err;
    /* The answer of a transfer whose commit follows (commit_follows), not
     * read yet: read before any later answer (settle), and the requests
     * sent meanwhile are chained to it ("&&"). owed_*: what the senders
     * sent, which the receiver's count must match. */
    bool owed;
    uint64_t owed_data, owed_zero;
};

/* The most data sessions --streams' default picks (auto_streams). */
#define AUTO_STREAMS_MAX 8
static unsigned auto_streams(double rtt);

static void drop_early_probe(struct dest_remote *d)
{
    if (!d->early_probe)
        return;
    dest_state_release(&d->early_st);
    d->early_probe = false;
}

/* Start a line with "&&": the request that follows is done only if the
 * one before it succeeded (receiver.c). */
static void add_chain(struct buf *b)
{
    buf_add_pct(b, "&&");
    buf_adds(b, " ");
}

/* Send line after the requests held back (dest_batch), in one packet.
 * Each but the first is chained ("&&", later()), line too: the receiver
 * stops at the first that fails, so that a mark never lands on an image
 * whose create failed, nor an apply's streams on it. The first is
 * chained too while a transfer's answer is owed: a commit is done only if
 * the transfer was whole. *nheld: the answers to read (read_held) before
 * line's. */
static int send_held(struct dest_remote *d, const struct buf *line,
                     unsigned *nheld, struct error *err)
{
    struct buf all = BUF_INIT;
    int ret;

    *nheld = d->nlater;
    d->batching = false;
    if (!*nheld && !d->owed)
        return proto_send(d->ctl, line, err);
    if (d->owed) {
        add_chain(&all);
    }
    buf_add(&all, d->later.data, d->later.len);
    if (*nheld) {
        add_chain(&all);
    }
    buf_add(&all, line->data, line->len);
    buf_reset(&d->later);
    d->nlater = 0;
    ret = proto_send(d->ctl, &all, err);
    buf_release(&all);
    return ret;
}

/*
 * The answer remote_transfer left unread (its commit follows): the
 * receiver's counts of what it applied, which must be what the senders
 * sent. A failure leaves the session out of step (the chained request's
 * refusal unread).
 */
static int settle(struct dest_remote *d, struct error *err)
{
    struct proto_tokens ans = {NULL, 0};
    uint64_t data = 0, zero = 0;
    int ret = -1;

    if (!d->owed)
        return 0;
    d->owed = false;
    if (proto_read_answer(&d->r, &ans, err) < 0 ||
        proto_get_u64_range(&ans, "data", 0, PROTO_SIZE_MAX, &data, err) < 0 ||
        proto_get_u64_range(&ans, "zero", 0, PROTO_SIZE_MAX, &zero, err) < 0)
        goto out;
    if (data != d->owed_data || zero != d->owed_zero) {
        error_set(err, ERROR_PROTOCOL, 0,
                  "the receiver of '%s' applied %" PRIu64
                  " bytes of data and %" PRIu64 " of zeros where %" PRIu64
                  " and %" PRIu64 " were sent",
                  d->base.name, data, zero, d->owed_data, d->owed_zero);
        goto out;
    }
    ret = 0;
out:
    if (ret < 0)
        d->broken = true;
    proto_tokens_release(&ans);
    return ret;
}

/* The answers owed (settle) and those of n held requests; the first that
 * failed is the failure, and leaves the session out of step (the rest
 * unread). */
static int read_held(struct dest_remote *d, unsigned n, struct error *err)
{
    int ret = settle(d, err);

    for (unsigned i = 0; ret == 0 && i < n; i++) {
        struct proto_tokens none = {NULL, 0};

        ret = proto_read_answer(&d->r, &none, err);
        proto_tokens_release(&none);
        if (ret < 0)
            d->broken = true;
    }
    return ret;
}

/* Send line after the requests held back, and read their answers. */
static int send_with_later(struct dest_remote *d, const struct buf *line,
                           struct error *err)
{
    unsigned n;

    if (send_held(d, line, &n, err) < 0)
        return -1;
    return read_held(d, n, err);
}

/* A request that dest_batch lets wait for the next one: 0, or the
 * request's own answer when nothing is batching. */
static int later(struct dest_remote *d, const struct buf *line,
                 struct error *err);

/* Send the request in line and read its answer. */
static int request(struct dest_remote *d, const struct buf *line,
                   struct proto_tokens *ans, struct error *err)
{
    struct proto_tokens none = {NULL, 0};
    double t0 = time_now();
    const char *text = buf_str(line);

    drop_early_probe(d);
    if (d->broken)
        return error_set(err, ERROR_STATE, 0,
                         "the connection to the receiver of '%s' was lost",
                         d->base.name);
    if (send_with_later(d, line, err) < 0 ||
        proto_read_answer(&d->r, ans ? ans : &none, err) < 0) {
        if (err->kind != ERROR_STATE && err->kind != ERROR_CEPH &&
            err->kind != ERROR_USAGE)
            d->broken = true;
        return -1;
    }
    proto_tokens_release(&none);
    /* Each request is a round trip: -vv shows what a run spends on them. */
    log_debug("%.*s: %.0f ms", (int)strcspn(text, " \n"), text,
              (time_now() - t0) * 1000);
    return 0;
}

/* A request of fixed words; held back while batching when may_wait. */
static int words(struct dest_remote *d, bool may_wait, struct error *err,
                 const char *verb, const char *a1, const char *a2)
{
    struct buf line = BUF_INIT;
    int ret;

    proto_add(&line, verb);
    if (a1)
        proto_add(&line, a1);
    if (a2)
        proto_add(&line, a2);
    ret = may_wait ? later(d, &line, err) : request(d, &line, NULL, err);
    buf_release(&line);
    return ret;
}

static int simple(struct dest_remote *d, struct error *err, const char *verb,
                  const char *a1, const char *a2)
{
    return words(d, false, err, verb, a1, a2);
}

static int later(struct dest_remote *d, const struct buf *line,
                 struct error *err)
{
    if (!d->batching)
        return request(d, line, NULL, err);
    if (d->broken)
        return error_set(err, ERROR_STATE, 0,
                         "the connection to the receiver of '%s' was lost",
                         d->base.name);
    /* proto_send ends each line: the held lines get theirs here. */
    if (d->nlater) {
        add_chain(&d->later);
    }
    buf_add(&d->later, line->data, line->len);
    buf_adds(&d->later, "\n");
    d->nlater++;
    return 0;
}

static void remote_batch(struct dest *dd)
{
    ((struct dest_remote *)dd)->batching = true;
}

/*
 * The receiver's answer did not hold up (the error is in err): the rest of
 * it, if any, is still unread, so the session is out of step for good.
 */
static int bad_answer(struct dest_remote *d)
{
    d->broken = true;
    return -1;
}

/* Read one more line of the current answer, split into exactly want
 * tokens. */
static int read_block_line(struct dest_remote *d, struct proto_tokens *t,
                           size_t want, struct error *err)
{
    struct buf line = BUF_INIT;
    int rc = proto_read_line(&d->r, &line, err);

    if (rc == 0)
        error_set(err, ERROR_PROTOCOL, 0, "the receiver's answer was cut");
    if (rc <= 0 || proto_split(buf_str(&line), t, err) < 0) {
        buf_release(&line);
        return bad_answer(d);
    }
    buf_release(&line);
    if (t->n != want) {
        proto_tokens_release(t);
        error_set(err, ERROR_PROTOCOL, 0,
                  "malformed line in the receiver's answer");
        return bad_answer(d);
    }
    return 0;
}

/*
 * The next capacity of an array that is full at cap elements, of n at
 * most: arrays grow with the lines that arrive, not with the count the
 * receiver announced, so a false count costs it the bytes to back it up.
 */
static size_t next_cap(size_t cap, uint64_t n)
{
    cap = cap < 4096 ? 4096 : cap * 2;
    return cap < n ? cap : (size_t)n;
}

static char *dup_opt(const struct proto_tokens *t, const char *key)
{
    const char *v = proto_get(t, key);

    return v ? xstrdup(v) : NULL;
}

/* Line i, "NAME ID SIZE", of a probe answer into s. */
static int read_snap(struct dest_remote *d, size_t i, struct image_snap *s,
                     struct error *err)
{
    struct proto_tokens t;
    int ret = -1;

    if (read_block_line(d, &t, 3, err) < 0)
        return -1;
    if (proto_parse_u64(t.v[1], "snapshot id", 0, UINT64_MAX, &s->id, err) <
            0 ||
        proto_parse_u64(t.v[2], "snapshot size", 0, PROTO_SIZE_MAX, &s->size,
                        err) < 0) {
        error_prefix(err, "the receiver's snapshot %zu", i);
        bad_answer(d);
        goto out;
    }
    s->name = xstrdup(t.v[0]);
    ret = 0;
out:
    proto_tokens_release(&t);
    return ret;
}

/* The answer to "probe" (sent already): st, or -1. */
static int read_probe(struct dest_remote *d, struct dest_state *st,
                      struct error *err)
{
    struct proto_tokens ans = {NULL, 0};
    uint64_t exists = 0, order = 0, n = 0, created = 0;
    int ret = -1;

    memset(st, 0, sizeof(*st));
    if (proto_read_answer(&d->r, &ans, err) < 0) {
        if (err->kind != ERROR_STATE && err->kind != ERROR_CEPH &&
            err->kind != ERROR_USAGE)
            d->broken = true;
        goto out;
    }
    if (proto_get_u64_range(&ans, "exists", 0, 1, &exists, err) < 0 ||
        proto_get_u64_range(&ans, "size", 0, PROTO_SIZE_MAX, &st->size, err) <
            0 ||
        proto_get_u64_range(&ans, "order", exists ? PROTO_ORDER_MIN : 0,
                            PROTO_ORDER_MAX, &order, err) < 0 ||
        proto_get_u64_range(&ans, "snaps", 0, PROTO_SNAPS_MAX, &n, err) < 0) {
        bad_answer(d);
        goto out;
    }
    st->exists = exists != 0;
    st->order = (int)order;
    st->image_id = dup_opt(&ans, "id");
    st->cluster_fsid = dup_opt(&ans, "fsid");
    st->cluster_mons = dup_opt(&ans, "mons");
    if (proto_get(&ans, "created") &&
        proto_get_u64(&ans, "created", &created, err) < 0)
        goto out;
    if (created > INT64_MAX) {
        error_set(err, ERROR_PROTOCOL, 0,
                  "the receiver sent a creation time out of range (%" PRIu64
                  ")",
                  created);
        goto out;
    }
    st->created = (int64_t)created;
    st->meta_base = dup_opt(&ans, "base");
    st->meta_seed = dup_opt(&ans, "seed");
    st->meta_pending = dup_opt(&ans, "pending");
    st->snaps = xcalloc(n + 1, sizeof(*st->snaps));
    for (; st->nsnaps < n; st->nsnaps++) {
        if (read_snap(d, st->nsnaps, &st->snaps[st->nsnaps], err) < 0)
            goto out;
    }
    d->size = st->exists ? st->size : PROTO_SIZE_MAX;
    ret = 0;
out:
    if (ret < 0)
        dest_state_release(st);
    proto_tokens_release(&ans);
    return ret;
}

static int remote_probe(struct dest *dd, struct dest_state *st,
                        struct error *err)
{
    struct dest_remote *d = (struct dest_remote *)dd;
    struct buf line = BUF_INIT;
    int ret;

    if (d->early_probe) {
        d->early_probe = false;
        *st = d->early_st;
        memset(&d->early_st, 0, sizeof(d->early_st));
        if (d->early_ret < 0)
            *err = d->early_err;
        return d->early_ret;
    }
    if (d->broken)
        return error_set(err, ERROR_STATE, 0,
                         "the connection to the receiver of '%s' was lost",
                         d->base.name);
    memset(st, 0, sizeof(*st));
    proto_add(&line, "probe");
    ret = send_with_later(d, &line, err);
    if (ret < 0)
        d->broken = true;
    else
        ret = read_probe(d, st, err);
    buf_release(&line);
    return ret;
}

static int remote_create(struct dest *dd, uint64_t size, int order,
                         struct error *err)
{
    char s[32], o[16];

    snprintf(s, sizeof(s), "%" PRIu64, size);
    snprintf(o, sizeof(o), "%d", order);
    if (words((struct dest_remote *)dd, true, err, "create", s, o) < 0)
        return -1;
    ((struct dest_remote *)dd)->size = size;
    return 0;
}

static int remote_resize(struct dest *dd, uint64_t size, struct error *err)
{
    char s[32];

    snprintf(s, sizeof(s), "%" PRIu64, size);
    if (simple((struct dest_remote *)dd, err, "resize", s, NULL) < 0)
        return -1;
    ((struct dest_remote *)dd)->size = size;
    return 0;
}

static int remote_set_meta(struct dest *dd, const char *key, const char *value,
                           struct error *err)
{
    if (value)
        return words((struct dest_remote *)dd, true, err, "meta", key, value);
    return words((struct dest_remote *)dd, true, err, "meta-remove", key, NULL);
}

static int remote_snap_create(struct dest *dd, const char *name,
                              struct error *err)
{
    return simple((struct dest_remote *)dd, err, "snap-create", name, NULL);
}

static int remote_snap_remove(struct dest *dd, const char *name,
                              struct error *err)
{
    return simple((struct dest_remote *)dd, err, "snap-remove", name, NULL);
}

/* The end of a round in one round trip (the receiver stops at the first
 * failure, as dest_commit does). */
static int remote_commit(struct dest *dd, const char *snap, const char *key,
                         const char *value, const char *remove_key,
                         struct error *err)
{
    struct buf line = BUF_INIT;
    int ret;

    proto_add(&line, "commit");
    proto_add(&line, snap);
    proto_add(&line, key);
    proto_add(&line, value);
    proto_add(&line, remove_key);
    ret = request((struct dest_remote *)dd, &line, NULL, err);
    buf_release(&line);
    return ret;
}

/* The receiver rolls its image back (a failback's
 * --discard-primary-changes). A receiver older than this request answers
 * that it does not know it, which stops the failback before any change. */
static int remote_rollback(struct dest *dd, const char *snap, struct error *err)
{
    return simple((struct dest_remote *)dd, err, "rollback", snap, NULL);
}

static int remote_unlock(struct dest *dd, struct error *err)
{
    return simple((struct dest_remote *)dd, err, "unlock", NULL, NULL);
}

/* The next line, "OFF LEN", of a dirty answer of n extents into x, whose
 * arrays have room for *cap. */
static int read_extent(struct dest_remote *d, struct dest_extents *x,
                       size_t *cap, uint64_t n, struct error *err)
{
    struct proto_tokens t;
    uint64_t off = 0, len = 0;
    uint64_t prev_end = x->n ? x->off[x->n - 1] + x->len[x->n - 1] : 0;

    if (read_block_line(d, &t, 2, err) < 0)
        return -1;
    if (proto_parse_u64(t.v[0], "extent offset", 0, UINT64_MAX, &off, err) <
            0 ||
        proto_parse_u64(t.v[1], "extent length", 0, UINT64_MAX, &len, err) <
            0) {
        proto_tokens_release(&t);
        error_prefix(err, "the receiver's answer");
        return bad_answer(d);
    }
    proto_tokens_release(&t);
    if (proto_check_extent(x->n, off, len, prev_end, d->size, err) < 0)
        return bad_answer(d);
    if (x->n == *cap) {
        *cap = next_cap(*cap, n);
        x->off = xrealloc(x->off, *cap * sizeof(*x->off));
        x->len = xrealloc(x->len, *cap * sizeof(*x->len));
    }
    x->off[x->n] = off;
    x->len[x->n] = len;
    x->n++;
    return 0;
}

static int remote_dirty(struct dest *dd, const char *since,
                        struct dest_extents *x, struct error *err)
{
    struct dest_remote *d = (struct dest_remote *)dd;
    struct proto_tokens ans = {NULL, 0};
    struct buf line = BUF_INIT;
    uint64_t n = 0;
    size_t cap = 0;
    int ret = -1;

    memset(x, 0, sizeof(*x));
    proto_add(&line, "dirty");
    if (since)
        proto_add(&line, since);
    if (request(d, &line, &ans, err) < 0)
        goto out;
    if (proto_get_u64_range(&ans, "n", 0, PROTO_EXTENTS_MAX, &n, err) < 0) {
        bad_answer(d);
        goto out;
    }
    while (x->n < n) {
        if (read_extent(d, x, &cap, n, err) < 0)
            goto out;
    }
    ret = 0;
out:
    if (ret < 0)
        dest_extents_release(x);
    proto_tokens_release(&ans);
    buf_release(&line);
    return ret;
}

/* One line of hex of a hash answer into *out. */
static int read_hash(struct dest_remote *d, uint64_t *out, struct error *err)
{
    struct proto_tokens t;
    int r;

    if (read_block_line(d, &t, 1, err) < 0)
        return -1;
    r = proto_parse_hash(t.v[0], out, err);
    proto_tokens_release(&t);
    if (r < 0) {
        error_prefix(err, "the receiver's answer");
        return bad_answer(d);
    }
    return 0;
}

/* The head of a hash answer, "size= block= n=", for blocks of block
 * bytes. */
static int check_hash_answer(const struct proto_tokens *ans, uint64_t block,
                             struct dest_hashes *h, struct error *err)
{
    if (proto_get_u64_range(ans, "size", 0, PROTO_SIZE_MAX, &h->size, err) <
            0 ||
        proto_get_u64_range(ans, "block", PROTO_BLOCK_MIN, PROTO_BLOCK_MAX,
                            &h->block, err) < 0 ||
        proto_get_u64_range(ans, "n", 0, PROTO_HASHES_MAX, &h->nblocks, err) <
            0)
        return -1;
    if (h->block != block)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "the receiver hashed blocks of %" PRIu64
                         " bytes, not %" PRIu64,
                         h->block, block);
    return proto_check_nblocks(h->size, h->block, h->nblocks, err);
}

static int remote_hash(struct dest *dd, const char *snap, uint64_t block,
                       struct dest_hashes *out, struct error *err)
{
    struct dest_remote *d = (struct dest_remote *)dd;
    struct proto_tokens ans = {NULL, 0};
    struct buf line = BUF_INIT;
    struct dest_hashes h = {0};
    size_t cap = 0;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    proto_add(&line, "hash");
    proto_add(&line, snap ? snap : DEST_HEAD_TOKEN);
    proto_add_u64(&line, block);
    if (request(d, &line, &ans, err) < 0)
        goto out;
    if (check_hash_answer(&ans, block, &h, err) < 0) {
        bad_answer(d);
        goto out;
    }
    /* Never NULL, as dest_local's. */
    cap = h.nblocks < 4096 ? (size_t)h.nblocks + 1 : 4096;
    h.hash = xcalloc(cap, sizeof(*h.hash));
    for (uint64_t i = 0; i < h.nblocks; i++) {
        if (i == cap) {
            cap = next_cap(cap, h.nblocks);
            h.hash = xrealloc(h.hash, cap * sizeof(*h.hash));
        }
        if (read_hash(d, &h.hash[i], err) < 0)
            goto out;
    }
    *out = h;
    h.hash = NULL;
    ret = 0;
out:
    free(h.hash);
    proto_tokens_release(&ans);
    buf_release(&line);
    return ret;
}

/* Indices per hash-blocks request: each costs up to ~25 bytes on the line
 * (digits and a percent-encoded comma), and a line is at most
 * PROTO_LINE_MAX; a large final round is asked for in batches. */
#define HASH_BLOCKS_BATCH 16384

static int hash_blocks_batch(struct dest_remote *d, const char *snap,
                             uint64_t block, const uint64_t *idx, size_t n,
                             uint64_t *hashes, struct error *err)
{
    struct proto_tokens ans = {NULL, 0};
    struct buf line = BUF_INIT, list = BUF_INIT;
    uint64_t got = 0;
    int ret = -1;

    for (size_t i = 0; i < n; i++)
        buf_addf(&list, "%s%" PRIu64, i ? "," : "", idx[i]);
    proto_add(&line, "hash-blocks");
    proto_add(&line, snap ? snap : DEST_HEAD_TOKEN);
    proto_add_u64(&line, block);
    proto_add(&line, buf_str(&list));
    if (request(d, &line, &ans, err) < 0)
        goto out;
    /* Exactly the hashes asked for: n is ours, so it bounds the lines. */
    if (proto_get_u64_range(&ans, "n", n, n, &got, err) < 0) {
        bad_answer(d);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (read_hash(d, &hashes[i], err) < 0)
            goto out;
    }
    ret = 0;
out:
    proto_tokens_release(&ans);
    buf_release(&line);
    buf_release(&list);
    return ret;
}

static int remote_hash_blocks(struct dest *dd, const char *snap, uint64_t block,
                              const uint64_t *idx, size_t n, uint64_t *hashes,
                              struct error *err)
{
    struct dest_remote *d = (struct dest_remote *)dd;

    for (size_t i = 0; i < n; i += HASH_BLOCKS_BATCH) {
        size_t k = n - i < HASH_BLOCKS_BATCH ? n - i : HASH_BLOCKS_BATCH;

        if (hash_blocks_batch(d, snap, block, idx + i, k, hashes + i, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- transfer over parallel data sessions -------------------------------- */

struct shared {
    pthread_mutex_t lock;
    uint64_t *done;
    uint64_t total;
    const struct copy_params *user;
    volatile bool failed;
    unsigned n;                /* senders */
    double t0;                 /* the transfer's start, for -vv */
    struct copy_claims claims; /* the pieces the senders share */
};

struct sender {
    pthread_t th;
    unsigned index;
    struct shared *sh;
    struct image *src;
    const char *from;
    struct stream_header h;
    struct copy_params p;
    struct transport *t; /* the data session, wrapped */
    struct copy_stats st;
    struct error err;
    int ret;
};

static void sender_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct sender *s = ctx;
    struct shared *sh = s->sh;
    uint64_t sum = 0;

    (void)total;
    pthread_mutex_lock(&sh->lock);
    sh->done[s->index] = done;
    for (unsigned i = 0; i < sh->n; i++)
        sum += sh->done[i];
    pthread_mutex_unlock(&sh->lock);
    sh->user->progress(sh->user->progress_ctx, sum, sh->total);
}

static bool sender_cancel(void *ctx)
{
    struct sender *s = ctx;

    return s->sh->failed || (s->sh->user->cancel &&
                             s->sh->user->cancel(s->sh->user->cancel_ctx));
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;

    s->ret = copy_send(s->src, s->from, &s->h, &s->p, s->t, &s->st, &s->err);
    if (s->ret == 0)
        s->ret = transport_flush(s->t, &s->err);
    if (s->ret < 0)
        s->sh->failed = true;
    /* How evenly the streams share the link: -vv shows when each ends. */
    log_debug("stream %u: %" PRIu64 " bytes, done at %.3f s", s->index,
              s->st.stream_bytes, time_now() - s->sh->t0);
    return NULL;
}

/* The quoted remote program, at the start of a command line. */
static void add_program(const struct dest_remote *d, struct buf *b)
{
    buf_add_shell_quoted(b, d->program);
}

struct opener;
static int await_socket(void *arg, const char **socket_path,
                        const char **command);

/* Open a data session (o: its opener, for await_socket) and wrap it; n
 * sessions share --bwlimit. */
static int open_stream(struct dest_remote *d, struct opener *o, unsigned n,
                       struct transport **out, struct error *err)
{
    struct transport *t = NULL;
    int ret;
    bool direct = false;

    if (d->p.stream) {
        ret = d->p.stream(d->p.exec_ctx, await_socket, o, &t, &direct, err);
    } else {
        const char *path, *command;

        if (await_socket(o, &path, &command) < 0)
            return error_set(err, ERROR_STATE, 0,
                             "the receiver of '%s' named no socket",
                             d->base.name);
        ret = d->p.exec(d->p.exec_ctx, command, &t, err);
    }
    if (ret < 0)
        return -1;
    /* Straight into the receiver's socket: "D" tells it that the data
     * follows on that connection (a join sends "F" with a descriptor). */
    if (direct && transport_write(t, "D", 1, err) < 0) {
        transport_free(t);
        return -1;
    }
    if (d->p.bwlimit)
        t = transport_ratelimit_new(t, d->p.bwlimit / n ? d->p.bwlimit / n : 1,
                                    true);
    if (d->p.compress_level)
        t = transport_zstd_new(t, d->p.compress_level, true);
    *out = t;
    return 0;
}

/*
 * The data sessions log in at once, each in its own thread: each is an SSH
 * login (TCP, key exchange, authentication, channel: about seven round
 * trips, plus a shell's and a join's start-up where the host refuses direct
 * channels), so one after another they would cost n times that before the
 * first byte moves.
 */
static bool path_is_safe(const char *p);

struct opener {
    pthread_t th;
    bool threaded;
    bool deferred; /* no thread: run in collect_openers, in turn */
    bool starting; /* counted in logging_in */
    bool unwanted; /* let go (trim_openers), under login_mu */
    struct dest_remote *d;
    unsigned share; /* --bwlimit is shared by this many sessions */
    struct transport *t;
    struct buf command; /* the join, once the socket is known */
    struct error err;
    int ret;
};

/* This opener's login is done: another may start. */
static void login_done(struct opener *o)
{
    struct dest_remote *d = o->d;

    pthread_mutex_lock(&d->login_mu);
    if (o->starting) {
        o->starting = false;
        d->logging_in--;
        pthread_cond_signal(&d->login_cv);
    }
    pthread_mutex_unlock(&d->login_mu);
}

/* dest_remote_await_fn: once logged in, wait for the receiver's socket. */
static int await_socket(void *arg, const char **socket_path,
                        const char **command)
{
    struct opener *o = arg;
    struct dest_remote *d = o->d;
    bool ok;

    login_done(o);
    pthread_mutex_lock(&d->login_mu);
    while (!d->sock && !d->sock_abandoned && !o->unwanted)
        pthread_cond_wait(&d->sock_cv, &d->login_mu);
    ok = d->sock && !d->sock_abandoned && !o->unwanted;
    pthread_mutex_unlock(&d->login_mu);
    if (!ok)
        return -1;
    buf_reset(&o->command);
    add_program(d, &o->command);
    buf_adds(&o->command, " receive --join ");
    buf_add_shell_quoted(&o->command, d->sock);
    *socket_path = d->sock;
    *command = buf_str(&o->command);
    return 0;
}

/* The receiver named its socket (path), or never will (NULL). */
static void socket_known(struct dest_remote *d, const char *path)
{
    pthread_mutex_lock(&d->login_mu);
    if (path && !d->sock)
        d->sock = xstrdup(path);
    if (!path)
        d->sock_abandoned = true;
    pthread_cond_broadcast(&d->sock_cv);
    pthread_mutex_unlock(&d->login_mu);
}

/*
 * sshd's default MaxStartups (10:30:100) drops new connections at random
 * once ten are waiting for authentication: no more than eight logins at
 * a time, and the control session's may still be one.
 */
#define LOGINS_AT_ONCE 8

static void *opener_main(void *arg)
{
    struct opener *o = arg;
    struct dest_remote *d = o->d;

    pthread_mutex_lock(&d->login_mu);
    while (d->logging_in >= LOGINS_AT_ONCE)
        pthread_cond_wait(&d->login_cv, &d->login_mu);
    d->logging_in++;
    o->starting = true;
    pthread_mutex_unlock(&d->login_mu);
    o->ret = open_stream(d, o, o->share, &o->t, &o->err);
    login_done(o); /* a login that failed never got to await_socket */
    return NULL;
}

/* Data sessions up to n in all: the first call decides how many may
 * follow (--streams, else AUTO_STREAMS_MAX). */
static void start_openers(struct dest_remote *d, unsigned n)
{
    if (!d->open) {
        d->open_cap =
            d->p.streams > AUTO_STREAMS_MAX ? d->p.streams : AUTO_STREAMS_MAX;
        d->open = xcalloc(d->open_cap, sizeof(*d->open));
    }
    if (n > d->open_cap)
        n = d->open_cap;
    for (unsigned i = d->nstarted; i < n; i++) {
        struct opener *o = &d->open[i];

        *o = (struct opener){
            .d = d, .share = n, .command = BUF_INIT, .err = ERROR_INIT};
        o->threaded = pthread_create(&o->th, NULL, opener_main, o) == 0;
        /* No thread: in turn, still right, once the socket is known. */
        o->deferred = !o->threaded;
    }
    if (n > d->nstarted)
        d->nstarted = d->nstreams = n;
}

/* Only n of the logins started are wanted: the others are let go once
 * logged in (an estimate that asked for more than the round trip). */
static void trim_openers(struct dest_remote *d, unsigned n)
{
    pthread_mutex_lock(&d->login_mu);
    for (unsigned i = n; i < d->nstarted; i++)
        d->open[i].unwanted = true;
    pthread_cond_broadcast(&d->sock_cv);
    pthread_mutex_unlock(&d->login_mu);
    if (n < d->nstreams)
        d->nstreams = n;
}

/* Wait for the logins; the first failure is the answer. */
static int collect_openers(struct dest_remote *d, struct error *err)
{
    int ret = 0;

    if (!d->open)
        return 0;
    /* Logins that wait for a socket the receiver never named give up. */
    if (!d->sock)
        socket_known(d, NULL);
    d->data = xcalloc(d->nstreams, sizeof(*d->data));
    for (unsigned i = 0; i < d->nstarted; i++) {
        struct opener *o = &d->open[i];

        if (o->threaded)
            pthread_join(o->th, NULL);
        if (o->deferred && !o->unwanted)
            opener_main(o);
        buf_release(&o->command);
        if (o->unwanted) { /* its failure is being let go */
            transport_free(o->t);
            error_clear(&o->err);
            continue;
        }
        if (o->ret < 0 && ret == 0 && err) {
            *err = o->err;
            ret = -1;
        }
        d->data[i] = o->t;
    }
    free(d->open);
    d->open = NULL;
    if (ret < 0)
        d->broken = true;
    return ret;
}

/* "streams N LEVEL" and the first "probe", at the end of line. */
static void add_streams(const struct dest_remote *d, struct buf *line)
{
    buf_adds(line, "streams");
    proto_add_u64(line, d->p.streams ? d->p.streams : AUTO_STREAMS_MAX);
    proto_add_u64(line, (uint64_t)d->p.compress_level);
    buf_adds(line, "\nprobe");
}

/*
 * The answer to "streams" (sent at t0), then the logins start, if none
 * has. Where the number of data sessions is not known yet (no --streams,
 * and the control session could not measure its round trip) "streams" was
 * sent alone, and the time of its answer is the round trip (the receiver
 * does next to nothing for it; hello's answer waits for the remote
 * program's start-up): it decides, and the receiver was asked for the
 * most that could be chosen, of which fewer join. The probe's answer is
 * read now and kept for the first dest_probe.
 */
static int read_streams(struct dest_remote *d, double t0, struct error *err)
{
    struct proto_tokens ans = {NULL, 0};
    const char *sock;
    double rtt;
    int ret = -1;

    if (proto_read_answer(&d->r, &ans, err) < 0) {
        d->broken = true; /* the probe's answer is still unread */
        goto out;
    }
    /* Unasked, the greeting's time is no round trip: the control
     * session's is. */
    rtt = d->greeted ? d->ctl->rtt : time_now() - t0;
    sock = proto_get(&ans, "socket");
    if (!sock || !path_is_safe(sock)) {
        d->broken = true;
        error_set(err, ERROR_PROTOCOL, 0,
                  "the receiver named an unusable socket path");
        goto out;
    }
    if (!d->open) {
        d->p.streams = d->p.streams ? d->p.streams : auto_streams(rtt);
        log_debug("round trip %.1f ms: %u data session(s)", rtt * 1000,
                  d->p.streams);
        socket_known(d, sock);
        start_openers(d, d->p.streams);
    } else {
        socket_known(d, sock); /* the logins under way go on to it */
        if (!d->p.streams)
            d->p.streams = d->nstreams;
    }
    d->early_err = (struct error)ERROR_INIT;
    d->early_ret = read_probe(d, &d->early_st, &d->early_err);
    d->early_probe = true;
    ret = 0;
out:
    proto_tokens_release(&ans);
    return ret;
}

static bool path_is_safe(const char *p)
{
    if (p[0] != '/')
        return false;
    for (; *p; p++) {
        if (*p != '/' && *p != '.' && *p != '_' && *p != '-' &&
            !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
            !(*p >= '0' && *p <= '9'))
            return false;
    }
    return true;
}

/* Send "apply" (after the held requests: *nheld) without waiting for its
 * ok: the streams follow at once (read_apply). */
static int start_apply(struct dest_remote *d, const struct copy_params *p,
                       unsigned n, unsigned window, unsigned *nheld,
                       struct error *err)
{
    struct buf line = BUF_INIT;
    int ret;

    proto_add(&line, "apply");
    proto_add_u64(&line, n);
    proto_add_u64(&line, (uint64_t)d->p.compress_level);
    proto_add_u64(&line, window);
    proto_add_u64(&line, p->chunk_size);
    proto_add_u64(&line, p->dst_is_zero ? 1 : 0);
    if (p->checkpoint_key && p->checkpoint_prefix) {
        proto_add_u64(&line, p->checkpoint_every);
        proto_add(&line, p->checkpoint_key);
        proto_add(&line, p->checkpoint_prefix);
    }
    drop_early_probe(d);
    ret = send_held(d, &line, nheld, err);
    if (ret < 0)
        d->broken = true;
    buf_release(&line);
    return ret;
}

/* The answers to the held requests and to apply, while the streams are
 * being sent: a failure stops the senders (the receiver closes their
 * sessions, which ends a write waiting for window). */
static int read_apply(struct dest_remote *d, unsigned nheld, double t0,
                      struct shared *sh, struct error *err)
{
    struct proto_tokens none = {NULL, 0};

    if (read_held(d, nheld, err) < 0 ||
        proto_read_answer(&d->r, &none, err) < 0) {
        sh->failed = true;
        d->broken = true;
        return -1;
    }
    proto_tokens_release(&none);
    log_debug("apply: %.0f ms", (time_now() - t0) * 1000);
    return 0;
}

static unsigned start_senders(struct sender *s, unsigned n, struct error *err)
{
    unsigned started = 0;

    for (; started < n; started++) {
        if (pthread_create(&s[started].th, NULL, sender_main, &s[started]) !=
            0) {
            s[0].sh->failed = true;
            error_set(err, ERROR_IO, EAGAIN, "cannot start a thread");
            break;
        }
    }
    return started;
}

/* Join the senders started; the first failure (other than their being
 * stopped for another's) into err, where err holds none yet. */
static int join_senders(struct sender *s, unsigned started, int ret,
                        struct error *err)
{
    for (unsigned i = 0; i < started; i++) {
        pthread_join(s[i].th, NULL);
        if (s[i].ret < 0 && ret == 0 &&
            !(s[i].err.kind == ERROR_INTERRUPTED && !s[i].sh->user->cancel)) {
            *err = s[i].err;
            ret = -1;
        } else {
            error_clear(&s[i].err);
        }
    }
    return ret;
}

/*
 * The streams one transfer uses: as many as were opened, but no more than
 * fit COPY_MEMORY_MAX on the receiver with two chunks in flight each (it
 * holds streams x window x chunk; --window x --chunk-size was checked).
 */
static unsigned stream_count(unsigned streams, size_t chunk)
{
    size_t fit = COPY_MEMORY_MAX / (2 * (chunk ? chunk : 1));

    if (!streams)
        streams = 1;
    if (fit < 1)
        fit = 1;
    return streams < fit ? streams : (unsigned)fit;
}

static int remote_transfer(struct dest *dd, struct image *src,
                           const char *from_snap, const struct copy_params *p,
                           struct copy_stats *st, struct error *err)
{
    struct dest_remote *d = (struct dest_remote *)dd;
    unsigned n = stream_count(d->nstreams, p->chunk_size);
    unsigned window = p->window / n >= 2 ? p->window / n : 2;
    struct shared sh = {.lock = PTHREAD_MUTEX_INITIALIZER, .user = p, .n = n};
    struct sender *s = xcalloc(n, sizeof(*s));
    struct proto_tokens ans = {NULL, 0};
    uint64_t extents = 0;
    double t0 = time_now(), t_apply;
    unsigned nheld = 0, started;
    int rs, ret = -1;

    memset(st, 0, sizeof(*st));
    sh.done = xcalloc(n, sizeof(*sh.done));
    atomic_init(&sh.claims.next, 0);
    sh.claims.ahead = window; /* each stream's share of the window */
    if (p->progress && copy_measure(src, from_snap, p->whole_object, &sh.total,
                                    &extents, err) < 0)
        goto out;
    if (d->broken) {
        error_set(err, ERROR_STATE, 0,
                  "the connection to the receiver of '%s' was lost",
                  d->base.name);
        goto out;
    }
    /* apply first, its answer later: the data sessions' channels open
     * meanwhile, and the streams leave without waiting a round trip for
     * its ok. */
    t_apply = time_now();
    sh.t0 = t_apply;
    if (start_apply(d, p, n, window, &nheld, err) < 0)
        goto out;
    if (collect_openers(d, err) < 0)
        goto out;
    for (unsigned i = 0; i < n; i++) {
        s[i] = (struct sender){
            .index = i, .sh = &sh, .src = src, .from = from_snap, .p = *p};
        s[i].h.from_snap = (char *)from_snap;
        s[i].h.has_size = true;
        s[i].h.size = image_size(src);
        s[i].p.claims = n > 1 ? &sh.claims : NULL;
        s[i].p.window = window;
        s[i].p.known_total = sh.total;
        s[i].p.progress = p->progress ? sender_progress : NULL;
        s[i].p.progress_ctx = &s[i];
        s[i].p.cancel = sender_cancel;
        s[i].p.cancel_ctx = &s[i];
        s[i].p.checkpoint = NULL;
        s[i].t = d->data[i];
    }
    started = start_senders(s, n, err);
    rs = started < n ? -1 : 0;
    if (rs == 0 && read_apply(d, nheld, t_apply, &sh, err) < 0)
        rs = -1;
    if (join_senders(s, started, rs, err) < 0) {
        d->broken = true;
        goto out;
    }
    if (!p->commit_follows && proto_read_answer(&d->r, &ans, err) < 0) {
        d->broken = true;
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        /* Every sender walks all the changed extents (and sends its share
         * of the chunks): the extents are counted once, not n times, or a
         * move would plan its final round on n times the real rate. */
        if (s[i].st.extent_bytes > st->extent_bytes)
            st->extent_bytes = s[i].st.extent_bytes;
        st->data_records += s[i].st.data_records;
        st->zero_records += s[i].st.zero_records;
        st->stream_bytes += s[i].st.stream_bytes;
        st->data_bytes += s[i].st.data_bytes;
        st->zero_bytes += s[i].st.zero_bytes;
        if (s[i].st.diff_seconds > st->diff_seconds)
            st->diff_seconds = s[i].st.diff_seconds;
    }
    if (p->commit_follows) {
        /* The answer is read with the commit's (settle): the commit leaves
         * now, a round trip sooner, and the receiver does it only once
         * this transfer is whole; there its counts must be the senders'. */
        d->owed = true;
        d->owed_data = st->data_bytes;
        d->owed_zero = st->zero_bytes;
    } else if (proto_get_u64_range(&ans, "data", 0, PROTO_SIZE_MAX,
                                   &st->data_bytes, err) < 0 ||
               proto_get_u64_range(&ans, "zero", 0, PROTO_SIZE_MAX,
                                   &st->zero_bytes, err) < 0) {
        /* Bytes written once each into one image (rounds and convergence
         * are planned on these): the receiver's count. */
        goto out;
    }
    ret = 0;
out:
    st->seconds = time_now() - t0;
    proto_tokens_release(&ans);
    free(sh.done);
    free(s);
    return ret;
}

static void remote_free(struct dest *dd)
{
    struct dest_remote *d = (struct dest_remote *)dd;
    struct error ignored = ERROR_INIT;
    bool polite = d->ctl && !d->broken;

    /* Data sessions still logging in (nothing was transferred: the copy
     * was up to date, or the run failed) reach the receiver while it is
     * there: after "quit" they found its socket gone, fell back to a join
     * each, and each join failed with a warning. */
    if (polite && d->open && collect_openers(d, &ignored) < 0)
        error_clear(&ignored); /* the control session is still good */
    /*
     * Goodbyes all at once: "quit" and every end of input go out before
     * we wait for any session to close, so that a long link costs one
     * round trip here, not one per session (sshd closes a data channel
     * only after our end of input).
     */
    if (polite) {
        struct buf line = BUF_INIT;

        proto_add(&line, "quit");
        if (proto_send(d->ctl, &line, &ignored) < 0 ||
            transport_close_write(d->ctl, &ignored) < 0) {
            error_clear(&ignored);
            polite = false;
        }
        buf_release(&line);
    }
    (void)collect_openers(d, NULL);
    for (unsigned i = 0; polite && d->data && i < d->nstreams; i++) {
        if (d->data[i] && transport_close_write(d->data[i], &ignored) < 0)
            error_clear(&ignored);
    }
    /* The receiver ends: its joins exit, and so do the sessions. */
    if (polite && transport_finish(d->ctl, &ignored) < 0)
        error_clear(&ignored);
    for (unsigned i = 0; d->data && i < d->nstreams; i++) {
        if (d->data[i] && polite && transport_finish(d->data[i], &ignored) < 0)
            error_clear(&ignored);
        transport_free(d->data[i]);
    }
    free(d->data);
    free(d->sock);
    buf_release(&d->later); /* never sent: nothing was waiting for them */
    drop_early_probe(d);
    pthread_mutex_destroy(&d->login_mu);
    pthread_cond_destroy(&d->login_cv);
    pthread_cond_destroy(&d->sock_cv);
    proto_reader_release(&d->r);
    transport_free(d->ctl);
    free(d->program);
    free(d);
}

static const struct dest_ops remote_ops = {
    .probe = remote_probe,
    .create = remote_create,
    .resize = remote_resize,
    .set_meta = remote_set_meta,
    .snap_create = remote_snap_create,
    .snap_remove = remote_snap_remove,
    .dirty = remote_dirty,
    .transfer = remote_transfer,
    .hash = remote_hash,
    .hash_blocks = remote_hash_blocks,
    .unlock = remote_unlock,
    .rollback = remote_rollback,
    .batch = remote_batch,
    .commit = remote_commit,
    .free = remote_free,
};

/*
 * "hello", and the version check. Where the number of data sessions is
 * known already (--streams, or the control session's round trip),
 * "streams" and the first "probe" go in the same packet: one round trip
 * less before the first transfer; else they follow hello's answer. A
 * greeting receiver (d->greeted) answered hello and streams unasked: only
 * the probe is sent, and the socket is known once the receiver started,
 * a round trip sooner, while the probe travels.
 */
static int hello(struct dest_remote *d, const char *name, struct error *err)
{
    struct proto_tokens ans = {NULL, 0};
    struct buf line = BUF_INIT;
    uint64_t version = 0;
    bool along = d->greeted || d->p.streams > 0;
    double t0 = time_now();
    int ret = -1;

    if (d->greeted) {
        proto_add(&line, "probe");
    } else {
        proto_add(&line, "hello");
        if (along) {
            buf_adds(&line, "\n");
            add_streams(d, &line);
        }
    }
    if (proto_send(d->ctl, &line, err) < 0 ||
        proto_read_answer(&d->r, &ans, err) < 0) {
        d->broken = true;
        error_prefix(err,
                     "no rbdmove receiver answered for '%s' (is rbdmove "
                     "installed there, and this version? see "
                     "--remote-rbdmove, --receiver=rbd)",
                     name);
        goto out;
    }
    log_debug("hello: %.0f ms", (time_now() - t0) * 1000);
    if (proto_get_u64(&ans, "version", &version, err) < 0 ||
        version != RECEIVER_PROTOCOL_VERSION) {
        error_clear(err);
        d->broken = true;
        error_set(err, ERROR_STATE, 0,
                  "the rbdmove receiver for '%s' speaks protocol version "
                  "%" PRIu64 ", this rbdmove needs %d: install the same "
                  "rbdmove version there (see --remote-rbdmove)",
                  name, version, RECEIVER_PROTOCOL_VERSION);
        goto out;
    }
    if (!along) {
        buf_reset(&line);
        add_streams(d, &line);
        t0 = time_now();
        if (proto_send(d->ctl, &line, err) < 0) {
            d->broken = true;
            goto out;
        }
    }
    ret = read_streams(d, t0, err);
out:
    proto_tokens_release(&ans);
    buf_release(&line);
    return ret;
}

/*
 * How many data sessions, from the round trip of the first request. One
 * stream moves at most sshd's 2 MiB channel window per round trip, so a
 * long link wants several (bandwidth x RTT / 2 MiB); on a LAN or loopback
 * the copy is bound by CPU instead, and extra sessions only compete for it
 * (measured: 4 streams were slower than 1 on loopback, 1.6x faster at
 * 40 ms).
 */
static unsigned auto_streams(double rtt)
{
    unsigned n;

    if (rtt < 0.005)
        return 1;
    n = (unsigned)(rtt / 0.010);
    return n < 2 ? 2 : n > AUTO_STREAMS_MAX ? AUTO_STREAMS_MAX : n;
}

/*
 * dest_remote_verified_fn of the control session: its host key is
 * verified (so a key recorded by --accept-new-host-key is in known_hosts
 * before another session looks), and the connection and key exchange took
 * seconds: TCP, the banners and one exchange of keys, about three round
 * trips (four through a relay). With --streams the data sessions log in
 * now. Without it, where the link is clearly long (on loopback or a LAN
 * that exchange is bound by CPU: a few ms), those that a third of it asks
 * for log in now, beside the rest of the control login (about four round
 * trips) instead of after it. The control session's own round trip
 * decides later (dest_remote_open): more log in, or those too many are
 * let go once logged in, so that a slow host on a LAN still gets one
 * session. Not under --bwlimit, whose share per session needs the final
 * number.
 */
#define EARLY_LOGIN_MIN_S 0.045
static void control_verified(void *arg, double seconds)
{
    struct dest_remote *d = arg;
    unsigned n;

    if (!d->p.stream || d->open)
        return;
    if (d->p.streams) {
        n = d->p.streams;
    } else {
        if (d->p.bwlimit || seconds < EARLY_LOGIN_MIN_S)
            return;
        n = auto_streams(seconds / 3);
    }
    log_debug("key exchange in %.1f ms: %u data session(s) log in now",
              seconds * 1000, n);
    start_openers(d, n);
}

static bool conf_is_safe(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    }
    return true;
}

int dest_remote_open(const struct dest_remote_params *p, const char *name,
                     const char *conf, const char *id, const char *pool,
                     const char *image, struct dest **out, struct error *err)
{
    struct dest_remote *d = xcalloc(1, sizeof(*d));
    struct proto_tokens ans = {NULL, 0};
    struct buf args = BUF_INIT;
    int ret = -1, r;

    *out = NULL;
    d->base.ops = &remote_ops;
    d->base.name = xstrdup(name);
    d->p = *p;
    d->size = PROTO_SIZE_MAX; /* not probed yet */
    pthread_mutex_init(&d->login_mu, NULL);
    pthread_cond_init(&d->login_cv, NULL);
    pthread_cond_init(&d->sock_cv, NULL);
    d->program = xstrdup(p->program ? p->program : "rbdmove");
    if (!conf_is_safe(d->program) || (conf && !conf_is_safe(conf)) ||
        (id && !name_is_safe(id)) || !name_is_safe(pool) ||
        !name_is_safe(image)) {
        error_set(err, ERROR_USAGE, 0,
                  "refusing unsafe characters on the remote command line");
        goto out;
    }
    add_program(d, &args);
    buf_adds(&args, " receive --serve");
    /* Only where the control session measures its own round trip (SSH):
     * elsewhere the time of the answer to "streams" is the measure. */
    d->greeted = p->exec_hint != NULL;
    if (d->greeted)
        buf_addf(&args, " --greet %u,%d",
                 p->streams ? p->streams : AUTO_STREAMS_MAX, p->compress_level);
    if (conf) {
        buf_adds(&args, " --conf ");
        buf_add_shell_quoted(&args, conf);
    }
    if (id) {
        buf_adds(&args, " --id ");
        buf_add_shell_quoted(&args, id);
    }
    buf_adds(&args, " ");
    buf_add_shell_quoted(&args, pool);
    buf_adds(&args, "/");
    buf_add_shell_quoted(&args, image);
    if (p->exec_hint)
        r = p->exec_hint(p->exec_ctx, buf_str(&args), control_verified, d,
                         &d->ctl, err);
    else
        r = p->exec(p->exec_ctx, buf_str(&args), &d->ctl, err);
    if (r < 0)
        goto out;
    /* Where the control session measured its round trip, the data
     * sessions log in now, beside hello and streams (about six round
     * trips each, in parallel), and go to the socket once it is named;
     * those that control_verified started are kept, and more join if
     * the round trip asks for more. */
    if (d->p.stream && (d->p.streams || d->ctl->rtt > 0)) {
        unsigned n = d->p.streams ? d->p.streams : auto_streams(d->ctl->rtt);

        log_debug("round trip %.1f ms: %u data session(s), %u logging in "
                  "already",
                  d->ctl->rtt * 1000, n, d->nstarted);
        if (n < d->nstarted)
            trim_openers(d, n);
        else
            start_openers(d, n);
        d->p.streams = d->nstreams;
    }
    proto_reader_init(&d->r, d->ctl);
    if (hello(d, name, err) < 0)
        goto out;
    *out = &d->base;
    d = NULL;
    ret = 0;
out:
    if (d) {
        char *n = d->base.name;

        d->broken = true;
        remote_free(&d->base);
        free(n);
    }
    proto_tokens_release(&ans);
    buf_release(&args);
    return ret;
}
