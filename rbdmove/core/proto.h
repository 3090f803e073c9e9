/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/proto.h: the control protocol between rbdmove and its receiver.
 *
 * One request per line, one answer per line (some answers are followed by
 * a counted block of lines). A line is space-separated tokens, each
 * percent-encoded (strutil.h), so names and messages never need quoting
 * and never break a line. Answers start with "ok" or with
 * "err KIND CAUSE MESSAGE", which the client turns back into the same
 * struct error the receiver had. Lines are at most PROTO_LINE_MAX bytes.
 */
#ifndef RBDMOVE_PROTO_H
#define RBDMOVE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/error.h"

struct transport;

#define PROTO_LINE_MAX (1u << 20)
/* What "hello" answers; both ends must match. 2: data streams pass their
 * descriptor (SCM_RIGHTS), "-" names the head, "unlock". 3: "streams N
 * LEVEL" opens the data sessions once, every transfer reuses them. 4:
 * "commit", the end of a round in one request. 5: "rollback SNAP" (a
 * failback's --discard-primary-changes over SSH). 6: "&& REQUEST" (only if
 * the request before succeeded), and streams may be sent before apply's
 * ok (a failed apply closes them). 7: `receive --greet STREAMS,LEVEL`
 * answers "hello" and "streams" unasked, before its cluster connect. */
#define RECEIVER_PROTOCOL_VERSION 7

/* A buffered line reader over a transport (kept as a reference). */
struct proto_reader {
    struct transport *t;
    char *buf;
    size_t pos, len;
};

void proto_reader_init(struct proto_reader *r, struct transport *t);
void proto_reader_release(struct proto_reader *r);

/*
 * Read one line (without its newline) into line. Returns 1 on a line, 0 at
 * a clean end of stream before any byte of a line, -1 on error (a line too
 * long, a stream cut mid-line).
 */
int proto_read_line(struct proto_reader *r, struct buf *line,
                    struct error *err);

/* Tokens of a line, decoded. */
struct proto_tokens {
    char **v;
    size_t n;
};

/* Split and decode; ERROR_PROTOCOL on a malformed token. */
int proto_split(const char *line, struct proto_tokens *out,
                struct error *err) MUST_CHECK;
void proto_tokens_release(struct proto_tokens *t);

/* Append " TOKEN" (encoded; no leading space for the first). */
void proto_add(struct buf *line, const char *token);
void proto_add_u64(struct buf *line, uint64_t v);

/* Write line and a newline, and flush. */
int proto_send(struct transport *t, const struct buf *line,
               struct error *err) MUST_CHECK;

/* Send "err KIND CAUSE MSG" for e. */
int proto_send_error(struct transport *t, const struct error *e,
                     struct error *err) MUST_CHECK;

/*
 * Read an answer: on "ok", fills tok with the tokens after "ok" and
 * returns 0; on "err", fills err with the receiver's error and returns -1;
 * anything else is ERROR_PROTOCOL.
 */
int proto_read_answer(struct proto_reader *r, struct proto_tokens *tok,
                      struct error *err) MUST_CHECK;

/*
 * Limits on the numbers one end accepts from the other. The peer is
 * another rbdmove, but a broken or hostile one must get ERROR_PROTOCOL,
 * never an allocation, a loop or a division of its choosing (issue 11).
 *
 * PROTO_SIZE_MAX bounds image and snapshot sizes, so that offsets and
 * block counts stay far from overflow: the images rbdmove creates have an
 * object map, which librbd keeps to 256,000,000 objects (cls_rbd's
 * MAX_OBJECT_MAP_OBJECT_COUNT), 15.3 PiB at the largest object size
 * "create" takes (order 26); 2^54 bytes is 16 PiB.
 */
#define PROTO_SIZE_MAX (UINT64_C(1) << 54)
/* Object sizes as orders, as "create" takes them (librbd: 12 to 25). */
#define PROTO_ORDER_MIN 12
#define PROTO_ORDER_MAX 26
/* Snapshots of one image. librbd sets no limit of its own (counts are
 * int); the kernel client stops at 510, so this is generous. */
#define PROTO_SNAPS_MAX 65536
/* Extents of a "dirty" answer: whole objects, ascending, so no more than
 * an object map allows (256,000,000; see PROTO_SIZE_MAX). */
#define PROTO_EXTENTS_MAX (UINT64_C(1) << 28)
/* Hash blocks: a power of two within these (verify hashes in blocks of
 * VERIFY_BLOCK, 4 MiB, a move's final check in 64 KiB). */
#define PROTO_BLOCK_MIN 4096
#define PROTO_BLOCK_MAX (64u << 20)
/* Hashes of one answer: 2 GiB of them, an image of 1 PiB in 4 MiB. */
#define PROTO_HASHES_MAX (UINT64_C(1) << 28)
/* Chunks in flight over all the data streams of one "apply": the
 * client's --window limit, which it shares out (at least 2 a stream, and
 * --streams is at most 32). Bounds the receiver's buffers to 256 chunks of
 * at most 64 MiB, what --window and --chunk-size allow a local copy. */
#define PROTO_WINDOW_MAX 256

/* The value of "key=value" among tok (borrowed), or NULL. */
const char *proto_get(const struct proto_tokens *tok, const char *key);
/* Parse "key=N"; ERROR_PROTOCOL when missing or malformed. */
int proto_get_u64(const struct proto_tokens *tok, const char *key,
                  uint64_t *out, struct error *err) MUST_CHECK;
/*
 * Parse "key=N" into *out when N is within [min, max]; ERROR_PROTOCOL
 * naming key and the value when missing, malformed or out of range. *out
 * is left alone on failure.
 */
int proto_get_u64_range(const struct proto_tokens *tok, const char *key,
                        uint64_t min, uint64_t max, uint64_t *out,
                        struct error *err) MUST_CHECK;

/*
 * Parse s, a decimal number from the peer, into *out: digits only (no
 * sign, space or '+'), no overflow, within [min, max]. Fails with
 * ERROR_PROTOCOL naming what and the value; *out is left alone then.
 */
int proto_parse_u64(const char *s, const char *what, uint64_t min, uint64_t max,
                    uint64_t *out, struct error *err) MUST_CHECK;
/* Parse a hash block size: a power of two from PROTO_BLOCK_MIN to
 * PROTO_BLOCK_MAX. Fails like proto_parse_u64. */
int proto_parse_block(const char *s, const char *what, uint64_t *out,
                      struct error *err) MUST_CHECK;
/* Parse one block hash as the receiver writes it: 16 hex digits. */
int proto_parse_hash(const char *s, uint64_t *out,
                     struct error *err) MUST_CHECK;

/*
 * Check that nblocks blocks of block bytes (not 0) are what an image of
 * size bytes divides into: the last one may be short, none is empty.
 */
int proto_check_nblocks(uint64_t size, uint64_t block, uint64_t nblocks,
                        struct error *err) MUST_CHECK;
/*
 * Check extent i, [off, off + len), of an ascending list of extents of an
 * image of size bytes: not empty, not before prev_end (the end of the one
 * before, 0 for the first) and not past size, without overflow.
 */
int proto_check_extent(uint64_t i, uint64_t off, uint64_t len,
                       uint64_t prev_end, uint64_t size,
                       struct error *err) MUST_CHECK;

#endif
