/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cli.c: usage errors, exit statuses, signals.
 */
#include "rbdmove/cli/cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/base/cancel.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

bool cli_json;

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

void cli_error_event(const char *command, const struct error *err)
{
    struct json_out j = JSON_OUT_INIT;

    if (!cli_json)
        return;
    json_out_object_begin(&j, NULL);
    json_out_str(&j, "event", "error");
    json_out_str(&j, "command", command);
    json_out_str(&j, "kind", error_kind_name(err->kind));
    json_out_str(&j, "message", err->msg);
    json_out_object_end(&j);
    printf("%s\n", json_out_text(&j));
    fflush(stdout);
    json_out_release(&j);
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
    case ERROR_BUSY:
        return EXIT_BUSY;
    default:
        return EXIT_FAIL;
    }
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    static const char msg[] = "rbdmove: stopping (a second signal kills "
                              "at once, and a cutover under way finishes "
                              "or rolls back first)\n";

    if (got_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    got_signal = sig;
    cancel_raise(sig);
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
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
    return cancel_requested();
}

unsigned cli_ceph_timeout_s;

int cli_ceph_timeout(void)
{
    if (cli_ceph_timeout_s)
        return (int)cli_ceph_timeout_s;
    const char *s = getenv("RBDMOVE_CEPH_TIMEOUT");
    struct error err = ERROR_INIT;
    uint64_t v;

    if (s && parse_uint(s, "RBDMOVE_CEPH_TIMEOUT", 1, 86400, &v, &err) == 0)
        return (int)v;
    return 60;
}
