/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/error.h: the one error type used by every layer.
 *
 * A function that can fail returns 0 on success and -1 on failure, and takes
 * "struct error *err" as its last argument. On failure it fills *err; on
 * success it leaves *err alone, so calls can be chained. err is never NULL.
 * This file includes no third-party header.
 */
#ifndef RBDMOVE_ERROR_H
#define RBDMOVE_ERROR_H

#include <stdbool.h>

#define MUST_CHECK __attribute__((warn_unused_result))

enum error_kind {
    ERROR_NONE = 0,
    ERROR_USAGE,    /* bad option, argument or config; exit status 2 */
    ERROR_CEPH,     /* librados/librbd; cause = positive errno */
    ERROR_SSH,      /* libssh2; cause = LIBSSH2_ERROR_* */
    ERROR_HTTP,     /* libcurl could not complete a request; cause = CURLcode */
    ERROR_API,      /* an OpenStack service refused; cause = HTTP status */
    ERROR_PROTOCOL, /* the peer sent a stream we do not understand */
    ERROR_IO,       /* local system call; cause = errno */
    ERROR_STATE,    /* volume/image not in the state we need */
    ERROR_MISMATCH, /* verification found a difference */
    ERROR_INTERRUPTED, /* stopped by a signal; resumable; exit status 3 */
    ERROR_BUSY,        /* another run holds the lock; exit status 4 */
};

#define ERROR_MSG_MAX 1024

struct error {
    enum error_kind kind;
    int cause;
    char msg[ERROR_MSG_MAX];
};

#define ERROR_INIT                                                             \
    {                                                                          \
        ERROR_NONE, 0, ""                                                      \
    }

/*
 * Fill *err and return -1. For ERROR_CEPH and ERROR_IO, ": strerror(cause)"
 * is appended; other kinds pass the library's own text in fmt.
 */
int error_set(struct error *err, enum error_kind kind, int cause,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prepend "context: " to the message of an error already set; returns -1. */
int error_prefix(struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append text (no separator) to the message of an error already set,
 * cut at ERROR_MSG_MAX; returns -1. */
int error_suffix(struct error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reset *err to ERROR_NONE. */
void error_clear(struct error *err);

/* A short name of the kind ("ceph", "ssh", ...), for -v output and JSON. */
const char *error_kind_name(enum error_kind kind);

/* Abort with a message: for broken invariants only, never for input. */
#define BUG(...) error_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void error_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
