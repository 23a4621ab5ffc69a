/* SPDX-License-Identifier: MIT */
/*
 * Daemon logging. Only the daemon logs; the libraries return codes. Messages
 * go to stderr with a level prefix; log_*_errno() log and return the error in
 * one step so an error path is a single statement.
 */
#pragma once

#include <errno.h>
#include <syslog.h>

#include "macro.h"

/* Chooses the journal or stderr; call once at start. */
void log_open(void);
void log_set_max_level(int level);
int log_get_max_level(void);
void log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...)                                      \
        ({                                                                     \
                int _l = (level), _e = (error);                                \
                if (_l <= log_get_max_level())                                 \
                        log_internal(_l, _e, __VA_ARGS__);                     \
                _e < 0 ? _e : -_e;                                             \
        })
#define log_full(level, ...) (void)log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
