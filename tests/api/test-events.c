/* SPDX-License-Identifier: MIT */
/*
 * The introspection API against the real daemon ($SHMBROKERD): events
 * interleaved with ordinary calls on one connection (the library must queue
 * them, not take them for a protocol error), events of other clients in
 * order, a subscriber that does not read losing events but not its
 * connection (the daemon runs with a small --output-queue), shmb_holders()
 * with pid and command, and shmb_stats() counters.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmbroker.h>

#include "api-daemon.h"
#include "tap.h"

static char tmpdir[] = "/tmp/test-events.XXXXXX";
static ApiDaemon srv;

static uint64_t counter(const struct shmb_counter *c, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(c[i].name, name) == 0)
                        return c[i].value;
        return 0;
}

static void test_events(void) {
        struct shmb_create_opts opts = { .struct_size = sizeof(opts), .size = 4096, .mode = 0644 };
        struct shmb_event ev;
        shmb_region *r = NULL, *r2 = NULL;
        shmb_conn *w = NULL, *c = NULL;
        struct shmb_stats st;
        struct shmb_holder *h = NULL;
        size_t n = 0, total = 0;
        uint64_t last_seq = 0;
        bool ok;

        if (!CHECK(shmb_connect(srv.sock, &w) == 0) || !CHECK(shmb_connect(srv.sock, &c) == 0))
                goto out;
        CHECK(shmb_next_event(w, &ev, 0) == -EINVAL);
        CHECK(shmb_subscribe(w) == 0);
        CHECK(shmb_subscribe(w) == 0); /* idempotent */
        CHECK(shmb_next_event(w, &ev, 0) == -ETIMEDOUT);

        /* Events of another client, in order. */
        CHECK(shmb_create(c, "ev/a", &opts, &r) == 0);
        CHECK(shmb_close(r) == 0);
        r = NULL;
        CHECK(shmb_delete(c, "ev/a") == 0);
        {
                static const int want[] = { SHMB_EVENT_CREATE, SHMB_EVENT_CLOSE, SHMB_EVENT_DELETE };

                ok = true;
                for (size_t i = 0; i < 3; i++) {
                        if (shmb_next_event(w, &ev, 2000) < 0 || ev.type != want[i] || strcmp(ev.region, "ev/a") != 0 ||
                            ev.pid != (uint32_t)getpid() || ev.uid != (uint32_t)getuid() || ev.seq <= last_seq ||
                            ev.dropped != 0) {
                                printf("# event %zu: type %d (%s) region '%s' pid %u seq %llu\n", i, ev.type,
                                       shmb_event_type_name(ev.type), ev.region, ev.pid, (unsigned long long)ev.seq);
                                ok = false;
                        }
                        last_seq = ev.seq;
                }
                CHECK_MSG(ok, "create, close, delete events of another client in order");
        }
        CHECK(strcmp(shmb_event_type_name(SHMB_EVENT_QUOTA_REFUSED), "quota-refused") == 0);
        CHECK(strcmp(shmb_event_type_name(99), "unknown") == 0);

        /* The subscriber's own calls work while its events arrive in between. */
        CHECK(shmb_create(w, "ev/own", &opts, &r) == 0);
        CHECK(shmb_open(w, "ev/own", SHMB_READ, 0, &r2) == 0);
        CHECK(shmb_holders(w, "ev/own", &h, &n, &total) == 0);
        CHECK(n == 2 && total == 2);
        ok = n == 2;
        for (size_t i = 0; i < n; i++)
                ok = ok && h[i].pid == (uint32_t)getpid() && h[i].uid == (uint32_t)getuid() && !h[i].gone &&
                     strcmp(h[i].comm, "test-events") == 0 && h[i].cmdline[0] == '\0';
        /* The daemon reads no command lines: that could stall it (shmbrokerctl reads them). */
        CHECK_MSG(ok, "holders: two handles of this process, with comm and no command line");
        if (n == 2)
                CHECK((h[0].access == SHMB_READ) != (h[1].access == SHMB_READ) && (h[0].creator != h[1].creator));
        free(h);
        h = NULL;
        CHECK(shmb_close(r2) == 0);
        r2 = NULL;
        CHECK(shmb_next_event(w, &ev, 1000) == 0 && ev.type == SHMB_EVENT_CREATE);
        CHECK(shmb_next_event(w, &ev, 1000) == 0 && ev.type == SHMB_EVENT_OPEN);
        /* The release waits for the connection's next request, or shmb_flush(). */
        CHECK(shmb_next_event(w, &ev, 200) == -ETIMEDOUT);
        CHECK(shmb_flush(w) == 0);
        CHECK(shmb_flush(w) == 0); /* nothing left: sends nothing */
        CHECK(shmb_next_event(w, &ev, 1000) == 0 && ev.type == SHMB_EVENT_CLOSE);
        CHECK(shmb_next_event(w, &ev, 0) == -ETIMEDOUT);

        /* Unknown region: not found (denial is tested by the CLI test, as uid 65534). */
        CHECK(shmb_holders(w, "ev/none", &h, &n, NULL) == -ENOENT);

        /* A subscriber that does not read: events dropped and counted, connection kept. */
        for (unsigned i = 0; i < 400; i++) {
                shmb_region *x = NULL;

                if (shmb_open(c, "ev/own", SHMB_READ, 0, &x) < 0 || shmb_close(x) < 0)
                        break;
        }
        CHECK(shmb_stats(c, &st) == 0);
        CHECK(st.events_dropped > 0 && st.subscribers == 1);
        printf("# events %llu, dropped %llu\n", (unsigned long long)st.events, (unsigned long long)st.events_dropped);
        {
                uint64_t got = 0, dropped = 0;

                while (shmb_next_event(w, &ev, 200) == 0) {
                        got++;
                        dropped += ev.dropped;
                }
                printf("# received %llu, told of %llu dropped\n", (unsigned long long)got,
                       (unsigned long long)dropped);
                CHECK(got > 0 && got < 800);
                /* The drops are reported on a later event, or stay pending until there is one. */
                CHECK(shmb_close(r) == 0);
                r = NULL;
                CHECK(shmb_flush(w) == 0);
                if (CHECK(shmb_next_event(w, &ev, 2000) == 0))
                        dropped += ev.dropped;
                CHECK(got + 1 + dropped == 800 + 1);
        }

        /* stats */
        CHECK(shmb_stats(w, &st) == 0);
        CHECK(st.connections >= 2 && st.regions == 1 && st.bytes == 4096 && st.requests > 400);
        CHECK(counter(st.requests_by_type, st.n_requests_by_type, "open") == 401);
        /* 400 closes on c went with its next requests, not as packets of their own. */
        CHECK(counter(st.requests_by_type, st.n_requests_by_type, "release") >= 400);
        CHECK(counter(st.requests_by_type, st.n_requests_by_type, "close") < 10);
        CHECK(counter(st.requests_by_type, st.n_requests_by_type, "subscribe") == 2);
        CHECK(counter(st.errors_by_status, st.n_errors_by_status, "not-found") == 1);
        CHECK(counter(st.errors_by_status, st.n_errors_by_status, "ok") == 0);
        CHECK(st.uptime_usec > 0);
out:
        shmb_close(r);
        shmb_close(r2);
        shmb_disconnect(w);
        shmb_disconnect(c);
}

/* A child holds a handle and exits while its connection stays open through a passed-on socket. */
static void test_holders_gone(void) {
        struct shmb_create_opts opts = { .struct_size = sizeof(opts), .size = 4096 };
        shmb_conn *c = NULL, *child = NULL;
        shmb_region *r = NULL, *cr = NULL;
        struct shmb_holder *h = NULL;
        size_t n = 0;
        int status;
        pid_t pid;

        if (!CHECK(shmb_connect(srv.sock, &c) == 0))
                return;
        CHECK(shmb_create(c, "ev/gone", &opts, &r) == 0);
        /* The connection is made by a child that exits; we inherit the socket, so it lives on. */
        pid = fork();
        if (pid == 0) {
                if (shmb_connect(srv.sock, &child) < 0 || shmb_open(child, "ev/gone", SHMB_READ, 0, &cr) < 0)
                        _exit(1);
                /* Keep the socket open in a grandchild that outlives us: clear close-on-exec by dup. */
                if (fork() == 0) {
                        int fd = dup(shmb_conn_fd(child));

                        (void)fd;
                        sleep(2);
                        _exit(0);
                }
                _exit(0);
        }
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        api_sleep_ms(100);
        CHECK(shmb_holders(c, "ev/gone", &h, &n, NULL) == 0);
        CHECK(n == 2);
        for (size_t i = 0; i < n; i++)
                if (h[i].pid == (uint32_t)pid) {
                        printf("# holder pid %u gone %d verified %d cmdline '%s'\n", h[i].pid, h[i].gone,
                               h[i].verified, h[i].cmdline);
                        CHECK(!h[i].verified || (h[i].gone && h[i].cmdline[0] == '\0' && h[i].comm[0] == '\0'));
                }
        free(h);
        shmb_close(r);
        shmb_delete(c, "ev/gone");
        shmb_disconnect(c);
}

int main(void) {
        const char *exe = getenv("SHMBROKERD");

        if (!exe || !exe[0]) {
                tap_skip("SHMBROKERD not set");
                return tap_done();
        }
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        if (CHECK(api_daemon_start(&srv, exe, tmpdir, (const char *const[]){ "--output-queue", "8", NULL }))) {
                test_events();
                test_holders_gone();
        }
        CHECK(api_daemon_stop(&srv));
        (void)rmdir(tmpdir);
        return tap_done();
}
