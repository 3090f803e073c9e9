/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/xalloc.h: allocation that aborts on OOM (git, OpenSSH programs).
 *
 * Small allocations cannot fail from the caller's point of view; a move is
 * resumable after any crash, so dying here loses nothing. Large buffers
 * (chunk pools) use plain malloc and report ENOMEM as ERROR_IO.
 */
#ifndef RBDMOVE_XALLOC_H
#define RBDMOVE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Returns an owned copy; xstrdup(NULL) returns NULL. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns an owned formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wipe then free (secrets). NULL-safe. */
void freezero_str(char *s);

/* The system headers that declare banned functions come first, so that a
 * later #include of them is a no-op and cannot trip over the macros. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rbdmove/base/banned.h"

#endif
