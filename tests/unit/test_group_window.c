/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_group_window.c: the record sync --server leaves on a copy
 * of what its source wrote between its own snapshot of a point and the
 * group's (MOVE_GROUP_WINDOW_KEY): formatted and parsed back, refused for
 * another point and when malformed (a copy's metadata is anyone's with
 * access to the pool), and many ranges folded into one that covers them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/core/migrate_int.h"

#define P "rbdmove-20261207T121840Z-0df0b7-g"

static void test_window_round_trip(void **state)
{
    uint64_t off[] = {0, 65536, 1048576};
    uint64_t len[] = {4096, 65536, 4194304};
    struct dest_extents x = {off, len, 3}, y;
    char *v = move_group_window_format(P, &x);

    (void)state;
    assert_string_equal(v, P " 0+4096 65536+65536 1048576+4194304");
    assert_int_equal(move_group_window_parse(v, P, &y), 0);
    assert_int_equal(y.n, 3);
    assert_int_equal(y.off[2], 1048576);
    assert_int_equal(y.len[2], 4194304);
    dest_extents_release(&y);
    free(v);
}

static void test_window_empty(void **state)
{
    struct dest_extents x = {NULL, NULL, 0}, y;
    char *v = move_group_window_format(P, &x);

    (void)state;
    assert_string_equal(v, P);
    assert_int_equal(move_group_window_parse(v, P, &y), 0);
    assert_int_equal(y.n, 0);
    free(v);
}

static void test_window_refused(void **state)
{
    struct dest_extents y;

    (void)state;
    assert_int_equal(move_group_window_parse(P " 0+1", "other-g", &y), -1);
    assert_int_equal(move_group_window_parse(P "x 0+1", P, &y), -1);
    assert_int_equal(move_group_window_parse(P " 10+5 0+5", P, &y), -1);
    assert_int_equal(move_group_window_parse(P " 0+10 5+5", P, &y), -1);
    assert_int_equal(move_group_window_parse(P " 0+0", P, &y), -1);
    assert_int_equal(move_group_window_parse(P " -1+5", P, &y), -1);
    assert_int_equal(move_group_window_parse(P " 5", P, &y), -1);
    assert_int_equal(move_group_window_parse(P " 5+", P, &y), -1);
    assert_int_equal(move_group_window_parse(P " 5+5x", P, &y), -1);
    assert_int_equal(
        move_group_window_parse(P " 18446744073709551615+2", P, &y), -1);
}

static void test_window_many_folded(void **state)
{
    size_t n = MOVE_GROUP_WINDOW_MAX + 1;
    uint64_t *off = calloc(n, sizeof(*off)), *len = calloc(n, sizeof(*len));
    struct dest_extents x = {off, len, n}, y;
    char *v;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        off[i] = 4096 + i * 8192;
        len[i] = 4096;
    }
    v = move_group_window_format(P, &x);
    assert_int_equal(move_group_window_parse(v, P, &y), 0);
    assert_int_equal(y.n, 1);
    assert_int_equal(y.off[0], 4096);
    assert_int_equal(y.off[0] + y.len[0], off[n - 1] + len[n - 1]);
    dest_extents_release(&y);
    free(v);
    free(off);
    free(len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_round_trip),
        cmocka_unit_test(test_window_empty),
        cmocka_unit_test(test_window_refused),
        cmocka_unit_test(test_window_many_folded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
