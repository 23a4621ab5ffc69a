/* SPDX-License-Identifier: MIT */
/*
 * The read-only admin requests: Holders (who holds handles on a region,
 * with command lines checked against pid reuse through pidfds), Stats (the
 * daemon's counters) and Subscribe (events.h). Each handler fills resp with
 * storage of its own (valid until the next call: the loop is
 * single-threaded) and returns 0, or a Status > 0 with a message in err.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct Conn Conn;

int introspect_holders(Conn *c, const WireRequest *req, WireResponse *resp, char *err, size_t errlen);
int introspect_stats(Conn *c, const WireRequest *req, WireResponse *resp, char *err, size_t errlen);
int introspect_subscribe(Conn *c, const WireRequest *req, WireResponse *resp, char *err, size_t errlen);
/* CLOCK_MONOTONIC in microseconds (uptime). */
uint64_t introspect_monotonic_usec(void);
/* Takes the peer's pidfd at connect (-1 where the kernel has no SO_PEERPIDFD). */
int introspect_peer_pidfd(int sock);
