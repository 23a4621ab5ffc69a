/* SPDX-License-Identifier: MIT */
/*
 * Test helper for test-cli.py: a client of the public library that opens a
 * region read-only and keeps it mapped, optionally after closing its
 * descriptor (the case mappers must find through /proc/PID/maps alone).
 * Usage: hold-region SOCKET NAME keep|closefd. Prints "ready PID", then
 * holds until its standard input reaches end of file.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shmbroker.h>

int main(int argc, char **argv) {
        shmb_region *r = NULL;
        shmb_conn *c = NULL;
        char buf[64];
        int e;

        if (argc != 4)
                return 2;
        e = shmb_connect(argv[1], &c);
        if (e < 0) {
                printf("connect failed: %s\n", shmb_strerror(e));
                return 1;
        }
        e = shmb_open(c, argv[2], SHMB_READ, 0, &r);
        if (e < 0) {
                printf("open failed: %s\n", shmb_conn_error(c));
                return 1;
        }
        if (strcmp(argv[3], "closefd") == 0)
                close(shmb_region_fd(r));
        printf("ready %d\n", (int)getpid());
        fflush(stdout);
        while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
                ;
        /* With closefd, shmb_close() closes that number again: EBADF, harmless here. */
        shmb_close(r);
        shmb_disconnect(c);
        return 0;
}
