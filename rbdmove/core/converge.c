/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/converge.c: when to stop the rounds (see converge.h).
 */
#include "rbdmove/core/converge.h"

/* What the cutover costs besides the final data round (lab: detach 0.5 s,
 * attach 3-4 s): the round must fit in what is left of the budget. */
#define CUTOVER_OVERHEAD_S 5.0

/* The final data round should stay under this (the target), so
 * that its check and the attach fit in what is left of the budget. */
#define FINAL_ROUND_TARGET_S 1.0

/* Below this the seed's rate is a good enough guess for the final round;
 * above, an incremental round is measured first (a seed streams large
 * extents far faster than a round applies scattered ones). */
#define UNMEASURED_DELTA_MAX (16ull << 20)

void converge_init(struct converge *c, double max_downtime)
{
    double budget = max_downtime - CUTOVER_OVERHEAD_S;

    if (budget > FINAL_ROUND_TARGET_S)
        budget = FINAL_ROUND_TARGET_S;
    if (budget < 0.2)
        budget = 0.2;
    c->budget = budget;
    c->prev = UINT64_MAX;
    c->stalled = 0;
}

double converge_predict(uint64_t delta, double throughput)
{
    if (throughput <= 0)
        return delta ? 1e9 : 0;
    return (double)delta / throughput;
}

enum converge_step converge_next(struct converge *c, uint64_t delta,
                                 double throughput, bool measured,
                                 unsigned rounds, unsigned max_rounds,
                                 double *predicted)
{
    double p = converge_predict(delta, throughput);

    if (!measured && delta > UNMEASURED_DELTA_MAX && p <= c->budget)
        p = c->budget + 1; /* measure a round first */
    *predicted = p;
    if (p <= c->budget)
        return CONVERGE_CUTOVER;
    c->stalled = delta >= c->prev - c->prev / 10 ? c->stalled + 1 : 0;
    if (c->stalled >= 2 || rounds >= max_rounds)
        return CONVERGE_STUCK;
    c->prev = delta;
    return CONVERGE_ROUND;
}
