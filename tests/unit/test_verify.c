/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_verify.c: comparison of two hash lists (verify_compare):
 * differing blocks merge into ranges, a size difference is one more range;
 * the hashing window that goes with a copy's window (verify_window).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rbdmove/core/verify.h"

static void test_verify_compare_merges_ranges(void **state)
{
    uint64_t ha[6] = {1, 2, 3, 4, 5, 6}, hb[6] = {1, 9, 9, 4, 5, 7};
    struct dest_hashes a = {4096, 6 * 4096, 6, ha};
    struct dest_hashes b = {4096, 6 * 4096, 6, hb};
    struct verify_range r[4];

    (void)state;
    assert_int_equal(verify_compare(&a, &b, r, 4), 2);
    assert_int_equal(r[0].off, 4096);
    assert_int_equal(r[0].len, 2 * 4096);
    assert_int_equal(r[1].off, 5 * 4096);
    b.size = 7 * 4096;
    assert_int_equal(verify_compare(&a, &b, r, 4), 3);
    assert_int_equal(verify_compare(&a, &a, r, 4), 0);
}

/* A smaller --window is a memory budget the hashing keeps too; the default
 * and larger windows hash VERIFY_WINDOW blocks at once, as before. */
static void test_verify_window_follows_copy_window(void **state)
{
    (void)state;
    assert_int_equal(verify_window(0), VERIFY_WINDOW);
    assert_int_equal(verify_window(1), 2);
    assert_int_equal(verify_window(2), 4);
    assert_int_equal(verify_window(7), 14);
    assert_int_equal(verify_window(8), VERIFY_WINDOW);
    assert_int_equal(verify_window(256), VERIFY_WINDOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_compare_merges_ranges),
        cmocka_unit_test(test_verify_window_follows_copy_window),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
