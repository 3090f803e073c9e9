/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/proto.c: lines and tokens of the receiver's control protocol.
 */
#include "rbdmove/core/proto.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "transport/transport.h"

#define READ_CHUNK 65536

void proto_reader_init(struct proto_reader *r, struct transport *t)
{
    r->t = t;
    r->buf = xmalloc(READ_CHUNK);
    r->pos = r->len = 0;
}

void proto_reader_release(struct proto_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

int proto_read_line(struct proto_reader *r, struct buf *line, struct error *err)
{
    buf_reset(line);
    for (;;) {
        char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
        size_t n = nl ? (size_t)(nl - (r->buf + r->pos)) : r->len - r->pos;
        ssize_t got;

        if (line->len + n > PROTO_LINE_MAX)
            return error_set(err, ERROR_PROTOCOL, 0,
                             "a line from %s is too long",
                             transport_name(r->t));
        buf_add(line, r->buf + r->pos, n);
        r->pos += n;
        if (nl) {
            r->pos++;
            return 1;
        }
        r->pos = r->len = 0;
        got = transport_read(r->t, r->buf, READ_CHUNK, err);
        if (got < 0)
            return -1;
        if (got == 0) {
            if (line->len == 0)
                return 0;
            return error_set(err, ERROR_PROTOCOL, 0,
                             "%s ended in the middle of a line",
                             transport_name(r->t));
        }
        r->len = (size_t)got;
    }
}

int proto_split(const char *line, struct proto_tokens *out, struct error *err)
{
    char *copy = xstrdup(line);
    char *save = NULL;
    char *tok;

    memset(out, 0, sizeof(*out));
    for (tok = strtok_r(copy, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *v = pct_decode(tok);

        if (!v) {
            free(copy);
            proto_tokens_release(out);
            return error_set(err, ERROR_PROTOCOL, 0,
                             "malformed token in '%.60s'", line);
        }
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
        out->v[out->n++] = v;
    }
    free(copy);
    return 0;
}

void proto_tokens_release(struct proto_tokens *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    memset(t, 0, sizeof(*t));
}

void proto_add(struct buf *line, const char *token)
{
    if (line->len)
        buf_adds(line, " ");
    buf_add_pct(line, token);
}

void proto_add_u64(struct buf *line, uint64_t v)
{
    char s[32];

    snprintf(s, sizeof(s), "%" PRIu64, v);
    proto_add(line, s);
}

int proto_send(struct transport *t, const struct buf *line, struct error *err)
{
    if (transport_write(t, buf_str(line), line->len, err) < 0 ||
        transport_write(t, "\n", 1, err) < 0)
        return -1;
    return transport_flush(t, err);
}

int proto_send_error(struct transport *t, const struct error *e,
                     struct error *err)
{
    struct buf line = BUF_INIT;
    int ret;

    proto_add(&line, "err");
    proto_add_u64(&line, (uint64_t)e->kind);
    proto_add_u64(&line, (uint64_t)(e->cause < 0 ? 0 : e->cause));
    proto_add(&line, e->msg);
    ret = proto_send(t, &line, err);
    buf_release(&line);
    return ret;
}

int proto_read_answer(struct proto_reader *r, struct proto_tokens *tok,
                      struct error *err)
{
    struct buf line = BUF_INIT;
    struct proto_tokens t = {NULL, 0};
    int ret = -1;
    int rc;

    memset(tok, 0, sizeof(*tok));
    rc = proto_read_line(r, &line, err);
    if (rc == 0)
        error_set(err, ERROR_PROTOCOL, 0,
                  "the receiver on %s closed the connection",
                  transport_name(r->t));
    if (rc <= 0 || proto_split(buf_str(&line), &t, err) < 0)
        goto out;
    if (t.n >= 1 && !strcmp(t.v[0], "ok")) {
        free(t.v[0]);
        memmove(t.v, t.v + 1, (t.n - 1) * sizeof(*t.v));
        t.n--;
        *tok = t;
        t.v = NULL;
        t.n = 0;
        ret = 0;
    } else if (t.n == 4 && !strcmp(t.v[0], "err")) {
        uint64_t kind = 0, cause = 0;

        /* Kind 0 would be a failure without an error. A kind newer than
         * ours is a state error. */
        if (proto_parse_u64(t.v[1], "error kind", 1, UINT64_MAX, &kind, err) <
                0 ||
            proto_parse_u64(t.v[2], "error cause", 0, INT_MAX, &cause, err) <
                0) {
            error_prefix(err, "the receiver's answer");
            goto out;
        }
        if (kind > ERROR_INTERRUPTED)
            kind = ERROR_STATE;
        err->kind = (enum error_kind)kind;
        err->cause = (int)cause;
        snprintf(err->msg, sizeof(err->msg), "%s", t.v[3]);
    } else {
        error_set(err, ERROR_PROTOCOL, 0,
                  "unexpected answer from the receiver on %s: '%.80s'",
                  transport_name(r->t), buf_str(&line));
    }
out:
    proto_tokens_release(&t);
    buf_release(&line);
    return ret;
}

const char *proto_get(const struct proto_tokens *tok, const char *key)
{
    size_t klen = strlen(key);

    for (size_t i = 0; i < tok->n; i++) {
        if (!strncmp(tok->v[i], key, klen) && tok->v[i][klen] == '=')
            return tok->v[i] + klen + 1;
    }
    return NULL;
}

/*
 * The peer's text for a message: at most 40 bytes, anything unprintable
 * (a decoded token may hold any byte) as '?', so that a message cannot
 * carry terminal escapes.
 */
static const char *shown(const char *s, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; s[i] && i < 40 && i + 4 < outlen; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
    if (s[i])
        snprintf(out + i, outlen - i, "...");
    return out;
}

int proto_parse_u64(const char *s, const char *what, uint64_t min, uint64_t max,
                    uint64_t *out, struct error *err)
{
    char show[48];
    char *end = NULL;
    unsigned long long v;

    /* strtoull alone would take " 1", "+1" and "-1" (as 2^64 - 1). */
    if (s[0] < '0' || s[0] > '9')
        goto bad;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    return error_set(err, ERROR_PROTOCOL, 0,
                     "invalid %s '%s' (expected a whole number from %" PRIu64
                     " to %" PRIu64 ")",
                     what, shown(s, show, sizeof(show)), min, max);
}

int proto_get_u64_range(const struct proto_tokens *tok, const char *key,
                        uint64_t min, uint64_t max, uint64_t *out,
                        struct error *err)
{
    const char *v = proto_get(tok, key);

    if (!v)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "the receiver's answer lacks '%s'", key);
    if (proto_parse_u64(v, key, min, max, out, err) < 0)
        return error_prefix(err, "the receiver's answer");
    return 0;
}

int proto_get_u64(const struct proto_tokens *tok, const char *key,
                  uint64_t *out, struct error *err)
{
    return proto_get_u64_range(tok, key, 0, UINT64_MAX, out, err);
}

int proto_parse_block(const char *s, const char *what, uint64_t *out,
                      struct error *err)
{
    char show[48];
    uint64_t v = 0;

    if (proto_parse_u64(s, what, PROTO_BLOCK_MIN, PROTO_BLOCK_MAX, &v, err) <
            0 ||
        (v & (v - 1)) != 0)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "invalid %s '%s' (expected a power of two from %u "
                         "to %u)",
                         what, shown(s, show, sizeof(show)), PROTO_BLOCK_MIN,
                         PROTO_BLOCK_MAX);
    *out = v;
    return 0;
}

int proto_parse_hash(const char *s, uint64_t *out, struct error *err)
{
    char show[48];
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < 16; i++) {
        char c = s[i];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            break;
        v = v << 4 | d;
    }
    if (i != 16 || s[i])
        return error_set(err, ERROR_PROTOCOL, 0,
                         "invalid hash '%s' (expected 16 hex digits)",
                         shown(s, show, sizeof(show)));
    *out = v;
    return 0;
}

int proto_check_nblocks(uint64_t size, uint64_t block, uint64_t nblocks,
                        struct error *err)
{
    /* size / block rounded up, without size + block - 1 overflowing. */
    uint64_t want = block ? size / block + (size % block != 0) : 0;

    if (!block || nblocks != want)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "the receiver's hashes do not fit: %" PRIu64
                         " blocks of %" PRIu64 " bytes for %" PRIu64 " bytes",
                         nblocks, block, size);
    return 0;
}

int proto_check_extent(uint64_t i, uint64_t off, uint64_t len,
                       uint64_t prev_end, uint64_t size, struct error *err)
{
    const char *why = NULL;

    if (len == 0)
        why = "is empty";
    else if (off < prev_end)
        why = "overlaps or precedes the one before";
    else if (off > size || len > size - off)
        why = "ends beyond the image";
    if (why)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "the receiver's extent %" PRIu64 " (%" PRIu64
                         " bytes at %" PRIu64 ", image of %" PRIu64
                         " bytes) %s",
                         i, len, off, size, why);
    return 0;
}
