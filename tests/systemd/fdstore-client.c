/* SPDX-License-Identifier: MIT */
/*
 * The client side of the fd-store test (fake-manager.py): makes regions of
 * every kind with known contents through the public library, prints their
 * attributes in a form the manager compares across daemon restarts, checks
 * contents, and, as a long-lived holder, checks that its mappings and its
 * connection (which must reconnect by itself) survive a restart.
 *
 *   fdstore-client SOCK dump           one line per region, sorted by name
 *   fdstore-client SOCK verify NAME..  contents of the named regions
 *   fdstore-client SOCK churn N        N persistent regions "c/<i>", every third one
 *                                      deleted and made again, every second one deleted:
 *                                      enough records to make the daemon compact its log
 *   fdstore-client SOCK violate        send an undecodable packet (a protocol violation)
 *   fdstore-client SOCK hold PREFIX    create PREFIX + every kind's name, then obey stdin:
 *        check    own mappings still hold their contents
 *        reopen   on the same (reconnecting) connection: stat, reopen the
 *                 owner/refcounted regions, close the pre-restart handles
 *        quit
 * Every command answers one line: "ok ..." or "fail ...".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shmbroker.h"

#define SIZE 8192u

static unsigned char pattern(const char *name, size_t i) {
        unsigned h = 5381;

        for (const char *p = name; *p; p++)
                h = h * 33 + (unsigned char)*p;
        return (unsigned char)(h + i * 7u);
}

static void fill(const char *name, unsigned char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                p[i] = pattern(name, i);
}

static int check(const char *name, const unsigned char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i] != pattern(name, i)) {
                        printf("fail %s: byte %zu is %u, expected %u\n", name, i, p[i], pattern(name, i));
                        return -1;
                }
        return 0;
}

static int print_info(const struct shmb_region_info *i, void *userdata) {
        (void)userdata;
        printf("%s id=%llu size=%llu req=%llu page=%llu sharing=%d lifetime=%d uid=%u gid=%u mode=%04o "
               "flags=%u seals=%#x created=%llu published=%d restart_safe=%d\n",
               i->name, (unsigned long long)i->id, (unsigned long long)i->size,
               (unsigned long long)i->requested_size, (unsigned long long)i->page_size, i->sharing,
               i->lifetime, i->uid, i->gid, i->mode, i->flags, i->seals, (unsigned long long)i->created_usec,
               i->published, i->restart_safe);
        return 0;
}

typedef struct Spec {
        const char *name;
        uint64_t size;
        uint32_t mode;
        int sharing, lifetime;
        uint32_t flags;
        bool publish;
} Spec;

static const Spec specs[] = {
        { "persist-shared", SIZE, 0644, SHMB_SHARED, SHMB_PERSISTENT, 0, false },
        { "persist-sw", SIZE, 0640, SHMB_SINGLE_WRITER, SHMB_PERSISTENT, 0, false },
        { "persist-imm", SIZE, 0444, SHMB_IMMUTABLE, SHMB_PERSISTENT, 0, true },
        { "unpub-imm", SIZE, 0600, SHMB_IMMUTABLE, SHMB_PERSISTENT, 0, false },
        { "owner", SIZE, 0600, SHMB_SHARED, SHMB_OWNER, 0, false },
        { "ref", SIZE, 0640, SHMB_SHARED, SHMB_REFCOUNTED, 0, false },
        { "prealloc", 5000, 0600, SHMB_SHARED, SHMB_PERSISTENT, SHMB_PREALLOC, false },
        { "deleted", SIZE, 0600, SHMB_SHARED, SHMB_PERSISTENT, 0, false },
};
#define N_SPECS (sizeof(specs) / sizeof(specs[0]))

static int hold(const char *sock, const char *prefix) {
        char names[N_SPECS][SHMB_NAME_MAX + 1];
        shmb_region *regions[N_SPECS] = {};
        shmb_conn *c = NULL;
        char line[256];
        int r;

        r = shmb_connect(sock, &c);
        if (r < 0) {
                printf("fail connect: %s\n", shmb_conn_error(NULL));
                return 1;
        }
        for (size_t i = 0; i < N_SPECS; i++)
                snprintf(names[i], sizeof(names[i]), "%s%s", prefix, specs[i].name);
        for (size_t i = 0; i < N_SPECS; i++) {
                const Spec *s = &specs[i];
                struct shmb_create_opts o = { .struct_size = sizeof(o), .size = s->size, .mode = s->mode,
                                              .sharing = s->sharing, .lifetime = s->lifetime, .flags = s->flags };

                r = shmb_create(c, names[i], &o, &regions[i]);
                if (r < 0) {
                        printf("fail create %s: %s\n", names[i], shmb_conn_error(c));
                        return 1;
                }
                fill(names[i], shmb_region_data(regions[i]), s->size);
                if (s->publish && (r = shmb_publish(regions[i])) < 0) {
                        printf("fail publish %s: %s\n", names[i], shmb_conn_error(c));
                        return 1;
                }
        }
        /* A name freed again: its fd store name is reused by the next region. */
        if (shmb_delete(c, names[N_SPECS - 1]) < 0 || shmb_close(regions[N_SPECS - 1]) < 0) {
                printf("fail delete: %s\n", shmb_conn_error(c));
                return 1;
        }
        regions[N_SPECS - 1] = NULL;
        printf("ok ready\n");
        fflush(stdout);

        while (fgets(line, sizeof(line), stdin)) {
                line[strcspn(line, "\n")] = 0;
                if (strcmp(line, "check") == 0) {
                        bool good = true;

                        for (size_t i = 0; i < N_SPECS; i++)
                                if (regions[i] && check(names[i], shmb_region_data(regions[i]), specs[i].size) < 0)
                                        good = false;
                        if (good)
                                printf("ok mappings intact\n");
                } else if (strcmp(line, "reopen") == 0) {
                        struct shmb_region_info info;
                        shmb_region *o = NULL, *f = NULL;

                        /* The first call after the restart reconnects by itself. */
                        r = shmb_stat(c, names[4], &info);
                        if (r < 0)
                                printf("fail stat after restart: %d %s\n", r, shmb_conn_error(c));
                        else if ((r = shmb_open(c, names[4], SHMB_READ_WRITE, 0, &o)) < 0 ||
                                 (r = shmb_open(c, names[5], SHMB_READ, 0, &f)) < 0)
                                printf("fail reopen: %d %s\n", r, shmb_conn_error(c));
                        else if (check(names[4], shmb_region_data(o), SIZE) < 0 ||
                                 check(names[5], shmb_region_data(f), SIZE) < 0)
                                ;
                        else {
                                /* Handles from before the restart: closing them only unmaps. */
                                for (size_t i = 4; i <= 5; i++) {
                                        r = shmb_close(regions[i]);
                                        if (r < 0)
                                                break;
                                }
                                regions[4] = o;
                                regions[5] = f;
                                o = f = NULL;
                                if (r < 0)
                                        printf("fail close of a pre-restart handle: %d %s\n", r, shmb_conn_error(c));
                                else
                                        printf("ok reopened\n");
                        }
                        shmb_close(o);
                        shmb_close(f);
                } else if (strcmp(line, "quit") == 0)
                        break;
                else
                        printf("fail unknown command '%s'\n", line);
                fflush(stdout);
        }
        for (size_t i = 0; i < N_SPECS; i++)
                shmb_close(regions[i]);
        shmb_disconnect(c);
        return 0;
}

static int violate(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[4096];
        int fd;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                printf("fail connect: %m\n");
                return 1;
        }
        /* Field 1 as a length-delimited 0xff-byte: not a Request. */
        if (send(fd, "\x0a\xff\xff\xff", 4, 0) < 0 || recv(fd, buf, sizeof(buf), 0) < 0) {
                printf("fail exchange: %m\n");
                close(fd);
                return 1;
        }
        close(fd);
        printf("ok violated\n");
        return 0;
}

/* A persistent one-page region holding its name's pattern. */
static int make(shmb_conn *c, const char *name) {
        struct shmb_create_opts o = { .struct_size = sizeof(o), .size = 4096 };
        shmb_region *reg = NULL;
        int r;

        r = shmb_create(c, name, &o, &reg);
        if (r < 0)
                return r;
        fill(name, shmb_region_data(reg), 4096);
        return shmb_close(reg);
}

int main(int argc, char **argv) {
        shmb_conn *c = NULL;
        int r;

        if (argc < 3) {
                fprintf(stderr, "usage: %s SOCK dump|verify NAME...|hold PREFIX\n", argv[0]);
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (strcmp(argv[2], "violate") == 0)
                return violate(argv[1]);
        if (strcmp(argv[2], "hold") == 0)
                return hold(argv[1], argc > 3 ? argv[3] : "");
        r = shmb_connect(argv[1], &c);
        if (r < 0) {
                printf("fail connect: %s\n", shmb_conn_error(NULL));
                return 1;
        }
        if (strcmp(argv[2], "dump") == 0) {
                r = shmb_list(c, "", print_info, NULL);
                if (r < 0)
                        printf("fail list: %s\n", shmb_conn_error(c));
        } else if (strcmp(argv[2], "churn") == 0 && argc > 3) {
                int n = atoi(argv[3]);
                char name[64];

                for (int i = 0; i < n && r >= 0; i++) {
                        snprintf(name, sizeof(name), "c/%d", i);
                        r = make(c, name);
                }
                for (int i = 0; i < n && r >= 0; i += 3) {
                        snprintf(name, sizeof(name), "c/%d", i);
                        r = shmb_delete(c, name);
                        if (r >= 0)
                                r = make(c, name);
                }
                for (int i = 1; i < n && r >= 0; i += 2) {
                        snprintf(name, sizeof(name), "c/%d", i);
                        r = shmb_delete(c, name);
                }
                if (r < 0)
                        printf("fail churn: %s\n", shmb_conn_error(c));
                else
                        printf("ok churned\n");
        } else if (strcmp(argv[2], "verify") == 0) {
                int n = 0;

                for (int i = 3; i < argc; i++) {
                        shmb_region *reg = NULL;
                        uint64_t size;

                        r = shmb_open(c, argv[i], SHMB_READ, 0, &reg);
                        if (r < 0) {
                                printf("fail open %s: %s\n", argv[i], shmb_conn_error(c));
                                break;
                        }
                        size = shmb_region_info(reg)->requested_size;
                        r = check(argv[i], shmb_region_data(reg), size);
                        shmb_close(reg);
                        if (r < 0)
                                break;
                        n++;
                }
                if (r >= 0)
                        printf("ok %d regions verified\n", n);
        } else {
                fprintf(stderr, "unknown command %s\n", argv[2]);
                r = -EINVAL;
        }
        shmb_disconnect(c);
        return r < 0 ? 1 : 0;
}
