/* SPDX-License-Identifier: MIT */
/*
 * The raw floor: what the daemon's work costs with nothing but the kernel.
 * A bare single-threaded epoll server (a forked process, pinned like the
 * daemon) answers a one-byte request packet with a memfd by SCM_RIGHTS over
 * the same kind of socket, and creates memfds with the same calls the daemon
 * makes. No framing, no protobuf, no checks: every ratio the benchmark prints
 * is the daemon path over this.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26)
#endif

static int raw_memfd(unsigned extra) {
        int fd = memfd_create("raw", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | extra);

        if (fd < 0 && errno == EINVAL)
                fd = memfd_create("raw", MFD_CLOEXEC | MFD_ALLOW_SEALING | extra);
        return fd < 0 ? -errno : fd;
}

static int raw_seal(int fd) {
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_EXEC | F_SEAL_SEAL) >= 0)
                return 0;
        if (errno == EINVAL && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) >= 0)
                return 0;
        return -errno;
}

/* memfd_create + ftruncate (+ fallocate) + seals: what the daemon does for a create. */
static int raw_create(uint64_t size, bool hugetlb) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = raw_memfd(hugetlb ? MFD_HUGETLB | MFD_HUGE_2MB : 0);
        if (fd < 0)
                return fd;
        if (ftruncate(fd, (off_t)size) < 0)
                return -errno;
        if (hugetlb && fallocate(fd, 0, 0, (off_t)size) < 0)
                return -errno;
        r = raw_seal(fd);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

static int raw_reply(int sock, int fd, int err) {
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } control = {};
        int32_t payload = err;
        struct iovec iov = { .iov_base = &payload, .iov_len = sizeof(payload) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                struct cmsghdr *cm;

                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof(control.buf);
                cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

static void raw_handle(int sock, char op, int open_fd) {
        int fd, r;

        switch (op) {
        case RAW_OP_OPEN:
                (void)raw_reply(sock, open_fd, 0);
                return;
        case RAW_OP_CREATE:
        case RAW_OP_HUGETLB:
                fd = op == RAW_OP_CREATE ? raw_create(RAW_CREATE_SIZE, false) : raw_create(RAW_HUGETLB_SIZE, true);
                (void)raw_reply(sock, fd, fd < 0 ? fd : 0);
                safe_close(fd);
                return;
        default:
                r = -EINVAL;
                (void)raw_reply(sock, -1, r);
        }
}

static int raw_serve(int lfd, int open_fd) {
        _cleanup_close_ int ep = -1;
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
                return -errno;

        for (;;) {
                struct epoll_event evs[64];
                int n = epoll_wait(ep, evs, (int)ELEMENTSOF(evs), -1);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;

                        if (fd == lfd) {
                                int c;

                                while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
                                        struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };

                                        if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
                                                close(c);
                                }
                                continue;
                        }
                        for (;;) {
                                char buf[64];
                                ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                                        break;
                                if (k <= 0) {
                                        close(fd); /* leaves the epoll set with its last reference */
                                        break;
                                }
                                raw_handle(fd, buf[0], open_fd);
                        }
                }
        }
}

int raw_server_start(RawServer *s, const char *dir) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int lfd = -1, open_fd = -1;
        pid_t pid;

        *s = RAW_SERVER_NULL;
        snprintf(s->sock, sizeof(s->sock), "%s/raw.sock", dir);
        memcpy(sa.sun_path, s->sock, strnlen(s->sock, sizeof(sa.sun_path) - 1));

        /* The region every raw open hands out: 1 MiB, one page written, sealed. */
        open_fd = raw_memfd(0);
        if (open_fd < 0)
                return open_fd;
        if (ftruncate(open_fd, (off_t)RAW_OPEN_SIZE) < 0 || pwrite(open_fd, "x", 1, 0) != 1)
                return -errno;
        if (raw_seal(open_fd) < 0)
                return -errno;

        lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0)
                return -errno;
        (void)unlink(s->sock);
        if (bind(lfd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0)
                return -errno;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int r;

                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* Its own name in perf and top: "shmb-raw-floor". */
                (void)prctl(PR_SET_NAME, "shmb-raw-floor");
                r = raw_serve(lfd, open_fd);
                fprintf(stderr, "# raw server: %s\n", strerror(-r));
                _exit(1);
        }
        s->pid = pid;
        return 0;
}

int raw_server_stop(RawServer *s) {
        if (s->pid <= 0)
                return 0;
        (void)kill(s->pid, SIGKILL);
        (void)pid_wait(s->pid, 5000);
        s->pid = -1;
        (void)unlink(s->sock);
        return 0;
}

int raw_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, path, strnlen(path, sizeof(sa.sun_path) - 1));
        if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int raw_request_fd(int sock, char op, int *ret_fd) {
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } control;
        int32_t payload = 0;
        struct iovec iov = { .iov_base = &payload, .iov_len = sizeof(payload) };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        struct cmsghdr *cm;
        int fd = -1;
        ssize_t k;

        if (send(sock, &op, 1, MSG_NOSIGNAL) != 1)
                return -errno;
        do
                k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        if (k == 0)
                return -ECONNRESET;
        for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
                    cm->cmsg_len == CMSG_LEN(sizeof(int)))
                        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        if (fd < 0)
                return payload < 0 ? payload : -EBADMSG;
        *ret_fd = fd;
        return 0;
}

int raw_open_once(int sock) {
        volatile char *p;
        int fd, r;

        r = raw_request_fd(sock, RAW_OP_OPEN, &fd);
        if (r < 0)
                return r;
        p = mmap(NULL, RAW_OPEN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                r = -errno;
                close(fd);
                return r;
        }
        p[0] = (char)(p[0] + 1);
        (void)munmap((void *)p, RAW_OPEN_SIZE);
        close(fd);
        return 0;
}

/* ---- the floor of a restore ---------------------------------------------- */

/* Takes n descriptors and looks at each, as the daemon must; keeps them until exit, as it does. */
static int raw_take_fds(int sock, size_t n) {
        size_t got = 0;
        bool bad = false;

        while (got < n) {
                union {
                        char buf[CMSG_SPACE(RAW_FDS_PER_MSG * sizeof(int))];
                        struct cmsghdr align;
                } control;
                char byte;
                struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
                struct msghdr mh = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf),
                };
                ssize_t k;

                k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -ECONNRESET;
                if (mh.msg_flags & MSG_CTRUNC)
                        return -EMSGSIZE;
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                        size_t count;

                        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                                continue;
                        count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < count; i++) {
                                struct stat st;
                                int fd;

                                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                                if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                                        bad = true;
                                got++;
                        }
                }
        }
        return bad || got != n ? -EBADF : 0;
}

int raw_restore_floor(const int *fds, size_t n, int cpu, uint64_t *ret_ns) {
        _cleanup_close_ int sock = -1;
        int sv[2], r = 0;
        uint64_t t0, t1;
        char byte;
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (pid == 0) {
                close(sv[0]);
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void)prctl(PR_SET_NAME, "shmb-raw-restore");
                if (cpu >= 0)
                        (void)pin_pid(0, cpu);
                byte = 'r';
                if (send(sv[1], &byte, 1, MSG_NOSIGNAL) != 1)
                        _exit(1);
                byte = raw_take_fds(sv[1], n) < 0 ? 'E' : 'k';
                (void)send(sv[1], &byte, 1, MSG_NOSIGNAL);
                _exit(0);
        }
        close(sv[1]);
        sock = sv[0];

        /* Timed from the first send: the receiver is up and pinned, like a daemon past its start. */
        if (recv(sock, &byte, 1, 0) != 1) {
                r = -ECONNRESET;
                goto out;
        }
        t0 = now_ns();
        for (size_t done = 0; done < n;) {
                size_t batch = MIN(n - done, (size_t)RAW_FDS_PER_MSG);
                union {
                        char buf[CMSG_SPACE(RAW_FDS_PER_MSG * sizeof(int))];
                        struct cmsghdr align;
                } control = {};
                struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
                struct msghdr mh = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = CMSG_SPACE(batch * sizeof(int)),
                };
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(batch * sizeof(int));
                memcpy(CMSG_DATA(cm), fds + done, batch * sizeof(int));
                byte = 'f';
                if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
                        r = -errno;
                        goto out;
                }
                done += batch;
        }
        if (recv(sock, &byte, 1, 0) != 1) {
                r = -ECONNRESET;
                goto out;
        }
        t1 = now_ns();
        if (byte != 'k')
                r = -EBADF;
        *ret_ns = t1 - t0;
out:
        sock = safe_close(sock);
        if (pid_wait(pid, 5000) != 0 && r == 0)
                r = -ECHILD;
        return r;
}
