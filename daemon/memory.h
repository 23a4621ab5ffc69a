/* SPDX-License-Identifier: MIT */
/*
 * Page sizes, huge-page pools, transparent huge pages and memory locking:
 * what the kernel offers, read from /sys and /proc, and the daemon's own
 * read-only mappings. Kept apart from region.c so that every number a
 * refusal message needs (pages free, the sysctl to raise, the daemon's
 * RLIMIT_MEMLOCK) is computed in one place.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Region Region;

#define MEMORY_PAGE_4K UINT64_C(4096)
#define MEMORY_PAGE_2M (UINT64_C(2) << 20)
#define MEMORY_PAGE_1G (UINT64_C(1) << 30)
#define MEMORY_PAGE_THP UINT64_C(1)

static inline bool memory_is_hugetlb(uint64_t page_size) {
        return page_size == MEMORY_PAGE_2M || page_size == MEMORY_PAGE_1G;
}

/* The unit sizes are rounded to: the huge page for hugetlb, else 4 KiB. */
static inline uint64_t memory_alloc_unit(uint64_t page_size) {
        return memory_is_hugetlb(page_size) ? page_size : MEMORY_PAGE_4K;
}

/* memfd_create() flags selecting the page size (0 for 4k and THP). */
unsigned memory_memfd_flags(uint64_t page_size);

/*
 * Hugetlb regions: allocates every page of fd now (a no-op for other page
 * sizes), so that a short pool fails the create and never SIGBUSes a
 * mapper. Returns 0, STATUS_NO_RESOURCES with the shortage message in
 * errbuf, or -errno.
 */
int memory_hugetlb_allocate(int fd, uint64_t page_size, uint64_t size, const char *name, char *errbuf,
                            size_t errlen);
/*
 * Locked and THP regions: the daemon's own PROT_READ mapping of
 * region_ro_fd(r), advised MADV_HUGEPAGE (THP) and populated and mlocked
 * (locked). Sets r->map, r->locked_bytes, r->page_note. Same returns.
 */
int memory_region_map(Region *r, char *errbuf, size_t errlen);

/* Pool counters of one hugetlb size from /sys/kernel/mm/hugepages; -errno if unreadable. */
int memory_hugetlb_pool(uint64_t page_size, uint64_t *ret_total, uint64_t *ret_free);
/*
 * The refusal text for a hugetlb region of size bytes that the pool could
 * not fill: pages needed, free, and the knob that makes more.
 */
void memory_hugetlb_shortage(uint64_t page_size, uint64_t size, const char *name, char *buf, size_t len);

/* The active word of /sys/kernel/mm/transparent_hugepage/shmem_enabled ("never", "advise", ...). */
const char *memory_thp_shmem_mode(char *buf, size_t len);
/* True when MADV_HUGEPAGE on a shmem mapping can give huge pages at all. */
bool memory_thp_possible(const char *mode);

/* A PROT_READ MAP_SHARED mapping of an O_RDONLY descriptor (never a writable one). */
int memory_map_ro(int ro_fd, uint64_t size, void **ret);
/* Bytes of the daemon's mapping at addr backed by PMD-mapped (huge) pages, from smaps. */
uint64_t memory_mapping_huge_bytes(const void *addr);

/* Whether the daemon holds CAP_IPC_LOCK in its effective set. */
bool memory_have_ipc_lock(void);
/*
 * What this process can mlock in total: UINT64_MAX with CAP_IPC_LOCK, else
 * its RLIMIT_MEMLOCK soft limit.
 */
uint64_t memory_lock_capacity(void);
/* Text naming the daemon's lock limit, for refusals ("RLIMIT_MEMLOCK 8M, no CAP_IPC_LOCK"). */
void memory_lock_limit_text(char *buf, size_t len);
