/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/progress.c: progress line on stderr, JSON events on stdout.
 */
#include "rbdmove/cli/progress.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

#define SAMPLES 8

struct sample {
    double t;
    uint64_t done;
};

static struct {
    pthread_mutex_t lock;
    enum progress_mode mode;
    bool json;
    bool tty;
    bool drawn;
    char label[64];
    double start;
    double last_draw;
    struct sample samples[SAMPLES];
    unsigned nsamples;
    unsigned seq;
} pg = {PTHREAD_MUTEX_INITIALIZER,
        PROGRESS_AUTO,
        false,
        false,
        false,
        "",
        0,
        0,
        {{0, 0}},
        0,
        0};

int progress_mode_parse(const char *s, enum progress_mode *out,
                        struct error *err)
{
    if (!strcmp(s, "auto"))
        *out = PROGRESS_AUTO;
    else if (!strcmp(s, "always"))
        *out = PROGRESS_ALWAYS;
    else if (!strcmp(s, "never"))
        *out = PROGRESS_NEVER;
    else
        return error_set(err, ERROR_USAGE, 0,
                         "invalid --progress '%s' (auto, always or never)", s);
    return 0;
}

static void clear_line(void)
{
    if (pg.drawn) {
        fputs("\r\033[K", stderr);
        pg.drawn = false;
    }
}

static void clear_hook(void)
{
    pthread_mutex_lock(&pg.lock);
    clear_line();
    pthread_mutex_unlock(&pg.lock);
}

void progress_setup(enum progress_mode mode, bool json)
{
    pg.mode = mode;
    pg.json = json;
    pg.tty = mode == PROGRESS_ALWAYS ||
             (mode == PROGRESS_AUTO && isatty(STDERR_FILENO) &&
              tcgetpgrp(STDERR_FILENO) == getpgrp());
    if (pg.tty)
        log_set_hook(clear_hook);
}

void progress_start(const char *label)
{
    pthread_mutex_lock(&pg.lock);
    snprintf(pg.label, sizeof(pg.label), "%s", label);
    pg.start = time_now();
    pg.last_draw = 0;
    pg.nsamples = 0;
    pthread_mutex_unlock(&pg.lock);
}

/* Rate over the samples of the last 5 seconds. */
static double rate_now(double now, uint64_t done)
{
    struct sample *oldest = NULL;

    for (unsigned i = 0; i < pg.nsamples; i++) {
        struct sample *s = &pg.samples[i];

        if (now - s->t <= 5.0 && (!oldest || s->t < oldest->t))
            oldest = s;
    }
    if (!oldest) {
        double dt = now - pg.start;

        return dt > 0 ? (double)done / dt : 0;
    }
    if (now - oldest->t < 0.5)
        return (double)done / (now - pg.start > 0 ? now - pg.start : 1);
    return (double)(done - oldest->done) / (now - oldest->t);
}

static void format_eta(double s, char *out, size_t len)
{
    if (!(s >= 0) || s > 359999)
        snprintf(out, len, "--:--");
    else if (s >= 3600)
        snprintf(out, len, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60,
                 (int)s % 60);
    else
        snprintf(out, len, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void draw(double now, uint64_t done, uint64_t total)
{
    char d[32], t[32], r[32], eta[32];
    double rate = rate_now(now, done);
    double left = rate > 0 && total > done ? (double)(total - done) / rate : -1;

    format_bytes(done, d, sizeof(d));
    format_bytes(total, t, sizeof(t));
    format_bytes((uint64_t)rate, r, sizeof(r));
    format_eta(left, eta, sizeof(eta));
    if (pg.json) {
        struct json_out j = JSON_OUT_INIT;

        json_out_object_begin(&j, NULL);
        json_out_str(&j, "event", "progress");
        json_out_str(&j, "phase", pg.label);
        json_out_u64(&j, "done", done);
        json_out_u64(&j, "total", total);
        json_out_double(&j, "rate", rate);
        json_out_double(&j, "eta_s", left);
        json_out_object_end(&j);
        events_print(&j);
        json_out_release(&j);
    }
    if (pg.tty) {
        fprintf(stderr, "\r\033[K%s: %s / %s  %3d%%  %s/s  ETA %s", pg.label, d,
                t, total ? (int)(100.0 * (double)done / (double)total) : 0, r,
                eta);
        pg.drawn = true;
    } else if (!pg.json && now - pg.last_draw >= 10) {
        log_info("%s: %s / %s, %s/s, ETA %s", pg.label, d, t, r, eta);
    }
}

void progress_update(void *ctx, uint64_t done, uint64_t total)
{
    double now;
    double every;

    (void)ctx;
    if (pg.mode == PROGRESS_NEVER && !pg.json)
        return;
    if (!pg.tty && !pg.json && log_get_level() < LOG_LEVEL_INFO)
        return;
    pthread_mutex_lock(&pg.lock);
    now = time_now();
    every = pg.tty || pg.json ? 1.0 : 10.0;
    if (pg.last_draw == 0 || now - pg.last_draw >= every) {
        struct sample *s = &pg.samples[pg.seq++ % SAMPLES];

        if (pg.last_draw == 0 && !pg.tty && !pg.json)
            pg.last_draw = now; /* first plain line after 10 s */
        else {
            draw(now, done, total);
            pg.last_draw = now;
        }
        s->t = now;
        s->done = done;
        if (pg.nsamples < SAMPLES)
            pg.nsamples++;
    }
    pthread_mutex_unlock(&pg.lock);
}

void progress_stop(void)
{
    pthread_mutex_lock(&pg.lock);
    clear_line();
    pthread_mutex_unlock(&pg.lock);
}

void events_print(const struct json_out *j)
{
    if (!pg.json)
        return;
    fprintf(stdout, "%s\n", json_out_text(j));
    fflush(stdout);
}

progress_fn *progress_callback(void)
{
    if (pg.json || pg.tty || log_get_level() >= LOG_LEVEL_INFO)
        return progress_update;
    return NULL;
}
