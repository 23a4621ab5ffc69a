/* SPDX-License-Identifier: MIT */
/*
 * Live events for subscribed connections (shmbrokerctl watch). An event is
 * a Response with id 0 and body `event`, sent to every subscriber allowed
 * to stat the region. Sending never blocks and never drops a subscriber: when
 * its output queue is half full, events for it are counted as dropped
 * instead, and the count rides on the next event it does get.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct Conn Conn;
typedef struct Region Region;
typedef struct Server Server;

/* type: SHMBROKER__V1__EVENT_TYPE__EVENT_*; actor: the connection that caused it (or NULL). */
void events_emit(Server *s, int type, const Region *r, const Conn *actor);
/* For a name with no region (a refused create): visible to admins and the actor's uid. */
void events_emit_name(Server *s, int type, const char *name, const Conn *actor);
/* Makes c a subscriber (idempotent). */
void events_subscribe(Conn *c);
/* c is being freed. */
void events_conn_gone(Conn *c);
/* Whether c may see a region of this owner, group and mode (the rule of Stat). */
bool events_may_see(const Conn *c, uid_t uid, gid_t gid, uint32_t mode);
