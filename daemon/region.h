/* SPDX-License-Identifier: MIT */
/*
 * A region: one sealed memfd and its attributes. The memfd is born
 * close-on-exec and sealable, sized, optionally preallocated, and sealed
 * against shrinking, growing and further sealing before any descriptor
 * leaves the daemon. Its inode mode is set to 0444 before the first
 * read-only descriptor is made (region_ro_fd()), so a read-only handle
 * cannot be reopened read-write through /proc by a non-root uid.
 */
#pragma once

#include <bsd/sys/queue.h>
#include <bsd/sys/tree.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "quota.h"
#include "wire.h"

typedef struct Conn Conn;
typedef struct Handle Handle;
typedef struct Waiter Waiter;
typedef struct PublishJob PublishJob;

typedef struct RegionParams {
        const char *name;
        uint64_t size;
        uint64_t page_size;
        int sharing;
        int lifetime;
        uint32_t mode;
        uint32_t flags;
        uid_t uid;
        gid_t gid;
} RegionParams;

typedef struct Region {
        RB_ENTRY(Region) by_name;
        char *name;
        uint64_t id;
        uint64_t size;           /* rounded to page_size */
        uint64_t requested_size;
        uint64_t page_size;
        int sharing;
        int lifetime;
        uid_t uid;
        gid_t gid;
        uint32_t mode;
        uint32_t flags;
        uint32_t seals;          /* what we applied; F_GET_SEALS agrees */
        uint64_t created_usec;
        bool published;          /* others may open it (always, for shared) */
        int fd;                  /* the read-write memfd */
        int ro_fd;               /* O_RDONLY reopen, made on first need */
        Conn *owner;             /* LIFETIME_OWNER: the creating connection */
        LIST_ENTRY(Region) owner_link;
        LIST_HEAD(, Handle) handles;
        unsigned n_handles;
        LIST_HEAD(, Waiter) waiters; /* opens parked until published */
        PublishJob *job;         /* immutable: seal in flight */
        void *map;               /* the daemon's PROT_READ mapping of ro_fd (locked, thp), or NULL */
        uint64_t locked_bytes;   /* bytes of map held mlocked */
        char *page_note;         /* thp: why no huge pages, or NULL */
        QuotaCharge charge;      /* bytes, locked bytes, 1 region: of the creator's uid */
        char fdname[4];          /* its name in the service manager's fd store; "" if not stored */
        bool restart_safe;       /* stored: survives a restart of the daemon */
        bool in_grace;           /* restored owner/refcounted region, waiting to be reopened */
        bool orphaned;           /* such a region after the grace period: lives while held (fdstore.h) */
} Region;

#define REGION_PAGE_4K UINT64_C(4096)
#define REGION_FLAG_LOCKED SHMBROKER__V1__REGION_FLAG__REGION_FLAG_LOCKED
#define REGION_FLAG_PREALLOC SHMBROKER__V1__REGION_FLAG__REGION_FLAG_PREALLOC
#define REGION_FLAGS_ALL (SHMBROKER__V1__REGION_FLAG__REGION_FLAG_LOCKED | \
                          SHMBROKER__V1__REGION_FLAG__REGION_FLAG_PREALLOC)

/*
 * Creates the memfd for p (p->size already a multiple of the page size;
 * hugetlb regions are always fully allocated, locked ones mlocked through
 * a read-only mapping). Returns 0, or >0 a client-caused condition with
 * a message in errbuf (a Status value), or <0 -errno on a daemon failure
 * (also described in errbuf).
 */
int region_new(Region **ret, const RegionParams *p, uint64_t id, char *errbuf, size_t errlen);
Region *region_free(Region *r);
/* Adds seals on the loop thread (never F_SEAL_WRITE: see sealer.h). */
int region_add_seals(Region *r, unsigned seals);
/* The O_RDONLY descriptor for read-only handles, made on first call. */
int region_ro_fd(Region *r);
/* Fills w (whose storage the caller owns) from r; with_usage adds fstat data. */
void region_to_wire(const Region *r, WireRegion *w, bool with_usage);
