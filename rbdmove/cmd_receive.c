/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cmd_receive.c: `rbdmove receive`, the far end of a remote copy,
 * started by rbdmove itself over SSH (internal; not for people):
 *
 *   rbdmove receive --serve [--conf CONF] [--id ID] POOL/IMAGE
 *       answer the control requests of the sending rbdmove on stdin/stdout
 *   rbdmove receive --join SOCKET
 *       relay a data stream from stdin to the serving receiver
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rbdmove/cli.h"
#include "rbdmove/cluster.h"
#include "rbdmove/commands.h"
#include "rbdmove/image.h"
#include "rbdmove/log.h"
#include "rbdmove/proto.h"
#include "rbdmove/receiver.h"
#include "transport/transport.h"

enum { OPT_SERVE = 256, OPT_JOIN, OPT_ID };

static const struct cli_option options[] = {
    {"serve", no_argument, OPT_SERVE, NULL,
     "serve control requests on stdin/stdout"},
    {"join", required_argument, OPT_JOIN, "SOCKET",
     "relay a data stream from stdin to SOCKET"},
    {"conf", required_argument, 'c', "CONF", "ceph configuration file"},
    {"id", required_argument, OPT_ID, "ID", "ceph client id (default admin)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_command command = {
    "receive",
    "--serve [-c CONF] [--id ID] POOL/IMAGE | --join SOCKET",
    "The receiving end of a remote copy, started by rbdmove over SSH.",
    options,
};

static int serve(const char *conf, const char *id, const char *spec)
{
    struct error err = ERROR_INIT;
    struct image_spec s = {0};
    struct cluster *cl = NULL;
    struct transport *ctl = NULL;
    int ret = EXIT_FAIL;

    if (image_spec_parse(spec, 0, &s, &err) < 0)
        return cli_usage_error(&command, "%s", err.msg);
    ctl = transport_fd_new(STDIN_FILENO, STDOUT_FILENO, 0, "control");
    if (cluster_connect(conf, id, cli_ceph_timeout(), &cl, &err) < 0) {
        /* Say it on the control channel too: the sender shows it. */
        struct error e2 = ERROR_INIT;

        if (proto_send_error(ctl, &err, &e2) < 0)
            error_clear(&e2);
        cli_report_error(&err);
        goto out;
    }
    if (receiver_serve(cl, s.pool, s.name, ctl, STDIN_FILENO, &err) < 0) {
        cli_report_error(&err);
        goto out;
    }
    ret = EXIT_OK;
out:
    transport_free(ctl);
    cluster_close(cl);
    image_spec_release(&s);
    return ret;
}

int cmd_receive(int argc, char **argv)
{
    struct cli_parser p;
    struct error err = ERROR_INIT;
    const char *conf = NULL, *id = NULL, *join = NULL;
    bool do_serve = false;
    int c, ret = -1;

    log_set_prefix("rbdmove receive");
    cli_parser_init(&p, &command);
    while ((c = cli_next(&p, argc, argv)) != -1) {
        switch (c) {
        case OPT_SERVE:
            do_serve = true;
            break;
        case OPT_JOIN:
            join = optarg;
            break;
        case 'c':
            conf = optarg;
            break;
        case OPT_ID:
            id = optarg;
            break;
        case CLI_DONE_HELP:
            ret = EXIT_OK;
            goto out;
        default:
            ret = EXIT_USAGE;
            goto out;
        }
    }
    if (join && !do_serve && optind == argc) {
        ret = receiver_join(join, STDIN_FILENO, STDOUT_FILENO, &err) < 0
                  ? cli_report_error(&err)
                  : EXIT_OK;
    } else if (do_serve && !join && argc - optind == 1) {
        ret = serve(conf, id, argv[optind]);
    } else {
        ret = cli_usage_error(&command,
                              "expected --serve POOL/IMAGE or --join SOCKET");
    }
out:
    cli_parser_release(&p);
    return ret;
}
