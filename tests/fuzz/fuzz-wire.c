/* SPDX-License-Identifier: MIT */
/*
 * The daemon unpacks every Request a client sends and the client library
 * every Response: both must survive arbitrary bytes. A decoded message is
 * repacked with wire_pack(), which must succeed within the size protobuf-c
 * predicted, and repacking what that produced must give the same bytes.
 *
 * Re-decoding the first repack is allowed to fail: protobuf-c 1.4.1 accepts
 * an unknown field numbered 0 when its tag is encoded in more bytes than
 * needed ("80 00"), keeps it, and writes it back as "00", which it then
 * rejects. Nothing in shmbroker repacks a message it received, so that quirk
 * is harmless here; see fuzz corpus wire/regress-field-zero.
 *
 * The hand-written codec (proto/wire-fast.c) is held to protobuf-c: whatever
 * it decodes, protobuf-c decodes to the same fields (compared by packing
 * both), a request it decodes is canonical, and what it packs is
 * byte for byte what protobuf-c packs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire-fast.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pack1[WIRE_MAX_PACKET * 2], pack2[WIRE_MAX_PACKET * 2];

static void check_repack(ProtobufCMessage *m) {
        ProtobufCMessage *again;
        size_t len1 = 0, len2 = 0;

        if (wire_pack(m, pack1, sizeof(pack1), &len1) < 0)
                abort();
        if (len1 != protobuf_c_message_get_packed_size(m))
                abort();
        /* Too small a buffer is refused, never overrun. */
        if (len1 > 0 && wire_pack(m, pack2, len1 - 1, &len2) >= 0)
                abort();

        again = protobuf_c_message_unpack(m->descriptor, NULL, len1, pack1);
        if (!again)
                return;
        if (wire_pack(again, pack2, sizeof(pack2), &len2) < 0)
                abort();
        protobuf_c_message_free_unpacked(again, NULL);
        if (len1 != len2 || memcmp(pack1, pack2, len1) != 0)
                abort();
}

/* Equal messages pack to equal bytes. */
static void check_same(const ProtobufCMessage *x, const ProtobufCMessage *y) {
        size_t n1, n2;

        if (wire_pack(x, pack1, sizeof(pack1), &n1) < 0 || wire_pack(y, pack2, sizeof(pack2), &n2) < 0)
                abort();
        if (n1 != n2 || memcmp(pack1, pack2, n1) != 0)
                abort();
}

/* The fast packers agree with protobuf-c wherever they take a message. */
static void check_fast_pack(const ProtobufCMessage *m, bool request) {
        size_t n1, n2;
        int r;

        r = request ? wire_pack_request_fast((const WireRequest *)m, pack1, sizeof(pack1), &n1)
                    : wire_pack_response_fast((const WireResponse *)m, pack1, sizeof(pack1), &n1);
        if (r == -ENOTSUP)
                return;
        if (r < 0 || wire_pack(m, pack2, sizeof(pack2), &n2) < 0 || n1 != n2 || memcmp(pack1, pack2, n1) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static WireFastRequest fast_req;
        Shmbroker__V1__Request *req;
        Shmbroker__V1__Response *resp, *fast_resp = NULL;
        bool fast;

        /* Nobody unpacks more than one packet's worth. */
        if (size > WIRE_MAX_PACKET)
                return 0;

        req = shmbroker__v1__request__unpack(NULL, size, data);
        fast = wire_unpack_request_fast(data, size, &fast_req) >= 0;
        if (fast && (!req || protobuf_c_message_get_packed_size(&req->base) != size))
                abort();
        if (req) {
                check_repack(&req->base);
                check_fast_pack(&req->base, true);
                if (fast)
                        check_same(&req->base, &fast_req.req.base);
                shmbroker__v1__request__free_unpacked(req, NULL);
        }

        resp = shmbroker__v1__response__unpack(NULL, size, data);
        if (wire_unpack_response_fast(data, size, &fast_resp) >= 0 && !resp)
                abort();
        if (resp) {
                (void)wire_status_name(resp->status);
                (void)wire_status_to_errno(resp->status);
                check_repack(&resp->base);
                check_fast_pack(&resp->base, false);
                if (fast_resp)
                        check_same(&resp->base, &fast_resp->base);
                shmbroker__v1__response__free_unpacked(resp, NULL);
        }
        wire_response_free(fast_resp);

        return 0;
}
