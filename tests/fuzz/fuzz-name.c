/* SPDX-License-Identifier: MIT */
/*
 * name_is_valid() on arbitrary bytes: it sees names straight off the wire.
 * Beyond not crashing, an accepted name must satisfy the rules independently
 * rechecked here, so a validator bug that lets a bad name through aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *name = (const char *)data, *why = NULL;
        size_t seg = 0;

        if (!name_is_valid(name, size, &why)) {
                if (!why || why[0] == '\0')
                        abort();
                return 0;
        }

        if (size == 0 || size > SHMB_NAME_MAX)
                abort();
        if (memchr(name, '\0', size) || name[0] == '/' || name[size - 1] == '/')
                abort();
        for (size_t i = 0; i <= size; i++) {
                if (i < size && name[i] != '/') {
                        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@-", name[i]))
                                abort();
                        continue;
                }
                if (i == seg)
                        abort();
                if ((i - seg == 1 && name[seg] == '.') || (i - seg == 2 && memcmp(name + seg, "..", 2) == 0))
                        abort();
                seg = i + 1;
        }
        return 0;
}
