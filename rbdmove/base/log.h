/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/log.h: leveled messages on stderr.
 *
 * The level and the program name are the only globals of the base layer.
 * Messages have no trailing newline and start lowercase (git style). The
 * core never calls these for results: it returns them.
 */
#ifndef RBDMOVE_LOG_H
#define RBDMOVE_LOG_H

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "rbdmove" by default; "rbdmove receive" in the receiver, etc. */
void log_set_prefix(const char *prefix);

/*
 * A hook that runs before each message is written (the progress renderer
 * uses it to clear its line). NULL to remove.
 */
void log_set_hook(void (*hook)(void));

void log_msg(enum log_level level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __func__, __VA_ARGS__)

#endif
