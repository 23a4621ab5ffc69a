/* SPDX-License-Identifier: MIT */
/*
 * The registry and region modules without a socket: memfds are really
 * created and sealed, names are ordered for paging, and destruction detaches
 * handles and closes every descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "macro.h"
#include "registry.h"
#include "tap.h"
#include "util.h"

static RegionParams params(const char *name, uint64_t size) {
        return (RegionParams){ .name = name, .size = size, .page_size = 4096, .mode = 0640,
                               .uid = 1000, .gid = 100 };
}

static void test_create_and_seals(void) {
        Registry reg;
        Region *r = NULL;
        char err[256] = "";
        RegionParams p = params("unit/a", 8192);
        struct stat st;
        int seals, fd0 = fd_count(0);

        registry_init(&reg);
        CHECK(registry_create(&reg, &p, &r, err, sizeof(err)) == 0);
        CHECK(r && r->id == 1 && r->size == 8192 && reg.n_regions == 1 && reg.total_bytes == 8192);
        CHECK(registry_find(&reg, "unit/a") == r);
        CHECK(registry_find(&reg, "unit/b") == NULL);

        seals = fcntl(r->fd, F_GET_SEALS);
        CHECK((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
        CHECK((unsigned)seals == r->seals);
        CHECK(!(seals & F_SEAL_WRITE));
        CHECK(ftruncate(r->fd, 4096) < 0 && errno == EPERM);
        CHECK(ftruncate(r->fd, 16384) < 0 && errno == EPERM);
        CHECK(fcntl(r->fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EPERM);
        CHECK(fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode));
        CHECK((fcntl(r->fd, F_GETFD) & FD_CLOEXEC) && (fcntl(r->fd, F_GETFL) & O_ACCMODE) == O_RDWR);

        /* The read-only reopen shares the inode and is made once, after the inode became 0444. */
        int ro = region_ro_fd(r);
        CHECK(ro >= 0 && region_ro_fd(r) == ro);
        CHECK(fstat(ro, &st) == 0 && (st.st_mode & 0777) == 0444);
        CHECK((fcntl(ro, F_GETFL) & O_ACCMODE) == O_RDONLY && (fcntl(ro, F_GETFD) & FD_CLOEXEC));
        CHECK(mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED && errno == EACCES);

        registry_destroy(&reg, r);
        CHECK(reg.n_regions == 0 && reg.total_bytes == 0);
        CHECK(fd_count(0) == fd0);
        registry_done(&reg);
}

static void test_order_and_bounds(void) {
        static const char *const names[] = { "b", "a/2", "a/1", "c", "a/10" };
        Registry reg;
        char err[256];

        registry_init(&reg);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                RegionParams p = params(names[i], 4096);
                Region *r;
                CHECK(registry_create(&reg, &p, &r, err, sizeof(err)) == 0);
        }
        /* Byte order: a/1 < a/10 < a/2 < b < c */
        Region *r = registry_lower_bound(&reg, "");
        CHECK(r && strcmp(r->name, "a/1") == 0);
        r = registry_next(&reg, r);
        CHECK(r && strcmp(r->name, "a/10") == 0);
        r = registry_upper_bound(&reg, "a/10");
        CHECK(r && strcmp(r->name, "a/2") == 0);
        /* Resuming after a name that no longer exists still lands on its successor. */
        r = registry_upper_bound(&reg, "a/15");
        CHECK(r && strcmp(r->name, "a/2") == 0);
        r = registry_lower_bound(&reg, "b");
        CHECK(r && strcmp(r->name, "b") == 0);
        CHECK(registry_upper_bound(&reg, "c") == NULL);
        CHECK(reg.next_id == 6);
        registry_done(&reg);
        CHECK(reg.n_regions == 0);
}

static void test_prealloc(void) {
        Registry reg;
        Region *r = NULL;
        char err[256];
        RegionParams p = params("unit/pre", 1 << 20);
        struct stat st;

        p.flags = SHMBROKER__V1__REGION_FLAG__REGION_FLAG_PREALLOC;
        registry_init(&reg);
        CHECK(registry_create(&reg, &p, &r, err, sizeof(err)) == 0);
        CHECK(fstat(r->fd, &st) == 0 && (uint64_t)st.st_blocks * 512 >= (1u << 20));
        registry_done(&reg);
}

int main(void) {
        int fd0 = fd_count(0);

        test_create_and_seals();
        test_order_and_bounds();
        test_prealloc();
        CHECK_MSG(fd_count(0) == fd0, "no fd leaked");
        return tap_done();
}
