/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_copy.c: zero detection of the copy engine
 * (copy_zero_runs): which runs of a buffer are zero, cut on block
 * boundaries; and the claims that split a transfer over parallel streams
 * (copy_claim_next): every piece goes to exactly one stream.
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

/*
 * Streams stepping in a pseudo-random interleaving, each at its own pace
 * (one much slower, as a stream behind a full window): every piece is
 * sent by exactly one of them, and each sends its pieces in order.
 */
static void test_claims_partition_pieces(void **state)
{
    enum { STREAMS = 4, PIECES = 2000 };
    struct copy_claims c;
    struct copy_claim_cursor cur[STREAMS] = {{0, 0, false}};
    unsigned owner[PIECES];
    unsigned sent[STREAMS] = {0};
    uint64_t last[STREAMS];
    unsigned seed = 12345, left = STREAMS;

    (void)state;
    atomic_init(&c.next, 0);
    memset(owner, 0xff, sizeof(owner));
    while (left > 0) {
        unsigned i;

        seed = seed * 1103515245u + 12345u;
        i = (seed >> 16) % (STREAMS + 6);
        i = i >= STREAMS ? 0 : i; /* stream 0 steps most often */
        if (i == 3 && (seed >> 8) % 8)
            continue; /* stream 3 is the slow one */
        if (cur[i].seen >= PIECES)
            continue;
        uint64_t k = cur[i].seen;

        if (copy_claim_next(&c, &cur[i])) {
            assert_int_equal(owner[k], 0xffffffffu);
            owner[k] = i;
            if (sent[i])
                assert_true(k > last[i]);
            last[i] = k;
            sent[i]++;
        }
        if (cur[i].seen == PIECES)
            left--;
    }
    for (unsigned k = 0; k < PIECES; k++)
        assert_true(owner[k] < STREAMS);
    /* Paced by its steps, the fast stream sends the most. */
    assert_true(sent[0] > sent[3]);
    assert_true(sent[3] > 0);
}

/* Without claims every piece is the stream's. */
static void test_claims_none_sends_all(void **state)
{
    struct copy_claim_cursor cur = {0, 0, false};

    (void)state;
    for (int k = 0; k < 10; k++)
        assert_true(copy_claim_next(NULL, &cur));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_runs_split_on_aligned_blocks),
        cmocka_unit_test(test_zero_runs_merge_and_unaligned_start),
        cmocka_unit_test(test_zero_runs_all_zero),
        cmocka_unit_test(test_claims_partition_pieces),
        cmocka_unit_test(test_claims_none_sends_all),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
