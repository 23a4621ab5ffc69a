/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the daemon, the client library and the CLI. Nothing here
 * logs or keeps global state: callers decide what a failure means.
 */
#pragma once

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Newer than Debian 12's glibc headers. */
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

#define SHMB_NAME_MAX 200
#define SHMB_SYSTEM_SOCKET "/run/shmbroker/control.sock"
#define SHMB_SOCKET_ENV "SHMBROKER_SOCKET"

/* name.c */
/*
 * A region name is 1..200 bytes of [A-Za-z0-9._:@/-] with no "." or ".."
 * segment between slashes. Returns true when valid; on false *ret_why (if
 * given) points to a static sentence naming the problem.
 */
bool name_is_valid(const char *name, size_t len, const char **ret_why);

/* size.c */
/*
 * Parses "4096", "4K", "2M", "1G", "1T" (binary units, also "KiB", "MB"...
 * treated as binary) into bytes. Returns 0, -EINVAL on syntax, -ERANGE on
 * overflow.
 */
int size_parse(const char *s, uint64_t *ret);
/* Formats bytes as "512", "4K", "2M", "1.5M": whole multiples without decimals. Returns buf. */
char *size_format(uint64_t bytes, char *buf, size_t buflen);
#define SIZE_FORMAT_MAX 32

/* socket-path.c */
/*
 * The daemon's default listening path: the system path for root, else
 * $XDG_RUNTIME_DIR/shmbroker.sock. -ENOENT if neither applies.
 */
int socket_path_daemon_default(char *buf, size_t buflen);
/*
 * The client's default: $SHMBROKER_SOCKET; else the system socket if it
 * exists; else $XDG_RUNTIME_DIR/shmbroker.sock; else the system path.
 */
int socket_path_client_default(char *buf, size_t buflen);

/* fd-util.c */
int fd_set_cloexec_nonblock(int fd, bool nonblock);
/* Number of open fds of a process (pid 0: self), from /proc; -errno on failure. */
int fd_count(pid_t pid);

/* memfd-util.c */
/* F_SEAL_* bits written out as "shrink,grow,write,..." into buf. */
char *seals_format(unsigned seals, char *buf, size_t buflen);
#define SEALS_FORMAT_MAX 64
