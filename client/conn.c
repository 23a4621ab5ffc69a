/* SPDX-License-Identifier: MIT */
/*
 * A connection to shmbrokerd: one blocking SOCK_SEQPACKET socket, one
 * request in flight at a time under a mutex, so responses can only ever be
 * the one awaited and a multi-threaded caller needs no locking of its own.
 * Anything that breaks the exchange (EOF, truncation, an undecodable or
 * unexpected response) marks the connection dead and shuts the socket down:
 * we cannot know what the daemon thinks happened, so the only safe state is
 * the one where it has released everything this connection held.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client-internal.h"
#include "util.h"

void conn_mark_dead(shmb_conn *c) {
        if (c->dead)
                return;
        c->dead = true;
        /* The daemon sees EOF and releases our handles; poll() on
         * shmb_conn_fd() reports the socket readable from now on. */
        (void)shutdown(c->fd, SHUT_RDWR);
}

/*
 * The daemon may refuse a connection (a connection limit or quota) with one
 * id-0 notice and close before our first send: read that notice, still
 * queued on the socket, so the caller learns why.
 */
static int conn_refusal(shmb_conn *c) {
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_close_ int fd = -1;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        size_t len;
        int r;

        /*
         * A close with our request unread gives ECONNRESET once, before the
         * queued notice: that error is consumed by the first receive.
         */
        for (int i = 0;; i++) {
                if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLERR | POLLHUP)))
                        return 0;
                r = wire_recv(c->fd, c->buf, WIRE_MAX_PACKET, &len, &fd);
                if (r >= 0)
                        break;
                if ((r != -ECONNRESET && r != -EINTR) || i >= 2)
                        return 0;
        }
        resp = shmbroker__v1__response__unpack(NULL, len, c->buf);
        if (!resp || resp->id != 0 || resp->status == SHMBROKER__V1__STATUS__STATUS_OK)
                return 0;
        return conn_errorf(c, wire_status_to_errno(resp->status), "the daemon closed the connection: %s",
                           resp->error && resp->error[0] ? resp->error : wire_status_name(resp->status));
}


/* How an exchange ended when the daemon went away. */
enum { LOST_NONE, LOST_AT_SEND, LOST_AT_RECV };

static int conn_send(shmb_conn *c, WireRequest *req, int *lost) {
        size_t len;
        int r;

        /* Deferred releases ride along (Request.release); the daemon carries them out first. */
        req->n_release = c->n_pending_release;
        req->release = c->pending_release;
        r = wire_pack_request_fast(req, c->buf, WIRE_MAX_PACKET, &len);
        if (r == -ENOTSUP)
                r = wire_pack(&req->base, c->buf, WIRE_MAX_PACKET, &len);
        req->n_release = 0;
        req->release = NULL;
        if (r < 0)
                return conn_errorf(c, r == -EMSGSIZE ? -EINVAL : r,
                                   "request does not fit in a packet of %u bytes", WIRE_MAX_PACKET);

        do
                r = wire_send(c->fd, c->buf, len, -1);
        while (r == -EINTR);
        if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN) {
                /* A refusal notice explains it; otherwise the daemon never saw this request. */
                r = conn_refusal(c);
                conn_mark_dead(c);
                if (r < 0)
                        return r;
                *lost = LOST_AT_SEND;
                return conn_errorf(c, -ENOTCONN, "the daemon closed the connection");
        }
        if (r < 0)
                return conn_errorf(c, r, "sending a request of %zu bytes to the daemon failed: %s",
                                   len, errno_text(r));
        c->n_pending_release = 0;
        return 0;
}

static const char *status_text(const WireResponse *resp) {
        return resp->error && resp->error[0] ? resp->error : wire_status_name(resp->status);
}

int conn_post(shmb_conn *c, WireRequest *req) {
        int lost;

        if (c->dead)
                return conn_errorf(c, -ENOTCONN, "the connection to the daemon was lost by an earlier call");
        req->id = c->next_id++;
        return conn_send(c, req, &lost);
}

/*
 * Receives and decodes one packet. An event (id 0, STATUS_OK, body event)
 * on a subscribed connection is queued and reported as 0 with *ret NULL.
 * *lost says whether the daemon went away.
 */
static int recv_response(shmb_conn *c, WireResponse **ret, int *ret_fd, int *lost) {
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_close_ int fd = -1;
        size_t len;
        int r;

        do
                r = wire_recv(c->fd, c->buf, WIRE_MAX_PACKET, &len, &fd);
        while (r == -EINTR);
        if (r == -ECONNRESET) {
                r = conn_refusal(c);
                conn_mark_dead(c);
                if (r < 0)
                        return r;
                *lost = LOST_AT_RECV;
                return conn_errorf(c, -ENOTCONN, "the daemon closed the connection");
        }
        if (r == -EBADMSG) {
                conn_mark_dead(c);
                return conn_errorf(c, -EPROTO,
                                   "the daemon sent a truncated packet or more than one descriptor");
        }
        if (r < 0) {
                conn_mark_dead(c);
                return conn_errorf(c, r, "receiving from the daemon failed: %s", errno_text(r));
        }

        /* The hand-written decoder takes the common replies; protobuf-c everything else. */
        r = wire_unpack_response_fast(c->buf, len, &resp);
        if (r == -ENOMEM) {
                /* The response is lost: the exchange cannot be trusted any more. */
                conn_mark_dead(c);
                return conn_errorf(c, r, "out of memory decoding a %zu-byte response", len);
        }
        if (r < 0)
                resp = shmbroker__v1__response__unpack(NULL, len, c->buf);
        if (!resp) {
                conn_mark_dead(c);
                return conn_errorf(c, -EPROTO, "the daemon sent an undecodable response of %zu bytes", len);
        }
        if (resp->id == 0 && resp->status == SHMBROKER__V1__STATUS__STATUS_OK &&
            resp->body_case == SHMBROKER__V1__RESPONSE__BODY_EVENT) {
                if (!c->subscribed || fd >= 0 || !resp->event) {
                        conn_mark_dead(c);
                        return conn_errorf(c, -EPROTO, "the daemon sent an event %s",
                                           !c->subscribed ? "to a connection that did not subscribe"
                                                          : "with a descriptor or without a body");
                }
                r = conn_queue_event(c, resp->event);
                if (r < 0) {
                        conn_mark_dead(c);
                        return r;
                }
                *ret = NULL;
                return 0;
        }
        *ret_fd = TAKE_FD(fd);
        *ret = TAKE_PTR(resp);
        return 0;
}

int conn_recv_response(shmb_conn *c, WireResponse **ret, int *ret_fd) {
        int lost = LOST_NONE;

        return recv_response(c, ret, ret_fd, &lost);
}

/* One request and its response on the current socket; *lost says whether the daemon went away. */
static int conn_exchange(shmb_conn *c, WireRequest *req, int expect_case, WireResponse **ret, int *ret_fd,
                         int *lost) {
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        *lost = LOST_NONE;
        req->id = c->next_id++;
        r = conn_send(c, req, lost);
        if (r < 0)
                return r;

        /*
         * Only one request is ever in flight, so the next packet must be its
         * response, an event (queued for shmb_next_event()), or an id-0
         * notice that the daemon is dropping us.
         */
        do {
                r = recv_response(c, &resp, &fd, lost);
                if (r < 0)
                        return r;
        } while (!resp);

        if (resp->id != req->id) {
                conn_mark_dead(c);
                if (resp->id == 0 && resp->status != SHMBROKER__V1__STATUS__STATUS_OK)
                        return conn_errorf(c, wire_status_to_errno(resp->status),
                                           "the daemon closed the connection: %s", status_text(resp));
                return conn_errorf(c, -EPROTO, "the daemon answered request %" PRIu64 " with id %" PRIu64,
                                   req->id, resp->id);
        }

        if (resp->status != SHMBROKER__V1__STATUS__STATUS_OK) {
                if (fd >= 0)
                        return conn_errorf(c, -EPROTO,
                                           "the daemon attached a descriptor to a failed response (%s)",
                                           status_text(resp));
                return conn_errorf(c, wire_status_to_errno(resp->status), "%s", status_text(resp));
        }

        if ((int)resp->body_case != expect_case)
                return conn_errorf(c, -EPROTO, "the daemon answered request type %d with response type %d",
                                   expect_case, (int)resp->body_case);
        if (ret_fd && fd < 0)
                return conn_errorf(c, -EPROTO, "the daemon sent no descriptor with its response");
        if (!ret_fd && fd >= 0)
                return conn_errorf(c, -EPROTO, "the daemon attached a descriptor to a response that has none");

        if (ret_fd)
                *ret_fd = TAKE_FD(fd);
        *ret = TAKE_PTR(resp);
        return 0;
}

static int conn_reconnect(shmb_conn *c);

/* Requests whose repetition changes nothing, so they may be sent again when the daemon died on them. */
static bool request_is_idempotent(int body_case) {
        switch (body_case) {
        case SHMBROKER__V1__REQUEST__BODY_HELLO:
        case SHMBROKER__V1__REQUEST__BODY_STAT:
        case SHMBROKER__V1__REQUEST__BODY_LIST:
        /* A handle made by a daemon that then died died with it. */
        case SHMBROKER__V1__REQUEST__BODY_OPEN:
                return true;
        default:
                return false;
        }
}

/* Requests naming a handle: a handle is only valid on the connection, and daemon, that made it. */
static bool request_names_handle(int body_case) {
        switch (body_case) {
        case SHMBROKER__V1__REQUEST__BODY_CLOSE:
        case SHMBROKER__V1__REQUEST__BODY_MAPPED:
        case SHMBROKER__V1__REQUEST__BODY_PUBLISH:
                return true;
        default:
                return false;
        }
}

/*
 * The reconnect rule (docs/protocol.md): when the daemon went away (it was
 * restarted, crashed, or killed by the watchdog) the library connects again
 * to the same path, once, and says hello. The request is then sent again if
 * the daemon cannot have acted on it: it was refused at send, or it is one
 * that may be repeated (hello, stat, list, open). A create or delete that
 * reached a daemon which died before answering is not repeated: the caller
 * gets -ENOTCONN and can check with shmb_stat(). Requests naming a handle
 * from before the reconnect are never sent again.
 */
int conn_call(shmb_conn *c, WireRequest *req, int expect_case, WireResponse **ret, int *ret_fd) {
        int r, lost, body = (int)req->body_case;

        if (c->dead) {
                if (!c->lost)
                        return conn_errorf(c, -ENOTCONN, "the connection to the daemon was lost by an earlier call");
                if (request_names_handle(body))
                        return conn_errorf(c, -ENOTCONN, "the daemon was restarted: handles from before are void");
                r = conn_reconnect(c);
                if (r < 0)
                        return r;
        }
        r = conn_exchange(c, req, expect_case, ret, ret_fd, &lost);
        if (lost == LOST_NONE)
                return r;
        c->lost = true;
        if (request_names_handle(body) || (lost == LOST_AT_RECV && !request_is_idempotent(body)))
                return lost == LOST_AT_RECV && !request_names_handle(body)
                               ? conn_errorf(c, -ENOTCONN, "the daemon closed the connection before answering; "
                                             "it may or may not have carried out the request")
                               : r;
        r = conn_reconnect(c);
        if (r < 0)
                return r;
        r = conn_exchange(c, req, expect_case, ret, ret_fd, &lost);
        if (lost != LOST_NONE)
                c->lost = true;
        return r;
}

void conn_release_handle_quiet(shmb_conn *c, uint64_t handle) {
        Shmbroker__V1__CloseRequest close_req = SHMBROKER__V1__CLOSE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        char saved[CONN_ERROR_MAX];

        if (c->dead)
                return;
        memcpy(saved, c->error, sizeof(saved));
        /* No reply to wait for: releasing a handle costs one send, not a round trip. */
        close_req.handle = handle;
        close_req.no_reply = true;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CLOSE;
        req.close = &close_req;
        (void)conn_post(c, &req);
        memcpy(c->error, saved, sizeof(saved));
}

int conn_flush_releases(shmb_conn *c) {
        Shmbroker__V1__CloseRequest close_req = SHMBROKER__V1__CLOSE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        if (c->n_pending_release == 0 || c->dead)
                return 0;
        /* The last one as a close without reply, the others in its Request.release. */
        close_req.handle = c->pending_release[--c->n_pending_release];
        close_req.no_reply = true;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CLOSE;
        req.close = &close_req;
        return conn_post(c, &req);
}

void conn_release_handle_deferred(shmb_conn *c, uint64_t handle) {
        char saved[CONN_ERROR_MAX];

        if (c->dead)
                return;
        if (c->n_pending_release == CONN_PENDING_RELEASES) {
                memcpy(saved, c->error, sizeof(saved));
                (void)conn_flush_releases(c);
                memcpy(c->error, saved, sizeof(saved));
        }
        if (!c->dead)
                c->pending_release[c->n_pending_release++] = handle;
}

void conn_release_handle_sync(shmb_conn *c, uint64_t handle) {
        Shmbroker__V1__CloseRequest close_req = SHMBROKER__V1__CLOSE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        char saved[CONN_ERROR_MAX];

        if (c->dead)
                return;
        memcpy(saved, c->error, sizeof(saved));
        close_req.handle = handle;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CLOSE;
        req.close = &close_req;
        /* NOT_FOUND (the region was deleted) or a lost connection: released all the same. */
        (void)conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_CLOSE, &resp, NULL);
        memcpy(c->error, saved, sizeof(saved));
}

void conn_delete_quiet(shmb_conn *c, const char *name) {
        Shmbroker__V1__DeleteRequest delete_req = SHMBROKER__V1__DELETE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        char saved[CONN_ERROR_MAX];

        if (c->dead)
                return;
        memcpy(saved, c->error, sizeof(saved));
        delete_req.name = (char *)name;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_DELETE;
        req.delete_ = &delete_req;
        (void)conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_DELETE, &resp, NULL);
        memcpy(c->error, saved, sizeof(saved));
}

void conn_link_region(shmb_conn *c, shmb_region *r) {
        r->conn = c;
        r->epoch = c->epoch;
        r->prev = NULL;
        r->next = c->regions;
        if (c->regions)
                c->regions->prev = r;
        c->regions = r;
}

void conn_unlink_region(shmb_conn *c, shmb_region *r) {
        if (r->prev)
                r->prev->next = r->next;
        else if (c->regions == r)
                c->regions = r->next;
        if (r->next)
                r->next->prev = r->prev;
        r->prev = r->next = NULL;
        r->conn = NULL;
}

int conn_check_name(shmb_conn *c, const char *name) {
        const char *why;

        if (!name)
                return conn_errorf(c, -EINVAL, "region name is NULL");
        if (!name_is_valid(name, strlen(name), &why))
                return conn_errorf(c, -EINVAL, "region name %s", why);
        return 0;
}

static shmb_conn *conn_free(shmb_conn *c) {
        if (!c)
                return NULL;
        safe_close(c->fd);
        free(c->buf);
        free(c->events);
        (void)pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(shmb_conn *, conn_free);

/* A blocking connect() interrupted by a signal goes on in the background. */
static int connect_finish(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        socklen_t sl = sizeof(int);
        int err = 0;

        for (;;) {
                if (poll(&p, 1, -1) >= 0)
                        break;
                if (errno != EINTR)
                        return -errno;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
                return -errno;
        return -err;
}

static int conn_hello(shmb_conn *c) {
        Shmbroker__V1__HelloRequest hello = SHMBROKER__V1__HELLO_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        const Shmbroker__V1__HelloReply *reply;
        char client[64];
        int r, lost;

        /* Free text for the daemon's log: printable ASCII only, bounded. */
        snprintf(client, sizeof(client), "%s", program_invocation_short_name);
        for (char *p = client; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        *p = '?';

        hello.version = WIRE_PROTOCOL_VERSION;
        hello.client = client;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_HELLO;
        req.hello = &hello;

        r = conn_exchange(c, &req, SHMBROKER__V1__RESPONSE__BODY_HELLO, &resp, NULL, &lost);
        if (r < 0)
                return r;

        reply = resp->hello;
        if (!reply)
                return conn_errorf(c, -EPROTO, "the daemon's hello reply is empty");
        if (reply->version != WIRE_PROTOCOL_VERSION)
                return conn_errorf(c, -EPROTONOSUPPORT,
                                   "the daemon speaks protocol version %" PRIu32 ", this library %u",
                                   reply->version, WIRE_PROTOCOL_VERSION);
        c->uid = reply->uid;
        c->gid = reply->gid;
        c->admin = reply->admin;
        return 0;
}

/* Replaces a connection the daemon dropped by going away with a new one to the same path. */
static int conn_reconnect(shmb_conn *c) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        int r, old;

        memcpy(sa.sun_path, c->path, sizeof(c->path));
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return conn_errorf(c, -ENOTCONN, "the daemon went away and a new socket cannot be made: %s",
                                   errno_text(-errno));
        if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = errno == EINTR ? connect_finish(fd) : -errno;
                if (r < 0)
                        return conn_errorf(c, -ENOTCONN, "the daemon went away and reconnecting to %s failed: %s",
                                           c->path, errno_text(r));
        }
        old = c->fd;
        c->fd = TAKE_FD(fd);
        c->dead = false;
        /* Deferred releases were for the old connection's handles, released when it ended. */
        c->n_pending_release = 0;
        r = conn_hello(c);
        if (r < 0) {
                /* Keep the new socket (shut down) so that shmb_conn_fd() stays valid. */
                safe_close(old);
                conn_mark_dead(c);
                return conn_errorf(c, -ENOTCONN, "the daemon went away and hello on the new connection "
                                   "failed: %s", c->error);
        }
        safe_close(old);
        c->lost = false;
        /* Handles held so far belonged to the old connection: they are void now. */
        c->epoch++;
        return 0;
}

_public_ int shmb_connect(const char *socket_path, shmb_conn **ret) {
        _cleanup_(conn_freep) shmb_conn *c = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char path[sizeof(sa.sun_path) + 1];
        int r;

        connect_error[0] = 0;
        if (!ret)
                return connect_errorf(-EINVAL, "no place to return the connection");

        if (socket_path) {
                if (!socket_path[0])
                        return connect_errorf(-EINVAL, "the socket path is empty");
                if (strlen(socket_path) >= sizeof(sa.sun_path))
                        return connect_errorf(-ENAMETOOLONG, "socket path is %zu bytes, at most %zu fit",
                                              strlen(socket_path), sizeof(sa.sun_path) - 1);
                memcpy(sa.sun_path, socket_path, strlen(socket_path));
        } else {
                r = socket_path_client_default(path, sizeof(path));
                if (r < 0)
                        return connect_errorf(r, "no default socket path: %s", errno_text(r));
                if (strlen(path) >= sizeof(sa.sun_path))
                        return connect_errorf(-ENAMETOOLONG, "socket path is %zu bytes, at most %zu fit",
                                              strlen(path), sizeof(sa.sun_path) - 1);
                memcpy(sa.sun_path, path, strlen(path));
        }

        c = calloc(1, sizeof(*c));
        if (!c)
                return connect_errorf(-ENOMEM, "out of memory");
        c->fd = -1;
        c->next_id = 1;
        r = pthread_mutex_init(&c->lock, NULL);
        if (r != 0) {
                free(TAKE_PTR(c));
                return connect_errorf(-r, "cannot create a mutex: %s", errno_text(-r));
        }
        c->buf = malloc(WIRE_MAX_PACKET);
        if (!c->buf)
                return connect_errorf(-ENOMEM, "out of memory");

        memcpy(c->path, sa.sun_path, sizeof(c->path));
        c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return connect_errorf(-errno, "cannot create a socket: %s", errno_text(-errno));

        if (connect(c->fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = errno == EINTR ? connect_finish(c->fd) : -errno;
                if (r < 0)
                        return connect_errorf(r, "cannot connect to %s: %s", sa.sun_path, errno_text(r));
        }

        r = conn_hello(c);
        if (r < 0)
                return connect_errorf(r, "hello to %s failed: %s", sa.sun_path, c->error);

        c->error[0] = 0;
        *ret = TAKE_PTR(c);
        return 0;
}

_public_ void shmb_disconnect(shmb_conn *c) {
        if (!c)
                return;

        /* Regions outlive the connection: their shmb_close() then only unmaps. */
        (void)pthread_mutex_lock(&c->lock);
        while (c->regions)
                conn_unlink_region(c, c->regions);
        (void)pthread_mutex_unlock(&c->lock);

        conn_free(c);
}

_public_ int shmb_flush(shmb_conn *c) {
        int r;

        if (!c)
                return -EINVAL;
        (void)pthread_mutex_lock(&c->lock);
        /* After a restart the deferred releases died with the old connection: nothing to send. */
        r = c->dead && !c->lost ? conn_errorf(c, -ENOTCONN, "the connection to the daemon was lost by an earlier call")
                                : conn_flush_releases(c);
        (void)pthread_mutex_unlock(&c->lock);
        return r;
}

_public_ int shmb_conn_fd(const shmb_conn *c) {
        if (!c)
                return -EINVAL;
        return c->fd;
}

_public_ const char *shmb_conn_error(const shmb_conn *c) {
        if (!c)
                return connect_error;
        return c->error;
}

_public_ int shmb_delete(shmb_conn *c, const char *name) {
        Shmbroker__V1__DeleteRequest delete_req = SHMBROKER__V1__DELETE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        int r;

        if (!c)
                return -EINVAL;

        (void)pthread_mutex_lock(&c->lock);
        r = conn_check_name(c, name);
        if (r >= 0) {
                delete_req.name = (char *)name;
                req.body_case = SHMBROKER__V1__REQUEST__BODY_DELETE;
                req.delete_ = &delete_req;
                r = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_DELETE, &resp, NULL);
        }
        (void)pthread_mutex_unlock(&c->lock);
        return r;
}

_public_ int shmb_stat(shmb_conn *c, const char *name, struct shmb_region_info *ret) {
        Shmbroker__V1__StatRequest stat_req = SHMBROKER__V1__STAT_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        struct shmb_region_info info;
        int r;

        if (!c)
                return -EINVAL;

        (void)pthread_mutex_lock(&c->lock);
        r = conn_check_name(c, name);
        if (r >= 0 && !ret)
                r = conn_errorf(c, -EINVAL, "no place to return the region's attributes");
        if (r >= 0) {
                stat_req.name = (char *)name;
                req.body_case = SHMBROKER__V1__REQUEST__BODY_STAT;
                req.stat = &stat_req;
                r = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_STAT, &resp, NULL);
        }
        if (r >= 0 && (!resp->stat || !resp->stat->region))
                r = conn_errorf(c, -EPROTO, "the daemon's stat reply for '%s' has no region", name);
        if (r >= 0)
                r = region_info_from_wire(c, resp->stat->region, &info);
        if (r >= 0 && strcmp(info.name, name) != 0)
                r = conn_errorf(c, -EPROTO, "stat of region '%s' answered for region '%s'", name, info.name);
        (void)pthread_mutex_unlock(&c->lock);

        if (r >= 0)
                *ret = info;
        return r;
}

/* One page of a listing, copied so that no lock is held while calling back. */
static int list_page(shmb_conn *c, const char *prefix, char after[static SHMB_NAME_MAX + 1],
                     struct shmb_region_info **ret, size_t *ret_n, bool *ret_more) {
        Shmbroker__V1__ListRequest list_req = SHMBROKER__V1__LIST_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_free_ struct shmb_region_info *infos = NULL;
        const Shmbroker__V1__ListReply *reply;
        const char *prev = after;
        int r;

        list_req.prefix = (char *)prefix;
        list_req.after = (char *)after;
        list_req.limit = 0;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_LIST;
        req.list = &list_req;

        r = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_LIST, &resp, NULL);
        if (r < 0)
                return r;
        reply = resp->list;
        if (!reply)
                return conn_errorf(c, -EPROTO, "the daemon's list reply is empty");

        /*
         * The cursor must advance, or a broken daemon would make us ask
         * forever. Pages may be empty: the daemon skips regions we cannot see.
         */
        if (reply->more && (strlen(reply->next_after) > SHMB_NAME_MAX || strcmp(reply->next_after, after) <= 0))
                return conn_errorf(c, -EPROTO, "the daemon's list cursor '%.*s' does not advance past '%s'",
                                   SHMB_NAME_MAX, reply->next_after, after);

        if (reply->n_regions > 0) {
                infos = calloc(reply->n_regions, sizeof(*infos));
                if (!infos)
                        return conn_errorf(c, -ENOMEM, "out of memory for %zu region descriptions",
                                           reply->n_regions);
        }
        for (size_t i = 0; i < reply->n_regions; i++) {
                r = region_info_from_wire(c, reply->regions[i], &infos[i]);
                if (r < 0)
                        return r;
                /* Strictly increasing names: pages always advance, no duplicates. */
                if (strcmp(infos[i].name, prev) <= 0)
                        return conn_errorf(c, -EPROTO, "the daemon listed '%s' after '%s'",
                                           infos[i].name, prev);
                if (strncmp(infos[i].name, prefix, strlen(prefix)) != 0)
                        return conn_errorf(c, -EPROTO, "the daemon listed '%s' for prefix '%s'",
                                           infos[i].name, prefix);
                prev = infos[i].name;
        }

        if (reply->more)
                strcpy(after, reply->next_after);
        *ret_n = reply->n_regions;
        *ret_more = reply->more;
        *ret = TAKE_PTR(infos);
        return 0;
}

_public_ int shmb_list(shmb_conn *c, const char *prefix, shmb_list_fn fn, void *userdata) {
        char after[SHMB_NAME_MAX + 1] = "";
        bool more = true;
        int r;

        if (!c)
                return -EINVAL;
        if (!prefix)
                prefix = "";

        (void)pthread_mutex_lock(&c->lock);
        if (!fn)
                r = conn_errorf(c, -EINVAL, "no callback given");
        else if (strlen(prefix) > SHMB_NAME_MAX)
                r = conn_errorf(c, -EINVAL, "prefix is %zu bytes, names at most %d", strlen(prefix),
                                SHMB_NAME_MAX);
        else
                r = 0;
        (void)pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;

        while (more) {
                _cleanup_free_ struct shmb_region_info *infos = NULL;
                size_t n = 0;

                (void)pthread_mutex_lock(&c->lock);
                r = list_page(c, prefix, after, &infos, &n, &more);
                (void)pthread_mutex_unlock(&c->lock);
                if (r < 0)
                        return r;

                for (size_t i = 0; i < n; i++) {
                        r = fn(&infos[i], userdata);
                        if (r != 0)
                                return r;
                }
        }
        return 0;
}
