/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/stream.h: the "rbd diff v1" wire format, encode and decode.
 *
 * Byte-compatible with `rbd export-diff` / `rbd import-diff` (format v1):
 *
 *   "rbd diff v1\n"
 *   'f' le32 len, name      from-snapshot (optional)
 *   't' le32 len, name      to-snapshot (optional)
 *   's' le64 size           image size at the to-snapshot
 *   'w' le64 off, le64 len, len bytes of data
 *   'z' le64 off, le64 len  the range reads as zeros
 *   'e'                     end of stream
 *
 * Pure: no librbd, no I/O but through a struct transport. The decoder
 * treats its input as hostile: every length is bounded, every extent is
 * checked against the declared size, and a stream without its 'e' record
 * is an error, never a silent end.
 */
#ifndef RBDMOVE_STREAM_H
#define RBDMOVE_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/error.h"

struct transport;

#define STREAM_BANNER_V1 "rbd diff v1\n"
#define STREAM_BANNER_LEN 12
#define STREAM_SNAP_NAME_MAX 4096

enum stream_record_type {
    STREAM_RECORD_FROM_SNAP = 'f',
    STREAM_RECORD_TO_SNAP = 't',
    STREAM_RECORD_SIZE = 's',
    STREAM_RECORD_WRITE = 'w',
    STREAM_RECORD_ZERO = 'z',
    STREAM_RECORD_END = 'e',
};

/* What precedes the first data record. Strings owned by the header. */
struct stream_header {
    char *from_snap; /* NULL when absent */
    char *to_snap;   /* NULL when absent */
    bool has_size;
    uint64_t size;
};

/* Free the strings of h and clear it. NULL-safe. */
void stream_header_release(struct stream_header *h);

/* One data record: WRITE (len data bytes follow), ZERO or END. */
struct stream_record {
    enum stream_record_type type;
    uint64_t off;
    uint64_t len;
};

/* ---- encoder ---------------------------------------------------------- */

/*
 * Write the banner and the header records present in h (from, to, size, in
 * that order, as rbd export-diff does).
 */
int stream_write_header(struct transport *t, const struct stream_header *h,
                        struct error *err) MUST_CHECK;
/* A 'w' record: its header and the len bytes at data. */
int stream_write_data(struct transport *t, uint64_t off, uint64_t len,
                      const void *data, struct error *err) MUST_CHECK;
/* A 'z' record. */
int stream_write_zero(struct transport *t, uint64_t off, uint64_t len,
                      struct error *err) MUST_CHECK;
/* The 'e' record. */
int stream_write_end(struct transport *t, struct error *err) MUST_CHECK;

/* ---- decoder ---------------------------------------------------------- */

struct stream_reader;

/*
 * A reader over t (kept as a reference; t must outlive the reader). It
 * buffers its input, so nothing else may read t while it lives.
 */
struct stream_reader *stream_reader_new(struct transport *t);
void stream_reader_free(struct stream_reader *r);

/*
 * Read the banner and the header records up to the first data record or
 * the end. Fails with ERROR_PROTOCOL on a bad banner (a v2 stream is named
 * as such), an unknown tag, a repeated or oversized header record.
 */
int stream_read_header(struct stream_reader *r, struct stream_header *h,
                       struct error *err) MUST_CHECK;

/*
 * Read the next record header. For WRITE, the caller must then consume
 * exactly rec->len bytes with stream_read_data before the next call.
 * Fails with ERROR_PROTOCOL on a truncated stream, an unknown tag, a
 * header record after data, an extent that overflows or lies beyond the
 * size the header declared (when it declared one). Zero-length extents are
 * passed on (the caller ignores them). After END, further calls fail.
 */
int stream_read_record(struct stream_reader *r, struct stream_record *rec,
                       struct error *err) MUST_CHECK;

/* Read exactly len bytes of the current WRITE record's data. */
int stream_read_data(struct stream_reader *r, void *buf, uint64_t len,
                     struct error *err) MUST_CHECK;

/* Bytes consumed from the transport so far (for progress). */
uint64_t stream_reader_offset(const struct stream_reader *r);

#endif
