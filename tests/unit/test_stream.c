/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_stream.c: the rbd diff v1 codec.
 *
 * Round trips through a small in-memory transport defined here (so the
 * test depends on nothing but rbm_stream), byte-exact encoder output, and
 * the decoder against malformed, truncated and hostile input. The memory
 * transport can hand out short reads of 1..N bytes, to show that the
 * decoder's buffering does not depend on how the input is cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/core/stream.h"
#include "rbdmove/base/xalloc.h"
#include "transport/transport.h"

/* ---- memory transport ------------------------------------------------- */

struct mem {
    struct transport base;
    struct buf out;          /* everything written */
    const unsigned char *in; /* input, borrowed */
    size_t in_len;
    size_t in_pos;
    size_t max_read;  /* 0: as much as asked; else 1..max_read per read */
    uint32_t rng;     /* picks short read sizes, deterministically */
    size_t fail_at;   /* a read reaching this input position fails */
    size_t max_asked; /* largest len a read was called with */
};

static ssize_t mem_read(struct transport *t, void *buf, size_t len,
                        struct error *err)
{
    struct mem *m = (struct mem *)t;
    size_t n = m->in_len - m->in_pos;

    if (len > m->max_asked)
        m->max_asked = len;
    if (n > len)
        n = len;
    if (m->max_read && n > 0) {
        m->rng = m->rng * 1103515245u + 12345u;
        size_t cap = 1 + (m->rng >> 8) % m->max_read;
        if (n > cap)
            n = cap;
    }
    if (m->fail_at && m->in_pos + n >= m->fail_at)
        return error_set(err, ERROR_IO, 5, "cannot read from %s", t->name);
    memcpy(buf, m->in + m->in_pos, n);
    m->in_pos += n;
    return (ssize_t)n;
}

static int mem_write(struct transport *t, const void *buf, size_t len,
                     struct error *err)
{
    struct mem *m = (struct mem *)t;

    (void)err;
    buf_add(&m->out, buf, len);
    return 0;
}

static void mem_free(struct transport *t)
{
    struct mem *m = (struct mem *)t;

    buf_release(&m->out);
    free(m);
}

static const struct transport_ops mem_ops = {
    .read = mem_read,
    .write = mem_write,
    .free = mem_free,
};

static struct mem *mem_new(const void *in, size_t len, size_t max_read)
{
    struct mem *m = xcalloc(1, sizeof(*m));

    transport_init(&m->base, &mem_ops, "memory");
    m->in = in;
    m->in_len = len;
    m->max_read = max_read;
    m->rng = 42;
    return m;
}

/* ---- stream builder for hand-made (and malformed) input --------------- */

static void add_u8(struct buf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;

    buf_add(b, &c, 1);
}

static void add_le32(struct buf *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        add_u8(b, (v >> (8 * i)) & 0xff);
}

static void add_le64(struct buf *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        add_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void add_name(struct buf *b, char tag, const char *name, size_t len)
{
    add_u8(b, (unsigned char)tag);
    add_le32(b, (uint32_t)len);
    buf_add(b, name, len);
}

static void add_extent(struct buf *b, char tag, uint64_t off, uint64_t len)
{
    add_u8(b, (unsigned char)tag);
    add_le64(b, off);
    add_le64(b, len);
}

static void add_banner(struct buf *b)
{
    buf_add(b, STREAM_BANNER_V1, STREAM_BANNER_LEN);
}

/* ---- decoding driver -------------------------------------------------- */

struct decoded {
    struct stream_header h;
    unsigned nrec;
    bool ended;
    struct buf data; /* the data of all 'w' records, concatenated */
    uint64_t offset; /* stream_reader_offset at the end */
};

static void decoded_release(struct decoded *d)
{
    stream_header_release(&d->h);
    buf_release(&d->data);
}

/*
 * Decode all of in, consuming 'w' data in chunks of chunk bytes. Returns
 * 0 after END, -1 with *err set otherwise. Never asserts, so that it can
 * run over any input.
 */
static int decode_all(const void *in, size_t len, size_t max_read, size_t chunk,
                      struct decoded *d, struct error *err)
{
    struct mem *m = mem_new(in, len, max_read);
    struct stream_reader *r = stream_reader_new(&m->base);
    unsigned char *scratch = xmalloc(chunk);
    int ret = -1;

    memset(d, 0, sizeof(*d));
    if (stream_read_header(r, &d->h, err) < 0)
        goto out;
    for (;;) {
        struct stream_record rec;
        uint64_t left;

        if (stream_read_record(r, &rec, err) < 0)
            goto out;
        d->nrec++;
        if (rec.type == STREAM_RECORD_END)
            break;
        left = rec.type == STREAM_RECORD_WRITE ? rec.len : 0;
        while (left > 0) {
            size_t n = left < chunk ? (size_t)left : chunk;

            if (stream_read_data(r, scratch, n, err) < 0)
                goto out;
            buf_add(&d->data, scratch, n);
            left -= n;
        }
    }
    d->ended = true;
    d->offset = stream_reader_offset(r);
    ret = 0;
out:
    free(scratch);
    stream_reader_free(r);
    transport_free(&m->base);
    return ret;
}

/* Expect decoding to fail with kind, and msg to contain needle. */
static void expect_failure(const struct buf *in, enum error_kind kind,
                           const char *needle)
{
    struct error err = ERROR_INIT;
    struct decoded d;

    assert_int_equal(decode_all(in->data, in->len, 0, 4096, &d, &err), -1);
    assert_false(d.ended);
    assert_int_equal(err.kind, kind);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    decoded_release(&d);
}

static void fill_pattern(unsigned char *p, size_t len, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < len; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (unsigned char)(x >> 24);
    }
}

/* ---- encoder ---------------------------------------------------------- */

static void test_stream_encoder_is_byte_exact(void **state)
{
    static const unsigned char expected[] = {
        'r',  'b',  'd',  ' ',  'd',  'i',  'f',  'f',  ' ',  'v',
        '1',  '\n', 'f',  2,    0,    0,    0,    's',  '1',  't',
        3,    0,    0,    0,    's',  'n',  '2',  's',  0x00, 0x00,
        0x00, 0x40, 0x00, 0x00, 0x00, 0x00, /* 1 GiB */
        'w',  0x00, 0x10, 0,    0,    0,    0,    0,    0,    0x03,
        0,    0,    0,    0,    0,    0,    0,    0xaa, 0xbb, 0xcc,
        'z',  0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00,
        0x00, 0x20, 0,    0,    0,    0,    0,    'e',
    };
    static const unsigned char data[] = {0xaa, 0xbb, 0xcc};
    struct stream_header h = {"s1", "sn2", true, 1ull << 30};
    struct mem *m = mem_new(NULL, 0, 0);
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(stream_write_header(&m->base, &h, &err), 0);
    assert_int_equal(stream_write_data(&m->base, 4096, 3, data, &err), 0);
    assert_int_equal(
        stream_write_zero(&m->base, 0x0102030405060708ull, 2 << 20, &err), 0);
    assert_int_equal(stream_write_end(&m->base, &err), 0);

    assert_int_equal(m->out.len, sizeof(expected));
    assert_memory_equal(m->out.data, expected, sizeof(expected));
    transport_free(&m->base);
}

static void test_stream_encoder_writes_only_present_header_records(void **state)
{
    struct stream_header h = {NULL, NULL, false, 0};
    struct mem *m = mem_new(NULL, 0, 0);
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(stream_write_header(&m->base, &h, &err), 0);
    assert_int_equal(m->out.len, STREAM_BANNER_LEN);
    assert_memory_equal(m->out.data, STREAM_BANNER_V1, STREAM_BANNER_LEN);
    transport_free(&m->base);
}

static void test_stream_encoder_rejects_bad_names(void **state)
{
    char *longname = xmalloc(STREAM_SNAP_NAME_MAX + 2);
    struct stream_header h = {NULL, longname, true, 4096};
    struct mem *m = mem_new(NULL, 0, 0);
    struct error err = ERROR_INIT;

    (void)state;
    memset(longname, 'a', STREAM_SNAP_NAME_MAX + 1);
    longname[STREAM_SNAP_NAME_MAX + 1] = '\0';
    assert_int_equal(stream_write_header(&m->base, &h, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_int_equal(m->out.len, 0);

    longname[STREAM_SNAP_NAME_MAX] = '\0'; /* exactly the limit: fine */
    assert_int_equal(stream_write_header(&m->base, &h, &err), 0);

    h.to_snap = "";
    err = (struct error)ERROR_INIT;
    assert_int_equal(stream_write_header(&m->base, &h, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    free(longname);
    transport_free(&m->base);
}

/* ---- round trips ------------------------------------------------------ */

/* Encode a stream with every record type and a data record of data_len
 * bytes; the result is in out. */
static void encode_sample(struct buf *out, const struct stream_header *h,
                          size_t data_len)
{
    struct mem *m = mem_new(NULL, 0, 0);
    struct error err = ERROR_INIT;
    unsigned char *data = xmalloc(data_len + 1);

    fill_pattern(data, data_len, 7);
    assert_int_equal(stream_write_header(&m->base, h, &err), 0);
    assert_int_equal(stream_write_zero(&m->base, 0, 4096, &err), 0);
    assert_int_equal(stream_write_data(&m->base, 4096, data_len, data, &err),
                     0);
    assert_int_equal(stream_write_data(&m->base, 1 << 20, 0, NULL, &err), 0);
    assert_int_equal(stream_write_zero(&m->base, 2 << 20, 0, &err), 0);
    assert_int_equal(stream_write_data(&m->base, 3 << 20, 5, "hello", &err), 0);
    assert_int_equal(stream_write_end(&m->base, &err), 0);
    buf_add(out, m->out.data, m->out.len);
    free(data);
    transport_free(&m->base);
}

static void check_sample(const struct buf *in, const struct stream_header *h,
                         size_t data_len, size_t max_read, size_t chunk)
{
    struct error err = ERROR_INIT;
    struct decoded d;
    unsigned char *data = xmalloc(data_len + 5);

    fill_pattern(data, data_len, 7);
    memcpy(data + data_len, "hello", 5);
    if (decode_all(in->data, in->len, max_read, chunk, &d, &err) < 0)
        fail_msg("decode failed: %s", err.msg);
    assert_true(d.ended);
    assert_int_equal(d.nrec, 6);
    if (h->from_snap)
        assert_string_equal(d.h.from_snap, h->from_snap);
    else
        assert_null(d.h.from_snap);
    if (h->to_snap)
        assert_string_equal(d.h.to_snap, h->to_snap);
    else
        assert_null(d.h.to_snap);
    assert_int_equal(d.h.has_size, h->has_size);
    assert_int_equal(d.h.size, h->size);
    assert_int_equal(d.data.len, data_len + 5);
    assert_memory_equal(d.data.data, data, data_len + 5);
    assert_int_equal(d.offset, in->len);
    decoded_release(&d);
    free(data);
}

static void test_stream_roundtrip_every_record_type(void **state)
{
    struct stream_header h = {"base", "round-2", true, 64 << 20};
    struct buf in = BUF_INIT;

    (void)state;
    encode_sample(&in, &h, 3000);
    check_sample(&in, &h, 3000, 0, 4096);
    buf_release(&in);
}

static void test_stream_roundtrip_records_in_order(void **state)
{
    struct stream_header h = {NULL, "s", true, 8 << 20};
    struct buf in = BUF_INIT;
    struct mem *m;
    struct stream_reader *r;
    struct stream_header got;
    struct stream_record rec;
    struct error err = ERROR_INIT;
    char five[5];

    (void)state;
    encode_sample(&in, &h, 10);
    m = mem_new(in.data, in.len, 0);
    r = stream_reader_new(&m->base);
    assert_int_equal(stream_read_header(r, &got, &err), 0);
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(rec.type, STREAM_RECORD_ZERO);
    assert_int_equal(rec.off, 0);
    assert_int_equal(rec.len, 4096);
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(rec.type, STREAM_RECORD_WRITE);
    assert_int_equal(rec.off, 4096);
    assert_int_equal(rec.len, 10);
    assert_int_equal(stream_read_data(r, five, 5, &err), 0);
    assert_int_equal(stream_read_data(r, five, 5, &err), 0);
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(rec.type, STREAM_RECORD_WRITE);
    assert_int_equal(rec.off, 1 << 20);
    assert_int_equal(rec.len, 0); /* zero-length extents are passed on */
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(rec.type, STREAM_RECORD_ZERO);
    assert_int_equal(rec.len, 0);
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(stream_read_data(r, five, 5, &err), 0);
    assert_memory_equal(five, "hello", 5);
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(rec.type, STREAM_RECORD_END);
    assert_int_equal(stream_read_eof(r, &err), 0);
    stream_header_release(&got);
    stream_reader_free(r);
    transport_free(&m->base);
    buf_release(&in);
}

static void test_stream_roundtrip_header_variants(void **state)
{
    const struct stream_header variants[] = {
        {NULL, NULL, false, 0},         {"from", NULL, false, 0},
        {NULL, "to", false, 0},         {NULL, NULL, true, 1ull << 40},
        {"from", "to", true, 10 << 20},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        struct buf in = BUF_INIT;

        encode_sample(&in, &variants[i], 100);
        check_sample(&in, &variants[i], 100, 0, 4096);
        buf_release(&in);
    }
}

static void test_stream_roundtrip_with_one_byte_reads(void **state)
{
    struct stream_header h = {"a", "b", true, 16 << 20};
    struct buf in = BUF_INIT;

    (void)state;
    encode_sample(&in, &h, 70000);
    check_sample(&in, &h, 70000, 1, 4096);
    check_sample(&in, &h, 70000, 1, 1);
    check_sample(&in, &h, 70000, 1, 1 << 20);
    buf_release(&in);
}

static void test_stream_roundtrip_large_data_in_odd_chunks(void **state)
{
    struct stream_header h = {"a", "b", true, 64 << 20};
    size_t len = (3 << 20) + 17;
    struct buf in = BUF_INIT;

    (void)state;
    encode_sample(&in, &h, len);
    check_sample(&in, &h, len, 0, 4 << 20);      /* one read per record */
    check_sample(&in, &h, len, 0, 65537);        /* through the buffer */
    check_sample(&in, &h, len, 100000, 1 << 20); /* short reads, direct */
    check_sample(&in, &h, len, 7, 333333);
    buf_release(&in);
}

static void
test_stream_reads_large_data_straight_into_caller_buffer(void **state)
{
    size_t len = 8 << 20;
    unsigned char *data = xmalloc(len);
    unsigned char *back = xmalloc(len);
    struct stream_header h = {NULL, NULL, true, len};
    struct buf in = BUF_INIT;
    struct mem *m;
    struct stream_reader *r;
    struct stream_header got;
    struct stream_record rec;
    struct error err = ERROR_INIT;

    (void)state;
    fill_pattern(data, len, 3);
    m = mem_new(NULL, 0, 0);
    assert_int_equal(stream_write_header(&m->base, &h, &err), 0);
    assert_int_equal(stream_write_data(&m->base, 0, len, data, &err), 0);
    assert_int_equal(stream_write_end(&m->base, &err), 0);
    buf_add(&in, m->out.data, m->out.len);
    transport_free(&m->base);

    m = mem_new(in.data, in.len, 0);
    r = stream_reader_new(&m->base);
    assert_int_equal(stream_read_header(r, &got, &err), 0);
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(stream_read_data(r, back, len, &err), 0);
    assert_memory_equal(back, data, len);
    /* The tail of the record went to back in one read, not 256 KiB ones. */
    assert_true(m->max_asked > (4u << 20));
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(rec.type, STREAM_RECORD_END);
    assert_int_equal(stream_reader_offset(r), in.len);
    stream_header_release(&got);
    stream_reader_free(r);
    transport_free(&m->base);
    buf_release(&in);
    free(data);
    free(back);
}

/* ---- malformed input -------------------------------------------------- */

static void test_stream_rejects_bad_banner(void **state)
{
    struct buf in = BUF_INIT;

    (void)state;
    buf_adds(&in, "rbd diff v3\ne");
    expect_failure(&in, ERROR_PROTOCOL, "bad banner");
    buf_reset(&in);
    buf_adds(&in, "hello");
    expect_failure(&in, ERROR_PROTOCOL, "bad banner");
    buf_reset(&in);
    expect_failure(&in, ERROR_PROTOCOL, "empty input");
    buf_reset(&in);
    buf_adds(&in, "rbd image v2\n");
    expect_failure(&in, ERROR_PROTOCOL, "rbd export image");
    buf_release(&in);
}

static void test_stream_rejects_v2_banner_by_name(void **state)
{
    struct buf in = BUF_INIT;

    (void)state;
    buf_adds(&in, "rbd diff v2\n");
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "v2");
    expect_failure(&in, ERROR_PROTOCOL, "not supported");
    buf_release(&in);
}

static void test_stream_rejects_unknown_tag(void **state)
{
    struct buf in = BUF_INIT;

    (void)state;
    add_banner(&in);
    add_u8(&in, 'p'); /* v2's protection status record */
    add_u8(&in, 1);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "unknown record type 'p'");

    buf_reset(&in);
    add_banner(&in);
    add_extent(&in, 'z', 0, 1);
    add_u8(&in, 0);
    expect_failure(&in, ERROR_PROTOCOL, "unknown record type 0x00");
    buf_release(&in);
}

/* A valid stream with every record kind; any strict prefix is truncated. */
static void build_full_stream(struct buf *b)
{
    add_banner(b);
    add_name(b, 'f', "snap-1", 6);
    add_name(b, 't', "snap-2", 6);
    add_u8(b, 's');
    add_le64(b, 1 << 20);
    add_extent(b, 'w', 512, 20);
    buf_adds(b, "01234567890123456789");
    add_extent(b, 'z', 4096, 4096);
    add_extent(b, 'w', 8192, 0);
    add_extent(b, 'w', 65536, 3);
    buf_adds(b, "xyz");
    add_u8(b, 'e');
}

static void test_stream_truncated_at_every_byte_fails_cleanly(void **state)
{
    struct buf in = BUF_INIT;
    struct decoded d;
    struct error err = ERROR_INIT;

    (void)state;
    build_full_stream(&in);
    assert_int_equal(decode_all(in.data, in.len, 0, 4096, &d, &err), 0);
    decoded_release(&d);

    for (size_t cut = 0; cut < in.len; cut++) {
        for (size_t max_read = 0; max_read <= 3; max_read += 3) {
            err = (struct error)ERROR_INIT;
            if (decode_all(in.data, cut, max_read, 7, &d, &err) == 0)
                fail_msg("a prefix of %zu bytes decoded to END", cut);
            assert_false(d.ended);
            if (err.kind != ERROR_PROTOCOL)
                fail_msg("prefix %zu: kind %d: %s", cut, err.kind, err.msg);
            decoded_release(&d);
        }
    }
    buf_release(&in);
}

static void test_stream_rejects_oversized_snap_name(void **state)
{
    char *name = xmalloc(STREAM_SNAP_NAME_MAX + 1);
    struct buf in = BUF_INIT;
    struct decoded d;
    struct error err = ERROR_INIT;

    (void)state;
    memset(name, 'n', STREAM_SNAP_NAME_MAX + 1);
    add_banner(&in);
    add_name(&in, 't', name, STREAM_SNAP_NAME_MAX); /* the limit: fine */
    add_u8(&in, 'e');
    assert_int_equal(decode_all(in.data, in.len, 0, 16, &d, &err), 0);
    assert_int_equal(strlen(d.h.to_snap), STREAM_SNAP_NAME_MAX);
    decoded_release(&d);

    buf_reset(&in);
    add_banner(&in);
    add_name(&in, 't', name, STREAM_SNAP_NAME_MAX + 1);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "limit 4096");

    buf_reset(&in); /* a hostile length, no data behind it */
    add_banner(&in);
    add_u8(&in, 'f');
    add_le32(&in, 0xffffffffu);
    expect_failure(&in, ERROR_PROTOCOL, "snapshot name");
    buf_release(&in);
    free(name);
}

static void test_stream_rejects_nul_or_empty_snap_name(void **state)
{
    struct buf in = BUF_INIT;

    (void)state;
    add_banner(&in);
    add_name(&in, 'f', "ab\0cd", 5);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "NUL");

    buf_reset(&in);
    add_banner(&in);
    add_name(&in, 'f', "", 0);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "empty snapshot name");
    buf_release(&in);
}

static void test_stream_rejects_duplicate_header_record(void **state)
{
    struct buf in = BUF_INIT;

    (void)state;
    add_banner(&in);
    add_name(&in, 'f', "a", 1);
    add_name(&in, 't', "b", 1);
    add_name(&in, 'f', "a", 1);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "repeated 'f' record");

    buf_reset(&in);
    add_banner(&in);
    add_name(&in, 't', "b", 1);
    add_name(&in, 't', "c", 1);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "repeated 't' record");

    buf_reset(&in);
    add_banner(&in);
    add_u8(&in, 's');
    add_le64(&in, 1);
    add_u8(&in, 's');
    add_le64(&in, 2);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "repeated 's' record");
    buf_release(&in);
}

static void test_stream_accepts_header_records_in_any_order(void **state)
{
    struct buf in = BUF_INIT;
    struct decoded d;
    struct error err = ERROR_INIT;

    (void)state;
    add_banner(&in);
    add_u8(&in, 's');
    add_le64(&in, 4096);
    add_name(&in, 't', "to", 2);
    add_name(&in, 'f', "from", 4);
    add_u8(&in, 'e');
    assert_int_equal(decode_all(in.data, in.len, 0, 16, &d, &err), 0);
    assert_string_equal(d.h.from_snap, "from");
    assert_string_equal(d.h.to_snap, "to");
    assert_true(d.h.has_size);
    assert_int_equal(d.h.size, 4096);
    assert_int_equal(d.nrec, 1);
    decoded_release(&d);
    buf_release(&in);
}

static void test_stream_rejects_header_record_after_data(void **state)
{
    struct buf in = BUF_INIT;

    (void)state;
    add_banner(&in);
    add_extent(&in, 'z', 0, 512);
    add_u8(&in, 's');
    add_le64(&in, 4096);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "'s' header record after data");

    buf_reset(&in);
    add_banner(&in);
    add_extent(&in, 'w', 0, 1);
    add_u8(&in, 'X');
    add_name(&in, 't', "late", 4);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "'t' header record after data");
    buf_release(&in);
}

static void test_stream_rejects_extent_beyond_size(void **state)
{
    struct buf in = BUF_INIT;
    struct decoded d;
    struct error err = ERROR_INIT;

    (void)state;
    add_banner(&in);
    add_u8(&in, 's');
    add_le64(&in, 8192);
    add_extent(&in, 'z', 4096, 4096); /* ends exactly at the size: fine */
    add_extent(&in, 'w', 8192, 0);
    add_u8(&in, 'e');
    assert_int_equal(decode_all(in.data, in.len, 0, 16, &d, &err), 0);
    decoded_release(&d);

    buf_reset(&in);
    add_banner(&in);
    add_u8(&in, 's');
    add_le64(&in, 8192);
    add_extent(&in, 'w', 4096, 4097);
    expect_failure(&in, ERROR_PROTOCOL, "beyond the image size 8192");

    buf_reset(&in);
    add_banner(&in);
    add_u8(&in, 's');
    add_le64(&in, 8192);
    add_extent(&in, 'z', 8193, 0);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "beyond the image size");
    buf_release(&in);
}

static void test_stream_rejects_offset_overflow(void **state)
{
    struct buf in = BUF_INIT;

    (void)state;
    add_banner(&in);
    add_extent(&in, 'z', UINT64_MAX - 10, 11);
    add_u8(&in, 'e');
    expect_failure(&in, ERROR_PROTOCOL, "overflows");

    buf_reset(&in); /* without a size record, a huge extent is allowed... */
    add_banner(&in);
    add_extent(&in, 'z', UINT64_MAX - 10, 10);
    add_u8(&in, 'e');
    struct decoded d;
    struct error err = ERROR_INIT;
    assert_int_equal(decode_all(in.data, in.len, 0, 16, &d, &err), 0);
    decoded_release(&d);

    buf_reset(&in); /* ...but its data must really be there */
    add_banner(&in);
    add_extent(&in, 'w', 0, UINT64_MAX);
    buf_adds(&in, "short");
    expect_failure(&in, ERROR_PROTOCOL, "truncated");
    buf_release(&in);
}

static void test_stream_rejects_records_after_end(void **state)
{
    struct buf in = BUF_INIT;
    struct mem *m;
    struct stream_reader *r;
    struct stream_header h;
    struct stream_record rec;
    struct error err = ERROR_INIT;

    (void)state;
    add_banner(&in);
    add_u8(&in, 'e');
    add_extent(&in, 'z', 0, 512);
    add_u8(&in, 'e');
    m = mem_new(in.data, in.len, 0);
    r = stream_reader_new(&m->base);
    assert_int_equal(stream_read_header(r, &h, &err), 0);
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(rec.type, STREAM_RECORD_END);
    assert_int_equal(stream_reader_offset(r), STREAM_BANNER_LEN + 1);

    assert_int_equal(stream_read_record(r, &rec, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_non_null(strstr(err.msg, "already ended"));

    err = (struct error)ERROR_INIT;
    assert_int_equal(stream_read_eof(r, &err), -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_non_null(strstr(err.msg, "after the end record"));
    stream_reader_free(r);
    transport_free(&m->base);
    buf_release(&in);
}

static void test_stream_rejects_unconsumed_data(void **state)
{
    struct buf in = BUF_INIT;
    struct mem *m;
    struct stream_reader *r;
    struct stream_header h;
    struct stream_record rec;
    struct error err = ERROR_INIT;
    char got[8];

    (void)state;
    add_banner(&in);
    add_extent(&in, 'w', 0, 4);
    buf_adds(&in, "abcd");
    add_u8(&in, 'e');
    m = mem_new(in.data, in.len, 0);
    r = stream_reader_new(&m->base);

    assert_int_equal(stream_read_record(r, &rec, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE); /* header not read yet */
    assert_int_equal(stream_read_header(r, &h, &err), 0);
    assert_int_equal(stream_read_header(r, &h, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_int_equal(stream_read_data(r, got, 1, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE); /* no 'w' record yet */

    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(stream_read_data(r, got, 1, &err), 0);
    err = (struct error)ERROR_INIT;
    assert_int_equal(stream_read_record(r, &rec, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_non_null(strstr(err.msg, "not consumed (3 bytes left)"));

    err = (struct error)ERROR_INIT;
    assert_int_equal(stream_read_data(r, got, 4, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_non_null(strstr(err.msg, "exceeds the 3 bytes left"));

    /* Misuse does not spoil the reader: finish the record and go on. */
    assert_int_equal(stream_read_data(r, got + 1, 3, &err), 0);
    assert_memory_equal(got, "abcd", 4);
    assert_int_equal(stream_read_record(r, &rec, &err), 0);
    assert_int_equal(rec.type, STREAM_RECORD_END);
    assert_int_equal(stream_read_eof(r, &err), 0);
    stream_reader_free(r);
    transport_free(&m->base);
    buf_release(&in);
}

static void test_stream_reader_is_unusable_after_bad_input(void **state)
{
    struct buf in = BUF_INIT;
    struct mem *m;
    struct stream_reader *r;
    struct stream_header h;
    struct stream_record rec;
    struct error err = ERROR_INIT;

    (void)state;
    add_banner(&in);
    add_u8(&in, 'q');
    add_u8(&in, 'e');
    m = mem_new(in.data, in.len, 0);
    r = stream_reader_new(&m->base);
    assert_int_equal(stream_read_header(r, &h, &err), -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_null(h.from_snap);
    err = (struct error)ERROR_INIT;
    assert_int_equal(stream_read_record(r, &rec, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_non_null(strstr(err.msg, "failed earlier"));
    stream_reader_free(r);
    transport_free(&m->base);
    buf_release(&in);
}

static void test_stream_passes_transport_errors_on(void **state)
{
    struct buf in = BUF_INIT;
    struct mem *m;
    struct stream_reader *r;
    struct stream_header h;
    struct error err = ERROR_INIT;

    (void)state;
    build_full_stream(&in);
    m = mem_new(in.data, in.len, 0);
    m->fail_at = 20;
    r = stream_reader_new(&m->base);
    assert_int_equal(stream_read_header(r, &h, &err), -1);
    assert_int_equal(err.kind, ERROR_IO);
    assert_int_equal(err.cause, 5);
    stream_reader_free(r);
    transport_free(&m->base);
    buf_release(&in);
}

/* The committed sample streams decode (tests/data/make-streams.py). */
static void test_stream_decodes_sample_files(void **state)
{
    static const char *const files[] = {"full.diff", "incremental.diff",
                                        "empty.diff", "large-write.diff"};

    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *path = xasprintf("%s/%s", TEST_DATA_DIR, files[i]);
        struct transport *t;
        struct stream_reader *r;
        struct stream_header h;
        struct stream_record rec;
        struct error err = ERROR_INIT;
        static unsigned char scratch[1 << 16];

        if (transport_file_open(path, 0, &t, &err) < 0)
            fail_msg("%s", err.msg);
        r = stream_reader_new(t);
        if (stream_read_header(r, &h, &err) < 0)
            fail_msg("%s: %s", files[i], err.msg);
        for (;;) {
            if (stream_read_record(r, &rec, &err) < 0)
                fail_msg("%s: %s", files[i], err.msg);
            if (rec.type == STREAM_RECORD_END)
                break;
            for (uint64_t left = rec.type == STREAM_RECORD_WRITE ? rec.len : 0;
                 left > 0;) {
                size_t n = left < sizeof(scratch) ? left : sizeof(scratch);

                if (stream_read_data(r, scratch, n, &err) < 0)
                    fail_msg("%s: %s", files[i], err.msg);
                left -= n;
            }
        }
        if (stream_read_eof(r, &err) < 0)
            fail_msg("%s: %s", files[i], err.msg);
        stream_header_release(&h);
        stream_reader_free(r);
        transport_free(t);
        free(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_encoder_is_byte_exact),
        cmocka_unit_test(
            test_stream_encoder_writes_only_present_header_records),
        cmocka_unit_test(test_stream_encoder_rejects_bad_names),
        cmocka_unit_test(test_stream_roundtrip_every_record_type),
        cmocka_unit_test(test_stream_roundtrip_records_in_order),
        cmocka_unit_test(test_stream_roundtrip_header_variants),
        cmocka_unit_test(test_stream_roundtrip_with_one_byte_reads),
        cmocka_unit_test(test_stream_roundtrip_large_data_in_odd_chunks),
        cmocka_unit_test(
            test_stream_reads_large_data_straight_into_caller_buffer),
        cmocka_unit_test(test_stream_rejects_bad_banner),
        cmocka_unit_test(test_stream_rejects_v2_banner_by_name),
        cmocka_unit_test(test_stream_rejects_unknown_tag),
        cmocka_unit_test(test_stream_truncated_at_every_byte_fails_cleanly),
        cmocka_unit_test(test_stream_rejects_oversized_snap_name),
        cmocka_unit_test(test_stream_rejects_nul_or_empty_snap_name),
        cmocka_unit_test(test_stream_rejects_duplicate_header_record),
        cmocka_unit_test(test_stream_accepts_header_records_in_any_order),
        cmocka_unit_test(test_stream_rejects_header_record_after_data),
        cmocka_unit_test(test_stream_rejects_extent_beyond_size),
        cmocka_unit_test(test_stream_rejects_offset_overflow),
        cmocka_unit_test(test_stream_rejects_records_after_end),
        cmocka_unit_test(test_stream_rejects_unconsumed_data),
        cmocka_unit_test(test_stream_reader_is_unusable_after_bad_input),
        cmocka_unit_test(test_stream_passes_transport_errors_on),
        cmocka_unit_test(test_stream_decodes_sample_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
