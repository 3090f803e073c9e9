/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_converge.c: when the rounds stop. The budget follows
 * --max-downtime within its bounds; a final round that fits is a cutover;
 * a large delta at the seed's (optimistic) rate is measured by a round
 * first; rounds that do not shrink, or too many of them, give up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rbdmove/core/converge.h"

#define MiB (1ull << 20)

static void test_converge_budget(void **state)
{
    struct converge c;

    (void)state;
    converge_init(&c, 10);
    assert_true(c.budget == 1.0);
    converge_init(&c, 5.5);
    assert_true(c.budget == 0.5);
    converge_init(&c, 1);
    assert_true(c.budget == 0.2);
    assert_true(converge_predict(0, 0) == 0);
    assert_true(converge_predict(1, 0) > 1e6);
    assert_true(converge_predict(100 * MiB, 100 * MiB) == 1.0);
}

static void test_converge_steps(void **state)
{
    struct converge c;
    double p;

    (void)state;
    converge_init(&c, 10);
    /* Fits at a measured rate. */
    assert_int_equal(converge_next(&c, 50 * MiB, 100 * MiB, true, 1, 20, &p),
                     CONVERGE_CUTOVER);
    assert_true(p == 0.5);
    /* Would fit at the seed's rate, but too large to trust it. */
    converge_init(&c, 10);
    assert_int_equal(converge_next(&c, 50 * MiB, 100 * MiB, false, 0, 20, &p),
                     CONVERGE_ROUND);
    assert_true(p > c.budget);
    /* Small enough at the seed's rate. */
    assert_int_equal(converge_next(&c, 8 * MiB, 100 * MiB, false, 0, 20, &p),
                     CONVERGE_CUTOVER);
    /* Nothing changed, nothing known: cut over. */
    converge_init(&c, 10);
    assert_int_equal(converge_next(&c, 0, 0, false, 0, 20, &p),
                     CONVERGE_CUTOVER);
}

static void test_converge_gives_up(void **state)
{
    struct converge c;
    double p;

    (void)state;
    /* Shrinking by more than a tenth each time: go on. */
    converge_init(&c, 10);
    assert_int_equal(converge_next(&c, 800 * MiB, 100 * MiB, true, 1, 20, &p),
                     CONVERGE_ROUND);
    assert_int_equal(converge_next(&c, 400 * MiB, 100 * MiB, true, 2, 20, &p),
                     CONVERGE_ROUND);
    assert_int_equal(converge_next(&c, 300 * MiB, 100 * MiB, true, 3, 20, &p),
                     CONVERGE_ROUND);
    /* Two decisions in a row without shrinking a tenth: stuck. */
    assert_int_equal(converge_next(&c, 290 * MiB, 100 * MiB, true, 4, 20, &p),
                     CONVERGE_ROUND);
    assert_int_equal(converge_next(&c, 295 * MiB, 100 * MiB, true, 5, 20, &p),
                     CONVERGE_STUCK);
    assert_true(p > 2.9);
    /* Out of rounds. */
    converge_init(&c, 10);
    assert_int_equal(converge_next(&c, 800 * MiB, 100 * MiB, true, 20, 20, &p),
                     CONVERGE_STUCK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converge_budget),
        cmocka_unit_test(test_converge_steps),
        cmocka_unit_test(test_converge_gives_up),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
