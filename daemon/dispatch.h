/* SPDX-License-Identifier: MIT */
/*
 * Request dispatch: decode, check the sequence (hello first), look the
 * request type up in a static table, run its handler, send the reply.
 * Handlers return 0 (ok), a Status > 0 (a client-caused condition whose
 * message they wrote), or -errno (a daemon failure). Only this module turns
 * those into protocol statuses and disconnects.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct Conn Conn;
typedef struct Region Region;

void dispatch_packet(Conn *c, const uint8_t *buf, size_t len);
/* Sends STATUS_PROTOCOL_ERROR for request id with the message and drops c. */
void dispatch_violation(Conn *c, uint64_t id, const char *fmt, ...) _printf_(3, 4);
/* Sends an error reply for request id (used by deferred requests). */
void dispatch_error(Conn *c, uint64_t id, int status, const char *fmt, ...) _printf_(4, 5);
/* Answers a parked open of r now that it is published. */
void dispatch_finish_open(Conn *c, uint64_t id, Region *r, int access);
/* Answers a publish whose seal succeeded, with an O_RDONLY handle. */
void dispatch_finish_publish(Conn *c, uint64_t id, Region *r, uint64_t handle_id);
