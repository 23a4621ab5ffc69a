/* SPDX-License-Identifier: MIT */
/*
 * One way to run the daemon for every API test program, so that readiness
 * and a clean exit are checked the same everywhere.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api-daemon.h"
#include "shmbroker.h"

void api_sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

bool api_daemon_start(ApiDaemon *d, const char *exe, const char *dir, const char *const *extra) {
        const char *argv[16] = { exe, "--socket", d->sock };
        size_t n = 3;
        shmb_conn *c = NULL;

        snprintf(d->sock, sizeof(d->sock), "%s/daemon.sock", dir);
        for (size_t i = 0; extra && extra[i] && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
                argv[n++] = extra[i];
        argv[n] = NULL;
        d->pid = fork();
        if (d->pid < 0)
                return false;
        if (d->pid == 0) {
                execv(exe, (char *const *)argv);
                _exit(127);
        }
        /* Ready when a hello goes through; a daemon that died is not coming. */
        for (unsigned i = 0; i < 1000; i++) {
                int status;

                if (shmb_connect(d->sock, &c) == 0) {
                        shmb_disconnect(c);
                        return true;
                }
                if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
                        d->pid = 0;
                        return false;
                }
                api_sleep_ms(10);
        }
        return false;
}

bool api_daemon_stop(ApiDaemon *d) {
        int status;

        if (d->pid <= 0)
                return false;
        (void)kill(d->pid, SIGTERM);
        if (waitpid(d->pid, &status, 0) != d->pid)
                return false;
        d->pid = 0;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
