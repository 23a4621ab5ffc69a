/* SPDX-License-Identifier: MIT */
/*
 * Streaming JSON writer: see json.h. Nesting deeper than JSON_DEPTH_MAX is a
 * programming error of the CLI, not an input condition, hence assert().
 */
#include <assert.h>
#include <inttypes.h>

#include "json.h"

void json_write_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p == '"' || *p == '\\') {
                        fputc('\\', f);
                        fputc(*p, f);
                } else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}

/* Comma bookkeeping shared by every value and every key. */
static void json_item(JsonWriter *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->has_items[w->depth])
                fputc(',', w->f);
        w->has_items[w->depth] = true;
}

static void json_open(JsonWriter *w, char c) {
        json_item(w);
        fputc(c, w->f);
        assert(w->depth + 1 < JSON_DEPTH_MAX);
        w->has_items[++w->depth] = false;
}

static void json_close(JsonWriter *w, char c) {
        assert(w->depth > 0 && !w->after_key);
        w->depth--;
        fputc(c, w->f);
}

void json_begin_object(JsonWriter *w) {
        json_open(w, '{');
}

void json_end_object(JsonWriter *w) {
        json_close(w, '}');
}

void json_begin_array(JsonWriter *w) {
        json_open(w, '[');
}

void json_end_array(JsonWriter *w) {
        json_close(w, ']');
}

void json_key(JsonWriter *w, const char *key) {
        assert(!w->after_key);
        json_item(w);
        json_write_string(w->f, key);
        fputc(':', w->f);
        w->after_key = true;
}

void json_string(JsonWriter *w, const char *s) {
        json_item(w);
        json_write_string(w->f, s);
}

void json_uint(JsonWriter *w, uint64_t v) {
        json_item(w);
        fprintf(w->f, "%" PRIu64, v);
}

void json_hex(JsonWriter *w, const uint8_t *data, size_t len) {
        json_item(w);
        fputc('"', w->f);
        for (size_t i = 0; i < len; i++)
                fprintf(w->f, "%02x", data[i]);
        fputc('"', w->f);
}

void json_bool(JsonWriter *w, bool b) {
        json_item(w);
        fputs(b ? "true" : "false", w->f);
}

void json_finish(JsonWriter *w) {
        assert(w->depth == 0);
        fputc('\n', w->f);
}
