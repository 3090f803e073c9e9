/* SPDX-License-Identifier: MIT */
/* tests/unit/test_strutil.c: sizes, numbers, quoting, zero detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rbdmove/base/strutil.h"

static void test_parse_size_accepts_suffixes(void **state)
{
    struct error err = ERROR_INIT;
    uint64_t v = 0;

    (void)state;
    assert_int_equal(parse_size("4096", "size", &v, &err), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(parse_size("64K", "size", &v, &err), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(parse_size("64MiB", "size", &v, &err), 0);
    assert_int_equal(v, 64ull << 20);
    assert_int_equal(parse_size("1.5G", "size", &v, &err), 0);
    assert_int_equal(v, 3ull << 29);
}

static void test_parse_size_rejects_garbage(void **state)
{
    struct error err = ERROR_INIT;
    uint64_t v = 7;

    (void)state;
    assert_int_equal(parse_size("", "size", &v, &err), -1);
    assert_int_equal(parse_size("-1", "size", &v, &err), -1);
    assert_int_equal(parse_size("12Q", "size", &v, &err), -1);
    assert_int_equal(parse_size("99999999E", "size", &v, &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_non_null(strstr(err.msg, "invalid size"));
    assert_int_equal(v, 7);
}

static void test_parse_uint_bounds(void **state)
{
    struct error err = ERROR_INIT;
    uint64_t v = 0;

    (void)state;
    assert_int_equal(parse_uint("8", "streams", 1, 16, &v, &err), 0);
    assert_int_equal(v, 8);
    assert_int_equal(parse_uint("0", "streams", 1, 16, &v, &err), -1);
    assert_int_equal(parse_uint("17", "streams", 1, 16, &v, &err), -1);
    assert_int_equal(parse_uint("3x", "streams", 1, 16, &v, &err), -1);
}

static void test_shell_quote_escapes_quotes(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    buf_add_shell_quoted(&b, "it's; rm -rf /");
    assert_string_equal(buf_str(&b), "'it'\\''s; rm -rf /'");
    buf_release(&b);
}

static void test_name_is_safe(void **state)
{
    (void)state;
    assert_true(name_is_safe("volume-1a2b_c.d"));
    assert_false(name_is_safe("-rf"));
    assert_false(name_is_safe("a b"));
    assert_false(name_is_safe("a;b"));
    assert_false(name_is_safe(""));
    assert_false(name_is_safe("$(x)"));
}

/* name_problem() agrees with name_is_safe() and says what is wrong. */
static void test_name_problem(void **state)
{
    static const struct {
        const char *name, *why;
    } cases[] = {
        {"volume-1a2b_c.d", ""},
        {"", "is empty"},
        {"-rf", "may not begin with '-'"},
        {".hidden", "may not begin with '.'"},
        {"a b", "contains ' ' (only letters, digits, '.', '_' and '-' are "
                "allowed)"},
        {"a\nb", "contains the byte 0x0a (only letters, digits, '.', '_' "
                 "and '-' are allowed)"},
    };
    struct buf b = BUF_INIT;
    char longname[300];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(name_problem(cases[i].name, &b), *cases[i].why != 0);
        assert_int_equal(name_is_safe(cases[i].name), *cases[i].why == 0);
        assert_string_equal(buf_str(&b), cases[i].why);
    }
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    assert_true(name_problem(longname, &b));
    assert_string_equal(buf_str(&b), "is 299 characters long (at most 255)");
    assert_false(name_is_safe(longname));
    buf_release(&b);
}

static void test_mem_is_zero(void **state)
{
    char b[8192];

    (void)state;
    memset(b, 0, sizeof(b));
    assert_true(mem_is_zero(b, sizeof(b)));
    b[8191] = 1;
    assert_false(mem_is_zero(b, sizeof(b)));
    b[8191] = 0;
    b[3] = 1;
    assert_false(mem_is_zero(b, sizeof(b)));
    assert_true(mem_is_zero(b + 4, 10));
}

static void test_url_redact(void **state)
{
    char b[128];

    (void)state;
    assert_string_equal(url_redact("http://u:secret@k:5000/v3", b, sizeof(b)),
                        "http://***@k:5000/v3");
    assert_string_equal(url_redact("https://a@b:c@host/x@y", b, sizeof(b)),
                        "https://***@host/x@y");
    assert_string_equal(url_redact("http://host:5000/v3?u=a@b", b, sizeof(b)),
                        "http://host:5000/v3?u=a@b");
    assert_string_equal(url_redact("http://host", b, sizeof(b)), "http://host");
    assert_string_equal(url_redact("no-scheme@x", b, sizeof(b)), "no-scheme@x");
    assert_string_equal(url_redact(NULL, b, sizeof(b)), "(none)");
    assert_null(strstr(url_redact("http://u:pw@h", b, 8), "pw"));
}

static void test_buf_add_escaped(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain text, t\u00e9l\u00e9phone \u2713",
         "plain text, t\u00e9l\u00e9phone \u2713"},
        {"tab\tkept", "tab\tkept"},
        {"\x1b[2Jclear", "\\x1b[2Jclear"},
        {"line\nfake: done\r", "line\\x0afake: done\\x0d"},
        {"del\x7f", "del\\x7f"},
        {"bad \xff\xc3(", "bad \\xff\\xc3("},
        {"overlong \xc0\xaf", "overlong \\xc0\\xaf"},
        {"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"},
        {"cut \xe2\x9c", "cut \\xe2\\x9c"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = BUF_INIT;

        buf_add_escaped(&b, cases[i].in, strlen(cases[i].in));
        assert_string_equal(buf_str(&b), cases[i].out);
        buf_release(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size_accepts_suffixes),
        cmocka_unit_test(test_parse_size_rejects_garbage),
        cmocka_unit_test(test_parse_uint_bounds),
        cmocka_unit_test(test_shell_quote_escapes_quotes),
        cmocka_unit_test(test_name_is_safe),
        cmocka_unit_test(test_name_problem),
        cmocka_unit_test(test_mem_is_zero),
        cmocka_unit_test(test_url_redact),
        cmocka_unit_test(test_buf_add_escaped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
