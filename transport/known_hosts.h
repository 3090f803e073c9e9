/* SPDX-License-Identifier: MIT */
/*
 * transport/known_hosts.h: the host key check of transport/ssh.c, for
 * ssh.c only (the rest of rbdmove sees it through transport/ssh.h).
 *
 * One struct known_hosts is the known_hosts file as read for one host and
 * one session: known_hosts_prepare before the handshake, known_hosts_verify
 * after it, known_hosts_free before the session is freed (libssh2's copy of
 * the file belongs to the session).
 */
#ifndef RBDMOVE_TRANSPORT_KNOWN_HOSTS_H
#define RBDMOVE_TRANSPORT_KNOWN_HOSTS_H

#include <stdbool.h>

#include <libssh2.h>

#include "rbdmove/base/error.h"

struct known_hosts;

/*
 * The file at path, for the host named lookup in it: "host", or
 * "[host]:port" for a port other than 22. Takes ownership of both strings
 * (malloc'ed); reads nothing yet. Never fails; free with known_hosts_free.
 */
struct known_hosts *known_hosts_new(char *path, char *lookup);

/* NULL-safe. Before the session that prepared k is freed. */
void known_hosts_free(struct known_hosts *k);

/*
 * Before the handshake on session: read the file into libssh2 (a missing
 * file is read as empty; lines libssh2 cannot parse are skipped) and make
 * the session offer first the host key types the file records for the
 * host, as OpenSSH does. where ("user@host:port") names the host in
 * messages. Fails with ERROR_IO when the file cannot be read, ERROR_SSH
 * (cause = LIBSSH2_ERROR_*) when libssh2 refuses.
 */
int known_hosts_prepare(struct known_hosts *k, LIBSSH2_SESSION *session,
                        const char *where, struct error *err) MUST_CHECK;

/*
 * After the handshake: accept the host key the server showed only when
 * the file records it for the host. An unknown host fails with its SHA256
 * fingerprint, unless accept_new: then its key is appended to the file
 * (under a lock, after reading the file again) and a warning logged. A
 * changed key, a key of another type than the ones on record, or a key
 * marked @revoked always fails. Failures are ERROR_SSH with cause
 * LIBSSH2_ERROR_KNOWN_HOSTS (or another LIBSSH2_ERROR_*), ERROR_IO when
 * the file cannot be read or written; messages name where and the file.
 */
int known_hosts_verify(struct known_hosts *k, LIBSSH2_SESSION *session,
                       const char *where, bool accept_new,
                       struct error *err) MUST_CHECK;

#endif
