/* SPDX-License-Identifier: MIT */
/*
 * memfd helpers. Seals are the one restriction a client cannot undo, so the
 * daemon, the CLI and the tests all print them the same way.
 */
#include <fcntl.h>
#include <stdio.h>

#include "macro.h"
#include "util.h"

/* Debian 12's glibc and uapi headers predate these (Linux 5.1 and 6.3). */
static const struct {
        unsigned bit;
        const char *name;
} seal_names[] = {
        { F_SEAL_SEAL, "seal" },
        { F_SEAL_SHRINK, "shrink" },
        { F_SEAL_GROW, "grow" },
        { F_SEAL_WRITE, "write" },
        { F_SEAL_FUTURE_WRITE, "future-write" },
        { F_SEAL_EXEC, "exec" },
};

/* Appends to buf at *pos; output is cut short (still NUL-terminated) when buf is too small. */
static void seals_append(char *buf, size_t buflen, size_t *pos, const char *sep, const char *word, unsigned hex) {
        int n;

        if (*pos >= buflen)
                return;
        if (word)
                n = snprintf(buf + *pos, buflen - *pos, "%s%s", sep, word);
        else
                n = snprintf(buf + *pos, buflen - *pos, "%s0x%x", sep, hex);
        if (n > 0)
                *pos += (size_t)n;
}

char *seals_format(unsigned seals, char *buf, size_t buflen) {
        size_t pos = 0;
        unsigned known = 0;

        if (!buf || buflen == 0)
                return buf;

        buf[0] = '\0';
        if (seals == 0) {
                seals_append(buf, buflen, &pos, "", "none", 0);
                return buf;
        }

        for (size_t i = 0; i < ELEMENTSOF(seal_names); i++) {
                known |= seal_names[i].bit;
                if (seals & seal_names[i].bit)
                        seals_append(buf, buflen, &pos, pos > 0 ? "," : "", seal_names[i].name, 0);
        }
        if (seals & ~known)
                seals_append(buf, buflen, &pos, pos > 0 ? "," : "", NULL, seals & ~known);

        return buf;
}
