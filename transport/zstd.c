/* SPDX-License-Identifier: MIT */
/*
 * transport/zstd.c: zstd compression around another transport (the
 * --compress option). Writes are compressed into the inner transport,
 * reads are decompressed from it. Compression happens here, before the SSH
 * channel, never in libssh2 (its zlib costs ~28 CPU-s per GiB; zstd -1
 * runs ~356 MiB/s per core, see lab-notes.md).
 *
 * Frames carry a content checksum, so damage in transit is an error here
 * rather than wrong data further on. A stream that ends inside a frame, or
 * holds anything but zstd frames, is ERROR_PROTOCOL.
 */
#include "transport/transport.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <zstd.h>

#include "rbdmove/base/xalloc.h"

/* Compressed bytes go to the inner transport in pieces of about 1 MiB:
   large writes are what an SSH channel wants. */
#define ZSTD_OUT_CHUNK (1u << 20)
/* Decompression memory bound: frames needing a larger window are refused
   (zstd's own default limit, set explicitly). */
#define ZSTD_WINDOW_LOG_MAX 27

struct zstd_transport {
    struct transport base;
    struct transport *inner;
    bool owns_inner;
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    char *out; /* compressed, not yet written to inner */
    size_t out_len, out_cap;
    char *in; /* compressed, read from inner: in[in_pos, in_len) */
    size_t in_pos, in_len, in_cap;
    bool write_closed;
    bool inner_eof;
    bool in_frame;    /* inside a frame that has not ended yet */
    bool saw_frame;   /* at least one complete frame was read */
    bool out_pending; /* the last read filled its buffer: the decoder may
                         hold more output without more input */
};

static int flush_out(struct zstd_transport *zt, struct error *err)
{
    size_t len = zt->out_len;

    zt->out_len = 0;
    if (len == 0)
        return 0;
    return transport_write(zt->inner, zt->out, len, err);
}

/* Feed in (possibly empty) to the compressor; mode ends or flushes. */
static int compress(struct zstd_transport *zt, ZSTD_inBuffer *in,
                    ZSTD_EndDirective mode, struct error *err)
{
    for (;;) {
        ZSTD_outBuffer out = {zt->out + zt->out_len, zt->out_cap - zt->out_len,
                              0};
        size_t left = ZSTD_compressStream2(zt->cctx, &out, in, mode);

        if (ZSTD_isError(left))
            return error_set(err, ERROR_IO, EIO, "cannot compress for %s: %s",
                             zt->base.name, ZSTD_getErrorName(left));
        zt->out_len += out.pos;
        if (zt->out_len >= ZSTD_OUT_CHUNK && flush_out(zt, err) < 0)
            return -1;
        if (mode == ZSTD_e_continue ? in->pos == in->size : left == 0)
            return 0;
    }
}

static int zstd_write(struct transport *t, const void *buf, size_t len,
                      struct error *err)
{
    struct zstd_transport *zt = (struct zstd_transport *)t;
    ZSTD_inBuffer in = {buf, len, 0};

    if (zt->write_closed)
        return error_set(err, ERROR_IO, EPIPE, "%s: write after close",
                         t->name);
    return compress(zt, &in, ZSTD_e_continue, err);
}

static int zstd_close_write(struct transport *t, struct error *err)
{
    struct zstd_transport *zt = (struct zstd_transport *)t;
    ZSTD_inBuffer none = {NULL, 0, 0};

    if (zt->write_closed)
        return 0;
    zt->write_closed = true;
    if (compress(zt, &none, ZSTD_e_end, err) < 0 || flush_out(zt, err) < 0)
        return -1;
    return transport_close_write(zt->inner, err);
}

/* Everything written so far goes out as complete blocks (a data session
 * that carries one transfer after another): the reader can decode it all
 * without the frame's end. */
static int zstd_flush(struct transport *t, struct error *err)
{
    struct zstd_transport *zt = (struct zstd_transport *)t;
    ZSTD_inBuffer none = {NULL, 0, 0};

    if (zt->write_closed)
        return 0;
    if (compress(zt, &none, ZSTD_e_flush, err) < 0 || flush_out(zt, err) < 0)
        return -1;
    return transport_flush(zt->inner, err);
}

/* Refill the compressed input; inner_eof at the inner stream's end. */
static int fill_in(struct zstd_transport *zt, struct error *err)
{
    ssize_t n = transport_read(zt->inner, zt->in, zt->in_cap, err);

    if (n < 0)
        return -1;
    zt->in_pos = 0;
    zt->in_len = (size_t)n;
    zt->inner_eof = n == 0;
    return 0;
}

static ssize_t zstd_read(struct transport *t, void *buf, size_t len,
                         struct error *err)
{
    struct zstd_transport *zt = (struct zstd_transport *)t;

    while (len > 0) {
        ZSTD_inBuffer in = {zt->in, zt->in_len, zt->in_pos};
        ZSTD_outBuffer out = {buf, len, 0};
        size_t r;

        /* Output the decoder still holds comes first: the peer may send
         * nothing more until it has an answer (a data session between
         * transfers), so waiting for input here would never end. */
        if (zt->in_pos == zt->in_len && !zt->out_pending) {
            if (!zt->inner_eof && fill_in(zt, err) < 0)
                return -1;
            if (zt->inner_eof) {
                if (zt->in_frame || !zt->saw_frame)
                    return error_set(err, ERROR_PROTOCOL, 0,
                                     "truncated compressed stream from %s",
                                     t->name);
                return 0;
            }
            in = (ZSTD_inBuffer){zt->in, zt->in_len, 0};
        }
        size_t in_before = in.pos;

        r = ZSTD_decompressStream(zt->dctx, &out, &in);
        zt->in_pos = in.pos;
        zt->out_pending = out.pos == out.size;
        if (ZSTD_isError(r))
            return error_set(err, ERROR_PROTOCOL, 0,
                             "corrupt compressed stream from %s: %s", t->name,
                             ZSTD_getErrorName(r));
        /* 0: a frame ended and everything of it was handed out. A call
         * that moved nothing (nothing was pending after all) says only
         * what the next frame would need: not a frame begun. */
        if (in.pos != in_before || out.pos > 0) {
            zt->in_frame = r != 0;
            if (r == 0)
                zt->saw_frame = true;
        }
        if (out.pos > 0)
            return (ssize_t)out.pos;
    }
    return 0;
}

static int zstd_finish(struct transport *t, struct error *err)
{
    struct zstd_transport *zt = (struct zstd_transport *)t;

    if (zstd_close_write(t, err) < 0)
        return -1;
    return transport_finish(zt->inner, err);
}

static void zstd_free(struct transport *t)
{
    struct zstd_transport *zt = (struct zstd_transport *)t;

    if (zt->owns_inner)
        transport_free(zt->inner);
    ZSTD_freeCCtx(zt->cctx);
    ZSTD_freeDCtx(zt->dctx);
    free(zt->out);
    free(zt->in);
    free(zt);
}

static const struct transport_ops zstd_ops = {
    .read = zstd_read,
    .write = zstd_write,
    .close_write = zstd_close_write,
    .finish = zstd_finish,
    .free = zstd_free,
    .flush = zstd_flush,
};

struct transport *transport_zstd_new(struct transport *inner, int level,
                                     bool owns_inner)
{
    struct zstd_transport *zt = xcalloc(1, sizeof(*zt));
    char *name = xasprintf("%s (zstd)", transport_name(inner));

    transport_init(&zt->base, &zstd_ops, name);
    free(name);
    zt->inner = inner;
    zt->owns_inner = owns_inner;
    zt->cctx = ZSTD_createCCtx();
    zt->dctx = ZSTD_createDCtx();
    if (!zt->cctx || !zt->dctx)
        BUG("out of memory for zstd contexts");
    if (level == 0)
        level = 1;
    if (level < ZSTD_minCLevel())
        level = ZSTD_minCLevel();
    if (level > ZSTD_maxCLevel())
        level = ZSTD_maxCLevel();
    ZSTD_CCtx_setParameter(zt->cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(zt->cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_DCtx_setParameter(zt->dctx, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
    zt->out_cap = ZSTD_OUT_CHUNK + ZSTD_CStreamOutSize();
    zt->out = xmalloc(zt->out_cap);
    zt->in_cap = ZSTD_DStreamInSize() * 4;
    zt->in = xmalloc(zt->in_cap);
    return &zt->base;
}
