/* SPDX-License-Identifier: MIT */
/*
 * mappers: the processes that really map or hold a region, found the way
 * the kernel identifies the memfd: by (st_dev, st_ino), in /proc/PID/maps
 * ("major:minor inode" columns) and by fstat of /proc/PID/fd/N. Never by
 * name: memfd names are free text that any process can imitate, and the
 * daemon's name for a region is not the memfd's. The daemon reports the
 * inode; the scan runs here, with the caller's own right to read /proc, so
 * as non-root only the caller's processes are visible, which the output says.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ctl.h"
#include "json.h"
#include "region-info.h"
#include "table.h"
#include "util.h"

typedef struct Mapping {
        uint64_t start, end, offset;
        char perms[5];
} Mapping;

typedef struct Mapper {
        pid_t pid;
        uid_t uid;
        char comm[17];
        char cmdline[256];
        Mapping *maps;
        size_t n_maps;
        int *fds;
        size_t n_fds;
} Mapper;

typedef struct Scan {
        unsigned dev_major, dev_minor;
        dev_t dev;
        ino_t ino;
        Mapper *list;
        size_t n;
        unsigned unreadable;    /* processes whose maps or fds we may not read */
} Scan;

static void scan_done(Scan *s) {
        for (size_t i = 0; i < s->n; i++) {
                free(s->list[i].maps);
                free(s->list[i].fds);
        }
        free(s->list);
}

static bool parse_pid(const char *s, pid_t *ret) {
        char *end;
        long v;

        if (!isdigit((unsigned char)s[0]))
                return false;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || v <= 0 || v > INT32_MAX)
                return false;
        *ret = (pid_t)v;
        return true;
}

void proc_read_text(pid_t pid, const char *file, char *buf, size_t len, bool nul_is_space) {
        char path[64];
        ssize_t n;
        int fd;

        buf[0] = '\0';
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        n = read(fd, buf, len - 1);
        close(fd);
        if (n <= 0)
                return;
        buf[n] = '\0';
        for (ssize_t i = 0; i < n; i++)
                if (buf[i] == '\0' && nul_is_space)
                        buf[i] = ' ';
                else if (buf[i] == '\n' && i == n - 1)
                        buf[i] = '\0';
                else if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
                        buf[i] = '?';
        while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\0'))
                buf[--n] = '\0';
}

static int grow(void **p, size_t n, size_t size) {
        /* Doubling at powers of two keeps appends amortized O(1). */
        if (n & (n - 1))
                return 0;
        void *np = realloc(*p, (n ? 2 * n : 1) * size);

        if (!np)
                return -ENOMEM;
        *p = np;
        return 0;
}

static int scan_maps(const Scan *s, pid_t pid, Mapper *m, bool *ret_denied) {
        char path[64], line[4096];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        f = fopen(path, "re");
        if (!f) {
                *ret_denied = errno == EACCES || errno == EPERM;
                return 0;
        }
        while (fgets(line, sizeof(line), f)) {
                unsigned long long start, end, off, inode;
                unsigned maj, min;
                char perms[5];

                if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu", &start, &end, perms, &off, &maj, &min,
                           &inode) != 7)
                        continue;
                if (maj != s->dev_major || min != s->dev_minor || inode != (unsigned long long)s->ino)
                        continue;
                if (grow((void **)&m->maps, m->n_maps, sizeof(*m->maps)) < 0) {
                        fclose(f);
                        return -ENOMEM;
                }
                m->maps[m->n_maps] = (Mapping){ .start = start, .end = end, .offset = off };
                memcpy(m->maps[m->n_maps].perms, perms, sizeof(perms));
                m->n_maps++;
        }
        fclose(f);
        return 0;
}

static int scan_fds(const Scan *s, pid_t pid, Mapper *m, bool *ret_denied) {
        char path[64];
        struct dirent *de;
        DIR *d;
        int dfd;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        d = opendir(path);
        if (!d) {
                *ret_denied = errno == EACCES || errno == EPERM;
                return 0;
        }
        dfd = dirfd(d);
        while ((de = readdir(d))) {
                struct stat st;
                pid_t fd;

                if (!parse_pid(de->d_name, &fd) && strcmp(de->d_name, "0") != 0)
                        continue;
                if (strcmp(de->d_name, "0") == 0)
                        fd = 0;
                /* stat follows the magic link to the open file itself, wherever it came from. */
                if (fstatat(dfd, de->d_name, &st, 0) < 0)
                        continue;
                if (st.st_dev != s->dev || st.st_ino != s->ino)
                        continue;
                if (grow((void **)&m->fds, m->n_fds, sizeof(*m->fds)) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
                m->fds[m->n_fds++] = (int)fd;
        }
        closedir(d);
        return 0;
}

static int int_cmp(const void *a, const void *b) {
        return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static int mapper_cmp(const void *a, const void *b) {
        const Mapper *x = a, *y = b;

        return (x->pid > y->pid) - (x->pid < y->pid);
}

static int scan_proc(Scan *s) {
        struct dirent *de;
        DIR *d;
        int r = 0;

        d = opendir("/proc");
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                Mapper m = {};
                bool denied_maps = false, denied_fds = false;
                char path[64];
                struct stat st;

                if (!parse_pid(de->d_name, &m.pid))
                        continue;
                r = scan_maps(s, m.pid, &m, &denied_maps);
                if (r >= 0)
                        r = scan_fds(s, m.pid, &m, &denied_fds);
                if (r < 0) {
                        free(m.maps);
                        free(m.fds);
                        break;
                }
                if (denied_maps || denied_fds)
                        s->unreadable++;
                if (m.n_maps == 0 && m.n_fds == 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d", (int)m.pid);
                m.uid = stat(path, &st) >= 0 ? st.st_uid : (uid_t)-1;
                proc_read_text(m.pid, "comm", m.comm, sizeof(m.comm), false);
                proc_read_text(m.pid, "cmdline", m.cmdline, sizeof(m.cmdline), true);
                /* qsort(NULL, 0, ...) is undefined behaviour, however harmless in practice. */
                if (m.n_fds > 0)
                        qsort(m.fds, m.n_fds, sizeof(*m.fds), int_cmp);
                if (grow((void **)&s->list, s->n, sizeof(*s->list)) < 0) {
                        free(m.maps);
                        free(m.fds);
                        r = -ENOMEM;
                        break;
                }
                s->list[s->n++] = m;
        }
        closedir(d);
        if (s->n > 0)
                qsort(s->list, s->n, sizeof(*s->list), mapper_cmp);
        return r < 0 ? r : 0;
}

static void mappers_json(const char *name, const Scan *s, bool complete) {
        JsonWriter w = JSON_WRITER_INIT(stdout);
        char buf[64];

        json_begin_object(&w);
        json_key(&w, "region");
        json_string(&w, name);
        json_key(&w, "dev");
        snprintf(buf, sizeof(buf), "%02x:%02x", s->dev_major, s->dev_minor);
        json_string(&w, buf);
        json_key(&w, "ino");
        json_uint(&w, (uint64_t)s->ino);
        json_key(&w, "complete");
        json_bool(&w, complete);
        json_key(&w, "unreadable_processes");
        json_uint(&w, s->unreadable);
        json_key(&w, "processes");
        json_begin_array(&w);
        for (size_t i = 0; i < s->n; i++) {
                const Mapper *m = &s->list[i];

                json_begin_object(&w);
                json_key(&w, "pid");
                json_uint(&w, (uint64_t)m->pid);
                json_key(&w, "uid");
                json_uint(&w, (uint64_t)m->uid);
                json_key(&w, "user");
                json_string(&w, user_to_string(m->uid, buf));
                json_key(&w, "comm");
                json_string(&w, m->comm);
                json_key(&w, "cmdline");
                json_string(&w, m->cmdline);
                json_key(&w, "mappings");
                json_begin_array(&w);
                for (size_t j = 0; j < m->n_maps; j++) {
                        json_begin_object(&w);
                        /* Addresses as hex strings: JSON numbers lose precision past 2^53. */
                        json_key(&w, "start");
                        snprintf(buf, sizeof(buf), "0x%" PRIx64, m->maps[j].start);
                        json_string(&w, buf);
                        json_key(&w, "end");
                        snprintf(buf, sizeof(buf), "0x%" PRIx64, m->maps[j].end);
                        json_string(&w, buf);
                        json_key(&w, "length");
                        json_uint(&w, m->maps[j].end - m->maps[j].start);
                        json_key(&w, "offset");
                        json_uint(&w, m->maps[j].offset);
                        json_key(&w, "perms");
                        json_string(&w, m->maps[j].perms);
                        json_end_object(&w);
                }
                json_end_array(&w);
                json_key(&w, "fds");
                json_begin_array(&w);
                for (size_t j = 0; j < m->n_fds; j++)
                        json_uint(&w, (uint64_t)m->fds[j]);
                json_end_array(&w);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_end_object(&w);
        json_finish(&w);
}

static const char *const mappers_headers[] = { ">PID", "USER", "COMM", "MAPPING", ">LENGTH", "PERMS", "FDS" };

static int mappers_table(const Scan *s) {
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        r = table_new(&t, ELEMENTSOF(mappers_headers), mappers_headers);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n; i++) {
                const Mapper *m = &s->list[i];
                char pid[24], user[REGION_NAME_MAX], fds[128] = "", range[64], len[SIZE_FORMAT_MAX];
                size_t used = 0;

                snprintf(pid, sizeof(pid), "%d", (int)m->pid);
                user_to_string(m->uid, user);
                for (size_t j = 0; j < m->n_fds && used < sizeof(fds); j++)
                        used += (size_t)snprintf(fds + used, sizeof(fds) - used, "%s%d", j ? "," : "", m->fds[j]);
                /* One row per mapping; a process holding only descriptors gets one row without. */
                for (size_t j = 0; j < MAX(m->n_maps, (size_t)1); j++) {
                        const Mapping *mp = j < m->n_maps ? &m->maps[j] : NULL;

                        if (mp) {
                                snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, mp->start, mp->end);
                                size_format(mp->end - mp->start, len, sizeof(len));
                        }
                        r = table_add_row(t, (const char *const[]){
                                pid, user, m->comm[0] ? m->comm : "-", mp ? range : "(no mapping)",
                                mp ? len : NULL, mp ? mp->perms : NULL, j == 0 && fds[0] ? fds : NULL });
                        if (r < 0)
                                return r;
                }
        }
        return table_print(t, stdout);
}

int verb_mappers(Ctl *ctl, char **args, unsigned n_args) {
        _cleanup_(scan_done) Scan s = {};
        struct shmb_region_info info;
        bool complete;
        int r;

        r = check_name("mappers", args[0]);
        if (r != EXIT_SUCCESS)
                return r;
        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;
        r = shmb_stat(ctl->conn, args[0], &info);
        if (r < 0)
                return ctl_fail(ctl, "mappers", args[0], r);
        if (info.ino == 0) {
                fprintf(stderr, PROGRAM ": mappers %s: the daemon does not report the region's inode "
                        "(it predates this version of " PROGRAM ")\n", args[0]);
                return EXIT_FAILURE;
        }
        s.dev = (dev_t)info.dev;
        s.ino = (ino_t)info.ino;
        s.dev_major = major(s.dev);
        s.dev_minor = minor(s.dev);
        r = scan_proc(&s);
        if (r < 0) {
                fprintf(stderr, PROGRAM ": mappers %s: cannot scan /proc: %s\n", args[0], strerror(-r));
                return EXIT_FAILURE;
        }
        /* As non-root, other users' processes are not even counted reliably: never complete. */
        complete = s.unreadable == 0 && geteuid() == 0;

        if (ctl->json) {
                mappers_json(args[0], &s, complete);
                return EXIT_SUCCESS;
        }
        r = mappers_table(&s);
        if (r < 0)
                return ctl_fail(ctl, "mappers", args[0], r);
        if (geteuid() != 0)
                printf("Note: not running as root: only your own processes are visible "
                       "(%u others could not be inspected).\n", s.unreadable);
        else if (!complete)
                printf("Note: %u processes could not be inspected (permission denied).\n", s.unreadable);
        return EXIT_SUCCESS;
}
