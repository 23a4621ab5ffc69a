/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of access control (SPEC 3, "Access control"): opens are
 * checked against the region's owner, group (supplementary groups included)
 * and mode bits, with the identity the daemon takes from SO_PEERCRED; stat,
 * list and delete follow the same owner/admin rules. The other uids are
 * real: children of the (root) test switch to 65534 or 65533 with
 * setgroups/setresgid/setresuid before connecting, so the daemon sees them
 * exactly as it would see another user's process. Without root these tests
 * are skipped.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define SIZE (16u * 1024u)

static const struct harness_creds uid_65533 = {
        .uid = 65533,
        .gid = 65533,
        .n_groups = 0,
        .groups = NULL,
};

/* What another uid may do with a region besides opening it. */
struct other_ops {
        const char *name;
        int stat_expect;   /* also decides whether shmb_list() must show the region */
        int delete_expect;
};

struct list_match {
        const char *name;
        unsigned n;
};

static int list_count_name(const struct shmb_region_info *info, void *userdata) {
        struct list_match *m = userdata;

        if (strcmp(info->name, m->name) == 0)
                m->n++;
        return 0;
}

static int child_other_ops(struct harness_chan *chan, void *userdata) {
        const struct other_ops *o = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_region_info info;
        struct list_match m = { .name = o->name, .n = 0 };

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_stat(c, o->name, &info), o->stat_expect);
        if (o->stat_expect == -EACCES)
                CHECK_MSG(strcasestr(shmb_conn_error(c), "permission"),
                          "stat error \"%s\" does not mention permission", shmb_conn_error(c));
        /* Listing shows what stat would show, nothing more. */
        CHECK_SHMB(c, shmb_list(c, o->name, list_count_name, &m), 0);
        CHECK_MSG(m.n == (o->stat_expect == 0 ? 1u : 0u), "%s listed %u times to uid %u", o->name, m.n,
                  (unsigned)getuid());
        CHECK_SHMB(c, shmb_delete(c, o->name), o->delete_expect);
        return 0;
}

static int open_as(const struct harness_creds *creds, const char *name, int access, int expect,
                   unsigned seed, unsigned write_seed) {
        struct harness_open_check oc = {
                .name = name,
                .access = access,
                .expect = expect,
                .size = SIZE,
                .seed = seed,
                .write_seed = write_seed,
        };

        harness_log("open %s %s as uid %u gid %u (%zu groups), expecting %s", name,
                    access == SHMB_READ ? "read" : "read-write", (unsigned)creds->uid,
                    (unsigned)creds->gid, creds->n_groups, expect ? harness_errname(expect) : "success");
        return harness_run_child(creds, harness_child_open_check, &oc);
}

static int ops_as(const struct harness_creds *creds, const char *name, int stat_expect, int delete_expect) {
        struct other_ops o = {
                .name = name,
                .stat_expect = stat_expect,
                .delete_expect = delete_expect,
        };

        return harness_run_child(creds, child_other_ops, &o);
}

static int create_as_root(shmb_conn *c, const char *name, uint32_t mode, unsigned seed, shmb_region **ret) {
        struct shmb_create_opts o = harness_opts(SIZE, mode, SHMB_PERSISTENT);
        struct shmb_region_info info;

        CHECK_SHMB(c, shmb_create(c, name, &o, ret), 0);
        harness_fill(shmb_region_data(*ret), SIZE, seed);
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.mode, mode);
        CHECK_INT(info.uid, 0);
        return 0;
}

static int access_mode_0600(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "it/acl/0600";
        struct shmb_region_info info;

        if (!harness_is_root())
                return harness_skip("needs root to switch uids");

        CHECK_INT(harness_connect(&c), 0);
        if (create_as_root(c, name, 0600, 10, &r) < 0)
                return -1;

        CHECK_CHILD(open_as(&harness_nobody, name, SHMB_READ, -EACCES, 0, 0));
        CHECK_CHILD(open_as(&harness_nobody, name, SHMB_READ_WRITE, -EACCES, 0, 0));
        CHECK_CHILD(ops_as(&harness_nobody, name, -EACCES, -EACCES));

        /* The refusals changed nothing. */
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.holders, 1);
        CHECK(harness_verify(shmb_region_data(r), SIZE, 10));

        CHECK_SHMB(c, shmb_delete(c, name), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

static int access_mode_0644(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "it/acl/0644";

        if (!harness_is_root())
                return harness_skip("needs root to switch uids");

        CHECK_INT(harness_connect(&c), 0);
        if (create_as_root(c, name, 0644, 11, &r) < 0)
                return -1;

        CHECK_CHILD(open_as(&harness_nobody, name, SHMB_READ, 0, 11, 0));
        CHECK_CHILD(open_as(&harness_nobody, name, SHMB_READ_WRITE, -EACCES, 0, 0));
        CHECK_CHILD(ops_as(&harness_nobody, name, 0, -EACCES));

        CHECK(harness_verify(shmb_region_data(r), SIZE, 11));
        CHECK_SHMB(c, shmb_delete(c, name), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

/* Uid 65534 with a read-write handle of root's 0666 region: writes yes, resizing or chmod no. */
static int child_rw_limits(struct harness_chan *chan, void *userdata) {
        const char *name = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        int fd;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, name, SHMB_READ_WRITE, 0, &r), 0);
        fd = shmb_region_fd(r);
        CHECK_ERRNO(ftruncate(fd, 0), EPERM);
        CHECK_ERRNO(ftruncate(fd, SIZE * 2), EPERM);
        CHECK_ERRNO(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
        CHECK_ERRNO(fchmod(fd, 0777), EPERM);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

static int access_mode_0666(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "it/acl/0666";

        if (!harness_is_root())
                return harness_skip("needs root to switch uids");

        CHECK_INT(harness_connect(&c), 0);
        if (create_as_root(c, name, 0666, 12, &r) < 0)
                return -1;

        CHECK_CHILD(open_as(&harness_nobody, name, SHMB_READ, 0, 12, 0));
        /* Uid 65534 writes through its own mapping; root's mapping sees it. */
        CHECK_CHILD(open_as(&harness_nobody, name, SHMB_READ_WRITE, 0, 12, 13));
        CHECK(harness_verify(shmb_region_data(r), SIZE, 13));
        CHECK_CHILD(harness_run_child(&harness_nobody, child_rw_limits, (void *)name));
        /* Write permission is not ownership. */
        CHECK_CHILD(ops_as(&harness_nobody, name, 0, -EACCES));

        CHECK(harness_verify(shmb_region_data(r), SIZE, 13));
        CHECK_SHMB(c, shmb_delete(c, name), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

static int access_group_0640(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "it/acl/0640";
        struct shmb_region_info info;
        gid_t group;

        if (!harness_is_root())
                return harness_skip("needs root to switch uids");

        CHECK_INT(harness_connect(&c), 0);
        if (create_as_root(c, name, 0640, 14, &r) < 0)
                return -1;
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        /* The owning group is the creator's gid as SO_PEERCRED saw it (root's: 0). */
        CHECK_INT(info.gid, getegid());
        group = info.gid;
        CHECK_MSG(group != HARNESS_NOBODY, "the test needs a primary group other than 65534");

        {
                const gid_t groups[] = { group };
                const struct harness_creds supplementary = {
                        .uid = HARNESS_NOBODY,
                        .gid = HARNESS_NOBODY,
                        .n_groups = 1,
                        .groups = groups,
                };
                const struct harness_creds primary = {
                        .uid = HARNESS_NOBODY,
                        .gid = group,
                        .n_groups = 0,
                        .groups = NULL,
                };

                /* Neither owner nor in the group: the "other" bits (none) apply. */
                CHECK_CHILD(open_as(&harness_nobody, name, SHMB_READ, -EACCES, 0, 0));
                CHECK_CHILD(ops_as(&harness_nobody, name, -EACCES, -EACCES));

                /* In the group through a supplementary group: r, not w. */
                CHECK_CHILD(open_as(&supplementary, name, SHMB_READ, 0, 14, 0));
                CHECK_CHILD(open_as(&supplementary, name, SHMB_READ_WRITE, -EACCES, 0, 0));
                CHECK_CHILD(ops_as(&supplementary, name, 0, -EACCES));

                /* In the group as the primary group. */
                CHECK_CHILD(open_as(&primary, name, SHMB_READ, 0, 14, 0));
                CHECK_CHILD(open_as(&primary, name, SHMB_READ_WRITE, -EACCES, 0, 0));
        }

        CHECK_SHMB(c, shmb_delete(c, name), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

struct create_args {
        const char *name;
        unsigned seed;
};

static int child_create_default(struct harness_chan *chan, void *userdata) {
        const struct create_args *a = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(SIZE, 0, SHMB_PERSISTENT);
        struct shmb_region_info info;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, a->name, &o, &r), 0);
        CHECK_INT(shmb_region_info(r)->uid, getuid());
        CHECK_INT(shmb_region_info(r)->gid, getgid());
        CHECK_INT(shmb_region_info(r)->mode, 0600);
        harness_fill(shmb_region_data(r), SIZE, a->seed);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);

        CHECK_SHMB(c, shmb_stat(c, a->name, &info), 0);
        CHECK_INT(info.uid, getuid());
        CHECK_INT(info.mode, 0600);
        return 0;
}

static int access_unprivileged_owner(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        static const char name[] = "it/acl/by-65534";
        static const char name2[] = "it/acl/by-65534-2";
        struct create_args a = { .name = name, .seed = 15 };
        struct create_args a2 = { .name = name2, .seed = 16 };
        struct shmb_region_info info;

        if (!harness_is_root())
                return harness_skip("needs root to switch uids");

        CHECK_INT(harness_connect(&c), 0);
        CHECK_CHILD(harness_run_child(&harness_nobody, child_create_default, &a));

        /* The child's release reaches the daemon with its hang-up: a moment later, maybe. */
        CHECK_SHMB(c, harness_wait_holders(c, name, 0, 5000), 0);
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.uid, HARNESS_NOBODY);
        CHECK_INT(info.gid, HARNESS_NOBODY);
        CHECK_INT(info.mode, 0600);
        CHECK_INT(info.holders, 0);

        /* Root bypasses the mode bits. */
        CHECK_SHMB(c, shmb_open(c, name, SHMB_READ_WRITE, 0, &r), 0);
        CHECK(harness_verify(shmb_region_data(r), SIZE, 15));
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);

        /* Another unprivileged uid sees nothing of it. */
        CHECK_CHILD(open_as(&uid_65533, name, SHMB_READ, -EACCES, 0, 0));
        CHECK_CHILD(ops_as(&uid_65533, name, -EACCES, -EACCES));

        /* The owner opens it read-write and deletes it. */
        CHECK_CHILD(open_as(&harness_nobody, name, SHMB_READ_WRITE, 0, 15, 0));
        CHECK_CHILD(ops_as(&harness_nobody, name, 0, 0));
        CHECK_SHMB(c, shmb_stat(c, name, &info), -ENOENT);

        /* Root deletes anybody's region. */
        CHECK_CHILD(harness_run_child(&harness_nobody, child_create_default, &a2));
        CHECK_SHMB(c, shmb_delete(c, name2), 0);
        CHECK_SHMB(c, shmb_stat(c, name2, &info), -ENOENT);
        return 0;
}

HARNESS_MAIN(NULL,
             HARNESS_TEST(access_mode_0600),
             HARNESS_TEST(access_mode_0644),
             HARNESS_TEST(access_mode_0666),
             HARNESS_TEST(access_group_0640),
             HARNESS_TEST(access_unprivileged_owner))
