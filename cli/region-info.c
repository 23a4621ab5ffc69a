/* SPDX-License-Identifier: MIT */
/*
 * Region attributes as the CLI prints and parses them: see region-info.h.
 * Values a newer daemon may add (an unknown sharing mode, flag or seal bit)
 * are printed as numbers rather than hidden.
 */
#include <errno.h>
#include <sys/sysmacros.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json.h"
#include "macro.h"
#include "region-info.h"
#include "table.h"
#include "util.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

static const char *const sharing_names[] = {
        [SHMB_SHARED] = "shared",
        [SHMB_SINGLE_WRITER] = "single-writer",
        [SHMB_IMMUTABLE] = "immutable",
};

static const char *const lifetime_names[] = {
        [SHMB_PERSISTENT] = "persistent",
        [SHMB_OWNER] = "owner",
        [SHMB_REFCOUNTED] = "refcounted",
};

static const struct {
        uint32_t flag;
        const char *name;
} flag_names[] = {
        { SHMB_LOCKED, "locked" },
        { SHMB_PREALLOC, "prealloc" },
};

static const char *enum_to_string(const char *const *names, size_t n, int v,
                                  char buf[static REGION_NAME_MAX]) {
        if (v >= 0 && (size_t)v < n && names[v])
                return names[v];
        snprintf(buf, REGION_NAME_MAX, "unknown-%d", v);
        return buf;
}

static int enum_from_string(const char *const *names, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (names[i] && strcmp(names[i], s) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *sharing_to_string(int sharing, char buf[static REGION_NAME_MAX]) {
        return enum_to_string(sharing_names, ELEMENTSOF(sharing_names), sharing, buf);
}

int sharing_from_string(const char *s) {
        return enum_from_string(sharing_names, ELEMENTSOF(sharing_names), s);
}

const char *lifetime_to_string(int lifetime, char buf[static REGION_NAME_MAX]) {
        return enum_to_string(lifetime_names, ELEMENTSOF(lifetime_names), lifetime, buf);
}

int lifetime_from_string(const char *s) {
        return enum_from_string(lifetime_names, ELEMENTSOF(lifetime_names), s);
}

const char *page_size_to_string(uint64_t page_size, char buf[static REGION_NAME_MAX]) {
        switch (page_size) {
        case SHMB_PAGE_THP:
                return "thp";
        case 0:
        case 4 * KIB:
                return "4K";
        case 2 * MIB:
                return "2M";
        case 1 * GIB:
                return "1G";
        default:
                return size_format(page_size, buf, REGION_NAME_MAX);
        }
}

int page_size_from_string(const char *s, uint64_t *ret) {
        uint64_t v;

        if (strcasecmp(s, "thp") == 0) {
                *ret = SHMB_PAGE_THP;
                return 0;
        }
        if (size_parse(s, &v) < 0 || (v != 4 * KIB && v != 2 * MIB && v != 1 * GIB))
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "0640" */
static const char *mode_to_string(uint32_t mode, char buf[static REGION_NAME_MAX]) {
        snprintf(buf, REGION_NAME_MAX, "%04" PRIo32, mode);
        return buf;
}

/* "rw-r-----", like ls -l. */
static const char *mode_to_symbolic(uint32_t mode, char buf[static REGION_NAME_MAX]) {
        static const char rwx[] = "rwxrwxrwx";

        for (unsigned i = 0; i < 9; i++)
                buf[i] = mode & (0400u >> i) ? rwx[i] : '-';
        buf[9] = '\0';
        return buf;
}

/*
 * The last id looked up and its name. A list of many regions names the same
 * few owners over and over, and each NSS lookup may read /etc/passwd or ask
 * a directory service.
 */
typedef struct IdName {
        bool valid;
        uint32_t id;
        char name[REGION_NAME_MAX];
} IdName;

static const char *id_to_string(IdName *cache, uint32_t id, const char *name,
                                char buf[static REGION_NAME_MAX]) {
        cache->valid = true;
        cache->id = id;
        if (name && strlen(name) < sizeof(cache->name))
                strcpy(cache->name, name);
        else
                snprintf(cache->name, sizeof(cache->name), "%" PRIu32, id);
        return strcpy(buf, cache->name);
}

const char *user_to_string(uint32_t uid, char buf[static REGION_NAME_MAX]) {
        static IdName cache;
        struct passwd *pw;

        if (cache.valid && cache.id == uid)
                return strcpy(buf, cache.name);
        pw = getpwuid((uid_t)uid);
        return id_to_string(&cache, uid, pw ? pw->pw_name : NULL, buf);
}

static const char *group_to_string(uint32_t gid, char buf[static REGION_NAME_MAX]) {
        static IdName cache;
        struct group *gr;

        if (cache.valid && cache.id == gid)
                return strcpy(buf, cache.name);
        gr = getgrgid((gid_t)gid);
        return id_to_string(&cache, gid, gr ? gr->gr_name : NULL, buf);
}

/* Flag names, comma-separated, unknown bits as one hex number; "" for none. */
static char *flags_format(uint32_t flags, char *buf, size_t len) {
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(flag_names); i++)
                if (flags & flag_names[i].flag) {
                        n += (size_t)snprintf(buf + n, len - MIN(n, len), "%s%s",
                                              n ? "," : "", flag_names[i].name);
                        flags &= ~flag_names[i].flag;
                }
        if (flags)
                snprintf(buf + n, len - MIN(n, len), "%s0x%" PRIx32, n ? "," : "", flags);
        return buf;
}

#define FLAGS_FORMAT_MAX 64

/* ISO 8601 in local time with a numeric offset: 2025-01-31T14:05:09+01:00. */
const char *timestamp_format(uint64_t usec, char *buf, size_t len) {
        time_t sec = (time_t)(usec / 1000000);
        struct tm tm;
        char tz[8];

        if (!localtime_r(&sec, &tm) ||
            strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0 ||
            strftime(tz, sizeof(tz), "%z", &tm) != 5) {
                snprintf(buf, len, "@%" PRIu64 "us", usec);
                return buf;
        }
        /* strftime's %z has no colon; ISO 8601 extended format wants one. */
        snprintf(buf + strlen(buf), len - strlen(buf), "%.3s:%.2s", tz, tz + 3);
        return buf;
}


const char *const region_table_headers[REGION_TABLE_COLUMNS] = {
        "NAME", ">SIZE", "PAGE", "SHARING", "LIFETIME", "OWNER", "MODE", "LOCKED", ">HOLDERS",
};

int region_info_table_row(Table *t, const struct shmb_region_info *info) {
        char size[SIZE_FORMAT_MAX], page[REGION_NAME_MAX], sharing[REGION_NAME_MAX],
                lifetime[REGION_NAME_MAX], owner[REGION_NAME_MAX], mode[REGION_NAME_MAX],
                holders[REGION_NAME_MAX];

        snprintf(holders, sizeof(holders), "%" PRIu32, info->holders);

        return table_add_row(t, (const char *const[REGION_TABLE_COLUMNS]){
                info->name,
                size_format(info->size, size, sizeof(size)),
                page_size_to_string(info->page_size, page),
                sharing_to_string(info->sharing, sharing),
                lifetime_to_string(info->lifetime, lifetime),
                user_to_string(info->uid, owner),
                mode_to_string(info->mode, mode),
                info->flags & SHMB_LOCKED ? "yes" : "no",
                holders,
        });
}

static void show_bytes(FILE *f, const char *key, uint64_t bytes) {
        char buf[SIZE_FORMAT_MAX];

        fprintf(f, "%-15s %s (%" PRIu64 " bytes)\n", key, size_format(bytes, buf, sizeof(buf)), bytes);
}

void region_info_show(FILE *f, const struct shmb_region_info *info) {
        char a[REGION_NAME_MAX], b[REGION_NAME_MAX], flags[FLAGS_FORMAT_MAX],
                seals[SEALS_FORMAT_MAX], created[TIMESTAMP_FORMAT_MAX];

        fprintf(f, "%-15s %s\n", "name:", info->name);
        fprintf(f, "%-15s %" PRIu64 "\n", "id:", info->id);
        show_bytes(f, "size:", info->size);
        show_bytes(f, "requested size:", info->requested_size);
        if (info->page_size == SHMB_PAGE_THP)
                fprintf(f, "%-15s thp (transparent huge pages)\n", "page size:");
        else
                show_bytes(f, "page size:", info->page_size);
        fprintf(f, "%-15s %s\n", "sharing:", sharing_to_string(info->sharing, a));
        fprintf(f, "%-15s %s\n", "lifetime:", lifetime_to_string(info->lifetime, a));
        fprintf(f, "%-15s %s (uid %" PRIu32 ")\n", "owner:", user_to_string(info->uid, a), info->uid);
        fprintf(f, "%-15s %s (gid %" PRIu32 ")\n", "group:", group_to_string(info->gid, a), info->gid);
        fprintf(f, "%-15s %s (%s)\n", "mode:", mode_to_string(info->mode, a), mode_to_symbolic(info->mode, b));
        flags_format(info->flags, flags, sizeof(flags));
        fprintf(f, "%-15s %s\n", "flags:", flags[0] ? flags : "none");
        fprintf(f, "%-15s %s (0x%" PRIx32 ")\n", "seals:",
                info->seals ? seals_format(info->seals, seals, sizeof(seals)) : "none", info->seals);
        fprintf(f, "%-15s %s\n", "created:", timestamp_format(info->created_usec, created, sizeof(created)));
        fprintf(f, "%-15s %" PRIu32 "\n", "holders:", info->holders);
        fprintf(f, "%-15s %s\n", "published:", info->published ? "yes" : "no");
        fprintf(f, "%-15s %s\n", "restart safe:", info->restart_safe ? "yes" : "no");
        show_bytes(f, "locked:", info->locked_bytes);
        show_bytes(f, "resident:", info->resident_bytes);
        if (info->page_size == SHMB_PAGE_THP && info->huge_page_bytes == 0)
                fprintf(f, "%-15s 0 (none obtained: the system's shmem THP setting decides)\n", "huge pages:");
        else if (info->page_size != 4096 && info->page_size != 0)
                show_bytes(f, "huge pages:", info->huge_page_bytes);
        if (info->ino)
                fprintf(f, "%-15s %02x:%02x inode %" PRIu64 "\n", "memfd inode:", major((dev_t)info->dev),
                        minor((dev_t)info->dev), info->ino);
}

/* Writes each comma-separated word of list as a JSON string. */
static void json_words(JsonWriter *w, const char *list) {
        json_begin_array(w);
        for (const char *p = list; *p;) {
                size_t n = strcspn(p, ",");
                char word[REGION_NAME_MAX];

                if (n > 0 && n < sizeof(word)) {
                        memcpy(word, p, n);
                        word[n] = '\0';
                        json_string(w, word);
                }
                p += n + (p[n] == ',');
        }
        json_end_array(w);
}

void region_info_json(JsonWriter *w, const struct shmb_region_info *info) {
        char buf[REGION_NAME_MAX], flags[FLAGS_FORMAT_MAX], seals[SEALS_FORMAT_MAX];

        json_begin_object(w);
        json_key(w, "name");
        json_string(w, info->name);
        json_key(w, "id");
        json_uint(w, info->id);
        json_key(w, "size");
        json_uint(w, info->size);
        json_key(w, "requested_size");
        json_uint(w, info->requested_size);
        json_key(w, "page_size");
        json_uint(w, info->page_size);
        json_key(w, "sharing");
        json_string(w, sharing_to_string(info->sharing, buf));
        json_key(w, "lifetime");
        json_string(w, lifetime_to_string(info->lifetime, buf));
        json_key(w, "uid");
        json_uint(w, info->uid);
        json_key(w, "gid");
        json_uint(w, info->gid);
        json_key(w, "mode");
        json_uint(w, info->mode);
        json_key(w, "mode_octal");
        json_string(w, mode_to_string(info->mode, buf));
        json_key(w, "flags");
        json_words(w, flags_format(info->flags, flags, sizeof(flags)));
        json_key(w, "locked");
        json_bool(w, info->flags & SHMB_LOCKED);
        json_key(w, "seals");
        json_words(w, info->seals ? seals_format(info->seals, seals, sizeof(seals)) : "");
        json_key(w, "created_usec");
        json_uint(w, info->created_usec);
        json_key(w, "holders");
        json_uint(w, info->holders);
        json_key(w, "published");
        json_bool(w, info->published);
        json_key(w, "restart_safe");
        json_bool(w, info->restart_safe);
        json_key(w, "locked_bytes");
        json_uint(w, info->locked_bytes);
        json_key(w, "resident_bytes");
        json_uint(w, info->resident_bytes);
        json_key(w, "huge_page_bytes");
        json_uint(w, info->huge_page_bytes);
        json_key(w, "dev");
        json_uint(w, info->dev);
        json_key(w, "ino");
        json_uint(w, info->ino);
        json_end_object(w);
}
