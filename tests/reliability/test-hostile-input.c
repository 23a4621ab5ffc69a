/* SPDX-License-Identifier: MIT */
/*
 * Hostile clients against the running daemon (SPEC 8), beyond what
 * tests/integration/test-protocol.c covers one packet at a time: volume and
 * concurrency. 10,000 pipelined requests from a client that never reads
 * (the output queue limit, 64 here, must drop that client alone) next to
 * one that reads and gets all 10,000 answers; connection floods past
 * --max-connections; hundreds of fds in many messages on several
 * connections; hundreds of random-byte packets; zero-length packets;
 * clients SIGKILLed right after sending each request type; a region-create
 * storm to --max-regions.
 *
 * Every case keeps a well-behaved library connection open throughout and
 * checks it is still served afterwards, and the daemon's fd count returns
 * to its baseline (the harness checks that after every case too).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel-util.h"

#define STATUS(x) SHMBROKER__V1__STATUS__STATUS_##x
#define MAX_CONNS 8
#define MAX_REGIONS 64
#define OUTPUT_QUEUE 64
#define N_PIPELINED 10000

static const char *const daemon_args[] = {
        "--output-queue", "64", "--max-connections", "8", "--max-regions", "64", NULL,
};

/* Disconnects the bystander, then waits for the daemon's fd count to return to its baseline. */
static int wait_baseline(shmb_conn **by) {
        int count;

        shmb_disconnect(TAKE_PTR(*by));
        CHECK_MSG(harness_wait_fd_baseline(2000, &count) == 0, "the daemon holds %d fds, baseline %d", count,
                  harness_daemon_fd_baseline());
        return 0;
}

/* Sends on a non-blocking socket, waiting up to 2 s for room: 0 or -errno. */
static int send_waiting(int fd, int (*send_fn)(int, uint64_t, const char *), uint64_t id, const char *name) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                int r = send_fn(fd, id, name);

                if (r != -EAGAIN)
                        return r;
                r = poll(&p, 1, 2000 * harness_slowdown());
                if (r == 0)
                        return -ETIMEDOUT;
        }
}

/* ---- 10,000 pipelined requests ------------------------------------------------- */

static int hostile_pipelined_never_reads(void) {
        _cleanup_conn_ shmb_conn *by = NULL;
        _cleanup_close_ int fd = -1;
        unsigned long sent = 0, answered = 0;
        int r = 0;

        CHECK_INT(harness_connect(&by), 0);
        fd = rel_connect_hello();
        CHECK_SYS(fd);
        CHECK_SYS(fcntl(fd, F_SETFL, O_NONBLOCK));

        for (sent = 0; sent < N_PIPELINED; sent++) {
                r = send_waiting(fd, rel_send_stat, sent + 2, "rel/pipe/none");
                if (r < 0)
                        break;
        }
        harness_log("non-reading client: %lu of %d requests sent, then %s", sent, N_PIPELINED,
                    r < 0 ? harness_errname(r) : "done");
        CHECK_MSG(r == -EPIPE || r == -ECONNRESET, "expected the daemon to drop us, send: %s", harness_errname(r));

        /* What was answered before the drop arrives in order, then end of file. */
        CHECK_SYS(fcntl(fd, F_SETFL, 0));
        for (;;) {
                _cleanup_response_ WireResponse *resp = NULL;

                r = harness_raw_recv(fd, REL_TIMEOUT_MS, &resp, NULL);
                if (r < 0)
                        break;
                CHECK_INT(resp->id, answered + 2);
                CHECK_INT(resp->status, STATUS(NOT_FOUND));
                answered++;
        }
        CHECK_MSG(r == -ECONNRESET, "after %lu answers: %s", answered, harness_errname(r));
        harness_log("it got %lu answers before the daemon dropped it", answered);
        CHECK(answered < sent);

        CHECK_INT(rel_bystander_check(by, "rel/pipe/bystander"), 0);
        return wait_baseline(&by);
}

static int hostile_pipelined_reader(void) {
        _cleanup_conn_ shmb_conn *by = NULL;
        _cleanup_close_ int fd = -1;
        unsigned long sent = 0, answered = 0;

        CHECK_INT(harness_connect(&by), 0);
        fd = rel_connect_hello();
        CHECK_SYS(fd);
        CHECK_SYS(fcntl(fd, F_SETFL, O_NONBLOCK));

        /* Sends as fast as the socket takes them and reads as they come: never dropped. */
        while (answered < N_PIPELINED) {
                struct pollfd p = { .fd = fd, .events = POLLIN | (sent < N_PIPELINED ? POLLOUT : 0) };
                int r;

                r = poll(&p, 1, REL_TIMEOUT_MS * harness_slowdown());
                CHECK_MSG(r > 0, "stalled after %lu sent, %lu answered", sent, answered);
                if ((p.revents & POLLOUT) && sent < N_PIPELINED) {
                        r = rel_send_stat(fd, sent + 2, "rel/pipe/none");
                        CHECK_MSG(r == 0 || r == -EAGAIN, "send %lu: %s", sent, harness_errname(r));
                        if (r == 0)
                                sent++;
                }
                if (p.revents & (POLLIN | POLLHUP)) {
                        _cleanup_response_ WireResponse *resp = NULL;

                        CHECK_INT(harness_raw_recv(fd, 0, &resp, NULL), 0);
                        CHECK_INT(resp->id, answered + 2);
                        CHECK_INT(resp->status, STATUS(NOT_FOUND));
                        answered++;
                }
        }
        fd = safe_close(fd);
        CHECK_INT(rel_bystander_check(by, "rel/pipe/bystander"), 0);
        return wait_baseline(&by);
}

/* ---- connection floods ----------------------------------------------------------- */

static unsigned resets;

/* Hello on a fresh connection: 1 served, 0 refused (LIMIT_EXCEEDED, then closed), -1 otherwise. */
static int try_connect(int *ret_fd) {
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        fd = harness_raw_connect();
        CHECK_SYS(fd);
        r = rel_send_hello(fd, 1, WIRE_PROTOCOL_VERSION);
        /* A refused connection may already be closed when hello goes out. */
        CHECK_MSG(r == 0 || r == -EPIPE || r == -ECONNRESET, "hello: %s", harness_errname(r));
        r = harness_raw_recv(fd, REL_TIMEOUT_MS * harness_slowdown(), &resp, NULL);
        if (r == -ECONNRESET) {
                /*
                 * The daemon closed with our hello unread, which the kernel reports as
                 * ECONNRESET before the refusal queued ahead of it; the next read gets that.
                 */
                resets++;
                r = harness_raw_recv(fd, REL_TIMEOUT_MS * harness_slowdown(), &resp, NULL);
        }
        CHECK_INT(r, 0);
        if (resp->status == STATUS(OK) && resp->id == 1) {
                *ret_fd = TAKE_FD(fd);
                return 1;
        }
        CHECK_MSG(resp->status == STATUS(LIMIT_EXCEEDED) && resp->id == 0, "status %s \"%s\"",
                  wire_status_name((int)resp->status), resp->error ? resp->error : "");
        CHECK_MSG(resp->error && strstr(resp->error, "connection limit"), "message: \"%s\"",
                  resp->error ? resp->error : "");
        CHECK_INT(harness_raw_expect_closed(fd, REL_TIMEOUT_MS), 0);
        return 0;
}

static int hostile_connection_flood(void) {
        _cleanup_conn_ shmb_conn *by = NULL;
        int served[MAX_CONNS], n_served = 0, refused = 0, fd = -1, r;
        int burst[200];
        long long deadline;

        for (int i = 0; i < MAX_CONNS; i++)
                served[i] = -1;
        CHECK_INT(harness_connect(&by), 0);
        /* The bystander is one of the 8. */
        for (int i = 0; i < 20; i++) {
                fd = -1;
                r = try_connect(&fd);
                CHECK(r >= 0);
                if (r == 1) {
                        CHECK_MSG(n_served < MAX_CONNS - 1, "connection %d served beyond the limit", i);
                        served[n_served++] = fd;
                } else
                        refused++;
        }
        harness_log("20 connections: %d served, %d refused", n_served, refused);
        CHECK_INT(n_served, MAX_CONNS - 1);
        CHECK_INT(refused, 20 - (MAX_CONNS - 1));

        /* A burst: 200 connects before reading anything. */
        for (size_t i = 0; i < ELEMENTSOF(burst); i++) {
                burst[i] = harness_raw_connect();
                CHECK_SYS(burst[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(burst); i++) {
                _cleanup_response_ WireResponse *resp = NULL;

                r = harness_raw_recv(burst[i], REL_TIMEOUT_MS * harness_slowdown(), &resp, NULL);
                if (r == -ECONNRESET) {
                        resets++;
                        r = harness_raw_recv(burst[i], REL_TIMEOUT_MS * harness_slowdown(), &resp, NULL);
                }
                CHECK_MSG(r == 0 && resp->status == STATUS(LIMIT_EXCEEDED), "burst connection %zu: %s", i,
                          r < 0 ? harness_errname(r) : wire_status_name((int)resp->status));
                CHECK_INT(harness_raw_expect_closed(burst[i], REL_TIMEOUT_MS), 0);
                burst[i] = safe_close(burst[i]);
        }

        harness_log("refusals read only after an ECONNRESET: %u", resets);

        /* The served ones kept working. */
        for (int i = 0; i < n_served; i++) {
                CHECK_INT(rel_send_stat(served[i], 10 + (uint64_t)i, "rel/flood/none"), 0);
                CHECK_INT(rel_expect(served[i], 10 + (uint64_t)i, STATUS(NOT_FOUND), NULL, NULL), 0);
        }
        CHECK_INT(rel_bystander_check(by, "rel/flood/bystander"), 0);

        /* A freed slot is served again once the daemon noticed the close. */
        served[0] = safe_close(served[0]);
        deadline = rel_now_ms() + 2000LL * harness_slowdown();
        for (;;) {
                fd = -1;
                r = try_connect(&fd);
                CHECK(r >= 0);
                if (r == 1)
                        break;
                CHECK_MSG(rel_now_ms() < deadline, "no slot freed after a disconnect");
                rel_sleep_ms(10);
        }
        served[0] = fd;
        for (int i = 0; i < n_served; i++)
                served[i] = safe_close(served[i]);
        return wait_baseline(&by);
}

/* ---- fds sent to the daemon, in volume --------------------------------------------- */

#define FD_CONNS 6
#define FD_MESSAGES 20
#define FD_PER_MESSAGE 200

static int hostile_fds_many_messages(void) {
        _cleanup_conn_ shmb_conn *by = NULL;
        _cleanup_free_ uint8_t *packed = NULL;
        _cleanup_close_ int pr = -1, pw = -1;
        Shmbroker__V1__StatRequest b = SHMBROKER__V1__STAT_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        int conns[FD_CONNS], fds[FD_PER_MESSAGE], pipefd[2];
        unsigned refused_by_kernel = 0, dropped = 0;
        unsigned long total = 0;
        struct pollfd p;
        size_t len;

        CHECK_INT(harness_connect(&by), 0);
        CHECK_SYS(pipe2(pipefd, O_CLOEXEC));
        pr = pipefd[0];
        pw = pipefd[1];
        for (int i = 0; i < FD_PER_MESSAGE; i++)
                fds[i] = pw;
        b.name = (char *)"rel/fds/none";
        req.id = 5;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_STAT;
        req.stat = &b;
        len = shmbroker__v1__request__get_packed_size(&req);
        packed = malloc(len);
        CHECK(packed);
        shmbroker__v1__request__pack(&req, packed);

        for (int i = 0; i < FD_CONNS; i++) {
                conns[i] = rel_connect_hello();
                CHECK_SYS(conns[i]);
        }
        /* Round-robin, so the daemon sees fd-carrying packets on several connections at once. */
        for (int m = 0; m < FD_MESSAGES; m++)
                for (int i = 0; i < FD_CONNS; i++) {
                        int r;

                        /* Before hello on every other message of a fresh connection. */
                        if (conns[i] < 0) {
                                conns[i] = m % 2 ? rel_connect_hello() : harness_raw_connect();
                                CHECK_SYS(conns[i]);
                        }
                        r = rel_send_with_fds(conns[i], packed, len, fds, FD_PER_MESSAGE);
                        total += FD_PER_MESSAGE;
                        if (r == -EPERM) {
                                /* SO_PASSRIGHTS=0 (Linux 6.16+): refused by the kernel; still served. */
                                refused_by_kernel++;
                                continue;
                        }
                        CHECK_MSG(r == 0 || r == -EPIPE || r == -ECONNRESET, "sendmsg: %s", harness_errname(r));
                        if (r == 0) {
                                _cleanup_response_ WireResponse *resp = NULL;

                                /* Protocol error (or, before hello, the same), then closed. */
                                CHECK_INT(harness_raw_recv(conns[i], REL_TIMEOUT_MS, &resp, NULL), 0);
                                CHECK_INT(resp->status, STATUS(PROTOCOL_ERROR));
                                CHECK_INT(harness_raw_expect_closed(conns[i], REL_TIMEOUT_MS), 0);
                                dropped++;
                        }
                        conns[i] = safe_close(conns[i]);
                }
        harness_log("%lu fds in %d messages: %u refused by the kernel, %u connections dropped by the daemon",
                    total, FD_CONNS * FD_MESSAGES, refused_by_kernel, dropped);

        for (int i = 0; i < FD_CONNS; i++) {
                if (conns[i] < 0)
                        continue;
                /* Kernel-refused senders are still served. */
                CHECK_INT(rel_send_stat(conns[i], 99, "rel/fds/none"), 0);
                CHECK_INT(rel_expect(conns[i], 99, STATUS(NOT_FOUND), NULL, NULL), 0);
                conns[i] = safe_close(conns[i]);
        }

        /* Every copy the daemon received is closed: the pipe sees end-of-file. */
        pw = safe_close(pw);
        p = (struct pollfd){ .fd = pr, .events = POLLIN };
        CHECK_MSG(poll(&p, 1, 2000) == 1 && (p.revents & POLLHUP), "the daemon still holds a pipe we sent it");
        CHECK_INT(rel_bystander_check(by, "rel/fds/bystander"), 0);
        return wait_baseline(&by);
}

/* ---- random bytes ------------------------------------------------------------------- */

#define RANDOM_CONNS 300
#define PROBE_ID UINT64_C(0xfeedf00d)

static int hostile_random_bytes(void) {
        _cleanup_conn_ shmb_conn *by = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t seed = rel_seed("random bytes");
        unsigned closed = 0, survived = 0, answers = 0;
        int deleted;

        CHECK_INT(harness_connect(&by), 0);
        buf = malloc(WIRE_MAX_PACKET + 4096);
        CHECK(buf);
        for (int i = 0; i < RANDOM_CONNS; i++) {
                _cleanup_close_ int fd = -1;
                unsigned n_packets = 1 + (unsigned)rel_rand_below(&seed, 3);
                bool hello = rel_rand_below(&seed, 4) != 0;
                int r = 0;

                fd = hello ? rel_connect_hello() : harness_raw_connect();
                CHECK_SYS(fd);
                for (unsigned k = 0; k < n_packets && r == 0; k++) {
                        /* Mostly small; sometimes beyond the packet limit. */
                        size_t len = rel_rand_below(&seed, 10) == 0 ? 1 + rel_rand_below(&seed, WIRE_MAX_PACKET + 4000)
                                                                    : 1 + rel_rand_below(&seed, 300);

                        for (size_t j = 0; j < len; j++)
                                buf[j] = (uint8_t)rel_rand(&seed);
                        r = harness_raw_send_bytes(fd, buf, len);
                }
                CHECK_MSG(r == 0 || r == -EPIPE || r == -ECONNRESET || r == -EMSGSIZE, "send: %s", harness_errname(r));
                /* A probe: answered if the connection survived; either way the stream ends cleanly. */
                if (r == 0)
                        (void)rel_send_stat(fd, PROBE_ID, "rel/random/none");
                for (;;) {
                        _cleanup_response_ WireResponse *resp = NULL;

                        r = harness_raw_recv(fd, REL_TIMEOUT_MS * harness_slowdown(), &resp, NULL);
                        if (r == -ECONNRESET || r == -EPIPE) {
                                closed++;
                                break;
                        }
                        CHECK_MSG(r == 0, "connection %d (%s hello): %s", i, hello ? "after" : "before",
                                  harness_errname(r));
                        answers++;
                        CHECK_MSG(resp->status == STATUS(OK) || (resp->error && *resp->error),
                                  "status %s without a message", wire_status_name((int)resp->status));
                        if (resp->id == PROBE_ID && resp->status != STATUS(PROTOCOL_ERROR)) {
                                survived++;
                                break;
                        }
                }
        }
        harness_log("%d connections of random bytes: %u dropped, %u still served, %u answers", RANDOM_CONNS, closed,
                    survived, answers);
        CHECK_INT(closed + survived, RANDOM_CONNS);
        CHECK_INT(rel_bystander_check(by, "rel/random/bystander"), 0);
        /* Bytes that happened to decode as a create made a region: fine, but clean up. */
        deleted = harness_delete_all_regions();
        CHECK_SYS(deleted);
        if (deleted > 0)
                harness_log("random bytes created %d regions", deleted);
        return wait_baseline(&by);
}

/* ---- zero-length packets -------------------------------------------------------------- */

static int hostile_zero_length(void) {
        _cleanup_conn_ shmb_conn *by = NULL;
        long long cpu0, cpu1;

        CHECK_INT(harness_connect(&by), 0);
        cpu0 = rel_daemon_cpu_ms();
        CHECK_SYS(cpu0);
        for (int i = 0; i < 100; i++) {
                _cleanup_close_ int fd = -1;
                bool hello = i % 2;

                fd = hello ? rel_connect_hello() : harness_raw_connect();
                CHECK_SYS(fd);
                if (i % 4 == 3) {
                        /* Behind a request: that one is answered first. */
                        CHECK_INT(rel_send_stat(fd, 7, "rel/zero/none"), 0);
                        CHECK_INT(harness_raw_send_bytes(fd, "", 0), 0);
                        CHECK_INT(rel_expect(fd, 7, STATUS(NOT_FOUND), NULL, NULL), 0);
                } else {
                        /* Several: the first one already ends the connection. */
                        for (int k = 0; k < 10; k++) {
                                int r = harness_raw_send_bytes(fd, "", 0);

                                CHECK_MSG(r == 0 || r == -EPIPE || r == -ECONNRESET, "send: %s", harness_errname(r));
                        }
                }
                /* A zero-length packet reads like end-of-file on SOCK_SEQPACKET: a hang-up. */
                CHECK_INT(harness_raw_expect_closed(fd, REL_TIMEOUT_MS), 0);
        }
        /* Nothing left spinning: a second of idle costs the daemon (almost) no CPU. */
        rel_sleep_ms(100);
        cpu0 = rel_daemon_cpu_ms();
        rel_sleep_ms(1000);
        cpu1 = rel_daemon_cpu_ms();
        CHECK_MSG(cpu1 - cpu0 < 100, "the daemon used %lld ms of CPU while idle", cpu1 - cpu0);
        CHECK_INT(rel_bystander_check(by, "rel/zero/bystander"), 0);
        return wait_baseline(&by);
}

/* ---- clients killed in the middle of every request type ------------------------------ */

enum kill_kind {
        KILL_HELLO,
        KILL_CREATE_PERSISTENT,
        KILL_CREATE_OWNER,
        KILL_CREATE_REFCOUNTED,
        KILL_OPEN_READ,
        KILL_OPEN_READ_WRITE,
        KILL_OPEN_PARKED,
        KILL_OPEN_PARKED_UNREAD,
        KILL_CLOSE,
        KILL_DELETE,
        KILL_STAT,
        KILL_LIST,
        KILL_MAPPED,
        KILL_PUBLISH,
        KILL_PIPELINE_ALL,
        _KILL_MAX,
};

static const char *const kill_names[_KILL_MAX] = {
        "hello", "create persistent", "create owner", "create refcounted", "open read", "open read-write",
        "open parked on an unpublished region",
        "hello and a parked open, neither answer read", "close", "delete", "stat", "list", "mapped", "publish",
        "every request type pipelined",
};

#define KILL_SHARED "rel/kill/shared"
#define KILL_UNPUBLISHED "rel/kill/unpublished"
#define KILL_TMP "rel/kill/tmp/"

struct kill_args {
        int kind;
        bool wait_reply; /* die after the first reply instead of right after sending */
};

/* Sends the request(s) of one kind, then dies by SIGKILL without reading (or after one reply). */
static int child_killed(struct harness_chan *chan, void *userdata) {
        const struct kill_args *a = userdata;
        int fd, kind = a->kind;
        char name[64];

        snprintf(name, sizeof(name), KILL_TMP "%d-%d", kind, (int)getpid());
        fd = kind == KILL_HELLO || kind == KILL_OPEN_PARKED_UNREAD ? harness_raw_connect() : rel_connect_hello();
        if (fd < 0)
                return 1;
        switch (kind) {
        case KILL_HELLO:
                (void)rel_send_hello(fd, 1, WIRE_PROTOCOL_VERSION);
                break;
        case KILL_CREATE_PERSISTENT:
        case KILL_CREATE_OWNER:
        case KILL_CREATE_REFCOUNTED:
                (void)rel_send_create(fd, 2, name, 1 << 20, 0666, SHMB_SHARED, kind - KILL_CREATE_PERSISTENT);
                break;
        case KILL_OPEN_READ:
        case KILL_OPEN_READ_WRITE:
                (void)rel_send_open(fd, 2, KILL_SHARED, kind == KILL_OPEN_READ ? SHMB_READ : SHMB_READ_WRITE, 0);
                break;
        case KILL_OPEN_PARKED:
                (void)rel_send_open(fd, 2, KILL_UNPUBLISHED, SHMB_READ, 60000);
                break;
        case KILL_OPEN_PARKED_UNREAD:
                (void)rel_send_hello(fd, 1, WIRE_PROTOCOL_VERSION);
                (void)rel_send_open(fd, 2, KILL_UNPUBLISHED, SHMB_READ, 60000);
                break;
        case KILL_CLOSE:
                /* Open (answer read), then the close is what is in flight. */
                (void)rel_send_open(fd, 2, KILL_SHARED, SHMB_READ, 0);
                if (rel_expect(fd, 2, STATUS(OK), NULL, NULL) < 0)
                        return 1;
                (void)rel_send_close(fd, 3, 1);
                break;
        case KILL_DELETE:
                (void)rel_send_create(fd, 2, name, 4096, 0600, SHMB_SHARED, SHMB_PERSISTENT);
                if (rel_expect(fd, 2, STATUS(OK), NULL, NULL) < 0)
                        return 1;
                (void)rel_send_delete(fd, 3, name);
                break;
        case KILL_STAT:
                (void)rel_send_stat(fd, 2, KILL_SHARED);
                break;
        case KILL_LIST:
                (void)rel_send_list(fd, 2, "", "", 0);
                break;
        case KILL_MAPPED:
                (void)rel_send_create(fd, 2, name, 4096, 0644, SHMB_SINGLE_WRITER, SHMB_PERSISTENT);
                (void)rel_send_mapped(fd, 3, 1);
                break;
        case KILL_PUBLISH:
                (void)rel_send_create(fd, 2, name, 1 << 20, 0644, SHMB_IMMUTABLE, SHMB_PERSISTENT);
                (void)rel_send_publish(fd, 3, 1);
                break;
        case KILL_PIPELINE_ALL:
                (void)rel_send_create(fd, 2, name, 4096, 0666, SHMB_SHARED, SHMB_REFCOUNTED);
                (void)rel_send_open(fd, 3, KILL_SHARED, SHMB_READ, 0);
                (void)rel_send_open(fd, 4, KILL_SHARED, SHMB_READ_WRITE, 0);
                (void)rel_send_stat(fd, 5, KILL_SHARED);
                (void)rel_send_list(fd, 6, "rel/", "", 0);
                (void)rel_send_close(fd, 7, 2);
                (void)rel_send_delete(fd, 8, name);
                (void)rel_send_open(fd, 9, KILL_UNPUBLISHED, SHMB_READ, 60000);
                break;
        default:
                return 1;
        }
        if (a->wait_reply) {
                struct pollfd p = { .fd = fd, .events = POLLIN };

                (void)poll(&p, 1, 1000);
        }
        raise(SIGKILL);
        return 1;
}

struct collected {
        char names[MAX_REGIONS][SHMB_NAME_MAX + 1];
        int n;
};

static int collect(const struct shmb_region_info *info, void *userdata) {
        struct collected *col = userdata;

        if (col->n < MAX_REGIONS)
                strcpy(col->names[col->n++], info->name);
        return 0;
}

static int delete_prefix(const char *prefix) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct collected *col = calloc(1, sizeof(*col));
        int r;

        if (!col)
                return -ENOMEM;
        r = harness_connect(&c);
        if (r < 0)
                goto out;
        r = shmb_list(c, prefix, collect, col);
        if (r < 0)
                goto out;
        for (int i = 0; i < col->n; i++)
                (void)shmb_delete(c, col->names[i]);
        r = col->n;
out:
        free(col);
        return r;
}

static int hostile_killed_mid_request(void) {
        _cleanup_conn_ shmb_conn *by = NULL, *owner = NULL;
        _cleanup_region_ shmb_region *shared = NULL, *unpublished = NULL, *ro = NULL;
        struct shmb_create_opts o = harness_opts(1 << 20, 0666, SHMB_PERSISTENT);
        struct shmb_create_opts imm = harness_opts(4096, 0644, SHMB_PERSISTENT);
        struct shmb_region_info info;
        unsigned kills = 0;
        int fixture, count;

        CHECK_INT(harness_connect(&by), 0);
        CHECK_INT(harness_connect(&owner), 0);
        CHECK_SHMB(owner, shmb_create(owner, KILL_SHARED, &o, &shared), 0);
        /* Opened read-only once, so the daemon's read-only fd exists before the count. */
        CHECK_SHMB(owner, shmb_open(owner, KILL_SHARED, SHMB_READ, 0, &ro), 0);
        /* Immutable and never published: opens of it park. */
        imm.sharing = SHMB_IMMUTABLE;
        CHECK_SHMB(owner, shmb_create(owner, KILL_UNPUBLISHED, &imm, &unpublished), 0);
        CHECK_SHMB(owner, shmb_stat(owner, KILL_SHARED, &info), 0);
        fixture = harness_daemon_fd_count();
        CHECK_SYS(fixture);

        for (int round = 0; round < 2; round++)
                for (int kind = 0; kind < _KILL_MAX; kind++) {
                        struct kill_args a = { .kind = kind, .wait_reply = round == 1 };
                        long long t0;
                        int st, left, r;

                        st = harness_run_child(NULL, child_killed, &a);
                        CHECK_MSG(st == -SIGKILL, "child for '%s' (round %d): status %d", kill_names[kind], round, st);
                        kills++;
                        /* Whatever the dead client created and did not own is cleaned here. */
                        left = rel_count_regions(KILL_TMP);
                        CHECK_SYS(left);
                        if (left > 0) {
                                (void)delete_prefix(KILL_TMP);
                        }
                        t0 = rel_now_ms();
                        r = rel_wait_fd_count(fixture, 3000, &count);
                        if (rel_now_ms() - t0 > 200)
                                harness_log("after %s (round %d): %lld ms until the daemon's fd count settled",
                                            kill_names[kind], round, rel_now_ms() - t0);
                        if (r < 0) {
                                long long c0 = rel_daemon_cpu_ms();

                                rel_sleep_ms(1000);
                                harness_log("the daemon used %lld ms of CPU in the last second",
                                            rel_daemon_cpu_ms() - c0);
                                rel_log_daemon_fds();
                        }
                        CHECK_MSG(r == 0,
                                  "after a client killed during %s (round %d): the daemon holds %d fds, %d expected",
                                  kill_names[kind], round, count, fixture);
                        CHECK_SHMB(owner, shmb_stat(owner, KILL_SHARED, &info), 0);
                        /* Only our two handles (create + read-only open) remain. */
                        CHECK_MSG(info.holders == 2, "'%s' has %u holders after a client killed during %s",
                                  KILL_SHARED, info.holders, kill_names[kind]);
                }
        harness_log("%u clients killed mid-request, one per request type and round", kills);
        CHECK_SHMB(owner, shmb_delete(owner, KILL_SHARED), 0);
        CHECK_SHMB(owner, shmb_delete(owner, KILL_UNPUBLISHED), 0);
        CHECK_INT(rel_bystander_check(by, "rel/kill/bystander"), 0);
        return 0;
}

/* ---- a region-create storm to --max-regions ----------------------------------------- */

static int child_storm(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct shmb_create_opts o = harness_opts(4096, 0, (int)(intptr_t)userdata);
        shmb_region *held[MAX_REGIONS + 1];
        unsigned n = 0;
        char name[64];
        int r = 0;

        CHECK_INT(harness_connect(&c), 0);
        for (;;) {
                snprintf(name, sizeof(name), "rel/storm/%d/%u", (int)getpid(), n);
                r = shmb_create(c, name, &o, &held[n]);
                if (r < 0)
                        break;
                n++;
                CHECK(n <= MAX_REGIONS);
        }
        CHECK_SHMB(c, r, -ENOSPC);
        CHECK_MSG(strstr(shmb_conn_error(c), "region limit"), "message: \"%s\"", shmb_conn_error(c));
        CHECK_INT(harness_chan_send(chan, (char)n), 0);
        /* Holds its regions until told (or killed). */
        {
                char cmd;

                CHECK_INT(harness_chan_recv(chan, &cmd, HARNESS_CHILD_TIMEOUT_MS), 0);
        }
        for (unsigned i = 0; i < n; i++)
                (void)shmb_close(held[i]);
        return 0;
}

#define STORM_CHILDREN 4

static int hostile_region_storm(void) {
        _cleanup_conn_ shmb_conn *by = NULL;
        struct harness_child ch[STORM_CHILDREN];
        struct shmb_create_opts o = harness_opts(4096, 0, SHMB_PERSISTENT);
        unsigned total = 0;
        shmb_region *r = NULL;
        int deleted;

        CHECK_INT(harness_connect(&by), 0);
        for (int lifetime = SHMB_PERSISTENT; lifetime <= SHMB_OWNER; lifetime++) {
                for (int i = 0; i < STORM_CHILDREN; i++)
                        ch[i] = (struct harness_child)HARNESS_CHILD_NULL;
                for (int i = 0; i < STORM_CHILDREN; i++)
                        CHECK_INT(harness_child_start(&ch[i], NULL, child_storm, (void *)(intptr_t)lifetime), 0);
                total = 0;
                for (int i = 0; i < STORM_CHILDREN; i++) {
                        char n = 0;

                        CHECK_INT(harness_chan_recv(&ch[i].chan, &n, HARNESS_CHILD_TIMEOUT_MS), 0);
                        total += (unsigned char)n;
                }
                harness_log("%d clients racing: %u %s regions created, limit %d", STORM_CHILDREN, total,
                            lifetime == SHMB_OWNER ? "owner" : "persistent", MAX_REGIONS);
                CHECK_INT(total, MAX_REGIONS);

                /* Full: a bystander gets a clear refusal, but is served otherwise. */
                CHECK_SHMB(by, shmb_create(by, "rel/storm/by", &o, &r), -ENOSPC);
                CHECK_MSG(strstr(shmb_conn_error(by), "64 of 64"), "message: \"%s\"", shmb_conn_error(by));
                CHECK_INT(rel_count_regions("rel/storm/"), MAX_REGIONS);

                if (lifetime == SHMB_PERSISTENT) {
                        for (int i = 0; i < STORM_CHILDREN; i++) {
                                CHECK_INT(harness_chan_send(&ch[i].chan, 'x'), 0);
                                CHECK_CHILD(harness_child_wait(&ch[i], HARNESS_CHILD_TIMEOUT_MS));
                        }
                        CHECK_INT(rel_count_regions("rel/storm/"), MAX_REGIONS);
                        deleted = delete_prefix("rel/storm/");
                        CHECK_INT(deleted, MAX_REGIONS);
                } else {
                        /* Owners killed: all their regions go, and the slots come back. */
                        for (int i = 0; i < STORM_CHILDREN; i++) {
                                CHECK_SYS(kill(ch[i].pid, SIGKILL));
                                CHECK_INT(harness_child_wait(&ch[i], HARNESS_CHILD_TIMEOUT_MS), -SIGKILL);
                        }
                        for (int i = 0; i < 200 && rel_count_regions("rel/storm/") > 0; i++)
                                rel_sleep_ms(10);
                        CHECK_INT(rel_count_regions("rel/storm/"), 0);
                }
                CHECK_SHMB(by, shmb_create(by, "rel/storm/by", &o, &r), 0);
                CHECK_SHMB(by, shmb_delete(by, "rel/storm/by"), 0);
                CHECK_SHMB(by, shmb_close(r), 0);
                r = NULL;
        }
        CHECK_INT(rel_bystander_check(by, "rel/storm/bystander"), 0);
        return wait_baseline(&by);
}

HARNESS_MAIN(daemon_args,
             HARNESS_TEST(hostile_pipelined_never_reads),
             HARNESS_TEST(hostile_pipelined_reader),
             HARNESS_TEST(hostile_connection_flood),
             HARNESS_TEST(hostile_fds_many_messages),
             HARNESS_TEST(hostile_random_bytes),
             HARNESS_TEST(hostile_zero_length),
             HARNESS_TEST(hostile_killed_mid_request),
             HARNESS_TEST(hostile_region_storm))
