/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/stream.h: the "rbd diff v1" wire format, encode and decode.
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
 * All integers are little-endian; names carry no NUL. rbd export-diff
 * writes f, t, s in that order (f and t only when it has them, s always),
 * then w/z records in ascending offset order, then e.
 *
 * Pure: no librbd, no I/O but through a struct transport. The decoder
 * treats its input as hostile: every length is bounded, every extent is
 * checked against the declared size, and a stream without its 'e' record
 * is an error, never a silent end. It is stricter than rbd import-diff:
 * f, t and s may come in any order but each at most once and only before
 * the first w/z/e record; an unknown tag is an error (import-diff v1
 * skips the byte); names are 1..STREAM_SNAP_NAME_MAX bytes.
 *
 * Errors: ERROR_PROTOCOL for bad input (including truncation), the
 * transport's own kind for I/O failures, ERROR_STATE for calls out of
 * order (a programming error in the caller, never caused by input),
 * ERROR_USAGE for a header the encoder cannot write.
 */
#ifndef RBDMOVE_STREAM_H
#define RBDMOVE_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

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
 * that order, as rbd export-diff does) with one transport_write. Fails with
 * ERROR_USAGE for an empty name or one longer than STREAM_SNAP_NAME_MAX
 * (nothing is written then), else only as the transport fails. rbd
 * import-diff needs has_size to resize the destination; export-diff always
 * sets it.
 */
int stream_write_header(struct transport *t, const struct stream_header *h,
                        struct error *err) MUST_CHECK;
/*
 * A 'w' record: its header, then the len bytes at data, as two
 * transport_write calls (the data is not copied). off + len must not
 * overflow (ERROR_STATE). The encoder keeps no state: the caller writes
 * the header first, extents within its size, and the end record last.
 */
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
 * buffers its input (256 KiB reads), so nothing else may read t while it
 * lives, and it may have read past the 'e' record: bytes after it are lost
 * with the reader (see stream_read_eof). Aborts on OOM only.
 */
struct stream_reader *stream_reader_new(struct transport *t);
void stream_reader_free(struct stream_reader *r);

/*
 * Read the banner and the header records up to the first data record or
 * the end; call it once, first. Fills *h (release it with
 * stream_header_release); on failure *h holds nothing. Fails with
 * ERROR_PROTOCOL on a bad banner (a v2 stream is named as such), an
 * unknown tag, a repeated, empty or oversized header record, a NUL in a
 * name, or input that ends before the first data or end record.
 */
int stream_read_header(struct stream_reader *r, struct stream_header *h,
                       struct error *err) MUST_CHECK;

/*
 * Read the next record header. For WRITE, the caller must then consume
 * exactly rec->len bytes with stream_read_data before the next call.
 * Fails with ERROR_PROTOCOL on a truncated stream, an unknown tag, a
 * header record after data, an extent that overflows or lies beyond the
 * size the header declared (when it declared one). Zero-length extents are
 * passed on (the caller ignores them). Fails with ERROR_STATE, reading
 * nothing, when data of the previous WRITE record is left unread, before
 * stream_read_header, and after END. After any other failure the reader
 * is unusable: every later call fails with ERROR_STATE.
 */
int stream_read_record(struct stream_reader *r, struct stream_record *rec,
                       struct error *err) MUST_CHECK;

/*
 * Read exactly len bytes of the current WRITE record's data into buf; call
 * it as many times as suits the caller until rec->len bytes are consumed.
 * Large reads go straight from the transport into buf. len == 0 is a
 * no-op. Fails with ERROR_PROTOCOL when the input ends first, and with
 * ERROR_STATE when len exceeds what is left of the record (or there is no
 * WRITE record being read).
 */
int stream_read_data(struct stream_reader *r, void *buf, uint64_t len,
                     struct error *err) MUST_CHECK;

/*
 * After END: check that the transport has nothing more (for input that
 * carries exactly one stream, such as a file). May block reading t. Fails
 * with ERROR_PROTOCOL when data follows the 'e' record, with ERROR_STATE
 * before END.
 */
int stream_read_eof(struct stream_reader *r, struct error *err) MUST_CHECK;

/*
 * Bytes of the stream decoded so far (for progress): the position in the
 * stream, not counting input that is buffered but not yet decoded.
 */
uint64_t stream_reader_offset(const struct stream_reader *r);

#endif
