/* SPDX-License-Identifier: MIT */
/*
 * Integration-test harness (see harness.h). The daemon is a child of the test
 * program so that its exit status can be checked: a crash anywhere in a test
 * program, or a non-zero status at SIGTERM, fails the run. Its fds are
 * counted from /proc after every test; the count is only compared once the
 * daemon had time to notice disconnects, since that happens asynchronously.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define HARNESS_START_TIMEOUT_MS 5000
#define HARNESS_STOP_TIMEOUT_MS 10000
/* $SHMBROKERD_WRAPPER (e.g. valgrind) slows the daemon down this much. */
#define HARNESS_WRAPPER_SLOWDOWN 10
#define HARNESS_CHILD_SETUP_FAILED 98

const struct harness_creds harness_nobody = {
        .uid = HARNESS_NOBODY,
        .gid = HARNESS_NOBODY,
        .n_groups = 0,
        .groups = NULL,
};

static struct {
        const char *binary;
        pid_t pid;
        bool reaped;
        int status;         /* as harness_pid_wait() returns it, once reaped */
        int baseline;
        bool fd_check;      /* false when /proc/PID/fd cannot be read (not root) */
        char tmpdir[64];
        char socket_path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
} daemon_state = {
        .baseline = -1,
};

static char skip_reason[256];

/* ---- small things ------------------------------------------------------ */

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
        struct timespec ts = {
                .tv_sec = ms / 1000,
                .tv_nsec = (ms % 1000) * 1000000L,
        };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

void harness_log(const char *fmt, ...) {
        char buf[2048];
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fprintf(stderr, "# %s\n", buf);
        errno = saved;
}

int harness_skip(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
        va_end(ap);
        return HARNESS_SKIP;
}

const char *harness_errname(long long v) {
        const char *s;

        if (v >= 0 || v <= -4096)
                return "";
        s = strerrorname_np((int)-v);
        return s ? s : "(unknown errno)";
}

bool harness_is_root(void) {
        return geteuid() == 0;
}

static const char *wrapper(void) {
        const char *w = getenv("SHMBROKERD_WRAPPER");

        return w && *w ? w : NULL;
}

int harness_slowdown(void) {
        return wrapper() ? HARNESS_WRAPPER_SLOWDOWN : 1;
}

static int status_decode(int st) {
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        if (WIFSIGNALED(st))
                return -WTERMSIG(st);
        return -EIO;
}

static const char *status_describe(int s, char *buf, size_t len) {
        if (s == -ETIMEDOUT)
                snprintf(buf, len, "did not exit in time (killed)");
        else if (s < 0)
                snprintf(buf, len, "killed by signal %d (%s)", -s, strsignal(-s));
        else
                snprintf(buf, len, "exit status %d", s);
        return buf;
}

int harness_pid_wait(pid_t pid, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms;
        int st;

        for (;;) {
                pid_t p = waitpid(pid, &st, WNOHANG);

                if (p == pid)
                        return status_decode(st);
                if (p < 0 && errno != EINTR)
                        return -errno;
                if (now_ms() >= deadline)
                        break;
                sleep_ms(2);
        }

        (void)kill(pid, SIGKILL);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return -ETIMEDOUT;
}

/* ---- the daemon ------------------------------------------------------- */

int harness_spawn_daemon(const char *const *args, pid_t *ret_pid) {
        _cleanup_free_ char *wrap = NULL;
        const char **argv;
        size_t n = 0, n_wrap = 0;
        char *saveptr = NULL;
        pid_t pid;

        if (!daemon_state.binary)
                daemon_state.binary = getenv("SHMBROKERD");
        if (!daemon_state.binary || !*daemon_state.binary)
                return -ENOENT;

        /* The wrapper's words (split at spaces) go before the binary: "valgrind --opt ...". */
        if (wrapper()) {
                wrap = strdup(wrapper());
                if (!wrap)
                        return -ENOMEM;
                for (const char *p = wrap; *p; p++)
                        if (*p == ' ')
                                n_wrap++;
                n_wrap++;
        }
        while (args && args[n])
                n++;
        argv = calloc(n_wrap + n + 2, sizeof(*argv));
        if (!argv)
                return -ENOMEM;
        n_wrap = 0;
        for (char *w = wrap ? strtok_r(wrap, " ", &saveptr) : NULL; w; w = strtok_r(NULL, " ", &saveptr))
                argv[n_wrap++] = w;
        argv[n_wrap] = daemon_state.binary;
        for (size_t i = 0; i < n; i++)
                argv[n_wrap + i + 1] = args[i];

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                free(argv);
                return r;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (null >= 0)
                        (void)dup2(null, STDIN_FILENO);
                /* A test program that dies must not leave a daemon behind. */
                (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
                /* Never let the daemon think it was socket-activated by whatever runs the tests. */
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                unsetenv("LISTEN_FDNAMES");
                unsetenv("NOTIFY_SOCKET");
                unsetenv("WATCHDOG_USEC");
                unsetenv("WATCHDOG_PID");
                unsetenv("SHMBROKER_SOCKET");
                execvp(argv[0], (char *const *)argv);
                fprintf(stderr, "# exec %s: %m\n", argv[0]);
                _exit(127);
        }

        free(argv);
        *ret_pid = pid;
        return 0;
}

int harness_exec_daemon(const char *const *args, int timeout_ms) {
        pid_t pid;
        int r;

        r = harness_spawn_daemon(args, &pid);
        if (r < 0)
                return r;
        return harness_pid_wait(pid, timeout_ms);
}

static int count_fds(pid_t pid) {
        char path[64];
        struct dirent *de;
        DIR *d;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

int harness_daemon_fd_count(void) {
        if (daemon_state.pid <= 0 || daemon_state.reaped)
                return -ESRCH;
        return count_fds(daemon_state.pid);
}

int harness_daemon_fd_baseline(void) {
        return daemon_state.baseline;
}

int harness_wait_fd_baseline(int timeout_ms, int *ret_count) {
        long long deadline = now_ms() + (long long)timeout_ms * harness_slowdown();
        int n;

        if (!daemon_state.fd_check) {
                if (ret_count)
                        *ret_count = daemon_state.baseline;
                return 0;
        }

        for (;;) {
                n = harness_daemon_fd_count();
                if (n == daemon_state.baseline || now_ms() >= deadline)
                        break;
                sleep_ms(5);
        }
        if (ret_count)
                *ret_count = n;
        return n == daemon_state.baseline ? 0 : -ETIMEDOUT;
}

pid_t harness_daemon_pid(void) {
        return daemon_state.pid;
}

const char *harness_socket_path(void) {
        return daemon_state.socket_path;
}

const char *harness_tmpdir(void) {
        return daemon_state.tmpdir;
}

bool harness_daemon_alive(void) {
        int st;

        if (daemon_state.pid <= 0 || daemon_state.reaped)
                return false;
        if (waitpid(daemon_state.pid, &st, WNOHANG) == daemon_state.pid) {
                char buf[64];

                daemon_state.reaped = true;
                daemon_state.status = status_decode(st);
                harness_log("daemon (pid %d) is gone: %s", (int)daemon_state.pid,
                            status_describe(daemon_state.status, buf, sizeof(buf)));
                return false;
        }
        return true;
}

/* Waits until the daemon's fd count stops changing, for a meaningful baseline. */
static int settle_fd_count(int above) {
        long long deadline = now_ms() + 1000LL * harness_slowdown();
        int n, last = -1, same = 0;

        while (now_ms() < deadline) {
                n = harness_daemon_fd_count();
                if (n < 0)
                        return n;
                if (n < above) {
                        if (n == last)
                                same++;
                        else
                                same = 0;
                        if (same >= 3)
                                return n;
                }
                last = n;
                sleep_ms(10);
        }
        return last;
}

int harness_daemon_start(const char *const *args) {
        const char **argv;
        long long deadline;
        size_t n = 0;
        int fd = -1, r, with_conn;

        snprintf(daemon_state.tmpdir, sizeof(daemon_state.tmpdir), "/tmp/shmbroker-it.XXXXXX");
        if (!mkdtemp(daemon_state.tmpdir)) {
                r = -errno;
                harness_log("mkdtemp: %m");
                return r;
        }
        /* Tests connect as other uids too; the socket itself is 0666. */
        if (chmod(daemon_state.tmpdir, 0755) < 0) {
                r = -errno;
                harness_log("chmod %s: %m", daemon_state.tmpdir);
                return r;
        }
        snprintf(daemon_state.socket_path, sizeof(daemon_state.socket_path), "%s/sock",
                 daemon_state.tmpdir);

        while (args && args[n])
                n++;
        argv = calloc(n + 3, sizeof(*argv));
        if (!argv)
                return -ENOMEM;
        argv[0] = "--socket";
        argv[1] = daemon_state.socket_path;
        for (size_t i = 0; i < n; i++)
                argv[i + 2] = args[i];

        r = harness_spawn_daemon(argv, &daemon_state.pid);
        free(argv);
        if (r < 0) {
                harness_log("cannot start the daemon: %s", strerror(-r));
                return r;
        }
        daemon_state.reaped = false;

        deadline = now_ms() + (long long)HARNESS_START_TIMEOUT_MS * harness_slowdown();
        for (;;) {
                if (!harness_daemon_alive()) {
                        harness_log("the daemon exited before accepting connections");
                        return -ESRCH;
                }
                fd = harness_raw_connect();
                if (fd >= 0)
                        break;
                if (now_ms() >= deadline) {
                        harness_log("no connect() to %s within %d ms: %s", daemon_state.socket_path,
                                    HARNESS_START_TIMEOUT_MS * harness_slowdown(), strerror(-fd));
                        (void)harness_daemon_stop();
                        return -ETIMEDOUT;
                }
                sleep_ms(10);
        }

        /* A full hello proves the event loop runs; then measure the idle fd count. */
        r = harness_raw_hello(fd, 1);
        with_conn = harness_daemon_fd_count();
        safe_close(fd);
        if (r < 0) {
                harness_log("the daemon did not answer hello");
                (void)harness_daemon_stop();
                return -EPROTO;
        }
        if (with_conn == -EACCES || with_conn == -EPERM) {
                /* A non-dumpable daemon's /proc/PID/fd is root's; CI runs as root. */
                harness_log("cannot read /proc/%d/fd as uid %u: fd-leak checks disabled",
                            (int)daemon_state.pid, (unsigned)geteuid());
                daemon_state.fd_check = false;
                daemon_state.baseline = -1;
                return 0;
        }
        daemon_state.fd_check = true;
        daemon_state.baseline = settle_fd_count(with_conn);
        if (daemon_state.baseline < 0 || daemon_state.baseline >= with_conn) {
                harness_log("the daemon's fd count did not drop after a disconnect (%d, then %d)",
                            with_conn, daemon_state.baseline);
                (void)harness_daemon_stop();
                return -EIO;
        }
        return 0;
}

int harness_daemon_stop(void) {
        char buf[64];
        int ok = 0;

        if (daemon_state.pid <= 0)
                return -ESRCH;

        if (harness_daemon_alive()) {
                if (kill(daemon_state.pid, SIGTERM) < 0)
                        harness_log("kill(SIGTERM): %m");
                daemon_state.status = harness_pid_wait(daemon_state.pid, HARNESS_STOP_TIMEOUT_MS * harness_slowdown());
                daemon_state.reaped = true;
        }
        if (daemon_state.status != 0) {
                harness_log("daemon (pid %d) %s, expected exit status 0", (int)daemon_state.pid,
                            status_describe(daemon_state.status, buf, sizeof(buf)));
                ok = -1;
        }

        if (access(daemon_state.socket_path, F_OK) == 0) {
                harness_log("the daemon left its socket %s behind", daemon_state.socket_path);
                (void)unlink(daemon_state.socket_path);
                ok = -1;
        }
        if (rmdir(daemon_state.tmpdir) < 0)
                harness_log("rmdir %s: %m", daemon_state.tmpdir);

        return ok;
}

/* ---- children ---------------------------------------------------------- */

static void close_all_but(int a, int b) {
        int lo = MIN(a, b), hi = MAX(a, b);

        if (lo > 3)
                (void)close_range(3, (unsigned)lo - 1, 0);
        if (hi > lo + 1)
                (void)close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
        (void)close_range((unsigned)hi + 1, ~0U, 0);
}

static int drop_privileges(const struct harness_creds *creds) {
        if (setgroups(creds->n_groups, creds->groups) < 0) {
                harness_log("child: setgroups: %m");
                return -1;
        }
        if (setresgid(creds->gid, creds->gid, creds->gid) < 0) {
                harness_log("child: setresgid(%u): %m", (unsigned)creds->gid);
                return -1;
        }
        if (setresuid(creds->uid, creds->uid, creds->uid) < 0) {
                harness_log("child: setresuid(%u): %m", (unsigned)creds->uid);
                return -1;
        }
        return 0;
}

int harness_child_start(struct harness_child *ret, const struct harness_creds *creds,
                        harness_child_fn fn, void *userdata) {
        int to_child[2], from_child[2];
        pid_t pid;
        int r;

        if (pipe2(to_child, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(from_child, O_CLOEXEC) < 0) {
                r = -errno;
                safe_close(to_child[0]);
                safe_close(to_child[1]);
                return r;
        }

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                safe_close(to_child[0]);
                safe_close(to_child[1]);
                safe_close(from_child[0]);
                safe_close(from_child[1]);
                return r;
        }
        if (pid == 0) {
                struct harness_chan chan = {
                        .rfd = to_child[0],
                        .wfd = from_child[1],
                };

                /* The parent's connections stay the parent's: the daemon must see them close. */
                close_all_but(chan.rfd, chan.wfd);
                if (creds && drop_privileges(creds) < 0)
                        _exit(HARNESS_CHILD_SETUP_FAILED);
                /* After the uid change, which resets it. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        _exit(HARNESS_CHILD_SETUP_FAILED);
                r = fn(&chan, userdata);
                fflush(stdout);
                fflush(stderr);
                _exit(r == 0 ? 0 : 1);
        }

        safe_close(to_child[0]);
        safe_close(from_child[1]);
        ret->pid = pid;
        ret->chan.rfd = from_child[0];
        ret->chan.wfd = to_child[1];
        return 0;
}

int harness_child_wait(struct harness_child *ch, int timeout_ms) {
        char buf[64];
        int r;

        if (ch->pid <= 0)
                return -ESRCH;
        r = harness_pid_wait(ch->pid, timeout_ms);
        if (r != 0)
                harness_log("child %d %s", (int)ch->pid, status_describe(r, buf, sizeof(buf)));
        ch->pid = 0;
        ch->chan.rfd = safe_close(ch->chan.rfd);
        ch->chan.wfd = safe_close(ch->chan.wfd);
        return r;
}

void harness_child_killp(struct harness_child *ch) {
        if (ch->pid > 0) {
                (void)kill(ch->pid, SIGKILL);
                while (waitpid(ch->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                ch->pid = 0;
        }
        ch->chan.rfd = safe_close(ch->chan.rfd);
        ch->chan.wfd = safe_close(ch->chan.wfd);
}

int harness_run_child(const struct harness_creds *creds, harness_child_fn fn, void *userdata) {
        struct harness_child ch = HARNESS_CHILD_NULL;
        int r;

        r = harness_child_start(&ch, creds, fn, userdata);
        if (r < 0)
                return r;
        return harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS);
}

int harness_chan_send(struct harness_chan *ch, char c) {
        ssize_t n;

        do
                n = write(ch->wfd, &c, 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return n == 1 ? 0 : -EIO;
}

int harness_chan_recv(struct harness_chan *ch, char *ret, int timeout_ms) {
        struct pollfd p = {
                .fd = ch->rfd,
                .events = POLLIN,
        };
        ssize_t n;
        int r;

        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;

        do
                n = read(ch->rfd, ret, 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return n == 1 ? 0 : -EPIPE;
}

int harness_chan_expect(struct harness_chan *ch, char c) {
        char got = 0;
        int r;

        r = harness_chan_recv(ch, &got, HARNESS_CHILD_TIMEOUT_MS);
        if (r < 0) {
                harness_log("channel: waiting for '%c': %s", c, strerror(-r));
                return -1;
        }
        if (got != c) {
                harness_log("channel: expected '%c', got '%c'", c, got);
                return -1;
        }
        return 0;
}

/* ---- library helpers --------------------------------------------------- */

int harness_connect(shmb_conn **ret) {
        return shmb_connect(daemon_state.socket_path, ret);
}

struct shmb_create_opts harness_opts(uint64_t size, uint32_t mode, int lifetime) {
        struct shmb_create_opts o = {
                .struct_size = sizeof(o),
                .size = size,
                .page_size = 0,
                .mode = mode,
                .sharing = SHMB_SHARED,
                .lifetime = lifetime,
                .flags = 0,
        };
        return o;
}

int harness_wait_gone(shmb_conn *c, const char *name, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms;
        struct shmb_region_info info;
        int r;

        for (;;) {
                r = shmb_stat(c, name, &info);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
                if (now_ms() >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(5);
        }
}

int harness_wait_holders(shmb_conn *c, const char *name, uint32_t n, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms;
        struct shmb_region_info info;
        int r;

        for (;;) {
                r = shmb_stat(c, name, &info);
                if (r < 0)
                        return r;
                if (info.holders == n)
                        return 0;
                if (now_ms() >= deadline) {
                        harness_log("%s: %u holders, waited for %u", name, info.holders, n);
                        return -ETIMEDOUT;
                }
                sleep_ms(5);
        }
}

struct name_list {
        char **names;
        size_t n, allocated;
};

static int collect_name(const struct shmb_region_info *info, void *userdata) {
        struct name_list *l = userdata;

        if (l->n == l->allocated) {
                size_t a = l->allocated ? l->allocated * 2 : 64;
                char **p = realloc(l->names, a * sizeof(*p));

                if (!p)
                        return -ENOMEM;
                l->names = p;
                l->allocated = a;
        }
        l->names[l->n] = strdup(info->name);
        if (!l->names[l->n])
                return -ENOMEM;
        l->n++;
        return 0;
}

int harness_delete_all_regions(void) {
        _cleanup_conn_ shmb_conn *c = NULL;
        struct name_list l = { NULL, 0, 0 };
        int r, deleted = 0;

        r = harness_connect(&c);
        if (r < 0)
                return r;
        r = shmb_list(c, NULL, collect_name, &l);
        for (size_t i = 0; i < l.n; i++) {
                if (r >= 0 && shmb_delete(c, l.names[i]) == 0)
                        deleted++;
                free(l.names[i]);
        }
        free(l.names);
        return r < 0 ? r : deleted;
}

static inline uint8_t pattern_byte(size_t i, unsigned seed) {
        uint32_t x = (uint32_t)i * 2654435761u;

        x ^= (uint32_t)(i >> 12) * 40503u;
        x ^= seed * 0x9e3779b9u;
        x ^= x >> 15;
        return (uint8_t)(x ^ (x >> 8) ^ (x >> 24));
}

void harness_fill(void *p, size_t len, unsigned seed) {
        uint8_t *b = p;

        for (size_t i = 0; i < len; i++)
                b[i] = pattern_byte(i, seed);
}

bool harness_verify(const void *p, size_t len, unsigned seed) {
        const uint8_t *b = p;

        for (size_t i = 0; i < len; i++)
                if (b[i] != pattern_byte(i, seed)) {
                        harness_log("content differs at offset %zu (page %zu): 0x%02x, expected 0x%02x "
                                    "(seed %u)", i, i / 4096, b[i], pattern_byte(i, seed), seed);
                        return false;
                }
        return true;
}

bool harness_is_zero(const void *p, size_t len) {
        const uint8_t *b = p;

        for (size_t i = 0; i < len; i++)
                if (b[i] != 0)
                        return false;
        return true;
}

int harness_mapping_perms(const void *addr, char ret[5]) {
        unsigned long a = (unsigned long)addr;
        char line[512];
        FILE *f;
        int r = -ENOENT;

        f = fopen("/proc/self/maps", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned long lo, hi;
                char perms[5];

                if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3)
                        continue;
                if (a >= lo && a < hi) {
                        memcpy(ret, perms, 5);
                        r = 0;
                        break;
                }
        }
        fclose(f);
        return r;
}

int harness_fd_accmode(int fd) {
        int fl = fcntl(fd, F_GETFL);

        if (fl < 0)
                return -errno;
        return fl & O_ACCMODE;
}

int harness_mmap_result(int fd, size_t len, int prot, int flags) {
        void *p = mmap(NULL, len, prot, flags, fd, 0);

        if (p == MAP_FAILED)
                return -errno;
        (void)munmap(p, len);
        return 0;
}

int harness_child_open_check(struct harness_chan *chan, void *userdata) {
        const struct harness_open_check *o = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        char perms[5];
        int fd;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, o->name, o->access, 0, &r), o->expect);
        if (o->expect == -EACCES)
                CHECK_MSG(strcasestr(shmb_conn_error(c), "permission"),
                          "error message \"%s\" does not mention permission", shmb_conn_error(c));
        if (o->expect < 0)
                return 0;

        fd = shmb_region_fd(r);
        CHECK_INT(harness_fd_accmode(fd), o->access == SHMB_READ ? O_RDONLY : O_RDWR);
        CHECK_INT(shmb_region_seals(r) & HARNESS_SHARED_SEALS, HARNESS_SHARED_SEALS);
        CHECK_INT(harness_mapping_perms(shmb_region_data(r), perms), 0);
        CHECK_MSG(strcmp(perms, o->access == SHMB_READ ? "r--s" : "rw-s") == 0,
                  "mapping of %s is %s", o->name, perms);
        if (o->size)
                CHECK_INT(shmb_region_size(r), o->size);
        if (o->seed)
                CHECK(harness_verify(shmb_region_data(r), shmb_region_size(r), o->seed));
        if (o->write_seed)
                harness_fill(shmb_region_data(r), shmb_region_size(r), o->write_seed);
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

/* ---- raw protocol ------------------------------------------------------ */

int harness_raw_connect_path(const char *path) {
        struct sockaddr_un sa = {
                .sun_family = AF_UNIX,
        };
        size_t len = strlen(path);
        int fd;

        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, path, len + 1);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        return fd;
}

int harness_raw_connect(void) {
        return harness_raw_connect_path(daemon_state.socket_path);
}

int harness_raw_send(int fd, const WireRequest *req) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len;
        int r;

        buf = malloc(WIRE_MAX_PACKET);
        if (!buf)
                return -ENOMEM;
        r = wire_pack(&req->base, buf, WIRE_MAX_PACKET, &len);
        if (r < 0)
                return r;
        return wire_send(fd, buf, len, -1);
}

int harness_raw_send_bytes(int fd, const void *buf, size_t len) {
        ssize_t n;

        n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0)
                return -errno;
        return (size_t)n == len ? 0 : -EIO;
}

int harness_raw_recv(int fd, int timeout_ms, WireResponse **ret, int *ret_fd) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct pollfd p = {
                .fd = fd,
                .events = POLLIN,
        };
        WireResponse *resp;
        size_t len;
        int r, rfd = -1;

        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;

        buf = malloc(WIRE_MAX_PACKET);
        if (!buf)
                return -ENOMEM;
        r = wire_recv(fd, buf, WIRE_MAX_PACKET, &len, &rfd);
        if (r < 0)
                return r;

        resp = shmbroker__v1__response__unpack(NULL, len, buf);
        if (!resp) {
                safe_close(rfd);
                harness_log("undecodable response of %zu bytes", len);
                return -EBADMSG;
        }
        if (ret_fd)
                *ret_fd = rfd;
        else
                safe_close(rfd);
        *ret = resp;
        return 0;
}

int harness_raw_hello(int fd, uint64_t id) {
        _cleanup_response_ WireResponse *resp = NULL;
        Shmbroker__V1__HelloRequest hello = SHMBROKER__V1__HELLO_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        int r;

        hello.version = WIRE_PROTOCOL_VERSION;
        hello.client = (char *)"shmbroker-integration-test";
        req.id = id;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_HELLO;
        req.hello = &hello;

        r = harness_raw_send(fd, &req);
        if (r < 0) {
                harness_log("hello: send: %s", strerror(-r));
                return -1;
        }
        r = harness_raw_recv(fd, 5000, &resp, NULL);
        if (r < 0) {
                harness_log("hello: receive: %s", strerror(-r));
                return -1;
        }
        if (resp->id != id || resp->status != SHMBROKER__V1__STATUS__STATUS_OK ||
            resp->body_case != SHMBROKER__V1__RESPONSE__BODY_HELLO || !resp->hello) {
                harness_log("hello: id %llu status %d (%s) body %d: \"%s\"", (unsigned long long)resp->id,
                            (int)resp->status, wire_status_name((int)resp->status),
                            (int)resp->body_case, resp->error ? resp->error : "");
                return -1;
        }
        return 0;
}

int harness_raw_expect_closed(int fd, int timeout_ms) {
        _cleanup_response_ WireResponse *resp = NULL;
        int r;

        r = harness_raw_recv(fd, timeout_ms, &resp, NULL);
        if (r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN)
                return 0;
        if (r == 0) {
                harness_log("expected the daemon to close the connection, got a response: id %llu status %s "
                            "\"%s\"", (unsigned long long)resp->id, wire_status_name((int)resp->status),
                            resp->error ? resp->error : "");
                return -EBADMSG;
        }
        harness_log("expected the daemon to close the connection: %s", strerror(-r));
        return r;
}

/* ---- the runner --------------------------------------------------------- */

int harness_main(const struct harness_test *tests, size_t n_tests, const char *const *daemon_args) {
        const char *bin = getenv("SHMBROKERD");
        unsigned failed = 0;
        size_t i;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (!bin || !*bin) {
                printf("SKIP: SHMBROKERD not set\n");
                return HARNESS_SKIP;
        }
        daemon_state.binary = bin;
        /* Writes to a daemon that hung up must show up as EPIPE, not kill the test. */
        signal(SIGPIPE, SIG_IGN);

        if (harness_daemon_start(daemon_args) < 0) {
                printf("Bail out! cannot start %s\n", bin);
                return 1;
        }
        printf("1..%zu\n", n_tests + 1);
        harness_log("daemon %s pid %d on %s, %d fds when idle", bin, (int)daemon_state.pid,
                    daemon_state.socket_path, daemon_state.baseline);

        for (i = 0; i < n_tests; i++) {
                bool ok, skipped;
                int r, count;

                if (!harness_daemon_alive()) {
                        printf("not ok %zu - %s # the daemon is gone\n", i + 1, tests[i].name);
                        failed++;
                        continue;
                }

                harness_log("--- %s", tests[i].name);
                skip_reason[0] = 0;
                r = tests[i].fn();
                skipped = r == HARNESS_SKIP;
                ok = r == 0 || skipped;

                if (!harness_daemon_alive()) {
                        harness_log("%s: the daemon died during the test", tests[i].name);
                        ok = false;
                } else {
                        if (harness_wait_fd_baseline(1000, &count) < 0) {
                                harness_log("%s: the daemon holds %d fds after the test, %d at the baseline",
                                            tests[i].name, count, daemon_state.baseline);
                                ok = false;
                        }
                        if (!ok) {
                                /* Leave the next test a clean daemon, whatever this one left behind. */
                                r = harness_delete_all_regions();
                                (void)harness_wait_fd_baseline(1000, &count);
                                harness_log("cleanup after %s: deleted %d regions, daemon now holds %d fds "
                                            "(baseline %d)", tests[i].name, r, count, daemon_state.baseline);
                                /* A leak this test caused must not fail every later test too. */
                                if (daemon_state.fd_check && count >= 0 && count != daemon_state.baseline) {
                                        harness_log("the baseline moves from %d to %d fds for the remaining tests",
                                                    daemon_state.baseline, count);
                                        daemon_state.baseline = count;
                                }
                        }
                }

                if (!ok)
                        failed++;
                printf("%s %zu - %s%s%s\n", ok ? "ok" : "not ok", i + 1, tests[i].name,
                       ok && skipped ? " # SKIP " : "", ok && skipped ? skip_reason : "");
        }

        if (harness_daemon_stop() < 0) {
                printf("not ok %zu - daemon_stops_cleanly\n", n_tests + 1);
                failed++;
        } else
                printf("ok %zu - daemon_stops_cleanly\n", n_tests + 1);

        return failed ? 1 : 0;
}
