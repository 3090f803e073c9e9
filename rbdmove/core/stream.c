/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/stream.c: the "rbd diff v1" codec (see stream.h for the format).
 *
 * Owns the byte layout of the stream and the rules a received stream must
 * follow; knows nothing about images, clusters or where the bytes go. All
 * I/O goes through a struct transport. The encoder is stateless and writes
 * each record with as few transport_write calls as possible (the local
 * transport gathers them); the decoder buffers its input itself, because
 * the transports deliver whatever the pipe or channel has, and a record
 * header may straddle two reads.
 *
 * Compatibility notes, from Ceph's src/tools/rbd/action/Export.cc and
 * Import.cc (format 1):
 *  - export-diff writes the banner, 'f' (if a from-snap was given), 't'
 *    (if the export was of a snapshot), 's' (always), then 'w'/'z' records
 *    in ascending order, then 'e'. Strings are a le32 length and the bytes,
 *    without a NUL.
 *  - import-diff rejects a name longer than 4096 bytes, accepts header
 *    records in any order and any number of times (each 's' resizes), and
 *    in v1 silently skips a byte it does not know as a tag. We are stricter
 *    where rbd would act on garbage: an unknown tag, a repeated header
 *    record or a header record after data is an error here.
 *  - import-diff stops at 'e' and ignores whatever follows; we do the same
 *    unless the caller asks with stream_read_eof().
 */
#include "rbdmove/core/stream.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/xalloc.h"
#include "transport/transport.h"

/* Input buffer. Reads at least this large go straight into the caller's
 * buffer once the internal one is drained, so bulk data is copied once. */
#define RBUF_SIZE (256u << 10)
#define DIRECT_MIN RBUF_SIZE
/* Largest single direct read (transport_read returns ssize_t). */
#define DIRECT_MAX (1u << 30)

/* Sizes of the fixed parts of the records, tag included. */
#define NAME_HDR_LEN 5    /* tag, le32 length */
#define SIZE_REC_LEN 9    /* tag, le64 size */
#define EXTENT_HDR_LEN 17 /* tag, le64 offset, le64 length */

_Static_assert(sizeof(STREAM_BANNER_V1) - 1 == STREAM_BANNER_LEN,
               "banner length");
_Static_assert(NAME_HDR_LEN + STREAM_SNAP_NAME_MAX <= RBUF_SIZE,
               "a whole name record must fit in the input buffer");

static const char banner_v2[] = "rbd diff v2\n";
_Static_assert(sizeof(banner_v2) - 1 == STREAM_BANNER_LEN, "v2 banner");

enum reader_state {
    READER_BANNER,  /* nothing read yet */
    READER_RECORDS, /* at a record boundary after the header */
    READER_DATA,    /* inside the data of a 'w' record */
    READER_ENDED,   /* 'e' was read */
    READER_FAILED,  /* bad input or a transport error: position unknown */
};

struct stream_reader {
    struct transport *t;
    unsigned char *buf;
    size_t pos; /* unread input is buf[pos, len) */
    size_t len;
    uint64_t received; /* bytes taken from the transport */
    enum reader_state state;
    uint64_t data_left; /* unread data bytes of the current 'w' record */
    bool has_size;      /* copied from the header, for extent checks */
    uint64_t size;
};

/* ---- little-endian helpers ------------------------------------------- */

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- encoder ---------------------------------------------------------- */

void stream_header_release(struct stream_header *h)
{
    if (!h)
        return;
    free(h->from_snap);
    free(h->to_snap);
    memset(h, 0, sizeof(*h));
}

static int add_name(struct buf *b, char tag, const char *name,
                    struct error *err)
{
    size_t len = strlen(name);
    unsigned char hdr[NAME_HDR_LEN];

    if (len == 0)
        return error_set(err, ERROR_USAGE, 0,
                         "empty snapshot name in the '%c' record", tag);
    if (len > STREAM_SNAP_NAME_MAX)
        return error_set(err, ERROR_USAGE, 0,
                         "snapshot name of %zu bytes is longer than the "
                         "%d that rbd import-diff accepts",
                         len, STREAM_SNAP_NAME_MAX);
    hdr[0] = (unsigned char)tag;
    put_le32(hdr + 1, (uint32_t)len);
    buf_add(b, hdr, sizeof(hdr));
    buf_add(b, name, len);
    return 0;
}

int stream_write_header(struct transport *t, const struct stream_header *h,
                        struct error *err)
{
    struct buf b = BUF_INIT;
    int ret = -1;

    buf_add(&b, STREAM_BANNER_V1, STREAM_BANNER_LEN);
    if (h->from_snap &&
        add_name(&b, STREAM_RECORD_FROM_SNAP, h->from_snap, err) < 0)
        goto out;
    if (h->to_snap && add_name(&b, STREAM_RECORD_TO_SNAP, h->to_snap, err) < 0)
        goto out;
    if (h->has_size) {
        unsigned char rec[SIZE_REC_LEN];

        rec[0] = STREAM_RECORD_SIZE;
        put_le64(rec + 1, h->size);
        buf_add(&b, rec, sizeof(rec));
    }
    ret = transport_write(t, b.data, b.len, err);
out:
    buf_release(&b);
    return ret;
}

static int write_extent_header(struct transport *t, char tag, uint64_t off,
                               uint64_t len, struct error *err)
{
    unsigned char hdr[EXTENT_HDR_LEN];

    if (len > UINT64_MAX - off)
        return error_set(err, ERROR_STATE, 0,
                         "extent %" PRIu64 "~%" PRIu64 " overflows", off, len);
    hdr[0] = (unsigned char)tag;
    put_le64(hdr + 1, off);
    put_le64(hdr + 9, len);
    return transport_write(t, hdr, sizeof(hdr), err);
}

int stream_write_data(struct transport *t, uint64_t off, uint64_t len,
                      const void *data, struct error *err)
{
    if ((uint64_t)(size_t)len != len)
        return error_set(err, ERROR_STATE, 0,
                         "extent of %" PRIu64 " bytes is too large", len);
    if (write_extent_header(t, STREAM_RECORD_WRITE, off, len, err) < 0)
        return -1;
    if (len == 0)
        return 0;
    return transport_write(t, data, (size_t)len, err);
}

int stream_write_zero(struct transport *t, uint64_t off, uint64_t len,
                      struct error *err)
{
    return write_extent_header(t, STREAM_RECORD_ZERO, off, len, err);
}

int stream_write_end(struct transport *t, struct error *err)
{
    unsigned char tag = STREAM_RECORD_END;

    return transport_write(t, &tag, 1, err);
}

/* ---- decoder: input buffering ----------------------------------------- */

struct stream_reader *stream_reader_new(struct transport *t)
{
    struct stream_reader *r = xcalloc(1, sizeof(*r));

    r->t = t;
    r->buf = xmalloc(RBUF_SIZE);
    r->state = READER_BANNER;
    return r;
}

void stream_reader_free(struct stream_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

uint64_t stream_reader_offset(const struct stream_reader *r)
{
    return r->received - (r->len - r->pos);
}

static size_t avail(const struct stream_reader *r)
{
    return r->len - r->pos;
}

/*
 * Append more input after the unread bytes, moving them to the front first.
 * Returns the number of bytes added, 0 at end of input, -1 on a transport
 * error. Callers never ask while the buffer is full.
 */
static ssize_t refill(struct stream_reader *r, struct error *err)
{
    size_t left = avail(r);
    ssize_t n;

    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, left);
        r->pos = 0;
        r->len = left;
    }
    n = transport_read(r->t, r->buf + r->len, RBUF_SIZE - r->len, err);
    if (n > 0) {
        r->len += (size_t)n;
        r->received += (uint64_t)n;
    }
    return n;
}

static int truncated(struct stream_reader *r, const char *what,
                     struct error *err)
{
    return error_set(err, ERROR_PROTOCOL, 0,
                     "truncated rbd diff stream from %s: input ends in %s "
                     "at byte %" PRIu64,
                     transport_name(r->t), what, stream_reader_offset(r));
}

/* Make sure n (at most RBUF_SIZE) bytes are buffered; what names them for
 * the message when the input ends first. */
static int ensure(struct stream_reader *r, size_t n, const char *what,
                  struct error *err)
{
    while (avail(r) < n) {
        ssize_t got = refill(r, err);

        if (got < 0)
            return -1;
        if (got == 0)
            return truncated(r, what, err);
    }
    return 0;
}

/* Put the reader out of use after bad input or a transport error; returns
 * -1 so that it can end a failing path. */
static int fail(struct stream_reader *r)
{
    r->state = READER_FAILED;
    return -1;
}

static int bad_state(struct stream_reader *r, struct error *err)
{
    switch (r->state) {
    case READER_BANNER:
        return error_set(err, ERROR_STATE, 0,
                         "the header of the rbd diff stream from %s has "
                         "not been read",
                         transport_name(r->t));
    case READER_DATA:
        return error_set(err, ERROR_STATE, 0,
                         "data of the previous 'w' record from %s not "
                         "consumed (%" PRIu64 " bytes left)",
                         transport_name(r->t), r->data_left);
    case READER_ENDED:
        return error_set(err, ERROR_STATE, 0,
                         "the rbd diff stream from %s already ended",
                         transport_name(r->t));
    case READER_FAILED:
        return error_set(err, ERROR_STATE, 0,
                         "the rbd diff stream from %s failed earlier",
                         transport_name(r->t));
    case READER_RECORDS:
        break;
    }
    return error_set(err, ERROR_STATE, 0,
                     "the header of the rbd diff stream from %s was "
                     "already read",
                     transport_name(r->t));
}

static int protocol_error(struct stream_reader *r, struct error *err,
                          const char *what)
{
    error_set(err, ERROR_PROTOCOL, 0,
              "%s at byte %" PRIu64 " of the rbd diff stream from %s", what,
              stream_reader_offset(r), transport_name(r->t));
    return fail(r);
}

static int unknown_tag(struct stream_reader *r, unsigned char tag,
                       struct error *err)
{
    char what[64];

    if (tag >= 0x20 && tag < 0x7f)
        snprintf(what, sizeof(what), "unknown record type '%c' (0x%02x)", tag,
                 tag);
    else
        snprintf(what, sizeof(what), "unknown record type 0x%02x", tag);
    return protocol_error(r, err, what);
}

/* ---- decoder: header -------------------------------------------------- */

/*
 * Read the banner. Fewer than 12 bytes of input are "truncated" when they
 * start like a v1 banner and "not a stream" otherwise, so that an empty
 * file and a wrong file get different messages.
 */
static int read_banner(struct stream_reader *r, struct error *err)
{
    const char *name = transport_name(r->t);

    while (avail(r) < STREAM_BANNER_LEN) {
        ssize_t got = refill(r, err);

        if (got < 0)
            return fail(r);
        if (got == 0)
            break;
    }
    if (avail(r) == 0) {
        error_set(err, ERROR_PROTOCOL, 0,
                  "empty input from %s: no rbd diff stream", name);
        return fail(r);
    }
    if (avail(r) < STREAM_BANNER_LEN &&
        memcmp(r->buf + r->pos, STREAM_BANNER_V1, avail(r)) == 0) {
        truncated(r, "the banner", err);
        return fail(r);
    }
    if (avail(r) >= STREAM_BANNER_LEN &&
        memcmp(r->buf + r->pos, STREAM_BANNER_V1, STREAM_BANNER_LEN) == 0) {
        r->pos += STREAM_BANNER_LEN;
        return 0;
    }
    if (avail(r) >= STREAM_BANNER_LEN &&
        memcmp(r->buf + r->pos, banner_v2, STREAM_BANNER_LEN) == 0)
        error_set(err, ERROR_PROTOCOL, 0,
                  "%s holds an rbd diff v2 stream: v2 is not supported, "
                  "only v1 (as rbd export-diff writes it)",
                  name);
    else if (avail(r) >= 9 && memcmp(r->buf + r->pos, "rbd image", 9) == 0)
        error_set(err, ERROR_PROTOCOL, 0,
                  "%s holds an rbd export image, not an rbd diff stream", name);
    else
        error_set(err, ERROR_PROTOCOL, 0,
                  "%s is not an rbd diff stream (bad banner)", name);
    return fail(r);
}

/* An 'f' or 't' record: le32 length, then that many bytes, no NUL. */
static int read_name(struct stream_reader *r, char **out, struct error *err)
{
    unsigned char tag = r->buf[r->pos];
    char what[96];
    uint32_t len;
    const char *p;

    if (*out) {
        snprintf(what, sizeof(what), "repeated '%c' record", tag);
        return protocol_error(r, err, what);
    }
    if (ensure(r, NAME_HDR_LEN, "a snapshot name record", err) < 0)
        return fail(r);
    len = get_le32(r->buf + r->pos + 1);
    if (len == 0) {
        snprintf(what, sizeof(what), "empty snapshot name in '%c' record", tag);
        return protocol_error(r, err, what);
    }
    if (len > STREAM_SNAP_NAME_MAX) {
        snprintf(what, sizeof(what),
                 "snapshot name of %" PRIu32 " bytes (limit %d) in '%c' record",
                 len, STREAM_SNAP_NAME_MAX, tag);
        return protocol_error(r, err, what);
    }
    if (ensure(r, NAME_HDR_LEN + (size_t)len, "a snapshot name", err) < 0)
        return fail(r);
    p = (const char *)r->buf + r->pos + NAME_HDR_LEN;
    if (memchr(p, '\0', len)) {
        snprintf(what, sizeof(what),
                 "NUL byte in the snapshot name of '%c' "
                 "record",
                 tag);
        return protocol_error(r, err, what);
    }
    *out = xstrndup(p, len);
    r->pos += NAME_HDR_LEN + (size_t)len;
    return 0;
}

static int read_size(struct stream_reader *r, struct stream_header *h,
                     struct error *err)
{
    if (h->has_size)
        return protocol_error(r, err, "repeated 's' record");
    if (ensure(r, SIZE_REC_LEN, "an 's' record", err) < 0)
        return fail(r);
    h->size = get_le64(r->buf + r->pos + 1);
    h->has_size = true;
    r->pos += SIZE_REC_LEN;
    return 0;
}

/* Header records until the first data or end record, which stays unread. */
static int read_header_records(struct stream_reader *r, struct stream_header *h,
                               struct error *err)
{
    for (;;) {
        unsigned char tag;
        int rc;

        if (ensure(r, 1, "the header", err) < 0)
            return fail(r);
        tag = r->buf[r->pos];
        switch (tag) {
        case STREAM_RECORD_FROM_SNAP:
            rc = read_name(r, &h->from_snap, err);
            break;
        case STREAM_RECORD_TO_SNAP:
            rc = read_name(r, &h->to_snap, err);
            break;
        case STREAM_RECORD_SIZE:
            rc = read_size(r, h, err);
            break;
        case STREAM_RECORD_WRITE:
        case STREAM_RECORD_ZERO:
        case STREAM_RECORD_END:
            return 0;
        default:
            return unknown_tag(r, tag, err);
        }
        if (rc < 0)
            return -1;
    }
}

int stream_read_header(struct stream_reader *r, struct stream_header *h,
                       struct error *err)
{
    memset(h, 0, sizeof(*h));
    if (r->state != READER_BANNER)
        return bad_state(r, err);
    if (read_banner(r, err) < 0 || read_header_records(r, h, err) < 0) {
        stream_header_release(h);
        return -1;
    }
    r->has_size = h->has_size;
    r->size = h->size;
    r->state = READER_RECORDS;
    return 0;
}

/* ---- decoder: records ------------------------------------------------- */

static int read_extent(struct stream_reader *r, struct stream_record *rec,
                       struct error *err)
{
    const unsigned char *p;
    char what[128];

    if (ensure(r, EXTENT_HDR_LEN, "an extent record", err) < 0)
        return fail(r);
    p = r->buf + r->pos;
    rec->type = (enum stream_record_type)p[0];
    rec->off = get_le64(p + 1);
    rec->len = get_le64(p + 9);
    if (rec->len > UINT64_MAX - rec->off) {
        snprintf(what, sizeof(what), "extent %" PRIu64 "~%" PRIu64 " overflows",
                 rec->off, rec->len);
        return protocol_error(r, err, what);
    }
    if (r->has_size && rec->off + rec->len > r->size) {
        snprintf(what, sizeof(what),
                 "extent %" PRIu64 "~%" PRIu64
                 " beyond the image size %" PRIu64,
                 rec->off, rec->len, r->size);
        return protocol_error(r, err, what);
    }
    r->pos += EXTENT_HDR_LEN;
    if (rec->type == STREAM_RECORD_WRITE && rec->len > 0) {
        r->data_left = rec->len;
        r->state = READER_DATA;
    }
    return 0;
}

int stream_read_record(struct stream_reader *r, struct stream_record *rec,
                       struct error *err)
{
    unsigned char tag;
    char what[64];

    if (r->state != READER_RECORDS)
        return bad_state(r, err);
    if (ensure(r, 1, "the records (no end record)", err) < 0)
        return fail(r);
    tag = r->buf[r->pos];
    switch (tag) {
    case STREAM_RECORD_WRITE:
    case STREAM_RECORD_ZERO:
        return read_extent(r, rec, err);
    case STREAM_RECORD_END:
        r->pos++;
        rec->type = STREAM_RECORD_END;
        rec->off = 0;
        rec->len = 0;
        r->state = READER_ENDED;
        return 0;
    case STREAM_RECORD_FROM_SNAP:
    case STREAM_RECORD_TO_SNAP:
    case STREAM_RECORD_SIZE:
        snprintf(what, sizeof(what), "'%c' header record after data records",
                 tag);
        return protocol_error(r, err, what);
    default:
        return unknown_tag(r, tag, err);
    }
}

/* Read len bytes of data into p: from the buffer first, then straight from
 * the transport for large remainders, else by refilling the buffer. */
static int read_bytes(struct stream_reader *r, unsigned char *p, uint64_t len,
                      struct error *err)
{
    while (len > 0) {
        ssize_t got;

        if (avail(r) > 0) {
            size_t n = len < avail(r) ? (size_t)len : avail(r);

            memcpy(p, r->buf + r->pos, n);
            r->pos += n;
            p += n;
            len -= n;
            continue;
        }
        if (len >= DIRECT_MIN) {
            size_t want = len > DIRECT_MAX ? DIRECT_MAX : (size_t)len;

            got = transport_read(r->t, p, want, err);
            if (got > 0) {
                r->received += (uint64_t)got;
                p += got;
                len -= (uint64_t)got;
            }
        } else {
            got = refill(r, err);
        }
        if (got < 0)
            return -1;
        if (got == 0)
            return truncated(r, "the data of a 'w' record", err);
    }
    return 0;
}

int stream_read_data(struct stream_reader *r, void *buf, uint64_t len,
                     struct error *err)
{
    if (len == 0 && r->state != READER_FAILED)
        return 0;
    if (r->state != READER_DATA) {
        if (r->state == READER_FAILED)
            return bad_state(r, err);
        return error_set(err, ERROR_STATE, 0,
                         "no 'w' record data to read from %s",
                         transport_name(r->t));
    }
    if (len > r->data_left)
        return error_set(err, ERROR_STATE, 0,
                         "read of %" PRIu64 " bytes exceeds the %" PRIu64
                         " bytes left in the 'w' record from %s",
                         len, r->data_left, transport_name(r->t));
    if (read_bytes(r, buf, len, err) < 0)
        return fail(r);
    r->data_left -= len;
    if (r->data_left == 0)
        r->state = READER_RECORDS;
    return 0;
}

int stream_read_eof(struct stream_reader *r, struct error *err)
{
    ssize_t got;

    if (r->state != READER_ENDED)
        return error_set(err, ERROR_STATE, 0,
                         "the rbd diff stream from %s has not ended",
                         transport_name(r->t));
    if (avail(r) == 0) {
        got = refill(r, err);
        if (got < 0)
            return fail(r);
        if (got == 0)
            return 0;
    }
    return protocol_error(r, err, "unexpected data after the end record");
}
