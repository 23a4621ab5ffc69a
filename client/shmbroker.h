/* SPDX-License-Identifier: MIT */
/*
 * libshmbroker: named shared-memory regions from the shmbroker daemon.
 *
 * A connection (shmb_conn) talks to shmbrokerd over its Unix control socket.
 * shmb_create() makes a new region and returns it mapped read-write;
 * shmb_open() returns an existing region mapped with the access asked for.
 * The library checks every file descriptor it receives (file type, size,
 * seals, access mode) before mapping it, and never maps anything executable.
 *
 * All calls that can fail return 0 or a negative errno-style code; the
 * daemon's message for the last failed call is in shmb_conn_error().
 * A connection may be used from several threads: calls are serialized.
 *
 * Errors (beyond plain system errors such as -ECONNREFUSED, -ENOMEM):
 *   -EINVAL      invalid argument (name, size, option)
 *   -ENOENT      no region of that name
 *   -EEXIST      a region of that name exists
 *   -EACCES      permission denied by the region's owner, group and mode
 *   -EDQUOT      a per-user quota would be exceeded
 *   -ENOSPC      a global limit of the daemon would be exceeded
 *   -ENOMEM      the daemon's kernel refused memory, huge pages or fds
 *   -EPROTONOSUPPORT  protocol version mismatch with the daemon
 *   -EPROTO      the daemon or the handle it sent violated the protocol
 *                (including a handle whose seals or mode are too weak)
 *   -ETIMEDOUT   an open waited past its timeout
 *   -EOPNOTSUPP  valid request the daemon cannot serve
 *   -EBUSY       the region is in the wrong state for the request
 *   -EIO         internal daemon failure
 *   -ENOTCONN    the connection was lost
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmb_conn shmb_conn;
typedef struct shmb_region shmb_region;

enum { SHMB_READ = 1, SHMB_READ_WRITE = 2 };                          /* access */
enum { SHMB_SHARED = 0, SHMB_SINGLE_WRITER = 1, SHMB_IMMUTABLE = 2 }; /* sharing */
enum { SHMB_PERSISTENT = 0, SHMB_OWNER = 1, SHMB_REFCOUNTED = 2 };    /* lifetime */
enum { SHMB_LOCKED = 1u << 0, SHMB_PREALLOC = 1u << 1 };             /* flags */
#define SHMB_PAGE_THP ((uint64_t)1) /* page_size: 0 = 4 KiB, 2 MiB, 1 GiB, or THP */

#define SHMB_NAME_MAX 200 /* bytes of [A-Za-z0-9._:@/-], no "." or ".." segment */

struct shmb_create_opts {
        size_t struct_size; /* sizeof(struct shmb_create_opts) */
        uint64_t size;      /* bytes, > 0; rounded up to the page size */
        uint64_t page_size; /* 0 (4 KiB), 4096, 2 MiB, 1 GiB or SHMB_PAGE_THP */
        uint32_t mode;      /* permission bits; 0 means 0600 */
        int sharing;        /* SHMB_SHARED, SHMB_SINGLE_WRITER, SHMB_IMMUTABLE */
        int lifetime;       /* SHMB_PERSISTENT, SHMB_OWNER, SHMB_REFCOUNTED */
        uint32_t flags;     /* SHMB_LOCKED | SHMB_PREALLOC */
};

/* What the daemon reports about a region (shmb_stat(), shmb_list()). */
struct shmb_region_info {
        char name[SHMB_NAME_MAX + 1];
        uint64_t id;             /* unique for the daemon's lifetime */
        uint64_t size;           /* bytes, a multiple of page_size */
        uint64_t requested_size; /* bytes asked for at creation */
        uint64_t page_size;      /* 4096, 2 MiB, 1 GiB, or SHMB_PAGE_THP */
        int sharing;
        int lifetime;
        uint32_t uid, gid;       /* owner */
        uint32_t mode;           /* permission bits */
        uint32_t flags;          /* SHMB_LOCKED | SHMB_PREALLOC */
        uint32_t seals;          /* F_SEAL_* bits on the daemon's memfd */
        uint64_t created_usec;   /* CLOCK_REALTIME, microseconds */
        uint32_t holders;        /* handles held over all connections */
        bool published;          /* immutable regions: published yet */
        bool restart_safe;       /* kept in the service manager's fd store */
        uint64_t locked_bytes;   /* bytes the daemon holds mlocked */
        uint64_t resident_bytes; /* bytes allocated, the daemon's own view */
        uint64_t huge_page_bytes; /* bytes on huge pages: all of a 2M/1G region; THP: what the daemon saw */
        uint64_t dev;            /* st_dev of the memfd's inode (0: daemon did not say) */
        uint64_t ino;            /* st_ino: /proc/PID/maps show regions by (dev, ino) */
        uint64_t reserved[5];
};

/*
 * Connects to the daemon and says hello. socket_path NULL: $SHMBROKER_SOCKET,
 * then /run/shmbroker/control.sock if it exists, then
 * $XDG_RUNTIME_DIR/shmbroker.sock.
 */
int shmb_connect(const char *socket_path, shmb_conn **ret);
/* Closes the connection. Regions stay mapped until shmb_close(). */
void shmb_disconnect(shmb_conn *c);
/* The connection's socket, for poll(): readable when the daemon closed it. */
int shmb_conn_fd(const shmb_conn *c);
/* Message of the last failed call on c ("" if none). Valid until the next call. */
const char *shmb_conn_error(const shmb_conn *c);
/* Text for a code returned by this library (negative errno-style). */
const char *shmb_strerror(int err);

/* Creates a region and returns it mapped read-write in the caller. */
int shmb_create(shmb_conn *c, const char *name, const struct shmb_create_opts *opts,
                shmb_region **ret);
/*
 * Opens an existing region with SHMB_READ or SHMB_READ_WRITE access.
 * timeout_ms: how long to wait for a region that is not yet published
 * (immutable) or not yet mapped by its creator (single-writer): 0 fails at
 * once with -ETIMEDOUT, a negative value waits as long as the daemon allows.
 */
int shmb_open(shmb_conn *c, const char *name, int access, int timeout_ms, shmb_region **ret);
/* Immutable regions: seal the contents and remap the region read-only. */
int shmb_publish(shmb_region *r);
/*
 * Unmaps, releases the handle at the daemon, frees r. r may be NULL. Closing
 * costs no packet of its own: the release goes with the connection's next
 * request (up to 16 wait), or with shmb_flush(), or when the connection
 * closes; until then the daemon still counts the handle (holders, handle
 * quota, close events). Closes the daemon must act on at once (the last
 * handle of a refcounted region, the creator's handle of a region not yet
 * published or mapped) are sent at once.
 */
int shmb_close(shmb_region *r);
/*
 * Sends the releases shmb_close() left for the next request now, without
 * waiting for a reply: for a process that closes regions and then stays
 * idle, so that holders and handle quotas at the daemon are current.
 */
int shmb_flush(shmb_conn *c);
/* Removes the name; existing mappings stay valid, like an unlinked file. */
int shmb_delete(shmb_conn *c, const char *name);
/* Attributes of a region by name. */
int shmb_stat(shmb_conn *c, const char *name, struct shmb_region_info *ret);
/*
 * Calls fn once per region visible to the caller whose name starts with
 * prefix (NULL or "": all), in byte order of names. The daemon sends pages
 * so that other clients are served in between. fn returns 0 to go on, or
 * anything else to stop: shmb_list() then returns that value.
 */
typedef int (*shmb_list_fn)(const struct shmb_region_info *info, void *userdata);
int shmb_list(shmb_conn *c, const char *prefix, shmb_list_fn fn, void *userdata);

/*
 * A uid's usage against its limits (SPEC 4). A limit of 0 means unlimited.
 * The global_* fields are the daemon-wide locked bytes and cap (the cap is
 * never above what the daemon can lock), the same in every entry.
 */
struct shmb_quota {
        uint32_t uid;
        uint32_t regions, regions_limit;
        uint32_t connections, connections_limit;
        uint32_t handles, handles_limit;
        uint64_t locked_bytes, locked_limit;   /* bytes the daemon holds mlocked for the uid */
        uint64_t total_bytes, total_limit;     /* bytes of the uid's regions */
        uint64_t global_locked_bytes, global_locked_limit;
        uint64_t reserved[8];
};
/*
 * Usage and limits of uid. Anyone may ask about the uid it connected as;
 * other uids need an admin (root or the configured admin group): -EACCES.
 */
int shmb_quota(shmb_conn *c, uint32_t uid, struct shmb_quota *ret);
/* Admins: calls fn for every uid that holds regions, handles or connections, in uid order. */
typedef int (*shmb_quota_fn)(const struct shmb_quota *q, void *userdata);
int shmb_quota_list(shmb_conn *c, shmb_quota_fn fn, void *userdata);

/* One handle on a region and the process whose connection holds it (shmb_holders()). */
#define SHMB_CMDLINE_MAX 512
struct shmb_holder {
        uint64_t handle;         /* the handle id on its connection */
        uint64_t connection;     /* connection id, unique for the daemon's lifetime */
        int access;              /* SHMB_READ or SHMB_READ_WRITE */
        bool creator;            /* the handle made by create */
        bool gone;               /* the process that connected has exited (pid may be reused) */
        bool verified;           /* the daemon checks the process through a pidfd */
        uint32_t pid, uid, gid;  /* SO_PEERCRED at connect */
        char comm[17];           /* "" when the daemon could not read it */
        char cmdline[SHMB_CMDLINE_MAX + 1]; /* arguments joined by spaces; "" when unknown (this daemon never reads it) */
        uint64_t reserved[4];
};
/*
 * The handles held on region name, over all connections. Root may ask about
 * any region, an owner about its own (others: -EACCES). On success *ret is
 * an array of *ret_n entries to release with free(), and *ret_total (when
 * not NULL) the number of handles, larger than *ret_n when the daemon's
 * packet could not carry them all.
 */
int shmb_holders(shmb_conn *c, const char *name, struct shmb_holder **ret, size_t *ret_n, size_t *ret_total);

/* The daemon's counters (shmb_stats()). Anyone may read them. */
#define SHMB_COUNTERS_MAX 48
struct shmb_counter {
        char name[32];           /* request type ("create") or status ("not-found") */
        uint64_t value;
};
struct shmb_stats {
        uint64_t uptime_usec;
        uint32_t connections;    /* open now */
        uint32_t regions;
        uint64_t connections_total;
        uint64_t bytes;          /* sum of region sizes */
        uint64_t locked_bytes;
        uint64_t requests, errors, protocol_violations;
        uint32_t subscribers;
        uint64_t events, events_dropped;
        size_t n_requests_by_type, n_errors_by_status;
        struct shmb_counter requests_by_type[SHMB_COUNTERS_MAX]; /* non-zero ones */
        struct shmb_counter errors_by_status[SHMB_COUNTERS_MAX];
        uint64_t reserved[8];
};
int shmb_stats(shmb_conn *c, struct shmb_stats *ret);

/* Live events (shmb_subscribe(), shmb_next_event()). */
enum {
        SHMB_EVENT_CREATE = 1,
        SHMB_EVENT_OPEN = 2,
        SHMB_EVENT_CLOSE = 3,         /* a handle released (close or disconnect) */
        SHMB_EVENT_DELETE = 4,        /* deleted, or its lifetime ended */
        SHMB_EVENT_PUBLISH = 5,
        SHMB_EVENT_QUOTA_REFUSED = 6, /* a create refused by a quota */
        SHMB_EVENT_MAPPED = 7,        /* single-writer region sealed after its creator mapped it */
};
struct shmb_event {
        int type;                /* SHMB_EVENT_*; unknown values from newer daemons pass through */
        char region[SHMB_NAME_MAX + 1];
        uint32_t uid, pid;       /* of the connection that caused it (pid 0: unknown) */
        uint64_t time_usec;      /* CLOCK_REALTIME */
        uint64_t seq;            /* daemon-wide event number */
        uint64_t dropped;        /* events lost for this subscriber just before this one */
        uint64_t reserved[4];
};
/*
 * Subscribes c to events of the regions the caller may stat. Events are
 * queued by the library (other calls on c go on working) and read with
 * shmb_next_event(). A subscriber that reads too slowly loses events, never
 * its connection: the loss is counted in the next event's `dropped`.
 */
int shmb_subscribe(shmb_conn *c);
/*
 * The next event: waits up to timeout_ms (negative: for ever), then
 * -ETIMEDOUT. Holds c's lock while waiting: use a connection of its own
 * for events when other threads make calls. Name of a type: shmb_event_type_name().
 */
int shmb_next_event(shmb_conn *c, struct shmb_event *ret, int timeout_ms);
/* "create", "open", ...; "unknown" for others. */
const char *shmb_event_type_name(int type);

void *shmb_region_data(const shmb_region *r);
uint64_t shmb_region_size(const shmb_region *r);
int shmb_region_fd(const shmb_region *r);
unsigned shmb_region_seals(const shmb_region *r); /* F_SEAL_* bits */
uint64_t shmb_region_page_size(const shmb_region *r);
enum { SHMB_LOCK_ONFAULT = 1u << 0 }; /* shmb_region_lock() flags */
/*
 * Locks the caller's own mapping of r in RAM: mlock(), or with
 * SHMB_LOCK_ONFAULT mlock2(MLOCK_ONFAULT), which locks pages as they are
 * touched. This counts against the caller's RLIMIT_MEMLOCK (unless it has
 * CAP_IPC_LOCK): over it, -ENOMEM or -EAGAIN (-EPERM with a zero limit)
 * with a message naming the limit. The lock lasts until shmb_close() or a
 * remap (shmb_publish()). Regions created with SHMB_LOCKED need none: the
 * daemon keeps their pages resident for every mapper.
 */
int shmb_region_lock(shmb_region *r, unsigned flags);
/* Attributes as reported when the region was created or opened. */
const struct shmb_region_info *shmb_region_info(const shmb_region *r);

#ifdef __cplusplus
}
#endif
