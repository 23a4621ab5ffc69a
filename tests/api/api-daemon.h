/* SPDX-License-Identifier: MIT */
/*
 * The built daemon for the API tests: started on a private socket, ready
 * once a hello goes through, stopped with SIGTERM and required to exit 0.
 * Uses only the public library, like the tests themselves.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ApiDaemon {
        pid_t pid;
        char sock[128];
} ApiDaemon;

/* Starts exe on DIR/daemon.sock with the extra arguments (NULL-terminated, may be NULL). */
bool api_daemon_start(ApiDaemon *d, const char *exe, const char *dir, const char *const *extra);
/* SIGTERM, wait; true when the daemon exited with status 0. */
bool api_daemon_stop(ApiDaemon *d);
void api_sleep_ms(unsigned ms);
