/* SPDX-License-Identifier: MIT */
/*
 * transport/ssh.h: run a command on another host through an SSH exec
 * channel (libssh2) and talk to it as a struct transport.
 *
 * One transport is one TCP connection, one SSH session and one channel, so
 * several transports can run in parallel, one thread each (that is how
 * rbdmove reaches line rate: one libssh2 1.10 stream moves only about a
 * third of what OpenSSH does). A single transport is used by one thread at
 * a time.
 *
 * Security: the host key is checked against known_hosts (plain and hashed
 * entries, "[host]:port" for ports other than 22); an unknown host is
 * refused with its SHA256 fingerprint unless accept_new_host_key is set; a
 * changed key is always refused. Only public-key authentication is tried
 * (a key file, else ssh-agent, else ~/.ssh/id_ed25519 and id_ecdsa). The
 * only secret, a key passphrase, is read from an environment variable,
 * kept here and wiped after use.
 */
#ifndef RBDMOVE_TRANSPORT_SSH_H
#define RBDMOVE_TRANSPORT_SSH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "rbdmove/base/error.h"
#include "transport/transport.h"

/* Where to connect, parsed from "[USER@]HOST[:PORT]". */
struct transport_ssh_target {
    char *user; /* NULL: the local user's name */
    char *host; /* name or address; IPv6 without the brackets */
    int port;   /* 22 unless given */
};

#define TRANSPORT_SSH_TARGET_INIT                                              \
    {                                                                          \
        NULL, NULL, 22                                                         \
    }

/*
 * Parse "[USER@]HOST[:PORT]"; an IPv6 address is written in brackets
 * ("[::1]:2222", "user@[fe80::1%eth0]") or bare without a port ("::1").
 * Fills *out (caller releases it with transport_ssh_target_release) and
 * returns 0; on a malformed target returns -1 with ERROR_USAGE and leaves
 * *out empty. User and host names must not start with '-' and may not hold
 * spaces, quotes or control characters.
 */
int transport_ssh_target_parse(const char *s, struct transport_ssh_target *out,
                               struct error *err) MUST_CHECK;

/* Free the strings of *t and reset it to TRANSPORT_SSH_TARGET_INIT. */
void transport_ssh_target_release(struct transport_ssh_target *t);

/*
 * "user@host:port" for messages ("user@[::1]:2222" for IPv6; without
 * "user@" when t->user is NULL). Caller owns the result.
 */
char *transport_ssh_target_format(const struct transport_ssh_target *t);

struct transport_ssh_options {
    /* Private key file. NULL: ssh-agent ($SSH_AUTH_SOCK), then
       ~/.ssh/id_ed25519 and ~/.ssh/id_ecdsa. */
    const char *identity;
    /* NULL: ~/.ssh/known_hosts ($HOME, else the password database). */
    const char *known_hosts;
    /* Record the key of a host that known_hosts does not list (appended to
       the file). A changed key is refused all the same. */
    bool accept_new_host_key;
    /* Connect and authentication timeout, and how long the peer may stay
       silent (keepalives unanswered) before the link counts as dead.
       0: 30000. */
    int timeout_ms;
    /* Seconds between keepalives while waiting on the peer; 0: 15. Kept
       between 3 s and half the timeout. */
    int keepalive_s;
    /* Name of an environment variable holding the key's passphrase, or
       NULL. The passphrase itself is never an option. */
    const char *passphrase_env;
    /* Called once the host key is verified, before authentication, with
       the seconds the connection and key exchange took; NULL: none. */
    void (*verified)(void *arg, double seconds);
    void *verified_arg;
};

/*
 * Connect to t, verify the host key, authenticate as t->user and start
 * command in an exec channel. command is passed to the remote user's shell
 * as is: quote what you put in it (buf_add_shell_quoted).
 *
 * The transport's read returns the command's stdout and write feeds its
 * stdin (writes of any size; 1 MiB or more per call is the fast path).
 * close_write sends EOF. finish sends EOF if not done yet, discards stdout
 * nobody read, waits for the command to end and fails unless it exited 0:
 * ERROR_STATE with cause = the exit status, or 128 + the signal number when
 * a signal killed it (as a shell reports it), and the last lines of its
 * stderr in the message. (libssh2 1.10 cannot tell a command that exited 0
 * from a channel closed without any exit status.) A command that ends
 * while we still write to it fails the write the same way. The command's
 * stderr is relayed to the log as it arrives, each line prefixed
 * "remote: ", control characters replaced.
 *
 * While a read or write waits, keepalives go out every keepalive_s; a peer
 * that sends nothing at all for timeout_ms, keepalive answers included, is
 * an error (ERROR_SSH, LIBSSH2_ERROR_TIMEOUT), never a hang. A dropped
 * connection is ERROR_SSH naming the host. Stdout that the command writes
 * while we are still writing is buffered (up to 64 MiB) so that a chatty
 * command cannot deadlock a writer; beyond that the write fails with
 * ERROR_PROTOCOL.
 *
 * Failures before the command runs: ERROR_USAGE (unreadable key file,
 * missing passphrase variable), ERROR_IO (connect; cause = errno), ERROR_SSH
 * (handshake, host key, authentication, channel; cause = LIBSSH2_ERROR_*),
 * each message naming user@host:port. On success *out is a new transport
 * the caller frees with transport_free.
 */
int transport_ssh_exec(const struct transport_ssh_target *t,
                       const struct transport_ssh_options *o,
                       const char *command, struct transport **out,
                       struct error *err) MUST_CHECK;

/*
 * A data stream to the Unix socket socket_path on t's host: a channel that
 * sshd connects to that socket itself ("direct-streamlocal@openssh.com"),
 * so that no shell or command starts for it. Where the server refuses such
 * channels (AllowStreamLocalForwarding, DisableForwarding, a key's
 * no-port-forwarding) it runs command instead, over the same login, as
 * transport_ssh_exec would. *direct says which (may be NULL). A direct
 * channel has no exit status: finish succeeds when the peer closes it.
 * Errors as transport_ssh_exec's.
 */
int transport_ssh_open_socket(const struct transport_ssh_target *t,
                              const struct transport_ssh_options *o,
                              const char *socket_path, const char *command,
                              struct transport **out, bool *direct,
                              struct error *err) MUST_CHECK;

/*
 * Gives the socket path and the command (both NULL-able, as
 * transport_ssh_open_socket takes them; valid until the stream is open)
 * once they are known, or < 0 when the stream is no longer wanted.
 */
typedef int transport_ssh_await_fn(void *arg, const char **socket_path,
                                   const char **command);

/*
 * transport_ssh_open_socket, logging in first and only then asking await
 * where to: the login (about six round trips) can go on while the caller
 * still waits for the path. When await gives up, the session is closed
 * and the call fails with ERROR_STATE.
 */
int transport_ssh_open_socket_await(const struct transport_ssh_target *t,
                                    const struct transport_ssh_options *o,
                                    transport_ssh_await_fn *await,
                                    void *await_arg, struct transport **out,
                                    bool *direct, struct error *err) MUST_CHECK;

/*
 * Read what the command has already written to stdout, without waiting:
 * copies up to len bytes and returns the count, 0 when nothing is there
 * yet (or at end of stream), -1 on error. Lets a single thread interleave
 * writes and reads with a command that answers while it reads. t must come
 * from transport_ssh_exec.
 */
ssize_t transport_ssh_read_nowait(struct transport *t, void *buf, size_t len,
                                  struct error *err) MUST_CHECK;

#endif
