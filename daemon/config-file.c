/* SPDX-License-Identifier: MIT */
/*
 * Configuration parsing. inih tokenises; this module knows the sections and
 * keys. Lines are counted by our own reader around fgets, so every problem,
 * including the cross-checks done after the whole file was read, can name
 * the line it comes from. Empty sections never reach an inih handler, so
 * section headers are validated in the reader as well.
 */
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-file.h"
#include "macro.h"
#include "util.h"

typedef struct Parser {
        const char *path;
        FILE *f;
        unsigned line;           /* of the line inih was last handed */
        unsigned section_line;   /* of the last [section] header */
        Limits *limits;
        QuotaConfig *quota;
        char *err;
        size_t errlen;
        bool failed;
        /* Where the keys the cross-checks name were set (0: not in the file). */
        unsigned line_max_locked, line_max_regions, line_max_connections;
        unsigned line_default[_QUOTA_MAX];
        unsigned *line_entry;    /* per quota entry, _QUOTA_MAX lines each */
        size_t n_line_entry;
} Parser;

_printf_(3, 4) static int problem(Parser *p, unsigned line, const char *fmt, ...) {
        char msg[384];
        va_list ap;

        if (p->failed)
                return 0;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (line)
                snprintf(p->err, p->errlen, "%s:%u: %s", p->path, line, msg);
        else
                snprintf(p->err, p->errlen, "%s: %s", p->path, msg);
        p->failed = true;
        return 0;
}

static const char *const quota_keys[_QUOTA_MAX] = {
        [QUOTA_LOCKED] = "locked",
        [QUOTA_BYTES] = "bytes",
        [QUOTA_REGIONS] = "regions",
        [QUOTA_CONNECTIONS] = "connections",
        [QUOTA_HANDLES] = "handles",
};

static bool quota_key_is_size(int k) {
        return k == QUOTA_LOCKED || k == QUOTA_BYTES;
}

static int parse_size_value(Parser *p, const char *key, const char *value, uint64_t *ret) {
        if (strcmp(value, "unlimited") == 0) {
                *ret = 0;
                return 1;
        }
        if (size_parse(value, ret) < 0)
                return problem(p, p->line, "%s: '%s' is not a size (bytes, or a number with K, M, G or T)", key,
                               value);
        return 1;
}

static int parse_count_value(Parser *p, const char *key, const char *value, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (strcmp(value, "unlimited") == 0) {
                *ret = 0;
                return 1;
        }
        errno = 0;
        v = strtoull(value, &end, 10);
        if (errno || end == value || *end || value[0] == '-' || value[0] == '+' || v > max)
                return problem(p, p->line, "%s: '%s' is not a whole number between 0 and %" PRIu64, key, value,
                               max);
        *ret = v;
        return 1;
}

/* "60s", "500ms", "2min", or a bare number of seconds. */
static int parse_duration_ms(Parser *p, const char *key, const char *value, uint32_t *ret) {
        char *end;
        unsigned long long v, mult = 1000;

        errno = 0;
        v = strtoull(value, &end, 10);
        if (!errno && end != value && value[0] != '-' && value[0] != '+') {
                if (strcmp(end, "ms") == 0)
                        mult = 1;
                else if (strcmp(end, "s") == 0 || *end == 0)
                        mult = 1000;
                else if (strcmp(end, "min") == 0)
                        mult = 60000;
                else
                        mult = 0;
                if (mult && v <= UINT32_MAX / mult) {
                        *ret = (uint32_t)(v * mult);
                        return 1;
                }
        }
        return problem(p, p->line, "%s: '%s' is not a duration (e.g. 500ms, 60s, 2min)", key, value);
}

static int parse_bool_value(Parser *p, const char *key, const char *value, bool *ret) {
        if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1"))
                *ret = true;
        else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
                *ret = false;
        else
                return problem(p, p->line, "%s: '%s' is not yes or no", key, value);
        return 1;
}

/* "quota.uid:1000" etc. to an entry type and id; 0 and a problem if invalid. */
static int quota_section(Parser *p, const char *section, QuotaEntryType *ret_type, uint32_t *ret_id) {
        const char *arg = strchr(section, ':');
        char kind[16];
        size_t n;

        if (!arg || (n = (size_t)(arg - section)) >= sizeof(kind) || !arg[1])
                return problem(p, p->section_line, "unknown section [%s]", section);
        memcpy(kind, section, n);
        kind[n] = 0;
        arg++;
        if (!strcmp(kind, "quota.uid") || !strcmp(kind, "quota.gid")) {
                char *end;
                unsigned long v;

                errno = 0;
                v = strtoul(arg, &end, 10);
                if (errno || *end || arg[0] == '-' || arg[0] == '+' || v >= UINT32_MAX)
                        return problem(p, p->section_line, "[%s]: '%s' is not a numeric id", section, arg);
                *ret_type = kind[6] == 'u' ? QUOTA_ENTRY_UID : QUOTA_ENTRY_GID;
                *ret_id = (uint32_t)v;
                return 1;
        }
        if (!strcmp(kind, "quota.user")) {
                struct passwd *pw = getpwnam(arg);

                if (!pw)
                        return problem(p, p->section_line, "[%s]: no user named '%s'", section, arg);
                *ret_type = QUOTA_ENTRY_UID;
                *ret_id = (uint32_t)pw->pw_uid;
                return 1;
        }
        if (!strcmp(kind, "quota.group")) {
                struct group *gr = getgrnam(arg);

                if (!gr)
                        return problem(p, p->section_line, "[%s]: no group named '%s'", section, arg);
                *ret_type = QUOTA_ENTRY_GID;
                *ret_id = (uint32_t)gr->gr_gid;
                return 1;
        }
        return problem(p, p->section_line, "unknown section [%s]", section);
}

static bool section_known(const char *s) {
        return !strcmp(s, "limits") || !strcmp(s, "quota") || !strcmp(s, "access") ||
               !strncmp(s, "quota.uid:", 10) || !strncmp(s, "quota.gid:", 10) || !strncmp(s, "quota.user:", 11) ||
               !strncmp(s, "quota.group:", 12);
}

static int quota_key(Parser *p, const char *section, const char *name, const char *value, QuotaLimits *l,
                     unsigned *set, unsigned *lines) {
        for (int k = 0; k < _QUOTA_MAX; k++) {
                if (strcmp(name, quota_keys[k]) != 0)
                        continue;
                if (quota_key_is_size(k) ? !parse_size_value(p, name, value, &l->v[k])
                                         : !parse_count_value(p, name, value, UINT32_MAX, &l->v[k]))
                        return 0;
                if (set)
                        *set |= 1u << k;
                lines[k] = p->line;
                return 1;
        }
        return problem(p, p->line, "unknown key '%s' in [%s] (known: locked, bytes, regions, connections, "
                       "handles%s)", name, section, strcmp(section, "quota") == 0 ? ", exempt-root" : "");
}

static int resolve_admin_group(Parser *p, const char *value) {
        if (config_resolve_group(value, &p->limits->admin_gid) < 0)
                return problem(p, p->line, "admin-group: no group named '%s'", value);
        p->limits->has_admin_group = true;
        return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;
        Limits *l = p->limits;
        uint64_t v;

        if (p->failed)
                return 0;
        if (!section[0])
                return problem(p, p->line, "key '%s' is outside any [section]", name);
        if (!strcmp(section, "limits")) {
                if (!strcmp(name, "max-regions")) {
                        if (!parse_count_value(p, name, value, UINT_MAX, &v))
                                return 0;
                        if (v == 0)
                                return problem(p, p->line, "max-regions must be at least 1");
                        l->max_regions = (unsigned)v;
                        p->line_max_regions = p->line;
                } else if (!strcmp(name, "max-connections")) {
                        if (!parse_count_value(p, name, value, UINT_MAX, &v))
                                return 0;
                        if (v == 0)
                                return problem(p, p->line, "max-connections must be at least 1");
                        l->max_connections = (unsigned)v;
                        p->line_max_connections = p->line;
                } else if (!strcmp(name, "output-queue")) {
                        if (!parse_count_value(p, name, value, UINT_MAX, &v))
                                return 0;
                        if (v == 0)
                                return problem(p, p->line, "output-queue must be at least 1");
                        l->output_queue = (unsigned)v;
                } else if (!strcmp(name, "max-locked")) {
                        if (!parse_size_value(p, name, value, &p->quota->max_locked))
                                return 0;
                        p->line_max_locked = p->line;
                } else if (!strcmp(name, "max-region-size")) {
                        if (!parse_size_value(p, name, value, &v))
                                return 0;
                        l->max_region_size = v ? v : UINT64_MAX;
                } else if (!strcmp(name, "max-wait")) {
                        return parse_duration_ms(p, name, value, &l->max_wait_ms);
                } else
                        return problem(p, p->line, "unknown key '%s' in [limits] (known: max-regions, "
                                       "max-connections, output-queue, max-locked, max-region-size, max-wait)", name);
                return 1;
        }
        if (!strcmp(section, "access")) {
                if (!strcmp(name, "admin-group"))
                        return resolve_admin_group(p, value);
                return problem(p, p->line, "unknown key '%s' in [access] (known: admin-group)", name);
        }
        if (!strcmp(section, "quota")) {
                if (!strcmp(name, "exempt-root"))
                        return parse_bool_value(p, name, value, &p->quota->exempt_root);
                return quota_key(p, section, name, value, &p->quota->defaults, NULL, p->line_default);
        }
        {
                QuotaEntryType type = QUOTA_ENTRY_UID;
                QuotaEntry *e;
                uint32_t id = 0;
                size_t idx;

                if (!quota_section(p, section, &type, &id))
                        return 0;
                e = quota_config_entry(p->quota, type, id);
                if (!e)
                        return problem(p, p->line, "out of memory");
                idx = (size_t)(e - p->quota->entries);
                if (idx >= p->n_line_entry) {
                        unsigned *n = realloc(p->line_entry, (idx + 1) * _QUOTA_MAX * sizeof(*n));

                        if (!n)
                                return problem(p, p->line, "out of memory");
                        memset(n + p->n_line_entry * _QUOTA_MAX, 0,
                               (idx + 1 - p->n_line_entry) * _QUOTA_MAX * sizeof(*n));
                        p->line_entry = n;
                        p->n_line_entry = idx + 1;
                }
                return quota_key(p, section, name, value, &e->limits, &e->set, p->line_entry + idx * _QUOTA_MAX);
        }
}

/* fgets that counts lines and checks section headers, which inih skips when empty. */
static char *reader(char *str, int num, void *stream) {
        Parser *p = stream;
        char *s = fgets(str, num, p->f);
        char *b, *e;

        if (!s)
                return NULL;
        p->line++;
        /* inih would take the rest as a line of its own: the count, and the meaning, would be off. */
        if (!strchr(s, '\n') && !feof(p->f)) {
                problem(p, p->line, "line longer than %d bytes", num - 2);
                return NULL;
        }
        b = s + strspn(s, " \t");
        if (*b == '[' && !p->failed) {
                char sec[128];
                size_t n;

                e = strchr(b, ']');
                if (!e)
                        return s; /* inih reports the syntax error */
                n = (size_t)(e - b - 1);
                if (n >= sizeof(sec)) {
                        problem(p, p->line, "section name too long");
                        return NULL;
                }
                memcpy(sec, b + 1, n);
                sec[n] = 0;
                p->section_line = p->line;
                if (!section_known(sec)) {
                        problem(p, p->line, "unknown section [%s] (known: limits, quota, quota.uid:N, quota.user:NAME, "
                                "quota.gid:N, quota.group:NAME, access)", sec);
                        return NULL;
                }
                /* An entry without keys never reaches the handler: check its id or name here. */
                if (strchr(sec, ':')) {
                        QuotaEntryType type;
                        uint32_t id;

                        if (!quota_section(p, sec, &type, &id))
                                return NULL;
                }
        }
        return s;
}

static void fmt_limit(int k, uint64_t v, char *buf, size_t len) {
        if (quota_key_is_size(k))
                size_format(v, buf, len);
        else
                snprintf(buf, len, "%" PRIu64, v);
}

/* A quota that could never be reached because a global cap is lower is a mistake. */
static int cross_check(Parser *p) {
        const QuotaConfig *q = p->quota;
        struct {
                int kind;
                uint64_t cap;
                const char *cap_name;
                unsigned cap_line;
        } caps[] = {
                { QUOTA_LOCKED, q->max_locked, "max-locked", p->line_max_locked },
                { QUOTA_REGIONS, p->limits->max_regions, "max-regions", p->line_max_regions },
                { QUOTA_CONNECTIONS, p->limits->max_connections, "max-connections", p->line_max_connections },
        };

        for (size_t c = 0; c < ELEMENTSOF(caps); c++) {
                int k = caps[c].kind;
                char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

                if (caps[c].cap == 0)
                        continue;
                fmt_limit(k, caps[c].cap, b, sizeof(b));
                if (p->line_default[k] && q->defaults.v[k] > caps[c].cap) {
                        fmt_limit(k, q->defaults.v[k], a, sizeof(a));
                        return problem(p, p->line_default[k], "%s = %s in [quota] is above the global %s of %s",
                                       quota_keys[k], a, caps[c].cap_name, b);
                }
                for (size_t i = 0; i < q->n_entries; i++) {
                        const QuotaEntry *e = &q->entries[i];
                        unsigned line = i < p->n_line_entry ? p->line_entry[i * _QUOTA_MAX + k] : 0;

                        if (!(e->set & (1u << k)) || e->limits.v[k] <= caps[c].cap)
                                continue;
                        fmt_limit(k, e->limits.v[k], a, sizeof(a));
                        return problem(p, line, "%s = %s for %s %u is above the global %s of %s%s", quota_keys[k], a,
                                       e->type == QUOTA_ENTRY_UID ? "uid" : "gid", (unsigned)e->id,
                                       caps[c].cap_name, b, caps[c].cap_line ? "" : " (its default)");
                }
        }
        return 1;
}

int config_parse_file(const char *path, Limits *limits, QuotaConfig *quota, char *err, size_t errlen) {
        Parser p = { .path = path, .limits = limits, .quota = quota, .err = err, .errlen = errlen };
        int r;

        p.f = fopen(path, "re");
        if (!p.f) {
                r = -errno;
                snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
                return r;
        }
        r = ini_parse_stream(reader, &p, handler, &p);
        fclose(p.f);
        if (!p.failed && r > 0)
                problem(&p, (unsigned)r, "syntax error (expected [section], key = value, or a ; or # comment)");
        else if (!p.failed && r < 0)
                problem(&p, 0, "cannot read the file (out of memory?)");
        if (!p.failed)
                (void)cross_check(&p);
        free(p.line_entry);
        return p.failed ? -EINVAL : 0;
}

const char *config_path_from_args(int argc, char **argv) {
        const char *path = NULL;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--"))
                        break;
                if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "-c")) && i + 1 < argc)
                        path = argv[++i];
                else if (!strncmp(argv[i], "--config=", 9))
                        path = argv[i] + 9;
                else if (!strcmp(argv[i], "--socket") || !strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket-mode") ||
                         (!strncmp(argv[i], "--", 2) && !strchr(argv[i], '=') && i + 1 < argc &&
                          strcmp(argv[i], "--verbose") && strcmp(argv[i], "--help") && strcmp(argv[i], "--version")))
                        i++; /* skip the option's argument: it might be "--config" */
        }
        return path;
}

int config_resolve_group(const char *name, gid_t *ret) {
        struct group *g;
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(name, &end, 10);
        if (!errno && end != name && !*end && v < UINT32_MAX) {
                *ret = (gid_t)v;
                return 0;
        }
        g = getgrnam(name);
        if (!g)
                return -ENOENT;
        *ret = g->gr_gid;
        return 0;
}
