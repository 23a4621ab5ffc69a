/* SPDX-License-Identifier: MIT */
/*
 * The fast paths of wire-fast.h. Encoding follows protobuf-c's canonical
 * output for proto3: fields in number order, fields with their default value
 * (0, false, empty string, NULL message) left out, a oneof member written
 * when it is the set case, enums as sign-extended varints. Decoding accepts
 * the same form, with each field at most once and in number order, so there
 * is never a question of which of two values wins; everything else goes to
 * protobuf-c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "wire-fast.h"

typedef Shmbroker__V1__Response Response;

enum { WT_VARINT = 0, WT_LEN = 2 };

/* Response.body members this file handles, and how their reply is laid out. */
enum { BODY_NONE, BODY_HANDLE_REGION, BODY_REGION, BODY_EMPTY };

static int body_kind(int body_case) {
        switch (body_case) {
        case SHMBROKER__V1__RESPONSE__BODY__NOT_SET:
                return BODY_NONE;
        case SHMBROKER__V1__RESPONSE__BODY_CREATE:
        case SHMBROKER__V1__RESPONSE__BODY_OPEN:
                return BODY_HANDLE_REGION;
        case SHMBROKER__V1__RESPONSE__BODY_STAT:
        case SHMBROKER__V1__RESPONSE__BODY_MAPPED:
        case SHMBROKER__V1__RESPONSE__BODY_PUBLISH:
                return BODY_REGION;
        case SHMBROKER__V1__RESPONSE__BODY_CLOSE:
        case SHMBROKER__V1__RESPONSE__BODY_DELETE:
                return BODY_EMPTY;
        default:
                return -1;
        }
}

/* ---- encoding ---- */

static size_t varint_size(uint64_t v) {
        size_t n = 1;

        while (v >= 0x80) {
                v >>= 7;
                n++;
        }
        return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
        while (v >= 0x80) {
                *p++ = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        *p++ = (uint8_t)v;
        return p;
}

static uint64_t enum_value(int e) {
        /* protobuf-c writes an enum as int32: negative values take ten bytes. */
        return (uint64_t)(int64_t)(int32_t)e;
}

static size_t size_varint_field(unsigned field, uint64_t v) {
        return v ? varint_size((uint64_t)field << 3) + varint_size(v) : 0;
}

static uint8_t *put_varint_field(uint8_t *p, unsigned field, uint64_t v) {
        if (!v)
                return p;
        p = put_varint(p, (uint64_t)field << 3 | WT_VARINT);
        return put_varint(p, v);
}

static size_t size_len_field(unsigned field, size_t len) {
        return varint_size((uint64_t)field << 3) + varint_size(len) + len;
}

static uint8_t *put_len_header(uint8_t *p, unsigned field, size_t len) {
        p = put_varint(p, (uint64_t)field << 3 | WT_LEN);
        return put_varint(p, len);
}

static size_t size_string_field(unsigned field, const char *s) {
        return s && s[0] ? size_len_field(field, strlen(s)) : 0;
}

static uint8_t *put_string_field(uint8_t *p, unsigned field, const char *s) {
        size_t n;

        if (!s || !s[0])
                return p;
        n = strlen(s);
        p = put_len_header(p, field, n);
        memcpy(p, s, n);
        return p + n;
}

/* The Region fields, in number order, for both passes. */
#define REGION_FIELDS(VARINT, STRING)                                  \
        STRING(1, w->name)                                             \
        VARINT(2, w->id)                                               \
        VARINT(3, w->size)                                             \
        VARINT(4, w->page_size)                                        \
        VARINT(5, enum_value(w->sharing))                              \
        VARINT(6, enum_value(w->lifetime))                             \
        VARINT(7, w->uid)                                              \
        VARINT(8, w->gid)                                              \
        VARINT(9, w->mode)                                             \
        VARINT(10, w->flags)                                           \
        VARINT(11, w->seals)                                           \
        VARINT(12, w->created_usec)                                    \
        VARINT(13, w->holders)                                         \
        VARINT(14, (uint64_t)(w->published ? 1 : 0))                   \
        VARINT(15, (uint64_t)(w->restart_safe ? 1 : 0))                \
        VARINT(16, w->locked_bytes)                                    \
        VARINT(17, w->resident_bytes)                                  \
        VARINT(18, w->requested_size)                                  \
        VARINT(19, w->huge_page_bytes)                                 \
        STRING(20, w->page_note)                                       \
        VARINT(25, w->dev)                                             \
        VARINT(26, w->ino)

static size_t region_size(const WireRegion *w) {
        size_t n = 0;

#define SIZE_VARINT(f, v) n += size_varint_field(f, v);
#define SIZE_STRING(f, s) n += size_string_field(f, s);
        REGION_FIELDS(SIZE_VARINT, SIZE_STRING)
#undef SIZE_VARINT
#undef SIZE_STRING
        return n;
}

static uint8_t *put_region(uint8_t *p, const WireRegion *w) {
#define PUT_VARINT(f, v) p = put_varint_field(p, f, v);
#define PUT_STRING(f, s) p = put_string_field(p, f, s);
        REGION_FIELDS(PUT_VARINT, PUT_STRING)
#undef PUT_VARINT
#undef PUT_STRING
        return p;
}

/* The reply inside Response.body: its handle (0 when it has none) and region (NULL when none). */
static int body_parts(const Response *resp, int kind, uint64_t *handle, const WireRegion **region) {
        const ProtobufCMessage *m;

        *handle = 0;
        *region = NULL;
        switch (resp->body_case) {
        case SHMBROKER__V1__RESPONSE__BODY_CREATE:
                m = resp->create ? &resp->create->base : NULL;
                if (m) {
                        *handle = resp->create->handle;
                        *region = resp->create->region;
                }
                break;
        case SHMBROKER__V1__RESPONSE__BODY_OPEN:
                m = resp->open ? &resp->open->base : NULL;
                if (m) {
                        *handle = resp->open->handle;
                        *region = resp->open->region;
                }
                break;
        case SHMBROKER__V1__RESPONSE__BODY_STAT:
                m = resp->stat ? &resp->stat->base : NULL;
                if (m)
                        *region = resp->stat->region;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_MAPPED:
                m = resp->mapped ? &resp->mapped->base : NULL;
                if (m)
                        *region = resp->mapped->region;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_PUBLISH:
                m = resp->publish ? &resp->publish->base : NULL;
                if (m)
                        *region = resp->publish->region;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_CLOSE:
                m = resp->close ? &resp->close->base : NULL;
                break;
        case SHMBROKER__V1__RESPONSE__BODY_DELETE:
                m = resp->delete_ ? &resp->delete_->base : NULL;
                break;
        default:
                return kind == BODY_NONE ? 0 : -ENOTSUP;
        }
        /* A set case without its message, or messages with unknown fields: protobuf-c's business. */
        if (!m || m->n_unknown_fields || (*region && (*region)->base.n_unknown_fields))
                return -ENOTSUP;
        return 0;
}

int wire_pack_response_fast(const WireResponse *resp, uint8_t *buf, size_t bufsize, size_t *ret_len) {
        const WireRegion *region;
        size_t n, body = 0, rsize = 0;
        uint64_t handle;
        uint8_t *p = buf;
        int kind, r;

        if (!resp || resp->base.n_unknown_fields)
                return -ENOTSUP;
        kind = body_kind((int)resp->body_case);
        if (kind < 0)
                return -ENOTSUP;
        r = body_parts(resp, kind, &handle, &region);
        if (r < 0)
                return r;

        if (region)
                rsize = region_size(region);
        if (kind != BODY_NONE)
                body = size_varint_field(1, handle) +
                       (region ? size_len_field(kind == BODY_HANDLE_REGION ? 2 : 1, rsize) : 0);
        n = size_varint_field(1, resp->id) + size_varint_field(2, enum_value(resp->status)) +
            size_string_field(3, resp->error) + (kind != BODY_NONE ? size_len_field(resp->body_case, body) : 0);
        if (n > bufsize)
                return -EMSGSIZE;

        p = put_varint_field(p, 1, resp->id);
        p = put_varint_field(p, 2, enum_value(resp->status));
        p = put_string_field(p, 3, resp->error);
        if (kind != BODY_NONE) {
                p = put_len_header(p, resp->body_case, body);
                p = put_varint_field(p, 1, handle);
                if (region) {
                        p = put_len_header(p, kind == BODY_HANDLE_REGION ? 2 : 1, rsize);
                        p = put_region(p, region);
                }
        }
        if ((size_t)(p - buf) != n)
                return -EIO;
        *ret_len = n;
        return 0;
}

/* ---- decoding ---- */

/* Marks a response from wire_unpack_response_fast(): unknown_fields of one never counts any. */
static ProtobufCMessageUnknownField fast_marker;

typedef struct FastResponse {
        Response resp; /* first: the block is freed through it */
        union {
                Shmbroker__V1__CreateReply create;
                Shmbroker__V1__OpenReply open;
                Shmbroker__V1__CloseReply close;
                Shmbroker__V1__DeleteReply del;
                Shmbroker__V1__StatReply stat;
                Shmbroker__V1__MappedReply mapped;
                Shmbroker__V1__PublishReply publish;
        } u;
        WireRegion region;
        char *strings; /* next free byte of text[] */
        char text[];   /* the strings, NUL-terminated: at most the packet's length plus three */
} FastResponse;

typedef struct Reader {
        const uint8_t *p, *end;
} Reader;

/* A varint of at most max_bytes bytes (10: any uint64). Anything else: -ENOTSUP. */
static int read_varint(Reader *rd, unsigned max_bytes, uint64_t *ret) {
        uint64_t v = 0;

        for (unsigned i = 0; i < max_bytes && rd->p + i < rd->end; i++) {
                uint8_t b = rd->p[i];

                /* The tenth byte holds bit 63 only. */
                if (i == 9 && b > 1)
                        return -ENOTSUP;
                v |= (uint64_t)(b & 0x7f) << (7 * i);
                if (!(b & 0x80)) {
                        rd->p += i + 1;
                        *ret = v;
                        return 0;
                }
        }
        return -ENOTSUP;
}

static int read_tag(Reader *rd, unsigned *field, unsigned *wt) {
        uint64_t v;
        int r;

        r = read_varint(rd, 5, &v);
        if (r < 0)
                return r;
        if (v >> 3 == 0 || v >> 3 > 536870911u)
                return -ENOTSUP;
        *field = (unsigned)(v >> 3);
        *wt = (unsigned)(v & 7);
        return 0;
}

static int read_u64(Reader *rd, unsigned wt, uint64_t *ret) {
        return wt == WT_VARINT ? read_varint(rd, 10, ret) : -ENOTSUP;
}

static int read_u32(Reader *rd, unsigned wt, uint32_t *ret) {
        uint64_t v;
        int r;

        if (wt != WT_VARINT)
                return -ENOTSUP;
        r = read_varint(rd, 5, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ENOTSUP;
        *ret = (uint32_t)v;
        return 0;
}

/* Enums this decoder takes: 0..INT32_MAX (negative ones take ten bytes). */
static int read_enum(Reader *rd, unsigned wt, int *ret) {
        uint32_t v;
        int r;

        r = read_u32(rd, wt, &v);
        if (r < 0)
                return r;
        if (v > INT32_MAX)
                return -ENOTSUP;
        *ret = (int)v;
        return 0;
}

static int read_bool(Reader *rd, unsigned wt, protobuf_c_boolean *ret) {
        uint64_t v;
        int r;

        r = read_u64(rd, wt, &v);
        if (r < 0)
                return r;
        if (v > 1)
                return -ENOTSUP;
        *ret = v == 1;
        return 0;
}

static int read_len(Reader *rd, unsigned wt, Reader *ret) {
        uint64_t n;
        int r;

        if (wt != WT_LEN)
                return -ENOTSUP;
        r = read_varint(rd, 5, &n);
        if (r < 0)
                return r;
        if (n > (uint64_t)(rd->end - rd->p))
                return -ENOTSUP;
        *ret = (Reader){ rd->p, rd->p + n };
        rd->p += n;
        return 0;
}

/* A string copied to *area (advanced past it); one with a NUL byte is left to protobuf-c. */
static int read_string_to(Reader *rd, unsigned wt, char **area, char **ret) {
        Reader s;
        size_t n;
        int r;

        r = read_len(rd, wt, &s);
        if (r < 0)
                return r;
        n = (size_t)(s.end - s.p);
        if (memchr(s.p, 0, n))
                return -ENOTSUP;
        memcpy(*area, s.p, n);
        (*area)[n] = 0;
        *ret = *area;
        *area += n + 1;
        return 0;
}

static int read_string(Reader *rd, unsigned wt, FastResponse *f, char **ret) {
        return read_string_to(rd, wt, &f->strings, ret);
}

/* Next field, which must come after the previous one (*last); 0 at the end. */
static int next_field(Reader *rd, unsigned *last, unsigned *field, unsigned *wt) {
        int r;

        if (rd->p == rd->end)
                return 0;
        r = read_tag(rd, field, wt);
        if (r < 0)
                return r;
        if (*field <= *last)
                return -ENOTSUP;
        *last = *field;
        return 1;
}

static int read_region(Reader *rd, FastResponse *f, WireRegion *w) {
        unsigned last = 0, field, wt;
        int r;

        while ((r = next_field(rd, &last, &field, &wt)) > 0) {
                switch (field) {
                case 1: r = read_string(rd, wt, f, &w->name); break;
                case 2: r = read_u64(rd, wt, &w->id); break;
                case 3: r = read_u64(rd, wt, &w->size); break;
                case 4: r = read_u64(rd, wt, &w->page_size); break;
                case 5: r = read_enum(rd, wt, (int *)&w->sharing); break;
                case 6: r = read_enum(rd, wt, (int *)&w->lifetime); break;
                case 7: r = read_u32(rd, wt, &w->uid); break;
                case 8: r = read_u32(rd, wt, &w->gid); break;
                case 9: r = read_u32(rd, wt, &w->mode); break;
                case 10: r = read_u32(rd, wt, &w->flags); break;
                case 11: r = read_u32(rd, wt, &w->seals); break;
                case 12: r = read_u64(rd, wt, &w->created_usec); break;
                case 13: r = read_u32(rd, wt, &w->holders); break;
                case 14: r = read_bool(rd, wt, &w->published); break;
                case 15: r = read_bool(rd, wt, &w->restart_safe); break;
                case 16: r = read_u64(rd, wt, &w->locked_bytes); break;
                case 17: r = read_u64(rd, wt, &w->resident_bytes); break;
                case 18: r = read_u64(rd, wt, &w->requested_size); break;
                case 19: r = read_u64(rd, wt, &w->huge_page_bytes); break;
                case 20: r = read_string(rd, wt, f, &w->page_note); break;
                case 25: r = read_u64(rd, wt, &w->dev); break;
                case 26: r = read_u64(rd, wt, &w->ino); break;
                default: return -ENOTSUP; /* a newer daemon's field */
                }
                if (r < 0)
                        return r;
        }
        return r;
}

/* The reply of body case field: [handle = 1,] region = region_field. */
static int read_body(Reader *rd, FastResponse *f, unsigned region_field, uint64_t *handle, WireRegion **region) {
        unsigned last = 0, field, wt;
        Reader sub;
        int r;

        while ((r = next_field(rd, &last, &field, &wt)) > 0) {
                if (field == 1 && handle)
                        r = read_u64(rd, wt, handle);
                else if (field == region_field && region) {
                        r = read_len(rd, wt, &sub);
                        if (r >= 0) {
                                shmbroker__v1__region__init(&f->region);
                                r = read_region(&sub, f, &f->region);
                        }
                        *region = &f->region;
                } else
                        return -ENOTSUP;
                if (r < 0)
                        return r;
        }
        return r;
}

static int read_response(Reader *rd, FastResponse *f) {
        Response *resp = &f->resp;
        unsigned last = 0, field, wt;
        Reader sub;
        int r;

        while ((r = next_field(rd, &last, &field, &wt)) > 0) {
                if (field == 1)
                        r = read_u64(rd, wt, &resp->id);
                else if (field == 2)
                        r = read_enum(rd, wt, (int *)&resp->status);
                else if (field == 3)
                        r = read_string(rd, wt, f, &resp->error);
                else {
                        /* One body at most: a second one is "later", so it fails the order check. */
                        if (resp->body_case != SHMBROKER__V1__RESPONSE__BODY__NOT_SET || body_kind((int)field) <= 0)
                                return -ENOTSUP;
                        r = read_len(rd, wt, &sub);
                        if (r < 0)
                                return r;
                        resp->body_case = (Shmbroker__V1__Response__BodyCase)field;
                        switch (resp->body_case) {
                        case SHMBROKER__V1__RESPONSE__BODY_CREATE:
                                shmbroker__v1__create_reply__init(&f->u.create);
                                resp->create = &f->u.create;
                                r = read_body(&sub, f, 2, &f->u.create.handle, &f->u.create.region);
                                break;
                        case SHMBROKER__V1__RESPONSE__BODY_OPEN:
                                shmbroker__v1__open_reply__init(&f->u.open);
                                resp->open = &f->u.open;
                                r = read_body(&sub, f, 2, &f->u.open.handle, &f->u.open.region);
                                break;
                        case SHMBROKER__V1__RESPONSE__BODY_STAT:
                                shmbroker__v1__stat_reply__init(&f->u.stat);
                                resp->stat = &f->u.stat;
                                r = read_body(&sub, f, 1, NULL, &f->u.stat.region);
                                break;
                        case SHMBROKER__V1__RESPONSE__BODY_MAPPED:
                                shmbroker__v1__mapped_reply__init(&f->u.mapped);
                                resp->mapped = &f->u.mapped;
                                r = read_body(&sub, f, 1, NULL, &f->u.mapped.region);
                                break;
                        case SHMBROKER__V1__RESPONSE__BODY_PUBLISH:
                                shmbroker__v1__publish_reply__init(&f->u.publish);
                                resp->publish = &f->u.publish;
                                r = read_body(&sub, f, 1, NULL, &f->u.publish.region);
                                break;
                        case SHMBROKER__V1__RESPONSE__BODY_CLOSE:
                                shmbroker__v1__close_reply__init(&f->u.close);
                                resp->close = &f->u.close;
                                r = read_body(&sub, f, 0, NULL, NULL);
                                break;
                        case SHMBROKER__V1__RESPONSE__BODY_DELETE:
                                shmbroker__v1__delete_reply__init(&f->u.del);
                                resp->delete_ = &f->u.del;
                                r = read_body(&sub, f, 0, NULL, NULL);
                                break;
                        default:
                                return -ENOTSUP;
                        }
                }
                if (r < 0)
                        return r;
        }
        return r;
}

int wire_unpack_response_fast(const uint8_t *buf, size_t len, WireResponse **ret) {
        Reader rd = { buf, buf + len };
        FastResponse *f;
        int r;

        if (!buf || !ret)
                return -EINVAL;
        /* Every string is a part of the packet: len bytes and three NULs hold them all. */
        f = malloc(sizeof(FastResponse) + len + 3);
        if (!f)
                return -ENOMEM;
        shmbroker__v1__response__init(&f->resp);
        f->resp.base.unknown_fields = &fast_marker;
        f->strings = f->text;
        r = read_response(&rd, f);
        if (r < 0) {
                free(f);
                return r;
        }
        *ret = &f->resp;
        return 0;
}

void wire_response_free(WireResponse *resp) {
        if (!resp)
                return;
        if (resp->base.unknown_fields == &fast_marker)
                free(resp); /* the FastResponse block begins with it */
        else
                shmbroker__v1__response__free_unpacked(resp, NULL);
}

/* ---- requests ---- */

#define CREATE_FIELDS(VARINT, STRING)                                  \
        STRING(1, w->name)                                             \
        VARINT(2, w->size)                                             \
        VARINT(3, w->page_size)                                        \
        VARINT(4, w->mode)                                             \
        VARINT(5, enum_value(w->sharing))                              \
        VARINT(6, enum_value(w->lifetime))                             \
        VARINT(7, w->flags)
#define OPEN_FIELDS(VARINT, STRING)                                    \
        STRING(1, w->name)                                             \
        VARINT(2, enum_value(w->access))                               \
        VARINT(3, w->timeout_ms)
#define CLOSE_FIELDS(VARINT, STRING)                                   \
        VARINT(1, w->handle)                                           \
        VARINT(2, (uint64_t)(w->no_reply ? 1 : 0))
#define NAME_FIELDS(VARINT, STRING) STRING(1, w->name)

#define SIZE_VARINT(f, v) n += size_varint_field(f, v);
#define SIZE_STRING(f, s) n += size_string_field(f, s);
#define PUT_VARINT(f, v) p = put_varint_field(p, f, v);
#define PUT_STRING(f, s) p = put_string_field(p, f, s);

/* The packed size of req's body message (-ENOTSUP: not one of ours), or of the body and *p written. */
static int request_body(const WireRequest *req, size_t *ret_size, uint8_t **pp) {
        uint8_t *p = pp ? *pp : NULL;
        size_t n = 0;

        switch (req->body_case) {
        case SHMBROKER__V1__REQUEST__BODY_CREATE: {
                const Shmbroker__V1__CreateRequest *w = req->create;

                if (!w || w->base.n_unknown_fields)
                        return -ENOTSUP;
                if (pp) {
                        CREATE_FIELDS(PUT_VARINT, PUT_STRING)
                } else {
                        CREATE_FIELDS(SIZE_VARINT, SIZE_STRING)
                }
                break;
        }
        case SHMBROKER__V1__REQUEST__BODY_OPEN: {
                const Shmbroker__V1__OpenRequest *w = req->open;

                if (!w || w->base.n_unknown_fields)
                        return -ENOTSUP;
                if (pp) {
                        OPEN_FIELDS(PUT_VARINT, PUT_STRING)
                } else {
                        OPEN_FIELDS(SIZE_VARINT, SIZE_STRING)
                }
                break;
        }
        case SHMBROKER__V1__REQUEST__BODY_CLOSE: {
                const Shmbroker__V1__CloseRequest *w = req->close;

                if (!w || w->base.n_unknown_fields)
                        return -ENOTSUP;
                if (pp) {
                        CLOSE_FIELDS(PUT_VARINT, PUT_STRING)
                } else {
                        CLOSE_FIELDS(SIZE_VARINT, SIZE_STRING)
                }
                break;
        }
        case SHMBROKER__V1__REQUEST__BODY_DELETE:
        case SHMBROKER__V1__REQUEST__BODY_STAT: {
                /* DeleteRequest and StatRequest are both { string name = 1; }. */
                const Shmbroker__V1__DeleteRequest *w =
                        req->body_case == SHMBROKER__V1__REQUEST__BODY_DELETE
                                ? req->delete_ : (const Shmbroker__V1__DeleteRequest *)(const void *)req->stat;

                if (!w || w->base.n_unknown_fields)
                        return -ENOTSUP;
                if (pp) {
                        NAME_FIELDS(PUT_VARINT, PUT_STRING)
                } else {
                        NAME_FIELDS(SIZE_VARINT, SIZE_STRING)
                }
                break;
        }
        default:
                return -ENOTSUP;
        }
        if (pp)
                *pp = p;
        else
                *ret_size = n;
        return 0;
}

static size_t release_size(const WireRequest *req) {
        size_t n = 0;

        for (size_t i = 0; i < req->n_release; i++)
                n += varint_size(req->release[i]);
        return n;
}

/* The whole request's packed size; -ENOTSUP when it is not one of ours. */
static int request_size(const WireRequest *req, size_t *ret_body, size_t *ret_release, size_t *ret) {
        size_t n;
        int r;

        if (req->base.n_unknown_fields)
                return -ENOTSUP;
        r = request_body(req, ret_body, NULL);
        if (r < 0)
                return r;
        *ret_release = release_size(req);
        n = size_varint_field(1, req->id) + size_len_field(req->body_case, *ret_body);
        if (req->n_release)
                n += size_len_field(2, *ret_release);
        *ret = n;
        return 0;
}

int wire_pack_request_fast(const WireRequest *req, uint8_t *buf, size_t bufsize, size_t *ret_len) {
        size_t n, body, rel;
        uint8_t *p = buf;
        int r;

        if (!req)
                return -ENOTSUP;
        r = request_size(req, &body, &rel, &n);
        if (r < 0)
                return r;
        if (n > bufsize)
                return -EMSGSIZE;
        p = put_varint_field(p, 1, req->id);
        if (req->n_release) {
                p = put_len_header(p, 2, rel);
                for (size_t i = 0; i < req->n_release; i++)
                        p = put_varint(p, req->release[i]);
        }
        p = put_len_header(p, req->body_case, body);
        r = request_body(req, NULL, &p);
        if (r < 0)
                return r;
        if ((size_t)(p - buf) != n)
                return -EIO;
        *ret_len = n;
        return 0;
}

static int read_request_body(Reader *rd, WireFastRequest *f) {
        unsigned last = 0, field, wt;
        WireRequest *req = &f->req;
        int r;

        switch (req->body_case) {
        case SHMBROKER__V1__REQUEST__BODY_CREATE: {
                Shmbroker__V1__CreateRequest *w = &f->u.create;

                shmbroker__v1__create_request__init(w);
                req->create = w;
                while ((r = next_field(rd, &last, &field, &wt)) > 0) {
                        switch (field) {
                        case 1: r = read_string_to(rd, wt, &f->strings, &w->name); break;
                        case 2: r = read_u64(rd, wt, &w->size); break;
                        case 3: r = read_u64(rd, wt, &w->page_size); break;
                        case 4: r = read_u32(rd, wt, &w->mode); break;
                        case 5: r = read_enum(rd, wt, (int *)&w->sharing); break;
                        case 6: r = read_enum(rd, wt, (int *)&w->lifetime); break;
                        case 7: r = read_u32(rd, wt, &w->flags); break;
                        default: return -ENOTSUP;
                        }
                        if (r < 0)
                                return r;
                }
                return r;
        }
        case SHMBROKER__V1__REQUEST__BODY_OPEN: {
                Shmbroker__V1__OpenRequest *w = &f->u.open;

                shmbroker__v1__open_request__init(w);
                req->open = w;
                while ((r = next_field(rd, &last, &field, &wt)) > 0) {
                        switch (field) {
                        case 1: r = read_string_to(rd, wt, &f->strings, &w->name); break;
                        case 2: r = read_enum(rd, wt, (int *)&w->access); break;
                        case 3: r = read_u32(rd, wt, &w->timeout_ms); break;
                        default: return -ENOTSUP;
                        }
                        if (r < 0)
                                return r;
                }
                return r;
        }
        case SHMBROKER__V1__REQUEST__BODY_CLOSE: {
                Shmbroker__V1__CloseRequest *w = &f->u.close;

                shmbroker__v1__close_request__init(w);
                req->close = w;
                while ((r = next_field(rd, &last, &field, &wt)) > 0) {
                        switch (field) {
                        case 1: r = read_u64(rd, wt, &w->handle); break;
                        case 2: r = read_bool(rd, wt, &w->no_reply); break;
                        default: return -ENOTSUP;
                        }
                        if (r < 0)
                                return r;
                }
                return r;
        }
        case SHMBROKER__V1__REQUEST__BODY_DELETE:
        case SHMBROKER__V1__REQUEST__BODY_STAT: {
                char **name;

                if (req->body_case == SHMBROKER__V1__REQUEST__BODY_DELETE) {
                        shmbroker__v1__delete_request__init(&f->u.del);
                        req->delete_ = &f->u.del;
                        name = &f->u.del.name;
                } else {
                        shmbroker__v1__stat_request__init(&f->u.stat);
                        req->stat = &f->u.stat;
                        name = &f->u.stat.name;
                }
                while ((r = next_field(rd, &last, &field, &wt)) > 0) {
                        if (field != 1)
                                return -ENOTSUP;
                        r = read_string_to(rd, wt, &f->strings, name);
                        if (r < 0)
                                return r;
                }
                return r;
        }
        default:
                return -ENOTSUP;
        }
}

int wire_unpack_request_fast(const uint8_t *buf, size_t len, WireFastRequest *f) {
        Reader rd = { buf, buf + len }, sub;
        WireRequest *req = &f->req;
        unsigned last = 0, field, wt;
        size_t n, body, rel;
        int r;

        if (len > WIRE_MAX_PACKET)
                return -ENOTSUP;
        shmbroker__v1__request__init(req);
        f->strings = f->text;
        while ((r = next_field(&rd, &last, &field, &wt)) > 0) {
                if (field == 1)
                        r = read_u64(&rd, wt, &req->id);
                else if (field == 2) {
                        r = read_len(&rd, wt, &sub);
                        while (r >= 0 && sub.p < sub.end) {
                                if (req->n_release == WIRE_FAST_MAX_RELEASES)
                                        return -ENOTSUP;
                                r = read_varint(&sub, 10, &f->release[req->n_release++]);
                        }
                        req->release = f->release;
                } else if (field >= SHMBROKER__V1__REQUEST__BODY_HELLO && req->body_case == 0) {
                        /* A second body would have a higher number: refused below as not ours. */
                        r = read_len(&rd, wt, &sub);
                        if (r >= 0) {
                                req->body_case = (Shmbroker__V1__Request__BodyCase)field;
                                r = read_request_body(&sub, f);
                        }
                } else
                        return -ENOTSUP;
                if (r < 0)
                        return r;
        }
        if (r < 0 || req->body_case == 0)
                return -ENOTSUP;
        if (req->n_release == 0)
                req->release = NULL;
        /* What decoded must encode to exactly these bytes: the daemon refuses anything else. */
        r = request_size(req, &body, &rel, &n);
        if (r < 0 || n != len)
                return -ENOTSUP;
        return 0;
}
