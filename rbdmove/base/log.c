/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/log.c: leveled messages on stderr, one write per line so that
 * the threads of a copy do not interleave their messages.
 */
#include "rbdmove/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/strutil.h"

static enum log_level current_level = LOG_LEVEL_WARN;
static const char *current_prefix = "rbdmove";
static void (*current_hook)(void);

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

void log_set_prefix(const char *prefix)
{
    current_prefix = prefix;
}

void log_set_hook(void (*hook)(void))
{
    current_hook = hook;
}

void log_msg(enum log_level level, const char *func, const char *fmt, ...)
{
    static const char *const tags[] = {"", "warning: ", "", "debug: "};
    struct buf b = BUF_INIT, msg = BUF_INIT;
    va_list ap;
    ssize_t r;

    if (level > current_level)
        return;
    if (current_hook)
        current_hook();
    buf_addf(&b, "%s: %s", current_prefix, tags[level]);
    if (func)
        buf_addf(&b, "%s: ", func);
    va_start(ap, fmt);
    buf_vaddf(&msg, fmt, ap);
    va_end(ap);
    /* Messages carry text from peers: escaped, one line each. */
    buf_add_escaped(&b, msg.data ? msg.data : "", msg.len);
    buf_release(&msg);
    buf_adds(&b, "\n");
    r = write(STDERR_FILENO, b.data, b.len);
    (void)r;
    buf_release(&b);
}
