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
 * stored under the other name, and only then the old name is removed. A start
 * goes on appending to the log it restored from when that log describes
 * exactly the regions that came back; when one was dropped, another log was
 * passed beside it or its last record is torn, a compacted copy comes first.
 *
 * Published state and seals are not logged: they are read back from the
 * memfd (F_GET_SEALS), which is the truth even when the daemon died between
 * sealing a region and noting it.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "crc32.h"
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

/*
 * A descriptor passed by the manager, with what its fstat() said (main.c
 * already made that call: it is not made twice) and, for a regular file, its
 * seals, asked right then, while the kernel's data of the file is in the
 * CPU's caches. The names of all of them are kept one after the other in
 * st.names.
 */
typedef struct Taken {
        int fd;
        uint32_t name_off;      /* in st.names */
        uint32_t mode;          /* st_mode; 0: not asked yet */
        int seals;              /* F_GET_SEALS, or -errno; SEALS_UNKNOWN: not asked */
        uint64_t size;          /* st_size */
} Taken;

#define SEALS_UNKNOWN INT_MIN

/*
 * The live put records of a log by name index: an open-addressing table
 * sized by the records present (not by the name space), pointing into the
 * log's bytes, which stay read in buf until the restore is done.
 */
typedef struct RecSlot {
        uint64_t off;           /* offset of the put payload in buf; 0: deleted */
        uint32_t key;           /* name index + 1, and SLOT_USED once its region is restored; 0: an empty slot */
} RecSlot;

#define SLOT_USED (UINT32_C(1) << 31)
#define SLOT_KEY(sl) ((sl)->key & ~SLOT_USED)

typedef struct LogIndex {
        const uint8_t *buf;     /* the log, mapped (or read, when it cannot be mapped) */
        bool mapped;
        uint64_t size;          /* bytes in buf */
        uint64_t end;           /* end of the last valid record */
        uint64_t generation, next_id;
        RecSlot *slots;
        uint32_t mask;          /* slots - 1; the number of slots is a power of two */
        uint32_t n_keys;
} LogIndex;

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
        char *names;            /* the taken descriptors' names, each NUL-terminated */
        size_t names_len, names_alloc;
        struct event *grace_ev;
} st = { .log_fd = -1 };

/* util/crc32.h: fast, and bit for bit the CRC the stored logs were written with (once bitwise, here). */
#define crc32(data, len) crc32_ieee(data, len)

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* The value of a base-62 digit, or -1. */
static int b62_val(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'Z')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 36;
        return -1;
}

static void idx_to_name(uint32_t idx, char name[static NAME_LEN + 1]) {
        for (int i = NAME_LEN - 1; i >= 0; i--) {
                name[i] = b62[idx % 62];
                idx /= 62;
        }
        name[NAME_LEN] = 0;
}

/* The index of the NAME_LEN characters at name (which need not be NUL-terminated), or -EINVAL. */
static int name3_to_idx(const char *name) {
        int idx = 0;

        for (int i = 0; i < NAME_LEN; i++) {
                int v = b62_val(name[i]);

                if (v < 0)
                        return -EINVAL;
                idx = idx * 62 + v;
        }
        return idx;
}

static int name_to_idx(const char *name) {
        if (strnlen(name, NAME_LEN + 1) != NAME_LEN)
                return -EINVAL;
        return name3_to_idx(name);
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

static const char *taken_name(const Taken *t) {
        return st.names + t->name_off;
}

static bool is_meta_name(const char *name) {
        return name[0] == 'm' && (strcmp(name, "meta0") == 0 || strcmp(name, "meta1") == 0);
}

void fdstore_take(int fd, const char *name, const struct stat *sb) {
        size_t nl;
        Taken *t;

        /* main.c made the passed descriptors close-on-exec, all at once. */
        name = name ? name : "";
        nl = strlen(name) + 1;
        if (st.n_taken == st.taken_alloc) {
                size_t n = st.taken_alloc ? st.taken_alloc * 2 : 256;

                t = reallocarray(st.taken, n, sizeof(*t));
                if (!t) {
                        log_warning("out of memory keeping stored descriptor '%s'; closing it", name);
                        safe_close(fd);
                        return;
                }
                st.taken = t;
                st.taken_alloc = n;
        }
        if (st.names_alloc - st.names_len < nl) {
                size_t n = MAX(st.names_alloc * 2, st.names_len + nl + 4096);
                char *p = n <= UINT32_MAX ? realloc(st.names, n) : NULL;

                if (!p) {
                        log_warning("out of memory keeping stored descriptor '%s'; closing it", name);
                        safe_close(fd);
                        return;
                }
                st.names = p;
                st.names_alloc = n;
        }
        t = &st.taken[st.n_taken++];
        *t = (Taken){ .fd = fd, .name_off = (uint32_t)st.names_len, .seals = SEALS_UNKNOWN };
        memcpy(st.names + st.names_len, name, nl);
        st.names_len += nl;
        if (sb) {
                t->mode = sb->st_mode;
                t->size = (uint64_t)sb->st_size;
                if (S_ISREG(sb->st_mode)) {
                        t->seals = fcntl(fd, F_GET_SEALS);
                        if (t->seals < 0)
                                t->seals = -errno;
                }
        }
}

void fdstore_take_reserve(size_t n_fds, size_t names_len) {
        Taken *t;
        char *p;

        if (n_fds > st.taken_alloc - st.n_taken) {
                t = reallocarray(st.taken, st.n_taken + n_fds, sizeof(*t));
                if (!t)
                        return; /* fdstore_take() tries again */
                st.taken = t;
                st.taken_alloc = st.n_taken + n_fds;
        }
        if (names_len > st.names_alloc - st.names_len && st.names_len + names_len <= UINT32_MAX) {
                p = realloc(st.names, st.names_len + names_len);
                if (!p)
                        return;
                st.names = p;
                st.names_alloc = st.names_len + names_len;
        }
}

/* Fills in what fstat() says of t, unless main.c did already. */
static int taken_stat(Taken *t) {
        struct stat sb;

        if (t->mode)
                return 0;
        if (fstat(t->fd, &sb) < 0)
                return -errno;
        t->mode = sb.st_mode;
        t->size = (uint64_t)sb.st_size;
        return 0;
}

static uint32_t idx_hash(uint32_t idx, uint32_t mask) {
        /*
         * The index itself: names are handed out lowest first, so the indices
         * are dense and land in consecutive slots, in the order the lookups
         * come (store order). They are distinct and below NAME_SPACE, so at
         * most NAME_SPACE / slots of them share a home slot.
         */
        return idx & mask;
}

static void log_index_free(LogIndex *ix) {
        if (ix->mapped)
                (void)munmap((void *)ix->buf, ix->size);
        else
                free((void *)ix->buf);
        free(ix->slots);
        *ix = (LogIndex){};
}

/* The slot of name index idx, or NULL. */
static RecSlot *log_index_find(const LogIndex *ix, uint32_t idx) {
        if (!ix->slots)
                return NULL;
        for (uint32_t i = idx_hash(idx, ix->mask);; i = (i + 1) & ix->mask) {
                RecSlot *sl = &ix->slots[i];

                if (SLOT_KEY(sl) == idx + 1)
                        return sl;
                if (sl->key == 0)
                        return NULL;
        }
}

static int log_index_grow(LogIndex *ix, uint32_t n_slots) {
        RecSlot *old = ix->slots, *slots;
        uint32_t old_n = old ? ix->mask + 1 : 0;

        slots = calloc(n_slots, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        ix->slots = slots;
        ix->mask = n_slots - 1;
        for (uint32_t k = 0; k < old_n; k++) {
                uint32_t i;

                if (!old[k].key)
                        continue;
                for (i = idx_hash(SLOT_KEY(&old[k]) - 1, ix->mask); slots[i].key; i = (i + 1) & ix->mask)
                        ;
                slots[i] = old[k];
        }
        free(old);
        return 0;
}

/* The slot of name index idx, added when missing. */
static RecSlot *log_index_add(LogIndex *ix, uint32_t idx) {
        RecSlot *sl = log_index_find(ix, idx);
        uint32_t i;

        if (sl)
                return sl;
        /* At most half full: probes stay short. */
        if (!ix->slots || (ix->n_keys + 1) * 2 > ix->mask + 1)
                if (log_index_grow(ix, ix->slots ? (ix->mask + 1) * 2 : 64) < 0)
                        return NULL;
        for (i = idx_hash(idx, ix->mask); ix->slots[i].key; i = (i + 1) & ix->mask)
                ;
        ix->n_keys++;
        ix->slots[i].key = idx + 1;
        return &ix->slots[i];
}

/*
 * Reads a whole log into ix: its header and, by name index, where the live
 * put record of each name is. Returns 0, or <0 when it is not a log.
 * expect: about how many names it holds (the table is sized for them).
 */
static int log_parse(Taken *t, size_t expect, LogIndex *ix) {
        uint64_t off, size;
        const uint8_t *buf;
        uint32_t v, n_slots = 64;
        int e;

        *ix = (LogIndex){};
        e = taken_stat(t);
        if (e < 0)
                return e;
        size = t->size;
        if (!S_ISREG(t->mode) || size < META_HEADER_SIZE)
                return -EBADMSG;
        if (size > SIZE_MAX)
                return -EFBIG;
        /* Mapped, not copied: nothing truncates a stored log (it only ever grows). */
        ix->size = size;
        buf = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED | MAP_POPULATE, t->fd, 0);
        if (buf != MAP_FAILED) {
                ix->buf = buf;
                ix->mapped = true;
        } else {
                uint8_t *p = malloc((size_t)size);
                size_t done = 0;

                if (!p)
                        return -ENOMEM;
                ix->buf = buf = p;
                while (done < size) {
                        ssize_t n = pread(t->fd, p + done, (size_t)size - done, (off_t)done);

                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                e = n < 0 ? -errno : -EBADMSG;
                                goto fail;
                        }
                        done += (size_t)n;
                }
        }
        e = -EBADMSG;
        if (memcmp(buf, META_MAGIC, 8) != 0)
                goto fail;
        memcpy(&v, buf + 8, 4);
        if (v != META_VERSION) {
                e = -EPROTONOSUPPORT;
                goto fail;
        }
        memcpy(&v, buf + 12, 4);
        if (v != META_HEADER_SIZE)
                goto fail;
        memcpy(&ix->generation, buf + META_OFF_GENERATION, 8);
        memcpy(&ix->next_id, buf + META_OFF_NEXT_ID, 8);

        while (n_slots < 2 * expect && n_slots < 2 * NAME_SPACE)
                n_slots *= 2;
        e = log_index_grow(ix, n_slots);
        if (e < 0)
                goto fail;
        for (off = META_HEADER_SIZE; off + sizeof(RecHeader) <= size;) {
                RecHeader h;
                const uint8_t *p;
                RecSlot *sl;
                int idx;

                memcpy(&h, buf + off, sizeof(h));
                p = buf + off + sizeof(h);
                if (h.len > size - off - sizeof(h) || h.zero != 0 || crc32(p, h.len) != h.crc)
                        break; /* cut short by a crash: everything before it stands */
                if (h.type == REC_PUT && h.len >= sizeof(MetaPut)) {
                        MetaPut m;

                        memcpy(&m, p, sizeof(m));
                        idx = name3_to_idx(m.fdname);
                        if (idx < 0 || m.name_len != h.len - sizeof(MetaPut) || m.name_len > SHMB_NAME_MAX)
                                break;
                        sl = log_index_add(ix, (uint32_t)idx);
                        if (!sl) {
                                e = -ENOMEM;
                                goto fail;
                        }
                        sl->off = off + sizeof(h);
                } else if (h.type == REC_DEL && h.len == 4) {
                        idx = name3_to_idx((const char *)p);
                        if (idx < 0)
                                break;
                        sl = log_index_find(ix, (uint32_t)idx);
                        if (sl)
                                sl->off = 0;
                } else
                        break;
                off += sizeof(h) + h.len;
        }
        ix->end = off;
        return 0;
fail:
        log_index_free(ix);
        return e;
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
        char err[256];
        int e;

        err[0] = 0; /* not all 256 bytes: this runs for every region at start */
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

/* Rebuilds one region from its memfd (t) and record (p, name). Returns 0, or <0 with the reason logged. */
static int restore_region(Server *s, Taken *t, const MetaPut *p, const char *name, Region **ret) {
        const char *why = NULL, *fdname = taken_name(t);
        Region *r;
        int seals;

        if (taken_stat(t) < 0 || !S_ISREG(t->mode))
                why = "it is not a regular file";
        else if (t->size != p->size)
                why = "its size differs from the recorded one";
        else if (!name_is_valid(name, strlen(name), NULL))
                why = "its recorded name is invalid";
        else if (p->sharing > SHARING(IMMUTABLE) || p->lifetime > LIFETIME(REFCOUNTED) || p->mode > 0777 ||
                 p->page_size == 0 || p->size == 0 || (p->flags & ~(uint32_t)REGION_FLAGS_ALL))
                why = "its recorded attributes are out of range";
        else if (registry_find(&s->registry, name))
                why = "a region of that name was restored already";
        if (why)
                return log_warning_errno(-EBADMSG, "dropping stored region '%s' (fd name '%s'): %s", name,
                                         fdname, why);
        seals = t->seals != SEALS_UNKNOWN ? t->seals : fcntl(t->fd, F_GET_SEALS);
        if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) ||
            (p->sharing == SHARING(SHARED) && !(seals & F_SEAL_SEAL)))
                return log_warning_errno(-EBADMSG, "dropping stored region '%s' (fd name '%s'): its seals (%#x) "
                                         "are not those of a region", name, fdname, (unsigned)seals);

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->name = strdup(name);
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
        r->fd = t->fd;
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
        const char *name = taken_name(t);

        log_warning("closing descriptor '%s' passed by the service manager: %s", name, why);
        t->fd = safe_close(t->fd);
        if (st.enabled && name[0])
                notify_remove(name);
}

static void taken_free(void) {
        for (size_t i = 0; i < st.n_taken; i++)
                safe_close(st.taken[i].fd);
        st.taken = mfree(st.taken);
        st.n_taken = st.taken_alloc = 0;
        st.names = mfree(st.names);
        st.names_len = st.names_alloc = 0;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return x < y ? -1 : x > y;
}

static bool slot_lost(const RecSlot *sl) {
        return sl->key && sl->off && !(sl->key & SLOT_USED);
}

static void warn_lost_one(const LogIndex *ix, const RecSlot *sl) {
        MetaPut m;

        memcpy(&m, ix->buf + sl->off, sizeof(m));
        log_warning("region '%.*s' has metadata but its descriptor was not passed back; it is lost",
                    (int)m.name_len, (const char *)ix->buf + sl->off + sizeof(m));
}

/* Warns about every record whose descriptor did not come back, by name index. Returns how many. */
static unsigned warn_lost(const LogIndex *ix) {
        _cleanup_free_ uint32_t *keys = NULL;
        unsigned n = 0, i = 0;

        for (uint32_t k = 0; ix->slots && k <= ix->mask; k++)
                n += slot_lost(&ix->slots[k]);
        if (n == 0)
                return 0;
        keys = malloc(n * sizeof(*keys));
        for (uint32_t k = 0; k <= ix->mask; k++)
                if (slot_lost(&ix->slots[k])) {
                        if (keys)
                                keys[i++] = SLOT_KEY(&ix->slots[k]);
                        else
                                warn_lost_one(ix, &ix->slots[k]);
                }
        if (keys) {
                /* In name order, as before. */
                qsort(keys, n, sizeof(*keys), cmp_u32);
                for (i = 0; i < n; i++)
                        warn_lost_one(ix, log_index_find(ix, keys[i] - 1));
        }
        return n;
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

/* Free names below the highest in use (top) are handed out lowest first. */
static void names_restore(const LogIndex *ix, size_t n_used, uint32_t top) {
        _cleanup_free_ uint64_t *bits = NULL;

        st.next_idx = top;
        if (top == n_used)
                return; /* no gaps */
        bits = calloc((top + 63) / 64, sizeof(*bits));
        if (!bits)
                return; /* the gaps are leaked, not reused: harmless */
        for (uint32_t k = 0; ix->slots && k <= ix->mask; k++)
                if (ix->slots[k].key & SLOT_USED) {
                        uint32_t idx = SLOT_KEY(&ix->slots[k]) - 1;

                        bits[idx / 64] |= UINT64_C(1) << (idx % 64);
                }
        for (uint32_t k = top; k > 0; k--)
                if (!(bits[(k - 1) / 64] & (UINT64_C(1) << ((k - 1) % 64))))
                        (void)name_release(k - 1);
}

int fdstore_start(Server *s, const FdStoreOptions *o) {
        Registry *reg = &s->registry;
        LogIndex ix = {};
        Taken *meta = NULL, *stale_meta = NULL;
        uint64_t max_id = 0, live_bytes = 0;
        unsigned restored = 0, dropped = 0, orphans = 0;
        size_t n_used = 0;
        uint32_t top = 0;
        int e = 0;

        st.server = s;
        st.enabled = getenv("NOTIFY_SOCKET") != NULL;
        st.cap = st.enabled ? store_cap(o) : 0;

        /* The newest valid metadata log wins; another one is a compaction cut short. */
        for (size_t i = 0; i < st.n_taken; i++) {
                Taken *t = &st.taken[i];
                LogIndex cand;
                int r;

                if (!is_meta_name(taken_name(t)))
                        continue;
                r = log_parse(t, st.n_taken, &cand);
                if (r == -ENOMEM) {
                        /* Not the log's fault: fail the start rather than drop every region. */
                        e = r;
                        goto out;
                }
                if (r >= 0 && (!meta || cand.generation > ix.generation)) {
                        if (meta)
                                stale_meta = meta;
                        log_index_free(&ix);
                        ix = cand;
                        meta = t;
                } else {
                        if (r < 0)
                                log_warning_errno(r, "stored metadata log '%s' cannot be read: %m", taken_name(t));
                        stale_meta = t;
                        log_index_free(&cand);
                }
        }
        if (stale_meta && (!meta || strcmp(taken_name(stale_meta), taken_name(meta)) != 0))
                taken_drop(stale_meta, "an older metadata log");
        else if (stale_meta)
                stale_meta->fd = safe_close(stale_meta->fd);

        for (size_t i = 0; i < st.n_taken; i++) {
                Taken *t = &st.taken[i];
                const char *tn = taken_name(t);
                char name[SHMB_NAME_MAX + 1];
                Region *r = NULL;
                RecSlot *sl;
                MetaPut m;
                int idx;

                if (t == meta || t->fd < 0 || is_meta_name(tn))
                        continue;
                idx = name_to_idx(tn);
                if (idx < 0) {
                        taken_drop(t, "not a name this daemon stores");
                        continue;
                }
                sl = log_index_find(&ix, (uint32_t)idx);
                if (!sl || !sl->off || (sl->key & SLOT_USED)) {
                        taken_drop(t, sl && (sl->key & SLOT_USED) ? "a second descriptor of the same name"
                                                     : "no metadata was recorded for it");
                        dropped++;
                        continue;
                }
                memcpy(&m, ix.buf + sl->off, sizeof(m));
                memcpy(name, ix.buf + sl->off + sizeof(m), m.name_len);
                name[m.name_len] = 0;
                if (restore_region(s, t, &m, name, &r) < 0) {
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
                                notify_remove(tn);
                        region_free(r);
                        dropped++;
                        continue;
                }
                memcpy(r->fdname, tn, NAME_LEN + 1);
                r->restart_safe = st.enabled;
                sl->key |= SLOT_USED;
                n_used++;
                top = MAX(top, (uint32_t)idx + 1);
                max_id = MAX(max_id, r->id);
                live_bytes += put_size(r);
                registry_adopt(reg, r);
                restore_charge(s, r);
                restored++;
                if (r->in_grace)
                        orphans++;
                st.n_stored++;
        }
        dropped += warn_lost(&ix);
        reg->next_id = MAX(MAX(reg->next_id, ix.next_id), max_id + 1);

        if (st.enabled) {
                bool keep = false;

                names_restore(&ix, n_used, top);
                if (meta) {
                        st.log_fd = TAKE_FD(meta->fd);
                        st.log_name = strcmp(taken_name(meta), "meta0") == 0 ? "meta0" : "meta1";
                        st.generation = ix.generation;
                        st.log_end = ix.end;
                        st.live_bytes = live_bytes;
                }
                /*
                 * The log describes exactly what came back: nothing was dropped,
                 * no older log is beside it and no torn record at its end. Then
                 * it stays, appends go on at its end, and it is compacted by the
                 * usual rule; nothing of it changes but the id counter, so a
                 * crash leaves it as valid as it was. Else a fresh, compacted log
                 * drops what did not come back (see log_rewrite()).
                 */
                if (meta && !stale_meta && dropped == 0 && ix.end == ix.size) {
                        /* Ids are never reused, even across restarts; the write proves the log is writable. */
                        e = pwrite_all(st.log_fd, &reg->next_id, sizeof(reg->next_id), META_OFF_NEXT_ID);
                        if (e >= 0)
                                keep = true;
                        else
                                log_debug("cannot update the stored metadata log (%s); writing a new one",
                                          strerror(-e));
                }
                e = keep ? 0 : log_rewrite();
                if (e < 0) {
                        log_error_errno(e, "cannot store the region metadata log: %m; regions will not survive "
                                        "a restart");
                        st.enabled = false;
                        st.cap = 0;
                        for (Region *r = registry_lower_bound(reg, ""); r; r = registry_next(reg, r))
                                r->restart_safe = false;
                        e = 0;
                } else if (keep)
                        maybe_compact();
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
        taken_free();
        log_index_free(&ix);
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
        taken_free();
}
