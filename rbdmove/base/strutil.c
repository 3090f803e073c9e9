/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/strutil.c: sizes, numbers, quoting, clocks.
 */
#include "rbdmove/base/strutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rbdmove/base/xalloc.h"

static int suffix_shift(const char *end, unsigned *shift)
{
    static const char units[] = "KMGTPE";
    const char *u;

    if (*end == '\0' || !strcmp(end, "B")) {
        *shift = 0;
        return 0;
    }
    u = strchr(units, toupper((unsigned char)end[0]));
    if (!u)
        return -1;
    *shift = 10 * (unsigned)(u - units + 1);
    end++;
    if (*end == '\0' || !strcmp(end, "B") || !strcmp(end, "iB"))
        return 0;
    return -1;
}

int parse_size(const char *s, const char *what, uint64_t *out,
               struct error *err)
{
    char *end = NULL;
    unsigned shift;
    double v;

    if (!s || !*s || !isdigit((unsigned char)s[0]))
        goto bad;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || suffix_shift(end, &shift) < 0)
        goto bad;
    v = ldexp(v, (int)shift);
    if (!(v >= 0) || v >= 18446744073709551616.0)
        goto bad;
    *out = (uint64_t)v;
    return 0;
bad:
    return error_set(err, ERROR_USAGE, 0,
                     "invalid %s '%s' (expected bytes, or a number with "
                     "K, M, G or T)",
                     what, s ? s : "");
}

int parse_uint(const char *s, const char *what, uint64_t min, uint64_t max,
               uint64_t *out, struct error *err)
{
    char *end = NULL;
    unsigned long long v;

    if (!s || !isdigit((unsigned char)s[0]))
        goto bad;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    return error_set(err, ERROR_USAGE, 0,
                     "invalid %s '%s' (expected a whole number from %llu to "
                     "%llu)",
                     what, s ? s : "", (unsigned long long)min,
                     (unsigned long long)max);
}

int parse_seconds(const char *s, const char *what, double *out,
                  struct error *err)
{
    char *end = NULL;
    double v;

    if (!s || !*s)
        goto bad;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || (*end && strcmp(end, "s")) || !(v >= 0) || v > 1e9)
        goto bad;
    *out = v;
    return 0;
bad:
    return error_set(err, ERROR_USAGE, 0, "invalid %s '%s' (expected seconds)",
                     what, s ? s : "");
}

const char *format_bytes(uint64_t n, char *out, size_t outlen)
{
    static const char *const units[] = {"B",   "KiB", "MiB", "GiB",
                                        "TiB", "PiB", "EiB"};
    double v = (double)n;
    unsigned i = 0;

    while (v >= 1024 && i < 6) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(out, outlen, "%llu B", (unsigned long long)n);
    else
        snprintf(out, outlen, "%.1f %s", v, units[i]);
    return out;
}

void buf_add_shell_quoted(struct buf *b, const char *s)
{
    buf_adds(b, "'");
    for (; *s; s++) {
        if (*s == '\'')
            buf_adds(b, "'\\''");
        else
            buf_add(b, s, 1);
    }
    buf_adds(b, "'");
}

bool name_is_safe(const char *s)
{
    size_t n = 0;

    if (!s || !*s || s[0] == '-' || s[0] == '.')
        return false;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];

        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return n <= 255;
}

bool name_problem(const char *s, struct buf *b)
{
    size_t n;

    buf_reset(b);
    if (!s || !*s) {
        buf_adds(b, "is empty");
        return true;
    }
    if (s[0] == '-' || s[0] == '.') {
        buf_addf(b, "may not begin with '%c'", s[0]);
        return true;
    }
    for (n = 0; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];

        if (isalnum(c) || c == '.' || c == '_' || c == '-')
            continue;
        if (isprint(c))
            buf_addf(b, "contains '%c'", c);
        else
            buf_addf(b, "contains the byte 0x%02x", c);
        buf_adds(b, " (only letters, digits, '.', '_' and '-' are allowed)");
        return true;
    }
    if (n > 255) {
        buf_addf(b, "is %zu characters long (at most 255)", n);
        return true;
    }
    return false;
}

void buf_add_pct(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    if (!*s) {
        buf_adds(b, "%");
        return;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '.' || c == '_' || c == '-') {
            buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            buf_add(b, e, 3);
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

char *pct_decode(const char *s)
{
    struct buf b = BUF_INIT;

    if (!strcmp(s, "%"))
        return xstrdup("");
    while (*s) {
        if (*s == '%') {
            int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
            char c;

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                buf_release(&b);
                return NULL;
            }
            c = (char)(hi << 4 | lo);
            buf_add(&b, &c, 1);
            s += 3;
        } else {
            buf_add(&b, s, 1);
            s++;
        }
    }
    return buf_take(&b);
}

double time_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double time_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool mem_is_zero(const void *p, size_t len)
{
    const unsigned char *c = p;

    /* Check the first bytes one by one, then let memcmp compare the
     * buffer with itself shifted: it runs at memory speed. */
    for (size_t i = 0; i < len && i < 16; i++) {
        if (c[i])
            return false;
    }
    if (len <= 16)
        return true;
    return memcmp(c, c + 16, len - 16) == 0;
}

const char *url_redact(const char *url, char *out, size_t outlen)
{
    const char *host = url ? strstr(url, "://") : NULL;
    const char *at, *end;

    if (!url) {
        snprintf(out, outlen, "(none)");
        return out;
    }
    if (!host) {
        snprintf(out, outlen, "%s", url);
        return out;
    }
    host += 3;
    end = host + strcspn(host, "/?#");
    at = memchr(host, '@', (size_t)(end - host));
    /* The last '@' before the path ends the user information. */
    while (at) {
        const char *next = memchr(at + 1, '@', (size_t)(end - at - 1));

        if (!next)
            break;
        at = next;
    }
    if (!at)
        snprintf(out, outlen, "%s", url);
    else
        snprintf(out, outlen, "%.*s***%s", (int)(host - url), url, at);
    return out;
}

/* The length of the valid UTF-8 sequence at p (at most n bytes), 0 if
 * none: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    unsigned cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

void buf_add_escaped(struct buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_len(p + i, len - i);

        if (n == 0 ||
            (n == 1 && ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f))) {
            buf_addf(b, "\\x%02x", p[i]);
            i++;
            continue;
        }
        buf_add(b, (const char *)p + i, n);
        i += n;
    }
}

int file_replace(const char *path, const char *tmp, const void *data,
                 size_t len, unsigned mode, struct error *err)
{
    const char *slash = strrchr(path, '/');
    size_t off = 0;
    char *dir;
    int fd, dfd;

    if (unlink(tmp) < 0 && errno != ENOENT)
        return error_set(err, ERROR_IO, errno, "cannot replace '%s'", tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              (mode_t)mode);
    if (fd < 0)
        return error_set(err, ERROR_IO, errno, "cannot write '%s'", tmp);
    while (off < len) {
        ssize_t n = write(fd, (const char *)data + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    if (fchmod(fd, (mode_t)mode) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    if (rename(tmp, path) < 0) {
        error_set(err, ERROR_IO, errno, "cannot rename '%s' to '%s'", tmp,
                  path);
        unlink(tmp);
        return -1;
    }
    dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
                : xstrdup(".");
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(dir);
    return 0;
fail:
    error_set(err, ERROR_IO, errno ? errno : EIO, "cannot write '%s'", tmp);
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}
