/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli.c: option tables, --help, usage errors, exit statuses.
 */
#include "rbdmove/cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/buf.h"
#include "rbdmove/log.h"
#include "rbdmove/strutil.h"
#include "rbdmove/xalloc.h"

bool cli_json;

static const struct cli_option common_options[] = {
    {"help", no_argument, CLI_OPT_HELP, NULL, "show this help and exit"},
    {"verbose", no_argument, CLI_OPT_VERBOSE, NULL,
     "say more (twice for debug output)"},
    {"quiet", no_argument, CLI_OPT_QUIET, NULL, "print errors only"},
    {NULL, 0, 0, NULL, NULL},
};

static size_t count_options(const struct cli_option *o)
{
    size_t n = 0;

    while (o && o[n].name)
        n++;
    return n;
}

static void add_options(struct cli_parser *p, const struct cli_option *o,
                        size_t *n, struct buf *shortopts)
{
    for (; o && o->name; o++) {
        p->longopts[*n].name = o->name;
        p->longopts[*n].has_arg = o->has_arg;
        p->longopts[*n].flag = NULL;
        p->longopts[*n].val = o->val;
        (*n)++;
        if (o->val > 0 && o->val < 256) {
            char c = (char)o->val;

            buf_add(shortopts, &c, 1);
            if (o->has_arg == required_argument)
                buf_adds(shortopts, ":");
            else if (o->has_arg == optional_argument)
                buf_adds(shortopts, "::");
        }
    }
}

void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd)
{
    size_t total = count_options(cmd->options) + count_options(common_options);
    struct buf shortopts = BUF_INIT;
    size_t n = 0;

    p->cmd = cmd;
    p->longopts = xcalloc(total + 1, sizeof(*p->longopts));
    /* Options may follow the arguments (GNU permutation, as git and curl
     * allow); "--" ends them. ':' lets us word the missing-argument error
     * ourselves. */
    buf_adds(&shortopts, ":");
    add_options(p, cmd->options, &n, &shortopts);
    add_options(p, common_options, &n, &shortopts);
    p->shortopts = buf_take(&shortopts);
    optind = 0; /* full reinitialisation (glibc) */
    opterr = 0;
}

int cli_next(struct cli_parser *p, int argc, char **argv)
{
    int c = getopt_long(argc, argv, p->shortopts, p->longopts, NULL);

    switch (c) {
    case CLI_OPT_HELP:
        cli_print_help(p->cmd);
        return CLI_DONE_HELP;
    case CLI_OPT_VERBOSE:
        if (log_get_level() < LOG_LEVEL_DEBUG)
            log_set_level(log_get_level() < LOG_LEVEL_INFO ? LOG_LEVEL_INFO
                                                           : LOG_LEVEL_DEBUG);
        return cli_next(p, argc, argv);
    case CLI_OPT_QUIET:
        log_set_level(LOG_LEVEL_ERROR);
        return cli_next(p, argc, argv);
    case '?':
        if (optopt && optopt < 256)
            cli_usage_error(p->cmd, "unknown option '-%c'", optopt);
        else
            cli_usage_error(p->cmd, "unknown option '%s'", argv[optind - 1]);
        return CLI_DONE_USAGE;
    case ':':
        cli_usage_error(p->cmd, "option '%s' needs an argument",
                        argv[optind - 1]);
        return CLI_DONE_USAGE;
    default:
        return c;
    }
}

void cli_parser_release(struct cli_parser *p)
{
    free(p->longopts);
    free(p->shortopts);
    p->longopts = NULL;
    p->shortopts = NULL;
}

static void print_options(const struct cli_option *o)
{
    for (; o && o->name; o++) {
        struct buf b = BUF_INIT;

        if (o->val > 0 && o->val < 256)
            buf_addf(&b, "  -%c, --%s", o->val, o->name);
        else
            buf_addf(&b, "      --%s", o->name);
        if (o->arg && o->has_arg == optional_argument)
            buf_addf(&b, "[=%s]", o->arg);
        else if (o->arg)
            buf_addf(&b, " %s", o->arg);
        if (b.len < 30)
            printf("%-30s %s\n", buf_str(&b), o->help);
        else
            printf("%s\n%-30s %s\n", buf_str(&b), "", o->help);
        buf_release(&b);
    }
}

void cli_print_help(const struct cli_command *cmd)
{
    printf("usage: rbdmove %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->synopsis,
           cmd->summary);
    print_options(cmd->options);
    print_options(common_options);
    printf("\nSee rbdmove-%s(1) for details.\n", cmd->name);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    fprintf(stderr, "rbdmove %s: %s\ntry 'rbdmove %s --help'\n", cmd->name,
            buf_str(&b), cmd->name);
    buf_release(&b);
    return EXIT_USAGE;
}

int cli_report_error(const struct error *err)
{
    if (log_get_level() >= LOG_LEVEL_INFO)
        log_error("%s [%s %d]", err->msg, error_kind_name(err->kind),
                  err->cause);
    else
        log_error("%s", err->msg);
    switch (err->kind) {
    case ERROR_USAGE:
        return EXIT_USAGE;
    case ERROR_INTERRUPTED:
        return EXIT_RESUMABLE;
    default:
        return EXIT_FAIL;
    }
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    if (got_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    got_signal = sig;
}

void cli_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

bool cli_cancelled(void *ctx)
{
    (void)ctx;
    return got_signal != 0;
}

int cli_ceph_timeout(void)
{
    const char *s = getenv("RBDMOVE_CEPH_TIMEOUT");
    struct error err = ERROR_INIT;
    uint64_t v;

    if (s && parse_uint(s, "RBDMOVE_CEPH_TIMEOUT", 1, 86400, &v, &err) == 0)
        return (int)v;
    return 60;
}
