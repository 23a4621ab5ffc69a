/* SPDX-License-Identifier: MIT */
/*
 * Admin queries of the library: who holds a region (shmb_holders()) and the
 * daemon's counters (shmb_stats()). Everything received is bounded and
 * copied into fixed-size public structs, so a hostile daemon can make a
 * call fail but never overflow anything.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "util.h"

/* Copies at most size-1 bytes and terminates. */
static void copy_text(char *dst, size_t size, const char *src) {
        size_t n = src ? strnlen(src, size - 1) : 0;

        memcpy(dst, src ?: "", n);
        dst[n] = '\0';
}

_public_ int shmb_holders(shmb_conn *c, const char *name, struct shmb_holder **ret, size_t *ret_n,
                          size_t *ret_total) {
        Shmbroker__V1__HoldersRequest q = SHMBROKER__V1__HOLDERS_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        _cleanup_free_ struct shmb_holder *list = NULL;
        const Shmbroker__V1__HoldersReply *reply = NULL;
        size_t n = 0;
        int r;

        if (!c)
                return -EINVAL;
        (void)pthread_mutex_lock(&c->lock);
        r = conn_check_name(c, name);
        if (r >= 0 && (!ret || !ret_n))
                r = conn_errorf(c, -EINVAL, "no place to return the holders");
        if (r >= 0) {
                q.name = (char *)name;
                req.body_case = SHMBROKER__V1__REQUEST__BODY_HOLDERS;
                req.holders = &q;
                r = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_HOLDERS, &resp, NULL);
        }
        if (r >= 0) {
                reply = resp->holders;
                if (!reply)
                        r = conn_errorf(c, -EPROTO, "the daemon's holders reply is empty");
        }
        if (r >= 0) {
                n = reply->n_holders;
                /* One more than needed so an empty answer is still a valid allocation. */
                list = calloc(n + 1, sizeof(*list));
                if (!list)
                        r = conn_errorf(c, -ENOMEM, "out of memory for %zu holders", n);
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const Shmbroker__V1__Holder *w = reply->holders[i];
                struct shmb_holder *h = &list[i];

                h->handle = w->handle;
                h->connection = w->connection;
                h->access = (int)w->access;
                h->creator = w->creator;
                h->gone = w->gone;
                h->verified = w->verified;
                h->pid = w->pid;
                h->uid = w->uid;
                h->gid = w->gid;
                copy_text(h->comm, sizeof(h->comm), w->comm);
                copy_text(h->cmdline, sizeof(h->cmdline), w->cmdline);
        }
        (void)pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r;
        if (ret_total)
                *ret_total = MAX((size_t)reply->total, n);
        *ret_n = n;
        *ret = TAKE_PTR(list);
        return 0;
}

static void counters_copy(struct shmb_counter *dst, size_t *ret_n, Shmbroker__V1__Counter **src, size_t n) {
        n = MIN(n, (size_t)SHMB_COUNTERS_MAX);
        for (size_t i = 0; i < n; i++) {
                copy_text(dst[i].name, sizeof(dst[i].name), src[i]->name);
                dst[i].value = src[i]->value;
        }
        *ret_n = n;
}

_public_ int shmb_stats(shmb_conn *c, struct shmb_stats *ret) {
        Shmbroker__V1__StatsRequest q = SHMBROKER__V1__STATS_REQUEST__INIT;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        _cleanup_response_ WireResponse *resp = NULL;
        const Shmbroker__V1__StatsReply *w;
        int r;

        if (!c)
                return -EINVAL;
        (void)pthread_mutex_lock(&c->lock);
        if (!ret)
                r = conn_errorf(c, -EINVAL, "no place to return the counters");
        else {
                req.body_case = SHMBROKER__V1__REQUEST__BODY_STATS;
                req.stats = &q;
                r = conn_call(c, &req, SHMBROKER__V1__RESPONSE__BODY_STATS, &resp, NULL);
        }
        if (r >= 0 && !resp->stats)
                r = conn_errorf(c, -EPROTO, "the daemon's stats reply is empty");
        if (r >= 0) {
                w = resp->stats;
                *ret = (struct shmb_stats){
                        .uptime_usec = w->uptime_usec,
                        .connections = w->connections,
                        .regions = w->regions,
                        .connections_total = w->connections_total,
                        .bytes = w->bytes,
                        .locked_bytes = w->locked_bytes,
                        .requests = w->requests,
                        .errors = w->errors,
                        .protocol_violations = w->protocol_violations,
                        .subscribers = w->subscribers,
                        .events = w->events,
                        .events_dropped = w->events_dropped,
                };
                counters_copy(ret->requests_by_type, &ret->n_requests_by_type, w->requests_by_type,
                              w->n_requests_by_type);
                counters_copy(ret->errors_by_status, &ret->n_errors_by_status, w->errors_by_status,
                              w->n_errors_by_status);
        }
        (void)pthread_mutex_unlock(&c->lock);
        return r;
}
