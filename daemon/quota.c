/* SPDX-License-Identifier: MIT */
/*
 * Quota accounting. The loop is single-threaded, so check-then-apply in one
 * call cannot overshoot; every refusal names the quota, the usage, the
 * limit and the request so the user can act on it.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quota.h"
#include "rbtree.h"
#include "util.h"
#include "wire.h"

static int user_cmp(const QuotaUser *a, const QuotaUser *b) {
        return a->uid < b->uid ? -1 : a->uid > b->uid;
}

RBTREE_GENERATE_STATIC(quota_user_tree, QuotaUser, by_uid, user_cmp)

static const char *const kind_names[_QUOTA_MAX] = {
        [QUOTA_LOCKED] = "locked-memory",
        [QUOTA_BYTES] = "memory",
        [QUOTA_REGIONS] = "region",
        [QUOTA_CONNECTIONS] = "connection",
        [QUOTA_HANDLES] = "handle",
};

const char *quota_kind_name(QuotaKind k) {
        return k < _QUOTA_MAX ? kind_names[k] : "?";
}

static bool kind_is_bytes(QuotaKind k) {
        return k == QUOTA_LOCKED || k == QUOTA_BYTES;
}

void quota_config_init(QuotaConfig *cfg) {
        *cfg = (QuotaConfig){ 0 };
        cfg->defaults.v[QUOTA_LOCKED] = QUOTA_DEFAULT_LOCKED;
}

void quota_config_done(QuotaConfig *cfg) {
        free(cfg->entries);
        cfg->entries = NULL;
        cfg->n_entries = 0;
}

QuotaEntry *quota_config_entry(QuotaConfig *cfg, QuotaEntryType type, uint32_t id) {
        QuotaEntry *n;

        for (size_t i = 0; i < cfg->n_entries; i++)
                if (cfg->entries[i].type == type && cfg->entries[i].id == id)
                        return &cfg->entries[i];
        n = realloc(cfg->entries, (cfg->n_entries + 1) * sizeof(*n));
        if (!n)
                return NULL;
        cfg->entries = n;
        n = &cfg->entries[cfg->n_entries++];
        *n = (QuotaEntry){ .type = type, .id = id };
        return n;
}

void quota_init(Quota *q) {
        *q = (Quota){ 0 };
        RB_INIT(&q->users);
        quota_config_init(&q->cfg);
        q->lock_capacity = UINT64_MAX;
        q->max_locked = UINT64_MAX;
}

void quota_configure(Quota *q, QuotaConfig *cfg, uint64_t lock_capacity) {
        quota_config_done(&q->cfg);
        q->cfg = *cfg;
        cfg->entries = NULL;
        cfg->n_entries = 0;
        q->lock_capacity = lock_capacity;
        /* Never promise more than mlock() will grant: the cap is what the process can really lock. */
        q->max_locked = q->cfg.max_locked ? MIN(q->cfg.max_locked, lock_capacity) : lock_capacity;
}

void quota_done(Quota *q) {
        QuotaUser *u;

        while ((u = RB_MIN(quota_user_tree, &q->users))) {
                RB_REMOVE(quota_user_tree, &q->users, u);
                free(u);
        }
        q->n_users = 0;
        quota_config_done(&q->cfg);
}

static bool creds_in_group(const QuotaCreds *cr, gid_t gid) {
        if (cr->gid == gid)
                return true;
        for (size_t i = 0; i < cr->n_groups; i++)
                if (cr->groups[i] == gid)
                        return true;
        return false;
}

void quota_limits_for(const Quota *q, const QuotaCreds *cr, QuotaLimits *ret) {
        const QuotaConfig *cfg = &q->cfg;
        unsigned done = 0;

        if (cr->uid == 0 && cfg->exempt_root) {
                *ret = (QuotaLimits){ 0 };
                return;
        }
        /* Key by key: the uid entry first, then gid entries in file order, then the defaults. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < cfg->n_entries; i++) {
                        const QuotaEntry *e = &cfg->entries[i];

                        if (pass == 0 ? !(e->type == QUOTA_ENTRY_UID && e->id == cr->uid)
                                      : !(e->type == QUOTA_ENTRY_GID && creds_in_group(cr, e->id)))
                                continue;
                        for (int k = 0; k < _QUOTA_MAX; k++)
                                if ((e->set & (1u << k)) && !(done & (1u << k))) {
                                        ret->v[k] = e->limits.v[k];
                                        done |= 1u << k;
                                }
                }
        for (int k = 0; k < _QUOTA_MAX; k++)
                if (!(done & (1u << k)))
                        ret->v[k] = cfg->defaults.v[k];
}

QuotaUser *quota_find_user(const Quota *q, uid_t uid) {
        QuotaUser key = { .uid = uid };

        return RB_FIND(quota_user_tree, (struct quota_user_tree *)&q->users, &key);
}

QuotaUser *quota_first_user(const Quota *q) {
        return RB_MIN(quota_user_tree, (struct quota_user_tree *)&q->users);
}

QuotaUser *quota_next_user(const Quota *q, QuotaUser *u) {
        return RB_NEXT(quota_user_tree, (struct quota_user_tree *)&q->users, u);
}

static void amount_format(QuotaKind k, uint64_t v, char *buf, size_t len) {
        if (kind_is_bytes(k))
                size_format(v, buf, len);
        else
                snprintf(buf, len, "%" PRIu64, v);
}

static int charge(Quota *q, const QuotaCreds *cr, const uint64_t amount[_QUOTA_MAX], QuotaCharge *ret,
                  char *err, size_t errlen, bool force) {
        QuotaLimits limits;
        QuotaUser *u;
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX];

        u = quota_find_user(q, cr->uid);
        if (u)
                limits = u->limits;
        else
                quota_limits_for(q, cr, &limits);

        for (int k = 0; k < _QUOTA_MAX && !force; k++) {
                uint64_t used = u ? u->used[k] : 0;

                if (amount[k] == 0 || limits.v[k] == 0)
                        continue;
                if (amount[k] > limits.v[k] || used > limits.v[k] - amount[k]) {
                        amount_format((QuotaKind)k, used, a, sizeof(a));
                        amount_format((QuotaKind)k, limits.v[k], b, sizeof(b));
                        amount_format((QuotaKind)k, amount[k], c, sizeof(c));
                        snprintf(err, errlen, "%s quota for uid %u exceeded: %s of %s in use, %s requested",
                                 kind_names[k], (unsigned)cr->uid, a, b, c);
                        return SHMBROKER__V1__STATUS__STATUS_QUOTA_EXCEEDED;
                }
        }
        if (!force && amount[QUOTA_LOCKED] > 0 && q->max_locked != UINT64_MAX &&
            (amount[QUOTA_LOCKED] > q->max_locked || q->locked_total > q->max_locked - amount[QUOTA_LOCKED])) {
                size_format(q->locked_total, a, sizeof(a));
                size_format(q->max_locked, b, sizeof(b));
                size_format(amount[QUOTA_LOCKED], c, sizeof(c));
                snprintf(err, errlen, "the daemon's locked-memory cap is reached: %s of %s locked over all "
                         "users, %s requested%s", a, b, c,
                         q->max_locked == q->lock_capacity ? " (the cap is what the daemon can lock: its "
                         "RLIMIT_MEMLOCK, without CAP_IPC_LOCK)" : "");
                return SHMBROKER__V1__STATUS__STATUS_LIMIT_EXCEEDED;
        }

        if (!u) {
                u = calloc(1, sizeof(*u));
                if (!u) {
                        snprintf(err, errlen, "out of memory for quota accounting");
                        return -ENOMEM;
                }
                u->quota = q;
                u->uid = cr->uid;
                u->limits = limits;
                RB_INSERT(quota_user_tree, &q->users, u);
                q->n_users++;
        }
        for (int k = 0; k < _QUOTA_MAX; k++)
                u->used[k] += amount[k];
        q->locked_total += amount[QUOTA_LOCKED];
        u->n_charges++;
        *ret = (QuotaCharge){ .user = u };
        memcpy(ret->amount, amount, sizeof(ret->amount));
        return 0;
}

int quota_charge(Quota *q, const QuotaCreds *cr, const uint64_t amount[_QUOTA_MAX], QuotaCharge *ret,
                 char *err, size_t errlen) {
        return charge(q, cr, amount, ret, err, errlen, false);
}

int quota_charge_restored(Quota *q, const QuotaCreds *cr, const uint64_t amount[_QUOTA_MAX], QuotaCharge *ret,
                          char *err, size_t errlen) {
        return charge(q, cr, amount, ret, err, errlen, true);
}

int quota_charge_one(Quota *q, const QuotaCreds *cr, QuotaKind kind, uint64_t amount, QuotaCharge *ret,
                     char *err, size_t errlen) {
        uint64_t v[_QUOTA_MAX] = { 0 };

        v[kind] = amount;
        return quota_charge(q, cr, v, ret, err, errlen);
}

void quota_release(QuotaCharge *c) {
        QuotaUser *u = c->user;
        Quota *q;

        if (!u)
                return;
        q = u->quota;
        for (int k = 0; k < _QUOTA_MAX; k++)
                u->used[k] -= c->amount[k];
        q->locked_total -= c->amount[QUOTA_LOCKED];
        *c = (QuotaCharge){ 0 };
        /* An idle uid keeps nothing: limits are resolved again on its next charge. */
        if (--u->n_charges == 0) {
                RB_REMOVE(quota_user_tree, &q->users, u);
                q->n_users--;
                free(u);
        }
}

void quota_charge_move(QuotaCharge *dst, QuotaCharge *src) {
        *dst = *src;
        *src = (QuotaCharge){ 0 };
}

static uint32_t clamp32(uint64_t v) {
        return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void usage_fill(Shmbroker__V1__QuotaUsage *e, uid_t uid, const uint64_t *used, const QuotaLimits *l) {
        shmbroker__v1__quota_usage__init(e);
        e->uid = uid;
        e->locked_bytes = used[QUOTA_LOCKED];
        e->locked_limit = l->v[QUOTA_LOCKED];
        e->total_bytes = used[QUOTA_BYTES];
        e->total_limit = l->v[QUOTA_BYTES];
        e->regions = clamp32(used[QUOTA_REGIONS]);
        e->regions_limit = clamp32(l->v[QUOTA_REGIONS]);
        e->connections = clamp32(used[QUOTA_CONNECTIONS]);
        e->connections_limit = clamp32(l->v[QUOTA_CONNECTIONS]);
        e->handles = clamp32(used[QUOTA_HANDLES]);
        e->handles_limit = clamp32(l->v[QUOTA_HANDLES]);
}

/* An idle uid's limits; other uids' groups come from the user database (admins only get here). */
static void idle_limits(const Quota *q, const QuotaCreds *asker, uid_t uid, QuotaLimits *ret) {
        QuotaCreds cr = { .uid = uid, .gid = (gid_t)-1 };
        gid_t groups[64];
        int n = (int)ELEMENTSOF(groups);
        struct passwd pw, *pwp = NULL;
        char buf[1024];

        if (uid == asker->uid)
                cr = *asker;
        else if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp) {
                cr.gid = pw.pw_gid;
                if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) >= 0) {
                        cr.groups = groups;
                        cr.n_groups = (size_t)n;
                }
        }
        quota_limits_for(q, &cr, ret);
}

size_t quota_report(const Quota *q, const QuotaCreds *asker, uint32_t uid, bool all,
                    Shmbroker__V1__QuotaUsage *entries, size_t max) {
        static const uint64_t none[_QUOTA_MAX];
        QuotaUser *u;
        QuotaLimits l;
        size_t n = 0;

        if (max == 0)
                return 0;
        if (all) {
                for (u = quota_first_user(q); u && n < max; u = quota_next_user(q, u))
                        usage_fill(&entries[n++], u->uid, u->used, &u->limits);
                return n;
        }
        u = quota_find_user(q, uid);
        if (u)
                usage_fill(&entries[0], u->uid, u->used, &u->limits);
        else {
                idle_limits(q, asker, uid, &l);
                usage_fill(&entries[0], uid, none, &l);
        }
        return 1;
}
