/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_copy.c: zero detection of the copy engine
 * (copy_zero_runs): which runs of a buffer are zero, cut on block
 * boundaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/core/copy.h"

struct runs {
    size_t start[16], len[16];
    bool zero[16];
    size_t n;
};

static int collect(void *ctx, size_t start, size_t len, bool is_zero,
                   struct error *err)
{
    struct runs *r = ctx;

    (void)err;
    assert_true(r->n < 16);
    r->start[r->n] = start;
    r->len[r->n] = len;
    r->zero[r->n] = is_zero;
    r->n++;
    return 0;
}

static void test_zero_runs_split_on_aligned_blocks(void **state)
{
    char *buf = calloc(1, 5 * 4096);
    struct error err = ERROR_INIT;
    struct runs r = {0};

    (void)state;
    buf[4096 + 7] = 1;     /* block 1 has data */
    buf[3 * 4096 + 1] = 1; /* block 3 has data */
    assert_int_equal(copy_zero_runs(buf, 0, 5 * 4096, 4096, collect, &r, &err),
                     0);
    assert_int_equal(r.n, 5);
    assert_true(r.zero[0] && !r.zero[1] && r.zero[2] && !r.zero[3] &&
                r.zero[4]);
    assert_int_equal(r.start[3], 3 * 4096);
    assert_int_equal(r.len[3], 4096);
    free(buf);
}

static void test_zero_runs_merge_and_unaligned_start(void **state)
{
    char *buf = calloc(1, 3 * 4096);
    struct error err = ERROR_INIT;
    struct runs r = {0};

    (void)state;
    memset(buf, 0xab, 3 * 4096);
    /* The buffer starts 100 bytes before a block boundary: the first run
     * is 100 bytes long, then whole blocks; all data merges into one. */
    assert_int_equal(
        copy_zero_runs(buf, 4096 - 100, 3 * 4096, 4096, collect, &r, &err), 0);
    assert_int_equal(r.n, 1);
    assert_false(r.zero[0]);
    assert_int_equal(r.len[0], 3 * 4096);
    free(buf);
}

static void test_zero_runs_all_zero(void **state)
{
    char *buf = calloc(1, 8192);
    struct error err = ERROR_INIT;
    struct runs r = {0};

    (void)state;
    assert_int_equal(copy_zero_runs(buf, 0, 8192, 4096, collect, &r, &err), 0);
    assert_int_equal(r.n, 1);
    assert_true(r.zero[0]);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_runs_split_on_aligned_blocks),
        cmocka_unit_test(test_zero_runs_merge_and_unaligned_start),
        cmocka_unit_test(test_zero_runs_all_zero),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
