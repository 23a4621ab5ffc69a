/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the basic contract: a region's bytes travel between
 * processes through the daemon, and each handle carries exactly the power
 * SPEC section 3 gives it. Read-only handles must not be turned writable by
 * any system call, read-write handles of a shared region must not resize or
 * re-seal it, and a deleted name must not take the memory from under anyone
 * still mapping it. Each check asserts the precise errno the kernel gives
 * (notes/memfd-facts.md), so a handle with the wrong open mode or seals
 * cannot pass by failing for some other reason.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1024u * 1024u)
#define SMALL (64u * 1024u)

static int check_perms(const void *addr, const char *expected) {
        char perms[5];

        CHECK_INT(harness_mapping_perms(addr, perms), 0);
        CHECK_MSG(strcmp(perms, expected) == 0, "mapping at %p is %s, expected %s", addr, perms,
                  expected);
        return 0;
}

/* ---- 1: producer and consumer in two processes ---------------------------- */

static const char basic_name[] = "it/basic";

static int child_produce(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(MIB, 0, SHMB_PERSISTENT);
        const struct shmb_region_info *info;
        int fd;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, basic_name, &o, &r), 0);
        CHECK_INT(shmb_region_size(r), MIB);
        CHECK(shmb_region_data(r) != NULL);
        info = shmb_region_info(r);
        CHECK(info != NULL);
        CHECK(strcmp(info->name, basic_name) == 0);
        CHECK_INT(info->lifetime, SHMB_PERSISTENT);

        fd = shmb_region_fd(r);
        CHECK_INT(harness_fd_accmode(fd), O_RDWR);
        CHECK_INT(fcntl(fd, F_GET_SEALS) & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        CHECK_INT(shmb_region_seals(r) & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        if (check_perms(shmb_region_data(r), "rw-s") < 0)
                return -1;

        /* Every page, so a consumer that maps the wrong object or length notices. */
        harness_fill(shmb_region_data(r), MIB, 1);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

static int child_consume(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        int fd;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, basic_name, SHMB_READ, 0, &r), 0);
        CHECK_INT(shmb_region_size(r), MIB);
        CHECK_INT(shmb_region_seals(r) & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        CHECK(strcmp(shmb_region_info(r)->name, basic_name) == 0);

        fd = shmb_region_fd(r);
        CHECK_INT(harness_fd_accmode(fd), O_RDONLY);
        /* The library reports the seals the kernel has, not what the daemon claimed. */
        CHECK_INT(fcntl(fd, F_GET_SEALS), shmb_region_seals(r));
        if (check_perms(shmb_region_data(r), "r--s") < 0)
                return -1;

        CHECK(harness_verify(shmb_region_data(r), MIB, 1));
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

static int basic_producer_consumer(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_region_info info;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_CHILD(harness_run_child(NULL, child_produce, NULL));

        /*
         * The producer closed its handle and left: a persistent region stays.
         * Its release reaches the daemon with its hang-up, which the daemon
         * may handle a moment after our next request.
         */
        CHECK_SHMB(c, harness_wait_holders(c, basic_name, 0, 5000), 0);
        CHECK_SHMB(c, shmb_stat(c, basic_name, &info), 0);
        CHECK_INT(info.size, MIB);
        CHECK_INT(info.lifetime, SHMB_PERSISTENT);
        CHECK_INT(info.mode, 0600);
        CHECK_INT(info.uid, geteuid());
        CHECK_INT(info.gid, getegid());
        CHECK_INT(info.holders, 0);
        CHECK_INT(info.seals & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);

        CHECK_CHILD(harness_run_child(NULL, child_consume, NULL));

        CHECK_SHMB(c, shmb_delete(c, basic_name), 0);
        CHECK_SHMB(c, shmb_stat(c, basic_name, &info), -ENOENT);
        return 0;
}

/* ---- 2: a read-only handle cannot be made to write ------------------------- */

static const char ro_name[] = "it/readonly";

static int child_write_to(struct harness_chan *chan, void *userdata) {
        struct rlimit no_core = { 0, 0 };

        (void)setrlimit(RLIMIT_CORE, &no_core);
        ((volatile uint8_t *)userdata)[100] = 0x42;
        return 0;
}

/* As uid 65534: the O_RDONLY reopen must not be reopenable read-write via /proc. */
static int child_nobody_reopen(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        char path[64];
        int fd, fd2;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, ro_name, SHMB_READ, 0, &r), 0);
        fd = shmb_region_fd(r);
        CHECK_INT(harness_fd_accmode(fd), O_RDONLY);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

        CHECK_ERRNO(open(path, O_RDWR | O_CLOEXEC), EACCES);
        CHECK_ERRNO(open(path, O_WRONLY | O_CLOEXEC), EACCES);
        /* Not the owner of the inode: cannot make it writable again. */
        CHECK_ERRNO(fchmod(fd, 0666), EPERM);
        fd2 = open(path, O_RDONLY | O_CLOEXEC);
        CHECK_SYS(fd2);
        safe_close(fd2);

        CHECK(harness_verify(shmb_region_data(r), SMALL, 2));
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

static int basic_readonly_cannot_write(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *w = NULL, *ro = NULL;
        struct shmb_create_opts o = harness_opts(SMALL, 0644, SHMB_PERSISTENT);
        struct harness_open_check verify = {
                .name = ro_name,
                .access = SHMB_READ,
                .size = SMALL,
                .seed = 2,
        };
        struct stat st;
        uint8_t *data;
        int fd;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, ro_name, &o, &w), 0);
        harness_fill(shmb_region_data(w), SMALL, 2);

        CHECK_SHMB(c, shmb_open(c, ro_name, SHMB_READ, 0, &ro), 0);
        fd = shmb_region_fd(ro);
        data = shmb_region_data(ro);
        CHECK_INT(harness_fd_accmode(fd), O_RDONLY);
        if (check_perms(data, "r--s") < 0)
                return -1;
        CHECK(harness_verify(data, SMALL, 2));

        CHECK_INT(harness_mmap_result(fd, SMALL, PROT_READ | PROT_WRITE, MAP_SHARED), -EACCES);
        CHECK_INT(harness_mmap_result(fd, SMALL, PROT_WRITE, MAP_SHARED), -EACCES);
        CHECK_INT(harness_mmap_result(fd, SMALL, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE), -EACCES);
        CHECK_ERRNO(mprotect(data, SMALL, PROT_READ | PROT_WRITE), EACCES);
        CHECK_ERRNO(write(fd, "x", 1), EBADF);
        CHECK_ERRNO(pwrite(fd, "x", 1, 0), EBADF);
        CHECK_ERRNO(ftruncate(fd, SMALL / 2), EINVAL);
        CHECK_ERRNO(ftruncate(fd, 0), EINVAL);
        CHECK_ERRNO(ftruncate(fd, SMALL * 2), EINVAL);
        CHECK_ERRNO(fallocate(fd, 0, 0, SMALL * 2), EBADF);
        CHECK_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), EBADF);
        CHECK_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
        CHECK_ERRNO(madvise(data, SMALL, MADV_REMOVE), EACCES);

        /* A store through the library's mapping faults, in a child that may die of it. */
        CHECK_INT(harness_run_child(NULL, child_write_to, data), -SIGSEGV);

        CHECK_SYS(fstat(fd, &st));
        CHECK_INT(st.st_size, SMALL);
        CHECK(harness_verify(data, SMALL, 2));
        CHECK(harness_verify(shmb_region_data(w), SMALL, 2));
        /* And what another process sees is still the creator's content. */
        CHECK_CHILD(harness_run_child(NULL, harness_child_open_check, &verify));

        if (harness_is_root())
                CHECK_CHILD(harness_run_child(&harness_nobody, child_nobody_reopen, NULL));
        else
                harness_log("not root: /proc reopen by another uid not checked");

        CHECK_SHMB(c, shmb_close(TAKE_PTR(ro)), 0);
        CHECK_SHMB(c, shmb_delete(c, ro_name), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(w)), 0);
        return 0;
}

/* ---- 3: a read-write handle cannot resize or re-seal ----------------------- */

static const char rw_name[] = "it/readwrite";

static int check_rw_fd(int fd, const char *who) {
        struct stat st;
        int seals;

        harness_log("checking the %s handle", who);
        CHECK_INT(harness_fd_accmode(fd), O_RDWR);
        CHECK_ERRNO(ftruncate(fd, SMALL / 2), EPERM);
        CHECK_ERRNO(ftruncate(fd, 0), EPERM);
        CHECK_ERRNO(ftruncate(fd, SMALL * 2), EPERM);
        CHECK_ERRNO(ftruncate(fd, (off_t)1 << 40), EPERM);
        CHECK_ERRNO(fallocate(fd, 0, SMALL, 4096), EPERM);
        CHECK_ERRNO(pwrite(fd, "x", 1, SMALL), EPERM);
        CHECK_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
        CHECK_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), EPERM);

        seals = fcntl(fd, F_GET_SEALS);
        CHECK_SYS(seals);
        CHECK_INT(seals & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        /* Linux 6.3+ (this machine) has MFD_NOEXEC_SEAL, so the daemon must use it. */
        CHECK_INT(seals & F_SEAL_EXEC, F_SEAL_EXEC);
        CHECK_INT(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE), 0);

        CHECK_SYS(fstat(fd, &st));
        CHECK_INT(st.st_size, SMALL);
        CHECK(S_ISREG(st.st_mode));
        CHECK_INT(st.st_mode & 0111, 0);
        /* A shared writable mapping is what a read-write handle is for. */
        CHECK_INT(harness_mmap_result(fd, SMALL, PROT_READ | PROT_WRITE, MAP_SHARED), 0);
        return 0;
}

static int basic_readwrite_cannot_resize(void) {
        _cleanup_conn_ shmb_conn *c1 = NULL, *c2 = NULL;
        _cleanup_region_ shmb_region *r1 = NULL, *r2 = NULL;
        struct shmb_create_opts o = harness_opts(SMALL, 0, SHMB_PERSISTENT);

        CHECK_INT(harness_connect(&c1), 0);
        CHECK_INT(harness_connect(&c2), 0);
        CHECK_SHMB(c1, shmb_create(c1, rw_name, &o, &r1), 0);
        CHECK_SHMB(c2, shmb_open(c2, rw_name, SHMB_READ_WRITE, 0, &r2), 0);
        if (check_perms(shmb_region_data(r1), "rw-s") < 0 || check_perms(shmb_region_data(r2), "rw-s") < 0)
                return -1;

        if (check_rw_fd(shmb_region_fd(r1), "creator's") < 0 || check_rw_fd(shmb_region_fd(r2), "opener's") < 0)
                return -1;
        CHECK_INT(shmb_region_seals(r1), fcntl(shmb_region_fd(r1), F_GET_SEALS));

        /* Two read-write handles of one region share its pages both ways. */
        harness_fill(shmb_region_data(r2), SMALL, 3);
        CHECK(harness_verify(shmb_region_data(r1), SMALL, 3));
        harness_fill(shmb_region_data(r1), SMALL, 4);
        CHECK(harness_verify(shmb_region_data(r2), SMALL, 4));

        CHECK_SHMB(c2, shmb_close(TAKE_PTR(r2)), 0);
        CHECK_SHMB(c1, shmb_delete(c1, rw_name), 0);
        CHECK_SHMB(c1, shmb_close(TAKE_PTR(r1)), 0);
        return 0;
}

/* ---- 5: deleting a name keeps existing mappings valid ---------------------- */

static const char del_name[] = "it/delete";

static int child_delete_holder(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        shmb_region *again = NULL;
        void *data;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, del_name, SHMB_READ_WRITE, 0, &r), 0);
        data = shmb_region_data(r);
        CHECK(harness_verify(data, SMALL, 5));
        CHECK_INT(harness_chan_send(chan, 'o'), 0);

        CHECK_INT(harness_chan_expect(chan, 'd'), 0);
        /* The name is gone, the memory is not, and it is still shared with the creator. */
        CHECK(harness_verify(data, SMALL, 5));
        CHECK_SHMB(c, shmb_open(c, del_name, SHMB_READ, 0, &again), -ENOENT);
        harness_fill(data, SMALL, 6);
        CHECK_INT(harness_chan_send(chan, 'w'), 0);

        CHECK_INT(harness_chan_expect(chan, 'n'), 0);
        /* A new region of the same name is another object. */
        CHECK(harness_verify(data, SMALL, 6));
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

static int basic_delete_keeps_mappings(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r1 = NULL, *r2 = NULL;
        struct shmb_create_opts o = harness_opts(SMALL, 0, SHMB_PERSISTENT);
        struct shmb_region_info info;
        shmb_region *tmp = NULL;
        uint64_t id1;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, del_name, &o, &r1), 0);
        harness_fill(shmb_region_data(r1), SMALL, 5);
        id1 = shmb_region_info(r1)->id;

        CHECK_INT(harness_child_start(&ch, NULL, child_delete_holder, NULL), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'o'), 0);
        CHECK_SHMB(c, shmb_stat(c, del_name, &info), 0);
        CHECK_INT(info.holders, 2);

        CHECK_SHMB(c, shmb_delete(c, del_name), 0);
        CHECK_SHMB(c, shmb_stat(c, del_name, &info), -ENOENT);
        CHECK_SHMB(c, shmb_open(c, del_name, SHMB_READ, 0, &tmp), -ENOENT);
        CHECK_SHMB(c, shmb_delete(c, del_name), -ENOENT);
        CHECK_INT(harness_chan_send(&ch.chan, 'd'), 0);

        CHECK_INT(harness_chan_expect(&ch.chan, 'w'), 0);
        CHECK(harness_verify(shmb_region_data(r1), SMALL, 6));

        CHECK_SHMB(c, shmb_create(c, del_name, &o, &r2), 0);
        CHECK_MSG(shmb_region_info(r2)->id != id1, "re-created region has the old id %llu",
                  (unsigned long long)id1);
        CHECK(harness_is_zero(shmb_region_data(r2), SMALL));
        harness_fill(shmb_region_data(r2), SMALL, 7);
        CHECK_INT(harness_chan_send(&ch.chan, 'n'), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));

        CHECK(harness_verify(shmb_region_data(r1), SMALL, 6));
        CHECK(harness_verify(shmb_region_data(r2), SMALL, 7));
        CHECK_SHMB(c, shmb_stat(c, del_name, &info), 0);
        CHECK_INT(info.id, shmb_region_info(r2)->id);
        CHECK_INT(info.holders, 1);

        /* Releasing a handle of a deleted region is not an error. */
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r1)), 0);
        CHECK_SHMB(c, shmb_delete(c, del_name), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r2)), 0);
        return 0;
}

/* ---- attributes and argument checks ---------------------------------------- */

static const char attr_name[] = "it/attributes";

static int basic_region_attributes(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL, *r2 = NULL;
        struct shmb_create_opts o = harness_opts(5000, 0640, SHMB_REFCOUNTED);
        const struct shmb_region_info *ri;
        struct shmb_region_info info;
        shmb_region *tmp = NULL;
        uint64_t now_usec;
        struct timespec ts;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, attr_name, &o, &r), 0);
        clock_gettime(CLOCK_REALTIME, &ts);
        now_usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;

        /* Sizes are rounded up to the page size; the request is kept too. */
        CHECK_INT(shmb_region_size(r), 8192);
        CHECK_INT(shmb_region_page_size(r), 4096);
        ri = shmb_region_info(r);
        CHECK_INT(ri->size, 8192);
        CHECK_INT(ri->requested_size, 5000);
        CHECK_INT(ri->page_size, 4096);

        CHECK_SHMB(c, shmb_stat(c, attr_name, &info), 0);
        CHECK(strcmp(info.name, attr_name) == 0);
        CHECK_INT(info.id, ri->id);
        CHECK(info.id != 0);
        CHECK_INT(info.size, 8192);
        CHECK_INT(info.requested_size, 5000);
        CHECK_INT(info.page_size, 4096);
        CHECK_INT(info.sharing, SHMB_SHARED);
        CHECK_INT(info.lifetime, SHMB_REFCOUNTED);
        CHECK_INT(info.uid, geteuid());
        CHECK_INT(info.gid, getegid());
        CHECK_INT(info.mode, 0640);
        CHECK_INT(info.flags, 0);
        CHECK_INT(info.holders, 1);
        CHECK(info.published);
        CHECK_INT(info.locked_bytes, 0);
        CHECK_INT(info.seals & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        CHECK_MSG(info.created_usec + 60000000u > now_usec && info.created_usec <= now_usec + 60000000u,
                  "created_usec %llu, now %llu", (unsigned long long)info.created_usec,
                  (unsigned long long)now_usec);

        /* A name in use, and names not in use. */
        CHECK_SHMB(c, shmb_create(c, attr_name, &o, &tmp), -EEXIST);
        CHECK_MSG(*shmb_conn_error(c) != 0, "no error message for -EEXIST");
        CHECK_SHMB(c, shmb_open(c, "it/no-such-region", SHMB_READ, 0, &tmp), -ENOENT);
        CHECK_SHMB(c, shmb_stat(c, "it/no-such-region", &info), -ENOENT);
        CHECK_SHMB(c, shmb_delete(c, "it/no-such-region"), -ENOENT);

        /* Arguments that cannot be right. */
        o = harness_opts(0, 0, SHMB_PERSISTENT);
        CHECK_SHMB(c, shmb_create(c, "it/size-zero", &o, &tmp), -EINVAL);
        o = harness_opts(4096, 01644, SHMB_PERSISTENT);
        CHECK_SHMB(c, shmb_create(c, "it/sticky", &o, &tmp), -EINVAL);
        o = harness_opts(4096, 04600, SHMB_PERSISTENT);
        CHECK_SHMB(c, shmb_create(c, "it/setuid", &o, &tmp), -EINVAL);
        o = harness_opts(4096, 0, 7);
        CHECK_SHMB(c, shmb_create(c, "it/lifetime-7", &o, &tmp), -EINVAL);
        CHECK_SHMB(c, shmb_open(c, attr_name, 0, 0, &tmp), -EINVAL);
        CHECK_SHMB(c, shmb_open(c, attr_name, 3, 0, &tmp), -EINVAL);
        CHECK_SHMB(c, shmb_stat(c, "it/size-zero", &info), -ENOENT);
        CHECK_SHMB(c, shmb_stat(c, "it/sticky", &info), -ENOENT);

        /* Each region gets its own id. */
        o = harness_opts(4096, 0, SHMB_REFCOUNTED);
        CHECK_SHMB(c, shmb_create(c, "it/attributes-2", &o, &r2), 0);
        CHECK(shmb_region_info(r2)->id != ri->id);

        /* Refcounted: closing the only handles destroys them. */
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r2)), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_SHMB(c, shmb_stat(c, attr_name, &info), -ENOENT);
        CHECK_SHMB(c, shmb_stat(c, "it/attributes-2", &info), -ENOENT);
        return 0;
}

/* ---- the daemon's own socket handling ---------------------------------------- */

static int basic_daemon_refuses_live_socket(void) {
        const char *args[] = { "--socket", harness_socket_path(), NULL };
        int fd, r;

        /* A second instance on a live socket must fail, not steal it. */
        r = harness_exec_daemon(args, 5000);
        CHECK_MSG(r > 0, "second daemon on a live socket: %s %d", r < 0 ? "-signal/-errno" : "exit status", r);

        fd = harness_raw_connect();
        CHECK_MSG(fd >= 0, "the first daemon's socket is gone: %s", strerror(-fd));
        r = harness_raw_hello(fd, 7);
        safe_close(fd);
        CHECK_INT(r, 0);
        return 0;
}

static int basic_daemon_replaces_stale_socket(void) {
        struct sockaddr_un sa = {
                .sun_family = AF_UNIX,
        };
        const char *args[] = { "--socket", sa.sun_path, NULL };
        struct stat st;
        pid_t pid;
        int fd = -1, r, i;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale.sock", harness_tmpdir());
        /* A socket file nobody listens on any more, as a crashed daemon leaves it. */
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        CHECK_SYS(fd);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        safe_close(fd);
        CHECK_SYS(r);

        CHECK_INT(harness_spawn_daemon(args, &pid), 0);
        for (i = 0; i < 500; i++) {
                fd = harness_raw_connect_path(sa.sun_path);
                if (fd >= 0)
                        break;
                usleep(10000);
        }
        if (fd < 0) {
                harness_log("no daemon listening on %s: %s", sa.sun_path, strerror(-fd));
                (void)harness_pid_wait(pid, 0);
                (void)unlink(sa.sun_path);
                return -1;
        }
        r = harness_raw_hello(fd, 1);
        safe_close(fd);
        if (stat(sa.sun_path, &st) < 0) {
                harness_log("stat %s: %m", sa.sun_path);
                r = -1;
        } else if ((st.st_mode & 07777) != 0666) {
                harness_log("socket %s has mode %o, expected 0666", sa.sun_path, (unsigned)(st.st_mode & 07777));
                r = -1;
        }

        (void)kill(pid, SIGTERM);
        i = harness_pid_wait(pid, 5000);
        if (i != 0) {
                harness_log("daemon on a stale socket: exit %d at SIGTERM", i);
                r = -1;
        }
        if (access(sa.sun_path, F_OK) == 0) {
                harness_log("the daemon left %s behind", sa.sun_path);
                (void)unlink(sa.sun_path);
                r = -1;
        }
        return r;
}

static int basic_daemon_command_line(void) {
        char path[128];
        const char *help[] = { "--help", NULL };
        const char *version[] = { "--version", NULL };
        const char *bogus[] = { "--no-such-option", NULL };
        const char *bad_mode[] = { "--socket", path, "--socket-mode", "abc", NULL };
        int r;

        snprintf(path, sizeof(path), "%s/bad-mode.sock", harness_tmpdir());
        CHECK_INT(harness_exec_daemon(help, 5000), 0);
        CHECK_INT(harness_exec_daemon(version, 5000), 0);
        r = harness_exec_daemon(bogus, 5000);
        CHECK_MSG(r > 0, "unknown option: exit %d, expected a failure status", r);
        r = harness_exec_daemon(bad_mode, 5000);
        (void)unlink(path);
        CHECK_MSG(r > 0, "--socket-mode abc: exit %d, expected a failure status", r);
        return 0;
}

HARNESS_MAIN(NULL,
             HARNESS_TEST(basic_producer_consumer),
             HARNESS_TEST(basic_readonly_cannot_write),
             HARNESS_TEST(basic_readwrite_cannot_resize),
             HARNESS_TEST(basic_delete_keeps_mappings),
             HARNESS_TEST(basic_region_attributes),
             HARNESS_TEST(basic_daemon_refuses_live_socket),
             HARNESS_TEST(basic_daemon_replaces_stale_socket),
             HARNESS_TEST(basic_daemon_command_line))
