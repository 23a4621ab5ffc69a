/* SPDX-License-Identifier: MIT */
/*
 * The memory module against the running kernel: memfd flags per page size,
 * the shortage message (pages needed and free, and the knob for each pool),
 * the shmem THP mode, and what the process can lock.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "memory.h"
#include "tap.h"
#include "util.h"

#define MIB (UINT64_C(1) << 20)

static void test_units(void) {
        CHECK(memory_alloc_unit(MEMORY_PAGE_4K) == 4096);
        CHECK(memory_alloc_unit(MEMORY_PAGE_THP) == 4096);
        CHECK(memory_alloc_unit(MEMORY_PAGE_2M) == 2 * MIB);
        CHECK(memory_alloc_unit(MEMORY_PAGE_1G) == 1024 * MIB);
        CHECK(memory_memfd_flags(MEMORY_PAGE_4K) == 0 && memory_memfd_flags(MEMORY_PAGE_THP) == 0);
        CHECK(memory_memfd_flags(MEMORY_PAGE_2M) != memory_memfd_flags(MEMORY_PAGE_1G));
        CHECK(memory_is_hugetlb(MEMORY_PAGE_2M) && !memory_is_hugetlb(MEMORY_PAGE_THP));
}

static void test_shortage(void) {
        char msg[512];
        uint64_t total, free_pages;

        if (memory_hugetlb_pool(MEMORY_PAGE_2M, &total, &free_pages) < 0) {
                tap_skip("no 2 MiB huge-page pool");
                return;
        }
        /* Ask for more than is free, whatever the pool holds. */
        memory_hugetlb_shortage(MEMORY_PAGE_2M, (free_pages + 3) * 2 * MIB, "u/x", msg, sizeof(msg));
        CHECK_MSG(strstr(msg, "region 'u/x'") && strstr(msg, "needed") && strstr(msg, "free") &&
                  strstr(msg, "sysctl vm.nr_hugepages="), msg);
        if (memory_hugetlb_pool(MEMORY_PAGE_1G, &total, &free_pages) < 0) {
                tap_skip("no 1 GiB huge-page pool");
                return;
        }
        memory_hugetlb_shortage(MEMORY_PAGE_1G, (free_pages + 1) * 1024 * MIB, "u/y", msg, sizeof(msg));
        CHECK_MSG(strstr(msg, "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages") &&
                  msg[strlen(msg) - 1] == ')', msg);
}

static void test_thp(void) {
        char mode[32];

        memory_thp_shmem_mode(mode, sizeof(mode));
        CHECK_MSG(strcmp(mode, "never") == 0 || strcmp(mode, "advise") == 0 || strcmp(mode, "always") == 0 ||
                  strcmp(mode, "within_size") == 0 || strcmp(mode, "deny") == 0 || strcmp(mode, "force") == 0 ||
                  strcmp(mode, "unknown") == 0, mode);
        CHECK(!memory_thp_possible("never") && !memory_thp_possible("deny") && memory_thp_possible("advise"));
}

static void test_lock_capacity(void) {
        struct rlimit rl;
        uint64_t cap = memory_lock_capacity();
        char text[160];
        int fd;
        void *p = NULL;

        CHECK(getrlimit(RLIMIT_MEMLOCK, &rl) == 0);
        if (memory_have_ipc_lock())
                CHECK(cap == UINT64_MAX);
        else
                CHECK(cap == (rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur));
        memory_lock_limit_text(text, sizeof(text));
        CHECK_MSG(strstr(text, "RLIMIT_MEMLOCK") && strstr(text, "CAP_IPC_LOCK"), text);

        /* The daemon's mapping: PROT_READ from an O_RDONLY descriptor. */
        fd = memfd_create("unit", MFD_CLOEXEC);
        CHECK(fd >= 0 && ftruncate(fd, 65536) == 0);
        {
                char path[64];
                int ro;

                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                ro = open(path, O_RDONLY | O_CLOEXEC);
                CHECK(ro >= 0);
                CHECK(memory_map_ro(ro, 65536, &p) == 0 && p);
                CHECK(memory_mapping_huge_bytes(p) == 0);
                if (p)
                        munmap(p, 65536);
                close(ro);
        }
        close(fd);
}

int main(void) {
        int fd0 = fd_count(0);

        test_units();
        test_shortage();
        test_thp();
        test_lock_capacity();
        CHECK_MSG(fd_count(0) == fd0, "no fd leaked");
        return tap_done();
}
