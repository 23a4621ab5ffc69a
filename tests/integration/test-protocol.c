/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the control protocol and of bad input (SPEC 2 and 8),
 * mostly over raw SOCK_SEQPACKET connections built from wire.h and the
 * generated protobuf code, so the daemon is exercised with what no
 * well-behaved library would send: requests before hello, wrong versions,
 * garbage, truncated and oversized packets, fds sent to the daemon,
 * pipelines, hostile names, clients that never read or that vanish in the
 * middle of a request. The daemon must answer each with the documented
 * status or disconnect that client alone, and the harness's fd check after
 * every test proves it neither leaked what it was sent nor what it meant to
 * send. The last test checks that after all this another client is served.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TIMEOUT_MS 5000
#define STATUS(x) SHMBROKER__V1__STATUS__STATUS_##x

/* ---- building and exchanging raw requests ------------------------------------ */

static int send_hello(int fd, uint64_t id, uint32_t version) {
        Shmbroker__V1__HelloRequest b = SHMBROKER__V1__HELLO_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.version = version;
        b.client = (char *)"test-protocol";
        req.id = id;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_HELLO;
        req.hello = &b;
        return harness_raw_send(fd, &req);
}

static int send_stat(int fd, uint64_t id, const char *name) {
        Shmbroker__V1__StatRequest b = SHMBROKER__V1__STAT_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        req.id = id;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_STAT;
        req.stat = &b;
        return harness_raw_send(fd, &req);
}

static int send_create_body(int fd, uint64_t id, Shmbroker__V1__CreateRequest *b) {
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        req.id = id;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CREATE;
        req.create = b;
        return harness_raw_send(fd, &req);
}

static int send_create(int fd, uint64_t id, const char *name, uint64_t size, int lifetime) {
        Shmbroker__V1__CreateRequest b = SHMBROKER__V1__CREATE_REQUEST__INIT;

        b.name = (char *)name;
        b.size = size;
        b.lifetime = (Shmbroker__V1__Lifetime)lifetime;
        return send_create_body(fd, id, &b);
}

static int send_open(int fd, uint64_t id, const char *name, int access) {
        Shmbroker__V1__OpenRequest b = SHMBROKER__V1__OPEN_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        b.access = (Shmbroker__V1__Access)access;
        req.id = id;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_OPEN;
        req.open = &b;
        return harness_raw_send(fd, &req);
}

static int send_close(int fd, uint64_t id, uint64_t handle) {
        Shmbroker__V1__CloseRequest b = SHMBROKER__V1__CLOSE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.handle = handle;
        req.id = id;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CLOSE;
        req.close = &b;
        return harness_raw_send(fd, &req);
}

static int send_delete(int fd, uint64_t id, const char *name) {
        Shmbroker__V1__DeleteRequest b = SHMBROKER__V1__DELETE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        req.id = id;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_DELETE;
        req.delete_ = &b;
        return harness_raw_send(fd, &req);
}

static int send_list(int fd, uint64_t id, const char *prefix, const char *after, uint32_t limit) {
        Shmbroker__V1__ListRequest b = SHMBROKER__V1__LIST_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.prefix = (char *)prefix;
        b.after = (char *)after;
        b.limit = limit;
        req.id = id;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_LIST;
        req.list = &b;
        return harness_raw_send(fd, &req);
}

static int send_publish(int fd, uint64_t id, uint64_t handle) {
        Shmbroker__V1__PublishRequest b = SHMBROKER__V1__PUBLISH_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.handle = handle;
        req.id = id;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_PUBLISH;
        req.publish = &b;
        return harness_raw_send(fd, &req);
}

/* Packs req into a fresh buffer of exactly its size, even beyond WIRE_MAX_PACKET. */
static uint8_t *pack_request(const WireRequest *req, size_t *ret_len) {
        size_t len = shmbroker__v1__request__get_packed_size(req);
        uint8_t *buf = malloc(len ? len : 1);

        if (buf)
                *ret_len = shmbroker__v1__request__pack(req, buf);
        return buf;
}

/*
 * Receives the next response and checks its id and status (status < 0: any
 * status but OK and PROTOCOL_ERROR). The response and an attached fd go to
 * the caller when asked for.
 */
static int expect(int fd, uint64_t id, int status, WireResponse **ret, int *ret_fd) {
        _cleanup_response_ WireResponse *resp = NULL;
        int r, rfd = -1;

        r = harness_raw_recv(fd, TIMEOUT_MS, &resp, &rfd);
        if (r < 0) {
                harness_log("waiting for the response to request %llu (%s): %s", (unsigned long long)id,
                            status >= 0 ? wire_status_name(status) : "an error", strerror(-r));
                return -1;
        }
        if (resp->id != id ||
            (status >= 0 && (int)resp->status != status) ||
            (status < 0 && (resp->status == STATUS(OK) || resp->status == STATUS(PROTOCOL_ERROR)))) {
                harness_log("response id %llu status %s (\"%s\"), expected id %llu status %s",
                            (unsigned long long)resp->id, wire_status_name((int)resp->status),
                            resp->error ? resp->error : "", (unsigned long long)id,
                            status >= 0 ? wire_status_name(status) : "an error");
                safe_close(rfd);
                return -1;
        }
        if (resp->status != STATUS(OK) && (!resp->error || !*resp->error)) {
                harness_log("response %llu: status %s without a message", (unsigned long long)id,
                            wire_status_name((int)resp->status));
                safe_close(rfd);
                return -1;
        }
        if (ret_fd)
                *ret_fd = rfd;
        else if (rfd >= 0) {
                harness_log("response %llu carries an unexpected fd", (unsigned long long)id);
                safe_close(rfd);
                return -1;
        }
        if (ret)
                *ret = TAKE_PTR(resp);
        return 0;
}

static int connect_hello(void) {
        int fd = harness_raw_connect();

        if (fd < 0) {
                harness_log("connect: %s", strerror(-fd));
                return -1;
        }
        if (harness_raw_hello(fd, 1) < 0) {
                safe_close(fd);
                return -1;
        }
        return fd;
}

/* ---- handshake and malformed packets ------------------------------------------ */

static int proto_request_before_hello(void) {
        _cleanup_close_ int fd = -1;

        fd = harness_raw_connect();
        CHECK_SYS(fd);
        CHECK_INT(send_stat(fd, 7, "it/anything"), 0);
        CHECK_INT(expect(fd, 7, STATUS(PROTOCOL_ERROR), NULL, NULL), 0);
        CHECK_INT(harness_raw_expect_closed(fd, TIMEOUT_MS), 0);

        /* A create before hello must not create anything either. */
        safe_close(fd);
        fd = harness_raw_connect();
        CHECK_SYS(fd);
        CHECK_INT(send_create(fd, 8, "it/before-hello", 4096, SHMB_PERSISTENT), 0);
        CHECK_INT(expect(fd, 8, STATUS(PROTOCOL_ERROR), NULL, NULL), 0);
        CHECK_INT(harness_raw_expect_closed(fd, TIMEOUT_MS), 0);
        {
                _cleanup_conn_ shmb_conn *c = NULL;
                struct shmb_region_info info;

                CHECK_INT(harness_connect(&c), 0);
                CHECK_SHMB(c, shmb_stat(c, "it/before-hello", &info), -ENOENT);
        }
        return 0;
}

static int proto_version_mismatch(void) {
        static const uint32_t versions[] = { 999, 0, 2 };

        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                _cleanup_response_ WireResponse *resp = NULL;
                _cleanup_close_ int fd = -1;

                harness_log("hello with version %u", versions[i]);
                fd = harness_raw_connect();
                CHECK_SYS(fd);
                CHECK_INT(send_hello(fd, 9, versions[i]), 0);
                CHECK_INT(expect(fd, 9, STATUS(VERSION_MISMATCH), &resp, NULL), 0);
                /* One clear error naming the numbers. */
                if (versions[i] == 999)
                        CHECK_MSG(strstr(resp->error, "999"), "message \"%s\" does not name version 999",
                                  resp->error);
                CHECK_INT(harness_raw_expect_closed(fd, TIMEOUT_MS), 0);
        }
        return 0;
}

static int proto_garbage(void) {
        static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0xde, 0xad, 0xbe, 0xef };
        _cleanup_free_ uint8_t *packed = NULL;
        Shmbroker__V1__CreateRequest b = SHMBROKER__V1__CREATE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_close_ int fd = -1;
        size_t len = 0;

        harness_log("garbage before hello");
        fd = harness_raw_connect();
        CHECK_SYS(fd);
        CHECK_INT(harness_raw_send_bytes(fd, garbage, sizeof(garbage)), 0);
        CHECK_INT(expect(fd, 0, STATUS(PROTOCOL_ERROR), NULL, NULL), 0);
        CHECK_INT(harness_raw_expect_closed(fd, TIMEOUT_MS), 0);

        harness_log("garbage after hello");
        safe_close(fd);
        fd = connect_hello();
        CHECK_SYS(fd);
        CHECK_INT(harness_raw_send_bytes(fd, garbage, sizeof(garbage)), 0);
        CHECK_INT(expect(fd, 0, STATUS(PROTOCOL_ERROR), NULL, NULL), 0);
        CHECK_INT(harness_raw_expect_closed(fd, TIMEOUT_MS), 0);

        harness_log("a truncated create request after hello");
        b.name = (char *)"it/truncated";
        b.size = 4096;
        req.id = 77;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CREATE;
        req.create = &b;
        packed = pack_request(&req, &len);
        CHECK(packed && len > 8);
        safe_close(fd);
        fd = connect_hello();
        CHECK_SYS(fd);
        CHECK_INT(harness_raw_send_bytes(fd, packed, len / 2), 0);
        CHECK_INT(expect(fd, 0, STATUS(PROTOCOL_ERROR), NULL, NULL), 0);
        CHECK_INT(harness_raw_expect_closed(fd, TIMEOUT_MS), 0);
        {
                _cleanup_conn_ shmb_conn *c = NULL;
                struct shmb_region_info info;

                CHECK_INT(harness_connect(&c), 0);
                CHECK_SHMB(c, shmb_stat(c, "it/truncated", &info), -ENOENT);
        }
        return 0;
}

/* A stat request whose packet is exactly `total` bytes, by the length of the name. */
static uint8_t *stat_packet_of_size(size_t total, size_t *ret_len) {
        _cleanup_free_ char *name = NULL;
        size_t n = total;

        name = malloc(total + 1);
        if (!name)
                return NULL;
        /* Varint lengths make some totals unreachable from one side; search down. */
        while (n > 0) {
                Shmbroker__V1__StatRequest b = SHMBROKER__V1__STAT_REQUEST__INIT;
                WireRequest req = SHMBROKER__V1__REQUEST__INIT;

                memset(name, 'a', n);
                name[n] = 0;
                b.name = name;
                req.id = 31;
                req.body_case = SHMBROKER__V1__REQUEST__BODY_STAT;
                req.stat = &b;
                if (shmbroker__v1__request__get_packed_size(&req) == total)
                        return pack_request(&req, ret_len);
                n--;
        }
        return NULL;
}

static int proto_packet_size_limit(void) {
        _cleanup_free_ uint8_t *max = NULL, *over = NULL;
        _cleanup_close_ int fd = -1;
        size_t max_len = 0, over_len = 0;

        max = stat_packet_of_size(WIRE_MAX_PACKET, &max_len);
        over = stat_packet_of_size(WIRE_MAX_PACKET + 1, &over_len);
        CHECK(max && max_len == WIRE_MAX_PACKET);
        CHECK(over && over_len == WIRE_MAX_PACKET + 1);

        fd = connect_hello();
        CHECK_SYS(fd);
        /* The largest legal packet is read whole: its name is merely too long. */
        CHECK_INT(harness_raw_send_bytes(fd, max, max_len), 0);
        CHECK_INT(expect(fd, 31, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);
        CHECK_INT(send_stat(fd, 32, "it/still-connected"), 0);
        CHECK_INT(expect(fd, 32, STATUS(NOT_FOUND), NULL, NULL), 0);

        /* One byte more is a protocol violation. */
        CHECK_INT(harness_raw_send_bytes(fd, over, over_len), 0);
        CHECK_INT(expect(fd, 0, STATUS(PROTOCOL_ERROR), NULL, NULL), 0);
        CHECK_INT(harness_raw_expect_closed(fd, TIMEOUT_MS), 0);

        /* Oversized as the very first packet too. */
        safe_close(fd);
        fd = harness_raw_connect();
        CHECK_SYS(fd);
        CHECK_INT(harness_raw_send_bytes(fd, over, over_len), 0);
        CHECK_INT(expect(fd, 0, STATUS(PROTOCOL_ERROR), NULL, NULL), 0);
        CHECK_INT(harness_raw_expect_closed(fd, TIMEOUT_MS), 0);
        return 0;
}

static int proto_unknown_body(void) {
        /* Request{id 5}, no body. */
        static const uint8_t no_body[] = { 0x08, 0x05 };
        /* Request{id 6, field 50 (a future body): empty message}. */
        static const uint8_t future_body[] = { 0x08, 0x06, 0x92, 0x03, 0x00 };
        _cleanup_close_ int fd = -1;

        fd = connect_hello();
        CHECK_SYS(fd);
        CHECK_INT(harness_raw_send_bytes(fd, no_body, sizeof(no_body)), 0);
        CHECK_INT(expect(fd, 5, STATUS(UNSUPPORTED), NULL, NULL), 0);
        CHECK_INT(harness_raw_send_bytes(fd, future_body, sizeof(future_body)), 0);
        CHECK_INT(expect(fd, 6, STATUS(UNSUPPORTED), NULL, NULL), 0);
        /* The connection is kept. */
        CHECK_INT(send_stat(fd, 7, "it/no-such"), 0);
        CHECK_INT(expect(fd, 7, STATUS(NOT_FOUND), NULL, NULL), 0);
        return 0;
}

/* ---- fds sent to the daemon ------------------------------------------------------ */

static int send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t n) {
        size_t space = CMSG_SPACE(n * sizeof(int));
        _cleanup_free_ void *control = calloc(1, space);
        struct iovec iov = {
                .iov_base = (void *)buf,
                .iov_len = len,
        };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control,
                .msg_controllen = space,
        };
        struct cmsghdr *cm;

        if (!control)
                return -ENOMEM;
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
        if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

/*
 * Sends a stat request carrying n copies of a pipe's write end; the daemon
 * must refuse them and keep none: once our copy is closed, the read end
 * sees end-of-file only if the daemon closed every copy it received.
 */
static int client_sends_fds(size_t n, bool after_hello) {
        _cleanup_free_ uint8_t *packed = NULL;
        _cleanup_free_ int *fds = NULL;
        _cleanup_close_ int fd = -1, pr = -1, pw = -1;
        Shmbroker__V1__StatRequest b = SHMBROKER__V1__STAT_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        struct pollfd p;
        int pipefd[2], r, count;
        size_t len = 0;

        harness_log("%zu fd(s) %s hello", n, after_hello ? "after" : "before");
        CHECK_SYS(pipe2(pipefd, O_CLOEXEC));
        pr = pipefd[0];
        pw = pipefd[1];
        fds = calloc(n, sizeof(int));
        CHECK(fds);
        for (size_t i = 0; i < n; i++)
                fds[i] = pw;

        b.name = (char *)"it/with-fd";
        req.id = 3;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_STAT;
        req.stat = &b;
        packed = pack_request(&req, &len);
        CHECK(packed);

        fd = after_hello ? connect_hello() : harness_raw_connect();
        CHECK_SYS(fd);
        r = send_with_fds(fd, packed, len, fds, n);
        if (r == -EPERM) {
                /* SO_PASSRIGHTS=0 (Linux 6.16+): the kernel refused; nothing was sent. */
                harness_log("sendmsg with SCM_RIGHTS: EPERM (the daemon refuses fds at the socket)");
                if (after_hello) {
                        CHECK_INT(send_stat(fd, 4, "it/with-fd"), 0);
                        CHECK_INT(expect(fd, 4, STATUS(NOT_FOUND), NULL, NULL), 0);
                }
        } else {
                CHECK_INT(r, 0);
                CHECK_INT(expect(fd, 0, STATUS(PROTOCOL_ERROR), NULL, NULL), 0);
                CHECK_INT(harness_raw_expect_closed(fd, TIMEOUT_MS), 0);
        }
        fd = safe_close(fd);

        pw = safe_close(pw);
        p = (struct pollfd) { .fd = pr, .events = POLLIN };
        r = poll(&p, 1, 2000);
        CHECK_MSG(r == 1 && (p.revents & POLLHUP), "the daemon still holds the pipe we sent it");

        CHECK_MSG(harness_wait_fd_baseline(1000, &count) == 0, "daemon holds %d fds, baseline %d", count,
                  harness_daemon_fd_baseline());
        return 0;
}

static int proto_client_sends_fd(void) {
        if (client_sends_fds(1, true) < 0 || client_sends_fds(1, false) < 0)
                return -1;
        return 0;
}

static int proto_client_sends_many_fds(void) {
        /* SCM_MAX_FD is 253. */
        if (client_sends_fds(250, true) < 0 || client_sends_fds(2, true) < 0)
                return -1;
        return 0;
}

/* ---- pipelining ----------------------------------------------------------------- */

static int proto_pipelined(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        _cleanup_close_ int fd = -1;
        struct shmb_create_opts o = harness_opts(4096, 0, SHMB_PERSISTENT);
        static const char exists[] = "it/pipe/exists";
        static const char fresh[] = "it/pipe/new";
        char missing[64];
        int i, mfd;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, exists, &o, &r), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);

        /* Hello and 20 stats, none read before all are sent; ids not in sequence. */
        fd = harness_raw_connect();
        CHECK_SYS(fd);
        CHECK_INT(send_hello(fd, 1000, WIRE_PROTOCOL_VERSION), 0);
        for (i = 1; i <= 20; i++) {
                snprintf(missing, sizeof(missing), "it/pipe/missing-%d", i);
                CHECK_INT(send_stat(fd, 5000 - 3 * i, i % 2 ? exists : missing), 0);
        }
        CHECK_INT(expect(fd, 1000, STATUS(OK), NULL, NULL), 0);
        for (i = 1; i <= 20; i++) {
                _cleanup_response_ WireResponse *resp = NULL;

                CHECK_INT(expect(fd, 5000 - 3 * i, i % 2 ? STATUS(OK) : STATUS(NOT_FOUND), &resp, NULL), 0);
                if (i % 2) {
                        CHECK(resp->body_case == SHMBROKER__V1__RESPONSE__BODY_STAT);
                        CHECK(resp->stat->region && strcmp(resp->stat->region->name, exists) == 0);
                }
        }

        /* Requests that depend on each other are applied in order. */
        CHECK_INT(send_create(fd, 1, fresh, 4096, SHMB_PERSISTENT), 0);
        CHECK_INT(send_stat(fd, 2, fresh), 0);
        CHECK_INT(send_open(fd, 3, fresh, SHMB_READ), 0);
        CHECK_INT(send_delete(fd, 4, fresh), 0);
        CHECK_INT(send_stat(fd, 5, fresh), 0);
        CHECK_INT(send_create(fd, 6, fresh, 4096, SHMB_PERSISTENT), 0);
        CHECK_INT(send_delete(fd, 7, fresh), 0);

        mfd = -1;
        CHECK_INT(expect(fd, 1, STATUS(OK), NULL, &mfd), 0);
        CHECK_MSG(mfd >= 0, "create reply without an fd");
        CHECK_INT(harness_fd_accmode(mfd), O_RDWR);
        CHECK_INT(fcntl(mfd, F_GET_SEALS) & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        mfd = safe_close(mfd);
        CHECK_INT(expect(fd, 2, STATUS(OK), NULL, NULL), 0);
        CHECK_INT(expect(fd, 3, STATUS(OK), NULL, &mfd), 0);
        CHECK_MSG(mfd >= 0, "open reply without an fd");
        CHECK_INT(harness_fd_accmode(mfd), O_RDONLY);
        mfd = safe_close(mfd);
        CHECK_INT(expect(fd, 4, STATUS(OK), NULL, NULL), 0);
        CHECK_INT(expect(fd, 5, STATUS(NOT_FOUND), NULL, NULL), 0);
        CHECK_INT(expect(fd, 6, STATUS(OK), NULL, &mfd), 0);
        mfd = safe_close(mfd);
        CHECK_INT(expect(fd, 7, STATUS(OK), NULL, NULL), 0);

        CHECK_SHMB(c, shmb_delete(c, exists), 0);
        return 0;
}

/* ---- listing many regions ------------------------------------------------------- */

#define N_LIST 300
static const char list_prefix[] = "it/list/";

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct collected {
        char names[N_LIST + 16][SHMB_NAME_MAX + 1];
        size_t n, n_prefix, n_all;
        bool overflow, unordered;
        char last[SHMB_NAME_MAX + 1];
        int stop_after;
};

static int collect(const struct shmb_region_info *info, void *userdata) {
        struct collected *col = userdata;

        if (col->n_all > 0 && strcmp(col->last, info->name) >= 0) {
                harness_log("list order: \"%s\" after \"%s\"", info->name, col->last);
                col->unordered = true;
        }
        snprintf(col->last, sizeof(col->last), "%s", info->name);
        col->n_all++;
        if (strncmp(info->name, list_prefix, strlen(list_prefix)) == 0) {
                if (col->n_prefix < ELEMENTSOF(col->names))
                        snprintf(col->names[col->n_prefix], sizeof(col->names[0]), "%s", info->name);
                else
                        col->overflow = true;
                col->n_prefix++;
        }
        if (col->stop_after > 0 && col->n_all == (size_t)col->stop_after)
                return 42;
        return 0;
}

static int check_collected(const struct collected *col, char *const *expected) {
        CHECK(!col->unordered);
        CHECK(!col->overflow);
        CHECK_INT(col->n_prefix, N_LIST);
        for (size_t i = 0; i < N_LIST; i++)
                CHECK_MSG(strcmp(col->names[i], expected[i]) == 0, "listed #%zu is \"%s\", expected \"%s\"",
                          i, col->names[i], expected[i]);
        return 0;
}

/* Pages through the raw List request with the given limit; every page within it. */
static int raw_list_all(int fd, uint32_t limit, struct collected *col) {
        char after[SHMB_NAME_MAX + 1] = "";
        uint64_t id = 100;
        bool more = true;

        while (more) {
                _cleanup_response_ WireResponse *resp = NULL;
                Shmbroker__V1__ListReply *l;

                CHECK_MSG(id < 100 + 2 * N_LIST, "listing does not end");
                CHECK_INT(send_list(fd, id, list_prefix, after, limit), 0);
                CHECK_INT(expect(fd, id, STATUS(OK), &resp, NULL), 0);
                id++;
                CHECK(resp->body_case == SHMBROKER__V1__RESPONSE__BODY_LIST);
                l = resp->list;
                if (limit > 0)
                        CHECK_MSG(l->n_regions <= limit, "page of %zu regions, limit %u", l->n_regions, limit);
                for (size_t i = 0; i < l->n_regions; i++) {
                        struct shmb_region_info info;

                        memset(&info, 0, sizeof(info));

                        CHECK(strlen(l->regions[i]->name) <= SHMB_NAME_MAX);
                        CHECK_MSG(strcmp(l->regions[i]->name, after) > 0, "\"%s\" listed after cursor \"%s\"",
                                  l->regions[i]->name, after);
                        snprintf(info.name, sizeof(info.name), "%s", l->regions[i]->name);
                        (void)collect(&info, col);
                }
                more = l->more;
                if (more) {
                        CHECK_MSG(l->next_after && *l->next_after, "more set without next_after");
                        snprintf(after, sizeof(after), "%s", l->next_after);
                }
        }
        return 0;
}

static int proto_list_many(void) {
        static const char alphabet[] = "-.0123456789:@ABCXYZ_abcxyz";
        const size_t na = sizeof(alphabet) - 1;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_free_ struct collected *col = NULL;
        _cleanup_close_ int fd = -1;
        struct shmb_create_opts o = harness_opts(4096, 0, SHMB_PERSISTENT);
        char *names[N_LIST], *sorted[N_LIST];
        int r = -1;
        size_t i;

        memset(names, 0, sizeof(names));
        for (i = 0; i < N_LIST; i++) {
                char buf[64];

                /* Names whose byte order is not their creation order, with '/' inside some. */
                if (i % 5 == 0)
                        snprintf(buf, sizeof(buf), "%s%c%cq/%03zu", list_prefix, alphabet[i % na],
                                 alphabet[(i * 7) % na], (i * 37) % 1000);
                else
                        snprintf(buf, sizeof(buf), "%s%c%c%03zu", list_prefix, alphabet[(i * 11) % na],
                                 alphabet[(i / na) % na], (i * 37) % 1000);
                names[i] = strdup(buf);
                if (!names[i])
                        goto out;
                sorted[i] = names[i];
        }
        qsort(sorted, N_LIST, sizeof(sorted[0]), cmp_str);
        for (i = 1; i < N_LIST; i++)
                if (strcmp(sorted[i - 1], sorted[i]) == 0) {
                        harness_log("test bug: duplicate name %s", sorted[i]);
                        goto out;
                }

        if (harness_connect(&c) < 0)
                goto out;
        for (i = 0; i < N_LIST; i++) {
                _cleanup_region_ shmb_region *reg = NULL;
                const char *name = names[(i * 97) % N_LIST];
                int k = shmb_create(c, name, &o, &reg);

                if (k < 0) {
                        harness_log("create %s (#%zu): %s: %s", name, i, harness_errname(k), shmb_conn_error(c));
                        goto out;
                }
        }

        col = calloc(1, sizeof(*col));
        if (!col)
                goto out;

        harness_log("shmb_list with the prefix");
        {
                int k = shmb_list(c, list_prefix, collect, col);

                if (k != 0) {
                        harness_log("shmb_list: %d %s: %s", k, harness_errname(k), shmb_conn_error(c));
                        goto out;
                }
                if (check_collected(col, sorted) < 0 || col->n_all != N_LIST)
                        goto out;
        }

        harness_log("shmb_list of everything");
        memset(col, 0, sizeof(*col));
        if (shmb_list(c, NULL, collect, col) != 0 || check_collected(col, sorted) < 0)
                goto out;

        harness_log("shmb_list stopped by the callback");
        memset(col, 0, sizeof(*col));
        col->stop_after = 10;
        {
                int k = shmb_list(c, list_prefix, collect, col);

                if (k != 42 || col->n_all != 10) {
                        harness_log("shmb_list returned %d after %zu regions, expected 42 after 10", k, col->n_all);
                        goto out;
                }
        }

        fd = connect_hello();
        if (fd < 0)
                goto out;
        harness_log("raw List, limit 0");
        memset(col, 0, sizeof(*col));
        if (raw_list_all(fd, 0, col) < 0 || check_collected(col, sorted) < 0)
                goto out;
        harness_log("raw List, limit 7");
        memset(col, 0, sizeof(*col));
        if (raw_list_all(fd, 7, col) < 0 || check_collected(col, sorted) < 0)
                goto out;
        harness_log("raw List, limit 1");
        memset(col, 0, sizeof(*col));
        if (raw_list_all(fd, 1, col) < 0 || check_collected(col, sorted) < 0)
                goto out;

        r = 0;
out:
        if (c)
                for (i = 0; i < N_LIST; i++)
                        if (names[i]) {
                                int k = shmb_delete(c, names[i]);

                                if (k < 0 && r == 0) {
                                        harness_log("delete %s: %s", names[i], harness_errname(k));
                                        r = -1;
                                }
                        }
        if (r == 0 && c) {
                memset(col, 0, sizeof(*col));
                if (shmb_list(c, list_prefix, collect, col) != 0 || col->n_all != 0) {
                        harness_log("%zu regions left after deleting all", col->n_all);
                        r = -1;
                }
        }
        for (i = 0; i < N_LIST; i++)
                free(names[i]);
        return r;
}

/* ---- clients that misbehave ------------------------------------------------------- */

static int proto_client_vanishes(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_region_info info;
        int fd, i;

        CHECK_INT(harness_connect(&c), 0);

        /* A create whose reply (with its memfd) can never be delivered. */
        fd = connect_hello();
        CHECK_SYS(fd);
        CHECK_INT(send_create(fd, 2, "it/vanish/owner", 4096, SHMB_OWNER), 0);
        safe_close(fd);
        CHECK_SHMB(c, harness_wait_gone(c, "it/vanish/owner", 2000), 0);

        fd = connect_hello();
        CHECK_SYS(fd);
        CHECK_INT(send_create(fd, 2, "it/vanish/persistent", 4096, SHMB_PERSISTENT), 0);
        CHECK_INT(send_open(fd, 3, "it/vanish/persistent", SHMB_READ), 0);
        safe_close(fd);
        /* Whether the daemon still served the queued requests is its choice; poll a little. */
        for (i = 0; i < 50 && shmb_stat(c, "it/vanish/persistent", &info) == -ENOENT; i++)
                usleep(10000);
        if (shmb_stat(c, "it/vanish/persistent", &info) == 0) {
                CHECK_SHMB(c, harness_wait_holders(c, "it/vanish/persistent", 0, 2000), 0);
                CHECK_SHMB(c, shmb_delete(c, "it/vanish/persistent"), 0);
        } else
                harness_log("the daemon dropped requests of a client that hung up");
        return 0;
}

static int child_churn(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_create_opts o = harness_opts(64 * 1024, 0, SHMB_OWNER);
        shmb_region *held[32] = { NULL };
        char name[64];

        CHECK_INT(harness_connect(&c), 0);
        for (unsigned i = 0;; i++) {
                shmb_region *r = NULL;

                snprintf(name, sizeof(name), "it/churn/%u", i % 64);
                (void)shmb_delete(c, name);
                CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
                /* A bounded set of handles stays open until the SIGKILL. */
                (void)shmb_close(held[i % ELEMENTSOF(held)]);
                held[i % ELEMENTSOF(held)] = r;
                r = NULL;
                if (shmb_open(c, name, SHMB_READ, 0, &r) == 0)
                        (void)shmb_close(r);
                if (i == 16)
                        (void)harness_chan_send(chan, 's');
        }
        return 0;
}

static int count_prefix(const struct shmb_region_info *info, void *userdata) {
        (*(unsigned *)userdata)++;
        return 0;
}

static int proto_client_killed_mid_request(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        _cleanup_conn_ shmb_conn *c = NULL;
        unsigned n = 1;
        int i;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(harness_child_start(&ch, NULL, child_churn, NULL), 0);
        CHECK_INT(harness_chan_expect(&ch.chan, 's'), 0);
        usleep(50000);
        CHECK_SYS(kill(ch.pid, SIGKILL));
        CHECK_INT(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS), -SIGKILL);

        /* Every region was owned by the dead connection. */
        for (i = 0; i < 200 && n > 0; i++) {
                n = 0;
                CHECK_SHMB(c, shmb_list(c, "it/churn/", count_prefix, &n), 0);
                if (n > 0)
                        usleep(10000);
        }
        CHECK_MSG(n == 0, "%u it/churn/ regions outlived their owner", n);
        return 0;
}

static int child_quick_ops(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL, *r2 = NULL;
        struct shmb_create_opts o = harness_opts(4096, 0, SHMB_REFCOUNTED);
        struct shmb_region_info info;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, "it/served", &o, &r), 0);
        CHECK_SHMB(c, shmb_open(c, "it/served", SHMB_READ, 0, &r2), 0);
        CHECK_SHMB(c, shmb_stat(c, "it/served", &info), 0);
        CHECK_INT(info.holders, 2);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r2)), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        CHECK_SHMB(c, shmb_stat(c, "it/served", &info), -ENOENT);
        return 0;
}

static int proto_client_never_reads(void) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;
        _cleanup_close_ int fd = -1;
        unsigned long sent = 0;
        struct timespec t0, t1;
        int r = 0;

        fd = connect_hello();
        CHECK_SYS(fd);
        CHECK_SYS(fcntl(fd, F_SETFL, O_NONBLOCK));
        clock_gettime(CLOCK_MONOTONIC, &t0);
        /* Stat requests until the socket is full or the daemon gives up on us. */
        for (;;) {
                r = send_stat(fd, sent + 10, "it/flood");
                if (r < 0)
                        break;
                sent++;
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (sent >= 1000000 || t1.tv_sec - t0.tv_sec >= 5)
                        break;
        }
        harness_log("flooding client: %lu requests sent, then %s", sent, r < 0 ? harness_errname(r) : "stopped");
        CHECK_MSG(r == -EAGAIN || r == -EPIPE || r == -ECONNRESET || r == 0, "send: %s", harness_errname(r));

        /* Meanwhile, others are served promptly. */
        CHECK_INT(harness_child_start(&ch, NULL, child_quick_ops, NULL), 0);
        CHECK_CHILD(harness_child_wait(&ch, 10000));
        return 0;
}

/* ---- arguments the daemon must check itself ---------------------------------------- */

static int proto_bad_arguments(void) {
        _cleanup_response_ WireResponse *created = NULL;
        _cleanup_close_ int fd = -1, fd2 = -1, mfd = -1;
        Shmbroker__V1__CreateRequest b;
        uint64_t handle;

        fd = connect_hello();
        CHECK_SYS(fd);
        fd2 = connect_hello();
        CHECK_SYS(fd2);

        CHECK_INT(send_create(fd, 1, "it/args", 4096, SHMB_REFCOUNTED), 0);
        CHECK_INT(expect(fd, 1, STATUS(OK), &created, &mfd), 0);
        CHECK(created->body_case == SHMBROKER__V1__RESPONSE__BODY_CREATE);
        handle = created->create->handle;
        CHECK(created->create->region && strcmp(created->create->region->name, "it/args") == 0);

        CHECK_INT(send_open(fd, 2, "it/args", 0), 0);
        CHECK_INT(expect(fd, 2, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);
        CHECK_INT(send_open(fd, 3, "it/args", 7), 0);
        CHECK_INT(expect(fd, 3, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);

        CHECK_INT(send_create(fd, 4, "it/args-size0", 0, SHMB_PERSISTENT), 0);
        CHECK_INT(expect(fd, 4, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);

        b = (Shmbroker__V1__CreateRequest)SHMBROKER__V1__CREATE_REQUEST__INIT;
        b.name = (char *)"it/args-mode";
        b.size = 4096;
        b.mode = 01000;
        CHECK_INT(send_create_body(fd, 5, &b), 0);
        CHECK_INT(expect(fd, 5, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);

        b.mode = 0;
        b.name = (char *)"it/args-lifetime";
        b.lifetime = (Shmbroker__V1__Lifetime)9;
        CHECK_INT(send_create_body(fd, 6, &b), 0);
        CHECK_INT(expect(fd, 6, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);

        b.lifetime = SHMBROKER__V1__LIFETIME__LIFETIME_PERSISTENT;
        b.name = (char *)"it/args-sharing";
        b.sharing = (Shmbroker__V1__Sharing)9;
        CHECK_INT(send_create_body(fd, 7, &b), 0);
        CHECK_INT(expect(fd, 7, -1, NULL, NULL), 0);

        b.sharing = SHMBROKER__V1__SHARING__SHARING_SHARED;
        b.name = (char *)"it/args-page-size";
        b.page_size = 12345;
        CHECK_INT(send_create_body(fd, 8, &b), 0);
        CHECK_INT(expect(fd, 8, -1, NULL, NULL), 0);

        b.page_size = 0;
        b.name = (char *)"it/args-huge";
        b.size = (uint64_t)1 << 62;
        CHECK_INT(send_create_body(fd, 9, &b), 0);
        CHECK_INT(expect(fd, 9, -1, NULL, NULL), 0);

        b.size = 4096;
        b.name = (char *)"it/args-flags";
        b.flags = 0x80000000u;
        CHECK_INT(send_create_body(fd, 10, &b), 0);
        CHECK_INT(expect(fd, 10, -1, NULL, NULL), 0);

        /* Handles are per connection: nobody else can release ours. */
        CHECK_INT(send_close(fd, 11, handle + 424242), 0);
        CHECK_INT(expect(fd, 11, STATUS(NOT_FOUND), NULL, NULL), 0);
        CHECK_INT(send_close(fd2, 12, handle), 0);
        CHECK_INT(expect(fd2, 12, STATUS(NOT_FOUND), NULL, NULL), 0);
        {
                _cleanup_response_ WireResponse *st = NULL;

                CHECK_INT(send_stat(fd2, 13, "it/args"), 0);
                CHECK_INT(expect(fd2, 13, STATUS(OK), &st, NULL), 0);
                CHECK_INT(st->stat->region->holders, 1);
        }

        /* Publishing is for immutable regions only. */
        CHECK_INT(send_publish(fd, 14, handle), 0);
        CHECK_INT(expect(fd, 14, -1, NULL, NULL), 0);

        /* The owner releases its own handle once; the refcounted region goes with it. */
        CHECK_INT(send_close(fd, 15, handle), 0);
        CHECK_INT(expect(fd, 15, STATUS(OK), NULL, NULL), 0);
        CHECK_INT(send_close(fd, 16, handle), 0);
        CHECK_INT(expect(fd, 16, STATUS(NOT_FOUND), NULL, NULL), 0);
        CHECK_INT(send_stat(fd, 17, "it/args"), 0);
        CHECK_INT(expect(fd, 17, STATUS(NOT_FOUND), NULL, NULL), 0);

        /* None of the refused creates left anything behind. */
        CHECK_INT(send_list(fd, 18, "it/args", "", 0), 0);
        {
                _cleanup_response_ WireResponse *l = NULL;

                CHECK_INT(expect(fd, 18, STATUS(OK), &l, NULL), 0);
                CHECK_INT(l->list->n_regions, 0);
        }
        return 0;
}

/* ---- hostile names ----------------------------------------------------------------- */

struct bad_name {
        const char *label;
        char name[256];
};

static void bad_names(struct bad_name *out, size_t *ret_n) {
        static const char *const simple[] = {
                "", "a/../b", "../x", "..", ".", "a/./b", "a//b", "/abs", "trailing/", "bad\nname",
                "sp ace", "back\\slash", "percent%s", "tab\there", "it/\xff", "\xc3\xa9t\xc3\xa9",
        };
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(simple); i++) {
                out[n].label = simple[i];
                snprintf(out[n].name, sizeof(out[n].name), "%s", simple[i]);
                n++;
        }
        out[n].label = "201 bytes";
        memset(out[n].name, 'x', 201);
        out[n].name[201] = 0;
        n++;
        *ret_n = n;
}

static int proto_hostile_names(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(4096, 0, SHMB_PERSISTENT);
        struct shmb_region_info info;
        struct bad_name names[32];
        char longest[SHMB_NAME_MAX + 1];
        shmb_region *tmp = NULL;
        unsigned n_listed = 0;
        size_t n;

        CHECK_INT(harness_connect(&c), 0);
        bad_names(names, &n);
        for (size_t i = 0; i < n; i++) {
                harness_log("name %zu: %s", i, names[i].label);
                CHECK_SHMB(c, shmb_create(c, names[i].name, &o, &tmp), -EINVAL);
                CHECK_MSG(*shmb_conn_error(c), "no message for an invalid name");
                CHECK_SHMB(c, shmb_open(c, names[i].name, SHMB_READ, 0, &tmp), -EINVAL);
                CHECK_SHMB(c, shmb_stat(c, names[i].name, &info), -EINVAL);
                CHECK_SHMB(c, shmb_delete(c, names[i].name), -EINVAL);
        }

        /* The longest name and every legal character work. */
        memset(longest, 'n', SHMB_NAME_MAX);
        memcpy(longest, "it/", 3);
        longest[SHMB_NAME_MAX] = 0;
        CHECK_SHMB(c, shmb_create(c, longest, &o, &r), 0);
        CHECK(strcmp(shmb_region_info(r)->name, longest) == 0);
        CHECK_SHMB(c, shmb_stat(c, longest, &info), 0);
        CHECK(strcmp(info.name, longest) == 0);
        CHECK_SHMB(c, shmb_list(c, longest, count_prefix, &n_listed), 0);
        CHECK_INT(n_listed, 1);
        CHECK_SHMB(c, shmb_delete(c, longest), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);

        CHECK_SHMB(c, shmb_create(c, "it/AZaz09._:@-/x..y/.z/z.", &o, &r), 0);
        CHECK_SHMB(c, shmb_delete(c, "it/AZaz09._:@-/x..y/.z/z."), 0);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

/* The daemon validates names itself: a client need not use the library. */
static int proto_hostile_names_raw(void) {
        /* Request{id 11, create{name "it/a\0bc", size 4096}}: a NUL inside a protobuf string. */
        static const uint8_t nul_name[] = {
                0x08, 0x0b, 0x5a, 0x0c, 0x0a, 0x07, 'i', 't', '/', 'a', 0x00, 'b', 'c', 0x10, 0x80, 0x20,
        };
        _cleanup_close_ int fd = -1;
        struct bad_name names[32];
        uint64_t id = 100;
        size_t n;

        fd = connect_hello();
        CHECK_SYS(fd);
        bad_names(names, &n);
        for (size_t i = 0; i < n; i++) {
                harness_log("name %zu: %s", i, names[i].label);
                CHECK_INT(send_create(fd, id, names[i].name, 4096, SHMB_PERSISTENT), 0);
                CHECK_INT(expect(fd, id, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);
                id++;
                CHECK_INT(send_open(fd, id, names[i].name, SHMB_READ), 0);
                CHECK_INT(expect(fd, id, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);
                id++;
                CHECK_INT(send_stat(fd, id, names[i].name), 0);
                CHECK_INT(expect(fd, id, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);
                id++;
                CHECK_INT(send_delete(fd, id, names[i].name), 0);
                CHECK_INT(expect(fd, id, STATUS(INVALID_ARGUMENT), NULL, NULL), 0);
                id++;
        }

        harness_log("a name with an embedded NUL");
        CHECK_INT(harness_raw_send_bytes(fd, nul_name, sizeof(nul_name)), 0);
        if (expect(fd, 11, STATUS(INVALID_ARGUMENT), NULL, NULL) < 0) {
                _cleanup_conn_ shmb_conn *c = NULL;

                /* Do not leave a region named by the bytes before the NUL around. */
                if (harness_connect(&c) == 0)
                        (void)shmb_delete(c, "it/a");
                return -1;
        }

        /* Still connected, and nothing was created. */
        CHECK_INT(send_list(fd, 1, "", "", 0), 0);
        {
                _cleanup_response_ WireResponse *l = NULL;

                CHECK_INT(expect(fd, 1, STATUS(OK), &l, NULL), 0);
                CHECK_INT(l->list->n_regions, 0);
        }
        return 0;
}

/* ---- and the daemon still serves ------------------------------------------------------ */

static int proto_still_serving(void) {
        _cleanup_close_ int fd = -1;

        CHECK_CHILD(harness_run_child(NULL, child_quick_ops, NULL));
        if (harness_is_root())
                CHECK_CHILD(harness_run_child(&harness_nobody, child_quick_ops, NULL));
        fd = connect_hello();
        CHECK_SYS(fd);
        CHECK_INT(send_stat(fd, 2, "it/served"), 0);
        CHECK_INT(expect(fd, 2, STATUS(NOT_FOUND), NULL, NULL), 0);
        return 0;
}

HARNESS_MAIN(NULL,
             HARNESS_TEST(proto_request_before_hello),
             HARNESS_TEST(proto_version_mismatch),
             HARNESS_TEST(proto_garbage),
             HARNESS_TEST(proto_packet_size_limit),
             HARNESS_TEST(proto_unknown_body),
             HARNESS_TEST(proto_client_sends_fd),
             HARNESS_TEST(proto_client_sends_many_fds),
             HARNESS_TEST(proto_pipelined),
             HARNESS_TEST(proto_list_many),
             HARNESS_TEST(proto_client_vanishes),
             HARNESS_TEST(proto_client_killed_mid_request),
             HARNESS_TEST(proto_client_never_reads),
             HARNESS_TEST(proto_bad_arguments),
             HARNESS_TEST(proto_hostile_names),
             HARNESS_TEST(proto_hostile_names_raw),
             HARNESS_TEST(proto_still_serving))
