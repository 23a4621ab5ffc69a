/* SPDX-License-Identifier: MIT */
/*
 * Hostile clients against `single-writer` regions (SPEC 3): once the
 * creator's library has mapped the region and the daemon has added
 * F_SEAL_FUTURE_WRITE|F_SEAL_SEAL, nobody, root included, can make another
 * writable mapping or write() to it, whatever descriptor they get hold of:
 * the creator's own, a reader's, or a read-write reopen of a reader's through
 * /proc as root. The creator's mapping keeps working and readers see its
 * writes. What FUTURE_WRITE does not stop (the creator's mapping inherited
 * by fork() or duplicated with mremap()) is asserted as well, because
 * docs/security.md promises exactly that much and no more. A raw-protocol
 * creator shows what readers see before the creator has mapped the region.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hostile.h"

#define SW_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)

static int need_root(void) {
        return harness_is_root() ? 0 : harness_skip("needs root to switch uids");
}

/* ---- attacks ------------------------------------------------------------ */

/* In the creator, right after shmb_create() returned: the seal is on, its mapping still writes. */
static int creator_hook(shmb_region *r, struct hostile_creator *hc) {
        int fd = shmb_region_fd(r), rw = -1;
        char perms[5];

        CHECK_INT(shmb_region_seals(r) & SW_SEALS, SW_SEALS);
        CHECK_INT(shmb_region_seals(r) & F_SEAL_WRITE, 0);
        CHECK_INT(shmb_region_info(r)->published, 1);
        CHECK_INT(harness_fd_accmode(fd), O_RDWR);
        CHECK_INT(harness_mapping_perms(shmb_region_data(r), perms), 0);
        CHECK_MSG(strcmp(perms, "rw-s") == 0, "the creator's mapping is %s", perms);

        /* Its own descriptor: no second writable mapping, no write(), no hole punching, even by the creator. */
        CHECK_INT(hostile_write_sealed(fd, shmb_region_data(r), HOSTILE_SIZE), 0);
        /*
         * Reopening a read-write descriptor read-write gains nothing (the
         * inode turns 0444 when the first read handle is made, which has
         * not happened yet): whatever the reopen gives, FUTURE_WRITE refuses
         * every new write path through it.
         */
        {
                char path[64];

                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                rw = open(path, O_RDWR | O_CLOEXEC);
                if (rw >= 0) {
                        _cleanup_close_ int rwfd = rw;

                        CHECK_INT(hostile_write_sealed(rwfd, NULL, HOSTILE_SIZE), 0);
                }
        }

        /* The mapping made before the seal writes on. */
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, hc->seed + 100);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, hc->seed);
        return 0;
}

static int open_rw_refused(const char *name) {
        _cleanup_conn_ shmb_conn *c = NULL;
        shmb_region *r = NULL;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, name, SHMB_READ_WRITE, 0, &r), -EACCES);
        CHECK_MSG(strstr(shmb_conn_error(c), "open it for read"), "error \"%s\" does not say to open it for read",
                  shmb_conn_error(c));
        return 0;
}

static int attack_reader(shmb_region *r, const struct hostile_reader *hr) {
        int fd = shmb_region_fd(r), rw = -1;

        harness_log("%s attacks the read handle of %s", hostile_who(), hr->name);
        CHECK_INT(shmb_region_seals(r) & SW_SEALS, SW_SEALS);
        CHECK_INT(hostile_readonly_handle(fd, shmb_region_data(r), HOSTILE_SIZE), 0);
        CHECK_INT(hostile_fchmod(fd), 0);
        CHECK_INT(hostile_reopen(fd, &rw), 0);
        if (rw >= 0) {
                _cleanup_close_ int rwfd = rw;

                /* Root holds a read-write descriptor: FUTURE_WRITE still refuses every new write path. */
                CHECK_INT(hostile_write_sealed(rwfd, NULL, HOSTILE_SIZE), 0);
        }
        /* Anyone, owner and root included, is told to open it for read. */
        CHECK_INT(open_rw_refused(hr->name), 0);
        return 0;
}

/* As root, through /proc/<reader>/fd/N of another process: a read-write descriptor, still no writes. */
static int attack_through_proc(pid_t pid, int fd_number) {
        _cleanup_close_ int fd = -1;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd_number);
        fd = open(path, O_RDWR | O_CLOEXEC);
        CHECK_MSG(fd >= 0, "root could not open %s read-write: %m", path);
        CHECK_INT(hostile_write_sealed(fd, NULL, HOSTILE_SIZE), 0);
        return 0;
}

/* ---- runs --------------------------------------------------------------- */

/*
 * The creator (creds, NULL: root) creates name; three readers open it for
 * read and attack; root then attacks each reader's descriptor through
 * /proc; the creator writes and every reader must see it.
 */
static int sw_run(const struct harness_creds *creator, const struct harness_creds *const readers[3],
                  const char *name, unsigned seed) {
        _cleanup_child_ struct harness_child cr = HARNESS_CHILD_NULL, r0 = HARNESS_CHILD_NULL,
                                             r1 = HARNESS_CHILD_NULL, r2 = HARNESS_CHILD_NULL;
        struct harness_child *rd[3] = { &r0, &r1, &r2 };
        struct hostile_creator hc = {
                .name = name,
                /* Write bits for everyone: still nobody may open it read-write. */
                .mode = 0666,
                .sharing = SHMB_SINGLE_WRITER,
                .seed = seed,
                .hook = creator_hook,
        };
        struct hostile_reader hr = {
                .name = name,
                .access = SHMB_READ,
                .seed = seed,
                .attack = attack_reader,
        };
        struct shmb_region_info info;
        int fdnum[3];

        CHECK_INT(hostile_creator_start(&cr, creator, &hc), 0);
        CHECK_INT(hostile_stat(name, &info), 0);
        CHECK_INT(info.sharing, SHMB_SINGLE_WRITER);
        CHECK_INT(info.seals & SW_SEALS, SW_SEALS);

        for (size_t i = 0; i < 3; i++) {
                harness_log("reader %zu: uid %u", i, readers[i] ? (unsigned)readers[i]->uid : 0u);
                CHECK_INT(hostile_reader_start(rd[i], readers[i], &hr), 0);
                CHECK_INT(hostile_reader_ready(rd[i], &fdnum[i]), 0);
        }
        for (size_t i = 0; i < 3; i++)
                CHECK_INT(attack_through_proc(rd[i]->pid, fdnum[i]), 0);

        CHECK_INT(hostile_cmd(&cr, 'v', seed), 0);
        CHECK_INT(hostile_verify(name, seed), 0);

        /* Legitimate use: the creator's mapping writes, every reader sees it. */
        CHECK_INT(hostile_cmd(&cr, 'w', seed + 1), 0);
        for (size_t i = 0; i < 3; i++)
                CHECK_INT(hostile_cmd(rd[i], 'v', seed + 1), 0);

        /*
         * Not prevented, and documented: the creator's pre-seal mapping is
         * inherited by fork() and can be duplicated with mremap(); both
         * write. Only the trusted writer may hold that mapping.
         */
        CHECK_INT(hostile_cmd(&cr, 'f', seed + 2), 0);
        for (size_t i = 0; i < 3; i++)
                CHECK_INT(hostile_cmd(rd[i], 'v', seed + 2), 0);
        CHECK_INT(hostile_cmd(&cr, 'm', seed + 3), 0);
        for (size_t i = 0; i < 3; i++)
                CHECK_INT(hostile_cmd(rd[i], 'v', seed + 3), 0);

        for (size_t i = 0; i < 3; i++)
                CHECK_INT(hostile_child_quit(rd[i]), 0);
        CHECK_INT(hostile_child_quit(&cr), 0);
        /* Still single-writer-sealed after its creator is gone; readable. */
        CHECK_INT(hostile_verify(name, seed + 3), 0);
        CHECK_INT(hostile_delete(name), 0);
        return 0;
}

static int sw_creator_root(void) {
        const struct harness_creds *const readers[3] = { &harness_nobody, &hostile_uid_65533, NULL };

        if (need_root())
                return HARNESS_SKIP;
        return sw_run(NULL, readers, "sec/sw/root", 60);
}

static int sw_creator_uid(void) {
        const struct harness_creds *const readers[3] = { &harness_nobody, &hostile_uid_65533, NULL };

        if (need_root())
                return HARNESS_SKIP;
        return sw_run(&harness_nobody, readers, "sec/sw/uid", 70);
}

/* ---- a raw-protocol creator -------------------------------------------- */

struct raw_creator {
        int sock;
        int memfd;
        uint64_t handle;
};

static void raw_creator_done(struct raw_creator *rc) {
        rc->memfd = safe_close(rc->memfd);
        rc->sock = safe_close(rc->sock);
}

static int raw_create(struct raw_creator *rc, const char *name, uint32_t mode) {
        _cleanup_response_ WireResponse *resp = NULL;
        Shmbroker__V1__CreateRequest create = SHMBROKER__V1__CREATE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        rc->sock = harness_raw_connect();
        CHECK_SYS(rc->sock);
        CHECK_INT(harness_raw_hello(rc->sock, 1), 0);
        create.name = (char *)name;
        create.size = HOSTILE_SIZE;
        create.mode = mode;
        create.sharing = SHMBROKER__V1__SHARING__SHARING_SINGLE_WRITER;
        create.lifetime = SHMBROKER__V1__LIFETIME__LIFETIME_PERSISTENT;
        req.id = 2;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CREATE;
        req.create = &create;
        CHECK_INT(harness_raw_send(rc->sock, &req), 0);
        CHECK_INT(harness_raw_recv(rc->sock, 5000, &resp, &rc->memfd), 0);
        CHECK_MSG(resp->status == SHMBROKER__V1__STATUS__STATUS_OK, "create: status %s \"%s\"",
                  wire_status_name((int)resp->status), resp->error);
        CHECK(resp->create && rc->memfd >= 0);
        rc->handle = resp->create->handle;
        return 0;
}

static int raw_mapped(struct raw_creator *rc, int expect_status) {
        _cleanup_response_ WireResponse *resp = NULL;
        Shmbroker__V1__MappedRequest mapped = SHMBROKER__V1__MAPPED_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        mapped.handle = rc->handle;
        req.id = 3;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_MAPPED;
        req.mapped = &mapped;
        CHECK_INT(harness_raw_send(rc->sock, &req), 0);
        CHECK_INT(harness_raw_recv(rc->sock, 5000, &resp, NULL), 0);
        CHECK_INT(resp->id, 3);
        CHECK_MSG((int)resp->status == expect_status, "mapped: status %s \"%s\", expected %s",
                  wire_status_name((int)resp->status), resp->error, wire_status_name(expect_status));
        return 0;
}

/*
 * Before the creator reports Mapped, the region is not sealed against
 * writes, so nobody else may get a handle: opens wait (or time out), and
 * are answered once it is. The creator's descriptor is already sealed
 * against resizing.
 */
static int sw_opens_wait_for_mapped(void) {
        _cleanup_(raw_creator_done) struct raw_creator rc = { .sock = -1, .memfd = -1 };
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_child_ struct harness_child rd = HARNESS_CHILD_NULL;
        static const char name[] = "sec/sw/raw";
        struct hostile_open_expect now = {
                .name = name,
                .access = SHMB_READ,
                .timeout_ms = 0,
                .expect = -ETIMEDOUT,
                .message = "not yet mapped",
        };
        struct hostile_reader waiter = {
                .name = name,
                .access = SHMB_READ,
                .timeout_ms = 5000,
                .seed = 80,
                .attack = attack_reader,
        };
        struct shmb_region_info info;
        void *map;
        int seals;

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(raw_create(&rc, name, 0666), 0);
        seals = fcntl(rc.memfd, F_GET_SEALS);
        CHECK_INT(seals & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
        CHECK_INT(seals & (F_SEAL_SEAL | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE), 0);
        CHECK_INT(harness_fd_accmode(rc.memfd), O_RDWR);
        /* Unsealed against writes, but never against resizing. */
        CHECK_ERRNO(ftruncate(rc.memfd, 0), EPERM);
        CHECK_ERRNO(ftruncate(rc.memfd, HOSTILE_SIZE * 2), EPERM);
        CHECK_ERRNO(fallocate(rc.memfd, 0, HOSTILE_SIZE, 4096), EPERM);

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.published, 0);
        CHECK_INT(hostile_open_expect(&harness_nobody, &now), 0);
        CHECK_INT(hostile_open_expect(NULL, &now), 0);

        CHECK_INT(hostile_reader_start(&rd, &hostile_uid_65533, &waiter), 0);
        hostile_sleep_ms(100);
        CHECK_INT(hostile_responsive(c, name, 100, NULL), 0);

        map = mmap(NULL, HOSTILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rc.memfd, 0);
        CHECK_MSG(map != MAP_FAILED, "creator mmap: %m");
        harness_fill(map, HOSTILE_SIZE, 80);
        CHECK_INT(raw_mapped(&rc, SHMBROKER__V1__STATUS__STATUS_OK), 0);
        CHECK_INT(fcntl(rc.memfd, F_GET_SEALS) & SW_SEALS, SW_SEALS);

        /* The waiter got its handle only now, with the seal on, and attacked it. */
        CHECK_INT(hostile_reader_ready(&rd, NULL), 0);
        CHECK_INT(hostile_write_sealed(rc.memfd, map, HOSTILE_SIZE), 0);
        harness_fill(map, HOSTILE_SIZE, 81);
        CHECK_INT(hostile_cmd(&rd, 'v', 81), 0);
        CHECK_INT(hostile_child_quit(&rd), 0);
        CHECK_SYS(munmap(map, HOSTILE_SIZE));

        CHECK_SHMB(c, shmb_delete(c, name), 0);
        return 0;
}

/*
 * A creator that adds F_SEAL_SEAL itself before reporting Mapped leaves a
 * region that can never be sealed against writes: the daemon must refuse
 * it, destroy it, and fail the opens waiting for it, never hand them an
 * unsealed handle.
 */
static int sw_creator_blocks_the_seal(void) {
        _cleanup_(raw_creator_done) struct raw_creator rc = { .sock = -1, .memfd = -1 };
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_child_ struct harness_child w = HARNESS_CHILD_NULL;
        static const char name[] = "sec/sw/seal-first";
        struct hostile_open_expect waiter = {
                .name = name,
                .access = SHMB_READ,
                .timeout_ms = 5000,
                .expect = -ENOENT,
                .max_ms = 4000,
        };
        struct shmb_region_info info;

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(raw_create(&rc, name, 0644), 0);
        CHECK_SYS(fcntl(rc.memfd, F_ADD_SEALS, F_SEAL_SEAL));

        CHECK_INT(hostile_open_expect_start(&w, &harness_nobody, &waiter), 0);
        hostile_sleep_ms(100);
        CHECK_INT(raw_mapped(&rc, SHMBROKER__V1__STATUS__STATUS_WRONG_STATE), 0);
        CHECK_CHILD(harness_child_wait(&w, HARNESS_CHILD_TIMEOUT_MS));

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_stat(c, name, &info), -ENOENT);
        return 0;
}

/* A creator that disconnects before Mapped: the region goes, waiters get -ENOENT. */
static int sw_creator_gone_before_mapped(void) {
        _cleanup_(raw_creator_done) struct raw_creator rc = { .sock = -1, .memfd = -1 };
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_child_ struct harness_child w = HARNESS_CHILD_NULL;
        static const char name[] = "sec/sw/gone";
        struct hostile_open_expect waiter = {
                .name = name,
                .access = SHMB_READ,
                .timeout_ms = 5000,
                .expect = -ENOENT,
                .min_ms = 100,
                .max_ms = 4000,
        };

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(raw_create(&rc, name, 0644), 0);
        CHECK_INT(hostile_open_expect_start(&w, &hostile_uid_65533, &waiter), 0);
        hostile_sleep_ms(200);
        rc.sock = safe_close(rc.sock);
        CHECK_CHILD(harness_child_wait(&w, HARNESS_CHILD_TIMEOUT_MS));
        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(harness_wait_gone(c, name, 2000), 0);
        return 0;
}

HARNESS_MAIN(NULL,
             HARNESS_TEST(sw_creator_root),
             HARNESS_TEST(sw_creator_uid),
             HARNESS_TEST(sw_opens_wait_for_mapped),
             HARNESS_TEST(sw_creator_blocks_the_seal),
             HARNESS_TEST(sw_creator_gone_before_mapped))
