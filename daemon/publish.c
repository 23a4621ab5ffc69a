/* SPDX-License-Identifier: MIT */
/*
 * Waiters and publish jobs link a connection to a region in both directions;
 * whichever of the two goes first cuts its side, so neither completion path
 * can touch freed memory.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "publish.h"
#include "region.h"
#include "registry.h"
#include "sealer.h"
#include "server.h"
#include "util.h"

#define ST(x) SHMBROKER__V1__STATUS__STATUS_##x

struct Waiter {
        Conn *conn;
        Region *region;
        uint64_t req_id;
        int access;
        uint32_t timeout_ms;
        struct event *timer;
        LIST_ENTRY(Waiter) region_link;
};

struct PublishJob {
        Server *server;
        Conn *conn;     /* NULL once the connection was freed */
        Region *region; /* NULL once the region was destroyed */
        uint64_t req_id;
        uint64_t handle_id;
};

static const char *unpublished_state(const Region *r) {
        return r->sharing == SHMBROKER__V1__SHARING__SHARING_IMMUTABLE ? "published by its creator"
                                                                        : "mapped by its creator";
}

static void waiter_free(Waiter *w) {
        if (w->region)
                LIST_REMOVE(w, region_link);
        if (w->conn)
                w->conn->waiter = NULL;
        if (w->timer)
                event_free(w->timer);
        free(w);
}

/* Answers and frees w; the connection resumes reading. */
static void waiter_finish(Waiter *w, int status, const char *why) {
        Conn *c = w->conn;
        Region *r = w->region;
        uint64_t id = w->req_id;
        int access = w->access;

        waiter_free(w);
        if (!c)
                return;
        if (status == ST(OK))
                dispatch_finish_open(c, id, r, access);
        else
                dispatch_error(c, id, status, "%s", why);
        conn_resume(c);
}

static void on_waiter_timeout(evutil_socket_t fd, short what, void *userdata) {
        Waiter *w = userdata;
        char why[SHMB_NAME_MAX + 128];

        snprintf(why, sizeof(why), "region '%s' was not %s within %u ms", w->region->name,
                 unpublished_state(w->region), w->timeout_ms);
        waiter_finish(w, ST(TIMEOUT), why);
}

int publish_park_open(Conn *c, uint64_t req_id, Region *r, int access, uint32_t timeout_ms) {
        struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
        Waiter *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->req_id = req_id;
        w->access = access;
        w->timeout_ms = timeout_ms;
        w->timer = evtimer_new(c->server->base, on_waiter_timeout, w);
        if (!w->timer || evtimer_add(w->timer, &tv) < 0) {
                waiter_free(w);
                return -ENOMEM;
        }
        w->conn = c;
        c->waiter = w;
        w->region = r;
        LIST_INSERT_HEAD(&r->waiters, w, region_link);
        conn_pause(c);
        return 0;
}

void publish_wake(Region *r) {
        Waiter *w;

        while ((w = LIST_FIRST(&r->waiters)))
                waiter_finish(w, ST(OK), NULL);
}

void publish_region_gone(Region *r) {
        char why[SHMB_NAME_MAX + 64];
        Waiter *w;

        /* Only formatted when someone waits: every delete passes here. */
        if (!LIST_EMPTY(&r->waiters))
                snprintf(why, sizeof(why), "region '%s' was deleted while waiting for it", r->name);
        while ((w = LIST_FIRST(&r->waiters)))
                waiter_finish(w, ST(NOT_FOUND), why);
        if (r->job) {
                r->job->region = NULL;
                r->job = NULL;
        }
}

void publish_conn_gone(Conn *c) {
        if (c->waiter) {
                c->waiter->conn = NULL;
                waiter_free(c->waiter);
        }
        if (c->job) {
                c->job->conn = NULL;
                c->job = NULL;
        }
}

static void on_sealed(int result, void *userdata) {
        PublishJob *j = userdata;
        Conn *c = j->conn;
        Region *r = j->region;

        if (r) {
                r->job = NULL;
                if (result == 0) {
                        r->seals |= F_SEAL_WRITE | F_SEAL_SEAL;
                        r->published = true;
                        log_debug("region '%s' published", r->name);
                }
        }
        if (c) {
                c->job = NULL;
                if (!r)
                        dispatch_error(c, j->req_id, ST(NOT_FOUND), "the region was deleted while being published");
                else if (result == -EBUSY)
                        dispatch_error(c, j->req_id, ST(WRONG_STATE),
                                       "cannot seal region '%s' against writes: a writable shared mapping "
                                       "of it still exists or its pages are pinned (F_SEAL_WRITE: EBUSY); "
                                       "unmap every writable mapping, then publish again", r->name);
                else if (result == -EPERM)
                        dispatch_error(c, j->req_id, ST(WRONG_STATE),
                                       "cannot seal region '%s' against writes: a holder already added "
                                       "F_SEAL_SEAL (EPERM); it can never be published and is deleted", r->name);
                else if (result < 0)
                        dispatch_error(c, j->req_id, ST(INTERNAL), "cannot seal region '%s' against writes: %s",
                                       r->name, strerror(-result));
                else
                        dispatch_finish_publish(c, j->req_id, r, j->handle_id);
                conn_resume(c);
        }
        /* Only now may others see it, and only after the creator was answered. */
        if (r && result == 0)
                publish_wake(r);
        else if (r && result == -EPERM)
                /* Sealed shut by a holder: nobody could ever publish it. Waiters get NOT_FOUND. */
                registry_destroy(&j->server->registry, r);
        free(j);
}

int publish_start(Conn *c, uint64_t req_id, Handle *h) {
        Region *r = h->region;
        PublishJob *j = calloc(1, sizeof(*j));
        int e;

        if (!j)
                return -ENOMEM;
        j->server = c->server;
        j->conn = c;
        j->region = r;
        j->req_id = req_id;
        j->handle_id = h->id;
        e = sealer_submit(c->server->sealer, r->fd, F_SEAL_WRITE | F_SEAL_SEAL, on_sealed, j);
        if (e < 0) {
                free(j);
                return e;
        }
        r->job = j;
        c->job = j;
        conn_pause(c);
        return 0;
}
