/* SPDX-License-Identifier: MIT */
/*
 * One client connection: its socket and events, the identity the kernel
 * reported at connect (SO_PEERCRED, SO_PEERGROUPS), its output queue, the
 * handles it holds and the regions whose lifetime it owns.
 *
 * A connection is never freed inside a call that may still use it:
 * conn_kill() only marks it dead and moves it to the server's dead list,
 * which is reaped from an event of its own.
 */
#pragma once

#include <bsd/sys/queue.h>
#include <bsd/sys/tree.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "quota.h"
#include "wire.h"

typedef struct Region Region;
typedef struct Server Server;
typedef struct OutPacket OutPacket;
typedef struct Waiter Waiter;
typedef struct PublishJob PublishJob;

struct Handle {
        RB_ENTRY(Handle) by_id;
        LIST_ENTRY(Handle) region_link;
        uint64_t id;
        Region *region; /* NULL once the region was destroyed */
        int access;     /* SHMBROKER__V1__ACCESS__* */
        bool creator;   /* made by create: may map writable, publish */
        QuotaCharge charge; /* one handle of the connection's uid */
};
typedef struct Handle Handle;

RB_HEAD(handle_tree, Handle);

struct Conn {
        Server *server;
        LIST_ENTRY(Conn) link; /* in server->conns, or server->dead once dead */
        int fd;
        struct event *rev;
        struct event *wev;
        struct event *cev;     /* peer hang-up while paused */
        struct event *cev_retry; /* re-arms cev after unread requests woke it */
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *groups;
        unsigned n_groups;
        bool hello_done;
        bool dead;
        bool paused;           /* a request is pending: read nothing more */
        Waiter *waiter;        /* parked open */
        PublishJob *job;       /* publish in flight */
        uint64_t next_handle;
        struct handle_tree handles;
        unsigned n_handles;
        LIST_HEAD(, Region) owned;
        OutPacket *out_head;
        OutPacket **out_tail;
        unsigned n_out;
        QuotaCharge charge;    /* one connection of uid */
};
typedef struct Conn Conn;

/* Takes ownership of fd (accepted, non-blocking, close-on-exec). */
int conn_new(Conn **ret, Server *s, int fd);
/* Releases handles (destroying refcounted regions left unheld) and owned regions. */
Conn *conn_free(Conn *c);
/* Marks the connection dead; it is freed later by the server. */
void conn_kill(Conn *c, int level, const char *why);
/*
 * Packs and sends resp, attaching fd when >= 0 (the caller keeps its fd).
 * When the socket is full the packet is queued (with a duplicate of fd);
 * a queue beyond the limit kills the connection. Returns 0 or -errno; on
 * failure the connection is already dead.
 */
int conn_send(Conn *c, const WireResponse *resp, int fd);
bool conn_in_group(const Conn *c, gid_t gid);
/* Stops reading requests until conn_resume(); a hang-up still kills c. */
void conn_pause(Conn *c);
void conn_resume(Conn *c);

/* The identity quotas are resolved with. */
static inline QuotaCreds conn_quota_creds(const Conn *c) {
        return (QuotaCreds){ .uid = c->uid, .gid = c->gid, .groups = c->groups, .n_groups = c->n_groups };
}

/* charge (may be NULL) is moved into the handle, which releases it when freed. */
Handle *conn_handle_add(Conn *c, Region *r, int access, QuotaCharge *charge);
Handle *conn_handle_find(Conn *c, uint64_t id);
/* Releases h; destroys its region when refcounted and this was the last handle. */
void conn_handle_release(Conn *c, Handle *h);
