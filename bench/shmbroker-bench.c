/* SPDX-License-Identifier: MIT */
/*
 * shmbroker-bench: the daemon path against its raw kernel floor, measured in
 * the same run with the same CPU pinning (SPEC section 9). Absolute times
 * depend on the machine; the ratios are what the targets are about. The run
 * fails only when the benchmark itself breaks (the daemon cannot be started,
 * a request fails, the daemon crashes); a missed target is information.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "report.h"
#include "shmbroker.h"

#ifndef SHMBROKERD_PATH
#define SHMBROKERD_PATH "shmbrokerd"
#endif

#define OPEN_NAME "bench.open"
#define MIB (UINT64_C(1) << 20)
#define PAGE_2M (UINT64_C(2) << 20)
#define SPEC_REGIONS 100000u
#define TP_CLIENTS 16
#define TP_LAT_MAX 40000u
#define LIST_LAT_MAX 200000u

typedef struct Options {
        const char *daemon;
        const char *only; /* comma-separated phases, NULL: all */
        const char *pinning; /* "same-cpu" or "cross-cpu", NULL: both */
        unsigned iterations;
        unsigned regions;
        unsigned connections;
        bool quick;
        bool json;
} Options;

typedef struct Mode {
        const char *name;
        int client_cpu;
        int server_cpu;
} Mode;

typedef struct Bench {
        Options o;
        char dir[64];
        int cpus[2];
        int n_cpus;
        Daemon daemon;
        RawServer raw;
        shmb_conn *conn;
        int raw_sock;
        unsigned name_seq;
        long hugepages_saved; /* -1: untouched */
} Bench;

static Bench *the_bench; /* for the atexit restore of nr_hugepages */

static void progress(const Bench *b, const char *fmt, ...) _printf_(2, 3);
static void progress(const Bench *b, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "# ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static int fail(const char *fmt, ...) _printf_(1, 2);
static int fail(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "shmbroker-bench: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -EIO;
}

static bool phase_on(const Bench *b, const char *phase) {
        const char *p;
        size_t len = strlen(phase);

        if (!b->o.only)
                return true;
        for (p = b->o.only; (p = strstr(p, phase)); p += len)
                if ((p == b->o.only || p[-1] == ',') && (p[len] == 0 || p[len] == ','))
                        return true;
        return false;
}

static int pin_mode(Bench *b, const Mode *m, pid_t server) {
        int r;

        r = pin_pid(server, m->server_cpu);
        if (r >= 0)
                r = pin_pid(0, m->client_cpu);
        if (r < 0)
                return fail("cannot pin to CPUs %d/%d: %s", m->client_cpu, m->server_cpu, strerror(-r));
        return 0;
}

static struct shmb_create_opts create_opts(uint64_t size, uint64_t page_size) {
        return (struct shmb_create_opts){
                .struct_size = sizeof(struct shmb_create_opts),
                .size = size,
                .page_size = page_size,
                .mode = 0600,
                .sharing = SHMB_SHARED,
                .lifetime = SHMB_PERSISTENT,
        };
}

/* The region every open measures: 1 MiB, its first page resident like the raw one. */
static int make_open_region(shmb_conn *c) {
        struct shmb_create_opts o = create_opts(RAW_OPEN_SIZE, 0);
        shmb_region *r;
        int k;

        k = shmb_create(c, OPEN_NAME, &o, &r);
        if (k < 0)
                return fail("create %s: %s (%s)", OPEN_NAME, shmb_strerror(k), shmb_conn_error(c));
        ((volatile char *)shmb_region_data(r))[0] = 'x';
        return shmb_close(r);
}

/* shmb_open + map (done by the library) + touch one byte + shmb_close (unmap, release). */
static int daemon_open_once(shmb_conn *c) {
        volatile char *p;
        shmb_region *r;
        int k;

        k = shmb_open(c, OPEN_NAME, SHMB_READ_WRITE, 0, &r);
        if (k < 0)
                return k;
        p = shmb_region_data(r);
        p[0] = (char)(p[0] + 1);
        return shmb_close(r);
}

/* ---- open ---------------------------------------------------------------- */

static int bench_open(Bench *b, const Mode *m, unsigned iters) {
        _cleanup_(samples_free) Samples d = {}, f = {};
        const unsigned block = 500, warmup = MIN(iters / 4 + 10, 500u);
        Metric *met;
        int k;

        if (samples_init(&d, iters) < 0 || samples_init(&f, iters) < 0)
                return -ENOMEM;
        for (unsigned i = 0; i < warmup; i++) {
                k = daemon_open_once(b->conn);
                if (k < 0)
                        return fail("shmb_open: %s (%s)", shmb_strerror(k), shmb_conn_error(b->conn));
                k = raw_open_once(b->raw_sock);
                if (k < 0)
                        return fail("raw open: %s", strerror(-k));
        }
        /* Interleaved blocks: drift of the machine hits both sides alike. */
        for (unsigned done = 0; done < iters; done += block) {
                unsigned n = MIN(block, iters - done);

                for (unsigned i = 0; i < n; i++) {
                        uint64_t t0 = now_ns();

                        k = daemon_open_once(b->conn);
                        if (k < 0)
                                return fail("shmb_open: %s (%s)", shmb_strerror(k), shmb_conn_error(b->conn));
                        samples_add(&d, now_ns() - t0);
                }
                for (unsigned i = 0; i < n; i++) {
                        uint64_t t0 = now_ns();

                        k = raw_open_once(b->raw_sock);
                        if (k < 0)
                                return fail("raw open: %s", strerror(-k));
                        samples_add(&f, now_ns() - t0);
                }
        }
        met = metric_latency("open_ratio", "open 1MiB+map+touch+close", m->name, &d, &f, TARGET_LE, 1.3);
        if (strcmp(m->name, "same-cpu") == 0)
                metric_note(met, "shmb_open(READ_WRITE) + write 1 byte + shmb_close vs raw request -> memfd by "
                                 "SCM_RIGHTS -> mmap 1 MiB, write 1 byte, munmap, close; shmb_close's release "
                                 "goes with the next open (Request.release)");
        return 0;
}

/* ---- create -------------------------------------------------------------- */

static int raw_create_once(int sock, void **ret_map, int *ret_fd) {
        void *p;
        int fd, k;

        k = raw_request_fd(sock, RAW_OP_CREATE, &fd);
        if (k < 0)
                return k;
        p = mmap(NULL, RAW_CREATE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                k = -errno;
                close(fd);
                return k;
        }
        *ret_map = p;
        *ret_fd = fd;
        return 0;
}

static int bench_create(Bench *b, const Mode *m, unsigned iters) {
        _cleanup_(samples_free) Samples d = {}, f = {};
        struct shmb_create_opts o = create_opts(RAW_CREATE_SIZE, 0);
        const unsigned block = 500;
        _cleanup_free_ char(*names)[32] = NULL;
        _cleanup_free_ shmb_region **regions = NULL;
        Metric *met;
        int k;

        names = calloc(block, sizeof(*names));
        regions = calloc(block, sizeof(*regions));
        if (!names || !regions || samples_init(&d, iters) < 0 || samples_init(&f, iters) < 0)
                return -ENOMEM;

        for (unsigned done = 0; done < iters; done += block) {
                unsigned n = MIN(block, iters - done);

                for (unsigned i = 0; i < n; i++) {
                        uint64_t t0, t1;

                        snprintf(names[i], sizeof(names[i]), "bench.create/%u", b->name_seq++);
                        t0 = now_ns();
                        k = shmb_create(b->conn, names[i], &o, &regions[i]);
                        t1 = now_ns();
                        if (k < 0)
                                return fail("shmb_create %s: %s (%s)", names[i], shmb_strerror(k),
                                            shmb_conn_error(b->conn));
                        samples_add(&d, t1 - t0);
                }
                /*
                 * Outside the timed part, in bulk: no release or delete message
                 * is in flight while a create is timed, and the names go so the
                 * daemon's fd count stays flat.
                 */
                for (unsigned i = 0; i < n; i++)
                        (void)shmb_close(regions[i]);
                for (unsigned i = 0; i < n; i++) {
                        k = shmb_delete(b->conn, names[i]);
                        if (k < 0)
                                return fail("shmb_delete %s: %s", names[i], shmb_strerror(k));
                }
                for (unsigned i = 0; i < n; i++) {
                        uint64_t t0, t1;
                        void *p = NULL;
                        int fd = -1;

                        t0 = now_ns();
                        k = raw_create_once(b->raw_sock, &p, &fd);
                        t1 = now_ns();
                        if (k < 0)
                                return fail("raw create: %s", strerror(-k));
                        (void)munmap(p, RAW_CREATE_SIZE);
                        close(fd);
                        samples_add(&f, t1 - t0);
                }
        }
        met = metric_latency("create_ratio", "create 4KiB (+map)", m->name, &d, &f, TARGET_LE, 1.5);
        if (strcmp(m->name, "same-cpu") == 0)
                metric_note(met, "shmb_create (request, memfd made and sealed by the daemon, fd back, checked, "
                                 "mapped) vs raw memfd_create+ftruncate+F_ADD_SEALS in the server, fd round trip, "
                                 "mmap 4 KiB; close and delete in bulk outside the timed part");
        return 0;
}

/* ---- throughput ---------------------------------------------------------- */

typedef struct TpSlot {
        uint64_t ops;
        uint64_t elapsed_ns;
        int err;
        uint32_t n_lat;
        uint32_t lat[TP_LAT_MAX]; /* ns, saturated */
} TpSlot;

static int tp_client(const Bench *b, const Mode *m, bool daemon, uint64_t dur_ns, int gate, int ready, TpSlot *s) {
        shmb_conn *c = NULL;
        int sock = -1, k;
        uint64_t start;
        char x = 'r';

        (void)pin_pid(0, m->client_cpu);
        if (daemon)
                k = shmb_connect(b->daemon.sock, &c);
        else
                k = sock = raw_connect(b->raw.sock);
        if (write(ready, &x, 1) != 1 || k < 0)
                return k < 0 ? k : -EIO;
        /* The gate opens (EOF) when the parent closes its end: all start together. */
        while (read(gate, &x, 1) < 0 && errno == EINTR)
                ;

        start = now_ns();
        for (;;) {
                uint64_t t0 = now_ns(), t1;

                if (t0 - start >= dur_ns)
                        break;
                k = daemon ? daemon_open_once(c) : raw_open_once(sock);
                if (k < 0)
                        break;
                t1 = now_ns();
                s->ops++;
                if (s->n_lat < TP_LAT_MAX)
                        s->lat[s->n_lat++] = (uint32_t)MIN(t1 - t0, (uint64_t)UINT32_MAX);
        }
        s->elapsed_ns = now_ns() - start;
        if (daemon)
                shmb_disconnect(c);
        else
                close(sock);
        return k < 0 ? k : 0;
}

/* One round of TP_CLIENTS processes for dur_ns; returns opens per second. */
static int tp_round(Bench *b, const Mode *m, bool daemon, uint64_t dur_ns, TpSlot *slots, Samples *lat,
                    double *ret) {
        int gate[2] = { -1, -1 }, ready[2] = { -1, -1 };
        pid_t pids[TP_CLIENTS];
        double total = 0;
        int k = 0;

        memset(slots, 0, sizeof(TpSlot) * TP_CLIENTS);
        if (pipe2(gate, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0) {
                k = -errno;
                goto out;
        }
        fflush(stdout);
        fflush(stderr);
        for (int i = 0; i < TP_CLIENTS; i++) {
                pids[i] = fork();
                if (pids[i] < 0) {
                        k = -errno;
                        for (int j = 0; j < i; j++) {
                                (void)kill(pids[j], SIGKILL);
                                (void)pid_wait(pids[j], 5000);
                        }
                        goto out;
                }
                if (pids[i] == 0) {
                        (void)prctl(PR_SET_NAME, daemon ? "shmb-tp-daemon" : "shmb-tp-raw");
                        close(gate[1]);
                        close(ready[0]);
                        slots[i].err = tp_client(b, m, daemon, dur_ns, gate[0], ready[1], &slots[i]);
                        _exit(slots[i].err < 0 ? 1 : 0);
                }
        }
        close(ready[1]);
        ready[1] = -1;
        for (int i = 0; i < TP_CLIENTS; i++) {
                char x;

                if (read(ready[0], &x, 1) != 1)
                        break;
        }
        close(gate[1]);
        gate[1] = -1;

        for (int i = 0; i < TP_CLIENTS; i++) {
                int st = pid_wait(pids[i], (int)(dur_ns / 1000000u) + 30000);

                if (st != 0 && k == 0)
                        k = fail("%s throughput client %d failed (status %d, %s)", daemon ? "daemon" : "raw", i,
                                 st, strerror(slots[i].err < 0 ? -slots[i].err : EIO));
        }
        if (k < 0)
                goto out;
        for (int i = 0; i < TP_CLIENTS; i++) {
                if (slots[i].elapsed_ns > 0)
                        total += (double)slots[i].ops * 1e9 / (double)slots[i].elapsed_ns;
                for (uint32_t j = 0; j < slots[i].n_lat; j++)
                        samples_add(lat, slots[i].lat[j]);
        }
        *ret = total;
out:
        safe_close(gate[0]);
        safe_close(gate[1]);
        safe_close(ready[0]);
        safe_close(ready[1]);
        return k;
}

static int bench_throughput(Bench *b, const Mode *m) {
        const unsigned rounds = b->o.quick ? 1 : 3;
        const uint64_t dur_ns = b->o.quick ? UINT64_C(250000000) : UINT64_C(1000000000);
        const size_t slots_len = sizeof(TpSlot) * TP_CLIENTS;
        _cleanup_(samples_free) Samples dl = {}, fl = {};
        double dt[3], ft[3], dmin = 0, fmin = 0;
        TpSlot *slots;
        Metric *met;
        int k = 0;

        slots = mmap(NULL, slots_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (slots == MAP_FAILED)
                return -errno;
        if (samples_init(&dl, (size_t)rounds * TP_CLIENTS * TP_LAT_MAX) < 0 ||
            samples_init(&fl, (size_t)rounds * TP_CLIENTS * TP_LAT_MAX) < 0) {
                k = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < rounds; i++) {
                k = tp_round(b, m, true, dur_ns, slots, &dl, &dt[i]);
                if (k < 0)
                        goto out;
                k = tp_round(b, m, false, dur_ns, slots, &fl, &ft[i]);
                if (k < 0)
                        goto out;
                dmin = i == 0 ? dt[i] : MIN(dmin, dt[i]);
                fmin = i == 0 ? ft[i] : MIN(fmin, ft[i]);
        }
        /* Client processes stay on their CPU set; the parent goes back to its mode pinning. */
        met = metric_add("throughput16_ratio", "throughput 16 clients (open+close)", m->name, "op/s");
        if (met) {
                met->median = median_double(dt, rounds);
                met->p99 = dmin;
                met->has_floor = true;
                met->floor_median = median_double(ft, rounds);
                met->floor_p99 = fmin;
                met->has_ratio = met->floor_median > 0;
                met->ratio = met->has_ratio ? met->median / met->floor_median : 0;
                met->target_kind = TARGET_GE;
                met->target = 0.8;
                metric_note(met, "%u round(s) of %.2f s; p99 column = slowest round", rounds, (double)dur_ns / 1e9);
                if (strcmp(m->name, "same-cpu") == 0)
                        metric_note(met, "each client: open+touch+close as in open_ratio; floor server: bare "
                                         "single-threaded epoll passing one memfd per request, same client work");
        }
        metric_latency("throughput16_latency", "  latency per open under 16 clients", m->name, &dl, &fl, TARGET_NONE,
                       0);
out:
        (void)munmap(slots, slots_len);
        return k;
}

/* ---- huge pages ---------------------------------------------------------- */

static int hugepages_write(long v) {
        char buf[32];
        int fd, n;

        fd = open("/proc/sys/vm/nr_hugepages", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = snprintf(buf, sizeof(buf), "%ld\n", v);
        if (write(fd, buf, (size_t)n) != n) {
                int r = -errno;
                close(fd);
                return r;
        }
        close(fd);
        return 0;
}

static void hugepages_restore(void) {
        if (the_bench && the_bench->hugepages_saved >= 0) {
                (void)hugepages_write(the_bench->hugepages_saved);
                the_bench->hugepages_saved = -1;
        }
}

#define HUGETLB_WARMUP 4
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26)
#endif

/*
 * Waits (up to 200 ms) until the pool has want free pages again: the pages
 * of a region just released may still be on their way back, and a create
 * measured meanwhile would share the CPU with that.
 */
static void hugetlb_wait_free(uint64_t want) {
        for (int i = 0; i < 1000; i++) {
                uint64_t free_pages = 0;

                if (meminfo_get("HugePages_Free", &free_pages) < 0 || free_pages >= want)
                        return;
                (void)usleep(200);
        }
}

/*
 * Allocates (and so zeroes) every free 2 MiB page of the pool once, then
 * gives them back. On a virtual machine a guest page the guest has not
 * touched since boot first costs the host a fault of its own: whichever
 * side drew such pages would pay for it (1.7x in a cold run).
 */
static void hugetlb_warm_pool(void) {
        uint64_t free_pages = 0;
        int fd;

        if (meminfo_get("HugePages_Free", &free_pages) < 0 || free_pages == 0)
                return;
        fd = memfd_create("bench-warm", MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_2MB);
        if (fd < 0)
                return;
        if (ftruncate(fd, (off_t)(free_pages * PAGE_2M)) == 0)
                (void)fallocate(fd, 0, 0, (off_t)(free_pages * PAGE_2M));
        close(fd);
}

static int bench_hugetlb(Bench *b, const Mode *m) {
        const unsigned iters = b->o.quick ? 3 : 30;
        /*
         * Room for two regions at once: the raw server closes its memfd only
         * after sending it, so its pages may still be held when the next
         * daemon create asks for its own.
         */
        const uint64_t need = 2 * (RAW_HUGETLB_SIZE / PAGE_2M) + 2;
        struct shmb_create_opts o = create_opts(PAGE_2M, PAGE_2M);
        _cleanup_(samples_free) Samples d = {}, f = {};
        uint64_t total = 0, free_pages = 0;
        shmb_region *r = NULL;
        int k;

        /* Ask before touching the system's pool: the daemon may not do 2 MiB pages at all. */
        k = shmb_create(b->conn, "bench.huge.probe", &o, &r);
        if (k == -EOPNOTSUPP) {
                metric_skip("hugetlb_create_ratio", "create 64MiB 2M-pages", TARGET_LE, 1.1,
                            "the daemon answers 2 MiB pages with -EOPNOTSUPP (%s): huge page support is not in "
                            "this build (issue 4, feat-mem branch)", shmb_conn_error(b->conn));
                return 0;
        }
        if (k >= 0) {
                (void)shmb_close(r);
                (void)shmb_delete(b->conn, "bench.huge.probe");
        } else if (k != -ENOMEM) {
                metric_skip("hugetlb_create_ratio", "create 64MiB 2M-pages", TARGET_LE, 1.1,
                            "probe create of a 2 MiB-page region failed: %s (%s)", shmb_strerror(k),
                            shmb_conn_error(b->conn));
                return 0;
        }

        if (meminfo_get("HugePages_Total", &total) < 0 || meminfo_get("HugePages_Free", &free_pages) < 0) {
                metric_skip("hugetlb_create_ratio", "create 64MiB 2M-pages", TARGET_LE, 1.1,
                            "no HugePages_* in /proc/meminfo");
                return 0;
        }
        if (free_pages < need) {
                k = hugepages_write((long)(total + need - free_pages));
                if (k < 0) {
                        metric_skip("hugetlb_create_ratio", "create 64MiB 2M-pages", TARGET_LE, 1.1,
                                    "cannot reserve %" PRIu64 " 2 MiB pages in /proc/sys/vm/nr_hugepages: %s", need,
                                    strerror(-k));
                        return 0;
                }
                b->hugepages_saved = (long)total;
                if (meminfo_get("HugePages_Free", &free_pages) < 0 || free_pages < need) {
                        hugepages_restore();
                        metric_skip("hugetlb_create_ratio", "create 64MiB 2M-pages", TARGET_LE, 1.1,
                                    "the kernel reserved only %" PRIu64 " of %" PRIu64 " 2 MiB pages", free_pages,
                                    need);
                        return 0;
                }
        }

        if (samples_init(&d, iters) < 0 || samples_init(&f, iters) < 0) {
                hugepages_restore();
                return -ENOMEM;
        }
        hugetlb_warm_pool();
        if (meminfo_get("HugePages_Free", &free_pages) < 0)
                free_pages = 0;
        o.size = RAW_HUGETLB_SIZE;
        /* The first rounds are not counted, and the sides take turns going first. */
        for (unsigned i = 0; i < iters + HUGETLB_WARMUP; i++) {
                bool daemon_first = i % 2 == 0;
                uint64_t t0, td = 0, tf = 0;
                void *p;
                int fd;

                if (!daemon_first) {
                        hugetlb_wait_free(free_pages);
                        t0 = now_ns();
                        k = raw_request_fd(b->raw_sock, RAW_OP_HUGETLB, &fd);
                        if (k < 0) {
                                hugepages_restore();
                                return fail("raw hugetlb create: %s", strerror(-k));
                        }
                        p = mmap(NULL, RAW_HUGETLB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                        tf = now_ns() - t0;
                        if (p != MAP_FAILED)
                                (void)munmap(p, RAW_HUGETLB_SIZE);
                        close(fd);
                }

                hugetlb_wait_free(free_pages);
                t0 = now_ns();
                k = shmb_create(b->conn, "bench.huge", &o, &r);
                /* Someone else on the machine took the pool's pages: a shortage, not a broken bench. */
                if (k == -ENOMEM) {
                        hugepages_restore();
                        samples_free(&d);
                        samples_free(&f);
                        metric_skip("hugetlb_create_ratio", "create 64MiB 2M-pages", TARGET_LE, 1.1,
                                    "the huge page pool ran short while measuring: %s", shmb_conn_error(b->conn));
                        return 0;
                }
                if (k < 0) {
                        hugepages_restore();
                        return fail("shmb_create 64 MiB of 2 MiB pages: %s (%s)", shmb_strerror(k),
                                    shmb_conn_error(b->conn));
                }
                td = now_ns() - t0;
                (void)shmb_close(r);
                (void)shmb_delete(b->conn, "bench.huge");

                if (daemon_first) {
                        hugetlb_wait_free(free_pages);
                        t0 = now_ns();
                        k = raw_request_fd(b->raw_sock, RAW_OP_HUGETLB, &fd);
                        if (k < 0) {
                                hugepages_restore();
                                return fail("raw hugetlb create: %s", strerror(-k));
                        }
                        p = mmap(NULL, RAW_HUGETLB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                        tf = now_ns() - t0;
                        if (p != MAP_FAILED)
                                (void)munmap(p, RAW_HUGETLB_SIZE);
                        close(fd);
                }
                if (i >= HUGETLB_WARMUP) {
                        samples_add(&d, td);
                        samples_add(&f, tf);
                }
        }
        hugepages_restore();
        metric_note(metric_latency("hugetlb_create_ratio", "create 64MiB 2M-pages", m->name, &d, &f, TARGET_LE, 1.1),
                    "raw: memfd_create(MFD_HUGETLB) + ftruncate + fallocate + seals + fd round trip + mmap");
        return 0;
}

/* ---- the latency daemon: open, create, throughput, huge pages ------------ */

static int phase_latency(Bench *b) {
        const Mode modes[] = {
                { "same-cpu", b->cpus[0], b->cpus[0] },
                { "cross-cpu", b->cpus[0], b->n_cpus > 1 ? b->cpus[1] : -1 },
        };
        unsigned iters = b->o.iterations;
        int k;

        k = daemon_start(&b->daemon, b->o.daemon, b->dir, "latency", 100000, 256);
        if (k < 0)
                return fail("cannot start %s: %s", b->o.daemon, strerror(-k));
        k = raw_server_start(&b->raw, b->dir);
        if (k < 0)
                return fail("cannot start the raw server: %s", strerror(-k));
        progress(b, "latency daemon pid %d, raw floor server pid %d", (int)b->daemon.pid, (int)b->raw.pid);
        k = shmb_connect(b->daemon.sock, &b->conn);
        if (k < 0)
                return fail("shmb_connect %s: %s (%s)", b->daemon.sock, shmb_strerror(k), shmb_conn_error(NULL));
        k = b->raw_sock = raw_connect(b->raw.sock);
        if (k < 0)
                return fail("connect %s: %s", b->raw.sock, strerror(-k));
        k = make_open_region(b->conn);
        if (k < 0)
                return k;

        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                const Mode *m = &modes[i];

                if (b->o.pinning && strcmp(b->o.pinning, m->name) != 0)
                        continue;
                if (m->server_cpu < 0) {
                        metric_skip("open_ratio", "open 1MiB+map+touch+close", TARGET_LE, 1.3,
                                    "cross-cpu: only one CPU is available to this process");
                        continue;
                }
                k = pin_mode(b, m, b->daemon.pid);
                if (k >= 0)
                        k = pin_pid(b->raw.pid, m->server_cpu);
                if (k < 0)
                        return k;
                if (phase_on(b, "open")) {
                        progress(b, "open, %s: %u iterations each side", m->name, iters);
                        k = bench_open(b, m, iters);
                        if (k < 0)
                                return k;
                }
                if (phase_on(b, "create")) {
                        progress(b, "create, %s: %u iterations each side", m->name, iters);
                        k = bench_create(b, m, iters);
                        if (k < 0)
                                return k;
                }
                if (phase_on(b, "throughput")) {
                        progress(b, "throughput, %s: %d clients", m->name, TP_CLIENTS);
                        k = bench_throughput(b, m);
                        if (k < 0)
                                return k;
                }
        }

        if (phase_on(b, "throughput") && (!b->o.pinning || strcmp(b->o.pinning, "unpinned") == 0)) {
                const Mode free_mode = { "unpinned", -1, -1 };

                k = pin_mode(b, &free_mode, b->daemon.pid);
                if (k >= 0)
                        k = pin_pid(b->raw.pid, -1);
                if (k < 0)
                        return k;
                progress(b, "throughput, unpinned: %d clients", TP_CLIENTS);
                k = bench_throughput(b, &free_mode);
                if (k < 0)
                        return k;
        }

        if (phase_on(b, "hugetlb")) {
                k = pin_mode(b, &modes[0], b->daemon.pid);
                if (k >= 0)
                        k = pin_pid(b->raw.pid, modes[0].server_cpu);
                if (k < 0)
                        return k;
                progress(b, "hugetlb create");
                k = bench_hugetlb(b, &modes[0]);
                if (k < 0)
                        return k;
        }

        (void)pin_pid(0, -1);
        shmb_disconnect(b->conn);
        b->conn = NULL;
        b->raw_sock = safe_close(b->raw_sock);
        raw_server_stop(&b->raw);
        k = daemon_stop(&b->daemon);
        if (k != 0) {
                daemon_log_tail(&b->daemon);
                return fail("the daemon did not exit cleanly on SIGTERM (status %d)", k);
        }
        return 0;
}

/* ---- scale: RSS per region, 1,000 connections, list ---------------------- */

typedef struct ListProbe {
        volatile int phase; /* 0 measuring idle, 1 idle done, 2 list done: stop */
        int err;
        uint32_t n_idle, n_busy;
        uint32_t idle[LIST_LAT_MAX];
        uint32_t busy[LIST_LAT_MAX];
} ListProbe;

static int list_probe_child(const Bench *b, int cpu, unsigned idle_iters, ListProbe *p) {
        shmb_conn *c;
        int k;

        (void)pin_pid(0, cpu);
        k = shmb_connect(b->daemon.sock, &c);
        if (k < 0)
                return k;
        for (unsigned i = 0; i < idle_iters && k >= 0; i++) {
                uint64_t t0 = now_ns();

                k = daemon_open_once(c);
                if (p->n_idle < LIST_LAT_MAX)
                        p->idle[p->n_idle++] = (uint32_t)MIN(now_ns() - t0, (uint64_t)UINT32_MAX);
        }
        __atomic_store_n(&p->phase, 1, __ATOMIC_SEQ_CST);
        while (k >= 0 && __atomic_load_n(&p->phase, __ATOMIC_SEQ_CST) != 2) {
                uint64_t t0 = now_ns();

                k = daemon_open_once(c);
                if (p->n_busy < LIST_LAT_MAX)
                        p->busy[p->n_busy++] = (uint32_t)MIN(now_ns() - t0, (uint64_t)UINT32_MAX);
        }
        shmb_disconnect(c);
        return k;
}

static int count_cb(const struct shmb_region_info *info, void *userdata) {
        (*(unsigned *)userdata)++;
        return 0;
}

static int bench_list(Bench *b, int client_cpu, unsigned n_regions, const char *pinning) {
        const double min_secs = b->o.quick ? 0.2 : 2.0;
        const unsigned max_reps = b->o.quick ? 3 : 200;
        _cleanup_(samples_free) Samples ls = {}, idle = {}, busy = {};
        ListProbe *p;
        struct sched_param sp = {};
        bool idle_sched;
        double elapsed = 0;
        unsigned reps = 0;
        Metric *met;
        pid_t pid;
        int k = 0, st;

        p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        if (samples_init(&ls, max_reps) < 0 || samples_init(&idle, LIST_LAT_MAX) < 0 ||
            samples_init(&busy, LIST_LAT_MAX) < 0) {
                k = -ENOMEM;
                goto out;
        }

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                k = -errno;
                goto out;
        }
        if (pid == 0) {
                (void)prctl(PR_SET_NAME, "shmb-list-probe");
                p->err = list_probe_child(b, client_cpu, b->o.quick ? 500 : 5000, p);
                _exit(p->err < 0 ? 1 : 0);
        }
        while (__atomic_load_n(&p->phase, __ATOMIC_SEQ_CST) == 0 && waitpid(pid, &st, WNOHANG) == 0)
                sleep_ms(1);

        /*
         * With two CPUs the lister shares one with the probe (the daemon has
         * the other): SCHED_IDLE keeps the lister's own decoding from
         * delaying the probe, so what is measured is the daemon's stalls.
         */
        idle_sched = sched_setscheduler(0, SCHED_IDLE, &sp) == 0;

        while (reps < max_reps && (elapsed < min_secs || reps < 3)) {
                unsigned count = 0;
                uint64_t t0 = now_ns(), dt;

                k = shmb_list(b->conn, NULL, count_cb, &count);
                dt = now_ns() - t0;
                if (k < 0) {
                        k = fail("shmb_list: %s (%s)", shmb_strerror(k), shmb_conn_error(b->conn));
                        break;
                }
                if (count != n_regions) {
                        k = fail("shmb_list returned %u regions, %u exist", count, n_regions);
                        break;
                }
                samples_add(&ls, dt);
                elapsed += (double)dt / 1e9;
                reps++;
        }
        if (idle_sched)
                (void)sched_setscheduler(0, SCHED_OTHER, &sp);
        __atomic_store_n(&p->phase, 2, __ATOMIC_SEQ_CST);
        st = pid_wait(pid, 30000);
        if (k < 0)
                goto out;
        if (st != 0) {
                k = fail("the open-latency client failed during the list (status %d, %s)", st,
                         strerror(p->err < 0 ? -p->err : EIO));
                goto out;
        }

        met = metric_add("list_seconds", "list all regions", pinning, "s");
        if (met) {
                met->median = (double)samples_pct(&ls, 0.5) / 1e9;
                met->p99 = (double)samples_pct(&ls, 0.99) / 1e9;
                metric_note(met, "%u regions, %u listings while another client opened in a loop", n_regions,
                            reps);
                if (n_regions > 0)
                        metric_note(met, "%.2f us per region; linear estimate for %u regions: %.3f s",
                                    met->median * 1e6 / n_regions, SPEC_REGIONS,
                                    met->median * SPEC_REGIONS / n_regions);
        }
        for (uint32_t i = 0; i < p->n_idle; i++)
                samples_add(&idle, p->idle[i]);
        for (uint32_t i = 0; i < p->n_busy; i++)
                samples_add(&busy, p->busy[i]);
        met = metric_latency("list_open_latency_ratio", "open latency while listing", pinning, &busy, &idle,
                             TARGET_LE, 2.0);
        if (met)
                metric_note(met, "floor columns = the same client's idle open latency (%u opens), median column = "
                                 "during the listings (%u opens); p99 ratio %.2f; lister %s on the probe's CPU, "
                                 "daemon on the other",
                            p->n_idle, p->n_busy, met->floor_p99 > 0 ? met->p99 / met->floor_p99 : 0,
                            idle_sched ? "SCHED_IDLE" : "SCHED_OTHER (SCHED_IDLE refused)");
out:
        (void)munmap(p, sizeof(*p));
        return k;
}

static int settle_mem(pid_t pid, ProcMem *ret) {
        /* The daemon has answered everything; give the allocator's trim a moment. */
        sleep_ms(100);
        return proc_mem(pid, ret);
}

static uint64_t rss_private(const ProcMem *m) {
        /* Region pages the daemon might map would show as shared memory: excluded. */
        return m->vm_rss - m->rss_shmem;
}

static int phase_scale(Bench *b, unsigned n, unsigned n_conns, const char *why_fewer) {
        const int client_cpu = b->cpus[0], server_cpu = b->n_cpus > 1 ? b->cpus[1] : b->cpus[0];
        const char *pinning = b->n_cpus > 1 ? "cross-cpu" : "same-cpu";
        struct shmb_create_opts o = create_opts(RAW_CREATE_SIZE, 0);
        _cleanup_free_ shmb_conn **conns = NULL;
        uint64_t slab0 = 0, slab1 = 0, t0, create_ns;
        ProcMem m0, m1, m2;
        Metric *met;
        int k;

        k = daemon_start(&b->daemon, b->o.daemon, b->dir, "scale", n + 64, n_conns + 64);
        if (k < 0)
                return fail("cannot start %s: %s", b->o.daemon, strerror(-k));
        if (pin_pid(b->daemon.pid, server_cpu) < 0 || pin_pid(0, client_cpu) < 0)
                return fail("cannot pin for the scale phase");
        progress(b, "scale daemon pid %d", (int)b->daemon.pid);
        k = shmb_connect(b->daemon.sock, &b->conn);
        if (k < 0)
                return fail("shmb_connect %s: %s (%s)", b->daemon.sock, shmb_strerror(k), shmb_conn_error(NULL));
        k = make_open_region(b->conn);
        if (k < 0)
                return k;

        k = settle_mem(b->daemon.pid, &m0);
        if (k < 0)
                return fail("cannot read the daemon's memory: %s", strerror(-k));
        (void)meminfo_get("Slab", &slab0);

        progress(b, "scale: creating %u regions", n - 1);
        t0 = now_ns();
        for (unsigned i = 1; i < n; i++) {
                char name[32];
                shmb_region *r;

                snprintf(name, sizeof(name), "bench.scale/%07u", i);
                k = shmb_create(b->conn, name, &o, &r);
                if (k < 0)
                        return fail("shmb_create %s (region %u of %u): %s (%s)", name, i, n, shmb_strerror(k),
                                    shmb_conn_error(b->conn));
                k = shmb_close(r);
                if (k < 0)
                        return fail("shmb_close: %s", shmb_strerror(k));
        }
        create_ns = now_ns() - t0;
        k = settle_mem(b->daemon.pid, &m1);
        if (k < 0)
                return fail("cannot read the daemon's memory: %s", strerror(-k));
        (void)meminfo_get("Slab", &slab1);

        met = metric_add("rss_per_region_bytes", "daemon RSS per region", "", "B");
        if (met) {
                met->median = met->p99 = ((double)rss_private(&m1) - (double)rss_private(&m0)) / (double)(n - 1);
                met->target_kind = TARGET_LE;
                met->target = 2048;
                metric_note(met, "(VmRSS - RssShmem) growth from 1 to %u regions of 4 KiB: %.1f -> %.1f MiB", n,
                            (double)rss_private(&m0) / (double)MIB, (double)rss_private(&m1) / (double)MIB);
                if (why_fewer)
                        metric_note(met, "%s", why_fewer);
                metric_note(met, "%u creates took %.2f s (%.0f/s, one client)", n - 1, (double)create_ns / 1e9,
                            (double)(n - 1) * 1e9 / (double)create_ns);
        }
        met = metric_add("kernel_slab_per_region_bytes", "kernel slab per region (info)", "", "B");
        if (met) {
                met->median = met->p99 = ((double)slab1 - (double)slab0) / (double)(n - 1);
                metric_note(met, "system-wide /proc/meminfo Slab growth (memfd inode, dentry, file), not charged to "
                                 "the daemon's RSS; noisy");
        }

        progress(b, "scale: holding %u connections", n_conns);
        conns = calloc(n_conns, sizeof(*conns));
        if (!conns)
                return -ENOMEM;
        for (unsigned i = 0; i < n_conns; i++) {
                k = shmb_connect(b->daemon.sock, &conns[i]);
                if (k < 0) {
                        for (unsigned j = 0; j < i; j++)
                                shmb_disconnect(conns[j]);
                        return fail("connection %u of %u: %s (%s)", i + 1, n_conns, shmb_strerror(k),
                                    shmb_conn_error(NULL));
                }
        }
        k = settle_mem(b->daemon.pid, &m2);
        if (k >= 0) {
                met = metric_add("rss_connections_bytes", "daemon RSS, regions + connections", "", "B");
                if (met) {
                        met->median = met->p99 = (double)rss_private(&m2);
                        metric_note(met, "%u regions and %u extra idle connections held at once; %.0f B per "
                                         "connection",
                                    n, n_conns,
                                    ((double)rss_private(&m2) - (double)rss_private(&m1)) / (double)n_conns);
                }
        }

        if (k >= 0 && phase_on(b, "list")) {
                progress(b, "scale: listing %u regions while another client opens", n);
                k = bench_list(b, client_cpu, n, pinning);
        }

        for (unsigned i = 0; i < n_conns; i++)
                shmb_disconnect(conns[i]);
        if (k < 0)
                return k;

        (void)pin_pid(0, -1);
        shmb_disconnect(b->conn);
        b->conn = NULL;
        k = daemon_stop(&b->daemon);
        if (k != 0) {
                daemon_log_tail(&b->daemon);
                return fail("the daemon did not exit cleanly on SIGTERM (status %d)", k);
        }
        return 0;
}

/*
 * How many regions fit: each is one daemon fd, each connection two (its
 * socket and the pidfd of its peer), bounded by RLIMIT_NOFILE.
 */
static unsigned regions_that_fit(unsigned want, unsigned n_conns, char *why, size_t whylen) {
        const unsigned margin = 1000; /* listening socket, epoll, logs, sealer, probes */
        struct rlimit rl;
        rlim_t need = (rlim_t)want + 2 * (rlim_t)n_conns + margin;
        unsigned n;

        why[0] = 0;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return want;
        if (rl.rlim_max < need) {
                struct rlimit raised = { .rlim_cur = need, .rlim_max = need };

                /* Root with CAP_SYS_RESOURCE may raise the hard limit for the daemon we start. */
                if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
                        return want;
                n = rl.rlim_max > 2 * (rlim_t)n_conns + 2 * margin
                            ? (unsigned)((rl.rlim_max - 2 * (rlim_t)n_conns - margin) / 1000 * 1000)
                            : 100;
                snprintf(why, whylen,
                         "measured at %u regions, not %u: each region holds one daemon fd and RLIMIT_NOFILE's hard "
                         "limit is %llu here (raising it failed: %s; CAP_SYS_RESOURCE missing)",
                         n, want, (unsigned long long)rl.rlim_max, strerror(errno));
                return n;
        }
        if (rl.rlim_cur < need) {
                rl.rlim_cur = need;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        return want;
}

/* ---- restore: regions back from the fd store ----------------------------- */

#define RESTORE_PREFIX "bench.restore/"
#define RESTORE_REGIONS 2000u
#define RESTORE_REGIONS_QUICK 500u
#define RESTORE_ROUNDS 15u
#define RESTORE_ROUNDS_QUICK 5u
#define RESTORE_CHECKS 16u /* regions whose contents are read back after each restore */
#define RESTORE_TIMEOUT_MS 20000

/*
 * Each stored region is one descriptor in the benchmark, and the child a
 * daemon is started from briefly holds two more per region while it moves
 * them to 3, 4, ...: bounded by RLIMIT_NOFILE like the scale phase.
 */
static unsigned restore_regions_that_fit(unsigned want, char *why, size_t whylen) {
        const unsigned margin = 256;
        rlim_t need = 3 * (rlim_t)want + margin;
        struct rlimit rl, raised;
        unsigned n;

        why[0] = 0;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
                return want;
        /* Root with CAP_SYS_RESOURCE may raise the hard limit too. */
        raised = (struct rlimit){ .rlim_cur = need, .rlim_max = MAX(rl.rlim_max, need) };
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
                return want;
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        n = rl.rlim_max > 3 * 100 + (rlim_t)margin ? (unsigned)((rl.rlim_max - margin) / 3 / 100 * 100) : 100;
        n = MIN(n, want);
        snprintf(why, whylen,
                 "%u regions, not %u: RLIMIT_NOFILE's hard limit is %llu here, and each stored region takes one "
                 "descriptor in the benchmark and two more while a daemon starts", n, want,
                 (unsigned long long)rl.rlim_max);
        return n;
}

static int restore_start_failed(const Manager *m, const char *binary, const char *what, int k) {
        Daemon d = DAEMON_NULL;

        memcpy(d.log, m->log, sizeof(d.log));
        daemon_log_tail(&d);
        if (k == -ECHILD)
                return fail("%s: %s exited before READY=1 (status %d)", what, binary, m->status);
        return fail("%s: %s sent no READY=1 within %d ms: %s", what, binary, RESTORE_TIMEOUT_MS, strerror(-k));
}

static int restore_stop(const Manager *m, int status, const char *what) {
        Daemon d = DAEMON_NULL;

        if (status == 0)
                return 0;
        memcpy(d.log, m->log, sizeof(d.log));
        daemon_log_tail(&d);
        return fail("%s: the daemon did not exit cleanly on SIGTERM (status %d)", what, status);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_meta(const char *name) {
        return strcmp(name, "meta0") == 0 || strcmp(name, "meta1") == 0;
}

/* The store a stopped daemon left: n region descriptors under distinct names and one metadata log. */
static int restore_check_store(const Manager *m, unsigned n, const char *when) {
        _cleanup_free_ const char **names = NULL;
        unsigned metas = 0, regions = 0, twice = 0;

        if (m->refused || m->truncated || m->foreign)
                return fail("%s: %u descriptors past FileDescriptorStoreMax=%u, %u notify messages cut short, "
                            "%u from other processes than the daemon", when, m->refused, m->store_max,
                            m->truncated, m->foreign);
        names = calloc(m->n_store + 1, sizeof(*names));
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_store; i++) {
                if (is_meta(m->store[i].name))
                        metas++;
                else
                        names[regions++] = m->store[i].name;
        }
        qsort(names, regions, sizeof(*names), cmp_str);
        for (unsigned i = 1; i < regions; i++)
                if (strcmp(names[i - 1], names[i]) == 0)
                        twice++;
        if (regions != n || twice || metas != 1)
                return fail("%s: the fd store holds %u region descriptors (%u expected, %u under a name used "
                            "before) and %u metadata logs (1 expected)", when, regions, n, twice, metas);
        return 0;
}

typedef struct RestoreCount {
        unsigned n, unsafe;
} RestoreCount;

static int restore_count_cb(const struct shmb_region_info *info, void *userdata) {
        RestoreCount *rc = userdata;

        rc->n++;
        if (!info->restart_safe)
                rc->unsafe++;
        return 0;
}

/* Every region is listed and restart-safe, and a sample of them has its contents. */
static int restore_verify(const Manager *m, unsigned n, const char *when) {
        const unsigned step = MAX(n / RESTORE_CHECKS, 1u);
        RestoreCount rc = {};
        shmb_conn *c;
        int k;

        k = shmb_connect(m->sock, &c);
        if (k < 0)
                return fail("%s: shmb_connect %s: %s (%s)", when, m->sock, shmb_strerror(k), shmb_conn_error(NULL));
        k = shmb_list(c, RESTORE_PREFIX, restore_count_cb, &rc);
        if (k < 0)
                k = fail("%s: shmb_list: %s (%s)", when, shmb_strerror(k), shmb_conn_error(c));
        else if (rc.n != n || rc.unsafe > 0)
                k = fail("%s: the daemon lists %u of the %u regions, %u of them not restart-safe", when, rc.n, n,
                         rc.unsafe);
        for (unsigned i = 0; k >= 0 && i < n; i = i + step < n || i == n - 1 ? i + step : n - 1) {
                char name[48];
                shmb_region *r;

                snprintf(name, sizeof(name), RESTORE_PREFIX "%05u", i);
                k = shmb_open(c, name, SHMB_READ, 0, &r);
                if (k < 0) {
                        k = fail("%s: shmb_open %s: %s (%s)", when, name, shmb_strerror(k), shmb_conn_error(c));
                        break;
                }
                if (strncmp(shmb_region_data(r), name, sizeof(name)) != 0)
                        k = fail("%s: region %s came back with other contents: '%.47s'", when, name,
                                 (const char *)shmb_region_data(r));
                (void)shmb_close(r);
        }
        shmb_disconnect(c);
        return k;
}

/*
 * The first daemon under the benchmark as manager creates the regions, which
 * go to the store. Returns 1 when the daemon stores nothing at all.
 */
static int restore_seed(Bench *b, Manager *m, const char *const *args, int cpu, unsigned n) {
        struct shmb_create_opts o = create_opts(RAW_CREATE_SIZE, 0);
        shmb_conn *c;
        int k;

        k = manager_start(m, b->o.daemon, args, cpu);
        if (k < 0)
                return fail("cannot start %s: %s", b->o.daemon, strerror(-k));
        k = manager_wait_ready(m, RESTORE_TIMEOUT_MS);
        if (k < 0)
                return restore_start_failed(m, b->o.daemon, "restore", k);
        if (m->n_store == 0) {
                /* A daemon with an fd store stores its metadata log before READY=1. */
                k = restore_stop(m, manager_stop(m, RESTORE_TIMEOUT_MS), "a daemon without an fd store");
                return k < 0 ? k : 1;
        }
        progress(b, "restore: daemon pid %d under the benchmark as service manager, creating %u regions",
                 (int)m->pid, n);
        k = shmb_connect(m->sock, &c);
        if (k < 0)
                return fail("shmb_connect %s: %s (%s)", m->sock, shmb_strerror(k), shmb_conn_error(NULL));
        for (unsigned i = 0; i < n; i++) {
                char name[48];
                shmb_region *r;

                snprintf(name, sizeof(name), RESTORE_PREFIX "%05u", i);
                k = shmb_create(c, name, &o, &r);
                if (k < 0) {
                        k = fail("shmb_create %s (region %u of %u): %s (%s)", name, i + 1, n, shmb_strerror(k),
                                 shmb_conn_error(c));
                        break;
                }
                snprintf(shmb_region_data(r), shmb_region_size(r), "%s", name);
                (void)shmb_close(r);
                /*
                 * Each create stores a descriptor: keep the notify queue
                 * (net.unix.max_dgram_qlen, 10 by default) from filling up,
                 * or the daemon would block in sd_notify() while we wait for
                 * its reply.
                 */
                k = manager_pump(m, 0);
                if (k < 0) {
                        k = fail("notify socket %s: %s", m->notify_path, strerror(-k));
                        break;
                }
        }
        shmb_disconnect(c);
        if (k >= 0)
                k = restore_verify(m, n, "after the creates");
        if (k < 0)
                return k;
        k = restore_stop(m, manager_stop(m, RESTORE_TIMEOUT_MS), "after the creates");
        if (k < 0)
                return k;
        return restore_check_store(m, n, "after the daemon that created the regions stopped");
}

/* Starts and stops a daemon under m with m's store; *ret_ns: exec -> READY=1. */
static int restore_start_stop(Bench *b, Manager *m, const char *const *args, int cpu, const char *what,
                              uint64_t *ret_ns) {
        int k;

        k = manager_start(m, b->o.daemon, args, cpu);
        if (k < 0)
                return fail("cannot start %s: %s", b->o.daemon, strerror(-k));
        k = manager_wait_ready(m, RESTORE_TIMEOUT_MS);
        if (k < 0)
                return restore_start_failed(m, b->o.daemon, what, k);
        *ret_ns = manager_start_ns(m);
        return restore_stop(m, manager_stop(m, RESTORE_TIMEOUT_MS), what);
}

/*
 * One round: a start with an empty store, a start with only the metadata
 * log that one left (the part of a restore that does not depend on the
 * number of regions), a start that restores the n regions (then checked and
 * stopped), and the floor, receiving the same memfds in a fresh process.
 * Start times are exec -> READY=1 in ns.
 */
static int restore_round(Bench *b, Manager *rm, Manager *em, const char *const *args, int cpu, unsigned n,
                         uint64_t *ret_empty, uint64_t *ret_log_only, uint64_t *ret_full, uint64_t *ret_floor) {
        _cleanup_free_ int *fds = NULL;
        size_t n_fds = 0;
        int k;

        manager_store_clear(em);
        k = restore_start_stop(b, em, args, cpu, "start with an empty fd store", ret_empty);
        if (k >= 0)
                k = restore_check_store(em, 0, "after a start with an empty fd store");
        if (k >= 0)
                k = restore_start_stop(b, em, args, cpu, "start with only the metadata log stored", ret_log_only);
        if (k < 0)
                return k;
        manager_store_clear(em);

        k = manager_start(rm, b->o.daemon, args, cpu);
        if (k < 0)
                return fail("cannot start %s: %s", b->o.daemon, strerror(-k));
        k = manager_wait_ready(rm, RESTORE_TIMEOUT_MS);
        if (k < 0)
                return restore_start_failed(rm, b->o.daemon, "restore", k);
        *ret_full = manager_start_ns(rm);
        k = restore_verify(rm, n, "after the restore");
        if (k < 0)
                return k;
        k = restore_stop(rm, manager_stop(rm, RESTORE_TIMEOUT_MS), "after the restore");
        if (k < 0)
                return k;
        k = restore_check_store(rm, n, "after the restored daemon stopped");
        if (k < 0)
                return k;

        fds = calloc(n, sizeof(*fds));
        if (!fds)
                return -ENOMEM;
        for (size_t i = 0; i < rm->n_store; i++)
                if (!is_meta(rm->store[i].name))
                        fds[n_fds++] = rm->store[i].fd;
        k = raw_restore_floor(fds, n_fds, cpu, ret_floor);
        if (k < 0)
                return fail("raw floor: receiving %zu descriptors: %s", n_fds, strerror(-k));
        return 0;
}

static int phase_restore(Bench *b) {
        const int client_cpu = b->cpus[0], server_cpu = b->n_cpus > 1 ? b->cpus[1] : b->cpus[0];
        const unsigned rounds = b->o.quick ? RESTORE_ROUNDS_QUICK : RESTORE_ROUNDS;
        _cleanup_(manager_done) Manager rm = MANAGER_NULL, em = MANAGER_NULL;
        _cleanup_(samples_free) Samples d = {}, f = {}, full = {}, empty = {}, log_only = {};
        uint64_t ready0, t_empty = 0, t_log_only = 0, t_full = 0, t_floor = 0;
        char why[256], regions[16];
        const char *args[] = { "--max-regions", regions, "--max-connections", "64", NULL };
        unsigned n, clamped = 0;
        Metric *met;
        int k;

        n = restore_regions_that_fit(b->o.quick ? RESTORE_REGIONS_QUICK : RESTORE_REGIONS, why, sizeof(why));
        snprintf(regions, sizeof(regions), "%u", n + 64);
        /* Room to spare, so that a daemon that overfills the store is seen doing it. */
        k = manager_init(&rm, b->dir, "restore", n + 16);
        if (k >= 0)
                k = manager_init(&em, b->dir, "restore-empty", n + 16);
        if (k < 0)
                return fail("cannot set up the service manager's sockets in %s: %s", b->dir, strerror(-k));
        if (samples_init(&d, rounds) < 0 || samples_init(&f, rounds) < 0 || samples_init(&full, rounds) < 0 ||
            samples_init(&empty, rounds) < 0 || samples_init(&log_only, rounds) < 0)
                return -ENOMEM;
        if (pin_pid(0, client_cpu) < 0)
                return fail("cannot pin to CPU %d for the restore phase", client_cpu);

        k = restore_seed(b, &rm, args, server_cpu, n);
        if (k < 0)
                return k;
        if (k > 0) {
                (void)pin_pid(0, -1);
                metric_skip("restore_ratio", "restore regions from the fd store", TARGET_LE, 2.0,
                            "%s stored nothing in the fd store under NOTIFY_SOCKET (no metadata log before "
                            "READY=1): it has no fd store", b->o.daemon);
                return 0;
        }
        progress(b, "restore: %u regions, %u rounds (+1 warm-up) of: start with an empty store, with only a "
                 "metadata log, with the regions; raw floor", n, rounds);
        for (unsigned i = 0; i <= rounds; i++) {
                k = restore_round(b, &rm, &em, args, server_cpu, n, &t_empty, &t_log_only, &t_full, &t_floor);
                if (k < 0)
                        return k;
                if (i == 0)
                        continue; /* warm-up: page cache, dynamic loader */
                samples_add(&empty, t_empty);
                samples_add(&log_only, t_log_only);
                samples_add(&full, t_full);
                samples_add(&f, t_floor);
        }
        (void)pin_pid(0, -1);

        /* Restoring n regions = start with them stored - start with none. */
        ready0 = samples_pct(&empty, 0.5);
        for (size_t i = 0; i < full.n; i++) {
                if (full.v[i] <= ready0)
                        clamped++;
                samples_add(&d, full.v[i] > ready0 ? full.v[i] - ready0 : 0);
        }
        met = metric_latency("restore_ratio", "restore regions from the fd store", "", &d, &f, TARGET_LE, 2.0);
        metric_note(met, "%u regions of 4 KiB, %u rounds, p99 = slowest; daemon: exec -> READY=1 with them "
                         "stored minus the median with an empty store; floor: a fresh process receives the same "
                         "memfds (SCM_RIGHTS, %d per message) and fstat()s each",
                    n, rounds, RAW_FDS_PER_MSG);
        if (clamped)
                metric_note(met, "%u round(s) started no slower than the empty median: counted as 0", clamped);
        if (why[0])
                metric_note(met, "%s", why);
        metric_note(metric_latency("restore_start", "  start, regions stored vs none", "", &full, &empty,
                                   TARGET_NONE, 0),
                    "diagnostic: the daemon's exec -> READY=1 under the benchmark as service manager with the %u "
                    "regions in the fd store (median column) and with an empty store (floor columns); daemon and "
                    "floor receiver on CPU %d, manager and sender on CPU %d", n, server_cpu, client_cpu);
        met = metric_latency("restore_start_log_only", "  start, empty log stored vs none", "", &log_only, &empty,
                             TARGET_NONE, 0);
        if (met)
                metric_note(met, "diagnostic: the same with only the metadata log of an empty registry in the store: "
                                 "the part of a restore that does not depend on the number of regions; beyond it "
                                 "%.2f us per region",
                            ((double)samples_pct(&full, 0.5) / 1000.0 - met->median) / n);
        return 0;
}

/* ---- main ---------------------------------------------------------------- */

static void help(void) {
        printf("Usage: shmbroker-bench [OPTIONS]\n"
               "\n"
               "Measures shmbrokerd against its raw kernel floor in one run (SPEC section 9).\n"
               "\n"
               "      --daemon PATH       shmbrokerd to start (default: $SHMBROKERD, else\n"
               "                          %s)\n"
               "      --quick             few iterations, for a CI smoke test (< 30 s)\n"
               "      --json              print one JSON object on stdout (the table goes to stderr)\n"
               "      --iterations N      iterations per latency metric and side (default 20000)\n"
               "      --regions N         regions held for the RSS and list metrics (default 100000,\n"
               "                          capped by the fd limit)\n"
               "      --connections N     idle connections held at once (default 1000)\n"
               "      --only LIST         comma-separated phases: open,create,throughput,hugetlb,restore,\n"
               "                          scale,list\n"
               "      --pinning MODE      only same-cpu, cross-cpu or unpinned (throughput only)\n"
               "  -h, --help              show this help\n",
               SHMBROKERD_PATH);
}

static int parse_uint(const char *opt, const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v == 0 || v > 10000000 || s[0] == '-') {
                fprintf(stderr, "shmbroker-bench: %s: '%s' is not a whole number between 1 and 10000000\n", opt, s);
                return -EINVAL;
        }
        *ret = (unsigned)v;
        return 0;
}

static int parse_args(int argc, char **argv, Options *o) {
        enum { OPT_DAEMON = 0x100, OPT_QUICK, OPT_JSON, OPT_ITERATIONS, OPT_REGIONS, OPT_CONNECTIONS, OPT_ONLY, OPT_PINNING };
        static const struct option options[] = {
                { "daemon", required_argument, NULL, OPT_DAEMON },
                { "quick", no_argument, NULL, OPT_QUICK },
                { "json", no_argument, NULL, OPT_JSON },
                { "iterations", required_argument, NULL, OPT_ITERATIONS },
                { "regions", required_argument, NULL, OPT_REGIONS },
                { "connections", required_argument, NULL, OPT_CONNECTIONS },
                { "only", required_argument, NULL, OPT_ONLY },
                { "pinning", required_argument, NULL, OPT_PINNING },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        unsigned iterations = 0, regions = 0, connections = 0;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_DAEMON:
                        o->daemon = optarg;
                        break;
                case OPT_QUICK:
                        o->quick = true;
                        break;
                case OPT_JSON:
                        o->json = true;
                        break;
                case OPT_ITERATIONS:
                        if (parse_uint("--iterations", optarg, &iterations) < 0)
                                return -EINVAL;
                        break;
                case OPT_REGIONS:
                        if (parse_uint("--regions", optarg, &regions) < 0)
                                return -EINVAL;
                        break;
                case OPT_CONNECTIONS:
                        if (parse_uint("--connections", optarg, &connections) < 0)
                                return -EINVAL;
                        break;
                case OPT_ONLY:
                        o->only = optarg;
                        break;
                case OPT_PINNING:
                        if (strcmp(optarg, "same-cpu") != 0 && strcmp(optarg, "cross-cpu") != 0 &&
                            strcmp(optarg, "unpinned") != 0) {
                                fprintf(stderr, "shmbroker-bench: --pinning: '%s' is not same-cpu, cross-cpu or "
                                        "unpinned\n", optarg);
                                return -EINVAL;
                        }
                        o->pinning = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        fprintf(stderr, "Try 'shmbroker-bench --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "shmbroker-bench: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (!o->daemon)
                o->daemon = getenv("SHMBROKERD");
        if (!o->daemon || !*o->daemon)
                o->daemon = SHMBROKERD_PATH;
        o->iterations = iterations ? iterations : o->quick ? 1000 : 20000;
        o->regions = regions ? regions : o->quick ? 2000 : SPEC_REGIONS;
        o->connections = connections ? connections : o->quick ? 200 : 1000;
        return 1;
}

static void cleanup(Bench *b) {
        hugepages_restore();
        shmb_disconnect(b->conn);
        b->conn = NULL;
        b->raw_sock = safe_close(b->raw_sock);
        raw_server_stop(&b->raw);
        if (b->daemon.pid > 0)
                (void)daemon_stop(&b->daemon);
}

static void read_loadavg(RunInfo *ri) {
        double one = 0;
        FILE *f;

        f = fopen("/proc/loadavg", "re");
        if (!f)
                return;
        if (fgets(ri->loadavg, sizeof(ri->loadavg), f)) {
                ri->loadavg[strcspn(ri->loadavg, "\n")] = 0;
                if (sscanf(ri->loadavg, "%lf", &one) == 1)
                        ri->busy = one > 0.5;
        }
        fclose(f);
}

static void remove_dir(const char *dir) {
        const char *names[] = { "latency.log", "scale.log", "restore.log", "restore-empty.log", "latency.sock",
                                "scale.sock", "raw.sock" };
        char path[128];

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                (void)unlink(path);
        }
        (void)rmdir(dir);
}

int main(int argc, char **argv) {
        Bench b = {
                .daemon = DAEMON_NULL,
                .raw = RAW_SERVER_NULL,
                .raw_sock = -1,
                .hugepages_saved = -1,
        };
        RunInfo ri = {};
        struct utsname un;
        char why[256] = "";
        uint64_t t0 = now_ns();
        unsigned n_regions;
        int k;

        k = parse_args(argc, argv, &b.o);
        if (k <= 0)
                return k < 0 ? 2 : 0;
        if (access(b.o.daemon, X_OK) < 0) {
                fprintf(stderr, "shmbroker-bench: %s: %m (use --daemon PATH or $SHMBROKERD)\n", b.o.daemon);
                return 1;
        }
        the_bench = &b;
        atexit(hugepages_restore);

        k = cpus_allowed(b.cpus, 2);
        if (k <= 0) {
                fprintf(stderr, "shmbroker-bench: cannot read the CPU affinity: %s\n", strerror(k ? -k : EINVAL));
                return 1;
        }
        b.n_cpus = k;
        snprintf(b.dir, sizeof(b.dir), "/tmp/shmb-bench.XXXXXX");
        if (!mkdtemp(b.dir)) {
                fprintf(stderr, "shmbroker-bench: mkdtemp: %m\n");
                return 1;
        }
        /* A client that disappears mid-write must not kill the benchmark. */
        (void)signal(SIGPIPE, SIG_IGN);

        read_loadavg(&ri);
        n_regions = regions_that_fit(b.o.regions, b.o.connections, why, sizeof(why));
        if (uname(&un) == 0)
                snprintf(ri.kernel, sizeof(ri.kernel), "Linux %s %s", un.release, un.machine);
        ri.daemon = b.o.daemon;
        ri.n_cpus = b.n_cpus;
        ri.quick = b.o.quick;
        ri.iterations = b.o.iterations;
        ri.regions = n_regions;
        ri.connections = b.o.connections;

        k = 0;
        if (phase_on(&b, "open") || phase_on(&b, "create") || phase_on(&b, "throughput") ||
            phase_on(&b, "hugetlb"))
                k = phase_latency(&b);
        if (k >= 0 && phase_on(&b, "restore"))
                k = phase_restore(&b);
        if (k >= 0 && (phase_on(&b, "scale") || phase_on(&b, "list")))
                k = phase_scale(&b, n_regions, b.o.connections, why[0] ? why : NULL);
        cleanup(&b);
        if (k < 0) {
                fprintf(stderr, "shmbroker-bench: the benchmark is broken; daemon logs kept in %s\n", b.dir);
                return 1;
        }
        remove_dir(b.dir);

        ri.seconds = (double)(now_ns() - t0) / 1e9;
        report_table(b.o.json ? stderr : stdout, &ri);
        if (b.o.json)
                report_json(stdout, &ri);
        return 0;
}
