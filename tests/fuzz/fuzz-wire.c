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
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Shmbroker__V1__Request *req;
        Shmbroker__V1__Response *resp;

        /* Nobody unpacks more than one packet's worth. */
        if (size > WIRE_MAX_PACKET)
                return 0;

        req = shmbroker__v1__request__unpack(NULL, size, data);
        if (req) {
                check_repack(&req->base);
                shmbroker__v1__request__free_unpacked(req, NULL);
        }

        resp = shmbroker__v1__response__unpack(NULL, size, data);
        if (resp) {
                (void)wire_status_name(resp->status);
                (void)wire_status_to_errno(resp->status);
                check_repack(&resp->base);
                shmbroker__v1__response__free_unpacked(resp, NULL);
        }

        return 0;
}
