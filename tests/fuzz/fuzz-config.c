/* SPDX-License-Identifier: MIT */
/*
 * The configuration parser (daemon/config-file.c) on arbitrary file
 * contents. The input goes into a memfd that the parser opens by its
 * /proc/self/fd path, exactly as it opens a real file; a bad file must only
 * ever produce an error message, and the parser must free what it built.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Limits limits = LIMITS_DEFAULT;
        QuotaConfig quota;
        char err[1024], path[64];
        int fd;

        fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (size > 0 && write(fd, data, size) != (ssize_t)size) {
                close(fd);
                return 0;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        quota_config_init(&quota);
        (void)config_parse_file(path, &limits, &quota, err, sizeof(err));
        quota_config_done(&quota);
        close(fd);
        return 0;
}
