/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/parse_options.h: typed option tables (git's parse_options).
 *
 * A command declares its options as a table: each entry has a type, its
 * names, a pointer to the variable it sets, the allowed range, and the
 * argument name and help text for --help. One parser walks argv, converts
 * and range-checks each value as it comes (strutil.h does the numbers),
 * prints --help from the same table, and words every usage error.
 *
 * Long options are matched by their full name only: an abbreviation is
 * refused, with the option it may stand for named, so that an option
 * added later can never change what an old command line means. Options
 * and arguments may come in any order; "--" ends the options.
 *
 * CLI layer. Shared groups of entries (the OpenStack options, the two
 * clusters, the SSH destination) are in cli_options.h.
 */
#ifndef RBDMOVE_PARSE_OPTIONS_H
#define RBDMOVE_PARSE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/base/error.h"

enum parse_option_type {
    OPTION_END = 0, /* ends a table */
    OPTION_BOOL,    /* bool *: set to defval; takes no argument */
    OPTION_STRING,  /* const char **: the argument itself (borrowed) */
    OPTION_UINT,    /* unsigned integer of any width: [min, max] */
    OPTION_SIZE,    /* likewise, "64M" and the like: [min, max] */
    OPTION_SECONDS, /* double *: "2.5", "30s" */
    OPTION_CALLBACK,
    OPTION_HELP, /* -h, --help: the parser's own */
};

/* Entry flags. */
#define PARSE_OPT_OPTARG 1 /* the argument is optional: --opt[=ARG] only */

struct parse_option;

/*
 * An OPTION_CALLBACK entry: apply arg (NULL for an option that takes
 * none) to opt->value. Returns -1 with ERROR_USAGE on a bad argument.
 */
typedef int parse_option_fn(const struct parse_option *opt, const char *arg,
                            struct error *err);

struct parse_option {
    enum parse_option_type type;
    int short_name;        /* a character, or 0 */
    const char *long_name; /* without "--"; every entry has one */
    void *value;           /* what the option sets; see the type */
    size_t width;          /* UINT, SIZE: sizeof(*value) */
    const char *argh;      /* argument name for --help; NULL: no argument */
    const char *help;
    int flags;                 /* PARSE_OPT_OPTARG */
    uint64_t min, max;         /* UINT, SIZE: the allowed range */
    uint64_t multiple;         /* SIZE: must be a multiple of this, or 0 */
    uint64_t defval;           /* BOOL: the value set; OPTARG: the value
                                  without an argument */
    parse_option_fn *callback; /* CALLBACK */
};

/*
 * The entries. v is a pointer to the variable the option sets, of the
 * type its kind names; a mismatch does not compile. s is the short name
 * (a character, or 0), l the long name, a the argument name shown in
 * --help, h the help text.
 */
#define PARSE_OPT_CHECK(type, v) _Generic((v), type * : (v))
/* Any unsigned integer (unsigned, size_t, uint64_t): stored by its width;
 * a pointer to anything else does not compile. */
#define PARSE_OPT_IS_UINT(v)                                                   \
    _Generic(*(v), unsigned : 1, unsigned long : 1, unsigned long long : 1)
#define PARSE_OPT_CHECK_UINT(v) ((void)sizeof(PARSE_OPT_IS_UINT(v)), (v))

#define OPT_END()                                                              \
    {                                                                          \
        .type = OPTION_END                                                     \
    }
#define OPT_SET_BOOL(s, l, v, val, h)                                          \
    {                                                                          \
        .type = OPTION_BOOL, .short_name = (s), .long_name = (l),              \
        .value = PARSE_OPT_CHECK(bool, v), .help = (h), .defval = (val)        \
    }
#define OPT_BOOL(s, l, v, h) OPT_SET_BOOL(s, l, v, true, h)
#define OPT_STRING(s, l, v, a, h)                                              \
    {                                                                          \
        .type = OPTION_STRING, .short_name = (s), .long_name = (l),            \
        .value = PARSE_OPT_CHECK(const char *, v), .argh = (a), .help = (h)    \
    }
#define OPT_UINT(s, l, v, a, lo, hi, h)                                        \
    {                                                                          \
        .type = OPTION_UINT, .short_name = (s), .long_name = (l),              \
        .value = PARSE_OPT_CHECK_UINT(v), .width = sizeof(*(v)), .argh = (a),  \
        .help = (h), .min = (lo), .max = (hi)                                  \
    }
/* --l[=a]: without an argument the value is dflt. */
#define OPT_UINT_OPTARG(s, l, v, a, lo, hi, dflt, h)                           \
    {                                                                          \
        .type = OPTION_UINT, .short_name = (s), .long_name = (l),              \
        .value = PARSE_OPT_CHECK_UINT(v), .width = sizeof(*(v)), .argh = (a),  \
        .help = (h), .flags = PARSE_OPT_OPTARG, .min = (lo), .max = (hi),      \
        .defval = (dflt)                                                       \
    }
/* A size with binary suffixes, in [lo, hi] and a multiple of mult (or 0). */
#define OPT_SIZE_RANGE(s, l, v, a, lo, hi, mult, h)                            \
    {                                                                          \
        .type = OPTION_SIZE, .short_name = (s), .long_name = (l),              \
        .value = PARSE_OPT_CHECK_UINT(v), .width = sizeof(*(v)), .argh = (a),  \
        .help = (h), .min = (lo), .max = (hi), .multiple = (mult)              \
    }
#define OPT_SIZE(s, l, v, a, h) OPT_SIZE_RANGE(s, l, v, a, 0, UINT64_MAX, 0, h)
#define OPT_SECONDS(s, l, v, a, h)                                             \
    {                                                                          \
        .type = OPTION_SECONDS, .short_name = (s), .long_name = (l),           \
        .value = PARSE_OPT_CHECK(double, v), .argh = (a), .help = (h)          \
    }
/* fn(opt, arg, err) with opt->value == v; a NULL: takes no argument. */
#define OPT_CALLBACK(s, l, v, a, fn, h)                                        \
    {                                                                          \
        .type = OPTION_CALLBACK, .short_name = (s), .long_name = (l),          \
        .value = (v), .argh = (a), .help = (h), .callback = (fn)               \
    }

enum parse_options_status {
    PARSE_OPT_DONE,  /* the options are applied; the arguments remain */
    PARSE_OPT_HELP,  /* --help was printed on stdout */
    PARSE_OPT_ERROR, /* a usage error was printed on stderr */
};

/* See parse_options_seen. */
typedef void parse_options_seen_fn(void *ctx, const struct parse_option *opt,
                                   const char *arg);

/*
 * Parse argv[1..argc) (argv[0] is the command's name) against opts and the
 * options every command has (-h, -v, -q), applying each option as it comes.
 * The arguments that are not options are moved, in their order, to
 * argv[0..*nargs), and argv[*nargs] is set to NULL.
 *
 * Returns PARSE_OPT_DONE, or PARSE_OPT_HELP after printing cmd's --help,
 * or PARSE_OPT_ERROR after printing what was wrong ("rbdmove CMD: ...").
 * Values are borrowed from argv. Short options may be bundled (-vq,
 * -ifile); a long option's argument is --opt=ARG or --opt ARG.
 */
enum parse_options_status parse_options(const struct cli_command *cmd,
                                        const struct parse_option *opts,
                                        int argc, char **argv, int *nargs);

/* As parse_options, and seen(ctx, opt, arg) after each entry of opts has
 * been applied (arg NULL when it had none); not for -h, -v and -q. */
enum parse_options_status parse_options_seen(const struct cli_command *cmd,
                                             const struct parse_option *opts,
                                             int argc, char **argv, int *nargs,
                                             parse_options_seen_fn *seen,
                                             void *ctx);

/*
 * A usage error found after the options (a missing argument, options that
 * do not go together): print it as parse_options does; returns
 * PARSE_OPT_ERROR.
 */
enum parse_options_status parse_options_error(const struct cli_command *cmd,
                                              const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* EXIT_OK for PARSE_OPT_HELP, EXIT_USAGE for PARSE_OPT_ERROR. */
int parse_options_exit(enum parse_options_status st);

/* The entry of opts named long_name (exactly), or NULL. */
const struct parse_option *parse_options_find(const struct parse_option *opts,
                                              const char *long_name);

/*
 * Apply one entry as if it had been given with arg (NULL: no argument;
 * ignored for an option that takes none). -1 with ERROR_USAGE when arg is
 * not a valid value. For options read back from a file (a move's journal).
 */
int parse_options_apply(const struct parse_option *opt, const char *arg,
                        struct error *err) MUST_CHECK;

/* What an option's argument is: none (a flag), required or optional. */
enum parse_option_arg {
    PARSE_ARG_NONE,
    PARSE_ARG_REQUIRED,
    PARSE_ARG_OPTIONAL,
};
enum parse_option_arg parse_options_arg(const struct parse_option *opt);

/*
 * The entry long_name of opts with value applied, as a command line
 * would (value NULL: none): 1 when there is no such entry, -1 with
 * ERROR_USAGE when value is not valid, else 0 and *arg. For checking an
 * option read from a file before anything runs (a batch plan).
 */
int parse_options_try(const struct parse_option *opts, const char *long_name,
                      const char *value, enum parse_option_arg *arg,
                      struct error *err);

/* Print cmd's --help, the options of opts and the common ones, on stdout. */
void parse_options_help(const struct cli_command *cmd,
                        const struct parse_option *opts);

#endif
