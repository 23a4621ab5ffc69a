/* SPDX-License-Identifier: MIT */
/*
 * The configuration file, shmbroker.conf(5): an INI file read with inih
 * (Debian's libinih), strictly. An unknown section or key, a bad number or
 * size, an unknown user or group, or limits that contradict each other
 * (a per-uid quota above the matching global cap) is an error naming
 * FILE:LINE, so a typo never silently leaves a limit at its default.
 */
#pragma once

#include <stddef.h>

#include "quota.h"
#include "server.h"

/*
 * Reads path into limits and quota (which hold the defaults on entry and
 * keep them for keys the file does not set). Returns 0, or -errno with
 * "FILE:LINE: problem" (or "FILE: problem") in err.
 */
int config_parse_file(const char *path, Limits *limits, QuotaConfig *quota, char *err, size_t errlen);
/*
 * The --config argument, found before option parsing so that the other
 * options can override the file wherever they appear; NULL if none.
 */
const char *config_path_from_args(int argc, char **argv);
/* A group name, or a number, to a gid; -ENOENT for an unknown name. */
int config_resolve_group(const char *name, gid_t *ret);
