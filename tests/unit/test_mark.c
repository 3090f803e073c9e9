/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_mark.c: the marks in the destination's metadata. What
 * mark_format writes reads back the same; anything else a destination may
 * hold (edited by hand, another version, a hostile peer) is refused
 * rather than half-read: numbers that are not numbers, repeated fields,
 * unsafe snapshot names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/core/mark.h"

static void test_mark_roundtrip(void **state)
{
    struct mark m = {.snap = "rbdmove-1",
                     .snap_id = 42,
                     .from = "rbdmove-0",
                     .done = 1u << 30,
                     .head = true};
    struct mark r;
    struct error err = ERROR_INIT;
    char *s = mark_format("f5-1d", "abc123", &m);

    (void)state;
    assert_string_equal(s, "v1 fsid=f5-1d image=abc123 snap=rbdmove-1 "
                           "snap_id=42 from=rbdmove-0 done=1073741824 head=1");
    assert_int_equal(mark_parse("rbdmove.base", s, &r, &err), 0);
    assert_string_equal(r.fsid, "f5-1d");
    assert_string_equal(r.image, "abc123");
    assert_string_equal(r.snap, "rbdmove-1");
    assert_string_equal(r.from, "rbdmove-0");
    assert_int_equal(r.snap_id, 42);
    assert_int_equal(r.done, 1u << 30);
    assert_true(r.head);
    mark_release(&r);
    free(s);

    /* A later v1 writer's extra field is ignored. */
    assert_int_equal(mark_parse("k",
                                "v1 fsid=a image=b snap=c snap_id=0 "
                                "zone=z",
                                &r, &err),
                     0);
    assert_null(r.from);
    assert_false(r.head);
    mark_release(&r);
}

static void test_mark_refuses(void **state)
{
    static const char *const bad[] = {
        "",
        "v2 fsid=a image=b snap=c snap_id=1",
        "v1 fsid=a image=b snap=c",            /* no snap_id */
        "v1 image=b snap=c snap_id=1",         /* no fsid */
        "v1 fsid=a image=b snap=c snap_id=1x", /* not a number */
        "v1 fsid=a image=b snap=c snap_id=-1", /* negative */
        "v1 fsid=a image=b snap=c snap_id=18446744073709551616",
        "v1 fsid=a image=b snap=c snap_id=1 done=",  /* empty number */
        "v1 fsid=a image=b snap=c snap=d snap_id=1", /* repeated */
        "v1 fsid=a image=b snap=c snap_id=1 snap_id=2",
        "v1 fsid=a image=b snap=c;rm snap_id=1", /* unsafe name */
        "v1 fsid=a image=b snap=c snap_id=1 from=../x",
        "v1 fsid=a image=b snap=c snap_id=1 head=yes",
        "v1 fsid=a image=b snap=c snap_id=1 stray",
        "v1 fsid= image=b snap=c snap_id=1",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mark r;
        struct error err = ERROR_INIT;

        assert_int_equal(mark_parse("rbdmove.base", bad[i], &r, &err), -1);
        assert_int_equal(err.kind, ERROR_STATE);
        assert_non_null(strstr(err.msg, "rbdmove.base"));
        assert_null(r.fsid);
        assert_null(r.snap);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark_roundtrip),
        cmocka_unit_test(test_mark_refuses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
