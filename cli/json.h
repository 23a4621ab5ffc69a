/* SPDX-License-Identifier: MIT */
/*
 * A tiny streaming JSON writer for --json output. The CLI only ever emits
 * documents it builds itself, so a writer that tracks commas per nesting
 * level is all it needs; no parser, no tree, no dependency.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 16

typedef struct JsonWriter {
        FILE *f;
        unsigned depth;
        bool after_key;                  /* the next value completes a "key": pair */
        bool has_items[JSON_DEPTH_MAX];  /* a comma is due before the next item */
} JsonWriter;

#define JSON_WRITER_INIT(file) ((JsonWriter){ .f = (file) })

void json_begin_object(JsonWriter *w);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w);
void json_end_array(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);
void json_string(JsonWriter *w, const char *s);
void json_uint(JsonWriter *w, uint64_t v);
void json_bool(JsonWriter *w, bool b);
/* Bytes as a string of lowercase hex digit pairs. */
void json_hex(JsonWriter *w, const uint8_t *data, size_t len);
/* Ends the document with a newline. */
void json_finish(JsonWriter *w);

/* Writes s as a quoted JSON string: quotes, backslashes and control bytes escaped. */
void json_write_string(FILE *f, const char *s);
