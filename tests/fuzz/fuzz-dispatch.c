/* SPDX-License-Identifier: MIT */
/*
 * The daemon's request handling on arbitrary packet sequences, without the
 * accept path: a real Server (event base, registry, sealer thread) whose
 * listening socket is an autobound abstract one nobody connects to, and up
 * to two real Conns on socketpairs, fed packets straight into
 * dispatch_packet() the way on_readable() would. Two connections, one as
 * root and one as uid 1000, reach what one cannot: opens of another's
 * region, permission refusals, parked opens woken by the creator, regions
 * whose owner disconnects.
 *
 * Input: records of a 2-byte big-endian header and a payload. Header bit 15
 * picks the connection (0: root, 1: uid 1000); bits 0-14 are the payload
 * length, except 0x7fff, which carries no payload and hangs that connection
 * up (the daemon frees it, as on a disconnect). A packet for a connection
 * that was dropped opens a fresh one. A truncated last record is fed as it
 * is. Replies are read and their fds closed after every packet, and the
 * event loop runs once (reaping, parked-open wake-ups); a publish in flight
 * is waited for, so a run does not depend on thread timing.
 *
 * Afterwards everything is freed and the process must hold exactly the fds
 * it held before: a leaked memfd or socket aborts, as ASan's leak check
 * does for memory.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_CONNS 2
#define HANGUP_LEN 0x7fffu
/* A cap on loop turns while waiting for the sealer; far more than a seal needs. */
#define MAX_LOOP_TURNS 100000

typedef struct Slot {
        Conn *conn; /* NULL: none yet, or dropped (the server frees it) */
        int peer;   /* our end of the socketpair */
} Slot;

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        if (!d)
                abort();
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the DIR's own fd */
}

/* A listening socket nobody can reach by path: bound to an abstract autobind name. */
static int dummy_listener(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                abort();
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa_family_t)) < 0 || listen(fd, 1) < 0)
                abort();
        return fd;
}

static void slot_open(Server *s, Slot *slot, unsigned idx) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                abort();
        if (conn_new(&slot->conn, s, sv[0]) < 0)
                abort();
        slot->peer = sv[1];
        /* Identities independent of who runs the fuzzer. */
        slot->conn->uid = idx == 0 ? 0 : 1000;
        slot->conn->gid = idx == 0 ? 0 : 1000;
        slot->conn->pid = 4242 + (pid_t)idx;
        slot->conn->n_groups = 0;
}

/* Reads and discards every reply waiting on our end, closing received fds. */
static void drain(Slot *slot) {
        static uint8_t buf[WIRE_MAX_PACKET + 1];
        char cbuf[CMSG_SPACE(sizeof(int) * 16)];

        if (slot->peer < 0)
                return;
        for (;;) {
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
                struct msghdr mh = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = cbuf,
                        .msg_controllen = sizeof(cbuf),
                };
                ssize_t n = recvmsg(slot->peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

                if (n <= 0)
                        return;
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                                continue;
                        for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                                int fd;

                                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                                close(fd);
                        }
                }
        }
}

/* The connection was killed: the server reaps it; we only let go of it. */
static void slot_forget(Slot *slot) {
        slot->conn = NULL;
        slot->peer = safe_close(slot->peer);
}

static bool publish_in_flight(Slot *slots) {
        for (unsigned i = 0; i < N_CONNS; i++)
                if (slots[i].conn && !slots[i].conn->dead && slots[i].conn->job)
                        return true;
        return false;
}

/* One turn of the loop as the daemon would take it between packets. */
static void settle(Server *s, Slot *slots) {
        unsigned turns = 0;

        for (;;) {
                for (unsigned i = 0; i < N_CONNS; i++) {
                        drain(&slots[i]);
                        if (slots[i].conn && slots[i].conn->dead)
                                slot_forget(&slots[i]);
                }
                if (!publish_in_flight(slots))
                        break;
                if (++turns > MAX_LOOP_TURNS)
                        abort();
                (void)event_base_loop(s->base, EVLOOP_ONCE);
        }
        (void)event_base_loop(s->base, EVLOOP_NONBLOCK);
        for (unsigned i = 0; i < N_CONNS; i++) {
                drain(&slots[i]);
                if (slots[i].conn && slots[i].conn->dead)
                        slot_forget(&slots[i]);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool initialized;
        static int quiet = LOG_EMERG;
        Limits limits = LIMITS_DEFAULT;
        Slot slots[N_CONNS] = { { NULL, -1 }, { NULL, -1 } };
        Server *s = NULL;
        int fds_before;

        if (!initialized) {
                if (getenv("FUZZ_DISPATCH_LOG"))
                        quiet = LOG_DEBUG;
                initialized = true;
        }
        log_set_max_level(quiet);

        /* Small limits, so the fuzzer reaches them; no region may cost real memory. */
        limits.max_regions = 16;
        limits.max_connections = N_CONNS;
        limits.output_queue = 4;
        limits.max_region_size = UINT64_C(1) << 20;

        fds_before = count_fds();
        if (server_new(&s, dummy_listener(), NULL, &limits) < 0)
                abort();
        /* No accept path: connections are made here. */
        event_del(s->listen_ev);

        while (size >= 2) {
                unsigned hdr = (unsigned)data[0] << 8 | data[1];
                unsigned idx = hdr >> 15, len = hdr & HANGUP_LEN;
                Slot *slot = &slots[idx];

                data += 2;
                size -= 2;
                if (len == HANGUP_LEN) {
                        if (slot->conn)
                                conn_kill(slot->conn, LOG_DEBUG, "fuzzer hung up");
                        settle(s, slots);
                        continue;
                }
                len = (unsigned)MIN((size_t)len, size);
                if (!slot->conn)
                        slot_open(s, slot, idx);
                /* Like on_readable(): a connection with a parked or in-flight request reads nothing. */
                if (!slot->conn->paused)
                        dispatch_packet(slot->conn, data, len);
                data += len;
                size -= len;
                settle(s, slots);
        }

        server_free(s);
        for (unsigned i = 0; i < N_CONNS; i++)
                safe_close(slots[i].peer);
        if (count_fds() != fds_before) {
                fprintf(stderr, "fuzz-dispatch: %d fds before the input, %d after\n", fds_before, count_fds());
                abort();
        }
        return 0;
}
