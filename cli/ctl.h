/* SPDX-License-Identifier: MIT */
/*
 * What the verbs of shmbrokerctl share: the parsed command line, the
 * connection, and the three ways a verb ends (success, a daemon or library
 * error: exit 1, a usage error: exit 2), so every verb reports them alike.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "shmbroker.h"

#define PROGRAM "shmbrokerctl"
#define EXIT_USAGE 2

/* Option ids: printable characters double as short options. */
enum {
        ARG_HELP = 'h',
        ARG_JSON = 'j',
        ARG_VERSION = 'V',
        ARG_SOCKET = 0x100,
        ARG_MODE,
        ARG_LIFETIME,
        ARG_SHARING,
        ARG_PAGE_SIZE,
        ARG_LOCKED,
        ARG_PREALLOC,
        ARG_SORT,
        ARG_OWNER,
        ARG_REVERSE,
        ARG_OFFSET,
        ARG_LENGTH,
        ARG_COUNT,
        ARG_ALL,
};

typedef enum SortKey {
        SORT_NAME,
        SORT_SIZE,
        SORT_OWNER,
        SORT_CREATED,
} SortKey;

typedef struct Ctl {
        const char *socket_path;
        bool json;
        bool help;
        bool version;
        shmb_conn *conn;
        struct shmb_create_opts create;
        /* list */
        SortKey sort;
        bool reverse;
        bool have_owner;
        uid_t owner;
        /* dump */
        uint64_t offset;
        uint64_t length;
        bool have_length;
        /* watch */
        uint64_t count;         /* 0: for ever */
        /* quota */
        bool all;
} Ctl;

/* "shmbrokerctl: VERB: message", a hint, and EXIT_USAGE. */
int usage_error(const char *verb, const char *fmt, ...) _printf_(2, 3);
/* "shmbrokerctl: VERB NAME: <the daemon's or library's message>", and EXIT_FAILURE. */
int ctl_fail(const Ctl *ctl, const char *verb, const char *name, int r);
/* Connects (EXIT_SUCCESS) or explains why not (EXIT_FAILURE). */
int ctl_connect(Ctl *ctl);
/* EXIT_SUCCESS, or a usage error naming the rule the name breaks. */
int check_name(const char *verb, const char *name);

/*
 * /proc/PID/FILE as text: NULs as spaces when nul_is_space, a final newline
 * dropped, other bytes outside printable ASCII as '?'; "" when unreadable.
 */
void proc_read_text(pid_t pid, const char *file, char *buf, size_t len, bool nul_is_space);

/* The verbs in inspect.c and mappers.c. */
int verb_holders(Ctl *ctl, char **args, unsigned n_args);
int verb_stats(Ctl *ctl, char **args, unsigned n_args);
int verb_watch(Ctl *ctl, char **args, unsigned n_args);
int verb_dump(Ctl *ctl, char **args, unsigned n_args);
int verb_mappers(Ctl *ctl, char **args, unsigned n_args);
