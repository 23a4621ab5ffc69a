/* SPDX-License-Identifier: MIT */
/*
 * Private state of libshmbroker shared by conn.c, region.c and error.c.
 * The library is compiled with -fvisibility=hidden; only functions marked
 * _public_ (and listed in libshmbroker.sym) leave the shared object.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "macro.h"
#include "shmbroker.h"
#include "wire.h"
#include "wire-fast.h"

#define _public_ __attribute__((visibility("default")))

/* Big enough for a daemon message (they name causes and numbers) plus our prefix. */
#define CONN_ERROR_MAX 1024
/* Closed handles whose release may wait for the next request. */
#define CONN_PENDING_RELEASES 16

struct shmb_conn {
        pthread_mutex_t lock; /* serializes every request/response exchange */
        int fd;
        uint64_t next_id;   /* request ids increase from 1 */
        bool dead;          /* the daemon dropped us or broke the protocol */
        bool lost;          /* dead because the daemon went away: the next call reconnects */
        uint64_t epoch;     /* incremented by every reconnect: older handles are void */
        char path[108];     /* the socket, for reconnecting */
        uint8_t *buf;       /* WIRE_MAX_PACKET bytes: one packet in or out */
        shmb_region *regions; /* live regions, detached by shmb_disconnect() */
        /* Handles closed but not yet released at the daemon: sent in Request.release of the next request. */
        uint64_t pending_release[CONN_PENDING_RELEASES];
        size_t n_pending_release;

        /* From the hello exchange. */
        uint32_t uid, gid;
        bool admin;

        char error[CONN_ERROR_MAX]; /* message of the last failed call */

        /* Events received while waiting for responses: a ring, see events.c. */
        bool subscribed;
        struct shmb_event *events;
        size_t events_head, n_events;
        uint64_t events_lost;       /* dropped here because the ring was full */
};

struct shmb_region {
        shmb_conn *conn;    /* NULL once the connection is gone */
        shmb_region *prev, *next;
        uint64_t handle;    /* the daemon's handle id on conn */
        uint64_t epoch;     /* conn->epoch when the handle was made */
        int fd;
        void *data;         /* NULL when not mapped */
        size_t map_len;
        int access;         /* SHMB_READ or SHMB_READ_WRITE */
        bool creator;       /* made by shmb_create() on this connection */
        bool published;     /* immutable: shmb_publish() done */
        unsigned seals;     /* F_SEAL_* seen on fd at the last check */
        struct shmb_region_info info;
};

/* error.c */
/* Formats the connection's error message and returns err (negative). */
int conn_errorf(shmb_conn *c, int err, const char *fmt, ...) _printf_(3, 4);
/* The thread's message for the last failed shmb_connect(). */
int connect_errorf(int err, const char *fmt, ...) _printf_(2, 3);
extern __thread char connect_error[CONN_ERROR_MAX];

/* conn.c */
/*
 * Sends req (its id is assigned here) and waits for the response; c->lock
 * must be held. On success *ret is the unpacked response, whose body is
 * expect_case; when ret_fd is non-NULL the response must carry exactly one
 * descriptor, returned in *ret_fd, otherwise it must carry none. On failure
 * the connection's message is set and a negative errno-style code returned.
 */
int conn_call(shmb_conn *c, WireRequest *req, int expect_case, WireResponse **ret, int *ret_fd);
/* Receives one packet: *ret NULL when it was an event, queued. Sets *ret_fd (or -1). */
int conn_recv_response(shmb_conn *c, WireResponse **ret, int *ret_fd);
void conn_mark_dead(shmb_conn *c);
/*
 * Sends req without waiting: for requests the daemon answers with nothing
 * (CloseRequest.no_reply). c->lock must be held.
 */
int conn_post(shmb_conn *c, WireRequest *req);
/* Releases a daemon handle without a round trip, keeping the connection's message unchanged. */
void conn_release_handle_quiet(shmb_conn *c, uint64_t handle);
/*
 * Releases a daemon handle with the connection's next request (or its own
 * packet once CONN_PENDING_RELEASES wait), keeping the message unchanged.
 */
void conn_release_handle_deferred(shmb_conn *c, uint64_t handle);
/* Sends the deferred releases now, in one packet without a reply. c->lock must be held. */
int conn_flush_releases(shmb_conn *c);
/* The same, waiting for the daemon's reply (refcounted regions). */
void conn_release_handle_sync(shmb_conn *c, uint64_t handle);
/* Deletes a name, keeping the connection's message unchanged. */
void conn_delete_quiet(shmb_conn *c, const char *name);
void conn_link_region(shmb_conn *c, shmb_region *r);
void conn_unlink_region(shmb_conn *c, shmb_region *r);
/* Checks a region name, setting the connection's message on failure. */
int conn_check_name(shmb_conn *c, const char *name);

/* events.c */
/* Appends a received event to the ring (counting it as lost when full). */
int conn_queue_event(shmb_conn *c, const Shmbroker__V1__Event *ev);

/* region.c */
/* Converts the daemon's description, refusing what the protocol rules out. */
int region_info_from_wire(shmb_conn *c, const WireRegion *w, struct shmb_region_info *ret);

static inline void response_freep(WireResponse **p) {
        if (*p)
                wire_response_free(*p);
}
#define _cleanup_response_ _cleanup_(response_freep)

/* Thread-safe text of a system error (err negative or positive). */
static inline const char *errno_text(int err) {
        const char *s = strerrordesc_np(err < 0 ? -err : err);
        return s ? s : "unknown error";
}
