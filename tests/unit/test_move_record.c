/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_move_record.c: the phases of a move and its record. Every
 * phase name round-trips; the table of steps allows the ones the move
 * takes and refuses the rest (no way out of done or aborted, no abort of an
 * attached move); a journal written by an older rbdmove (plain keys) loads
 * into the same record, and the record writes the same keys back.
 */
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
    assert_true(r.dst.created);
    assert_true(fabs(r.max_downtime - 10) < 1e-9);
    assert_true(fabs(r.cutover.downtime - 2.718) < 1e-9);
    assert_true(isnan(r.cutover.t_detach));
    assert_string_equal(r.snaps[MOVE_SNAP_BASE], "rbdmove-7");

    /* Stored back: the same keys, none added, cli.* untouched. */
    size_t before = journal_count(j);
    move_record_store(&r, j);
    assert_int_equal(journal_count(j), before);
    assert_string_equal(journal_get(j, "cutover.downtime"), "2.718");
    assert_string_equal(journal_get(j, "cli.volume"), "data-1");
    assert_null(journal_get(j, "cutover.t_detach"));

    r.phase = MOVE_ATTACHING;
    r.cutover.t_final = 0.25;
    move_record_set(&r.dst.volume, "v2");
    move_record_store(&r, j);
    assert_string_equal(journal_get(j, "phase"), "attaching");
    assert_string_equal(journal_get(j, "cutover.t_final"), "0.250");
    assert_string_equal(journal_get(j, "dst.volume"), "v2");

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phase_names),
        cmocka_unit_test(test_phase_steps),
        cmocka_unit_test(test_record_old_journal),
        cmocka_unit_test(test_record_refuses_bad_values),
        cmocka_unit_test(test_record_no_phase),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
