/* SPDX-License-Identifier: MIT */
/*
 * Publication of single-writer and immutable regions. Until its creator has
 * mapped (single-writer) or published (immutable) a region, nobody else may
 * see it: opens by others are parked, without blocking the loop, and answered
 * when the region is published, deleted, or their timeout expires. While a
 * connection has a parked or in-flight request it reads nothing more, which
 * keeps its responses in request order.
 */
#pragma once

#include <stdint.h>

typedef struct Conn Conn;
typedef struct Region Region;
typedef struct Handle Handle;
typedef struct Server Server;

/* Parks an open of the unpublished region r. Returns 0 or -ENOMEM. */
int publish_park_open(Conn *c, uint64_t req_id, Region *r, int access, uint32_t timeout_ms);
/* Seals the immutable region of the creator's handle h on the sealer thread. */
int publish_start(Conn *c, uint64_t req_id, Handle *h);
/* r was just published: answers every open parked on it. */
void publish_wake(Region *r);
/* r is being destroyed: fails its parked opens and forgets its in-flight seal. */
void publish_region_gone(Region *r);
/* c is being freed: drops its parked open and forgets its in-flight seal. */
void publish_conn_gone(Conn *c);
