/* SPDX-License-Identifier: MIT */
/*
 * Aligned text tables for the human output of list-like verbs. Column widths
 * depend on every row, so cells are copied in and printed at the end.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct Table Table;

/* headers: n_columns column titles; a title starting with '>' is right-aligned. */
int table_new(Table **ret, size_t n_columns, const char *const *headers);
Table *table_free(Table *t);
/* Copies n_columns cells (NULL prints as "-"). */
int table_add_row(Table *t, const char *const *cells);
int table_print(const Table *t, FILE *f);

static inline void table_freep(Table **t) {
        table_free(*t);
}
