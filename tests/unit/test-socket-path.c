/* SPDX-License-Identifier: MIT */
/*
 * Default socket paths for daemon and client, driven through the
 * environment. The unprivileged branch of the daemon default is tested in a
 * child that drops to nobody when this runs as root.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

#define LONG_DIR "/" \
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/* The unprivileged daemon default; returns 0 when every expectation holds, else the failing step. */
static int check_daemon_unprivileged(void) {
        char buf[256];

        if (setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1) < 0)
                return 1;
        if (socket_path_daemon_default(buf, sizeof(buf)) != 0 || strcmp(buf, "/run/user/4242/shmbroker.sock") != 0)
                return 2;
        if (unsetenv("XDG_RUNTIME_DIR") < 0)
                return 3;
        if (socket_path_daemon_default(buf, sizeof(buf)) != -ENOENT)
                return 4;
        if (setenv("XDG_RUNTIME_DIR", "relative/dir", 1) < 0)
                return 5;
        if (socket_path_daemon_default(buf, sizeof(buf)) != -ENOENT)
                return 6;
        if (setenv("XDG_RUNTIME_DIR", LONG_DIR, 1) < 0)
                return 7;
        if (socket_path_daemon_default(buf, sizeof(buf)) != -ENAMETOOLONG)
                return 8;
        return 0;
}

int main(void) {
        bool system_exists = access(SHMB_SYSTEM_SOCKET, F_OK) == 0;
        char buf[256];
        int r;

        /* Daemon default. */
        if (geteuid() == 0) {
                pid_t pid;
                int status = -1;

                setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
                CHECK(socket_path_daemon_default(buf, sizeof(buf)) == 0 && strcmp(buf, SHMB_SYSTEM_SOCKET) == 0);

                pid = fork();
                if (pid == 0) {
                        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                                _exit(100);
                        _exit(check_daemon_unprivileged());
                }
                CHECK(pid > 0);
                CHECK(waitpid(pid, &status, 0) == pid);
                CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unprivileged daemon default (in child as nobody)");
        } else {
                r = check_daemon_unprivileged();
                CHECK_MSG(r == 0, "unprivileged daemon default");
                tap_skip("root daemon default needs root");
        }

        /* Client: $SHMBROKER_SOCKET wins. */
        setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
        setenv(SHMB_SOCKET_ENV, "/tmp/custom.sock", 1);
        CHECK(socket_path_client_default(buf, sizeof(buf)) == 0 && strcmp(buf, "/tmp/custom.sock") == 0);
        setenv(SHMB_SOCKET_ENV, "relative.sock", 1);
        CHECK(socket_path_client_default(buf, sizeof(buf)) == 0 && strcmp(buf, "relative.sock") == 0);

        /* An empty variable counts as unset. */
        setenv(SHMB_SOCKET_ENV, "", 1);
        r = socket_path_client_default(buf, sizeof(buf));
        CHECK(r == 0 && strcmp(buf, system_exists ? SHMB_SYSTEM_SOCKET : "/run/user/4242/shmbroker.sock") == 0);
        unsetenv(SHMB_SOCKET_ENV);

        /* The system socket if it exists, else the runtime dir, else the system path. */
        r = socket_path_client_default(buf, sizeof(buf));
        CHECK(r == 0 && strcmp(buf, system_exists ? SHMB_SYSTEM_SOCKET : "/run/user/4242/shmbroker.sock") == 0);
        unsetenv("XDG_RUNTIME_DIR");
        CHECK(socket_path_client_default(buf, sizeof(buf)) == 0 && strcmp(buf, SHMB_SYSTEM_SOCKET) == 0);
        setenv("XDG_RUNTIME_DIR", "not/absolute", 1);
        CHECK(socket_path_client_default(buf, sizeof(buf)) == 0 && strcmp(buf, SHMB_SYSTEM_SOCKET) == 0);

        /* Too long for sun_path (107 bytes plus NUL), or for the caller's buffer; buf untouched. */
        setenv(SHMB_SOCKET_ENV, LONG_DIR "x", 1);
        CHECK(strlen(LONG_DIR) == 107);
        strcpy(buf, "untouched");
        CHECK(socket_path_client_default(buf, sizeof(buf)) == -ENAMETOOLONG && strcmp(buf, "untouched") == 0);
        setenv(SHMB_SOCKET_ENV, LONG_DIR, 1);
        CHECK(socket_path_client_default(buf, sizeof(buf)) == 0 && strlen(buf) == 107);
        setenv(SHMB_SOCKET_ENV, "/tmp/custom.sock", 1);
        CHECK(socket_path_client_default(buf, strlen("/tmp/custom.sock")) == -ENAMETOOLONG);
        CHECK(socket_path_client_default(buf, strlen("/tmp/custom.sock") + 1) == 0 && strcmp(buf, "/tmp/custom.sock") == 0);
        CHECK(socket_path_client_default(buf, 0) == -ENAMETOOLONG);
        CHECK(socket_path_client_default(NULL, 10) == -EINVAL);

        return tap_done();
}
