/* SPDX-License-Identifier: MIT */
/*
 * Integration-test harness: runs the built shmbrokerd (from $SHMBROKERD) on a
 * private socket, runs a program's test functions in order and, after each
 * one, checks that the daemon holds exactly the fds it held when it went
 * idle after start: every test must leave the daemon as it found it, so a
 * leaked memfd, connection or received fd shows up at the test that caused
 * it. Several contracts are about other processes and other uids (mappings
 * shared across processes, lifetimes tied to disconnects, access control),
 * so the harness also forks children that may drop to another uid and talk
 * to the parent over a small byte channel. A child never uses the parent's
 * connections: every fd it inherited is closed before its function runs.
 *
 * Output is TAP-like ("ok N - name"), diagnostics go to stderr as "# ..."
 * lines; the program exits 77 (meson: skipped) without $SHMBROKERD.
 */
#pragma once

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "shmbroker.h"
#include "wire.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
/* What every shared-mode handle must carry (SPEC 3, "Sharing modes"). */
#define HARNESS_SHARED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

#define HARNESS_SKIP 77
#define HARNESS_NOBODY 65534u
#define HARNESS_CHILD_TIMEOUT_MS 30000

/* ---- test programs ---------------------------------------------------- */

struct harness_test {
        const char *name;
        int (*fn)(void); /* 0 pass, HARNESS_SKIP skipped, anything else failed */
};
#define HARNESS_TEST(f) { #f, f }

/*
 * Starts the daemon with daemon_args (NULL-terminated extra arguments, may
 * be NULL), runs every test with the fd check after each, stops the daemon
 * (a non-zero exit status is a failure) and returns main()'s exit code.
 */
int harness_main(const struct harness_test *tests, size_t n_tests, const char *const *daemon_args);

#define HARNESS_MAIN(daemon_args, ...)                                                \
        int main(void) {                                                              \
                static const struct harness_test harness_tests_[] = { __VA_ARGS__ }; \
                return harness_main(harness_tests_, ELEMENTSOF(harness_tests_),       \
                                    daemon_args);                                     \
        }

/* "# ..." diagnostic line on stderr. */
void harness_log(const char *fmt, ...) _printf_(1, 2);
/* Logs why the current test is skipped; returns HARNESS_SKIP. */
int harness_skip(const char *fmt, ...) _printf_(1, 2);
/* "EACCES" for -EACCES, "" for values >= 0. */
const char *harness_errname(long long v);
/* True when the harness runs as root, which the uid-switching tests need. */
bool harness_is_root(void);
/*
 * $SHMBROKERD_WRAPPER, when set, is prepended (split at spaces) to every
 * daemon command line, e.g. "valgrind --error-exitcode=99 ..."; the harness
 * then waits this many times longer for the daemon (1 without a wrapper).
 */
int harness_slowdown(void);

/* ---- checks: log file:line and the values, then fail the function ----- */

#define CHECK(cond)                                                                   \
        do {                                                                          \
                if (!(cond)) {                                                        \
                        harness_log("%s:%d: %s: check failed: %s", __FILE__, __LINE__,\
                                    __func__, #cond);                                 \
                        return -1;                                                    \
                }                                                                     \
        } while (0)

#define CHECK_MSG(cond, ...)                                                          \
        do {                                                                          \
                if (!(cond)) {                                                        \
                        harness_log("%s:%d: %s: check failed: %s", __FILE__, __LINE__,\
                                    __func__, #cond);                                 \
                        harness_log(__VA_ARGS__);                                     \
                        return -1;                                                    \
                }                                                                     \
        } while (0)

/* expr == expected, both as integers; negative values are shown as errno names. */
#define CHECK_INT(expr, expected)                                                     \
        do {                                                                          \
                long long v_ = (long long)(expr);                                     \
                long long e_ = (long long)(expected);                                 \
                if (v_ != e_) {                                                       \
                        harness_log("%s:%d: %s: %s = %lld %s, expected %lld %s",      \
                                    __FILE__, __LINE__, __func__, #expr, v_,          \
                                    harness_errname(v_), e_, harness_errname(e_));    \
                        return -1;                                                    \
                }                                                                     \
        } while (0)

/* Like CHECK_INT for a library call on connection c: also shows its error message. */
#define CHECK_SHMB(c, expr, expected)                                                 \
        do {                                                                          \
                long long v_ = (long long)(expr);                                     \
                long long e_ = (long long)(expected);                                 \
                if (v_ != e_) {                                                       \
                        harness_log("%s:%d: %s: %s = %lld %s, expected %lld %s "      \
                                    "(daemon says: \"%s\")",                          \
                                    __FILE__, __LINE__, __func__, #expr, v_,          \
                                    harness_errname(v_), e_, harness_errname(e_),     \
                                    shmb_conn_error(c));                              \
                        return -1;                                                    \
                }                                                                     \
        } while (0)

/* A system call that must fail with -1 and errno == err. */
#define CHECK_ERRNO(expr, err)                                                        \
        do {                                                                          \
                long long v_;                                                         \
                int en_;                                                              \
                errno = 0;                                                            \
                v_ = (long long)(expr);                                               \
                en_ = errno;                                                          \
                if (v_ != -1 || en_ != (err)) {                                       \
                        harness_log("%s:%d: %s: %s = %lld (errno %s), expected -1 "   \
                                    "(errno %s)", __FILE__, __LINE__, __func__,       \
                                    #expr, v_, harness_errname(-en_),                 \
                                    harness_errname(-(err)));                         \
                        return -1;                                                    \
                }                                                                     \
        } while (0)

/* A system call that must succeed (>= 0). */
#define CHECK_SYS(expr)                                                               \
        do {                                                                          \
                long long v_;                                                         \
                errno = 0;                                                            \
                v_ = (long long)(expr);                                               \
                if (v_ < 0) {                                                         \
                        harness_log("%s:%d: %s: %s failed: %m", __FILE__, __LINE__,   \
                                    __func__, #expr);                                 \
                        return -1;                                                    \
                }                                                                     \
        } while (0)

/* A child (harness_child_wait()/harness_run_child()) that must exit 0. */
#define CHECK_CHILD(expr)                                                             \
        do {                                                                          \
                int s_ = (expr);                                                      \
                if (s_ != 0) {                                                        \
                        harness_log("%s:%d: %s: child %s: %s %d", __FILE__, __LINE__, \
                                    __func__, #expr,                                  \
                                    s_ < 0 ? "died, -signal/-errno" : "exit status",  \
                                    s_);                                              \
                        return -1;                                                    \
                }                                                                     \
        } while (0)

/* ---- the daemon ------------------------------------------------------- */

int harness_daemon_start(const char *const *args);
/* SIGTERM, wait; 0 only if it exited with status 0 and removed its socket. */
int harness_daemon_stop(void);
pid_t harness_daemon_pid(void);
bool harness_daemon_alive(void);
const char *harness_socket_path(void);
/* Temporary directory holding the socket (mode 0755). */
const char *harness_tmpdir(void);
/* Entries of /proc/PID/fd of the daemon, or -errno. */
int harness_daemon_fd_count(void);
int harness_daemon_fd_baseline(void);
/* Waits up to timeout_ms for the count to equal the baseline; -ETIMEDOUT if not. */
int harness_wait_fd_baseline(int timeout_ms, int *ret_count);
/*
 * Runs the daemon binary with args (NULL-terminated, no implicit --socket)
 * and returns its exit status (or -signal), killing it after timeout_ms.
 */
int harness_exec_daemon(const char *const *args, int timeout_ms);
/* Spawns the daemon binary with args; caller waits with harness_pid_wait(). */
int harness_spawn_daemon(const char *const *args, pid_t *ret_pid);
/* Exit status (>= 0), -signal, or -ETIMEDOUT after SIGKILL at timeout_ms. */
int harness_pid_wait(pid_t pid, int timeout_ms);

/* ---- children ---------------------------------------------------------- */

struct harness_creds {
        uid_t uid;
        gid_t gid;
        size_t n_groups;     /* supplementary groups, set with setgroups() */
        const gid_t *groups;
};
extern const struct harness_creds harness_nobody; /* 65534:65534, no groups */

/* Both ends of a child's byte channel to the parent (or the parent's to it). */
struct harness_chan {
        int rfd;
        int wfd;
};

typedef int (*harness_child_fn)(struct harness_chan *chan, void *userdata);

struct harness_child {
        pid_t pid;
        struct harness_chan chan;
};
#define HARNESS_CHILD_NULL { .pid = 0, .chan = { .rfd = -1, .wfd = -1 } }

/*
 * Forks; in the child closes every inherited fd but stdio and the channel,
 * switches to creds if given (setgroups, setresgid, setresuid), runs
 * fn(chan, userdata) and _exit()s with 0 if it returned 0, else 1.
 * Exit status 98 means the child could not set itself up.
 */
int harness_child_start(struct harness_child *ret, const struct harness_creds *creds,
                        harness_child_fn fn, void *userdata);
/* Exit status (>= 0), -signal, or -ETIMEDOUT (then killed). Closes the channel. */
int harness_child_wait(struct harness_child *ch, int timeout_ms);
/* Kills and reaps a child still running (cleanup after a failed check). */
void harness_child_killp(struct harness_child *ch);
/* harness_child_start() + harness_child_wait(HARNESS_CHILD_TIMEOUT_MS). */
int harness_run_child(const struct harness_creds *creds, harness_child_fn fn, void *userdata);

int harness_chan_send(struct harness_chan *ch, char c);
/* One byte within timeout_ms: 0, -ETIMEDOUT, or -EPIPE when the other side is gone. */
int harness_chan_recv(struct harness_chan *ch, char *ret, int timeout_ms);
/* Receives one byte and checks it is c (logging otherwise); 0 or -1. */
int harness_chan_expect(struct harness_chan *ch, char c);

/* ---- library helpers --------------------------------------------------- */

DEFINE_TRIVIAL_CLEANUP_FUNC(shmb_conn *, shmb_disconnect);
DEFINE_TRIVIAL_CLEANUP_FUNC(shmb_region *, shmb_close);
#define _cleanup_conn_ _cleanup_(shmb_disconnectp)
#define _cleanup_region_ _cleanup_(shmb_closep)
#define _cleanup_child_ _cleanup_(harness_child_killp)

int harness_connect(shmb_conn **ret);
struct shmb_create_opts harness_opts(uint64_t size, uint32_t mode, int lifetime);
/* Polls shmb_stat() until -ENOENT: 0, -ETIMEDOUT, or another stat error. */
int harness_wait_gone(shmb_conn *c, const char *name, int timeout_ms);
/* Polls shmb_stat() until holders == n: 0, -ETIMEDOUT, or a stat error. */
int harness_wait_holders(shmb_conn *c, const char *name, uint32_t n, int timeout_ms);
/* Deletes every region root can see; returns how many, or -errno. */
int harness_delete_all_regions(void);

/* Deterministic content: byte i depends on i (page number too) and seed. */
void harness_fill(void *p, size_t len, unsigned seed);
/* True when p holds harness_fill(seed); logs the first difference otherwise. */
bool harness_verify(const void *p, size_t len, unsigned seed);
bool harness_is_zero(const void *p, size_t len);
/* "rw-s" etc. of the mapping containing addr, from /proc/self/maps. */
int harness_mapping_perms(const void *addr, char ret[5]);
/* O_RDONLY / O_WRONLY / O_RDWR of an fd, or -errno. */
int harness_fd_accmode(int fd);
/* mmap(NULL, len, prot, flags, fd, 0): 0 if it worked (and is unmapped again), else -errno. */
int harness_mmap_result(int fd, size_t len, int prot, int flags);

/*
 * A child function (userdata: struct harness_open_check) that connects,
 * calls shmb_open() and checks the result: on -EACCES that the message
 * mentions permission; on success the fd's access mode, the mapping's
 * protection, the size and content, then optionally writes new content.
 */
struct harness_open_check {
        const char *name;
        int access;           /* SHMB_READ or SHMB_READ_WRITE */
        int expect;           /* 0 or the -errno shmb_open() must return */
        uint64_t size;        /* checked when non-zero */
        unsigned seed;        /* content checked when non-zero */
        unsigned write_seed;  /* content written when non-zero (read-write only) */
};
int harness_child_open_check(struct harness_chan *chan, void *userdata);

/* ---- raw protocol ------------------------------------------------------ */

static inline void wire_response_freep(WireResponse **p) {
        if (*p)
                shmbroker__v1__response__free_unpacked(*p, NULL);
}
#define _cleanup_response_ _cleanup_(wire_response_freep)

/* A blocking SOCK_SEQPACKET connection to the daemon, or -errno. */
int harness_raw_connect(void);
int harness_raw_connect_path(const char *path);
int harness_raw_send(int fd, const WireRequest *req);
int harness_raw_send_bytes(int fd, const void *buf, size_t len);
/*
 * Next response within timeout_ms. An fd attached to it goes to *ret_fd
 * (closed if ret_fd is NULL). -ECONNRESET when the daemon closed the
 * connection, -ETIMEDOUT, -EBADMSG for an undecodable packet.
 */
int harness_raw_recv(int fd, int timeout_ms, WireResponse **ret, int *ret_fd);
/* Hello with version 1 and the given id; checks the reply is OK. 0 or -1. */
int harness_raw_hello(int fd, uint64_t id);
/* 0 when the daemon closed the connection within timeout_ms without sending more. */
int harness_raw_expect_closed(int fd, int timeout_ms);
