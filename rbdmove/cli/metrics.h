/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/metrics.h: a sync's outcome as Prometheus text-format
 * metrics, for node_exporter's textfile collector (--metrics-file).
 *
 * The file is written whole and renamed into place (never half of it for
 * the collector to read), after every run, failed or not. What only a
 * success knows (its time, the recovery point) is carried over from the
 * file's previous version when the run failed.
 */
#ifndef RBDMOVE_CLI_METRICS_H
#define RBDMOVE_CLI_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct sync_metrics {
    const char *volume;  /* the label: the VOLUME argument */
    double attempt_time; /* when the run started (Unix seconds) */
    double end_time;     /* when it ended */
    int exit_status;     /* 0: success */
    uint64_t bytes;      /* data bytes moved by this run */
    double point_time;   /* success: when the newest point was taken */
    int points;          /* success: recovery points held (-1: unknown) */
};

/* Write path for m (mode 0644). ERROR_IO on failure; the old file, if
 * any, stays as it was. */
int metrics_write(const char *path, const struct sync_metrics *m,
                  struct error *err) MUST_CHECK;

/* The text itself (caller frees), with old the file's previous text (or
 * NULL); for the unit tests. */
char *metrics_format(const struct sync_metrics *m, const char *old);

#endif
