/* SPDX-License-Identifier: MIT */
/*
 * The benchmark as the service manager, for the restore metric. It does what
 * systemd does for a Type=notify service with a socket unit and
 * FileDescriptorStoreMax= (tests/systemd/fake-manager.py does the same for
 * the tests):
 *   - owns the listening SOCK_SEQPACKET socket, which outlives every daemon,
 *     and passes it at fd 3 named "control";
 *   - listens on a datagram NOTIFY_SOCKET with SO_PASSCRED and honours the
 *     main pid only (NotifyAccess=main): READY=1, FDSTORE=1 + FDNAME= (up
 *     to store_max descriptors; more are closed), FDSTOREREMOVE=1 + FDNAME=;
 *   - starts the next instance with the stored descriptors after the socket,
 *     in store order, with LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID (the
 *     child's own pid) and FDSTORE (FileDescriptorStoreMax=, as systemd 254
 *     and later tell it).
 * The child notes the time just before execve() in a shared page: the start
 * time of an instance is from there to the arrival of its READY=1, without
 * the fork and the descriptor shuffling, which are the manager's work.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* systemd takes as many per message (SCM_MAX_FD). */
#define NOTIFY_FDS_MAX 253
#define NOTIFY_MSG_MAX 4096

extern char **environ;

static int bind_unix(int fd, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        (void)unlink(path);
        if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

int manager_init(Manager *m, const char *dir, const char *tag, unsigned store_max) {
        int one = 1, fd, r;

        *m = MANAGER_NULL;
        m->store_max = store_max;
        snprintf(m->sock, sizeof(m->sock), "%s/%s.sock", dir, tag);
        snprintf(m->notify_path, sizeof(m->notify_path), "%s/%s.notify", dir, tag);
        snprintf(m->log, sizeof(m->log), "%s/%s.log", dir, tag);

        m->exec_ns = mmap(NULL, sizeof(*m->exec_ns), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m->exec_ns == MAP_FAILED) {
                m->exec_ns = NULL;
                return -errno;
        }

        m->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (m->listen_fd < 0)
                return -errno;
        r = bind_unix(m->listen_fd, m->sock);
        if (r < 0)
                return r;
        if (listen(m->listen_fd, SOMAXCONN) < 0)
                return -errno;

        m->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (m->notify_fd < 0)
                return -errno;
        /* Without credentials systemd ignores every message (it cannot tell the main pid's). */
        if (setsockopt(m->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                return -errno;
        r = bind_unix(m->notify_fd, m->notify_path);
        if (r < 0)
                return r;

        fd = open(m->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

void manager_store_clear(Manager *m) {
        for (size_t i = 0; i < m->n_store; i++) {
                safe_close(m->store[i].fd);
                free(m->store[i].name);
        }
        m->n_store = 0;
}

void manager_done(Manager *m) {
        if (m->running)
                (void)manager_stop(m, 5000);
        manager_store_clear(m);
        free(m->store);
        m->store = NULL;
        m->store_alloc = 0;
        m->listen_fd = safe_close(m->listen_fd);
        m->notify_fd = safe_close(m->notify_fd);
        if (m->sock[0])
                (void)unlink(m->sock);
        if (m->notify_path[0])
                (void)unlink(m->notify_path);
        if (m->exec_ns)
                (void)munmap(m->exec_ns, sizeof(*m->exec_ns));
        m->exec_ns = NULL;
}

static int store_add(Manager *m, const char *name, int fd) {
        if (m->n_store >= m->store_max) {
                /* FileDescriptorStoreMax= reached: systemd closes what does not fit. */
                safe_close(fd);
                m->refused++;
                return 0;
        }
        if (m->n_store == m->store_alloc) {
                size_t n = m->store_alloc ? m->store_alloc * 2 : 256;
                StoredFd *p = reallocarray(m->store, n, sizeof(*p));

                if (!p) {
                        safe_close(fd);
                        return -ENOMEM;
                }
                m->store = p;
                m->store_alloc = n;
        }
        m->store[m->n_store].name = strdup(name);
        if (!m->store[m->n_store].name) {
                safe_close(fd);
                return -ENOMEM;
        }
        m->store[m->n_store++].fd = fd;
        return 0;
}

/* FDSTOREREMOVE=1 removes every descriptor of the name, keeping the order of the others. */
static void store_remove(Manager *m, const char *name) {
        size_t k = 0;

        for (size_t i = 0; i < m->n_store; i++) {
                if (strcmp(m->store[i].name, name) == 0) {
                        safe_close(m->store[i].fd);
                        free(m->store[i].name);
                        continue;
                }
                m->store[k++] = m->store[i];
        }
        m->n_store = k;
}

/* The value of field key= in a notify message, NUL-terminated in place; NULL when absent. */
static const char *field(char *msg, const char *key, char *copy, size_t copylen) {
        size_t klen = strlen(key);

        for (char *line = msg; line && *line;) {
                char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);

                if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
                        size_t vlen = MIN(len - klen - 1, copylen - 1);

                        memcpy(copy, line + klen + 1, vlen);
                        copy[vlen] = 0;
                        return copy;
                }
                line = nl ? nl + 1 : NULL;
        }
        return NULL;
}

static bool field_is(char *msg, const char *key, const char *value) {
        char v[16];
        const char *p = field(msg, key, v, sizeof(v));

        return p && strcmp(p, value) == 0;
}

static int handle_message(Manager *m, char *msg, int *fds, size_t n_fds, pid_t sender, uint64_t t) {
        char name[256];
        int r = 0;

        if (sender <= 0 || sender != m->pid) {
                /* NotifyAccess=main: a message of anyone else is dropped, its descriptors closed. */
                for (size_t i = 0; i < n_fds; i++)
                        safe_close(fds[i]);
                m->foreign++;
                return 0;
        }
        if (field_is(msg, "FDSTORE", "1")) {
                const char *n = field(msg, "FDNAME", name, sizeof(name));

                for (size_t i = 0; i < n_fds; i++) {
                        int k = store_add(m, n ? n : "stored", fds[i]);

                        if (k < 0 && r == 0)
                                r = k;
                }
                n_fds = 0;
        }
        for (size_t i = 0; i < n_fds; i++)
                safe_close(fds[i]);
        if (field_is(msg, "FDSTOREREMOVE", "1") && field(msg, "FDNAME", name, sizeof(name)))
                store_remove(m, name);
        if (field_is(msg, "READY", "1") && !m->ready) {
                m->ready = true;
                m->ready_ns = t;
        }
        return r;
}

/* Handles every queued message; returns how many, or <0. */
static int drain(Manager *m) {
        int handled = 0;

        for (;;) {
                union {
                        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(NOTIFY_FDS_MAX * sizeof(int))];
                        struct cmsghdr align;
                } control;
                char msg[NOTIFY_MSG_MAX + 1];
                struct iovec iov = { .iov_base = msg, .iov_len = NOTIFY_MSG_MAX };
                struct msghdr mh = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf),
                };
                int fds[NOTIFY_FDS_MAX];
                size_t n_fds = 0;
                pid_t sender = 0;
                uint64_t t;
                ssize_t n;
                int k;

                n = recvmsg(m->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                t = now_ns();
                if (n < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return handled;
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                        if (cm->cmsg_level != SOL_SOCKET)
                                continue;
                        if (cm->cmsg_type == SCM_RIGHTS) {
                                size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                                for (size_t i = 0; i < count && n_fds < NOTIFY_FDS_MAX; i++)
                                        memcpy(&fds[n_fds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        } else if (cm->cmsg_type == SCM_CREDENTIALS &&
                                   cm->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                                struct ucred uc;

                                memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
                                sender = uc.pid;
                        }
                }
                if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                        /* systemd drops such a message; a lost descriptor would be a lost region. */
                        m->truncated++;
                msg[n] = 0;
                k = handle_message(m, msg, fds, n_fds, sender, t);
                if (k < 0)
                        return k;
                handled++;
        }
}

int manager_pump(Manager *m, int timeout_ms) {
        struct pollfd p = { .fd = m->notify_fd, .events = POLLIN };

        if (timeout_ms > 0 && poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
                return -errno;
        return drain(m);
}

static bool env_passed(const char *e) {
        static const char *const ours[] = { "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
                                            "WATCHDOG_USEC=", "WATCHDOG_PID=", "FDSTORE=", "JOURNAL_STREAM=",
                                            "SHMBROKER_SOCKET=" };

        for (size_t i = 0; i < ELEMENTSOF(ours); i++)
                if (strncmp(e, ours[i], strlen(ours[i])) == 0)
                        return false;
        return true;
}

int manager_start(Manager *m, const char *binary, const char *const *args, int cpu) {
        const size_t n_fds = 1 + m->n_store;
        _cleanup_free_ char *names = NULL, *notify = NULL, *listen_fds = NULL, *fdstore = NULL;
        _cleanup_free_ const char **argv = NULL;
        _cleanup_free_ char **envp = NULL;
        _cleanup_free_ int *fds = NULL;
        _cleanup_close_ int null = -1, log = -1;
        char listen_pid[32] = "LISTEN_PID=0";
        size_t n_args = 0, n_env = 0, len, k = 0;
        int base = 3 + (int)n_fds;
        pid_t pid;

        if (m->running)
                return -EBUSY;
        fds = calloc(n_fds, sizeof(*fds));
        if (!fds)
                return -ENOMEM;
        fds[0] = m->listen_fd;
        len = sizeof("LISTEN_FDNAMES=control");
        for (size_t i = 0; i < m->n_store; i++) {
                fds[1 + i] = m->store[i].fd;
                len += strlen(m->store[i].name) + 1;
        }
        for (size_t i = 0; i < n_fds; i++)
                base = MAX(base, fds[i] + 1);
        names = malloc(len);
        if (!names)
                return -ENOMEM;
        k = (size_t)snprintf(names, len, "LISTEN_FDNAMES=control");
        for (size_t i = 0; i < m->n_store; i++)
                k += (size_t)snprintf(names + k, len - k, ":%s", m->store[i].name);
        if (asprintf(&notify, "NOTIFY_SOCKET=%s", m->notify_path) < 0)
                notify = NULL;
        if (asprintf(&listen_fds, "LISTEN_FDS=%zu", n_fds) < 0)
                listen_fds = NULL;
        if (asprintf(&fdstore, "FDSTORE=%u", m->store_max) < 0)
                fdstore = NULL;
        if (!notify || !listen_fds || !fdstore)
                return -ENOMEM;

        while (args && args[n_args])
                n_args++;
        argv = calloc(n_args + 2, sizeof(*argv));
        while (environ[n_env])
                n_env++;
        envp = calloc(n_env + 6, sizeof(*envp));
        if (!argv || !envp)
                return -ENOMEM;
        argv[0] = binary;
        for (size_t i = 0; i < n_args; i++)
                argv[1 + i] = args[i];
        k = 0;
        for (size_t i = 0; i < n_env; i++)
                if (env_passed(environ[i]))
                        envp[k++] = environ[i];
        envp[k++] = notify;
        envp[k++] = listen_fds;
        envp[k++] = names;
        envp[k++] = fdstore;
        envp[k++] = listen_pid;

        null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        log = open(m->log, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (null < 0 || log < 0)
                return -errno;

        *m->exec_ns = 0;
        m->ready = false;
        m->ready_ns = 0;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (dup2(null, STDIN_FILENO) < 0 || dup2(log, STDOUT_FILENO) < 0 || dup2(log, STDERR_FILENO) < 0)
                        _exit(126);
                /* A benchmark that dies must not leave a daemon behind. */
                (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (cpu >= 0) {
                        cpu_set_t set;

                        CPU_ZERO(&set);
                        CPU_SET(cpu, &set);
                        if (sched_setaffinity(0, sizeof(set), &set) < 0)
                                _exit(126);
                }
                /* Out of the way of 3..3+n first (close-on-exec), then into place without it. */
                for (size_t i = 0; i < n_fds; i++) {
                        fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, base);
                        if (fds[i] < 0)
                                _exit(126);
                }
                for (size_t i = 0; i < n_fds; i++)
                        if (dup2(fds[i], 3 + (int)i) < 0)
                                _exit(126);
                /* Closed here, not by execve(): that would be in the measured time. */
                if (close_range(3 + (unsigned)n_fds, ~0U, 0) < 0)
                        for (int fd = 3 + (int)n_fds; fd < base + (int)n_fds + 64; fd++)
                                (void)close(fd);
                snprintf(listen_pid, sizeof(listen_pid), "LISTEN_PID=%d", (int)getpid());
                __atomic_store_n(m->exec_ns, now_ns(), __ATOMIC_SEQ_CST);
                execve(binary, (char *const *)argv, envp);
                fprintf(stderr, "exec %s: %m\n", binary);
                _exit(127);
        }
        m->pid = pid;
        m->running = true;
        return 0;
}

static int reap(Manager *m, bool block) {
        int st;
        pid_t p;

        do
                p = waitpid(m->pid, &st, block ? 0 : WNOHANG);
        while (p < 0 && errno == EINTR);
        if (p < 0)
                return -errno;
        if (p == 0)
                return 0;
        m->running = false;
        m->status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -EIO;
        return 1;
}

int manager_wait_ready(Manager *m, int timeout_ms) {
        uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
        int r;

        for (;;) {
                /* READY=1 wakes the poll at once: the short timeout only bounds noticing an exit. */
                r = manager_pump(m, 5);
                if (r < 0)
                        return r;
                if (m->ready)
                        return 0;
                r = reap(m, false);
                if (r < 0)
                        return r;
                if (r > 0) {
                        (void)drain(m);
                        return m->ready ? 0 : -ECHILD;
                }
                if (now_ns() >= deadline)
                        return -ETIMEDOUT;
        }
}

int manager_stop(Manager *m, int timeout_ms) {
        uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
        int r;

        if (!m->running)
                return m->status;
        (void)kill(m->pid, SIGTERM);
        for (;;) {
                /* Still served while it stops: what it stores or removes on the way counts. */
                r = manager_pump(m, 2);
                if (r < 0)
                        return r;
                r = reap(m, false);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                if (now_ns() >= deadline) {
                        (void)kill(m->pid, SIGKILL);
                        (void)reap(m, true);
                        (void)drain(m);
                        return -ETIMEDOUT;
                }
        }
        /* What it sent before it died is queued: it counts too. */
        r = drain(m);
        return r < 0 ? r : m->status;
}

uint64_t manager_start_ns(const Manager *m) {
        uint64_t t = __atomic_load_n(m->exec_ns, __ATOMIC_SEQ_CST);

        return m->ready && t && m->ready_ns > t ? m->ready_ns - t : 0;
}
