/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/cancel.h: a stop asked for by a signal, seen by every layer.
 *
 * The CLI's signal handler calls cancel_raise(); anything that waits
 * (an HTTP request, a Ceph connect, a poll, a sleep) asks
 * cancel_requested() at least every 100 ms and gives up with
 * ERROR_INTERRUPTED, so that any run stops within a second of SIGINT or
 * SIGTERM. Inside cancel_defer() .. cancel_resume() a stop is held back:
 * the cutover, which must finish or roll back rather than leave a server
 * without its disk.
 */
#ifndef RBDMOVE_CANCEL_H
#define RBDMOVE_CANCEL_H

#include <stdbool.h>

/* Async-signal-safe: record that signal sig asks to stop. */
void cancel_raise(int sig);
/* A stop was asked for and is not held back. */
bool cancel_requested(void);
/* The signal that asked (0: none). */
int cancel_signal(void);
/* Hold stops back (nests), and let them through again. */
void cancel_defer(void);
void cancel_resume(void);
/* Sleep up to seconds, less when a stop is asked for. Returns false when
 * it was cut short by one. */
bool cancel_sleep(double seconds);

#endif
