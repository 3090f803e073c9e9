/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/retention.c: see retention.h.
 */
#include "rbdmove/core/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/core/replicate.h"

/* "24h", "7d", "hourly": seconds, or -1. */
static int64_t parse_span(const char *s, size_t len)
{
    static const struct {
        const char *word;
        int64_t secs;
    } words[] = {{"hourly", 3600}, {"daily", 86400}, {"weekly", 604800}};
    int64_t n = 0, unit;
    size_t i = 0;

    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        if (len == strlen(words[w].word) && !strncmp(s, words[w].word, len))
            return words[w].secs;
    }
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        n = n * 10 + (s[i] - '0');
        if (n > 100000)
            return -1;
        i++;
    }
    if (i == 0 || n == 0 || i + 1 != len)
        return -1;
    switch (s[i]) {
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 604800;
        break;
    default:
        return -1;
    }
    return n * unit;
}

int retention_parse(const char *s, struct retention *out, struct error *err)
{
    const char *p = s;

    memset(out, 0, sizeof(*out));
    if (*s && strspn(s, "0123456789") == strlen(s)) {
        long v = strlen(s) <= 4 ? strtol(s, NULL, 10) : 0;

        if (v < 1 || v > 1000)
            return error_set(err, ERROR_USAGE, 0,
                             "--keep %s: a count is 1 to 1000", s);
        out->count = (unsigned)v;
        return 0;
    }
    while (*p) {
        size_t len = strcspn(p, ","), wlen;
        const char *colon = memchr(p, ':', len);
        int64_t window, every;

        if (!colon)
            return error_set(err, ERROR_USAGE, 0,
                             "--keep '%s': '%.*s' is not WINDOW:EVERY (e.g. "
                             "24h:hourly,7d:daily) or a count",
                             s, (int)len, p);
        wlen = (size_t)(colon - p);
        window = parse_span(p, wlen);
        every = parse_span(colon + 1, len - wlen - 1);
        if (window < 0 || every < 0)
            return error_set(err, ERROR_USAGE, 0,
                             "--keep '%s': in '%.*s', a span is a number and "
                             "m, h, d or w, or hourly, daily, weekly",
                             s, (int)len, p);
        if (every > window)
            return error_set(err, ERROR_USAGE, 0,
                             "--keep '%s': in '%.*s', one per %s over a "
                             "shorter window keeps nothing more",
                             s, (int)len, p, colon + 1);
        if (out->rules == RETENTION_RULES_MAX)
            return error_set(err, ERROR_USAGE, 0,
                             "--keep '%s': at most %d rules", s,
                             RETENTION_RULES_MAX);
        out->rule[out->rules].window = window;
        out->rule[out->rules].every = every;
        out->rules++;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p)
                return error_set(err, ERROR_USAGE, 0,
                                 "--keep '%s': a rule after the comma", s);
        }
    }
    if (!out->rules)
        return error_set(err, ERROR_USAGE, 0, "--keep: empty");
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

void retention_select(const struct retention *r, time_t now, const time_t *t,
                      size_t n, bool *keep)
{
    size_t newest = 0;

    for (size_t i = 0; i < n; i++) {
        keep[i] = t[i] < 0;
        if (t[i] > t[newest])
            newest = i;
    }
    if (n)
        keep[newest] = true;
    if (!r->rules) {
        /* The newest count, by time (a tie: both kept). */
        for (size_t i = 0; i < n; i++) {
            size_t newer = 0;

            for (size_t j = 0; j < n; j++)
                newer += t[j] > t[i];
            if (newer < r->count)
                keep[i] = true;
        }
        return;
    }
    for (size_t k = 0; k < r->rules; k++) {
        int64_t window = r->rule[k].window, every = r->rule[k].every;

        for (size_t i = 0; i < n; i++) {
            bool newest_in_bucket = true;

            if (t[i] < 0 || (int64_t)now - (int64_t)t[i] > window)
                continue;
            for (size_t j = 0; j < n && newest_in_bucket; j++) {
                if (j != i && t[j] >= 0 &&
                    floor_div(t[j], every) == floor_div(t[i], every) &&
                    (t[j] > t[i] || (t[j] == t[i] && j > i)))
                    newest_in_bucket = false;
            }
            if (newest_in_bucket)
                keep[i] = true;
        }
    }
}

time_t retention_snap_time(const char *name)
{
    size_t plen = strlen(REPLICATE_SNAP_PREFIX);
    struct tm tm;
    char *end;

    if (strncmp(name, REPLICATE_SNAP_PREFIX, plen))
        return -1;
    memset(&tm, 0, sizeof(tm));
    end = strptime(name + plen, "%Y%m%dT%H%M%SZ", &tm);
    if (!end || (*end && *end != '-'))
        return -1;
    return timegm(&tm);
}

time_t retention_parse_time(const char *s)
{
    struct tm tm;
    char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return -1;
    return timegm(&tm);
}

long retention_point_at(const time_t *t, size_t n, time_t at)
{
    long best = -1;

    for (size_t i = 0; i < n; i++)
        if (t[i] >= 0 && t[i] <= at && (best < 0 || t[i] >= t[best]))
            best = (long)i;
    return best;
}
