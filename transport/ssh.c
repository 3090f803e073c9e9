/* SPDX-License-Identifier: MIT */
/*
 * transport/ssh.c: the libssh2 user, with known_hosts.c. Connects, has
 * known_hosts.c check the host key, authenticates with a public key, runs
 * one command in an exec channel and carries its stdin/stdout as a struct
 * transport while relaying its stderr to the log. It knows nothing of what
 * the bytes mean.
 *
 * Blocking mode (with libssh2_session_set_timeout) is used up to the exec
 * request. After it the session is switched to non-blocking and every wait
 * goes through wait_socket(), because in blocking mode libssh2 1.10 can
 * neither relay stderr without risking a deadlock (stdout and stderr share
 * one channel window: a blocking stdout read never consumes the stderr that
 * fills it) nor send keepalives safely (its own keepalive, sent from inside
 * a blocked write while a packet is half-sent, makes that write fail with
 * LIBSSH2_ERROR_BAD_USE: keepalive.c hands _libssh2_transport_send a
 * different buffer, and send_existing() refuses it). The rules that keep
 * libssh2 1.10 happy in non-blocking mode are in step() and
 * send_keepalive().
 */
#include "transport/ssh.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh2.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "transport/known_hosts.h"
#include "transport/ssh_int.h"

#define SSH_TIMEOUT_MS_DEFAULT 30000
#define SSH_KEEPALIVE_S_DEFAULT 15
/* Our receive window: what the command may send before we read it. */
#define SSH_WINDOW (16u << 20)
/* Packets above 32 KiB break reads with libssh2 1.10 (lab notes). */
#define SSH_PACKET 32768
/* Stdout buffered while writing, and how often busy I/O looks at stderr. */
#define SSH_INBUF_MAX (64u << 20)
#define SSH_DRAIN_EVERY (1u << 20)
#define SSH_ERRLINE_MAX 1024
#define SSH_TAIL_LINES 3
/* step() results besides a byte count: would block, or failed (err set). */
#define STEP_AGAIN LIBSSH2_ERROR_EAGAIN
#define STEP_FAILED (-1)

struct ssh_transport {
    struct transport base;
    char *where; /* "user@host:port" */
    int sock;
    LIBSSH2_SESSION *session;
    LIBSSH2_CHANNEL *channel;
    int timeout_ms;
    int keepalive_ms;
    double last_recv;  /* when the peer last sent us anything */
    double wait_since; /* when the current operation began to wait */
    double ka_next;    /* when the next keepalive is due */
    double ka_pending; /* when the oldest unanswered keepalive went out */
    bool broken;       /* a fatal error: no goodbye on free */
    bool peer_closed;  /* recv() saw the end of the TCP stream */
    int sock_errno;    /* the last error of recv() or send() */
    bool eof_sent;
    bool stdout_eof;
    bool to_socket; /* a direct-streamlocal channel: no command, no status */
    size_t since_drain;
    /* stdout that arrived while we were writing: data[start, end) */
    char *in;
    size_t in_start, in_end, in_cap;
    /* stderr: the line being assembled and the last lines seen */
    struct buf errline;
    char *tail[SSH_TAIL_LINES];
    unsigned tail_next;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void init_libssh2(void)
{
    init_rc = libssh2_init(0);
}

static const char *last_msg(struct ssh_transport *st, int *code)
{
    char *msg = NULL;
    int c = st->session ? libssh2_session_last_error(st->session, &msg, NULL, 0)
                        : 0;

    if (code)
        *code = c;
    return msg && *msg ? msg : "unknown error";
}

/* error_set(ERROR_SSH) with libssh2's own words and the host. */
static int fail(struct ssh_transport *st, int rc, const char *what,
                struct error *err)
{
    int code;
    const char *msg = last_msg(st, &code);

    return error_set(err, ERROR_SSH, rc < 0 ? rc : code, "%s %s: %s", what,
                     st->where, msg);
}

/* Append "; remote stderr: a | b" to err's message when we have lines. */
static void add_tail(struct ssh_transport *st, struct error *err)
{
    struct buf b = BUF_INIT;

    for (unsigned i = 0; i < SSH_TAIL_LINES; i++) {
        const char *line = st->tail[(st->tail_next + i) % SSH_TAIL_LINES];

        if (line)
            buf_addf(&b, "%s%s", b.len ? " | " : "", line);
    }
    if (st->errline.len)
        buf_addf(&b, "%s%s", b.len ? " | " : "", st->errline.data);
    if (b.len) {
        size_t n = strlen(err->msg);

        snprintf(err->msg + n, sizeof(err->msg) - n, "; remote stderr: %s",
                 b.data);
    }
    buf_release(&b);
}

/* ---- connection ---------------------------------------------------------- */

/*
 * Socket callbacks: libssh2's own, plus what it does not keep: when the
 * peer last sent anything (for the dead-peer check) and why the socket
 * failed (for the message).
 */
static ssize_t recv_cb(libssh2_socket_t sock, void *buffer, size_t length,
                       int flags, void **abstract)
{
    struct ssh_transport *st = *abstract;
    ssize_t n = recv(sock, buffer, length, flags);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -EAGAIN;
    if (n < 0) {
        st->sock_errno = errno;
        return -errno;
    }
    if (n == 0 && length > 0)
        st->peer_closed = true;
    if (n > 0)
        st->last_recv = time_now();
    return n;
}

static ssize_t send_cb(libssh2_socket_t sock, const void *buffer, size_t length,
                       int flags, void **abstract)
{
    struct ssh_transport *st = *abstract;
    ssize_t n = send(sock, buffer, length, flags);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -EAGAIN;
    if (n < 0) {
        st->sock_errno = errno;
        return -errno;
    }
    return n;
}

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
    int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
               ai->ai_protocol);
    struct pollfd pfd;
    int r, soerr = 0;
    socklen_t slen = sizeof(soerr);

    if (fd < 0)
        return -errno;
    r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r < 0 && errno == EINPROGRESS) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        do {
            r = poll(&pfd, 1, timeout_ms);
        } while (r < 0 && errno == EINTR);
        if (r == 0)
            errno = ETIMEDOUT;
        else if (r > 0 &&
                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) == 0)
            errno = soerr;
        r = (r > 0 && soerr == 0) ? 0 : -1;
    }
    if (r < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

static int connect_tcp(struct ssh_transport *st, const char *host, int port,
                       struct error *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    char portstr[16];
    int r, fd = -ECONNREFUSED;
    unsigned int user_timeout = (unsigned int)st->timeout_ms;
    int one = 1;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    r = getaddrinfo(host, portstr, &hints, &res);
    if (r != 0)
        return error_set(err, ERROR_IO, r == EAI_AGAIN ? EAGAIN : 0,
                         "cannot resolve '%s': %s", host, gai_strerror(r));
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = connect_one(ai, st->timeout_ms);
        if (fd >= 0)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return error_set(err, ERROR_IO, -fd, "cannot connect to %s", st->where);
    /* Unacknowledged data for longer than the timeout kills the link. */
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
               sizeof(user_timeout));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    st->sock = fd;
    return 0;
}

/* ---- authentication ------------------------------------------------------ */

static const char rsa_note[] =
    "libssh2 1.10 signs RSA keys only with ssh-rsa (SHA-1), which OpenSSH "
    "8.8 and later refuse; use an ed25519 or ECDSA key";

/* Try one key file: 0 accepted, 1 refused (why in *note), -1 error. */
static int auth_key_file(struct ssh_transport *st, const char *user,
                         const char *path, const char *passphrase_env,
                         struct buf *note, struct error *err)
{
    struct key_info ki;
    const char *env = passphrase_env ? getenv(passphrase_env) : NULL;
    char *pass = NULL;
    int r;

    if (access(path, R_OK) < 0)
        return error_set(err, ERROR_USAGE, 0, "cannot read key '%s': %s", path,
                         strerror(errno));
    if (passphrase_env && !env)
        return error_set(err, ERROR_USAGE, 0,
                         "the passphrase variable '%s' is not set",
                         passphrase_env);
    pass = xstrdup(env ? env : "");
    r = libssh2_userauth_publickey_fromfile_ex(
        st->session, user, (unsigned int)strlen(user), NULL, path, pass);
    freezero_str(pass);
    if (r == 0)
        return 0;
    ssh_key_file_info(path, &ki);
    if (r == LIBSSH2_ERROR_FILE)
        return error_set(err, ERROR_SSH, r, "cannot use key '%s' for %s: %s%s",
                         path, st->where, last_msg(st, NULL),
                         ki.encrypted && !passphrase_env
                             ? " (the key has a passphrase: name the "
                               "variable that holds it)"
                             : "");
    if (r != LIBSSH2_ERROR_AUTHENTICATION_FAILED &&
        r != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED)
        return fail(st, r, "public key authentication failed with", err);
    buf_addf(note, "%skey '%s' (%s) refused", note->len ? "; " : "", path,
             ki.type);
    if (!strcmp(ki.type, "ssh-rsa"))
        buf_addf(note, ": %s", rsa_note);
    return 1;
}

/* Keys of ssh-agent: 0 accepted, 1 none accepted or no agent, -1 error. */
static int auth_agent(struct ssh_transport *st, const char *user,
                      struct buf *note)
{
    LIBSSH2_AGENT *agent = NULL;
    struct libssh2_agent_publickey *id = NULL, *prev = NULL;
    int ret = 1;
    char type[64];

    if (!getenv("SSH_AUTH_SOCK") || !*getenv("SSH_AUTH_SOCK"))
        return 1;
    agent = libssh2_agent_init(st->session);
    if (!agent || libssh2_agent_connect(agent) ||
        libssh2_agent_list_identities(agent)) {
        buf_addf(note, "%sssh-agent: %s", note->len ? "; " : "",
                 last_msg(st, NULL));
        goto out;
    }
    while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
        if (libssh2_agent_userauth(agent, user, id) == 0) {
            ret = 0;
            break;
        }
        ssh_blob_key_type(id->blob, id->blob_len, type, sizeof(type));
        buf_addf(note, "%sagent key '%s' (%s) refused", note->len ? "; " : "",
                 id->comment ? id->comment : "", type);
        if (!strcmp(type, "ssh-rsa"))
            buf_addf(note, ": %s", rsa_note);
        prev = id;
    }
    if (!prev && ret)
        buf_addf(note, "%sssh-agent holds no keys", note->len ? "; " : "");
out:
    if (agent) {
        libssh2_agent_disconnect(agent);
        libssh2_agent_free(agent);
    }
    return ret;
}

/*
 * The keys are offered straight away: asking for the server's methods
 * first ("none") costs a round trip on every login, and a WAN move logs in
 * nine times. The methods are asked only to explain a refusal.
 */
static int authenticate(struct ssh_transport *st, const char *user,
                        const struct transport_ssh_options *o,
                        struct error *err)
{
    static const char *const defaults[] = {"id_ed25519", "id_ecdsa"};
    struct buf note = BUF_INIT;
    char *methods, *home = NULL;
    int r = 1;

    if (o->identity) {
        r = auth_key_file(st, user, o->identity, o->passphrase_env, &note, err);
    } else {
        r = auth_agent(st, user, &note);
        home = ssh_home_dir();
        for (size_t i = 0; r == 1 && i < 2; i++) {
            char *path = xasprintf("%s/.ssh/%s", home, defaults[i]);

            if (ssh_file_exists(path))
                r = auth_key_file(st, user, path, o->passphrase_env, &note,
                                  err);
            free(path);
        }
    }
    if (r == 1) {
        methods = libssh2_userauth_list(st->session, user,
                                        (unsigned int)strlen(user));
        if (!methods && libssh2_userauth_authenticated(st->session))
            r = 0;
        else if (methods && !strstr(methods, "publickey"))
            error_set(err, ERROR_SSH, LIBSSH2_ERROR_AUTHENTICATION_FAILED,
                      "%s accepts no public keys (only %s), and rbdmove "
                      "uses nothing else",
                      st->where, methods);
        else
            error_set(err, ERROR_SSH, LIBSSH2_ERROR_AUTHENTICATION_FAILED,
                      "cannot log in to %s: %s", st->where,
                      note.len ? note.data
                               : "no key to offer (no ssh-agent, no "
                                 "~/.ssh/id_ed25519 or id_ecdsa)");
    }
    buf_release(&note);
    free(home);
    return r == 0 ? 0 : -1;
}

/* ---- session ------------------------------------------------------------- */

static int start_session(struct ssh_transport *st, struct known_hosts *k,
                         struct error *err)
{
    static const struct {
        int method;
        const char *prefs;
    } prefs[] = {
        /* What libssh2 1.10 does fastest; OpenSSH 9.2 offers all of it. */
        {LIBSSH2_METHOD_CRYPT_CS, "aes128-ctr,aes256-ctr,aes192-ctr"},
        {LIBSSH2_METHOD_CRYPT_SC, "aes128-ctr,aes256-ctr,aes192-ctr"},
        {LIBSSH2_METHOD_MAC_CS, "hmac-sha2-256,hmac-sha2-512"},
        {LIBSSH2_METHOD_MAC_SC, "hmac-sha2-256,hmac-sha2-512"},
        /* Compression belongs before the channel (zstd), never zlib. */
        {LIBSSH2_METHOD_COMP_CS, "none"},
        {LIBSSH2_METHOD_COMP_SC, "none"},
    };
    int r;

    st->session = libssh2_session_init_ex(NULL, NULL, NULL, st);
    if (!st->session)
        return error_set(err, ERROR_SSH, LIBSSH2_ERROR_ALLOC,
                         "cannot create an ssh session for %s", st->where);
    libssh2_session_callback_set(st->session, LIBSSH2_CALLBACK_RECV,
                                 (void *)recv_cb);
    libssh2_session_callback_set(st->session, LIBSSH2_CALLBACK_SEND,
                                 (void *)send_cb);
    libssh2_session_set_blocking(st->session, 1);
    libssh2_session_set_timeout(st->session, st->timeout_ms);
    libssh2_session_banner_set(st->session, "SSH-2.0-rbdmove_" RBDMOVE_VERSION);
    for (size_t i = 0; i < sizeof(prefs) / sizeof(prefs[0]); i++) {
        r = libssh2_session_method_pref(st->session, prefs[i].method,
                                        prefs[i].prefs);
        if (r)
            return fail(st, r, "cannot set ssh algorithms for", err);
    }
    if (known_hosts_prepare(k, st->session, st->where, err) < 0)
        return -1;
    st->last_recv = time_now();
    r = libssh2_session_handshake(st->session, st->sock);
    if (r)
        return fail(st, r, "ssh handshake failed with", err);
    return 0;
}

static int start_command(struct ssh_transport *st, const char *command,
                         struct error *err)
{
    double t0 = time_now(), t1;
    int r;

    st->channel =
        libssh2_channel_open_ex(st->session, "session", sizeof("session") - 1,
                                SSH_WINDOW, SSH_PACKET, NULL, 0);
    if (!st->channel)
        return fail(st, -1, "cannot open a channel to", err);
    t1 = time_now();
    r = libssh2_channel_exec(st->channel, command);
    if (r)
        return fail(st, r, "cannot start the remote command on", err);
    /*
     * The round trip, as the user's link has it (a relay or jump host in
     * between counts, which TCP's own estimate would miss): the shorter
     * of two requests sshd answers at once. The channel's confirmation
     * can wait up to 40 ms for our delayed ACK of what sshd sent after
     * the login (Nagle), the command's for sshd's fork: on loopback 43
     * ms against 1-3 ms.
     */
    st->base.rtt = t1 - t0 < time_now() - t1 ? t1 - t0 : time_now() - t1;
    return 0;
}

/*
 * OpenSSH's "direct-streamlocal@openssh.com" channel (PROTOCOL, 2.4): sshd
 * connects it to the Unix socket at path itself, no shell and no command
 * started. libssh2 1.10 has no call for it, but opens any channel type with
 * its request's own fields: string path, string reserved, uint32 reserved.
 * 1: the server refused (forwarding off for this user or key), and the
 * session is still good for a command; -1: another failure.
 */
static int start_socket(struct ssh_transport *st, const char *path,
                        struct error *err)
{
    static const char type[] = "direct-streamlocal@openssh.com";
    size_t plen = strlen(path);
    unsigned char *msg = xmalloc(4 + plen + 4 + 4);
    unsigned char *p = msg;
    int code;

    for (int i = 3; i >= 0; i--)
        *p++ = (unsigned char)(plen >> (8 * i));
    memcpy(p, path, plen);
    p += plen;
    memset(p, 0, 8); /* reserved: an empty string and a zero */
    p += 8;
    st->channel = libssh2_channel_open_ex(
        st->session, type, sizeof(type) - 1, SSH_WINDOW, SSH_PACKET,
        (const char *)msg, (unsigned)(p - msg));
    free(msg);
    if (st->channel) {
        st->to_socket = true;
        return 0;
    }
    last_msg(st, &code);
    if (code == LIBSSH2_ERROR_CHANNEL_FAILURE) {
        log_debug("%s refused a direct channel to %s: %s", st->where, path,
                  last_msg(st, NULL));
        return 1;
    }
    return fail(st, -1, "cannot open a channel to", err);
}

/* From here on: non-blocking, our own waits and keepalives. */
static void go_nonblocking(struct ssh_transport *st)
{
    libssh2_session_set_blocking(st->session, 0);
    libssh2_keepalive_config(st->session, 1, 2);
    st->ka_next = time_now() + st->keepalive_ms / 1000.0;
}

/* ---- waiting ------------------------------------------------------------- */

static bool half_sent(struct ssh_transport *st)
{
    return libssh2_session_block_directions(st->session) &
           LIBSSH2_SESSION_BLOCK_OUTBOUND;
}

/*
 * libssh2 1.10 can only send a keepalive when no packet is half-sent (else
 * the next send fails with BAD_USE), and the keepalive itself must go out
 * whole: its buffer lives on libssh2_keepalive_send's stack, so a partial
 * send could never be completed. Hence: nothing half-sent, and the socket
 * writable (POLLOUT means a third of the send buffer is free) first. The
 * schedule is ours; libssh2's own interval is set to its 2 s minimum so that
 * it never disagrees.
 */
static void send_keepalive(struct ssh_transport *st, double now)
{
    struct pollfd pfd = {.fd = st->sock, .events = POLLOUT};
    int next = 0;

    if (now < st->ka_next || half_sent(st) || poll(&pfd, 1, 0) != 1 ||
        !(pfd.revents & POLLOUT))
        return;
    if (libssh2_keepalive_send(st->session, &next)) {
        log_debug("keepalive to %s: %s", st->where, last_msg(st, NULL));
        return;
    }
    st->ka_next = now + st->keepalive_ms / 1000.0;
    if (st->ka_pending <= st->last_recv)
        st->ka_pending = now;
}

/*
 * Dead: silent for the whole timeout while we waited, although asked (a
 * keepalive unanswered for a full interval), or with our data stuck before
 * the kernel for as long (TCP_USER_TIMEOUT usually says so first).
 */
static bool peer_dead(struct ssh_transport *st, double now)
{
    double since =
        st->last_recv > st->wait_since ? st->last_recv : st->wait_since;

    if (now - since < st->timeout_ms / 1000.0)
        return false;
    return half_sent(st) || (st->ka_pending > st->last_recv &&
                             now - st->ka_pending >= st->keepalive_ms / 1000.0);
}

/*
 * The one place that waits (style 4.7): poll the socket the way libssh2
 * says it is blocked, send keepalives, and give up on a dead peer. Waits at
 * most a second, so the callers' loops look at the clock often enough.
 */
static int wait_socket(struct ssh_transport *st, struct error *err)
{
    int dir = libssh2_session_block_directions(st->session);
    struct pollfd pfd = {.fd = st->sock, .events = 0};
    double now = time_now();
    int ms = 1000;

    if (st->wait_since == 0)
        st->wait_since = now;
    if (peer_dead(st, now)) {
        st->broken = true;
        error_set(err, ERROR_SSH, LIBSSH2_ERROR_TIMEOUT,
                  "connection to %s is dead: nothing received for %.0f s "
                  "(keepalives unanswered)",
                  st->where, now - st->last_recv);
        add_tail(st, err);
        return -1;
    }
    send_keepalive(st, now);
    if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
        pfd.events |= POLLIN;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        pfd.events |= POLLOUT;
    if (!pfd.events) {
        /* libssh2 returned "nothing yet" without saying why: look again
           soon rather than spin or sleep long. */
        pfd.events = POLLIN;
        ms = 50;
    }
    if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
        return error_set(err, ERROR_IO, errno, "cannot wait for %s", st->where);
    return 0;
}

/* ---- channel steps ------------------------------------------------------- */

enum step_op {
    OP_READ_STDOUT,
    OP_READ_STDERR,
    OP_WRITE,
    OP_EOF,
    OP_WAIT_CLOSED,
    OP_CLOSE,
};

static ssize_t call(struct ssh_transport *st, enum step_op op, void *buf,
                    size_t len)
{
    switch (op) {
    case OP_READ_STDOUT:
        return libssh2_channel_read(st->channel, buf, len);
    case OP_READ_STDERR:
        return libssh2_channel_read_stderr(st->channel, buf, len);
    case OP_WRITE:
        return libssh2_channel_write(st->channel, buf, len);
    case OP_EOF:
        return libssh2_channel_send_eof(st->channel);
    case OP_WAIT_CLOSED:
        return libssh2_channel_wait_closed(st->channel);
    case OP_CLOSE:
        return libssh2_channel_close(st->channel);
    }
    return LIBSSH2_ERROR_INVAL;
}

/* A failed channel call: name the socket's own reason when there is one. */
static void io_fail(struct ssh_transport *st, int rc, struct error *err)
{
    char ebuf[128];
    const char *why = st->peer_closed ? "closed by the peer"
                      : st->sock_errno
                          ? strerror_r(st->sock_errno, ebuf, sizeof(ebuf))
                          : NULL;

    if (why)
        error_set(err, ERROR_SSH, rc, "connection to %s lost: %s (%s)",
                  st->where, why, last_msg(st, NULL));
    else
        fail(st, rc, "ssh channel error with", err);
    add_tail(st, err);
}

/* Each transport operation measures its own waiting (peer_dead). */
static void begin_op(struct ssh_transport *st)
{
    st->wait_since = 0;
}

/*
 * One libssh2 channel call. libssh2 1.10 insists that a call which left a
 * packet half-sent (EAGAIN with the outbound direction blocked) be repeated
 * with the same arguments before anything else sends, or the other call
 * fails with LIBSSH2_ERROR_BAD_USE. So such a call is repeated here until
 * the packet is out, and no step ever leaves one behind: between steps any
 * call is safe. Returns a count, STEP_AGAIN or STEP_FAILED (err set).
 */
static ssize_t step(struct ssh_transport *st, enum step_op op, void *buf,
                    size_t len, struct error *err)
{
    for (;;) {
        ssize_t n = call(st, op, buf, len);

        if (n >= 0)
            return n;
        if (n != LIBSSH2_ERROR_EAGAIN) {
            st->broken = true;
            io_fail(st, (int)n, err);
            return STEP_FAILED;
        }
        if (!half_sent(st))
            return STEP_AGAIN;
        if (wait_socket(st, err) < 0)
            return STEP_FAILED;
    }
}

/* ---- stderr relay and stdout buffer -------------------------------------- */

static void emit_line(struct ssh_transport *st)
{
    unsigned i = st->tail_next;

    if (!st->errline.len)
        return;
    log_warn("remote: %s", st->errline.data);
    free(st->tail[i]);
    st->tail[i] = xstrndup(st->errline.data, 200);
    st->tail_next = (i + 1) % SSH_TAIL_LINES;
    buf_reset(&st->errline);
}

/* Split into lines, replacing control characters (a remote host must not
   drive our terminal). */
static void relay_stderr(struct ssh_transport *st, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '\n' || c == '\r') {
            emit_line(st);
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            c = '?';
        buf_add(&st->errline, &c, 1);
        if (st->errline.len >= SSH_ERRLINE_MAX)
            emit_line(st);
    }
}

/* Relay whatever stderr is here; *got tells whether there was any. */
static int drain_stderr(struct ssh_transport *st, bool *got, struct error *err)
{
    char chunk[16384];

    for (;;) {
        ssize_t n = step(st, OP_READ_STDERR, chunk, sizeof(chunk), err);

        if (n == STEP_FAILED)
            return -1;
        if (n <= 0)
            return 0;
        *got = true;
        relay_stderr(st, chunk, (size_t)n);
    }
}

/* Keep stdout that arrives while we write, so the window stays open. */
static int drain_stdout(struct ssh_transport *st, bool *got, struct error *err)
{
    for (;;) {
        ssize_t n;

        if (st->in_start == st->in_end)
            st->in_start = st->in_end = 0;
        if (st->in_end - st->in_start >= SSH_INBUF_MAX)
            return error_set(err, ERROR_PROTOCOL, 0,
                             "the remote command on %s wrote more than %u "
                             "MiB that nobody read",
                             st->where, SSH_INBUF_MAX >> 20);
        if (st->in_cap - st->in_end < 65536 && st->in_start > 0) {
            memmove(st->in, st->in + st->in_start, st->in_end - st->in_start);
            st->in_end -= st->in_start;
            st->in_start = 0;
        }
        if (st->in_cap - st->in_end < 65536) {
            st->in_cap = st->in_cap * 2 + 65536;
            st->in = xrealloc(st->in, st->in_cap);
        }
        n = step(st, OP_READ_STDOUT, st->in + st->in_end,
                 st->in_cap - st->in_end, err);
        if (n == STEP_FAILED)
            return -1;
        if (n <= 0)
            return 0;
        *got = true;
        st->in_end += (size_t)n;
    }
}

static int drain_all(struct ssh_transport *st, bool *got, struct error *err)
{
    st->since_drain = 0;
    if (drain_stderr(st, got, err) < 0)
        return -1;
    return drain_stdout(st, got, err);
}

static size_t take_buffered(struct ssh_transport *st, void *buf, size_t len)
{
    size_t n = st->in_end - st->in_start;

    if (n > len)
        n = len;
    memcpy(buf, st->in + st->in_start, n);
    st->in_start += n;
    return n;
}

/* ---- transport ops ------------------------------------------------------- */

/* One attempt at stdout: > 0 bytes, 0 at the end, STEP_AGAIN, STEP_FAILED */
static ssize_t read_once(struct ssh_transport *st, void *buf, size_t len,
                         bool *got, struct error *err)
{
    ssize_t n;

    if (st->in_end > st->in_start)
        return (ssize_t)take_buffered(st, buf, len);
    if (st->stdout_eof)
        return 0;
    n = step(st, OP_READ_STDOUT, buf, len, err);
    if (n > 0) {
        st->since_drain += (size_t)n;
        if (st->since_drain >= SSH_DRAIN_EVERY) {
            st->since_drain = 0;
            if (drain_stderr(st, got, err) < 0)
                return STEP_FAILED;
        }
        return n;
    }
    if (n == STEP_FAILED || drain_stderr(st, got, err) < 0)
        return STEP_FAILED;
    /* libssh2 1.10 also returns 0 for "nothing now": EOF only if it says */
    if (n == 0 && libssh2_channel_eof(st->channel)) {
        emit_line(st);
        st->stdout_eof = true;
        return 0;
    }
    return STEP_AGAIN;
}

static ssize_t ssh_read(struct transport *t, void *buf, size_t len,
                        struct error *err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;

    begin_op(st);
    if (len == 0)
        return 0;
    for (;;) {
        bool got = false;
        ssize_t n = read_once(st, buf, len, &got, err);

        if (n != STEP_AGAIN)
            return n == STEP_FAILED ? -1 : n;
        if (!got && wait_socket(st, err) < 0)
            return -1;
    }
}

ssize_t transport_ssh_read_nowait(struct transport *t, void *buf, size_t len,
                                  struct error *err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    bool got = false;
    ssize_t n;

    if (t->ops->read != ssh_read)
        return error_set(err, ERROR_IO, EINVAL, "%s is not an ssh transport",
                         t->name);
    begin_op(st);
    n = read_once(st, buf, len, &got, err);
    if (n == STEP_FAILED)
        return -1;
    n = n == STEP_AGAIN ? 0 : n;
    t->bytes_in += (uint64_t)n;
    return n;
}

/*
 * How the command ended, as an error (0 when it exited 0 and when is "").
 * cause: the exit status, or 128 + the signal number, as a shell says it.
 */
static int exit_status_error(struct ssh_transport *st, const char *when,
                             struct error *err)
{
    static const struct {
        const char *name;
        int num;
    } sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
                {"ILL", SIGILL},   {"ABRT", SIGABRT}, {"FPE", SIGFPE},
                {"KILL", SIGKILL}, {"SEGV", SIGSEGV}, {"PIPE", SIGPIPE},
                {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
                {"USR2", SIGUSR2}, {"BUS", SIGBUS}};
    char *sig = NULL;
    int status = libssh2_channel_get_exit_status(st->channel);
    int num = 0;

    libssh2_channel_get_exit_signal(st->channel, &sig, NULL, NULL, NULL, NULL,
                                    NULL);
    if (!sig && status == 0 && !*when)
        return 0;
    if (sig) {
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            if (!strcmp(sig, sigs[i].name))
                num = sigs[i].num;
        error_set(err, ERROR_STATE, 128 + num,
                  "the remote command on %s was killed by signal %s%s",
                  st->where, sig, when);
        libssh2_free(st->session, sig);
    } else {
        error_set(err, ERROR_STATE, status,
                  "the remote command on %s exited with status %d%s", st->where,
                  status, when);
    }
    add_tail(st, err);
    return -1;
}

static int ssh_write(struct transport *t, const void *buf, size_t len,
                     struct error *err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    char *p = (char *)buf;

    begin_op(st);
    if (st->eof_sent)
        return error_set(err, ERROR_IO, EPIPE, "%s: write after end of input",
                         t->name);
    while (len > 0) {
        bool got = false;
        /* libssh2 takes at most ~32 KiB per call: loop. */
        ssize_t n = step(st, OP_WRITE, p, len, err);

        if (n == STEP_FAILED)
            return -1;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            st->since_drain += (size_t)n;
            if (st->since_drain >= SSH_DRAIN_EVERY &&
                drain_all(st, &got, err) < 0)
                return -1;
            continue;
        }
        /* The peer's window is full: make room on our side, then wait. */
        if (drain_all(st, &got, err) < 0)
            return -1;
        if (got)
            continue;
        if (libssh2_channel_eof(st->channel) &&
            libssh2_channel_wait_closed(st->channel) == 0) {
            if (st->to_socket)
                return error_set(err, ERROR_IO, EPIPE,
                                 "%s: the peer closed the channel before it "
                                 "read all its input",
                                 t->name);
            return exit_status_error(st, " before it read all its input", err);
        }
        if (wait_socket(st, err) < 0)
            return -1;
    }
    return 0;
}

/* Repeat op until it completes, relaying stderr meanwhile. */
static int complete(struct ssh_transport *st, enum step_op op,
                    struct error *err)
{
    for (;;) {
        bool got = false;
        ssize_t n = step(st, op, NULL, 0, err);

        if (n == STEP_FAILED)
            return -1;
        if (n >= 0)
            return 0;
        if (drain_stderr(st, &got, err) < 0)
            return -1;
        if (!got && wait_socket(st, err) < 0)
            return -1;
    }
}

static int ssh_close_write(struct transport *t, struct error *err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;

    begin_op(st);
    if (st->eof_sent)
        return 0;
    if (complete(st, OP_EOF, err) < 0)
        return -1;
    st->eof_sent = true;
    return 0;
}

static int ssh_finish(struct transport *t, struct error *err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    char scratch[65536];
    uint64_t discarded = 0;
    ssize_t n;

    if (ssh_close_write(t, err) < 0)
        return -1;
    for (;;) {
        n = ssh_read(t, scratch, sizeof(scratch), err);
        if (n <= 0)
            break;
        discarded += (uint64_t)n;
    }
    if (n < 0)
        return -1;
    if (discarded)
        log_debug("discarded %" PRIu64 " unread bytes from %s", discarded,
                  st->where);
    /* The exit status comes before the peer's CHANNEL_CLOSE. */
    begin_op(st);
    if (complete(st, OP_WAIT_CLOSED, err) < 0 ||
        complete(st, OP_CLOSE, err) < 0)
        return -1;
    emit_line(st);
    return exit_status_error(st, "", err);
}

static void ssh_free(struct transport *t)
{
    struct ssh_transport *st = (struct ssh_transport *)t;

    if (st->session) {
        /* A polite goodbye only if it cannot block: non-blocking, once. */
        libssh2_session_set_blocking(st->session, 0);
        if (!st->broken && st->sock >= 0 && !half_sent(st))
            libssh2_session_disconnect(st->session, "done");
        /* Whatever libssh2 still wants to send or read now fails at once. */
        if (st->sock >= 0)
            shutdown(st->sock, SHUT_RDWR);
        if (st->channel)
            libssh2_channel_free(st->channel);
        libssh2_session_free(st->session);
    }
    if (st->sock >= 0)
        close(st->sock);
    for (unsigned i = 0; i < SSH_TAIL_LINES; i++)
        free(st->tail[i]);
    buf_release(&st->errline);
    free(st->in);
    free(st->where);
    free(st);
}

static const struct transport_ops ssh_ops = {
    .read = ssh_read,
    .write = ssh_write,
    .close_write = ssh_close_write,
    .finish = ssh_finish,
    .free = ssh_free,
};

/* Connect, verify the host key and authenticate: *out, blocking, no
 * channel yet. */
static int open_session(const struct transport_ssh_target *t,
                        const struct transport_ssh_options *o,
                        struct ssh_transport **out, struct error *err)
{
    struct ssh_transport *st = xcalloc(1, sizeof(*st));
    struct transport_ssh_target who = *t;
    struct known_hosts *k = NULL;
    char *name, *path, *lookup, *home = NULL;
    double t0;
    int ret = -1;

    *out = NULL;
    who.user = t->user ? xstrdup(t->user) : ssh_local_user();
    st->where = transport_ssh_target_format(&who);
    name = xasprintf("ssh://%s", st->where);
    transport_init(&st->base, &ssh_ops, name);
    free(name);
    st->sock = -1;
    st->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : SSH_TIMEOUT_MS_DEFAULT;
    st->keepalive_ms =
        1000 * (o->keepalive_s > 0 ? o->keepalive_s : SSH_KEEPALIVE_S_DEFAULT);
    /* Above libssh2's 2 s minimum (send_keepalive), at most half the
       timeout so that an unanswered keepalive is noticed in time. */
    if (st->keepalive_ms > st->timeout_ms / 2)
        st->keepalive_ms = st->timeout_ms / 2;
    if (st->keepalive_ms < 3000)
        st->keepalive_ms = 3000;

    pthread_once(&init_once, init_libssh2);
    if (init_rc) {
        error_set(err, ERROR_SSH, init_rc, "cannot initialise libssh2");
        goto out;
    }
    if (o->known_hosts) {
        path = xstrdup(o->known_hosts);
    } else {
        home = ssh_home_dir();
        path = xasprintf("%s/.ssh/known_hosts", home);
    }
    lookup = who.port == 22 ? xstrdup(who.host)
                            : xasprintf("[%s]:%d", who.host, who.port);
    k = known_hosts_new(path, lookup);
    t0 = time_now();
    if (connect_tcp(st, who.host, who.port, err) < 0 ||
        start_session(st, k, err) < 0 ||
        known_hosts_verify(k, st->session, st->where, o->accept_new_host_key,
                           err) < 0)
        goto out;
    if (o->verified)
        o->verified(o->verified_arg, time_now() - t0);
    if (authenticate(st, who.user, o, err) < 0)
        goto out;
    *out = st;
    st = NULL;
    ret = 0;
out:
    known_hosts_free(k); /* before its session goes */
    if (st) {
        st->broken = true;
        transport_free(&st->base);
    }
    free(who.user);
    free(home);
    return ret;
}

int transport_ssh_exec(const struct transport_ssh_target *t,
                       const struct transport_ssh_options *o,
                       const char *command, struct transport **out,
                       struct error *err)
{
    return transport_ssh_open_socket(t, o, NULL, command, out, NULL, err);
}

/* transport_ssh_await_fn of a path and a command known already. */
struct known {
    const char *path, *command;
};

static int known_now(void *arg, const char **socket_path, const char **command)
{
    const struct known *k = arg;

    *socket_path = k->path;
    *command = k->command;
    return 0;
}

int transport_ssh_open_socket(const struct transport_ssh_target *t,
                              const struct transport_ssh_options *o,
                              const char *socket_path, const char *command,
                              struct transport **out, bool *direct,
                              struct error *err)
{
    struct known k = {socket_path, command};

    return transport_ssh_open_socket_await(t, o, known_now, &k, out, direct,
                                           err);
}

int transport_ssh_open_socket_await(const struct transport_ssh_target *t,
                                    const struct transport_ssh_options *o,
                                    transport_ssh_await_fn *await,
                                    void *await_arg, struct transport **out,
                                    bool *direct, struct error *err)
{
    struct ssh_transport *st;
    const char *socket_path = NULL, *command = NULL;
    double t0 = time_now();
    int r = 1;

    *out = NULL;
    if (direct)
        *direct = false;
    if (open_session(t, o, &st, err) < 0)
        return -1;
    if (await(await_arg, &socket_path, &command) < 0) {
        error_set(err, ERROR_STATE, 0,
                  "%s: the session was logged in for a stream no longer "
                  "wanted",
                  st->where);
        st->broken = true;
        transport_free(&st->base);
        return -1;
    }
    if (socket_path)
        r = start_socket(st, socket_path, err);
    if (r == 1)
        r = start_command(st, command, err);
    if (r < 0) {
        st->broken = true;
        transport_free(&st->base);
        return -1;
    }
    go_nonblocking(st);
    if (st->to_socket && socket_path) {
        log_debug("a direct channel to %s on %s (%.0f ms)", socket_path,
                  st->where, (time_now() - t0) * 1000);
        if (direct)
            *direct = true;
    } else {
        log_debug("running a command on %s (%.0f ms)", st->where,
                  (time_now() - t0) * 1000);
    }
    *out = &st->base;
    return 0;
}
