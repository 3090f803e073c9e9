/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_move_record.c: the phases of a move and its record. Every
 * phase name round-trips; the table of steps allows the ones the move
 * takes and refuses the rest (no way out of done or aborted, no abort of an
 * attached move); a journal written by an older rbdmove (plain keys) loads
 * into the same record, and the record writes the same keys back. The
 * auto-converge throttle's keys round-trip through the file, tell an
 * image that had no limit from one whose limit was "" and are refused
 * when the value to restore is missing.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rbdmove/core/journal.h"
#include "rbdmove/core/move_record.h"

static void test_phase_names(void **state)
{
    enum move_phase p;

    (void)state;
    for (int i = 0; i < MOVE_PHASE_COUNT; i++) {
        const char *name = move_phase_name((enum move_phase)i);

        assert_true(move_phase_parse(i == MOVE_NONE ? NULL : name, &p));
        assert_int_equal(p, i);
    }
    assert_string_equal(move_phase_name(MOVE_ROLLED_BACK), "rolled-back");
    assert_false(move_phase_parse("rolled_back", &p));
    assert_false(move_phase_parse("", &p));
    assert_string_equal(move_phase_name((enum move_phase)99), "?");
}

static void test_phase_steps(void **state)
{
    static const enum move_phase main_line[] = {
        MOVE_NONE,        MOVE_NEW,       MOVE_CREATING,
        MOVE_REPLICATING, MOVE_DETACHING, MOVE_DETACHED,
        MOVE_ATTACHING,   MOVE_ATTACHED,  MOVE_DONE};

    (void)state;
    for (size_t i = 0; i + 1 < sizeof(main_line) / sizeof(main_line[0]); i++)
        assert_true(move_phase_next(main_line[i], main_line[i + 1]));
    /* Resumed: the source attached again, the destination not yet. */
    assert_true(move_phase_next(MOVE_DETACHING, MOVE_REPLICATING));
    assert_true(move_phase_next(MOVE_DETACHED, MOVE_REPLICATING));
    assert_true(move_phase_next(MOVE_ATTACHING, MOVE_DETACHED));
    assert_true(move_phase_next(MOVE_ROLLED_BACK, MOVE_REPLICATING));
    assert_true(move_phase_next(MOVE_ATTACHED, MOVE_ROLLED_BACK));
    /* No skipping the detach, no going back from the end. */
    assert_false(move_phase_next(MOVE_REPLICATING, MOVE_ATTACHING));
    assert_false(move_phase_next(MOVE_NEW, MOVE_DETACHING));
    assert_false(move_phase_next(MOVE_ATTACHED, MOVE_REPLICATING));
    for (int i = 0; i < MOVE_PHASE_COUNT; i++) {
        enum move_phase p = (enum move_phase)i;
        bool abortable = p != MOVE_ATTACHED && p != MOVE_DONE &&
                         p != MOVE_GROUP && p != MOVE_ABORTED;

        assert_false(move_phase_next(MOVE_DONE, p) && p != MOVE_DONE);
        assert_false(move_phase_next(MOVE_ABORTED, p) && p != MOVE_ABORTED);
        assert_false(move_phase_next(MOVE_GROUP, p) && p != MOVE_GROUP);
        assert_false(move_phase_next(p, MOVE_GROUP) && p != MOVE_GROUP);
        assert_false(move_phase_next(p, MOVE_NONE));
        if (p != MOVE_ABORTED)
            assert_int_equal(move_phase_next(p, MOVE_ABORTED), abortable);
    }
    assert_true(move_phase_in_cutover(MOVE_DETACHED));
    assert_false(move_phase_in_cutover(MOVE_ROLLED_BACK));
}

static struct journal *new_journal(char *dir)
{
    struct journal *j = NULL;
    struct error err = ERROR_INIT;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(journal_create(dir, &j, &err), 0);
    return j;
}

static void test_record_old_journal(void **state)
{
    char dir[] = "/tmp/rbm-record-XXXXXX";
    struct journal *j = new_journal(dir);
    struct move_record r;
    struct error err = ERROR_INIT;

    (void)state;
    /* The keys as rbdmove 0.1 wrote them, one by one. */
    journal_set(j, "cli.volume", "data-1");
    journal_set(j, "src.volume", "11111111-2222-3333-4444-555555555555");
    journal_set(j, "src.size_gib", "4");
    journal_set(j, "src.pool", "volumes");
    journal_set(j, "src.image", "volume-1111");
    journal_set(j, "dst.server", "srv");
    journal_set(j, "dst.created", "1");
    journal_set(j, "max_downtime", "10.000");
    journal_set(j, "snap.base", "rbdmove-7");
    journal_set(j, "cutover.downtime", "2.718");
    journal_set(j, "phase", "detached");
    move_record_init(&r);
    assert_int_equal(move_record_load(j, &r, &err), 0);
    assert_int_equal(r.phase, MOVE_DETACHED);
    assert_string_equal(r.src.image, "volume-1111");
    assert_int_equal(r.src.size_gib, 4);
    assert_null(r.src.server);
    assert_null(r.src.lock_owner); /* nor the lock owners */
    assert_null(r.dst.lock_owner);
    assert_true(r.dst.created);
    assert_true(fabs(r.max_downtime - 10) < 1e-9);
    assert_true(fabs(r.cutover.downtime - 2.718) < 1e-9);
    assert_true(isnan(r.cutover.t_detach));
    assert_string_equal(r.snaps[MOVE_SNAP_BASE], "rbdmove-7");
    assert_null(r.snaps[MOVE_SNAP_NEXT]); /* an old journal has none */
    /* No throttle keys: never throttled. */
    assert_int_equal(r.throttle.state, MOVE_THROTTLE_NONE);
    assert_false(r.throttle.prev_exists);
    assert_null(r.throttle.prev);

    /* Stored back: the same keys, none added, cli.* untouched. */
    size_t before = journal_count(j);
    move_record_store(&r, j);
    assert_int_equal(journal_count(j), before);
    assert_string_equal(journal_get(j, "cutover.downtime"), "2.718");
    assert_string_equal(journal_get(j, "cli.volume"), "data-1");
    assert_null(journal_get(j, "cutover.t_detach"));
    assert_null(journal_get(j, "throttle.state"));

    /* The snapshot a round is about to create goes under snap.next. */
    move_record_set(&r.snaps[MOVE_SNAP_NEXT], "rbdmove-8");
    move_record_store(&r, j);
    assert_string_equal(journal_get(j, "snap.next"), "rbdmove-8");
    move_record_set(&r.snaps[MOVE_SNAP_NEXT], NULL);
    move_record_store(&r, j);
    assert_null(journal_get(j, "snap.next"));

    r.phase = MOVE_ATTACHING;
    r.cutover.t_final = 0.25;
    move_record_set(&r.dst.volume, "v2");
    move_record_store(&r, j);
    assert_string_equal(journal_get(j, "phase"), "attaching");
    assert_string_equal(journal_get(j, "cutover.t_final"), "0.250");
    assert_string_equal(journal_get(j, "dst.volume"), "v2");

    /* The source's lock owner, which a later run breaks, goes back and
     * forth like any field. */
    move_record_set(&r.src.lock_owner, "127.0.0.1:0/3850488309");
    move_record_store(&r, j);
    assert_string_equal(journal_get(j, "src.lock_owner"),
                        "127.0.0.1:0/3850488309");
    move_record_release(&r);
    assert_int_equal(move_record_load(j, &r, &err), 0);
    assert_string_equal(r.src.lock_owner, "127.0.0.1:0/3850488309");

    move_record_release(&r);
    assert_int_equal(journal_discard(j, &err), 0);
    journal_free(j);
    rmdir(dir);
}

static void test_record_refuses_bad_values(void **state)
{
    static const char *const bad[][2] = {
        {"phase", "flying"},        {"src.size_gib", "-1"},
        {"src.size_gib", "4 GiB"},  {"max_downtime", "nan"},
        {"cutover.downtime", "-3"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char dir[] = "/tmp/rbm-record-XXXXXX";
        struct journal *j = new_journal(dir);
        struct move_record r;
        struct error err = ERROR_INIT;

        move_record_init(&r);
        journal_set(j, bad[i][0], bad[i][1]);
        assert_int_equal(move_record_load(j, &r, &err), -1);
        assert_int_equal(err.kind, ERROR_STATE);
        assert_non_null(strstr(err.msg, bad[i][0]));
        move_record_release(&r);
        assert_int_equal(journal_discard(j, &err), 0);
        journal_free(j);
        rmdir(dir);
    }
}

/* No phase: a pre-flight that did not pass (resumed as new), unless the
 * journal holds what only a passed pre-flight records (lines lost). */
static void test_record_no_phase(void **state)
{
    char dir[] = "/tmp/rbm-record-XXXXXX";
    struct journal *j = new_journal(dir);
    struct move_record r;
    struct error err = ERROR_INIT;

    (void)state;
    move_record_init(&r);
    journal_set(j, "cli.volume", "data-1");
    journal_set(j, "cli.dst-server", "srv");
    assert_int_equal(move_record_load(j, &r, &err), 0);
    assert_int_equal(r.phase, MOVE_NONE);
    journal_set(j, "src.volume", "11111111-2222-3333-4444-555555555555");
    assert_int_equal(move_record_load(j, &r, &err), -1);
    assert_int_equal(err.kind, ERROR_STATE);
    assert_non_null(strstr(err.msg, "damaged"));
    move_record_release(&r);
    assert_int_equal(journal_discard(j, &err), 0);
    journal_free(j);
    rmdir(dir);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[512];

        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

/* Save r's throttle into a new journal, save it to disk, read it back. */
static void throttle_round_trip(const struct move_record *r,
                                struct move_record *back)
{
    char dir[] = "/tmp/rbm-record-XXXXXX";
    struct journal *j = new_journal(dir);
    struct journal *k = NULL;
    struct error err = ERROR_INIT;

    move_record_store(r, j);
    assert_int_equal(journal_save(j, &err), 0);
    assert_int_equal(journal_read(dir, journal_id(j), &k, &err), 0);
    assert_int_equal(move_record_load(k, back, &err), 0);
    journal_free(k);
    journal_free(j);
    remove_dir(dir); /* saved, so journal_discard keeps it */
}

static void test_record_throttle(void **state)
{
    struct move_record r, back;

    (void)state;
    move_record_init(&r);
    move_record_init(&back);
    r.phase = MOVE_REPLICATING;
    move_record_set(&r.src.volume, "v1");

    /* No limit before: absent, not "". */
    r.throttle.state = MOVE_THROTTLE_SET;
    r.throttle.prev_exists = false;
    r.throttle.level = 2;
    r.throttle.limit = 31457280;
    throttle_round_trip(&r, &back);
    assert_int_equal(back.throttle.state, MOVE_THROTTLE_SET);
    assert_false(back.throttle.prev_exists);
    assert_null(back.throttle.prev);
    assert_int_equal(back.throttle.level, 2);
    assert_int_equal(back.throttle.limit, 31457280);

    /* An operator's limit, and an empty value: both kept as they were. */
    move_record_set(&r.throttle.prev, "");
    r.throttle.prev_exists = true;
    throttle_round_trip(&r, &back);
    assert_true(back.throttle.prev_exists);
    assert_string_equal(back.throttle.prev, "");
    move_record_set(&r.throttle.prev, "10485760 x%\n");
    r.throttle.state = MOVE_THROTTLE_RESTORED;
    throttle_round_trip(&r, &back);
    assert_int_equal(back.throttle.state, MOVE_THROTTLE_RESTORED);
    assert_string_equal(back.throttle.prev, "10485760 x%\n");

    /* Never throttled: no key written, and any old one removed. */
    r.throttle.state = MOVE_THROTTLE_NONE;
    throttle_round_trip(&r, &back);
    assert_int_equal(back.throttle.state, MOVE_THROTTLE_NONE);
    assert_null(back.throttle.prev);
    move_record_release(&r);
    move_record_release(&back);
}

static void test_record_throttle_refused(void **state)
{
    /* A throttle without the value to restore, or with values that do
     * not parse: refused, never restored to a guess. */
    static const char *const bad[][4] = {
        {"throttle.state", "on", NULL, NULL},
        {"throttle.state", "set", NULL, NULL},
        {"throttle.state", "set", "throttle.prev_exists", "yes"},
        {"throttle.state", "set", "throttle.prev_exists", "1"},
        {"throttle.prev_exists", "0", "throttle.level", "4"},
        {"throttle.prev_exists", "0", "throttle.limit_bps", "0"},
    };
    static const char *const key_named[] = {
        "throttle.state", "throttle.prev_exists", "throttle.prev_exists",
        "throttle.prev",  "throttle.level",       "throttle.limit_bps",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char dir[] = "/tmp/rbm-record-XXXXXX";
        struct journal *j = new_journal(dir);
        struct move_record r;
        struct error err = ERROR_INIT;

        move_record_init(&r);
        journal_set(j, "phase", "replicating");
        journal_set(j, "throttle.state", "set");
        journal_set(j, bad[i][0], bad[i][1]);
        if (bad[i][2])
            journal_set(j, bad[i][2], bad[i][3]);
        assert_int_equal(move_record_load(j, &r, &err), -1);
        assert_int_equal(err.kind, ERROR_STATE);
        assert_non_null(strstr(err.msg, key_named[i]));
        move_record_release(&r);
        assert_int_equal(journal_discard(j, &err), 0);
        journal_free(j);
        rmdir(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phase_names),
        cmocka_unit_test(test_phase_steps),
        cmocka_unit_test(test_record_old_journal),
        cmocka_unit_test(test_record_refuses_bad_values),
        cmocka_unit_test(test_record_no_phase),
        cmocka_unit_test(test_record_throttle),
        cmocka_unit_test(test_record_throttle_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
