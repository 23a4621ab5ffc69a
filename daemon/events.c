/* SPDX-License-Identifier: MIT */
/*
 * Event fan-out. Subscribers are few (admins watching), so a walk over the
 * connections per event is cheaper than keeping a second list in step with
 * connection teardown.
 */
#include <stdbool.h>
#include <time.h>

#include "conn.h"
#include "events.h"
#include "region.h"
#include "server.h"

#define EV_TYPE(x) SHMBROKER__V1__EVENT_TYPE__EVENT_##x

static uint64_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool events_may_see(const Conn *c, uid_t uid, gid_t gid, uint32_t mode) {
        unsigned bits;

        if (c->uid == 0 || c->uid == uid)
                return true;
        if (conn_in_group(c, gid))
                bits = (mode >> 3) & 7u;
        else
                bits = mode & 7u;
        return bits & 4u;
}

static void emit(Server *s, int type, const char *name, uid_t uid, gid_t gid, uint32_t mode, const Conn *actor) {
        Shmbroker__V1__Response resp = SHMBROKER__V1__RESPONSE__INIT;
        Shmbroker__V1__Event ev = SHMBROKER__V1__EVENT__INIT;
        Conn *c, *tmp;

        if (s->stats.subscribers == 0)
                return;
        ev.type = type;
        ev.region = (char *)name;
        ev.uid = actor ? (uint32_t)actor->uid : 0;
        ev.pid = actor && actor->pid > 0 ? (uint32_t)actor->pid : 0;
        ev.time_usec = realtime_usec();
        ev.seq = ++s->stats.next_event_seq;
        resp.id = 0;
        resp.status = SHMBROKER__V1__STATUS__STATUS_OK;
        resp.body_case = SHMBROKER__V1__RESPONSE__BODY_EVENT;
        resp.event = &ev;

        /* conn_send() may kill a connection, which moves it to the dead list. */
        LIST_FOREACH_SAFE(c, &s->conns, link, tmp) {
                if (!c->subscribed || c->dead || !events_may_see(c, uid, gid, mode))
                        continue;
                /* Half the queue stays free for replies, which must never be dropped. */
                if (c->n_out >= s->limits.output_queue / 2) {
                        c->events_dropped++;
                        s->stats.events_dropped++;
                        continue;
                }
                ev.dropped = c->events_dropped;
                if (conn_send(c, &resp, -1) >= 0) {
                        c->events_dropped = 0;
                        s->stats.events++;
                }
        }
}

void events_emit(Server *s, int type, const Region *r, const Conn *actor) {
        emit(s, type, r->name, r->uid, r->gid, r->mode, actor);
}

void events_emit_name(Server *s, int type, const char *name, const Conn *actor) {
        if (actor)
                emit(s, type, name, actor->uid, actor->gid, 0, actor);
        else
                emit(s, type, name, 0, 0, 0, NULL);
}

void events_subscribe(Conn *c) {
        if (c->subscribed)
                return;
        c->subscribed = true;
        c->server->stats.subscribers++;
}

void events_conn_gone(Conn *c) {
        if (!c->subscribed)
                return;
        c->subscribed = false;
        c->server->stats.subscribers--;
}
