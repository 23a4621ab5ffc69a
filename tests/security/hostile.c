/* SPDX-License-Identifier: MIT */
/*
 * Attacks and children shared by the hostile-client programs (hostile.h).
 * Every check states the errno the kernel gives for that call on this kind
 * of handle; a different errno is a failure too, because it means some other
 * check refused the call and the one the security model relies on was
 * never reached.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostile.h"

const struct harness_creds hostile_uid_65533 = {
        .uid = 65533,
        .gid = 65533,
        .n_groups = 0,
        .groups = NULL,
};

long long hostile_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hostile_sleep_ms(long ms) {
        struct timespec ts = {
                .tv_sec = ms / 1000,
                .tv_nsec = (ms % 1000) * 1000000L,
        };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

const char *hostile_who(void) {
        static char buf[32];

        if (geteuid() == 0)
                return "root";
        snprintf(buf, sizeof(buf), "uid %u", (unsigned)geteuid());
        return buf;
}

/* ---- attacks on one descriptor ----------------------------------------- */

static const struct {
        unsigned seal;
        const char *name;
} all_seals[] = {
        { F_SEAL_SEAL, "F_SEAL_SEAL" },
        { F_SEAL_SHRINK, "F_SEAL_SHRINK" },
        { F_SEAL_GROW, "F_SEAL_GROW" },
        { F_SEAL_WRITE, "F_SEAL_WRITE" },
        { F_SEAL_FUTURE_WRITE, "F_SEAL_FUTURE_WRITE" },
        { F_SEAL_EXEC, "F_SEAL_EXEC" },
        { F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC,
          "every seal at once" },
};

int hostile_add_each_seal(int fd, int err) {
        int before, after;

        before = fcntl(fd, F_GET_SEALS);
        CHECK_SYS(before);
        for (size_t i = 0; i < ELEMENTSOF(all_seals); i++) {
                int r, e;

                errno = 0;
                r = fcntl(fd, F_ADD_SEALS, all_seals[i].seal);
                e = errno;
                CHECK_MSG(r == -1 && e == err, "F_ADD_SEALS(%s) as %s = %d (errno %s), expected -1 (errno %s)",
                          all_seals[i].name, hostile_who(), r, harness_errname(-e), harness_errname(-err));
        }
        after = fcntl(fd, F_GET_SEALS);
        CHECK_INT(after, before);
        return 0;
}

static int private_copy_is_private(int fd, const volatile uint8_t *shared, size_t len) {
        volatile uint8_t *p;
        uint8_t old;

        /* MAP_PRIVATE|PROT_WRITE is always allowed: a copy-on-write copy nobody else sees. */
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        CHECK_MSG(p != MAP_FAILED, "private writable mapping as %s: %m", hostile_who());
        old = shared[len - 1];
        p[len - 1] = (uint8_t)~old;
        CHECK_INT(shared[len - 1], old);
        CHECK_INT(p[len - 1], (uint8_t)~old);
        CHECK_SYS(munmap((void *)p, len));
        return 0;
}

static int size_is(int fd, size_t len) {
        struct stat st;

        CHECK_SYS(fstat(fd, &st));
        CHECK_INT(st.st_size, (long long)len);
        return 0;
}

int hostile_readonly_handle(int fd, void *map, size_t len) {
        char b = 'X', perms[5];

        CHECK_INT(harness_fd_accmode(fd), O_RDONLY);

        CHECK_INT(harness_mmap_result(fd, len, PROT_READ | PROT_WRITE, MAP_SHARED), -EACCES);
        CHECK_INT(harness_mmap_result(fd, len, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE), -EACCES);
        CHECK_INT(harness_mmap_result(fd, 4096, PROT_WRITE, MAP_SHARED), -EACCES);
        if (map) {
                CHECK_INT(harness_mapping_perms(map, perms), 0);
                CHECK_MSG(strcmp(perms, "r--s") == 0, "the library's mapping is %s, expected r--s", perms);
                CHECK_ERRNO(mprotect(map, len, PROT_READ | PROT_WRITE), EACCES);
                CHECK_ERRNO(mprotect(map, 4096, PROT_WRITE), EACCES);
                CHECK_ERRNO(madvise(map, len, MADV_REMOVE), EACCES);
                CHECK_INT(harness_mapping_perms(map, perms), 0);
                CHECK_MSG(strcmp(perms, "r--s") == 0, "the mapping became %s", perms);
        }

        CHECK_ERRNO(write(fd, &b, 1), EBADF);
        CHECK_ERRNO(pwrite(fd, &b, 1, 0), EBADF);
        CHECK_ERRNO(pwrite(fd, &b, 1, (off_t)len), EBADF);
        CHECK_ERRNO(ftruncate(fd, 0), EINVAL);
        CHECK_ERRNO(ftruncate(fd, (off_t)len * 2), EINVAL);
        CHECK_ERRNO(fallocate(fd, 0, 0, (off_t)len), EBADF);
        CHECK_ERRNO(fallocate(fd, 0, (off_t)len, 4096), EBADF);
        CHECK_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)len), EBADF);
        CHECK_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096), EBADF);
        CHECK_INT(hostile_add_each_seal(fd, EPERM), 0);

        if (map)
                CHECK_INT(private_copy_is_private(fd, map, len), 0);
        CHECK_INT(size_is(fd, len), 0);
        return 0;
}

int hostile_reopen(int fd, int *ret_fd) {
        char path[64];
        int rw;

        *ret_fd = -1;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (!harness_is_root()) {
                CHECK_ERRNO(open(path, O_RDWR | O_CLOEXEC), EACCES);
                CHECK_ERRNO(open(path, O_WRONLY | O_CLOEXEC), EACCES);
                CHECK_ERRNO(open(path, O_RDWR | O_TRUNC | O_CLOEXEC), EACCES);
                return 0;
        }

        /* Root passes the inode's 0444: only the seals stand in the way now. */
        CHECK_ERRNO(open(path, O_RDWR | O_TRUNC | O_CLOEXEC), EPERM);
        rw = open(path, O_RDWR | O_CLOEXEC);
        CHECK_MSG(rw >= 0, "root could not reopen %s read-write: %m", path);
        *ret_fd = rw;
        return 0;
}

int hostile_fchmod(int fd) {
        struct stat st;

        CHECK_SYS(fstat(fd, &st));
        CHECK_INT(st.st_mode & 07777, 0444);
        if (!harness_is_root()) {
                /* The inode belongs to the daemon's uid, never to a client. */
                CHECK_MSG(st.st_uid != geteuid(), "the region's inode is owned by the client's uid %u",
                          (unsigned)st.st_uid);
                CHECK_ERRNO(fchmod(fd, 0666), EPERM);
                CHECK_ERRNO(fchmod(fd, 0644), EPERM);
                CHECK_ERRNO(fchown(fd, geteuid(), (gid_t)-1), EPERM);
        } else {
                /* Shared mode does not hold against root: it can, so put it back. */
                CHECK_SYS(fchmod(fd, 0666));
                CHECK_SYS(fchmod(fd, 0444));
        }
        CHECK_SYS(fstat(fd, &st));
        CHECK_INT(st.st_mode & 07777, 0444);
        return 0;
}

int hostile_resize(int fd, size_t len) {
        char b = 'X';

        CHECK_INT(harness_fd_accmode(fd), O_RDWR);
        CHECK_INT(size_is(fd, len), 0);

        CHECK_ERRNO(ftruncate(fd, 0), EPERM);
        CHECK_ERRNO(ftruncate(fd, (off_t)len - 4096), EPERM);
        CHECK_ERRNO(ftruncate(fd, (off_t)len + 4096), EPERM);
        CHECK_ERRNO(ftruncate(fd, (off_t)1 << 40), EPERM);
        CHECK_ERRNO(fallocate(fd, 0, (off_t)len, 4096), EPERM);
        CHECK_ERRNO(fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)len, 4096), EPERM);
        CHECK_ERRNO(fallocate(fd, 0, 0, (off_t)len + 4096), EPERM);
        CHECK_ERRNO(pwrite(fd, &b, 1, (off_t)len), EPERM);
        CHECK_ERRNO(pwrite(fd, &b, 1, (off_t)len * 4), EPERM);
        CHECK_INT(hostile_add_each_seal(fd, EPERM), 0);

        CHECK_INT(size_is(fd, len), 0);
        return 0;
}

int hostile_write_sealed(int fd, void *writable_map, size_t len) {
        char b = 'X';
        void *ro;
        int seals;

        CHECK_INT(harness_fd_accmode(fd), O_RDWR);
        seals = fcntl(fd, F_GET_SEALS);
        CHECK_SYS(seals);
        CHECK_MSG(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE), "seals 0x%x lack WRITE and FUTURE_WRITE", seals);

        CHECK_INT(harness_mmap_result(fd, len, PROT_READ | PROT_WRITE, MAP_SHARED), -EPERM);
        CHECK_INT(harness_mmap_result(fd, len, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE), -EPERM);
        CHECK_INT(harness_mmap_result(fd, 4096, PROT_WRITE, MAP_SHARED), -EPERM);

        /* A read-only shared mapping of the writable fd must not be upgradable. */
        ro = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        if (ro == MAP_FAILED && errno == EPERM && (seals & F_SEAL_WRITE))
                harness_log("this kernel refuses shared read-only mappings of write-sealed memfds (< 6.7)");
        else {
                CHECK_MSG(ro != MAP_FAILED, "read-only shared mapping as %s: %m", hostile_who());
                CHECK_ERRNO(mprotect(ro, len, PROT_READ | PROT_WRITE), EACCES);
                CHECK_SYS(munmap(ro, len));
        }

        CHECK_ERRNO(write(fd, &b, 1), EPERM);
        CHECK_ERRNO(pwrite(fd, &b, 1, 0), EPERM);
        CHECK_ERRNO(pwrite(fd, &b, 1, (off_t)len - 1), EPERM);
        CHECK_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)len), EPERM);
        CHECK_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096), EPERM);
        if (writable_map)
                CHECK_ERRNO(madvise(writable_map, len, MADV_REMOVE), EPERM);
        CHECK_INT(hostile_resize(fd, len), 0);

        ro = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        CHECK_MSG(ro != MAP_FAILED, "private read-only mapping: %m");
        CHECK_INT(private_copy_is_private(fd, ro, len), 0);
        CHECK_SYS(munmap(ro, len));
        return 0;
}

/* ---- children ---------------------------------------------------------- */

static int recv_arg(struct harness_chan *chan, unsigned *ret) {
        char a;

        CHECK_INT(harness_chan_recv(chan, &a, HARNESS_CHILD_TIMEOUT_MS), 0);
        *ret = (unsigned char)a;
        return 0;
}

static int fork_and_fill(void *data, size_t len, unsigned seed) {
        pid_t pid;

        pid = fork();
        CHECK_SYS(pid);
        if (pid == 0) {
                harness_fill(data, len, seed);
                _exit(0);
        }
        CHECK_INT(harness_pid_wait(pid, 10000), 0);
        return 0;
}

static int mremap_and_fill(void *data, size_t len, unsigned seed) {
        void *dup;

        /* old_size 0 duplicates a shared mapping, writability included, without mmap()'s seal check. */
        dup = mremap(data, 0, len, MREMAP_MAYMOVE);
        CHECK_MSG(dup != MAP_FAILED, "mremap(old_size 0): %m");
        CHECK(dup != data);
        harness_fill(dup, len, seed);
        CHECK_SYS(munmap(dup, len));
        return 0;
}

static int creator_main(struct harness_chan *chan, void *userdata) {
        struct hostile_creator *hc = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        struct shmb_create_opts o = harness_opts(HOSTILE_SIZE, hc->mode, SHMB_PERSISTENT);

        o.sharing = hc->sharing;
        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_create(c, hc->name, &o, &r), 0);
        CHECK_INT(shmb_region_size(r), HOSTILE_SIZE);
        harness_log("%s created %s (sharing %d, mode %04o)", hostile_who(), hc->name, hc->sharing, hc->mode);
        harness_fill(shmb_region_data(r), HOSTILE_SIZE, hc->seed);
        if (hc->hook)
                CHECK_INT(hc->hook(r, hc), 0);
        if (hc->publish) {
                CHECK_SHMB(c, shmb_publish(r), 0);
                CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, hc->seed));
                if (hc->after_publish)
                        CHECK_INT(hc->after_publish(r, hc), 0);
        }
        CHECK_INT(harness_chan_send(chan, 'c'), 0);

        for (;;) {
                unsigned arg = 0;
                char cmd;

                CHECK_INT(harness_chan_recv(chan, &cmd, HARNESS_CHILD_TIMEOUT_MS), 0);
                if (cmd == 'q')
                        break;
                CHECK_INT(recv_arg(chan, &arg), 0);
                switch (cmd) {
                case 'w':
                        harness_fill(shmb_region_data(r), HOSTILE_SIZE, arg);
                        break;
                case 'v':
                        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, arg));
                        break;
                case 'f':
                        CHECK_INT(fork_and_fill(shmb_region_data(r), HOSTILE_SIZE, arg), 0);
                        break;
                case 'm':
                        CHECK_INT(mremap_and_fill(shmb_region_data(r), HOSTILE_SIZE, arg), 0);
                        break;
                case 'z':
                        /* arg: a page that must read as zeros now. */
                        CHECK(harness_is_zero((uint8_t *)shmb_region_data(r) + (size_t)arg * 4096, 4096));
                        break;
                default:
                        CHECK_MSG(false, "creator: unknown command '%c'", cmd);
                }
                CHECK_INT(harness_chan_send(chan, 'k'), 0);
        }

        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        shmb_disconnect(TAKE_PTR(c));
        CHECK_INT(harness_chan_send(chan, 'k'), 0);
        return 0;
}

int hostile_creator_start(struct harness_child *ch, const struct harness_creds *creds, struct hostile_creator *hc) {
        hc->saved_fd = -1;
        CHECK_INT(harness_child_start(ch, creds, creator_main, hc), 0);
        CHECK_INT(harness_chan_expect(&ch->chan, 'c'), 0);
        return 0;
}

int hostile_cmd(struct harness_child *ch, char cmd, unsigned arg) {
        CHECK_INT(harness_chan_send(&ch->chan, cmd), 0);
        if (cmd != 'q')
                CHECK_INT(harness_chan_send(&ch->chan, (char)arg), 0);
        CHECK_MSG(harness_chan_expect(&ch->chan, 'k') == 0, "child %d failed command '%c' %u", (int)ch->pid, cmd,
                  arg);
        return 0;
}

int hostile_child_quit(struct harness_child *ch) {
        CHECK_INT(hostile_cmd(ch, 'q', 0), 0);
        CHECK_CHILD(harness_child_wait(ch, HARNESS_CHILD_TIMEOUT_MS));
        return 0;
}

static int reader_main(struct harness_chan *chan, void *userdata) {
        const struct hostile_reader *hr = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;
        int fd;

        CHECK_INT(harness_connect(&c), 0);
        if (hr->gated)
                CHECK_INT(harness_chan_expect(chan, 'g'), 0);
        CHECK_INT(harness_chan_send(chan, 's'), 0);
        CHECK_SHMB(c, shmb_open(c, hr->name, hr->access, hr->timeout_ms, &r), 0);
        harness_log("%s opened %s for %s", hostile_who(), hr->name,
                    hr->access == SHMB_READ ? "read" : "read-write");
        CHECK_INT(shmb_region_size(r), HOSTILE_SIZE);
        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, hr->seed));
        if (hr->attack)
                CHECK_INT(hr->attack(r, hr), 0);
        if (hr->seed_after != HOSTILE_NO_CHECK)
                CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE,
                                     hr->seed_after ? hr->seed_after : hr->seed));

        fd = shmb_region_fd(r);
        CHECK(fd > 0 && fd < 256);
        CHECK_INT(harness_chan_send(chan, 'a'), 0);
        CHECK_INT(harness_chan_send(chan, (char)fd), 0);

        for (;;) {
                unsigned arg = 0;
                char cmd;

                CHECK_INT(harness_chan_recv(chan, &cmd, HARNESS_CHILD_TIMEOUT_MS), 0);
                if (cmd == 'q')
                        break;
                CHECK_INT(recv_arg(chan, &arg), 0);
                switch (cmd) {
                case 'v':
                        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, arg));
                        break;
                case 'z':
                        CHECK(harness_is_zero((uint8_t *)shmb_region_data(r) + (size_t)arg * 4096, 4096));
                        break;
                default:
                        CHECK_MSG(false, "reader: unknown command '%c'", cmd);
                }
                CHECK_INT(harness_chan_send(chan, 'k'), 0);
        }

        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        shmb_disconnect(TAKE_PTR(c));
        CHECK_INT(harness_chan_send(chan, 'k'), 0);
        return 0;
}

int hostile_reader_start(struct harness_child *ch, const struct harness_creds *creds,
                         const struct hostile_reader *hr) {
        CHECK_INT(harness_child_start(ch, creds, reader_main, (void *)hr), 0);
        if (!hr->gated)
                CHECK_INT(harness_chan_expect(&ch->chan, 's'), 0);
        return 0;
}

int hostile_reader_go(struct harness_child *ch) {
        CHECK_INT(harness_chan_send(&ch->chan, 'g'), 0);
        CHECK_INT(harness_chan_expect(&ch->chan, 's'), 0);
        return 0;
}

int hostile_reader_ready(struct harness_child *ch, int *ret_fd_number) {
        unsigned fd = 0;

        CHECK_INT(harness_chan_expect(&ch->chan, 'a'), 0);
        CHECK_INT(recv_arg(&ch->chan, &fd), 0);
        if (ret_fd_number)
                *ret_fd_number = (int)fd;
        return 0;
}

int hostile_run_reader(const struct harness_creds *creds, const struct hostile_reader *hr) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;

        CHECK_INT(hostile_reader_start(&ch, creds, hr), 0);
        CHECK_INT(hostile_reader_ready(&ch, NULL), 0);
        CHECK_INT(hostile_child_quit(&ch), 0);
        return 0;
}

static int open_expect_main(struct harness_chan *chan, void *userdata) {
        const struct hostile_open_expect *o = userdata;
        _cleanup_conn_ shmb_conn *c = NULL;
        shmb_region *r = NULL;
        long long t0, ms;
        int e;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_INT(harness_chan_send(chan, 's'), 0);
        t0 = hostile_now_ms();
        e = shmb_open(c, o->name, o->access, o->timeout_ms, &r);
        ms = hostile_now_ms() - t0;
        if (e == 0)
                shmb_close(r);
        harness_log("%s: open %s for %s with timeout %d ms: %s after %lld ms (\"%s\")", hostile_who(), o->name,
                    o->access == SHMB_READ ? "read" : "read-write", o->timeout_ms, e ? harness_errname(e) : "ok",
                    ms, shmb_conn_error(c));
        CHECK_SHMB(c, e, o->expect);
        if (o->message)
                CHECK_MSG(strstr(shmb_conn_error(c), o->message), "error \"%s\" does not say \"%s\"",
                          shmb_conn_error(c), o->message);
        CHECK_MSG(ms >= o->min_ms, "the open returned after %lld ms, before %lld ms", ms, o->min_ms);
        if (o->max_ms)
                CHECK_MSG(ms <= o->max_ms, "the open returned after %lld ms, later than %lld ms", ms, o->max_ms);
        return 0;
}

int hostile_open_expect_start(struct harness_child *ch, const struct harness_creds *creds,
                              const struct hostile_open_expect *o) {
        CHECK_INT(harness_child_start(ch, creds, open_expect_main, (void *)o), 0);
        CHECK_INT(harness_chan_expect(&ch->chan, 's'), 0);
        return 0;
}

int hostile_open_expect(const struct harness_creds *creds, const struct hostile_open_expect *o) {
        _cleanup_child_ struct harness_child ch = HARNESS_CHILD_NULL;

        CHECK_INT(hostile_open_expect_start(&ch, creds, o), 0);
        CHECK_CHILD(harness_child_wait(&ch, HARNESS_CHILD_TIMEOUT_MS));
        return 0;
}

/* ---- the parent -------------------------------------------------------- */

int hostile_verify(const char *name, unsigned seed) {
        _cleanup_conn_ shmb_conn *c = NULL;
        _cleanup_region_ shmb_region *r = NULL;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_open(c, name, SHMB_READ, 0, &r), 0);
        CHECK_INT(shmb_region_size(r), HOSTILE_SIZE);
        CHECK(harness_verify(shmb_region_data(r), HOSTILE_SIZE, seed));
        CHECK_SHMB(c, shmb_close(TAKE_PTR(r)), 0);
        return 0;
}

int hostile_delete(const char *name) {
        _cleanup_conn_ shmb_conn *c = NULL;

        CHECK_INT(harness_connect(&c), 0);
        CHECK_SHMB(c, shmb_delete(c, name), 0);
        return 0;
}

int hostile_daemon_memfd(pid_t daemon, const char *name) {
        char dir[64], target[512], want[SHMB_NAME_MAX + 64];
        struct dirent *de;
        DIR *d;
        int found = -ENOENT;

        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)daemon);
        snprintf(want, sizeof(want), "/memfd:shmb:%s (deleted)", name);
        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n < 0)
                        continue;
                target[n] = 0;
                if (strcmp(target, want) == 0) {
                        found = atoi(de->d_name);
                        break;
                }
        }
        closedir(d);
        return found;
}

static int count_region(const struct shmb_region_info *info, void *userdata) {
        unsigned *n = userdata;

        (*n)++;
        return 0;
}

int hostile_responsive(shmb_conn *c, const char *name, long long max_ms, long long *ret_ms) {
        struct shmb_region_info info;
        long long t0, stat_ms, list_ms;
        unsigned n = 0;

        t0 = hostile_now_ms();
        CHECK_SHMB(c, shmb_stat(c, name, &info), 0);
        stat_ms = hostile_now_ms() - t0;
        t0 = hostile_now_ms();
        CHECK_SHMB(c, shmb_list(c, name, count_region, &n), 0);
        list_ms = hostile_now_ms() - t0;
        CHECK_INT(n, 1);
        CHECK_MSG(stat_ms < max_ms && list_ms < max_ms, "the daemon took %lld ms to answer stat and %lld ms to "
                  "answer list, expected < %lld ms each", stat_ms, list_ms, max_ms);
        if (ret_ms)
                *ret_ms = MAX(stat_ms, list_ms);
        return 0;
}

int hostile_stat(const char *name, struct shmb_region_info *ret) {
        _cleanup_conn_ shmb_conn *c = NULL;
        int r;

        r = harness_connect(&c);
        if (r < 0)
                return r;
        return shmb_stat(c, name, ret);
}
