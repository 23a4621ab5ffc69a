/* SPDX-License-Identifier: MIT */
/*
 * Error reporting of libshmbroker: codes are negative errno values, and the
 * text for the codes this library gives a specific meaning to comes from a
 * static table so that callers print the broker's meaning ("quota exceeded"),
 * not the kernel's ("Disk quota exceeded"). Messages with the cause and the
 * numbers live per connection (shmb_conn_error()); for shmb_connect(), which
 * has no connection to hold one, per thread.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client-internal.h"

__thread char connect_error[CONN_ERROR_MAX];

int conn_errorf(shmb_conn *c, int err, const char *fmt, ...) {
        va_list ap;

        if (!c)
                return err;
        va_start(ap, fmt);
        (void)vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
        return err;
}

int connect_errorf(int err, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(connect_error, sizeof(connect_error), fmt, ap);
        va_end(ap);
        return err;
}

static const struct {
        int code;
        const char *text;
} error_table[] = {
        { EINVAL, "invalid argument" },
        { ENOENT, "no such region or socket" },
        { EEXIST, "a region of that name exists" },
        { EACCES, "permission denied" },
        { EDQUOT, "quota exceeded" },
        { ENOSPC, "daemon limit reached" },
        { ENOMEM, "out of memory, huge pages or file descriptors" },
        { EPROTONOSUPPORT, "protocol version not supported by the daemon" },
        { EPROTO, "protocol violation or unsafe handle from the daemon" },
        { ETIMEDOUT, "timed out waiting for the region" },
        { EOPNOTSUPP, "not supported by the daemon" },
        { EBUSY, "region in the wrong state for this request" },
        { EIO, "internal daemon error" },
        { ENOTCONN, "not connected to the daemon" },
        { ECONNREFUSED, "the daemon is not listening on the socket" },
        { ENAMETOOLONG, "socket path too long" },
};

static __thread char strerror_buf[64];

_public_ const char *shmb_strerror(int err) {
        const char *s;

        if (err == 0)
                return "success";
        if (err == INT_MIN)
                goto unknown;
        if (err < 0)
                err = -err;

        for (size_t i = 0; i < ELEMENTSOF(error_table); i++)
                if (error_table[i].code == err)
                        return error_table[i].text;

        /* strerrordesc_np() is thread-safe and returns static text. */
        s = strerrordesc_np(err);
        if (s)
                return s;
unknown:
        (void)snprintf(strerror_buf, sizeof(strerror_buf), "unknown error %d", err);
        return strerror_buf;
}
