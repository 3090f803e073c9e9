/* SPDX-License-Identifier: MIT */
/*
 * transport/known_hosts.c: the host key check of transport/ssh.c, against
 * an OpenSSH known_hosts file, through libssh2's knownhost API.
 *
 * Plain and hashed entries, "[host]:port" names for ports other than 22,
 * @revoked markers; lines libssh2 cannot parse are skipped rather than
 * ending the read. An unknown host is refused with its SHA256 fingerprint,
 * or appended to the file under a lock when new keys are accepted; a
 * changed key, or a key of a type the file does not record for a host it
 * knows, is always refused. It only reads the session's host key: the
 * connection and everything after the handshake are ssh.c's.
 */
#include "transport/known_hosts.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/xalloc.h"

/*
 * The session and its name for messages ("user@host:port"): what the
 * functions below need of ssh.c's connection, under the same name st.
 */
struct peer {
    LIBSSH2_SESSION *session;
    const char *where;
};

/* known_hosts is re-read and appended under this lock (accept-new). */
static pthread_mutex_t known_hosts_lock = PTHREAD_MUTEX_INITIALIZER;

/* error_set(ERROR_SSH) with libssh2's own words and the host (ssh.c's). */
static int fail(const struct peer *st, int rc, const char *what,
                struct error *err)
{
    char *msg = NULL;
    int code = libssh2_session_last_error(st->session, &msg, NULL, 0);

    return error_set(err, ERROR_SSH, rc < 0 ? rc : code, "%s %s: %s", what,
                     st->where, msg && *msg ? msg : "unknown error");
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 without padding (OpenSSH prints fingerprints that way). */
static char *b64_encode(const unsigned char *p, size_t len)
{
    char *out = xmalloc(len / 3 * 4 + 5), *o = out;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t n = len - i < 3 ? len - i : 3;

        if (n > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (n > 2)
            v |= p[i + 2];
        for (size_t k = 0; k <= n; k++)
            *o++ = b64chars[(v >> (18 - 6 * k)) & 63];
    }
    *o = '\0';
    return out;
}

static const struct key_type {
    const char *name;
    int hostkey;   /* LIBSSH2_HOSTKEY_TYPE_* */
    int knownhost; /* LIBSSH2_KNOWNHOST_KEY_* */
} key_types[] = {
    {"ssh-ed25519", LIBSSH2_HOSTKEY_TYPE_ED25519,
     LIBSSH2_KNOWNHOST_KEY_ED25519},
    {"ecdsa-sha2-nistp256", LIBSSH2_HOSTKEY_TYPE_ECDSA_256,
     LIBSSH2_KNOWNHOST_KEY_ECDSA_256},
    {"ecdsa-sha2-nistp384", LIBSSH2_HOSTKEY_TYPE_ECDSA_384,
     LIBSSH2_KNOWNHOST_KEY_ECDSA_384},
    {"ecdsa-sha2-nistp521", LIBSSH2_HOSTKEY_TYPE_ECDSA_521,
     LIBSSH2_KNOWNHOST_KEY_ECDSA_521},
    {"ssh-rsa", LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA},
};
#define N_KEY_TYPES (sizeof(key_types) / sizeof(key_types[0]))

/* One known_hosts file as libssh2 sees it, plus what it cannot say. */
struct known_hosts {
    char *path;
    LIBSSH2_KNOWNHOSTS *kh;
    struct buf text; /* the file; lines are found again in it */
    char *lookup;    /* "host", or "[host]:port" when port != 22 */
    unsigned known;  /* bit i: key_types[i] is on record for lookup */
    bool missing;    /* the file does not exist */
};

static void known_hosts_release(struct known_hosts *k)
{
    if (k->kh)
        libssh2_knownhost_free(k->kh);
    buf_release(&k->text);
    free(k->path);
    free(k->lookup);
    memset(k, 0, sizeof(*k));
}

/* Field i (0-based, blank-separated) of a line, into f and flen. */
static bool line_field(const char *line, size_t len, int i, const char **f,
                       size_t *flen)
{
    size_t p = 0;

    for (int n = 0;; n++) {
        while (p < len && (line[p] == ' ' || line[p] == '\t'))
            p++;
        if (p >= len)
            return false;
        *f = line + p;
        while (p < len && line[p] != ' ' && line[p] != '\t')
            p++;
        *flen = (size_t)(line + p - *f);
        if (n == i)
            return true;
    }
}

/*
 * Load path into libssh2 line by line: libssh2_knownhost_readfile gives up
 * at the first line it cannot parse (a key type it does not know, an
 * @cert-authority marker), we skip such lines instead.
 */
static int known_hosts_load(const struct peer *st, struct known_hosts *k,
                            struct error *err)
{
    int fd;
    struct buf one = BUF_INIT;
    char chunk[65536];
    ssize_t n;
    size_t p = 0;
    int lineno = 0;

    k->kh = libssh2_knownhost_init(st->session);
    if (!k->kh)
        return fail(st, -1, "cannot set up known hosts for", err);
    fd = open(k->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        k->missing = true;
        return 0;
    }
    if (fd < 0)
        return error_set(err, ERROR_IO, errno, "cannot open '%s'", k->path);
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        buf_add(&k->text, chunk, (size_t)n);
    }
    close(fd);
    if (n < 0)
        return error_set(err, ERROR_IO, errno, "cannot read '%s'", k->path);
    while (p < k->text.len) {
        const char *line = k->text.data + p;
        size_t len = strcspn(line, "\n");

        lineno++;
        p += len + 1;
        if (len == 0 || line[strspn(line, " \t")] == '#' || line[0] == '@')
            continue;
        /* libssh2 1.10 drops the last character of a line that does not
           end in a newline: hand it one. */
        buf_reset(&one);
        buf_add(&one, line, len);
        buf_add(&one, "\n", 1);
        if (libssh2_knownhost_readline(k->kh, one.data, one.len,
                                       LIBSSH2_KNOWNHOST_FILE_OPENSSH))
            log_debug("%s:%d: skipped (libssh2 cannot parse it)", k->path,
                      lineno);
    }
    buf_release(&one);
    return 0;
}

/*
 * The line that holds key for the host: libssh2 does not keep line
 * numbers. hashed: the entry was hashed (libssh2 gives no name then).
 */
static int known_hosts_line_of(const struct known_hosts *k, const char *key,
                               const char *name)
{
    size_t p = 0;
    int lineno = 0;

    while (p < k->text.len) {
        const char *line = k->text.data + p, *h, *f;
        size_t len = strcspn(line, "\n"), hlen, flen;

        lineno++;
        p += len + 1;
        if (line[0] == '@' || !line_field(line, len, 0, &h, &hlen) ||
            !line_field(line, len, 2, &f, &flen))
            continue;
        if (flen != strlen(key) || memcmp(f, key, flen))
            continue;
        if (!name && hlen > 3 && !memcmp(h, "|1|", 3))
            return lineno;
        for (size_t i = 0; name && i < hlen;) {
            size_t e = i + strcspn(h + i, ",");

            if (e > hlen)
                e = hlen;
            if (e - i == strlen(name) && !memcmp(h + i, name, e - i))
                return lineno;
            i = e + 1;
        }
    }
    return 0;
}

/* The line of an "@revoked" entry for key (base64), or 0. */
static int known_hosts_revoked(const struct known_hosts *k, const char *key)
{
    size_t p = 0;
    int lineno = 0;

    while (p < k->text.len) {
        const char *line = k->text.data + p, *f;
        size_t len = strcspn(line, "\n"), flen;

        lineno++;
        p += len + 1;
        if (len > 8 && !memcmp(line, "@revoked", 8) &&
            line_field(line, len, 3, &f, &flen) && flen == strlen(key) &&
            !memcmp(f, key, flen))
            return lineno;
    }
    return 0;
}

/*
 * Which key types are on record for the host: ask libssh2 with a dummy key
 * of each type, a mismatch means an entry of that type exists (this sees
 * hashed entries too).
 */
static void known_hosts_types(struct known_hosts *k)
{
    k->known = 0;
    for (size_t i = 0; i < N_KEY_TYPES; i++) {
        int r = libssh2_knownhost_checkp(k->kh, k->lookup, -1, "AAAA", 4,
                                         LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                             LIBSSH2_KNOWNHOST_KEYENC_BASE64 |
                                             key_types[i].knownhost,
                                         NULL);

        if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
            k->known |= 1u << i;
    }
}

/*
 * Offer the host key types we already know for this host first, as OpenSSH
 * does, so that a host known by its ECDSA key is not met with ed25519.
 */
static int set_hostkey_prefs(const struct peer *st, const struct known_hosts *k,
                             struct error *err)
{
    struct buf b = BUF_INIT;
    int r;

    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < N_KEY_TYPES; i++)
            if (!!(k->known & (1u << i)) == (pass == 0))
                buf_addf(&b, "%s%s", b.len ? "," : "", key_types[i].name);
    r = libssh2_session_method_pref(st->session, LIBSSH2_METHOD_HOSTKEY,
                                    b.data);
    buf_release(&b);
    if (r)
        return fail(st, r, "cannot set host key preferences for", err);
    return 0;
}

static int append_known_host(const struct peer *st, struct known_hosts *k,
                             const struct key_type *kt, const char *key,
                             size_t keylen, struct error *err)
{
    struct libssh2_knownhost *added = NULL;
    char line[16384];
    size_t linelen = 0;
    int fd, r;
    char last = '\n';
    struct stat sb;

    r = libssh2_knownhost_addc(k->kh, k->lookup, NULL, key, keylen,
                               "added by rbdmove", 16,
                               LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                   LIBSSH2_KNOWNHOST_KEYENC_RAW | kt->knownhost,
                               &added);
    if (r == 0)
        r = libssh2_knownhost_writeline(k->kh, added, line, sizeof(line),
                                        &linelen,
                                        LIBSSH2_KNOWNHOST_FILE_OPENSSH);
    if (r)
        return fail(st, r, "cannot format the known_hosts entry for", err);
    fd = open(k->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, ERROR_IO, errno, "cannot open '%s'", k->path);
    /* Do not glue our line to a last line that has no newline. */
    if (fstat(fd, &sb) == 0 && sb.st_size > 0 &&
        pread(fd, &last, 1, sb.st_size - 1) == 1 && last != '\n' &&
        write(fd, "\n", 1) != 1)
        r = -1;
    if (r == 0 && write(fd, line, linelen) != (ssize_t)linelen)
        r = -1;
    if (r < 0) {
        error_set(err, ERROR_IO, errno, "cannot write to '%s'", k->path);
        close(fd);
        return -1;
    }
    if (close(fd) < 0)
        return error_set(err, ERROR_IO, errno, "cannot write to '%s'", k->path);
    return 0;
}

/*
 * An unknown host with accept_new_host_key: re-read the file under a lock
 * (another session may just have added the host) and append the key.
 */
static int accept_new_host(const struct peer *st, struct known_hosts *k,
                           const struct key_type *kt, const char *key,
                           size_t keylen, const char *fp, struct error *err)
{
    struct known_hosts fresh = {0};
    int ret = -1, r;

    pthread_mutex_lock(&known_hosts_lock);
    fresh.path = xstrdup(k->path);
    fresh.lookup = xstrdup(k->lookup);
    if (known_hosts_load(st, &fresh, err) < 0)
        goto out;
    r = libssh2_knownhost_checkp(fresh.kh, fresh.lookup, -1, key, keylen,
                                 LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                     LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                     kt->knownhost,
                                 NULL);
    if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
        ret = 0;
        goto out;
    }
    known_hosts_types(&fresh);
    if (r != LIBSSH2_KNOWNHOST_CHECK_NOTFOUND || fresh.known) {
        error_set(err, ERROR_SSH, LIBSSH2_ERROR_KNOWN_HOSTS,
                  "host key for %s changed while connecting (%s)", st->where,
                  k->path);
        goto out;
    }
    if (append_known_host(st, &fresh, kt, key, keylen, err) < 0)
        goto out;
    log_warn("permanently added '%s' (%s %s) to '%s'", k->lookup, kt->name, fp,
             k->path);
    ret = 0;
out:
    known_hosts_release(&fresh);
    pthread_mutex_unlock(&known_hosts_lock);
    return ret;
}

static void known_types_text(const struct known_hosts *k, struct buf *b)
{
    for (size_t i = 0; i < N_KEY_TYPES; i++)
        if (k->known & (1u << i))
            buf_addf(b, "%s%s", b->len ? ", " : "", key_types[i].name);
}

/* Check the key the server showed against k (loaded before handshake). */
static int verify_host_key(const struct peer *st, struct known_hosts *k,
                           bool accept_new, struct error *err)
{
    size_t keylen = 0;
    int type = 0, r, line, ret = -1;
    const char *key = libssh2_session_hostkey(st->session, &keylen, &type);
    const unsigned char *hash = (const unsigned char *)libssh2_hostkey_hash(
        st->session, LIBSSH2_HOSTKEY_HASH_SHA256);
    const struct key_type *kt = NULL;
    struct libssh2_knownhost *found = NULL;
    struct buf types = BUF_INIT;
    char *fp = NULL, *b64 = NULL;

    for (size_t i = 0; i < N_KEY_TYPES; i++)
        if (key_types[i].hostkey == type)
            kt = &key_types[i];
    if (!key || !hash || !kt)
        return fail(st, LIBSSH2_ERROR_HOSTKEY_INIT, "unusable host key from",
                    err);
    b64 = b64_encode(hash, 32);
    fp = xasprintf("SHA256:%s", b64);
    free(b64);
    b64 = b64_encode((const unsigned char *)key, keylen);
    line = known_hosts_revoked(k, b64);
    if (line) {
        error_set(err, ERROR_SSH, LIBSSH2_ERROR_KNOWN_HOSTS,
                  "host key of %s (%s %s) is marked revoked in %s:%d",
                  st->where, kt->name, fp, k->path, line);
        goto out;
    }
    r = libssh2_knownhost_checkp(k->kh, k->lookup, -1, key, keylen,
                                 LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                     LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                     kt->knownhost,
                                 &found);
    switch (r) {
    case LIBSSH2_KNOWNHOST_CHECK_MATCH:
        ret = 0;
        break;
    case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
        line = known_hosts_line_of(k, found->key, found->name);
        buf_addf(&types, line ? "%s:%d" : "%s", k->path, line);
        error_set(err, ERROR_SSH, LIBSSH2_ERROR_KNOWN_HOSTS,
                  "host key for %s has CHANGED: %s holds another %s key; "
                  "the server now shows %s. Refusing to connect (someone "
                  "may be intercepting); if the change is expected, remove "
                  "that entry",
                  st->where, types.data, kt->name, fp);
        break;
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
        if (k->known) {
            /* Known by a key of another type: never "accept new". */
            known_types_text(k, &types);
            error_set(err, ERROR_SSH, LIBSSH2_ERROR_KNOWN_HOSTS,
                      "host key for %s has CHANGED: %s records %s for '%s' "
                      "but the server shows %s %s. Refusing to connect",
                      st->where, k->path, types.data, k->lookup, kt->name, fp);
        } else if (accept_new) {
            ret = accept_new_host(st, k, kt, key, keylen, fp, err);
        } else {
            error_set(err, ERROR_SSH, LIBSSH2_ERROR_KNOWN_HOSTS,
                      "host %s is unknown ('%s' is not in %s%s); its %s key "
                      "fingerprint is %s. Check it, then add the host to "
                      "known_hosts or accept new host keys",
                      st->where, k->lookup, k->path,
                      k->missing ? ", which does not exist" : "", kt->name, fp);
        }
        break;
    default:
        fail(st, LIBSSH2_ERROR_KNOWN_HOSTS, "cannot check the host key of",
             err);
        break;
    }
out:
    buf_release(&types);
    free(fp);
    free(b64);
    return ret;
}

/* ---- interface ---------------------------------------------------------- */

struct known_hosts *known_hosts_new(char *path, char *lookup)
{
    struct known_hosts *k = xcalloc(1, sizeof(*k));

    k->path = path;
    k->lookup = lookup;
    return k;
}

void known_hosts_free(struct known_hosts *k)
{
    if (!k)
        return;
    known_hosts_release(k);
    free(k);
}

int known_hosts_prepare(struct known_hosts *k, LIBSSH2_SESSION *session,
                        const char *where, struct error *err)
{
    const struct peer st = {session, where};

    if (known_hosts_load(&st, k, err) < 0)
        return -1;
    known_hosts_types(k);
    return set_hostkey_prefs(&st, k, err);
}

int known_hosts_verify(struct known_hosts *k, LIBSSH2_SESSION *session,
                       const char *where, bool accept_new, struct error *err)
{
    const struct peer st = {session, where};

    return verify_host_key(&st, k, accept_new, err);
}
