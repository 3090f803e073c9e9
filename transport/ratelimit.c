/* SPDX-License-Identifier: MIT */
/*
 * transport/ratelimit.c: --bwlimit. A token bucket per direction in front of
 * another transport: writes wait for tokens before they go out, reads pay
 * for what they got afterwards. Bytes pass unchanged. Wrap the transport
 * that carries the wire bytes (outside zstd) so that the limit applies to
 * what crosses the link.
 */
#include "transport/transport.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

/* Largest piece moved at once: 100 ms worth, at least 16 KiB. */
#define RATELIMIT_MIN_BURST 16384.0

struct bucket {
    double tokens; /* bytes that may pass now; negative: debt */
    double last;   /* when tokens were last topped up */
};

struct ratelimit_transport {
    struct transport base;
    struct transport *inner;
    bool owns_inner;
    double rate;  /* bytes per second */
    double burst; /* bucket size */
    struct bucket rd, wr;
};

static void sleep_for(double seconds)
{
    struct timespec ts;

    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Take n bytes from the bucket, sleeping off any debt. */
static void take(struct ratelimit_transport *rt, struct bucket *b, size_t n)
{
    double now = time_now();

    b->tokens += (now - b->last) * rt->rate;
    if (b->tokens > rt->burst)
        b->tokens = rt->burst;
    b->last = now;
    b->tokens -= (double)n;
    if (b->tokens < 0) {
        sleep_for(-b->tokens / rt->rate);
        b->tokens = 0;
        b->last = time_now();
    }
}

static size_t piece(struct ratelimit_transport *rt, size_t len)
{
    return len > (size_t)rt->burst ? (size_t)rt->burst : len;
}

static ssize_t rl_read(struct transport *t, void *buf, size_t len,
                       struct error *err)
{
    struct ratelimit_transport *rt = (struct ratelimit_transport *)t;
    ssize_t n = transport_read(rt->inner, buf, piece(rt, len), err);

    if (n > 0)
        take(rt, &rt->rd, (size_t)n);
    return n;
}

static int rl_write(struct transport *t, const void *buf, size_t len,
                    struct error *err)
{
    struct ratelimit_transport *rt = (struct ratelimit_transport *)t;
    const char *p = buf;

    while (len > 0) {
        size_t n = piece(rt, len);

        take(rt, &rt->wr, n);
        if (transport_write(rt->inner, p, n, err) < 0)
            return -1;
        p += n;
        len -= n;
    }
    return 0;
}

static int rl_close_write(struct transport *t, struct error *err)
{
    return transport_close_write(((struct ratelimit_transport *)t)->inner, err);
}

static int rl_finish(struct transport *t, struct error *err)
{
    return transport_finish(((struct ratelimit_transport *)t)->inner, err);
}

static void rl_free(struct transport *t)
{
    struct ratelimit_transport *rt = (struct ratelimit_transport *)t;

    if (rt->owns_inner)
        transport_free(rt->inner);
    free(rt);
}

static int rl_flush(struct transport *t, struct error *err)
{
    return transport_flush(((struct ratelimit_transport *)t)->inner, err);
}

static const struct transport_ops ratelimit_ops = {
    .read = rl_read,
    .write = rl_write,
    .close_write = rl_close_write,
    .finish = rl_finish,
    .free = rl_free,
    .flush = rl_flush,
};

struct transport *transport_ratelimit_new(struct transport *inner,
                                          uint64_t bytes_per_s, bool owns_inner)
{
    struct ratelimit_transport *rt = xcalloc(1, sizeof(*rt));
    double now = time_now();

    transport_init(&rt->base, &ratelimit_ops, transport_name(inner));
    rt->inner = inner;
    rt->owns_inner = owns_inner;
    rt->rate = bytes_per_s ? (double)bytes_per_s : 1e18;
    rt->burst = rt->rate / 10 > RATELIMIT_MIN_BURST ? rt->rate / 10
                                                    : RATELIMIT_MIN_BURST;
    if (rt->burst > (double)(64u << 20))
        rt->burst = (double)(64u << 20);
    /* Start full: the first burst goes out at once. */
    rt->rd = (struct bucket){rt->burst, now};
    rt->wr = rt->rd;
    return &rt->base;
}
