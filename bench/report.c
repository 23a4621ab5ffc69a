/* SPDX-License-Identifier: MIT */
/*
 * The table and the JSON object of a run. JSON numbers are finite or null;
 * strings are escaped, since notes quote error messages.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

#define METRICS_MAX 64

static Metric metrics[METRICS_MAX];
static size_t n_metrics;

Metric *metric_add(const char *name, const char *label, const char *pinning, const char *unit) {
        Metric *m;

        if (n_metrics >= METRICS_MAX)
                return NULL;
        m = &metrics[n_metrics++];
        *m = (Metric){};
        snprintf(m->name, sizeof(m->name), "%s", name);
        snprintf(m->label, sizeof(m->label), "%s", label);
        snprintf(m->pinning, sizeof(m->pinning), "%s", pinning);
        snprintf(m->unit, sizeof(m->unit), "%s", unit);
        return m;
}

Metric *metric_latency(const char *name, const char *label, const char *pinning, Samples *d, Samples *f,
                       TargetKind kind, double target) {
        Metric *m = metric_add(name, label, pinning, "us");

        if (!m)
                return NULL;
        m->median = (double)samples_pct(d, 0.5) / 1000.0;
        m->p99 = (double)samples_pct(d, 0.99) / 1000.0;
        if (f) {
                m->has_floor = true;
                m->floor_median = (double)samples_pct(f, 0.5) / 1000.0;
                m->floor_p99 = (double)samples_pct(f, 0.99) / 1000.0;
                if (m->floor_median > 0) {
                        m->has_ratio = true;
                        m->ratio = m->median / m->floor_median;
                }
        }
        m->target_kind = kind;
        m->target = target;
        return m;
}

void metric_note(Metric *m, const char *fmt, ...) {
        size_t len;
        va_list ap;

        if (!m)
                return;
        len = strlen(m->note);
        if (len > 0 && len + 2 < sizeof(m->note)) {
                memcpy(m->note + len, "; ", 3);
                len += 2;
        }
        va_start(ap, fmt);
        vsnprintf(m->note + len, sizeof(m->note) - len, fmt, ap);
        va_end(ap);
}

Metric *metric_skip(const char *name, const char *label, TargetKind kind, double target, const char *fmt, ...) {
        Metric *m = metric_add(name, label, "", "");
        va_list ap;

        if (!m)
                return NULL;
        m->skipped = true;
        m->target_kind = kind;
        m->target = target;
        va_start(ap, fmt);
        vsnprintf(m->note, sizeof(m->note), fmt, ap);
        va_end(ap);
        return m;
}

int metric_met(const Metric *m) {
        double v;

        if (m->skipped || m->target_kind == TARGET_NONE)
                return -1;
        v = m->has_ratio ? m->ratio : m->median;
        return m->target_kind == TARGET_LE ? v <= m->target : v >= m->target;
}

static const char *target_text(const Metric *m, char *buf, size_t len) {
        if (m->target_kind == TARGET_NONE)
                snprintf(buf, len, "-");
        else
                snprintf(buf, len, "%s %g%s", m->target_kind == TARGET_LE ? "<=" : ">=", m->target,
                         m->has_ratio || m->skipped ? "x" : "");
        return buf;
}

static const char *value_text(double v, const char *unit, char *buf, size_t len) {
        if (strcmp(unit, "B") == 0 && v >= 1024.0 * 1024.0)
                snprintf(buf, len, "%.2f MiB", v / (1024.0 * 1024.0));
        else if (strcmp(unit, "B") == 0)
                snprintf(buf, len, "%.0f B", v);
        else if (strcmp(unit, "op/s") == 0)
                snprintf(buf, len, "%.1fk/s", v / 1000.0);
        else if (strcmp(unit, "s") == 0)
                snprintf(buf, len, "%.3f s", v);
        else if (strcmp(unit, "x") == 0)
                snprintf(buf, len, "%.2fx", v);
        else
                snprintf(buf, len, "%.1f %s", v, unit);
        return buf;
}

void report_table(FILE *f, const RunInfo *ri) {
        unsigned met = 0, missed = 0, skipped = 0;

        fprintf(f, "\nshmbroker-bench: %s, %d CPU(s), %s run, %u iterations per latency metric, %.1f s\n",
                ri->kernel, ri->n_cpus, ri->quick ? "quick" : "full", ri->iterations, ri->seconds);
        fprintf(f, "daemon: %s\nload average before the run: %s%s\n\n", ri->daemon, ri->loadavg,
                ri->busy ? " (other processes were busy: expect noise)" : "");
        fprintf(f, "%-36s %-9s %10s %10s %10s %10s %7s %8s %s\n", "metric", "pinning", "median", "p99",
                "floor p50", "floor p99", "ratio", "target", "");
        for (size_t i = 0; i < n_metrics; i++) {
                const Metric *m = &metrics[i];
                char a[32], b[32], c[32], d[32], t[32];
                int ok = metric_met(m);

                if (m->skipped) {
                        fprintf(f, "%-36s %-9s %10s %10s %10s %10s %7s %8s %s\n", m->label, "-", "-", "-", "-",
                                "-", "-", target_text(m, t, sizeof(t)), "SKIPPED");
                        skipped++;
                        continue;
                }
                if (ok == 1)
                        met++;
                else if (ok == 0)
                        missed++;
                fprintf(f, "%-36s %-9s %10s %10s %10s %10s ", m->label, m->pinning[0] ? m->pinning : "-",
                        value_text(m->median, m->unit, a, sizeof(a)), value_text(m->p99, m->unit, b, sizeof(b)),
                        m->has_floor ? value_text(m->floor_median, m->unit, c, sizeof(c)) : "-",
                        m->has_floor ? value_text(m->floor_p99, m->unit, d, sizeof(d)) : "-");
                if (m->has_ratio)
                        fprintf(f, "%6.2fx ", m->ratio);
                else
                        fprintf(f, "%7s ", "-");
                fprintf(f, "%8s %s\n", target_text(m, t, sizeof(t)), ok == 1 ? "ok" : ok == 0 ? "MISSED" : "");
        }
        fprintf(f, "\nnotes:\n");
        for (size_t i = 0; i < n_metrics; i++)
                if (metrics[i].note[0])
                        fprintf(f, "  %s%s%s: %s\n", metrics[i].name, metrics[i].pinning[0] ? " " : "",
                                metrics[i].pinning, metrics[i].note);
        fprintf(f, "\ntargets (information only, never a failure): %u met, %u missed, %u skipped\n", met, missed,
                skipped);
}

static void json_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;

                if (ch == '"' || ch == '\\')
                        fprintf(f, "\\%c", ch);
                else if (ch < 0x20)
                        fprintf(f, "\\u%04x", ch);
                else
                        fputc(ch, f);
        }
        fputc('"', f);
}

static void json_number(FILE *f, bool valid, double v) {
        if (valid && isfinite(v))
                fprintf(f, "%.6g", v);
        else
                fputs("null", f);
}

/* "open_ratio" + "same-cpu" -> open_ratio_same_cpu: one flat key per measured number. */
static void json_key(FILE *f, const Metric *m) {
        char key[80];

        snprintf(key, sizeof(key), "%s%s%s", m->name, m->pinning[0] ? "_" : "", m->pinning);
        for (char *p = key; *p; p++)
                if (*p == '-')
                        *p = '_';
        json_string(f, key);
}

void report_json(FILE *f, const RunInfo *ri) {
        unsigned met = 0, missed = 0, skipped = 0;
        bool first = true;

        fprintf(f, "{\"benchmark\":\"shmbroker-bench\",\"kernel\":");
        json_string(f, ri->kernel);
        fprintf(f, ",\"cpus\":%d,\"quick\":%s,\"iterations\":%u,\"regions\":%u,\"connections\":%u,\"seconds\":",
                ri->n_cpus, ri->quick ? "true" : "false", ri->iterations, ri->regions, ri->connections);
        json_number(f, true, ri->seconds);
        fprintf(f, ",\"loadavg\":");
        json_string(f, ri->loadavg);
        fprintf(f, ",\"daemon\":");
        json_string(f, ri->daemon);
        fprintf(f, ",\"metrics\":[");
        for (size_t i = 0; i < n_metrics; i++) {
                const Metric *m = &metrics[i];
                int ok = metric_met(m);

                if (m->skipped)
                        skipped++;
                else if (ok == 1)
                        met++;
                else if (ok == 0)
                        missed++;
                fprintf(f, "%s{\"name\":", i ? "," : "");
                json_string(f, m->name);
                fprintf(f, ",\"label\":");
                json_string(f, m->label);
                fprintf(f, ",\"pinning\":");
                json_string(f, m->pinning);
                fprintf(f, ",\"unit\":");
                json_string(f, m->unit);
                fprintf(f, ",\"skipped\":%s,\"median\":", m->skipped ? "true" : "false");
                json_number(f, !m->skipped, m->median);
                fprintf(f, ",\"p99\":");
                json_number(f, !m->skipped, m->p99);
                fprintf(f, ",\"floor_median\":");
                json_number(f, !m->skipped && m->has_floor, m->floor_median);
                fprintf(f, ",\"floor_p99\":");
                json_number(f, !m->skipped && m->has_floor, m->floor_p99);
                fprintf(f, ",\"ratio\":");
                json_number(f, !m->skipped && m->has_ratio, m->ratio);
                fprintf(f, ",\"target\":");
                if (m->target_kind == TARGET_NONE)
                        fputs("null", f);
                else
                        fprintf(f, "{\"op\":\"%s\",\"value\":%g}", m->target_kind == TARGET_LE ? "<=" : ">=",
                                m->target);
                fprintf(f, ",\"met\":%s,\"note\":", ok == 1 ? "true" : ok == 0 ? "false" : "null");
                json_string(f, m->note);
                fputc('}', f);
        }
        /* The headline numbers under flat keys, for scripts that compare runs. */
        fprintf(f, "],\"summary\":{");
        for (size_t i = 0; i < n_metrics; i++) {
                const Metric *m = &metrics[i];

                if (m->target_kind == TARGET_NONE)
                        continue;
                fprintf(f, "%s", first ? "" : ",");
                first = false;
                json_key(f, m);
                fputc(':', f);
                json_number(f, !m->skipped, m->has_ratio ? m->ratio : m->median);
        }
        fprintf(f, "},\"targets\":{\"met\":%u,\"missed\":%u,\"skipped\":%u}}\n", met, missed, skipped);
}
