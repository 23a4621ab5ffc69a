/* SPDX-License-Identifier: MIT */
/*
 * Quota queries: a uid's usage against its limits (SPEC 4). A module of its
 * own so the connection code stays about transport.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"

static void quota_from_wire(const Shmbroker__V1__QuotaUsage *e, const Shmbroker__V1__QuotaReply *reply,
                            struct shmb_quota *ret) {
        *ret = (struct shmb_quota){
                .uid = e->uid,
                .locked_bytes = e->locked_bytes,
                .locked_limit = e->locked_limit,
                .total_bytes = e->total_bytes,
                .total_limit = e->total_limit,
                .regions = e->regions,
                .regions_limit = e->regions_limit,
                .connections = e->connections,
                .connections_limit = e->connections_limit,
                .handles = e->handles,
                .handles_limit = e->handles_limit,
                .global_locked_bytes = reply->global_locked_bytes,
                .global_locked_limit = reply->global_locked_limit,
        };
}

/* One Quota call; the reply is returned for the caller to copy out under the lock. */
static int quota_call(shmb_conn *c, uint32_t uid, bool all, WireResponse **ret) {
        Shmbroker__V1__QuotaRequest q = SHMBROKER__V1__QUOTA_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        int r;

        q.uid = uid;
        q.all = all;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_QUOTA;
        req.quota = &q;
        r = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_QUOTA, ret, NULL);
        if (r >= 0 && !(*ret)->quota)
                r = conn_errorf(c, -EPROTO, "the daemon's quota reply has no body");
        return r;
}

_public_ int shmb_quota(shmb_conn *c, uint32_t uid, struct shmb_quota *ret) {
        _cleanup_response_ WireResponse *resp = NULL;
        struct shmb_quota out;
        int r;

        if (!c)
                return -EINVAL;
        (void)pthread_mutex_lock(&c->lock);
        r = ret ? 0 : conn_errorf(c, -EINVAL, "no place to return the quota");
        if (r >= 0)
                r = quota_call(c, uid, false, &resp);
        if (r >= 0 && (resp->quota->n_entries != 1 || resp->quota->entries[0]->uid != uid))
                r = conn_errorf(c, -EPROTO, "the daemon answered a quota query for uid %u with %zu entries",
                                (unsigned)uid, resp->quota->n_entries);
        if (r >= 0)
                quota_from_wire(resp->quota->entries[0], resp->quota, &out);
        (void)pthread_mutex_unlock(&c->lock);
        if (r >= 0)
                *ret = out;
        return r;
}

_public_ int shmb_quota_list(shmb_conn *c, shmb_quota_fn fn, void *userdata) {
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_free_ struct shmb_quota *all = NULL;
        size_t n = 0;
        int r;

        if (!c)
                return -EINVAL;
        (void)pthread_mutex_lock(&c->lock);
        r = fn ? 0 : conn_errorf(c, -EINVAL, "no callback given");
        if (r >= 0)
                r = quota_call(c, 0, true, &resp);
        if (r >= 0 && resp->quota->n_entries > 0) {
                n = resp->quota->n_entries;
                all = calloc(n, sizeof(*all));
                if (!all)
                        r = conn_errorf(c, -ENOMEM, "out of memory for %zu quota entries", n);
        }
        for (size_t i = 0; r >= 0 && i < n; i++)
                quota_from_wire(resp->quota->entries[i], resp->quota, &all[i]);
        (void)pthread_mutex_unlock(&c->lock);
        /* No lock is held while calling back: fn may call the library. */
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = fn(&all[i], userdata);
                if (r != 0)
                        return r;
        }
        return r < 0 ? r : 0;
}
