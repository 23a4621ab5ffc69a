/* SPDX-License-Identifier: MIT */
/*
 * Applies F_ADD_SEALS on a worker thread. F_SEAL_WRITE waits in the kernel
 * (about 150 ms, then EBUSY) while a client pins pages of the region with
 * vmsplice(); doing that on the event loop would let one client stall all
 * others. Completions are delivered on the loop thread through a pipe.
 */
#pragma once

struct event_base;
typedef struct Sealer Sealer;

/* Called on the loop thread with 0 or -errno from F_ADD_SEALS. */
typedef void (*sealer_done_fn)(int result, void *userdata);

int sealer_new(Sealer **ret, struct event_base *base);
/* Joins the worker; pending jobs complete with -ECANCELED. */
Sealer *sealer_free(Sealer *s);
/* Seals a duplicate of fd (the caller keeps fd). Returns 0 or -errno. */
int sealer_submit(Sealer *s, int fd, unsigned seals, sealer_done_fn done, void *userdata);
