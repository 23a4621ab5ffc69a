/* SPDX-License-Identifier: MIT */
/*
 * shmbroker-bench internals: timing and percentiles, the processes the
 * benchmark runs (the built daemon and the raw floor server) and how they are
 * pinned and measured. Kept apart from the phases so that each phase reads
 * as what it measures.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

#define BENCH_PATH_MAX 108 /* sizeof(sockaddr_un.sun_path) */

/* ---- timing and percentiles (stats.c) --------------------------------- */

typedef struct Samples {
        uint64_t *v; /* nanoseconds */
        size_t n, cap;
        bool sorted;
} Samples;

uint64_t now_ns(void);
void sleep_ms(long ms);
int samples_init(Samples *s, size_t cap);
void samples_free(Samples *s);
void samples_add(Samples *s, uint64_t ns);
/* Percentile p in [0,1] (sorts in place); 0 when empty. */
uint64_t samples_pct(Samples *s, double p);
int cmp_double(const void *a, const void *b);
double median_double(double *v, size_t n);

/* ---- processes (proc.c) ---------------------------------------------- */

typedef struct Daemon {
        pid_t pid;
        char sock[BENCH_PATH_MAX];
        char log[BENCH_PATH_MAX + 16];
} Daemon;

#define DAEMON_NULL ((Daemon){ .pid = -1 })

/* Starts binary on dir/tag.sock, stdout/stderr to dir/tag.log; waits until it accepts. */
int daemon_start(Daemon *d, const char *binary, const char *dir, const char *tag, unsigned max_regions,
                 unsigned max_connections);
/* SIGTERM and wait: returns the exit status (0 clean), or -errno / -ETIMEDOUT. */
int daemon_stop(Daemon *d);
void daemon_log_tail(const Daemon *d);

/* Waits for pid up to timeout_ms (then kills it): exit status, -signal, or -ETIMEDOUT. */
int pid_wait(pid_t pid, int timeout_ms);

/* The CPUs this process may run on, in order; returns how many (<= max). */
int cpus_allowed(int *ret, int max);
/* Pins every thread of pid (0: the caller's process) to cpu; cpu < 0: all allowed CPUs. */
int pin_pid(pid_t pid, int cpu);

typedef struct ProcMem {
        uint64_t vm_rss, rss_anon, rss_file, rss_shmem; /* bytes */
} ProcMem;
int proc_mem(pid_t pid, ProcMem *ret);
/* A field of /proc/meminfo in bytes ("Slab", "HugePages_Free" as a count). */
int meminfo_get(const char *field, uint64_t *ret);

/* ---- the service manager, for the restore metric (manager.c) ---------- */

typedef struct StoredFd {
        char *name; /* FDNAME= */
        int fd;
} StoredFd;

typedef struct Manager {
        int listen_fd;           /* the socket unit's socket, passed as fd 3 "control" */
        int notify_fd;           /* NOTIFY_SOCKET: AF_UNIX SOCK_DGRAM with SO_PASSCRED */
        char sock[BENCH_PATH_MAX];
        char notify_path[BENCH_PATH_MAX];
        char log[BENCH_PATH_MAX + 16];
        unsigned store_max;      /* FileDescriptorStoreMax= */
        StoredFd *store;         /* in the order stored: passed in that order */
        size_t n_store, store_alloc;
        unsigned refused;        /* descriptors past store_max, closed */
        unsigned foreign;        /* messages not from the main pid, dropped */
        unsigned truncated;      /* messages cut short (MSG_TRUNC, MSG_CTRUNC) */
        pid_t pid;               /* the main pid of the last start */
        bool running;
        int status;              /* of the last instance, once it exited: as pid_wait() */
        bool ready;
        uint64_t ready_ns;       /* now_ns() when READY=1 arrived */
        uint64_t *exec_ns;       /* shared page: the child's now_ns() just before execve() */
} Manager;

#define MANAGER_NULL ((Manager){ .listen_fd = -1, .notify_fd = -1, .pid = -1 })

/* Binds dir/tag.sock (listening) and dir/tag.notify; the daemons log to dir/tag.log. */
int manager_init(Manager *m, const char *dir, const char *tag, unsigned store_max);
/* Stops a running instance, closes the store and the sockets. */
void manager_done(Manager *m);
/* Starts binary args... with the socket and the store passed, pinned to cpu (< 0: any). */
int manager_start(Manager *m, const char *binary, const char *const *args, int cpu);
/* Serves the notify socket until READY=1: 0, -ECHILD (it exited: m->status), -ETIMEDOUT. */
int manager_wait_ready(Manager *m, int timeout_ms);
/* Handles the queued notify messages, waiting up to timeout_ms for the first; returns how many. */
int manager_pump(Manager *m, int timeout_ms);
/* SIGTERM, serving the notify socket until it exits: its exit status as pid_wait(). */
int manager_stop(Manager *m, int timeout_ms);
/* Closes every stored descriptor. */
void manager_store_clear(Manager *m);
/* The last start: from just before execve() to READY=1, in ns (0 if not ready). */
uint64_t manager_start_ns(const Manager *m);

/* ---- the raw floor (raw.c) ------------------------------------------- */

/* Request codes of the raw server: one byte per SEQPACKET packet. */
enum {
        RAW_OP_OPEN = 'O',     /* reply with the shared 1 MiB memfd */
        RAW_OP_CREATE = 'C',   /* memfd_create + ftruncate 4 KiB + seals, reply with it */
        RAW_OP_HUGETLB = 'H',  /* 2 MiB-page memfd + ftruncate + fallocate 64 MiB + seals */
};

#define RAW_OPEN_SIZE (UINT64_C(1) << 20)
#define RAW_CREATE_SIZE UINT64_C(4096)
#define RAW_HUGETLB_SIZE (UINT64_C(64) << 20)

typedef struct RawServer {
        pid_t pid;
        char sock[BENCH_PATH_MAX];
} RawServer;

#define RAW_SERVER_NULL ((RawServer){ .pid = -1 })

/* Forks the bare single-threaded epoll server on dir/raw.sock. */
int raw_server_start(RawServer *s, const char *dir);
int raw_server_stop(RawServer *s);

int raw_connect(const char *path);
/* One round trip: sends op, returns the descriptor of the reply in *ret_fd. */
int raw_request_fd(int sock, char op, int *ret_fd);
/* The floor of shmb_open + touch + shmb_close: round trip, map, touch, unmap, close. */
int raw_open_once(int sock);

/* Most descriptors one SCM_RIGHTS message may carry (the kernel's SCM_MAX_FD). */
#define RAW_FDS_PER_MSG 253

/*
 * The floor of a restore: a fresh process pinned to cpu (< 0: any) receives
 * the n descriptors by SCM_RIGHTS, RAW_FDS_PER_MSG per message, and fstat()s
 * each; *ret_ns is from the first send to its answer that it has them all.
 */
int raw_restore_floor(const int *fds, size_t n, int cpu, uint64_t *ret_ns);
