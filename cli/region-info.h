/* SPDX-License-Identifier: MIT */
/*
 * How the CLI spells region attributes: the names of sharing modes,
 * lifetimes, page sizes and flags (parsed from options and printed back the
 * same way), and the three renderings of a struct shmb_region_info: a table
 * row, "key: value" lines and a JSON object. Keeping them together keeps the
 * human and the JSON output describing the same attributes.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shmbroker.h"

typedef struct JsonWriter JsonWriter;
typedef struct Table Table;

/* Room for any name these functions write into buf, e.g. "unknown--2147483648". */
#define REGION_NAME_MAX 32

const char *sharing_to_string(int sharing, char buf[static REGION_NAME_MAX]);
int sharing_from_string(const char *s);          /* SHMB_* or -EINVAL */
const char *lifetime_to_string(int lifetime, char buf[static REGION_NAME_MAX]);
int lifetime_from_string(const char *s);         /* SHMB_* or -EINVAL */
/* "4K", "2M", "1G", "thp"; other sizes as size_format() writes them. */
const char *page_size_to_string(uint64_t page_size, char buf[static REGION_NAME_MAX]);
/* Accepts 4k, 2M, 1G (any spelling size_parse() takes) and "thp"; -EINVAL otherwise. */
int page_size_from_string(const char *s, uint64_t *ret);

/* User name of uid, or the number; cached for repeated lookups. */
const char *user_to_string(uint32_t uid, char buf[static REGION_NAME_MAX]);
/* ISO 8601 local time with offset: 2025-01-31T14:05:09+01:00. */
#define TIMESTAMP_FORMAT_MAX 64
const char *timestamp_format(uint64_t usec, char *buf, size_t len);

/* Columns of region_info_table_row(), for table_new(). */
#define REGION_TABLE_COLUMNS 9
extern const char *const region_table_headers[REGION_TABLE_COLUMNS];
int region_info_table_row(Table *t, const struct shmb_region_info *info);
/* Every attribute as aligned "key: value" lines. */
void region_info_show(FILE *f, const struct shmb_region_info *info);
/* The region object documented in shmbrokerctl(1). */
void region_info_json(JsonWriter *w, const struct shmb_region_info *info);
