/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/main.c: global options and the subcommand table. main() only
 * dispatches; each command lives in its own cmd_<verb>.c.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/commands.h"
#include "rbdmove/base/log.h"
#include "rbdmove/core/cluster.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
    bool hidden;
};

static const struct command commands[] = {
    {"move", cmd_move,
     "move an attached Cinder volume to a server in another region", false},
    {"batch", cmd_batch,
     "run the moves and syncs of a plan, several at once, resumable", false},
    {"sync", cmd_sync,
     "keep a disaster-recovery copy of a volume in another region", false},
    {"points", cmd_points, "list the recovery points of a copy", false},
    {"release", cmd_release,
     "remove rbdmove's snapshots and marks from a volume", false},
    {"failover", cmd_failover,
     "attach the copies sync keeps, at a recovery point, in the DR region",
     false},
    {"failback", cmd_failback,
     "bring a failed-over copy home, copying only what changed", false},
    {"status", cmd_status, "list moves, or show one", false},
    {"resume", cmd_resume, "finish an interrupted move", false},
    {"abort", cmd_abort, "undo an unfinished move", false},
    {"copy", cmd_copy,
     "copy an image between clusters: seed, then incremental rounds", false},
    {"verify", cmd_verify, "compare two snapshots object by object", false},
    {"export-diff", cmd_export_diff,
     "write an rbd diff v1 stream of a snapshot", false},
    {"import-diff", cmd_import_diff, "apply an rbd diff v1 stream to an image",
     false},
    {"plan", cmd_plan,
     "check whether a volume can move to a server in another region", false},
    {"receive", cmd_receive, "the receiving end of a remote copy (internal)",
     true},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: rbdmove [--version] [--help] <command> [options] "
               "[args]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!commands[i].hidden)
            fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
    }
    fprintf(f, "\n'rbdmove <command> --help' describes a command; "
               "rbdmove(1) the whole tool.\n");
}

/* A Ceph connect given up on may still run: end without the static
 * destructors it would trip over (cluster.h). */
static int finish(int status)
{
    if (cluster_abandoned()) {
        fflush(NULL);
        _exit(status);
    }
    return status;
}

int main(int argc, char **argv)
{
    const char *name;

    /* A dead peer must turn into an error from write(), not a silent
     * death: the caller then reports what was left behind. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    name = argv[1];
    /* "help COMMAND" is "COMMAND --help". */
    if (!strcmp(name, "help") && argc > 2) {
        char *args[] = {argv[2], "--help", NULL};

        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
            if (!strcmp(argv[2], commands[i].name))
                return commands[i].fn(2, args);
        }
        fprintf(stderr,
                "rbdmove: '%s' is not a command; see 'rbdmove "
                "--help'\n",
                argv[2]);
        return EXIT_USAGE;
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h") ||
        !strcmp(name, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version")) {
        printf("rbdmove %s\n", RBDMOVE_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(name, commands[i].name))
            return finish(commands[i].fn(argc - 1, argv + 1));
    }
    fprintf(stderr, "rbdmove: '%s' is not a command; see 'rbdmove --help'\n",
            name);
    return EXIT_USAGE;
}
