/* SPDX-License-Identifier: MIT */
/*
 * Name -> region. An ordered tree keyed by name gives lookups in O(log n)
 * and lets List resume "after" any name even when that name was deleted in
 * between, so listing 100,000 regions can be paged without holding state.
 */
#pragma once

#include <bsd/sys/tree.h>
#include <stdint.h>

#include "region.h"

RB_HEAD(region_tree, Region);

typedef struct Registry {
        struct region_tree by_name;
        uint64_t next_id;
        unsigned n_regions;
        uint64_t total_bytes;
} Registry;

void registry_init(Registry *reg);
/* Destroys every region (daemon shutdown). */
void registry_done(Registry *reg);
Region *registry_find(Registry *reg, const char *name);
/* First region whose name is >= key, or > key. */
Region *registry_lower_bound(Registry *reg, const char *key);
Region *registry_upper_bound(Registry *reg, const char *key);
Region *registry_next(Registry *reg, Region *r);
/* Creates and inserts. Same returns as region_new(); the name must be free. */
int registry_create(Registry *reg, const RegionParams *p, Region **ret, char *errbuf, size_t errlen);
/* Inserts a region rebuilt from the fd store; its name must be free. */
void registry_adopt(Registry *reg, Region *r);
/*
 * Removes the name and frees the region: handles still pointing at it are
 * detached, an owner link is cut. Mappings in clients stay valid.
 */
void registry_destroy(Registry *reg, Region *r);
