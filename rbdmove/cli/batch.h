/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/batch.h: resume, abort and status of a batch (cmd_batch.c),
 * for the commands that take any journal's id (cmd_move.c).
 */
#ifndef RBDMOVE_BATCH_H
#define RBDMOVE_BATCH_H

#include <stdbool.h>

struct journal;

/* A batch's journal has this key. */
#define BATCH_KEY "batch"

/* Resume (or abort) the batch of journal j (locked; the caller frees it)
 * in state directory dir. Returns an exit status. */
int batch_by_id(struct journal *j, const char *dir, bool do_abort);
/* Print the batch of journal j: every job's state and its move's phase. */
void batch_show(struct journal *j, const char *dir);

#endif
