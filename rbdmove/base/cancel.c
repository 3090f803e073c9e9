/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/cancel.c: a stop asked for by a signal (see cancel.h).
 */
#include "rbdmove/base/cancel.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

static volatile sig_atomic_t stop_signal;
static atomic_int deferred;

void cancel_raise(int sig)
{
    stop_signal = sig;
}

bool cancel_requested(void)
{
    return stop_signal != 0 && atomic_load(&deferred) == 0;
}

int cancel_signal(void)
{
    return stop_signal;
}

void cancel_defer(void)
{
    atomic_fetch_add(&deferred, 1);
}

void cancel_resume(void)
{
    atomic_fetch_sub(&deferred, 1);
}

bool cancel_sleep(double seconds)
{
    while (seconds > 0) {
        double step = seconds < 0.1 ? seconds : 0.1;
        struct timespec ts = {0, (long)(step * 1e9)};

        if (cancel_requested())
            return false;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            if (cancel_requested())
                return false;
        seconds -= step;
    }
    return !cancel_requested();
}
