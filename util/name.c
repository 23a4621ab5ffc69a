/* SPDX-License-Identifier: MIT */
/*
 * Region name validation. Names arrive from the wire as counted bytes (a
 * protobuf string may carry NUL), end up in logs, in memfd names and in the
 * systemd fd store, so the validator keeps them canonical: one spelling per
 * name, nothing that a path-like consumer could resolve differently. Besides
 * the SPEC rules (1..200 bytes of [A-Za-z0-9._:@/-], no "." or ".." segment)
 * it rejects empty segments, i.e. a leading '/', a trailing '/' and "//":
 * otherwise "a/b", "a//b" and "/a/b" would be distinct regions that print
 * alike to anyone who thinks of them as paths.
 */
#include "util.h"

static bool name_char_is_valid(unsigned char c) {
        return (c >= 'a' && c <= 'z') ||
               (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == ':' || c == '@' || c == '/' || c == '-';
}

static bool name_fail(const char **ret_why, const char *why) {
        if (ret_why)
                *ret_why = why;
        return false;
}

bool name_is_valid(const char *name, size_t len, const char **ret_why) {
        size_t seg_start = 0;

        if (!name || len == 0)
                return name_fail(ret_why, "is empty");
        if (len > SHMB_NAME_MAX)
                return name_fail(ret_why, "is longer than 200 bytes");

        for (size_t i = 0; i < len; i++)
                if (!name_char_is_valid((unsigned char)name[i]))
                        return name_fail(ret_why, "contains a byte outside [A-Za-z0-9._:@/-]");

        /* Walk the segments; i == len closes the last one. */
        for (size_t i = 0; i <= len; i++) {
                size_t seg_len;

                if (i < len && name[i] != '/')
                        continue;

                seg_len = i - seg_start;
                if (seg_len == 0)
                        return name_fail(ret_why, "has an empty segment (leading, trailing or doubled '/')");
                if ((seg_len == 1 && name[seg_start] == '.') ||
                    (seg_len == 2 && name[seg_start] == '.' && name[seg_start + 1] == '.'))
                        return name_fail(ret_why, "has a '.' or '..' segment");

                seg_start = i + 1;
        }

        if (ret_why)
                *ret_why = NULL;
        return true;
}
