/* SPDX-License-Identifier: MIT */
/*
 * The registry owns every Region. Destruction goes through one function so
 * that the three ways a region ends (delete, owner gone, last handle gone)
 * release the same things in the same order.
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "fdstore.h"
#include "publish.h"
#include "rbtree.h"
#include "registry.h"

static int region_cmp(const Region *a, const Region *b) {
        return strcmp(a->name, b->name);
}

RBTREE_GENERATE_STATIC(region_tree, Region, by_name, region_cmp)

void registry_init(Registry *reg) {
        RB_INIT(&reg->by_name);
        reg->next_id = 1;
        reg->n_regions = 0;
        reg->total_bytes = 0;
}

void registry_done(Registry *reg) {
        Region *r;

        while ((r = RB_MIN(region_tree, &reg->by_name)))
                registry_destroy(reg, r);
}

Region *registry_find(Registry *reg, const char *name) {
        Region key = { .name = (char *)name };

        return RB_FIND(region_tree, &reg->by_name, &key);
}

Region *registry_lower_bound(Registry *reg, const char *key) {
        Region k = { .name = (char *)key };

        return RB_NFIND(region_tree, &reg->by_name, &k);
}

Region *registry_upper_bound(Registry *reg, const char *key) {
        Region *r = registry_lower_bound(reg, key);

        if (r && strcmp(r->name, key) == 0)
                r = RB_NEXT(region_tree, &reg->by_name, r);
        return r;
}

Region *registry_next(Registry *reg, Region *r) {
        return RB_NEXT(region_tree, &reg->by_name, r);
}

int registry_create(Registry *reg, const RegionParams *p, Region **ret, char *errbuf, size_t errlen) {
        Region *r = NULL;
        int e;

        e = region_new(&r, p, reg->next_id, errbuf, errlen);
        if (e != 0)
                return e;
        reg->next_id++;
        RB_INSERT(region_tree, &reg->by_name, r);
        reg->n_regions++;
        reg->total_bytes += r->size;
        *ret = r;
        return 0;
}

void registry_adopt(Registry *reg, Region *r) {
        RB_INSERT(region_tree, &reg->by_name, r);
        reg->n_regions++;
        reg->total_bytes += r->size;
}

void registry_destroy(Registry *reg, Region *r) {
        Handle *h;

        fdstore_region_removed(r);
        publish_region_gone(r);
        RB_REMOVE(region_tree, &reg->by_name, r);
        reg->n_regions--;
        reg->total_bytes -= r->size;
        while ((h = LIST_FIRST(&r->handles))) {
                LIST_REMOVE(h, region_link);
                h->region = NULL;
        }
        r->n_handles = 0;
        if (r->owner) {
                LIST_REMOVE(r, owner_link);
                r->owner = NULL;
        }
        region_free(r);
}
