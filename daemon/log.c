/* SPDX-License-Identifier: MIT */
/*
 * stderr logging with syslog levels, or native journal entries when stderr
 * is connected to the journal (systemd sets $JOURNAL_STREAM to its device
 * and inode). %m in a format prints the error passed to log_*_errno(), like
 * systemd's logging helpers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool to_journal;

void log_open(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        to_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                     (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
        [LOG_ERR] = "error",       [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",   [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

static void log_write(int level, const LogFields *f, const char *msg) {
        if (to_journal) {
                char message[2100], priority[16], mid[64], region[300], uid[40], pid[40];
                struct iovec iov[7];
                size_t n = 0;

#define ADD(buf, ...)                                                                  \
                do {                                                           \
                        snprintf(buf, sizeof(buf), __VA_ARGS__);               \
                        iov[n++] = (struct iovec){ .iov_base = buf, .iov_len = strlen(buf) }; \
                } while (0)
                ADD(message, "MESSAGE=%s", msg);
                ADD(priority, "PRIORITY=%i", level & 7);
                iov[n++] = (struct iovec){ .iov_base = (char *)"SYSLOG_IDENTIFIER=shmbrokerd",
                                           .iov_len = strlen("SYSLOG_IDENTIFIER=shmbrokerd") };
                if (f && f->message_id)
                        ADD(mid, "MESSAGE_ID=%s", f->message_id);
                if (f && f->region)
                        ADD(region, "REGION=%s", f->region);
                if (f && f->peer) {
                        ADD(uid, "PEER_UID=%u", f->peer_uid);
                        ADD(pid, "PEER_PID=%d", f->peer_pid);
                }
#undef ADD
                if (sd_journal_sendv(iov, (int)n) >= 0)
                        return;
        }
        fprintf(stderr, "shmbrokerd: %s: %s\n", level_names[level & 7], msg);
}

void log_internal(int level, int error, const char *fmt, ...) {
        char buf[2048];
        va_list ap;

        /* %m reads errno, so hand it the error we were given. */
        errno = error < 0 ? -error : error;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_write(level, NULL, buf);
}

void log_fields_internal(int level, int error, const LogFields *f, const char *fmt, ...) {
        char buf[2048];
        va_list ap;

        errno = error < 0 ? -error : error;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_write(level, f, buf);
}
