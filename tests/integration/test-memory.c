/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of page sizes and memory flags (SPEC 3, "Page sizes",
 * "Flags"): hugetlb regions are fully allocated at create, so a mapper in
 * another process touches every page without SIGBUS and an empty pool fails
 * the create with a message naming pages needed, free and the knob; THP is
 * a wish reported back; locked regions are mlocked by the daemon.
 *
 * The huge-page pools are global: every test that changes one puts the old
 * value back, on failure too (pool_restore() runs at exit and on SIGTERM
 * as well), and concurrent runs of this program (other build directories,
 * other checkouts) take turns through a lock file, so that none of them
 * "restores" a value another one set.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define MIB (UINT64_C(1) << 20)
#define PAGE_2M (2 * MIB)
#define PAGE_1G (UINT64_C(1) << 30)

static const char pool_2m[] = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
static const char pool_1g[] = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
static long long saved_2m = -1, saved_1g = -1;
static pid_t main_pid;

static long long read_ll(const char *path) {
        long long v = -1;
        FILE *f = fopen(path, "re");

        if (!f)
                return -1;
        if (fscanf(f, "%lld", &v) != 1)
                v = -1;
        fclose(f);
        return v;
}

static int write_ll(const char *path, long long v) {
        FILE *f = fopen(path, "we");
        int r = 0;

        if (!f)
                return -errno;
        if (fprintf(f, "%lld\n", v) < 0)
                r = -EIO;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

static void pool_restore(void) {
        /* Children leave through exit() too: only the process that saved the values restores them. */
        if (main_pid && getpid() != main_pid)
                return;
        if (saved_2m >= 0 && write_ll(pool_2m, saved_2m) < 0)
                harness_log("cannot restore %s to %lld", pool_2m, saved_2m);
        if (saved_1g >= 0 && write_ll(pool_1g, saved_1g) < 0)
                harness_log("cannot restore %s to %lld", pool_1g, saved_1g);
}

/* Sets a pool to n pages (remembering the first old value); returns the size the kernel reached. */
static long long pool_set(const char *path, long long *saved, long long n) {
        if (*saved < 0)
                *saved = read_ll(path);
        if (*saved < 0 || write_ll(path, n) < 0)
                return -1;
        return read_ll(path);
}

static long long pool_free(const char *path) {
        char p[256];

        snprintf(p, sizeof(p), "%.*sfree_hugepages", (int)(strrchr(path, '/') - path + 1), path);
        return read_ll(p);
}

struct touch_args {
        const char *name;
        uint64_t size;
        uint64_t page;
        unsigned seed;
};

/* Opens the region read-write in another process, checks the page size, reads and rewrites every page. */
static int child_touch(struct harness_chan *chan, void *userdata) {
        const struct touch_args *a = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        struct stat st;
        uint8_t *p;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, a->name, SHMB_READ_WRITE, 0, &r), 0);
        CHECK_INT(shmb_region_size(r), a->size);
        CHECK_INT(shmb_region_page_size(r), a->page);
        CHECK_SYS(fstat(shmb_region_fd(r), &st));
        CHECK_INT((uint64_t)st.st_blocks * 512u, a->size);
        p = shmb_region_data(r);
        /* One byte per 4 KiB: any unbacked huge page would SIGBUS here and fail the child. */
        CHECK(harness_verify(p, (size_t)a->size, a->seed));
        for (uint64_t off = 0; off < a->size; off += 4096)
                p[off] ^= 0xff;
        return 0;
}

static int huge_region_roundtrip(const char *name, uint64_t page, uint64_t request) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(request, 0600, SHMB_PERSISTENT);
        uint64_t size = (request + page - 1) / page * page;
        struct touch_args a = { .name = name, .size = size, .page = page, .seed = 41 };
        struct shmb_region_info info;
        struct shmb_quota q;
        _cleanup_free_ uint8_t *before = NULL;
        const uint8_t *p;
        struct stat st;

        o.page_size = page;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        CHECK_INT(shmb_region_size(r), size);
        CHECK_INT(shmb_region_page_size(r), page);
        CHECK_SYS(fstat(shmb_region_fd(r), &st));
        CHECK_INT((uint64_t)st.st_blocks * 512u, size);
        harness_fill(shmb_region_data(r), (size_t)size, a.seed);

        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.size, size);
        CHECK_INT(info.requested_size, request);
        CHECK_INT(info.page_size, page);
        CHECK_INT(info.huge_page_bytes, size);
        CHECK_INT(info.resident_bytes, size);
        CHECK_SHMB(c, shmb_quota(c, 0, &q), 0);
        CHECK_INT(q.total_bytes, size);

        /* One byte per 4 KiB as written, to see the child's changes through our own mapping. */
        before = malloc((size_t)(size / 4096));
        CHECK(before);
        p = shmb_region_data(r);
        for (uint64_t i = 0; i < size / 4096; i++)
                before[i] = p[i * 4096];
        CHECK_CHILD(harness_run_child(NULL, child_touch, &a));
        for (uint64_t i = 0; i < size / 4096; i++) {
                unsigned want = 0xffu - before[i]; /* == before ^ 0xff for a byte */

                CHECK_MSG(p[i * 4096] == want, "page %" PRIu64 " not rewritten", i);
        }
        CHECK_SHMB(c, shmb_delete(c, name), 0);
        /* The huge pages were charged at their rounded size, and are released with the region. */
        CHECK_SHMB(c, shmb_quota(c, 0, &q), 0);
        CHECK_INT(q.total_bytes, 0);
        CHECK_INT(q.regions, 0);
        return 0;
}

static int memory_hugetlb_2m(void) {
        long long want, got;
        int r;

        if (!harness_is_root())
                return harness_skip("needs root to reserve 2 MiB huge pages");
        want = read_ll(pool_2m);
        if (want < 0)
                return harness_skip("no 2 MiB huge-page pool (%s)", pool_2m);
        got = pool_set(pool_2m, &saved_2m, want + 4);
        if (got < want + 4 || pool_free(pool_2m) < 4) {
                pool_restore();
                return harness_skip("cannot reserve 4 huge pages of 2 MiB (pool reached %lld)", got);
        }
        /* 5 MiB asks for three pages: rounded up, reported, all backed. */
        r = huge_region_roundtrip("it/mem/huge-2m", PAGE_2M, 5 * MIB);
        pool_restore();
        saved_2m = -1;
        return r;
}

static int memory_hugetlb_1g(void) {
        long long want, got;
        int r;

        if (!harness_is_root())
                return harness_skip("needs root to reserve a 1 GiB huge page");
        want = read_ll(pool_1g);
        if (want < 0)
                return harness_skip("no 1 GiB huge-page pool (%s)", pool_1g);
        got = pool_set(pool_1g, &saved_1g, want + 1);
        if (got < want + 1 || pool_free(pool_1g) < 1) {
                pool_restore();
                saved_1g = -1;
                return harness_skip("the kernel could not reserve a 1 GiB page (memory fragmented?): pool "
                                    "reached %lld", got);
        }
        r = huge_region_roundtrip("it/mem/huge-1g", PAGE_1G, 1);
        pool_restore();
        saved_1g = -1;
        return r;
}

static int memory_hugetlb_empty_pool(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(4 * MIB, 0600, SHMB_PERSISTENT);
        struct shmb_region_info info;
        long long free_pages;
        const char *msg;

        if (!harness_is_root())
                return harness_skip("needs root to empty the 2 MiB huge-page pool");
        if (pool_set(pool_2m, &saved_2m, 0) < 0) {
                pool_restore();
                saved_2m = -1;
                return harness_skip("cannot set %s", pool_2m);
        }
        free_pages = pool_free(pool_2m);
        o.page_size = PAGE_2M;
        /* More pages than are free, whatever others left in the pool. */
        o.size = (uint64_t)(free_pages + 2) * PAGE_2M;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, "it/mem/huge-empty", &o, &r), -ENOMEM);
        msg = shmb_conn_error(c);
        harness_log("daemon says: %s", msg);
        CHECK_MSG(strstr(msg, "needed") && strstr(msg, "free") && strstr(msg, "vm.nr_hugepages"),
                  "message lacks pages needed/free or the sysctl: %s", msg);
        /* A refused create leaves nothing behind. */
        CHECK_SHMB(c, shmb_stat(c, "it/mem/huge-empty", &info), -ENOENT);
        pool_restore();
        saved_2m = -1;
        return 0;
}

static int memory_thp_reported(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(3 * MIB + 1, 0600, SHMB_PERSISTENT);
        struct shmb_region_info info;
        char mode[64] = "";
        FILE *f;

        o.page_size = SHMB_PAGE_THP;
        o.flags = SHMB_PREALLOC;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, "it/mem/thp", &o, &r), 0);
        CHECK_INT(shmb_region_page_size(r), SHMB_PAGE_THP);
        /* THP regions are rounded to 4 KiB: huge pages are a wish, not a unit. */
        CHECK_INT(shmb_region_size(r), 3 * MIB + 4096);
        harness_fill(shmb_region_data(r), (size_t)shmb_region_size(r), 7);
        CHECK_SHMB(c, shmb_stat(c, "it/mem/thp", &info), 0);
        CHECK_INT(info.resident_bytes, 3 * MIB + 4096);
        f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");
        if (f) {
                if (!fgets(mode, sizeof(mode), f))
                        mode[0] = 0;
                fclose(f);
        }
        harness_log("shmem_enabled: %s, huge page bytes reported: %" PRIu64, strtok(mode, "\n"),
                    info.huge_page_bytes);
        /* The daemon never changes the knob: under "never" it must report none. */
        if (strstr(mode, "[never]") || strstr(mode, "[deny]"))
                CHECK_INT(info.huge_page_bytes, 0);
        CHECK(info.huge_page_bytes <= info.size);
        CHECK_SHMB(c, shmb_delete(c, "it/mem/thp"), 0);
        return 0;
}

/* Runs the daemon as nobody (no CAP_IPC_LOCK, RLIMIT_MEMLOCK as inherited) on the socket given. */
static int child_exec_daemon(struct harness_chan *chan, void *userdata) {
        const char *sock = userdata;
        const char *bin = getenv("SHMBROKERD");

        execl(bin, bin, "--socket", sock, "--quota-locked", "1G", (char *)NULL);
        harness_log("cannot run %s: %m", bin);
        return -1;
}

static int memory_locked_cap_is_what_daemon_can_lock(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        shmb_conn *c = NULL;
        shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(0, 0600, SHMB_PERSISTENT);
        struct shmb_quota q;
        struct rlimit rl;
        char dir[] = "/tmp/shmb-nobody.XXXXXX", sock[64];
        int ret = -1;

        if (!harness_is_root())
                return harness_skip("needs root to run a daemon as nobody");
        CHECK_SYS(getrlimit(RLIMIT_MEMLOCK, &rl));
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 64 * MIB)
                return harness_skip("RLIMIT_MEMLOCK is %s: too large to exceed in a test",
                                    rl.rlim_cur == RLIM_INFINITY ? "unlimited" : "over 64 MiB");
        CHECK(mkdtemp(dir));
        CHECK_SYS(chown(dir, HARNESS_NOBODY, HARNESS_NOBODY));
        snprintf(sock, sizeof(sock), "%s/sock", dir);
        CHECK_INT(harness_child_start(&ch, &harness_nobody, child_exec_daemon, sock), 0);
        for (int i = 0; i < 200 && shmb_connect(sock, &c) < 0; i++)
                usleep(10000);
        if (!c) {
                harness_log("the daemon running as nobody did not come up on %s", sock);
                goto out;
        }
        if (shmb_quota(c, 0, &q) < 0 || q.global_locked_limit != (uint64_t)rl.rlim_cur) {
                harness_log("global locked cap %" PRIu64 ", the daemon's RLIMIT_MEMLOCK is %llu",
                            q.global_locked_limit, (unsigned long long)rl.rlim_cur);
                goto out;
        }
        /* One page more than it can lock: refused by the cap, before mlock() could fail. */
        o.size = (uint64_t)rl.rlim_cur + 4096;
        o.flags = SHMB_LOCKED;
        if (shmb_create(c, "it/mem/over-rlimit", &o, &r) != -ENOSPC ||
            !strstr(shmb_conn_error(c), "RLIMIT_MEMLOCK")) {
                harness_log("locked create over the rlimit: \"%s\"", shmb_conn_error(c));
                goto out;
        }
        harness_log("daemon as nobody says: %s", shmb_conn_error(c));
        o.size = (uint64_t)rl.rlim_cur / 2;
        if (shmb_create(c, "it/mem/half-rlimit", &o, &r) < 0) {
                harness_log("locked create of half the rlimit: \"%s\"", shmb_conn_error(c));
                goto out;
        }
        ret = 0;
out:
        if (r)
                (void)shmb_close(r);
        shmb_disconnect(c);
        if (ch.pid > 0) {
                kill(ch.pid, SIGTERM);
                (void)harness_child_wait(&ch, 5000);
        }
        (void)unlink(sock);
        (void)rmdir(dir);
        return ret;
}

/* The daemon's own mapping of a locked region is read-only from an O_RDONLY fd: publishing still seals. */
static int memory_locked_immutable_publishes(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL, *ro = NULL, *sw = NULL;
        struct shmb_create_opts o = harness_opts(256 * 1024, 0644, SHMB_PERSISTENT);
        struct shmb_region_info info;
        struct shmb_quota q;

        o.sharing = SHMB_IMMUTABLE;
        o.flags = SHMB_LOCKED;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, "it/mem/locked-immutable", &o, &r), 0);
        harness_fill(shmb_region_data(r), 256 * 1024, 9);
        CHECK_SHMB(c, shmb_publish(r), 0);
        CHECK(shmb_region_seals(r) & F_SEAL_WRITE);
        CHECK_SHMB(c, shmb_open(c, "it/mem/locked-immutable", SHMB_READ, 0, &ro), 0);
        CHECK(harness_verify(shmb_region_data(ro), 256 * 1024, 9));
        CHECK_SHMB(c, shmb_stat(c, "it/mem/locked-immutable", &info), 0);
        CHECK_INT(info.locked_bytes, 256 * 1024);
        CHECK_INT(info.resident_bytes, 256 * 1024);
        CHECK_SHMB(c, shmb_delete(c, "it/mem/locked-immutable"), 0);

        /* Single-writer: FUTURE_WRITE is added with the daemon's locked mapping in place. */
        o.sharing = SHMB_SINGLE_WRITER;
        CHECK_SHMB(c, shmb_create(c, "it/mem/locked-sw", &o, &sw), 0);
        CHECK(shmb_region_seals(sw) & F_SEAL_FUTURE_WRITE);
        harness_fill(shmb_region_data(sw), 256 * 1024, 10);
        CHECK_SHMB(c, shmb_stat(c, "it/mem/locked-sw", &info), 0);
        CHECK_INT(info.locked_bytes, 256 * 1024);
        CHECK_SHMB(c, shmb_delete(c, "it/mem/locked-sw"), 0);
        /* Deleted: nothing stays locked or charged, though our mappings live on. */
        CHECK_SHMB(c, shmb_quota(c, 0, &q), 0);
        CHECK_INT(q.locked_bytes, 0);
        CHECK_INT(q.global_locked_bytes, 0);
        CHECK_INT(q.regions, 0);
        CHECK_INT(q.total_bytes, 0);
        return 0;
}

/* As nobody with a 64 KiB RLIMIT_MEMLOCK: locking 1 MiB client-side fails clearly, 32 KiB works. */
static int child_client_lock(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *big = NULL, *small = NULL;
        struct shmb_create_opts o = harness_opts(MIB, 0600, SHMB_OWNER);
        struct rlimit rl = { 64 * 1024, 64 * 1024 };
        int r;

        CHECK_SYS(setrlimit(RLIMIT_MEMLOCK, &rl));
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, "it/mem/client-lock-big", &o, &big), 0);
        r = shmb_region_lock(big, 0);
        CHECK_MSG(r == -ENOMEM || r == -EAGAIN || r == -EPERM, "lock over the rlimit: %s", harness_errname(r));
        CHECK_MSG(strstr(shmb_conn_error(c), "RLIMIT_MEMLOCK is 65536 bytes"), "message: %s", shmb_conn_error(c));
        r = shmb_region_lock(big, SHMB_LOCK_ONFAULT);
        CHECK_MSG(r < 0, "on-fault lock over the rlimit: %d", r);
        o.size = 32 * 1024;
        CHECK_SHMB(c, shmb_create(c, "it/mem/client-lock-small", &o, &small), 0);
        CHECK_SHMB(c, shmb_region_lock(small, 0), 0);
        CHECK_INT(shmb_region_lock(small, 2), -EINVAL);
        return 0;
}

static int memory_client_lock(void) {
        if (!harness_is_root())
                return harness_skip("needs root to run a child as nobody");
        CHECK_CHILD(harness_run_child(&harness_nobody, child_client_lock, NULL));
        return 0;
}

static int memory_bad_page_size(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(4096, 0600, SHMB_PERSISTENT);

        o.page_size = 64 * 1024;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, "it/mem/bad-page", &o, &r), -EINVAL);
        return 0;
}

static void on_term(int sig) {
        /* Forked children inherit this handler and the saved values: only the parent restores. */
        if (getpid() == main_pid)
                pool_restore();
        _exit(128 + sig);
}

int main(void) {
        static const struct harness_test tests[] = {
                HARNESS_TEST(memory_hugetlb_2m),
                HARNESS_TEST(memory_hugetlb_1g),
                HARNESS_TEST(memory_hugetlb_empty_pool),
                HARNESS_TEST(memory_thp_reported),
                HARNESS_TEST(memory_locked_cap_is_what_daemon_can_lock),
                HARNESS_TEST(memory_locked_immutable_publishes),
                HARNESS_TEST(memory_client_lock),
                HARNESS_TEST(memory_bad_page_size),
        };
        int r, lock_fd;

        main_pid = getpid();
        /* Held until exit: the pools are machine-wide. */
        lock_fd = open("/tmp/shmbroker-test-hugepages.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock_fd >= 0 && flock(lock_fd, LOCK_EX) < 0)
                harness_log("cannot lock the huge-page pools for this run: %m");
        atexit(pool_restore);
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        r = harness_main(tests, ELEMENTSOF(tests), NULL);
        pool_restore();
        saved_2m = saved_1g = -1;
        return r;
}
