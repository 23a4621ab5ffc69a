/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzzer inputs without libFuzzer, so every corpus runs as an
 * ordinary test under any compiler (systemd's src/fuzz/fuzz-main.c does the
 * same). Arguments are files or directories of files; a crash or abort in
 * LLVMFuzzerTestOneInput fails the test. An argument that cannot be read, or
 * a run with no input at all, is a failure too: a silently empty corpus would
 * test nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads a whole file into a malloc'ed buffer (non-NULL even when empty). */
static int read_file(int dirfd, const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t done = 0;

        fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;

        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (done < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                done += (size_t)n;
        }

        *ret = TAKE_PTR(buf);
        *ret_size = done;
        return 0;
}

static int run_one(int dirfd, const char *path, const char *shown) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        int r;

        r = read_file(dirfd, path, &data, &size);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", shown, strerror(-r));
                return r;
        }
        printf("%s (%zu bytes)\n", shown, size);
        fflush(stdout);
        (void)LLVMFuzzerTestOneInput(data, size);
        return 0;
}

static int compare_names(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *de) {
        return de->d_name[0] != '.';
}

int main(int argc, char *argv[]) {
        unsigned runs = 0;
        int failed = 0;

        for (int i = 1; i < argc; i++) {
                struct dirent **entries = NULL;
                _cleanup_close_ int dfd = -1;
                int n;

                dfd = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0) {
                        if (errno != ENOTDIR) {
                                fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                                failed = 1;
                                continue;
                        }
                        if (run_one(AT_FDCWD, argv[i], argv[i]) < 0)
                                failed = 1;
                        else
                                runs++;
                        continue;
                }

                /* Sorted, so a failing input is reproducible by position as well as name. */
                n = scandir(argv[i], &entries, skip_dots, compare_names);
                if (n < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        failed = 1;
                        continue;
                }
                for (int j = 0; j < n; j++) {
                        char shown[4096];

                        snprintf(shown, sizeof(shown), "%s/%s", argv[i], entries[j]->d_name);
                        if (run_one(dfd, entries[j]->d_name, shown) < 0)
                                failed = 1;
                        else
                                runs++;
                        free(entries[j]);
                }
                free(entries);
        }

        printf("%u inputs\n", runs);
        if (runs == 0) {
                fprintf(stderr, "no inputs\n");
                return EXIT_FAILURE;
        }
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
