/* SPDX-License-Identifier: MIT */
/*
 * Kernel memory facilities. The daemon only reads global knobs (huge-page
 * pools, shmem_enabled) to explain what it got; it never writes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "memory.h"
#include "region.h"
#include "util.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << MFD_HUGE_SHIFT)
#endif
#ifndef MFD_HUGE_1GB
#define MFD_HUGE_1GB (30U << MFD_HUGE_SHIFT)
#endif

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define CAP_IPC_LOCK_BIT 14

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);
#define _cleanup_fclose_ _cleanup_(fclosep)

unsigned memory_memfd_flags(uint64_t page_size) {
        if (page_size == MEMORY_PAGE_2M)
                return MFD_HUGETLB | MFD_HUGE_2MB;
        if (page_size == MEMORY_PAGE_1G)
                return MFD_HUGETLB | MFD_HUGE_1GB;
        return 0;
}

static int read_u64_file(const char *path, uint64_t *ret) {
        char buf[64];
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        safe_close(fd);
        if (n <= 0)
                return n < 0 ? -errno : -EIO;
        buf[n] = 0;
        *ret = strtoull(buf, NULL, 10);
        return 0;
}

static void pool_path(char *buf, size_t len, uint64_t page_size, const char *file) {
        snprintf(buf, len, "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/%s", page_size / 1024, file);
}

int memory_hugetlb_pool(uint64_t page_size, uint64_t *ret_total, uint64_t *ret_free) {
        char path[128];
        int r;

        pool_path(path, sizeof(path), page_size, "nr_hugepages");
        r = read_u64_file(path, ret_total);
        if (r < 0)
                return r;
        pool_path(path, sizeof(path), page_size, "free_hugepages");
        return read_u64_file(path, ret_free);
}

void memory_hugetlb_shortage(uint64_t page_size, uint64_t size, const char *name, char *buf, size_t len) {
        uint64_t needed = size / page_size, total = 0, free_pages = 0;
        char ps[SIZE_FORMAT_MAX], knob[160];

        size_format(page_size, ps, sizeof(ps));
        if (page_size == MEMORY_PAGE_2M)
                snprintf(knob, sizeof(knob), "sysctl vm.nr_hugepages");
        else
                pool_path(knob, sizeof(knob), page_size, "nr_hugepages");
        if (memory_hugetlb_pool(page_size, &total, &free_pages) < 0) {
                snprintf(buf, len, "not enough %s huge pages for region '%s': %" PRIu64 " needed, the pool "
                         "size is unknown; raise %s", ps, name, needed, knob);
                return;
        }
        /* The pool must grow by what is missing; other users may take pages meanwhile. */
        snprintf(buf, len, "not enough %s huge pages for region '%s': %" PRIu64 " needed, %" PRIu64
                 " free (pool of %" PRIu64 "); raise the pool to at least %" PRIu64 " with %s%s%" PRIu64,
                 ps, name, needed, free_pages, total, total + (needed > free_pages ? needed - free_pages : 0),
                 knob, page_size == MEMORY_PAGE_2M ? "=" : " (write ",
                 total + (needed > free_pages ? needed - free_pages : 0));
        if (page_size != MEMORY_PAGE_2M && strlen(buf) + 2 < len)
                strcat(buf, ")");
}

const char *memory_thp_shmem_mode(char *buf, size_t len) {
        char raw[256];
        ssize_t n;
        char *a, *b;
        int fd;

        snprintf(buf, len, "unknown");
        fd = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return buf;
        n = read(fd, raw, sizeof(raw) - 1);
        safe_close(fd);
        if (n <= 0)
                return buf;
        raw[n] = 0;
        /* "always within_size advise [never] deny force": the bracketed word is active. */
        a = strchr(raw, '[');
        b = a ? strchr(a, ']') : NULL;
        if (a && b) {
                *b = 0;
                snprintf(buf, len, "%s", a + 1);
        }
        return buf;
}

bool memory_thp_possible(const char *mode) {
        return strcmp(mode, "never") != 0 && strcmp(mode, "deny") != 0 && strcmp(mode, "unknown") != 0;
}

int memory_map_ro(int ro_fd, uint64_t size, void **ret) {
        void *p;

        p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, ro_fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret = p;
        return 0;
}

uint64_t memory_mapping_huge_bytes(const void *addr) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[512];
        bool in = false;
        uint64_t kb = 0;

        f = fopen("/proc/self/smaps", "re");
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f)) {
                unsigned long start, end;
                unsigned long long v;

                /* Only a VMA header parses as "start-end"; field lines stop at their name. */
                if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
                        in = start == (unsigned long)(uintptr_t)addr;
                        continue;
                }
                if (!in)
                        continue;
                if (sscanf(line, "ShmemPmdMapped: %llu kB", &v) == 1 ||
                    sscanf(line, "FilePmdMapped: %llu kB", &v) == 1)
                        kb += v;
        }
        return kb * 1024;
}

bool memory_have_ipc_lock(void) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[256];
        unsigned long long eff;

        f = fopen("/proc/self/status", "re");
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "CapEff: %llx", &eff) == 1)
                        return eff & (1ULL << CAP_IPC_LOCK_BIT);
        return false;
}

uint64_t memory_lock_capacity(void) {
        struct rlimit rl;

        if (memory_have_ipc_lock())
                return UINT64_MAX;
        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
                return 0;
        return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

void memory_lock_limit_text(char *buf, size_t len) {
        char sz[SIZE_FORMAT_MAX];
        struct rlimit rl;

        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                snprintf(sz, sizeof(sz), "unlimited");
        else
                size_format((uint64_t)rl.rlim_cur, sz, sizeof(sz));
        snprintf(buf, len, "the daemon's RLIMIT_MEMLOCK is %s and it %s CAP_IPC_LOCK", sz,
                 memory_have_ipc_lock() ? "has" : "lacks");
}

int memory_hugetlb_allocate(int fd, uint64_t page_size, uint64_t size, const char *name, char *errbuf,
                            size_t errlen) {
        int e;

        if (!memory_is_hugetlb(page_size) || fallocate(fd, 0, 0, (off_t)size) >= 0)
                return 0;
        e = -errno;
        if (e != -ENOSPC) {
                snprintf(errbuf, errlen, "cannot allocate the huge pages of region '%s': %s", name, strerror(-e));
                return e;
        }
        memory_hugetlb_shortage(page_size, size, name, errbuf, errlen);
        return SHMBROKER__V1__STATUS__STATUS_NO_RESOURCES;
}

/*
 * Locked and THP regions get a mapping of the daemon's own, made from the
 * O_RDONLY reopen: a mapping of the read-write fd would make F_SEAL_WRITE
 * fail EBUSY for immutable regions. mlock on it keeps the pages resident
 * for every mapper; MADV_HUGEPAGE on it decides the page size of pages
 * first allocated through it.
 */
int memory_region_map(Region *r, char *errbuf, size_t errlen) {
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

