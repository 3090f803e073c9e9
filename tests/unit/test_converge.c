/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_converge.c: when the rounds stop. The budget follows
 * --max-downtime within its bounds; a final round that fits is a cutover;
 * a large delta at the seed's (optimistic) rate is measured by a round
 * first; rounds that do not shrink, or too many of them, give up; the
 * model of where rounds settle says when more rounds alone cannot fit.
 * Auto-converge's ladder: 50%, 30%, 10% of the rate measured before the
 * first step, clamped to the floor, one measured round per level, never
 * above a limit already in force, and stuck past the last level.
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

/* The settled change of rounds: rate x overhead / (1 - rate/throughput). */
static void test_converge_hopeless(void **state)
{
    struct converge c;

    (void)state;
    converge_init(&c, 10); /* budget 1 s */
    /* Not measured: never hopeless. */
    assert_false(converge_hopeless(&c, 0, 70 * MiB, 1.6));
    assert_false(converge_hopeless(&c, 40 * MiB, 0, 1.6));
    assert_false(converge_hopeless(&c, 40 * MiB, 70 * MiB, 0));
    /* The rotational lab at 40 MB/s: settles at 40*1.6/(1-4/7) = 149 MiB,
     * 2.1 s of final round. */
    assert_true(converge_hopeless(&c, 40 * MiB, 70 * MiB, 1.6));
    /* Limited to 12 MiB/s: 12*1.6/(1-12/70) = 23 MiB, 0.33 s. */
    assert_false(converge_hopeless(&c, 12 * MiB, 70 * MiB, 1.6));
    /* The tuned lab at 20 MB/s: 20*0.5/(1-20/150) = 11.5 MiB. */
    assert_false(converge_hopeless(&c, 20 * MiB, 150 * MiB, 0.5));
    /* As fast as a round copies, or nearly: no settling point. */
    assert_true(converge_hopeless(&c, 70 * MiB, 70 * MiB, 0.01));
    assert_true(converge_hopeless(&c, 64 * MiB, 70 * MiB, 0.01));
    assert_true(converge_hopeless(&c, 90 * MiB, 70 * MiB, 0.01));
    /* Settling a little above the budget is not hopeless (a small round
     * ends the move): 20*2/(1-20/60) = 60 MiB, 1.0 s at 60 MiB/s; 1.4 s
     * is below the margin, 1.6 s above it. */
    assert_false(converge_hopeless(&c, 20 * MiB, 60 * MiB, 2.0));
    assert_false(converge_hopeless(&c, 20 * MiB, 50 * MiB, 2.0));
    assert_true(converge_hopeless(&c, 20 * MiB, 40 * MiB, 1.6));
    /* A smaller budget takes a smaller settled change. */
    converge_init(&c, 5.5); /* budget 0.5 s */
    assert_true(converge_hopeless(&c, 20 * MiB, 60 * MiB, 2.0));
}

static void test_throttle_percent_and_rate(void **state)
{
    (void)state;
    assert_int_equal(converge_throttle_percent(0), 100);
    assert_int_equal(converge_throttle_percent(1), 50);
    assert_int_equal(converge_throttle_percent(2), 30);
    assert_int_equal(converge_throttle_percent(3), 10);
    assert_int_equal(converge_throttle_percent(4), 100);
    assert_true(converge_write_rate(100 * MiB, 4) == 25.0 * MiB);
    assert_true(converge_write_rate(100 * MiB, 0) == 0);
}

/* Stuck after two rounds that do not shrink: returns the delta given. */
static void get_stuck(struct converge *c, unsigned *rounds)
{
    double p;

    converge_init(c, 10);
    assert_int_equal(converge_next(c, 300 * MiB, 100 * MiB, true, 1, 20, &p),
                     CONVERGE_ROUND);
    assert_int_equal(converge_next(c, 300 * MiB, 100 * MiB, true, 2, 20, &p),
                     CONVERGE_ROUND);
    assert_int_equal(converge_next(c, 300 * MiB, 100 * MiB, true, 3, 20, &p),
                     CONVERGE_STUCK);
    *rounds = 3;
}

static void test_throttle_ladder(void **state)
{
    struct converge c;
    struct converge_throttle t;
    unsigned rounds;
    double p;

    (void)state;
    converge_throttle_init(&t, 1 * MiB);
    get_stuck(&c, &rounds);
    /* 100 MiB/s measured: level 1 is half of it. */
    assert_int_equal(
        converge_throttle_next(&c, &t, 300 * MiB, 100.0 * MiB, rounds, 20),
        CONVERGE_THROTTLE);
    assert_int_equal(t.level, 1);
    assert_int_equal(t.limit, 50 * MiB);
    assert_true(t.rate_before == 100.0 * MiB);
    /* One round under it that does not shrink a tenth: stuck again. */
    assert_int_equal(converge_next(&c, 280 * MiB, 100 * MiB, true, 4, 20, &p),
                     CONVERGE_STUCK);
    /* Level 2 is 30% of the rate before the first step, not of the
     * rate measured under level 1. */
    assert_int_equal(
        converge_throttle_next(&c, &t, 280 * MiB, 50.0 * MiB, 4, 20),
        CONVERGE_THROTTLE);
    assert_int_equal(t.level, 2);
    assert_int_equal(t.limit, 30 * MiB);
    /* A level that helps is kept while it does. */
    assert_int_equal(converge_next(&c, 200 * MiB, 100 * MiB, true, 5, 20, &p),
                     CONVERGE_ROUND);
    assert_int_equal(converge_next(&c, 150 * MiB, 100 * MiB, true, 6, 20, &p),
                     CONVERGE_ROUND);
    assert_int_equal(converge_next(&c, 150 * MiB, 100 * MiB, true, 7, 20, &p),
                     CONVERGE_ROUND);
    assert_int_equal(converge_next(&c, 150 * MiB, 100 * MiB, true, 8, 20, &p),
                     CONVERGE_STUCK);
    assert_int_equal(
        converge_throttle_next(&c, &t, 150 * MiB, 30.0 * MiB, 8, 20),
        CONVERGE_THROTTLE);
    assert_int_equal(t.level, 3);
    assert_int_equal(t.limit, 10 * MiB);
    /* Under it, the change shrinks until the final round fits. */
    assert_int_equal(converge_next(&c, 40 * MiB, 100 * MiB, true, 9, 20, &p),
                     CONVERGE_CUTOVER);
    /* Had it not: nothing below the last level. */
    assert_int_equal(
        converge_throttle_next(&c, &t, 150 * MiB, 10.0 * MiB, 9, 20),
        CONVERGE_STUCK);
    assert_int_equal(t.level, 3);
    assert_int_equal(t.limit, 10 * MiB);
}

static void test_throttle_floor(void **state)
{
    struct converge c;
    struct converge_throttle t;
    unsigned rounds;

    (void)state;
    /* 8 MiB/s measured, floor 3 MiB/s: 4 MiB/s, then the floor, then
     * nothing lower. */
    converge_throttle_init(&t, 3 * MiB);
    get_stuck(&c, &rounds);
    assert_int_equal(
        converge_throttle_next(&c, &t, 300 * MiB, 8.0 * MiB, rounds, 20),
        CONVERGE_THROTTLE);
    assert_int_equal(t.limit, 4 * MiB);
    assert_int_equal(
        converge_throttle_next(&c, &t, 300 * MiB, 4.0 * MiB, rounds + 1, 20),
        CONVERGE_THROTTLE);
    assert_int_equal(t.level, 2);
    assert_int_equal(t.limit, 3 * MiB);
    assert_int_equal(
        converge_throttle_next(&c, &t, 300 * MiB, 3.0 * MiB, rounds + 2, 20),
        CONVERGE_STUCK);
    assert_int_equal(t.level, 2);
    /* A writer already under the floor: no limit would slow it. */
    converge_throttle_init(&t, 3 * MiB);
    get_stuck(&c, &rounds);
    assert_int_equal(
        converge_throttle_next(&c, &t, 300 * MiB, 2.0 * MiB, rounds, 20),
        CONVERGE_STUCK);
    assert_int_equal(t.level, 0);
    /* Never a limit of zero. */
    converge_throttle_init(&t, 0);
    assert_int_equal(t.floor, 1);
}

static void test_throttle_cap_rate_rounds(void **state)
{
    struct converge c;
    struct converge_throttle t;
    unsigned rounds;

    (void)state;
    /* An operator's limit of 20 MiB/s is lower than half of the rate
     * measured (burst, or not in force yet): never raised. */
    converge_throttle_init(&t, 1 * MiB);
    t.cap = 20 * MiB;
    get_stuck(&c, &rounds);
    assert_int_equal(
        converge_throttle_next(&c, &t, 300 * MiB, 100.0 * MiB, rounds, 20),
        CONVERGE_STUCK);
    /* Under it, the ladder applies. */
    t.cap = 80 * MiB;
    assert_int_equal(
        converge_throttle_next(&c, &t, 300 * MiB, 100.0 * MiB, rounds, 20),
        CONVERGE_THROTTLE);
    assert_int_equal(t.limit, 50 * MiB);
    /* The rate not measured yet: a round first. */
    converge_throttle_init(&t, 1 * MiB);
    get_stuck(&c, &rounds);
    assert_int_equal(converge_throttle_next(&c, &t, 300 * MiB, 0, rounds, 20),
                     CONVERGE_ROUND);
    assert_int_equal(t.level, 0);
    /* Out of rounds: a limit could not be used. */
    assert_int_equal(
        converge_throttle_next(&c, &t, 300 * MiB, 100.0 * MiB, 20, 20),
        CONVERGE_STUCK);
    assert_int_equal(t.level, 0);
}

/* The same inputs, the same steps (no clock, no state outside). */
static void test_throttle_deterministic(void **state)
{
    uint64_t limits[2][CONVERGE_THROTTLE_LEVELS];

    (void)state;
    for (int run = 0; run < 2; run++) {
        struct converge c;
        struct converge_throttle t;
        unsigned rounds;

        converge_throttle_init(&t, 1 * MiB);
        get_stuck(&c, &rounds);
        for (unsigned i = 0; i < CONVERGE_THROTTLE_LEVELS; i++) {
            assert_int_equal(converge_throttle_next(&c, &t, 300 * MiB,
                                                    77.0 * MiB, rounds + i, 20),
                             CONVERGE_THROTTLE);
            limits[run][i] = t.limit;
        }
    }
    assert_memory_equal(limits[0], limits[1], sizeof(limits[0]));
    assert_true(limits[0][0] > limits[0][1] && limits[0][1] > limits[0][2]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converge_budget),
        cmocka_unit_test(test_converge_steps),
        cmocka_unit_test(test_converge_gives_up),
        cmocka_unit_test(test_converge_hopeless),
        cmocka_unit_test(test_throttle_percent_and_rate),
        cmocka_unit_test(test_throttle_ladder),
        cmocka_unit_test(test_throttle_floor),
        cmocka_unit_test(test_throttle_cap_rate_rounds),
        cmocka_unit_test(test_throttle_deterministic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
