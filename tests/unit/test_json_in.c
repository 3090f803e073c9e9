/* SPDX-License-Identifier: MIT */
/* tests/unit/test_json_in.c: the strict JSON reader of the base layer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/base/json_in.h"

/* Parse a NUL-terminated text that must be valid. */
static struct json_in *parse_ok(const char *text)
{
    struct error err = ERROR_INIT;
    struct json_in *v = NULL;

    if (json_in_parse(text, strlen(text), NULL, &v, &err) < 0)
        fail_msg("'%s' did not parse: %s", text, err.msg);
    return v;
}

/* Parse len bytes that must be refused; returns the message. */
static const char *parse_bad_len(const char *text, size_t len,
                                 const struct json_in_limits *lim)
{
    static struct error err;
    struct json_in *v = (struct json_in *)&err; /* must become NULL */

    err = (struct error)ERROR_INIT;
    assert_int_equal(json_in_parse(text, len, lim, &v, &err), -1);
    assert_null(v);
    assert_int_equal(err.kind, ERROR_PROTOCOL);
    assert_non_null(strstr(err.msg, "JSON: "));
    return err.msg;
}

static const char *parse_bad(const char *text)
{
    return parse_bad_len(text, strlen(text), NULL);
}

static void test_json_in_parses_rbd_info(void **state)
{
    struct json_in *v;
    uint64_t n = 0;

    (void)state;
    v = parse_ok("{\"name\":\"img\",\"id\":\"16946d2acd78\",\"size\":10485761,"
                 "\"order\":20,\"features\":[\"layering\",\"fast-diff\"],"
                 "\"flags\":[],\"parent\":null}");
    assert_int_equal(v->type, JSON_IN_OBJECT);
    assert_int_equal(json_in_len(v), 7);
    assert_string_equal(json_in_string(json_in_get(v, "id")), "16946d2acd78");
    assert_true(json_in_u64(json_in_get(v, "size"), &n));
    assert_int_equal(n, 10485761);
    assert_int_equal(json_in_len(json_in_get(v, "features")), 2);
    assert_string_equal(
        json_in_string(json_in_at(json_in_get(v, "features"), 1)), "fast-diff");
    assert_null(json_in_at(json_in_get(v, "features"), 2));
    assert_true(json_in_is(json_in_get(v, "parent"), JSON_IN_NULL));
    assert_null(json_in_get(v, "missing"));
    assert_null(json_in_string(json_in_get(v, "size")));
    json_in_free(v);
}

static void test_json_in_scalars_at_top_level(void **state)
{
    struct json_in *v;
    bool b = false;

    (void)state;
    v = parse_ok("  true \n");
    assert_true(json_in_bool(v, &b));
    assert_true(b);
    json_in_free(v);
    v = parse_ok("null");
    assert_true(json_in_is(v, JSON_IN_NULL));
    assert_false(json_in_bool(v, &b));
    json_in_free(v);
    v = parse_ok("\"x\"");
    assert_string_equal(json_in_string(v), "x");
    json_in_free(v);
    v = parse_ok("-1.5e+3");
    assert_string_equal(v->text, "-1.5e+3");
    json_in_free(v);
}

static void test_json_in_u64_is_exact(void **state)
{
    struct json_in *v;
    uint64_t n = 7;

    (void)state;
    v = parse_ok("[18446744073709551615, 18446744073709551616, -1, 1.0, 1e3, "
                 "0]");
    assert_true(json_in_u64(json_in_at(v, 0), &n));
    assert_true(n == UINT64_MAX);
    n = 7;
    assert_false(json_in_u64(json_in_at(v, 1), &n));
    assert_false(json_in_u64(json_in_at(v, 2), &n));
    assert_false(json_in_u64(json_in_at(v, 3), &n));
    assert_false(json_in_u64(json_in_at(v, 4), &n));
    assert_int_equal(n, 7);
    assert_true(json_in_u64(json_in_at(v, 5), &n));
    assert_int_equal(n, 0);
    assert_false(json_in_u64(NULL, &n));
    json_in_free(v);
}

static void test_json_in_decodes_escapes_and_utf8(void **state)
{
    struct json_in *v;

    (void)state;
    v = parse_ok("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00"
                 "\xc3\xa9\"");
    assert_string_equal(v->text, "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac"
                                 "\xf0\x9f\x98\x80\xc3\xa9");
    assert_int_equal(v->n, strlen(v->text));
    json_in_free(v);
}

static void test_json_in_empty_containers(void **state)
{
    struct json_in *v;

    (void)state;
    v = parse_ok("{ \"a\" : [ ] , \"b\" : { } }");
    assert_int_equal(json_in_len(json_in_get(v, "a")), 0);
    assert_true(json_in_is(json_in_get(v, "b"), JSON_IN_OBJECT));
    assert_int_equal(json_in_len(json_in_get(v, "b")), 0);
    json_in_free(v);
}

static void test_json_in_rejects_bad_grammar(void **state)
{
    static const char *const bad[] = {
        "{\"a\":1,}", "[1,]",    "[1 2]",       "{\"a\" 1}", "{a:1}",
        "['a']",      "01",      "-",           "1.",        ".5",
        "1e",         "+1",      "tru",         "nul",       "[",
        "{\"a\":",    "\"abc",   "/* c */1",    "1 2",       "[1]]",
        "\"\\x\"",    "\"\\u12", "\"\\u12g4\"", "NaN",       "Infinity",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_bad(bad[i]);
}

static void test_json_in_errors_name_line_and_column(void **state)
{
    const char *msg;

    (void)state;
    msg = parse_bad("{\n  \"a\": 1,\n  \"b\": x\n}");
    assert_non_null(strstr(msg, "unexpected 'x'"));
    assert_non_null(strstr(msg, "line 3, column 8"));
    msg = parse_bad("[1, 2");
    assert_non_null(strstr(msg, "unexpected end of input"));
    msg = parse_bad("1 2");
    assert_non_null(strstr(msg, "after the end of the document"));
    msg = parse_bad("  ");
    assert_non_null(strstr(msg, "empty document"));
    msg = parse_bad("");
    assert_non_null(strstr(msg, "empty document"));
}

static void test_json_in_rejects_bad_strings(void **state)
{
    const char *msg;

    (void)state;
    msg = parse_bad("\"a\tb\"");
    assert_non_null(strstr(msg, "control character 0x09"));
    msg = parse_bad("\"\\u0000\"");
    assert_non_null(strstr(msg, "\\u0000"));
    msg = parse_bad("\"\\ud83d\"");
    assert_non_null(strstr(msg, "unpaired high surrogate"));
    msg = parse_bad("\"\\ud83dx\"");
    assert_non_null(strstr(msg, "unpaired high surrogate"));
    msg = parse_bad("\"\\ude00\"");
    assert_non_null(strstr(msg, "unpaired low surrogate"));
    /* overlong '/', a UTF-16 surrogate in UTF-8, above U+10FFFF, a lone
     * continuation byte, a truncated sequence, a raw NUL */
    parse_bad("\"\xc0\xaf\"");
    parse_bad("\"\xed\xa0\x80\"");
    parse_bad("\"\xf4\x90\x80\x80\"");
    parse_bad("\"\x80\"");
    parse_bad("\"\xe2\x82\"");
    parse_bad_len("\"a\0b\"", 5, NULL);
    /* a byte-order mark is not white space */
    msg = parse_bad("\xef\xbb\xbf{}");
    assert_non_null(strstr(msg, "0xef"));
}

static void test_json_in_rejects_duplicate_keys(void **state)
{
    const char *msg;

    (void)state;
    msg = parse_bad("{\"k\":1,\"j\":2,\"k\":3}");
    assert_non_null(strstr(msg, "duplicate key 'k'"));
    parse_bad("[{\"a\":{\"x\":1,\"x\":1}}]");
}

static void test_json_in_depth_limit(void **state)
{
    struct json_in_limits lim = {3, 0, 0};
    struct error err = ERROR_INIT;
    struct json_in *v = NULL;
    char deep[2 * 100 + 1];
    const char *msg;

    (void)state;
    assert_int_equal(json_in_parse("[[[1]]]", 7, &lim, &v, &err), 0);
    json_in_free(v);
    msg = parse_bad_len("[[[[1]]]]", 9, &lim);
    assert_non_null(strstr(msg, "nested deeper than 3 levels"));
    /* the default limit */
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = '\0';
    msg = parse_bad(deep);
    assert_non_null(strstr(msg, "nested deeper than 64 levels"));
}

static void test_json_in_length_and_node_limits(void **state)
{
    struct json_in_limits small = {0, 8, 0};
    struct json_in_limits few = {0, 0, 3};
    const char *msg;

    (void)state;
    msg = parse_bad_len("[1,2,3,4,5]", 11, &small);
    assert_non_null(strstr(msg, "longer than the limit of 8"));
    msg = parse_bad_len("[1,2,3]", 7, &few);
    assert_non_null(strstr(msg, "more than 3 values"));
}

static void test_json_in_null_safe(void **state)
{
    (void)state;
    json_in_free(NULL);
    assert_int_equal(json_in_len(NULL), 0);
    assert_null(json_in_get(NULL, "a"));
    assert_null(json_in_at(NULL, 0));
    assert_string_equal(json_in_type_name(JSON_IN_OBJECT), "object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_in_parses_rbd_info),
        cmocka_unit_test(test_json_in_scalars_at_top_level),
        cmocka_unit_test(test_json_in_u64_is_exact),
        cmocka_unit_test(test_json_in_decodes_escapes_and_utf8),
        cmocka_unit_test(test_json_in_empty_containers),
        cmocka_unit_test(test_json_in_rejects_bad_grammar),
        cmocka_unit_test(test_json_in_errors_name_line_and_column),
        cmocka_unit_test(test_json_in_rejects_bad_strings),
        cmocka_unit_test(test_json_in_rejects_duplicate_keys),
        cmocka_unit_test(test_json_in_depth_limit),
        cmocka_unit_test(test_json_in_length_and_node_limits),
        cmocka_unit_test(test_json_in_null_safe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
