/* SPDX-License-Identifier: MIT */
/*
 * Timing and percentiles for the benchmark. Samples are kept whole (no
 * histogram) so the reported median and p99 are exact order statistics.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

void sleep_ms(long ms) {
        struct timespec ts = {
                .tv_sec = ms / 1000,
                .tv_nsec = (ms % 1000) * 1000000L,
        };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int samples_init(Samples *s, size_t cap) {
        *s = (Samples){};
        s->v = calloc(cap ? cap : 1, sizeof(*s->v));
        if (!s->v)
                return -ENOMEM;
        s->cap = cap;
        return 0;
}

void samples_free(Samples *s) {
        free(s->v);
        *s = (Samples){};
}

void samples_add(Samples *s, uint64_t ns) {
        if (s->n < s->cap)
                s->v[s->n++] = ns;
        s->sorted = false;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

uint64_t samples_pct(Samples *s, double p) {
        size_t i;

        if (s->n == 0)
                return 0;
        if (!s->sorted) {
                qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
                s->sorted = true;
        }
        /* Nearest rank: the smallest value with at least p of the samples at or below it. */
        i = (size_t)(p * (double)s->n + 0.999999);
        if (i > 0)
                i--;
        if (i >= s->n)
                i = s->n - 1;
        return s->v[i];
}

int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

double median_double(double *v, size_t n) {
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
