/* SPDX-License-Identifier: MIT */
/*
 * The inspection verbs that ask the daemon: holders, stats, watch, and dump
 * (which reads a region through a read-only mapping of its own).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "json.h"
#include "region-info.h"
#include "table.h"
#include "util.h"

static const char *access_to_string(int access) {
        switch (access) {
        case SHMB_READ:
                return "read";
        case SHMB_READ_WRITE:
                return "read-write";
        default:
                return "unknown";
        }
}

/* holders */

/* Where a holder's command line came from, for the "source" key. */
static const char *holder_sources[] = { "daemon", "shmbrokerctl", "none" };

/*
 * The daemon does not read command lines (reading one takes the memory lock
 * of that process, which its owner can hold indefinitely, and would stall
 * the daemon's event loop), and one confined with ProtectProc=invisible
 * cannot read comm either: this command reads what is missing. The daemon's
 * pidfd said the process was alive a moment ago; the owner uid must match
 * too, which leaves only a pid reused by the same user in between. Returns
 * the source of the command line.
 */
static int holder_complete(struct shmb_holder *h) {
        char path[64];
        struct stat st;

        if (h->cmdline[0])
                return 0;
        if (h->gone || h->pid == 0)
                return 2;
        snprintf(path, sizeof(path), "/proc/%" PRIu32, h->pid);
        if (stat(path, &st) < 0 || st.st_uid != h->uid)
                return 2;
        proc_read_text((pid_t)h->pid, "cmdline", h->cmdline, sizeof(h->cmdline), true);
        if (!h->comm[0])
                proc_read_text((pid_t)h->pid, "comm", h->comm, sizeof(h->comm), false);
        return h->cmdline[0] ? 1 : 2;
}

static void holders_json(const char *name, const struct shmb_holder *h, const int *src, size_t n, size_t total) {
        JsonWriter w = JSON_WRITER_INIT(stdout);
        char user[REGION_NAME_MAX];

        json_begin_object(&w);
        json_key(&w, "region");
        json_string(&w, name);
        json_key(&w, "total");
        json_uint(&w, total);
        json_key(&w, "holders");
        json_begin_array(&w);
        for (size_t i = 0; i < n; i++) {
                json_begin_object(&w);
                json_key(&w, "handle");
                json_uint(&w, h[i].handle);
                json_key(&w, "connection");
                json_uint(&w, h[i].connection);
                json_key(&w, "access");
                json_string(&w, access_to_string(h[i].access));
                json_key(&w, "creator");
                json_bool(&w, h[i].creator);
                json_key(&w, "pid");
                json_uint(&w, h[i].pid);
                json_key(&w, "uid");
                json_uint(&w, h[i].uid);
                json_key(&w, "user");
                json_string(&w, user_to_string(h[i].uid, user));
                json_key(&w, "gid");
                json_uint(&w, h[i].gid);
                json_key(&w, "comm");
                json_string(&w, h[i].comm);
                json_key(&w, "cmdline");
                json_string(&w, h[i].cmdline);
                json_key(&w, "gone");
                json_bool(&w, h[i].gone);
                json_key(&w, "verified");
                json_bool(&w, h[i].verified);
                json_key(&w, "source");
                json_string(&w, holder_sources[src[i]]);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_end_object(&w);
        json_finish(&w);
}

static const char *const holders_headers[] = { ">HANDLE", "ACCESS", ">PID", "USER", "COMM", "COMMAND" };

static int holders_table(const struct shmb_holder *h, size_t n) {
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        r = table_new(&t, ELEMENTSOF(holders_headers), holders_headers);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                char handle[24], pid[24], user[REGION_NAME_MAX], access[24];
                const char *cmd;

                snprintf(handle, sizeof(handle), "%" PRIu64, h[i].handle);
                snprintf(pid, sizeof(pid), "%" PRIu32, h[i].pid);
                snprintf(access, sizeof(access), "%s%s", access_to_string(h[i].access),
                         h[i].creator ? ",creator" : "");
                if (h[i].gone)
                        cmd = "(gone: the process exited)";
                else if (h[i].cmdline[0])
                        cmd = h[i].cmdline;
                else
                        cmd = "(unknown: the daemon cannot read /proc of this process)";
                r = table_add_row(t, (const char *const[]){ handle, access, pid, user_to_string(h[i].uid, user),
                                                             h[i].comm[0] ? h[i].comm : "-", cmd });
                if (r < 0)
                        return r;
        }
        return table_print(t, stdout);
}

int verb_holders(Ctl *ctl, char **args, unsigned n_args) {
        _cleanup_free_ struct shmb_holder *h = NULL;
        _cleanup_free_ int *src = NULL;
        size_t n = 0, total = 0;
        int r;

        r = check_name("holders", args[0]);
        if (r != EXIT_SUCCESS)
                return r;
        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;
        r = shmb_holders(ctl->conn, args[0], &h, &n, &total);
        if (r < 0)
                return ctl_fail(ctl, "holders", args[0], r);
        src = calloc(n + 1, sizeof(*src));
        if (!src)
                return ctl_fail(ctl, "holders", args[0], -ENOMEM);
        for (size_t i = 0; i < n; i++)
                src[i] = holder_complete(&h[i]);
        if (ctl->json) {
                holders_json(args[0], h, src, n, total);
                return EXIT_SUCCESS;
        }
        r = holders_table(h, n);
        if (r < 0)
                return ctl_fail(ctl, "holders", args[0], r);
        if (total > n)
                printf("%zu of %zu holders shown (the daemon's reply was full)\n", n, total);
        return EXIT_SUCCESS;
}

/* stats */

static void counters_json(JsonWriter *w, const char *key, const struct shmb_counter *c, size_t n) {
        json_key(w, key);
        json_begin_object(w);
        for (size_t i = 0; i < n; i++) {
                json_key(w, c[i].name);
                json_uint(w, c[i].value);
        }
        json_end_object(w);
}

static void uptime_format(uint64_t usec, char *buf, size_t len) {
        uint64_t s = usec / 1000000;

        if (s >= 86400)
                snprintf(buf, len, "%" PRIu64 "d %02" PRIu64 "h %02" PRIu64 "m", s / 86400, s / 3600 % 24, s / 60 % 60);
        else if (s >= 3600)
                snprintf(buf, len, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", s / 3600, s / 60 % 60, s % 60);
        else
                snprintf(buf, len, "%" PRIu64 "m %02" PRIu64 "s", s / 60, s % 60);
}

int verb_stats(Ctl *ctl, char **args, unsigned n_args) {
        struct shmb_stats st;
        char a[SIZE_FORMAT_MAX], up[64];
        int r;

        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;
        r = shmb_stats(ctl->conn, &st);
        if (r < 0)
                return ctl_fail(ctl, "stats", NULL, r);

        if (ctl->json) {
                JsonWriter w = JSON_WRITER_INIT(stdout);

                json_begin_object(&w);
                json_key(&w, "uptime_usec");
                json_uint(&w, st.uptime_usec);
                json_key(&w, "connections");
                json_uint(&w, st.connections);
                json_key(&w, "connections_total");
                json_uint(&w, st.connections_total);
                json_key(&w, "regions");
                json_uint(&w, st.regions);
                json_key(&w, "bytes");
                json_uint(&w, st.bytes);
                json_key(&w, "locked_bytes");
                json_uint(&w, st.locked_bytes);
                json_key(&w, "requests");
                json_uint(&w, st.requests);
                json_key(&w, "errors");
                json_uint(&w, st.errors);
                json_key(&w, "protocol_violations");
                json_uint(&w, st.protocol_violations);
                json_key(&w, "subscribers");
                json_uint(&w, st.subscribers);
                json_key(&w, "events");
                json_uint(&w, st.events);
                json_key(&w, "events_dropped");
                json_uint(&w, st.events_dropped);
                counters_json(&w, "requests_by_type", st.requests_by_type, st.n_requests_by_type);
                counters_json(&w, "errors_by_status", st.errors_by_status, st.n_errors_by_status);
                json_end_object(&w);
                json_finish(&w);
                return EXIT_SUCCESS;
        }

        uptime_format(st.uptime_usec, up, sizeof(up));
        printf("%-20s %s\n", "uptime:", up);
        printf("%-20s %" PRIu32 " open, %" PRIu64 " since start\n", "connections:", st.connections,
               st.connections_total);
        printf("%-20s %" PRIu32 "\n", "regions:", st.regions);
        printf("%-20s %s (%" PRIu64 " bytes)\n", "bytes:", size_format(st.bytes, a, sizeof(a)), st.bytes);
        printf("%-20s %s (%" PRIu64 " bytes)\n", "locked:", size_format(st.locked_bytes, a, sizeof(a)),
               st.locked_bytes);
        printf("%-20s %" PRIu64 "\n", "requests:", st.requests);
        for (size_t i = 0; i < st.n_requests_by_type; i++)
                printf("  %-18s %" PRIu64 "\n", st.requests_by_type[i].name, st.requests_by_type[i].value);
        printf("%-20s %" PRIu64 "\n", "errors:", st.errors);
        for (size_t i = 0; i < st.n_errors_by_status; i++)
                printf("  %-18s %" PRIu64 "\n", st.errors_by_status[i].name, st.errors_by_status[i].value);
        printf("%-20s %" PRIu64 "\n", "protocol violations:", st.protocol_violations);
        printf("%-20s %" PRIu32 " subscribers, %" PRIu64 " sent, %" PRIu64 " dropped\n", "events:",
               st.subscribers, st.events, st.events_dropped);
        return EXIT_SUCCESS;
}

/* watch */

static void event_print(const Ctl *ctl, const struct shmb_event *ev) {
        char when[TIMESTAMP_FORMAT_MAX], user[REGION_NAME_MAX];

        if (ctl->json) {
                JsonWriter w = JSON_WRITER_INIT(stdout);

                json_begin_object(&w);
                json_key(&w, "type");
                json_string(&w, shmb_event_type_name(ev->type));
                json_key(&w, "region");
                json_string(&w, ev->region);
                json_key(&w, "uid");
                json_uint(&w, ev->uid);
                json_key(&w, "pid");
                json_uint(&w, ev->pid);
                json_key(&w, "time_usec");
                json_uint(&w, ev->time_usec);
                json_key(&w, "seq");
                json_uint(&w, ev->seq);
                json_key(&w, "dropped");
                json_uint(&w, ev->dropped);
                json_end_object(&w);
                json_finish(&w);
        } else {
                if (ev->dropped)
                        printf("(%" PRIu64 " events dropped: this watcher was too slow)\n", ev->dropped);
                printf("%s %-13s %s uid=%" PRIu32 "(%s) pid=%" PRIu32 "\n",
                       timestamp_format(ev->time_usec, when, sizeof(when)), shmb_event_type_name(ev->type),
                       ev->region, ev->uid, user_to_string(ev->uid, user), ev->pid);
        }
        /* Watchers read line by line, often through a pipe. */
        fflush(stdout);
}

int verb_watch(Ctl *ctl, char **args, unsigned n_args) {
        int r;

        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;
        r = shmb_subscribe(ctl->conn);
        if (r < 0)
                return ctl_fail(ctl, "watch", NULL, r);
        for (uint64_t i = 0; ctl->count == 0 || i < ctl->count; i++) {
                struct shmb_event ev;

                r = shmb_next_event(ctl->conn, &ev, -1);
                if (r < 0)
                        return ctl_fail(ctl, "watch", NULL, r);
                event_print(ctl, &ev);
                if (ferror(stdout))
                        return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

/* dump */

/* One line of `hexdump -C`: offset, 16 bytes in two groups of 8, printable ASCII. */
static void hexdump_line(uint64_t off, const uint8_t *p, size_t n) {
        printf("%08" PRIx64 " ", off);
        for (size_t i = 0; i < 16; i++) {
                if (i == 8)
                        putchar(' ');
                if (i < n)
                        printf(" %02x", p[i]);
                else
                        fputs("   ", stdout);
        }
        fputs("  |", stdout);
        for (size_t i = 0; i < n; i++)
                putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
        fputs("|\n", stdout);
}

static void hexdump(const uint8_t *data, uint64_t offset, uint64_t length) {
        bool starred = false;

        for (uint64_t i = 0; i < length; i += 16) {
                size_t n = (size_t)MIN(length - i, (uint64_t)16);

                /* Like hexdump -C: a run of lines equal to the previous one prints as one '*'. */
                if (i > 0 && n == 16 && memcmp(data + i, data + i - 16, 16) == 0) {
                        if (!starred)
                                puts("*");
                        starred = true;
                        continue;
                }
                starred = false;
                hexdump_line(offset + i, data + i, n);
        }
        printf("%08" PRIx64 "\n", offset + length);
}

static void hex_json(const char *name, const uint8_t *data, uint64_t offset, uint64_t length) {
        JsonWriter w = JSON_WRITER_INIT(stdout);

        json_begin_object(&w);
        json_key(&w, "region");
        json_string(&w, name);
        json_key(&w, "offset");
        json_uint(&w, offset);
        json_key(&w, "length");
        json_uint(&w, length);
        json_key(&w, "hex");
        json_hex(&w, data, length);
        json_end_object(&w);
        json_finish(&w);
}

int verb_dump(Ctl *ctl, char **args, unsigned n_args) {
        shmb_region *region = NULL;
        const uint8_t *data;
        uint64_t size, length;
        int r;

        r = check_name("dump", args[0]);
        if (r != EXIT_SUCCESS)
                return r;
        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;
        /* Read-only: the mapping cannot change the region, whatever this code does. */
        r = shmb_open(ctl->conn, args[0], SHMB_READ, 0, &region);
        if (r < 0)
                return ctl_fail(ctl, "dump", args[0], r);
        size = shmb_region_size(region);
        data = shmb_region_data(region);
        if (ctl->offset > size) {
                fprintf(stderr, PROGRAM ": dump %s: --offset %" PRIu64 " is beyond the region's %" PRIu64 " bytes\n",
                        args[0], ctl->offset, size);
                (void)shmb_close(region);
                return EXIT_FAILURE;
        }
        length = ctl->have_length ? MIN(ctl->length, size - ctl->offset) : size - ctl->offset;
        if (ctl->json)
                hex_json(args[0], data + ctl->offset, ctl->offset, length);
        else
                hexdump(data + ctl->offset, ctl->offset, length);
        (void)shmb_close(region);
        return EXIT_SUCCESS;
}
