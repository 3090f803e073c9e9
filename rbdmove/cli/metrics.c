/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/metrics.c: Prometheus text format (exposition format 0.0.4)
 * for `sync --metrics-file`.
 */
#include "rbdmove/cli/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

#define PREFIX "rbdmove_sync_"

/* A label value: backslash, double quote and newline escaped. */
static void add_label(struct buf *b, const char *v)
{
    buf_adds(b, "{volume=\"");
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_addf(b, "\\%c", *v);
        else if (*v == '\n')
            buf_adds(b, "\\n");
        else
            buf_addf(b, "%c", *v);
    }
    buf_adds(b, "\"}");
}

static void add_metric(struct buf *b, const char *m, const char *name,
                       const char *help, double value)
{
    buf_addf(b,
             "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s gauge\n" PREFIX "%s",
             name, help, name, name);
    add_label(b, m);
    /* %.17g: an exact double; Prometheus reads it as a float. */
    buf_addf(b, " %.17g\n", value);
}

/* The value of metric name in an earlier version of the file, or -1. */
static double old_value(const char *old, const char *name)
{
    size_t n = strlen(PREFIX) + strlen(name);
    char *want = xasprintf(PREFIX "%s{", name);
    double v = -1;

    for (const char *p = old; p && *p;) {
        const char *eol = strchr(p, '\n');

        if (!strncmp(p, want, n + 1)) {
            const char *sp = strchr(p, ' ');
            char *end;

            if (sp && (!eol || sp < eol)) {
                double d = strtod(sp + 1, &end);

                if (end != sp + 1 && d >= 0)
                    v = d;
            }
        }
        p = eol ? eol + 1 : NULL;
    }
    free(want);
    return v;
}

char *metrics_format(const struct sync_metrics *m, const char *old)
{
    struct buf b = BUF_INIT;
    bool ok = m->exit_status == 0;
    double success =
        ok ? m->end_time : old_value(old, "last_success_timestamp_seconds");
    double point =
        ok ? m->point_time : old_value(old, "recovery_point_timestamp_seconds");

    add_metric(&b, m->volume, "last_attempt_timestamp_seconds",
               "When the last sync of the volume started.", m->attempt_time);
    add_metric(&b, m->volume, "last_attempt_success",
               "1 if the last sync succeeded, else 0.", ok ? 1 : 0);
    add_metric(&b, m->volume, "last_exit_status",
               "Exit status of the last sync (rbdmove(1), EXIT STATUS).",
               m->exit_status);
    add_metric(&b, m->volume, "last_bytes", "Data bytes the last sync moved.",
               (double)m->bytes);
    add_metric(
        &b, m->volume, "last_duration_seconds", "How long the last sync ran.",
        m->end_time > m->attempt_time ? m->end_time - m->attempt_time : 0);
    if (success >= 0)
        add_metric(&b, m->volume, "last_success_timestamp_seconds",
                   "When the last successful sync of the volume ended.",
                   success);
    double points =
        ok && m->points >= 0 ? m->points : old_value(old, "recovery_points");

    if (points < 0)
        points = point >= 0 ? 1 : 0;
    add_metric(&b, m->volume, "recovery_points",
               "Recovery points the copy holds.", points);
    if (point >= 0) {
        add_metric(&b, m->volume, "recovery_point_timestamp_seconds",
                   "When the newest recovery point was taken (its "
                   "snapshot of the source).",
                   point);
        add_metric(&b, m->volume, "recovery_point_age_seconds",
                   "Age of the newest recovery point when this file was "
                   "written; alert on time() - "
                   "rbdmove_sync_recovery_point_timestamp_seconds.",
                   m->end_time > point ? m->end_time - point : 0);
    }
    return buf_take(&b);
}

/* The previous version of path (NULL if none or unreadable); small. */
static char *read_old(const char *path)
{
    FILE *f = fopen(path, "re");
    char *s;
    size_t n;

    if (!f)
        return NULL;
    s = xmalloc(65536);
    n = fread(s, 1, 65535, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

int metrics_write(const char *path, const struct sync_metrics *m,
                  struct error *err)
{
    char *old = read_old(path);
    char *text = metrics_format(m, old);
    /* A name of this process's own: the collector reads only *.prom. */
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    /* node_exporter runs as another user: readable whatever the umask. */
    int ret = file_replace(path, tmp, text, strlen(text), 0644, err);

    free(tmp);
    free(text);
    free(old);
    return ret;
}
