/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_json.c: the strict helpers over jansson of the base
 * layer (rbdmove/base/json.h). What they refuse is what dest_rbdcli.c
 * refuses in the rbd CLI's output, whose parsing is static there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/base/json.h"

/* Parse a NUL-terminated text that must be valid. */
static json_t *parse_ok(const char *text)
{
    struct error err = ERROR_INIT;
    json_t *v = NULL;

    if (jsonx_parse(text, strlen(text), "test", &v, &err) < 0)
        fail_msg("'%s' did not parse: %s", text, err.msg);
    return v;
}

/* Parse len bytes that must be refused; returns the message. */
static const char *parse_bad_len(const char *text, size_t len)
{
    static struct error err;
    json_t *v = (json_t *)&err; /* must become NULL */

    err = (struct error)ERROR_INIT;
    assert_int_equal(jsonx_parse(text, len, "test", &v, &err), -1);
    assert_null(v);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_non_null(strstr(err.msg, "malformed JSON in test: "));
    return err.msg;
}

static const char *parse_bad(const char *text)
{
    return parse_bad_len(text, strlen(text));
}

static void test_json_parses_rbd_info(void **state)
{
    json_t *v;
    uint64_t n = 0;

    (void)state;
    v = parse_ok("{\"name\":\"img\",\"id\":\"16946d2acd78\",\"size\":10485761,"
                 "\"order\":20,\"features\":[\"layering\",\"fast-diff\"],"
                 "\"flags\":[],\"parent\":null}");
    assert_true(json_is_object(v));
    assert_string_equal(jsonx_get_string(v, "id"), "16946d2acd78");
    assert_true(jsonx_get_u64(v, "size", &n));
    assert_int_equal(n, 10485761);
    assert_true(jsonx_get_u64(v, "order", &n));
    assert_int_equal(n, 20);
    assert_int_equal(json_array_size(json_object_get(v, "features")), 2);
    json_decref(v);
}

static void test_json_parses_any_top_level_value(void **state)
{
    json_t *v;

    (void)state;
    v = parse_ok("[{\"offset\":0,\"length\":4194304,\"exists\":\"true\"}]\n");
    assert_true(json_is_array(v));
    json_decref(v);
    v = parse_ok(" 1 ");
    assert_true(json_is_integer(v));
    json_decref(v);
    v = parse_ok("\"x\"");
    assert_true(json_is_string(v));
    json_decref(v);
    v = parse_ok("null");
    assert_true(json_is_null(v));
    json_decref(v);
}

static void test_json_rejects_bad_grammar(void **state)
{
    static const char *const bad[] = {
        "{\"a\":1,}", "[1,]", "[1 2]",   "{\"a\" 1}", "{a:1}",       "['a']",
        "01",         "-",    "1.",      ".5",        "1e",          "+1",
        "tru",        "nul",  "[",       "{\"a\":",   "\"abc",       "/* c */1",
        "1 2",        "[1]]", "\"\\x\"", "\"\\u12",   "\"\\u12g4\"", "NaN",
        "Infinity",   "",     "  ",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_bad(bad[i]);
}

static void test_json_error_names_line_and_column(void **state)
{
    const char *msg;

    (void)state;
    msg = parse_bad("{\n  \"a\": 1,\n  \"b\": x\n}");
    assert_non_null(strstr(msg, "(line 3, column 8)"));
}

static void test_json_rejects_bad_strings(void **state)
{
    const char *msg;

    (void)state;
    msg = parse_bad("\"a\tb\"");
    assert_non_null(strstr(msg, "control character"));
    msg = parse_bad("\"\\u0000\"");
    assert_non_null(strstr(msg, "\\u0000"));
    parse_bad("\"\\ud83d\"");
    parse_bad("\"\\ud83dx\"");
    parse_bad("\"\\ude00\"");
    /* overlong '/', a UTF-16 surrogate in UTF-8, above U+10FFFF, a lone
     * continuation byte, a truncated sequence */
    parse_bad("\"\xc0\xaf\"");
    parse_bad("\"\xed\xa0\x80\"");
    parse_bad("\"\xf4\x90\x80\x80\"");
    parse_bad("\"\x80\"");
    parse_bad("\"\xe2\x82\"");
    /* a byte-order mark is not white space */
    parse_bad("\xef\xbb\xbf{}");
}

/* jansson alone parses "[1\0]" as [1]. */
static void test_json_rejects_nul_bytes(void **state)
{
    const char *msg;

    (void)state;
    msg = parse_bad_len("[1\0]", 4);
    assert_non_null(strstr(msg, "NUL byte at offset 2"));
    parse_bad_len("\"a\0b\"", 5);
    parse_bad_len("[1]\0", 4);
    parse_bad_len("\0", 1);
}

static void test_json_rejects_duplicate_keys(void **state)
{
    const char *msg;

    (void)state;
    msg = parse_bad("{\"k\":1,\"j\":2,\"k\":3}");
    assert_non_null(strstr(msg, "duplicate object key"));
    parse_bad("[{\"a\":{\"x\":1,\"x\":1}}]");
}

/* Integers are int64_t: one past INT64_MAX is a parse error, not a value
 * that get_u64 could return wrapped. */
static void test_json_rejects_integers_beyond_int64(void **state)
{
    const char *msg;
    json_t *v;
    uint64_t n = 0;

    (void)state;
    v = parse_ok("{\"size\":9223372036854775807}");
    assert_true(jsonx_get_u64(v, "size", &n));
    assert_true(n == (uint64_t)INT64_MAX);
    json_decref(v);
    msg = parse_bad("{\"size\":9223372036854775808}");
    assert_non_null(strstr(msg, "too big integer"));
    parse_bad("{\"size\":18446744073709551615}");
    parse_bad("[1e400]");
}

static void test_json_nesting_is_bounded(void **state)
{
    enum { DEPTH = 4096 };
    char *deep = malloc(2 * DEPTH);

    (void)state;
    assert_non_null(deep);
    memset(deep, '[', DEPTH);
    memset(deep + DEPTH, ']', DEPTH);
    parse_bad_len(deep, 2 * DEPTH);
    free(deep);
}

static void test_json_empty_input(void **state)
{
    struct error err = ERROR_INIT;
    json_t *v = NULL;

    (void)state;
    assert_int_equal(jsonx_parse(NULL, 0, "nothing", &v, &err), -1);
    assert_null(v);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_non_null(strstr(err.msg, "malformed JSON in nothing: "));
}

static void test_json_get_u64_takes_non_negative_integers_only(void **state)
{
    static const char *const refused[] = {"neg",     "real", "exp",
                                          "negreal", "str",  "bool",
                                          "null",    "arr",  "missing"};
    json_t *v;
    uint64_t n = 0;

    (void)state;
    v = parse_ok("{\"zero\":0,\"big\":9223372036854775807,\"neg\":-1,"
                 "\"real\":1.0,\"exp\":1e3,\"negreal\":-0.0,\"str\":\"5\","
                 "\"bool\":true,\"null\":null,\"arr\":[1],\"mzero\":-0}");
    assert_true(jsonx_get_u64(v, "zero", &n));
    assert_int_equal(n, 0);
    assert_true(jsonx_get_u64(v, "big", &n));
    assert_true(n == (uint64_t)INT64_MAX);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        n = 7;
        if (jsonx_get_u64(v, refused[i], &n))
            fail_msg("'%s' was taken as %ju", refused[i], (uintmax_t)n);
        assert_int_equal(n, 7);
    }
    /* jansson reads -0 as the integer 0: the one minus sign let through */
    assert_true(jsonx_get_u64(v, "mzero", &n));
    assert_int_equal(n, 0);
    n = 7;
    assert_false(jsonx_get_u64(json_object_get(v, "arr"), "zero", &n));
    assert_false(jsonx_get_u64(NULL, "zero", &n));
    assert_int_equal(n, 7);
    json_decref(v);
}

static void test_json_get_string(void **state)
{
    json_t *v;

    (void)state;
    v = parse_ok("{\"s\":\"x\",\"e\":\"\",\"n\":1,\"z\":null,\"a\":[\"x\"]}");
    assert_string_equal(jsonx_get_string(v, "s"), "x");
    assert_string_equal(jsonx_get_string(v, "e"), "");
    assert_null(jsonx_get_string(v, "n"));
    assert_null(jsonx_get_string(v, "z"));
    assert_null(jsonx_get_string(v, "a"));
    assert_null(jsonx_get_string(v, "missing"));
    assert_null(jsonx_get_string(json_object_get(v, "a"), "s"));
    assert_null(jsonx_get_string(NULL, "s"));
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_parses_rbd_info),
        cmocka_unit_test(test_json_parses_any_top_level_value),
        cmocka_unit_test(test_json_rejects_bad_grammar),
        cmocka_unit_test(test_json_error_names_line_and_column),
        cmocka_unit_test(test_json_rejects_bad_strings),
        cmocka_unit_test(test_json_rejects_nul_bytes),
        cmocka_unit_test(test_json_rejects_duplicate_keys),
        cmocka_unit_test(test_json_rejects_integers_beyond_int64),
        cmocka_unit_test(test_json_nesting_is_bounded),
        cmocka_unit_test(test_json_empty_input),
        cmocka_unit_test(test_json_get_u64_takes_non_negative_integers_only),
        cmocka_unit_test(test_json_get_string),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
