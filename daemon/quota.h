/* SPDX-License-Identifier: MIT */
/*
 * Per-uid quotas and the global locked-memory cap (SPEC 4).
 *
 * Shaped after dbus-broker's user accounting: a request is charged BEFORE
 * anything is allocated, the charge (a QuotaCharge) is then moved into the
 * object that owns it (a Region holds its bytes, locked bytes and region
 * count; a Conn its connection; a Handle its handle) and that object's
 * destructor releases it. Usage therefore cannot drift from the objects
 * that exist, whichever of the many ways an object ends.
 *
 * Limits of a uid come, key by key, from its [quota.uid:N] entry, else the
 * first [quota.gid:N] entry matching the gid or a supplementary group of
 * the connection that first made the uid known, else the defaults. 0 means
 * unlimited. Root is bound like everybody unless exempt_root is set; the
 * global cap binds everybody.
 */
#pragma once

#include <bsd/sys/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

typedef enum QuotaKind {
        QUOTA_LOCKED,      /* bytes mlocked by the daemon for the uid's regions */
        QUOTA_BYTES,       /* bytes of the uid's regions */
        QUOTA_REGIONS,
        QUOTA_CONNECTIONS,
        QUOTA_HANDLES,
        _QUOTA_MAX,
} QuotaKind;

typedef struct QuotaLimits {
        uint64_t v[_QUOTA_MAX]; /* 0: unlimited */
} QuotaLimits;

typedef enum QuotaEntryType {
        QUOTA_ENTRY_UID,
        QUOTA_ENTRY_GID,
} QuotaEntryType;

/* One [quota.uid:N] / [quota.gid:N] section: only keys in `set` apply. */
typedef struct QuotaEntry {
        QuotaEntryType type;
        uint32_t id;
        unsigned set;      /* bit (1 << QuotaKind) for each key given */
        QuotaLimits limits;
} QuotaEntry;

typedef struct QuotaConfig {
        QuotaLimits defaults;
        QuotaEntry *entries;  /* owned */
        size_t n_entries;
        bool exempt_root;
        uint64_t max_locked;  /* configured global cap; 0: only what the daemon can lock */
} QuotaConfig;

/* Defaults without a config file: 64 MiB locked per uid, the rest unlimited. */
#define QUOTA_DEFAULT_LOCKED (UINT64_C(64) << 20)
void quota_config_init(QuotaConfig *cfg);
void quota_config_done(QuotaConfig *cfg);
/* Appends (or returns the existing) entry for type/id; NULL on ENOMEM. */
QuotaEntry *quota_config_entry(QuotaConfig *cfg, QuotaEntryType type, uint32_t id);

typedef struct Quota Quota;

typedef struct QuotaUser {
        RB_ENTRY(QuotaUser) by_uid;
        Quota *quota;
        uid_t uid;
        QuotaLimits limits;
        uint64_t used[_QUOTA_MAX];
        unsigned n_charges;   /* QuotaCharge objects alive; freed at 0 */
} QuotaUser;

RB_HEAD(quota_user_tree, QuotaUser);

struct Quota {
        struct quota_user_tree users;
        unsigned n_users;
        QuotaConfig cfg;
        uint64_t lock_capacity; /* what the process can mlock (rlimit or CAP_IPC_LOCK) */
        uint64_t max_locked;    /* effective global cap: min(cfg, capacity); UINT64_MAX: none */
        uint64_t locked_total;
};

/* A charge in flight or owned by an object. Zero-initialised = nothing charged. */
typedef struct QuotaCharge {
        QuotaUser *user;
        uint64_t amount[_QUOTA_MAX];
} QuotaCharge;

/* Identity used to pick gid entries. */
typedef struct QuotaCreds {
        uid_t uid;
        gid_t gid;
        const gid_t *groups;
        size_t n_groups;
} QuotaCreds;

void quota_init(Quota *q);
/* Takes ownership of cfg's entries; lock_capacity from memory_lock_capacity(). */
void quota_configure(Quota *q, QuotaConfig *cfg, uint64_t lock_capacity);
/* Every charge must have been released: frees what is left anyway. */
void quota_done(Quota *q);

/* The limits a uid gets (creds pick the gid entries). */
void quota_limits_for(const Quota *q, const QuotaCreds *cr, QuotaLimits *ret);

/*
 * Charges amount[] to cr->uid. Returns 0 (ret holds the charge), or
 * STATUS_QUOTA_EXCEEDED / STATUS_LIMIT_EXCEEDED with the message in err
 * ("locked-memory quota for uid 1000 exceeded: 60M of 64M in use, 8M
 * requested"), or -ENOMEM. A refusal changes nothing.
 */
int quota_charge(Quota *q, const QuotaCreds *cr, const uint64_t amount[_QUOTA_MAX], QuotaCharge *ret,
                 char *err, size_t errlen);
/* Shorthand for one kind. */
int quota_charge_one(Quota *q, const QuotaCreds *cr, QuotaKind kind, uint64_t amount, QuotaCharge *ret,
                     char *err, size_t errlen);
/* Releases (idempotent: the charge is zeroed). */
/*
 * Charges a region that already exists (restored from the fd store after a
 * restart) without checking limits: usage must count it even when limits
 * were lowered in between. Fails only for lack of memory.
 */
int quota_charge_restored(Quota *q, const QuotaCreds *cr, const uint64_t amount[_QUOTA_MAX], QuotaCharge *ret,
                          char *err, size_t errlen);
void quota_release(QuotaCharge *c);
/* Moves src into dst (dst must be empty); src is zeroed. */
void quota_charge_move(QuotaCharge *dst, QuotaCharge *src);

/*
 * The Quota reply: usage and limits of uid (exactly one entry, also for a
 * uid that holds nothing: then the limits it would get, resolved with
 * asker's groups when it asks about itself, else from the user database),
 * or with all of every uid holding something, at most max entries.
 */
size_t quota_report(const Quota *q, const QuotaCreds *asker, uint32_t uid, bool all,
                    Shmbroker__V1__QuotaUsage *entries, size_t max);

QuotaUser *quota_find_user(const Quota *q, uid_t uid);
QuotaUser *quota_first_user(const Quota *q);
QuotaUser *quota_next_user(const Quota *q, QuotaUser *u);
const char *quota_kind_name(QuotaKind k);
