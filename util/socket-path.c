/* SPDX-License-Identifier: MIT */
/*
 * Where the daemon listens and where clients look for it. The daemon and the
 * client library must agree without configuration: root gets the system
 * socket, an unprivileged daemon the per-user runtime directory, and a client
 * prefers a running system daemon over a per-user one. Environment variables
 * are read with secure_getenv() so a set-uid client cannot be pointed at a
 * socket of the caller's choosing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

#define SOCKET_USER_NAME "/shmbroker.sock"

/*
 * Copies a path out; it must fit both the caller's buffer and sun_path with
 * its terminating NUL (107 bytes), as every caller ends up in connect() or
 * bind(). buf is left untouched on failure.
 */
static int socket_path_copy(char *buf, size_t buflen, const char *a, const char *b) {
        size_t la = strlen(a), lb = b ? strlen(b) : 0;

        if (la + lb >= sizeof(((struct sockaddr_un *)NULL)->sun_path) || la + lb >= buflen)
                return -ENAMETOOLONG;

        memcpy(buf, a, la);
        if (b)
                memcpy(buf + la, b, lb);
        buf[la + lb] = '\0';
        return 0;
}

/* $XDG_RUNTIME_DIR when set to an absolute path; the XDG spec makes a relative one invalid. */
static const char *socket_runtime_dir(void) {
        const char *e = secure_getenv("XDG_RUNTIME_DIR");

        if (!e || e[0] != '/')
                return NULL;
        return e;
}

int socket_path_daemon_default(char *buf, size_t buflen) {
        const char *rt;

        if (!buf)
                return -EINVAL;

        if (geteuid() == 0)
                return socket_path_copy(buf, buflen, SHMB_SYSTEM_SOCKET, NULL);

        rt = socket_runtime_dir();
        if (!rt)
                return -ENOENT;
        return socket_path_copy(buf, buflen, rt, SOCKET_USER_NAME);
}

int socket_path_client_default(char *buf, size_t buflen) {
        const char *e, *rt;

        if (!buf)
                return -EINVAL;

        e = secure_getenv(SHMB_SOCKET_ENV);
        if (e && e[0] != '\0')
                return socket_path_copy(buf, buflen, e, NULL);

        if (access(SHMB_SYSTEM_SOCKET, F_OK) == 0)
                return socket_path_copy(buf, buflen, SHMB_SYSTEM_SOCKET, NULL);

        rt = socket_runtime_dir();
        if (rt)
                return socket_path_copy(buf, buflen, rt, SOCKET_USER_NAME);

        /* Nothing found: name the system path so the caller's error mentions it. */
        return socket_path_copy(buf, buflen, SHMB_SYSTEM_SOCKET, NULL);
}
