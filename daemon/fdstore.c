/* SPDX-License-Identifier: MIT */
/*
 * The fd store. Three things have to stay cheap with tens of thousands of
 * regions: a create stores one fd and appends one record; a delete removes
 * one name and appends one record; and the names handed back through
 * LISTEN_FDNAMES (one environment string, capped by the kernel at 128 KiB)
 * stay short, so every region fd is named by three base-62 characters.
 *
 * Metadata log (a memfd stored as "meta0" or "meta1"; host byte order, the
 * reader is the next instance of the same binary on the same machine):
 *   header, 64 bytes: magic "SHMBMETA", u32 version (1), u32 header size
 *     (64), u64 generation, u64 next_id, zero padding;
 *   then records: u32 type (1 put, 2 delete), u32 payload length, u32 CRC-32
 *     of the payload, u32 zero, payload.
 *   put payload: MetaPut below, then the region name (name_len bytes, no NUL);
 *   delete payload: the 4-byte fdname field alone.
 * A later record of an fdname replaces an earlier one. Reading stops at the
 * first record that is cut short or fails its CRC (a write cut by SIGKILL).
 * Appends go straight into the stored memfd (it is the same open file the
 * manager holds), so nothing is re-sent per change. When the log has grown
 * to twice what the live regions need (and at least 64 KiB), a compacted copy is written,
 * stored under the other name, and only then the old name is removed.
 *
 * Published state and seals are not logged: they are read back from the
 * memfd (F_GET_SEALS), which is the truth even when the daemon died between
 * sealing a region and noting it.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fdstore.h"
#include "log.h"
#include "memory.h"
#include "quota.h"
#include "region.h"
#include "registry.h"
#include "server.h"
#include "util.h"

#define META_MAGIC "SHMBMETA"
#define META_VERSION 1u
#define META_HEADER_SIZE 64u
#define META_OFF_GENERATION 16
#define META_OFF_NEXT_ID 24
#define REC_PUT 1u
#define REC_DEL 2u
#define COMPACT_MIN_BYTES (64u * 1024u)

#define NAME_LEN 3
#define NAME_SPACE (62u * 62u * 62u)
/* "LISTEN_FDNAMES=" + names and ':' + NUL must stay below 131072 bytes (execve's MAX_ARG_STRLEN). */
#define FDNAMES_LIMIT 131072u
/* Room for the socket unit's names (FileDescriptorName= is at most 255 bytes; one socket). */
#define FDNAMES_RESERVED (sizeof("LISTEN_FDNAMES=") + 256u + 2u * sizeof("meta0:"))

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

#define LIFETIME(x) SHMBROKER__V1__LIFETIME__LIFETIME_##x
#define SHARING(x) SHMBROKER__V1__SHARING__SHARING_##x

typedef struct RecHeader {
        uint32_t type;
        uint32_t len;
        uint32_t crc;
        uint32_t zero;
} RecHeader;

typedef struct MetaPut {
        char fdname[4];
        uint32_t sharing;
        uint64_t id;
        uint64_t size;
        uint64_t requested_size;
        uint64_t page_size;
        uint64_t created_usec;
        uint32_t lifetime;
        uint32_t uid;
        uint32_t gid;
        uint32_t mode;
        uint32_t flags;
        uint32_t seals;        /* at the time of the record; informative */
        uint16_t name_len;
        uint16_t reserved[3];
} MetaPut;

/* The record layout is the format: it must not change size silently. */
_Static_assert(sizeof(MetaPut) == 80, "MetaPut is part of the stored format");
_Static_assert(sizeof(RecHeader) == 16, "RecHeader is part of the stored format");

typedef struct MetaRec {
        MetaPut put;
        char name[SHMB_NAME_MAX + 1];
} MetaRec;

typedef struct Taken {
        int fd;
        char *name;
} Taken;

static struct {
        bool enabled;           /* NOTIFY_SOCKET: store and remove */
        bool full_logged;
        Server *server;
        unsigned cap;           /* region fds we may have stored */
        unsigned n_stored;
        uint32_t *free_idx;     /* released names, reused first */
        size_t n_free, free_alloc;
        uint32_t next_idx;
        int log_fd;
        const char *log_name;
        uint64_t log_end;
        uint64_t live_bytes;
        uint64_t generation;
        Taken *taken;
        size_t n_taken, taken_alloc;
        struct event *grace_ev;
} st = { .log_fd = -1 };

static uint32_t crc32(const void *data, size_t len) {
        const uint8_t *p = data;
        uint32_t crc = 0xffffffffu;

        while (len--) {
                crc ^= *p++;
                for (int k = 0; k < 8; k++)
                        crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
        }
        return ~crc;
}

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void idx_to_name(uint32_t idx, char name[static NAME_LEN + 1]) {
        for (int i = NAME_LEN - 1; i >= 0; i--) {
                name[i] = b62[idx % 62];
                idx /= 62;
        }
        name[NAME_LEN] = 0;
}

static int name_to_idx(const char *name) {
        uint32_t idx = 0;

        if (strlen(name) != NAME_LEN)
                return -EINVAL;
        for (int i = 0; i < NAME_LEN; i++) {
                const char *p = strchr(b62, name[i]);

                if (!name[i] || !p)
                        return -EINVAL;
                idx = idx * 62 + (uint32_t)(p - b62);
        }
        return (int)idx;
}

static int name_alloc(uint32_t *ret) {
        if (st.n_free > 0) {
                *ret = st.free_idx[--st.n_free];
                return 0;
        }
        if (st.next_idx >= NAME_SPACE)
                return -ENOSPC;
        *ret = st.next_idx++;
        return 0;
}

static int name_release(uint32_t idx) {
        if (st.n_free == st.free_alloc) {
                size_t n = st.free_alloc ? st.free_alloc * 2 : 256;
                uint32_t *p = reallocarray(st.free_idx, n, sizeof(*p));

                if (!p)
                        return -ENOMEM; /* the name is leaked, not reused: harmless */
                st.free_idx = p;
                st.free_alloc = n;
        }
        st.free_idx[st.n_free++] = idx;
        return 0;
}

static int notify_store(int fd, const char *name) {
        char msg[64];

        snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
        return sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
}

static void notify_remove(const char *name) {
        int r = sd_pid_notifyf(0, 0, "FDSTOREREMOVE=1\nFDNAME=%s", name);

        if (r < 0)
                log_warning_errno(r, "cannot remove '%s' from the fd store: %m", name);
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off) {
        const uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, (off_t)off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
                off += (uint64_t)n;
        }
        return 0;
}

static size_t put_size(const Region *r) {
        return sizeof(RecHeader) + sizeof(MetaPut) + strlen(r->name);
}

/* Serializes a put record of r into buf (put_size(r) bytes). */
static void put_format(const Region *r, uint8_t *buf) {
        size_t nl = strlen(r->name);
        RecHeader h = { .type = REC_PUT, .len = (uint32_t)(sizeof(MetaPut) + nl) };
        MetaPut m = {
                .sharing = (uint32_t)r->sharing,
                .id = r->id,
                .size = r->size,
                .requested_size = r->requested_size,
                .page_size = r->page_size,
                .created_usec = r->created_usec,
                .lifetime = (uint32_t)r->lifetime,
                .uid = (uint32_t)r->uid,
                .gid = (uint32_t)r->gid,
                .mode = r->mode,
                .flags = r->flags,
                .seals = r->seals,
                .name_len = (uint16_t)nl,
        };

        memcpy(m.fdname, r->fdname, sizeof(m.fdname));
        memcpy(buf + sizeof(h), &m, sizeof(m));
        memcpy(buf + sizeof(h) + sizeof(m), r->name, nl);
        h.crc = crc32(buf + sizeof(h), h.len);
        memcpy(buf, &h, sizeof(h));
}

static int log_append(const void *rec, size_t len) {
        int r = pwrite_all(st.log_fd, rec, len, st.log_end);

        if (r < 0)
                return r;
        st.log_end += len;
        return 0;
}

static int log_put(const Region *r) {
        uint8_t buf[sizeof(RecHeader) + sizeof(MetaPut) + SHMB_NAME_MAX];
        uint64_t next_id = st.server->registry.next_id;
        int e;

        put_format(r, buf);
        e = log_append(buf, put_size(r));
        if (e < 0)
                return e;
        st.live_bytes += put_size(r);
        /* Ids are never reused, even across restarts. */
        return pwrite_all(st.log_fd, &next_id, sizeof(next_id), META_OFF_NEXT_ID);
}

static int log_del(const Region *r) {
        struct {
                RecHeader h;
                char fdname[4];
        } rec = { .h = { .type = REC_DEL, .len = 4 } };

        memcpy(rec.fdname, r->fdname, 4);
        rec.h.crc = crc32(rec.fdname, 4);
        st.live_bytes -= MIN(st.live_bytes, put_size(r));
        return log_append(&rec, sizeof(rec));
}

static int memfd_meta_new(void) {
        int fd = memfd_create("shmb-meta", MFD_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

/*
 * Writes a compacted log of every stored region into a new memfd, stores it
 * under the other meta name, then removes the old one: a crash in between
 * leaves two logs, and the next start takes the newer generation.
 */
static int log_rewrite(void) {
        Registry *reg = &st.server->registry;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t header[META_HEADER_SIZE] = {};
        const char *name = st.log_name && strcmp(st.log_name, "meta0") == 0 ? "meta1" : "meta0";
        size_t len = sizeof(header), alloc = 1u << 16;
        uint64_t gen = st.generation + 1, next_id = reg->next_id;
        uint32_t v;
        int e;

        buf = malloc(alloc);
        if (!buf)
                return -ENOMEM;
        memcpy(header, META_MAGIC, 8);
        v = META_VERSION;
        memcpy(header + 8, &v, 4);
        v = META_HEADER_SIZE;
        memcpy(header + 12, &v, 4);
        memcpy(header + META_OFF_GENERATION, &gen, 8);
        memcpy(header + META_OFF_NEXT_ID, &next_id, 8);
        memcpy(buf, header, sizeof(header));
        for (Region *r = registry_lower_bound(reg, ""); r; r = registry_next(reg, r)) {
                if (!r->fdname[0])
                        continue;
                if (len + put_size(r) > alloc) {
                        uint8_t *p = realloc(buf, alloc * 2);

                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc *= 2;
                }
                put_format(r, buf + len);
                len += put_size(r);
        }
        fd = memfd_meta_new();
        if (fd < 0)
                return fd;
        e = pwrite_all(fd, buf, len, 0);
        if (e < 0)
                return e;
        e = notify_store(fd, name);
        if (e <= 0)
                return e < 0 ? e : -ENOTCONN;
        if (st.log_name)
                notify_remove(st.log_name);
        safe_close(st.log_fd);
        st.log_fd = TAKE_FD(fd);
        st.log_name = name;
        st.log_end = len;
        st.live_bytes = len - sizeof(header);
        st.generation = gen;
        return 0;
}

static void maybe_compact(void) {
        int e;

        uint64_t before = st.log_end;

        if (st.log_end < COMPACT_MIN_BYTES || st.log_end < 2 * (st.live_bytes + META_HEADER_SIZE))
                return;
        e = log_rewrite();
        if (e >= 0)
                log_debug("fd store metadata log compacted from %llu to %llu bytes (generation %llu)",
                          (unsigned long long)before, (unsigned long long)st.log_end,
                          (unsigned long long)st.generation);
        else
                log_warning_errno(e, "cannot compact the fd store's metadata log (%llu bytes): %m; "
                                  "appending to it further", (unsigned long long)st.log_end);
}

void fdstore_take(int fd, const char *name) {
        Taken *t;

        /* Descriptors from the manager are inherited without close-on-exec. */
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (st.n_taken == st.taken_alloc) {
                size_t n = st.taken_alloc ? st.taken_alloc * 2 : 64;

                t = reallocarray(st.taken, n, sizeof(*t));
                if (!t) {
                        log_warning("out of memory keeping stored descriptor '%s'; closing it", name);
                        safe_close(fd);
                        return;
                }
                st.taken = t;
                st.taken_alloc = n;
        }
        t = &st.taken[st.n_taken];
        t->name = strdup(name ? name : "");
        if (!t->name) {
                safe_close(fd);
                return;
        }
        t->fd = fd;
        st.n_taken++;
}

/* Reads a whole log. Returns 0 and the records by name index, or <0 when it is not a log. */
static int log_parse(int fd, uint64_t *ret_gen, uint64_t *ret_next_id, MetaRec **recs, uint64_t *ret_end) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat s;
        uint64_t off, gen, next_id;
        uint32_t v;
        size_t done = 0;

        if (fstat(fd, &s) < 0)
                return -errno;
        if (!S_ISREG(s.st_mode) || s.st_size < (off_t)META_HEADER_SIZE)
                return -EBADMSG;
        buf = malloc((size_t)s.st_size);
        if (!buf)
                return -ENOMEM;
        while (done < (size_t)s.st_size) {
                ssize_t n = pread(fd, buf + done, (size_t)s.st_size - done, (off_t)done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EBADMSG;
                done += (size_t)n;
        }
        if (memcmp(buf, META_MAGIC, 8) != 0)
                return -EBADMSG;
        memcpy(&v, buf + 8, 4);
        if (v != META_VERSION)
                return -EPROTONOSUPPORT;
        memcpy(&v, buf + 12, 4);
        if (v != META_HEADER_SIZE)
                return -EBADMSG;
        memcpy(&gen, buf + META_OFF_GENERATION, 8);
        memcpy(&next_id, buf + META_OFF_NEXT_ID, 8);

        for (off = META_HEADER_SIZE; off + sizeof(RecHeader) <= (uint64_t)s.st_size;) {
                RecHeader h;
                const uint8_t *p;
                int idx;

                memcpy(&h, buf + off, sizeof(h));
                p = buf + off + sizeof(h);
                if (h.len > (uint64_t)s.st_size - off - sizeof(h) || h.zero != 0 || crc32(p, h.len) != h.crc)
                        break; /* cut short by a crash: everything before it stands */
                if (h.type == REC_PUT && h.len >= sizeof(MetaPut)) {
                        MetaPut m;
                        char fdn[4];

                        memcpy(&m, p, sizeof(m));
                        memcpy(fdn, m.fdname, 3);
                        fdn[3] = 0;
                        idx = name_to_idx(fdn);
                        if (idx < 0 || m.name_len != h.len - sizeof(MetaPut) || m.name_len > SHMB_NAME_MAX)
                                break;
                        if (!recs[idx]) {
                                recs[idx] = calloc(1, sizeof(MetaRec));
                                if (!recs[idx])
                                        return -ENOMEM;
                        }
                        recs[idx]->put = m;
                        memcpy(recs[idx]->name, p + sizeof(m), m.name_len);
                        recs[idx]->name[m.name_len] = 0;
                } else if (h.type == REC_DEL && h.len == 4) {
                        char fdn[4];

                        memcpy(fdn, p, 3);
                        fdn[3] = 0;
                        idx = name_to_idx(fdn);
                        if (idx < 0)
                                break;
                        recs[idx] = mfree(recs[idx]);
                } else
                        break;
                off += sizeof(h) + h.len;
        }
        *ret_gen = gen;
        *ret_next_id = next_id;
        *ret_end = off;
        return 0;
}

/*
 * Hook for the quota module: a restored region is charged to its owner's
 * quota (and, for REGION_FLAG_LOCKED, locked again) here, before the daemon
 * serves. Nothing is charged yet because no quotas exist yet.
 */
/*
 * A restored region counts against its owner's quotas again, and gets back
 * the daemon's own mapping (mlocked pages, THP advice), which died with the
 * old instance. Neither may cost the region: it exists, with data.
 */
static void restore_charge(Server *s, Region *r) {
        uint64_t amount[_QUOTA_MAX] = { [QUOTA_BYTES] = r->size, [QUOTA_REGIONS] = 1 };
        QuotaCreds cr = { .uid = r->uid, .gid = r->gid };
        char err[256] = "";
        int e;

        if (r->flags & REGION_FLAG_LOCKED)
                amount[QUOTA_LOCKED] = r->size;
        e = quota_charge_restored(&s->quota, &cr, amount, &r->charge, err, sizeof(err));
        if (e != 0)
                log_warning("restored region '%s' is not counted against uid %u's quotas: %s", r->name,
                            (unsigned)r->uid, err);
        e = memory_region_map(r, err, sizeof(err));
        if (e != 0)
                log_warning("restored region '%s' lacks the daemon's own mapping (%s): %s", r->name,
                            r->flags & REGION_FLAG_LOCKED ? "its pages are not locked" : "no THP advice", err);
}

/* Rebuilds one region from its memfd and record. Returns 0, or <0 with the reason logged. */
static int restore_region(Server *s, int fd, const char *fdname, const MetaRec *m, Region **ret) {
        const MetaPut *p = &m->put;
        const char *why = NULL;
        struct stat sb;
        Region *r;
        int seals;

        if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
                why = "it is not a regular file";
        else if ((uint64_t)sb.st_size != p->size)
                why = "its size differs from the recorded one";
        else if (!name_is_valid(m->name, strlen(m->name), NULL))
                why = "its recorded name is invalid";
        else if (p->sharing > SHARING(IMMUTABLE) || p->lifetime > LIFETIME(REFCOUNTED) || p->mode > 0777 ||
                 p->page_size == 0 || p->size == 0 || (p->flags & ~(uint32_t)REGION_FLAGS_ALL))
                why = "its recorded attributes are out of range";
        else if (registry_find(&s->registry, m->name))
                why = "a region of that name was restored already";
        if (why)
                return log_warning_errno(-EBADMSG, "dropping stored region '%s' (fd name '%s'): %s", m->name,
                                         fdname, why);
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) ||
            (p->sharing == SHARING(SHARED) && !(seals & F_SEAL_SEAL)))
                return log_warning_errno(-EBADMSG, "dropping stored region '%s' (fd name '%s'): its seals (%#x) "
                                         "are not those of a region", m->name, fdname, (unsigned)seals);

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->name = strdup(m->name);
        if (!r->name) {
                free(r);
                return -ENOMEM;
        }
        r->id = p->id;
        r->size = p->size;
        r->requested_size = p->requested_size;
        r->page_size = p->page_size;
        r->sharing = (int)p->sharing;
        r->lifetime = (int)p->lifetime;
        r->uid = p->uid;
        r->gid = p->gid;
        r->mode = p->mode;
        r->flags = p->flags;
        r->seals = (uint32_t)seals;
        r->created_usec = p->created_usec;
        switch (r->sharing) {
        case SHARING(SINGLE_WRITER):
                r->published = seals & F_SEAL_FUTURE_WRITE;
                break;
        case SHARING(IMMUTABLE):
                r->published = seals & F_SEAL_WRITE;
                break;
        default:
                r->published = true;
        }
        /* Whoever owned or held it went away with the old instance; see fdstore_start(). */
        r->in_grace = r->lifetime != LIFETIME(PERSISTENT);
        r->fd = fd;
        r->ro_fd = -1;
        LIST_INIT(&r->handles);
        LIST_INIT(&r->waiters);
        *ret = r;
        return 0;
}

static void on_grace_end(evutil_socket_t fd, short what, void *userdata) {
        Registry *reg = &st.server->registry;
        unsigned n = 0;
        Region *r, *next;

        for (r = registry_lower_bound(reg, ""); r; r = next) {
                next = registry_next(reg, r);
                if (!r->in_grace)
                        continue;
                r->in_grace = false;
                /* Held by now: from here on it lives until its last holder lets go. */
                r->orphaned = true;
                if (r->n_handles == 0) {
                        log_fields(LOG_INFO, LOG_FIELDS(.message_id = SHMB_MESSAGE_REGION_DELETED, .region = r->name),
                                   "region '%s' (%s) was not reopened within the restore grace period; "
                                   "destroying it", r->name,
                                   r->lifetime == LIFETIME(OWNER) ? "owner lifetime" : "refcounted");
                        registry_destroy(reg, r);
                        n++;
                }
        }
        if (n)
                log_info("restore grace period over: %u unclaimed region%s destroyed", n, n == 1 ? "" : "s");
}

static void taken_drop(Taken *t, const char *why) {
        log_warning("closing descriptor '%s' passed by the service manager: %s", t->name, why);
        t->fd = safe_close(t->fd);
        if (st.enabled && t->name[0])
                notify_remove(t->name);
}

static unsigned store_cap(const FdStoreOptions *o) {
        const char *e = getenv("FDSTORE");
        unsigned max = o->max_fds, by_names;

        /* systemd 254+ tells us FileDescriptorStoreMax= itself. */
        if (e && *e) {
                char *end;
                unsigned long v = strtoul(e, &end, 10);

                if (!*end && v <= UINT32_MAX)
                        max = (unsigned)v;
        }
        by_names = (unsigned)((FDNAMES_LIMIT - FDNAMES_RESERVED) / (NAME_LEN + 1));
        /* Two slots stay free for the metadata log and its compacted successor. */
        max = max > 2 ? max - 2 : 0;
        return MIN(max, by_names);
}

int fdstore_start(Server *s, const FdStoreOptions *o) {
        Registry *reg = &s->registry;
        MetaRec **recs = NULL;
        Taken *meta = NULL, *stale_meta = NULL;
        uint64_t meta_gen = 0, meta_next = 0, meta_end = 0, max_id = 0;
        unsigned restored = 0, dropped = 0, orphans = 0;
        uint8_t *used = NULL;
        uint32_t top = 0;
        int e = 0;

        st.server = s;
        st.enabled = getenv("NOTIFY_SOCKET") != NULL;
        st.cap = st.enabled ? store_cap(o) : 0;

        if (st.n_taken > 0) {
                recs = calloc(NAME_SPACE, sizeof(*recs));
                used = calloc(NAME_SPACE, 1);
                if (!recs || !used) {
                        e = -ENOMEM;
                        goto out;
                }
        }
        /* The newest valid metadata log wins; another one is a compaction cut short. */
        for (size_t i = 0; i < st.n_taken; i++) {
                Taken *t = &st.taken[i];
                MetaRec **cand;
                uint64_t gen = 0, next = 0, end = 0;
                int r;

                if (strcmp(t->name, "meta0") != 0 && strcmp(t->name, "meta1") != 0)
                        continue;
                cand = calloc(NAME_SPACE, sizeof(*cand));
                if (!cand) {
                        e = -ENOMEM;
                        goto out;
                }
                r = log_parse(t->fd, &gen, &next, cand, &end);
                if (r >= 0 && (!meta || gen > meta_gen)) {
                        if (meta)
                                stale_meta = meta;
                        meta = t;
                        meta_gen = gen;
                        meta_next = next;
                        meta_end = end;
                        for (size_t k = 0; k < NAME_SPACE; k++) {
                                free(recs[k]);
                                recs[k] = cand[k];
                        }
                } else {
                        if (r < 0)
                                log_warning_errno(r, "stored metadata log '%s' cannot be read: %m", t->name);
                        stale_meta = t;
                        for (size_t k = 0; k < NAME_SPACE; k++)
                                free(cand[k]);
                }
                free(cand);
        }
        if (stale_meta && (!meta || strcmp(stale_meta->name, meta->name) != 0))
                taken_drop(stale_meta, "an older metadata log");
        else if (stale_meta)
                stale_meta->fd = safe_close(stale_meta->fd);

        for (size_t i = 0; i < st.n_taken; i++) {
                Taken *t = &st.taken[i];
                Region *r = NULL;
                int idx;

                if (t == meta || t->fd < 0 || strcmp(t->name, "meta0") == 0 || strcmp(t->name, "meta1") == 0)
                        continue;
                idx = name_to_idx(t->name);
                if (idx < 0) {
                        taken_drop(t, "not a name this daemon stores");
                        continue;
                }
                if (!recs[idx] || used[idx]) {
                        taken_drop(t, used[idx] ? "a second descriptor of the same name"
                                                : "no metadata was recorded for it");
                        dropped++;
                        continue;
                }
                if (restore_region(s, t->fd, t->name, recs[idx], &r) < 0) {
                        taken_drop(t, "its region cannot be restored");
                        dropped++;
                        continue;
                }
                t->fd = -1; /* the region owns it now */
                if (r->sharing != SHARING(SHARED) && !r->published) {
                        /* Only its creator could publish it, and the creator's handle died with the old instance. */
                        log_info("region '%s' was never %s by its creator; destroying it", r->name,
                                 r->sharing == SHARING(IMMUTABLE) ? "published" : "mapped");
                        if (st.enabled)
                                notify_remove(t->name);
                        region_free(r);
                        dropped++;
                        continue;
                }
                memcpy(r->fdname, t->name, NAME_LEN + 1);
                r->restart_safe = st.enabled;
                used[idx] = 1;
                top = MAX(top, (uint32_t)idx + 1);
                max_id = MAX(max_id, r->id);
                registry_adopt(reg, r);
                restore_charge(s, r);
                restored++;
                if (r->in_grace)
                        orphans++;
                st.n_stored++;
                recs[idx] = mfree(recs[idx]);
        }
        for (uint32_t k = 0; recs && k < NAME_SPACE; k++)
                if (recs[k]) {
                        log_warning("region '%s' has metadata but its descriptor was not passed back; it is lost",
                                    recs[k]->name);
                        dropped++;
                }
        reg->next_id = MAX(MAX(reg->next_id, meta_next), max_id + 1);

        if (st.enabled) {
                /* Free names below the highest in use are handed out lowest first. */
                st.next_idx = top;
                for (uint32_t k = top; k > 0; k--)
                        if (!used[k - 1])
                                (void)name_release(k - 1);
                if (meta) {
                        st.log_fd = TAKE_FD(meta->fd);
                        st.log_name = strcmp(meta->name, "meta0") == 0 ? "meta0" : "meta1";
                        st.generation = meta_gen;
                        st.log_end = meta_end;
                }
                /* A fresh, compacted log drops what did not come back. */
                e = log_rewrite();
                if (e < 0) {
                        log_error_errno(e, "cannot store the region metadata log: %m; regions will not survive "
                                        "a restart");
                        st.enabled = false;
                        st.cap = 0;
                        for (Region *r = registry_lower_bound(reg, ""); r; r = registry_next(reg, r))
                                r->restart_safe = false;
                        e = 0;
                }
        } else if (meta)
                meta->fd = safe_close(meta->fd);

        if (restored || dropped)
                log_info("restored %u region%s from the fd store (%u dropped)", restored, restored == 1 ? "" : "s",
                         dropped);
        if (orphans) {
                struct timeval tv = { .tv_sec = o->grace_ms / 1000, .tv_usec = (o->grace_ms % 1000) * 1000 };

                st.grace_ev = evtimer_new(s->base, on_grace_end, NULL);
                if (!st.grace_ev || evtimer_add(st.grace_ev, &tv) < 0) {
                        e = -ENOMEM;
                        goto out;
                }
                log_info("%u owner or refcounted region%s wait %u ms to be reopened", orphans,
                         orphans == 1 ? "" : "s", o->grace_ms);
        }
out:
        for (size_t i = 0; i < st.n_taken; i++) {
                safe_close(st.taken[i].fd);
                free(st.taken[i].name);
        }
        st.taken = mfree(st.taken);
        st.n_taken = st.taken_alloc = 0;
        for (uint32_t k = 0; recs && k < NAME_SPACE; k++)
                free(recs[k]);
        free(recs);
        free(used);
        return e;
}

void fdstore_region_added(Region *r) {
        char name[NAME_LEN + 1];
        uint32_t idx;
        int e;

        r->restart_safe = false;
        if (!st.enabled)
                return;
        if (st.n_stored >= st.cap || name_alloc(&idx) < 0) {
                if (!st.full_logged)
                        log_warning("the fd store is full (%u region descriptors): region '%s' and later ones "
                                    "are not restart-safe", st.n_stored, r->name);
                st.full_logged = true;
                return;
        }
        idx_to_name(idx, name);
        memcpy(r->fdname, name, sizeof(name));
        /* Metadata first: a descriptor without it is dropped at restore, never misread. */
        e = log_put(r);
        if (e >= 0) {
                e = notify_store(r->fd, name);
                if (e == 0)
                        e = -ENOTCONN;
        }
        if (e < 0) {
                log_warning_errno(e, "cannot store region '%s' in the fd store: %m; it is not restart-safe",
                                  r->name);
                (void)log_del(r);
                r->fdname[0] = 0;
                (void)name_release(idx);
                return;
        }
        st.n_stored++;
        r->restart_safe = true;
        maybe_compact();
}

void fdstore_region_removed(Region *r) {
        int idx;

        if (!st.enabled || !r->fdname[0])
                return;
        idx = name_to_idx(r->fdname);
        (void)log_del(r);
        notify_remove(r->fdname);
        r->fdname[0] = 0;
        r->restart_safe = false;
        if (idx >= 0)
                (void)name_release((uint32_t)idx);
        st.n_stored--;
        if (st.n_stored < st.cap)
                st.full_logged = false;
        maybe_compact();
}

void fdstore_done(void) {
        st.enabled = false;
        if (st.grace_ev)
                event_free(st.grace_ev);
        st.grace_ev = NULL;
        st.log_fd = safe_close(st.log_fd);
        st.free_idx = mfree(st.free_idx);
        st.n_free = st.free_alloc = 0;
        for (size_t i = 0; i < st.n_taken; i++) {
                safe_close(st.taken[i].fd);
                free(st.taken[i].name);
        }
        st.taken = mfree(st.taken);
        st.n_taken = st.taken_alloc = 0;
}
