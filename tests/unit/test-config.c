/* SPDX-License-Identifier: MIT */
/*
 * The configuration parser without a daemon: values land in Limits and
 * QuotaConfig, keys left out keep the defaults, and every problem (found
 * while reading or in the cross-checks afterwards) names FILE:LINE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-file.h"
#include "tap.h"

#define MIB (UINT64_C(1) << 20)

static char path[] = "/tmp/shmb-test-config.XXXXXX";

static int parse(const char *text, Limits *l, QuotaConfig *q, char *err, size_t errlen) {
        FILE *f = fopen(path, "we");

        if (!f)
                return -1;
        fputs(text, f);
        fclose(f);
        *l = LIMITS_DEFAULT;
        quota_config_init(q);
        return config_parse_file(path, l, q, err, errlen);
}

static bool error_is(const char *err, unsigned line, const char *fragment) {
        char want[512];

        snprintf(want, sizeof(want), "%s:%u: ", path, line);
        return strncmp(err, want, strlen(want)) == 0 && strstr(err, fragment);
}

static void test_values(void) {
        Limits l;
        QuotaConfig q;
        char err[512] = "";

        CHECK(parse("[limits]\nmax-regions = 10\nmax-wait = 1500ms\nmax-locked = 1G\n"
                    "[quota]\nbytes = 2G ; comment\nexempt-root = yes\n"
                    "[quota.uid:1000]\nlocked = 16M\n[quota.gid:44]\nregions = unlimited\n",
                    &l, &q, err, sizeof(err)) == 0);
        CHECK_MSG(err[0] == 0, err);
        CHECK(l.max_regions == 10 && l.max_connections == LIMITS_DEFAULT.max_connections);
        CHECK(l.max_wait_ms == 1500);
        CHECK(q.max_locked == 1024 * MIB && q.exempt_root);
        CHECK(q.defaults.v[QUOTA_BYTES] == 2048 * MIB && q.defaults.v[QUOTA_LOCKED] == QUOTA_DEFAULT_LOCKED);
        CHECK(q.n_entries == 2);
        CHECK(q.entries[0].type == QUOTA_ENTRY_UID && q.entries[0].id == 1000 &&
              q.entries[0].set == 1u << QUOTA_LOCKED && q.entries[0].limits.v[QUOTA_LOCKED] == 16 * MIB);
        CHECK(q.entries[1].type == QUOTA_ENTRY_GID && q.entries[1].id == 44 &&
              q.entries[1].set == 1u << QUOTA_REGIONS && q.entries[1].limits.v[QUOTA_REGIONS] == 0);
        quota_config_done(&q);
}

static void test_errors(void) {
        static const struct {
                const char *text;
                unsigned line;
                const char *fragment;
        } cases[] = {
                { "[limits]\n\n[nope]\n", 3, "unknown section [nope]" },
                { "[limits]\nmax-regionz = 1\n", 2, "unknown key 'max-regionz'" },
                { "[quota]\nlocked = lots\n", 2, "not a size" },
                { "[quota]\nregions = 1.5\n", 2, "not a whole number" },
                { "[quota.uid:x]\n", 1, "not a numeric id" },
                { "[limits]\nmax-locked = 8M\n[quota.gid:5]\n\nlocked = 9M\n", 5, "above the global max-locked of 8M" },
                { "[quota]\nlocked = 9M\n[limits]\nmax-locked = 8M\n", 2, "in [quota] is above" },
                { "[quota.uid:7]\nregions = 100001\n", 2, "above the global max-regions of 100000 (its default)" },
                { "key without section = 1\n", 1, "outside any [section]" },
        };
        Limits l;
        QuotaConfig q;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char err[512] = "";
                int r = parse(cases[i].text, &l, &q, err, sizeof(err));

                CHECK(r < 0);
                CHECK_MSG(error_is(err, cases[i].line, cases[i].fragment), err[0] ? err : cases[i].fragment);
                quota_config_done(&q);
        }
}

int main(void) {
        int fd = mkstemp(path);

        if (fd < 0)
                return 1;
        close(fd);
        test_values();
        test_errors();
        unlink(path);
        return tap_done();
}
