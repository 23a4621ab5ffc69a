/* SPDX-License-Identifier: MIT */
/*
 * Byte sizes as people type and read them. Every unit is binary (K = 1024),
 * whether spelt "K", "KiB" or "KB": region sizes are page multiples, and a
 * decimal "MB" that silently meant 10^6 would produce sizes nobody asked for.
 * Parsing is strict (digits, then an optional unit, nothing else) because the
 * result decides how much memory the daemon pins.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "util.h"

static const struct {
        char letter;
        unsigned shift;
} size_units[] = {
        /* Largest first: size_format() picks the first that fits. */
        { 'T', 40 },
        { 'G', 30 },
        { 'M', 20 },
        { 'K', 10 },
};

/* Returns the shift for a unit suffix ("", "K", "KiB", "KB", any case of the letter), or -1. */
static int size_suffix_shift(const char *s) {
        if (*s == '\0')
                return 0;

        for (size_t i = 0; i < ELEMENTSOF(size_units); i++) {
                const char *rest;

                if (*s != size_units[i].letter && *s != size_units[i].letter - 'A' + 'a')
                        continue;

                rest = s + 1;
                if (*rest == '\0' || strcmp(rest, "iB") == 0 || strcmp(rest, "B") == 0)
                        return (int)size_units[i].shift;
                return -1;
        }

        return -1;
}

int size_parse(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        const char *p;
        int shift;

        if (!s || !ret)
                return -EINVAL;

        /* Digits by hand: strtoull() would take leading blanks, '+' and '-'. */
        for (p = s; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned)(*p - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        if (p == s)
                return -EINVAL;

        shift = size_suffix_shift(p);
        if (shift < 0)
                return -EINVAL;
        if (shift > 0 && v > (UINT64_MAX >> shift))
                return -ERANGE;

        *ret = v << shift;
        return 0;
}

char *size_format(uint64_t bytes, char *buf, size_t buflen) {
        if (!buf || buflen == 0)
                return buf;

        for (size_t i = 0; i < ELEMENTSOF(size_units); i++) {
                uint64_t unit = UINT64_C(1) << size_units[i].shift;
                uint64_t whole, tenths;

                if (bytes < unit)
                        continue;

                whole = bytes / unit;
                if (bytes % unit == 0) {
                        (void)snprintf(buf, buflen, "%" PRIu64 "%c", whole, size_units[i].letter);
                        return buf;
                }

                /* One decimal, rounded half up; rem * 10 cannot overflow as rem < 2^40. */
                tenths = ((bytes % unit) * 10 + unit / 2) / unit;
                if (tenths == 10) {
                        whole++;
                        tenths = 0;
                }
                /* 1023.96K rounds to 1024.0K: say 1.0M instead. */
                if (whole == 1024 && i > 0) {
                        (void)snprintf(buf, buflen, "1.0%c", size_units[i - 1].letter);
                        return buf;
                }
                (void)snprintf(buf, buflen, "%" PRIu64 ".%" PRIu64 "%c", whole, tenths, size_units[i].letter);
                return buf;
        }

        (void)snprintf(buf, buflen, "%" PRIu64, bytes);
        return buf;
}
