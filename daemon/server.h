/* SPDX-License-Identifier: MIT */
/*
 * The daemon's event loop and everything that lives as long as it: the
 * listening socket, the registry, the connections and the limits.
 */
#pragma once

#include <bsd/sys/queue.h>
#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "quota.h"
#include "registry.h"
#include "wire.h"

struct event_base;
struct event;
typedef struct Sealer Sealer;

typedef struct Limits {
        unsigned max_regions;
        unsigned max_connections;
        unsigned output_queue;     /* packets queued per connection */
        uint64_t max_region_size;  /* bytes */
        uint32_t max_wait_ms;      /* longest an open may wait */
        bool has_admin_group;      /* members of admin_gid are admins like root */
        gid_t admin_gid;
} Limits;

#define LIMITS_DEFAULT                                                         \
        ((Limits){                                                             \
                .max_regions = 100000,                                         \
                .max_connections = 4096,                                       \
                .output_queue = 256,                                           \
                .max_region_size = UINT64_C(1) << 40,                          \
                .max_wait_ms = 60000,                                          \
        })

typedef struct Stats {
        uint64_t requests;
        uint64_t errors;
        uint64_t connections_total;
        uint64_t protocol_violations;
        uint64_t by_type[48];      /* requests by Request body case (last: any larger) */
        uint64_t releases;         /* handles released through Request.release */
        uint64_t by_status[16];    /* responses by Status (last: any larger) */
        uint64_t events;
        uint64_t events_dropped;
        uint64_t next_event_seq;
        unsigned subscribers;
        uint64_t started_usec;     /* CLOCK_MONOTONIC */
} Stats;

struct Server {
        struct event_base *base;
        int listen_fd;
        char *bound_path;          /* unlinked at exit when we bound it */
        struct event *listen_ev;
        struct event *listen_retry_ev;
        struct event *sigterm_ev;
        struct event *sigint_ev;
        struct event *reap_ev;
        struct event *status_ev;   /* STATUS= to the service manager */
        struct event *watchdog_ev; /* WATCHDOG=1 when the manager asks for it */
        char last_status[128];
        Registry registry;
        Quota quota;
        Sealer *sealer;
        LIST_HEAD(, Conn) conns;
        LIST_HEAD(, Conn) dead;
        unsigned n_conns;
        Limits limits;
        Stats stats;
        int exit_code;
        bool accept_paused;        /* accept() failed for lack of fds or memory */
        uint8_t rbuf[WIRE_MAX_PACKET]; /* one receive buffer: the loop is single-threaded */
        uint8_t wbuf[WIRE_MAX_PACKET];
};
typedef struct Server Server;

/* Takes ownership of listen_fd; bound_path may be NULL. */
int server_new(Server **ret, int listen_fd, const char *bound_path, const Limits *limits);
Server *server_free(Server *s);
/* Runs the loop: READY=1 once serving, STOPPING=1 when leaving. */
int server_run(Server *s);
/* Sends one refusal Response (id 0) on a socket not yet served; the caller closes fd. */
void server_refuse(Server *s, int fd, int status, const char *why);
/* Called by conn_kill() to have dead connections freed after this callback. */
void server_schedule_reap(Server *s);
