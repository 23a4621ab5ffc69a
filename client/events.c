/* SPDX-License-Identifier: MIT */
/*
 * Event subscriptions in the library. Events may arrive while a call waits
 * for its response, so conn_call() hands them to a ring here instead of
 * taking them for a protocol error; shmb_next_event() reads the ring first
 * and the socket second. A full ring counts what it loses, like the daemon
 * does for a full output queue, and reports the count on the next event.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "client-internal.h"
#include "util.h"

#define EVENT_RING_MAX 1024

static const char *const event_names[] = {
        [SHMB_EVENT_CREATE] = "create",
        [SHMB_EVENT_OPEN] = "open",
        [SHMB_EVENT_CLOSE] = "close",
        [SHMB_EVENT_DELETE] = "delete",
        [SHMB_EVENT_PUBLISH] = "publish",
        [SHMB_EVENT_QUOTA_REFUSED] = "quota-refused",
        [SHMB_EVENT_MAPPED] = "mapped",
};

_public_ const char *shmb_event_type_name(int type) {
        if (type <= 0 || (size_t)type >= ELEMENTSOF(event_names) || !event_names[type])
                return "unknown";
        return event_names[type];
}

int conn_queue_event(shmb_conn *c, const Shmbroker__V1__Event *w) {
        struct shmb_event *ev;
        size_t n = strlen(w->region);

        if (n > SHMB_NAME_MAX)
                return conn_errorf(c, -EPROTO, "the daemon sent an event for a name of %zu bytes", n);
        if (c->n_events == EVENT_RING_MAX) {
                c->events_lost += 1 + w->dropped;
                return 0;
        }
        ev = &c->events[(c->events_head + c->n_events) % EVENT_RING_MAX];
        *ev = (struct shmb_event){
                .type = (int)w->type,
                .uid = w->uid,
                .pid = w->pid,
                .time_usec = w->time_usec,
                .seq = w->seq,
                .dropped = w->dropped + c->events_lost,
        };
        memcpy(ev->region, w->region, n);
        c->events_lost = 0;
        c->n_events++;
        return 0;
}

_public_ int shmb_subscribe(shmb_conn *c) {
        Shmbroker__V1__SubscribeRequest sub = SHMBROKER__V1__SUBSCRIBE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        int r = 0;

        if (!c)
                return -EINVAL;
        (void)pthread_mutex_lock(&c->lock);
        if (!c->events) {
                c->events = calloc(EVENT_RING_MAX, sizeof(*c->events));
                if (!c->events)
                        r = conn_errorf(c, -ENOMEM, "out of memory for the event queue");
        }
        if (r >= 0) {
                /* Events may follow the request before its reply. */
                c->subscribed = true;
                req.body_case = SHMBROKER__V1__REQUEST__BODY_SUBSCRIBE;
                req.subscribe = &sub;
                r = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_SUBSCRIBE, &resp, NULL);
        }
        (void)pthread_mutex_unlock(&c->lock);
        return r;
}

static int64_t now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the socket; 0 readable, -ETIMEDOUT, or -errno. */
static int wait_readable(int fd, int timeout_ms) {
        int64_t deadline = timeout_ms >= 0 ? now_msec() + timeout_ms : 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };

        for (;;) {
                int left = timeout_ms < 0 ? -1 : (int)MAX(deadline - now_msec(), (int64_t)0);
                int n = poll(&p, 1, left);

                if (n > 0)
                        return 0;
                if (n == 0)
                        return -ETIMEDOUT;
                if (errno != EINTR)
                        return -errno;
        }
}

_public_ int shmb_next_event(shmb_conn *c, struct shmb_event *ret, int timeout_ms) {
        int r = 0;

        if (!c)
                return -EINVAL;
        (void)pthread_mutex_lock(&c->lock);
        if (!c->subscribed)
                r = conn_errorf(c, -EINVAL, "the connection is not subscribed to events (shmb_subscribe())");
        while (r >= 0 && c->n_events == 0) {
                _cleanup_response_ WireResponse *resp = NULL;
                _cleanup_close_ int fd = -1;

                if (c->dead) {
                        r = conn_errorf(c, -ENOTCONN, "the connection to the daemon was lost");
                        break;
                }
                r = wait_readable(c->fd, timeout_ms);
                if (r == -ETIMEDOUT) {
                        r = conn_errorf(c, r, "no event within %d ms", timeout_ms);
                        break;
                }
                if (r < 0) {
                        r = conn_errorf(c, r, "waiting for events failed: %s", errno_text(r));
                        break;
                }
                r = conn_recv_response(c, &resp, &fd);
                if (r >= 0 && resp) {
                        /* No request is in flight: anything but an event breaks the protocol. */
                        conn_mark_dead(c);
                        if (resp->id == 0 && resp->status != SHMBROKER__V1__STATUS__STATUS_OK)
                                r = conn_errorf(c, wire_status_to_errno(resp->status),
                                                "the daemon closed the connection: %s",
                                                resp->error && resp->error[0] ? resp->error
                                                                              : wire_status_name(resp->status));
                        else
                                r = conn_errorf(c, -EPROTO, "the daemon sent response %llu while no request "
                                                "was pending", (unsigned long long)resp->id);
                }
        }
        if (r >= 0) {
                *ret = c->events[c->events_head];
                c->events_head = (c->events_head + 1) % EVENT_RING_MAX;
                c->n_events--;
        }
        (void)pthread_mutex_unlock(&c->lock);
        return r;
}
