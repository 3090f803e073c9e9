/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/progress.h: the terminal progress line and the --json event
 * stream (CLI layer). The core reports progress through a progress_fn
 * callback and never formats it.
 *
 * The line is drawn on stderr at most once a second, with the rate over
 * the last 5 seconds and an ETA, only when stderr is a terminal and we are
 * in the foreground process group (or --progress=always). Without a
 * terminal, -v gives a plain line every 10 seconds. With --json, progress
 * becomes {"event":"progress",...} lines on stdout, once a second.
 * Thread-safe: parallel streams report from their own threads.
 */
#ifndef RBDMOVE_PROGRESS_H
#define RBDMOVE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/base/error.h"
#include "rbdmove/core/copy.h"
#include "rbdmove/base/json_out.h"

enum progress_mode {
    PROGRESS_AUTO,
    PROGRESS_ALWAYS,
    PROGRESS_NEVER,
};

/* Parse "auto", "always" or "never". */
int progress_mode_parse(const char *s, enum progress_mode *out,
                        struct error *err) MUST_CHECK;

void progress_setup(enum progress_mode mode, bool json);

/*
 * progress_update when anything will be shown (a terminal, --json, or -v),
 * else NULL: the core then skips the pass that measures the total. Call
 * after progress_setup.
 */
progress_fn *progress_callback(void);

/* Start a phase; label is copied ("seed", "round 2", "verify"). */
void progress_start(const char *label);
/* A progress_fn: ctx is ignored. */
void progress_update(void *ctx, uint64_t done, uint64_t total);
/* End the phase: clear the line. */
void progress_stop(void);

/* Print one JSON event line on stdout (when --json). The object must be
 * complete. */
void events_print(const struct json_out *j);

#endif
