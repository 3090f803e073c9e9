/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_parse_options.c: the option parser: exact long names
 * only, abbreviations and ambiguous prefixes refused, values converted and
 * range-checked, arguments in any order, "--", --help from the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rbdmove/base/log.h"
#include "rbdmove/cli/parse_options.h"

static const struct cli_command command = {
    .name = "test",
    .synopsis = "[options] ARGS",
    .summary = "A command to test the parser with.",
};

/* What the options of the test table set. */
struct targets {
    bool flag, force, verify;
    const char *identity, *conf, *src_conf, *src_id, *zone;
    unsigned window, level;
    size_t chunk;
    uint64_t checkpoint, bwlimit;
    double downtime;
    const char *receiver;
    int insecure_calls;
};

static int set_receiver(const struct parse_option *opt, const char *arg,
                        struct error *err)
{
    struct targets *t = opt->value;

    if (strcmp(arg, "rbd") && strcmp(arg, "rbdmove"))
        return error_set(err, ERROR_USAGE, 0, "invalid --receiver '%s'", arg);
    t->receiver = arg;
    return 0;
}

static int set_insecure(const struct parse_option *opt, const char *arg,
                        struct error *err)
{
    struct targets *t = opt->value;

    (void)err;
    assert_null(arg);
    t->insecure_calls++;
    return 0;
}

/* The table of the tests; also what --help prints. */
#define TEST_OPTIONS(t)                                                        \
    OPT_BOOL('f', "flag", &(t)->flag, "a flag"),                               \
        OPT_BOOL(0, "force", &(t)->force, "another flag"),                     \
        OPT_SET_BOOL(0, "no-verify", &(t)->verify, false, "clears a flag"),    \
        OPT_STRING('i', "identity", &(t)->identity, "FILE", "a file"),         \
        OPT_STRING('c', "conf", &(t)->conf, "CONF", "a short string"),         \
        OPT_STRING(0, "src-conf", &(t)->src_conf, "CONF", "a string"),         \
        OPT_STRING(0, "src-id", &(t)->src_id, "ID", "a string"),               \
        OPT_UINT(0, "window", &(t)->window, "N", 1, 256, "1 to 256"),          \
        OPT_UINT_OPTARG(0, "compress", &(t)->level, "LEVEL", 1, 19, 1,         \
                        "1 to 19, default 1"),                                 \
        OPT_SIZE_RANGE(0, "chunk-size", &(t)->chunk, "SIZE", 4096, 64u << 20,  \
                       4096, "4K steps"),                                      \
        OPT_SIZE_RANGE(0, "checkpoint", &(t)->checkpoint, "SIZE", 1u << 20,    \
                       UINT64_MAX, 0, "at least 1M"),                          \
        OPT_SIZE(0, "bwlimit", &(t)->bwlimit, "RATE", "any size"),             \
        OPT_SECONDS(0, "max-downtime", &(t)->downtime, "SECONDS", "seconds"),  \
        OPT_CALLBACK(0, "receiver", (t), "KIND", set_receiver, "a word"),      \
        OPT_CALLBACK(0, "insecure", (t), NULL, set_insecure, "a callback"),    \
        OPT_STRING(0, "dst-availability-zone", &(t)->zone, "ZONE",             \
                   "a long name"),                                             \
        OPT_END()

/* One parse: its status, the arguments left, and what it printed. */
struct result {
    enum parse_options_status st;
    int nargs;
    char *args[16];
    char out[4096]; /* stdout */
    char err[4096]; /* stderr */
};

/* Send stream to a temporary file; capture_end reads what came. */
static int capture_begin(FILE *stream, FILE **tmp)
{
    int saved;

    fflush(stream);
    *tmp = tmpfile();
    assert_non_null(*tmp);
    saved = dup(fileno(stream));
    assert_true(saved >= 0);
    assert_true(dup2(fileno(*tmp), fileno(stream)) >= 0);
    return saved;
}

static void capture_end(FILE *stream, FILE *tmp, int saved, char *buf,
                        size_t len)
{
    size_t n;

    fflush(stream);
    assert_true(dup2(saved, fileno(stream)) >= 0);
    close(saved);
    rewind(tmp);
    n = fread(buf, 1, len - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
}

static void seen_none(void *ctx, const struct parse_option *opt,
                      const char *arg)
{
    (void)ctx;
    (void)opt;
    (void)arg;
}

/* Parse the NULL-terminated words after "test" with the test table. */
static void run_with(struct targets *t, struct result *r,
                     parse_options_seen_fn *seen, void *ctx, const char *word,
                     ...)
{
    struct parse_option opts[] = {TEST_OPTIONS(t)};
    char *argv[32];
    FILE *tout, *terr;
    int argc = 0, sout, serr;
    va_list ap;

    memset(r, 0, sizeof(*r));
    argv[argc++] = (char *)"test";
    va_start(ap, word);
    for (const char *w = word; w; w = va_arg(ap, const char *))
        argv[argc++] = (char *)w;
    va_end(ap);
    argv[argc] = NULL;
    sout = capture_begin(stdout, &tout);
    serr = capture_begin(stderr, &terr);
    r->st =
        parse_options_seen(&command, opts, argc, argv, &r->nargs, seen, ctx);
    capture_end(stderr, terr, serr, r->err, sizeof(r->err));
    capture_end(stdout, tout, sout, r->out, sizeof(r->out));
    for (int i = 0; r->st == PARSE_OPT_DONE && i < r->nargs; i++)
        r->args[i] = argv[i];
    if (r->st == PARSE_OPT_DONE)
        assert_null(argv[r->nargs]);
}

#define RUN(t, r, ...) run_with(t, r, seen_none, NULL, __VA_ARGS__, NULL)

/* The usage error printed, and nothing on stdout. */
static void assert_usage(const struct result *r, const char *msg)
{
    char want[512];

    snprintf(want, sizeof(want),
             "rbdmove test: %s\ntry 'rbdmove test --help'\n", msg);
    assert_int_equal(r->st, PARSE_OPT_ERROR);
    assert_string_equal(r->err, want);
    assert_string_equal(r->out, "");
}

static void test_long_options_exact(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "--identity", "key", "--conf=c.conf", "--flag", "--window",
        "16");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_int_equal(r.nargs, 0);
    assert_string_equal(t.identity, "key");
    assert_string_equal(t.conf, "c.conf");
    assert_true(t.flag);
    assert_false(t.force);
    assert_int_equal(t.window, 16);
    assert_string_equal(r.err, "");

    /* The argument is taken whatever it looks like, as getopt does. */
    RUN(&t, &r, "--identity", "-weird", "--src-conf=", "--src-id", "--");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_string_equal(t.identity, "-weird");
    assert_string_equal(t.src_conf, "");
    assert_string_equal(t.src_id, "--");
}

static void test_abbreviation_refused(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "--ident", "key", "a");
    assert_usage(&r, "unknown option '--ident' (did you mean --identity?)");
    assert_null(t.identity);

    /* `copy --id=admin` was once taken as --identity admin. */
    RUN(&t, &r, "--id=admin");
    assert_usage(&r, "unknown option '--id' (did you mean --identity?)");
    assert_null(t.identity);

    /* The common options are matched exactly too. */
    RUN(&t, &r, "--verb");
    assert_usage(&r, "unknown option '--verb' (did you mean --verbose?)");
    RUN(&t, &r, "--he");
    assert_usage(&r, "unknown option '--he' (did you mean --help?)");
}

static void test_ambiguous_prefix(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "--src", "x");
    assert_usage(&r, "ambiguous option '--src' (could be --src-conf, "
                     "--src-id)");
    assert_null(t.src_conf);
    assert_null(t.src_id);
    RUN(&t, &r, "--f");
    assert_usage(&r, "ambiguous option '--f' (could be --flag, --force)");
    assert_false(t.flag);
}

static void test_unknown_options(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "--nope");
    assert_usage(&r, "unknown option '--nope'");
    RUN(&t, &r, "--nope=1");
    assert_usage(&r, "unknown option '--nope'");
    RUN(&t, &r, "--=x");
    assert_usage(&r, "unknown option '--=x'");
    RUN(&t, &r, "-x");
    assert_usage(&r, "unknown option '-x'");
    RUN(&t, &r, "-fx");
    assert_usage(&r, "unknown option '-x'");
}

static void test_uint_range(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "--window", "256");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_int_equal(t.window, 256);
    RUN(&t, &r, "--window=1");
    assert_int_equal(t.window, 1);
    RUN(&t, &r, "--window", "0");
    assert_usage(&r, "invalid --window '0' (expected a whole number from 1 "
                     "to 256)");
    RUN(&t, &r, "--window=257");
    assert_usage(&r, "invalid --window '257' (expected a whole number from 1 "
                     "to 256)");
    RUN(&t, &r, "--window", "8x");
    assert_int_equal(r.st, PARSE_OPT_ERROR);
    assert_int_equal(t.window, 1);
}

static void test_optional_argument(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "--compress");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_int_equal(t.level, 1);
    RUN(&t, &r, "--compress=7");
    assert_int_equal(t.level, 7);
    /* Only --compress=N gives a level: "--compress 9" is an argument. */
    RUN(&t, &r, "--compress", "9");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_int_equal(t.level, 1);
    assert_int_equal(r.nargs, 1);
    assert_string_equal(r.args[0], "9");
    RUN(&t, &r, "--compress=20");
    assert_usage(&r, "invalid --compress '20' (expected a whole number from "
                     "1 to 19)");
}

static void test_sizes(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "--chunk-size", "1M", "--checkpoint=2G", "--bwlimit", "1.5K");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_int_equal(t.chunk, 1u << 20);
    assert_int_equal(t.checkpoint, 2ull << 30);
    assert_int_equal(t.bwlimit, 1536);
    RUN(&t, &r, "--chunk-size", "64M");
    assert_int_equal(t.chunk, 64u << 20);
    RUN(&t, &r, "--chunk-size", "5000");
    assert_usage(&r, "--chunk-size must be a multiple of 4K between 4K and "
                     "64M");
    RUN(&t, &r, "--chunk-size", "128M");
    assert_usage(&r, "--chunk-size must be a multiple of 4K between 4K and "
                     "64M");
    RUN(&t, &r, "--checkpoint", "1K");
    assert_usage(&r, "--checkpoint must be at least 1M");
    RUN(&t, &r, "--bwlimit", "10X");
    assert_usage(&r, "invalid --bwlimit '10X' (expected bytes, or a number "
                     "with K, M, G or T)");
    assert_int_equal(t.chunk, 64u << 20);
}

static void test_seconds_and_callbacks(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "--max-downtime", "2.5", "--receiver=rbd", "--insecure");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_true(t.downtime > 2.49 && t.downtime < 2.51);
    assert_string_equal(t.receiver, "rbd");
    assert_int_equal(t.insecure_calls, 1);
    RUN(&t, &r, "--max-downtime=soon");
    assert_usage(&r, "invalid --max-downtime 'soon' (expected seconds)");
    RUN(&t, &r, "--receiver", "scp");
    assert_usage(&r, "invalid --receiver 'scp'");
    RUN(&t, &r, "--insecure=yes");
    assert_usage(&r, "option '--insecure' takes no argument");
    assert_int_equal(t.insecure_calls, 1);
}

static void test_missing_and_extra_arguments(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "a", "--window");
    assert_usage(&r, "option '--window' needs an argument");
    RUN(&t, &r, "-i");
    assert_usage(&r, "option '-i' needs an argument");
    RUN(&t, &r, "-fi");
    assert_usage(&r, "option '-i' needs an argument");
    RUN(&t, &r, "--flag=1");
    assert_usage(&r, "option '--flag' takes no argument");
    RUN(&t, &r, "--help=1");
    assert_usage(&r, "option '--help' takes no argument");
    /* The first error stops the parse: what follows is not applied. */
    t.flag = false;
    RUN(&t, &r, "--window", "0", "--flag");
    assert_int_equal(r.st, PARSE_OPT_ERROR);
    assert_false(t.flag);
}

static void test_short_options(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "-i", "key", "-cmy.conf");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_string_equal(t.identity, "key");
    assert_string_equal(t.conf, "my.conf");

    /* Bundled: flags, then one that takes the rest or the next word. */
    t.flag = false;
    RUN(&t, &r, "-fikey2");
    assert_true(t.flag);
    assert_string_equal(t.identity, "key2");
    t.flag = false;
    RUN(&t, &r, "-fi", "key3", "arg");
    assert_true(t.flag);
    assert_string_equal(t.identity, "key3");
    assert_int_equal(r.nargs, 1);
    assert_string_equal(r.args[0], "arg");
}

static void test_arguments_in_any_order(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "one", "--flag", "-", "--window", "3", "two");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_true(t.flag);
    assert_int_equal(t.window, 3);
    assert_int_equal(r.nargs, 3);
    assert_string_equal(r.args[0], "one");
    assert_string_equal(r.args[1], "-"); /* stdin/stdout, an argument */
    assert_string_equal(r.args[2], "two");
}

static void test_double_dash_ends_options(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "a", "--", "--flag", "-x", "--", "b");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_false(t.flag);
    assert_int_equal(r.nargs, 5);
    assert_string_equal(r.args[0], "a");
    assert_string_equal(r.args[1], "--flag");
    assert_string_equal(r.args[2], "-x");
    assert_string_equal(r.args[3], "--");
    assert_string_equal(r.args[4], "b");
    RUN(&t, &r, "--");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_int_equal(r.nargs, 0);
}

static void test_bool_values(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    t.verify = true;
    RUN(&t, &r, "--no-verify", "--force");
    assert_int_equal(r.st, PARSE_OPT_DONE);
    assert_false(t.verify);
    assert_true(t.force);
}

static void test_verbose_and_quiet(void **state)
{
    enum log_level saved = log_get_level();
    struct targets t = {0};
    struct result r;

    (void)state;
    log_set_level(LOG_LEVEL_WARN);
    RUN(&t, &r, "-v");
    assert_int_equal(log_get_level(), LOG_LEVEL_INFO);
    RUN(&t, &r, "-v");
    assert_int_equal(log_get_level(), LOG_LEVEL_DEBUG);
    RUN(&t, &r, "--quiet");
    assert_int_equal(log_get_level(), LOG_LEVEL_ERROR);
    log_set_level(LOG_LEVEL_WARN);
    RUN(&t, &r, "-fvv");
    assert_true(t.flag);
    assert_int_equal(log_get_level(), LOG_LEVEL_DEBUG);
    log_set_level(saved);
}

static void test_help_from_the_table(void **state)
{
    struct targets t = {0};
    struct result r;

    (void)state;
    RUN(&t, &r, "--flag", "--help", "--nope");
    assert_int_equal(r.st, PARSE_OPT_HELP);
    assert_int_equal(parse_options_exit(r.st), EXIT_OK);
    assert_string_equal(r.err, "");
    assert_string_equal(
        r.out,
        "usage: rbdmove test [options] ARGS\n"
        "\n"
        "A command to test the parser with.\n"
        "\n"
        "options:\n"
        "  -f, --flag                   a flag\n"
        "      --force                  another flag\n"
        "      --no-verify              clears a flag\n"
        "  -i, --identity FILE          a file\n"
        "  -c, --conf CONF              a short string\n"
        "      --src-conf CONF          a string\n"
        "      --src-id ID              a string\n"
        "      --window N               1 to 256\n"
        "      --compress[=LEVEL]       1 to 19, default 1\n"
        "      --chunk-size SIZE        4K steps\n"
        "      --checkpoint SIZE        at least 1M\n"
        "      --bwlimit RATE           any size\n"
        "      --max-downtime SECONDS   seconds\n"
        "      --receiver KIND          a word\n"
        "      --insecure               a callback\n"
        "      --dst-availability-zone ZONE\n"
        "                               a long name\n"
        "  -h, --help                   show this help and exit\n"
        "  -v, --verbose                say more (twice for debug output)\n"
        "  -q, --quiet                  print errors only\n"
        "\n"
        "See rbdmove-test(1) for details.\n");
    RUN(&t, &r, "-h");
    assert_int_equal(r.st, PARSE_OPT_HELP);
}

/* seen: the long names and arguments, as a journal records them. */
static void seen_record(void *ctx, const struct parse_option *opt,
                        const char *arg)
{
    char *b = ctx;
    size_t len = strlen(b);

    snprintf(b + len, 512 - len, "%s=%s;", opt->long_name,
             arg ? arg : "(none)");
}

static void test_seen_hook(void **state)
{
    enum log_level saved = log_get_level();
    struct targets t = {0};
    struct result r;
    char rec[512] = "";

    (void)state;
    run_with(&t, &r, seen_record, rec, "-i", "k", "-v", "--compress",
             "--window=4", "arg", "--flag", NULL);
    log_set_level(saved);
    assert_int_equal(r.st, PARSE_OPT_DONE);
    /* -v is the parser's own, not the command's: not seen. */
    assert_string_equal(rec, "identity=k;compress=(none);window=4;"
                             "flag=(none);");
}

static void test_find_and_apply(void **state)
{
    struct targets t = {0};
    struct parse_option opts[] = {TEST_OPTIONS(&t)};
    const struct parse_option *o;
    struct error err = ERROR_INIT;

    (void)state;
    assert_null(parse_options_find(opts, "win"));
    assert_null(parse_options_find(opts, "help")); /* the command's only */
    o = parse_options_find(opts, "window");
    assert_non_null(o);
    assert_int_equal(parse_options_apply(o, "8", &err), 0);
    assert_int_equal(t.window, 8);
    assert_int_equal(parse_options_apply(o, "999", &err), -1);
    assert_int_equal(err.kind, ERROR_USAGE);
    assert_string_equal(err.msg, "invalid --window '999' (expected a whole "
                                 "number from 1 to 256)");
    /* A flag read back from a journal ("1") ignores its value. */
    o = parse_options_find(opts, "flag");
    assert_int_equal(parse_options_apply(o, "1", &err), 0);
    assert_true(t.flag);
    o = parse_options_find(opts, "compress");
    assert_int_equal(parse_options_apply(o, "1", &err), 0);
    assert_int_equal(t.level, 1);
    assert_int_equal(parse_options_exit(PARSE_OPT_ERROR), EXIT_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_options_exact),
        cmocka_unit_test(test_abbreviation_refused),
        cmocka_unit_test(test_ambiguous_prefix),
        cmocka_unit_test(test_unknown_options),
        cmocka_unit_test(test_uint_range),
        cmocka_unit_test(test_optional_argument),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_seconds_and_callbacks),
        cmocka_unit_test(test_missing_and_extra_arguments),
        cmocka_unit_test(test_short_options),
        cmocka_unit_test(test_arguments_in_any_order),
        cmocka_unit_test(test_double_dash_ends_options),
        cmocka_unit_test(test_bool_values),
        cmocka_unit_test(test_verbose_and_quiet),
        cmocka_unit_test(test_help_from_the_table),
        cmocka_unit_test(test_seen_hook),
        cmocka_unit_test(test_find_and_apply),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
