/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cli.h: what the subcommands share: their description, usage
 * errors, exit statuses, and the printing of errors. Their options are
 * parsed by parse_options.h.
 *
 * CLI layer: may print and decide exit statuses; the core may not.
 */
#ifndef RBDMOVE_CLI_H
#define RBDMOVE_CLI_H

#include <stdbool.h>

#include "rbdmove/base/error.h"

enum exit_status {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_RESUMABLE = 3,
    EXIT_BUSY = 4, /* another rbdmove is at work on the same volume */
};

/* A subcommand's description for --help and usage errors; its options
 * are a table of parse_options.h. */
struct cli_command {
    const char *name;     /* "copy" */
    const char *synopsis; /* "[options] SRC_POOL/IMAGE DST_POOL/IMAGE" */
    const char *summary;  /* one line */
};

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
/* With --json: the failure as an event on stdout,
 * {"event":"error","command":...,"kind":...,"message":...}, so that
 * automation sees it (move has its own, with the move's id). */
void cli_error_event(const char *command, const struct error *err);

/* Set by the commands' --json. */
extern bool cli_json; /* --json given: events on stdout */
/* --ceph-timeout given (seconds), else 0: see cli_ceph_timeout(). */
extern unsigned cli_ceph_timeout_s;

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
