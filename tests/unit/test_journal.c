/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_journal.c: the journal's atomic records and its lock:
 * values round-trip through a save, a second driver of the same move is
 * refused, a discarded journal cannot be read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "rbdmove/core/journal.h"

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
    journal_discard(k);
    journal_free(k);
    assert_int_equal(journal_read(dir, id, &k, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_int_equal(journal_read(dir, "../etc", &k, &err), -1);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_roundtrip_and_lock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
