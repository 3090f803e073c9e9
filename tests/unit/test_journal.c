/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_journal.c: the journal's atomic records and its lock:
 * values round-trip through a save, a second driver of the same move is
 * refused, and the lock is taken before the journal is read; only a
 * journal this run created can be discarded; a journal
 * written by an older rbdmove (no end line) still loads, while an empty,
 * cut, changed or unparsable one is refused as damaged and its files stay
 * as they were; a state directory or a file that someone else could
 * change, and a file that is a symbolic link, are refused.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rbdmove/core/journal.h"

/* An id as journal_create makes them, for journals written by hand. */
#define OLD_ID "20250101T000000-0a0b0c"

static char *path_in(const char *dir, const char *id, const char *ext)
{
    size_t len = strlen(dir) + strlen(id) + strlen(ext) + 2;
    char *p = malloc(len);

    assert_non_null(p);
    snprintf(p, len, "%s/%s%s", dir, id, ext);
    return p;
}

static void write_text(const char *dir, const char *id, const char *ext,
                       const char *text, size_t len)
{
    char *path = path_in(dir, id, ext);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(path);
}

/* The file's bytes (NUL-terminated), *len of them; NULL if it is gone. */
static char *read_text(const char *dir, const char *id, const char *ext,
                       size_t *len)
{
    char *path = path_in(dir, id, ext);
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 4096);

    free(path);
    assert_non_null(text);
    if (!f) {
        free(text);
        return NULL;
    }
    *len = fread(text, 1, 4095, f);
    fclose(f);
    return text;
}

static bool exists(const char *dir, const char *id, const char *ext)
{
    char *path = path_in(dir, id, ext);
    struct stat st;
    bool ret = lstat(path, &st) == 0;

    free(path);
    return ret;
}

/* A move as rbdmove saves it: id into id (64 bytes), and a line in ID.log. */
static void saved_journal(const char *dir, char *id)
{
    struct journal *j = NULL;
    struct error err = ERROR_INIT;

    assert_int_equal(journal_create(dir, &j, &err), 0);
    snprintf(id, 64, "%s", journal_id(j));
    journal_set(j, "cli.volume", "data-1");
    journal_set(j, "phase", "replicating");
    journal_set(j, "dst.volume", "11111111-2222-3333-4444-555555555555");
    assert_int_equal(journal_save(j, &err), 0);
    journal_log(j, "create: destination volume requested");
    journal_free(j);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char *path;

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        path = path_in(dir, e->d_name, "");
        unlink(path);
        free(path);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

/*
 * Both ways in refuse the journal of id as damaged, and leave its files
 * exactly as they were: the journal (text, len bytes), its log and its lock.
 */
static void assert_damaged(const char *dir, const char *id, const char *text,
                           size_t len)
{
    struct journal *j = NULL;
    struct error err = ERROR_INIT;
    size_t now_len = 0;
    char *now;

    assert_int_equal(journal_open(dir, id, &j, &err), -1);
    assert_null(j);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_non_null(strstr(err.msg, "is damaged"));
    assert_non_null(strstr(err.msg, "it was left as it is"));
    err = (struct error)ERROR_INIT;
    assert_int_equal(journal_read(dir, id, &j, &err), -1);
    assert_null(j);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_non_null(strstr(err.msg, "is damaged"));
    now = read_text(dir, id, ".journal", &now_len);
    assert_non_null(now);
    assert_int_equal(now_len, len);
    assert_memory_equal(now, text, len);
    free(now);
    assert_true(exists(dir, id, ".log"));
    assert_true(exists(dir, id, ".lock"));
}

static void test_journal_roundtrip_and_lock(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    struct journal *j = NULL, *k = NULL;
    struct error err = ERROR_INIT;
    char id[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(journal_create(dir, &j, &err), 0);
    snprintf(id, sizeof(id), "%s", journal_id(j));
    journal_set(j, "phase", "replicating");
    journal_set(j, "odd key", "a value\nwith a newline %");
    assert_int_equal(journal_save(j, &err), 0);
    /* Another driver of the same move is refused while j holds it. */
    assert_int_equal(journal_open(dir, id, &k, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    journal_free(j);
    assert_int_equal(journal_open(dir, id, &k, &err), 0);
    assert_string_equal(journal_get(k, "phase"), "replicating");
    assert_string_equal(journal_get(k, "odd key"), "a value\nwith a newline %");
    journal_set(k, "phase", NULL);
    assert_null(journal_get(k, "phase"));
    journal_free(k);
    assert_int_equal(journal_read(dir, "20250101T000000-ffffff", &k, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_int_equal(journal_read(dir, "../etc", &k, &err), -1);
    remove_dir(dir);
}

static void test_journal_ends_with_checksum(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    char id[64];
    size_t len = 0;
    char *text, *last;

    (void)state;
    assert_non_null(mkdtemp(dir));
    saved_journal(dir, id);
    text = read_text(dir, id, ".journal", &len);
    assert_non_null(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    text[len - 1] = '\0';
    last = strrchr(text, '\n');
    assert_non_null(last);
    /* "end xxh64 " and 16 hex digits. */
    assert_int_equal(strlen(last + 1), 10 + 16);
    assert_memory_equal(last + 1, "end xxh64 ", 10);
    free(text);
    remove_dir(dir);
}

static void test_journal_reads_old_format(void **state)
{
    static const char old[] = "cli.volume data-1\n"
                              "phase replicating\n"
                              "odd%20key a%20value%0A\n";
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    struct journal *j = NULL;
    struct error err = ERROR_INIT;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_text(dir, OLD_ID, ".journal", old, sizeof(old) - 1);
    assert_int_equal(journal_open(dir, OLD_ID, &j, &err), 0);
    assert_string_equal(journal_get(j, "phase"), "replicating");
    assert_string_equal(journal_get(j, "odd key"), "a value\n");
    /* The next save writes the new format, which loads again. */
    assert_int_equal(journal_save(j, &err), 0);
    journal_free(j);
    assert_int_equal(journal_read(dir, OLD_ID, &j, &err), 0);
    assert_string_equal(journal_get(j, "cli.volume"), "data-1");
    journal_free(j);
    remove_dir(dir);
}

static void test_journal_flipped_byte_is_damaged(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    char id[64];
    size_t len = 0;
    char *text, *p;

    (void)state;
    assert_non_null(mkdtemp(dir));
    saved_journal(dir, id);
    text = read_text(dir, id, ".journal", &len);
    /* Still a well-formed line, but not what was written. */
    p = strstr(text, "replicating");
    assert_non_null(p);
    p[0] ^= 0x01;
    write_text(dir, id, ".journal", text, len);
    assert_damaged(dir, id, text, len);
    free(text);
    remove_dir(dir);
}

static void test_journal_truncated_is_damaged(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    char id[64];
    size_t len = 0;
    char *text;

    (void)state;
    assert_non_null(mkdtemp(dir));
    saved_journal(dir, id);
    text = read_text(dir, id, ".journal", &len);
    /* Cut inside the end line, then only its newline. */
    write_text(dir, id, ".journal", text, len - 5);
    assert_damaged(dir, id, text, len - 5);
    write_text(dir, id, ".journal", text, len - 1);
    assert_damaged(dir, id, text, len - 1);
    free(text);
    remove_dir(dir);
}

static void test_journal_empty_is_damaged(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    char id[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    saved_journal(dir, id);
    write_text(dir, id, ".journal", "", 0);
    assert_damaged(dir, id, "", 0);
    remove_dir(dir);
}

static void test_journal_bad_lines_are_damaged(void **state)
{
    /* Old format (no end line), but lines no rbdmove writes. */
#define TEXT(s)                                                                \
    {                                                                          \
        s, sizeof(s) - 1                                                       \
    }
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
        TEXT("phase replicating\nno-space-here\n"),
        TEXT("phase replicating\n\n"),
        TEXT("phase replicating\nkey bad%ZZvalue\n"),
        TEXT("phase replicating\nkey value\0more\n"),
        TEXT("phase replicating\nend xxh64 0000000000000000\nkey value\n"),
    };
#undef TEXT
    char dir[] = "/tmp/rbm-journal-XXXXXX";

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_text(dir, OLD_ID, ".log", "x\n", 2);
    write_text(dir, OLD_ID, ".lock", "", 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_text(dir, OLD_ID, ".journal", bad[i].text, bad[i].len);
        assert_damaged(dir, OLD_ID, bad[i].text, bad[i].len);
    }
    remove_dir(dir);
}

static void test_journal_open_locks_before_reading(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    struct journal *j = NULL, *k = NULL;
    struct error err = ERROR_INIT;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(journal_create(dir, &j, &err), 0);
    journal_set(j, "phase", "new");
    assert_int_equal(journal_save(j, &err), 0);
    /* Held by j: refused for the lock, before its text is even read. */
    write_text(dir, journal_id(j), ".journal", "", 0);
    assert_int_equal(journal_open(dir, journal_id(j), &k, &err), -1);
    assert_non_null(strstr(err.msg, "another rbdmove process"));
    journal_free(j);
    /* An unknown move leaves no lock file behind. */
    assert_int_equal(journal_open(dir, OLD_ID, &k, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_false(exists(dir, OLD_ID, ".lock"));
    remove_dir(dir);
}

/* All three files of id are still there, and its journal reads. */
static void assert_kept(const char *dir, const char *id)
{
    struct journal *j = NULL;
    struct error err = ERROR_INIT;

    assert_true(exists(dir, id, ".journal"));
    assert_true(exists(dir, id, ".log"));
    assert_true(exists(dir, id, ".lock"));
    assert_int_equal(journal_read(dir, id, &j, &err), 0);
    journal_free(j);
}

static void test_journal_discard_only_made_here(void **state)
{
    /* The journal of issue 11: no phase, as if the pre-flight failed. */
    static const char no_phase[] = "cli.volume data-1\n";
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    struct journal *j = NULL;
    struct error err = ERROR_INIT;
    char id[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    /* Created by this run, never saved: its log and lock go. */
    assert_int_equal(journal_create(dir, &j, &err), 0);
    snprintf(id, sizeof(id), "%s", journal_id(j));
    journal_log(j, "preflight: failed");
    assert_int_equal(journal_discard(j, &err), 0);
    journal_free(j);
    assert_false(exists(dir, id, ".log"));
    assert_false(exists(dir, id, ".lock"));
    /* Created and saved by this run (a group's members, whose lock was
     * held since): the caller knows nothing changed; every file goes. */
    assert_int_equal(journal_create(dir, &j, &err), 0);
    snprintf(id, sizeof(id), "%s", journal_id(j));
    journal_set(j, "cli.volume", "data-1");
    assert_int_equal(journal_save(j, &err), 0);
    journal_log(j, "preflight: failed");
    assert_int_equal(journal_discard(j, &err), 0);
    journal_free(j);
    assert_false(exists(dir, id, ".journal"));
    assert_false(exists(dir, id, ".log"));
    assert_false(exists(dir, id, ".lock"));
    /* Opened (a resume) or read (status): kept, phase or not. */
    saved_journal(dir, id);
    assert_int_equal(journal_open(dir, id, &j, &err), 0);
    assert_int_equal(journal_discard(j, &err), -1);
    journal_free(j);
    assert_kept(dir, id);
    write_text(dir, OLD_ID, ".journal", no_phase, sizeof(no_phase) - 1);
    write_text(dir, OLD_ID, ".log", "x\n", 2);
    assert_int_equal(journal_open(dir, OLD_ID, &j, &err), 0);
    assert_null(journal_get(j, "phase"));
    assert_int_equal(journal_discard(j, &err), -1);
    journal_free(j);
    assert_int_equal(journal_read(dir, OLD_ID, &j, &err), 0);
    assert_int_equal(journal_discard(j, &err), -1);
    journal_free(j);
    assert_kept(dir, OLD_ID);
    remove_dir(dir);
}

/* Every way into dir is refused with ERROR_USAGE and a message holding
 * why; the journal of id (saved before) is still there. */
static void assert_dir_refused(const char *dir, const char *id, const char *why)
{
    struct journal *j = NULL;
    struct error err = ERROR_INIT;
    char **ids = NULL;
    size_t n = 0;

    assert_int_equal(journal_create(dir, &j, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, why));
    assert_non_null(strstr(err.msg, dir));
    err = (struct error)ERROR_INIT;
    assert_int_equal(journal_open(dir, id, &j, &err), -1);
    assert_non_null(strstr(err.msg, why));
    err = (struct error)ERROR_INIT;
    assert_int_equal(journal_read(dir, id, &j, &err), -1);
    assert_non_null(strstr(err.msg, why));
    err = (struct error)ERROR_INIT;
    assert_int_equal(journal_list(dir, &ids, &n, &err), -1);
    assert_non_null(strstr(err.msg, why));
    assert_true(exists(dir, id, ".journal"));
}

static void test_journal_state_dir_writable_by_others(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    struct journal *j = NULL;
    struct error err = ERROR_INIT;
    char id[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    saved_journal(dir, id);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_dir_refused(dir, id, "is writable by others (mode 0777)");
    assert_int_equal(chmod(dir, 0770), 0);
    assert_dir_refused(dir, id, "is writable by its group (mode 0770)");
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(journal_open(dir, id, &j, &err), 0);
    journal_free(j);
    remove_dir(dir);
}

static void test_journal_state_dir_of_another_user(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    char id[64];

    (void)state;
    /* Only root can give a directory away; as anyone else this case is
     * skipped (the mode case above runs for everybody). */
    if (geteuid() != 0)
        skip();
    assert_non_null(mkdtemp(dir));
    saved_journal(dir, id);
    assert_int_equal(chown(dir, 65534, 65534), 0);
    assert_dir_refused(dir, id, "is owned by uid 65534, not by you");
    assert_int_equal(chown(dir, 0, 0), 0);
    remove_dir(dir);
}

/* sync's lock: a second holder is ERROR_BUSY and told the first's pid;
 * closing gives it back; a name that could leave the directory is
 * refused. */
static void test_journal_lock_name(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    struct error err = ERROR_INIT;
    char pid[32];
    int a = -1, b = -1;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(journal_lock_name(dir, "sync-v1", &a, &err), 0);
    assert_true(a >= 0);
    /* flock belongs to the open file: a second open in this process
     * conflicts as another process would. */
    assert_int_equal(journal_lock_name(dir, "sync-v1", &b, &err), -1);
    assert_int_equal(b, -1);
    assert_int_equal(err.kind, ERROR_BUSY);
    snprintf(pid, sizeof(pid), "(pid %ld)", (long)getpid());
    assert_non_null(strstr(err.msg, pid));
    assert_non_null(strstr(err.msg, "sync-v1.lock"));
    err = (struct error)ERROR_INIT;
    assert_int_equal(journal_lock_name(dir, "sync-v2", &b, &err), 0);
    journal_unlock_name(b);
    journal_unlock_name(a);
    assert_int_equal(journal_lock_name(dir, "sync-v1", &b, &err), 0);
    journal_unlock_name(b);
    assert_int_equal(journal_lock_name(dir, "../sync-v1", &b, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    journal_unlock_name(-1);
}

static void test_journal_symlink_is_refused(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    struct journal *j = NULL;
    struct error err = ERROR_INIT;
    char *link, *target, *victim;
    size_t len = 0, before_len = 0;
    char *before, *after;
    char id[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    saved_journal(dir, id);
    link = path_in(dir, id, ".journal");
    target = path_in(dir, "elsewhere", "");
    before = read_text(dir, id, ".journal", &before_len);
    assert_int_equal(rename(link, target), 0);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(journal_open(dir, id, &j, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_non_null(strstr(err.msg, "is a symbolic link: refused"));
    err = (struct error)ERROR_INIT;
    assert_int_equal(journal_read(dir, id, &j, &err), -1);
    assert_non_null(strstr(err.msg, "is a symbolic link: refused"));
    after = read_text(dir, "elsewhere", "", &len);
    assert_int_equal(len, before_len);
    assert_memory_equal(after, before, len);
    free(after);
    /* A linked lock file: refused, and its target is not created. */
    assert_int_equal(unlink(link), 0);
    assert_int_equal(rename(target, link), 0);
    free(link);
    link = path_in(dir, id, ".lock");
    victim = path_in(dir, "victim", "");
    assert_int_equal(unlink(link), 0);
    assert_int_equal(symlink(victim, link), 0);
    err = (struct error)ERROR_INIT;
    assert_int_equal(journal_open(dir, id, &j, &err), -1);
    assert_non_null(strstr(err.msg, "is a symbolic link: refused"));
    assert_false(exists(dir, "victim", ""));
    free(before);
    free(victim);
    free(target);
    free(link);
    remove_dir(dir);
}

static void test_journal_file_writable_by_others(void **state)
{
    char dir[] = "/tmp/rbm-journal-XXXXXX";
    struct journal *j = NULL;
    struct error err = ERROR_INIT;
    char *path;
    struct stat st;
    char id[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    saved_journal(dir, id);
    path = path_in(dir, id, ".journal");
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(journal_read(dir, id, &j, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_non_null(strstr(err.msg, "is writable by others (mode 0666)"));
    assert_int_equal(chmod(path, 0600), 0);
    /* A temporary file left by a crash, open to all: the save replaces
     * it, so the journal stays 0600. */
    write_text(dir, id, ".journal.tmp", "junk", 4);
    free(path);
    path = path_in(dir, id, ".journal.tmp");
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(journal_open(dir, id, &j, &err), 0);
    assert_int_equal(journal_save(j, &err), 0);
    journal_free(j);
    free(path);
    path = path_in(dir, id, ".journal");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(journal_read(dir, id, &j, &err), 0);
    journal_free(j);
    free(path);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_roundtrip_and_lock),
        cmocka_unit_test(test_journal_ends_with_checksum),
        cmocka_unit_test(test_journal_reads_old_format),
        cmocka_unit_test(test_journal_flipped_byte_is_damaged),
        cmocka_unit_test(test_journal_truncated_is_damaged),
        cmocka_unit_test(test_journal_empty_is_damaged),
        cmocka_unit_test(test_journal_bad_lines_are_damaged),
        cmocka_unit_test(test_journal_open_locks_before_reading),
        cmocka_unit_test(test_journal_discard_only_made_here),
        cmocka_unit_test(test_journal_state_dir_writable_by_others),
        cmocka_unit_test(test_journal_state_dir_of_another_user),
        cmocka_unit_test(test_journal_symlink_is_refused),
        cmocka_unit_test(test_journal_lock_name),
        cmocka_unit_test(test_journal_file_writable_by_others),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
