/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Sets close-on-exec on every open descriptor from first to last (both
 * included) with one close_range(CLOSE_RANGE_CLOEXEC) call (Linux 5.11+),
 * else with fcntl() on each. Descriptors in the range that are not open are
 * skipped in both cases. Returns 0 or -errno.
 */
int fd_cloexec_range(int first, int last);
