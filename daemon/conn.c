/* SPDX-License-Identifier: MIT */
/*
 * Connections. Reading is bounded per wake-up so one busy client cannot
 * starve the others; writing never blocks: what the socket does not take is
 * queued, and a client that lets its queue grow past the limit is dropped,
 * alone.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "rbtree.h"
#include "dispatch.h"
#include "events.h"
#include "introspect.h"
#include "log.h"
#include "publish.h"
#include "region.h"
#include "registry.h"
#include "server.h"
#include "wire-fast.h"

/*
 * Packets handled per readable event. The library sends one request and
 * waits for its answer, so a second receive would nearly always find nothing
 * and cost a system call per request; a client that pipelines is readable
 * again at once (level-triggered), and connections take turns packet by
 * packet.
 */
#define CONN_READ_BUDGET 1

struct OutPacket {
        OutPacket *next;
        int fd;
        size_t len;
        uint8_t data[];
};

static int handle_cmp(const Handle *a, const Handle *b) {
        return a->id < b->id ? -1 : a->id > b->id;
}

RBTREE_GENERATE_STATIC(handle_tree, Handle, by_id, handle_cmp)

static void on_readable(evutil_socket_t fd, short what, void *userdata);
static void on_writable(evutil_socket_t fd, short what, void *userdata);
static void on_hangup(evutil_socket_t fd, short what, void *userdata);
static void on_hangup_retry(evutil_socket_t fd, short what, void *userdata);

static int peer_groups(int fd, gid_t **ret, unsigned *ret_n) {
        socklen_t len = 32 * sizeof(gid_t);
        gid_t *g = NULL;

        for (;;) {
                gid_t *ng = realloc(g, len);

                if (!ng) {
                        free(g);
                        return -ENOMEM;
                }
                g = ng;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) >= 0)
                        break;
                if (errno != ERANGE) {
                        free(g);
                        return -errno;
                }
        }
        *ret = g;
        *ret_n = len / sizeof(gid_t);
        return 0;
}

int conn_new(Conn **ret, Server *s, int fd) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        Conn *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->server = s;
        c->fd = fd;
        c->pidfd = -1;
        c->next_handle = 1;
        c->out_tail = &c->out_head;
        RB_INIT(&c->handles);
        LIST_INIT(&c->owned);

        /* The identity at connect time is the one that counts, never the pid. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                r = -errno;
                goto fail;
        }
        c->uid = cred.uid;
        c->gid = cred.gid;
        c->pid = cred.pid;
        c->pidfd = introspect_peer_pidfd(fd);
        r = peer_groups(fd, &c->groups, &c->n_groups);
        if (r < 0)
                goto fail;
        {
                QuotaCreds cr = conn_quota_creds(c);
                char why[256];

                r = quota_charge_one(&s->quota, &cr, QUOTA_CONNECTIONS, 1, &c->charge, why, sizeof(why));
                if (r > 0) {
                        log_warning("refusing a connection of uid %u pid %d: %s", (unsigned)c->uid, (int)c->pid, why);
                        server_refuse(s, fd, r, why);
                        r = -EDQUOT;
                }
                if (r < 0)
                        goto fail;
        }

        c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_readable, c);
        c->wev = event_new(s->base, fd, EV_WRITE, on_writable, c);
        c->cev = event_new(s->base, fd, EV_READ | EV_CLOSED, on_hangup, c);
        c->cev_retry = evtimer_new(s->base, on_hangup_retry, c);
        if (!c->rev || !c->wev || !c->cev || !c->cev_retry || event_add(c->rev, NULL) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        LIST_INSERT_HEAD(&s->conns, c, link);
        s->n_conns++;
        s->stats.connections_total++;
        c->id = s->stats.connections_total;
        *ret = c;
        return 0;
fail:
        /* Not yet linked into the server: free by hand. */
        if (c->rev)
                event_free(c->rev);
        if (c->wev)
                event_free(c->wev);
        if (c->cev)
                event_free(c->cev);
        quota_release(&c->charge);
        if (c->cev_retry)
                event_free(c->cev_retry);
        free(c->groups);
        safe_close(c->pidfd);
        safe_close(c->fd);
        free(c);
        return r;
}

static void out_clear(Conn *c) {
        OutPacket *p;

        while ((p = c->out_head)) {
                c->out_head = p->next;
                safe_close(p->fd);
                free(p);
        }
        c->out_tail = &c->out_head;
        c->n_out = 0;
}

Conn *conn_free(Conn *c) {
        Handle *h;
        Region *r;

        if (!c)
                return NULL;
        publish_conn_gone(c);
        while ((h = RB_MIN(handle_tree, &c->handles)))
                conn_handle_release(c, h);
        while ((r = LIST_FIRST(&c->owned))) {
                events_emit(c->server, SHMBROKER__V1__EVENT_TYPE__EVENT_DELETE, r, c);
                registry_destroy(&c->server->registry, r);
        }
        if (c->rev)
                event_free(c->rev);
        if (c->wev)
                event_free(c->wev);
        if (c->cev)
                event_free(c->cev);
        if (c->cev_retry)
                event_free(c->cev_retry);
        out_clear(c);
        LIST_REMOVE(c, link);
        quota_release(&c->charge);
        events_conn_gone(c);
        free(c->groups);
        safe_close(c->pidfd);
        safe_close(c->fd);
        free(c);
        return NULL;
}

void conn_kill(Conn *c, int level, const char *why) {
        conn_kill_id(c, level, NULL, why);
}

void conn_kill_id(Conn *c, int level, const char *message_id, const char *why) {
        Server *s = c->server;

        if (c->dead)
                return;
        c->dead = true;
        log_fields(level, LOG_FIELDS(.message_id = message_id, LOG_PEER(c)),
                   "dropping client uid %u pid %d: %s", (unsigned)c->uid, (int)c->pid, why);
        event_del(c->rev);
        event_del(c->wev);
        event_del(c->cev);
        event_del(c->cev_retry);
        LIST_REMOVE(c, link);
        LIST_INSERT_HEAD(&s->dead, c, link);
        s->n_conns--;
        server_schedule_reap(s);
}

static int out_flush(Conn *c) {
        OutPacket *p;
        int r;

        while ((p = c->out_head)) {
                r = wire_send(c->fd, p->data, p->len, p->fd);
                if (r == -EAGAIN || r == -ENOBUFS)
                        return event_add(c->wev, NULL) < 0 ? -ENOMEM : 0;
                if (r < 0)
                        return r;
                c->out_head = p->next;
                if (!c->out_head)
                        c->out_tail = &c->out_head;
                c->n_out--;
                safe_close(p->fd);
                free(p);
        }
        return 0;
}

static int out_enqueue(Conn *c, const uint8_t *data, size_t len, int fd) {
        OutPacket *p;

        if (c->n_out >= c->server->limits.output_queue)
                return -ENOBUFS;
        p = malloc(sizeof(*p) + len);
        if (!p)
                return -ENOMEM;
        p->next = NULL;
        p->len = len;
        p->fd = -1;
        /* The region may be gone before this is sent: the queue owns its own fd. */
        if (fd >= 0) {
                p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (p->fd < 0) {
                        int e = -errno;
                        free(p);
                        return e;
                }
        }
        memcpy(p->data, data, len);
        *c->out_tail = p;
        c->out_tail = &p->next;
        c->n_out++;
        if (c->n_out == 1 && event_add(c->wev, NULL) < 0)
                return -ENOMEM;
        return 0;
}

int conn_send(Conn *c, const WireResponse *resp, int fd) {
        uint8_t *buf = c->server->wbuf;
        size_t len;
        int r;

        if (c->dead)
                return -ENOTCONN;
        /* The hand-written encoder takes the common replies, byte for byte as protobuf-c would. */
        r = wire_pack_response_fast(resp, buf, WIRE_MAX_PACKET, &len);
        if (r == -ENOTSUP)
                r = wire_pack(&resp->base, buf, WIRE_MAX_PACKET, &len);
        if (r < 0) {
                log_error_errno(r, "response to uid %u is larger than %u bytes: %m",
                                (unsigned)c->uid, WIRE_MAX_PACKET);
                conn_kill(c, LOG_ERR, "response too large");
                return r;
        }
        if (!c->out_head) {
                r = wire_send(c->fd, buf, len, fd);
                if (r >= 0)
                        return 0;
                if (r != -EAGAIN && r != -ENOBUFS) {
                        conn_kill(c, LOG_DEBUG, "send failed");
                        return r;
                }
        }
        r = out_enqueue(c, buf, len, fd);
        if (r == -ENOBUFS) {
                char why[128];

                snprintf(why, sizeof(why), "output queue full (%u packets unread)", c->n_out);
                conn_kill(c, LOG_WARNING, why);
        } else if (r < 0)
                conn_kill(c, LOG_ERR, "cannot queue output");
        return r;
}

static void on_writable(evutil_socket_t fd, short what, void *userdata) {
        Conn *c = userdata;

        if (out_flush(c) < 0)
                conn_kill(c, LOG_DEBUG, "send failed");
}

static void on_readable(evutil_socket_t fd, short what, void *userdata) {
        Conn *c = userdata;
        Server *s = c->server;

        for (unsigned i = 0; i < CONN_READ_BUDGET && !c->dead && !c->paused; i++) {
                size_t len;
                int r;

                r = wire_recv(c->fd, s->rbuf, sizeof(s->rbuf), &len, NULL);
                if (r == -EAGAIN || r == -EINTR)
                        return;
                if (r == -ECONNRESET) {
                        conn_kill(c, LOG_DEBUG, "disconnected");
                        return;
                }
                if (r == -EBADMSG) {
                        dispatch_violation(c, 0, "packet truncated, larger than %u bytes, or carrying "
                                           "file descriptors (clients may not send any)",
                                           WIRE_MAX_PACKET);
                        return;
                }
                if (r < 0) {
                        conn_kill(c, LOG_WARNING, "receive failed");
                        return;
                }
                dispatch_packet(c, s->rbuf, len);
        }
}

/*
 * While paused we read nothing, yet must notice a client that gives up, so it
 * holds nothing until a timeout. libevent reports a hang-up (EPOLLHUP) as
 * readable, not as EV_CLOSED, and readable also means "more requests queued":
 * ask the kernel which it is. Queued requests are no hang-up: look again a
 * little later rather than wake up for them in a loop.
 */
static void on_hangup(evutil_socket_t fd, short what, void *userdata) {
        static const struct timeval again = { 0, 200000 };
        Conn *c = userdata;
        struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };

        if ((what & EV_CLOSED) || (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))) {
                conn_kill(c, LOG_DEBUG, "disconnected while a request was pending");
                return;
        }
        (void)evtimer_add(c->cev_retry, &again);
}

static void on_hangup_retry(evutil_socket_t fd, short what, void *userdata) {
        Conn *c = userdata;

        if (c->paused && !c->dead)
                (void)event_add(c->cev, NULL);
}

void conn_pause(Conn *c) {
        if (c->paused || c->dead)
                return;
        c->paused = true;
        event_del(c->rev);
        (void)event_add(c->cev, NULL);
}

void conn_resume(Conn *c) {
        if (!c->paused || c->dead)
                return;
        c->paused = false;
        event_del(c->cev);
        event_del(c->cev_retry);
        if (event_add(c->rev, NULL) < 0)
                conn_kill(c, LOG_ERR, "cannot watch the connection again");
}

bool conn_in_group(const Conn *c, gid_t gid) {
        if (c->gid == gid)
                return true;
        for (unsigned i = 0; i < c->n_groups; i++)
                if (c->groups[i] == gid)
                        return true;
        return false;
}

Handle *conn_handle_add(Conn *c, Region *r, int access, QuotaCharge *charge) {
        Handle *h = calloc(1, sizeof(*h));

        if (!h)
                return NULL;
        if (charge)
                quota_charge_move(&h->charge, charge);
        h->id = c->next_handle++;
        h->region = r;
        h->access = access;
        h->conn = c;
        RB_INSERT(handle_tree, &c->handles, h);
        c->n_handles++;
        LIST_INSERT_HEAD(&r->handles, h, region_link);
        r->n_handles++;
        return h;
}

Handle *conn_handle_find(Conn *c, uint64_t id) {
        Handle key = { .id = id };

        return RB_FIND(handle_tree, &c->handles, &key);
}

void conn_handle_release(Conn *c, Handle *h) {
        Region *r = h->region;

        RB_REMOVE(handle_tree, &c->handles, h);
        c->n_handles--;
        if (r) {
                LIST_REMOVE(h, region_link);
                r->n_handles--;
                events_emit(c->server, SHMBROKER__V1__EVENT_TYPE__EVENT_CLOSE, r, c);
                /* A creator gone before publishing leaves a region nobody could ever use. */
                if (((r->lifetime == SHMBROKER__V1__LIFETIME__LIFETIME_REFCOUNTED || r->orphaned) &&
                     r->n_handles == 0 && !r->in_grace) ||
                    (h->creator && !r->published)) {
                        events_emit(c->server, SHMBROKER__V1__EVENT_TYPE__EVENT_DELETE, r, c);
                        registry_destroy(&c->server->registry, r);
                }
        }
        quota_release(&h->charge);
        free(h);
}
