/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/strutil.h: small pure helpers shared by every layer: sizes,
 * numbers, shell quoting, clocks.
 */
#ifndef RBDMOVE_STRUTIL_H
#define RBDMOVE_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/error.h"

/*
 * Parse "4096", "64K", "64KiB", "1.5G", "10M" (binary multiples) into bytes.
 * Returns -1 with ERROR_USAGE naming what on a malformed or overflowing
 * value.
 */
int parse_size(const char *s, const char *what, uint64_t *out,
               struct error *err) MUST_CHECK;

/* Parse a decimal unsigned integer within [min, max]. */
int parse_uint(const char *s, const char *what, uint64_t min, uint64_t max,
               uint64_t *out, struct error *err) MUST_CHECK;

/* Parse seconds, "2.5" or "30". */
int parse_seconds(const char *s, const char *what, double *out,
                  struct error *err) MUST_CHECK;

/* Append len bytes of s to b for a terminal: control characters (but
 * tab), DEL and bytes that are not UTF-8 become \xNN, so that text from a
 * peer (a receiver's error, an API's fault message, a name) can neither
 * move the cursor, nor clear the screen, nor fake a line of its own. */
void buf_add_escaped(struct buf *b, const char *s, size_t len);

/* url as it may be shown: a user and password in it (scheme://user:pw@host)
 * become "***@". Returns out (at least 1 byte), cut to outlen. */
const char *url_redact(const char *url, char *out, size_t outlen);

/* "1.5 GiB" into out (at least 16 bytes). Returns out. */
const char *format_bytes(uint64_t n, char *out, size_t outlen);

/* Append s to b quoted for a POSIX shell: 'it'\''s'. */
void buf_add_shell_quoted(struct buf *b, const char *s);

/*
 * True when s is a safe pool, image, snapshot or cluster user name: 1 to
 * 255 characters from [A-Za-z0-9._-], not starting with '-' or '.'.
 * Names that reach a remote command line are checked with this first, then
 * quoted anyway.
 */
bool name_is_safe(const char *s);

/*
 * Why s is not name_is_safe(), in words that fit after "the pool name":
 * "is empty", "may not begin with '-'", "contains ' ' (only letters,
 * digits, '.', '_' and '-' are allowed)", ...; written into b (cleared
 * first). Returns false when s is a safe name and b is left empty.
 */
bool name_problem(const char *s, struct buf *b);

/*
 * Percent-encoding for tokens of rbdmove's control protocol: every byte
 * outside [A-Za-z0-9._-] becomes %XX, so a token never holds a space, a
 * newline or a shell metacharacter. An empty string is "%" alone.
 */
void buf_add_pct(struct buf *b, const char *s);
/* Decode; NULL on malformed input. Caller owns the result. */
char *pct_decode(const char *s);

/* Seconds on the monotonic clock. */
double time_now(void);
/* Seconds since the epoch (wall clock), for records meant for people. */
double time_wall(void);

/*
 * Replace path with len bytes of data, never half of them: write tmp anew
 * (one a crash left is removed; O_EXCL and O_NOFOLLOW: never a file
 * planted there), with mode whatever the umask, fsync it, rename it over
 * path, fsync the directory. ERROR_IO; on failure path is as it was.
 */
int file_replace(const char *path, const char *tmp, const void *data,
                 size_t len, unsigned mode, struct error *err) MUST_CHECK;

/* True when the len bytes at p are all zero. */
bool mem_is_zero(const void *p, size_t len);

#endif
