/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/journal.c: atomic key/value records of moves, with a lock.
 */
#include "rbdmove/core/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/hash.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

/*
 * The file's last line: END_PREFIX, then the XXH64 (seed 0) of every byte
 * before the line as 16 lowercase hex digits, then a newline. It tells a
 * whole journal from an empty, cut or changed one; "end" is never a key, so
 * the line cannot be taken for one.
 */
#define END_KEY "end"
#define END_PREFIX END_KEY " xxh64 "

struct journal {
    char *dir;
    char *id;
    char **keys;
    char **values;
    size_t n;
    int lock_fd;
    /* Made by journal_create in this process, its lock held since: the
     * only journal journal_discard removes (no other run has seen it). */
    bool created;
};

char *journal_default_dir(void)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");

    if (state && *state == '/')
        return xasprintf("%s/rbdmove", state);
    return xasprintf("%s/.local/state/rbdmove", home && *home ? home : "/root");
}

static int mkdir_p(const char *path, struct error *err)
{
    char *p = xstrdup(path);
    int ret = 0;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            ret = -1;
        *s = '/';
    }
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        ret = -1;
    if (ret < 0)
        error_set(err, ERROR_IO, errno, "cannot create '%s'", path);
    free(p);
    return ret;
}

/* Who besides its owner can write a file of mode m: the wider of the two. */
static const char *writers(mode_t m)
{
    return (m & S_IWOTH) ? "others" : "its group";
}

/*
 * The state directory holds what resume and abort act on (volumes to
 * delete, servers to attach to), so only its owner may be able to change
 * what is in it. One that does not exist holds nothing to trust yet.
 */
static int check_dir(const char *dir, struct error *err)
{
    struct stat st;

    if (stat(dir, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_set(err, ERROR_IO, errno,
                         "cannot read state directory '%s'", dir);
    }
    if (!S_ISDIR(st.st_mode))
        return error_set(err, ERROR_USAGE, 0,
                         "state directory '%s' is not a directory", dir);
    if (st.st_uid != geteuid())
        return error_set(err, ERROR_USAGE, 0,
                         "state directory '%s' is owned by uid %u, not by "
                         "you (uid %u): another user could change its "
                         "journals; give a directory of your own "
                         "(--state-dir)",
                         dir, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return error_set(err, ERROR_USAGE, 0,
                         "state directory '%s' is writable by %s (mode "
                         "%04o): another user could change its journals; "
                         "run chmod go-w '%s'",
                         dir, writers(st.st_mode),
                         (unsigned)(st.st_mode & 07777), dir);
    return 0;
}

/* A file of a journal, open as fd: a plain file of ours that nobody else
 * can write, or it is not trusted. */
static int check_file(int fd, const char *path, struct error *err)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return error_set(err, ERROR_IO, errno, "cannot read '%s'", path);
    if (!S_ISREG(st.st_mode))
        return error_set(err, ERROR_STATE, 0,
                         "'%s' is not a plain file: refused", path);
    if (st.st_uid != geteuid())
        return error_set(err, ERROR_STATE, 0,
                         "'%s' is owned by uid %u, not by you (uid %u): "
                         "refused",
                         path, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return error_set(err, ERROR_STATE, 0,
                         "'%s' is writable by %s (mode %04o): refused; "
                         "check what it holds, then run chmod go-w '%s'",
                         path, writers(st.st_mode),
                         (unsigned)(st.st_mode & 07777), path);
    return 0;
}

/*
 * Open the journal file path with flags, never through a symbolic link
 * (O_NOFOLLOW: a link planted in the state directory would have us read,
 * or create, a file elsewhere), and check it with check_file.
 */
static int open_file(const char *path, int flags, int *out, struct error *err)
{
    struct stat st;
    int fd;

    *out = -1;
    fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ELOOP && lstat(path, &st) == 0 &&
        S_ISLNK(st.st_mode))
        return error_set(err, ERROR_STATE, 0,
                         "'%s' is a symbolic link: refused (the files of a "
                         "journal must be plain files in the state "
                         "directory)",
                         path);
    if (fd < 0)
        return error_set(err, ERROR_IO, errno, "cannot open '%s'", path);
    if (check_file(fd, path, err) < 0) {
        close(fd);
        return -1;
    }
    *out = fd;
    return 0;
}

static bool id_is_valid(const char *id)
{
    return name_is_safe(id) && strlen(id) < 64;
}

static char *path_of(const struct journal *j, const char *ext)
{
    return xasprintf("%s/%s%s", j->dir, j->id, ext);
}

static int take_lock(struct journal *j, struct error *err)
{
    char *path = path_of(j, ".lock");
    int fd;
    int r = open_file(path, O_RDWR | O_CREAT, &fd, err);

    free(path);
    if (r < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return error_set(err, ERROR_STATE, EWOULDBLOCK,
                         "move %s is being driven by another rbdmove process",
                         j->id);
    }
    j->lock_fd = fd;
    return 0;
}

static struct journal *journal_new(const char *dir, const char *id)
{
    struct journal *j = xcalloc(1, sizeof(*j));

    j->dir = xstrdup(dir);
    j->id = xstrdup(id);
    j->lock_fd = -1;
    return j;
}

int journal_create(const char *dir, struct journal **out, struct error *err)
{
    unsigned char rnd[3] = {0, 0, 0};
    time_t now = time(NULL);
    struct journal *j;
    struct tm tm;
    char id[64], ts[32];

    *out = NULL;
    if (mkdir_p(dir, err) < 0 || check_dir(dir, err) < 0)
        return -1;
    if (getrandom(rnd, sizeof(rnd), 0) < 0)
        rnd[0] = (unsigned char)getpid();
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%S", &tm);
    snprintf(id, sizeof(id), "%s-%02x%02x%02x", ts, rnd[0], rnd[1], rnd[2]);
    j = journal_new(dir, id);
    if (take_lock(j, err) < 0) {
        journal_free(j);
        return -1;
    }
    j->created = true;
    *out = j;
    return 0;
}

/*
 * Refuse a journal whose text is not what journal_save wrote. Its files are
 * left as they are: what the move did is in ID.log and in the two clouds,
 * and only a person can weigh them; deleting or rewriting the journal here
 * would lose what is left of its record.
 */
static int __attribute__((format(printf, 3, 4)))
damaged(const struct journal *j, struct error *err, const char *fmt, ...)
{
    struct buf why = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&why, fmt, ap);
    va_end(ap);
    error_set(err, ERROR_STATE, 0,
              "journal %s is damaged (%s): it was left as it is; look at "
              "'%s/%s.log' for the move's last steps (rbdmove-resume(1) "
              "says what to do)",
              j->id, buf_str(&why), j->dir, j->id);
    buf_release(&why);
    return -1;
}

/* One "key value" line of len bytes (no newline) into j; -1 if it does not
 * parse. */
static int parse_line(struct journal *j, const char *line, size_t len)
{
    char *l = xstrndup(line, len);
    char *sp = strchr(l, ' ');
    char *k = NULL, *v = NULL;
    int ret = -1;

    if (!sp)
        goto out;
    *sp = '\0';
    k = pct_decode(l);
    v = pct_decode(sp + 1);
    if (!k || !v || !strcmp(k, END_KEY))
        goto out;
    journal_set(j, k, v);
    ret = 0;
out:
    free(k);
    free(v);
    free(l);
    return ret;
}

static bool is_end_line(const char *line, size_t len)
{
    return len >= sizeof(END_PREFIX) - 1 &&
           !memcmp(line, END_PREFIX, sizeof(END_PREFIX) - 1);
}

/* The end line of len bytes against the text before it, of body bytes. */
static int check_end(const struct journal *j, const char *text, size_t body,
                     size_t len, struct error *err)
{
    const char *hex = text + body + sizeof(END_PREFIX) - 1;
    char want[17];

    snprintf(want, sizeof(want), "%016" PRIx64, hash_xxh64(text, body, 0));
    if (len != sizeof(END_PREFIX) - 1 + 16)
        return damaged(j, err, "its end line does not parse");
    if (memcmp(hex, want, 16))
        return damaged(j, err, "its checksum does not match");
    return 0;
}

/*
 * The file's text, of len bytes. Since the end line exists, everything
 * short of a whole, unchanged file is refused; a file without one was
 * written by an older rbdmove (atomically too, so it is whole unless the
 * disk lost it) and is read as before.
 */
static int parse(struct journal *j, const char *text, size_t len,
                 struct error *err)
{
    size_t body, off = 0;
    unsigned lineno = 0;

    if (len == 0)
        return damaged(j, err, "the file is empty");
    if (memchr(text, '\0', len))
        return damaged(j, err, "it holds a NUL byte");
    if (text[len - 1] != '\n')
        return damaged(j, err, "its last line is cut short");
    /* The last line starts after the newline before the final one. */
    body = len - 1;
    while (body > 0 && text[body - 1] != '\n')
        body--;
    if (is_end_line(text + body, len - 1 - body)) {
        if (check_end(j, text, body, len - 1 - body, err) < 0)
            return -1;
    } else {
        body = len;
    }
    while (off < body) {
        const char *line = text + off;
        size_t n =
            (size_t)((const char *)memchr(line, '\n', body - off) - line);

        lineno++;
        if (is_end_line(line, n))
            return damaged(j, err, "line %u: an end line before the last",
                           lineno);
        if (parse_line(j, line, n) < 0)
            return damaged(j, err, "line %u does not parse", lineno);
        off += n + 1;
    }
    return 0;
}

static int no_move(const struct journal *j, struct error *err)
{
    return error_set(err, ERROR_USAGE, 0, "no move %s in '%s'", j->id, j->dir);
}

static int load(struct journal *j, struct error *err)
{
    char *path = path_of(j, ".journal");
    struct buf b = BUF_INIT;
    char chunk[4096];
    ssize_t n;
    int fd;
    int ret = -1;

    if (open_file(path, O_RDONLY, &fd, err) < 0) {
        if (err->kind == ERROR_IO && err->cause == ENOENT)
            no_move(j, err);
        free(path);
        return -1;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_add(&b, chunk, (size_t)n);
    if (n < 0)
        error_set(err, ERROR_IO, errno, "cannot read '%s'", path);
    else
        ret = parse(j, b.data, b.len, err);
    close(fd);
    free(path);
    buf_release(&b);
    return ret;
}

int journal_read(const char *dir, const char *id, struct journal **out,
                 struct error *err)
{
    struct journal *j;

    *out = NULL;
    if (!id_is_valid(id))
        return error_set(err, ERROR_USAGE, 0, "'%s' is not a move id", id);
    if (check_dir(dir, err) < 0)
        return -1;
    j = journal_new(dir, id);
    if (load(j, err) < 0) {
        journal_free(j);
        return -1;
    }
    *out = j;
    return 0;
}

int journal_open(const char *dir, const char *id, struct journal **out,
                 struct error *err)
{
    struct journal *j;
    struct stat st;
    char *path;
    int ret = -1;

    *out = NULL;
    if (!id_is_valid(id))
        return error_set(err, ERROR_USAGE, 0, "'%s' is not a move id", id);
    if (check_dir(dir, err) < 0)
        return -1;
    j = journal_new(dir, id);
    path = path_of(j, ".journal");
    /* Lock, then read: a journal read before its lock is taken can be a
     * step behind the process that held the lock a moment ago. An unknown
     * id is refused before the lock so that it leaves no lock file. */
    if (lstat(path, &st) < 0 && errno == ENOENT) {
        no_move(j, err);
        goto out;
    }
    if (take_lock(j, err) < 0 || load(j, err) < 0)
        goto out;
    *out = j;
    j = NULL;
    ret = 0;
out:
    free(path);
    journal_free(j);
    return ret;
}

int journal_lock_name(const char *dir, const char *name, int *fd_out,
                      struct error *err)
{
    char *path;
    char pid[32], held[32];
    ssize_t n;
    int fd, r;

    *fd_out = -1;
    if (!id_is_valid(name))
        return error_set(err, ERROR_USAGE, 0, "'%s' cannot name a lock", name);
    if (mkdir_p(dir, err) < 0 || check_dir(dir, err) < 0)
        return -1;
    path = xasprintf("%s/%s.lock", dir, name);
    r = open_file(path, O_RDWR | O_CREAT, &fd, err);
    free(path);
    if (r < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        n = pread(fd, held, sizeof(held) - 1, 0);
        held[n > 0 ? n : 0] = '\0';
        held[strcspn(held, "\n")] = '\0';
        if (held[strspn(held, "0123456789")])
            held[0] = '\0'; /* not a pid of ours: say nothing of it */
        close(fd);
        if (e != EWOULDBLOCK)
            return error_set(err, ERROR_IO, e, "cannot lock '%s/%s.lock'", dir,
                             name);
        if (held[0])
            return error_set(err, ERROR_BUSY, EWOULDBLOCK,
                             "another rbdmove process (pid %s) holds "
                             "'%s/%s.lock'",
                             held, dir, name);
        return error_set(err, ERROR_BUSY, EWOULDBLOCK,
                         "another rbdmove process holds '%s/%s.lock'", dir,
                         name);
    }
    /* Who holds it, for the message of the next one; the lock, not the
     * pid, is what counts (a stale pid in an unlocked file is harmless). */
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0)
        (void)!pwrite(fd, pid, strlen(pid), 0);
    *fd_out = fd;
    return 0;
}

char *journal_note_get(const char *dir, const char *name)
{
    struct error e = ERROR_INIT;
    char *path, buf[256];
    ssize_t n;
    int fd;

    if (!id_is_valid(name))
        return NULL;
    path = xasprintf("%s/%s.note", dir, name);
    if (open_file(path, O_RDONLY, &fd, &e) < 0) {
        free(path);
        return NULL;
    }
    free(path);
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return buf[0] ? xstrdup(buf) : NULL;
}

void journal_note_set(const char *dir, const char *name, const char *value)
{
    struct error e = ERROR_INIT;
    char *path;
    int fd;

    if (!id_is_valid(name))
        return;
    path = xasprintf("%s/%s.note", dir, name);
    if (!value) {
        (void)unlink(path);
    } else if (open_file(path, O_WRONLY | O_CREAT | O_TRUNC, &fd, &e) == 0) {
        (void)!write(fd, value, strlen(value));
        (void)!write(fd, "\n", 1);
        close(fd);
    }
    free(path);
}

void journal_unlock_name(int fd)
{
    if (fd >= 0)
        close(fd);
}

void journal_free(struct journal *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        free(j->keys[i]);
        free(j->values[i]);
    }
    free(j->keys);
    free(j->values);
    if (j->lock_fd >= 0)
        close(j->lock_fd);
    free(j->dir);
    free(j->id);
    free(j);
}

const char *journal_id(const struct journal *j)
{
    return j->id;
}

const char *journal_get(const struct journal *j, const char *key)
{
    for (size_t i = 0; i < j->n; i++) {
        if (!strcmp(j->keys[i], key))
            return j->values[i];
    }
    return NULL;
}

void journal_set(struct journal *j, const char *key, const char *value)
{
    if (!strcmp(key, END_KEY))
        BUG("'%s' is not a journal key: it marks the end of the file", key);
    for (size_t i = 0; i < j->n; i++) {
        if (strcmp(j->keys[i], key))
            continue;
        if (value) {
            free(j->values[i]);
            j->values[i] = xstrdup(value);
            return;
        }
        free(j->keys[i]);
        free(j->values[i]);
        memmove(j->keys + i, j->keys + i + 1, (j->n - i - 1) * sizeof(char *));
        memmove(j->values + i, j->values + i + 1,
                (j->n - i - 1) * sizeof(char *));
        j->n--;
        return;
    }
    if (!value)
        return;
    j->keys = xrealloc(j->keys, (j->n + 1) * sizeof(char *));
    j->values = xrealloc(j->values, (j->n + 1) * sizeof(char *));
    j->keys[j->n] = xstrdup(key);
    j->values[j->n] = xstrdup(value);
    j->n++;
}

void journal_setf(struct journal *j, const char *key, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    journal_set(j, key, buf_str(&b));
    buf_release(&b);
}

int journal_save(struct journal *j, struct error *err)
{
    char *path = path_of(j, ".journal");
    char *tmp = path_of(j, ".journal.tmp");
    struct buf b = BUF_INIT;
    int ret = -1;

    for (size_t i = 0; i < j->n; i++) {
        buf_add_pct(&b, j->keys[i]);
        buf_adds(&b, " ");
        buf_add_pct(&b, j->values[i]);
        buf_adds(&b, "\n");
    }
    buf_addf(&b, END_PREFIX "%016" PRIx64 "\n",
             hash_xxh64(buf_str(&b), b.len, 0));
    /* Ours with mode 0600 whatever was there. */
    if (file_replace(path, tmp, b.data, b.len, 0600, err) < 0)
        goto out;
    ret = 0;
out:
    free(path);
    free(tmp);
    buf_release(&b);
    return ret;
}

void journal_log(struct journal *j, const char *fmt, ...)
{
    char *path = path_of(j, ".log");
    struct buf b = BUF_INIT;
    struct error err = ERROR_INIT;
    time_t now = time(NULL);
    struct tm tm;
    char ts[32];
    va_list ap;
    int fd;

    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ ", &tm);
    buf_adds(&b, ts);
    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    buf_adds(&b, "\n");
    if (open_file(path, O_WRONLY | O_CREAT | O_APPEND, &fd, &err) == 0) {
        if (write(fd, b.data, b.len) < 0)
            (void)0;
        close(fd);
    }
    free(path);
    buf_release(&b);
}

size_t journal_count(const struct journal *j)
{
    return j->n;
}

const char *journal_key(const struct journal *j, size_t i)
{
    return j->keys[i];
}

const char *journal_value(const struct journal *j, size_t i)
{
    return j->values[i];
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int journal_list(const char *dir, char ***ids, size_t *n, struct error *err)
{
    DIR *d;
    struct dirent *e;

    *ids = NULL;
    *n = 0;
    if (check_dir(dir, err) < 0)
        return -1;
    d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return error_set(err, ERROR_IO, errno, "cannot read '%s'", dir);
    }
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);

        if (len <= 8 || strcmp(e->d_name + len - 8, ".journal"))
            continue;
        *ids = xrealloc(*ids, (*n + 1) * sizeof(char *));
        (*ids)[(*n)++] = xstrndup(e->d_name, len - 8);
    }
    closedir(d);
    if (*n)
        qsort(*ids, *n, sizeof(char *), cmp_str);
    return 0;
}

void journal_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int journal_discard(struct journal *j, struct error *err)
{
    /* The lock goes last: until then no other run can take the id. */
    static const char *const exts[] = {".journal", ".journal.tmp", ".log",
                                       ".lock"};

    if (!j->created)
        return error_set(err, ERROR_STATE, 0,
                         "journal %s was kept: only a move created by this "
                         "run can be discarded",
                         j->id);
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        char *path = path_of(j, exts[i]);

        unlink(path);
        free(path);
    }
    j->created = false;
    return 0;
}
