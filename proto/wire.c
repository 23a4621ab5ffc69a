/* SPDX-License-Identifier: MIT */
/*
 * Framing: one protobuf message per SOCK_SEQPACKET packet, at most one fd.
 *
 * The receive side is where a hostile peer gets to act, so it follows the
 * rules of dbus-broker's socket_recvmsg() and systemd's recvmsg_safe():
 * MSG_CMSG_CLOEXEC so no received fd ever survives exec, a control buffer for
 * exactly one fd, the number of fds taken from cmsg_len (the kernel fits two
 * ints into CMSG_SPACE(sizeof(int)) thanks to alignment padding, so "one
 * buffer, one fd" is not enough), every fd the caller did not accept closed
 * before returning, and truncation of data or control reported as -EBADMSG
 * so the caller drops the peer instead of parsing half a message. Never
 * MSG_PEEK: each peek would install fresh copies of the fds.
 *
 * The control buffer has no room for SCM_CREDENTIALS or SCM_PIDFD: sockets
 * used with these functions must not enable SO_PASSCRED/SO_PASSPIDFD, or
 * every packet arrives with MSG_CTRUNC.
 *
 * A zero-byte packet is indistinguishable from end-of-file on SEQPACKET
 * (recvmsg() returns 0 for both), so wire_recv() reports it as -ECONNRESET
 * and wire_send() refuses to produce one. An empty protobuf message (every
 * field at its default) packs to zero bytes; callers avoid it by always
 * setting a oneof body or a non-zero id.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "macro.h"
#include "wire.h"

/* Room for exactly one SCM_RIGHTS fd, aligned for struct cmsghdr. */
typedef union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
} WireControl;

int wire_send(int sock, const void *buf, size_t len, int pass_fd) {
        WireControl control;
        struct iovec iov = {
                .iov_base = (void *)buf,
                .iov_len = len,
        };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };
        ssize_t n;

        if (!buf || len == 0)
                return -EINVAL;
        if (len > WIRE_MAX_PACKET)
                return -EMSGSIZE;

        if (pass_fd >= 0) {
                struct cmsghdr *cmsg;

                memset(&control, 0, sizeof(control));
                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof(control.buf);
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
        }

        /* No MSG_DONTWAIT: the socket's own O_NONBLOCK decides whether this may block. */
        do
                n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        /* SEQPACKET sends are atomic; anything else means the socket is not what we think. */
        if ((size_t)n != len)
                return -EIO;

        return 0;
}

static void wire_close_fds(const int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                safe_close(fds[i]);
}

int wire_recv(int sock, void *buf, size_t bufsize, size_t *ret_len, int *ret_fd) {
        WireControl control;
        struct iovec iov;
        struct msghdr mh;
        struct cmsghdr *cmsg;
        /* The control buffer bounds how many fds can arrive; leave room to spare. */
        int fds[8];
        size_t n_fds = 0;
        bool overflow = false;
        ssize_t n;

        if (!buf || bufsize == 0 || !ret_len)
                return -EINVAL;

        do {
                iov = (struct iovec) {
                        .iov_base = buf,
                        .iov_len = bufsize,
                };
                mh = (struct msghdr) {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf),
                };
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
                size_t k;

                /* Anything else (credentials, timestamps) carries no fds: ignore it. */
                if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
                        continue;
                if (cmsg->cmsg_len < CMSG_LEN(0))
                        continue;

                k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
                        if (n_fds < ELEMENTSOF(fds))
                                fds[n_fds++] = fd;
                        else {
                                /* Cannot happen with this control buffer; still never leak. */
                                safe_close(fd);
                                overflow = true;
                        }
                }
        }

        if (overflow || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                wire_close_fds(fds, n_fds);
                return -EBADMSG;
        }

        if (n == 0) {
                /* End of file never carries fds; a zero-byte packet with one is a violation. */
                if (n_fds > 0) {
                        wire_close_fds(fds, n_fds);
                        return -EBADMSG;
                }
                return -ECONNRESET;
        }

        if (n_fds > 1 || (n_fds > 0 && !ret_fd)) {
                wire_close_fds(fds, n_fds);
                return -EBADMSG;
        }

        if (ret_fd)
                *ret_fd = n_fds > 0 ? fds[0] : -1;
        *ret_len = (size_t)n;
        return 0;
}

int wire_pack(const ProtobufCMessage *m, uint8_t *buf, size_t bufsize, size_t *ret_len) {
        size_t need, n;

        if (!m || !buf || !ret_len)
                return -EINVAL;

        need = protobuf_c_message_get_packed_size(m);
        if (need > bufsize)
                return -EMSGSIZE;

        n = protobuf_c_message_pack(m, buf);
        if (n != need)
                return -EIO;

        *ret_len = n;
        return 0;
}

int wire_refuse_fds(int sock) {
        int zero = 0;

        if (setsockopt(sock, SOL_SOCKET, SO_PASSRIGHTS, &zero, sizeof(zero)) < 0)
                return -errno;
        return 0;
}

static const struct {
        const char *name;
        int err;
} wire_statuses[] = {
        [SHMBROKER__V1__STATUS__STATUS_OK] = { "ok", 0 },
        [SHMBROKER__V1__STATUS__STATUS_INVALID_ARGUMENT] = { "invalid-argument", -EINVAL },
        [SHMBROKER__V1__STATUS__STATUS_NOT_FOUND] = { "not-found", -ENOENT },
        [SHMBROKER__V1__STATUS__STATUS_ALREADY_EXISTS] = { "already-exists", -EEXIST },
        [SHMBROKER__V1__STATUS__STATUS_PERMISSION_DENIED] = { "permission-denied", -EACCES },
        [SHMBROKER__V1__STATUS__STATUS_QUOTA_EXCEEDED] = { "quota-exceeded", -EDQUOT },
        [SHMBROKER__V1__STATUS__STATUS_LIMIT_EXCEEDED] = { "limit-exceeded", -ENOSPC },
        [SHMBROKER__V1__STATUS__STATUS_NO_RESOURCES] = { "no-resources", -ENOMEM },
        [SHMBROKER__V1__STATUS__STATUS_VERSION_MISMATCH] = { "version-mismatch", -EPROTONOSUPPORT },
        [SHMBROKER__V1__STATUS__STATUS_PROTOCOL_ERROR] = { "protocol-error", -EPROTO },
        [SHMBROKER__V1__STATUS__STATUS_TIMEOUT] = { "timeout", -ETIMEDOUT },
        [SHMBROKER__V1__STATUS__STATUS_UNSUPPORTED] = { "unsupported", -EOPNOTSUPP },
        [SHMBROKER__V1__STATUS__STATUS_WRONG_STATE] = { "wrong-state", -EBUSY },
        [SHMBROKER__V1__STATUS__STATUS_INTERNAL] = { "internal", -EIO },
};

const char *wire_status_name(int status) {
        if (status < 0 || (size_t)status >= ELEMENTSOF(wire_statuses) || !wire_statuses[status].name)
                return "unknown";
        return wire_statuses[status].name;
}

int wire_status_to_errno(int status) {
        /* A status from a newer daemon that this client does not know is still a failure. */
        if (status < 0 || (size_t)status >= ELEMENTSOF(wire_statuses) || !wire_statuses[status].name)
                return -EIO;
        return wire_statuses[status].err;
}
