/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/parse_options.c: walking argv against a typed option table,
 * converting the values, and --help from the same table.
 *
 * Our own walk, not getopt_long: getopt_long takes any unique prefix of a
 * long option for the option, which is what we refuse; it keeps its state
 * in globals; and its errors cannot name the option an abbreviation or a
 * misspelling was close to.
 */
#include "rbdmove/cli/parse_options.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"

static int opt_verbose(const struct parse_option *opt, const char *arg,
                       struct error *err)
{
    enum log_level l = log_get_level();

    (void)opt;
    (void)arg;
    (void)err;
    if (l < LOG_LEVEL_DEBUG)
        log_set_level(l < LOG_LEVEL_INFO ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG);
    return 0;
}

static int opt_quiet(const struct parse_option *opt, const char *arg,
                     struct error *err)
{
    (void)opt;
    (void)arg;
    (void)err;
    log_set_level(LOG_LEVEL_ERROR);
    return 0;
}

/* What every command accepts, after its own options in --help. */
static const struct parse_option common_options[] = {
    {.type = OPTION_HELP,
     .short_name = 'h',
     .long_name = "help",
     .help = "show this help and exit"},
    OPT_CALLBACK('v', "verbose", NULL, NULL, opt_verbose,
                 "say more (twice for debug output)"),
    OPT_CALLBACK('q', "quiet", NULL, NULL, opt_quiet, "print errors only"),
    OPT_END(),
};

static bool takes_arg(const struct parse_option *o)
{
    return o->argh != NULL;
}

static bool arg_optional(const struct parse_option *o)
{
    return (o->flags & PARSE_OPT_OPTARG) != 0;
}

/* ---- values ------------------------------------------------------------- */

/* An unsigned integer into a variable of o->width bytes (within range:
 * max fits the width, checked below). */
static void store_uint(const struct parse_option *o, uint64_t v)
{
    uint32_t v32 = (uint32_t)v;

    assert(o->width >= sizeof(uint64_t) ||
           o->max < (UINT64_C(1) << (8 * o->width)));
    switch (o->width) {
    case sizeof(v32):
        memcpy(o->value, &v32, sizeof(v32));
        break;
    case sizeof(v):
        memcpy(o->value, &v, sizeof(v));
        break;
    default:
        abort(); /* PARSE_OPT_CHECK_UINT admits no other width */
    }
}

/* "4K", "64M", "1M": n in the largest binary unit that divides it. */
static void add_size(struct buf *b, uint64_t n)
{
    static const char units[] = "KMGTPE";
    unsigned i = 0;

    while (n && n % 1024 == 0 && i < sizeof(units) - 1) {
        n /= 1024;
        i++;
    }
    buf_addf(b, "%" PRIu64, n);
    if (i)
        buf_addf(b, "%c", units[i - 1]);
}

/* "--chunk-size must be a multiple of 4K between 4K and 64M" */
static int size_out_of_range(const struct parse_option *o, const char *what,
                             struct error *err)
{
    struct buf b = BUF_INIT;

    if (o->multiple > 1) {
        buf_adds(&b, "a multiple of ");
        add_size(&b, o->multiple);
        if (o->min || o->max < UINT64_MAX)
            buf_adds(&b, o->min && o->max < UINT64_MAX ? " " : " and ");
    }
    if (o->min && o->max < UINT64_MAX) {
        buf_adds(&b, "between ");
        add_size(&b, o->min);
        buf_adds(&b, " and ");
        add_size(&b, o->max);
    } else if (o->min) {
        buf_adds(&b, "at least ");
        add_size(&b, o->min);
    } else if (o->max < UINT64_MAX) {
        buf_adds(&b, "at most ");
        add_size(&b, o->max);
    }
    error_set(err, ERROR_USAGE, 0, "%s must be %s", what, buf_str(&b));
    buf_release(&b);
    return -1;
}

static int apply_size(const struct parse_option *o, const char *arg,
                      const char *what, struct error *err)
{
    uint64_t v;

    if (parse_size(arg, what, &v, err) < 0)
        return -1;
    if (v < o->min || v > o->max || (o->multiple && v % o->multiple))
        return size_out_of_range(o, what, err);
    store_uint(o, v);
    return 0;
}

int parse_options_apply(const struct parse_option *o, const char *arg,
                        struct error *err)
{
    char what[80];
    uint64_t v;

    /* What the value is called in messages: "--window". */
    snprintf(what, sizeof(what), "--%s", o->long_name);
    if (!takes_arg(o))
        arg = NULL;
    switch (o->type) {
    case OPTION_BOOL:
        *(bool *)o->value = o->defval != 0;
        return 0;
    case OPTION_STRING:
        *(const char **)o->value = arg;
        return 0;
    case OPTION_UINT:
        if (!arg)
            v = o->defval;
        else if (parse_uint(arg, what, o->min, o->max, &v, err) < 0)
            return -1;
        store_uint(o, v);
        return 0;
    case OPTION_SIZE:
        return apply_size(o, arg, what, err);
    case OPTION_SECONDS:
        return parse_seconds(arg, what, o->value, err);
    case OPTION_CALLBACK:
        return o->callback(o, arg, err);
    case OPTION_HELP:
    case OPTION_END:
        break;
    }
    abort(); /* not an option that sets anything */
}

enum parse_option_arg parse_options_arg(const struct parse_option *o)
{
    if (!takes_arg(o))
        return PARSE_ARG_NONE;
    return arg_optional(o) ? PARSE_ARG_OPTIONAL : PARSE_ARG_REQUIRED;
}

int parse_options_try(const struct parse_option *opts, const char *long_name,
                      const char *value, enum parse_option_arg *arg,
                      struct error *err)
{
    const struct parse_option *o = parse_options_find(opts, long_name);

    if (!o)
        return 1;
    *arg = parse_options_arg(o);
    if (*arg == PARSE_ARG_REQUIRED && !value)
        return error_set(err, ERROR_USAGE, 0, "--%s needs a value", long_name);
    if (*arg == PARSE_ARG_NONE && value)
        return error_set(err, ERROR_USAGE, 0, "--%s takes no value", long_name);
    return parse_options_apply(o, value, err);
}

/* ---- finding an option -------------------------------------------------- */

const struct parse_option *parse_options_find(const struct parse_option *opts,
                                              const char *long_name)
{
    for (const struct parse_option *o = opts; o && o->type != OPTION_END; o++) {
        if (!strcmp(o->long_name, long_name))
            return o;
    }
    return NULL;
}

/* The entry of opts or of the common options whose long name is exactly
 * the len bytes at name. */
static const struct parse_option *find_long(const struct parse_option *opts,
                                            const char *name, size_t len)
{
    const struct parse_option *tables[] = {opts, common_options};

    for (size_t t = 0; t < 2; t++) {
        for (const struct parse_option *o = tables[t];
             o && o->type != OPTION_END; o++) {
            if (strlen(o->long_name) == len &&
                !strncmp(o->long_name, name, len))
                return o;
        }
    }
    return NULL;
}

static const struct parse_option *find_short(const struct parse_option *opts,
                                             int c)
{
    const struct parse_option *tables[] = {opts, common_options};

    for (size_t t = 0; t < 2; t++) {
        for (const struct parse_option *o = tables[t];
             o && o->type != OPTION_END; o++) {
            if (o->short_name && o->short_name == c)
                return o;
        }
    }
    return NULL;
}

/*
 * An unknown long option: name the options it is the start of, one as
 * "did you mean", several as ambiguous. Nothing is taken for the option it
 * abbreviates: that would let a new option change an old command line.
 */
static int unknown_long(const struct parse_option *opts, const char *name,
                        size_t len, struct error *err)
{
    const struct parse_option *tables[] = {opts, common_options};
    struct buf list = BUF_INIT;
    const char *first = NULL;
    size_t n = 0;

    for (size_t t = 0; t < 2; t++) {
        for (const struct parse_option *o = tables[t];
             o && o->type != OPTION_END; o++) {
            if (strncmp(o->long_name, name, len))
                continue;
            buf_addf(&list, "%s--%s", n ? ", " : "", o->long_name);
            first = first ? first : o->long_name;
            n++;
        }
    }
    if (n == 1)
        error_set(err, ERROR_USAGE, 0,
                  "unknown option '--%.*s' (did you mean --%s?)", (int)len,
                  name, first);
    else if (n > 1)
        error_set(err, ERROR_USAGE, 0,
                  "ambiguous option '--%.*s' (could be %s)", (int)len, name,
                  buf_str(&list));
    else
        error_set(err, ERROR_USAGE, 0, "unknown option '--%.*s'", (int)len,
                  name);
    buf_release(&list);
    return -1;
}

/* ---- the walk ----------------------------------------------------------- */

struct walk {
    const struct cli_command *cmd;
    const struct parse_option *opts;
    int argc;
    char **argv;
    int next; /* the next argv element to look at */
    parse_options_seen_fn *seen;
    void *seen_ctx;
};

static bool is_common(const struct parse_option *o)
{
    for (const struct parse_option *c = common_options; c->type != OPTION_END;
         c++) {
        if (c == o)
            return true;
    }
    return false;
}

/* Apply o with arg; OPTION_HELP prints the help. */
static enum parse_options_status use(struct walk *w,
                                     const struct parse_option *o,
                                     const char *arg, struct error *err)
{
    if (o->type == OPTION_HELP) {
        parse_options_help(w->cmd, w->opts);
        return PARSE_OPT_HELP;
    }
    if (parse_options_apply(o, arg, err) < 0)
        return PARSE_OPT_ERROR;
    if (w->seen && !is_common(o))
        w->seen(w->seen_ctx, o, arg);
    return PARSE_OPT_DONE;
}

/* "--name", "--name=ARG" or "--name ARG" (s points after the "--"). */
static enum parse_options_status long_opt(struct walk *w, const char *s,
                                          struct error *err)
{
    const char *eq = strchr(s, '=');
    size_t len = eq ? (size_t)(eq - s) : strlen(s);
    const struct parse_option *o = find_long(w->opts, s, len);
    const char *arg = eq ? eq + 1 : NULL;

    if (!o) {
        if (len)
            unknown_long(w->opts, s, len, err);
        else
            error_set(err, ERROR_USAGE, 0, "unknown option '--%s'", s);
        return PARSE_OPT_ERROR;
    }
    if (!takes_arg(o) && eq) {
        error_set(err, ERROR_USAGE, 0, "option '--%s' takes no argument",
                  o->long_name);
        return PARSE_OPT_ERROR;
    }
    if (takes_arg(o) && !arg_optional(o) && !arg) {
        if (w->next >= w->argc) {
            error_set(err, ERROR_USAGE, 0, "option '--%s' needs an argument",
                      o->long_name);
            return PARSE_OPT_ERROR;
        }
        arg = w->argv[w->next++];
    }
    return use(w, o, arg, err);
}

/* "-vq", "-i FILE", "-iFILE" (s points after the "-"). */
static enum parse_options_status short_opts(struct walk *w, const char *s,
                                            struct error *err)
{
    for (; *s; s++) {
        const struct parse_option *o = find_short(w->opts, *s);
        const char *arg = NULL;
        enum parse_options_status st;

        if (!o) {
            error_set(err, ERROR_USAGE, 0, "unknown option '-%c'", *s);
            return PARSE_OPT_ERROR;
        }
        if (takes_arg(o) && s[1]) {
            arg = s + 1;
        } else if (takes_arg(o) && !arg_optional(o)) {
            if (w->next >= w->argc) {
                error_set(err, ERROR_USAGE, 0, "option '-%c' needs an argument",
                          *s);
                return PARSE_OPT_ERROR;
            }
            arg = w->argv[w->next++];
        }
        st = use(w, o, arg, err);
        if (st != PARSE_OPT_DONE || arg)
            return st;
    }
    return PARSE_OPT_DONE;
}

/*
 * The arguments that are not options are moved down to argv[0..*nargs):
 * each lands on a slot already read (argv[0], the command's name, is not
 * an argument), so nothing unread is overwritten.
 */
static enum parse_options_status walk(struct walk *w, int *nargs,
                                      struct error *err)
{
    enum parse_options_status st = PARSE_OPT_DONE;
    int n = 0;

    w->next = 1;
    while (st == PARSE_OPT_DONE && w->next < w->argc) {
        const char *s = w->argv[w->next++];

        if (!strcmp(s, "--")) {
            while (w->next < w->argc)
                w->argv[n++] = w->argv[w->next++];
        } else if (s[0] == '-' && s[1] == '-') {
            st = long_opt(w, s + 2, err);
        } else if (s[0] == '-' && s[1]) {
            st = short_opts(w, s + 1, err);
        } else {
            w->argv[n++] = (char *)s;
        }
    }
    if (st == PARSE_OPT_DONE) {
        w->argv[n] = NULL;
        *nargs = n;
    }
    return st;
}

enum parse_options_status parse_options_seen(const struct cli_command *cmd,
                                             const struct parse_option *opts,
                                             int argc, char **argv, int *nargs,
                                             parse_options_seen_fn *seen,
                                             void *ctx)
{
    struct walk w = {cmd, opts, argc, argv, 1, seen, ctx};
    struct error err = ERROR_INIT;
    enum parse_options_status st;

    *nargs = 0;
    st = walk(&w, nargs, &err);
    if (st == PARSE_OPT_ERROR)
        cli_usage_error(cmd, "%s", err.msg);
    return st;
}

enum parse_options_status parse_options(const struct cli_command *cmd,
                                        const struct parse_option *opts,
                                        int argc, char **argv, int *nargs)
{
    return parse_options_seen(cmd, opts, argc, argv, nargs, NULL, NULL);
}

enum parse_options_status parse_options_error(const struct cli_command *cmd,
                                              const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    cli_usage_error(cmd, "%s", buf_str(&b));
    buf_release(&b);
    return PARSE_OPT_ERROR;
}

int parse_options_exit(enum parse_options_status st)
{
    return st == PARSE_OPT_HELP ? EXIT_OK : EXIT_USAGE;
}

/* ---- --help -------------------------------------------------------------- */

static void print_options(const struct parse_option *o)
{
    for (; o && o->type != OPTION_END; o++) {
        struct buf b = BUF_INIT;

        if (o->short_name)
            buf_addf(&b, "  -%c, --%s", o->short_name, o->long_name);
        else
            buf_addf(&b, "      --%s", o->long_name);
        if (takes_arg(o) && arg_optional(o))
            buf_addf(&b, "[=%s]", o->argh);
        else if (takes_arg(o))
            buf_addf(&b, " %s", o->argh);
        if (b.len < 30)
            printf("%-30s %s\n", buf_str(&b), o->help);
        else
            printf("%s\n%-30s %s\n", buf_str(&b), "", o->help);
        buf_release(&b);
    }
}

void parse_options_help(const struct cli_command *cmd,
                        const struct parse_option *opts)
{
    printf("usage: rbdmove %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->synopsis,
           cmd->summary);
    print_options(opts);
    print_options(common_options);
    printf("\nSee rbdmove-%s(1) for details.\n", cmd->name);
}
