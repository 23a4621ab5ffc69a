/* SPDX-License-Identifier: MIT */
/*
 * stderr logging with syslog levels, or native journal entries when stderr
 * is connected to the journal (systemd sets $JOURNAL_STREAM to its device
 * and inode). %m in a format prints the error passed to log_*_errno(), like
 * systemd's logging helpers.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

void log_internal(int level, int error, const char *fmt, ...) {
        char buf[2048];
        va_list ap;

        /* %m reads errno, so hand it the error we were given. */
        errno = error < 0 ? -error : error;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (to_journal && sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", level & 7,
                                          "SYSLOG_IDENTIFIER=shmbrokerd", NULL) >= 0)
                return;
        fprintf(stderr, "shmbrokerd: %s: %s\n", level_names[level & 7], buf);
}
