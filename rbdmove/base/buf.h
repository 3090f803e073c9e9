/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/buf.h: a growable byte buffer (git's strbuf idiom).
 *
 * Invariant: data is NUL-terminated after len bytes, so a buffer holding
 * text can be used as a C string. Embedded by the caller:
 *     struct buf b = BUF_INIT; ... buf_release(&b);
 */
#ifndef RBDMOVE_BUF_H
#define RBDMOVE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                               \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

/* Make room for at least extra more bytes. */
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void buf_reset(struct buf *b);
/* Returns the string (caller owns it) and empties the buffer. Never NULL. */
char *buf_take(struct buf *b);
/* Frees the storage; the buffer is BUF_INIT again. */
void buf_release(struct buf *b);
/* The text, "" for an empty buffer (borrowed). */
const char *buf_str(const struct buf *b);

#endif
