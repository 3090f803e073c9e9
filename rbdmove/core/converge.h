/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/converge.h: when to stop the rounds and cut over. Pure:
 * given what changed since the last round and the rate of the last
 * transfer, predict the final round and decide between one more round,
 * the cutover, and giving up (the writer outruns the copy).
 */
#ifndef RBDMOVE_CONVERGE_H
#define RBDMOVE_CONVERGE_H

#include <stdbool.h>
#include <stdint.h>

struct converge {
    double budget;    /* seconds the final data round may take */
    uint64_t prev;    /* bytes pending at the last decision */
    unsigned stalled; /* decisions in a row that did not shrink a tenth */
};

enum converge_step {
    CONVERGE_CUTOVER, /* the final round fits the budget */
    CONVERGE_ROUND,   /* one more round first */
    CONVERGE_STUCK,   /* not shrinking, or out of rounds */
};

/* The budget from the downtime allowed: what the cutover's API calls
 * leave of it, at most the final round's target, at least 0.2 s. */
void converge_init(struct converge *c, double max_downtime);

/* Seconds to copy delta bytes at throughput bytes/s (0: not known yet, so
 * any data is "too long"). */
double converge_predict(uint64_t delta, double throughput);

/* The next step with delta bytes pending. measured: throughput comes from
 * an incremental round (a seed's rate is far too optimistic for a large
 * round of scattered extents). *predicted gets the final round's
 * predicted seconds. */
enum converge_step converge_next(struct converge *c, uint64_t delta,
                                 double throughput, bool measured,
                                 unsigned rounds, unsigned max_rounds,
                                 double *predicted);

#endif
