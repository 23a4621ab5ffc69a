/* SPDX-License-Identifier: MIT */
/*
 * Admin introspection. A pid from SO_PEERCRED is only a number: by the time
 * an admin asks, the client may have exited and its pid been reused. The
 * pidfd taken at connect (SO_PEERPIDFD) pins the process: it polls readable
 * once the process has exited, so /proc/PID is read only while the pidfd
 * says the process lives, and the answer is dropped if it died meanwhile.
 * Only /proc/PID/comm is read (see holder_fill()).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "introspect.h"
#include "events.h"
#include "macro.h"
#include "region.h"
#include "registry.h"
#include "server.h"
#include "util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

#define ST(x) SHMBROKER__V1__STATUS__STATUS_##x
#define COMM_MAX 16
/* Entries in one Holders reply; the packet size bounds it further. */
#define HOLDERS_MAX 1024

_printf_(4, 5) static int fail(char *err, size_t errlen, int status, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return status;
}

int introspect_peer_pidfd(int sock) {
        socklen_t len = sizeof(int);
        int fd = -1;

        /* Pidfds are born close-on-exec. */
        if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) < 0 || len != sizeof(int))
                return -1;
        return fd;
}

/* True when the process behind the pidfd has exited. */
static bool pidfd_exited(int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };

        return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP));
}

/* Reads up to len-1 bytes of /proc/PID/FILE; returns the byte count or -errno. */
static ssize_t proc_read(pid_t pid, const char *file, char *buf, size_t len) {
        char path[64];
        _cleanup_close_ int fd = -1;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                n = read(fd, buf, len - 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return n;
}

/* Anything but printable ASCII shown as '?'. */
static void text_clean(char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                        s[i] = '?';
}

typedef struct HolderText {
        char comm[COMM_MAX + 1];
} HolderText;

static Shmbroker__V1__Holder holders[HOLDERS_MAX];
static Shmbroker__V1__Holder *holder_ptrs[HOLDERS_MAX];
static HolderText texts[HOLDERS_MAX];

static void holder_fill(Shmbroker__V1__Holder *w, HolderText *t, const Handle *h) {
        const Conn *c = h->conn;
        ssize_t n;

        shmbroker__v1__holder__init(w);
        t->comm[0] = '\0';
        w->comm = t->comm; /* cmdline stays "": see below */
        w->handle = h->id;
        w->access = h->access;
        w->creator = h->creator;
        if (!c)
                return;
        w->connection = c->id;
        w->pid = c->pid > 0 ? (uint32_t)c->pid : 0;
        w->uid = c->uid;
        w->gid = c->gid;
        w->verified = c->pidfd >= 0;
        if (c->pid <= 0)
                return;
        if (c->pidfd >= 0 && pidfd_exited(c->pidfd)) {
                w->gone = true;
                return;
        }
        /*
         * Only comm: reading /proc/PID/cmdline takes the memory lock of that
         * process, which its owner can keep taken indefinitely (a page fault
         * held up by userfaultfd, with an mmap() queued behind it), and this
         * is the event loop. shmbrokerctl reads the command line itself.
         */
        n = proc_read(c->pid, "comm", t->comm, sizeof(t->comm));
        if (n > 0) {
                if (t->comm[n - 1] == '\n')
                        t->comm[--n] = '\0';
                text_clean(t->comm, (size_t)n);
        } else
                t->comm[0] = '\0';
        /* Exited while we read: what we read may belong to a new process with that pid. */
        if (c->pidfd >= 0 && pidfd_exited(c->pidfd)) {
                w->gone = true;
                t->comm[0] = '\0';
        }
}

int introspect_holders(Conn *c, const WireRequest *req, WireResponse *resp, char *err, size_t errlen) {
        static Shmbroker__V1__HoldersReply reply;
        const char *name = req->holders->name, *why;
        size_t n = 0, used = 0;
        Region *r;
        Handle *h;

        if (!name_is_valid(name, strlen(name), &why))
                return fail(err, errlen, ST(INVALID_ARGUMENT), "invalid region name: %s", why);
        r = registry_find(&c->server->registry, name);
        if (!r)
                return fail(err, errlen, ST(NOT_FOUND), "no region named '%s'", name);
        if (c->uid != 0 && c->uid != r->uid)
                return fail(err, errlen, ST(PERMISSION_DENIED),
                            "permission denied: uid %u may not list the holders of region '%s': only its owner "
                            "(uid %u) and root may", (unsigned)c->uid, r->name, (unsigned)r->uid);

        shmbroker__v1__holders_reply__init(&reply);
        LIST_FOREACH(h, &r->handles, region_link) {
                size_t sz;

                if (n >= HOLDERS_MAX)
                        break;
                holder_fill(&holders[n], &texts[n], h);
                /* Tag, length varint, message; headroom for the envelope. */
                sz = 1 + 3 + shmbroker__v1__holder__get_packed_size(&holders[n]);
                if (used + sz > WIRE_MAX_PACKET - 256)
                        break;
                used += sz;
                holder_ptrs[n] = &holders[n];
                n++;
        }
        reply.holders = holder_ptrs;
        reply.n_holders = n;
        reply.total = r->n_handles;
        resp->body_case = SHMBROKER__V1__RESPONSE__BODY_HOLDERS;
        resp->holders = &reply;
        return 0;
}

uint64_t introspect_monotonic_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#define N_TYPES ELEMENTSOF(((Stats *)NULL)->by_type)
#define N_STATUS ELEMENTSOF(((Stats *)NULL)->by_status)

int introspect_stats(Conn *c, const WireRequest *req, WireResponse *resp, char *err, size_t errlen) {
        static Shmbroker__V1__StatsReply reply;
        static Shmbroker__V1__Counter types[N_TYPES + 1], statuses[N_STATUS];
        static Shmbroker__V1__Counter *type_ptrs[N_TYPES + 1], *status_ptrs[N_STATUS];
        static char other_type[] = "other", other_status[] = "other", release[] = "release";
        Server *s = c->server;
        Registry *reg = &s->registry;
        size_t nt = 0, ns = 0;

        shmbroker__v1__stats_reply__init(&reply);
        reply.uptime_usec = introspect_monotonic_usec() - s->stats.started_usec;
        reply.connections = s->n_conns;
        reply.connections_total = s->stats.connections_total;
        reply.regions = reg->n_regions;
        reply.bytes = reg->total_bytes;
        /* What the daemon really holds mlocked, from the quota accounting: no walk over every region. */
        reply.locked_bytes = s->quota.locked_total;
        reply.requests = s->stats.requests;
        reply.errors = s->stats.errors;
        reply.protocol_violations = s->stats.protocol_violations;
        reply.subscribers = s->stats.subscribers;
        reply.events = s->stats.events;
        reply.events_dropped = s->stats.events_dropped;

        for (size_t i = 0; i < N_TYPES; i++) {
                const ProtobufCFieldDescriptor *f;

                if (!s->stats.by_type[i])
                        continue;
                shmbroker__v1__counter__init(&types[nt]);
                f = i + 1 < N_TYPES ? protobuf_c_message_descriptor_get_field(&shmbroker__v1__request__descriptor,
                                                                              (unsigned)i) : NULL;
                /* Only body cases reach the table; fields 1 (id) and 2 (release) can never be one. */
                types[nt].name = f && i > 2 ? (char *)f->name : other_type;
                types[nt].value = s->stats.by_type[i];
                type_ptrs[nt] = &types[nt];
                nt++;
        }
        /* Handles released inside other requests (Request.release): no packet of their own. */
        if (s->stats.releases) {
                shmbroker__v1__counter__init(&types[nt]);
                types[nt].name = release;
                types[nt].value = s->stats.releases;
                type_ptrs[nt] = &types[nt];
                nt++;
        }
        for (size_t i = 0; i < N_STATUS; i++) {
                /* Successes are not errors: `requests` minus `errors` counts them. */
                if (i == 0 || !s->stats.by_status[i])
                        continue;
                shmbroker__v1__counter__init(&statuses[ns]);
                statuses[ns].name = i + 1 < N_STATUS ? (char *)wire_status_name((int)i) : other_status;
                statuses[ns].value = s->stats.by_status[i];
                status_ptrs[ns] = &statuses[ns];
                ns++;
        }
        reply.requests_by_type = type_ptrs;
        reply.n_requests_by_type = nt;
        reply.errors_by_status = status_ptrs;
        reply.n_errors_by_status = ns;
        resp->body_case = SHMBROKER__V1__RESPONSE__BODY_STATS;
        resp->stats = &reply;
        return 0;
}

int introspect_subscribe(Conn *c, const WireRequest *req, WireResponse *resp, char *err, size_t errlen) {
        static Shmbroker__V1__SubscribeReply reply;

        shmbroker__v1__subscribe_reply__init(&reply);
        events_subscribe(c);
        resp->body_case = SHMBROKER__V1__RESPONSE__BODY_SUBSCRIBE;
        resp->subscribe = &reply;
        return 0;
}
