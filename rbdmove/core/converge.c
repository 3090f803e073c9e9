/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/converge.c: when to stop the rounds, and how far to limit
 * the guest's writes first (see converge.h).
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

/* The guest writes at least this share of a round's copy rate: the change
 * grows without bound, or settles far too high to be worth modelling. */
#define HOPELESS_RATIO 0.9
/* Rounds vary by a third and more around where they settle (75-115 MB at
 * 20 MB/s on the rotational lab), so one settling a little above the budget
 * still ends on a small round: step in only well above it. */
#define HOPELESS_MARGIN 1.5

bool converge_hopeless(const struct converge *c, double rate, double throughput,
                       double overhead)
{
    double ratio, settle;

    if (rate <= 0 || throughput <= 0 || overhead <= 0)
        return false;
    ratio = rate / throughput;
    if (ratio >= HOPELESS_RATIO)
        return true;
    settle = rate * overhead / (1 - ratio);
    return converge_predict((uint64_t)settle, throughput) >
           HOPELESS_MARGIN * c->budget;
}

/* Percent of the rate before the first step, by level. */
static const unsigned ladder[CONVERGE_THROTTLE_LEVELS + 1] = {100, 50, 30, 10};

void converge_throttle_init(struct converge_throttle *t, uint64_t floor)
{
    t->floor = floor ? floor : 1;
    t->cap = 0;
    t->level = 0;
    t->limit = 0;
    t->rate_before = 0;
}

unsigned converge_throttle_percent(unsigned level)
{
    return level <= CONVERGE_THROTTLE_LEVELS ? ladder[level] : ladder[0];
}

double converge_write_rate(uint64_t delta, double seconds)
{
    return seconds > 0 ? (double)delta / seconds : 0;
}

/* What the guest may write now, in bytes/s: a step must go below it. */
static double ceiling(const struct converge_throttle *t, double rate)
{
    double top = t->level ? (double)t->limit : rate;

    if (t->cap && (double)t->cap < top)
        top = (double)t->cap;
    return top;
}

enum converge_step converge_throttle_next(struct converge *c,
                                          struct converge_throttle *t,
                                          uint64_t delta, double rate,
                                          unsigned rounds, unsigned max_rounds)
{
    double base = t->level ? t->rate_before : rate;
    double want;
    uint64_t limit;

    /* No round left to measure or to use a limit in. */
    if (rounds >= max_rounds || t->level >= CONVERGE_THROTTLE_LEVELS)
        return CONVERGE_STUCK;
    if (base <= 0)
        return CONVERGE_ROUND;
    want = base * ladder[t->level + 1] / 100;
    limit = want > (double)t->floor ? (uint64_t)want : t->floor;
    if ((double)limit >= ceiling(t, rate))
        return CONVERGE_STUCK; /* at the floor, or under a tighter limit */
    if (!t->level)
        t->rate_before = rate;
    t->level++;
    t->limit = limit;
    /* One round under the new level decides: it must shrink the change
     * by a tenth (converge_next), or the next level follows. */
    c->prev = delta;
    c->stalled = 1;
    return CONVERGE_THROTTLE;
}
