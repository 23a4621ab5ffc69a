/* SPDX-License-Identifier: MIT */
/*
 * fd_cloexec_range(): close-on-exec set on every open descriptor of the
 * range, descriptors outside it untouched, closed ones in it skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cloexec-range.h"
#include "macro.h"
#include "tap.h"
#include "util.h"

static bool cloexec(int fd) {
        int f = fcntl(fd, F_GETFD);

        return f >= 0 && (f & FD_CLOEXEC);
}

int main(void) {
        int base = fd_count(0), p[2], q[2], r[2], gap;

        CHECK(pipe(p) == 0);
        CHECK(pipe(q) == 0);
        CHECK(pipe(r) == 0);
        /* p[0] < p[1] < q[0] < q[1] < r[0] < r[1]; close q[0] to leave a hole. */
        gap = q[0];
        CHECK(close(gap) == 0);
        CHECK(!cloexec(p[0]) && !cloexec(p[1]) && !cloexec(q[1]) && !cloexec(r[0]) && !cloexec(r[1]));

        CHECK(fd_cloexec_range(p[1], r[0]) == 0);
        CHECK(!cloexec(p[0]));
        CHECK(cloexec(p[1]));
        CHECK(fcntl(gap, F_GETFD) < 0 && errno == EBADF);
        CHECK(cloexec(q[1]));
        CHECK(cloexec(r[0]));
        CHECK(!cloexec(r[1]));

        /* Already set, or an empty range: nothing to do, no error. */
        CHECK(fd_cloexec_range(p[1], r[0]) == 0);
        CHECK(fd_cloexec_range(r[1], r[1] - 1) == 0);
        CHECK(!cloexec(r[1]));
        CHECK(fd_cloexec_range(r[1], r[1]) == 0);
        CHECK(cloexec(r[1]));
        CHECK(fd_cloexec_range(-1, 5) == -EBADF);

        safe_close(p[0]);
        safe_close(p[1]);
        safe_close(q[1]);
        safe_close(r[0]);
        safe_close(r[1]);
        CHECK(fd_count(0) == base);
        return tap_done();
}
