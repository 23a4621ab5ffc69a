/* SPDX-License-Identifier: MIT */
/*
 * Quota rendering for the CLI. A limit of 0 means unlimited: "unlimited" in
 * words, 0 in JSON as on the wire (shmbrokerctl(1) says so).
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "quota-info.h"
#include "util.h"

int quota_user_parse(const char *s, uint32_t *ret) {
        struct passwd *pw;
        char *end;
        unsigned long v;

        if (!*s)
                return -EINVAL;
        if (strspn(s, "0123456789") == strlen(s)) {
                errno = 0;
                v = strtoul(s, &end, 10);
                if (errno || v >= UINT32_MAX)
                        return -EINVAL;
                *ret = (uint32_t)v;
                return 0;
        }
        pw = getpwnam(s);
        if (!pw)
                return -ENOENT;
        *ret = (uint32_t)pw->pw_uid;
        return 0;
}

static void show_line(FILE *f, const char *key, uint64_t used, uint64_t limit, bool bytes) {
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

        if (bytes) {
                size_format(used, a, sizeof(a));
                size_format(limit, b, sizeof(b));
        } else {
                snprintf(a, sizeof(a), "%" PRIu64, used);
                snprintf(b, sizeof(b), "%" PRIu64, limit);
        }
        fprintf(f, "%-15s %s of %s\n", key, a, limit ? b : "unlimited");
}

void quota_show(FILE *f, const struct shmb_quota *q) {
        struct passwd *pw = getpwuid((uid_t)q->uid);

        fprintf(f, "%-15s %" PRIu32 " (%s)\n", "uid:", q->uid, pw ? pw->pw_name : "no such user");
        show_line(f, "locked:", q->locked_bytes, q->locked_limit, true);
        show_line(f, "memory:", q->total_bytes, q->total_limit, true);
        show_line(f, "regions:", q->regions, q->regions_limit, false);
        show_line(f, "connections:", q->connections, q->connections_limit, false);
        show_line(f, "handles:", q->handles, q->handles_limit, false);
        show_line(f, "daemon locked:", q->global_locked_bytes, q->global_locked_limit, true);
}

static void json_limit(JsonWriter *w, const char *key, uint64_t v) {
        json_key(w, key);
        json_uint(w, v);
}

void quota_json(JsonWriter *w, const struct shmb_quota *q) {
        json_begin_object(w);
        json_key(w, "uid");
        json_uint(w, q->uid);
        json_key(w, "locked_bytes");
        json_uint(w, q->locked_bytes);
        json_limit(w, "locked_limit", q->locked_limit);
        json_key(w, "total_bytes");
        json_uint(w, q->total_bytes);
        json_limit(w, "total_limit", q->total_limit);
        json_key(w, "regions");
        json_uint(w, q->regions);
        json_limit(w, "regions_limit", q->regions_limit);
        json_key(w, "connections");
        json_uint(w, q->connections);
        json_limit(w, "connections_limit", q->connections_limit);
        json_key(w, "handles");
        json_uint(w, q->handles);
        json_limit(w, "handles_limit", q->handles_limit);
        json_key(w, "global_locked_bytes");
        json_uint(w, q->global_locked_bytes);
        json_limit(w, "global_locked_limit", q->global_locked_limit);
        json_end_object(w);
}
