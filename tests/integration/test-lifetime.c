/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of region lifetimes (SPEC 3, "Lifetimes"): `owner`
 * regions die with the creating connection, `refcounted` ones with the last
 * handle over all connections, `persistent` ones only when deleted. The
 * interesting events are disconnects, so most holders are child processes
 * that exit (or close) on cue; the daemon notices a disconnect
 * asynchronously, so disappearance is polled for (at most 2 s) while
 * survival is asserted after the daemon has visibly processed the
 * disconnect (its holder count dropped).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define SIZE (16u * 1024u)
#define GONE_TIMEOUT_MS 2000

/* Connects, opens name read-write, says 'o', then on 'x' exits holding it or on 'c' closes first. */
static int child_hold(struct harness_chan *chan, void *userdata) {
        const char *name = userdata;
        shmb_conn *c = NULL;
        shmb_region *r = NULL;
        char cmd;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, name, SHMB_READ_WRITE, 0, &r), 0);
        CHECK_INT(harness_chan_send(chan, 'o'), 0);

        for (;;) {
                CHECK_INT(harness_chan_recv(chan, &cmd, HARNESS_CHILD_TIMEOUT_MS), 0);
                if (cmd == 'x')
                        /* Leave without closing anything: the kernel closes the socket. */
                        return 0;
                if (cmd == 'c') {
                        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
                        CHECK_INT(harness_chan_send(chan, 'd'), 0);
                        continue;
                }
                harness_log("child_hold: unknown command '%c'", cmd);
                return -1;
        }
}

struct create_args {
        const char *name;
        int lifetime;
};

/* Creates the region, says 'c', and exits on 'x' without closing or disconnecting. */
static int child_create_and_leave(struct harness_chan *chan, void *userdata) {
        const struct create_args *a = userdata;
        struct shmb_create_opts o = harness_opts(SIZE, 0, a->lifetime);
        shmb_conn *c = NULL;
        shmb_region *r = NULL;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, a->name, &o, &r), 0);
        harness_fill(shmb_region_data(r), SIZE, 20);
        CHECK_INT(harness_chan_send(chan, 'c'), 0);
        CHECK_INT(harness_chan_expect(chan, 'x'), 0);
        return 0;
}

static int lifetime_owner_dies_with_creator(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        _cleanup_conn_ shmb_conn *c = NULL;
        static const char name[] = "it/life/owner";
        struct create_args a = { .name = name, .lifetime = SHMB_OWNER };
        struct shmb_region_info info;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(harness_child_start(&ch, NULL, child_create_and_leave, &a), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'c'), 0);
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.lifetime, SHMB_OWNER);
        CHECK_INT(info.holders, 1);

        CHECK_INT(harness_chan_send(&ch.chan, 'x'), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        CHECK_SHMB(c, harness_wait_gone(c, name, GONE_TIMEOUT_MS), 0);
        return 0;
}

static int lifetime_owner_survives_other_holders(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        _cleanup_conn_ shmb_conn *creator = NULL, *observer = NULL;
        _cleanup_region_ shmb_region *r = NULL, *seen = NULL;
        static const char name[] = "it/life/owner-2";
        struct shmb_create_opts o = harness_opts(SIZE, 0, SHMB_OWNER);
        struct shmb_region_info info;

        CHECK_INT(harness_connect(&creator), 0);
        CHECK_INT(harness_connect(&observer), 0);
        CHECK_SHMB(creator, shmb_create(creator, name, &o, &r), 0);
        harness_fill(shmb_region_data(r), SIZE, 21);

        /* Another process holds a handle and goes away: the owner's region stays. */
        CHECK_INT(harness_child_start(&ch, NULL, child_hold, (void *)name), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'o'), 0);
        CHECK_SHMB(observer, shmb_stat(observer, name, &info), 0);
        CHECK_INT(info.holders, 2);
        CHECK_INT(harness_chan_send(&ch.chan, 'x'), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        CHECK_SHMB(observer, harness_wait_holders(observer, name, 1, GONE_TIMEOUT_MS), 0);

        /* Another connection of this process holds one and disconnects: still there. */
        {
                _cleanup_conn_ shmb_conn *other = NULL;
                shmb_region *o2 = NULL;

                CHECK_INT(harness_connect(&other), 0);
                CHECK_SHMB(other, shmb_open(other, name, SHMB_READ, 0, &o2), 0);
                CHECK_SHMB(observer, harness_wait_holders(observer, name, 2, GONE_TIMEOUT_MS), 0);
                shmb_disconnect(TAKE_PTR(other));
                /* The handle outlives its connection; closing it now must still be safe. */
                (void)shmb_close(o2);
                CHECK_SHMB(observer, harness_wait_holders(observer, name, 1, GONE_TIMEOUT_MS), 0);
        }

        /* The creator releasing its handle is not the creator's connection closing. */
        CHECK_SHMB(creator, shmb_close(TAKE_PTR(r)), 0);
        /* The release waits for the creator's next request: until then the daemon still counts it. */
        CHECK_SHMB(observer, harness_wait_holders(observer, name, 1, GONE_TIMEOUT_MS), 0);
        CHECK_SHMB(creator, shmb_flush(creator), 0);
        /* It travels on the creator's connection: another one sees it a moment later. */
        CHECK_SHMB(observer, harness_wait_holders(observer, name, 0, GONE_TIMEOUT_MS), 0);

        /* A holder's mapping survives the owner's disconnect, like an unlinked file. */
        CHECK_SHMB(observer, shmb_open(observer, name, SHMB_READ, 0, &seen), 0);
        shmb_disconnect(TAKE_PTR(creator));
        CHECK_SHMB(observer, harness_wait_gone(observer, name, GONE_TIMEOUT_MS), 0);
        CHECK(harness_verify(shmb_region_data(seen), SIZE, 21));
        CHECK_SHMB(observer, shmb_close(TAKE_PTR(seen)), 0);
        return 0;
}

static int lifetime_refcounted_last_close(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "it/life/refcounted-close";
        struct shmb_create_opts o = harness_opts(SIZE, 0, SHMB_REFCOUNTED);
        struct shmb_region_info info;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        CHECK_INT(harness_child_start(&ch, NULL, child_hold, (void *)name), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'o'), 0);

        /* The creator lets go; the child's handle keeps it. */
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.holders, 1);
        CHECK_INT(info.lifetime, SHMB_REFCOUNTED);

        /* The child closes its handle but stays connected: the close alone destroys it. */
        CHECK_INT(harness_chan_send(&ch.chan, 'c'), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'd'), 0);
        CHECK_SHMB(c, shmb_stat(c, name, &info), -ENOENT);

        CHECK_INT(harness_chan_send(&ch.chan, 'x'), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        return 0;
}

static int lifetime_refcounted_last_exit(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "it/life/refcounted-exit";
        static const char name2[] = "it/life/refcounted-creator";
        struct shmb_create_opts o = harness_opts(SIZE, 0, SHMB_REFCOUNTED);
        struct create_args a = { .name = name2, .lifetime = SHMB_REFCOUNTED };
        struct shmb_region_info info;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        CHECK_INT(harness_child_start(&ch, NULL, child_hold, (void *)name), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'o'), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.holders, 1);

        /* The last holder's process exits without closing. */
        CHECK_INT(harness_chan_send(&ch.chan, 'x'), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        CHECK_SHMB(c, harness_wait_gone(c, name, GONE_TIMEOUT_MS), 0);

        /* A creator that is the only holder and exits takes it along too. */
        CHECK_INT(harness_child_start(&ch, NULL, child_create_and_leave, &a), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'c'), 0);
        CHECK_SHMB(c, shmb_stat(c, name2, &info), 0);
        CHECK_INT(info.holders, 1);
        CHECK_INT(harness_chan_send(&ch.chan, 'x'), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        CHECK_SHMB(c, harness_wait_gone(c, name2, GONE_TIMEOUT_MS), 0);
        return 0;
}

static int lifetime_persistent_survives(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "it/life/persistent";
        struct create_args a = { .name = name, .lifetime = SHMB_PERSISTENT };
        struct shmb_region_info info;

        CHECK_INT(harness_connect(&c), 0);

        /* The creator leaves without closing... */
        CHECK_INT(harness_child_start(&ch, NULL, child_create_and_leave, &a), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'c'), 0);
        CHECK_INT(harness_chan_send(&ch.chan, 'x'), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        CHECK_SHMB(c, harness_wait_holders(c, name, 0, GONE_TIMEOUT_MS), 0);

        /* ...then another holder does the same... */
        CHECK_INT(harness_child_start(&ch, NULL, child_hold, (void *)name), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 'o'), 0);
        CHECK_INT(harness_chan_send(&ch.chan, 'x'), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        CHECK_SHMB(c, harness_wait_holders(c, name, 0, GONE_TIMEOUT_MS), 0);

        /* ...and the region, content included, is still there until deleted. */
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.lifetime, SHMB_PERSISTENT);
        CHECK_SHMB(c, shmb_open(c, name, SHMB_READ, 0, &r), 0);
        CHECK(harness_verify(shmb_region_data(r), SIZE, 20));
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);

        CHECK_SHMB(c, shmb_delete(c, name), 0);
        CHECK_SHMB(c, shmb_stat(c, name, &info), -ENOENT);
        return 0;
}

HARNESS_MAIN(NULL,
             HARNESS_TEST(lifetime_owner_dies_with_creator),
             HARNESS_TEST(lifetime_owner_survives_other_holders),
             HARNESS_TEST(lifetime_refcounted_last_close),
             HARNESS_TEST(lifetime_refcounted_last_exit),
             HARNESS_TEST(lifetime_persistent_survives))
