/* SPDX-License-Identifier: MIT */
/*
 * transport/ssh_util.c: the parts of the SSH transport that need no
 * session: the [USER@]HOST[:PORT] targets, and what rbdmove reads of the
 * user's key files and account (see ssh_int.h). Split from ssh.c, which
 * keeps the connection, authentication and channel.
 */
#include "transport/ssh_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

/* ---- targets ------------------------------------------------------------ */

static bool target_chars_ok(const char *s, const char *extra)
{
    if (!*s || *s == '-')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("._-", c) ||
              (c && strchr(extra, c))))
            return false;
    }
    return true;
}

/* An IPv6 address, with an optional %zone (link-local). */
static bool ipv6_ok(const char *host)
{
    struct in6_addr a;
    char tmp[INET6_ADDRSTRLEN + 1];
    size_t len = strcspn(host, "%");

    if (len >= sizeof(tmp) ||
        (host[len] && !target_chars_ok(host + len + 1, "")))
        return false;
    memcpy(tmp, host, len);
    tmp[len] = '\0';
    return inet_pton(AF_INET6, tmp, &a) == 1;
}

int transport_ssh_target_parse(const char *s, struct transport_ssh_target *out,
                               struct error *err)
{
    struct transport_ssh_target t = TRANSPORT_SSH_TARGET_INIT;
    const char *host = s, *port = NULL, *at = strchr(s, '@');
    const char *why = NULL;
    uint64_t p = 22;

    *out = t;
    if (at) {
        t.user = xstrndup(s, (size_t)(at - s));
        host = at + 1;
    }
    if (*host == '[') {
        const char *end = strchr(host, ']');

        if (!end)
            why = "missing ']'";
        else if (end[1] && end[1] != ':')
            why = "unexpected text after ']'";
        else {
            t.host = xstrndup(host + 1, (size_t)(end - host - 1));
            port = end[1] ? end + 2 : NULL;
        }
    } else {
        const char *colon = strchr(host, ':');

        if (colon && !strchr(colon + 1, ':')) {
            t.host = xstrndup(host, (size_t)(colon - host));
            port = colon + 1;
        } else {
            t.host = xstrdup(host); /* a name, or a bare IPv6 address */
        }
    }
    if (!why && t.user && !target_chars_ok(t.user, "$"))
        why = "invalid user name";
    else if (!why && (strchr(t.host, ':') ? !ipv6_ok(t.host)
                                          : !target_chars_ok(t.host, "")))
        why = "invalid host name";
    else if (!why && port && parse_uint(port, "port", 1, 65535, &p, err) < 0)
        why = "invalid port (1-65535)";
    if (why) {
        transport_ssh_target_release(&t);
        return error_set(err, ERROR_USAGE, 0, "invalid ssh target '%s': %s", s,
                         why);
    }
    t.port = (int)p;
    *out = t;
    return 0;
}

void transport_ssh_target_release(struct transport_ssh_target *t)
{
    free(t->user);
    free(t->host);
    *t = (struct transport_ssh_target)TRANSPORT_SSH_TARGET_INIT;
}

char *transport_ssh_target_format(const struct transport_ssh_target *t)
{
    bool v6 = strchr(t->host, ':') != NULL;

    return xasprintf("%s%s%s%s%s:%d", t->user ? t->user : "",
                     t->user ? "@" : "", v6 ? "[" : "", t->host, v6 ? "]" : "",
                     t->port);
}

/* ---- small helpers ------------------------------------------------------ */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decode base64 text, skipping whitespace; stops at '=' or a bad char. */
static void ssh_b64_decode(const char *s, size_t len, struct buf *out)
{
    uint32_t v = 0;
    int bits = 0;

    for (size_t i = 0; i < len && s[i] != '='; i++) {
        const char *c = strchr(b64chars, s[i]);

        if (s[i] == '\n' || s[i] == '\r' || s[i] == ' ' || s[i] == '\t')
            continue;
        if (!c || !s[i])
            break;
        v = v << 6 | (uint32_t)(c - b64chars);
        bits += 6;
        if (bits >= 8) {
            char b = (char)(v >> (bits - 8));

            buf_add(out, &b, 1);
            bits -= 8;
        }
    }
}

/* SSH wire string at *p (length-prefixed); false when it overruns. */
static bool ssh_wire_string(const unsigned char **p, const unsigned char *end,
                            const unsigned char **s, uint32_t *len)
{
    if (end - *p < 4)
        return false;
    *len = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 |
           (uint32_t)(*p)[2] << 8 | (*p)[3];
    if ((uint32_t)(end - *p - 4) < *len)
        return false;
    *s = *p + 4;
    *p += 4 + *len;
    return true;
}

/* The key type named at the start of a public key blob, into out. */
void ssh_blob_key_type(const unsigned char *blob, size_t len, char *out,
                       size_t outlen)
{
    const unsigned char *s;
    uint32_t n;

    snprintf(out, outlen, "unknown");
    if (ssh_wire_string(&blob, blob + len, &s, &n))
        snprintf(out, outlen, "%.*s", (int)n, (const char *)s);
}

/* Read at most 64 KiB of a file; the caller wipes and frees it. */
static char *ssh_slurp(const char *path, size_t *len)
{
    char *data = xmalloc(65536);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, data, 65535);

    if (fd >= 0)
        close(fd);
    if (n < 0) {
        free(data);
        return NULL;
    }
    data[n] = '\0';
    *len = (size_t)n;
    return data;
}

/*
 * The type of a private key and whether it is encrypted, from the key file
 * itself (the public part of an OpenSSH key is stored in clear) or its .pub
 * file. Only used to explain failures, so unknown is fine.
 */
void ssh_key_file_info(const char *path, struct key_info *ki)
{
    static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
    struct buf blob = BUF_INIT;
    size_t len = 0;
    char *data = ssh_slurp(path, &len), *b, *e;

    snprintf(ki->type, sizeof(ki->type), "unknown");
    ki->encrypted = false;
    if (!data)
        return;
    if (strstr(data, "BEGIN RSA PRIVATE KEY"))
        snprintf(ki->type, sizeof(ki->type), "ssh-rsa");
    else if (strstr(data, "BEGIN EC PRIVATE KEY"))
        snprintf(ki->type, sizeof(ki->type), "ecdsa");
    if (strstr(data, "ENCRYPTED"))
        ki->encrypted = true;
    b = strstr(data, begin);
    e = b ? strstr(b, "-----END") : NULL;
    if (b && e) {
        const unsigned char *p, *end, *s, *pub;
        uint32_t n, publen;

        b += sizeof(begin) - 1;
        ssh_b64_decode(b, (size_t)(e - b), &blob);
        p = (const unsigned char *)blob.data;
        end = p + blob.len;
        /* "openssh-key-v1\0", cipher, kdf, kdf options, count, public key */
        if (blob.len > 15 && !memcmp(p, "openssh-key-v1", 15)) {
            bool ok;

            p += 15;
            ok = ssh_wire_string(&p, end, &s, &n); /* cipher */
            if (ok)
                ki->encrypted = !(n == 4 && !memcmp(s, "none", 4));
            ok = ok && ssh_wire_string(&p, end, &s, &n) && /* kdf */
                 ssh_wire_string(&p, end, &s, &n) &&       /* kdf options */
                 end - p >= 4;
            if (ok) {
                p += 4; /* number of keys */
                if (ssh_wire_string(&p, end, &pub, &publen))
                    ssh_blob_key_type(pub, publen, ki->type, sizeof(ki->type));
            }
        }
        explicit_bzero(blob.data, blob.len);
        buf_release(&blob);
    }
    explicit_bzero(data, len);
    free(data);
}

bool ssh_file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* $HOME, else the password database; caller owns the result. */
char *ssh_home_dir(void)
{
    const char *home = getenv("HOME");
    struct passwd pw, *res = NULL;
    char tmp[4096];

    if (home && *home)
        return xstrdup(home);
    if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res)
        return xstrdup(res->pw_dir);
    return xstrdup("/");
}

char *ssh_local_user(void)
{
    struct passwd pw, *res = NULL;
    char tmp[4096];

    if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res)
        return xstrdup(res->pw_name);
    return xstrdup(getenv("USER") ? getenv("USER") : "root");
}
