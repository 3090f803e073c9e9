/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/retention.h: which recovery points a copy keeps
 * (sync --keep). Pure: times in, a verdict per point out.
 *
 * A policy is a count ("24": the newest 24) or a list of rules
 * "WINDOW:EVERY,..." ("24h:hourly,7d:daily": one point per hour for the
 * last day, one per day for the last week). WINDOW and EVERY are a number
 * and a unit, m h d or w; EVERY may also be hourly, daily or weekly. Under
 * a rule, the points no older than WINDOW are grouped by EVERY (aligned
 * on the Unix epoch, UTC) and the newest of each group is kept. A point
 * is kept when any rule keeps it; the base, the newest, always is.
 */
#ifndef RBDMOVE_RETENTION_H
#define RBDMOVE_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rbdmove/base/error.h"

#define RETENTION_RULES_MAX 8

struct retention {
    unsigned count; /* a count policy (rules 0) */
    size_t rules;
    struct {
        int64_t window, every; /* seconds */
    } rule[RETENTION_RULES_MAX];
};

/* ERROR_USAGE, saying what is wrong, for a policy that does not parse. */
int retention_parse(const char *s, struct retention *out,
                    struct error *err) MUST_CHECK;

/*
 * keep[i] for each of the n points taken at t[i] (Unix seconds; a point
 * whose time is unknown, -1, is always kept), at time now. The newest
 * point (the base) is always kept.
 */
void retention_select(const struct retention *r, time_t now, const time_t *t,
                      size_t n, bool *keep);

/* The time an rbdmove snapshot name says it was taken, or -1. */
time_t retention_snap_time(const char *name);

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC, as `rbdmove points` prints) in Unix
 * seconds, or -1 when s is not such a time. */
time_t retention_parse_time(const char *s);

/* The index of the newest of the n points taken at t[i] that is not newer
 * than at (the later of equals), or -1 when every point is newer or the
 * times are unknown (-1). */
long retention_point_at(const time_t *t, size_t n, time_t at);

#endif
