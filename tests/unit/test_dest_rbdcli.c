/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_dest_rbdcli.c: what the --receiver=rbd destination reads
 * from the rbd CLI's JSON output, and what it refuses. The exec callback
 * (an SSH channel in real use) is the seam: a fake host answers each rbd
 * command with recorded output through a memory transport. Running the
 * real rbd is t20/t30's job.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/core/dest.h"
#include "rbdmove/core/image.h"
#include "transport/transport.h"

/* What the fake host's rbd prints, per command; NULL prints nothing. */
struct host {
    const char *ls;
    const char *info;
    size_t info_len; /* 0: strlen(info) */
    const char *meta;
    const char *snaps;
    const char *diff;
    unsigned meta_removes; /* `rbd image-meta remove` commands run */
};

static const char good_info[] =
    "{\"name\":\"img\",\"id\":\"1234abcd\",\"size\":1073741824,"
    "\"objects\":256,\"order\":22,\"object_size\":4194304,"
    "\"snapshot_count\":1,\"block_name_prefix\":\"rbd_data.1234abcd\","
    "\"format\":2,\"features\":[\"layering\",\"exclusive-lock\"],"
    "\"op_features\":[],\"flags\":[],"
    "\"create_timestamp\":\"Mon Jun  3 10:00:00 2024\"}\n";
static const char good_snaps[] =
    "[{\"id\":4,\"name\":\"s1\",\"size\":1073741824,\"protected\":\"false\","
    "\"timestamp\":\"Mon Jun  3 10:00:00 2024\"}]\n";

static struct host good_host(void)
{
    struct host h = {
        .ls = "[\"other\",\"img\"]\n",
        .info = good_info,
        .meta = "{\"rbdmove.base\":\"s1\"}\n",
        .snaps = good_snaps,
        .diff = "[{\"offset\":0,\"length\":4194304,\"exists\":\"true\"},"
                "{\"offset\":8388608,\"length\":4194304,\"exists\":\"true\"}]",
    };

    return h;
}

static int fake_exec(void *ctx, const char *command, struct transport **out,
                     struct error *err)
{
    struct host *h = ctx;
    const char *text = NULL;
    size_t len = 0;

    (void)err;
    if (strstr(command, " --version"))
        text = "ceph version 16.2.15 pacific (stable)\n";
    else if (strstr(command, " snap ls"))
        text = h->snaps;
    else if (strstr(command, " ls --format json"))
        text = h->ls;
    else if (strstr(command, " info --format json")) {
        text = h->info;
        len = h->info_len;
    } else if (strstr(command, " image-meta list"))
        text = h->meta;
    else if (strstr(command, " diff "))
        text = h->diff;
    else if (strstr(command, " image-meta remove"))
        h->meta_removes++;
    if (text && !len)
        len = strlen(text);
    *out = transport_memory_new(text, text ? len : 0, "fake rbd");
    return 0;
}

static struct dest *open_dest(struct host *h)
{
    struct dest_rbdcli_params p = {fake_exec, h, 0};
    struct error err = ERROR_INIT;
    struct dest *d = NULL;

    if (dest_rbdcli_open(&p, "fake", NULL, NULL, "rbd", "img", &d, &err) < 0)
        fail_msg("dest_rbdcli_open: %s", err.msg);
    return d;
}

/* Probe h, which must fail with ERROR_PROTOCOL; returns the message. */
static const char *probe_bad(struct host *h)
{
    static struct error err;
    struct dest *d = open_dest(h);
    struct dest_state st;

    err = (struct error)ERROR_INIT;
    assert_int_equal(dest_probe(d, &st, &err), -1);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    dest_free(d);
    return err.msg;
}

/* Probe with rbd info's "size" written as value; must be refused. */
static const char *probe_size(const char *value)
{
    static char info[256];
    struct host h = good_host();

    snprintf(info, sizeof(info), "{\"id\":\"1234abcd\",\"order\":22%s%s}",
             value ? ",\"size\":" : "", value ? value : "");
    h.info = info;
    return probe_bad(&h);
}

static void expect(const char *msg, const char *part)
{
    if (!strstr(msg, part))
        fail_msg("'%s' does not contain '%s'", msg, part);
}

static void test_dest_rbdcli_probe_reads_rbd_json(void **state)
{
    struct host h = good_host();
    struct error err = ERROR_INIT;
    struct dest *d = open_dest(&h);
    struct dest_state st;

    (void)state;
    assert_int_equal(dest_probe(d, &st, &err), 0);
    assert_true(st.exists);
    assert_true(st.size == 1073741824);
    assert_int_equal(st.order, 22);
    assert_string_equal(st.image_id, "1234abcd");
    assert_string_equal(st.meta_base, "s1");
    assert_null(st.meta_seed);
    assert_null(st.meta_pending);
    assert_int_equal(st.nsnaps, 1);
    assert_string_equal(st.snaps[0].name, "s1");
    assert_int_equal(st.snaps[0].id, 4);
    assert_true(st.snaps[0].size == 1073741824);
    dest_state_release(&st);
    dest_free(d);
}

static void test_dest_rbdcli_probe_of_a_missing_image(void **state)
{
    struct host h = good_host();
    struct error err = ERROR_INIT;
    struct dest *d;
    struct dest_state st;

    (void)state;
    h.ls = "[\"other\",7,null]";
    d = open_dest(&h);
    assert_int_equal(dest_probe(d, &st, &err), 0);
    assert_false(st.exists);
    dest_state_release(&st);
    dest_free(d);
}

/* rbd image-meta list prints nothing for no keys; a value that is not a
 * string counts as absent. */
static void test_dest_rbdcli_probe_without_metadata(void **state)
{
    static const char *const metas[] = {NULL, " \n", "{}",
                                        "{\"rbdmove.base\":4}"};
    struct error err = ERROR_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(metas) / sizeof(metas[0]); i++) {
        struct host h = good_host();
        struct dest *d;
        struct dest_state st;

        h.meta = metas[i];
        d = open_dest(&h);
        assert_int_equal(dest_probe(d, &st, &err), 0);
        assert_null(st.meta_base);
        dest_state_release(&st);
        dest_free(d);
    }
}

/* A size must be a JSON integer >= 0. */
static void test_dest_rbdcli_probe_refuses_bad_sizes(void **state)
{
    static const char *const bad[] = {"-1",   "1.0",   "1e3",  "1073741824.5",
                                      "-0.0", "\"1\"", "null", "true",
                                      "[1]",  "{}",    NULL};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect(probe_size(bad[i]),
               "unexpected output of rbd info for 'fake': no valid 'size'");
}

/* jansson reads integers as int64_t: an output with a larger one is
 * refused whole, as malformed JSON. RBD sizes fit in int64_t. */
static void test_dest_rbdcli_probe_refuses_sizes_beyond_int64(void **state)
{
    (void)state;
    expect(probe_size("9223372036854775808"),
           "malformed JSON in the output of rbd info for 'fake': too big "
           "integer");
    expect(probe_size("18446744073709551615"), "too big integer");
    expect(probe_size("1e400"), "malformed JSON");
}

static void test_dest_rbdcli_probe_refuses_bad_orders(void **state)
{
    static const char *const bad[] = {
        "{\"id\":\"a\",\"size\":1,\"order\":11}",
        "{\"id\":\"a\",\"size\":1,\"order\":27}",
        "{\"id\":\"a\",\"size\":1,\"order\":22.0}",
        "{\"id\":\"a\",\"size\":1}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct host h = good_host();

        h.info = bad[i];
        expect(probe_bad(&h), "no valid 'order'");
    }
}

static void test_dest_rbdcli_probe_refuses_malformed_json(void **state)
{
    static const char *const bad[] = {
        "{\"id\":\"a\",\"size\":1,\"order\":22,\"size\":2}",
        "{\"id\":\"a\",\"size\":1,\"order\":22} trailing",
        "{\"id\":\"a\",\"size\":1,\"order\":22",
        "{\"id\":\"a\",\"size\":1,\"order\":22,}",
        "{'id':\"a\",\"size\":1,\"order\":22}",
        "{\"id\":\"a\\u0000\",\"size\":1,\"order\":22}",
        "{\"id\":\"\xc0\xaf\",\"size\":1,\"order\":22}",
        "",
        "\n",
    };
    static const char nul[] = "{\"id\":\"a\",\"size\":1,\"order\":22}\0";

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct host h = good_host();

        h.info = bad[i];
        expect(probe_bad(&h),
               "malformed JSON in the output of rbd info for 'fake': ");
    }
    {
        struct host h = good_host();

        h.info = nul;
        h.info_len = sizeof(nul) - 1;
        expect(probe_bad(&h), "NUL byte at offset");
    }
}

static void test_dest_rbdcli_probe_refuses_wrong_types(void **state)
{
    struct host h;

    (void)state;
    h = good_host();
    h.ls = "{\"img\":1}";
    expect(probe_bad(&h), "no valid 'image list'");
    h = good_host();
    h.ls = "\"img\"";
    expect(probe_bad(&h), "no valid 'image list'");
    h = good_host();
    h.info = "{\"id\":1234,\"size\":1,\"order\":22}";
    expect(probe_bad(&h), "no valid 'id'");
    h = good_host();
    h.meta = "[\"rbdmove.base\"]";
    expect(probe_bad(&h), "no valid 'key list'");
    h = good_host();
    h.snaps = "{}";
    expect(probe_bad(&h), "no valid 'snapshot list'");
    h = good_host();
    h.snaps = "[{\"id\":4,\"size\":1}]";
    expect(probe_bad(&h), "rbd snap ls for 'fake': no valid 'name'");
    h = good_host();
    h.snaps = "[{\"id\":-4,\"name\":\"s1\",\"size\":1}]";
    expect(probe_bad(&h), "no valid 'id'");
    h = good_host();
    h.snaps = "[{\"id\":4,\"name\":\"s1\",\"size\":\"1\"}]";
    expect(probe_bad(&h), "no valid 'size'");
    h = good_host();
    h.snaps = "[4]";
    expect(probe_bad(&h), "no valid 'name'");
}

static void test_dest_rbdcli_dirty_reads_extents(void **state)
{
    struct host h = good_host();
    struct error err = ERROR_INIT;
    struct dest *d = open_dest(&h);
    struct dest_extents x;

    (void)state;
    assert_int_equal(dest_dirty(d, "s1", &x, &err), 0);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.off[0], 0);
    assert_int_equal(x.len[0], 4194304);
    assert_int_equal(x.off[1], 8388608);
    dest_extents_release(&x);
    h.diff = "[]";
    assert_int_equal(dest_dirty(d, NULL, &x, &err), 0);
    assert_int_equal(x.n, 0);
    dest_extents_release(&x);
    dest_free(d);
}

static void test_dest_rbdcli_dirty_refuses_bad_extents(void **state)
{
    static const struct {
        const char *diff, *msg;
    } bad[] = {
        {"[{\"offset\":0,\"length\":0}]", "no valid 'length'"},
        {"[{\"offset\":-1,\"length\":1}]", "no valid 'offset'"},
        {"[{\"offset\":0,\"length\":1.5}]", "no valid 'length'"},
        {"[{\"offset\":0}]", "no valid 'length'"},
        {"[[0,1]]", "no valid 'offset'"},
        {"[{\"offset\":8,\"length\":8},{\"offset\":0,\"length\":8}]",
         "listed extents out of order at 0"},
        {"[{\"offset\":0,\"length\":8},{\"offset\":4,\"length\":8}]",
         "listed extents out of order at 4"},
        {"{\"offset\":0,\"length\":8}", "no valid 'extent list'"},
        {"[{\"offset\":0,\"length\":8,\"length\":9}]", "malformed JSON"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct host h = good_host();
        struct error err = ERROR_INIT;
        struct dest *d = open_dest(&h);
        struct dest_extents x;

        h.diff = bad[i].diff;
        assert_int_equal(dest_dirty(d, "s1", &x, &err), -1);
        assert_int_equal(err.kind, ERROR_PROTOCOL);
        expect(err.msg, bad[i].msg);
        assert_null(x.off);
        dest_free(d);
    }
}

/* Removing a key runs `rbd image-meta remove` only when the key is
 * listed. */
static void test_dest_rbdcli_meta_remove_only_when_listed(void **state)
{
    struct host h = good_host();
    struct error err = ERROR_INIT;
    struct dest *d = open_dest(&h);

    (void)state;
    assert_int_equal(dest_set_meta(d, DEST_META_SEED, NULL, &err), 0);
    assert_int_equal(h.meta_removes, 0);
    assert_int_equal(dest_set_meta(d, DEST_META_BASE, NULL, &err), 0);
    assert_int_equal(h.meta_removes, 1);
    h.meta = NULL;
    assert_int_equal(dest_set_meta(d, DEST_META_BASE, NULL, &err), 0);
    assert_int_equal(h.meta_removes, 1);
    dest_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dest_rbdcli_probe_reads_rbd_json),
        cmocka_unit_test(test_dest_rbdcli_probe_of_a_missing_image),
        cmocka_unit_test(test_dest_rbdcli_probe_without_metadata),
        cmocka_unit_test(test_dest_rbdcli_probe_refuses_bad_sizes),
        cmocka_unit_test(test_dest_rbdcli_probe_refuses_sizes_beyond_int64),
        cmocka_unit_test(test_dest_rbdcli_probe_refuses_bad_orders),
        cmocka_unit_test(test_dest_rbdcli_probe_refuses_malformed_json),
        cmocka_unit_test(test_dest_rbdcli_probe_refuses_wrong_types),
        cmocka_unit_test(test_dest_rbdcli_dirty_reads_extents),
        cmocka_unit_test(test_dest_rbdcli_dirty_refuses_bad_extents),
        cmocka_unit_test(test_dest_rbdcli_meta_remove_only_when_listed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
