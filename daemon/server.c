/* SPDX-License-Identifier: MIT */
/*
 * The event loop: accept, signals, and reaping of dead connections. The loop
 * is single-threaded, so every handler runs to completion and none may block.
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <sys/socket.h>
#include <unistd.h>

#include "introspect.h"
#include "log.h"
#include "sealer.h"
#include "util.h"
#include "server.h"

static void on_accept(evutil_socket_t fd, short what, void *userdata);

static void on_signal(evutil_socket_t sig, short what, void *userdata) {
        Server *s = userdata;

        log_info("received %s, shutting down", strsignal((int)sig));
        event_base_loopbreak(s->base);
}

static void on_reap(evutil_socket_t fd, short what, void *userdata) {
        Server *s = userdata;
        Conn *c;

        while ((c = LIST_FIRST(&s->dead)))
                conn_free(c);
}

static void on_listen_retry(evutil_socket_t fd, short what, void *userdata) {
        Server *s = userdata;

        event_add(s->listen_ev, NULL);
}

/* Live counts for `systemctl status`; sent only when they changed. */
static void notify_status(Server *s) {
        char status[sizeof(s->last_status)], size[SIZE_FORMAT_MAX], locked[SIZE_FORMAT_MAX];

        snprintf(status, sizeof(status), "regions: %u (%s, %s locked), connections: %u", s->registry.n_regions,
                 size_format(s->registry.total_bytes, size, sizeof(size)),
                 size_format(s->quota.locked_total, locked, sizeof(locked)), s->n_conns);
        if (strcmp(status, s->last_status) == 0)
                return;
        strcpy(s->last_status, status);
        (void)sd_notifyf(0, "STATUS=%s", status);
}

static void on_status(evutil_socket_t fd, short what, void *userdata) {
        notify_status(userdata);
}

static void on_watchdog(evutil_socket_t fd, short what, void *userdata) {
        (void)sd_notify(0, "WATCHDOG=1");
}

void server_schedule_reap(Server *s) {
        event_active(s->reap_ev, EV_TIMEOUT, 0);
}

int server_new(Server **ret, int listen_fd, const char *bound_path, const Limits *limits) {
        Server *s;

        s = calloc(1, sizeof(*s));
        if (!s) {
                safe_close(listen_fd);
                return -ENOMEM;
        }
        s->listen_fd = listen_fd;
        s->limits = *limits;
        s->stats.started_usec = introspect_monotonic_usec();
        registry_init(&s->registry);
        quota_init(&s->quota);
        LIST_INIT(&s->conns);
        LIST_INIT(&s->dead);
        if (bound_path) {
                s->bound_path = strdup(bound_path);
                if (!s->bound_path)
                        goto oom;
        }
        s->base = event_base_new();
        if (!s->base)
                goto oom;
        s->listen_ev = event_new(s->base, listen_fd, EV_READ | EV_PERSIST, on_accept, s);
        s->listen_retry_ev = evtimer_new(s->base, on_listen_retry, s);
        s->sigterm_ev = evsignal_new(s->base, SIGTERM, on_signal, s);
        s->sigint_ev = evsignal_new(s->base, SIGINT, on_signal, s);
        s->reap_ev = event_new(s->base, -1, 0, on_reap, s);
        if (!s->listen_ev || !s->listen_retry_ev || !s->sigterm_ev || !s->sigint_ev || !s->reap_ev)
                goto oom;
        if (sealer_new(&s->sealer, s->base) < 0)
                goto oom;
        s->status_ev = event_new(s->base, -1, EV_PERSIST, on_status, s);
        s->watchdog_ev = event_new(s->base, -1, EV_PERSIST, on_watchdog, s);
        if (!s->status_ev || !s->watchdog_ev)
                goto oom;
        if (event_add(s->listen_ev, NULL) < 0 || event_add(s->sigterm_ev, NULL) < 0 ||
            event_add(s->sigint_ev, NULL) < 0)
                goto oom;
        *ret = s;
        return 0;
oom:
        server_free(s);
        return -ENOMEM;
}

Server *server_free(Server *s) {
        Conn *c;

        if (!s)
                return NULL;
        while ((c = LIST_FIRST(&s->conns))) {
                LIST_REMOVE(c, link);
                LIST_INSERT_HEAD(&s->dead, c, link);
        }
        while ((c = LIST_FIRST(&s->dead)))
                conn_free(c);
        /* Before the registry: completions may still refer to regions. */
        sealer_free(s->sealer);
        registry_done(&s->registry);
        quota_done(&s->quota);
        if (s->listen_ev)
                event_free(s->listen_ev);
        if (s->listen_retry_ev)
                event_free(s->listen_retry_ev);
        if (s->sigterm_ev)
                event_free(s->sigterm_ev);
        if (s->sigint_ev)
                event_free(s->sigint_ev);
        if (s->reap_ev)
                event_free(s->reap_ev);
        if (s->status_ev)
                event_free(s->status_ev);
        if (s->watchdog_ev)
                event_free(s->watchdog_ev);
        if (s->base)
                event_base_free(s->base);
        if (s->bound_path) {
                (void)unlink(s->bound_path);
                free(s->bound_path);
        }
        safe_close(s->listen_fd);
        free(s);
        return NULL;
}

void server_refuse(Server *s, int fd, int status, const char *why) {
        Shmbroker__V1__Response resp = SHMBROKER__V1__RESPONSE__INIT;
        size_t len;

        resp.status = status;
        resp.error = (char *)why;
        if (wire_pack(&resp.base, s->wbuf, sizeof(s->wbuf), &len) >= 0)
                (void)wire_send(fd, s->wbuf, len, -1);
}

/* Tells a refused client why before closing, so the library can report it. */
static void refuse(Server *s, int fd, const char *why) {
        server_refuse(s, fd, SHMBROKER__V1__STATUS__STATUS_LIMIT_EXCEEDED, why);
        safe_close(fd);
}

static void on_accept(evutil_socket_t lfd, short what, void *userdata) {
        Server *s = userdata;

        /* Bounded, like reads: a connection flood must not starve served clients. */
        for (unsigned i = 0; i < 64; i++) {
                Conn *c;
                int fd, r;

                fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return;
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                                /* Level-triggered: pause instead of spinning on the backlog. */
                                struct timeval tv = { 0, 100000 };

                                /* Once per episode, not ten times a second while it lasts. */
                                if (!s->accept_paused)
                                        log_warning_errno(-errno, "cannot accept connections: %m; retrying "
                                                          "every 100 ms until descriptors or memory are free");
                                s->accept_paused = true;
                                event_del(s->listen_ev);
                                evtimer_add(s->listen_retry_ev, &tv);
                                return;
                        }
                        log_error_errno(-errno, "accept failed: %m");
                        return;
                }
                if (s->accept_paused) {
                        log_info("accepting connections again");
                        s->accept_paused = false;
                }
                if (s->n_conns >= s->limits.max_connections) {
                        char why[160];

                        snprintf(why, sizeof(why), "the daemon's connection limit is reached: %u of %u connections open",
                                 s->n_conns, s->limits.max_connections);
                        log_warning("refusing a connection: %s", why);
                        refuse(s, fd, why);
                        continue;
                }
                r = conn_new(&c, s, fd);
                if (r < 0) {
                        log_error_errno(r, "cannot set up a connection: %m");
                        continue;
                }
                log_debug("client uid %u gid %u pid %d connected", (unsigned)c->uid, (unsigned)c->gid,
                          (int)c->pid);
        }
}

int server_run(Server *s) {
        struct timeval status_tv = { 2, 0 };
        uint64_t wd_usec = 0;
        int r = 0;

        if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
                /* Twice per interval, as sd_watchdog_enabled(3) recommends. */
                struct timeval tv = { .tv_sec = (time_t)(wd_usec / 2 / 1000000),
                                      .tv_usec = (suseconds_t)(wd_usec / 2 % 1000000) };
                event_add(s->watchdog_ev, &tv);
        }
        if (getenv("NOTIFY_SOCKET"))
                event_add(s->status_ev, &status_tv);
        notify_status(s);
        (void)sd_notify(0, "READY=1");
        if (event_base_dispatch(s->base) < 0)
                r = log_error_errno(-EIO, "event loop failed");
        (void)sd_notify(0, "STOPPING=1");
        return r;
}
