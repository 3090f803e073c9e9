/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/receiver.c: `rbdmove receive`, serving a dest_remote client.
 *
 * Requests (one line each, see proto.h); started with --greet STREAMS,LEVEL
 * it answers "hello" and "streams STREAMS LEVEL" first, unasked:
 *   hello                         ok version=4 (4: commit; 3: data sessions
 *                                 join once and carry every apply; 2: they
 *                                 passed their descriptor, "-" names the
 *                                 head, unlock)
 *   probe                         ok exists= size= order= id= [fsid= mons=
 *                                 created= base= seed= pending=] snaps=K,
 *                                 then K lines NAME ID SIZE
 *   create SIZE ORDER | resize SIZE
 *   meta KEY VALUE | meta-remove KEY
 *   snap-create NAME | snap-remove NAME
 *   dirty [SINCE]                 ok n=K, then K lines OFF LEN
 *   hash SNAP BLOCK               ok size= block= n=K, then K lines of hex
 *   hash-blocks SNAP BLOCK I,J,K  ok n=K, then K lines of hex
 *                                 (SNAP "-": the head)
 *   commit SNAP KEY VALUE RMKEY   snap-create SNAP, meta KEY VALUE,
 *                                 meta-remove RMKEY; stops at the first
 *                                 failure (one round trip a round)
 *   unlock                        give up the image's lock (handed over)
 *   streams N LEVEL               ok socket=PATH: up to N data sessions
 *                                 (direct channels, or `rbdmove receive
 *                                 --join PATH`; zstd at LEVEL, 0: none)
 *                                 join there, once
 *   apply N LEVEL WINDOW CHUNK ZERO   ok when the first N sessions are in;
 *                                 later, when each carried one stream:
 *                                 ok data= zero= stream=. The client may
 *                                 send its streams before the first ok: a
 *                                 failed apply closes every session.
 *   && REQUEST                    REQUEST only if the request before it
 *                                 succeeded, else an error (a batch of
 *                                 requests sent at once stops at its first
 *                                 failure: a mark is never set on an image
 *                                 the create before it did not make)
 *   quit
 * Nothing here creates a snapshot unasked: a dropped connection leaves the
 * destination without its to-snap, whatever arrived. Every number in a
 * request is checked against the limits of proto.h before it sizes
 * anything; one out of them is answered with ERROR_PROTOCOL.
 */
#include "rbdmove/core/receiver.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/core/cluster.h"
#include "rbdmove/core/copy.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "rbdmove/core/proto.h"
#include "rbdmove/core/stream.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "transport/transport.h"

#define ACCEPT_TIMEOUT_MS 120000
#define MAX_STREAMS 64

/* A data session, joined once and kept for every apply that follows. */
struct slot {
    int sock;             /* the join's connection: closed, it exits */
    struct transport *in; /* sshd's pipe, passed by the join */
    struct transport *t;  /* in, or its decompressor */
};

struct server {
    struct dest *d;
    struct transport *ctl;
    int ctl_fd;
    struct buf out; /* the answer being built */
    /* "streams N LEVEL": where the data sessions join, and those that
     * have; lfd < 0 before it. */
    int lfd;
    char dir[256], path[300];
    unsigned want, joined;
    int level;
    struct slot slot[MAX_STREAMS];
    bool last_ok; /* the last request succeeded ("&&") */
};

/* ---- simple requests ---------------------------------------------------- */

static void add_kv(struct buf *b, const char *k, const char *v)
{
    struct buf t = BUF_INIT;

    buf_addf(&t, "%s=%s", k, v);
    proto_add(b, buf_str(&t));
    buf_release(&t);
}

static void add_kv_u64(struct buf *b, const char *k, uint64_t v)
{
    char s[32];

    snprintf(s, sizeof(s), "%" PRIu64, v);
    add_kv(b, k, s);
}

static int do_probe(struct server *s, struct error *err)
{
    struct dest_state st;

    if (dest_probe(s->d, &st, err) < 0)
        return -1;
    proto_add(&s->out, "ok");
    add_kv_u64(&s->out, "exists", st.exists);
    add_kv_u64(&s->out, "size", st.size);
    add_kv_u64(&s->out, "order", (uint64_t)st.order);
    add_kv(&s->out, "id", st.image_id ? st.image_id : "");
    if (st.cluster_fsid)
        add_kv(&s->out, "fsid", st.cluster_fsid);
    if (st.cluster_mons && *st.cluster_mons)
        add_kv(&s->out, "mons", st.cluster_mons);
    if (st.created > 0)
        add_kv_u64(&s->out, "created", (uint64_t)st.created);
    if (st.meta_base)
        add_kv(&s->out, "base", st.meta_base);
    if (st.meta_seed)
        add_kv(&s->out, "seed", st.meta_seed);
    if (st.meta_pending)
        add_kv(&s->out, "pending", st.meta_pending);
    add_kv_u64(&s->out, "snaps", st.nsnaps);
    for (size_t i = 0; i < st.nsnaps; i++) {
        buf_adds(&s->out, "\n");
        buf_add_pct(&s->out, st.snaps[i].name);
        buf_addf(&s->out, " %" PRIu64 " %" PRIu64, st.snaps[i].id,
                 st.snaps[i].size);
    }
    dest_state_release(&st);
    return 0;
}

static int do_dirty(struct server *s, const struct proto_tokens *t,
                    struct error *err)
{
    struct dest_extents x;

    if (dest_dirty(s->d, t->n > 1 ? t->v[1] : NULL, &x, err) < 0)
        return -1;
    proto_add(&s->out, "ok");
    add_kv_u64(&s->out, "n", x.n);
    for (size_t i = 0; i < x.n; i++)
        buf_addf(&s->out, "\n%" PRIu64 " %" PRIu64, x.off[i], x.len[i]);
    dest_extents_release(&x);
    return 0;
}

/* A snapshot argument: "-" is the head. */
static const char *snap_arg(const char *v)
{
    return strcmp(v, DEST_HEAD_TOKEN) ? v : NULL;
}

static int do_hash(struct server *s, const struct proto_tokens *t,
                   struct error *err)
{
    struct dest_hashes h;
    uint64_t block = 0;

    if (t->n != 3)
        return error_set(err, ERROR_PROTOCOL, 0, "usage: hash SNAP BLOCK");
    if (proto_parse_block(t->v[2], "block", &block, err) < 0)
        return -1;
    if (dest_hash(s->d, snap_arg(t->v[1]), block, &h, err) < 0)
        return -1;
    proto_add(&s->out, "ok");
    add_kv_u64(&s->out, "size", h.size);
    add_kv_u64(&s->out, "block", h.block);
    add_kv_u64(&s->out, "n", h.nblocks);
    for (uint64_t i = 0; i < h.nblocks; i++)
        buf_addf(&s->out, "\n%016" PRIx64, h.hash[i]);
    dest_hashes_release(&h);
    return 0;
}

/*
 * The block list "I,J,K" of hash-blocks into *idx (caller frees): decimal
 * numbers, ascending, each below the blocks of block bytes an image of
 * PROTO_SIZE_MAX has. The line length bounds their count.
 */
static int parse_block_list(const char *list, uint64_t block, uint64_t **idx,
                            size_t *n, struct error *err)
{
    char *copy = xstrdup(list);
    char *p = copy;
    size_t cap = 0;
    int ret = -1;

    *idx = NULL;
    *n = 0;
    while (*p) {
        char *comma = strchr(p, ',');
        uint64_t v = 0;

        if (comma)
            *comma = '\0';
        if (proto_parse_u64(p, "block index", *n ? (*idx)[*n - 1] + 1 : 0,
                            PROTO_SIZE_MAX / block - 1, &v, err) < 0) {
            error_prefix(err, "block list entry %zu", *n);
            goto out;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *idx = xrealloc(*idx, cap * sizeof(**idx));
        }
        (*idx)[(*n)++] = v;
        /* "1,", with nothing after its comma, is malformed too. */
        p = comma ? comma + 1 : p + strlen(p);
        if (comma && !*p) {
            error_set(err, ERROR_PROTOCOL, 0, "malformed block list");
            goto out;
        }
    }
    ret = 0;
out:
    if (ret < 0) {
        free(*idx);
        *idx = NULL;
        *n = 0;
    }
    free(copy);
    return ret;
}

/* "hash-blocks SNAP BLOCK I,J,K": hashes of those blocks, in order. */
static int do_hash_blocks(struct server *s, const struct proto_tokens *t,
                          struct error *err)
{
    uint64_t block = 0, *idx = NULL, *hashes = NULL;
    size_t n = 0;
    int ret = -1;

    if (t->n != 4)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "usage: hash-blocks SNAP BLOCK LIST");
    if (proto_parse_block(t->v[2], "block", &block, err) < 0 ||
        parse_block_list(t->v[3], block, &idx, &n, err) < 0)
        return -1;
    hashes = xcalloc(n + 1, sizeof(*hashes));
    if (n && dest_hash_blocks(s->d, snap_arg(t->v[1]), block, idx, n, hashes,
                              err) < 0)
        goto out;
    proto_add(&s->out, "ok");
    add_kv_u64(&s->out, "n", n);
    for (size_t i = 0; i < n; i++)
        buf_addf(&s->out, "\n%016" PRIx64, hashes[i]);
    ret = 0;
out:
    free(idx);
    free(hashes);
    return ret;
}

/* ---- apply: parallel streams through a Unix socket ------------------------
 */

struct applier {
    pthread_t th;
    volatile bool done;
    volatile uint64_t pos; /* writes submitted below this offset */
    struct transport *t;   /* the stream's data session (a slot's) */
    struct image *img;
    struct copy_params p;
    struct copy_stats st;
    struct error err;
    int ret;
};

static int apply_one(struct applier *a, struct transport *t, struct error *err)
{
    struct stream_reader *r = stream_reader_new(t);
    struct stream_header h = {NULL, NULL, false, 0};
    bool exists = true;
    uint64_t id;
    int ret = -1;

    if (stream_read_header(r, &h, err) < 0)
        goto out;
    if (h.to_snap) {
        error_set(err, ERROR_PROTOCOL, 0,
                  "a stream for the receiver must not name an end snapshot");
        goto out;
    }
    if (h.from_snap &&
        image_snap_lookup(a->img, h.from_snap, &exists, &id, err) < 0)
        goto out;
    if (!exists) {
        error_set(err, ERROR_STATE, ENOENT,
                  "start snapshot '%s' does not exist in '%s'", h.from_snap,
                  image_name(a->img));
        goto out;
    }
    if (h.has_size && h.size != image_size(a->img)) {
        error_set(err, ERROR_STATE, 0,
                  "the stream is for %" PRIu64 " bytes, '%s' has %" PRIu64,
                  h.size, image_name(a->img), image_size(a->img));
        goto out;
    }
    /* The session stays open for the next apply: nothing is read past
     * the end record (the sender sends nothing more before our answer). */
    if (copy_apply(a->img, r, &a->p, 0, &a->st, err) < 0)
        goto out;
    ret = 0;
out:
    stream_header_release(&h);
    stream_reader_free(r);
    return ret;
}

static void applier_submitted(void *ctx, uint64_t end)
{
    struct applier *a = ctx;

    a->pos = end;
}

/*
 * A data session reaches us in one of two ways. Where sshd allows direct
 * channels to a Unix socket, it connects the session to our socket itself
 * and the sender's first byte is "D": the stream follows on that
 * connection (*out = -1). Otherwise a join (`receive --join`) passes the
 * descriptor its stream arrives on (sshd's pipe) with SCM_RIGHTS and the
 * byte "F", so that we read the stream ourselves instead of the join
 * copying every byte into the socket: one copy less per byte.
 */
#define PIPE_SIZE (1 << 20)

static int recv_stream_fd(int sock, int *out, struct error *err)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    char byte = 0;
    struct iovec iov = {&byte, 1};
    struct msghdr msg;
    struct cmsghdr *c;
    ssize_t n;

    *out = -1;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof(u.buf);
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return error_set(err, ERROR_IO, errno, "cannot receive a stream");
    c = CMSG_FIRSTHDR(&msg);
    if (n == 1 && byte == 'D' && !c)
        return 0;
    if (n != 1 || byte != 'F' || !c || c->cmsg_level != SOL_SOCKET ||
        c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
        /* A descriptor we did not ask for would leak: none is expected
         * but the one. */
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int fd;

            memcpy(&fd, CMSG_DATA(c), sizeof(fd));
            close(fd);
        }
        return error_set(err, ERROR_PROTOCOL, 0,
                         "a data stream did not pass its descriptor (an "
                         "rbdmove of another version?)");
    }
    memcpy(out, CMSG_DATA(c), sizeof(*out));
    return 0;
}

static void *applier_main(void *arg)
{
    struct applier *a = arg;

    a->ret = apply_one(a, a->t, &a->err);
    a->done = true;
    return NULL;
}

static int listen_socket(char *dir, size_t dirlen, char *path, size_t pathlen,
                         int *out, struct error *err)
{
    const char *tmp = getenv("TMPDIR");
    struct sockaddr_un sa;
    int fd;

    snprintf(dir, dirlen, "%s/rbdmove-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return error_set(err, ERROR_IO, errno, "cannot create '%s'", dir);
    snprintf(path, pathlen, "%s/s", dir);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        return error_set(err, ERROR_IO, ENAMETOOLONG,
                         "socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set(err, ERROR_IO, errno, "cannot create a socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, MAX_STREAMS) < 0) {
        error_set(err, ERROR_IO, errno, "cannot listen on '%s'", path);
        close(fd);
        return -1;
    }
    *out = fd;
    return 0;
}

static int accept_one(int lfd, int ctl_fd, int *out, struct error *err)
{
    struct pollfd pfd[2] = {{lfd, POLLIN, 0}, {ctl_fd, 0, 0}};
    int r = poll(pfd, ctl_fd >= 0 ? 2 : 1, ACCEPT_TIMEOUT_MS);

    if (r > 0 && (pfd[1].revents & (POLLHUP | POLLERR)))
        return error_set(err, ERROR_STATE, ECONNRESET,
                         "the sender hung up before its streams arrived");
    if (r == 0)
        return error_set(err, ERROR_STATE, ETIMEDOUT,
                         "no data stream arrived within %d s",
                         ACCEPT_TIMEOUT_MS / 1000);
    if (r < 0)
        return error_set(err, ERROR_IO, errno, "cannot wait for a stream");
    *out = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (*out < 0)
        return error_set(err, ERROR_IO, errno, "cannot accept a stream");
    return 0;
}

/* Where a seed through us records its progress (see copy.h). */
struct ckpt {
    uint64_t every;
    const char *key;
    const char *prefix;
    uint64_t last;
};

/* Everything below the smallest position of the streams still running is
 * written once a flush returns: record it. */
static void checkpoint(struct server *s, struct image *img, struct applier *ap,
                       unsigned n, struct ckpt *c)
{
    uint64_t below = UINT64_MAX;
    struct error e = ERROR_INIT;
    struct buf v = BUF_INIT;

    for (unsigned i = 0; i < n; i++) {
        if (!ap[i].done && ap[i].pos < below)
            below = ap[i].pos;
    }
    /* c->every is the client's, up to 2^64 - 1: no c->last + c->every. */
    if (below == UINT64_MAX || below < c->last || below - c->last < c->every)
        return;
    if (image_flush(img, &e) < 0)
        return;
    buf_addf(&v, "%s done=%" PRIu64, c->prefix, below);
    if (dest_set_meta(s->d, c->key, buf_str(&v), &e) == 0)
        c->last = below;
    buf_release(&v);
}

/* Polled, not signalled: 10 ms is nothing against a transfer and keeps
 * the answer from waiting up to 200 ms per round (the earlier period),
 * which a round trip on a WAN already costs. checkpoint() itself acts
 * only every ckpt.every bytes. */
static void wait_appliers(struct server *s, struct image *img,
                          struct applier *ap, unsigned n, struct ckpt *c)
{
    for (;;) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        bool all = true;

        for (unsigned i = 0; i < n; i++)
            all = all && ap[i].done;
        if (all)
            return;
        nanosleep(&ts, NULL);
        if (c->key)
            checkpoint(s, img, ap, n, c);
    }
}

/* Apply one stream on each of the first n sessions; first error wins. */
static int run_appliers(struct server *s, struct applier *ap, unsigned n,
                        struct ckpt *c, struct copy_stats *total,
                        struct error *err)
{
    unsigned started = 0;
    int ret = 0;

    for (; started < n; started++) {
        ap[started].t = s->slot[started].t;
        if (pthread_create(&ap[started].th, NULL, applier_main, &ap[started]) !=
            0) {
            ret = error_set(err, ERROR_IO, EAGAIN, "cannot start a thread");
            break;
        }
    }
    if (ret == 0)
        wait_appliers(s, ap[0].img, ap, started, c);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(ap[i].th, NULL);
        if (ap[i].ret < 0 && ret == 0) {
            *err = ap[i].err;
            ret = -1;
        }
        total->data_bytes += ap[i].st.data_bytes;
        total->zero_bytes += ap[i].st.zero_bytes;
        total->stream_bytes += ap[i].st.stream_bytes;
    }
    return ret;
}

/* Take data sessions from the socket until n have joined. */
static int join_streams(struct server *s, unsigned n, struct error *err)
{
    while (s->joined < n) {
        struct slot *sl = &s->slot[s->joined];
        int sock = -1, fd = -1;

        if (accept_one(s->lfd, s->ctl_fd, &sock, err) < 0)
            return -1;
        if (recv_stream_fd(sock, &fd, err) < 0) {
            close(sock);
            return -1;
        }
        if (fd < 0) { /* direct: the connection is the stream */
            fd = sock;
            sock = -1;
        }
        /* sshd writes the stream into a pipe of 64 KiB: a larger one means
         * fewer wake-ups on both sides (not a pipe, or over the limit of
         * fs.pipe-max-size: it stays as it is). */
        (void)fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
        sl->sock = sock;
        sl->in = sl->t = transport_fd_new(fd, -1, 1, "stream");
        if (s->level)
            sl->t = transport_zstd_new(sl->in, s->level, false);
        s->joined++;
    }
    return 0;
}

/* Closing a join's connection lets it exit, and sshd ends its session. */
static void close_streams(struct server *s)
{
    for (unsigned i = 0; i < s->joined; i++) {
        if (s->slot[i].t != s->slot[i].in)
            transport_free(s->slot[i].t);
        transport_free(s->slot[i].in);
        if (s->slot[i].sock >= 0)
            close(s->slot[i].sock);
    }
    s->joined = 0;
    if (s->lfd >= 0)
        close(s->lfd);
    s->lfd = -1;
    if (s->dir[0]) {
        unlink(s->path);
        rmdir(s->dir);
        s->dir[0] = '\0';
    }
}

/* "streams N LEVEL": once per session, before the first apply. */
static int do_streams(struct server *s, const struct proto_tokens *t,
                      struct error *err)
{
    uint64_t n, level;

    if (t->n != 3)
        return error_set(err, ERROR_PROTOCOL, 0, "usage: streams N LEVEL");
    if (s->lfd >= 0)
        return error_set(err, ERROR_PROTOCOL, 0, "streams: asked twice");
    if (proto_parse_u64(t->v[1], "streams", 1, MAX_STREAMS, &n, err) < 0 ||
        proto_parse_u64(t->v[2], "level", 0, 22, &level, err) < 0)
        return -1;
    if (listen_socket(s->dir, sizeof(s->dir), s->path, sizeof(s->path), &s->lfd,
                      err) < 0) {
        close_streams(s);
        return -1;
    }
    s->want = (unsigned)n;
    s->level = (int)level;
    proto_add(&s->out, "ok");
    add_kv(&s->out, "socket", s->path);
    return 0;
}

/* "apply N LEVEL WINDOW CHUNK ZERO [EVERY KEY PREFIX]": each number in its
 * range, and all the buffers they ask for within COPY_MEMORY_MAX. */
struct apply_args {
    uint64_t n, level, window, chunk, zero;
};

static int parse_apply(const struct proto_tokens *t, struct apply_args *a,
                       struct ckpt *ck, struct error *err)
{
    if (t->n != 6 && t->n != 9)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "usage: apply N LEVEL WINDOW CHUNK ZERO "
                         "[EVERY KEY PREFIX]");
    if (t->n == 9) {
        if (proto_parse_u64(t->v[6], "checkpoint", 1u << 20, UINT64_MAX,
                            &ck->every, err) < 0)
            return -1;
        ck->key = t->v[7];
        ck->prefix = t->v[8];
    }
    if (proto_parse_u64(t->v[1], "streams", 1, MAX_STREAMS, &a->n, err) < 0 ||
        proto_parse_u64(t->v[2], "level", 0, 22, &a->level, err) < 0 ||
        proto_parse_u64(t->v[3], "window", 1, PROTO_WINDOW_MAX / a->n,
                        &a->window, err) < 0 ||
        proto_parse_u64(t->v[4], "chunk", 4096, 64u << 20, &a->chunk, err) <
            0 ||
        proto_parse_u64(t->v[5], "zero", 0, 1, &a->zero, err) < 0)
        return -1;
    /* Each stream holds window chunks: all of them within what a local
     * copy may take (n x window <= PROTO_WINDOW_MAX, chunk <= 64 MiB: no
     * overflow). */
    if (a->n * a->window * a->chunk > COPY_MEMORY_MAX)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "apply: %" PRIu64 " streams x %" PRIu64
                         " chunks of %" PRIu64
                         " bytes is more than the %zu MiB a receiver "
                         "buffers",
                         a->n, a->window, a->chunk, COPY_MEMORY_MAX >> 20);
    return 0;
}

static int do_apply(struct server *s, const struct proto_tokens *t,
                    struct error *err)
{
    struct applier *ap = NULL;
    struct copy_stats total;
    struct image *img = NULL;
    struct apply_args a;
    struct ckpt ck = {0, NULL, NULL, 0};
    struct buf ans = BUF_INIT;
    int ret = -1;

    /* The client may be writing its streams already: every failure
     * closes them (out), so that it hears of it instead of waiting on a
     * full window. */
    if (parse_apply(t, &a, &ck, err) < 0)
        goto out;
    if (s->lfd < 0) {
        error_set(err, ERROR_PROTOCOL, 0,
                  "apply: no data sessions (send streams first)");
        goto out;
    }
    if (a.n > s->want || (int)a.level != s->level) {
        error_set(err, ERROR_PROTOCOL, 0,
                  "apply: %" PRIu64 " streams at level %" PRIu64
                  ", the session announced %u at level %d",
                  a.n, a.level, s->want, s->level);
        goto out;
    }
    if (dest_local_head(s->d, &img, err) < 0 ||
        join_streams(s, (unsigned)a.n, err) < 0)
        goto out;
    proto_add(&ans, "ok");
    if (proto_send(s->ctl, &ans, err) < 0)
        goto out;
    ap = xcalloc(a.n, sizeof(*ap));
    for (uint64_t i = 0; i < a.n; i++) {
        ap[i].img = img;
        copy_params_init(&ap[i].p);
        ap[i].p.window = (unsigned)a.window;
        ap[i].p.chunk_size = (size_t)a.chunk;
        ap[i].p.dst_is_zero = a.zero != 0;
        ap[i].p.submitted = applier_submitted;
        ap[i].p.submitted_ctx = &ap[i];
    }
    memset(&total, 0, sizeof(total));
    if (run_appliers(s, ap, (unsigned)a.n, &ck, &total, err) < 0)
        goto out;
    if (image_flush(img, err) < 0)
        goto out;
    proto_add(&s->out, "ok");
    add_kv_u64(&s->out, "data", total.data_bytes);
    add_kv_u64(&s->out, "zero", total.zero_bytes);
    add_kv_u64(&s->out, "stream", total.stream_bytes);
    ret = 0;
out:
    /* A failed apply leaves unread bytes in the sessions, or sessions
     * not accepted yet: none is used again (the client gives up on this
     * receiver too). */
    if (ret < 0)
        close_streams(s);
    free(ap);
    buf_release(&ans);
    return ret;
}

/* ---- dispatch -------------------------------------------------------------
 */

static int need(const struct proto_tokens *t, size_t n, const char *usage,
                struct error *err)
{
    if (t->n != n)
        return error_set(err, ERROR_PROTOCOL, 0, "usage: %s", usage);
    return 0;
}

static int dispatch(struct server *s, const struct proto_tokens *t,
                    struct error *err)
{
    const char *v = t->v[0];
    struct dest *d = s->d;
    uint64_t a = 0, b = 0;

    if (!strcmp(v, "hello")) {
        proto_add(&s->out, "ok");
        add_kv_u64(&s->out, "version", RECEIVER_PROTOCOL_VERSION);
        return 0;
    }
    if (!strcmp(v, "probe"))
        return do_probe(s, err);
    if (!strcmp(v, "dirty"))
        return do_dirty(s, t, err);
    if (!strcmp(v, "hash"))
        return do_hash(s, t, err);
    if (!strcmp(v, "hash-blocks"))
        return do_hash_blocks(s, t, err);
    if (!strcmp(v, "apply"))
        return do_apply(s, t, err);
    if (!strcmp(v, "streams"))
        return do_streams(s, t, err);
    if (!strcmp(v, "create")) {
        if (need(t, 3, "create SIZE ORDER", err) < 0 ||
            proto_parse_u64(t->v[1], "size", 0, PROTO_SIZE_MAX, &a, err) < 0 ||
            proto_parse_u64(t->v[2], "order", PROTO_ORDER_MIN, PROTO_ORDER_MAX,
                            &b, err) < 0 ||
            dest_create(d, a, (int)b, err) < 0)
            return -1;
    } else if (!strcmp(v, "resize")) {
        if (need(t, 2, "resize SIZE", err) < 0 ||
            proto_parse_u64(t->v[1], "size", 0, PROTO_SIZE_MAX, &a, err) < 0 ||
            dest_resize(d, a, err) < 0)
            return -1;
    } else if (!strcmp(v, "meta")) {
        if (need(t, 3, "meta KEY VALUE", err) < 0 ||
            dest_set_meta(d, t->v[1], t->v[2], err) < 0)
            return -1;
    } else if (!strcmp(v, "meta-remove")) {
        if (need(t, 2, "meta-remove KEY", err) < 0 ||
            dest_set_meta(d, t->v[1], NULL, err) < 0)
            return -1;
    } else if (!strcmp(v, "snap-create")) {
        if (need(t, 2, "snap-create NAME", err) < 0 ||
            dest_snap_create(d, t->v[1], err) < 0)
            return -1;
    } else if (!strcmp(v, "commit")) {
        if (need(t, 5, "commit SNAP KEY VALUE REMOVE_KEY", err) < 0 ||
            dest_commit(d, t->v[1], t->v[2], t->v[3], t->v[4], err) < 0)
            return -1;
    } else if (!strcmp(v, "rollback")) {
        if (need(t, 2, "rollback SNAP", err) < 0 ||
            dest_rollback(d, t->v[1], err) < 0)
            return -1;
    } else if (!strcmp(v, "unlock")) {
        if (need(t, 1, "unlock", err) < 0 || dest_unlock(d, err) < 0)
            return -1;
    } else if (!strcmp(v, "snap-remove")) {
        if (need(t, 2, "snap-remove NAME", err) < 0 ||
            dest_snap_remove(d, t->v[1], err) < 0)
            return -1;
    } else {
        return error_set(err, ERROR_PROTOCOL, 0, "unknown request '%s'", v);
    }
    proto_add(&s->out, "ok");
    return 0;
}

/*
 * "&& REQUEST": REQUEST (left in t) only if the request before it
 * succeeded. Refused, an apply closes the streams its client may be
 * writing already.
 */
static int chained(struct server *s, struct proto_tokens *t, struct error *err)
{
    if (strcmp(t->v[0], "&&"))
        return 0;
    free(t->v[0]);
    memmove(t->v, t->v + 1, (t->n - 1) * sizeof(*t->v));
    t->n--;
    if (t->n == 0)
        return error_set(err, ERROR_PROTOCOL, 0, "usage: && REQUEST");
    if (s->last_ok)
        return 0;
    if (!strcmp(t->v[0], "apply"))
        close_streams(s);
    return error_set(err, ERROR_STATE, 0,
                     "%s: not done, the request sent before it failed",
                     t->v[0]);
}

/* Answer one request line (the "&&" chain kept in s->last_ok); *quit on
 * "quit". Fails only when ctl fails. */
static int serve_line(struct server *s, const char *line, bool *quit,
                      struct error *err)
{
    struct proto_tokens t = {NULL, 0};
    struct error rerr = ERROR_INIT;
    int rc;

    buf_reset(&s->out);
    if (proto_split(line, &t, &rerr) == 0 && t.n == 0)
        error_set(&rerr, ERROR_PROTOCOL, 0, "empty request");
    if (t.n > 0 && !strcmp(t.v[0], "quit")) {
        proto_tokens_release(&t);
        *quit = true;
        return 0;
    }
    if (rerr.kind == ERROR_NONE && chained(s, &t, &rerr) == 0 &&
        dispatch(s, &t, &rerr) == 0) {
        s->last_ok = true;
        rc = proto_send(s->ctl, &s->out, err);
    } else {
        s->last_ok = false;
        rc = proto_send_error(s->ctl, &rerr, err);
    }
    proto_tokens_release(&t);
    return rc;
}

static int serve_loop(struct server *s, struct error *err)
{
    struct buf line = BUF_INIT;
    struct proto_reader r;
    bool quit = false;
    int ret = -1;

    proto_reader_init(&r, s->ctl);
    while (!quit) {
        int rc = proto_read_line(&r, &line, err);

        if (rc < 0)
            goto out;
        if (rc == 0)
            break;
        if (serve_line(s, buf_str(&line), &quit, err) < 0)
            goto out;
    }
    ret = 0;
out:
    proto_reader_release(&r);
    buf_release(&line);
    return ret;
}

int receiver_serve(struct cluster *cl, const char *pool, const char *image,
                   struct transport *ctl, int ctl_fd, struct error *err)
{
    struct server s = {.d = dest_local_new(cl, pool, image),
                       .ctl = ctl,
                       .ctl_fd = ctl_fd,
                       .out = BUF_INIT,
                       .lfd = -1};
    int ret = serve_loop(&s, err);

    buf_release(&s.out);
    close_streams(&s);
    dest_free(s.d);
    return ret;
}

int receiver_run(const struct receiver_start *rs, const char *pool,
                 const char *image, struct transport *ctl, int ctl_fd,
                 struct error *err)
{
    struct server s = {
        .ctl = ctl, .ctl_fd = ctl_fd, .out = BUF_INIT, .lfd = -1};
    struct cluster *cl = NULL;
    struct buf req = BUF_INIT;
    bool quit = false;
    int ret = -1;

    /* The greeting: what the sender would have asked first. A "streams"
     * that fails (its numbers, the socket) is answered as an error, and
     * the sender goes no further. */
    buf_addf(&req, "streams %" PRIu64 " %" PRIu64, rs->streams, rs->level);
    if (rs->greet && (serve_line(&s, "hello", &quit, err) < 0 ||
                      serve_line(&s, buf_str(&req), &quit, err) < 0))
        goto out;
    if (cluster_connect(rs->conf, rs->id, rs->timeout_s, &cl, err) < 0) {
        /* Said on the control channel too: the sender shows it. */
        struct error e2 = ERROR_INIT;

        if (proto_send_error(ctl, err, &e2) < 0)
            error_clear(&e2);
        goto out;
    }
    s.d = dest_local_new(cl, pool, image);
    ret = serve_loop(&s, err);
out:
    buf_release(&req);
    buf_release(&s.out);
    close_streams(&s);
    dest_free(s.d);
    cluster_close(cl);
    return ret;
}

/* ---- join ------------------------------------------------------------------
 */

/* Hand in_fd to the server (see recv_stream_fd). */
static int send_stream_fd(int sock, int in_fd, struct error *err)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    char byte = 'F';
    struct iovec iov = {&byte, 1};
    struct msghdr msg;
    struct cmsghdr *c;
    ssize_t n;

    memset(&u, 0, sizeof(u));
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof(u.buf);
    c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &in_fd, sizeof(in_fd));
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        return error_set(err, ERROR_IO, n < 0 ? errno : EIO,
                         "cannot hand the stream to the receiver");
    return 0;
}

int receiver_join(const char *socket_path, int in_fd, int out_fd,
                  struct error *err)
{
    struct sockaddr_un sa;
    int sock, ret = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(socket_path) >= sizeof(sa.sun_path))
        return error_set(err, ERROR_USAGE, 0, "socket path too long");
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return error_set(err, ERROR_IO, errno, "cannot create a socket");
    if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        error_set(err, ERROR_IO, errno, "cannot reach the receiver at '%s'",
                  socket_path);
        close(sock);
        return -1;
    }
    /* The server reads the streams from in_fd itself, one transfer after
     * another; we stay until it closes our connection (its session
     * ended), which sshd then reports as our exit. */
    if (send_stream_fd(sock, in_fd, err) < 0)
        goto out;
    for (;;) {
        char c[64];
        ssize_t n = read(sock, c, sizeof(c));

        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error_set(err, ERROR_IO, errno, "lost the receiver at '%s'",
                      socket_path);
            goto out;
        }
    }
    ret = 0;
    (void)out_fd; /* protocol 2 wrote the verdict there */
out:
    close(sock);
    return ret;
}
