/* SPDX-License-Identifier: MIT */
/*
 * Region memfds. The order of operations matters: size, allocate and chmod
 * while the memfd is private to the daemon, then seal, and only then hand it
 * out. A client can therefore never observe an unsealed handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "macro.h"
#include "memory.h"
#include "region.h"
#include "util.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Kernels before 6.3 reject MFD_NOEXEC_SEAL; remember that after one try. */
static int memfd_new(const char *name, unsigned page_flags) {
        static bool noexec_unsupported;
        char memfd_name[SHMB_NAME_MAX + 8];
        int fd;

        /* Names are validated to a path-safe alphabet before we get here. */
        snprintf(memfd_name, sizeof(memfd_name), "shmb:%s", name);
        if (!noexec_unsupported) {
                fd = memfd_create(memfd_name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | page_flags);
                if (fd >= 0 || errno != EINVAL)
                        return fd < 0 ? -errno : fd;
        }
        fd = memfd_create(memfd_name, MFD_CLOEXEC | MFD_ALLOW_SEALING | page_flags);
        if (fd < 0)
                return -errno;
        /* Only a plain memfd proves it: EINVAL may have been about the huge page size. */
        if (page_flags == 0)
                noexec_unsupported = true;
        return fd;
}

static int seals_add(int fd, unsigned seals, unsigned *ret_applied) {
        if (fcntl(fd, F_ADD_SEALS, seals) >= 0) {
                *ret_applied = seals;
                return 0;
        }
        /* F_SEAL_EXEC is 6.3+; without it the memfd was not made executable-sealable. */
        if (errno == EINVAL && (seals & F_SEAL_EXEC)) {
                seals &= ~(unsigned)F_SEAL_EXEC;
                if (fcntl(fd, F_ADD_SEALS, seals) >= 0) {
                        *ret_applied = seals;
                        return 0;
                }
        }
        return -errno;
}

/*
 * Locked and THP regions get a mapping of the daemon's own, made from the
 * O_RDONLY reopen: a mapping of the read-write fd would make F_SEAL_WRITE
 * fail EBUSY for immutable regions. mlock on it keeps the pages resident
 * for every mapper; MADV_HUGEPAGE on it decides the page size of pages
 * first allocated through it.
 */
static int region_map_daemon(Region *r, char *errbuf, size_t errlen) {
        bool thp = r->page_size == MEMORY_PAGE_THP, locked = r->flags & REGION_FLAG_LOCKED;
        int fd, e;

        if (!thp && !locked)
                return 0;
        fd = region_ro_fd(r);
        if (fd < 0) {
                snprintf(errbuf, errlen, "cannot reopen region '%s' read-only: %s", r->name, strerror(-fd));
                return fd;
        }
        e = memory_map_ro(fd, r->size, &r->map);
        if (e < 0) {
                snprintf(errbuf, errlen, "cannot map region '%s' (%llu bytes) in the daemon: %s", r->name,
                         (unsigned long long)r->size, strerror(-e));
                return e == -ENOMEM ? SHMBROKER__V1__STATUS__STATUS_NO_RESOURCES : e;
        }
        if (thp) {
                char mode[32];

                memory_thp_shmem_mode(mode, sizeof(mode));
                (void)madvise(r->map, r->size, MADV_HUGEPAGE);
                if (!memory_thp_possible(mode)) {
                        char note[160];

                        snprintf(note, sizeof(note), "no transparent huge pages: the system's "
                                 "/sys/kernel/mm/transparent_hugepage/shmem_enabled is '%s'; "
                                 "the region uses 4 KiB pages", mode);
                        r->page_note = strdup(note);
                        if (!r->page_note)
                                return -ENOMEM;
                }
                /* Fault pages in through the advised mapping, not fallocate, so they may be huge. */
                if ((r->flags & REGION_FLAG_PREALLOC || locked) &&
                    madvise(r->map, r->size, MADV_POPULATE_READ) < 0 &&
                    fallocate(r->fd, 0, 0, (off_t)r->size) < 0) {
                        e = -errno;
                        snprintf(errbuf, errlen, "cannot preallocate %llu bytes for region '%s': %s",
                                 (unsigned long long)r->size, r->name, strerror(-e));
                        return e == -ENOMEM || e == -ENOSPC ? SHMBROKER__V1__STATUS__STATUS_NO_RESOURCES : e;
                }
        }
        if (locked) {
                /*
                 * Allocate first: mlock() faults pages in too, but the
                 * allocation must not depend on it (sanitizer runtimes make
                 * mlock a no-op), and ENOSPC is clearer from here.
                 */
                if (!thp && !memory_is_hugetlb(r->page_size) && fallocate(r->fd, 0, 0, (off_t)r->size) < 0) {
                        e = -errno;
                        snprintf(errbuf, errlen, "cannot allocate %llu bytes for locked region '%s': %s",
                                 (unsigned long long)r->size, r->name, strerror(-e));
                        return e == -ENOMEM || e == -ENOSPC ? SHMBROKER__V1__STATUS__STATUS_NO_RESOURCES : e;
                }
                /* The system call itself: sanitizer runtimes make mlock() a no-op, hiding refusals in tests. */
                if (syscall(SYS_mlock, r->map, r->size) < 0) {
                        char limit[128];

                        e = -errno;
                        memory_lock_limit_text(limit, sizeof(limit));
                        snprintf(errbuf, errlen, "cannot lock region '%s' (%llu bytes) in memory: %s; %s",
                                 r->name, (unsigned long long)r->size, strerror(-e), limit);
                        return e == -ENOMEM || e == -EAGAIN || e == -EPERM ?
                                SHMBROKER__V1__STATUS__STATUS_NO_RESOURCES : e;
                }
                r->locked_bytes = r->size;
        }
        return 0;
}

int region_new(Region **ret, const RegionParams *p, uint64_t id, char *errbuf, size_t errlen) {
        _cleanup_close_ int fd = -1;
        unsigned applied = 0;
        Region *r;
        int e;

        fd = memfd_new(p->name, memory_memfd_flags(p->page_size));
        if (fd < 0) {
                snprintf(errbuf, errlen, "cannot create memfd for region '%s': %s", p->name,
                         strerror(-fd));
                return fd;
        }
        if (ftruncate(fd, (off_t)p->size) < 0) {
                e = -errno;
                snprintf(errbuf, errlen, "cannot size region '%s' to %llu bytes: %s", p->name,
                         (unsigned long long)p->size, strerror(errno));
                return e;
        }
        /* Hugetlb: take every page now, so a short pool fails here and never SIGBUSes a mapper. */
        if (memory_is_hugetlb(p->page_size) && fallocate(fd, 0, 0, (off_t)p->size) < 0) {
                e = -errno;
                if (e != -ENOSPC) {
                        snprintf(errbuf, errlen, "cannot allocate the huge pages of region '%s': %s", p->name,
                                 strerror(-e));
                        return e;
                }
                memory_hugetlb_shortage(p->page_size, p->size, p->name, errbuf, errlen);
                return SHMBROKER__V1__STATUS__STATUS_NO_RESOURCES;
        }
        /* THP preallocates through the daemon's advised mapping instead (see region_map_daemon). */
        if ((p->flags & REGION_FLAG_PREALLOC) && p->page_size == REGION_PAGE_4K) {
                if (fallocate(fd, 0, 0, (off_t)p->size) < 0) {
                        e = -errno;
                        snprintf(errbuf, errlen, "cannot preallocate %llu bytes for region '%s': %s",
                                 (unsigned long long)p->size, p->name, strerror(errno));
                        return e;
                }
        }
        /* Read-only handles share this inode: 0444 keeps other uids from reopening it writable. */
        if (fchmod(fd, 0444) < 0) {
                e = -errno;
                snprintf(errbuf, errlen, "cannot set mode 0444 on region '%s': %s", p->name,
                         strerror(errno));
                return e;
        }
        /*
         * Shared regions are sealed for good now. Single-writer and immutable
         * ones get their write seal and F_SEAL_SEAL when the creator has
         * mapped or published; nobody else sees them before that.
         */
        e = seals_add(fd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_EXEC |
                      (p->sharing == SHMBROKER__V1__SHARING__SHARING_SHARED ? F_SEAL_SEAL : 0u), &applied);
        if (e < 0) {
                snprintf(errbuf, errlen, "cannot seal region '%s': %s", p->name, strerror(-e));
                return e;
        }

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->ro_fd = -1;
        r->name = strdup(p->name);
        if (!r->name) {
                free(r);
                return -ENOMEM;
        }
        r->id = id;
        r->size = p->size;
        r->requested_size = p->size;
        r->page_size = p->page_size ? p->page_size : REGION_PAGE_4K;
        r->sharing = p->sharing;
        r->lifetime = p->lifetime;
        r->uid = p->uid;
        r->gid = p->gid;
        r->mode = p->mode;
        r->flags = p->flags;
        r->seals = applied;
        r->created_usec = now_usec();
        r->published = p->sharing == SHMBROKER__V1__SHARING__SHARING_SHARED;
        LIST_INIT(&r->handles);
        LIST_INIT(&r->waiters);
        r->fd = TAKE_FD(fd);
        e = region_map_daemon(r, errbuf, errlen);
        if (e != 0) {
                region_free(r);
                return e;
        }
        *ret = r;
        return 0;
}

Region *region_free(Region *r) {
        if (!r)
                return NULL;
        if (r->map)
                (void)munmap(r->map, r->size);
        safe_close(r->fd);
        safe_close(r->ro_fd);
        free(r->page_note);
        free(r->name);
        quota_release(&r->charge);
        free(r);
        return NULL;
}

int region_add_seals(Region *r, unsigned seals) {
        if (fcntl(r->fd, F_ADD_SEALS, seals) < 0)
                return -errno;
        r->seals |= seals;
        return 0;
}

int region_ro_fd(Region *r) {
        char path[64];
        int fd;

        if (r->ro_fd >= 0)
                return r->ro_fd;
        /* A new open file description, O_RDONLY: the kernel refuses writes through it. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", r->fd);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r->ro_fd = fd;
        return fd;
}

void region_to_wire(const Region *r, WireRegion *w, bool with_usage) {
        shmbroker__v1__region__init(w);
        w->name = r->name;
        w->id = r->id;
        w->size = r->size;
        w->requested_size = r->requested_size;
        w->page_size = r->page_size;
        w->sharing = r->sharing;
        w->lifetime = r->lifetime;
        w->uid = r->uid;
        w->gid = r->gid;
        w->mode = r->mode;
        w->flags = r->flags;
        w->seals = r->seals;
        w->created_usec = r->created_usec;
        w->holders = r->n_handles;
        w->published = r->published;
        w->locked_bytes = r->locked_bytes;
        if (memory_is_hugetlb(r->page_size))
                w->huge_page_bytes = r->size;
        w->page_note = r->page_note ? r->page_note : (char *)"";
        if (with_usage) {
                struct stat st;
                int s = fcntl(r->fd, F_GET_SEALS);

                if (s >= 0)
                        w->seals = (uint32_t)s;
                if (fstat(r->fd, &st) >= 0)
                        w->resident_bytes = (uint64_t)st.st_blocks * 512u;
                if (r->map && r->page_size == MEMORY_PAGE_THP && !r->page_note)
                        w->huge_page_bytes = memory_mapping_huge_bytes(r->map);
        }
}
