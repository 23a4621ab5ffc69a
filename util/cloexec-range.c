/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cloexec-range.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int fd_cloexec_range(int first, int last) {
        if (first < 0 || last < first)
                return first < 0 ? -EBADF : 0;
#ifdef SYS_close_range
        /* The system call itself: glibc before 2.34 has no wrapper. */
        if (syscall(SYS_close_range, (unsigned)first, (unsigned)last, CLOSE_RANGE_CLOEXEC) == 0)
                return 0;
        /* ENOSYS: kernel before 5.9; EINVAL: before 5.11 (no CLOSE_RANGE_CLOEXEC); EPERM: a seccomp filter. */
        if (errno != ENOSYS && errno != EINVAL && errno != EPERM)
                return -errno;
#endif
        for (int fd = first;; fd++) {
                int flags = fcntl(fd, F_GETFD);

                if (flags < 0 && errno != EBADF)
                        return -errno;
                if (flags >= 0 && !(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
                        return -errno;
                if (fd == last)
                        return 0;
        }
}
