/* SPDX-License-Identifier: MIT */
/*
 * The BSD red-black tree macros from libbsd (header-only). libbsd leaves
 * __unused undefined, which RB_GENERATE_STATIC needs, so generate static
 * trees through this wrapper.
 */
#pragma once

#include <bsd/sys/tree.h>

#define RBTREE_GENERATE_STATIC(name, type, field, cmp)                         \
        RB_GENERATE_INTERNAL(name, type, field, cmp, __attribute__((unused)) static)
