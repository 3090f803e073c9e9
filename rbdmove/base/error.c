/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/error.c: filling and decorating struct error.
 *
 * Knows nothing of the libraries whose failures it carries: callers pass
 * the library's own text in the format.
 */
#include "rbdmove/base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int error_set(struct error *err, enum error_kind kind, int cause,
              const char *fmt, ...)
{
    va_list ap;
    int n;

    err->kind = kind;
    err->cause = cause;
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((kind == ERROR_CEPH || kind == ERROR_IO) && cause != 0 &&
        (size_t)n < sizeof(err->msg)) {
        char ebuf[128];
        const char *s = strerror_r(cause, ebuf, sizeof(ebuf));

        snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", s);
    }
    return -1;
}

int error_prefix(struct error *err, const char *fmt, ...)
{
    char old[ERROR_MSG_MAX];
    va_list ap;
    int n;

    memcpy(old, err->msg, sizeof(old));
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %.*s",
                 (int)(sizeof(err->msg) - (size_t)n), old);
    return -1;
}

int error_suffix(struct error *err, const char *fmt, ...)
{
    size_t n = strlen(err->msg);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof(err->msg) - n, fmt, ap);
    va_end(ap);
    return -1;
}

void error_clear(struct error *err)
{
    err->kind = ERROR_NONE;
    err->cause = 0;
    err->msg[0] = '\0';
}

const char *error_kind_name(enum error_kind kind)
{
    static const char *const names[] = {
        [ERROR_NONE] = "none",
        [ERROR_USAGE] = "usage",
        [ERROR_CEPH] = "ceph",
        [ERROR_SSH] = "ssh",
        [ERROR_HTTP] = "http",
        [ERROR_API] = "api",
        [ERROR_PROTOCOL] = "protocol",
        [ERROR_IO] = "io",
        [ERROR_STATE] = "state",
        [ERROR_MISMATCH] = "mismatch",
        [ERROR_INTERRUPTED] = "interrupted",
        [ERROR_BUSY] = "busy",
    };

    if ((unsigned)kind < sizeof(names) / sizeof(names[0]) && names[kind])
        return names[kind];
    return "unknown";
}

void error_bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "BUG: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
