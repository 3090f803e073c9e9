/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/receiver.h: the far end of a remote copy (`rbdmove receive`).
 *
 * One control session serves the requests of dest_remote.c (proto.h) for
 * one destination image, holding its exclusive lock throughout. Data
 * arrives over separate SSH sessions, one per stream, opened once and
 * reused by every transfer: each reaches a Unix socket of the serving
 * process, either as a direct channel that sshd connects to it (the
 * sender's first byte "D") or through `rbdmove receive --join SOCKET`,
 * which passes its stdin's descriptor ("F", SCM_RIGHTS). The serving
 * process applies all streams of a transfer in parallel through its one
 * image handle and answers on the control session.
 */
#ifndef RBDMOVE_RECEIVER_H
#define RBDMOVE_RECEIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct cluster;
struct transport;

/*
 * Serve requests for pool/image on cl, read from and answered on ctl,
 * until "quit" or the end of ctl. Fails only when ctl itself fails; a
 * failed request is answered with its error. ctl_fd, when not -1, is the
 * descriptor ctl reads: while waiting for data streams the receiver
 * watches it, and gives up at once when the sender hangs up instead of
 * holding the image's lock until a timeout.
 */
int receiver_serve(struct cluster *cl, const char *pool, const char *image,
                   struct transport *ctl, int ctl_fd,
                   struct error *err) MUST_CHECK;

/*
 * `rbdmove receive --serve`: connect to the cluster (conf, id, timeout_s
 * as for cluster_connect), then as receiver_serve. A failed connect is
 * answered on ctl (the sender shows it) and returned. With greet (--greet
 * STREAMS,LEVEL) the answers to "hello" and to "streams STREAMS LEVEL" go
 * out first, unasked, before the connect: the sender learns the socket
 * while its request for the probe travels, and its data sessions open
 * their channels while this end connects (a round trip and the connect
 * less before the first byte); a failed connect then answers in place of
 * the sender's first request.
 */
struct receiver_start {
    const char *conf, *id;
    int timeout_s;
    bool greet;
    uint64_t streams, level; /* greet */
};

int receiver_run(const struct receiver_start *rs, const char *pool,
                 const char *image, struct transport *ctl, int ctl_fd,
                 struct error *err) MUST_CHECK;

/*
 * Hand in_fd (a data session) to the serving receiver through its socket
 * (SCM_RIGHTS), then wait until that receiver closes the connection (its
 * session ended). out_fd is unused (protocol 2 wrote a verdict there).
 */
int receiver_join(const char *socket_path, int in_fd, int out_fd,
                  struct error *err) MUST_CHECK;

#endif
