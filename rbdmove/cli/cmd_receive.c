/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cmd_receive.c: `rbdmove receive`, the far end of a remote copy,
 * started by rbdmove itself over SSH (internal; not for people):
 *
 *   rbdmove receive --serve [--greet STREAMS,LEVEL] [--conf CONF] [--id ID]
 *                   POOL/IMAGE
 *       answer the control requests of the sending rbdmove on stdin/stdout
 *   rbdmove receive --join SOCKET
 *       hand stdin, one data session, to the serving receiver
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/cli_options.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/core/image.h"
#include "rbdmove/base/log.h"
#include "rbdmove/core/receiver.h"
#include "transport/transport.h"

static const struct cli_command command = {
    "receive",
    "--serve [--greet STREAMS,LEVEL] [-c CONF] [--id ID] POOL/IMAGE | "
    "--join SOCKET",
    "The receiving end of a remote copy, started by rbdmove over SSH.",
};

/* --greet STREAMS,LEVEL: two numbers; their ranges are the receiver's
 * ("streams"), answered on the control channel. */
static int parse_greet(const char *v, struct receiver_start *rs)
{
    char *end;

    errno = 0;
    if (*v < '0' || *v > '9')
        return -1;
    rs->streams = strtoull(v, &end, 10);
    if (errno || *end != ',' || end[1] < '0' || end[1] > '9')
        return -1;
    rs->level = strtoull(end + 1, &end, 10);
    return errno || *end ? -1 : 0;
}

static int serve(const char *greet, const char *conf, const char *id,
                 const char *spec)
{
    struct receiver_start rs = {.conf = conf, .id = id, .greet = greet != NULL};
    struct error err = ERROR_INIT;
    struct image_spec s = {0};
    struct transport *ctl = NULL;
    int ret = EXIT_FAIL;

    if (greet && parse_greet(greet, &rs) < 0)
        return cli_usage_error(&command,
                               "--greet takes STREAMS,LEVEL, not '%s'", greet);
    if (image_spec_parse(spec, 0, &s, &err) < 0)
        return cli_usage_error(&command, "%s", err.msg);
    rs.timeout_s = cli_ceph_timeout();
    ctl = transport_fd_new(STDIN_FILENO, STDOUT_FILENO, 0, "control");
    if (receiver_run(&rs, s.pool, s.name, ctl, STDIN_FILENO, &err) < 0) {
        cli_report_error(&err);
        goto out;
    }
    ret = EXIT_OK;
out:
    transport_free(ctl);
    image_spec_release(&s);
    return ret;
}

int cmd_receive(int argc, char **argv)
{
    struct error err = ERROR_INIT;
    const char *conf = NULL, *id = NULL, *join = NULL, *greet = NULL;
    bool do_serve = false;
    struct parse_option opts[] = {
        OPT_BOOL(0, "serve", &do_serve,
                 "serve control requests on stdin/stdout"),
        OPT_STRING(0, "greet", &greet, "STREAMS,LEVEL",
                   "with --serve: answer hello and \"streams STREAMS LEVEL\" "
                   "at once, before connecting to the cluster"),
        OPT_STRING(0, "join", &join, "SOCKET",
                   "relay a data stream from stdin to SOCKET"),
        OPT_CLUSTER(&conf, &id),
        OPT_END(),
    };
    enum parse_options_status st;
    int n;

    log_set_prefix("rbdmove receive");
    st = parse_options(&command, opts, argc, argv, &n);
    if (st != PARSE_OPT_DONE)
        return parse_options_exit(st);
    if (greet && !do_serve)
        return cli_usage_error(&command, "--greet goes with --serve");
    if (join && !do_serve && n == 0)
        return receiver_join(join, STDIN_FILENO, STDOUT_FILENO, &err) < 0
                   ? cli_report_error(&err)
                   : EXIT_OK;
    if (do_serve && !join && n == 1)
        return serve(greet, conf, id, argv[0]);
    return cli_usage_error(&command,
                           "expected --serve POOL/IMAGE or --join SOCKET");
}
