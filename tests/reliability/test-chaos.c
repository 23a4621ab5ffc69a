/* SPDX-License-Identifier: MIT */
/*
 * Load and chaos (issue 7, item 4): 64 client processes do a random mix of
 * create / open / map / write / read / stat / list / close / delete on a
 * small set of names for a bounded time (10 s; $SHMB_CHAOS_SECONDS to
 * lengthen) while the parent SIGKILLs random ones and spawns replacements.
 *
 * Regions are mostly shared, some single-writer and immutable (published
 * after writing; opens of them may park, up to 100 ms). A creator writes
 * its region once: a body derived from the name and the
 * region's id (unique for the daemon's lifetime, so a deleted and re-created
 * name has a new "generation"), then a header committing it, with release
 * ordering. A reader that sees the header checks the whole body; one that
 * does not (a creator still writing, or killed while writing) checks every
 * byte is either zero or the expected one. Afterwards: every survivor
 * exited cleanly (no reader saw wrong content); only persistent regions
 * are left (owner and refcounted ones die with their clients); each checks
 * out; the daemon holds exactly its baseline fds plus those regions' fds;
 * and after deleting them its RSS is back within 2 MiB of where it started.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel-util.h"

#define N_CLIENTS 64
#define N_NAMES 48
#define MAX_HELD 4
#define CHAOS_MAGIC UINT64_C(0x534842434841534f) /* "SHBCHASO" */
#define HEADER_SIZE 64
#define DEFAULT_SECONDS 10
#define KILL_INTERVAL_MS 40
/* The daemon's RSS after everything is deleted, compared with its start. */
#define RSS_SLACK_KIB 2048

/* The daemon is built like this test: under ASan its RSS says little. */
#if defined(__SANITIZE_ADDRESS__)
#define REL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REL_ASAN 1
#endif
#endif

struct header {
        _Atomic uint64_t magic; /* written last */
        uint64_t id;
        uint64_t name_hash;
        uint64_t size;
};

/* Shared by all clients (MAP_SHARED before fork): counts survive SIGKILL. */
struct counters {
        _Atomic unsigned long ops, creates, publishes, unmapped_after_publish, failed_publishes, opens, verified_full, verified_partial, deletes, closes, stats,
                lists, errors;
};

static struct counters *counters;

static uint64_t name_hash(const char *name) {
        uint64_t h = UINT64_C(1469598103934665603);

        for (; *name; name++)
                h = (h ^ (uint8_t)*name) * UINT64_C(1099511628211);
        return h;
}

static inline uint8_t body_byte(uint64_t nh, uint64_t id, size_t i) {
        uint64_t x = nh ^ (id * UINT64_C(0x9e3779b97f4a7c15)) ^ ((uint64_t)(i / 4096) << 32);

        x ^= x >> 29;
        return (uint8_t)(x + i * 167 + (i >> 9));
}

static void fill(uint8_t *p, size_t size, const char *name, uint64_t id) {
        struct header *h = (struct header *)(void *)p; /* mappings are page-aligned */
        uint64_t nh = name_hash(name);

        for (size_t i = HEADER_SIZE; i < size; i++)
                p[i] = body_byte(nh, id, i);
        h->id = id;
        h->name_hash = nh;
        h->size = size;
        atomic_store_explicit(&h->magic, CHAOS_MAGIC, memory_order_release);
}

/*
 * Checks a mapping of region `name` with id `id`: 1 if committed and whole,
 * 0 if uncommitted and consistent (zero or pattern byte by byte), -1 bad.
 */
static int verify(const uint8_t *p, size_t size, const char *name, uint64_t id) {
        const struct header *h = (const struct header *)(const void *)p;
        uint64_t nh = name_hash(name);

        if (atomic_load_explicit((_Atomic uint64_t *)&h->magic, memory_order_acquire) == CHAOS_MAGIC) {
                if (h->id != id || h->name_hash != nh || h->size != size) {
                        harness_log("'%s' id %llu: header says id %llu size %llu (mapping %zu bytes)", name,
                                    (unsigned long long)id, (unsigned long long)h->id,
                                    (unsigned long long)h->size, size);
                        return -1;
                }
                for (size_t i = HEADER_SIZE; i < size; i++)
                        if (p[i] != body_byte(nh, id, i)) {
                                harness_log("'%s' id %llu: committed, but byte %zu is %#x, expected %#x", name,
                                            (unsigned long long)id, i, p[i], body_byte(nh, id, i));
                                return -1;
                        }
                return 1;
        }
        for (size_t i = HEADER_SIZE; i < size; i++)
                if (p[i] != 0 && p[i] != body_byte(nh, id, i)) {
                        harness_log("'%s' id %llu: uncommitted, byte %zu is %#x: neither zero nor %#x", name,
                                    (unsigned long long)id, i, p[i], body_byte(nh, id, i));
                        return -1;
                }
        return 0;
}

static int verify_region(shmb_region *r, const char *name) {
        int v = verify(shmb_region_data(r), shmb_region_size(r), name, shmb_region_info(r)->id);

        if (v > 0)
                counters->verified_full++;
        else if (v == 0)
                counters->verified_partial++;
        return v < 0 ? -1 : 0;
}

struct held {
        shmb_region *r;
        char name[32];
};

/*
 * Errors a racing client may see; anything else fails the client: gone or
 * taken names, a read-write open of a single-writer or immutable region, a
 * parked open whose creator did not publish in time (or was killed).
 */
static bool expected_error(int r) {
        return r == -ENOENT || r == -EEXIST || r == -EACCES || r == -ETIMEDOUT;
}

#define OK_OR_EXPECTED(c, expr)                                                                         \
        do {                                                                                           \
                int r_ = (expr);                                                                       \
                if (r_ < 0 && !expected_error(r_)) {                                                   \
                        harness_log("%s:%d: %s = %s (daemon says: \"%s\")", __FILE__, __LINE__, #expr, \
                                    harness_errname(r_), shmb_conn_error(c));                          \
                        counters->errors++;                                                            \
                        return -1;                                                                     \
                }                                                                                      \
        } while (0)

static int list_count(const struct shmb_region_info *info, void *userdata) {
        (*(unsigned *)userdata)++;
        return 0;
}

static int client(struct harness_chan *chan, void *userdata) {
        _cleanup_conn_ shmb_conn *c = NULL;

        uint64_t seed = (uint64_t)(uintptr_t)userdata;
        struct held held[MAX_HELD] = {};
        char cmd;

        CHECK_INT(harness_connect(&c), 0);
        (void)harness_chan_send(chan, 'r');
        for (;;) {
                char name[32];
                unsigned op = (unsigned)rel_rand_below(&seed, 100);
                struct held *slot = &held[rel_rand_below(&seed, MAX_HELD)];

                if (harness_chan_recv(chan, &cmd, 0) == 0 || (getppid() == 1))
                        break;
                snprintf(name, sizeof(name), "chaos/%u", (unsigned)rel_rand_below(&seed, N_NAMES));
                counters->ops++;

                if (op < 30) {
                        struct shmb_create_opts o = harness_opts(4096 * (1 + rel_rand_below(&seed, 32)), 0666,
                                                                 (int)rel_rand_below(&seed, 3));
                        unsigned mode = (unsigned)rel_rand_below(&seed, 10);
                        shmb_region *r = NULL;
                        int e;

                        /* Mostly shared; some single-writer and immutable, whose opens may park. */
                        o.sharing = mode < 6 ? SHMB_SHARED : mode < 8 ? SHMB_SINGLE_WRITER : SHMB_IMMUTABLE;
                        e = shmb_create(c, name, &o, &r);
                        OK_OR_EXPECTED(c, e);
                        if (e < 0)
                                continue;
                        counters->creates++;
                        fill(shmb_region_data(r), shmb_region_size(r), name, shmb_region_info(r)->id);
                        if (o.sharing == SHMB_IMMUTABLE) {
                                e = shmb_publish(r);
                                OK_OR_EXPECTED(c, e);
                                if (e < 0) {
                                        counters->failed_publishes++;
                                        /*
                                         * Deleted while being sealed: the library could not give
                                         * the writable mapping back (the seal is on), so r is
                                         * unmapped. Nothing to check: let it go.
                                         */
                                        if (!shmb_region_data(r) && counters->unmapped_after_publish++ < 2)
                                                harness_log("unmapped after a failed publish of '%s': \"%s\"", name,
                                                            shmb_conn_error(c));
                                        (void)shmb_close(r);
                                        continue;
                                }
                                counters->publishes++;
                        }
                        if (slot->r) {
                                (void)shmb_close(slot->r);
                                counters->closes++;
                        }
                        slot->r = r;
                        snprintf(slot->name, sizeof(slot->name), "%s", name);
                } else if (op < 60) {
                        shmb_region *r = NULL;
                        int e = shmb_open(c, name, rel_rand_below(&seed, 2) ? SHMB_READ : SHMB_READ_WRITE,
                                          rel_rand_below(&seed, 2) ? 0 : 100, &r);

                        OK_OR_EXPECTED(c, e);
                        if (e < 0)
                                continue;
                        counters->opens++;
                        if (verify_region(r, name) < 0)
                                return -1;
                        if (slot->r) {
                                (void)shmb_close(slot->r);
                                counters->closes++;
                        }
                        slot->r = r;
                        snprintf(slot->name, sizeof(slot->name), "%s", name);
                } else if (op < 72) {
                        /* Read again what we hold: a region's content never changes once committed. */
                        if (slot->r && verify_region(slot->r, slot->name) < 0)
                                return -1;
                } else if (op < 82) {
                        if (slot->r) {
                                CHECK_SHMB(c, shmb_close(slot->r), 0);
                                counters->closes++;
                                slot->r = NULL;
                        }
                } else if (op < 92) {
                        OK_OR_EXPECTED(c, shmb_delete(c, name));
                        counters->deletes++;
                } else if (op < 97) {
                        struct shmb_region_info info;

                        OK_OR_EXPECTED(c, shmb_stat(c, name, &info));
                        counters->stats++;
                } else {
                        unsigned n = 0;

                        CHECK_SHMB(c, shmb_list(c, "chaos/", list_count, &n), 0);
                        CHECK(n <= N_NAMES);
                        counters->lists++;
                }
        }
        for (int i = 0; i < MAX_HELD; i++)
                if (held[i].r) {
                        if (verify_region(held[i].r, held[i].name) < 0)
                                return -1;
                        CHECK_SHMB(c, shmb_close(held[i].r), 0);
                }
        return 0;
}

static int chaos_seconds(void) {
        const char *e = getenv("SHMB_CHAOS_SECONDS");
        int s = e && *e ? atoi(e) : DEFAULT_SECONDS;

        return s > 0 ? s : DEFAULT_SECONDS;
}

static int start_client(struct harness_child *ch, uint64_t *seed) {
        int r;

        *ch = (struct harness_child)HARNESS_CHILD_NULL;
        r = harness_child_start(ch, NULL, client, (void *)(uintptr_t)rel_rand(seed));
        if (r < 0)
                return r;
        return harness_chan_expect(&ch->chan, 'r');
}

struct survivor {
        char name[SHMB_NAME_MAX + 1];
        int lifetime;
};

struct survivors {
        struct survivor s[N_NAMES];
        unsigned n;
};

static int collect(const struct shmb_region_info *info, void *userdata) {
        struct survivors *sv = userdata;

        if (sv->n >= N_NAMES)
                return -E2BIG;
        snprintf(sv->s[sv->n].name, sizeof(sv->s[sv->n].name), "%s", info->name);
        sv->s[sv->n].lifetime = info->lifetime;
        sv->n++;
        return 0;
}

static int chaos(void) {
        struct harness_child ch[N_CLIENTS];
        _cleanup_conn_ shmb_conn *v = NULL;
        struct survivors sv = {};
        uint64_t seed = rel_seed("chaos");
        long long rss0, rss1, end, next_kill;
        unsigned kills = 0, spawned = 0, committed = 0, partial = 0;
        int count, r;

        counters = mmap(NULL, sizeof(*counters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        CHECK(counters != MAP_FAILED);
        rss0 = rel_daemon_rss_kib();
        CHECK_SYS(rss0);

        for (int i = 0; i < N_CLIENTS; i++)
                ch[i] = (struct harness_child)HARNESS_CHILD_NULL;
        for (int i = 0; i < N_CLIENTS; i++) {
                CHECK_INT(start_client(&ch[i], &seed), 0);
                spawned++;
        }
        harness_log("%d clients for %d s, one SIGKILLed every %d ms", N_CLIENTS, chaos_seconds(), KILL_INTERVAL_MS);

        end = rel_now_ms() + chaos_seconds() * 1000LL;
        next_kill = rel_now_ms() + KILL_INTERVAL_MS;
        while (rel_now_ms() < end) {
                int i = (int)rel_rand_below(&seed, N_CLIENTS), st;

                /* A client that exited on its own found something wrong. */
                for (int k = 0; k < N_CLIENTS; k++)
                        if (waitpid(ch[k].pid, &st, WNOHANG) == ch[k].pid) {
                                harness_log("client %d exited by itself: status %#x", (int)ch[k].pid, st);
                                ch[k].pid = 0;
                                for (int j = 0; j < N_CLIENTS; j++)
                                        harness_child_killp(&ch[j]);
                                return -1;
                        }
                rel_sleep_ms(MAX(0, MIN(next_kill, end) - rel_now_ms()));
                if (rel_now_ms() >= end)
                        break;
                next_kill += KILL_INTERVAL_MS;
                CHECK_SYS(kill(ch[i].pid, SIGKILL));
                /* Reaped by hand: harness_child_wait() would log every one of these kills. */
                CHECK_INT(harness_pid_wait(ch[i].pid, HARNESS_CHILD_TIMEOUT_MS), -SIGKILL);
                ch[i].pid = 0;
                ch[i].chan.rfd = safe_close(ch[i].chan.rfd);
                ch[i].chan.wfd = safe_close(ch[i].chan.wfd);
                kills++;
                CHECK_INT(start_client(&ch[i], &seed), 0);
                spawned++;
        }

        /* The survivors stop, check what they hold, and must exit 0. */
        for (int i = 0; i < N_CLIENTS; i++)
                CHECK_INT(harness_chan_send(&ch[i].chan, 'x'), 0);
        for (int i = 0; i < N_CLIENTS; i++)
                CHECK_CHILD(harness_child_wait(&ch[i], HARNESS_CHILD_TIMEOUT_MS));
        harness_log("%u clients spawned, %u SIGKILLed, %d exited cleanly", spawned, kills, N_CLIENTS);
        harness_log("%lu publishes failed because another client deleted the region meanwhile; %lu of those "
                    "left the region unmapped", counters->failed_publishes, counters->unmapped_after_publish);
        harness_log("%lu operations: %lu creates, %lu publishes, %lu opens, %lu full and %lu partial content checks, %lu deletes, "
                    "%lu closes, %lu stats, %lu lists, %lu unexpected errors",
                    counters->ops, counters->creates, counters->publishes, counters->opens, counters->verified_full,
                    counters->verified_partial, counters->deletes, counters->closes, counters->stats,
                    counters->lists, counters->errors);
        CHECK(counters->creates > 0 && counters->opens > 0 && counters->verified_full > 0);

        /* With every client gone, only persistent regions may be left; each must check out. */
        CHECK_INT(harness_connect(&v), 0);
        for (int tries = 0;; tries++) {
                bool transient = false;

                sv.n = 0;
                CHECK_SHMB(v, shmb_list(v, "chaos/", collect, &sv), 0);
                for (unsigned i = 0; i < sv.n; i++)
                        transient |= sv.s[i].lifetime != SHMB_PERSISTENT;
                if (!transient)
                        break;
                /* The daemon notices the last disconnects asynchronously. */
                CHECK_MSG(tries < 200 * harness_slowdown(), "non-persistent regions outlived every client");
                rel_sleep_ms(10);
        }
        for (unsigned i = 0; i < sv.n; i++) {
                shmb_region *rr = NULL;

                CHECK_SHMB(v, shmb_open(v, sv.s[i].name, SHMB_READ, 0, &rr), 0);
                r = verify(shmb_region_data(rr), shmb_region_size(rr), sv.s[i].name, shmb_region_info(rr)->id);
                CHECK_SHMB(v, shmb_close(rr), 0);
                CHECK_MSG(r >= 0, "surviving region '%s' has wrong content", sv.s[i].name);
                if (r > 0)
                        committed++;
                else
                        partial++;
        }
        harness_log("%u persistent regions survive: %u committed, %u left half-written by a killed creator",
                    sv.n, committed, partial);
        shmb_disconnect(TAKE_PTR(v));

        /* Each survivor holds its memfd and, now that it was opened for read, its read-only fd. */
        r = rel_wait_fd_count(harness_daemon_fd_baseline() + 2 * (int)sv.n, 2000, &count);
        if (r < 0)
                rel_log_daemon_fds();
        CHECK_MSG(r == 0, "the daemon holds %d fds: expected baseline %d + 2 x %u regions", count,
                  harness_daemon_fd_baseline(), sv.n);

        CHECK_INT(harness_delete_all_regions(), (int)sv.n);
        CHECK_INT(harness_wait_fd_baseline(2000, &count), 0);
        rss1 = rel_daemon_rss_kib();
        CHECK_SYS(rss1);
        harness_log("daemon RSS: %lld KiB at start, %lld KiB after the chaos and deleting everything", rss0, rss1);
#if defined(REL_ASAN)
        /* ASan's quarantine keeps freed memory resident: the bound says nothing there. */
        harness_log("ASan build: RSS bound not checked");
#else
        if (harness_slowdown() == 1)
                CHECK_MSG(rss1 <= rss0 + RSS_SLACK_KIB, "the daemon's RSS grew by %lld KiB (bound %d KiB)",
                          rss1 - rss0, RSS_SLACK_KIB);
#endif
        munmap(counters, sizeof(*counters));
        return 0;
}

HARNESS_MAIN(NULL, HARNESS_TEST(chaos))
