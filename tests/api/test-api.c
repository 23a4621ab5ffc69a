/* SPDX-License-Identifier: MIT */
/*
 * libshmbroker through its public API only, linked against the shared
 * library like any user program. Three parts:
 *  - arguments and error texts, without any daemon;
 *  - a scripted fake daemon (a thread speaking hand-encoded protobuf) that
 *    misbehaves on purpose: wrong ids, stray or unsafe descriptors, short or
 *    unsealed files. The real daemon never does these, so only a fake can
 *    show that the library refuses them and leaks no descriptor doing so;
 *  - the real daemon named by $SHMBROKERD, when set: create, open, stat,
 *    list, delete, close, lifetimes, data shared with a child process, and
 *    read-only mappings that fault on write.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmbroker.h>

#include "api-daemon.h"
#include "tap.h"

#define SEALS_BASE (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static char tmpdir[] = "/tmp/test-api.XXXXXX";

static int fd_count_self(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - 1; /* the directory's own fd */
}


/* True when writing to p kills a child process with SIGSEGV. */
static bool write_faults(void *p) {
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return false;
        if (pid == 0) {
                *(volatile uint8_t *)p = 0x5a;
                _exit(0);
        }
        if (waitpid(pid, &status, 0) != pid)
                return false;
        return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static void fill(void *p, size_t len, uint8_t seed) {
        for (size_t i = 0; i < len; i++)
                ((uint8_t *)p)[i] = (uint8_t)(seed + i * 7);
}

static bool filled(const void *p, size_t len, uint8_t seed) {
        for (size_t i = 0; i < len; i++)
                if (((const uint8_t *)p)[i] != (uint8_t)(seed + i * 7))
                        return false;
        return true;
}

/* ---------------------------------------------------------------- no daemon */

static void test_no_daemon(void) {
        const int codes[] = { -EINVAL, -ENOENT, -EEXIST, -EACCES, -EDQUOT, -ENOSPC, -ENOMEM,
                              -EPROTONOSUPPORT, -EPROTO, -ETIMEDOUT, -EOPNOTSUPP, -EBUSY, -EIO,
                              -ENOTCONN };
        struct shmb_create_opts opts = { .struct_size = sizeof(opts), .size = 4096 };
        struct shmb_region_info info;
        char path[256], longpath[200];
        shmb_conn *c = NULL;
        shmb_region *r = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, n0 = fd_count_self();

        /* Error texts: distinct for the library's own codes, sign-agnostic, never NULL. */
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
                const char *s = shmb_strerror(codes[i]);
                bool distinct = true;

                CHECK(s && s[0]);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(s, shmb_strerror(codes[j])) == 0)
                                distinct = false;
                CHECK_MSG(distinct, shmb_strerror(codes[i]));
                CHECK(strcmp(s, shmb_strerror(-codes[i])) == 0);
        }
        CHECK(strcmp(shmb_strerror(0), "success") == 0);
        CHECK(strcmp(shmb_strerror(-EDQUOT), "quota exceeded") == 0);
        CHECK(shmb_strerror(-EPERM) && shmb_strerror(-EPERM)[0]);
        CHECK(shmb_strerror(-99999) && strstr(shmb_strerror(-99999), "99999"));

        /* Connecting to nothing. */
        snprintf(path, sizeof(path), "%s/nonexistent/sock", tmpdir);
        CHECK(shmb_connect(path, &c) == -ENOENT);
        CHECK(c == NULL);
        CHECK(shmb_conn_error(NULL)[0] != 0);

        /* A socket file nobody listens on. */
        snprintf(path, sizeof(path), "%s/dead.sock", tmpdir);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        memcpy(sa.sun_path, path, strlen(path));
        CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        close(fd);
        CHECK(shmb_connect(path, &c) == -ECONNREFUSED);
        unlink(path);

        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = 0;
        CHECK(shmb_connect(longpath, &c) == -ENAMETOOLONG);
        CHECK(shmb_connect("", &c) == -EINVAL);
        CHECK(shmb_connect(path, NULL) == -EINVAL);

        /* NULL everywhere. */
        CHECK(shmb_create(NULL, "a", &opts, &r) == -EINVAL);
        CHECK(shmb_open(NULL, "a", SHMB_READ, 0, &r) == -EINVAL);
        CHECK(shmb_delete(NULL, "a") == -EINVAL);
        CHECK(shmb_stat(NULL, "a", &info) == -EINVAL);
        CHECK(shmb_list(NULL, NULL, NULL, NULL) == -EINVAL);
        CHECK(shmb_publish(NULL) == -EINVAL);
        CHECK(shmb_close(NULL) == 0);
        CHECK(shmb_conn_fd(NULL) < 0);
        CHECK(shmb_conn_error(NULL) != NULL);
        CHECK(shmb_region_data(NULL) == NULL);
        CHECK(shmb_region_size(NULL) == 0);
        CHECK(shmb_region_fd(NULL) < 0);
        CHECK(shmb_region_seals(NULL) == 0);
        CHECK(shmb_region_page_size(NULL) == 0);
        CHECK(shmb_region_info(NULL) == NULL);
        CHECK(shmb_region_lock(NULL, 0) == -EINVAL);
        {
                struct shmb_quota q;

                CHECK(shmb_quota(NULL, 0, &q) == -EINVAL);
                CHECK(shmb_quota_list(NULL, NULL, NULL) == -EINVAL);
        }
        shmb_disconnect(NULL);
        CHECK(r == NULL);

        CHECK(fd_count_self() == n0);
}

/* ------------------------------------------------------------- fake daemon */

/* Just enough protobuf to speak for the daemon. */
typedef struct {
        uint8_t b[4096];
        size_t n;
} Pb;

static void pb_raw_varint(Pb *p, uint64_t v) {
        while (v >= 0x80 && p->n < sizeof(p->b)) {
                p->b[p->n++] = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        if (p->n < sizeof(p->b))
                p->b[p->n++] = (uint8_t)v;
}

static void pb_uint(Pb *p, unsigned field, uint64_t v) {
        pb_raw_varint(p, (uint64_t)field << 3);
        pb_raw_varint(p, v);
}

static void pb_bytes(Pb *p, unsigned field, const void *data, size_t len) {
        pb_raw_varint(p, (uint64_t)field << 3 | 2);
        pb_raw_varint(p, len);
        if (p->n + len <= sizeof(p->b)) {
                memcpy(p->b + p->n, data, len);
                p->n += len;
        }
}

static bool pb_read_varint(const uint8_t *b, size_t len, size_t *i, uint64_t *ret) {
        uint64_t v = 0;

        for (unsigned shift = 0; *i < len && shift < 64; shift += 7) {
                uint8_t byte = b[(*i)++];

                v |= (uint64_t)(byte & 0x7f) << shift;
                if (!(byte & 0x80)) {
                        *ret = v;
                        return true;
                }
        }
        return false;
}

/* Finds field `want` (length-delimited) in a message. */
static bool pb_find_bytes(const uint8_t *b, size_t len, unsigned want, const uint8_t **ret, size_t *ret_len) {
        size_t i = 0;
        uint64_t tag, v;

        while (i < len) {
                if (!pb_read_varint(b, len, &i, &tag))
                        return false;
                if ((tag & 7) == 0) {
                        if (!pb_read_varint(b, len, &i, &v))
                                return false;
                } else if ((tag & 7) == 2) {
                        if (!pb_read_varint(b, len, &i, &v) || v > len - i)
                                return false;
                        if ((tag >> 3) == want) {
                                *ret = b + i;
                                *ret_len = (size_t)v;
                                return true;
                        }
                        i += (size_t)v;
                } else
                        return false;
        }
        return false;
}

/* The request's id and the field number of its body (10 hello ... 18 publish). */
static bool parse_request(const uint8_t *b, size_t len, uint64_t *ret_id, unsigned *ret_body) {
        size_t i = 0;
        uint64_t tag, v;

        *ret_id = 0;
        *ret_body = 0;
        while (i < len) {
                if (!pb_read_varint(b, len, &i, &tag) || !pb_read_varint(b, len, &i, &v))
                        return false;
                if ((tag & 7) == 0 && (tag >> 3) == 1)
                        *ret_id = v;
                else if ((tag & 7) == 2) {
                        if (v > len - i)
                                return false;
                        if ((tag >> 3) >= 10)
                                *ret_body = (unsigned)(tag >> 3);
                        i += (size_t)v;
                }
        }
        return true;
}

enum {
        FAKE_NORMAL,       /* answers delete/close with success */
        FAKE_VERSION,      /* refuses the hello */
        FAKE_WRONG_ID,     /* answers with another id */
        FAKE_FD_ON_DELETE, /* attaches a descriptor to a delete reply */
        FAKE_DROP,         /* id-0 protocol error, then EOF */
        FAKE_EOF,          /* hangs up instead of answering */
        FAKE_OPEN,         /* answers opens as fake_open says */
        FAKE_LIST,         /* answers lists in pages of two */
        FAKE_LIST_STUCK,   /* answers every list with the same page */
        FAKE_CREATE,       /* creates, seals on mapped/publish as fake.refuse says */
};

struct fake_open {
        const char *name;   /* reported name */
        uint64_t reported;  /* reported size */
        uint64_t page_size;
        int sharing;
        off_t file_size;    /* real size of the memfd */
        unsigned seals;     /* seals added to the memfd */
        bool rdonly;        /* send an O_RDONLY reopen */
        bool pipe;          /* send a pipe instead */
};

static struct {
        int scenario;
        struct fake_open open;
        int listen_fd;
        char path[108];
        pthread_t thread;
        unsigned closes;    /* close requests seen */
        unsigned lists;
        unsigned deletes;
        int memfd;          /* FAKE_CREATE: the fake's own copy */
        bool refuse;        /* FAKE_CREATE: no seals on mapped; publish fails */
} fake;

static const char *const fake_names[] = { "l/a", "l/b", "l/c", "l/d", "l/e" };

static void fake_reply(int fd, const Pb *resp, int pass_fd) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = (void *)resp->b, .iov_len = resp->n };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (pass_fd >= 0) {
                struct cmsghdr *cmsg;

                memset(&control, 0, sizeof(control));
                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof(control.buf);
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
        }
        (void)sendmsg(fd, &mh, MSG_NOSIGNAL);
}

static void fake_region(Pb *region, const char *name, uint64_t size, uint64_t page_size, int sharing,
                        unsigned seals) {
        region->n = 0;
        pb_bytes(region, 1, name, strlen(name));
        pb_uint(region, 2, 7);
        pb_uint(region, 3, size);
        pb_uint(region, 4, page_size);
        pb_uint(region, 5, (uint64_t)sharing);
        pb_uint(region, 9, 0600);
        pb_uint(region, 11, seals);
        pb_uint(region, 13, 1);
        pb_uint(region, 14, 1);
}

static int fake_memfd(void) {
        const struct fake_open *o = &fake.open;
        int fd, ro;

        if (o->pipe) {
                int p[2];

                if (pipe2(p, O_CLOEXEC) < 0)
                        return -1;
                close(p[1]);
                return p[0];
        }
        fd = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -1;
        if (ftruncate(fd, o->file_size) < 0 || (o->seals && fcntl(fd, F_ADD_SEALS, o->seals) < 0)) {
                close(fd);
                return -1;
        }
        if (!o->rdonly)
                return fd;
        {
                char p[64];

                snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
                ro = open(p, O_RDONLY | O_CLOEXEC);
        }
        close(fd);
        return ro;
}

/* Byte order of a C string against counted bytes. */
static int name_cmp(const char *name, const uint8_t *b, size_t len) {
        size_t n = strlen(name);
        int d = memcmp(name, b, n < len ? n : len);

        if (d != 0)
                return d;
        return n < len ? -1 : n > len ? 1 : 0;
}

/* Closes are not answered, so the fake may count one a moment after the call returned. */
static bool fake_closes_reach(unsigned want) {
        for (int i = 0; i < 1000; i++) {
                if (__atomic_load_n(&fake.closes, __ATOMIC_SEQ_CST) >= want)
                        return __atomic_load_n(&fake.closes, __ATOMIC_SEQ_CST) == want;
                api_sleep_ms(1);
        }
        return false;
}

static void fake_answer_list(int fd, uint64_t id, const uint8_t *body, size_t body_len) {
        const uint8_t *after = (const uint8_t *)"";
        size_t after_len = 0, start = 0, count = 0;
        Pb list = { .n = 0 }, resp = { .n = 0 }, region;

        fake.lists++;
        (void)pb_find_bytes(body, body_len, 2, &after, &after_len);
        if (fake.scenario != FAKE_LIST_STUCK)
                while (start < 5 && name_cmp(fake_names[start], after, after_len) <= 0)
                        start++;
        for (size_t i = start; i < 5 && count < 2; i++, count++) {
                fake_region(&region, fake_names[i], 4096, 4096, 0, SEALS_BASE);
                pb_bytes(&list, 1, region.b, region.n);
        }
        if (start + count < 5) {
                const char *last = fake_names[start + count - 1];

                pb_uint(&list, 2, 1);
                pb_bytes(&list, 3, (const uint8_t *)last, strlen(last));
        }
        pb_uint(&resp, 1, id);
        pb_bytes(&resp, 16, list.b, list.n);
        fake_reply(fd, &resp, -1);
}

/*
 * Single-writer and immutable creation as the daemon will do it: the seals
 * go on at mapped/publish time, on the file the client already holds.
 */
static void fake_answer_create(int fd, uint64_t id, unsigned kind) {
        Pb resp = { .n = 0 }, body = { .n = 0 }, region;
        const struct fake_open *o = &fake.open;
        int send_fd = -1, seals;

        pb_uint(&resp, 1, id);
        if (kind == 11) {
                fake.memfd = memfd_create("fake-create", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                if (fake.memfd < 0 || ftruncate(fake.memfd, 4096) < 0 ||
                    fcntl(fake.memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
                        return;
                send_fd = fake.memfd;
        } else if (kind == 17 && !fake.refuse) {
                (void)fcntl(fake.memfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
        } else if (kind == 18) {
                char p[64];

                /* Fails EBUSY if the client kept a shared mapping of its writable fd. */
                if (fake.refuse || fcntl(fake.memfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                        pb_uint(&resp, 2, 12);
                        pb_bytes(&resp, 3, "fake cannot seal", 16);
                        fake_reply(fd, &resp, -1);
                        return;
                }
                snprintf(p, sizeof(p), "/proc/self/fd/%d", fake.memfd);
                send_fd = open(p, O_RDONLY | O_CLOEXEC);
        }

        seals = fcntl(fake.memfd, F_GET_SEALS);
        fake_region(&region, "x", 4096, 4096, o->sharing, seals < 0 ? 0 : (unsigned)seals);
        if (kind == 11)
                pb_uint(&body, 1, 5);
        pb_bytes(&body, kind == 11 ? 2 : 1, region.b, region.n);
        pb_bytes(&resp, kind, body.b, body.n);
        fake_reply(fd, &resp, send_fd);
        if (send_fd >= 0 && send_fd != fake.memfd)
                close(send_fd);
}

static void *fake_thread(void *arg) {
        static uint8_t buf[65536];
        int fd;

        (void)arg;
        fd = accept4(fake.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return NULL;

        for (;;) {
                Pb resp = { .n = 0 }, body = { .n = 0 }, region;
                const uint8_t *req_body = NULL;
                size_t req_body_len = 0;
                unsigned kind;
                uint64_t id;
                ssize_t n;
                int mfd;

                n = recv(fd, buf, sizeof(buf), 0);
                if (n <= 0 || !parse_request(buf, (size_t)n, &id, &kind))
                        break;
                (void)pb_find_bytes(buf, (size_t)n, kind, &req_body, &req_body_len);
                /* Request.release: handles closed since the last request, packed varints. */
                if (pb_find_bytes(buf, (size_t)n, 2, &req_body, &req_body_len)) {
                        uint64_t h;

                        for (size_t i = 0; i < req_body_len && pb_read_varint(req_body, req_body_len, &i, &h);)
                                __atomic_add_fetch(&fake.closes, 1, __ATOMIC_SEQ_CST);
                        (void)pb_find_bytes(buf, (size_t)n, kind, &req_body, &req_body_len);
                }

                if (kind == 10) {
                        if (fake.scenario == FAKE_VERSION) {
                                pb_uint(&resp, 1, id);
                                pb_uint(&resp, 2, 8);
                                pb_bytes(&resp, 3, "fake speaks version 2 only", 26);
                                fake_reply(fd, &resp, -1);
                                break;
                        }
                        pb_uint(&body, 1, 1);
                        pb_uint(&body, 2, 65536);
                        pb_uint(&resp, 1, id);
                        pb_bytes(&resp, 10, body.b, body.n);
                        fake_reply(fd, &resp, -1);
                        continue;
                }
                /* libshmbroker releases handles with CloseRequest.no_reply: count, answer nothing. */
                if (kind == 13) {
                        __atomic_add_fetch(&fake.closes, 1, __ATOMIC_SEQ_CST);
                        continue;
                }
                if (kind == 14)
                        fake.deletes++;

                switch (fake.scenario) {
                case FAKE_WRONG_ID:
                        pb_uint(&resp, 1, id + 1);
                        pb_bytes(&resp, 14, "", 0);
                        fake_reply(fd, &resp, -1);
                        continue;
                case FAKE_FD_ON_DELETE:
                        pb_uint(&resp, 1, id);
                        pb_bytes(&resp, 14, "", 0);
                        mfd = memfd_create("stray", MFD_CLOEXEC);
                        fake_reply(fd, &resp, mfd);
                        close(mfd);
                        continue;
                case FAKE_DROP:
                        pb_uint(&resp, 2, 9);
                        pb_bytes(&resp, 3, "fake daemon drops you", 21);
                        fake_reply(fd, &resp, -1);
                        goto out;
                case FAKE_EOF:
                        goto out;
                case FAKE_LIST:
                case FAKE_LIST_STUCK:
                        if (kind == 16) {
                                fake_answer_list(fd, id, req_body, req_body_len);
                                continue;
                        }
                        break;
                case FAKE_CREATE:
                        if (kind == 11 || kind == 17 || kind == 18) {
                                fake_answer_create(fd, id, kind);
                                continue;
                        }
                        break;
                case FAKE_OPEN:
                        if (kind == 12) {
                                const struct fake_open *o = &fake.open;

                                mfd = fake_memfd();
                                fake_region(&region, o->name, o->reported, o->page_size, o->sharing, o->seals);
                                pb_uint(&body, 1, 42);
                                pb_bytes(&body, 2, region.b, region.n);
                                pb_uint(&resp, 1, id);
                                pb_bytes(&resp, 12, body.b, body.n);
                                fake_reply(fd, &resp, mfd);
                                close(mfd);
                                continue;
                        }
                        break;
                default:
                        break;
                }

                /* Everything else succeeds with an empty body of its kind. */
                pb_uint(&resp, 1, id);
                pb_bytes(&resp, kind, "", 0);
                fake_reply(fd, &resp, -1);
        }
out:
        close(fd);
        if (fake.memfd >= 0)
                close(fake.memfd);
        fake.memfd = -1;
        return NULL;
}

static bool fake_start(int scenario) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        fake.scenario = scenario;
        fake.closes = 0;
        fake.lists = 0;
        fake.deletes = 0;
        fake.memfd = -1;
        snprintf(fake.path, sizeof(fake.path), "%s/fake.sock", tmpdir);
        unlink(fake.path);
        memcpy(sa.sun_path, fake.path, strlen(fake.path));
        fake.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fake.listen_fd < 0 || bind(fake.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(fake.listen_fd, 4) < 0)
                return false;
        return pthread_create(&fake.thread, NULL, fake_thread, NULL) == 0;
}

static void fake_stop(void) {
        (void)pthread_join(fake.thread, NULL);
        close(fake.listen_fd);
        unlink(fake.path);
}

/* Connects to a fresh fake; the caller disconnects and calls fake_stop(). */
static shmb_conn *fake_connect(int scenario) {
        shmb_conn *c = NULL;

        if (!CHECK(fake_start(scenario)))
                return NULL;
        if (!CHECK(shmb_connect(fake.path, &c) == 0)) {
                fake_stop();
                return NULL;
        }
        return c;
}

static int list_collect(const struct shmb_region_info *info, void *userdata) {
        char *out = userdata;

        strcat(out, info->name);
        strcat(out, " ");
        return 0;
}

struct open_case {
        const char *what;
        struct fake_open o;
        int access;
        int expect;
        const char *message; /* part of shmb_conn_error() on failure */
};

static const struct open_case open_cases[] = {
        { "good shared read-write", { "x", 8192, 4096, 0, 8192, SEALS_BASE, false, false },
          SHMB_READ_WRITE, 0, NULL },
        { "good shared read", { "x", 8192, 4096, 0, 8192, SEALS_BASE, true, false }, SHMB_READ, 0, NULL },
        { "file shorter than reported", { "x", 8192, 4096, 0, 4096, SEALS_BASE, false, false },
          SHMB_READ_WRITE, -EPROTO, "is 4096 bytes but the daemon reported 8192" },
        { "unsealed", { "x", 4096, 4096, 0, 4096, 0, false, false }, SHMB_READ_WRITE, -EPROTO, "seals" },
        { "no F_SEAL_SEAL", { "x", 4096, 4096, 0, 4096, F_SEAL_SHRINK | F_SEAL_GROW, false, false },
          SHMB_READ_WRITE, -EPROTO, "seals 0x6" },
        { "read handle that is O_RDWR", { "x", 4096, 4096, 0, 4096, SEALS_BASE, false, false }, SHMB_READ,
          -EPROTO, "O_RDWR but should be O_RDONLY" },
        { "read-write handle that is O_RDONLY", { "x", 4096, 4096, 0, 4096, SEALS_BASE, true, false },
          SHMB_READ_WRITE, -EPROTO, "O_RDONLY but should be O_RDWR" },
        { "pipe", { "x", 4096, 4096, 0, 4096, 0, false, true }, SHMB_READ, -EPROTO, "not a regular file" },
        { "another name", { "y", 4096, 4096, 0, 4096, SEALS_BASE, false, false }, SHMB_READ_WRITE, -EPROTO,
          "'y'" },
        { "size 0", { "x", 0, 4096, 0, 4096, SEALS_BASE, false, false }, SHMB_READ_WRITE, -EPROTO, "size of 0" },
        { "huge page size mismatch", { "x", 4096, 2u << 20, 0, 4096, SEALS_BASE, false, false },
          SHMB_READ_WRITE, -EPROTO, "huge page" },
        { "single-writer without FUTURE_WRITE", { "x", 4096, 4096, 1, 4096, SEALS_BASE, false, false },
          SHMB_READ_WRITE, -EPROTO, "seals" },
        { "single-writer", { "x", 4096, 4096, 1, 4096, SEALS_BASE | F_SEAL_FUTURE_WRITE, false, false },
          SHMB_READ_WRITE, 0, NULL },
        { "immutable without WRITE", { "x", 4096, 4096, 2, 4096, SEALS_BASE | F_SEAL_FUTURE_WRITE, true, false },
          SHMB_READ, -EPROTO, "seals" },
        { "immutable", { "x", 4096, 4096, 2, 4096, SEALS_BASE | F_SEAL_WRITE, false, false }, SHMB_READ_WRITE,
          0, NULL },
};

static void test_fake_open(const struct open_case *t) {
        shmb_region *r = NULL;
        shmb_conn *c;
        int n0 = fd_count_self(), ret;

        printf("# fake open: %s\n", t->what);
        fake.open = t->o;
        c = fake_connect(FAKE_OPEN);
        if (!c)
                return;

        ret = shmb_open(c, "x", t->access, 0, &r);
        CHECK_MSG(ret == t->expect, t->what);
        if (ret < 0) {
                printf("# %s\n", shmb_conn_error(c));
                CHECK(r == NULL);
                CHECK(t->message && strstr(shmb_conn_error(c), t->message));
                /* The handle the daemon gave is released again. */
                CHECK(fake_closes_reach(1));
        } else {
                bool writable = t->access == SHMB_READ_WRITE && !(t->o.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));

                CHECK(r && shmb_region_data(r) && shmb_region_size(r) == t->o.reported);
                CHECK((shmb_region_seals(r) & t->o.seals) == t->o.seals);
                CHECK(strcmp(shmb_region_info(r)->name, "x") == 0);
                CHECK(write_faults(shmb_region_data(r)) == !writable);
                if (writable)
                        ((volatile uint8_t *)shmb_region_data(r))[0] = 1;
                CHECK(shmb_close(r) == 0);
                /* A close waits for the next request; shmb_flush() sends it now. */
                CHECK(shmb_flush(c) == 0);
                CHECK(fake_closes_reach(1));
        }
        shmb_disconnect(c);
        fake_stop();
        CHECK(fd_count_self() == n0);
}

static void test_fake_create(void) {
        struct shmb_create_opts opts = { .struct_size = sizeof(opts), .size = 4096 };
        shmb_region *r = NULL;
        shmb_conn *c;
        int n0 = fd_count_self();
        void *p;

        /* single-writer: writable mapping first, then the seals, then success. */
        fake.open.sharing = opts.sharing = SHMB_SINGLE_WRITER;
        fake.refuse = false;
        c = fake_connect(FAKE_CREATE);
        if (c) {
                CHECK(shmb_create(c, "x", &opts, &r) == 0);
                if (r) {
                        CHECK(shmb_region_seals(r) & F_SEAL_FUTURE_WRITE);
                        CHECK(!write_faults(shmb_region_data(r)));
                        CHECK(shmb_publish(r) == -EINVAL);
                        CHECK(shmb_close(r) == 0);
                        r = NULL;
                }
                CHECK(shmb_flush(c) == 0);
                CHECK(fake_closes_reach(1) && fake.deletes == 0);
                shmb_disconnect(c);
                fake_stop();
        }

        /* A daemon that does not seal after mapped: refused, and the create undone. */
        fake.refuse = true;
        c = fake_connect(FAKE_CREATE);
        if (c) {
                CHECK(shmb_create(c, "x", &opts, &r) == -EPROTO);
                CHECK(strstr(shmb_conn_error(c), "future-write"));
                CHECK(r == NULL);
                CHECK(fake_closes_reach(1) && fake.deletes == 1);
                shmb_disconnect(c);
                fake_stop();
        }

        /* immutable: fill, publish, read-only afterwards. */
        fake.open.sharing = opts.sharing = SHMB_IMMUTABLE;
        fake.refuse = false;
        c = fake_connect(FAKE_CREATE);
        if (c) {
                CHECK(shmb_create(c, "x", &opts, &r) == 0);
                if (r) {
                        CHECK(!(shmb_region_seals(r) & F_SEAL_WRITE));
                        fill(shmb_region_data(r), 4096, 3);
                        CHECK(shmb_publish(r) == 0);
                        CHECK(shmb_region_seals(r) & F_SEAL_WRITE);
                        CHECK((fcntl(shmb_region_fd(r), F_GETFL) & O_ACCMODE) == O_RDONLY);
                        CHECK(shmb_region_data(r) && filled(shmb_region_data(r), 4096, 3));
                        CHECK(write_faults(shmb_region_data(r)));
                        CHECK(shmb_publish(r) == -EINVAL);
                        CHECK(shmb_close(r) == 0);
                        r = NULL;
                }
                shmb_disconnect(c);
                fake_stop();
        }

        /* A refused publish gives the creator its writable mapping back. */
        fake.refuse = true;
        c = fake_connect(FAKE_CREATE);
        if (c) {
                CHECK(shmb_create(c, "x", &opts, &r) == 0);
                if (r) {
                        fill(shmb_region_data(r), 4096, 4);
                        p = shmb_region_data(r);
                        CHECK(shmb_publish(r) == -EBUSY);
                        CHECK(strstr(shmb_conn_error(c), "fake cannot seal"));
                        CHECK(shmb_region_data(r) == p);
                        CHECK(filled(shmb_region_data(r), 4096, 4));
                        CHECK(!write_faults(shmb_region_data(r)));
                        CHECK(shmb_close(r) == 0);
                        r = NULL;
                }
                shmb_disconnect(c);
                fake_stop();
        }
        fake.open.sharing = 0;
        fake.refuse = false;
        CHECK(fd_count_self() == n0);
}

static void test_fake(void) {
        struct shmb_create_opts opts = { .struct_size = sizeof(opts), .size = 4096 };
        struct shmb_region_info info;
        char names[256];
        shmb_region *r = NULL;
        shmb_conn *c;
        int n0 = fd_count_self(), n1;

        /* Version refused at hello: the daemon's message reaches the caller. */
        CHECK(fake_start(FAKE_VERSION));
        c = NULL;
        CHECK(shmb_connect(fake.path, &c) == -EPROTONOSUPPORT);
        CHECK(c == NULL);
        CHECK(strstr(shmb_conn_error(NULL), "fake speaks version 2 only"));
        fake_stop();

        /* Local argument checks on a live connection. */
        c = fake_connect(FAKE_NORMAL);
        if (c) {
                struct shmb_create_opts small = opts, bad = opts;

                CHECK(shmb_conn_fd(c) >= 0);
                CHECK(shmb_conn_error(c)[0] == 0);
                CHECK(shmb_create(c, NULL, &opts, &r) == -EINVAL);
                CHECK(shmb_create(c, "a", NULL, &r) == -EINVAL);
                CHECK(shmb_create(c, "a", &opts, NULL) == -EINVAL);
                CHECK(shmb_create(c, "../a", &opts, &r) == -EINVAL);
                CHECK(shmb_conn_error(c)[0] != 0);
                CHECK(shmb_create(c, "", &opts, &r) == -EINVAL);
                small.struct_size = offsetof(struct shmb_create_opts, flags);
                CHECK(shmb_create(c, "a", &small, &r) == -EINVAL);
                CHECK(strstr(shmb_conn_error(c), "struct_size"));
                bad.size = 0;
                CHECK(shmb_create(c, "a", &bad, &r) == -EINVAL);
                bad = opts;
                bad.sharing = 3;
                CHECK(shmb_create(c, "a", &bad, &r) == -EINVAL);
                bad = opts;
                bad.lifetime = -1;
                CHECK(shmb_create(c, "a", &bad, &r) == -EINVAL);
                bad = opts;
                bad.flags = 1u << 7;
                CHECK(shmb_create(c, "a", &bad, &r) == -EINVAL);
                bad = opts;
                bad.mode = 01777;
                CHECK(shmb_create(c, "a", &bad, &r) == -EINVAL);
                bad = opts;
                bad.page_size = 8192;
                CHECK(shmb_create(c, "a", &bad, &r) == -EINVAL);
                CHECK(shmb_open(c, "a", 0, 0, &r) == -EINVAL);
                CHECK(shmb_open(c, "a", 3, 0, &r) == -EINVAL);
                CHECK(shmb_open(c, "a", SHMB_READ, 0, NULL) == -EINVAL);
                CHECK(shmb_open(c, "a b", SHMB_READ, 0, &r) == -EINVAL);
                CHECK(shmb_stat(c, "a", NULL) == -EINVAL);
                CHECK(shmb_stat(c, NULL, &info) == -EINVAL);
                CHECK(shmb_delete(c, NULL) == -EINVAL);
                CHECK(shmb_list(c, NULL, NULL, NULL) == -EINVAL);
                CHECK(r == NULL);
                /* The connection still works: the fake accepts deletes. */
                CHECK(shmb_delete(c, "a") == 0);
                shmb_disconnect(c);
                fake_stop();
        }

        /* A response to another request: protocol error, and the connection is gone. */
        c = fake_connect(FAKE_WRONG_ID);
        if (c) {
                CHECK(shmb_delete(c, "a") == -EPROTO);
                CHECK(strstr(shmb_conn_error(c), "id"));
                CHECK(shmb_delete(c, "a") == -ENOTCONN);
                shmb_disconnect(c);
                fake_stop();
        }

        /* A descriptor on a response that carries none: closed, refused. */
        n1 = fd_count_self();
        c = fake_connect(FAKE_FD_ON_DELETE);
        if (c) {
                CHECK(shmb_delete(c, "a") == -EPROTO);
                CHECK(strstr(shmb_conn_error(c), "descriptor"));
                shmb_disconnect(c);
                fake_stop();
                /* Counted once the fake's own copy is closed too. */
                CHECK(fd_count_self() == n1);
        }

        /* The daemon drops us with a reason (id 0). */
        c = fake_connect(FAKE_DROP);
        if (c) {
                CHECK(shmb_delete(c, "a") == -EPROTO);
                CHECK(strstr(shmb_conn_error(c), "fake daemon drops you"));
                CHECK(shmb_stat(c, "a", &info) == -ENOTCONN);
                shmb_disconnect(c);
                fake_stop();
        }

        /* The daemon hangs up. */
        c = fake_connect(FAKE_EOF);
        if (c) {
                CHECK(shmb_delete(c, "a") == -ENOTCONN);
                CHECK(strstr(shmb_conn_error(c), "closed the connection"));
                {
                        /* What an event loop would see. */
                        struct pollfd pfd = { .fd = shmb_conn_fd(c), .events = POLLIN };

                        CHECK(poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLIN | POLLHUP)));
                }
                shmb_disconnect(c);
                fake_stop();
        }

        /* Paged listing: three pages, each asked for after the last name. */
        c = fake_connect(FAKE_LIST);
        if (c) {
                names[0] = 0;
                CHECK(shmb_list(c, "l/", list_collect, names) == 0);
                CHECK(strcmp(names, "l/a l/b l/c l/d l/e ") == 0);
                CHECK(fake.lists == 3);
                shmb_disconnect(c);
                fake_stop();
        }

        /* A daemon that sends the same page again cannot make us loop. */
        c = fake_connect(FAKE_LIST_STUCK);
        if (c) {
                names[0] = 0;
                CHECK(shmb_list(c, NULL, list_collect, names) == -EPROTO);
                CHECK(fake.lists == 2);
                shmb_disconnect(c);
                fake_stop();
        }

        for (size_t i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++)
                test_fake_open(&open_cases[i]);
        test_fake_create();

        CHECK(fd_count_self() == n0);
}

/* ------------------------------------------------------------- real daemon */

static ApiDaemon srv;

/* In a child: its own connection, open read-write, check seed1, write seed2. */
static bool child_roundtrip(const char *name, size_t len, uint8_t seed1, uint8_t seed2) {
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return false;
        if (pid == 0) {
                shmb_region *r = NULL;
                shmb_conn *c = NULL;

                if (shmb_connect(srv.sock, &c) < 0 || shmb_open(c, name, SHMB_READ_WRITE, 0, &r) < 0)
                        _exit(2);
                if (shmb_region_size(r) < len || !filled(shmb_region_data(r), len, seed1))
                        _exit(3);
                fill(shmb_region_data(r), len, seed2);
                if (shmb_close(r) < 0)
                        _exit(4);
                shmb_disconnect(c);
                _exit(0);
        }
        if (waitpid(pid, &status, 0) != pid)
                return false;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct list_ctx {
        shmb_conn *c;
        unsigned n;
        unsigned stop_at;
        char names[512];
};

static int list_cb(const struct shmb_region_info *info, void *userdata) {
        struct list_ctx *ctx = userdata;
        struct shmb_region_info again;

        /* Calling back into the same connection must not deadlock. */
        if (shmb_stat(ctx->c, info->name, &again) < 0 || again.id != info->id)
                return -1000;
        ctx->n++;
        strcat(ctx->names, info->name);
        strcat(ctx->names, " ");
        return ctx->n == ctx->stop_at ? 77 : 0;
}

struct thread_ctx {
        shmb_conn *c;
        int failures;
};

static void *stat_thread(void *arg) {
        struct thread_ctx *t = arg;
        struct shmb_region_info info;

        for (unsigned i = 0; i < 200; i++)
                if (shmb_stat(t->c, "api/a", &info) < 0 || strcmp(info.name, "api/a") != 0)
                        t->failures++;
        return NULL;
}

static bool region_gone(shmb_conn *c, const char *name) {
        struct shmb_region_info info;

        /* A disconnect is processed by the daemon asynchronously. */
        for (unsigned i = 0; i < 200; i++) {
                if (shmb_stat(c, name, &info) == -ENOENT)
                        return true;
                api_sleep_ms(10);
        }
        return false;
}

static void test_daemon(const char *exe) {
        struct shmb_create_opts opts = {
                .struct_size = sizeof(opts),
                .size = 10000,
                .mode = 0644,
                .sharing = SHMB_SHARED,
                .lifetime = SHMB_PERSISTENT,
        };
        const struct shmb_region_info *ri;
        struct shmb_region_info info;
        shmb_region *ra = NULL, *rb = NULL, *rr = NULL, *r = NULL;
        shmb_conn *c = NULL, *c2 = NULL, *c3 = NULL;
        struct list_ctx lctx;
        int n0 = fd_count_self(), ret;

        if (!CHECK(api_daemon_start(&srv, exe, tmpdir, NULL))) {
                api_daemon_stop(&srv);
                return;
        }
        if (!CHECK(shmb_connect(srv.sock, &c) == 0) || !CHECK(shmb_connect(srv.sock, &c2) == 0))
                goto out;

        /* Create: mapped read-write, sealed against shrink/grow, size rounded up. */
        ret = shmb_create(c, "api/a", &opts, &ra);
        if (!CHECK(ret == 0)) {
                printf("# create: %s: %s\n", shmb_strerror(ret), shmb_conn_error(c));
                goto out;
        }
        CHECK(shmb_region_size(ra) >= 10000 && shmb_region_size(ra) % 4096 == 0);
        CHECK(shmb_region_page_size(ra) == 4096);
        CHECK((shmb_region_seals(ra) & SEALS_BASE) == SEALS_BASE);
        CHECK((fcntl(shmb_region_fd(ra), F_GETFL) & O_ACCMODE) == O_RDWR);
        ri = shmb_region_info(ra);
        CHECK(ri && strcmp(ri->name, "api/a") == 0 && ri->mode == 0644 && ri->requested_size == 10000);
        CHECK(!write_faults(shmb_region_data(ra)));
        fill(shmb_region_data(ra), 10000, 1);

        ret = shmb_create(c, "api/a", &opts, &r);
        CHECK(ret == -EEXIST);
        CHECK(r == NULL && shmb_conn_error(c)[0] != 0);
        printf("# create twice: %s\n", shmb_conn_error(c));

        CHECK(shmb_open(c, "api/none", SHMB_READ, 0, &r) == -ENOENT);

        /* Another connection reads it, through a mapping that faults on write. */
        ret = shmb_open(c2, "api/a", SHMB_READ, 0, &rr);
        if (CHECK(ret == 0)) {
                CHECK(shmb_region_size(rr) == shmb_region_size(ra));
                CHECK((fcntl(shmb_region_fd(rr), F_GETFL) & O_ACCMODE) == O_RDONLY);
                CHECK(filled(shmb_region_data(rr), 10000, 1));
                CHECK(write_faults(shmb_region_data(rr)));
        } else
                printf("# open read: %s\n", shmb_conn_error(c2));

        /* A child process sees our data and we see its. */
        CHECK(child_roundtrip("api/a", 10000, 1, 2));
        CHECK(filled(shmb_region_data(ra), 10000, 2));
        CHECK(rr && filled(shmb_region_data(rr), 10000, 2));

        /* Stat. */
        CHECK(shmb_stat(c2, "api/a", &info) == 0);
        CHECK(strcmp(info.name, "api/a") == 0 && info.size == shmb_region_size(ra));
        CHECK(info.id == ri->id && info.mode == 0644 && info.sharing == SHMB_SHARED);
        CHECK(info.holders >= 2);
        CHECK((info.seals & SEALS_BASE) == SEALS_BASE);
        CHECK(shmb_stat(c2, "api/none", &info) == -ENOENT);

        /* Listing, with callbacks that use the same connection. */
        opts.size = 4096;
        CHECK(shmb_create(c, "api/c", &opts, &r) == 0);
        CHECK(shmb_close(r) == 0);
        CHECK(shmb_create(c, "api/b", &opts, &rb) == 0);
        CHECK(shmb_create(c, "other", &opts, &r) == 0);
        CHECK(shmb_close(r) == 0);
        memset(&lctx, 0, sizeof(lctx));
        lctx.c = c;
        CHECK(shmb_list(c, "api/", list_cb, &lctx) == 0);
        CHECK(strcmp(lctx.names, "api/a api/b api/c ") == 0);
        memset(&lctx, 0, sizeof(lctx));
        lctx.c = c;
        lctx.stop_at = 2;
        CHECK(shmb_list(c, NULL, list_cb, &lctx) == 77);
        CHECK(lctx.n == 2);
        memset(&lctx, 0, sizeof(lctx));
        lctx.c = c;
        CHECK(shmb_list(c, "nothing-here", list_cb, &lctx) == 0 && lctx.n == 0);

        /* Calls from several threads on one connection. */
        {
                struct thread_ctx t[4];
                pthread_t th[4];

                for (unsigned i = 0; i < 4; i++) {
                        t[i] = (struct thread_ctx){ .c = c2 };
                        CHECK(pthread_create(&th[i], NULL, stat_thread, &t[i]) == 0);
                }
                for (unsigned i = 0; i < 4; i++) {
                        pthread_join(th[i], NULL);
                        CHECK(t[i].failures == 0);
                }
        }

        /* Delete: the name goes, mappings stay. */
        CHECK(shmb_delete(c, "api/a") == 0);
        CHECK(shmb_stat(c, "api/a", &info) == -ENOENT);
        CHECK(shmb_open(c2, "api/a", SHMB_READ, 0, &r) == -ENOENT);
        CHECK(filled(shmb_region_data(ra), 10000, 2));
        CHECK(shmb_delete(c, "api/a") == -ENOENT);
        CHECK(shmb_close(ra) == 0);
        ra = NULL;
        CHECK(shmb_close(rr) == 0);
        rr = NULL;
        CHECK(shmb_delete(c, "api/c") == 0);
        CHECK(shmb_delete(c, "other") == 0);

        /* Owner lifetime: gone with the creating connection. */
        if (CHECK(shmb_connect(srv.sock, &c3) == 0)) {
                opts.lifetime = SHMB_OWNER;
                CHECK(shmb_create(c3, "api/owner", &opts, &r) == 0);
                CHECK(shmb_stat(c, "api/owner", &info) == 0 && info.lifetime == SHMB_OWNER);
                /* Disconnect first: the region must survive as a plain mapping. */
                shmb_disconnect(c3);
                c3 = NULL;
                CHECK(region_gone(c, "api/owner"));
                CHECK(r && shmb_region_data(r) != NULL);
                fill(shmb_region_data(r), 4096, 9);
                CHECK(shmb_close(r) == 0);
                r = NULL;
        }

        /* Refcounted: gone with the last handle. */
        opts.lifetime = SHMB_REFCOUNTED;
        if (CHECK(shmb_create(c, "api/ref", &opts, &r) == 0)) {
                shmb_region *r2 = NULL;

                CHECK(shmb_open(c2, "api/ref", SHMB_READ_WRITE, 0, &r2) == 0);
                CHECK(shmb_close(r) == 0);
                CHECK(shmb_stat(c, "api/ref", &info) == 0);
                CHECK(shmb_close(r2) == 0);
                CHECK(shmb_stat(c, "api/ref", &info) == -ENOENT);
                r = NULL;
        }

        /* Single-writer: only the creator's mapping writes; nobody else opens for writing. */
        opts.lifetime = SHMB_PERSISTENT;
        opts.sharing = SHMB_SINGLE_WRITER;
        ret = shmb_create(c, "api/sw", &opts, &r);
        CHECK(ret == 0);
        if (ret == 0) {
                shmb_region *r2 = NULL;

                CHECK(shmb_region_seals(r) & F_SEAL_FUTURE_WRITE);
                CHECK(!write_faults(shmb_region_data(r)));
                fill(shmb_region_data(r), 4096, 7);
                CHECK(shmb_open(c2, "api/sw", SHMB_READ_WRITE, 0, &r2) == -EACCES);
                CHECK(shmb_open(c2, "api/sw", SHMB_READ, 0, &r2) == 0);
                CHECK(r2 && write_faults(shmb_region_data(r2)));
                CHECK(r2 && filled(shmb_region_data(r2), 4096, 7));
                CHECK(shmb_close(r2) == 0);
                CHECK(shmb_close(r) == 0);
                CHECK(shmb_delete(c, "api/sw") == 0);
        } else
                printf("# single-writer: %s\n", shmb_conn_error(c));
        r = NULL;

        opts.sharing = SHMB_IMMUTABLE;
        ret = shmb_create(c, "api/imm", &opts, &r);
        CHECK(ret == 0);
        if (ret == 0) {
                shmb_region *r2 = NULL;

                CHECK(shmb_open(c2, "api/imm", SHMB_READ, 0, &r2) == -ETIMEDOUT);
                fill(shmb_region_data(r), 4096, 5);
                CHECK(shmb_publish(r) == 0);
                CHECK(shmb_region_seals(r) & F_SEAL_WRITE);
                CHECK(filled(shmb_region_data(r), 4096, 5));
                CHECK(write_faults(shmb_region_data(r)));
                CHECK(shmb_publish(r) == -EINVAL);
                CHECK(shmb_open(c2, "api/imm", SHMB_READ, 0, &r2) == 0);
                CHECK(r2 && filled(shmb_region_data(r2), 4096, 5));
                CHECK(shmb_close(r2) == 0);
                CHECK(shmb_close(r) == 0);
                CHECK(shmb_delete(c, "api/imm") == 0);
        } else
                printf("# immutable: %s\n", shmb_conn_error(c));
        r = NULL;

        /* Publish refuses what is not an immutable region of its creator. */
        CHECK(shmb_publish(rb) == -EINVAL);

        /* Regions outlive their connection's disconnect. */
        shmb_disconnect(c);
        c = NULL;
        CHECK(shmb_region_data(rb) != NULL);
        CHECK(shmb_publish(rb) == -ENOTCONN);
        CHECK(shmb_close(rb) == 0);
        rb = NULL;
        CHECK(shmb_delete(c2, "api/b") == 0);

out:
        shmb_close(ra);
        shmb_close(rb);
        shmb_close(rr);
        shmb_disconnect(c);
        shmb_disconnect(c2);
        shmb_disconnect(c3);
        CHECK(api_daemon_stop(&srv));
        CHECK(access(srv.sock, F_OK) < 0);
        CHECK(fd_count_self() == n0);
}

int main(void) {
        const char *exe = getenv("SHMBROKERD");

        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }

        test_no_daemon();
        test_fake();
        if (exe && exe[0])
                test_daemon(exe);
        else
                tap_skip("SHMBROKERD not set: no tests against the real daemon");

        (void)rmdir(tmpdir);
        return tap_done();
}
