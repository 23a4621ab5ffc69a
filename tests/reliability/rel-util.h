/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the reliability tests: raw requests (the hostile cases
 * need packets no library would send, and pipelines it never builds), the
 * daemon's CPU time and RSS from /proc, and a small seeded PRNG so a failing
 * random run can be replayed from the seed it logs.
 */
#pragma once

#include <stdint.h>

#include "harness.h"

#define REL_TIMEOUT_MS 5000

int rel_send_hello(int fd, uint64_t id, uint32_t version);
int rel_send_create(int fd, uint64_t id, const char *name, uint64_t size, uint32_t mode, int sharing,
                    int lifetime);
int rel_send_open(int fd, uint64_t id, const char *name, int access, uint32_t timeout_ms);
int rel_send_close(int fd, uint64_t id, uint64_t handle);
int rel_send_delete(int fd, uint64_t id, const char *name);
int rel_send_stat(int fd, uint64_t id, const char *name);
int rel_send_list(int fd, uint64_t id, const char *prefix, const char *after, uint32_t limit);
int rel_send_mapped(int fd, uint64_t id, uint64_t handle);
int rel_send_publish(int fd, uint64_t id, uint64_t handle);

/* Raw connection that completed hello (id 1): fd, or -errno / -EPROTO. */
int rel_connect_hello(void);
/*
 * Next response: checks id and status (status < 0: anything). Returns 0,
 * or -1 after logging. An attached fd goes to *ret_fd or is closed.
 */
int rel_expect(int fd, uint64_t id, int status, WireResponse **ret, int *ret_fd);

/* utime + stime of the daemon in milliseconds, or -errno. */
long long rel_daemon_cpu_ms(void);
/* VmRSS of the daemon in KiB, or -errno. */
long long rel_daemon_rss_kib(void);
/* Regions whose name starts with prefix, as root sees them; -errno on failure. */
int rel_count_regions(const char *prefix);

long long rel_now_ms(void);
void rel_sleep_ms(long ms);

/* xorshift64*: deterministic per seed. */
uint64_t rel_rand(uint64_t *state);
/* Uniform in [0, n). */
uint64_t rel_rand_below(uint64_t *state, uint64_t n);
/* A seed from $SHMB_REL_SEED, else the clock; logged either way. */
uint64_t rel_seed(const char *what);

/* Waits up to timeout_ms for the daemon to hold exactly `target` fds; 0 or -ETIMEDOUT. */
int rel_wait_fd_count(int target, int timeout_ms, int *ret_count);
/* sendmsg() of buf with n SCM_RIGHTS fds: 0 or -errno. */
int rel_send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t n);
/* A library connection does a create/stat/delete round trip: 0 or -1 (logged). */
int rel_bystander_check(shmb_conn *c, const char *name);
/* Logs what each of the daemon's fds is (readlink of /proc/PID/fd/N): for leak reports. */
void rel_log_daemon_fds(void);
