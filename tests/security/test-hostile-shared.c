/* SPDX-License-Identifier: MIT */
/*
 * Hostile clients against `shared` regions (SPEC 3, "Sharing modes") and
 * against the daemon's own descriptors. A shared region is one trust domain
 * for its read-write holders, so what must hold is narrower than for the
 * other modes, and exactly that is attacked here: a read-only handle stays
 * read-only for every other non-root uid, and no handle of any kind can
 * shrink, grow or re-seal the region. Each attack runs as the region's
 * owner, as another unprivileged uid, and as root; what root can do anyway
 * is asserted too, so that docs/security.md stays true.
 */
#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hostile.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* ---- attacks ------------------------------------------------------------ */

/* The creator's own read-write handle: it may write, never resize or re-seal. */
static int creator_resize_hook(shmb_region *r, struct hostile_creator *hc) {
        CHECK_INT(shmb_region_seals(r) & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        CHECK_INT(hostile_resize(shmb_region_fd(r), HOSTILE_SIZE), 0);
        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, hc->seed));
        return 0;
}

static int attack_read_handle(shmb_region *r, const struct hostile_reader *hr) {
        int fd = shmb_region_fd(r), rw = -1;

        harness_log("%s attacks the read handle of %s", hostile_who(), hr->name);
        CHECK_INT(shmb_region_seals(r) & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        CHECK_INT(hostile_readonly_handle(fd, shmb_region_data(r), HOSTILE_SIZE), 0);
        CHECK_INT(hostile_fchmod(fd), 0);
        CHECK_INT(hostile_reopen(fd, &rw), 0);
        if (rw >= 0) {
                _cleanup_close_ int rwfd = rw;

                /*
                 * Root now holds a writable handle of a shared region: shared
                 * mode does not hold against root. The seals still do.
                 */
                CHECK_INT(harness_mmap_result(rwfd, HOSTILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED), 0);
                CHECK_INT(hostile_resize(rwfd, HOSTILE_SIZE), 0);
        }
        return 0;
}

static int attack_rw_handle(shmb_region *r, const struct hostile_reader *hr) {
        char perms[5];

        harness_log("%s attacks the read-write handle of %s", hostile_who(), hr->name);
        CHECK_INT(shmb_region_seals(r) & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        CHECK_INT(harness_mapping_perms(shmb_region_data(r), perms), 0);
        CHECK_MSG(strcmp(perms, "rw-s") == 0, "read-write mapping is %s", perms);
        CHECK_INT(hostile_resize(shmb_region_fd(r), HOSTILE_SIZE), 0);
        return 0;
}

/* What a read-write holder may do to the others: zero pages (documented, not prevented). */
static int zero_pages_1_and_2(shmb_region *r, const struct hostile_reader *hr) {
        uint8_t *data = shmb_region_data(r);

        CHECK_SYS(fallocate(shmb_region_fd(r), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096));
        CHECK_SYS(madvise(data + 2 * 4096, 4096, MADV_REMOVE));
        CHECK(harness_is_zero(data + 4096, 2 * 4096));
        /* The size never changes: the others' mappings read zeros, never SIGBUS. */
        CHECK_INT(hostile_resize(shmb_region_fd(r), HOSTILE_SIZE), 0);
        return 0;
}

static int write_seed_after(shmb_region *r, const struct hostile_reader *hr) {
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, hr->seed_after);
        return 0;
}

/* ---- runs --------------------------------------------------------------- */

/*
 * creator (NULL: root) creates name with mode and seed, keeps it mapped,
 * then attacker opens it with access and runs attack; afterwards the
 * creator's mapping and a fresh reader must see seed unchanged.
 */
static int attack_run(const struct harness_creds *creator, const struct harness_creds *attacker, const char *name,
                      uint32_t mode, int access, unsigned seed,
                      int (*attack)(shmb_region *r, const struct hostile_reader *hr)) {
        _cleanup_child_ struct harness_child cr = HARNESS_CHILD_NULL;
        struct hostile_creator hc = {
                .name = name,
                .mode = mode,
                .sharing = SHMB_SHARED,
                .seed = seed,
                .hook = creator_resize_hook,
        };
        struct hostile_reader hr = {
                .name = name,
                .access = access,
                .seed = seed,
                .attack = attack,
        };

        harness_log("%s: created by uid %u, attacked by uid %u through a %s handle", name,
                    creator ? (unsigned)creator->uid : 0u, attacker ? (unsigned)attacker->uid : 0u,
                    access == SHMB_READ ? "read" : "read-write");
        CHECK_INT(hostile_creator_start(&cr, creator, &hc), 0);
        CHECK_CHILD(hostile_run_reader(attacker, &hr));
        CHECK_INT(hostile_cmd(&cr, 'v', seed), 0);
        CHECK_INT(hostile_verify(name, seed), 0);
        CHECK_INT(hostile_child_quit(&cr), 0);
        CHECK_INT(hostile_delete(name), 0);
        return 0;
}

static int need_root(void) {
        return harness_is_root() ? 0 : harness_skip("needs root to switch uids");
}

/* ---- 1. read handles of shared regions ---------------------------------- */

static int shared_read_handle_as_owner_root(void) {
        if (need_root())
                return HARNESS_SKIP;
        return attack_run(NULL, NULL, "sec/shared/ro-owner-root", 0600, SHMB_READ, 11, attack_read_handle);
}

static int shared_read_handle_as_owner_uid(void) {
        if (need_root())
                return HARNESS_SKIP;
        return attack_run(&harness_nobody, &harness_nobody, "sec/shared/ro-owner-uid", 0600, SHMB_READ, 12,
                          attack_read_handle);
}

static int shared_read_handle_as_other_uid(void) {
        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(attack_run(&harness_nobody, &hostile_uid_65533, "sec/shared/ro-other-uid", 0644, SHMB_READ, 13,
                             attack_read_handle), 0);
        /* A root-owned region, read by an unprivileged uid. */
        CHECK_INT(attack_run(NULL, &harness_nobody, "sec/shared/ro-other-uid-2", 0644, SHMB_READ, 14,
                             attack_read_handle), 0);
        return 0;
}

static int shared_read_handle_as_root(void) {
        if (need_root())
                return HARNESS_SKIP;
        return attack_run(&harness_nobody, NULL, "sec/shared/ro-root", 0600, SHMB_READ, 15, attack_read_handle);
}

/* ---- 2. read-write handles of shared regions ---------------------------- */

static int shared_rw_handle_as_owner_root(void) {
        if (need_root())
                return HARNESS_SKIP;
        return attack_run(NULL, NULL, "sec/shared/rw-owner-root", 0600, SHMB_READ_WRITE, 21, attack_rw_handle);
}

static int shared_rw_handle_as_owner_uid(void) {
        if (need_root())
                return HARNESS_SKIP;
        return attack_run(&harness_nobody, &harness_nobody, "sec/shared/rw-owner-uid", 0600, SHMB_READ_WRITE, 22,
                          attack_rw_handle);
}

static int shared_rw_handle_as_other_uid(void) {
        if (need_root())
                return HARNESS_SKIP;
        return attack_run(&harness_nobody, &hostile_uid_65533, "sec/shared/rw-other-uid", 0666, SHMB_READ_WRITE,
                          23, attack_rw_handle);
}

static int shared_rw_handle_as_root(void) {
        if (need_root())
                return HARNESS_SKIP;
        return attack_run(&harness_nobody, NULL, "sec/shared/rw-root", 0600, SHMB_READ_WRITE, 24, attack_rw_handle);
}

/*
 * Not a guarantee, asserted so the documentation stays honest: any
 * read-write holder of a shared region can zero its pages for everyone
 * (PUNCH_HOLE, MADV_REMOVE). What it cannot do is change the size, so the
 * others read zeros and never take SIGBUS.
 */
static int shared_rw_holder_can_zero_pages(void) {
        _cleanup_child_ struct harness_child cr = HARNESS_CHILD_NULL, rd = HARNESS_CHILD_NULL,
                                             z = HARNESS_CHILD_NULL;
        static const char name[] = "sec/shared/punch";
        struct hostile_creator hc = {
                .name = name,
                .mode = 0666,
                .sharing = SHMB_SHARED,
                .seed = 25,
        };
        struct hostile_reader reader = {
                .name = name,
                .access = SHMB_READ,
                .seed = 25,
        };
        struct hostile_reader zeroer = {
                .name = name,
                .access = SHMB_READ_WRITE,
                .seed = 25,
                .seed_after = HOSTILE_NO_CHECK,
                .attack = zero_pages_1_and_2,
        };

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(hostile_creator_start(&cr, &harness_nobody, &hc), 0);
        CHECK_INT(hostile_reader_start(&rd, &hostile_uid_65533, &reader), 0);
        CHECK_INT(hostile_reader_ready(&rd, NULL), 0);
        CHECK_INT(hostile_reader_start(&z, &hostile_uid_65533, &zeroer), 0);
        CHECK_INT(hostile_reader_ready(&z, NULL), 0);

        /* Every other mapper reads zeros on those pages now, and nothing faults. */
        CHECK_INT(hostile_cmd(&cr, 'z', 1), 0);
        CHECK_INT(hostile_cmd(&cr, 'z', 2), 0);
        CHECK_INT(hostile_cmd(&rd, 'z', 1), 0);
        CHECK_INT(hostile_cmd(&rd, 'z', 2), 0);

        /* The creator writes again; the holes fill in for everyone. */
        CHECK_INT(hostile_cmd(&cr, 'w', 26), 0);
        CHECK_INT(hostile_cmd(&rd, 'v', 26), 0);
        CHECK_INT(hostile_verify(name, 26), 0);

        CHECK_INT(hostile_child_quit(&z), 0);
        CHECK_INT(hostile_child_quit(&rd), 0);
        CHECK_INT(hostile_child_quit(&cr), 0);
        CHECK_INT(hostile_delete(name), 0);
        return 0;
}

/* ---- 8. legitimate uses ------------------------------------------------- */

static int shared_legitimate_uses(void) {
        _cleanup_child_ struct harness_child cr = HARNESS_CHILD_NULL, r_other = HARNESS_CHILD_NULL,
                                             r_owner = HARNESS_CHILD_NULL, r_root = HARNESS_CHILD_NULL;
        static const char name[] = "sec/shared/legit";
        struct hostile_creator hc = {
                .name = name,
                .mode = 0666,
                .sharing = SHMB_SHARED,
                .seed = 31,
        };
        struct hostile_reader reader = {
                .name = name,
                .access = SHMB_READ,
                .seed = 31,
        };
        struct hostile_reader writer = {
                .name = name,
                .access = SHMB_READ_WRITE,
                .seed = 31,
                .seed_after = 32,
                .attack = write_seed_after,
        };
        struct harness_child *readers[] = { &r_other, &r_owner, &r_root };

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(hostile_creator_start(&cr, &harness_nobody, &hc), 0);
        CHECK_INT(hostile_reader_start(&r_other, &hostile_uid_65533, &reader), 0);
        CHECK_INT(hostile_reader_start(&r_owner, &harness_nobody, &reader), 0);
        CHECK_INT(hostile_reader_start(&r_root, NULL, &reader), 0);
        for (size_t i = 0; i < ELEMENTSOF(readers); i++)
                CHECK_INT(hostile_reader_ready(readers[i], NULL), 0);

        /* Another uid's read-write handle writes; creator and readers see it. */
        CHECK_CHILD(hostile_run_reader(&hostile_uid_65533, &writer));
        CHECK_INT(hostile_cmd(&cr, 'v', 32), 0);
        for (size_t i = 0; i < ELEMENTSOF(readers); i++)
                CHECK_INT(hostile_cmd(readers[i], 'v', 32), 0);

        /* The creator's mapping writes; everyone sees it. */
        CHECK_INT(hostile_cmd(&cr, 'w', 33), 0);
        for (size_t i = 0; i < ELEMENTSOF(readers); i++)
                CHECK_INT(hostile_cmd(readers[i], 'v', 33), 0);
        CHECK_INT(hostile_verify(name, 33), 0);

        for (size_t i = 0; i < ELEMENTSOF(readers); i++)
                CHECK_INT(hostile_child_quit(readers[i]), 0);
        CHECK_INT(hostile_child_quit(&cr), 0);
        CHECK_INT(hostile_delete(name), 0);
        return 0;
}

/* ---- 5. the daemon's own descriptors ------------------------------------ */

struct proc_attack {
        pid_t daemon;
        int memfd;
        /* A dumpable process of the attacker's uid holding an fd: the control. */
        pid_t control_pid;
        int control_fd;
};

static int child_proc_attack(struct harness_chan *chan, void *userdata) {
        const struct proc_attack *pa = userdata;
        char path[64], target[256];
        DIR *d;
        int pidfd, fd;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pa->daemon);
        harness_log("%s tries %s/%d of the daemon", hostile_who(), path, pa->memfd);
        errno = 0;
        d = opendir(path);
        if (d)
                closedir(d);
        CHECK_MSG(!d && errno == EACCES, "opendir(%s) as %s: %s, expected EACCES", path, hostile_who(),
                  d ? "it worked" : harness_errname(-errno));
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pa->daemon, pa->memfd);
        CHECK_ERRNO(open(path, O_RDONLY | O_CLOEXEC), EACCES);
        CHECK_ERRNO(open(path, O_RDWR | O_CLOEXEC), EACCES);
        CHECK_ERRNO(readlink(path, target, sizeof(target)), EACCES);
        snprintf(path, sizeof(path), "/proc/%d/mem", (int)pa->daemon);
        CHECK_ERRNO(open(path, O_RDONLY | O_CLOEXEC), EACCES);

        /* pidfd_getfd needs ptrace attach rights, which a non-dumpable process grants nobody unprivileged. */
        pidfd = (int)syscall(SYS_pidfd_open, pa->daemon, 0);
        CHECK_MSG(pidfd >= 0, "pidfd_open(%d): %m", (int)pa->daemon);
        errno = 0;
        fd = (int)syscall(SYS_pidfd_getfd, pidfd, pa->memfd, 0);
        safe_close(pidfd);
        if (fd >= 0)
                safe_close(fd);
        CHECK_MSG(fd < 0 && errno == EPERM, "pidfd_getfd(daemon, %d) as %s: %s, expected EPERM", pa->memfd,
                  hostile_who(), fd >= 0 ? "it worked" : harness_errname(-errno));

        if (pa->control_pid > 0) {
                /* Same uid, dumpable: this is what PR_SET_DUMPABLE 0 takes away from the daemon's uid. */
                snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pa->control_pid, pa->control_fd);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                CHECK_MSG(fd >= 0, "control: %s could not open %s of a dumpable process of its own uid: %m",
                          hostile_who(), path);
                safe_close(fd);
        }
        return 0;
}

static int daemon_proc_fd_as_other_uid(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "sec/daemon/proc-fd";
        struct shmb_create_opts o = harness_opts(HOSTILE_SIZE, 0644, SHMB_OWNER);
        struct proc_attack pa = { .daemon = harness_daemon_pid() };
        char path[64];
        int fd;

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, 51);
        pa.memfd = hostile_daemon_memfd(pa.daemon, name);
        CHECK_MSG(pa.memfd >= 0, "no memfd of %s among the daemon's fds: %s", name, harness_errname(pa.memfd));

        CHECK_CHILD(harness_run_child(&harness_nobody, child_proc_attack, &pa));
        CHECK_CHILD(harness_run_child(&hostile_uid_65533, child_proc_attack, &pa));

        /* Root is not stopped by non-dumpability (CAP_SYS_PTRACE): documented. */
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pa.daemon, pa.memfd);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK_MSG(fd >= 0, "root could not open %s: %m", path);
        safe_close(fd);

        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, 51));
        return 0;
}

/* A second daemon running as uid 65534, so that its clients of uid 65534 are its own uid. */
struct second_daemon {
        char dir[64];
        char sock[96];
        pid_t pid;
};

static void second_daemon_stop(struct second_daemon *d) {
        if (d->pid > 0) {
                (void)kill(d->pid, SIGTERM);
                (void)harness_pid_wait(d->pid, 10000);
                d->pid = 0;
        }
        if (d->sock[0])
                (void)unlink(d->sock);
        if (d->dir[0])
                (void)rmdir(d->dir);
        d->dir[0] = d->sock[0] = 0;
}

static int second_daemon_start(struct second_daemon *d, const struct harness_creds *creds) {
        const char *bin = getenv("SHMBROKERD");
        long long deadline;
        pid_t pid;

        CHECK(bin && *bin);
        snprintf(d->dir, sizeof(d->dir), "/tmp/shmbroker-sec.XXXXXX");
        CHECK_MSG(mkdtemp(d->dir), "mkdtemp: %m");
        CHECK_SYS(chown(d->dir, creds->uid, creds->gid));
        CHECK_SYS(chmod(d->dir, 0755));
        snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        CHECK_SYS(pid);
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (null >= 0)
                        (void)dup2(null, STDIN_FILENO);
                if (setgroups(0, NULL) < 0 || setresgid(creds->gid, creds->gid, creds->gid) < 0 ||
                    setresuid(creds->uid, creds->uid, creds->uid) < 0)
                        _exit(98);
                (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                unsetenv("LISTEN_FDNAMES");
                unsetenv("NOTIFY_SOCKET");
                unsetenv("SHMBROKER_SOCKET");
                execl(bin, bin, "--socket", d->sock, (char *)NULL);
                _exit(127);
        }
        d->pid = pid;

        deadline = hostile_now_ms() + 5000;
        for (;;) {
                int fd = harness_raw_connect_path(d->sock);

                if (fd >= 0) {
                        safe_close(fd);
                        break;
                }
                CHECK_MSG(hostile_now_ms() < deadline, "the daemon as uid %u did not listen on %s within 5 s",
                          (unsigned)creds->uid, d->sock);
                hostile_sleep_ms(10);
        }
        return 0;
}

static int proc_status_uid(pid_t pid, uid_t *ret) {
        char path[64], line[256];
        FILE *f;
        int r = -ENOENT;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned u;

                if (sscanf(line, "Uid: %u", &u) == 1) {
                        *ret = u;
                        r = 0;
                        break;
                }
        }
        fclose(f);
        return r;
}

/* Creates a region on the second daemon, keeps it and makes itself dumpable (the control). */
static int child_create_on_second(struct harness_chan *chan, void *userdata) {
        const char *sock = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(HOSTILE_SIZE, 0600, SHMB_OWNER);

        CHECK_SHMB(c, shmb_connect(sock, &c), 0);
        CHECK_SHMB(c, shmb_create(c, "sec/daemon/same-uid", &o, &r), 0);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, 52);
        CHECK_SYS(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
        CHECK_INT(shmb_region_fd(r) < 256, 1);
        CHECK_INT(harness_chan_send(chan, 'c'), 0);
        CHECK_INT(harness_chan_send(chan, (char)shmb_region_fd(r)), 0);
        CHECK_INT(harness_chan_expect(chan, 'q'), 0);
        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, 52));
        return 0;
}

static void second_daemon_stopp(struct second_daemon *d) {
        second_daemon_stop(d);
}

/*
 * The daemon is non-dumpable, so even processes of its own uid cannot open
 * /proc/<daemon>/fd/N; a dumpable process of the same uid (the control)
 * shows that this, not the uid, is what stops them.
 */
static int daemon_proc_fd_as_daemon_uid(void) {
        _cleanup_(second_daemon_stopp) struct second_daemon d = { .pid = 0 };
        _cleanup_child_ struct harness_child cr = HARNESS_CHILD_NULL;
        struct proc_attack pa = { .daemon = 0 };
        uid_t uid = 0;
        char fdnum;

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(second_daemon_start(&d, &harness_nobody), 0);
        CHECK_INT(proc_status_uid(d.pid, &uid), 0);
        CHECK_INT(uid, HARNESS_NOBODY);

        CHECK_INT(harness_child_start(&cr, &harness_nobody, child_create_on_second, d.sock), 0);
        CHECK_INT(harness_chan_expect(&cr.chan, 'c'), 0);
        CHECK_INT(harness_chan_recv(&cr.chan, &fdnum, HARNESS_CHILD_TIMEOUT_MS), 0);

        pa.daemon = d.pid;
        pa.memfd = hostile_daemon_memfd(d.pid, "sec/daemon/same-uid");
        CHECK_MSG(pa.memfd >= 0, "no memfd among the second daemon's fds: %s", harness_errname(pa.memfd));
        pa.control_pid = cr.pid;
        pa.control_fd = (unsigned char)fdnum;
        CHECK_CHILD(harness_run_child(&harness_nobody, child_proc_attack, &pa));

        CHECK_INT(harness_chan_send(&cr.chan, 'q'), 0);
        CHECK_CHILD(harness_child_wait(&cr, HARNESS_CHILD_TIMEOUT_MS));

        CHECK_SYS(kill(d.pid, SIGTERM));
        CHECK_INT(harness_pid_wait(d.pid, 10000), 0);
        d.pid = 0;
        CHECK_ERRNO(access(d.sock, F_OK), ENOENT);
        return 0;
}

HARNESS_MAIN(NULL,
             HARNESS_TEST(shared_read_handle_as_owner_root),
             HARNESS_TEST(shared_read_handle_as_owner_uid),
             HARNESS_TEST(shared_read_handle_as_other_uid),
             HARNESS_TEST(shared_read_handle_as_root),
             HARNESS_TEST(shared_rw_handle_as_owner_root),
             HARNESS_TEST(shared_rw_handle_as_owner_uid),
             HARNESS_TEST(shared_rw_handle_as_other_uid),
             HARNESS_TEST(shared_rw_handle_as_root),
             HARNESS_TEST(shared_rw_holder_can_zero_pages),
             HARNESS_TEST(shared_legitimate_uses),
             HARNESS_TEST(daemon_proc_fd_as_other_uid),
             HARNESS_TEST(daemon_proc_fd_as_daemon_uid))
