/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_proto.c: the control protocol's tokens: any string,
 * newlines included, survives proto_add and proto_split on one line; and
 * the checks on the numbers a peer sends (issue 11): strict digits, ranges,
 * block sizes, hashes, block counts and extents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/core/proto.h"

/* err is ERROR_PROTOCOL and its message holds s (when not NULL). */
static void expect_protocol(const struct error *err, const char *s)
{
    assert_int_equal(err->kind, ERROR_PROTOCOL);
    if (s && !strstr(err->msg, s))
        fail_msg("'%s' not in '%s'", s, err->msg);
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

static void parse_fails(const char *s, uint64_t min, uint64_t max)
{
    struct error err = ERROR_INIT;
    uint64_t v = 42;

    assert_int_equal(proto_parse_u64(s, "count", min, max, &v, &err), -1);
    assert_int_equal(v, 42);
    expect_protocol(&err, "invalid count '");
}

static void test_proto_parse_u64_takes_digits_only(void **state)
{
    struct error err = ERROR_INIT;
    uint64_t v = 0;

    (void)state;
    assert_int_equal(proto_parse_u64("0", "x", 0, 10, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(
        proto_parse_u64("18446744073709551615", "x", 0, UINT64_MAX, &v, &err),
        0);
    assert_int_equal(v, UINT64_MAX);
    parse_fails("", 0, UINT64_MAX);
    parse_fails("-1", 0, UINT64_MAX); /* strtoull: 2^64 - 1 */
    parse_fails("+1", 0, UINT64_MAX);
    parse_fails(" 1", 0, UINT64_MAX);
    parse_fails("1 ", 0, UINT64_MAX);
    parse_fails("1x", 0, UINT64_MAX);
    parse_fails("0x10", 0, UINT64_MAX);
    parse_fails("18446744073709551616", 0, UINT64_MAX); /* ERANGE */
}

static void test_proto_parse_u64_checks_the_range(void **state)
{
    struct error err = ERROR_INIT;
    uint64_t v = 0;

    (void)state;
    assert_int_equal(proto_parse_u64("65536", "snaps", 0, 65536, &v, &err), 0);
    assert_int_equal(proto_parse_u64("65537", "snaps", 0, 65536, &v, &err), -1);
    expect_protocol(&err, "invalid snaps '65537' (expected a whole number "
                          "from 0 to 65536)");
    parse_fails("3", 4, 10);
}

/* A value from the peer is shown short and without control bytes. */
static void test_proto_parse_u64_shows_values_safely(void **state)
{
    struct error err = ERROR_INIT;
    uint64_t v = 0;

    (void)state;
    assert_int_equal(proto_parse_u64("1\x1b[2J", "n", 0, 9, &v, &err), -1);
    expect_protocol(&err, "'1?[2J'");
    assert_int_equal(
        proto_parse_u64("1234567890123456789012345678901234567890123", "n", 0,
                        9, &v, &err),
        -1);
    expect_protocol(&err, "'1234567890123456789012345678901234567890...'");
}

static void test_proto_get_u64_range(void **state)
{
    struct proto_tokens t;
    struct error err = ERROR_INIT;
    uint64_t v = 0;

    (void)state;
    assert_int_equal(proto_split("n=3 size=-1 e=", &t, &err), 0);
    assert_int_equal(proto_get_u64_range(&t, "n", 3, 3, &v, &err), 0);
    assert_int_equal(v, 3);
    assert_int_equal(proto_get_u64_range(&t, "n", 4, 9, &v, &err), -1);
    expect_protocol(&err, "the receiver's answer: invalid n '3'");
    assert_int_equal(proto_get_u64(&t, "size", &v, &err), -1);
    expect_protocol(&err, "invalid size '-1'");
    assert_int_equal(proto_get_u64(&t, "e", &v, &err), -1);
    expect_protocol(&err, "invalid e ''");
    assert_int_equal(proto_get_u64(&t, "block", &v, &err), -1);
    expect_protocol(&err, "lacks 'block'");
    assert_int_equal(v, 3);
    proto_tokens_release(&t);
}

static void test_proto_parse_block_wants_a_power_of_two(void **state)
{
    struct error err = ERROR_INIT;
    uint64_t v = 0;

    (void)state;
    assert_int_equal(proto_parse_block("4096", "block", &v, &err), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(proto_parse_block("65536", "block", &v, &err), 0);
    assert_int_equal(proto_parse_block("4194304", "block", &v, &err), 0);
    assert_int_equal(proto_parse_block("67108864", "block", &v, &err), 0);
    assert_int_equal(v, 64u << 20);
    assert_int_equal(proto_parse_block("0", "block", &v, &err), -1);
    expect_protocol(&err, "invalid block '0'");
    assert_int_equal(proto_parse_block("2048", "block", &v, &err), -1);
    assert_int_equal(proto_parse_block("134217728", "block", &v, &err), -1);
    assert_int_equal(proto_parse_block("1073741824", "block", &v, &err), -1);
    assert_int_equal(proto_parse_block("4097", "block", &v, &err), -1);
    expect_protocol(&err, "invalid block '4097' (expected a power of two");
    assert_int_equal(proto_parse_block("6291456", "block", &v, &err), -1);
    assert_int_equal(v, 64u << 20);
}

static void test_proto_parse_hash_wants_16_hex_digits(void **state)
{
    struct error err = ERROR_INIT;
    uint64_t v = 0;

    (void)state;
    assert_int_equal(proto_parse_hash("0123456789abcdef", &v, &err), 0);
    assert_int_equal(v, 0x0123456789abcdefull);
    assert_int_equal(proto_parse_hash("ffffffffffffffff", &v, &err), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(proto_parse_hash("0123456789abcde", &v, &err), -1);
    expect_protocol(&err, "invalid hash '0123456789abcde'");
    assert_int_equal(proto_parse_hash("0123456789abcdef0", &v, &err), -1);
    assert_int_equal(proto_parse_hash("0123456789ABCDEF", &v, &err), -1);
    assert_int_equal(proto_parse_hash("-123456789abcdef", &v, &err), -1);
    assert_int_equal(proto_parse_hash("", &v, &err), -1);
    assert_int_equal(v, UINT64_MAX);
}

static void test_proto_check_nblocks(void **state)
{
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(proto_check_nblocks(0, 4096, 0, &err), 0);
    assert_int_equal(proto_check_nblocks(1, 4096, 1, &err), 0);
    assert_int_equal(proto_check_nblocks(8192, 4096, 2, &err), 0);
    assert_int_equal(proto_check_nblocks(8193, 4096, 3, &err), 0);
    /* size + block - 1 would overflow here */
    assert_int_equal(
        proto_check_nblocks(UINT64_MAX, 4096, UINT64_MAX / 4096 + 1, &err), 0);
    assert_int_equal(proto_check_nblocks(8193, 4096, 2, &err), -1);
    expect_protocol(&err, "2 blocks of 4096 bytes for 8193 bytes");
    assert_int_equal(proto_check_nblocks(0, 4096, 1, &err), -1);
    assert_int_equal(proto_check_nblocks(8192, 0, 0, &err), -1);
    expect_protocol(&err, "blocks of 0 bytes");
}

static void test_proto_check_extent(void **state)
{
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(proto_check_extent(0, 0, 4096, 0, 8192, &err), 0);
    assert_int_equal(proto_check_extent(1, 4096, 4096, 4096, 8192, &err), 0);
    assert_int_equal(proto_check_extent(1, 4096, 4097, 4096, 8192, &err), -1);
    expect_protocol(&err, "extent 1 (4097 bytes at 4096, image of 8192 "
                          "bytes) ends beyond the image");
    assert_int_equal(
        proto_check_extent(0, UINT64_MAX - 4095, 8192, 0, UINT64_MAX, &err),
        -1);
    expect_protocol(&err, "beyond the image");
    assert_int_equal(proto_check_extent(0, 8193, 1, 0, 8192, &err), -1);
    assert_int_equal(proto_check_extent(0, 0, 0, 0, 8192, &err), -1);
    expect_protocol(&err, "is empty");
    assert_int_equal(proto_check_extent(2, 4095, 1, 4096, 8192, &err), -1);
    expect_protocol(&err, "extent 2 (1 bytes at 4095, image of 8192 bytes) "
                          "overlaps or precedes the one before");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto_tokens_roundtrip),
        cmocka_unit_test(test_proto_parse_u64_takes_digits_only),
        cmocka_unit_test(test_proto_parse_u64_checks_the_range),
        cmocka_unit_test(test_proto_parse_u64_shows_values_safely),
        cmocka_unit_test(test_proto_get_u64_range),
        cmocka_unit_test(test_proto_parse_block_wants_a_power_of_two),
        cmocka_unit_test(test_proto_parse_hash_wants_16_hex_digits),
        cmocka_unit_test(test_proto_check_nblocks),
        cmocka_unit_test(test_proto_check_extent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
