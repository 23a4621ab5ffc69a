/* SPDX-License-Identifier: MIT */
/*
 * The request handlers. Every check happens before anything changes, so a
 * refused request leaves no trace; every message names the cause and the
 * numbers a user needs to act.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "fdstore.h"
#include "events.h"
#include "introspect.h"
#include "log.h"
#include "memory.h"
#include "publish.h"
#include "region.h"
#include "registry.h"
#include "server.h"
#include "util.h"
#include "wire-fast.h"

typedef Shmbroker__V1__Request Request;
typedef Shmbroker__V1__Response Response;

#define ST(x) SHMBROKER__V1__STATUS__STATUS_##x
#define LIFETIME(x) SHMBROKER__V1__LIFETIME__LIFETIME_##x
#define SHARING(x) SHMBROKER__V1__SHARING__SHARING_##x
#define ACCESS(x) SHMBROKER__V1__ACCESS__ACCESS_##x
#define EVENT(x) SHMBROKER__V1__EVENT_TYPE__EVENT_##x

/* Enough for one packet of the shortest entries. */
#define LIST_MAX_ENTRIES 2048

typedef struct Reply {
        Response resp;
        union {
                Shmbroker__V1__HelloReply hello;
                Shmbroker__V1__CreateReply create;
                Shmbroker__V1__OpenReply open;
                Shmbroker__V1__CloseReply close;
                Shmbroker__V1__DeleteReply del;
                Shmbroker__V1__StatReply stat;
                Shmbroker__V1__ListReply list;
                Shmbroker__V1__MappedReply mapped;
                Shmbroker__V1__PublishReply publish;
                Shmbroker__V1__QuotaReply quota;
        } u;
        WireRegion region;
        int fd;                 /* borrowed; attached to the reply */
        bool disconnect;        /* drop the client after sending */
        bool deferred;          /* answered later (parked open, publish) */
        char error[512];
} Reply;

typedef int (*Handler)(Conn *c, const Request *req, Reply *rep);

static void send_reply(Conn *c, Reply *rep, uint64_t id, int status);

_printf_(3, 4) static int fail(Reply *rep, int status, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(rep->error, sizeof(rep->error), fmt, ap);
        va_end(ap);
        return status;
}

static bool is_admin(const Conn *c) {
        const Limits *l = &c->server->limits;

        return c->uid == 0 || (l->has_admin_group && conn_in_group(c, l->admin_gid));
}

/*
 * Unix permission classes: owner, then group (incl. supplementary), then
 * other. Only uid 0 bypasses them: the admin group may inspect and delete
 * every region (SPEC 3), not read or write its contents.
 */
static bool may_access(const Conn *c, const Region *r, unsigned want) {
        unsigned bits;

        if (c->uid == 0)
                return true;
        if (c->uid == r->uid)
                bits = (r->mode >> 6) & 7u;
        else if (conn_in_group(c, r->gid))
                bits = (r->mode >> 3) & 7u;
        else
                bits = r->mode & 7u;
        return (bits & want) == want;
}

static bool may_see(const Conn *c, const Region *r) {
        return is_admin(c) || c->uid == r->uid || may_access(c, r, 4);
}

static int check_name(Reply *rep, const char *name) {
        const char *why;

        if (!name_is_valid(name, strlen(name), &why))
                return fail(rep, ST(INVALID_ARGUMENT), "invalid region name: %s", why);
        return 0;
}

/* The region a request names: a valid name that exists, else the status to answer. */
static int find_region(Conn *c, const char *name, Reply *rep, Region **ret) {
        int e = check_name(rep, name);

        if (e)
                return e;
        *ret = registry_find(&c->server->registry, name);
        if (!*ret)
                return fail(rep, ST(NOT_FOUND), "no region named '%s'", name);
        return 0;
}

/* Kernel refusals of memory or descriptors are the client's to retry; others are ours. */
static int resource_status(int e) {
        switch (-e) {
        case ENOMEM:
        case ENOSPC:
        case EMFILE:
        case ENFILE:
        case EAGAIN:
                return ST(NO_RESOURCES);
        default:
                return e;
        }
}

static int handle_hello(Conn *c, const Request *req, Reply *rep) {
        const Shmbroker__V1__HelloRequest *h = req->hello;

        if (c->hello_done)
                return fail(rep, ST(PROTOCOL_ERROR), "hello was already exchanged on this connection");
        if (h->version != WIRE_PROTOCOL_VERSION) {
                rep->disconnect = true;
                return fail(rep, ST(VERSION_MISMATCH),
                            "protocol version %u is not supported: this daemon speaks version %u",
                            h->version, WIRE_PROTOCOL_VERSION);
        }
        c->hello_done = true;
        shmbroker__v1__hello_reply__init(&rep->u.hello);
        rep->u.hello.version = WIRE_PROTOCOL_VERSION;
        rep->u.hello.max_packet_size = WIRE_MAX_PACKET;
        rep->u.hello.uid = c->uid;
        rep->u.hello.gid = c->gid;
        rep->u.hello.admin = is_admin(c);
        rep->u.hello.server = (char *)"shmbrokerd " PACKAGE_VERSION;
        rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY_HELLO;
        rep->resp.hello = &rep->u.hello;
        return 0;
}

static uint64_t create_page_size(const Shmbroker__V1__CreateRequest *q) {
        return q->page_size ? q->page_size : REGION_PAGE_4K;
}

/* Whole pages: the kernel maps whole pages anyway, and hugetlb sizes must be multiples. */
static uint64_t create_size(const Shmbroker__V1__CreateRequest *q) {
        uint64_t unit = memory_alloc_unit(create_page_size(q));

        if (q->size > UINT64_MAX - unit)
                return UINT64_MAX;
        return (q->size + unit - 1) & ~(unit - 1);
}

static int check_create(Conn *c, const Shmbroker__V1__CreateRequest *q, Reply *rep) {
        Server *s = c->server;
        int r;

        r = check_name(rep, q->name);
        if (r)
                return r;
        if (q->size == 0)
                return fail(rep, ST(INVALID_ARGUMENT), "region size must be at least 1 byte");
        if (q->size > s->limits.max_region_size ||
            create_size(q) > s->limits.max_region_size)
                return fail(rep, ST(INVALID_ARGUMENT), "region size %llu bytes (%llu rounded to the page size) "
                            "exceeds the maximum of %llu bytes", (unsigned long long)q->size,
                            (unsigned long long)create_size(q), (unsigned long long)s->limits.max_region_size);
        switch (q->page_size) {
        case 0:
        case REGION_PAGE_4K:
                break;
        case MEMORY_PAGE_THP:
        case MEMORY_PAGE_2M:
        case MEMORY_PAGE_1G:
                break;
        default:
                return fail(rep, ST(INVALID_ARGUMENT),
                            "page size %llu is not one of 4096, 2097152 (2M), 1073741824 (1G) or 1 (THP)",
                            (unsigned long long)q->page_size);
        }
        if (q->mode > 0777)
                return fail(rep, ST(INVALID_ARGUMENT), "mode %#o has bits outside 0777", q->mode);
        switch (q->sharing) {
        case SHARING(SHARED):
        case SHARING(SINGLE_WRITER):
        case SHARING(IMMUTABLE):
                break;
        default:
                return fail(rep, ST(INVALID_ARGUMENT), "sharing mode %d is not one of 0 (shared), "
                            "1 (single-writer), 2 (immutable)", q->sharing);
        }
        if ((unsigned)q->lifetime > LIFETIME(REFCOUNTED))
                return fail(rep, ST(INVALID_ARGUMENT), "lifetime %d is not one of 0 (persistent), "
                            "1 (owner), 2 (refcounted)", q->lifetime);
        if (q->flags & ~(uint32_t)REGION_FLAGS_ALL)
                return fail(rep, ST(INVALID_ARGUMENT), "flags %#x has unknown bits (known: %#x)",
                            q->flags, (unsigned)REGION_FLAGS_ALL);
        if (registry_find(&s->registry, q->name))
                return fail(rep, ST(ALREADY_EXISTS), "a region named '%s' already exists", q->name);
        if (s->registry.n_regions >= s->limits.max_regions)
                return fail(rep, ST(LIMIT_EXCEEDED), "the daemon's region limit is reached: %u of %u regions exist",
                            s->registry.n_regions, s->limits.max_regions);
        return 0;
}

static void reply_region(Reply *rep, const Region *r, bool with_usage) {
        region_to_wire(r, &rep->region, with_usage);
}

/* Quota refusals go to the journal with the peer and the region, like protocol violations. */
static int quota_refused(Conn *c, const char *what, const char *name, int status, Reply *rep) {
        if (status > 0)
                log_fields(LOG_NOTICE, LOG_FIELDS(.message_id = SHMB_MESSAGE_QUOTA_REFUSED, .region = name,
                                                  LOG_PEER(c)),
                           "%s of '%s' refused for uid %u pid %d: %s", what, name, (unsigned)c->uid,
                           (int)c->pid, rep->error);
        return status;
}

static int handle_create(Conn *c, const Request *req, Reply *rep) {
        const Shmbroker__V1__CreateRequest *q = req->create;
        Server *s = c->server;
        _cleanup_(quota_release) QuotaCharge region_charge = { 0 }, handle_charge = { 0 };
        uint64_t amount[_QUOTA_MAX] = { 0 };
        QuotaCreds cr = conn_quota_creds(c);
        RegionParams p;
        Region *r = NULL;
        Handle *h;
        int e;

        e = check_create(c, q, rep);
        if (e)
                return e;
        /* Charged before anything is allocated; the region and its handle then own the charges. */
        amount[QUOTA_BYTES] = create_size(q);
        amount[QUOTA_REGIONS] = 1;
        if (q->flags & REGION_FLAG_LOCKED)
                amount[QUOTA_LOCKED] = create_size(q);
        e = quota_charge(&s->quota, &cr, amount, &region_charge, rep->error, sizeof(rep->error));
        if (e)
                return quota_refused(c, "create", q->name, e, rep);
        e = quota_charge_one(&s->quota, &cr, QUOTA_HANDLES, 1, &handle_charge, rep->error, sizeof(rep->error));
        if (e)
                return quota_refused(c, "create", q->name, e, rep);
        p = (RegionParams){
                .name = q->name,
                .size = create_size(q),
                .page_size = create_page_size(q),
                .sharing = q->sharing,
                .lifetime = q->lifetime,
                .mode = q->mode ? q->mode : 0600,
                .flags = q->flags,
                .uid = c->uid,
                .gid = c->gid,
        };
        e = registry_create(&s->registry, &p, &r, rep->error, sizeof(rep->error));
        if (e != 0) {
                log_warning("create of region '%s' (%llu bytes) for uid %u failed: %s", q->name,
                            (unsigned long long)p.size, (unsigned)c->uid, rep->error);
                return e > 0 ? e : resource_status(e);
        }
        r->requested_size = q->size;
        quota_charge_move(&r->charge, &region_charge);
        h = conn_handle_add(c, r, ACCESS(READ_WRITE), &handle_charge);
        if (!h) {
                registry_destroy(&s->registry, r);
                return fail(rep, ST(NO_RESOURCES), "out of memory for a handle");
        }
        h->creator = true;
        if (r->lifetime == LIFETIME(OWNER)) {
                r->owner = c;
                LIST_INSERT_HEAD(&c->owned, r, owner_link);
        }
        fdstore_region_added(r);
        log_fields(LOG_DEBUG, LOG_FIELDS(.message_id = SHMB_MESSAGE_REGION_CREATED, .region = r->name,
                                         LOG_PEER(c)),
                   "uid %u pid %d created region '%s' (%llu bytes)", (unsigned)c->uid, (int)c->pid,
                   r->name, (unsigned long long)r->size);
        events_emit(s, EVENT(CREATE), r, c);

        shmbroker__v1__create_reply__init(&rep->u.create);
        rep->u.create.handle = h->id;
        reply_region(rep, r, false);
        rep->u.create.region = &rep->region;
        rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY_CREATE;
        rep->resp.create = &rep->u.create;
        rep->fd = r->fd;
        return 0;
}

static const char *access_name(int access) {
        return access == ACCESS(READ_WRITE) ? "read-write" : "read";
}

static const char *sharing_name(int sharing) {
        switch (sharing) {
        case SHARING(SINGLE_WRITER):
                return "single-writer";
        case SHARING(IMMUTABLE):
                return "immutable";
        default:
                return "shared";
        }
}

/* Adds the handle and fills the reply; used at once or when a parked open completes. */
static int open_reply(Conn *c, Region *r, int access, Reply *rep) {
        _cleanup_(quota_release) QuotaCharge charge = { 0 };
        QuotaCreds cr = conn_quota_creds(c);
        Handle *h;
        int fd, e;

        e = quota_charge_one(&c->server->quota, &cr, QUOTA_HANDLES, 1, &charge, rep->error, sizeof(rep->error));
        if (e)
                return quota_refused(c, "open", r->name, e, rep);
        if (access == ACCESS(READ)) {
                fd = region_ro_fd(r);
                if (fd < 0)
                        return fail(rep, resource_status(fd), "cannot make a read-only handle for '%s': %s",
                                    r->name, strerror(-fd));
        } else
                fd = r->fd;
        h = conn_handle_add(c, r, access, &charge);
        if (!h)
                return fail(rep, ST(NO_RESOURCES), "out of memory for a handle");

        shmbroker__v1__open_reply__init(&rep->u.open);
        rep->u.open.handle = h->id;
        reply_region(rep, r, false);
        rep->u.open.region = &rep->region;
        rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY_OPEN;
        rep->resp.open = &rep->u.open;
        rep->fd = fd;
        events_emit(c->server, EVENT(OPEN), r, c);
        return 0;
}

static int handle_open(Conn *c, const Request *req, Reply *rep) {
        const Shmbroker__V1__OpenRequest *q = req->open;
        const Limits *l = &c->server->limits;
        uint32_t timeout;
        Region *r;
        int e;

        if (q->access != ACCESS(READ) && q->access != ACCESS(READ_WRITE))
                return fail(rep, ST(INVALID_ARGUMENT), "access %d is not one of 1 (read), 2 (read-write)",
                            q->access);
        e = find_region(c, q->name, rep, &r);
        if (e)
                return e;
        if (!may_access(c, r, q->access == ACCESS(READ_WRITE) ? 6u : 4u))
                return fail(rep, ST(PERMISSION_DENIED),
                            "permission denied: uid %u may not open region '%s' for %s: owner %u:%u, mode %04o",
                            (unsigned)c->uid, r->name, access_name(q->access), (unsigned)r->uid,
                            (unsigned)r->gid, r->mode);
        /* Their seals forbid new writable mappings for everyone: say so rather than hand out a useless fd. */
        if (q->access == ACCESS(READ_WRITE) && r->sharing != SHARING(SHARED))
                return fail(rep, ST(PERMISSION_DENIED),
                            "permission denied: region '%s' is %s: only its creator writes, through the mapping made at "
                            "creation; open it for read", r->name, sharing_name(r->sharing));
        if (!r->published) {
                timeout = q->timeout_ms == UINT32_MAX ? l->max_wait_ms : MIN(q->timeout_ms, l->max_wait_ms);
                if (timeout == 0)
                        return fail(rep, ST(TIMEOUT), "region '%s' is not yet %s", r->name,
                                    r->sharing == SHARING(IMMUTABLE) ? "published by its creator"
                                                                     : "mapped by its creator");
                e = publish_park_open(c, req->id, r, q->access, timeout);
                if (e < 0)
                        return fail(rep, ST(NO_RESOURCES), "cannot wait for region '%s': %s", r->name,
                                    strerror(-e));
                rep->deferred = true;
                return 0;
        }
        return open_reply(c, r, q->access, rep);
}

static int handle_close(Conn *c, const Request *req, Reply *rep) {
        Handle *h = conn_handle_find(c, req->close->handle);

        /* A close without a reply is also silent about a handle that is already gone. */
        if (req->close->no_reply) {
                if (h)
                        conn_handle_release(c, h);
                rep->deferred = true;
                return 0;
        }
        if (!h)
                return fail(rep, ST(NOT_FOUND), "no handle %llu on this connection",
                            (unsigned long long)req->close->handle);
        conn_handle_release(c, h);
        shmbroker__v1__close_reply__init(&rep->u.close);
        rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY_CLOSE;
        rep->resp.close = &rep->u.close;
        return 0;
}

static int handle_delete(Conn *c, const Request *req, Reply *rep) {
        const char *name = req->delete_->name;
        Region *r;
        int e;

        e = find_region(c, name, rep, &r);
        if (e)
                return e;
        if (c->uid != r->uid && !is_admin(c))
                return fail(rep, ST(PERMISSION_DENIED),
                            "permission denied: uid %u may not delete region '%s': it belongs to uid %u", (unsigned)c->uid,
                            r->name, (unsigned)r->uid);
        log_fields(LOG_DEBUG, LOG_FIELDS(.message_id = SHMB_MESSAGE_REGION_DELETED, .region = r->name,
                                         LOG_PEER(c)),
                   "uid %u pid %d deleted region '%s'", (unsigned)c->uid, (int)c->pid, r->name);
        events_emit(c->server, EVENT(DELETE), r, c);
        registry_destroy(&c->server->registry, r);
        shmbroker__v1__delete_reply__init(&rep->u.del);
        rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY_DELETE;
        rep->resp.delete_ = &rep->u.del;
        return 0;
}

static int handle_stat(Conn *c, const Request *req, Reply *rep) {
        const char *name = req->stat->name;
        Region *r;
        int e;

        e = find_region(c, name, rep, &r);
        if (e)
                return e;
        if (!may_see(c, r))
                return fail(rep, ST(PERMISSION_DENIED), "permission denied: uid %u may not inspect region '%s': owner %u:%u, mode %04o",
                            (unsigned)c->uid, r->name, (unsigned)r->uid, (unsigned)r->gid, r->mode);
        shmbroker__v1__stat_reply__init(&rep->u.stat);
        reply_region(rep, r, true);
        rep->u.stat.region = &rep->region;
        rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY_STAT;
        rep->resp.stat = &rep->u.stat;
        return 0;
}

static WireRegion list_regions[LIST_MAX_ENTRIES];
static WireRegion *list_ptrs[LIST_MAX_ENTRIES];

static bool has_prefix(const char *s, const char *prefix, size_t len) {
        return strncmp(s, prefix, len) == 0;
}

static int handle_list(Conn *c, const Request *req, Reply *rep) {
        const Shmbroker__V1__ListRequest *q = req->list;
        Registry *reg = &c->server->registry;
        size_t prefix_len = strlen(q->prefix), used = 0, n = 0, limit;
        /* Bounds the time one request may take however few regions are visible. */
        unsigned scan = LIST_MAX_ENTRIES * 8;
        Region *r, *last = NULL;

        limit = q->limit ? MIN((size_t)q->limit, ELEMENTSOF(list_regions)) : ELEMENTSOF(list_regions);
        /* Start at the later of "just after `after`" and "at `prefix`". */
        if (strcmp(q->after, q->prefix) >= 0)
                r = registry_upper_bound(reg, q->after);
        else
                r = registry_lower_bound(reg, q->prefix);

        for (; r && has_prefix(r->name, q->prefix, prefix_len); r = registry_next(reg, r)) {
                WireRegion *w = &list_regions[n];
                size_t sz;

                if (n >= limit || scan == 0)
                        break;
                scan--;
                if (!may_see(c, r)) {
                        last = r;
                        continue;
                }
                region_to_wire(r, w, true);
                /* Field tag, length varint (<= 3 bytes), message; headroom for the envelope. */
                sz = 1 + 3 + shmbroker__v1__region__get_packed_size(w);
                if (used + sz > WIRE_MAX_PACKET - 64 - SHMB_NAME_MAX)
                        break;
                used += sz;
                list_ptrs[n++] = w;
                last = r;
        }

        shmbroker__v1__list_reply__init(&rep->u.list);
        rep->u.list.n_regions = n;
        rep->u.list.regions = list_ptrs;
        rep->u.list.more = r && has_prefix(r->name, q->prefix, prefix_len);
        /* r is the first region not consumed; `last` the one before it. */
        rep->u.list.next_after = rep->u.list.more && last ? last->name : (char *)"";
        rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY_LIST;
        rep->resp.list = &rep->u.list;
        return 0;
}

/* The creator's handle of a region of the given sharing mode, not yet published. */
static int creator_handle(Conn *c, uint64_t id, int sharing, const char *what, Reply *rep, Handle **ret) {
        Handle *h = conn_handle_find(c, id);
        Region *r;

        if (!h)
                return fail(rep, ST(NOT_FOUND), "no handle %llu on this connection", (unsigned long long)id);
        r = h->region;
        if (!r)
                return fail(rep, ST(NOT_FOUND), "the region of handle %llu was deleted", (unsigned long long)id);
        if (r->sharing != sharing)
                return fail(rep, ST(WRONG_STATE), "region '%s' is %s: %s applies to %s regions only", r->name,
                            sharing_name(r->sharing), what, sharing_name(sharing));
        if (!h->creator)
                return fail(rep, ST(PERMISSION_DENIED), "handle %llu did not create region '%s': only the "
                            "creator's handle may %s it", (unsigned long long)id, r->name, what);
        if (r->published || r->job)
                return fail(rep, ST(WRONG_STATE), "region '%s' is %s already", r->name,
                            r->job ? "being published" : "published");
        *ret = h;
        return 0;
}

static int handle_mapped(Conn *c, const Request *req, Reply *rep) {
        Handle *h = NULL;
        Region *r;
        int e;

        e = creator_handle(c, req->mapped->handle, SHARING(SINGLE_WRITER), "mapped", rep, &h);
        if (e)
                return e;
        r = h->region;
        /* FUTURE_WRITE never waits for mappings or pins, so the loop thread may add it. */
        e = region_add_seals(r, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
        if (e < 0) {
                fail(rep, ST(WRONG_STATE), "cannot seal region '%s' against new writable mappings: %s; "
                     "the region is deleted", r->name, strerror(-e));
                registry_destroy(&c->server->registry, r);
                return ST(WRONG_STATE);
        }
        r->published = true;
        log_debug("single-writer region '%s' sealed after its creator mapped it", r->name);
        events_emit(c->server, EVENT(MAPPED), r, c);

        shmbroker__v1__mapped_reply__init(&rep->u.mapped);
        reply_region(rep, r, false);
        rep->u.mapped.region = &rep->region;
        rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY_MAPPED;
        rep->resp.mapped = &rep->u.mapped;
        /* The creator is answered before the parked readers. */
        send_reply(c, rep, req->id, ST(OK));
        rep->deferred = true;
        publish_wake(r);
        return 0;
}

static int handle_publish(Conn *c, const Request *req, Reply *rep) {
        Handle *h = NULL;
        int e;

        e = creator_handle(c, req->publish->handle, SHARING(IMMUTABLE), "publish", rep, &h);
        if (e)
                return e;
        e = publish_start(c, req->id, h);
        if (e < 0)
                return fail(rep, ST(NO_RESOURCES), "cannot start sealing region '%s': %s", h->region->name,
                            strerror(-e));
        rep->deferred = true;
        return 0;
}

/* Fits a packet with room to spare (an entry is at most ~70 bytes). */
#define QUOTA_MAX_ENTRIES 800

static Shmbroker__V1__QuotaUsage quota_entries[QUOTA_MAX_ENTRIES];
static Shmbroker__V1__QuotaUsage *quota_ptrs[QUOTA_MAX_ENTRIES];

static int handle_quota(Conn *c, const Request *req, Reply *rep) {
        const Shmbroker__V1__QuotaRequest *q = req->quota;
        Quota *quota = &c->server->quota;
        QuotaCreds cr;
        size_t n;

        if (q->all && !is_admin(c))
                return fail(rep, ST(PERMISSION_DENIED), "permission denied: only root and the admin group may "
                            "see every uid's quota; uid %u may ask about its own", (unsigned)c->uid);
        if (!q->all && q->uid != c->uid && !is_admin(c))
                return fail(rep, ST(PERMISSION_DENIED), "permission denied: uid %u may not see the quota of uid %u",
                            (unsigned)c->uid, (unsigned)q->uid);
        cr = conn_quota_creds(c);
        n = quota_report(quota, &cr, q->uid, q->all, quota_entries, ELEMENTSOF(quota_entries));
        for (size_t i = 0; i < n; i++)
                quota_ptrs[i] = &quota_entries[i];
        shmbroker__v1__quota_reply__init(&rep->u.quota);
        rep->u.quota.n_entries = n;
        rep->u.quota.entries = quota_ptrs;
        rep->u.quota.global_locked_bytes = quota->locked_total;
        rep->u.quota.global_locked_limit = quota->max_locked == UINT64_MAX ? 0 : quota->max_locked;
        rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY_QUOTA;
        rep->resp.quota = &rep->u.quota;
        return 0;
}

static int handle_holders(Conn *c, const Request *req, Reply *rep) {
        return introspect_holders(c, req, &rep->resp, rep->error, sizeof(rep->error));
}

static int handle_stats(Conn *c, const Request *req, Reply *rep) {
        return introspect_stats(c, req, &rep->resp, rep->error, sizeof(rep->error));
}

static int handle_subscribe(Conn *c, const Request *req, Reply *rep) {
        return introspect_subscribe(c, req, &rep->resp, rep->error, sizeof(rep->error));
}

typedef struct DispatchEntry {
        Handler handler;
        const char *name;
} DispatchEntry;

static const DispatchEntry dispatch_table[] = {
        [SHMBROKER__V1__REQUEST__BODY_HELLO] = { handle_hello, "hello" },
        [SHMBROKER__V1__REQUEST__BODY_CREATE] = { handle_create, "create" },
        [SHMBROKER__V1__REQUEST__BODY_OPEN] = { handle_open, "open" },
        [SHMBROKER__V1__REQUEST__BODY_CLOSE] = { handle_close, "close" },
        [SHMBROKER__V1__REQUEST__BODY_DELETE] = { handle_delete, "delete" },
        [SHMBROKER__V1__REQUEST__BODY_STAT] = { handle_stat, "stat" },
        [SHMBROKER__V1__REQUEST__BODY_LIST] = { handle_list, "list" },
        [SHMBROKER__V1__REQUEST__BODY_MAPPED] = { handle_mapped, "mapped" },
        [SHMBROKER__V1__REQUEST__BODY_PUBLISH] = { handle_publish, "publish" },
        [SHMBROKER__V1__REQUEST__BODY_QUOTA] = { handle_quota, "quota" },
        [SHMBROKER__V1__REQUEST__BODY_HOLDERS] = { handle_holders, "holders" },
        [SHMBROKER__V1__REQUEST__BODY_STATS] = { handle_stats, "stats" },
        [SHMBROKER__V1__REQUEST__BODY_SUBSCRIBE] = { handle_subscribe, "subscribe" },
};

static void send_reply(Conn *c, Reply *rep, uint64_t id, int status) {
        rep->resp.id = id;
        rep->resp.status = status;
        c->server->stats.by_status[MIN((size_t)status, ELEMENTSOF(c->server->stats.by_status) - 1)]++;
        if (status != ST(OK)) {
                /* A failed request carries no body and no fd. */
                rep->resp.body_case = SHMBROKER__V1__RESPONSE__BODY__NOT_SET;
                rep->resp.error = rep->error;
                rep->fd = -1;
                c->server->stats.errors++;
        }
        (void)conn_send(c, &rep->resp, rep->fd);
}

void dispatch_violation(Conn *c, uint64_t id, const char *fmt, ...) {
        Reply rep = { .fd = -1 };
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(rep.error, sizeof(rep.error), fmt, ap);
        va_end(ap);
        c->server->stats.protocol_violations++;
        /* Best effort: the client gets the reason if its socket has room. */
        dispatch_error(c, id, ST(PROTOCOL_ERROR), "%s", rep.error);
        conn_kill_id(c, LOG_WARNING, SHMB_MESSAGE_PROTOCOL_VIOLATION, rep.error);
}

/*
 * Requests are decoded into one arena that is reset after each packet, so
 * decoding costs no malloc() and freeing costs nothing. A request's decoded
 * form is at most a few times its packet; anything larger falls back to the heap.
 */
static struct {
        _Alignas(16) uint8_t mem[2 * WIRE_MAX_PACKET + 16384];
        size_t used;
} arena;

static void *arena_alloc(void *data, size_t size) {
        size_t need = (size + 15u) & ~(size_t)15u;

        if (need < size || need > sizeof(arena.mem) - arena.used)
                return malloc(size);
        arena.used += need;
        return arena.mem + arena.used - need;
}

static void arena_free(void *data, void *p) {
        if ((uint8_t *)p < arena.mem || (uint8_t *)p >= arena.mem + sizeof(arena.mem))
                free(p);
}

static ProtobufCAllocator arena_allocator = { .alloc = arena_alloc, .free = arena_free };

/*
 * Request.release: handles the client closed since its last request, each
 * released as by a close with no_reply (handles it does not hold are
 * ignored), before the body is carried out.
 */
static void release_handles(Conn *c, const Request *req) {
        for (size_t i = 0; i < req->n_release && !c->dead; i++) {
                Handle *h = conn_handle_find(c, req->release[i]);

                if (h)
                        conn_handle_release(c, h);
        }
        c->server->stats.releases += req->n_release;
}

void dispatch_packet(Conn *c, const uint8_t *buf, size_t len) {
        static WireFastRequest fast_req; /* one request at a time, like the arena */
        const DispatchEntry *e = NULL;
        Request *req;
        bool fast;
        Reply rep = { .fd = -1 };
        int status;

        /* The hand-written decoder takes the common requests, and checks their encoding is canonical. */
        fast = wire_unpack_request_fast(buf, len, &fast_req) >= 0;
        if (fast)
                req = &fast_req.req;
        else {
                arena.used = 0;
                req = shmbroker__v1__request__unpack(&arena_allocator, len, buf);
                if (!req) {
                        dispatch_violation(c, 0, "cannot decode a %zu-byte packet as a Request message", len);
                        return;
                }
        }
        c->server->stats.requests++;
        c->server->stats.by_type[MIN((size_t)req->body_case, ELEMENTSOF(c->server->stats.by_type) - 1)]++;
        if (!c->hello_done && req->body_case != SHMBROKER__V1__REQUEST__BODY_HELLO) {
                dispatch_violation(c, req->id, "the first request must be hello (got request type %d)",
                                   (int)req->body_case);
                goto out;
        }

        shmbroker__v1__response__init(&rep.resp);
        if ((size_t)req->body_case < ELEMENTSOF(dispatch_table))
                e = &dispatch_table[req->body_case];
        /*
         * protobuf-c cuts a string at an embedded NUL, which would turn
         * "a\0b" into the different, valid name "a". Every encoder writes
         * canonical messages, so one that does not re-encode to its own size
         * lost something in decoding: refuse it.
         */
        if (!fast && shmbroker__v1__request__get_packed_size(req) != len)
                status = fail(&rep, ST(INVALID_ARGUMENT), "request is not canonically encoded: its %zu bytes "
                              "re-encode to %zu (a string with an embedded NUL byte, or a repeated or "
                              "padded field)", len, shmbroker__v1__request__get_packed_size(req));
        else if (release_handles(c, req), !e || !e->handler)
                status = fail(&rep, ST(UNSUPPORTED), "request type %d is not supported by this daemon",
                              (int)req->body_case);
        else {
                status = e->handler(c, req, &rep);
                if (status < 0) {
                        if (!rep.error[0])
                                snprintf(rep.error, sizeof(rep.error), "%s failed in the daemon: %s",
                                         e->name, strerror(-status));
                        log_error("%s request from uid %u pid %d failed: %s", e->name, (unsigned)c->uid,
                                  (int)c->pid, rep.error);
                        status = ST(INTERNAL);
                }
        }
        if (!rep.deferred || status != ST(OK))
                send_reply(c, &rep, req->id, status);
        if (status == ST(QUOTA_EXCEEDED) && req->body_case == SHMBROKER__V1__REQUEST__BODY_CREATE)
                events_emit_name(c->server, EVENT(QUOTA_REFUSED), req->create->name, c);
        if (rep.disconnect)
                conn_kill(c, LOG_NOTICE, rep.error);
out:
        /* Frees only what did not fit the arena. */
        if (!fast)
                shmbroker__v1__request__free_unpacked(req, &arena_allocator);
}

void dispatch_error(Conn *c, uint64_t id, int status, const char *fmt, ...) {
        Reply rep = { .fd = -1 };
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(rep.error, sizeof(rep.error), fmt, ap);
        va_end(ap);
        shmbroker__v1__response__init(&rep.resp);
        send_reply(c, &rep, id, status);
}

void dispatch_finish_open(Conn *c, uint64_t id, Region *r, int access) {
        Reply rep = { .fd = -1 };
        int status;

        shmbroker__v1__response__init(&rep.resp);
        status = open_reply(c, r, access, &rep);
        send_reply(c, &rep, id, status < 0 ? ST(INTERNAL) : status);
}

void dispatch_finish_publish(Conn *c, uint64_t id, Region *r, uint64_t handle_id) {
        Reply rep = { .fd = -1 };
        Handle *h = conn_handle_find(c, handle_id);
        int fd;

        shmbroker__v1__response__init(&rep.resp);
        fd = region_ro_fd(r);
        if (fd < 0) {
                fail(&rep, ST(NO_RESOURCES), "region '%s' is published but a read-only handle cannot be made: %s",
                     r->name, strerror(-fd));
                send_reply(c, &rep, id, ST(NO_RESOURCES));
                return;
        }
        /* From now on the creator holds it read-only like everybody else. */
        if (h)
                h->access = ACCESS(READ);
        shmbroker__v1__publish_reply__init(&rep.u.publish);
        reply_region(&rep, r, false);
        rep.u.publish.region = &rep.region;
        rep.resp.body_case = SHMBROKER__V1__RESPONSE__BODY_PUBLISH;
        rep.resp.publish = &rep.u.publish;
        rep.fd = fd;
        send_reply(c, &rep, id, ST(OK));
        events_emit(c->server, EVENT(PUBLISH), r, c);
}
