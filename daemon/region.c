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

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Kernels before 6.3 reject MFD_NOEXEC_SEAL; remember that after one try. */
static int memfd_new(const char *name, unsigned page_flags) {
        static bool noexec_unsupported;
        char memfd_name[sizeof("shmb:") + SHMB_NAME_MAX];
        size_t len = strnlen(name, SHMB_NAME_MAX);
        int fd;

        /* Names are validated to a path-safe alphabet before we get here; copied, not formatted (hot path). */
        memcpy(memfd_name, "shmb:", 5);
        memcpy(memfd_name + 5, name, len);
        memfd_name[5 + len] = 0;
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
        e = memory_hugetlb_allocate(fd, p->page_size, p->size, p->name, errbuf, errlen);
        if (e != 0)
                return e;
        /* THP preallocates through the daemon's advised mapping instead (memory_region_map()). */
        if ((p->flags & REGION_FLAG_PREALLOC) && p->page_size == REGION_PAGE_4K) {
                if (fallocate(fd, 0, 0, (off_t)p->size) < 0) {
                        e = -errno;
                        snprintf(errbuf, errlen, "cannot preallocate %llu bytes for region '%s': %s",
                                 (unsigned long long)p->size, p->name, strerror(errno));
                        return e;
                }
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
        e = memory_region_map(r, errbuf, errlen);
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
        /*
         * Read-only handles share the inode: 0444 keeps their holders from
         * reopening it writable through /proc (root aside). Until the first
         * one exists every descriptor out there is read-write anyway, so the
         * mode is set here, not on every create.
         */
        if (fchmod(r->fd, 0444) < 0)
                return -errno;
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
        w->restart_safe = r->restart_safe;
        if (with_usage) {
                struct stat st;
                int s = fcntl(r->fd, F_GET_SEALS);

                if (s >= 0)
                        w->seals = (uint32_t)s;
                if (fstat(r->fd, &st) >= 0) {
                        w->resident_bytes = (uint64_t)st.st_blocks * 512u;
                        w->dev = (uint64_t)st.st_dev;
                        w->ino = (uint64_t)st.st_ino;
                }
                if (r->map && r->page_size == MEMORY_PAGE_THP && !r->page_note)
                        w->huge_page_bytes = memory_mapping_huge_bytes(r->map);
        }
}
