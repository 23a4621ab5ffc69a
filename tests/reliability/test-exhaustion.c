/* SPDX-License-Identifier: MIT */
/*
 * Resource exhaustion (issue 7, item 5): the daemon at its fd limit. Its
 * RLIMIT_NOFILE is lowered to 64 with prlimit() once it runs (it raises its
 * own soft limit at start, so it has to be done from outside), then regions
 * are created until memfd_create() fails. Creates must then fail with
 * NO_RESOURCES and a message naming the cause, as must a read-only open
 * that needs a new descriptor; requests that need none keep working;
 * accept() at EMFILE must pause rather than spin (the daemon's CPU time
 * over a second stays low) and a waiting client is served once deletes free
 * descriptors. Then mmap() failing with ENOMEM under a capped address
 * space. Not run under $SHMBROKERD_WRAPPER: valgrind keeps descriptors of
 * its own near the limit it saw at start.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rel-util.h"

#define STATUS(x) SHMBROKER__V1__STATUS__STATUS_##x
#define FD_LIMIT 64
#define MAX_CREATES 256
#define FREED 5 /* regions deleted to make room at the limit */

static int set_daemon_nofile(rlim_t soft, struct rlimit *old) {
        struct rlimit cur, rl;

        if (prlimit(harness_daemon_pid(), RLIMIT_NOFILE, NULL, &cur) < 0)
                return -errno;
        if (old)
                *old = cur;
        /* The hard limit stays: the daemon never raises its soft limit after start, and we restore it. */
        rl = (struct rlimit){ .rlim_cur = soft, .rlim_max = cur.rlim_max };
        if (prlimit(harness_daemon_pid(), RLIMIT_NOFILE, &rl, NULL) < 0)
                return -errno;
        return 0;
}

static int exhaustion_fd_limit(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_close_ int waiting = -1;
        struct shmb_create_opts o = harness_opts(4096, 0644, SHMB_PERSISTENT);
        struct shmb_region_info info;
        _cleanup_response_ WireResponse *resp = NULL;
        struct rlimit old = { 0 };
        shmb_region *r = NULL;
        char name[64];
        long long cpu0, cpu1, t0;
        int n = 0, e, count;

        if (harness_slowdown() > 1)
                return harness_skip("the daemon runs under $SHMBROKERD_WRAPPER");
        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(set_daemon_nofile(FD_LIMIT, &old), 0);
        harness_log("daemon RLIMIT_NOFILE lowered to %d (was %llu)", FD_LIMIT, (unsigned long long)old.rlim_cur);

        /* Regions (one memfd each) until the daemon has no descriptor left. */
        for (;;) {
                snprintf(name, sizeof(name), "exh/%d", n);
                e = shmb_create(c, name, &o, &r);
                if (e < 0)
                        break;
                CHECK_SHMB(c, shmb_close(r), 0);
                r = NULL;
                CHECK_MSG(++n < MAX_CREATES, "%d creates succeeded under a limit of %d fds", n, FD_LIMIT);
        }
        harness_log("%d regions created, then: %s \"%s\"", n, harness_errname(e), shmb_conn_error(c));
        CHECK_SHMB(c, e, -ENOMEM);
        CHECK_MSG(strstr(shmb_conn_error(c), "memfd") && strstr(shmb_conn_error(c), strerror(EMFILE)),
                  "the message does not name the cause: \"%s\"", shmb_conn_error(c));
        CHECK(n > 0);

        /* Requests that need no new descriptor are still served. */
        CHECK_SHMB(c, shmb_stat(c, "exh/0", &info), 0);
        CHECK_SHMB(c, shmb_open(c, "exh/0", SHMB_READ_WRITE, 0, &r), 0);
        CHECK_SHMB(c, shmb_close(r), 0);
        r = NULL;
        /* A read-only open needs the region's O_RDONLY descriptor, made on first use. */
        e = shmb_open(c, "exh/1", SHMB_READ, 0, &r);
        harness_log("read-only open at the limit: %s \"%s\"", harness_errname(e), shmb_conn_error(c));
        CHECK_SHMB(c, e, -ENOMEM);
        CHECK_MSG(strstr(shmb_conn_error(c), strerror(EMFILE)), "the message does not name the cause: \"%s\"",
                  shmb_conn_error(c));

        /* A new client cannot be accepted: the daemon pauses accept() instead of spinning on it. */
        waiting = harness_raw_connect();
        CHECK_SYS(waiting);
        CHECK_INT(rel_send_hello(waiting, 1, WIRE_PROTOCOL_VERSION), 0);
        rel_sleep_ms(100);
        cpu0 = rel_daemon_cpu_ms();
        CHECK_SYS(cpu0);
        rel_sleep_ms(1000);
        cpu1 = rel_daemon_cpu_ms();
        harness_log("daemon CPU time over 1 s at EMFILE with a client waiting: %lld ms", cpu1 - cpu0);
        CHECK_MSG(cpu1 - cpu0 < 100, "the daemon used %lld ms of CPU in 1 s at EMFILE", cpu1 - cpu0);
        {
                struct pollfd p = { .fd = waiting, .events = POLLIN };

                CHECK_MSG(poll(&p, 1, 0) == 0, "the waiting client was answered at EMFILE");
        }

        /*
         * Deletes free descriptors: the waiting client is served, creates work again. The waiting
         * client costs two (socket, pidfd) until the daemon has seen it hang up, which races with
         * our next requests, so free enough for it, one create and one read-only handle.
         */
        CHECK(n > FREED);
        for (int i = n - 1; i >= n - FREED; i--) {
                snprintf(name, sizeof(name), "exh/%d", i);
                CHECK_SHMB(c, shmb_delete(c, name), 0);
        }
        t0 = rel_now_ms();
        CHECK_INT(harness_raw_recv(waiting, 2000, &resp, NULL), 0);
        CHECK_INT(resp->status, STATUS(OK));
        harness_log("the waiting client was served %lld ms after the deletes", rel_now_ms() - t0);
        waiting = safe_close(waiting);
        CHECK_SHMB(c, shmb_create(c, "exh/again", &o, &r), 0);
        CHECK_SHMB(c, shmb_close(r), 0);
        CHECK_SHMB(c, shmb_open(c, "exh/1", SHMB_READ, 0, &r), 0);
        CHECK_SHMB(c, shmb_close(r), 0);

        shmb_disconnect(TAKE_PTR(c));
        CHECK_INT(set_daemon_nofile(old.rlim_cur, NULL), 0);
        CHECK_INT(harness_delete_all_regions(), n - FREED + 1);
        CHECK_MSG(harness_wait_fd_baseline(2000, &count) == 0, "the daemon holds %d fds, baseline %d", count,
                  harness_daemon_fd_baseline());
        return 0;
}

/* Several clients racing for the last descriptors: every answer is OK or a clear NO_RESOURCES. */
static int child_create_until_full(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_create_opts o = harness_opts(4096, 0, SHMB_OWNER);
        shmb_region *held[MAX_CREATES];
        unsigned n = 0;
        char name[64], cmd;
        int e;

        /* Everybody connects first: at the limit, a new connection is not accepted. */
        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(harness_chan_send(chan, 'c'), 0);
        CHECK_INT(harness_chan_expect(chan, 'g'), 0);
        for (;;) {
                snprintf(name, sizeof(name), "exh/race/%d/%u", (int)getpid(), n);
                e = shmb_create(c, name, &o, &held[n]);
                if (e < 0)
                        break;
                CHECK(++n < MAX_CREATES);
        }
        CHECK_SHMB(c, e, -ENOMEM);
        CHECK_MSG(strstr(shmb_conn_error(c), strerror(EMFILE)), "message: \"%s\"", shmb_conn_error(c));
        CHECK_INT(harness_chan_send(chan, 'f'), 0);
        CHECK_INT(harness_chan_recv(chan, &cmd, HARNESS_CHILD_TIMEOUT_MS), 0);
        for (unsigned i = 0; i < n; i++)
                CHECK_SHMB(c, shmb_close(held[i]), 0);
        return 0;
}

static int exhaustion_racing_owners(void) {
        struct harness_child ch[4];
        struct rlimit old = { 0 };
        int count;

        if (harness_slowdown() > 1)
                return harness_skip("the daemon runs under $SHMBROKERD_WRAPPER");
        for (size_t i = 0; i < ELEMENTSOF(ch); i++)
                ch[i] = (struct harness_child)HARNESS_CHILD_NULL;
        for (size_t i = 0; i < ELEMENTSOF(ch); i++) {
                CHECK_INT(harness_child_start(&ch[i], NULL, child_create_until_full, NULL), 0);
                CHECK_INT(harness_chan_expect(&ch[i].chan, 'c'), 0);
        }
        CHECK_INT(set_daemon_nofile(FD_LIMIT, &old), 0);
        for (size_t i = 0; i < ELEMENTSOF(ch); i++)
                CHECK_INT(harness_chan_send(&ch[i].chan, 'g'), 0);
        for (size_t i = 0; i < ELEMENTSOF(ch); i++)
                CHECK_INT(harness_chan_expect(&ch[i].chan, 'f'), 0);
        /* Owner lifetime: everything goes with the clients, and the daemon is whole again. */
        for (size_t i = 0; i < ELEMENTSOF(ch); i++) {
                CHECK_INT(harness_chan_send(&ch[i].chan, 'x'), 0);
                CHECK_CHILD(harness_child_wait(&ch[i], HARNESS_CHILD_TIMEOUT_MS));
        }
        CHECK_INT(set_daemon_nofile(old.rlim_cur, NULL), 0);
        CHECK_MSG(harness_wait_fd_baseline(2000, &count) == 0, "the daemon holds %d fds, baseline %d", count,
                  harness_daemon_fd_baseline());
        CHECK_INT(rel_count_regions("exh/"), 0);
        return 0;
}

/* The daemon's VmSize in bytes, from /proc; -errno on failure. */
static long long daemon_vmsize(void) {
        char path[64], line[256];
        long long kb = -ENOENT;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)harness_daemon_pid());
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmSize: %lld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb < 0 ? kb : kb * 1024;
}

/*
 * mmap() failing with ENOMEM: the daemon maps locked and THP regions itself.
 * With its address space capped just above what it uses, such a create must
 * fail with NO_RESOURCES naming the mapping, charge nothing, leave no region
 * and no descriptor behind, and succeed again once the cap is lifted.
 */
static int exhaustion_address_space(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_create_opts o = harness_opts(48u << 20, 0600, SHMB_PERSISTENT);
        struct shmb_region_info info;
        struct shmb_quota q;
        struct rlimit old, rl;
        shmb_region *r = NULL;
        long long vm;
        int e;

        if (harness_slowdown() > 1)
                return harness_skip("the daemon runs under $SHMBROKERD_WRAPPER");
        vm = daemon_vmsize();
        CHECK_SYS(vm);
        /* Sanitizer runtimes reserve terabytes of shadow memory up front: no cap fits them. */
        if (vm > (1LL << 40))
                return harness_skip("the daemon reserves %lld GiB of address space (a sanitizer runtime)", vm >> 30);
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SYS(prlimit(harness_daemon_pid(), RLIMIT_AS, NULL, &old));
        rl = (struct rlimit){ .rlim_cur = (rlim_t)vm + (16u << 20), .rlim_max = old.rlim_max };
        CHECK_SYS(prlimit(harness_daemon_pid(), RLIMIT_AS, &rl, NULL));

        o.flags = SHMB_LOCKED;
        e = shmb_create(c, "exh/as-locked", &o, &r);
        harness_log("locked 48 MiB region with 16 MiB of address space to spare: %s \"%s\"", harness_errname(e),
                    shmb_conn_error(c));
        CHECK_SHMB(c, e, -ENOMEM);
        CHECK_MSG(strstr(shmb_conn_error(c), "cannot map region") && strstr(shmb_conn_error(c), strerror(ENOMEM)),
                  "the message does not name the mapping: \"%s\"", shmb_conn_error(c));
        CHECK_SHMB(c, shmb_stat(c, "exh/as-locked", &info), -ENOENT);
        CHECK_SHMB(c, shmb_quota(c, 0, &q), 0);
        CHECK_MSG(q.locked_bytes == 0 && q.regions == 0, "the refused create left a charge: %llu locked bytes, "
                  "%u regions", (unsigned long long)q.locked_bytes, q.regions);

        CHECK_SYS(prlimit(harness_daemon_pid(), RLIMIT_AS, &old, NULL));
        CHECK_SHMB(c, shmb_create(c, "exh/as-locked", &o, &r), 0);
        CHECK_SHMB(c, shmb_stat(c, "exh/as-locked", &info), 0);
        CHECK_MSG(info.locked_bytes == (48u << 20), "locked_bytes %llu after the cap was lifted",
                  (unsigned long long)info.locked_bytes);
        CHECK_SHMB(c, shmb_close(r), 0);
        CHECK_SHMB(c, shmb_delete(c, "exh/as-locked"), 0);
        /* The harness checks the daemon's descriptors against its baseline after every test. */
        return 0;
}

HARNESS_MAIN(NULL,
             HARNESS_TEST(exhaustion_fd_limit),
             HARNESS_TEST(exhaustion_racing_owners),
             HARNESS_TEST(exhaustion_address_space))
