/* SPDX-License-Identifier: MIT */
/*
 * Aligned text tables: see table.h. Cells live in one flat array, row-major,
 * with the header as row 0; widths are computed once at print time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "table.h"

struct Table {
        size_t n_columns;
        size_t n_cells;
        size_t n_allocated;
        char **cells;
        bool *right;            /* per column: right-aligned (numbers) */
};

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->right);
        free(t);
        return NULL;
}

/* Makes room for one more row. */
static int table_reserve_row(Table *t) {
        size_t n;
        char **p;

        if (t->n_cells + t->n_columns <= t->n_allocated)
                return 0;
        n = MAX(t->n_allocated * 2, t->n_columns * 16);
        p = reallocarray(t->cells, n, sizeof(*p));
        if (!p)
                return -ENOMEM;
        t->cells = p;
        t->n_allocated = n;
        return 0;
}

/* cells[i] + skip[i] is copied; a failure drops the partial row so the table stays rectangular. */
static int table_add_cells(Table *t, const char *const *cells, const bool *skip) {
        int r;

        r = table_reserve_row(t);
        if (r < 0)
                return r;

        for (size_t i = 0; i < t->n_columns; i++) {
                char *s = strdup(cells[i] ? cells[i] + (skip && skip[i]) : "-");

                if (!s) {
                        while (i-- > 0)
                                free(t->cells[--t->n_cells]);
                        return -ENOMEM;
                }
                t->cells[t->n_cells++] = s;
        }
        return 0;
}

int table_new(Table **ret, size_t n_columns, const char *const *headers) {
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->n_columns = n_columns;
        t->right = calloc(n_columns, sizeof(*t->right));
        if (!t->right)
                return -ENOMEM;
        for (size_t i = 0; i < n_columns; i++)
                t->right[i] = headers[i][0] == '>';

        r = table_add_cells(t, headers, t->right);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(t);
        return 0;
}

int table_add_row(Table *t, const char *const *cells) {
        return table_add_cells(t, cells, NULL);
}

int table_print(const Table *t, FILE *f) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));

        if (!width)
                return -ENOMEM;

        for (size_t i = 0; i < t->n_cells; i++)
                width[i % t->n_columns] = MAX(width[i % t->n_columns], strlen(t->cells[i]));

        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns;
                bool last = col == t->n_columns - 1;
                int w = (int)width[col];

                if (t->right[col])
                        fprintf(f, "%*s", w, t->cells[i]);
                else if (last)
                        /* No trailing blanks after the last column. */
                        fputs(t->cells[i], f);
                else
                        fprintf(f, "%-*s", w, t->cells[i]);
                fputs(last ? "\n" : "  ", f);
        }
        return 0;
}
