/* SPDX-License-Identifier: MIT */
/*
 * Daemon logging. Only the daemon logs; the libraries return codes. Messages
 * go to stderr with a level prefix; log_*_errno() log and return the error in
 * one step so an error path is a single statement.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* Chooses the journal or stderr; call once at start. */
void log_open(void);
void log_set_max_level(int level);
int log_get_max_level(void);
void log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

/*
 * Journal MESSAGE_IDs (fixed; `journalctl MESSAGE_ID=...` finds every such
 * event). Documented in docs/shmbrokerd.8.
 */
#define SHMB_MESSAGE_PROTOCOL_VIOLATION "4fdc2f81b97840d4837b82db34b572c5"
#define SHMB_MESSAGE_QUOTA_REFUSED      "16e479575ad54f61842c2c9fc91cd344"
#define SHMB_MESSAGE_REGION_CREATED     "ea31b2eaf17845739e7017503b9925a0"
#define SHMB_MESSAGE_REGION_DELETED     "470c154a44e74b8abce145c6f31e60df"

/* Structured fields of one entry; NULL members (and the peer unless .peer) are left out. */
typedef struct LogFields {
        const char *message_id; /* MESSAGE_ID= */
        const char *region;     /* REGION= */
        bool peer;
        unsigned peer_uid;      /* PEER_UID= */
        int peer_pid;           /* PEER_PID= */
} LogFields;
#define LOG_FIELDS(...) (&(const LogFields){ __VA_ARGS__ })
/* The peer fields of a connection. */
#define LOG_PEER(c) .peer = true, .peer_uid = (unsigned)(c)->uid, .peer_pid = (int)(c)->pid

/*
 * Like log_internal() plus the fields, which only the journal receives:
 * stderr lines look exactly like those of log_internal().
 */
void log_fields_internal(int level, int error, const LogFields *f, const char *fmt, ...) _printf_(4, 5);
#define log_fields(level, f, ...)                                              \
        do {                                                                   \
                int _lf = (level);                                             \
                if (_lf <= log_get_max_level())                                \
                        log_fields_internal(_lf, 0, (f), __VA_ARGS__);         \
        } while (0)

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
