/* SPDX-License-Identifier: MIT */
/*
 * The processes of a benchmark run: the built daemon as a child (so its exit
 * status is checked: a crash under load breaks the run), CPU pinning of
 * every thread of a process, and memory read from /proc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define DAEMON_START_TIMEOUT_MS 10000
#define DAEMON_STOP_TIMEOUT_MS 20000

int pid_wait(pid_t pid, int timeout_ms) {
        uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
        int st;

        for (;;) {
                pid_t p = waitpid(pid, &st, WNOHANG);

                if (p == pid)
                        return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -EIO;
                if (p < 0 && errno != EINTR)
                        return -errno;
                if (now_ns() >= deadline)
                        break;
                sleep_ms(2);
        }
        (void)kill(pid, SIGKILL);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return -ETIMEDOUT;
}

static int try_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, path, strnlen(path, sizeof(sa.sun_path) - 1));
        if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

void daemon_log_tail(const Daemon *d) {
        char buf[4096];
        ssize_t n;
        off_t end;
        int fd;

        fd = open(d->log, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        end = lseek(fd, 0, SEEK_END);
        (void)lseek(fd, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0, SEEK_SET);
        n = read(fd, buf, sizeof(buf) - 1);
        if (n > 0) {
                buf[n] = 0;
                fprintf(stderr, "# daemon log (%s), last lines:\n%s\n", d->log, buf);
        }
        close(fd);
}

int daemon_start(Daemon *d, const char *binary, const char *dir, const char *tag, unsigned max_regions,
                 unsigned max_connections) {
        char regions[16], conns[16];
        uint64_t deadline;
        pid_t pid;

        *d = DAEMON_NULL;
        snprintf(d->sock, sizeof(d->sock), "%s/%s.sock", dir, tag);
        snprintf(d->log, sizeof(d->log), "%s/%s.log", dir, tag);
        snprintf(regions, sizeof(regions), "%u", max_regions);
        snprintf(conns, sizeof(conns), "%u", max_connections);

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                const char *argv[] = { binary, "--socket", d->sock, "--max-regions", regions,
                                       "--max-connections", conns, NULL };
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                int log = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

                if (null >= 0)
                        (void)dup2(null, STDIN_FILENO);
                if (log >= 0) {
                        (void)dup2(log, STDOUT_FILENO);
                        (void)dup2(log, STDERR_FILENO);
                }
                /* A benchmark that dies must not leave a daemon behind. */
                (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
                /* Not socket-activated, not supervised, whatever runs us. */
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_PID");
                unsetenv("LISTEN_FDNAMES");
                unsetenv("NOTIFY_SOCKET");
                unsetenv("WATCHDOG_USEC");
                unsetenv("WATCHDOG_PID");
                unsetenv("SHMBROKER_SOCKET");
                execv(binary, (char *const *)argv);
                fprintf(stderr, "exec %s: %m\n", binary);
                _exit(127);
        }
        d->pid = pid;

        deadline = now_ns() + (uint64_t)DAEMON_START_TIMEOUT_MS * 1000000u;
        for (;;) {
                int st;

                if (try_connect(d->sock) == 0)
                        return 0;
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        d->pid = -1;
                        fprintf(stderr, "# %s exited during startup (status 0x%x)\n", binary, (unsigned)st);
                        daemon_log_tail(d);
                        return -ECHILD;
                }
                if (now_ns() > deadline) {
                        fprintf(stderr, "# %s did not accept connections within %d ms\n", binary,
                                DAEMON_START_TIMEOUT_MS);
                        daemon_log_tail(d);
                        (void)daemon_stop(d);
                        return -ETIMEDOUT;
                }
                sleep_ms(2);
        }
}

int daemon_stop(Daemon *d) {
        int r;

        if (d->pid <= 0)
                return 0;
        (void)kill(d->pid, SIGTERM);
        r = pid_wait(d->pid, DAEMON_STOP_TIMEOUT_MS);
        d->pid = -1;
        return r;
}

int cpus_allowed(int *ret, int max) {
        cpu_set_t set;
        int n = 0;

        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return -errno;
        for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++)
                if (CPU_ISSET(cpu, &set))
                        ret[n++] = cpu;
        return n;
}

/* The mask of all CPUs the bench started with: what "unpinned" means. */
static cpu_set_t all_cpus;
static bool all_cpus_known;

static int pin_one(pid_t tid, int cpu) {
        cpu_set_t set;

        if (!all_cpus_known) {
                if (sched_getaffinity(0, sizeof(all_cpus), &all_cpus) < 0)
                        return -errno;
                all_cpus_known = true;
        }
        if (cpu < 0)
                set = all_cpus;
        else {
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
        }
        if (sched_setaffinity(tid, sizeof(set), &set) < 0)
                return -errno;
        return 0;
}

int pin_pid(pid_t pid, int cpu) {
        char path[64];
        struct dirent *de;
        DIR *dir;
        int r = 0;

        /* Every thread: sched_setaffinity(pid) alone moves only the main one. */
        snprintf(path, sizeof(path), "/proc/%d/task", pid > 0 ? (int)pid : (int)getpid());
        dir = opendir(path);
        if (!dir)
                return pin_one(pid, cpu);
        while ((de = readdir(dir))) {
                int k;

                if (de->d_name[0] == '.')
                        continue;
                k = pin_one((pid_t)atoi(de->d_name), cpu);
                if (k < 0 && k != -ESRCH && r == 0)
                        r = k;
        }
        closedir(dir);
        return r;
}

int proc_mem(pid_t pid, ProcMem *ret) {
        char path[64], line[256];
        ProcMem m = {};
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long kb;

                if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
                        m.vm_rss = kb * 1024;
                else if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
                        m.rss_anon = kb * 1024;
                else if (sscanf(line, "RssFile: %llu kB", &kb) == 1)
                        m.rss_file = kb * 1024;
                else if (sscanf(line, "RssShmem: %llu kB", &kb) == 1)
                        m.rss_shmem = kb * 1024;
        }
        fclose(f);
        if (m.vm_rss == 0)
                return -ENODATA;
        *ret = m;
        return 0;
}

int meminfo_get(const char *field, uint64_t *ret) {
        char line[256];
        size_t len = strlen(field);
        FILE *f;
        int r = -ENOENT;

        f = fopen("/proc/meminfo", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long v;
                char unit[8] = "";

                if (strncmp(line, field, len) != 0 || line[len] != ':')
                        continue;
                if (sscanf(line + len + 1, "%llu %7s", &v, unit) >= 1) {
                        *ret = strcmp(unit, "kB") == 0 ? v * 1024 : v;
                        r = 0;
                }
                break;
        }
        fclose(f);
        return r;
}
