/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpus of fuzz-dispatch: valid request sequences built
 * with the generated protobuf-c structs (so they stay valid when the
 * protocol grows), in fuzz-dispatch's record format (2-byte big-endian
 * header: bit 15 the connection, bits 0-14 the length, 0x7fff a hang-up).
 * Run once by hand when the protocol changes:
 *   build/tests/fuzz/gen-dispatch-corpus tests/fuzz/corpus/dispatch
 * Seeds the fuzzer found are kept next to these as crash-* / slow-* files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "wire.h"

#define A 0u
#define B 1u
#define HANGUP 0x7fffu

typedef Shmbroker__V1__Request Request;

static uint8_t out[1 << 20];
static size_t out_len;
static uint64_t next_id = 1;

static void put_header(unsigned conn, unsigned len) {
        unsigned hdr = conn << 15 | len;

        if (out_len + 2 > sizeof(out))
                abort();
        out[out_len++] = (uint8_t)(hdr >> 8);
        out[out_len++] = (uint8_t)hdr;
}

static void put_bytes(unsigned conn, const void *p, size_t len) {
        if (len >= HANGUP || out_len + 2 + len > sizeof(out))
                abort();
        put_header(conn, (unsigned)len);
        memcpy(out + out_len, p, len);
        out_len += len;
}

static void put(unsigned conn, Request *req) {
        uint8_t buf[WIRE_MAX_PACKET];
        size_t len;

        req->id = next_id++;
        if (wire_pack(&req->base, buf, sizeof(buf), &len) < 0)
                abort();
        put_bytes(conn, buf, len);
}

static void hangup(unsigned conn) {
        put_header(conn, HANGUP);
}

static void hello_v(unsigned conn, uint32_t version) {
        Shmbroker__V1__HelloRequest b = SHMBROKER__V1__HELLO_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.version = version;
        b.client = (char *)"seed";
        req.body_case = SHMBROKER__V1__REQUEST__BODY_HELLO;
        req.hello = &b;
        put(conn, &req);
}

static void hello(unsigned conn) {
        hello_v(conn, WIRE_PROTOCOL_VERSION);
}

static void create_full(unsigned conn, const char *name, uint64_t size, uint32_t mode, int sharing, int lifetime,
                        uint64_t page_size, uint32_t flags) {
        Shmbroker__V1__CreateRequest b = SHMBROKER__V1__CREATE_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        b.size = size;
        b.mode = mode;
        b.sharing = (Shmbroker__V1__Sharing)sharing;
        b.lifetime = (Shmbroker__V1__Lifetime)lifetime;
        b.page_size = page_size;
        b.flags = flags;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CREATE;
        req.create = &b;
        put(conn, &req);
}

static void create(unsigned conn, const char *name, uint32_t mode, int sharing, int lifetime) {
        create_full(conn, name, 4096, mode, sharing, lifetime, 0, 0);
}

static void open_(unsigned conn, const char *name, int access, uint32_t timeout_ms) {
        Shmbroker__V1__OpenRequest b = SHMBROKER__V1__OPEN_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        b.access = (Shmbroker__V1__Access)access;
        b.timeout_ms = timeout_ms;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_OPEN;
        req.open = &b;
        put(conn, &req);
}

static void close_full(unsigned conn, uint64_t handle, bool no_reply) {
        Shmbroker__V1__CloseRequest b = SHMBROKER__V1__CLOSE_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.handle = handle;
        b.no_reply = no_reply;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CLOSE;
        req.close = &b;
        put(conn, &req);
}

static void close_(unsigned conn, uint64_t handle) {
        close_full(conn, handle, false);
}

static void delete_(unsigned conn, const char *name) {
        Shmbroker__V1__DeleteRequest b = SHMBROKER__V1__DELETE_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_DELETE;
        req.delete_ = &b;
        put(conn, &req);
}

static void stat_(unsigned conn, const char *name) {
        Shmbroker__V1__StatRequest b = SHMBROKER__V1__STAT_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_STAT;
        req.stat = &b;
        put(conn, &req);
}

static void list(unsigned conn, const char *prefix, const char *after, uint32_t limit) {
        Shmbroker__V1__ListRequest b = SHMBROKER__V1__LIST_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.prefix = (char *)prefix;
        b.after = (char *)after;
        b.limit = limit;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_LIST;
        req.list = &b;
        put(conn, &req);
}

static void mapped(unsigned conn, uint64_t handle) {
        Shmbroker__V1__MappedRequest b = SHMBROKER__V1__MAPPED_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.handle = handle;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_MAPPED;
        req.mapped = &b;
        put(conn, &req);
}

static void publish(unsigned conn, uint64_t handle) {
        Shmbroker__V1__PublishRequest b = SHMBROKER__V1__PUBLISH_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.handle = handle;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_PUBLISH;
        req.publish = &b;
        put(conn, &req);
}

static void quota(unsigned conn, uint32_t uid, bool all) {
        Shmbroker__V1__QuotaRequest b = SHMBROKER__V1__QUOTA_REQUEST__INIT;
        Request req = SHMBROKER__V1__REQUEST__INIT;

        b.uid = uid;
        b.all = all;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_QUOTA;
        req.quota = &b;
        put(conn, &req);
}

static void empty_request(unsigned conn) {
        Request req = SHMBROKER__V1__REQUEST__INIT;

        put(conn, &req);
}

static int write_seed(const char *dir, const char *name) {
        char path[4096];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, out, out_len) != (ssize_t)out_len) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        close(fd);
        out_len = 0;
        next_id = 1;
        return 0;
}

#define RW SHMBROKER__V1__ACCESS__ACCESS_READ_WRITE
#define RD SHMBROKER__V1__ACCESS__ACCESS_READ
#define SHARED 0
#define SW 1
#define IMM 2
#define PERSIST 0
#define OWNER 1
#define REFC 2

int main(int argc, char **argv) {
        const char *dir = argc > 1 ? argv[1] : ".";
        char name[64];
        int r = 0;

        hello(A);
        r |= write_seed(dir, "seq-hello");

        hello(A);
        create(A, "seed/a", 0, SHARED, PERSIST);
        stat_(A, "seed/a");
        list(A, "", "", 0);
        open_(A, "seed/a", RD, 0);
        close_(A, 2);
        close_(A, 1);
        delete_(A, "seed/a");
        stat_(A, "seed/a");
        r |= write_seed(dir, "seq-create-stat-list-close-delete");

        hello(A);
        hello(B);
        create(A, "seed/private", 0600, SHARED, PERSIST);
        create(A, "seed/public", 0644, SHARED, PERSIST);
        open_(B, "seed/private", RD, 0);
        open_(B, "seed/public", RD, 0);
        open_(B, "seed/public", RW, 0);
        stat_(B, "seed/private");
        list(B, "seed/", "", 0);
        delete_(B, "seed/public");
        close_(B, 1);
        delete_(A, "seed/public");
        close_(B, 1);
        delete_(A, "seed/private");
        r |= write_seed(dir, "seq-two-users-access");

        hello(A);
        hello(B);
        create(A, "seed/sw", 0644, SW, PERSIST);
        open_(B, "seed/sw", RD, 5000);
        mapped(A, 1);
        stat_(B, "seed/sw");
        close_(B, 1);
        mapped(A, 1);
        delete_(A, "seed/sw");
        r |= write_seed(dir, "seq-single-writer-parked-open");

        hello(A);
        hello(B);
        create(A, "seed/sw-gone", 0644, SW, PERSIST);
        open_(B, "seed/sw-gone", RD, 5000);
        delete_(A, "seed/sw-gone");
        stat_(B, "seed/sw-gone");
        r |= write_seed(dir, "seq-single-writer-deleted-while-parked");

        hello(A);
        hello(B);
        create(A, "seed/imm", 0644, IMM, PERSIST);
        open_(B, "seed/imm", RD, 0);
        open_(B, "seed/imm", RD, 5000);
        publish(A, 1);
        publish(A, 1);
        open_(A, "seed/imm", RW, 0);
        stat_(A, "seed/imm");
        delete_(A, "seed/imm");
        r |= write_seed(dir, "seq-immutable-publish");

        hello(A);
        create(A, "seed/imm-hangup", 0644, IMM, OWNER);
        publish(A, 1);
        hangup(A);
        hello(B);
        stat_(B, "seed/imm-hangup");
        r |= write_seed(dir, "seq-immutable-hangup-in-flight");

        hello(A);
        hello(B);
        create(A, "seed/owner", 0666, SHARED, OWNER);
        open_(B, "seed/owner", RW, 0);
        hangup(A);
        stat_(B, "seed/owner");
        close_(B, 1);
        hello(A);
        create(A, "seed/owner", 0666, SHARED, OWNER);
        r |= write_seed(dir, "seq-owner-lifetime");

        hello(A);
        hello(B);
        create(A, "seed/rc", 0666, SHARED, REFC);
        open_(B, "seed/rc", RW, 0);
        close_(A, 1);
        stat_(B, "seed/rc");
        close_(B, 1);
        stat_(A, "seed/rc");
        create(A, "seed/rc2", 0666, SHARED, REFC);
        open_(B, "seed/rc2", RD, 0);
        hangup(B);
        close_(A, 2);
        r |= write_seed(dir, "seq-refcounted");

        hello(A);
        for (int i = 0; i < 6; i++) {
                snprintf(name, sizeof(name), "seed/list/%d", i);
                create(A, name, i % 2 ? 0644 : 0600, SHARED, PERSIST);
        }
        hello(B);
        list(B, "seed/list/", "", 1);
        list(B, "seed/list/", "seed/list/1", 2);
        list(A, "seed/", "seed/list/3", 0);
        list(A, "zzz", "", 0);
        r |= write_seed(dir, "seq-list-pages");

        hello(A);
        for (int i = 0; i < 18; i++) {
                snprintf(name, sizeof(name), "seed/limit/%d", i);
                create(A, name, 0, SHARED, i % 3);
        }
        r |= write_seed(dir, "seq-region-limit");

        hello(A);
        create_full(A, "seed/zero", 0, 0, SHARED, PERSIST, 0, 0);
        create_full(A, "seed/huge", UINT64_C(1) << 41, 0, SHARED, PERSIST, 0, 0);
        create_full(A, "seed/2m", 4096, 0, SHARED, PERSIST, UINT64_C(2) << 20, 0);
        create_full(A, "seed/odd-page", 4096, 0, SHARED, PERSIST, 12345, 0);
        create_full(A, "seed/mode", 4096, 01777, SHARED, PERSIST, 0, 0);
        create_full(A, "seed/sharing", 4096, 0, 7, PERSIST, 0, 0);
        create_full(A, "seed/lifetime", 4096, 0, SHARED, 9, 0, 0);
        create_full(A, "seed/flags", 4096, 0, SHARED, PERSIST, 0, 0x80);
        create_full(A, "seed/locked", 4096, 0, SHARED, PERSIST, 0, 1);
        create_full(A, "seed/prealloc", 65536, 0, SHARED, PERSIST, 0, 2);
        create_full(A, "../bad", 4096, 0, SHARED, PERSIST, 0, 0);
        create_full(A, "seed/prealloc", 4096, 0, SHARED, PERSIST, 0, 0);
        open_(A, "seed/prealloc", 0, 0);
        open_(A, "seed/prealloc", 9, 0);
        mapped(A, 1);
        publish(A, 1);
        mapped(A, 99);
        publish(A, 99);
        close_(A, 99);
        delete_(A, "seed/none");
        r |= write_seed(dir, "seq-bad-arguments");

        hello(A);
        create(A, "seed/sw-other", 0666, SW, PERSIST);
        hello(B);
        open_(B, "seed/sw-other", RD, 0);
        open_(B, "seed/sw-other", RW, 0);
        mapped(B, 1);
        mapped(A, 1);
        open_(B, "seed/sw-other", RD, 0);
        publish(B, 1);
        r |= write_seed(dir, "seq-single-writer-wrong-handle");

        hello(A);
        hello(B);
        create(A, "seed/quiet", 0666, SHARED, REFC);
        open_(B, "seed/quiet", RD, 0);
        close_full(A, 1, true);
        close_full(A, 1, true);
        close_full(B, 7, true);
        stat_(B, "seed/quiet");
        close_full(B, 1, true);
        stat_(A, "seed/quiet");
        r |= write_seed(dir, "seq-close-no-reply");

        /* Releases riding on other requests (Request.release), own and unknown handles. */
        hello(A);
        hello(B);
        create(A, "seed/rel", 0666, SHARED, PERSIST);
        open_(B, "seed/rel", RD, 0);
        open_(B, "seed/rel", RD, 0);
        {
                Shmbroker__V1__StatRequest st = SHMBROKER__V1__STAT_REQUEST__INIT;
                Request req = SHMBROKER__V1__REQUEST__INIT;
                uint64_t rel[] = { 2, 1, 99, 2 };

                st.name = (char *)"seed/rel";
                req.body_case = SHMBROKER__V1__REQUEST__BODY_STAT;
                req.stat = &st;
                req.n_release = ELEMENTSOF(rel);
                req.release = rel;
                put(B, &req);
                req.n_release = 1;
                req.release = rel + 2;
                put(A, &req);
        }
        delete_(A, "seed/rel");
        r |= write_seed(dir, "seq-release-in-requests");

        stat_(A, "seed/x");
        r |= write_seed(dir, "seq-before-hello");

        hello_v(A, 2);
        stat_(A, "seed/x");
        r |= write_seed(dir, "seq-version-mismatch");

        hello(A);
        hello(A);
        r |= write_seed(dir, "seq-hello-twice");

        hello(A);
        empty_request(A);
        put_bytes(A, "\xfa\x07\x00", 3); /* unknown field 127, length 0 */
        put_bytes(A, "", 0);
        r |= write_seed(dir, "seq-unknown-body");

        hello(A);
        put_bytes(A, "\x0a\xff\xff\xff", 4);
        stat_(A, "seed/x");
        r |= write_seed(dir, "seq-garbage");

        /* Page sizes, the locked flag and quotas: charges made and released along every path. */
        hello(A);
        hello(B);
        create_full(A, "seed/locked", 1 << 20, 0644, SHARED, REFC, 4096, 1);
        create_full(A, "seed/thp", 65536 + 1, 0644, IMM, OWNER, 1, 2);
        create_full(A, "seed/huge", 3 << 20, 0644, SHARED, PERSIST, 2 << 20, 0);
        create_full(A, "seed/bad-page", 4096, 0644, SHARED, PERSIST, 65536, 0);
        open_(B, "seed/locked", RD, 0);
        quota(A, 0, false);
        quota(B, 0, true);
        quota(B, 12345, false);
        publish(A, 2);
        close_(A, 1);
        hangup(A);
        quota(B, 0, false);
        close_(B, 1);
        r |= write_seed(dir, "seq-memory-quota");

        return r ? EXIT_FAILURE : EXIT_SUCCESS;
}
