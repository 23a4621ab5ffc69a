/* SPDX-License-Identifier: MIT */
/*
 * Attacks shared by the hostile-client programs (test-hostile-*.c), built on
 * the integration harness. A region's guarantees are only as strong as what
 * the kernel refuses to a process holding one of its descriptors, so every
 * attack here is a raw system call on a real handle from the daemon and each
 * check names the exact errno of ../shared/notes/memfd-facts.md. Regions are
 * created and attacked in forked children that switch uid, because "the
 * owner", "another uid" and "root" are different kernel answers for the
 * same call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#endif

#define HOSTILE_SIZE (4u * 4096u)
#define HOSTILE_NO_CHECK (~0u)

/* A second unprivileged uid next to harness_nobody (65534). */
extern const struct harness_creds hostile_uid_65533;

long long hostile_now_ms(void);
void hostile_sleep_ms(long ms);
/* "uid 65534" or "root", for log lines. */
const char *hostile_who(void);

/* ---- attacks on one descriptor ----------------------------------------- */

/* F_ADD_SEALS of each F_SEAL_* bit alone, and all at once: each must fail with err. */
int hostile_add_each_seal(int fd, int err);

/*
 * Everything an O_RDONLY handle must refuse: writable shared mmap (EACCES),
 * mprotect of the library's read-only mapping map (EACCES), write/pwrite
 * (EBADF), ftruncate (EINVAL), fallocate incl. PUNCH_HOLE (EBADF),
 * MADV_REMOVE (EACCES), F_ADD_SEALS (EPERM). A private writable copy is
 * allowed and must stay invisible through map.
 */
int hostile_readonly_handle(int fd, void *map, size_t len);

/*
 * Reopens /proc/self/fd/<fd> read-write and write-only. Without privilege
 * both must fail EACCES (inode mode 0444, owned by the daemon's uid) and
 * *ret_fd is -1; as root the O_RDWR reopen must succeed and is returned.
 */
int hostile_reopen(int fd, int *ret_fd);

/*
 * fchmod of the shared inode back to 0666: EPERM for anyone but its owner
 * (the daemon's uid) and root. As root it succeeds, which is exactly why
 * shared mode does not hold against root; the mode is put back to 0444.
 */
int hostile_fchmod(int fd);

/*
 * What SHRINK|GROW|SEAL refuse to any writable handle of any mode:
 * ftruncate smaller/larger, fallocate and pwrite beyond EOF, F_ADD_SEALS
 * (all EPERM). The size must stay len.
 */
int hostile_resize(int fd, size_t len);

/*
 * A writable descriptor of a region carrying F_SEAL_WRITE or
 * F_SEAL_FUTURE_WRITE: no new writable shared mapping (EPERM), no
 * mprotect upgrade of a new read-only one (EACCES), no write/pwrite,
 * PUNCH_HOLE (EPERM), plus hostile_resize(). writable_map, if not NULL, is
 * a writable mapping made before the seal: MADV_REMOVE on it must fail
 * EPERM too (FUTURE_WRITE refuses hole punching even to its writer).
 */
int hostile_write_sealed(int fd, void *writable_map, size_t len);

/* ---- children ---------------------------------------------------------- */

/*
 * A creator child: connects, creates the region, fills it with seed, runs
 * hook (if any), publishes when asked and reports 'c'. It then serves
 * single-byte commands from the parent, answering 'k' to each:
 *   'w' <seed>  fill through its mapping with seed
 *   'v' <seed>  verify its mapping holds seed
 *   'f' <seed>  fork; the grandchild fills with seed through the inherited
 *               mapping (single-writer: a documented non-guarantee)
 *   'm' <seed>  mremap(old_size 0) a duplicate of its mapping and fill
 *               with seed through the duplicate (ditto)
 *   'q'         close the region, disconnect, exit
 */
struct hostile_creator {
        const char *name;
        uint32_t mode;
        int sharing;
        unsigned seed;
        bool publish;
        /* Runs in the child after the fill, before publishing; 0 or -1. */
        int (*hook)(shmb_region *r, struct hostile_creator *hc);
        /* Runs in the child after publishing; 0 or -1. */
        int (*after_publish)(shmb_region *r, struct hostile_creator *hc);
        int saved_fd; /* for hooks; the child's own copy */
};

int hostile_creator_start(struct harness_child *ch, const struct harness_creds *creds, struct hostile_creator *hc);
/* Sends cmd (and arg unless 0), expects 'k'. */
int hostile_cmd(struct harness_child *ch, char cmd, unsigned arg);
/* 'q', then the child's exit status must be 0. */
int hostile_child_quit(struct harness_child *ch);

/*
 * A reader child: connects, reports 's', opens the region with access and
 * timeout_ms, checks that it holds seed, runs attack (if any), checks
 * seed_after (or seed) again, then reports 'a' followed by its handle's fd
 * number. It then serves 'v' <seed>, 'z' <page> and 'q' like the creator.
 */
struct hostile_reader {
        const char *name;
        int access;
        int timeout_ms;
        unsigned seed;
        unsigned seed_after; /* 0: seed; HOSTILE_NO_CHECK: not checked */
        int (*attack)(shmb_region *r, const struct hostile_reader *hr);
        /*
         * Waits for 'g' before opening: lets the parent fork it before
         * mapping anything writable, since a fork()ed child would inherit
         * that mapping (and, for an immutable region, block publishing).
         */
        bool gated;
};

/* Starts the reader and, unless gated, waits for its 's' (it is about to open). */
int hostile_reader_start(struct harness_child *ch, const struct harness_creds *creds,
                         const struct hostile_reader *hr);
/* Gated readers: sends 'g' and waits for 's'. */
int hostile_reader_go(struct harness_child *ch);
/* Waits for its 'a': opened, attacked, content checked. */
int hostile_reader_ready(struct harness_child *ch, int *ret_fd_number);
/* Starts a reader, lets it attack, quits it; 0 when all of it passed. */
int hostile_run_reader(const struct harness_creds *creds, const struct hostile_reader *hr);

/*
 * A child whose one shmb_open() must return expect (0 or -errno) after
 * between min_ms and max_ms (0: unbounded), with message (if not NULL) in
 * the error text. It reports 's' just before calling shmb_open().
 */
struct hostile_open_expect {
        const char *name;
        int access;
        int timeout_ms;
        int expect;
        const char *message;
        long long min_ms, max_ms;
};

int hostile_open_expect_start(struct harness_child *ch, const struct harness_creds *creds,
                              const struct hostile_open_expect *o);
/* Start, then the child's exit status must be 0. */
int hostile_open_expect(const struct harness_creds *creds, const struct hostile_open_expect *o);

/* ---- the parent -------------------------------------------------------- */

/* Opens name for read on a fresh connection and checks the bytes are seed. */
int hostile_verify(const char *name, unsigned seed);
/* shmb_delete() on a fresh connection. */
int hostile_delete(const char *name);
/* shmb_stat() on a fresh connection. */
int hostile_stat(const char *name, struct shmb_region_info *ret);
/* Finds the daemon's fd number of the memfd of region name (root only). */
int hostile_daemon_memfd(pid_t daemon, const char *name);
/* stat/list on c each answer within max_ms; the slowest goes to *ret_ms. */
int hostile_responsive(shmb_conn *c, const char *name, long long max_ms, long long *ret_ms);
