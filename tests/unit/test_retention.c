/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_retention.c: sync --keep policies. A count keeps the
 * newest N; "24h:hourly,7d:daily" keeps the newest point of each hour of
 * the last day and of each day of the last week, and the base always;
 * points of unknown time stay; bad policies are refused with what is
 * wrong; snapshot names give their times, a group's point's (sync
 * --server) too, and only those end in the group suffix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rbdmove/core/replicate.h"
#include "rbdmove/core/retention.h"

#define H 3600
#define D 86400

static struct retention parse_ok(const char *s)
{
    struct retention r;
    struct error err = ERROR_INIT;

    assert_int_equal(retention_parse(s, &r, &err), 0);
    return r;
}

static void test_retention_count(void **state)
{
    struct retention r = parse_ok("3");
    time_t t[] = {100, 400, 200, 500, 300};
    bool keep[5];

    (void)state;
    retention_select(&r, 1000, t, 5, keep);
    assert_false(keep[0]);
    assert_true(keep[1]);
    assert_false(keep[2]);
    assert_true(keep[3]);
    assert_true(keep[4]);
    r = parse_ok("1");
    retention_select(&r, 1000, t, 5, keep);
    assert_true(keep[3]);
    assert_false(keep[0] || keep[1] || keep[2] || keep[4]);
}

static void test_retention_hourly_daily(void **state)
{
    struct retention r = parse_ok("24h:hourly,7d:daily");
    /* now: day 10, 12:30. Points every 20 minutes for the last 3 hours,
     * then one at 12:00 of each of the days 1 to 9. */
    time_t now = 10 * D + 12 * H + 1800;
    time_t t[32];
    bool keep[32];
    size_t n = 0;

    (void)state;
    for (int m = 0; m <= 180; m += 20)
        t[n++] = now - m * 60; /* 10 points: 12:30 back to 9:30 */
    for (int d = 1; d <= 9; d++)
        t[n++] = d * D + 12 * H;
    retention_select(&r, now, t, n, keep);
    /* The last three hours: the newest of each of 12:xx, 11:xx, 10:xx,
     * 9:xx. 12:30 (base) and 12:10 share an hour: 12:30 stays. */
    assert_true(keep[0]);  /* 12:30 */
    assert_false(keep[1]); /* 12:10 */
    assert_true(keep[2]);  /* 11:50 */
    assert_false(keep[3]); /* 11:30 */
    assert_false(keep[4]); /* 11:10 */
    assert_true(keep[5]);  /* 10:50 */
    assert_false(keep[6]);
    assert_false(keep[7]);
    assert_true(keep[8]); /* 9:50 */
    assert_false(keep[9]);
    /* Daily for a week: days 3 to 9 (day 3 12:00 is 7 days and 30 minutes
     * old: out); day 10 is the base's. */
    for (int d = 1; d <= 9; d++)
        assert_int_equal(keep[9 + d], d >= 4);
}

static void test_retention_unknown_time_stays(void **state)
{
    struct retention r = parse_ok("1h:hourly");
    time_t t[] = {-1, 10 * D, 10 * D - 5 * H};
    bool keep[3];

    (void)state;
    retention_select(&r, 10 * D, t, 3, keep);
    assert_true(keep[0]);
    assert_true(keep[1]);
    assert_false(keep[2]);
}

static void test_retention_bad_policies(void **state)
{
    static const char *const bad[] = {
        "0",           "1001",   "",           "24h",
        "24h:",        ":daily", "24x:hourly", "1h:daily",
        "24h:hourly,", "h:1h",   "-3",         "99999999999999999999"};
    struct retention r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct error err = ERROR_INIT;

        assert_int_equal(retention_parse(bad[i], &r, &err), -1);
        assert_int_equal(err.kind, ERROR_USAGE);
        assert_non_null(strstr(err.msg, "--keep"));
    }
    r = parse_ok("30m:15m,2w:weekly");
    assert_int_equal(r.rules, 2);
    assert_int_equal(r.rule[0].window, 1800);
    assert_int_equal(r.rule[0].every, 900);
    assert_int_equal(r.rule[1].every, 604800);
}

static void test_retention_snap_time(void **state)
{
    (void)state;
    assert_int_equal(retention_snap_time("rbdmove-19700102T000001Z-abcdef"),
                     D + 1);
    assert_int_equal(retention_snap_time("rbdmove-20261206T024757Z-f45d34"),
                     1796525277);
    assert_int_equal(retention_snap_time("other-20261206T024757Z-f45d34"), -1);
    assert_int_equal(retention_snap_time("rbdmove-2026"), -1);
}

static void test_retention_parse_time(void **state)
{
    (void)state;
    assert_int_equal(retention_parse_time("1970-01-02T00:00:01Z"), D + 1);
    assert_int_equal(retention_parse_time("2026-12-06T02:47:57Z"), 1796525277);
    assert_int_equal(retention_parse_time("2026-12-06T02:47:57"), -1);
    assert_int_equal(retention_parse_time("2026-12-06T02:47:57Z "), -1);
    assert_int_equal(retention_parse_time("latest"), -1);
    assert_int_equal(retention_parse_time(""), -1);
}

static void test_retention_point_at(void **state)
{
    const time_t t[] = {300, 100, -1, 200, 200};

    (void)state;
    assert_int_equal(retention_point_at(t, 5, 1000), 0);
    assert_int_equal(retention_point_at(t, 5, 300), 0);
    assert_int_equal(retention_point_at(t, 5, 299), 4);
    assert_int_equal(retention_point_at(t, 5, 199), 1);
    assert_int_equal(retention_point_at(t, 5, 99), -1);
    assert_int_equal(retention_point_at(t, 0, 1000), -1);
}

static void test_group_point_names(void **state)
{
    char *g = replicate_group_snap_name(0);
    time_t now = time(NULL), t;

    (void)state;
    assert_true(replicate_snap_is_ours(g));
    assert_true(replicate_snap_is_group(g));
    t = retention_snap_time(g);
    assert_true(t >= now - 5 && t <= now + 5);
    assert_false(replicate_snap_is_group("rbdmove-20261207T121840Z-0df0b7"));
    assert_false(replicate_snap_is_group("other-20261207T121840Z-0df0b7-g"));
    assert_false(replicate_snap_is_group("rbdmove-a b-g"));
    assert_false(replicate_snap_is_group("-g"));
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retention_count),
        cmocka_unit_test(test_retention_hourly_daily),
        cmocka_unit_test(test_retention_unknown_time_stays),
        cmocka_unit_test(test_retention_bad_policies),
        cmocka_unit_test(test_retention_snap_time),
        cmocka_unit_test(test_retention_parse_time),
        cmocka_unit_test(test_retention_point_at),
        cmocka_unit_test(test_group_point_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
