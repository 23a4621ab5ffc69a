/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of quotas and the locked flag (SPEC 3 "Flags", SPEC 4):
 * each per-uid quota refuses exactly at its limit (a request that fits
 * passes, one byte or one object more fails and changes nothing), root is
 * bound like everyone (no exemption configured), the global locked cap
 * binds over all uids, usage comes back when regions are deleted or
 * destroyed by disconnects, and creates racing from several processes and
 * uids never overshoot. Every test ends with all usage back to zero,
 * checked through shmb_quota().
 *
 * Sizes are charged rounded to the page size (4 KiB here), so "one byte
 * over" a page-aligned limit is one more page.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define KIB UINT64_C(1024)
#define MIB (UINT64_C(1) << 20)

#define Q_LOCKED (8 * MIB)
#define Q_BYTES (32 * MIB)
#define Q_REGIONS 6
#define Q_HANDLES 10
#define Q_CONNECTIONS 5
#define MAX_LOCKED (12 * MIB)
#define WAIT_MS 3000

static const char *const daemon_args[] = {
        "--quota-locked", "8M",  "--quota-bytes", "32M",       "--quota-regions", "6", "--quota-handles", "10",
        "--quota-connections", "5", "--max-locked", "12M", "--admin-group", "61100", NULL
};

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls until uid holds nothing but `conns` connections and nothing is locked anywhere. */
static int wait_usage_zero(shmb_conn *c, uint32_t uid, uint32_t conns) {
        long long deadline = now_ms() + WAIT_MS;
        struct shmb_quota q;
        int r;

        for (;;) {
                r = shmb_quota(c, uid, &q);
                if (r < 0)
                        return r;
                if (q.locked_bytes == 0 && q.total_bytes == 0 && q.regions == 0 && q.handles == 0 &&
                    q.connections == conns && q.global_locked_bytes == 0)
                        return 0;
                if (now_ms() > deadline) {
                        harness_log("uid %u still uses: locked %" PRIu64 ", bytes %" PRIu64 ", regions %u, "
                                    "handles %u, connections %u (want %u), global locked %" PRIu64,
                                    uid, q.locked_bytes, q.total_bytes, q.regions, q.handles, q.connections, conns,
                                    q.global_locked_bytes);
                        return -ETIMEDOUT;
                }
                usleep(10000);
        }
}

static struct shmb_create_opts opts(uint64_t size, uint32_t flags) {
        struct shmb_create_opts o = harness_opts(size, 0600, SHMB_PERSISTENT);

        o.flags = flags;
        return o;
}

static int quota_limits_reported(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_quota q;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_quota(c, 0, &q), 0);
        CHECK_INT(q.uid, 0);
        CHECK_INT(q.locked_limit, Q_LOCKED);
        CHECK_INT(q.total_limit, Q_BYTES);
        CHECK_INT(q.regions_limit, Q_REGIONS);
        CHECK_INT(q.handles_limit, Q_HANDLES);
        CHECK_INT(q.connections_limit, Q_CONNECTIONS);
        CHECK_INT(q.connections, 1);
        /* Root has CAP_IPC_LOCK here, so the configured cap is the cap. */
        CHECK_INT(q.global_locked_limit, MAX_LOCKED);
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

static int quota_locked_exact(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *a = NULL;
        shmb_region *b = NULL;
        struct shmb_create_opts o = opts(Q_LOCKED + 1, SHMB_LOCKED);
        struct shmb_region_info info;
        struct shmb_quota q;
        const char *msg;

        CHECK_INT(harness_connect(&c), 0);
        /* One byte over the quota: a page more than it allows. */
        CHECK_SHMB(c, shmb_create(c, "it/q/locked-a", &o, &a), -EDQUOT);
        msg = shmb_conn_error(c);
        CHECK_MSG(strstr(msg, "locked-memory quota for uid 0 exceeded") && strstr(msg, "8M") &&
                  strstr(msg, "requested"), "message: %s", msg);
        CHECK_SHMB(c, shmb_stat(c, "it/q/locked-a", &info), -ENOENT);
        /* One byte under: rounds to exactly the quota. */
        o.size = Q_LOCKED - 1;
        CHECK_SHMB(c, shmb_create(c, "it/q/locked-a", &o, &a), 0);
        CHECK_SHMB(c, shmb_stat(c, "it/q/locked-a", &info), 0);
        CHECK_INT(info.locked_bytes, Q_LOCKED);
        CHECK_INT(info.flags & SHMB_LOCKED, SHMB_LOCKED);
        /* mlock faults every page in: resident for every mapper. */
        CHECK_INT(info.resident_bytes, Q_LOCKED);
        CHECK_SHMB(c, shmb_quota(c, 0, &q), 0);
        CHECK_INT(q.locked_bytes, Q_LOCKED);
        CHECK_INT(q.global_locked_bytes, Q_LOCKED);
        /* Full: any further locked byte is refused, an unlocked region is not. */
        o.size = 1;
        CHECK_SHMB(c, shmb_create(c, "it/q/locked-b", &o, &b), -EDQUOT);
        o.flags = 0;
        CHECK_SHMB(c, shmb_create(c, "it/q/locked-b", &o, &b), 0);
        CHECK_SHMB(c, shmb_close(b), 0);
        CHECK_SHMB(c, shmb_delete(c, "it/q/locked-b"), 0);
        /* Delete releases the locked bytes while our mapping lives on. */
        CHECK_SHMB(c, shmb_delete(c, "it/q/locked-a"), 0);
        CHECK_SHMB(c, shmb_quota(c, 0, &q), 0);
        CHECK_INT(q.locked_bytes, 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(a)), 0);
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

static int quota_bytes_exact(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        shmb_region *a = NULL, *b = NULL;
        struct shmb_create_opts o = opts(Q_BYTES + 1, 0);
        const char *msg;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, "it/q/bytes-a", &o, &a), -EDQUOT);
        msg = shmb_conn_error(c);
        CHECK_MSG(strstr(msg, "memory quota for uid 0 exceeded"), "message: %s", msg);
        o.size = Q_BYTES - 1;
        CHECK_SHMB(c, shmb_create(c, "it/q/bytes-a", &o, &a), 0);
        o.size = 1;
        CHECK_SHMB(c, shmb_create(c, "it/q/bytes-b", &o, &b), -EDQUOT);
        CHECK_SHMB(c, shmb_close(a), 0);
        CHECK_SHMB(c, shmb_delete(c, "it/q/bytes-a"), 0);
        CHECK_SHMB(c, shmb_create(c, "it/q/bytes-b", &o, &b), 0);
        CHECK_SHMB(c, shmb_close(b), 0);
        CHECK_SHMB(c, shmb_delete(c, "it/q/bytes-b"), 0);
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

static int quota_regions_exact(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_create_opts o = opts(4096, 0);
        shmb_region *r = NULL;
        char name[64];

        CHECK_INT(harness_connect(&c), 0);
        for (int i = 0; i < Q_REGIONS; i++) {
                snprintf(name, sizeof(name), "it/q/regions-%d", i);
                CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
                /* Closing the handle keeps the persistent region and its region charge. */
                CHECK_SHMB(c, shmb_close(r), 0);
        }
        CHECK_SHMB(c, shmb_create(c, "it/q/regions-x", &o, &r), -EDQUOT);
        CHECK_MSG(strstr(shmb_conn_error(c), "region quota for uid 0 exceeded: 6 of 6 in use, 1 requested"),
                  "message: %s", shmb_conn_error(c));
        for (int i = 0; i < Q_REGIONS; i++) {
                snprintf(name, sizeof(name), "it/q/regions-%d", i);
                CHECK_SHMB(c, shmb_delete(c, name), 0);
        }
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

static int quota_handles_exact(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_create_opts o = opts(4096, 0);
        shmb_region *h[Q_HANDLES] = { NULL };
        shmb_region *extra = NULL;
        struct shmb_quota q;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, "it/q/handles", &o, &h[0]), 0);
        for (int i = 1; i < Q_HANDLES; i++)
                CHECK_SHMB(c, shmb_open(c, "it/q/handles", SHMB_READ, 0, &h[i]), 0);
        CHECK_SHMB(c, shmb_quota(c, 0, &q), 0);
        CHECK_INT(q.handles, Q_HANDLES);
        CHECK_SHMB(c, shmb_open(c, "it/q/handles", SHMB_READ, 0, &extra), -EDQUOT);
        CHECK_MSG(strstr(shmb_conn_error(c), "handle quota"), "message: %s", shmb_conn_error(c));
        CHECK_SHMB(c, shmb_close(TAKE_PTR(h[1])), 0);
        CHECK_SHMB(c, shmb_open(c, "it/q/handles", SHMB_READ, 0, &extra), 0);
        CHECK_SHMB(c, shmb_close(extra), 0);
        for (int i = 0; i < Q_HANDLES; i++)
                if (h[i])
                        CHECK_SHMB(c, shmb_close(h[i]), 0);
        CHECK_SHMB(c, shmb_delete(c, "it/q/handles"), 0);
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

static int quota_connections_exact(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        shmb_conn *more[Q_CONNECTIONS] = { NULL };
        shmb_conn *extra = NULL;
        int r, ret = -1;

        CHECK_INT(harness_connect(&c), 0);
        for (int i = 1; i < Q_CONNECTIONS; i++)
                if (harness_connect(&more[i]) < 0) {
                        harness_log("connection %d of %d refused: %s", i + 1, Q_CONNECTIONS, shmb_conn_error(NULL));
                        goto out;
                }
        r = harness_connect(&extra);
        if (r != -EDQUOT) {
                harness_log("connection %d: %s, expected EDQUOT", Q_CONNECTIONS + 1, harness_errname(r));
                goto out;
        }
        if (!strstr(shmb_conn_error(NULL), "connection quota for uid 0 exceeded")) {
                harness_log("message: %s", shmb_conn_error(NULL));
                goto out;
        }
        ret = 0;
out:
        shmb_disconnect(extra);
        for (int i = 0; i < Q_CONNECTIONS; i++)
                shmb_disconnect(more[i]);
        CHECK_INT(ret, 0);
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

/* Creates locked regions of `size` named PREFIX-N until refused; writes the count on the channel. */
struct lock_loop {
        const char *prefix;
        uint64_t size;
        int lifetime;
        int expect;  /* the refusal expected at the end */
};

static int child_lock_until_refused(struct harness_chan *chan, void *userdata) {
        const struct lock_loop *l = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_create_opts o = harness_opts(l->size, 0644, l->lifetime);
        char name[64];
        int n = 0, r;

        o.flags = SHMB_LOCKED;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(harness_chan_send(chan, 'r'), 0);
        CHECK_INT(harness_chan_expect(chan, 'g'), 0);
        for (;;) {
                shmb_region *r_ = NULL;

                snprintf(name, sizeof(name), "%s-%d-%d", l->prefix, (int)getpid(), n);
                r = shmb_create(c, name, &o, &r_);
                if (r < 0)
                        break;
                n++;
                /* Keep the handle: owner regions die with this connection, persistent ones stay. */
        }
        if (l->expect && r != l->expect) {
                harness_log("uid %u: refusal %s (\"%s\"), expected %s", (unsigned)getuid(), harness_errname(r),
                            shmb_conn_error(c), harness_errname(l->expect));
                return -1;
        }
        CHECK_INT(harness_chan_send(chan, (char)('0' + n)), 0);
        CHECK_INT(harness_chan_expect(chan, 'x'), 0);
        return 0;
}

static int quota_global_locked_cap_concurrent(void) {
        struct harness_child ch[4] = { HARNESS_CHILD_NULL, HARNESS_CHILD_NULL, HARNESS_CHILD_NULL,
                                       HARNESS_CHILD_NULL };
        struct harness_creds cr[4];
        struct lock_loop l = { .prefix = "it/q/race", .size = MIB, .lifetime = SHMB_PERSISTENT };
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_quota q;
        int total = 0, ret = -1;

        if (!harness_is_root())
                return harness_skip("needs root to run children as other uids");
        CHECK_INT(harness_connect(&c), 0);
        for (int i = 0; i < 4; i++) {
                cr[i] = (struct harness_creds){ .uid = 61001 + (uid_t)i, .gid = 61001 + (gid_t)i };
                if (harness_child_start(&ch[i], &cr[i], child_lock_until_refused, &l) < 0)
                        goto out;
        }
        for (int i = 0; i < 4; i++)
                if (harness_chan_expect(&ch[i].chan, 'r') < 0)
                        goto out;
        /* Go all at once: four uids race for the 12 MiB cap, each allowed 6 regions of 1 MiB. */
        for (int i = 0; i < 4; i++)
                (void)harness_chan_send(&ch[i].chan, 'g');
        for (int i = 0; i < 4; i++) {
                char n;

                if (harness_chan_recv(&ch[i].chan, &n, HARNESS_CHILD_TIMEOUT_MS) < 0)
                        goto out;
                harness_log("uid %u locked %d MiB", (unsigned)cr[i].uid, n - '0');
                if (n - '0' > Q_REGIONS) {
                        harness_log("uid %u overshot its region quota", (unsigned)cr[i].uid);
                        goto out;
                }
                total += n - '0';
        }
        if (total != (int)(MAX_LOCKED / MIB)) {
                harness_log("%d MiB locked in all, the cap is exactly %d MiB", total, (int)(MAX_LOCKED / MIB));
                goto out;
        }
        if (shmb_quota(c, 61001, &q) < 0 || q.global_locked_bytes != MAX_LOCKED) {
                harness_log("global locked bytes %" PRIu64 ", want %" PRIu64, q.global_locked_bytes, MAX_LOCKED);
                goto out;
        }
        ret = 0;
out:
        for (int i = 0; i < 4; i++) {
                (void)harness_chan_send(&ch[i].chan, 'x');
                if (ch[i].pid > 0 && harness_child_wait(&ch[i], HARNESS_CHILD_TIMEOUT_MS) != 0)
                        ret = -1;
        }
        CHECK_INT(ret, 0);
        /* Persistent regions outlive their creators; root deletes them and every uid is back to zero. */
        CHECK(harness_delete_all_regions() == total);
        for (int i = 0; i < 4; i++)
                CHECK_INT(wait_usage_zero(c, cr[i].uid, 0), 0);
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

static int quota_same_uid_concurrent(void) {
        struct harness_child ch[3] = { HARNESS_CHILD_NULL, HARNESS_CHILD_NULL, HARNESS_CHILD_NULL };
        /* 2 MiB regions: the locked quota (4 regions) binds before the region count (6). */
        struct lock_loop l = { .prefix = "it/q/same", .size = 2 * MIB, .lifetime = SHMB_OWNER, .expect = -EDQUOT };
        static const struct harness_creds cr = { .uid = 61010, .gid = 61010 };
        _cleanup_conn_ shmb_conn *c = NULL;
        int total = 0, ret = -1;

        if (!harness_is_root())
                return harness_skip("needs root to run children as another uid");
        CHECK_INT(harness_connect(&c), 0);
        for (int i = 0; i < 3; i++)
                if (harness_child_start(&ch[i], &cr, child_lock_until_refused, &l) < 0)
                        goto out;
        for (int i = 0; i < 3; i++)
                if (harness_chan_expect(&ch[i].chan, 'r') < 0)
                        goto out;
        for (int i = 0; i < 3; i++)
                (void)harness_chan_send(&ch[i].chan, 'g');
        for (int i = 0; i < 3; i++) {
                char n;

                if (harness_chan_recv(&ch[i].chan, &n, HARNESS_CHILD_TIMEOUT_MS) < 0)
                        goto out;
                total += n - '0';
        }
        /* Three connections of one uid share its 8 MiB: exactly 4 regions of 2 MiB. */
        if (total != (int)(Q_LOCKED / (2 * MIB))) {
                harness_log("uid 61010 made %d locked 2 MiB regions over three connections; its quota is %d MiB",
                            total, (int)(Q_LOCKED / MIB));
                goto out;
        }
        ret = 0;
out:
        for (int i = 0; i < 3; i++) {
                (void)harness_chan_send(&ch[i].chan, 'x');
                if (ch[i].pid > 0 && harness_child_wait(&ch[i], HARNESS_CHILD_TIMEOUT_MS) != 0)
                        ret = -1;
        }
        CHECK_INT(ret, 0);
        /* Owner regions died with their connections: the locked bytes came back by themselves. */
        CHECK_INT(wait_usage_zero(c, cr.uid, 0), 0);
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

/* Creates a locked refcounted region, says 'c', waits for 'x' and exits holding it. */
static int child_create_refcounted_locked(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_create_opts o = harness_opts(2 * MIB, 0644, SHMB_REFCOUNTED);
        shmb_region *r = NULL;

        o.flags = SHMB_LOCKED;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, userdata, &o, &r), 0);
        CHECK_INT(harness_chan_send(chan, 'c'), 0);
        CHECK_INT(harness_chan_expect(chan, 'x'), 0);
        return 0;
}

static int quota_locked_refcounted_released(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        static const char name[] = "it/q/refc";
        static const struct harness_creds cr = { .uid = 61020, .gid = 61020 };
        _cleanup_conn_ shmb_conn *c = NULL;
        shmb_region *r = NULL;
        struct shmb_quota q;

        if (!harness_is_root())
                return harness_skip("needs root to run a child as another uid");
        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(harness_child_start(&ch, &cr, child_create_refcounted_locked, (void *)name), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'c'), 0);
        CHECK_SHMB(c, shmb_open(c, name, SHMB_READ, 0, &r), 0);
        CHECK_INT(harness_chan_send(&ch.chan, 'x'), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        CHECK_SHMB(c, harness_wait_holders(c, name, 1, WAIT_MS), 0);
        /* The creator is gone, our handle keeps the region: still charged to its creator. */
        CHECK_SHMB(c, shmb_quota(c, cr.uid, &q), 0);
        CHECK_INT(q.locked_bytes, 2 * MIB);
        CHECK_INT(q.regions, 1);
        CHECK_INT(q.connections, 0);
        CHECK_SHMB(c, shmb_close(r), 0);
        CHECK_SHMB(c, harness_wait_gone(c, name, WAIT_MS), 0);
        CHECK_INT(wait_usage_zero(c, cr.uid, 0), 0);
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

static int child_quota_query(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_quota q;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_quota(c, HARNESS_NOBODY, &q), 0);
        CHECK_INT(q.uid, HARNESS_NOBODY);
        CHECK_INT(q.connections, 1);
        CHECK_SHMB(c, shmb_quota(c, 0, &q), -EACCES);
        return 0;
}

static int quota_nonadmin_sees_only_own(void) {
        if (!harness_is_root())
                return harness_skip("needs root to run a child as nobody");
        CHECK_CHILD(harness_run_child(&harness_nobody, child_quota_query, NULL));
        return 0;
}

static int count_entry(const struct shmb_quota *q, void *userdata) {
        (*(int *)userdata)++;
        return 0;
}

/* userdata non-NULL: the child is in the admin group. */
static int child_admin_check(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_quota q;
        int n = 0;

        CHECK_INT(harness_connect(&c), 0);
        if (userdata) {
                shmb_region *r = NULL;
                struct shmb_region_info info;

                /* Admins inspect and delete; the contents stay behind the mode bits. */
                CHECK_SHMB(c, shmb_open(c, "it/q/admin", SHMB_READ, 0, &r), -EACCES);
                CHECK_SHMB(c, shmb_stat(c, "it/q/admin", &info), 0);
                CHECK_SHMB(c, shmb_quota(c, 0, &q), 0);
                CHECK_INT(q.regions, 1);
                CHECK_SHMB(c, shmb_quota_list(c, count_entry, &n), 0);
                CHECK(n >= 2); /* root and this uid at least */
                CHECK_SHMB(c, shmb_delete(c, "it/q/admin"), 0);
        } else {
                CHECK_SHMB(c, shmb_quota_list(c, count_entry, &n), -EACCES);
                CHECK_SHMB(c, shmb_delete(c, "it/q/admin"), -EACCES);
        }
        return 0;
}

static int quota_admin_group(void) {
        static const gid_t admin[] = { 61100 };
        const struct harness_creds member = { .uid = 61101, .gid = 61101, .n_groups = 1, .groups = admin };
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_create_opts o = opts(4096, 0);
        shmb_region *r = NULL;

        if (!harness_is_root())
                return harness_skip("needs root to run children as other uids");
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, "it/q/admin", &o, &r), 0);
        CHECK_SHMB(c, shmb_close(r), 0);
        CHECK_CHILD(harness_run_child(&harness_nobody, child_admin_check, NULL));
        CHECK_CHILD(harness_run_child(&member, child_admin_check, (void *)1));
        CHECK_SHMB(c, harness_wait_gone(c, "it/q/admin", WAIT_MS), 0);
        CHECK_INT(wait_usage_zero(c, 0, 1), 0);
        return 0;
}

HARNESS_MAIN(daemon_args,
             HARNESS_TEST(quota_limits_reported),
             HARNESS_TEST(quota_locked_exact),
             HARNESS_TEST(quota_bytes_exact),
             HARNESS_TEST(quota_regions_exact),
             HARNESS_TEST(quota_handles_exact),
             HARNESS_TEST(quota_connections_exact),
             HARNESS_TEST(quota_global_locked_cap_concurrent),
             HARNESS_TEST(quota_same_uid_concurrent),
             HARNESS_TEST(quota_locked_refcounted_released),
             HARNESS_TEST(quota_nonadmin_sees_only_own),
             HARNESS_TEST(quota_admin_group))
