/* SPDX-License-Identifier: MIT */
/*
 * transport/transport.c: dispatch and the helpers common to all back ends.
 */
#include "transport/transport.h"

#include <stdlib.h>

#include "rbdmove/base/xalloc.h"

void transport_init(struct transport *t, const struct transport_ops *ops,
                    const char *name)
{
    t->ops = ops;
    t->name = xstrdup(name ? name : "stream");
    t->bytes_in = 0;
    t->bytes_out = 0;
}

ssize_t transport_read(struct transport *t, void *buf, size_t len,
                       struct error *err)
{
    ssize_t n = t->ops->read(t, buf, len, err);

    if (n > 0)
        t->bytes_in += (uint64_t)n;
    return n;
}

int transport_read_full(struct transport *t, void *buf, size_t len,
                        struct error *err)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = transport_read(t, p, len, err);

        if (n < 0)
            return -1;
        if (n == 0)
            return error_set(err, ERROR_PROTOCOL, 0, "truncated stream from %s",
                             t->name);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int transport_write(struct transport *t, const void *buf, size_t len,
                    struct error *err)
{
    if (t->ops->write(t, buf, len, err) < 0)
        return -1;
    t->bytes_out += len;
    return 0;
}

int transport_close_write(struct transport *t, struct error *err)
{
    if (!t->ops->close_write)
        return 0;
    return t->ops->close_write(t, err);
}

int transport_flush(struct transport *t, struct error *err)
{
    if (!t->ops->flush)
        return 0;
    return t->ops->flush(t, err);
}

int transport_finish(struct transport *t, struct error *err)
{
    if (!t->ops->finish)
        return 0;
    return t->ops->finish(t, err);
}

void transport_free(struct transport *t)
{
    char *name;

    if (!t)
        return;
    name = t->name;
    t->ops->free(t);
    free(name);
}

const char *transport_name(const struct transport *t)
{
    return t->name;
}
