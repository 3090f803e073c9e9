/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli.h: what the subcommands share: the option table that drives
 * both getopt_long and --help (git's parse_options principle), usage
 * errors, exit statuses, and the printing of errors.
 *
 * CLI layer: may print and decide exit statuses; the core may not.
 */
#ifndef RBDMOVE_CLI_H
#define RBDMOVE_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "rbdmove/error.h"

enum exit_status {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_RESUMABLE = 3,
};

/* One option: getopt_long's entry plus its argument name and help. */
struct cli_option {
    const char *name; /* long name, without "--" */
    int has_arg;      /* no_argument, required_argument, optional_argument */
    int val;          /* short option character, or a value >= 256 */
    const char *arg;  /* argument name for --help, NULL when none */
    const char *help;
};

/* A subcommand's description for --help and usage errors. */
struct cli_command {
    const char *name;     /* "copy" */
    const char *synopsis; /* "[options] SRC_POOL/IMAGE DST_POOL/IMAGE" */
    const char *summary;  /* one line */
    const struct cli_option *options; /* ends with {NULL} */
};

/* Options every command accepts; the parser handles them itself. */
#define CLI_OPT_HELP 'h'
#define CLI_OPT_VERBOSE 'v'
#define CLI_OPT_QUIET 'q'

struct cli_parser {
    const struct cli_command *cmd;
    struct option *longopts;
    char *shortopts;
};

/*
 * Build the getopt tables for cmd (the common -h/-v/-q are added). Call
 * cli_next until it returns -1; it handles --help (prints and returns
 * CLI_DONE_HELP), -v and -q itself and reports unknown options
 * (CLI_DONE_USAGE). optarg is set as with getopt_long.
 */
#define CLI_DONE_HELP (-2)
#define CLI_DONE_USAGE (-3)
void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd);
int cli_next(struct cli_parser *p, int argc, char **argv);
void cli_parser_release(struct cli_parser *p);

/* Print the command's --help text to stdout. */
void cli_print_help(const struct cli_command *cmd);

/*
 * Print "rbdmove CMD: <msg>" and "try 'rbdmove CMD --help'" on stderr;
 * returns EXIT_USAGE.
 */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Print an error from the core ("rbdmove: <msg>", with " [kind cause]"
 * at -v) and return the exit status that fits its kind.
 */
int cli_report_error(const struct error *err);

/* Global flags set by the parser. */
extern bool cli_json; /* --json given: events on stdout */

/*
 * SIGINT, SIGTERM and SIGHUP set a flag instead of killing us, so that a
 * copy stops at a clean point (exit status 3, resumable). A second signal
 * kills at once.
 */
void cli_install_signals(void);
/* Seconds every Ceph operation may take: RBDMOVE_CEPH_TIMEOUT, else 60. */
int cli_ceph_timeout(void);

/* A cancel_fn for the core: true once a signal arrived. */
bool cli_cancelled(void *ctx);

#endif
