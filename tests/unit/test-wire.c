/* SPDX-License-Identifier: MIT */
/*
 * wire.c over real SOCK_SEQPACKET socketpairs: round trips, fd passing, and
 * above all that every descriptor a hostile peer pushes at us is closed
 * (counted with fd_count() before and after) and the packet refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "tap.h"
#include "util.h"
#include "wire.h"

static uint8_t rbuf[WIRE_MAX_PACKET];

static bool pair(int sv[2]) {
        return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0;
}

static void close_pair(int sv[2]) {
        safe_close(sv[0]);
        safe_close(sv[1]);
        sv[0] = sv[1] = -1;
}

static int new_memfd(void) {
        return memfd_create("test-wire", MFD_CLOEXEC);
}

/* Sends len bytes with n fds attached in one SCM_RIGHTS message, which wire_send() cannot do. */
static bool send_raw_fds(int sock, const void *data, size_t len, const int *fds, size_t n) {
        char control[CMSG_SPACE(16 * sizeof(int))] __attribute__((aligned(sizeof(size_t))));
        struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control,
                .msg_controllen = CMSG_SPACE(n * sizeof(int)),
        };
        struct cmsghdr *cmsg;

        if (n == 0 || n > 16)
                return false;
        memset(control, 0, sizeof(control));
        cmsg = CMSG_FIRSTHDR(&mh);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(cmsg), fds, n * sizeof(int));
        return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len;
}

static bool same_file(int a, int b) {
        struct stat sa, sb;

        return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void test_round_trip(void) {
        Shmbroker__V1__Request req = SHMBROKER__V1__REQUEST__INIT;
        Shmbroker__V1__HelloRequest hello = SHMBROKER__V1__HELLO_REQUEST__INIT;
        Shmbroker__V1__Request *back;
        uint8_t buf[WIRE_MAX_PACKET];
        size_t len = 0, rlen = 0;
        int sv[2], fd = -2;

        hello.version = WIRE_PROTOCOL_VERSION;
        hello.client = (char *)"test-wire";
        req.id = 42;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_HELLO;
        req.hello = &hello;

        CHECK(wire_pack(&req.base, buf, sizeof(buf), &len) == 0);
        CHECK(len > 0 && len == protobuf_c_message_get_packed_size(&req.base));
        CHECK(wire_pack(&req.base, buf, len - 1, &rlen) == -EMSGSIZE);

        CHECK(pair(sv));
        CHECK(wire_send(sv[0], buf, len, -1) == 0);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, &fd) == 0);
        CHECK(fd == -1);
        CHECK(rlen == len && memcmp(rbuf, buf, len) == 0);

        back = shmbroker__v1__request__unpack(NULL, rlen, rbuf);
        CHECK(back);
        if (back) {
                CHECK(back->id == 42);
                CHECK(back->body_case == SHMBROKER__V1__REQUEST__BODY_HELLO);
                CHECK(back->hello && back->hello->version == 1 && strcmp(back->hello->client, "test-wire") == 0);
                shmbroker__v1__request__free_unpacked(back, NULL);
        }

        /* ret_fd == NULL is fine when no fd comes along. */
        CHECK(wire_send(sv[0], buf, len, -1) == 0);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == 0 && rlen == len);

        /* Packet boundaries hold: two sends, two receives. */
        CHECK(wire_send(sv[0], "ab", 2, -1) == 0);
        CHECK(wire_send(sv[0], "cde", 3, -1) == 0);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == 0 && rlen == 2);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == 0 && rlen == 3 && memcmp(rbuf, "cde", 3) == 0);

        /* The largest allowed packet fits, one byte more is refused before sending. */
        memset(buf, 0x5a, sizeof(buf));
        CHECK(wire_send(sv[0], buf, WIRE_MAX_PACKET, -1) == 0);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == 0 && rlen == WIRE_MAX_PACKET);
        CHECK(wire_send(sv[0], buf, WIRE_MAX_PACKET + 1, -1) == -EMSGSIZE);
        /* Zero bytes would read as end-of-file on the other side. */
        CHECK(wire_send(sv[0], buf, 0, -1) == -EINVAL);

        close_pair(sv);
}

static void test_pass_fd(void) {
        size_t rlen = 0;
        int sv[2], memfd, fd = -2, base;

        base = fd_count(0);
        CHECK(pair(sv));
        memfd = new_memfd();
        CHECK(memfd >= 0);

        CHECK(wire_send(sv[0], "x", 1, memfd) == 0);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, &fd) == 0);
        CHECK(rlen == 1 && rbuf[0] == 'x');
        CHECK(fd >= 0 && fd != memfd);
        CHECK(same_file(fd, memfd));
        CHECK_MSG(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "received fd has FD_CLOEXEC");

        safe_close(fd);
        safe_close(memfd);
        close_pair(sv);
        CHECK(fd_count(0) == base);
}

static void test_unwanted_fd(void) {
        size_t rlen = 77;
        int sv[2], memfd, before;

        CHECK(pair(sv));
        memfd = new_memfd();
        CHECK(wire_send(sv[0], "x", 1, memfd) == 0);
        safe_close(memfd);

        before = fd_count(0);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == -EBADMSG);
        CHECK_MSG(fd_count(0) == before, "unwanted fd closed");
        CHECK(rlen == 77);

        /* The connection is still usable afterwards (the caller decides to drop it). */
        CHECK(wire_send(sv[0], "y", 1, -1) == 0);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == 0 && rlen == 1);

        close_pair(sv);
}

static void test_many_fds(void) {
        int sv[2], fds[16], before, fd = -2;
        size_t rlen = 0;

        CHECK(pair(sv));
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                fds[i] = new_memfd();

        /* Two fds fit the one-fd control buffer thanks to padding: counted from cmsg_len. */
        CHECK(send_raw_fds(sv[0], "xx", 2, fds, 2));
        before = fd_count(0);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, &fd) == -EBADMSG);
        CHECK_MSG(fd_count(0) == before, "two fds: both closed");
        CHECK(fd == -2);

        /* Three or more: MSG_CTRUNC, whatever was installed is closed. */
        CHECK(send_raw_fds(sv[0], "xxx", 3, fds, 3));
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, &fd) == -EBADMSG);
        CHECK_MSG(fd_count(0) == before, "three fds: all closed");

        CHECK(send_raw_fds(sv[0], "x", 1, fds, ELEMENTSOF(fds)));
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, &fd) == -EBADMSG);
        CHECK_MSG(fd_count(0) == before, "sixteen fds: all closed");

        /* Two fds and ret_fd == NULL. */
        CHECK(send_raw_fds(sv[0], "x", 1, fds, 2));
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == -EBADMSG);
        CHECK(fd_count(0) == before);
        CHECK(fd == -2);

        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                safe_close(fds[i]);
        close_pair(sv);
}

static void test_truncated(void) {
        uint8_t big[200], small[10];
        size_t rlen = 0;
        int sv[2], memfd, before, fd = -2;

        memset(big, 1, sizeof(big));
        CHECK(pair(sv));

        CHECK(wire_send(sv[0], big, sizeof(big), -1) == 0);
        CHECK(wire_recv(sv[1], small, sizeof(small), &rlen, &fd) == -EBADMSG);
        CHECK(fd == -2);

        /* Truncated with an fd: the fd is delivered by the kernel and must be closed. */
        memfd = new_memfd();
        CHECK(wire_send(sv[0], big, sizeof(big), memfd) == 0);
        safe_close(memfd);
        before = fd_count(0);
        CHECK(wire_recv(sv[1], small, sizeof(small), &rlen, &fd) == -EBADMSG);
        CHECK_MSG(fd_count(0) == before, "fd of a truncated packet closed");
        CHECK(fd == -2);

        /* Exactly bufsize is not truncation. */
        CHECK(wire_send(sv[0], big, sizeof(small), -1) == 0);
        CHECK(wire_recv(sv[1], small, sizeof(small), &rlen, &fd) == 0 && rlen == sizeof(small) && fd == -1);

        close_pair(sv);
}

static void test_shutdown_and_nonblock(void) {
        uint8_t buf[WIRE_MAX_PACKET];
        size_t rlen = 0;
        int sv[2], r = 0, sent = 0;

        CHECK(pair(sv));

        /* Nothing queued on a non-blocking socket. */
        CHECK(fd_set_cloexec_nonblock(sv[1], true) == 0);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == -EAGAIN);

        /* A full non-blocking socket gives -EAGAIN rather than blocking. */
        CHECK(fd_set_cloexec_nonblock(sv[0], true) == 0);
        memset(buf, 0, sizeof(buf));
        for (int i = 0; i < 100000; i++) {
                r = wire_send(sv[0], buf, sizeof(buf), -1);
                if (r < 0)
                        break;
                sent++;
        }
        CHECK(r == -EAGAIN && sent > 0);
        for (int i = 0; i < sent; i++)
                (void)wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL);

        /* Orderly shutdown. */
        safe_close(sv[0]);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == -ECONNRESET);
        CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == -ECONNRESET);
        safe_close(sv[1]);

        /* Sending to a closed peer: -EPIPE, and no SIGPIPE kills us. */
        CHECK(pair(sv));
        safe_close(sv[1]);
        CHECK(wire_send(sv[0], "x", 1, -1) == -EPIPE);
        safe_close(sv[0]);

        CHECK(wire_recv(-1, rbuf, sizeof(rbuf), &rlen, NULL) == -EBADF);
        CHECK(wire_send(-1, "x", 1, -1) == -EBADF);
}

static void test_refuse_fds(void) {
        size_t rlen = 0;
        int sv[2], memfd, r, base;

        base = fd_count(0);
        CHECK(pair(sv));
        r = wire_refuse_fds(sv[1]);
        if (r == -ENOPROTOOPT || r == -EINVAL) {
                tap_skip("kernel lacks SO_PASSRIGHTS");
        } else {
                CHECK(r == 0);
                memfd = new_memfd();
                CHECK_MSG(wire_send(sv[0], "x", 1, memfd) == -EPERM, "SCM_RIGHTS to a refusing socket fails EPERM");
                CHECK(wire_send(sv[0], "x", 1, -1) == 0);
                CHECK(wire_recv(sv[1], rbuf, sizeof(rbuf), &rlen, NULL) == 0 && rlen == 1);
                safe_close(memfd);
        }
        close_pair(sv);
        CHECK(fd_count(0) == base);
}

static void test_status(void) {
        static const struct {
                int status;
                const char *name;
                int err;
        } table[] = {
                { SHMBROKER__V1__STATUS__STATUS_OK, "ok", 0 },
                { SHMBROKER__V1__STATUS__STATUS_INVALID_ARGUMENT, "invalid-argument", -EINVAL },
                { SHMBROKER__V1__STATUS__STATUS_NOT_FOUND, "not-found", -ENOENT },
                { SHMBROKER__V1__STATUS__STATUS_ALREADY_EXISTS, "already-exists", -EEXIST },
                { SHMBROKER__V1__STATUS__STATUS_PERMISSION_DENIED, "permission-denied", -EACCES },
                { SHMBROKER__V1__STATUS__STATUS_QUOTA_EXCEEDED, "quota-exceeded", -EDQUOT },
                { SHMBROKER__V1__STATUS__STATUS_LIMIT_EXCEEDED, "limit-exceeded", -ENOSPC },
                { SHMBROKER__V1__STATUS__STATUS_NO_RESOURCES, "no-resources", -ENOMEM },
                { SHMBROKER__V1__STATUS__STATUS_VERSION_MISMATCH, "version-mismatch", -EPROTONOSUPPORT },
                { SHMBROKER__V1__STATUS__STATUS_PROTOCOL_ERROR, "protocol-error", -EPROTO },
                { SHMBROKER__V1__STATUS__STATUS_TIMEOUT, "timeout", -ETIMEDOUT },
                { SHMBROKER__V1__STATUS__STATUS_UNSUPPORTED, "unsupported", -EOPNOTSUPP },
                { SHMBROKER__V1__STATUS__STATUS_WRONG_STATE, "wrong-state", -EBUSY },
                { SHMBROKER__V1__STATUS__STATUS_INTERNAL, "internal", -EIO },
        };
        const ProtobufCEnumDescriptor *d = &shmbroker__v1__status__descriptor;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char what[128];

                snprintf(what, sizeof(what), "status %d -> %s, errno %d", table[i].status, table[i].name, -table[i].err);
                CHECK_MSG(wire_status_to_errno(table[i].status) == table[i].err &&
                          strcmp(wire_status_name(table[i].status), table[i].name) == 0, what);
        }
        /* The table above covers every value the schema defines. */
        CHECK(d->n_values == ELEMENTSOF(table));

        CHECK(wire_status_to_errno(14) == -EIO);
        CHECK(wire_status_to_errno(-1) == -EIO);
        CHECK(wire_status_to_errno(1000000) == -EIO);
        CHECK(strcmp(wire_status_name(14), "unknown") == 0);
        CHECK(strcmp(wire_status_name(-1), "unknown") == 0);
}

int main(void) {
        int base = fd_count(0);

        CHECK(base >= 0);
        test_round_trip();
        test_pass_fd();
        test_unwanted_fd();
        test_many_fds();
        test_truncated();
        test_shutdown_and_nonblock();
        test_refuse_fds();
        test_status();

        CHECK_MSG(fd_count(0) == base, "no descriptor leaked");
        return tap_done();
}
