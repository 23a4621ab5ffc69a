/* SPDX-License-Identifier: MIT */
/* Reliability-test helpers (see rel-util.h). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rel-util.h"

static int send_req(int fd, uint64_t id, WireRequest *req) {
        req->id = id;
        return harness_raw_send(fd, req);
}

int rel_send_hello(int fd, uint64_t id, uint32_t version) {
        Shmbroker__V1__HelloRequest b = SHMBROKER__V1__HELLO_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.version = version;
        b.client = (char *)"test-reliability";
        req.body_case = SHMBROKER__V1__REQUEST__BODY_HELLO;
        req.hello = &b;
        return send_req(fd, id, &req);
}

int rel_send_create(int fd, uint64_t id, const char *name, uint64_t size, uint32_t mode, int sharing,
                    int lifetime) {
        Shmbroker__V1__CreateRequest b = SHMBROKER__V1__CREATE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        b.size = size;
        b.mode = mode;
        b.sharing = (Shmbroker__V1__Sharing)sharing;
        b.lifetime = (Shmbroker__V1__Lifetime)lifetime;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CREATE;
        req.create = &b;
        return send_req(fd, id, &req);
}

int rel_send_open(int fd, uint64_t id, const char *name, int access, uint32_t timeout_ms) {
        Shmbroker__V1__OpenRequest b = SHMBROKER__V1__OPEN_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        b.access = (Shmbroker__V1__Access)access;
        b.timeout_ms = timeout_ms;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_OPEN;
        req.open = &b;
        return send_req(fd, id, &req);
}

int rel_send_close(int fd, uint64_t id, uint64_t handle) {
        Shmbroker__V1__CloseRequest b = SHMBROKER__V1__CLOSE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.handle = handle;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_CLOSE;
        req.close = &b;
        return send_req(fd, id, &req);
}

int rel_send_delete(int fd, uint64_t id, const char *name) {
        Shmbroker__V1__DeleteRequest b = SHMBROKER__V1__DELETE_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_DELETE;
        req.delete_ = &b;
        return send_req(fd, id, &req);
}

int rel_send_stat(int fd, uint64_t id, const char *name) {
        Shmbroker__V1__StatRequest b = SHMBROKER__V1__STAT_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.name = (char *)name;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_STAT;
        req.stat = &b;
        return send_req(fd, id, &req);
}

int rel_send_list(int fd, uint64_t id, const char *prefix, const char *after, uint32_t limit) {
        Shmbroker__V1__ListRequest b = SHMBROKER__V1__LIST_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.prefix = (char *)prefix;
        b.after = (char *)after;
        b.limit = limit;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_LIST;
        req.list = &b;
        return send_req(fd, id, &req);
}

int rel_send_mapped(int fd, uint64_t id, uint64_t handle) {
        Shmbroker__V1__MappedRequest b = SHMBROKER__V1__MAPPED_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.handle = handle;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_MAPPED;
        req.mapped = &b;
        return send_req(fd, id, &req);
}

int rel_send_publish(int fd, uint64_t id, uint64_t handle) {
        Shmbroker__V1__PublishRequest b = SHMBROKER__V1__PUBLISH_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;

        b.handle = handle;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_PUBLISH;
        req.publish = &b;
        return send_req(fd, id, &req);
}

int rel_connect_hello(void) {
        int fd = harness_raw_connect();

        if (fd < 0)
                return fd;
        if (harness_raw_hello(fd, 1) < 0) {
                safe_close(fd);
                return -EPROTO;
        }
        return fd;
}

int rel_expect(int fd, uint64_t id, int status, WireResponse **ret, int *ret_fd) {
        _cleanup_response_ WireResponse *resp = NULL;
        int r, rfd = -1;

        r = harness_raw_recv(fd, REL_TIMEOUT_MS * harness_slowdown(), &resp, &rfd);
        if (r < 0) {
                harness_log("waiting for the response to request %" PRIu64 ": %s", id, strerror(-r));
                return -1;
        }
        if (resp->id != id || (status >= 0 && (int)resp->status != status)) {
                harness_log("response id %" PRIu64 " status %s (\"%s\"), expected id %" PRIu64 " status %s",
                            resp->id, wire_status_name((int)resp->status), resp->error ? resp->error : "", id,
                            status >= 0 ? wire_status_name(status) : "any");
                safe_close(rfd);
                return -1;
        }
        if (ret_fd)
                *ret_fd = rfd;
        else
                safe_close(rfd);
        if (ret)
                *ret = TAKE_PTR(resp);
        return 0;
}

long long rel_daemon_cpu_ms(void) {
        char path[64], buf[1024], *p;
        unsigned long long ut, st;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)harness_daemon_pid());
        f = fopen(path, "re");
        if (!f)
                return -errno;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        /* The command name may hold anything: fields count from the last ')'. */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return -EIO;
        return (long long)(ut + st) * 1000 / sysconf(_SC_CLK_TCK);
}

long long rel_daemon_rss_kib(void) {
        char path[64], line[256];
        long long kib = -ENOENT;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)harness_daemon_pid());
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %lld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

static int count_one(const struct shmb_region_info *info, void *userdata) {
        (*(int *)userdata)++;
        return 0;
}

int rel_count_regions(const char *prefix) {
        _cleanup_conn_ shmb_conn *c = NULL;
        int n = 0, r;

        r = harness_connect(&c);
        if (r < 0)
                return r;
        r = shmb_list(c, prefix, count_one, &n);
        return r < 0 ? r : n;
}

long long rel_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rel_sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

uint64_t rel_rand(uint64_t *state) {
        uint64_t x = *state ? *state : UINT64_C(0x9e3779b97f4a7c15);

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        return x * UINT64_C(0x2545f4914f6cdd1d);
}

uint64_t rel_rand_below(uint64_t *state, uint64_t n) {
        return n ? rel_rand(state) % n : 0;
}

uint64_t rel_seed(const char *what) {
        const char *e = getenv("SHMB_REL_SEED");
        struct timespec ts;
        uint64_t seed;

        if (e && *e)
                seed = strtoull(e, NULL, 0);
        else {
                clock_gettime(CLOCK_REALTIME, &ts);
                seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
        }
        harness_log("%s: seed %" PRIu64 " (replay with SHMB_REL_SEED=%" PRIu64 ")", what, seed, seed);
        return seed;
}

int rel_wait_fd_count(int target, int timeout_ms, int *ret_count) {
        long long deadline = rel_now_ms() + (long long)timeout_ms * harness_slowdown();
        int n;

        for (;;) {
                n = harness_daemon_fd_count();
                if (n == target || rel_now_ms() >= deadline)
                        break;
                rel_sleep_ms(5);
        }
        if (ret_count)
                *ret_count = n;
        return n == target ? 0 : -ETIMEDOUT;
}

int rel_send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t n) {
        size_t space = CMSG_SPACE(n * sizeof(int));
        _cleanup_free_ void *control = calloc(1, space);
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
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

int rel_bystander_check(shmb_conn *c, const char *name) {
        _cleanup_region_ shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(8192, 0, SHMB_OWNER);
        struct shmb_region_info info;

        CHECK_SHMB(c, shmb_create(c, name, &o, &r), 0);
        harness_fill(shmb_region_data(r), 8192, 7);
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        CHECK_INT(info.size, 8192);
        CHECK_SHMB(c, shmb_delete(c, name), 0);
        CHECK(harness_verify(shmb_region_data(r), 8192, 7));
        return 0;
}

void rel_log_daemon_fds(void) {
        char dir[64], path[320], target[256];
        struct dirent *de;
        DIR *d;

        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)harness_daemon_pid());
        d = opendir(dir);
        if (!d)
                return;
        while ((de = readdir(d))) {
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                n = readlink(path, target, sizeof(target) - 1);
                target[n < 0 ? 0 : n] = 0;
                harness_log("daemon fd %s -> %s", de->d_name, target);
        }
        closedir(d);
}
