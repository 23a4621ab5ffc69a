/* SPDX-License-Identifier: MIT */
/*
 * The hand-written codec of proto/wire-fast.c against protobuf-c, on random
 * messages: every response and request it covers must pack to protobuf-c's
 * bytes exactly, decode to the same fields (compared by packing both with
 * protobuf-c), and refuse (-ENOTSUP) only what it documents. Then random
 * damage to those packets: whatever the fast decoder accepts, protobuf-c
 * must accept with the same fields, and for requests it must be canonical.
 *
 * SHMB_WRITE_CORPUS=DIR writes some of the packets as fuzz-wire seeds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "tap.h"
#include "wire-fast.h"

#define ROUNDS 100000

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void) {
        /* xorshift64*: reproducible, which a failing seed needs */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1du;
}

/* Values that hit every varint length and the edges. */
static uint64_t rnd_u64(void) {
        switch (rnd() % 6) {
        case 0:
                return 0;
        case 1:
                return rnd() % 128;
        case 2:
                return UINT64_MAX - rnd() % 3;
        case 3:
                return UINT64_C(1) << (rnd() % 64);
        default:
                return rnd() >> (rnd() % 64);
        }
}

static uint32_t rnd_u32(void) {
        return (uint32_t)(rnd() % 4 == 0 ? UINT32_MAX - rnd() % 2 : rnd_u64());
}

/* Mostly small enum values; now and then a negative one (ten bytes on the wire, refused by the fast decoder). */
static int rnd_enum(bool *negative) {
        int v = rnd() % 50 == 0 ? -(int)(rnd() % 1000) - 1 : (int)(rnd() % 5);

        if (v < 0)
                *negative = true;
        return v;
}

static char *rnd_string(char *buf, size_t max) {
        size_t n = rnd() % 4 == 0 ? 0 : rnd() % max;

        for (size_t i = 0; i < n; i++)
                buf[i] = (char)(1 + rnd() % 255); /* no NUL: C strings */
        buf[n] = 0;
        return buf;
}

static char name_buf[300], note_buf[300], error_buf[600];

static void rnd_region(WireRegion *w, bool *negative) {
        shmbroker__v1__region__init(w);
        w->name = rnd_string(name_buf, sizeof(name_buf));
        w->id = rnd_u64();
        w->size = rnd_u64();
        w->page_size = rnd_u64();
        w->sharing = rnd_enum(negative);
        w->lifetime = rnd_enum(negative);
        w->uid = rnd_u32();
        w->gid = rnd_u32();
        w->mode = rnd_u32();
        w->flags = rnd_u32();
        w->seals = rnd_u32();
        w->created_usec = rnd_u64();
        w->holders = rnd_u32();
        w->published = rnd() % 2;
        w->restart_safe = rnd() % 2;
        w->locked_bytes = rnd_u64();
        w->resident_bytes = rnd_u64();
        w->requested_size = rnd_u64();
        w->huge_page_bytes = rnd_u64();
        w->page_note = rnd() % 3 == 0 ? rnd_string(note_buf, sizeof(note_buf)) : (char *)protobuf_c_empty_string;
        w->dev = rnd_u64();
        w->ino = rnd_u64();
}

static const int response_bodies[] = {
        SHMBROKER__V1__RESPONSE__BODY__NOT_SET, SHMBROKER__V1__RESPONSE__BODY_CREATE,
        SHMBROKER__V1__RESPONSE__BODY_OPEN,     SHMBROKER__V1__RESPONSE__BODY_STAT,
        SHMBROKER__V1__RESPONSE__BODY_MAPPED,   SHMBROKER__V1__RESPONSE__BODY_PUBLISH,
        SHMBROKER__V1__RESPONSE__BODY_CLOSE,    SHMBROKER__V1__RESPONSE__BODY_DELETE,
};

static struct {
        WireResponse resp;
        Shmbroker__V1__CreateReply create;
        Shmbroker__V1__OpenReply open;
        Shmbroker__V1__StatReply stat;
        Shmbroker__V1__MappedReply mapped;
        Shmbroker__V1__PublishReply publish;
        Shmbroker__V1__CloseReply close;
        Shmbroker__V1__DeleteReply del;
        WireRegion region;
} R;

static void rnd_response(bool *negative) {
        WireRegion *region;

        shmbroker__v1__response__init(&R.resp);
        R.resp.id = rnd_u64();
        R.resp.status = rnd_enum(negative);
        R.resp.error = rnd() % 2 ? rnd_string(error_buf, sizeof(error_buf)) : (char *)protobuf_c_empty_string;
        R.resp.body_case = response_bodies[rnd() % ELEMENTSOF(response_bodies)];
        rnd_region(&R.region, negative);
        region = rnd() % 8 == 0 ? NULL : &R.region; /* a reply without its region */
        switch (R.resp.body_case) {
        case SHMBROKER__V1__RESPONSE__BODY_CREATE:
                shmbroker__v1__create_reply__init(&R.create);
                R.create.handle = rnd_u64();
                R.create.region = region;
                R.resp.create = &R.create;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_OPEN:
                shmbroker__v1__open_reply__init(&R.open);
                R.open.handle = rnd_u64();
                R.open.region = region;
                R.resp.open = &R.open;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_STAT:
                shmbroker__v1__stat_reply__init(&R.stat);
                R.stat.region = region;
                R.resp.stat = &R.stat;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_MAPPED:
                shmbroker__v1__mapped_reply__init(&R.mapped);
                R.mapped.region = region;
                R.resp.mapped = &R.mapped;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_PUBLISH:
                shmbroker__v1__publish_reply__init(&R.publish);
                R.publish.region = region;
                R.resp.publish = &R.publish;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_CLOSE:
                shmbroker__v1__close_reply__init(&R.close);
                R.resp.close = &R.close;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_DELETE:
                shmbroker__v1__delete_reply__init(&R.del);
                R.resp.delete_ = &R.del;
                break;
        default:
                break;
        }
}

static const int request_bodies[] = {
        SHMBROKER__V1__REQUEST__BODY_CREATE, SHMBROKER__V1__REQUEST__BODY_OPEN, SHMBROKER__V1__REQUEST__BODY_CLOSE,
        SHMBROKER__V1__REQUEST__BODY_DELETE, SHMBROKER__V1__REQUEST__BODY_STAT,
};

static struct {
        WireRequest req;
        Shmbroker__V1__CreateRequest create;
        Shmbroker__V1__OpenRequest open;
        Shmbroker__V1__CloseRequest close;
        Shmbroker__V1__DeleteRequest del;
        Shmbroker__V1__StatRequest stat;
        uint64_t release[WIRE_FAST_MAX_RELEASES + 8];
} Q;

static void rnd_request(bool *negative, bool *too_many) {
        shmbroker__v1__request__init(&Q.req);
        Q.req.id = rnd_u64();
        Q.req.n_release = rnd() % 3 == 0 ? rnd() % ELEMENTSOF(Q.release) : 0;
        for (size_t i = 0; i < Q.req.n_release; i++)
                Q.release[i] = rnd_u64();
        Q.req.release = Q.req.n_release ? Q.release : NULL;
        *too_many = Q.req.n_release > WIRE_FAST_MAX_RELEASES;
        Q.req.body_case = request_bodies[rnd() % ELEMENTSOF(request_bodies)];
        switch (Q.req.body_case) {
        case SHMBROKER__V1__REQUEST__BODY_CREATE:
                shmbroker__v1__create_request__init(&Q.create);
                Q.create.name = rnd_string(name_buf, sizeof(name_buf));
                Q.create.size = rnd_u64();
                Q.create.page_size = rnd_u64();
                Q.create.mode = rnd_u32();
                Q.create.sharing = rnd_enum(negative);
                Q.create.lifetime = rnd_enum(negative);
                Q.create.flags = rnd_u32();
                Q.req.create = &Q.create;
                break;
        case SHMBROKER__V1__REQUEST__BODY_OPEN:
                shmbroker__v1__open_request__init(&Q.open);
                Q.open.name = rnd_string(name_buf, sizeof(name_buf));
                Q.open.access = rnd_enum(negative);
                Q.open.timeout_ms = rnd_u32();
                Q.req.open = &Q.open;
                break;
        case SHMBROKER__V1__REQUEST__BODY_CLOSE:
                shmbroker__v1__close_request__init(&Q.close);
                Q.close.handle = rnd_u64();
                Q.close.no_reply = rnd() % 2;
                Q.req.close = &Q.close;
                break;
        case SHMBROKER__V1__REQUEST__BODY_DELETE:
                shmbroker__v1__delete_request__init(&Q.del);
                Q.del.name = rnd_string(name_buf, sizeof(name_buf));
                Q.req.delete_ = &Q.del;
                break;
        default:
                shmbroker__v1__stat_request__init(&Q.stat);
                Q.stat.name = rnd_string(name_buf, sizeof(name_buf));
                Q.req.stat = &Q.stat;
                break;
        }
}

static uint8_t a[WIRE_MAX_PACKET], b[WIRE_MAX_PACKET];

/* Two messages are equal when protobuf-c packs them to the same bytes. */
static bool same_message(const ProtobufCMessage *x, const ProtobufCMessage *y) {
        size_t nx, ny;

        if (wire_pack(x, a, sizeof(a), &nx) < 0 || wire_pack(y, b, sizeof(b), &ny) < 0)
                return false;
        return nx == ny && memcmp(a, b, nx) == 0;
}

static const char *corpus_dir;

static void corpus_write(const char *kind, unsigned *count, const uint8_t *p, size_t n) {
        char path[4096];
        FILE *f;

        if (!corpus_dir || *count >= 20 || rnd() % 500 != 0)
                return;
        snprintf(path, sizeof(path), "%s/fast-%s-%u", corpus_dir, kind, (*count)++);
        f = fopen(path, "we");
        if (f) {
                fwrite(p, 1, n, f);
                fclose(f);
        }
}

/* Damages a packet: flips, inserts, deletes or truncates. Returns the new length. */
static size_t mutate(uint8_t *p, size_t n, size_t cap) {
        size_t i = n ? rnd() % n : 0;

        switch (rnd() % 4) {
        case 0:
                if (n)
                        p[i] ^= (uint8_t)(1u << (rnd() % 8));
                return n;
        case 1:
                if (n >= cap)
                        return n;
                memmove(p + i + 1, p + i, n - i);
                p[i] = (uint8_t)rnd();
                return n + 1;
        case 2:
                if (!n)
                        return n;
                memmove(p + i, p + i + 1, n - i - 1);
                return n - 1;
        default:
                return i;
        }
}

static unsigned failures;

#define EXPECT(cond, what)                                                         \
        do {                                                                       \
                if (!(cond) && failures++ < 10)                                    \
                        printf("# %s (round %u, line %d)\n", what, round, __LINE__); \
        } while (0)

static void test_responses(void) {
        static uint8_t fast[WIRE_MAX_PACKET], slow[WIRE_MAX_PACKET];
        unsigned accepted = 0, refused_negative = 0, mutants_accepted = 0, written = 0;

        failures = 0;
        for (unsigned round = 0; round < ROUNDS; round++) {
                WireResponse *x = NULL, *y = NULL;
                bool negative = false;
                size_t nf, ns;
                int r;

                rnd_response(&negative);
                r = wire_pack_response_fast(&R.resp, fast, sizeof(fast), &nf);
                EXPECT(r == 0, "fast pack of a covered response failed");
                EXPECT(wire_pack(&R.resp.base, slow, sizeof(slow), &ns) == 0, "protobuf-c pack failed");
                EXPECT(r < 0 || (nf == ns && memcmp(fast, slow, ns) == 0), "fast pack differs from protobuf-c");
                /* Too small a buffer: refused, never overrun. */
                EXPECT(ns == 0 || wire_pack_response_fast(&R.resp, fast, ns - 1, &nf) == -EMSGSIZE,
                       "a short buffer was not refused");
                corpus_write("response", &written, slow, ns);

                r = wire_unpack_response_fast(slow, ns, &x);
                if (negative)
                        refused_negative += r == -ENOTSUP;
                EXPECT(r == 0 || (negative && r == -ENOTSUP), "fast decode refused a response it covers");
                if (r == 0) {
                        accepted++;
                        EXPECT(same_message(&x->base, &R.resp.base), "fast decode differs from the message");
                }
                wire_response_free(x);
                x = NULL;

                /* Damaged packets: whatever the fast decoder takes, protobuf-c takes the same way. */
                for (int m = 0; m < 4; m++) {
                        ns = mutate(slow, ns, sizeof(slow));
                        if (wire_unpack_response_fast(slow, ns, &x) < 0)
                                continue;
                        mutants_accepted++;
                        y = shmbroker__v1__response__unpack(NULL, ns, slow);
                        EXPECT(y, "protobuf-c refused a packet the fast decoder accepted");
                        EXPECT(y && same_message(&x->base, &y->base), "fast and protobuf-c decode differently");
                        wire_response_free(x);
                        wire_response_free(y);
                        x = y = NULL;
                }
        }
        printf("# responses: %u round trips, %u refused for negative enums, %u damaged packets accepted\n",
               accepted, refused_negative, mutants_accepted);
        CHECK_MSG(failures == 0, "responses: fast codec equals protobuf-c");
        CHECK(accepted > ROUNDS / 2 && mutants_accepted > 0);
}

static void test_requests(void) {
        static uint8_t fast[WIRE_MAX_PACKET], slow[WIRE_MAX_PACKET];
        static WireFastRequest f;
        unsigned accepted = 0, mutants_accepted = 0, written = 0;

        failures = 0;
        for (unsigned round = 0; round < ROUNDS; round++) {
                bool negative = false, too_many = false;
                WireRequest *y;
                size_t nf, ns;
                int r;

                rnd_request(&negative, &too_many);
                r = wire_pack_request_fast(&Q.req, fast, sizeof(fast), &nf);
                EXPECT(r == 0, "fast pack of a covered request failed");
                EXPECT(wire_pack(&Q.req.base, slow, sizeof(slow), &ns) == 0, "protobuf-c pack failed");
                EXPECT(r < 0 || (nf == ns && memcmp(fast, slow, ns) == 0), "fast pack differs from protobuf-c");
                EXPECT(ns == 0 || wire_pack_request_fast(&Q.req, fast, ns - 1, &nf) == -EMSGSIZE,
                       "a short buffer was not refused");
                corpus_write("request", &written, slow, ns);

                r = wire_unpack_request_fast(slow, ns, &f);
                EXPECT(r == 0 || ((negative || too_many) && r == -ENOTSUP), "fast decode refused a request it covers");
                if (r == 0) {
                        accepted++;
                        EXPECT(same_message(&f.req.base, &Q.req.base), "fast decode differs from the message");
                }

                for (int m = 0; m < 4; m++) {
                        ns = mutate(slow, ns, sizeof(slow));
                        if (wire_unpack_request_fast(slow, ns, &f) < 0)
                                continue;
                        mutants_accepted++;
                        y = shmbroker__v1__request__unpack(NULL, ns, slow);
                        EXPECT(y, "protobuf-c refused a packet the fast decoder accepted");
                        EXPECT(y && same_message(&f.req.base, &y->base), "fast and protobuf-c decode differently");
                        /* What the fast decoder accepts is canonical, as the daemon requires. */
                        EXPECT(y && shmbroker__v1__request__get_packed_size(y) == ns,
                               "the fast decoder accepted a non-canonical packet");
                        if (y)
                                shmbroker__v1__request__free_unpacked(y, NULL);
                }
        }
        printf("# requests: %u round trips, %u damaged packets accepted\n", accepted, mutants_accepted);
        CHECK_MSG(failures == 0, "requests: fast codec equals protobuf-c");
        CHECK(accepted > ROUNDS / 2 && mutants_accepted > 0);
}

/* What the fast paths leave to protobuf-c. */
static void test_not_covered(void) {
        Shmbroker__V1__ListReply list = SHMBROKER__V1__LIST_REPLY__INIT;
        Shmbroker__V1__HelloRequest hello = SHMBROKER__V1__HELLO_REQUEST__INIT;
        WireResponse resp = SHMBROKER__V1__RESPONSE__INIT, *x = NULL;
        WireRequest req = SHMBROKER__V1__REQUEST__INIT;
        static WireFastRequest f;
        size_t n;

        resp.id = 7;
        resp.body_case = SHMBROKER__V1__RESPONSE__BODY_LIST;
        resp.list = &list;
        CHECK(wire_pack_response_fast(&resp, a, sizeof(a), &n) == -ENOTSUP);
        CHECK(wire_pack(&resp.base, a, sizeof(a), &n) == 0);
        CHECK(wire_unpack_response_fast(a, n, &x) == -ENOTSUP);

        /* A set body case without its message. */
        resp.body_case = SHMBROKER__V1__RESPONSE__BODY_OPEN;
        resp.open = NULL;
        CHECK(wire_pack_response_fast(&resp, a, sizeof(a), &n) == -ENOTSUP);

        req.id = 1;
        req.body_case = SHMBROKER__V1__REQUEST__BODY_HELLO;
        req.hello = &hello;
        CHECK(wire_pack_request_fast(&req, a, sizeof(a), &n) == -ENOTSUP);
        CHECK(wire_pack(&req.base, a, sizeof(a), &n) == 0);
        CHECK(wire_unpack_request_fast(a, n, &f) == -ENOTSUP);

        /* An unknown field (number 4 in a Response), fields out of order, a repeated field. */
        {
                static const uint8_t unknown[] = { 0x08, 0x01, 0x20, 0x05 };
                static const uint8_t order[] = { 0x10, 0x01, 0x08, 0x01 };
                static const uint8_t twice[] = { 0x08, 0x01, 0x08, 0x02 };

                CHECK(wire_unpack_response_fast(unknown, sizeof(unknown), &x) == -ENOTSUP);
                CHECK(wire_unpack_response_fast(order, sizeof(order), &x) == -ENOTSUP);
                CHECK(wire_unpack_response_fast(twice, sizeof(twice), &x) == -ENOTSUP);
        }
        /* A request with no body, and an empty packet: the daemon's slow path explains those. */
        {
                static const uint8_t nobody[] = { 0x08, 0x01 };

                CHECK(wire_unpack_request_fast(nobody, sizeof(nobody), &f) == -ENOTSUP);
                CHECK(wire_unpack_request_fast(a, 0, &f) == -ENOTSUP);
        }
        /* A name with a NUL byte: left to protobuf-c (and refused by the daemon as not canonical). */
        {
                static const uint8_t nul[] = { 0x08, 0x01, 0x7a, 0x05, 0x0a, 0x03, 'a', 0, 'b' };

                CHECK(wire_unpack_request_fast(nul, sizeof(nul), &f) == -ENOTSUP);
        }
}

int main(void) {
        corpus_dir = getenv("SHMB_WRITE_CORPUS");
        test_responses();
        test_requests();
        test_not_covered();
        return tap_done();
}
