/* SPDX-License-Identifier: MIT */
/*
 * transport/memory.c: transports that live in memory, for unit tests of the
 * core and for dry runs. A buffer transport reads from a byte array and
 * collects what is written; a pair connects two transports like a
 * socketpair, safely across two threads. Test knobs make reads short and
 * inject read, write and finish failures, so error paths can be covered
 * without any service.
 */
#include "transport/transport.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/xalloc.h"

/* Bytes on their way in one direction. */
struct mem_pipe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *data;
    size_t start, end, cap;
    bool closed; /* the writing end is done */
    int refs;
};

struct memory_transport {
    struct transport base;
    struct mem_pipe *in;  /* we read from it */
    struct mem_pipe *out; /* we write into it */
    bool write_closed;
    size_t max_read;
    uint64_t fail_read_after, fail_write_after; /* UINT64_MAX: never */
    uint64_t nread, nwritten;
    struct error finish_err;
};

static struct mem_pipe *pipe_new(const void *data, size_t len, bool closed)
{
    struct mem_pipe *p = xcalloc(1, sizeof(*p));

    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->cap = len ? len : 64;
    p->data = xmalloc(p->cap);
    if (len)
        memcpy(p->data, data, len);
    p->end = len;
    p->closed = closed;
    p->refs = 1;
    return p;
}

static void pipe_unref(struct mem_pipe *p)
{
    int left;

    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    left = --p->refs;
    pthread_mutex_unlock(&p->lock);
    if (left)
        return;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->data);
    free(p);
}

static void pipe_close(struct mem_pipe *p)
{
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static int injected(struct transport *t, const char *what, struct error *err)
{
    return error_set(err, ERROR_IO, EIO, "injected %s failure on %s", what,
                     t->name);
}

static ssize_t mem_read(struct transport *t, void *buf, size_t len,
                        struct error *err)
{
    struct memory_transport *mt = (struct memory_transport *)t;
    struct mem_pipe *p = mt->in;
    size_t n;

    if (mt->max_read && len > mt->max_read)
        len = mt->max_read;
    pthread_mutex_lock(&p->lock);
    while (p->start == p->end && !p->closed)
        pthread_cond_wait(&p->cond, &p->lock);
    n = p->end - p->start;
    if (n > len)
        n = len;
    if (n && mt->nread + n > mt->fail_read_after) {
        pthread_mutex_unlock(&p->lock);
        return injected(t, "read", err);
    }
    memcpy(buf, p->data + p->start, n);
    p->start += n;
    pthread_mutex_unlock(&p->lock);
    mt->nread += n;
    return (ssize_t)n;
}

static int mem_write(struct transport *t, const void *buf, size_t len,
                     struct error *err)
{
    struct memory_transport *mt = (struct memory_transport *)t;
    struct mem_pipe *p = mt->out;

    if (mt->write_closed)
        return error_set(err, ERROR_IO, EPIPE, "%s: write after close",
                         t->name);
    if (mt->nwritten + len > mt->fail_write_after)
        return injected(t, "write", err);
    pthread_mutex_lock(&p->lock);
    if (p->cap - p->end < len) {
        while (p->cap - p->end < len)
            p->cap *= 2;
        p->data = xrealloc(p->data, p->cap);
    }
    if (len)
        memcpy(p->data + p->end, buf, len);
    p->end += len;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    mt->nwritten += len;
    return 0;
}

static int mem_close_write(struct transport *t, struct error *err)
{
    struct memory_transport *mt = (struct memory_transport *)t;

    (void)err;
    if (!mt->write_closed)
        pipe_close(mt->out);
    mt->write_closed = true;
    return 0;
}

static int mem_finish(struct transport *t, struct error *err)
{
    struct memory_transport *mt = (struct memory_transport *)t;

    if (mem_close_write(t, err) < 0)
        return -1;
    if (mt->finish_err.kind == ERROR_NONE)
        return 0;
    *err = mt->finish_err;
    return -1;
}

static void mem_free(struct transport *t)
{
    struct memory_transport *mt = (struct memory_transport *)t;

    if (!mt->write_closed)
        pipe_close(mt->out); /* the peer sees the end of the stream */
    pipe_unref(mt->in);
    pipe_unref(mt->out);
    free(mt);
}

static const struct transport_ops memory_ops = {
    .read = mem_read,
    .write = mem_write,
    .close_write = mem_close_write,
    .finish = mem_finish,
    .free = mem_free,
};

static struct memory_transport *mem_new(const char *name)
{
    struct memory_transport *mt = xcalloc(1, sizeof(*mt));

    transport_init(&mt->base, &memory_ops, name ? name : "memory");
    mt->fail_read_after = UINT64_MAX;
    mt->fail_write_after = UINT64_MAX;
    error_clear(&mt->finish_err);
    return mt;
}

struct transport *transport_memory_new(const void *data, size_t len,
                                       const char *name)
{
    struct memory_transport *mt = mem_new(name);

    mt->in = pipe_new(data, len, true);
    mt->out = pipe_new(NULL, 0, false);
    return &mt->base;
}

void transport_memory_pair(const char *name_a, const char *name_b,
                           struct transport **a, struct transport **b)
{
    struct memory_transport *ma = mem_new(name_a), *mb = mem_new(name_b);
    struct mem_pipe *ab = pipe_new(NULL, 0, false);
    struct mem_pipe *ba = pipe_new(NULL, 0, false);

    ab->refs = ba->refs = 2;
    ma->out = mb->in = ab;
    mb->out = ma->in = ba;
    *a = &ma->base;
    *b = &mb->base;
}

const void *transport_memory_output(struct transport *t, size_t *len)
{
    struct memory_transport *mt = (struct memory_transport *)t;
    const void *data;

    pthread_mutex_lock(&mt->out->lock);
    *len = mt->out->end - mt->out->start;
    data = mt->out->data + mt->out->start;
    pthread_mutex_unlock(&mt->out->lock);
    return data;
}

void transport_memory_set_faults(struct transport *t, size_t max_read,
                                 uint64_t fail_read_after,
                                 uint64_t fail_write_after)
{
    struct memory_transport *mt = (struct memory_transport *)t;

    mt->max_read = max_read;
    mt->fail_read_after = fail_read_after;
    mt->fail_write_after = fail_write_after;
}

void transport_memory_set_finish_error(struct transport *t,
                                       const struct error *e)
{
    struct memory_transport *mt = (struct memory_transport *)t;

    mt->finish_err = *e;
}
