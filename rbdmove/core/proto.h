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
 * descriptor (SCM_RIGHTS), "-" names the head, "unlock". */
#define RECEIVER_PROTOCOL_VERSION 2

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

/* The value of "key=value" among tok (borrowed), or NULL. */
const char *proto_get(const struct proto_tokens *tok, const char *key);
/* Parse "key=N"; ERROR_PROTOCOL when missing or malformed. */
int proto_get_u64(const struct proto_tokens *tok, const char *key,
                  uint64_t *out, struct error *err) MUST_CHECK;

#endif
