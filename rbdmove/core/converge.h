/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/converge.h: when to stop the rounds and cut over. Pure:
 * given what changed since the last round and the rate of the last
 * transfer, predict the final round and decide between one more round,
 * the cutover, and giving up (the writer outruns the copy). Before giving
 * up, auto-converge: how far to limit the guest's writes (the ladder
 * below); the caller sets and lifts the limit.
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
    CONVERGE_CUTOVER,  /* the final round fits the budget */
    CONVERGE_ROUND,    /* one more round first */
    CONVERGE_STUCK,    /* not shrinking, or out of rounds */
    CONVERGE_THROTTLE, /* converge_throttle_next: a lower limit, then a round */
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

/*
 * With the guest writing rate bytes/s, rounds copying at throughput
 * bytes/s and costing overhead seconds each besides the copy (snapshots,
 * marks, measuring the change), the change between two rounds settles
 * where delta = rate x (overhead + delta / throughput). True when that
 * settled change's final round would take more than 1.5 times the budget
 * (rounds vary around it, and a small one ends the move), or when there is
 * no such point (the guest writes about as fast as a round copies): more
 * rounds alone will not converge. False when any input is not measured
 * (0). A model, for auto-converge to step in early instead of after
 * rounds that do not shrink (noisy rounds hide a stall for many of them);
 * never a reason to refuse a move.
 */
bool converge_hopeless(const struct converge *c, double rate, double throughput,
                       double overhead);

/* ---- auto-converge: the throttle ladder ----------------------------------
 *
 * QEMU's auto-converge slows a guest's vCPUs when its memory changes faster
 * than migration copies it; here the guest's writes are limited instead.
 * When the rounds are stuck, the limit steps to 50%, then 30%, then 10% of
 * the guest's write rate measured before the first step (bytes changed
 * between two snapshots over the seconds between them), never below the
 * floor and never up to a limit already in force. Each level gets at
 * least one round measured under it: after a step the stall test starts
 * one decision from "stuck", so a level that does not shrink the next
 * round's change by a tenth is followed by the next level, and one that
 * does is kept while it helps. Past the last level, at the floor, or out
 * of rounds: stuck, as without auto-converge.
 */
#define CONVERGE_THROTTLE_LEVELS 3

struct converge_throttle {
    uint64_t floor;     /* bytes/s never limited below; at least 1 */
    uint64_t cap;       /* a limit in force before (0: none): never raised */
    unsigned level;     /* 0: not limited, else 1..CONVERGE_THROTTLE_LEVELS */
    uint64_t limit;     /* bytes/s at level (0 at level 0) */
    double rate_before; /* bytes/s measured before level 1 (0: not yet) */
};

/* Level 0, no cap; floor 0 is taken as 1 (never a limit of zero). */
void converge_throttle_init(struct converge_throttle *t, uint64_t floor);

/* The percent of rate_before that level (1..CONVERGE_THROTTLE_LEVELS)
 * allows; 100 for level 0. */
unsigned converge_throttle_percent(unsigned level);

/* Bytes/s from delta bytes changed in seconds (0: not known). */
double converge_write_rate(uint64_t delta, double seconds);

/*
 * After converge_next said CONVERGE_STUCK with delta bytes pending: the
 * next step with the guest writing rate bytes/s (0: not measured).
 * CONVERGE_THROTTLE: t->level and t->limit are the new level (the caller
 * sets the limit, then runs a round) and c's stall test is rewound.
 * CONVERGE_ROUND: the rate is not known yet, a round measures it.
 * CONVERGE_STUCK: nothing lower to try (t unchanged): give up.
 */
enum converge_step converge_throttle_next(struct converge *c,
                                          struct converge_throttle *t,
                                          uint64_t delta, double rate,
                                          unsigned rounds, unsigned max_rounds);

#endif
