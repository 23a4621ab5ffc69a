/* SPDX-License-Identifier: MIT */
/*
 * Framing shared by the daemon and the client library: one protobuf message
 * per SOCK_SEQPACKET packet, at most WIRE_MAX_PACKET bytes, at most one file
 * descriptor per packet, and only from daemon to client. Receiving is a
 * security boundary, so wire_recv() counts descriptors from cmsg_len, closes
 * every one the caller did not ask for, and reports truncation as -EBADMSG so
 * the caller drops the peer.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "shmbroker.pb-c.h"

#define WIRE_PROTOCOL_VERSION 1u
#define WIRE_MAX_PACKET 65536u

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* Linux 6.16 */
#endif

typedef Shmbroker__V1__Request WireRequest;
typedef Shmbroker__V1__Response WireResponse;
typedef Shmbroker__V1__Region WireRegion;

/*
 * Sends one packet, with pass_fd attached when >= 0. Never blocks a
 * non-blocking socket: returns -EAGAIN instead. MSG_NOSIGNAL always.
 * Returns 0 or -errno.
 */
int wire_send(int sock, const void *buf, size_t len, int pass_fd);

/*
 * Receives one packet into buf (bufsize should be WIRE_MAX_PACKET).
 * ret_fd == NULL: the caller accepts no descriptors; any that arrive are
 * closed and -EBADMSG is returned. ret_fd != NULL: at most one is accepted
 * (*ret_fd = fd or -1); more than one closes them all and gives -EBADMSG.
 * MSG_TRUNC/MSG_CTRUNC: -EBADMSG (fds closed). Orderly shutdown: -ECONNRESET.
 * Returns 0 with *ret_len set, or -errno (-EAGAIN when nothing is queued).
 */
int wire_recv(int sock, void *buf, size_t bufsize, size_t *ret_len, int *ret_fd);

/* Packs a message into buf; -EMSGSIZE if it exceeds bufsize. */
int wire_pack(const ProtobufCMessage *m, uint8_t *buf, size_t bufsize, size_t *ret_len);

/* Disables SCM_RIGHTS reception on a socket where the kernel supports it. */
int wire_refuse_fds(int sock);

/* Status enum <-> names and client errno values. */
const char *wire_status_name(int status);
int wire_status_to_errno(int status);
