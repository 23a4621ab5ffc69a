/* SPDX-License-Identifier: MIT */
/*
 * Hostile clients against `immutable` regions (SPEC 3): before publication
 * nobody but the creator gets a handle (opens wait or time out, and never
 * see a half-written buffer); after it, F_SEAL_WRITE|F_SEAL_SEAL hold
 * against everyone, root and the creator's own leftover descriptors
 * included. Publishing must not stall the daemon: the seal runs on a worker
 * thread, so a creator that pins pages with vmsplice() (F_SEAL_WRITE then
 * sleeps in the kernel) or keeps a writable mapping (EBUSY) only fails its
 * own publish, while every other client is answered promptly.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hostile.h"

#define IMM_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
/* Generous: a correctness check that the daemon's loop is free, not a benchmark. */
#define RESPONSIVE_MS 100

static int need_root(void) {
        return harness_is_root() ? 0 : harness_skip("needs root to switch uids");
}

static struct shmb_create_opts imm_opts(uint32_t mode) {
        struct shmb_create_opts o = harness_opts(HOSTILE_SIZE, mode, SHMB_PERSISTENT);

        o.sharing = SHMB_IMMUTABLE;
        return o;
}

/* ---- attacks ------------------------------------------------------------ */

static int open_rw_refused(const char *name) {
        _cleanup_conn_ shmb_conn *c = NULL;
        shmb_region *r = NULL;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, name, SHMB_READ_WRITE, 0, &r), -EACCES);
        CHECK_MSG(strstr(shmb_conn_error(c), "open it for read"), "error \"%s\" does not say to open it for read",
                  shmb_conn_error(c));
        return 0;
}

/* A published handle, read-only (a reader's, or the creator's after shmb_publish()). */
static int attack_published_handle(shmb_region *r) {
        int fd = shmb_region_fd(r), rw = -1;

        CHECK_INT(shmb_region_seals(r) & IMM_SEALS, IMM_SEALS);
        CHECK_INT(hostile_readonly_handle(fd, shmb_region_data(r), HOSTILE_SIZE), 0);
        CHECK_INT(hostile_fchmod(fd), 0);
        CHECK_INT(hostile_reopen(fd, &rw), 0);
        if (rw >= 0) {
                _cleanup_close_ int rwfd = rw;

                /* Root holds a read-write descriptor of a published region: nothing writes through it. */
                CHECK_INT(hostile_write_sealed(rwfd, NULL, HOSTILE_SIZE), 0);
        }
        return 0;
}

static int attack_reader(shmb_region *r, const struct hostile_reader *hr) {
        harness_log("%s attacks the read handle of %s", hostile_who(), hr->name);
        CHECK_INT(attack_published_handle(r), 0);
        CHECK_INT(open_rw_refused(hr->name), 0);
        return 0;
}

static int attack_through_proc(pid_t pid, int fd_number) {
        _cleanup_close_ int fd = -1;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd_number);
        fd = open(path, O_RDWR | O_CLOEXEC);
        CHECK_MSG(fd >= 0, "root could not open %s read-write: %m", path);
        CHECK_INT(hostile_write_sealed(fd, NULL, HOSTILE_SIZE), 0);
        return 0;
}

/* Creator hooks: keep a duplicate of the writable descriptor across publish, then attack with it. */
static int creator_keep_rw_fd(shmb_region *r, struct hostile_creator *hc) {
        hc->saved_fd = fcntl(shmb_region_fd(r), F_DUPFD_CLOEXEC, 3);
        CHECK_SYS(hc->saved_fd);
        CHECK_INT(harness_fd_accmode(hc->saved_fd), O_RDWR);
        return 0;
}

static int creator_after_publish(shmb_region *r, struct hostile_creator *hc) {
        char perms[5];

        CHECK_INT(shmb_region_info(r)->published, 1);
        CHECK_INT(harness_fd_accmode(shmb_region_fd(r)), O_RDONLY);
        CHECK_INT(harness_mapping_perms(shmb_region_data(r), perms), 0);
        CHECK_MSG(strcmp(perms, "r--s") == 0, "the creator's mapping after publish is %s", perms);
        CHECK_INT(attack_published_handle(r), 0);
        /* The descriptor it kept from before publication is writable, and useless. */
        CHECK_INT(hostile_write_sealed(hc->saved_fd, NULL, HOSTILE_SIZE), 0);
        hc->saved_fd = safe_close(hc->saved_fd);
        CHECK_INT(open_rw_refused(hc->name), 0);
        return 0;
}

/* ---- before publication ------------------------------------------------- */

static int imm_open_before_publish(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        _cleanup_child_ struct harness_child cr = HARNESS_CHILD_NULL;
        static const char name[] = "sec/imm/early", name2[] = "sec/imm/early-uid";
        struct shmb_create_opts o = imm_opts(0666);
        struct hostile_open_expect now = {
                .name = name,
                .access = SHMB_READ,
                .timeout_ms = 0,
                .expect = -ETIMEDOUT,
                .message = "not yet published",
                .max_ms = 1000,
        };
        struct hostile_open_expect later = now;
        struct hostile_open_expect rw = {
                .name = name,
                .access = SHMB_READ_WRITE,
                .timeout_ms = 0,
                .expect = -EACCES,
                .message = "open it for read",
        };
        struct hostile_creator hc = {
                .name = name2,
                .mode = 0600,
                .sharing = SHMB_IMMUTABLE,
                .seed = 41,
        };
        struct shmb_region_info info;

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE / 2, 40);
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.published, 0);
        CHECK_INT(info.seals & (F_SEAL_WRITE | F_SEAL_SEAL), 0);

        /* Other uids, and root, on fresh connections: nothing before publication. */
        CHECK_INT(hostile_open_expect(&harness_nobody, &now), 0);
        CHECK_INT(hostile_open_expect(&hostile_uid_65533, &now), 0);
        CHECK_INT(hostile_open_expect(NULL, &now), 0);
        CHECK_INT(hostile_open_expect(&harness_nobody, &rw), 0);
        CHECK_INT(hostile_open_expect(NULL, &rw), 0);
        later.timeout_ms = 300;
        later.message = "published by its creator";
        later.min_ms = 250;
        later.max_ms = 2000;
        CHECK_INT(hostile_open_expect(&hostile_uid_65533, &later), 0);

        /* The owner's uid, on another connection: same. */
        CHECK_INT(hostile_creator_start(&cr, &harness_nobody, &hc), 0);
        now.name = name2;
        CHECK_INT(hostile_open_expect(&harness_nobody, &now), 0);
        rw.name = name2;
        CHECK_INT(hostile_open_expect(&harness_nobody, &rw), 0);
        /* Its creator closes without publishing: the region is destroyed. */
        CHECK_INT(hostile_child_quit(&cr), 0);
        CHECK_INT(harness_wait_gone(c, name2, 2000), 0);

        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_INT(harness_wait_gone(c, name, 2000), 0);
        return 0;
}

/*
 * A reader waits (timeout 2 s) while the creator is half-way through
 * writing; the daemon answers others meanwhile; the creator finishes and
 * publishes after ~200 ms; the reader then sees the final bytes and nothing
 * writes any more, root included.
 */
static int imm_waiter_sees_final_bytes(void) {
        _cleanup_conn_ shmb_conn *c = NULL, *other = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        _cleanup_child_ struct harness_child rd = HARNESS_CHILD_NULL;
        _cleanup_close_ int kept = -1;
        static const char name[] = "sec/imm/wait";
        struct shmb_create_opts o = imm_opts(0666);
        struct hostile_reader waiter = {
                .name = name,
                .access = SHMB_READ,
                .timeout_ms = 2000,
                .seed = 42,
                .attack = attack_reader,
                .gated = true,
        };
        struct shmb_region_info info;
        long long t0, slowest = 0;
        int fdnum, rw = -1;
        char dummy;

        if (need_root())
                return HARNESS_SKIP;
        /* Forked before the creator maps anything writable (see imm_forked_creator_child). */
        CHECK_INT(hostile_reader_start(&rd, &harness_nobody, &waiter), 0);
        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(harness_connect(&other), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        memset(shmb_region_data(r), 0, HOSTILE_SIZE);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE / 2, 42);
        /* The creator keeps a duplicate of its writable descriptor, to attack with after publishing. */
        kept = fcntl(shmb_region_fd(r), F_DUPFD_CLOEXEC, 3);
        CHECK_SYS(kept);

        CHECK_INT(hostile_reader_go(&rd), 0);
        t0 = hostile_now_ms();
        hostile_sleep_ms(100);
        CHECK_INT(hostile_responsive(other, name, RESPONSIVE_MS, &slowest), 0);
        harness_log("while an open waits, stat and list took at most %lld ms", slowest);
        CHECK_INT(harness_chan_recv(&rd.chan, &dummy, 0), -ETIMEDOUT);

        harness_fill(shmb_region_data(r), HOSTILE_SIZE, 42);
        hostile_sleep_ms(MAX(0L, (long)(t0 + 200 - hostile_now_ms())));
        CHECK_INT(harness_chan_recv(&rd.chan, &dummy, 0), -ETIMEDOUT);
        CHECK_SHMB(c, shmb_publish(r), 0);
        harness_log("published after %lld ms", hostile_now_ms() - t0);

        /* The reader checked the full contents right after its open returned, then attacked. */
        CHECK_INT(hostile_reader_ready(&rd, &fdnum), 0);
        CHECK_INT(attack_through_proc(rd.pid, fdnum), 0);
        CHECK_INT(hostile_cmd(&rd, 'v', 42), 0);

        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.published, 1);
        CHECK_INT(info.seals & IMM_SEALS, IMM_SEALS);
        CHECK_INT(harness_fd_accmode(shmb_region_fd(r)), O_RDONLY);
        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, 42));
        CHECK_INT(attack_published_handle(r), 0);
        CHECK_INT(hostile_write_sealed(kept, NULL, HOSTILE_SIZE), 0);
        CHECK_INT(hostile_reopen(kept, &rw), 0);
        if (rw >= 0) {
                _cleanup_close_ int rwfd = rw;

                CHECK_INT(hostile_write_sealed(rwfd, NULL, HOSTILE_SIZE), 0);
        }

        CHECK_INT(hostile_child_quit(&rd), 0);
        CHECK_INT(hostile_verify(name, 42), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_SHMB(c, shmb_delete(c, name), 0);
        return 0;
}

/* ---- after publication -------------------------------------------------- */

static int imm_after_publish_attacks(void) {
        _cleanup_child_ struct harness_child cr = HARNESS_CHILD_NULL, r0 = HARNESS_CHILD_NULL,
                                             r1 = HARNESS_CHILD_NULL, r2 = HARNESS_CHILD_NULL;
        struct harness_child *rd[3] = { &r0, &r1, &r2 };
        const struct harness_creds *const creds[3] = { &harness_nobody, &hostile_uid_65533, NULL };
        static const char name[] = "sec/imm/published";
        struct hostile_creator hc = {
                .name = name,
                .mode = 0666,
                .sharing = SHMB_IMMUTABLE,
                .seed = 43,
                .publish = true,
                .hook = creator_keep_rw_fd,
                .after_publish = creator_after_publish,
        };
        struct hostile_reader hr = {
                .name = name,
                .access = SHMB_READ,
                .seed = 43,
                .attack = attack_reader,
        };
        int fdnum[3];

        if (need_root())
                return HARNESS_SKIP;
        /* Owner 65534 attacks as creator (hooks) and as reader; 65533 is another uid; then root. */
        CHECK_INT(hostile_creator_start(&cr, &harness_nobody, &hc), 0);
        for (size_t i = 0; i < 3; i++) {
                CHECK_INT(hostile_reader_start(rd[i], creds[i], &hr), 0);
                CHECK_INT(hostile_reader_ready(rd[i], &fdnum[i]), 0);
        }
        for (size_t i = 0; i < 3; i++)
                CHECK_INT(attack_through_proc(rd[i]->pid, fdnum[i]), 0);

        CHECK_INT(hostile_cmd(&cr, 'v', 43), 0);
        for (size_t i = 0; i < 3; i++) {
                CHECK_INT(hostile_cmd(rd[i], 'v', 43), 0);
                CHECK_INT(hostile_child_quit(rd[i]), 0);
        }
        CHECK_INT(hostile_child_quit(&cr), 0);
        CHECK_INT(hostile_verify(name, 43), 0);
        CHECK_INT(hostile_delete(name), 0);
        return 0;
}

/* ---- the creator goes away before publishing ---------------------------- */

static int imm_creator_gone_before_publish(void) {
        static const char *const names[] = { "sec/imm/gone-disconnect", "sec/imm/gone-close", "sec/imm/gone-uid" };
        struct hostile_open_expect waiter = {
                .access = SHMB_READ,
                .timeout_ms = 5000,
                .expect = -ENOENT,
                .min_ms = 150,
                .max_ms = 4000,
        };

        if (need_root())
                return HARNESS_SKIP;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_conn_ shmb_conn *c = NULL, *creator = NULL;
                _cleanup_region_ shmb_region *r = NULL;
                _cleanup_child_ struct harness_child w = HARNESS_CHILD_NULL, cr = HARNESS_CHILD_NULL;
                struct shmb_create_opts o = imm_opts(0644);
                struct hostile_creator hc = {
                        .name = names[i],
                        .mode = 0644,
                        .sharing = SHMB_IMMUTABLE,
                        .seed = 44,
                };

                harness_log("creator of %s goes away before publishing", names[i]);
                CHECK_INT(harness_connect(&c), 0);
                if (i < 2) {
                        CHECK_INT(harness_connect(&creator), 0);
                        CHECK_SHMB(creator, shmb_create(creator, names[i], &o, &r), 0);
                        harness_fill(shmb_region_data(r), HOSTILE_SIZE, 44);
                } else
                        CHECK_INT(hostile_creator_start(&cr, &harness_nobody, &hc), 0);

                waiter.name = names[i];
                CHECK_INT(hostile_open_expect_start(&w, &hostile_uid_65533, &waiter), 0);
                hostile_sleep_ms(200);
                if (i == 0)
                        shmb_disconnect(TAKE_PTR(creator));
                else if (i == 1)
                        CHECK_SHMB(creator, shmb_close(TAKE_PTR(r)), 0);
                else
                        CHECK_INT(hostile_child_quit(&cr), 0);
                CHECK_CHILD(harness_child_wait(&w, HARNESS_CHILD_TIMEOUT_MS));
                CHECK_SHMB(c, shmb_stat(c, names[i], &(struct shmb_region_info){ .id = 0 }), -ENOENT);
        }
        return 0;
}

/* ---- 6. publish with a writable mapping still alive --------------------- */

static int imm_publish_busy_with_mapping(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "sec/imm/busy";
        struct shmb_create_opts o = imm_opts(0644);
        struct hostile_open_expect now = {
                .name = name,
                .access = SHMB_READ,
                .timeout_ms = 0,
                .expect = -ETIMEDOUT,
        };
        struct shmb_region_info info;
        char perms[5];
        void *second, *priv;
        int fd;

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, 45);
        fd = shmb_region_fd(r);

        /* A second writable shared mapping: F_SEAL_WRITE fails EBUSY, nothing is published. */
        second = mmap(NULL, HOSTILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK_MSG(second != MAP_FAILED, "mmap: %m");
        CHECK_SHMB(c, shmb_publish(r), -EBUSY);
        harness_log("publish with a second writable mapping: \"%s\"", shmb_conn_error(c));
        CHECK_MSG(strstr(shmb_conn_error(c), "unmap"), "error \"%s\" does not say to unmap", shmb_conn_error(c));
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.published, 0);
        CHECK_INT(info.seals & F_SEAL_WRITE, 0);
        CHECK_INT(hostile_open_expect(&harness_nobody, &now), 0);
        /* The creator got its writable mapping back and may go on writing. */
        CHECK_INT(harness_mapping_perms(shmb_region_data(r), perms), 0);
        CHECK_MSG(strcmp(perms, "rw-s") == 0, "the creator's mapping after a failed publish is %s", perms);
        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, 45));
        harness_fill(second, HOSTILE_SIZE, 46);
        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, 46));
        CHECK_SYS(munmap(second, HOSTILE_SIZE));

        /* A read-only shared mapping of the writable descriptor blocks the seal too. */
        second = mmap(NULL, HOSTILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
        CHECK_MSG(second != MAP_FAILED, "mmap: %m");
        CHECK_SHMB(c, shmb_publish(r), -EBUSY);
        CHECK_SYS(munmap(second, HOSTILE_SIZE));

        /* A private mapping does not: its writes are its own. */
        priv = mmap(NULL, HOSTILE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        CHECK_MSG(priv != MAP_FAILED, "mmap: %m");
        CHECK_SHMB(c, shmb_publish(r), 0);
        harness_fill(priv, HOSTILE_SIZE, 47);
        CHECK_SYS(munmap(priv, HOSTILE_SIZE));

        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.published, 1);
        CHECK_INT(info.seals & IMM_SEALS, IMM_SEALS);
        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, 46));
        CHECK_INT(hostile_verify(name, 46), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_SHMB(c, shmb_delete(c, name), 0);
        return 0;
}

/*
 * A child the creator fork()s inherits its writable mapping. Publishing
 * must then not succeed while that child could still write: either the
 * seal fails EBUSY until the child is gone, or (should the library keep
 * writable mappings out of children) the child has no writable mapping.
 */
static int child_report_mapping(struct harness_chan *chan, void *userdata) {
        char perms[5];
        int r;

        r = harness_mapping_perms(userdata, perms);
        CHECK_INT(harness_chan_send(chan, r == 0 && perms[1] == 'w' && perms[3] == 's' ? 'W' : 'n'), 0);
        CHECK_INT(harness_chan_expect(chan, 'q'), 0);
        return 0;
}

static int imm_forked_creator_child(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        static const char name[] = "sec/imm/forked";
        struct shmb_create_opts o = imm_opts(0644);
        struct shmb_region_info info;
        char state = 0;
        int e;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, 50);
        CHECK_INT(harness_child_start(&ch, NULL, child_report_mapping, shmb_region_data(r)), 0);
        CHECK_INT(harness_chan_recv(&ch.chan, &state, HARNESS_CHILD_TIMEOUT_MS), 0);

        e = shmb_publish(r);
        harness_log("the forked child %s a writable mapping; publish: %s", state == 'W' ? "holds" : "does not hold",
                    e ? harness_errname(e) : "ok");
        if (state == 'W') {
                CHECK_SHMB(c, e, -EBUSY);
                CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
                CHECK_INT(info.published, 0);
                CHECK_INT(harness_chan_send(&ch.chan, 'q'), 0);
                CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
                CHECK_SHMB(c, shmb_publish(r), 0);
        } else {
                CHECK_SHMB(c, e, 0);
                CHECK_INT(harness_chan_send(&ch.chan, 'q'), 0);
                CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        }
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.published, 1);
        CHECK_INT(hostile_verify(name, 50), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_SHMB(c, shmb_delete(c, name), 0);
        return 0;
}

/* ---- 7. a creator pinning pages with vmsplice() ------------------------- */

struct publish_job {
        shmb_region *r;
        int result;
        long long ms;
        atomic_bool done;
};

static void *publish_thread(void *userdata) {
        struct publish_job *j = userdata;
        long long t0 = hostile_now_ms();

        j->result = shmb_publish(j->r);
        j->ms = hostile_now_ms() - t0;
        atomic_store(&j->done, true);
        return NULL;
}

static int imm_publish_vmsplice_pin(void) {
        _cleanup_conn_ shmb_conn *c = NULL, *other = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        _cleanup_close_ int pin_r = -1, pin_w = -1;
        static const char name[] = "sec/imm/pinned";
        struct shmb_create_opts o = imm_opts(0644);
        struct publish_job job = { .result = 1 };
        struct shmb_region_info info;
        struct iovec iov;
        long long slowest = 0;
        unsigned checks = 0;
        pthread_t thread;
        int p[2], e;

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(harness_connect(&other), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, 48);

        CHECK_SYS(pipe2(p, O_CLOEXEC));
        pin_r = p[0];
        pin_w = p[1];
        iov = (struct iovec){ .iov_base = shmb_region_data(r), .iov_len = 4096 };
        CHECK_INT(vmsplice(pin_w, &iov, 1, 0), 4096);

        job.r = r;
        atomic_init(&job.done, false);
        e = pthread_create(&thread, NULL, publish_thread, &job);
        CHECK_INT(-e, 0);
        /* Every other client is served while the seal waits for the pin in the kernel. */
        while (!atomic_load(&job.done)) {
                long long ms = 0;

                if (hostile_responsive(other, name, RESPONSIVE_MS, &ms) < 0) {
                        (void)pthread_join(thread, NULL);
                        return -1;
                }
                slowest = MAX(slowest, ms);
                checks++;
                hostile_sleep_ms(2);
        }
        CHECK_INT(-pthread_join(thread, NULL), 0);
        harness_log("publish with a pinned page: %s after %lld ms (\"%s\"); %u stat+list meanwhile, slowest %lld ms",
                    job.result ? harness_errname(job.result) : "ok", job.ms, job.result ? shmb_conn_error(c) : "",
                    checks, slowest);
        if (job.ms > 2 * RESPONSIVE_MS)
                CHECK_MSG(checks >= 2, "only %u stat+list answered during a %lld ms publish", checks, job.ms);

        if (job.result == -EBUSY) {
                CHECK_SHMB(other, shmb_stat(other, name, &info), 0);
                CHECK_INT(info.published, 0);
                CHECK_INT(info.seals & F_SEAL_WRITE, 0);
                /* The pin is gone with the pipe; publishing works now. */
                pin_r = safe_close(pin_r);
                pin_w = safe_close(pin_w);
                CHECK_SHMB(c, shmb_publish(r), 0);
        } else {
                CHECK_INT(job.result, 0);
                harness_log("the kernel did not hold the seal back for the pinned page");
        }

        CHECK_SHMB(other, shmb_stat(other, name, &info), 0);
        CHECK_INT(info.published, 1);
        CHECK_INT(info.seals & IMM_SEALS, IMM_SEALS);
        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, 48));
        CHECK_INT(hostile_verify(name, 48), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_SHMB(c, shmb_delete(c, name), 0);
        return 0;
}

/*
 * A creator that adds F_SEAL_SEAL itself before publishing makes the write
 * seal impossible: publish must fail and the region must stay unpublished
 * (no reader ever gets a handle without F_SEAL_WRITE).
 */
static int imm_creator_blocks_the_seal(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "sec/imm/seal-first";
        struct shmb_create_opts o = imm_opts(0644);
        struct hostile_open_expect now = {
                .name = name,
                .access = SHMB_READ,
                .timeout_ms = 0,
                .expect = -ETIMEDOUT,
        };
        struct shmb_region_info info;
        int e;

        if (need_root())
                return HARNESS_SKIP;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, 49);
        CHECK_SYS(fcntl(shmb_region_fd(r), F_ADD_SEALS, F_SEAL_SEAL));

        e = shmb_publish(r);
        harness_log("publish after the creator's own F_SEAL_SEAL: %s (\"%s\")", harness_errname(e),
                    shmb_conn_error(c));
        /* WRONG_STATE: the creator sealed it shut, so it can never be published and is deleted. */
        CHECK_MSG(e == -EBUSY, "publish returned %d %s, expected EBUSY", e, harness_errname(e));
        CHECK_SHMB(c, shmb_stat(c, name, &info), -ENOENT);
        now.expect = -ENOENT;
        CHECK_INT(hostile_open_expect(&harness_nobody, &now), 0);
        CHECK_INT(hostile_open_expect(NULL, &now), 0);

        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

HARNESS_MAIN(NULL,
             HARNESS_TEST(imm_open_before_publish),
             HARNESS_TEST(imm_waiter_sees_final_bytes),
             HARNESS_TEST(imm_after_publish_attacks),
             HARNESS_TEST(imm_creator_gone_before_publish),
             HARNESS_TEST(imm_publish_busy_with_mapping),
             HARNESS_TEST(imm_forked_creator_child),
             HARNESS_TEST(imm_publish_vmsplice_pin),
             HARNESS_TEST(imm_creator_blocks_the_seal))
