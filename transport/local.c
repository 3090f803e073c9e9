/* SPDX-License-Identifier: MIT */
/*
 * transport/local.c: file descriptors, files and pipes.
 *
 * Writes are gathered in a 1 MiB buffer so that the many small records of
 * a diff stream cost few syscalls; reads go straight to the descriptor (the
 * stream decoder does its own buffering).
 */
#include "transport/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rbdmove/base/xalloc.h"

#define LOCAL_WBUF_SIZE (1u << 20)

struct fd_transport {
    struct transport base;
    int rfd;
    int wfd;
    int own_fds;
    char *wbuf;
    size_t wlen;
};

static ssize_t fd_read(struct transport *t, void *buf, size_t len,
                       struct error *err)
{
    struct fd_transport *ft = (struct fd_transport *)t;
    ssize_t n;

    if (ft->rfd < 0)
        return error_set(err, ERROR_IO, EBADF, "%s is not readable", t->name);
    do {
        n = read(ft->rfd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return error_set(err, ERROR_IO, errno, "cannot read from %s", t->name);
    return n;
}

static int write_all(int fd, const char *p, size_t len, const char *name,
                     struct error *err)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(err, ERROR_IO, errno, "cannot write to %s", name);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fd_flush(struct fd_transport *ft, struct error *err)
{
    size_t len = ft->wlen;

    ft->wlen = 0;
    return write_all(ft->wfd, ft->wbuf, len, ft->base.name, err);
}

static int fd_write(struct transport *t, const void *buf, size_t len,
                    struct error *err)
{
    struct fd_transport *ft = (struct fd_transport *)t;

    if (ft->wfd < 0)
        return error_set(err, ERROR_IO, EBADF, "%s is not writable", t->name);
    if (ft->wlen + len > LOCAL_WBUF_SIZE && fd_flush(ft, err) < 0)
        return -1;
    if (len >= LOCAL_WBUF_SIZE)
        return write_all(ft->wfd, buf, len, t->name, err);
    memcpy(ft->wbuf + ft->wlen, buf, len);
    ft->wlen += len;
    return 0;
}

static int fd_close_write(struct transport *t, struct error *err)
{
    struct fd_transport *ft = (struct fd_transport *)t;
    int r;

    if (ft->wfd < 0)
        return 0;
    if (fd_flush(ft, err) < 0)
        return -1;
    if (ft->own_fds) {
        r = close(ft->wfd);
        ft->wfd = -1;
        if (r < 0 && errno != EINTR)
            return error_set(err, ERROR_IO, errno, "cannot close %s", t->name);
    } else {
        ft->wfd = -1;
    }
    return 0;
}

static void fd_free(struct transport *t)
{
    struct fd_transport *ft = (struct fd_transport *)t;

    if (ft->own_fds && ft->wfd >= 0)
        close(ft->wfd);
    if (ft->own_fds && ft->rfd >= 0 && ft->rfd != ft->wfd)
        close(ft->rfd);
    free(ft->wbuf);
    free(ft);
}

static int fd_flush_op(struct transport *t, struct error *err)
{
    struct fd_transport *ft = (struct fd_transport *)t;

    if (ft->wfd < 0)
        return 0;
    return fd_flush(ft, err);
}

static const struct transport_ops fd_ops = {
    .read = fd_read,
    .write = fd_write,
    .close_write = fd_close_write,
    .free = fd_free,
    .flush = fd_flush_op,
};

struct transport *transport_fd_new(int rfd, int wfd, int own_fds,
                                   const char *name)
{
    struct fd_transport *ft = xcalloc(1, sizeof(*ft));

    transport_init(&ft->base, &fd_ops, name);
    ft->rfd = rfd;
    ft->wfd = wfd;
    ft->own_fds = own_fds;
    ft->wbuf = wfd >= 0 ? xmalloc(LOCAL_WBUF_SIZE) : NULL;
    return &ft->base;
}

int transport_file_open(const char *path, int for_write, struct transport **out,
                        struct error *err)
{
    int fd;

    *out = NULL;
    if (!strcmp(path, "-")) {
        *out = for_write ? transport_fd_new(-1, STDOUT_FILENO, 0, "stdout")
                         : transport_fd_new(STDIN_FILENO, -1, 0, "stdin");
        return 0;
    }
    if (for_write)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    else
        fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, ERROR_IO, errno, "cannot open '%s'", path);
    *out = for_write ? transport_fd_new(-1, fd, 1, path)
                     : transport_fd_new(fd, -1, 1, path);
    return 0;
}
