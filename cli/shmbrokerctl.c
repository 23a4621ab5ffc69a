/* SPDX-License-Identifier: MIT */
/*
 * shmbrokerctl: the admin CLI. A plain client of the public library, so it
 * can do nothing another program could not. Verbs come from one static
 * table carrying their arguments, options and help; main() parses global
 * options up to the verb, then the verb's own options (anywhere after it),
 * checks the argument count and runs the handler. Handlers return the exit
 * status: 0 ok, 1 an error from the daemon or the library, 2 a usage error,
 * so usage errors are caught before the daemon is contacted.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "json.h"
#include "macro.h"
#include "quota-info.h"
#include "region-info.h"
#include "shmbroker.h"
#include "table.h"
#include "util.h"

typedef struct VerbOption {
        const char *name;
        const char *arg;        /* metavariable for help; NULL for a flag */
        int id;
        const char *help;
} VerbOption;

typedef struct Verb {
        const char *name;
        const char *args;       /* positional arguments, as shown in usage */
        unsigned min_args, max_args;
        int (*run)(Ctl *ctl, char **args, unsigned n_args);
        /* Stores a verb option into ctl; a bad value is reported and gives EXIT_USAGE. */
        int (*option)(Ctl *ctl, int id, const char *arg);
        const VerbOption *options; /* verb-specific, terminated by { NULL } */
        const char *help;       /* one line */
        const char *description; /* optional paragraph for VERB --help */
} Verb;

/* Accepted before the verb. */
static const VerbOption global_options[] = {
        { "socket", "PATH", ARG_SOCKET, "Connect to PATH instead of $SHMBROKER_SOCKET or the default socket" },
        { "json", NULL, ARG_JSON, "Print one JSON document instead of human output" },
        { "help", NULL, ARG_HELP, "Show this help, or a verb's with VERB --help" },
        { "version", NULL, ARG_VERSION, "Show the version" },
        { NULL }
};

/* Accepted after the verb, besides the verb's own. */
static const VerbOption common_options[] = {
        { "socket", "PATH", ARG_SOCKET, "Connect to PATH" },
        { "json", NULL, ARG_JSON, "Print JSON" },
        { "help", NULL, ARG_HELP, "Show this help" },
        { NULL }
};

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static bool option_has_short(int id) {
        return id < 0x80 && isalpha(id);
}

static void ctl_done(Ctl *ctl) {
        if (ctl->conn)
                shmb_disconnect(ctl->conn);
        ctl->conn = NULL;
}

static void usage_hint(const char *verb) {
        if (verb)
                fprintf(stderr, "Try '" PROGRAM " %s --help'.\n", verb);
        else
                fputs("Try '" PROGRAM " --help'.\n", stderr);
}

/* "shmbrokerctl: VERB: message", a hint, and EXIT_USAGE. */
_printf_(2, 3) int usage_error(const char *verb, const char *fmt, ...) {
        va_list ap;

        fputs(PROGRAM ": ", stderr);
        if (verb)
                fprintf(stderr, "%s: ", verb);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        usage_hint(verb);
        return EXIT_USAGE;
}

/*
 * "shmbrokerctl: VERB NAME: message", and EXIT_FAILURE. The daemon's or the
 * library's message names the cause already; strerror only when there is none.
 */
int ctl_fail(const Ctl *ctl, const char *verb, const char *name, int r) {
        const char *msg = ctl->conn ? shmb_conn_error(ctl->conn) : NULL;

        fprintf(stderr, PROGRAM ": %s%s%s: %s\n", verb, name ? " " : "", name ?: "",
                msg && *msg ? msg : shmb_strerror(r));
        return EXIT_FAILURE;
}

int ctl_connect(Ctl *ctl) {
        const char *msg;
        int r;

        r = shmb_connect(ctl->socket_path, &ctl->conn);
        if (r >= 0)
                return EXIT_SUCCESS;
        ctl->conn = NULL;

        /* With no connection, shmb_conn_error(NULL) holds why shmb_connect() failed (path included). */
        msg = shmb_conn_error(NULL);
        /* shmb_strerror() reads -ENOENT as a missing region; here the socket is missing. */
        fprintf(stderr, PROGRAM ": connect: %s", r == -ENOENT ? "no daemon socket" : shmb_strerror(r));
        if (msg && *msg)
                fprintf(stderr, ": %s", msg);
        if (r == -ENOENT || r == -ECONNREFUSED)
                fputs(" (is shmbrokerd running? --socket or $" SHMB_SOCKET_ENV " select the socket)", stderr);
        fputc('\n', stderr);
        return EXIT_FAILURE;
}

int check_name(const char *verb, const char *name) {
        const char *why;

        if (!name_is_valid(name, strlen(name), &why))
                return usage_error(verb, "invalid region name '%s': it %s", name, why);
        return EXIT_SUCCESS;
}

/* list */

/* Rows go straight into the table or the JSON text: one copy of each region, not two. */
typedef struct ListOutput {
        const Ctl *ctl;
        Table *table;           /* human output */
        JsonWriter json;        /* --json output, into a memory stream */
        /* Sorted by anything but name (the daemon's order): collected first. */
        struct shmb_region_info *infos;
        size_t n_infos, cap_infos;
} ListOutput;

static int list_emit(ListOutput *o, const struct shmb_region_info *info) {
        if (o->table)
                return region_info_table_row(o->table, info);
        region_info_json(&o->json, info);
        return 0;
}

static int list_add(const struct shmb_region_info *info, void *userdata) {
        ListOutput *o = userdata;

        if (o->ctl->have_owner && info->uid != o->ctl->owner)
                return 0;
        if (o->ctl->sort == SORT_NAME && !o->ctl->reverse)
                return list_emit(o, info);
        if (o->n_infos == o->cap_infos) {
                size_t cap = o->cap_infos ? 2 * o->cap_infos : 256;
                struct shmb_region_info *n = realloc(o->infos, cap * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                o->infos = n;
                o->cap_infos = cap;
        }
        o->infos[o->n_infos++] = *info;
        return 0;
}

#define CMP(a, b) (((a) > (b)) - ((a) < (b)))

/* Ties are broken by name, so the order is total and stable across runs. */
static int cmp_size(const void *a, const void *b) {
        const struct shmb_region_info *x = a, *y = b;

        return CMP(x->size, y->size) ?: strcmp(x->name, y->name);
}

static int cmp_owner(const void *a, const void *b) {
        const struct shmb_region_info *x = a, *y = b;

        return CMP(x->uid, y->uid) ?: strcmp(x->name, y->name);
}

static int cmp_created(const void *a, const void *b) {
        const struct shmb_region_info *x = a, *y = b;

        return CMP(x->created_usec, y->created_usec) ?: CMP(x->id, y->id);
}

static int cmp_name(const void *a, const void *b) {
        const struct shmb_region_info *x = a, *y = b;

        return strcmp(x->name, y->name);
}

static int list_flush_sorted(ListOutput *o) {
        static int (*const cmps[])(const void *, const void *) = {
                [SORT_NAME] = cmp_name,
                [SORT_SIZE] = cmp_size,
                [SORT_OWNER] = cmp_owner,
                [SORT_CREATED] = cmp_created,
        };
        int r;

        if (o->n_infos > 0)
                qsort(o->infos, o->n_infos, sizeof(*o->infos), cmps[o->ctl->sort]);
        for (size_t i = 0; i < o->n_infos; i++) {
                r = list_emit(o, &o->infos[o->ctl->reverse ? o->n_infos - 1 - i : i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_owner(const char *s, uid_t *ret) {
        struct passwd *pw;
        char *end;
        unsigned long v;

        pw = getpwnam(s);
        if (pw) {
                *ret = pw->pw_uid;
                return 0;
        }
        if (!*s || strspn(s, "0123456789") != strlen(s))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || v >= UINT32_MAX)
                return -EINVAL;
        *ret = (uid_t)v;
        return 0;
}

static int list_option(Ctl *ctl, int id, const char *arg) {
        static const char *const keys[] = {
                [SORT_NAME] = "name", [SORT_SIZE] = "size", [SORT_OWNER] = "owner", [SORT_CREATED] = "created",
        };

        switch (id) {
        case ARG_SORT:
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (strcmp(arg, keys[i]) == 0) {
                                ctl->sort = (SortKey)i;
                                return 0;
                        }
                return usage_error("list", "invalid --sort '%s': expected name, size, owner or created", arg);
        case ARG_REVERSE:
                ctl->reverse = true;
                return 0;
        case ARG_OWNER:
                if (parse_owner(arg, &ctl->owner) < 0)
                        return usage_error("list", "invalid --owner '%s': no such user, and not a uid", arg);
                ctl->have_owner = true;
                return 0;
        default:
                return EXIT_USAGE;
        }
}

static int verb_list(Ctl *ctl, char **args, unsigned n_args) {
        _cleanup_(table_freep) Table *table = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        const char *prefix = n_args > 0 ? args[0] : NULL;
        ListOutput o = { .ctl = ctl };
        size_t len;
        int r;

        /* Buffered until the end: a failure half-way must not leave half a document or table. */
        if (ctl->json) {
                f = open_memstream(&text, &len);
                if (!f)
                        return ctl_fail(ctl, "list", prefix, -errno);
                o.json = JSON_WRITER_INIT(f);
                json_begin_object(&o.json);
                json_key(&o.json, "regions");
                json_begin_array(&o.json);
        } else {
                r = table_new(&table, REGION_TABLE_COLUMNS, region_table_headers);
                if (r < 0)
                        return ctl_fail(ctl, "list", prefix, r);
                o.table = table;
        }

        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;
        r = shmb_list(ctl->conn, prefix, list_add, &o);
        if (r >= 0)
                r = list_flush_sorted(&o);
        free(o.infos);
        if (r < 0)
                return ctl_fail(ctl, "list", prefix, r);

        if (table) {
                r = table_print(table, stdout);
                if (r < 0)
                        return ctl_fail(ctl, "list", prefix, r);
                return EXIT_SUCCESS;
        }

        json_end_array(&o.json);
        json_end_object(&o.json);
        json_finish(&o.json);
        /* Closing the stream sets text and len, or fails when it ran out of memory. */
        r = ferror(f) ? -ENOMEM : 0;
        if (fclose(TAKE_PTR(f)) != 0 && r == 0)
                r = -errno;
        if (r < 0)
                return ctl_fail(ctl, "list", prefix, r);
        fwrite(text, 1, len, stdout);
        return EXIT_SUCCESS;
}

/* show */

static int verb_show(Ctl *ctl, char **args, unsigned n_args) {
        struct shmb_region_info info;
        int r;

        r = check_name("show", args[0]);
        if (r != EXIT_SUCCESS)
                return r;
        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;

        r = shmb_stat(ctl->conn, args[0], &info);
        if (r < 0)
                return ctl_fail(ctl, "show", args[0], r);

        if (ctl->json) {
                JsonWriter w = JSON_WRITER_INIT(stdout);

                region_info_json(&w, &info);
                json_finish(&w);
        } else
                region_info_show(stdout, &info);
        return EXIT_SUCCESS;
}

/* create */

static int parse_mode(const char *s, uint32_t *ret) {
        unsigned long v;

        /* Digits only: strtoul would take blanks, signs and overflow quietly. */
        if (!*s || strspn(s, "01234567") != strlen(s) || strlen(s) > 4)
                return -EINVAL;
        v = strtoul(s, NULL, 8);
        if (v == 0 || v > 0777)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static int create_option(Ctl *ctl, int id, const char *arg) {
        struct shmb_create_opts *o = &ctl->create;
        int v;

        switch (id) {
        case ARG_MODE:
                if (parse_mode(arg, &o->mode) < 0)
                        return usage_error("create", "invalid --mode '%s': expected octal permission bits 0001..0777", arg);
                return 0;
        case ARG_LIFETIME:
                v = lifetime_from_string(arg);
                if (v < 0)
                        return usage_error("create", "invalid --lifetime '%s': expected persistent, owner or refcounted", arg);
                o->lifetime = v;
                return 0;
        case ARG_SHARING:
                v = sharing_from_string(arg);
                if (v < 0)
                        return usage_error("create", "invalid --sharing '%s': expected shared, single-writer or immutable", arg);
                /* Its creator must write and publish it; the CLI would leave it destroyed at exit. */
                if (v == SHMB_IMMUTABLE)
                        return usage_error("create", "--sharing immutable: an immutable region is written and "
                                           "published by the program that creates it (shmb_publish(3)); "
                                           PROGRAM " cannot publish one");
                o->sharing = v;
                return 0;
        case ARG_PAGE_SIZE:
                if (page_size_from_string(arg, &o->page_size) < 0)
                        return usage_error("create", "invalid --page-size '%s': expected 4k, 2M, 1G or thp", arg);
                return 0;
        case ARG_LOCKED:
                o->flags |= SHMB_LOCKED;
                return 0;
        case ARG_PREALLOC:
                o->flags |= SHMB_PREALLOC;
                return 0;
        default:
                return EXIT_USAGE;
        }
}

static int verb_create(Ctl *ctl, char **args, unsigned n_args) {
        shmb_region *region = NULL;
        const struct shmb_region_info *info;
        const char *name = args[0];
        char lifetime[REGION_NAME_MAX];
        uint64_t size;
        int r;

        r = check_name("create", name);
        if (r != EXIT_SUCCESS)
                return r;
        r = size_parse(args[1], &size);
        if (r < 0)
                return usage_error("create", "invalid size '%s': %s", args[1],
                                   r == -ERANGE ? "too large" : "expected bytes with an optional K, M, G or T suffix");
        if (size == 0)
                return usage_error("create", "invalid size '%s': must be more than 0", args[1]);
        ctl->create.size = size;

        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;

        r = shmb_create(ctl->conn, name, &ctl->create, &region);
        if (r < 0)
                return ctl_fail(ctl, "create", name, r);

        info = shmb_region_info(region);
        if (ctl->json) {
                JsonWriter w = JSON_WRITER_INIT(stdout);

                region_info_json(&w, info);
                json_finish(&w);
        } else if (info->size != size) {
                char a[SIZE_FORMAT_MAX], page[REGION_NAME_MAX];

                printf("%s: size rounded up to %s (%" PRIu64 " bytes), a multiple of the %s page size\n",
                       name, size_format(info->size, a, sizeof(a)), info->size,
                       page_size_to_string(info->page_size, page));
        }

        if (ctl->create.lifetime != SHMB_PERSISTENT)
                fprintf(stderr, PROGRAM ": warning: region '%s' has lifetime %s and is destroyed as soon as "
                        PROGRAM " exits; use --lifetime persistent to keep it\n",
                        name, lifetime_to_string(ctl->create.lifetime, lifetime));

        if (ctl->create.sharing == SHMB_SINGLE_WRITER)
                fprintf(stderr, PROGRAM ": warning: region '%s' is single-writer and its only writable "
                        "mapping was " PROGRAM "'s: nobody can write it any more\n", name);

        /* Releases the CLI's handle; a persistent region stays with the daemon. */
        r = shmb_close(region);
        if (r < 0)
                fprintf(stderr, PROGRAM ": warning: close %s: %s\n", name, shmb_strerror(r));
        return EXIT_SUCCESS;
}

/* delete */

static int verb_delete(Ctl *ctl, char **args, unsigned n_args) {
        int r;

        r = check_name("delete", args[0]);
        if (r != EXIT_SUCCESS)
                return r;
        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;

        r = shmb_delete(ctl->conn, args[0]);
        if (r < 0)
                return ctl_fail(ctl, "delete", args[0], r);
        if (ctl->json) {
                JsonWriter w = JSON_WRITER_INIT(stdout);

                json_begin_object(&w);
                json_key(&w, "name");
                json_string(&w, args[0]);
                json_key(&w, "deleted");
                json_bool(&w, true);
                json_end_object(&w);
                json_finish(&w);
        }
        return EXIT_SUCCESS;
}

/* quota */

static int quota_print_one(const struct shmb_quota *q, void *userdata) {
        JsonWriter *w = userdata;

        if (w)
                quota_json(w, q);
        else {
                quota_show(stdout, q);
                fputc('\n', stdout);
        }
        return 0;
}

static int verb_quota(Ctl *ctl, char **args, unsigned n_args) {
        struct shmb_quota q;
        uint32_t uid = (uint32_t)getuid();
        int r;

        if (n_args > 0 && ctl->all)
                return usage_error("quota", "give either USER or --all");
        if (n_args > 0) {
                r = quota_user_parse(args[0], &uid);
                if (r < 0)
                        return usage_error("quota", "'%s' is %s", args[0],
                                           r == -ENOENT ? "not a known user name" : "not a user name or uid");
        }
        r = ctl_connect(ctl);
        if (r != EXIT_SUCCESS)
                return r;
        if (ctl->all) {
                JsonWriter w = JSON_WRITER_INIT(stdout);

                if (ctl->json) {
                        json_begin_object(&w);
                        json_key(&w, "quotas");
                        json_begin_array(&w);
                }
                r = shmb_quota_list(ctl->conn, quota_print_one, ctl->json ? &w : NULL);
                if (ctl->json) {
                        json_end_array(&w);
                        json_end_object(&w);
                        json_finish(&w);
                }
                return r < 0 ? ctl_fail(ctl, "quota", NULL, r) : EXIT_SUCCESS;
        }
        r = shmb_quota(ctl->conn, uid, &q);
        if (r < 0)
                return ctl_fail(ctl, "quota", n_args > 0 ? args[0] : NULL, r);
        if (ctl->json) {
                JsonWriter w = JSON_WRITER_INIT(stdout);

                quota_json(&w, &q);
                json_finish(&w);
        } else
                quota_show(stdout, &q);
        return EXIT_SUCCESS;
}

static int quota_option(Ctl *ctl, int id, const char *arg) {
        if (id != ARG_ALL)
                return EXIT_USAGE;
        ctl->all = true;
        return 0;
}

static const VerbOption quota_options[] = {
        { "all", NULL, ARG_ALL, "Every uid holding something (root and the admin group only)" },
        { NULL }
};

static const VerbOption create_options[] = {
        { "mode", "OCTAL", ARG_MODE, "Permission bits, like a file's (default 0600)" },
        { "lifetime", "LIFETIME", ARG_LIFETIME, "persistent (default), owner or refcounted" },
        { "sharing", "SHARING", ARG_SHARING, "shared (default), single-writer or immutable" },
        { "page-size", "PAGE", ARG_PAGE_SIZE, "4k (default), 2M, 1G or thp" },
        { "locked", NULL, ARG_LOCKED, "Keep the pages locked in RAM (charged to your quota)" },
        { "prealloc", NULL, ARG_PREALLOC, "Allocate every page at creation" },
        { NULL }
};

static const VerbOption list_options[] = {
        { "sort", "KEY", ARG_SORT, "Order by name (default), size, owner or created" },
        { "reverse", NULL, ARG_REVERSE, "Reverse the order" },
        { "owner", "USER", ARG_OWNER, "Only regions owned by USER (name or uid)" },
        { NULL }
};

static int parse_u64_option(const char *verb, const char *opt, const char *arg, uint64_t *ret) {
        if (size_parse(arg, ret) < 0)
                return usage_error(verb, "invalid --%s '%s': expected bytes with an optional K, M, G or T suffix",
                                   opt, arg);
        return 0;
}

static int dump_option(Ctl *ctl, int id, const char *arg) {
        switch (id) {
        case ARG_OFFSET:
                return parse_u64_option("dump", "offset", arg, &ctl->offset);
        case ARG_LENGTH:
                ctl->have_length = true;
                return parse_u64_option("dump", "length", arg, &ctl->length);
        default:
                return EXIT_USAGE;
        }
}

static const VerbOption dump_options[] = {
        { "offset", "BYTES", ARG_OFFSET, "Start this many bytes into the region (default 0)" },
        { "length", "BYTES", ARG_LENGTH, "Dump at most this many bytes (default: to the end)" },
        { NULL }
};

static int watch_option(Ctl *ctl, int id, const char *arg) {
        if (id != ARG_COUNT)
                return EXIT_USAGE;
        if (!*arg || strspn(arg, "0123456789") != strlen(arg) || strlen(arg) > 18)
                return usage_error("watch", "invalid --count '%s': expected a number of events", arg);
        ctl->count = strtoull(arg, NULL, 10);
        return 0;
}

static const VerbOption watch_options[] = {
        { "count", "N", ARG_COUNT, "Exit after N events (default: run until interrupted)" },
        { NULL }
};

static const Verb verbs[] = {
        {
                .name = "list",
                .args = "[PREFIX]",
                .min_args = 0, .max_args = 1,
                .run = verb_list,
                .option = list_option,
                .options = list_options,
                .help = "List regions, or those whose name starts with PREFIX",
                .description =
                        "The daemon sends the list in pages, in byte order of names, so that other\n"
                        "clients are served in between; sorting by another key happens here.",
        },
        {
                .name = "show",
                .args = "NAME",
                .min_args = 1, .max_args = 1,
                .run = verb_show,
                .help = "Show every attribute of a region",
        },
        {
                .name = "create",
                .args = "NAME SIZE",
                .min_args = 2, .max_args = 2,
                .run = verb_create,
                .option = create_option,
                .options = create_options,
                .help = "Create a region of SIZE bytes (K, M, G suffixes)",
                .description =
                        "SIZE takes binary suffixes: 4K, 64M, 2G. The daemon rounds it up to a\n"
                        "multiple of the page size; the rounded size is printed.\n"
                        "Regions with lifetime owner or refcounted are destroyed when\n"
                        PROGRAM " exits, since it holds them only while it runs.",
        },
        {
                .name = "delete",
                .args = "NAME",
                .min_args = 1, .max_args = 1,
                .run = verb_delete,
                .help = "Remove a region's name; existing mappings stay valid",
        },
        {
                .name = "quota",
                .args = "[USER]",
                .min_args = 0, .max_args = 1,
                .run = verb_quota,
                .option = quota_option,
                .options = quota_options,
                .help = "Show a user's usage against its quotas (default: yours)",
                .description =
                        "USER is a name or a uid; other users' quotas need root or the admin group.\n"
                        "A limit of 0 (JSON) or \"unlimited\" means no limit.",
        },
        {
                .name = "holders",
                .args = "NAME",
                .min_args = 1, .max_args = 1,
                .run = verb_holders,
                .help = "Show the connections holding handles on a region",
                .description =
                        "pid, uid and command of each connection with a handle. The daemon checks\n"
                        "each process with a pidfd taken at connect: one that exited is shown as\n"
                        "gone, never confused with a new process that got its pid. Root may ask\n"
                        "about any region, an owner about its own.",
        },
        {
                .name = "mappers",
                .args = "NAME",
                .min_args = 1, .max_args = 1,
                .run = verb_mappers,
                .help = "Show the processes that map the region or hold a descriptor of it",
                .description =
                        "Scans /proc/PID/maps and /proc/PID/fd for the region's memfd inode (device\n"
                        "and inode number, never its name). Processes that mapped the region and\n"
                        "closed their descriptor are found too. Without root only your own\n"
                        "processes can be inspected; the output says so.",
        },
        {
                .name = "stats",
                .args = "",
                .min_args = 0, .max_args = 0,
                .run = verb_stats,
                .help = "Show the daemon's counters",
        },
        {
                .name = "watch",
                .args = "",
                .min_args = 0, .max_args = 0,
                .run = verb_watch,
                .option = watch_option,
                .options = watch_options,
                .help = "Print events (create, open, close, delete, publish...) as they happen",
                .description =
                        "Only events of regions you may inspect are shown. With --json, one JSON\n"
                        "object per line. A watcher too slow to keep up loses events, and is told\n"
                        "how many.",
        },
        {
                .name = "dump",
                .args = "NAME",
                .min_args = 1, .max_args = 1,
                .run = verb_dump,
                .option = dump_option,
                .options = dump_options,
                .help = "Print a region's bytes like hexdump -C, through a read-only mapping",
        },
};

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        return &verbs[i];
        return NULL;
}

static void help_options(const VerbOption *options) {
        for (const VerbOption *o = options; o && o->name; o++) {
                char left[64];

                if (option_has_short(o->id))
                        snprintf(left, sizeof(left), "-%c --%s%s%s", o->id, o->name,
                                 o->arg ? " " : "", o->arg ?: "");
                else
                        snprintf(left, sizeof(left), "   --%s%s%s", o->name, o->arg ? " " : "", o->arg ?: "");
                printf("  %-24s %s\n", left, o->help);
        }
}

static void help_main(void) {
        printf(PROGRAM " [OPTIONS...] VERB [ARGS...]\n\n"
               "Inspect and manage the shared-memory regions of shmbrokerd.\n\n"
               "Verbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char left[64];

                snprintf(left, sizeof(left), "%s %s", verbs[i].name, verbs[i].args);
                printf("  %-24s %s\n", left, verbs[i].help);
        }
        printf("\nOptions:\n");
        help_options(global_options);
        printf("\nRun '" PROGRAM " VERB --help' for a verb's options. See " PROGRAM "(1).\n");
}

static void help_verb(const Verb *verb) {
        printf(PROGRAM " %s %s%s\n\n%s.\n", verb->name, verb->args,
               verb->options ? " [OPTIONS...]" : "", verb->help);
        if (verb->description)
                printf("\n%s\n", verb->description);
        if (verb->options) {
                printf("\nOptions:\n");
                help_options(verb->options);
        }
        printf("\nGlobal options after the verb:\n");
        help_options(common_options);
}

#define OPTIONS_MAX 32

static size_t options_collect(struct option *longopts, size_t n, char *shortopts,
                              const VerbOption *options) {
        for (const VerbOption *o = options; o && o->name; o++) {
                assert(n < OPTIONS_MAX);
                longopts[n++] = (struct option){ o->name, o->arg ? required_argument : no_argument, NULL, o->id };
                if (option_has_short(o->id)) {
                        size_t l = strlen(shortopts);

                        shortopts[l++] = (char)o->id;
                        if (o->arg)
                                shortopts[l++] = ':';
                        shortopts[l] = '\0';
                }
        }
        return n;
}

static const char *option_name(const struct option *longopts, int id) {
        for (const struct option *o = longopts; o->name; o++)
                if (o->val == id)
                        return o->name;
        return "?";
}

/*
 * Parses options of argv[1..] into ctl: the global options when verb is NULL
 * (stopping at the verb), else the common and the verb's options, which may
 * come before, between or after the arguments. Returns the index of the
 * first argument, or -EINVAL after reporting a usage error.
 */
static int parse_options(Ctl *ctl, const Verb *verb, int argc, char **argv) {
        struct option longopts[OPTIONS_MAX + 1] = {};
        char shortopts[2 * OPTIONS_MAX + 3];
        const char *vname = verb ? verb->name : NULL;
        size_t n;
        int c;

        /* '+' stops at the verb; ':' reports a missing argument apart from an unknown option. */
        strcpy(shortopts, verb ? ":" : "+:");
        n = options_collect(longopts, 0, shortopts, verb ? common_options : global_options);
        if (verb)
                options_collect(longopts, n, shortopts, verb->options);

        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) >= 0)
                switch (c) {
                case ARG_HELP:
                        ctl->help = true;
                        break;
                case ARG_JSON:
                        ctl->json = true;
                        break;
                case ARG_VERSION:
                        ctl->version = true;
                        break;
                case ARG_SOCKET:
                        ctl->socket_path = optarg;
                        break;
                case ':':
                        if (optopt > 0 && optopt < 0x100)
                                usage_error(vname, "option '-%c' needs an argument", optopt);
                        else
                                usage_error(vname, "option '--%s' needs an argument", option_name(longopts, optopt));
                        return -EINVAL;
                case '?':
                        if (optopt > 0 && optopt < 0x100)
                                usage_error(vname, "unknown option '-%c'", optopt);
                        else
                                usage_error(vname, "unknown option '%s'", argv[optind - 1]);
                        return -EINVAL;
                default:
                        if (!verb || !verb->option || verb->option(ctl, c, optarg) != 0)
                                return -EINVAL;
                        break;
                }
        return optind;
}

static int run(int argc, char **argv) {
        _cleanup_(ctl_done) Ctl ctl = {
                .create = { .struct_size = sizeof(struct shmb_create_opts) },
        };
        const Verb *verb;
        unsigned n_args;
        int r, v;

        v = parse_options(&ctl, NULL, argc, argv);
        if (v < 0)
                return EXIT_USAGE;
        if (ctl.help) {
                help_main();
                return EXIT_SUCCESS;
        }
        if (ctl.version) {
                printf(PROGRAM " " PACKAGE_VERSION "\n");
                return EXIT_SUCCESS;
        }
        if (v >= argc)
                return usage_error(NULL, "missing verb");

        verb = verb_find(argv[v]);
        if (!verb)
                return usage_error(NULL, "unknown verb '%s'", argv[v]);

        argc -= v;
        argv += v;
        r = parse_options(&ctl, verb, argc, argv);
        if (r < 0)
                return EXIT_USAGE;
        if (ctl.help) {
                help_verb(verb);
                return EXIT_SUCCESS;
        }

        n_args = (unsigned)(argc - r);
        if (n_args < verb->min_args)
                return usage_error(verb->name, "missing arguments: expected %s", verb->args);
        if (n_args > verb->max_args)
                return usage_error(verb->name, "too many arguments: expected %s", verb->args);

        return verb->run(&ctl, argv + r, n_args);
}

int main(int argc, char **argv) {
        int r = run(argc, argv);

        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, PROGRAM ": writing the output failed: %m\n");
                return EXIT_FAILURE;
        }
        return r;
}
