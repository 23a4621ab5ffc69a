/* SPDX-License-Identifier: MIT */
/*
 * Regions in the client: every descriptor from the daemon is checked before
 * it is mapped (regular file, large enough, the seals its sharing mode
 * promises, the access mode asked for), because a mapping of a file that
 * another trust domain can shrink, grow or write behind our back turns into
 * SIGBUS or silently changing data. The protection of the mapping follows
 * the seals, never what the caller hoped for, and is never executable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client-internal.h"
#include "util.h"

/* MLOCK_ONFAULT of mlock2(2), which older headers lack. */
#define MLOCK_ONFAULT_FLAG 0x01

#define PAGE_2M (UINT64_C(2) << 20)
#define PAGE_1G (UINT64_C(1) << 30)

/* What no region may lack once any other process can hold a descriptor. */
#define SEALS_BASE (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int region_info_from_wire(shmb_conn *c, const WireRegion *w, struct shmb_region_info *ret) {
        size_t n;

        if (!w)
                return conn_errorf(c, -EPROTO, "the daemon's reply lacks the region description");
        n = strlen(w->name);
        if (!name_is_valid(w->name, n, NULL))
                return conn_errorf(c, -EPROTO, "the daemon described a region with an invalid name of %zu bytes",
                                   n);

        *ret = (struct shmb_region_info){
                .id = w->id,
                .size = w->size,
                .requested_size = w->requested_size,
                .page_size = w->page_size,
                .sharing = (int)w->sharing,
                .lifetime = (int)w->lifetime,
                .uid = w->uid,
                .gid = w->gid,
                .mode = w->mode,
                .flags = w->flags,
                .seals = w->seals,
                .created_usec = w->created_usec,
                .holders = w->holders,
                .published = w->published,
                .restart_safe = w->restart_safe,
                .locked_bytes = w->locked_bytes,
                .resident_bytes = w->resident_bytes,
                .huge_page_bytes = w->huge_page_bytes,
                .dev = w->dev,
                .ino = w->ino,
        };
        memcpy(ret->name, w->name, n); /* n <= SHMB_NAME_MAX, the rest is zero */
        return 0;
}

/*
 * The seals a descriptor must carry. The creator of a single-writer region
 * gets its handle before FUTURE_WRITE (it must map it writable first), the
 * creator of an immutable one before WRITE (it must fill it first); nobody
 * else ever sees a handle without them.
 */
static unsigned seals_required(int sharing, bool creator_before_final) {
        switch (sharing) {
        case SHMB_SINGLE_WRITER:
                return creator_before_final ? F_SEAL_SHRINK | F_SEAL_GROW : SEALS_BASE | F_SEAL_FUTURE_WRITE;
        case SHMB_IMMUTABLE:
                return creator_before_final ? F_SEAL_SHRINK | F_SEAL_GROW : SEALS_BASE | F_SEAL_WRITE;
        default:
                return SEALS_BASE;
        }
}

static const char *accmode_name(int accmode) {
        switch (accmode) {
        case O_RDONLY:
                return "O_RDONLY";
        case O_WRONLY:
                return "O_WRONLY";
        case O_RDWR:
                return "O_RDWR";
        default:
                return "an invalid access mode";
        }
}

static int handle_check_access(shmb_conn *c, const struct shmb_region_info *info, int fd, int accmode) {
        int fl;

        fl = fcntl(fd, F_GETFL);
        if (fl < 0)
                return conn_errorf(c, -EPROTO, "cannot read the access mode of the handle for region '%s': %s",
                                   info->name, errno_text(errno));
        /* A read handle that is O_RDWR is refused too: the daemon promised less. */
        if ((fl & O_ACCMODE) != accmode)
                return conn_errorf(c, -EPROTO, "the handle for region '%s' is %s but should be %s", info->name,
                                   accmode_name(fl & O_ACCMODE), accmode_name(accmode));
        return 0;
}

/*
 * Checks a descriptor from the daemon: a regular file of at least the
 * reported size, carrying the required seals, opened with accmode. accmode
 * -1: the caller is about to map it shared and writable, which the kernel
 * refuses (EACCES) for anything but O_RDWR, so that check is left to mmap().
 */
static int handle_check(shmb_conn *c, const struct shmb_region_info *info, int fd, unsigned required,
                        int accmode, unsigned *ret_seals) {
        char have[SEALS_FORMAT_MAX], want[SEALS_FORMAT_MAX];
        struct stat st;
        int seals;

        if (info->size == 0 || info->size > SIZE_MAX)
                return conn_errorf(c, -EPROTO, "the daemon reported a size of %" PRIu64 " bytes for region '%s'",
                                   info->size, info->name);

        if (fstat(fd, &st) < 0)
                return conn_errorf(c, -EPROTO, "cannot fstat the handle for region '%s': %s", info->name,
                                   errno_text(errno));
        if (!S_ISREG(st.st_mode))
                return conn_errorf(c, -EPROTO, "the handle for region '%s' is not a regular file (mode 0%o)",
                                   info->name, (unsigned)st.st_mode);
        if (st.st_size < 0 || (uint64_t)st.st_size < info->size)
                return conn_errorf(c, -EPROTO,
                                   "the handle for region '%s' is %jd bytes but the daemon reported %" PRIu64,
                                   info->name, (intmax_t)st.st_size, info->size);

        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0)
                return conn_errorf(c, -EPROTO, "cannot read the seals of the handle for region '%s': %s",
                                   info->name, errno_text(errno));
        if (((unsigned)seals & required) != required)
                return conn_errorf(c, -EPROTO,
                                   "the handle for region '%s' has seals 0x%x (%s) but needs 0x%x (%s)",
                                   info->name, (unsigned)seals, seals_format((unsigned)seals, have, sizeof(have)),
                                   required, seals_format(required, want, sizeof(want)));

        *ret_seals = (unsigned)seals;
        return accmode < 0 ? 0 : handle_check_access(c, info, fd, accmode);
}

/*
 * Maps r->fd: writable only when asked for and the seals allow it. hint is
 * the address to keep if it is free (MAP_FIXED_NOREPLACE, never MAP_FIXED).
 */
static int region_map(shmb_conn *c, shmb_region *r, bool writable, void *hint) {
        uint64_t page = r->info.page_size;
        int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
        size_t len = (size_t)r->info.size;
        void *p = MAP_FAILED;

        if ((page == PAGE_2M || page == PAGE_1G) && len % page != 0)
                return conn_errorf(c, -EPROTO,
                                   "region '%s' is %zu bytes, not a multiple of its huge page size %" PRIu64,
                                   r->info.name, len, page);

        if (hint)
                p = mmap(hint, len, prot, MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE, r->fd, 0);
        /* Kernels before 4.17 take the flag as a hint: any address will do. */
        if (p == MAP_FAILED)
                p = mmap(NULL, len, prot, MAP_SHARED_VALIDATE, r->fd, 0);
        /* Before Linux 6.7 a shared read-only mapping of a write-sealed memfd fails. */
        if (p == MAP_FAILED && !writable && (errno == EPERM || errno == EACCES) &&
            (r->seals & F_SEAL_WRITE))
                p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, r->fd, 0);
        /* handle_check() left the access mode of a writable handle to this mmap(): say what it is. */
        if (p == MAP_FAILED && writable && errno == EACCES && handle_check_access(c, &r->info, r->fd, O_RDWR) < 0)
                return -EPROTO;
        if (p == MAP_FAILED)
                return conn_errorf(c, -errno, "mapping %zu bytes of region '%s' %s failed: %s", len,
                                   r->info.name, writable ? "read-write" : "read-only", errno_text(errno));

        /* Transparent huge pages are a wish: the system may say no. */
        if (page == SHMB_PAGE_THP)
                (void)madvise(p, len, MADV_HUGEPAGE);

        r->data = p;
        r->map_len = len;
        return 0;
}

static void region_unmap(shmb_region *r) {
        if (r->data)
                (void)munmap(r->data, r->map_len);
        r->data = NULL;
        r->map_len = 0;
}

static shmb_region *region_free(shmb_region *r) {
        if (!r)
                return NULL;
        region_unmap(r);
        safe_close(r->fd);
        free(r);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(shmb_region *, region_free);

static bool region_writable(const shmb_region *r) {
        return r->access == SHMB_READ_WRITE && !(r->seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
}

/*
 * Builds a region from a create or open reply: takes *fd, checks it against
 * what the daemon reported and maps it.
 */
static int region_from_reply(shmb_conn *c, const char *name, uint64_t handle, const WireRegion *w, int *fd,
                             int access, bool creator, shmb_region **ret) {
        _cleanup_(region_freep) shmb_region *r = NULL;
        int r_;

        r = calloc(1, sizeof(*r));
        if (!r) {
                *fd = safe_close(*fd);
                return conn_errorf(c, -ENOMEM, "out of memory");
        }
        r->fd = TAKE_FD(*fd);
        r->handle = handle;
        r->access = access;
        r->creator = creator;

        r_ = region_info_from_wire(c, w, &r->info);
        if (r_ < 0)
                return r_;
        if (strcmp(r->info.name, name) != 0)
                return conn_errorf(c, -EPROTO, "the daemon answered for region '%s' when asked for '%s'",
                                   r->info.name, name);
        if (r->info.sharing < SHMB_SHARED || r->info.sharing > SHMB_IMMUTABLE)
                return conn_errorf(c, -EPROTO, "region '%s' has unknown sharing mode %d", name, r->info.sharing);

        r_ = handle_check(c, &r->info, r->fd, seals_required(r->info.sharing, creator), -1, &r->seals);
        if (r_ < 0)
                return r_;
        /* Unless the writable mapping below proves it, check the access mode here. */
        if (!region_writable(r)) {
                r_ = handle_check_access(c, &r->info, r->fd, access == SHMB_READ_WRITE ? O_RDWR : O_RDONLY);
                if (r_ < 0)
                        return r_;
        }

        r_ = region_map(c, r, region_writable(r), NULL);
        if (r_ < 0)
                return r_;

        *ret = TAKE_PTR(r);
        return 0;
}

/* single-writer: tell the daemon our writable mapping exists, so it seals. */
static int region_mapped(shmb_conn *c, shmb_region *r) {
        Shmbroker__V1__MappedRequest mapped = SHMBROKER__V1__MAPPED_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        struct shmb_region_info info;
        int r_;

        mapped.handle = r->handle;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_MAPPED;
        req.mapped = &mapped;
        r_ = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_MAPPED, &resp, NULL);
        if (r_ < 0)
                return r_;
        r_ = region_info_from_wire(c, resp->mapped ? resp->mapped->region : NULL, &info);
        if (r_ < 0)
                return r_;
        if (info.id != r->info.id || info.size != r->info.size)
                return conn_errorf(c, -EPROTO,
                                   "the daemon's mapped reply describes region %" PRIu64 " of %" PRIu64
                                   " bytes, not region %" PRIu64 " of %" PRIu64 " bytes",
                                   info.id, info.size, r->info.id, r->info.size);

        /* The seals are on the file we already hold: they must be there now. */
        r_ = handle_check(c, &info, r->fd, seals_required(SHMB_SINGLE_WRITER, false), O_RDWR, &r->seals);
        if (r_ < 0)
                return r_;
        r->info = info;
        return 0;
}

static int create_opts_check(shmb_conn *c, const struct shmb_create_opts *opts) {
        const size_t min = offsetof(struct shmb_create_opts, flags) + sizeof(opts->flags);
        uint64_t ps;

        if (!opts)
                return conn_errorf(c, -EINVAL, "no options given");
        if (opts->struct_size < min)
                return conn_errorf(c, -EINVAL, "options struct_size is %zu, at least %zu expected",
                                   opts->struct_size, min);
        /* A newer caller's extra fields must be unset: we cannot honour them. */
        for (size_t i = sizeof(*opts); i < opts->struct_size; i++)
                if (((const uint8_t *)opts)[i] != 0)
                        return conn_errorf(c, -EINVAL,
                                           "options set fields this library does not know (byte %zu of %zu)", i,
                                           opts->struct_size);
        if (opts->size == 0)
                return conn_errorf(c, -EINVAL, "region size is 0");
        ps = opts->page_size;
        if (ps != 0 && ps != 4096 && ps != PAGE_2M && ps != PAGE_1G && ps != SHMB_PAGE_THP)
                return conn_errorf(c, -EINVAL,
                                   "page size %" PRIu64 " is none of 4096, 2097152, 1073741824 or 1 (THP)", ps);
        if (opts->mode & ~UINT32_C(0777))
                return conn_errorf(c, -EINVAL, "mode 0%" PRIo32 " has bits outside 0777", opts->mode);
        if (opts->sharing < SHMB_SHARED || opts->sharing > SHMB_IMMUTABLE)
                return conn_errorf(c, -EINVAL, "unknown sharing mode %d", opts->sharing);
        if (opts->lifetime < SHMB_PERSISTENT || opts->lifetime > SHMB_REFCOUNTED)
                return conn_errorf(c, -EINVAL, "unknown lifetime %d", opts->lifetime);
        if (opts->flags & ~(uint32_t)(SHMB_LOCKED | SHMB_PREALLOC))
                return conn_errorf(c, -EINVAL, "unknown flags 0x%" PRIx32,
                                   opts->flags & ~(uint32_t)(SHMB_LOCKED | SHMB_PREALLOC));
        return 0;
}

static int create_locked(shmb_conn *c, const char *name, const struct shmb_create_opts *opts,
                         shmb_region **ret) {
        Shmbroker__V1__CreateRequest create = SHMBROKER__V1__CREATE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_close_ int fd = -1;
        shmb_region *region = NULL;
        uint64_t handle;
        int r;

        r = conn_check_name(c, name);
        if (r < 0)
                return r;
        r = create_opts_check(c, opts);
        if (r < 0)
                return r;
        if (!ret)
                return conn_errorf(c, -EINVAL, "no place to return the region");

        create.name = (char *)name;
        create.size = opts->size;
        create.page_size = opts->page_size;
        create.mode = opts->mode;
        create.sharing = (Shmbroker__V1__Sharing)opts->sharing;
        create.lifetime = (Shmbroker__V1__Lifetime)opts->lifetime;
        create.flags = opts->flags;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CREATE;
        req.create = &create;

        r = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_CREATE, &resp, &fd);
        if (r < 0)
                return r;
        if (!resp->create)
                return conn_errorf(c, -EPROTO, "the daemon's create reply is empty");
        handle = resp->create->handle;

        r = region_from_reply(c, name, handle, resp->create->region, &fd, SHMB_READ_WRITE, true, &region);
        if (r >= 0 && region->info.sharing != opts->sharing)
                r = conn_errorf(c, -EPROTO, "region '%s' was created with sharing mode %d, not %d", name,
                                region->info.sharing, opts->sharing);
        if (r >= 0 && opts->sharing == SHMB_SINGLE_WRITER)
                r = region_mapped(c, region);
        if (r < 0) {
                /* A failed create leaves nothing behind: the name, then our handle. */
                region_free(region);
                conn_delete_quiet(c, name);
                conn_release_handle_quiet(c, handle);
                return r;
        }

        conn_link_region(c, region);
        *ret = region;
        return 0;
}

_public_ int shmb_create(shmb_conn *c, const char *name, const struct shmb_create_opts *opts,
                         shmb_region **ret) {
        int r;

        if (!c)
                return -EINVAL;
        (void)pthread_mutex_lock(&c->lock);
        r = create_locked(c, name, opts, ret);
        (void)pthread_mutex_unlock(&c->lock);
        return r;
}

static int open_locked(shmb_conn *c, const char *name, int access, int timeout_ms, shmb_region **ret) {
        Shmbroker__V1__OpenRequest open_req = SHMBROKER__V1__OPEN_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_close_ int fd = -1;
        shmb_region *region = NULL;
        int r;

        r = conn_check_name(c, name);
        if (r < 0)
                return r;
        if (access != SHMB_READ && access != SHMB_READ_WRITE)
                return conn_errorf(c, -EINVAL, "access %d is neither SHMB_READ nor SHMB_READ_WRITE", access);
        if (!ret)
                return conn_errorf(c, -EINVAL, "no place to return the region");

        open_req.name = (char *)name;
        open_req.access = (Shmbroker__V1__Access)access;
        /* UINT32_MAX: as long as the daemon allows. */
        open_req.timeout_ms = timeout_ms < 0 ? UINT32_MAX : (uint32_t)timeout_ms;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_OPEN;
        req.open = &open_req;

        r = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_OPEN, &resp, &fd);
        if (r < 0)
                return r;
        if (!resp->open)
                return conn_errorf(c, -EPROTO, "the daemon's open reply is empty");

        r = region_from_reply(c, name, resp->open->handle, resp->open->region, &fd, access, false, &region);
        if (r < 0) {
                conn_release_handle_quiet(c, resp->open->handle);
                return r;
        }

        conn_link_region(c, region);
        *ret = region;
        return 0;
}

_public_ int shmb_open(shmb_conn *c, const char *name, int access, int timeout_ms, shmb_region **ret) {
        int r;

        if (!c)
                return -EINVAL;
        (void)pthread_mutex_lock(&c->lock);
        r = open_locked(c, name, access, timeout_ms, ret);
        (void)pthread_mutex_unlock(&c->lock);
        return r;
}

static int publish_locked(shmb_conn *c, shmb_region *r) {
        Shmbroker__V1__PublishRequest publish = SHMBROKER__V1__PUBLISH_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_close_ int fd = -1;
        struct shmb_region_info info;
        struct stat st_old, st_new;
        unsigned seals;
        void *hint = r->data;
        int r_;

        if (r->info.sharing != SHMB_IMMUTABLE)
                return conn_errorf(c, -EINVAL, "region '%s' is not immutable: nothing to publish", r->info.name);
        if (!r->creator)
                return conn_errorf(c, -EINVAL, "region '%s' was not created on this connection: only its creator publishes",
                                   r->info.name);
        if (r->published)
                return conn_errorf(c, -EINVAL, "region '%s' is published already", r->info.name);
        if (c->dead && !c->lost)
                return conn_errorf(c, -ENOTCONN, "the connection to the daemon was lost by an earlier call");
        if (r->epoch != c->epoch || c->dead)
                return conn_errorf(c, -ENOTCONN, "region '%s' was created before the daemon restarted: its "
                                   "handle is void, and an unpublished immutable region does not survive a restart",
                                   r->info.name);

        /* F_SEAL_WRITE fails EBUSY while a shared mapping of a writable fd exists. */
        region_unmap(r);

        publish.handle = r->handle;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_PUBLISH;
        req.publish = &publish;
        r_ = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_PUBLISH, &resp, &fd);
        if (r_ < 0) {
                /*
                 * Usually not sealed: give the creator its writable mapping back
                 * to retry. If the daemon did seal (the region was deleted while
                 * being published), a writable mapping is refused: map it
                 * read-only, so the caller still sees its bytes.
                 */
                char saved[CONN_ERROR_MAX];

                memcpy(saved, c->error, sizeof(saved));
                if (region_map(c, r, true, hint) < 0)
                        (void)region_map(c, r, false, hint);
                memcpy(c->error, saved, sizeof(saved));
                return r_;
        }

        /* From here on the daemon has sealed; a failure leaves r unmapped. */
        r_ = region_info_from_wire(c, resp->publish ? resp->publish->region : NULL, &info);
        if (r_ < 0)
                return r_;
        if (info.id != r->info.id || info.size != r->info.size)
                return conn_errorf(c, -EPROTO,
                                   "the daemon's publish reply describes region %" PRIu64 " of %" PRIu64
                                   " bytes, not region %" PRIu64 " of %" PRIu64 " bytes",
                                   info.id, info.size, r->info.id, r->info.size);
        if (fstat(r->fd, &st_old) < 0 || fstat(fd, &st_new) < 0)
                return conn_errorf(c, -EPROTO, "cannot fstat the handles of region '%s': %s", info.name,
                                   errno_text(errno));
        if (st_old.st_dev != st_new.st_dev || st_old.st_ino != st_new.st_ino)
                return conn_errorf(c, -EPROTO, "the published handle of region '%s' is a different file",
                                   info.name);
        r_ = handle_check(c, &info, fd, seals_required(SHMB_IMMUTABLE, false), O_RDONLY, &seals);
        if (r_ < 0)
                return r_;

        safe_close(r->fd);
        r->fd = TAKE_FD(fd);
        r->seals = seals;
        r->info = info;
        r->published = true;
        return region_map(c, r, false, hint);
}

_public_ int shmb_publish(shmb_region *r) {
        shmb_conn *c;
        int r_;

        if (!r)
                return -EINVAL;
        c = r->conn;
        if (!c)
                return -ENOTCONN;
        (void)pthread_mutex_lock(&c->lock);
        r_ = publish_locked(c, r);
        (void)pthread_mutex_unlock(&c->lock);
        return r_;
}

_public_ int shmb_close(shmb_region *r) {
        shmb_conn *c;

        if (!r)
                return 0;
        c = r->conn;
        region_unmap(r);
        r->fd = safe_close(r->fd);

        if (c) {
                (void)pthread_mutex_lock(&c->lock);
                conn_unlink_region(c, r);
                /*
                 * A handle from before a reconnect died with the old daemon: only
                 * unmap. Gone is as good as released: a lost connection took the
                 * handle with it. Releasing the last handle destroys a refcounted
                 * region, which other connections must see once this returns:
                 * wait for those. Releasing the creator's handle of a region not
                 * yet ready destroys it, which its waiters must learn now: send
                 * that at once. Other releases change nothing anyone waits for:
                 * they go with the next request (docs/protocol.md, "close").
                 */
                if (r->epoch == c->epoch && r->info.lifetime == SHMB_REFCOUNTED)
                        conn_release_handle_sync(c, r->handle);
                else if (r->epoch == c->epoch && !r->info.published)
                        conn_release_handle_quiet(c, r->handle);
                else if (r->epoch == c->epoch)
                        conn_release_handle_deferred(c, r->handle);
                (void)pthread_mutex_unlock(&c->lock);
        }

        free(r);
        return 0;
}

_public_ void *shmb_region_data(const shmb_region *r) {
        return r ? r->data : NULL;
}

_public_ uint64_t shmb_region_size(const shmb_region *r) {
        return r ? r->info.size : 0;
}

_public_ int shmb_region_fd(const shmb_region *r) {
        return r ? r->fd : -EINVAL;
}

_public_ unsigned shmb_region_seals(const shmb_region *r) {
        int seals;

        if (!r)
                return 0;
        /* Live from the kernel: seals only ever get added. */
        seals = fcntl(r->fd, F_GET_SEALS);
        return seals >= 0 ? (unsigned)seals : r->seals;
}

_public_ uint64_t shmb_region_page_size(const shmb_region *r) {
        return r ? r->info.page_size : 0;
}

_public_ const struct shmb_region_info *shmb_region_info(const shmb_region *r) {
        return r ? &r->info : NULL;
}

_public_ int shmb_region_lock(shmb_region *r, unsigned flags) {
        shmb_conn *c;
        struct rlimit rl;
        char limit[64];
        int e = 0;

        if (!r || (flags & ~(unsigned)SHMB_LOCK_ONFAULT))
                return -EINVAL;
        if (!r->data)
                return -EBADF;
        /*
         * mlock(2), not MAP_LOCKED: mmap(2) says MAP_LOCKED does not fail
         * when pages cannot be locked. Called as a system call so that
         * sanitizer runtimes, which turn mlock() into a no-op, do not hide
         * what the kernel says in tests.
         */
        if (syscall(SYS_mlock2, r->data, r->map_len, (flags & SHMB_LOCK_ONFAULT) ? MLOCK_ONFAULT_FLAG : 0) < 0)
                e = -errno;
        if (e == -ENOSYS && !(flags & SHMB_LOCK_ONFAULT))
                e = syscall(SYS_mlock, r->data, r->map_len) < 0 ? -errno : 0;
        if (e == 0)
                return 0;
        c = r->conn;
        if (!c)
                return e;
        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                snprintf(limit, sizeof(limit), "unlimited");
        else
                snprintf(limit, sizeof(limit), "%llu bytes", (unsigned long long)rl.rlim_cur);
        (void)pthread_mutex_lock(&c->lock);
        e = conn_errorf(c, e, "cannot lock %zu bytes of region '%s' in RAM: %s; this process's RLIMIT_MEMLOCK is %s "
                        "(raise it, grant CAP_IPC_LOCK, or create the region with SHMB_LOCKED so the daemon "
                        "locks it)", r->map_len, r->info.name, errno_text(e), limit);
        (void)pthread_mutex_unlock(&c->lock);
        return e;
}
