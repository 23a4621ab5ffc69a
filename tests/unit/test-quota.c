/* SPDX-License-Identifier: MIT */
/*
 * The quota module without a daemon: limits resolved key by key (uid entry,
 * then gid entries, then defaults), charges refused exactly at the limit
 * with a message naming quota, usage, limit and request, the global locked
 * cap clipped to what the process can lock, and releases that bring usage
 * back to zero and forget idle uids.
 */
#include <string.h>

#include "quota.h"
#include "tap.h"
#include "wire.h"

#define MIB (UINT64_C(1) << 20)
#define ST_QUOTA SHMBROKER__V1__STATUS__STATUS_QUOTA_EXCEEDED
#define ST_LIMIT SHMBROKER__V1__STATUS__STATUS_LIMIT_EXCEEDED

static QuotaCreds creds(uid_t uid, gid_t gid) {
        return (QuotaCreds){ .uid = uid, .gid = gid };
}

static void test_resolution(void) {
        QuotaConfig cfg;
        QuotaEntry *e;
        Quota q;
        QuotaLimits l;
        gid_t groups[] = { 44 };
        QuotaCreds cr = { .uid = 1000, .gid = 100, .groups = groups, .n_groups = 1 };

        quota_config_init(&cfg);
        CHECK(cfg.defaults.v[QUOTA_LOCKED] == QUOTA_DEFAULT_LOCKED);
        cfg.defaults.v[QUOTA_REGIONS] = 10;
        e = quota_config_entry(&cfg, QUOTA_ENTRY_GID, 44);
        e->limits.v[QUOTA_BYTES] = 5 * MIB;
        e->limits.v[QUOTA_REGIONS] = 20;
        e->set = 1u << QUOTA_BYTES | 1u << QUOTA_REGIONS;
        e = quota_config_entry(&cfg, QUOTA_ENTRY_UID, 1000);
        e->limits.v[QUOTA_REGIONS] = 30;
        e->set = 1u << QUOTA_REGIONS;
        CHECK(quota_config_entry(&cfg, QUOTA_ENTRY_UID, 1000) == e);
        cfg.exempt_root = true;

        quota_init(&q);
        quota_configure(&q, &cfg, UINT64_MAX);
        quota_limits_for(&q, &cr, &l);
        CHECK(l.v[QUOTA_REGIONS] == 30);                    /* uid entry wins */
        CHECK(l.v[QUOTA_BYTES] == 5 * MIB);                 /* supplementary group entry */
        CHECK(l.v[QUOTA_LOCKED] == QUOTA_DEFAULT_LOCKED);   /* default */
        cr = creds(1001, 100);
        quota_limits_for(&q, &cr, &l);
        CHECK(l.v[QUOTA_REGIONS] == 10 && l.v[QUOTA_BYTES] == 0);
        cr = creds(0, 0);
        quota_limits_for(&q, &cr, &l);
        CHECK(l.v[QUOTA_REGIONS] == 0 && l.v[QUOTA_LOCKED] == 0); /* exempt root */
        quota_done(&q);
}

static void test_exact_limits(void) {
        QuotaConfig cfg;
        Quota q;
        QuotaCharge a = { 0 }, b = { 0 }, c = { 0 };
        QuotaCreds cr = creds(1000, 1000);
        char err[256] = "";

        quota_config_init(&cfg);
        cfg.defaults.v[QUOTA_LOCKED] = 64 * MIB;
        quota_init(&q);
        quota_configure(&q, &cfg, UINT64_MAX);

        CHECK(quota_charge_one(&q, &cr, QUOTA_LOCKED, 60 * MIB, &a, err, sizeof(err)) == 0);
        CHECK(q.locked_total == 60 * MIB && q.n_users == 1);
        CHECK(quota_charge_one(&q, &cr, QUOTA_LOCKED, 8 * MIB, &b, err, sizeof(err)) == ST_QUOTA);
        CHECK_MSG(strcmp(err, "locked-memory quota for uid 1000 exceeded: 60M of 64M in use, 8M requested") == 0,
                  "message names quota, usage, limit and request");
        CHECK(b.user == NULL && q.locked_total == 60 * MIB); /* a refusal changes nothing */
        CHECK(quota_charge_one(&q, &cr, QUOTA_LOCKED, 4 * MIB + 1, &b, err, sizeof(err)) == ST_QUOTA);
        CHECK(quota_charge_one(&q, &cr, QUOTA_LOCKED, 4 * MIB, &b, err, sizeof(err)) == 0);
        CHECK(quota_charge_one(&q, &cr, QUOTA_LOCKED, 1, &c, err, sizeof(err)) == ST_QUOTA);
        quota_release(&a);
        quota_release(&a); /* idempotent */
        CHECK(q.locked_total == 4 * MIB && q.n_users == 1);
        quota_release(&b);
        CHECK(q.locked_total == 0 && q.n_users == 0 && quota_find_user(&q, 1000) == NULL);
        quota_done(&q);
}

static void test_global_cap(void) {
        QuotaConfig cfg;
        Quota q;
        QuotaCharge a = { 0 }, b = { 0 }, moved = { 0 };
        QuotaCreds one = creds(1000, 1000), two = creds(1001, 1001);
        char err[256] = "";

        quota_config_init(&cfg);
        cfg.max_locked = 32 * MIB;
        quota_init(&q);
        /* The process can lock only 8 MiB: the cap never promises more. */
        quota_configure(&q, &cfg, 8 * MIB);
        CHECK(q.max_locked == 8 * MIB);
        CHECK(quota_charge_one(&q, &one, QUOTA_LOCKED, 6 * MIB, &a, err, sizeof(err)) == 0);
        CHECK(quota_charge_one(&q, &two, QUOTA_LOCKED, 2 * MIB + 4096, &b, err, sizeof(err)) == ST_LIMIT);
        CHECK_MSG(strstr(err, "locked-memory cap") && strstr(err, "6M of 8M"), err);
        CHECK(quota_charge_one(&q, &two, QUOTA_LOCKED, 2 * MIB, &b, err, sizeof(err)) == 0);
        quota_charge_move(&moved, &b);
        CHECK(b.user == NULL && moved.user && q.n_users == 2);
        quota_release(&a);
        quota_release(&moved);
        CHECK(q.locked_total == 0 && q.n_users == 0);
        quota_done(&q);

        /* Without a configured cap the capacity is the cap; with CAP_IPC_LOCK there is none. */
        quota_config_init(&cfg);
        quota_init(&q);
        quota_configure(&q, &cfg, UINT64_MAX);
        CHECK(q.max_locked == UINT64_MAX);
        quota_done(&q);
}

static void test_counts(void) {
        QuotaConfig cfg;
        Quota q;
        QuotaCharge ch[4] = { { 0 } };
        QuotaCreds cr = creds(5, 5);
        uint64_t amount[_QUOTA_MAX] = { 0 };
        char err[256] = "";

        quota_config_init(&cfg);
        cfg.defaults.v[QUOTA_REGIONS] = 3;
        cfg.defaults.v[QUOTA_BYTES] = 3 * MIB;
        quota_init(&q);
        quota_configure(&q, &cfg, UINT64_MAX);
        amount[QUOTA_REGIONS] = 1;
        amount[QUOTA_BYTES] = MIB;
        for (int i = 0; i < 3; i++)
                CHECK(quota_charge(&q, &cr, amount, &ch[i], err, sizeof(err)) == 0);
        CHECK(quota_charge(&q, &cr, amount, &ch[3], err, sizeof(err)) == ST_QUOTA);
        CHECK_MSG(strstr(err, "memory quota for uid 5 exceeded: 3M of 3M in use, 1M requested") ||
                  strstr(err, "region quota for uid 5 exceeded: 3 of 3 in use, 1 requested"), err);
        for (int i = 0; i < 3; i++)
                quota_release(&ch[i]);
        CHECK(q.n_users == 0);
        quota_done(&q);
}

int main(void) {
        test_resolution();
        test_exact_limits();
        test_global_cap();
        test_counts();
        return tap_done();
}
