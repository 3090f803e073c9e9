/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_receiver.c: what `rbdmove receive` makes of the numbers
 * in a client's requests (issue 11). Requests come from a memory
 * transport; every one here is refused while it is parsed, before the
 * receiver touches a cluster, so none is needed (cl is NULL). Each gets an
 * "err" answer of kind ERROR_PROTOCOL naming the field and the value, and
 * the receiver goes on serving. What it does with good requests is covered
 * by tests/integration/t30-ssh-copy.sh against a real cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/core/proto.h"
#include "rbdmove/core/receiver.h"
#include "transport/transport.h"

/* Serve request, then hello; expect a protocol error holding s1 and s2,
 * and the hello still answered. */
static void refused(const char *request, const char *s1, const char *s2)
{
    struct buf in = BUF_INIT;
    struct transport *t;
    struct proto_tokens tok;
    struct error err = ERROR_INIT;
    const char *out;
    char *copy, *nl;
    char kind[16];
    size_t len = 0;

    buf_addf(&in, "%s\nhello\nquit\n", request);
    t = transport_memory_new(buf_str(&in), in.len, "client");
    assert_int_equal(receiver_serve(NULL, "rbd", "vol", t, -1, &err), 0);
    out = transport_memory_output(t, &len);
    copy = xstrndup(out, len);
    nl = strchr(copy, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_int_equal(proto_split(copy, &tok, &err), 0);
    assert_int_equal(tok.n, 4);
    assert_string_equal(tok.v[0], "err");
    snprintf(kind, sizeof(kind), "%d", (int)ERROR_PROTOCOL);
    assert_string_equal(tok.v[1], kind);
    if (s1 && !strstr(tok.v[3], s1))
        fail_msg("'%s' not in '%s' (request '%s')", s1, tok.v[3], request);
    if (s2 && !strstr(tok.v[3], s2))
        fail_msg("'%s' not in '%s' (request '%s')", s2, tok.v[3], request);
    assert_non_null(strstr(nl + 1, "ok version"));
    proto_tokens_release(&tok);
    free(copy);
    transport_free(t);
    buf_release(&in);
}

static void test_receiver_refuses_bad_hash_blocks_sizes(void **state)
{
    (void)state;
    refused("hash - 0", "invalid block '0'", "power of two");
    refused("hash - 4097", "invalid block '4097'", "power of two");
    refused("hash - 2048", "invalid block '2048'", NULL);
    refused("hash - 1073741824", "invalid block '1073741824'", NULL);
    refused("hash - -4096", "invalid block '-4096'", NULL);
    refused("hash -", "usage: hash SNAP BLOCK", NULL);
    refused("hash-blocks - 6291456 1", "invalid block '6291456'", NULL);
}

static void test_receiver_refuses_bad_block_lists(void **state)
{
    (void)state;
    refused("hash-blocks - 65536 3%2C2", "entry 1", "invalid block index '2'");
    refused("hash-blocks - 65536 3%2C3", "entry 1", "'3'");
    refused("hash-blocks - 65536 1%2C", "malformed block list", NULL);
    refused("hash-blocks - 65536 %2C1", "entry 0", "''");
    refused("hash-blocks - 65536 -1", "entry 0", "'-1'");
    refused("hash-blocks - 65536 1x", "entry 0", "'1x'");
    /* 2^54 / 2^16 blocks: the last is 2^38 - 1 */
    refused("hash-blocks - 65536 274877906944", "entry 0", "274877906944");
    refused("hash-blocks - 65536 18446744073709551616", "entry 0", NULL);
}

static void test_receiver_refuses_bad_sizes_and_orders(void **state)
{
    (void)state;
    refused("create 18446744073709551615 22", "invalid size",
            "18446744073709551615");
    refused("create 18014398509481985 22", "invalid size", NULL);
    refused("create 4096 27", "invalid order '27'", NULL);
    refused("create 4096 11", "invalid order '11'", NULL);
    refused("create -4096 22", "invalid size '-4096'", NULL);
    refused("resize 18014398509481985", "invalid size", "18014398509481985");
    refused("resize %2B1", "invalid size '+1'", NULL);
}

static void test_receiver_refuses_a_short_commit(void **state)
{
    (void)state;
    refused("commit s1 k v", "usage: commit SNAP KEY VALUE REMOVE_KEY", NULL);
    refused("commit s1 k v r x", "usage: commit", NULL);
}

static void test_receiver_refuses_a_bare_rollback(void **state)
{
    (void)state;
    refused("rollback", "usage: rollback SNAP", NULL);
    refused("rollback a b", "usage: rollback SNAP", NULL);
}

static void test_receiver_refuses_bad_apply(void **state)
{
    (void)state;
    refused("apply 65 0 2 4194304 0", "invalid streams '65'", NULL);
    refused("apply 0 0 2 4194304 0", "invalid streams '0'", NULL);
    refused("apply 1 23 8 4194304 0", "invalid level '23'", NULL);
    /* streams x window: at most 256 chunks in flight */
    refused("apply 4 0 65 4194304 0", "invalid window '65'", "1 to 64");
    refused("apply 1 0 257 4194304 0", "invalid window '257'", NULL);
    refused("apply 1 0 8 2048 0", "invalid chunk '2048'", NULL);
    refused("apply 1 0 8 134217728 0", "invalid chunk", NULL);
    refused("apply 1 0 8 4194304 2", "invalid zero '2'", NULL);
    /* Each number in range, together 16 GiB of buffers. */
    refused("apply 1 0 256 67108864 0", "more than the 1024 MiB", NULL);
    refused("apply 32 0 8 67108864 0", "32 streams x 8 chunks", NULL);
    refused("apply 1 0 8 4194304 0 -1 k p", "invalid checkpoint '-1'", NULL);
    refused("apply 1 0 8 4194304", "usage: apply", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receiver_refuses_bad_hash_blocks_sizes),
        cmocka_unit_test(test_receiver_refuses_bad_block_lists),
        cmocka_unit_test(test_receiver_refuses_bad_sizes_and_orders),
        cmocka_unit_test(test_receiver_refuses_bad_apply),
        cmocka_unit_test(test_receiver_refuses_a_short_commit),
        cmocka_unit_test(test_receiver_refuses_a_bare_rollback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
