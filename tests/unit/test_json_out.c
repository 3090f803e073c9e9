/* SPDX-License-Identifier: MIT */
/* tests/unit/test_json_out.c: the JSON writer of the base layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rbdmove/base/json_out.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_out_escapes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
