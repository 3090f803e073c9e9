/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_proto.c: the control protocol's tokens: any string,
 * newlines included, survives proto_add and proto_split on one line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/core/proto.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto_tokens_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
