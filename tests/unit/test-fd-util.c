/* SPDX-License-Identifier: MIT */
/*
 * fd-util and memfd-util: descriptor counting (which the other tests rely on
 * to prove they leak nothing), close-on-exec/non-blocking flags, and the
 * printed form of seals.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "tap.h"
#include "util.h"

static bool seals_are(unsigned seals, const char *want) {
        char buf[SEALS_FORMAT_MAX];

        return strcmp(seals_format(seals, buf, sizeof(buf)), want) == 0;
}

static void test_fd_count(void) {
        int base, p[2], report[2], hold[2];
        pid_t pid;

        base = fd_count(0);
        CHECK(base >= 0);
        CHECK(fd_count(0) == base);
        CHECK(fd_count(getpid()) == base);

        CHECK(pipe2(p, O_CLOEXEC) == 0);
        CHECK(fd_count(0) == base + 2);
        safe_close(p[0]);
        CHECK(fd_count(0) == base + 1);
        safe_close(p[1]);
        CHECK(fd_count(0) == base);

        /*
         * Another process: the child reports its own count, then blocks on a
         * pipe so its table cannot change while we count it from outside.
         */
        CHECK(pipe2(report, O_CLOEXEC) == 0);
        CHECK(pipe2(hold, O_CLOEXEC) == 0);
        pid = fork();
        if (pid == 0) {
                int own;
                char c;

                safe_close(report[0]);
                safe_close(hold[1]);
                own = fd_count(0);
                if (write(report[1], &own, sizeof(own)) != sizeof(own))
                        _exit(1);
                (void)read(hold[0], &c, 1);
                _exit(0);
        }
        CHECK(pid > 0);
        safe_close(report[1]);
        safe_close(hold[0]);
        if (pid > 0) {
                int own = -1;

                CHECK(read(report[0], &own, sizeof(own)) == sizeof(own));
                CHECK_MSG(own >= 0 && fd_count(pid) == own, "fd_count(child) from outside matches the child's own count");
                safe_close(hold[1]);
                CHECK(waitpid(pid, NULL, 0) == pid);
        } else
                safe_close(hold[1]);
        safe_close(report[0]);

        CHECK(fd_count(INT_MAX) == -ENOENT);
        CHECK(fd_count(-1) == -EINVAL);
        CHECK(fd_count(0) == base);
}

static void test_flags(void) {
        int p[2];

        CHECK(pipe(p) == 0);
        CHECK(!(fcntl(p[0], F_GETFD) & FD_CLOEXEC));
        CHECK(fd_set_cloexec_nonblock(p[0], false) == 0);
        CHECK(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
        CHECK(!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
        CHECK(fd_set_cloexec_nonblock(p[1], true) == 0);
        CHECK(fcntl(p[1], F_GETFD) & FD_CLOEXEC);
        CHECK(fcntl(p[1], F_GETFL) & O_NONBLOCK);
        /* Idempotent, and nonblock=false leaves O_NONBLOCK alone. */
        CHECK(fd_set_cloexec_nonblock(p[1], false) == 0);
        CHECK(fcntl(p[1], F_GETFL) & O_NONBLOCK);
        safe_close(p[0]);
        safe_close(p[1]);
        CHECK(fd_set_cloexec_nonblock(p[0], true) == -EBADF);
}

static void test_seals(void) {
        char small[8];
        int fd;

        CHECK(seals_are(0, "none"));
        CHECK(seals_are(F_SEAL_SEAL, "seal"));
        CHECK(seals_are(F_SEAL_SHRINK | F_SEAL_GROW, "shrink,grow"));
        CHECK(seals_are(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_EXEC | F_SEAL_SEAL, "seal,shrink,grow,exec"));
        CHECK(seals_are(F_SEAL_WRITE | F_SEAL_FUTURE_WRITE, "write,future-write"));
        CHECK(seals_are(0x3f, "seal,shrink,grow,write,future-write,exec"));
        CHECK(seals_are(0x40, "0x40"));
        CHECK(seals_are(F_SEAL_GROW | 0x180, "grow,0x180"));
        CHECK(seals_are(0xffffffffu, "seal,shrink,grow,write,future-write,exec,0xffffffc0"));
        CHECK(strlen("seal,shrink,grow,write,future-write,exec,0xffffffc0") < SEALS_FORMAT_MAX);
        CHECK(strcmp(seals_format(0x3f, small, sizeof(small)), "seal,sh") == 0);

        /* What a real memfd reports. */
        fd = memfd_create("test-seals", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        CHECK(fd >= 0);
        if (fd >= 0) {
                char buf[SEALS_FORMAT_MAX];

                CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
                CHECK(strcmp(seals_format((unsigned)fcntl(fd, F_GET_SEALS), buf, sizeof(buf)), "shrink,grow") == 0);
                safe_close(fd);
        }
}

int main(void) {
        int base = fd_count(0);

        test_fd_count();
        test_flags();
        test_seals();

        CHECK_MSG(fd_count(0) == base, "no descriptor leaked");
        return tap_done();
}
