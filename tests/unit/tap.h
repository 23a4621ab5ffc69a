/* SPDX-License-Identifier: MIT */
/*
 * The smallest useful test harness: every check prints one TAP line so a
 * failure names the expression and line, and tap_done() turns the result
 * into the exit status meson expects. Each test also checks at the end that
 * it leaked no file descriptor, since fd hygiene is what these modules are for.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned tap_count;
static unsigned tap_failures;

static inline bool tap_check(bool ok, const char *expr, const char *file, int line) {
        tap_count++;
        printf("%s %u - %s (%s:%d)\n", ok ? "ok" : "not ok", tap_count, expr, file, line);
        if (!ok)
                tap_failures++;
        fflush(stdout);
        return ok;
}

static inline void tap_skip(const char *why) {
        tap_count++;
        printf("ok %u # SKIP %s\n", tap_count, why);
        fflush(stdout);
}

/* Prints the plan and returns the process exit status. */
static inline int tap_done(void) {
        printf("1..%u\n", tap_count);
        if (tap_failures > 0)
                fprintf(stderr, "%u of %u checks failed\n", tap_failures, tap_count);
        return tap_failures > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define CHECK(expr) tap_check(!!(expr), #expr, __FILE__, __LINE__)
#define CHECK_MSG(expr, what) tap_check(!!(expr), what, __FILE__, __LINE__)
