/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_core.c: the pure parts of the core: zero detection of
 * the copy engine, comparison of hash lists, the control protocol's
 * tokens, the JSON writer and the journal's atomic records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rbdmove/copy.h"
#include "rbdmove/journal.h"
#include "rbdmove/json_out.h"
#include "rbdmove/proto.h"
#include "rbdmove/strutil.h"
#include "rbdmove/verify.h"

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

static void test_proto_tokens_roundtrip(void **state)
{
    struct buf line = BUF_INIT;
    struct proto_tokens t;
    struct error err = ERROR_INIT;

    (void)state;
    proto_add(&line, "meta");
    proto_add(&line, "rbdmove.base");
    proto_add(&line, "v1 fsid=x snap=a\nb;rm -rf /");
    proto_add(&line, "");
    assert_null(strchr(buf_str(&line), '\n'));
    assert_int_equal(proto_split(buf_str(&line), &t, &err), 0);
    assert_int_equal(t.n, 4);
    assert_string_equal(t.v[2], "v1 fsid=x snap=a\nb;rm -rf /");
    assert_string_equal(t.v[3], "");
    proto_tokens_release(&t);
    assert_int_equal(proto_split("ok %zz", &t, &err), -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    buf_release(&line);
}

static void test_json_out_escapes(void **state)
{
    struct json_out j = JSON_OUT_INIT;

    (void)state;
    json_out_object_begin(&j, NULL);
    json_out_str(&j, "a", "q\"\\\n\x01");
    json_out_u64(&j, "n", 18446744073709551615ull);
    json_out_array_begin(&j, "l");
    json_out_bool(&j, NULL, true);
    json_out_null(&j, NULL);
    json_out_array_end(&j);
    json_out_str(&j, "bad", "\xff\xfe");
    json_out_object_end(&j);
    assert_string_equal(json_out_text(&j),
                        "{\"a\":\"q\\\"\\\\\\u000a\\u0001\",\"n\":"
                        "18446744073709551615,\"l\":[true,null],"
                        "\"bad\":\"\\ufffd\\ufffd\"}");
    json_out_release(&j);
}

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
        cmocka_unit_test(test_zero_runs_split_on_aligned_blocks),
        cmocka_unit_test(test_zero_runs_merge_and_unaligned_start),
        cmocka_unit_test(test_zero_runs_all_zero),
        cmocka_unit_test(test_verify_compare_merges_ranges),
        cmocka_unit_test(test_proto_tokens_roundtrip),
        cmocka_unit_test(test_json_out_escapes),
        cmocka_unit_test(test_journal_roundtrip_and_lock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
