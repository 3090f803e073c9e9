/* SPDX-License-Identifier: MIT */
/*
 * transport/transport.h: a byte stream with a peer (Redis rio style).
 *
 * The core reads and writes diff streams through this interface and never
 * knows whether the other end is a file, a pipe or an rbdmove receiver
 * behind an SSH exec channel. Back ends: local.c (file descriptors, files,
 * pipes), ssh.c (libssh2 exec channels), memory.c (tests), zstd.c
 * (compression wrapper around another transport).
 *
 * A transport is used by one thread at a time.
 */
#ifndef RBDMOVE_TRANSPORT_H
#define RBDMOVE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rbdmove/base/error.h"

struct transport;

struct transport_ops {
    /* Read up to len bytes; returns the count, 0 at end of stream, -1. */
    ssize_t (*read)(struct transport *t, void *buf, size_t len,
                    struct error *err);
    /* Write all len bytes or fail. */
    int (*write)(struct transport *t, const void *buf, size_t len,
                 struct error *err);
    /* Flush buffered data and signal end of stream to the peer. */
    int (*close_write)(struct transport *t, struct error *err);
    /*
     * Wait for the peer to finish and check how it ended (a remote
     * command's exit status); 0 when it succeeded. Relays the peer's
     * error output through the log. May be NULL (nothing to wait for).
     */
    int (*finish)(struct transport *t, struct error *err);
    /* Release everything; must accept a half-built transport. */
    void (*free)(struct transport *t);
    /* Push buffered writes to the peer now (a request that waits for its
     * answer). May be NULL: the back end does not buffer. */
    int (*flush)(struct transport *t, struct error *err);
};

struct transport {
    const struct transport_ops *ops;
    char *name;         /* for messages: "stdin", "ssh://host", ... */
    uint64_t bytes_in;  /* bytes delivered by read, for progress */
    uint64_t bytes_out; /* bytes accepted by write */
    /* Seconds of one round trip to the peer, as the back end measured it
     * while connecting (0: not known). */
    double rtt;
};

/* Initialise the common part; takes a copy of name. */
void transport_init(struct transport *t, const struct transport_ops *ops,
                    const char *name);

ssize_t transport_read(struct transport *t, void *buf, size_t len,
                       struct error *err) MUST_CHECK;
/*
 * Read exactly len bytes. End of stream before that is ERROR_PROTOCOL
 * ("truncated stream").
 */
int transport_read_full(struct transport *t, void *buf, size_t len,
                        struct error *err) MUST_CHECK;
int transport_write(struct transport *t, const void *buf, size_t len,
                    struct error *err) MUST_CHECK;
int transport_close_write(struct transport *t, struct error *err) MUST_CHECK;
/* Push buffered writes to the peer. */
int transport_flush(struct transport *t, struct error *err) MUST_CHECK;
int transport_finish(struct transport *t, struct error *err) MUST_CHECK;
/* NULL-safe. */
void transport_free(struct transport *t);
const char *transport_name(const struct transport *t);

/*
 * Local back end (transport/local.c).
 *
 * transport_fd_new: reads from rfd and writes to wfd (either may be -1);
 * the transport closes the descriptors it was given when own_fds is set.
 * Writes are buffered in 1 MiB so that small records cost no syscalls.
 */
struct transport *transport_fd_new(int rfd, int wfd, int own_fds,
                                   const char *name);

/*
 * Open a path for reading or writing; "-" means stdin or stdout. A regular
 * file opened for writing is created or truncated.
 */
int transport_file_open(const char *path, int for_write, struct transport **out,
                        struct error *err) MUST_CHECK;

/*
 * In-memory back end (transport/memory.c), for tests and dry runs.
 *
 * transport_memory_new: reads return a copy of data[0, len), then end of
 * stream; writes are collected, see transport_memory_output.
 */
struct transport *transport_memory_new(const void *data, size_t len,
                                       const char *name);

/*
 * Two connected transports: what *a writes *b reads and the other way
 * round; close_write (or free) of one end is end of stream at the other.
 * A read waits for data, so one thread must write (and close_write)
 * before it reads; two threads may each drive one end.
 */
void transport_memory_pair(const char *name_a, const char *name_b,
                           struct transport **a, struct transport **b);

/*
 * The bytes written into t that nobody has read yet (for a
 * transport_memory_new: all of them). Borrowed: valid until the next write
 * to t or its free. t must be a memory transport.
 */
const void *transport_memory_output(struct transport *t, size_t *len);

/*
 * Test knobs of a memory transport: reads return at most max_read bytes
 * (0: no limit); the read or write that would pass fail_read_after or
 * fail_write_after bytes in total fails with ERROR_IO/EIO (UINT64_MAX:
 * never).
 */
void transport_memory_set_faults(struct transport *t, size_t max_read,
                                 uint64_t fail_read_after,
                                 uint64_t fail_write_after);

/* Make finish() of a memory transport fail with a copy of *e. */
void transport_memory_set_finish_error(struct transport *t,
                                       const struct error *e);

/*
 * zstd compression around inner (transport/zstd.c): writes are compressed
 * into inner (level 0 means 1, the default; negative levels are zstd's fast
 * modes), reads decompress from it. close_write ends the frame and closes
 * inner's write side; finish closes the write side and delegates. A
 * truncated or corrupt stream reads as ERROR_PROTOCOL. Takes ownership of
 * inner when owns_inner is set, else keeps a reference to it.
 */
struct transport *transport_zstd_new(struct transport *inner, int level,
                                     bool owns_inner);

/*
 * A token bucket on writes and on reads (transport/ratelimit.c, for
 * --bwlimit): each direction moves at most bytes_per_s on average, in
 * pieces of at most a tenth of a second's worth (0: no limit). Ownership
 * of inner as for transport_zstd_new.
 */
struct transport *transport_ratelimit_new(struct transport *inner,
                                          uint64_t bytes_per_s,
                                          bool owns_inner);

#endif
