/* SPDX-License-Identifier: MIT */
/*
 * Small macros every module uses: scope-bound cleanup and explicit ownership
 * transfer. Owning locals carry _cleanup_(...) so an early return can never
 * leak; TAKE_FD/TAKE_PTR move ownership out and leave the local disarmed.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Take ownership: return the value and reset the variable to its empty state. */
#define TAKE_GENERIC(var, type, nullvalue)                                     \
        ({                                                                     \
                type *_pvar_ = &(var);                                         \
                type _var_ = *_pvar_;                                          \
                type _nullvalue_ = nullvalue;                                  \
                *_pvar_ = _nullvalue_;                                         \
                _var_;                                                         \
        })
#define TAKE_PTR(ptr) TAKE_GENERIC(ptr, __typeof__(ptr), NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, int, -1)

/* Declares a cleanup helper `name##p` that calls func(*p) when *p is set. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                \
        static inline void func##p(type *p) {                                  \
                if (*p)                                                        \
                        func(*p);                                              \
        }

static inline void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* close() that preserves errno and accepts -1; returns -1 for assignment. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void)close(fd);
                errno = saved;
        }
        return -1;
}
static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)
