/* SPDX-License-Identifier: MIT */
/*
 * shmbrokerd: arguments, the listening socket, process hardening, run().
 * Works in the foreground on built-in defaults so development needs nothing
 * but the binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cloexec-range.h"
#include "config.h"
#include "config-file.h"
#include "fdstore.h"
#include "log.h"
#include "memory.h"
#include "server.h"
#include "util.h"
#include "wire.h"

typedef struct Args {
        const char *socket_path;
        mode_t socket_mode;
        Limits limits;
        FdStoreOptions fdstore;
        bool verbose;
        QuotaConfig quota;
        const char *admin_group;
} Args;

static void help(void) {
        printf("Usage: shmbrokerd [OPTIONS]\n"
               "\n"
               "Hands out sealed shared-memory regions to local processes over a Unix socket.\n"
               "\n"
               "  -c, --config FILE          read limits, quotas and access from FILE\n"
               "                             (shmbroker.conf(5)); options below override it\n"
               "  -s, --socket PATH          listen on PATH (default: the socket passed by the\n"
               "                             service manager, else $SHMBROKER_SOCKET, else\n"
               "                             " SHMB_SYSTEM_SOCKET " as root,\n"
               "                             else $XDG_RUNTIME_DIR/shmbroker.sock)\n"
               "      --socket-mode MODE     permission bits of the socket (default 0666)\n"
               "      --max-regions N        regions in existence at once (default %u)\n"
               "      --max-connections N    client connections at once (default %u)\n"
               "      --output-queue N       replies queued for a client that does not read\n"
               "                             before it is dropped (default %u)\n"
               "      --quota-locked SIZE    default per-uid locked-memory quota (default 64M; 0: none)\n"
               "      --quota-bytes SIZE     default per-uid quota of region bytes (default: none)\n"
               "      --quota-regions N      default per-uid region count quota (default: none)\n"
               "      --quota-connections N  default per-uid connection quota (default: none)\n"
               "      --quota-handles N      default per-uid handle quota (default: none)\n"
               "      --max-locked SIZE      global cap on locked bytes (default and ceiling: what\n"
               "                             the daemon can lock, RLIMIT_MEMLOCK or CAP_IPC_LOCK)\n"
               "      --admin-group NAME     members may inspect and delete every region\n"
               "      --restore-grace-ms MS  after a restart, how long restored owner and\n"
               "                             refcounted regions wait to be reopened (default %u)\n"
               "      --fdstore-max N        FileDescriptorStoreMax= of the unit (default %u)\n"
               "  -v, --verbose              log every request outcome (debug level)\n"
               "  -h, --help                 show this help\n"
               "      --version              show the version\n",
               LIMITS_DEFAULT.max_regions, LIMITS_DEFAULT.max_connections, LIMITS_DEFAULT.output_queue,
               FDSTORE_DEFAULT_GRACE_MS, FDSTORE_DEFAULT_MAX);
}

static int parse_uint(const char *opt, const char *s, unsigned min, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v < min || v > UINT_MAX || s[0] == '-') {
                fprintf(stderr, "shmbrokerd: %s: '%s' is not a whole number between %u and %u\n", opt, s,
                        min, UINT_MAX);
                return -EINVAL;
        }
        *ret = (unsigned)v;
        return 0;
}

static int parse_size_opt(const char *opt, const char *s, uint64_t *ret) {
        if (size_parse(s, ret) < 0) {
                fprintf(stderr, "shmbrokerd: %s: '%s' is not a size (bytes, or with K, M, G, T)\n", opt, s);
                return -EINVAL;
        }
        return 0;
}

static int parse_count_opt(const char *opt, const char *s, uint64_t *ret) {
        unsigned v;

        if (parse_uint(opt, s, 0, &v) < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_args(int argc, char **argv, Args *a) {
        enum { OPT_VERSION = 0x100, OPT_SOCKET_MODE, OPT_MAX_REGIONS, OPT_MAX_CONNECTIONS, OPT_OUTPUT_QUEUE,
               OPT_QUOTA_LOCKED, OPT_QUOTA_BYTES, OPT_QUOTA_REGIONS, OPT_QUOTA_CONNECTIONS, OPT_QUOTA_HANDLES,
               OPT_MAX_LOCKED, OPT_ADMIN_GROUP, OPT_CONFIG, OPT_RESTORE_GRACE_MS, OPT_FDSTORE_MAX };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "config", required_argument, NULL, 'c' },
                { "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
                { "max-regions", required_argument, NULL, OPT_MAX_REGIONS },
                { "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
                { "output-queue", required_argument, NULL, OPT_OUTPUT_QUEUE },
                { "quota-locked", required_argument, NULL, OPT_QUOTA_LOCKED },
                { "quota-bytes", required_argument, NULL, OPT_QUOTA_BYTES },
                { "quota-regions", required_argument, NULL, OPT_QUOTA_REGIONS },
                { "quota-connections", required_argument, NULL, OPT_QUOTA_CONNECTIONS },
                { "quota-handles", required_argument, NULL, OPT_QUOTA_HANDLES },
                { "max-locked", required_argument, NULL, OPT_MAX_LOCKED },
                { "admin-group", required_argument, NULL, OPT_ADMIN_GROUP },
                { "restore-grace-ms", required_argument, NULL, OPT_RESTORE_GRACE_MS },
                { "fdstore-max", required_argument, NULL, OPT_FDSTORE_MAX },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "s:c:vh", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        /* Read before the other options (see config_path()), which override it. */
                        break;
                case 's':
                        a->socket_path = optarg;
                        break;
                case OPT_SOCKET_MODE: {
                        char *end;
                        unsigned long m;

                        errno = 0;
                        m = strtoul(optarg, &end, 8);
                        if (errno || end == optarg || *end || m > 0777) {
                                fprintf(stderr, "shmbrokerd: --socket-mode: '%s' is not an octal mode "
                                        "between 0 and 0777\n", optarg);
                                return -EINVAL;
                        }
                        a->socket_mode = (mode_t)m;
                        break;
                }
                case OPT_MAX_REGIONS:
                        if (parse_uint("--max-regions", optarg, 1, &a->limits.max_regions) < 0)
                                return -EINVAL;
                        break;
                case OPT_MAX_CONNECTIONS:
                        if (parse_uint("--max-connections", optarg, 1, &a->limits.max_connections) < 0)
                                return -EINVAL;
                        break;
                case OPT_OUTPUT_QUEUE:
                        if (parse_uint("--output-queue", optarg, 1, &a->limits.output_queue) < 0)
                                return -EINVAL;
                        break;
                case OPT_QUOTA_LOCKED:
                        if (parse_size_opt("--quota-locked", optarg, &a->quota.defaults.v[QUOTA_LOCKED]) < 0)
                                return -EINVAL;
                        break;
                case OPT_QUOTA_BYTES:
                        if (parse_size_opt("--quota-bytes", optarg, &a->quota.defaults.v[QUOTA_BYTES]) < 0)
                                return -EINVAL;
                        break;
                case OPT_QUOTA_REGIONS:
                        if (parse_count_opt("--quota-regions", optarg, &a->quota.defaults.v[QUOTA_REGIONS]) < 0)
                                return -EINVAL;
                        break;
                case OPT_QUOTA_CONNECTIONS:
                        if (parse_count_opt("--quota-connections", optarg,
                                            &a->quota.defaults.v[QUOTA_CONNECTIONS]) < 0)
                                return -EINVAL;
                        break;
                case OPT_QUOTA_HANDLES:
                        if (parse_count_opt("--quota-handles", optarg, &a->quota.defaults.v[QUOTA_HANDLES]) < 0)
                                return -EINVAL;
                        break;
                case OPT_MAX_LOCKED:
                        if (parse_size_opt("--max-locked", optarg, &a->quota.max_locked) < 0)
                                return -EINVAL;
                        break;
                case OPT_ADMIN_GROUP:
                        a->admin_group = optarg;
                        break;
                case OPT_RESTORE_GRACE_MS:
                        if (parse_uint("--restore-grace-ms", optarg, 0, &a->fdstore.grace_ms) < 0)
                                return -EINVAL;
                        break;
                case OPT_FDSTORE_MAX:
                        if (parse_uint("--fdstore-max", optarg, 0, &a->fdstore.max_fds) < 0)
                                return -EINVAL;
                        break;
                case 'v':
                        a->verbose = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case OPT_VERSION:
                        printf("shmbrokerd " PACKAGE_VERSION "\n");
                        return 0;
                default:
                        fprintf(stderr, "Try 'shmbrokerd --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "shmbrokerd: unexpected argument '%s'; try 'shmbrokerd --help'.\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* Replaces a socket file no one listens on; refuses to steal a live one. */
static int unlink_stale(const struct sockaddr_un *sa, socklen_t salen) {
        _cleanup_close_ int probe = -1;
        struct stat st;

        if (lstat(sa->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(-EEXIST, "%s exists and is not a socket; not replacing it", sa->sun_path);
        probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (probe < 0)
                return -errno;
        if (connect(probe, (const struct sockaddr *)sa, salen) == 0)
                return log_error_errno(-EADDRINUSE, "another daemon is listening on %s", sa->sun_path);
        if (unlink(sa->sun_path) < 0 && errno != ENOENT)
                return log_error_errno(-errno, "cannot remove stale socket %s: %m", sa->sun_path);
        return 0;
}

static int listen_on(const char *path, mode_t mode, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t salen;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(-ENAMETOOLONG, "socket path %s is %zu bytes; the limit is %zu",
                                       path, strlen(path), sizeof(sa.sun_path) - 1);
        strcpy(sa.sun_path, path);
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(-errno, "cannot create socket: %m");
        /* Inherited by accepted sockets: clients then cannot send us fds at all (6.16+). */
        r = wire_refuse_fds(fd);
        if (r < 0 && r != -ENOPROTOOPT && r != -EINVAL)
                log_warning_errno(r, "cannot disable SCM_RIGHTS reception: %m");
        r = unlink_stale(&sa, salen);
        if (r < 0)
                return r;
        /* Without systemd's socket unit nobody made /run/shmbroker: make it, like tmpfiles.d would. */
        if (strcmp(path, SHMB_SYSTEM_SOCKET) == 0 && mkdir("/run/shmbroker", 0755) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "cannot create /run/shmbroker: %m");
        if (bind(fd, (struct sockaddr *)&sa, salen) < 0)
                return log_error_errno(-errno, "cannot bind %s: %m", path);
        if (chmod(path, mode) < 0) {
                r = log_error_errno(-errno, "cannot set mode %04o on %s: %m", (unsigned)mode, path);
                (void)unlink(path);
                return r;
        }
        if (listen(fd, SOMAXCONN) < 0) {
                r = log_error_errno(-errno, "cannot listen on %s: %m", path);
                (void)unlink(path);
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* A whole decimal number in [min, max], or -EINVAL / -ERANGE. */
static int parse_env_long(const char *s, long min, long max, long *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (end == s || *end)
                return -EINVAL;
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

/*
 * sd_listen_fds_with_names(1, ...) of libsystemd, without its per
 * descriptor cost (two fcntl() calls for close-on-exec and an allocation
 * for the name of each, thousands of them with a full fd store): the same
 * checks of LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, the same errors, and
 * LISTEN_* unset in any case. Returns the number of descriptors, from
 * SD_LISTEN_FDS_START on, now close-on-exec, 0 when none are for us, or
 * <0. *ret_names: LISTEN_FDNAMES with each ':' made a NUL (so n names one
 * after another, *ret_len bytes in all), or NULL when it was not set (every
 * name is "unknown").
 */
static int listen_fds(char **ret_names, size_t *ret_len) {
        _cleanup_free_ char *names = NULL;
        size_t len = 0;
        const char *e;
        long pid, n;
        int r;

        *ret_names = NULL;
        *ret_len = 0;
        e = getenv("LISTEN_FDNAMES");
        if (e) {
                len = strlen(e) + 1;
                names = strdup(e);
                if (!names) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        e = getenv("LISTEN_PID");
        if (!e) {
                r = 0;
                goto finish;
        }
        r = parse_env_long(e, 1, INT_MAX, &pid);
        if (r < 0)
                goto finish;
        /* Is this for us? */
        if ((pid_t)pid != getpid()) {
                r = 0;
                goto finish;
        }
        e = getenv("LISTEN_FDS");
        if (!e) {
                r = 0;
                goto finish;
        }
        r = parse_env_long(e, LONG_MIN, LONG_MAX, &n);
        if (r < 0)
                goto finish;
        if (n <= 0 || n > INT_MAX - SD_LISTEN_FDS_START) {
                r = -EINVAL;
                goto finish;
        }
        /* One system call for all of them, not two each. */
        r = fd_cloexec_range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + (int)n - 1);
        if (r < 0)
                goto finish;
        if (names) {
                /* Empty: no names at all; else one more than there are separators. */
                long n_names = names[0] ? 1 : 0;

                for (char *p = names; *p; p++)
                        if (*p == ':') {
                                *p = 0;
                                n_names++;
                        }
                if (n_names != n) {
                        r = -EINVAL;
                        goto finish;
                }
        }
        r = (int)n;
        *ret_names = TAKE_PTR(names);
        *ret_len = len;
finish:
        (void)unsetenv("LISTEN_PID");
        (void)unsetenv("LISTEN_PIDFDID");
        (void)unsetenv("LISTEN_FDS");
        (void)unsetenv("LISTEN_FDNAMES");
        return r;
}

/*
 * Takes the listening socket from the service manager (socket activation),
 * unless --socket was given, and the fd store's descriptors in any case.
 * Returns 1 with *ret_fd set, 0 when no socket was taken, <0 on error.
 */
static int listen_from_manager(int *ret_fd, bool want_socket) {
        _cleanup_free_ char *names = NULL;
        const char *name = NULL;
        bool saw_other_socket = false;
        size_t names_len;
        int n, fd = -1;

        n = listen_fds(&names, &names_len);
        if (n < 0)
                return log_error_errno(n, "cannot read the descriptors passed by the service manager: %m");
        if (n > 0)
                fdstore_take_reserve((size_t)n, names ? names_len : (size_t)n * sizeof("unknown"));
        for (int i = 0; i < n; i++) {
                int cur = SD_LISTEN_FDS_START + i;
                struct stat sb;

                /* The names follow each other, NUL-terminated. */
                name = !names ? "unknown" : name ? name + strlen(name) + 1 : names;
                /* One fstat() each, handed on: a region is not asked again. */
                if (fstat(cur, &sb) < 0)
                        return log_error_errno(-errno, "cannot read the descriptors passed by the service "
                                               "manager: descriptor %d: %m", cur);
                if (!S_ISSOCK(sb.st_mode))
                        /* Not a socket: a region or the metadata, back from the fd store. */
                        fdstore_take(cur, name, &sb);
                else if (fd < 0 && sd_is_socket_unix(cur, SOCK_SEQPACKET, 1, NULL, 0) > 0)
                        fd = cur;
                else if (sd_is_socket(cur, AF_UNSPEC, 0, -1) <= 0)
                        fdstore_take(cur, name, &sb);
                else {
                        saw_other_socket = true;
                        log_warning("ignoring descriptor %d ('%s') passed by the service manager: not a "
                                    "listening AF_UNIX SOCK_SEQPACKET socket", cur, name);
                        safe_close(cur);
                }
        }
        if (fd >= 0 && !want_socket) {
                log_notice("ignoring the socket passed by the service manager: --socket was given");
                fd = safe_close(fd);
                return 0;
        }
        if (saw_other_socket && fd < 0 && want_socket)
                return log_error_errno(-EBADF, "the service manager passed %d descriptors but no listening "
                                       "SOCK_SEQPACKET socket; check ListenSequentialPacket= in shmbroker.socket", n);
        if (fd < 0)
                return 0;
        if (fd_set_cloexec_nonblock(fd, true) < 0)
                return log_error_errno(-errno, "cannot make the activation socket non-blocking: %m");
        (void)wire_refuse_fds(fd);
        *ret_fd = fd;
        return 1;
}

/* Regions each hold a descriptor: use all the descriptors we are allowed. */
static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int main(int argc, char **argv) {
        Args a = { .socket_mode = 0666, .limits = LIMITS_DEFAULT,
                   .fdstore = { .max_fds = FDSTORE_DEFAULT_MAX, .grace_ms = FDSTORE_DEFAULT_GRACE_MS } };
        char pathbuf[sizeof(((struct sockaddr_un *)0)->sun_path)];
        Server *s = NULL;
        const char *cfg;
        int r, fd = -1;

        quota_config_init(&a.quota);
        cfg = config_path_from_args(argc, argv);
        if (cfg) {
                char err[512];

                if (config_parse_file(cfg, &a.limits, &a.quota, err, sizeof(err)) < 0) {
                        fprintf(stderr, "shmbrokerd: %s\n", err);
                        quota_config_done(&a.quota);
                        return 1;
                }
        }
        r = parse_args(argc, argv, &a);
        if (r <= 0) {
                quota_config_done(&a.quota);
                return r < 0 ? 2 : 0;
        }
        if (a.admin_group) {
                if (config_resolve_group(a.admin_group, &a.limits.admin_gid) < 0) {
                        fprintf(stderr, "shmbrokerd: --admin-group: no group named '%s'\n", a.admin_group);
                        quota_config_done(&a.quota);
                        return 2;
                }
                a.limits.has_admin_group = true;
        }
        log_open();
        if (a.verbose)
                log_set_max_level(LOG_DEBUG);

        /* No core dumps of region data, and no /proc/<pid>/fd reopening by same-uid processes. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                log_warning_errno(-errno, "cannot make the process non-dumpable: %m");
        signal(SIGPIPE, SIG_IGN);
        raise_nofile();

        r = listen_from_manager(&fd, !a.socket_path);
        if (r < 0)
                return 1;
        if (r > 0)
                /* The manager owns the socket file: never unlink it. */
                a.socket_path = NULL;
        else {
                if (!a.socket_path)
                        a.socket_path = getenv(SHMB_SOCKET_ENV);
                if (!a.socket_path || !*a.socket_path) {
                        r = socket_path_daemon_default(pathbuf, sizeof(pathbuf));
                        if (r < 0) {
                                log_error("no socket path: not root and $XDG_RUNTIME_DIR is not set; use --socket PATH");
                                return 1;
                        }
                        a.socket_path = pathbuf;
                }
                r = listen_on(a.socket_path, a.socket_mode, &fd);
                if (r < 0)
                        return 1;
        }
        r = server_new(&s, fd, a.socket_path, &a.limits);
        if (r < 0) {
                if (a.socket_path)
                        (void)unlink(a.socket_path);
                quota_config_done(&a.quota);
                log_error_errno(r, "cannot set up the server: %m");
                return 1;
        }
        quota_configure(&s->quota, &a.quota, memory_lock_capacity());
        {
                char cap[SIZE_FORMAT_MAX], lim[160];

                memory_lock_limit_text(lim, sizeof(lim));
                if (s->quota.max_locked == UINT64_MAX)
                        snprintf(cap, sizeof(cap), "unlimited");
                else
                        size_format(s->quota.max_locked, cap, sizeof(cap));
                log_info("locked-memory cap %s (%s)", cap, lim);
        }
        r = fdstore_start(s, &a.fdstore);
        if (r < 0) {
                fdstore_done();
                server_free(s);
                log_error_errno(r, "cannot restore regions from the fd store: %m");
                return 1;
        }
        log_info("listening on %s (max %u regions, %u connections)",
                 a.socket_path ? a.socket_path : "the socket passed by the service manager",
                 a.limits.max_regions, a.limits.max_connections);
        r = server_run(s);
        /* Whatever is stored stays stored: the next instance restores it. */
        fdstore_done();
        server_free(s);
        return r < 0 ? 1 : 0;
}
