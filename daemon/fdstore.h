/* SPDX-License-Identifier: MIT */
/*
 * Restart-safe regions through the service manager's fd store. Every region
 * memfd is stored under a name of its own (three base-62 characters, reused
 * after deletes: FDSTOREREMOVE removes every fd of a name), and the registry's
 * metadata lives in one more stored memfd, an append-only log that is
 * compacted now and then. At start the daemon gets all of them back and
 * rebuilds its registry. Without NOTIFY_SOCKET every call here is a no-op.
 *
 * The daemon is one process with one registry, so the store's state is
 * module-global; the registry and the handlers only call the hooks below.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Region Region;
typedef struct Server Server;

typedef struct FdStoreOptions {
        /* FileDescriptorStoreMax= of the unit; $FDSTORE (systemd 254+) wins when set. */
        unsigned max_fds;
        /* How long owner and refcounted regions wait for a holder after a restart. */
        uint32_t grace_ms;
} FdStoreOptions;

#define FDSTORE_DEFAULT_MAX 32768u
#define FDSTORE_DEFAULT_GRACE_MS 30000u

struct stat;

/*
 * A descriptor the manager passed that is not our listening socket: kept
 * for fdstore_start(). name is copied. sb: what fstat() said of fd, so that
 * it is not asked again, or NULL. The caller made fd close-on-exec.
 */
void fdstore_take(int fd, const char *name, const struct stat *sb);
/* Optional, before fdstore_take(): room for n_fds more, whose names have names_len bytes with their NULs. */
void fdstore_take_reserve(size_t n_fds, size_t names_len);
/*
 * Restores the regions of the descriptors taken (closing, with a warning,
 * those that do not parse) and, under a service manager, starts storing.
 * Call once the server exists and before it serves.
 */
int fdstore_start(Server *s, const FdStoreOptions *o);
/* A new region: store its memfd and its metadata, or mark it not restart-safe. */
void fdstore_region_added(Region *r);
/* A region being destroyed: remove it from the store. */
void fdstore_region_removed(Region *r);
/*
 * Shutdown, before the server is freed: from now on nothing is removed from
 * the store, so every stored region survives into the next instance.
 */
void fdstore_done(void);
