/* SPDX-License-Identifier: MIT */
/*
 * File descriptor helpers. fd_count() exists so tests (and the daemon's
 * debug output) can prove that no code path leaks a descriptor, in
 * particular ones received with SCM_RIGHTS.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"

/* Sets FD_CLOEXEC, and O_NONBLOCK when nonblock is true; never clears either flag. */
int fd_set_cloexec_nonblock(int fd, bool nonblock) {
        int flags;

        flags = fcntl(fd, F_GETFD);
        if (flags < 0)
                return -errno;
        if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
                return -errno;

        if (!nonblock)
                return 0;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;

        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                (void)closedir(*d);
}

int fd_count(pid_t pid) {
        _cleanup_(closedirp) DIR *d = NULL;
        char path[sizeof("/proc//fd") + 3 * sizeof(pid_t)];
        bool self = pid == 0 || pid == getpid();
        struct dirent *de;
        int dfd, n = 0;

        if (pid < 0)
                return -EINVAL;
        if (pid == 0)
                strcpy(path, "/proc/self/fd");
        else
                (void)snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);

        dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d) {
                int r = -errno;

                safe_close(dfd);
                return r;
        }

        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de)
                        break;
                if (de->d_name[0] == '.')
                        continue;
                /* Our own directory fd shows up in our own listing. */
                if (self && atoi(de->d_name) == dfd)
                        continue;
                n++;
        }
        if (errno != 0)
                return -errno;

        return n;
}
