/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_stream.c: libFuzzer target for the rbd diff v1 decoder.
 *
 * Decodes arbitrary input to the end through an in-memory transport, twice:
 * once with reads as large as asked and once with short reads of 1..7
 * bytes, and aborts when the two disagree (records, data or error text), so
 * that buffering bugs show up as well as memory errors. A stream that
 * decodes is then encoded again and decoded once more, which must give the
 * same records: the encoder writes whatever the decoder accepts.
 * Build and run with scripts/fuzz.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/core/stream.h"
#include "rbdmove/base/xalloc.h"
#include "transport/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
    struct transport base;
    struct buf out;
    const uint8_t *in;
    size_t in_len;
    size_t in_pos;
    size_t max_read; /* 0: as much as asked, else 1..max_read */
    uint32_t rng;
};

static ssize_t mem_read(struct transport *t, void *buf, size_t len,
                        struct error *err)
{
    struct mem *m = (struct mem *)t;
    size_t n = m->in_len - m->in_pos;

    (void)err;
    if (n > len)
        n = len;
    if (m->max_read && n > 0) {
        size_t cap;

        m->rng = m->rng * 1103515245u + 12345u;
        cap = 1 + (m->rng >> 8) % m->max_read;
        if (n > cap)
            n = cap;
    }
    if (n > 0)
        memcpy(buf, m->in + m->in_pos, n);
    m->in_pos += n;
    return (ssize_t)n;
}

static int mem_write(struct transport *t, const void *buf, size_t len,
                     struct error *err)
{
    (void)err;
    buf_add(&((struct mem *)t)->out, buf, len);
    return 0;
}

static void mem_free(struct transport *t)
{
    buf_release(&((struct mem *)t)->out);
    free(t);
}

static const struct transport_ops mem_ops = {
    .read = mem_read,
    .write = mem_write,
    .free = mem_free,
};

static struct mem *mem_new(const uint8_t *in, size_t len, size_t max_read)
{
    struct mem *m = xcalloc(1, sizeof(*m));

    transport_init(&m->base, &mem_ops, "fuzz");
    m->in = in;
    m->in_len = len;
    m->max_read = max_read;
    m->rng = (uint32_t)len;
    return m;
}

static int reencode(struct transport *enc, const struct stream_record *rec,
                    const struct buf *data, struct error *err)
{
    switch (rec->type) {
    case STREAM_RECORD_WRITE:
        return stream_write_data(enc, rec->off, rec->len, data->data, err);
    case STREAM_RECORD_ZERO:
        return stream_write_zero(enc, rec->off, rec->len, err);
    case STREAM_RECORD_END:
        return stream_write_end(enc, err);
    default:
        abort(); /* the decoder returned a header record type */
    }
}

static void log_header(struct buf *log, const struct stream_header *h)
{
    buf_addf(log, "f=%s t=%s s=%d/%llu\n", h->from_snap ? h->from_snap : "-",
             h->to_snap ? h->to_snap : "-", h->has_size,
             (unsigned long long)h->size);
}

/*
 * Decode in to the end, writing what was decoded (or the error) to log;
 * when enc is given, write the decoded stream to it again. Returns 0 when
 * the stream ended properly.
 */
static int decode(const uint8_t *in, size_t len, size_t max_read, size_t chunk,
                  struct buf *log, struct transport *enc)
{
    struct mem *m = mem_new(in, len, max_read);
    struct stream_reader *r = stream_reader_new(&m->base);
    struct stream_header h;
    struct error err = ERROR_INIT;
    struct buf data = BUF_INIT;
    unsigned char *scratch = xmalloc(chunk);
    int ret = -1;

    if (stream_read_header(r, &h, &err) < 0)
        goto out;
    log_header(log, &h);
    if (enc && stream_write_header(enc, &h, &err) < 0)
        abort();
    for (;;) {
        struct stream_record rec;
        uint64_t left;

        if (stream_read_record(r, &rec, &err) < 0)
            goto out;
        buf_addf(log, "%c %llu %llu\n", rec.type, (unsigned long long)rec.off,
                 (unsigned long long)rec.len);
        left = rec.type == STREAM_RECORD_WRITE ? rec.len : 0;
        buf_reset(&data);
        while (left > 0) {
            size_t n = left < chunk ? (size_t)left : chunk;

            if (stream_read_data(r, scratch, n, &err) < 0)
                goto out;
            buf_add(&data, scratch, n);
            left -= n;
        }
        buf_add(log, data.data, data.len);
        if (enc && reencode(enc, &rec, &data, &err) < 0)
            abort();
        if (rec.type == STREAM_RECORD_END)
            break;
    }
    if (stream_reader_offset(r) > len)
        abort();
    ret = 0;
out:
    if (ret < 0) {
        /* Bad input must be a protocol error: the memory transport never
         * fails, and calls in order never give ERROR_STATE. */
        if (err.kind != ERROR_PROTOCOL)
            abort();
        buf_addf(log, "error: %s\n", err.msg);
    }
    stream_header_release(&h);
    buf_release(&data);
    free(scratch);
    stream_reader_free(r);
    transport_free(&m->base);
    return ret;
}

static void same(const struct buf *a, const struct buf *b)
{
    if (a->len != b->len || memcmp(buf_str(a), buf_str(b), a->len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf whole = BUF_INIT, shortr = BUF_INIT, again = BUF_INIT;
    struct mem *enc = mem_new(NULL, 0, 0);
    int r1, r2;

    r1 = decode(data, size, 0, 1 << 16, &whole, &enc->base);
    r2 = decode(data, size, 7, 5, &shortr, NULL);
    if (r1 != r2)
        abort();
    same(&whole, &shortr);
    if (r1 == 0) {
        if (decode((const uint8_t *)enc->out.data, enc->out.len, 0, 4096,
                   &again, NULL) != 0)
            abort();
        same(&whole, &again);
    }
    buf_release(&whole);
    buf_release(&shortr);
    buf_release(&again);
    transport_free(&enc->base);
    return 0;
}
