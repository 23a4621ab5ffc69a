/* SPDX-License-Identifier: MIT */
/*
 * Hand-written encoder and decoder for the responses that carry a region:
 * create, open, stat, mapped and publish replies (and the bodiless ones:
 * close, delete, and every error). protobuf-c's generic code spends some
 * 5,000 instructions packing, and as many unpacking, one such response:
 * more than the rest of an open. These produce, and accept, exactly the
 * bytes protobuf-c does for the same message; tests/unit/test-wire-fast.c
 * and the fuzz-wire target compare the two on random messages. Anything
 * outside that subset is left to protobuf-c (-ENOTSUP), so the fast paths
 * never change what is sent or understood.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/*
 * Packs resp into buf as protobuf_c_message_pack() would. -ENOTSUP when resp
 * has a body this encoder does not cover or unknown fields (use wire_pack());
 * -EMSGSIZE when it does not fit in bufsize.
 */
int wire_pack_response_fast(const WireResponse *resp, uint8_t *buf, size_t bufsize, size_t *ret_len);

/*
 * Decodes a packet into a response allocated in one block, as
 * shmbroker__v1__response__unpack() would. -ENOTSUP when the packet is
 * outside the subset this decoder accepts: other bodies, unknown fields,
 * fields repeated or out of order, values protobuf-c would truncate (use
 * protobuf-c, which also rejects what is malformed). -ENOMEM. Free the
 * result with wire_response_free().
 */
int wire_unpack_response_fast(const uint8_t *buf, size_t len, WireResponse **ret);

/* Frees a response from either decoder. NULL is fine. */
void wire_response_free(WireResponse *resp);

/* Requests: open, create, close, delete and stat, with their Request.release list. */
#define WIRE_FAST_MAX_RELEASES 64

typedef struct WireFastRequest {
        WireRequest req;
        union {
                Shmbroker__V1__CreateRequest create;
                Shmbroker__V1__OpenRequest open;
                Shmbroker__V1__CloseRequest close;
                Shmbroker__V1__DeleteRequest del;
                Shmbroker__V1__StatRequest stat;
        } u;
        uint64_t release[WIRE_FAST_MAX_RELEASES];
        char *strings;
        char text[WIRE_MAX_PACKET + 1];
} WireFastRequest;

/* Packs req as protobuf_c_message_pack() would; -ENOTSUP for other bodies, -EMSGSIZE. */
int wire_pack_request_fast(const WireRequest *req, uint8_t *buf, size_t bufsize, size_t *ret_len);

/*
 * Decodes a packet into f (f->req points into f and buf is not kept), as
 * shmbroker__v1__request__unpack() would, and checks that the packet is the
 * canonical encoding of what it decoded. -ENOTSUP for anything else: use
 * protobuf-c, which also rejects what is malformed.
 */
int wire_unpack_request_fast(const uint8_t *buf, size_t len, WireFastRequest *f);
