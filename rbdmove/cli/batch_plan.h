/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/batch_plan.h: the plan of `rbdmove batch`, read and checked.
 *
 * A plan is a YAML (or JSON) document: an optional mapping "defaults" of
 * options, and a list "jobs", each a mapping with one of "move: VOLUME",
 * "move-server: SERVER" (move --server, one cutover) or "sync: VOLUME",
 * and options of its own. An option is a key named as the command's long
 * option ("max-downtime: 10"); a flag takes true or false. A default
 * applies to the jobs whose command has that option; a job's own value
 * wins. Every key and value is checked against the command's own option
 * table, and every job's whole command line by the command's own parser,
 * before anything starts: a mistake is reported with its line and column.
 *
 * CLI layer: it turns each job into the command line `rbdmove batch` runs.
 */
#ifndef RBDMOVE_BATCH_PLAN_H
#define RBDMOVE_BATCH_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct batch_job {
    unsigned index;        /* 1-based, its place in the plan */
    unsigned line, column; /* where its entry starts */
    const char *kind;      /* "move", "move-server" or "sync" (static) */
    const char *verb;      /* what runs: "move" or "sync" (static) */
    char *target;          /* the volume, or the server of move-server */
    char *dst_server;      /* its dst-server, NULL when it has none */
    uint64_t bwlimit;      /* its own bwlimit, 0: none */
    char **argv;           /* verb, options, target; NULL-ended */
    size_t argc;
    size_t target_at; /* argv[target_at..argc): "-- VOLUME" or
                         "--server=SERVER"; options come before */
};

struct batch_plan {
    struct batch_job *jobs;
    size_t n;
};

/*
 * Read and check the plan at path (messages name it as shown). -1 with
 * ERROR_USAGE saying where and what is wrong; a command line its command
 * refused was printed by that command's parser first.
 */
int batch_plan_load(const char *path, const char *shown, struct batch_plan *p,
                    struct error *err) MUST_CHECK;
void batch_plan_release(struct batch_plan *p);

#endif
