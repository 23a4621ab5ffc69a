/* SPDX-License-Identifier: MIT */
/*
 * Results of a benchmark run: one row per metric, printed as a table and as
 * one JSON object. Targets are information only: a benchmark that measures
 * a slow machine still succeeds; only a broken run fails.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "bench.h"

typedef enum TargetKind {
        TARGET_NONE,
        TARGET_LE, /* ratio (or value, without a floor) at most target */
        TARGET_GE,
} TargetKind;

typedef struct Metric {
        char name[48];    /* JSON name, e.g. "open_ratio" */
        char label[48];   /* table text */
        char pinning[16]; /* "same-cpu", "cross-cpu", "unpinned" */
        char unit[8];     /* "us", "op/s", "B", "s" */
        double median, p99;
        bool has_floor;
        double floor_median, floor_p99;
        bool has_ratio;
        double ratio;
        TargetKind target_kind;
        double target;
        bool skipped;
        char note[400];
} Metric;

typedef struct RunInfo {
        const char *daemon;
        char kernel[160];
        int n_cpus;
        bool quick;
        unsigned iterations;
        unsigned regions;
        unsigned connections;
        double seconds;
        bool busy;
        char loadavg[64]; /* /proc/loadavg before the run: other load skews the numbers */
} RunInfo;

/* Adds a metric and returns it for the caller to fill in; NULL when full. */
Metric *metric_add(const char *name, const char *label, const char *pinning, const char *unit);
/* Latency metric from samples in ns, printed in µs; ratio of the medians. */
Metric *metric_latency(const char *name, const char *label, const char *pinning, Samples *d, Samples *f,
                       TargetKind kind, double target);
Metric *metric_skip(const char *name, const char *label, TargetKind kind, double target, const char *fmt, ...)
        _printf_(5, 6);
void metric_note(Metric *m, const char *fmt, ...) _printf_(2, 3);
/* Whether m meets its target: 1 yes, 0 no, -1 no target or skipped. */
int metric_met(const Metric *m);

void report_table(FILE *f, const RunInfo *ri);
void report_json(FILE *f, const RunInfo *ri);
