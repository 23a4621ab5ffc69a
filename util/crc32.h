/* SPDX-License-Identifier: MIT */
/*
 * CRC-32 (IEEE 802.3: reflected polynomial 0xedb88320, initial value and
 * final XOR 0xffffffff; the CRC of zlib, PNG and gzip), computed one of two
 * ways, chosen once per process:
 *   - carry-less multiplication (x86-64 with PCLMULQDQ): the buffer is
 *     folded 64 bytes per step into 128 bits, which are then reduced to the
 *     CRC (Intel, "Fast CRC Computation for Generic Polynomials Using
 *     PCLMULQDQ Instruction", 2009; the constants are those of Linux's
 *     crc32-pclmul for this polynomial). For 64 bytes and more; the rest of
 *     the buffer goes through the tables;
 *   - slicing-by-8: table[0] is the classic byte-at-a-time table, table[k][b]
 *     the CRC of byte b followed by k zero bytes, so eight lookups advance
 *     the CRC by eight bytes. The tables are built on first use.
 * Both give bit for bit the results of the bitwise algorithm (see
 * tests/unit/test-crc32.c).
 *
 * Header-only: its one user, daemon/fdstore.c, is also compiled on its own
 * into the libFuzzer binaries, next to an explicit list of util/ sources.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRC32_POLY 0xedb88320u

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32_HAVE_CLMUL 1
#include <immintrin.h>
#endif

static uint32_t crc32_table[8][256];
static bool crc32_use_clmul;
static pthread_once_t crc32_once = PTHREAD_ONCE_INIT;

static inline void crc32_init(void) {
        for (uint32_t b = 0; b < 256; b++) {
                uint32_t c = b;

                for (int k = 0; k < 8; k++)
                        c = (c >> 1) ^ (CRC32_POLY & (0u - (c & 1u)));
                crc32_table[0][b] = c;
        }
        for (uint32_t b = 0; b < 256; b++)
                for (int k = 1; k < 8; k++)
                        crc32_table[k][b] =
                                (crc32_table[k - 1][b] >> 8) ^ crc32_table[0][crc32_table[k - 1][b] & 0xffu];
#ifdef CRC32_HAVE_CLMUL
        __builtin_cpu_init();
        crc32_use_clmul = __builtin_cpu_supports("pclmul");
#endif
}

static inline uint32_t crc32_load_le32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The running (not inverted) CRC over len bytes, by the tables. */
static inline uint32_t crc32_by_tables(uint32_t crc, const uint8_t *p, size_t len) {
        for (; len >= 8; p += 8, len -= 8) {
                uint32_t lo = crc32_load_le32(p) ^ crc, hi = crc32_load_le32(p + 4);

                crc = crc32_table[7][lo & 0xffu] ^ crc32_table[6][(lo >> 8) & 0xffu] ^
                      crc32_table[5][(lo >> 16) & 0xffu] ^ crc32_table[4][lo >> 24] ^
                      crc32_table[3][hi & 0xffu] ^ crc32_table[2][(hi >> 8) & 0xffu] ^
                      crc32_table[1][(hi >> 16) & 0xffu] ^ crc32_table[0][hi >> 24];
        }
        while (len--)
                crc = (crc >> 8) ^ crc32_table[0][(crc ^ *p++) & 0xffu];
        return crc;
}

#ifdef CRC32_HAVE_CLMUL
/* The running CRC over len bytes; len is at least 64 and a multiple of 16. */
__attribute__((target("pclmul"))) static inline uint32_t crc32_by_clmul(uint32_t crc, const uint8_t *p,
                                                                          size_t len) {
        /* Folding constants for 512 and 128 bits, for 64 to 32 bits, then P and its Barrett constant; bit-reflected. */
        const __m128i k1k2 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);
        const __m128i k3k4 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);
        const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124);
        const __m128i poly_mu = _mm_set_epi64x(0x1f7011641, 0x1db710641);
        const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
        __m128i x1, x2, x3, x4, t;

#define LOAD(off) _mm_loadu_si128((const __m128i *)(const void *)(p + (off)))
/* x = x.lo * k.lo ^ x.hi * k.hi ^ y: x moved 128 (or 512) bits on, onto y. */
#define FOLD(x, k, y)                                                            \
        do {                                                                     \
                t = _mm_clmulepi64_si128(x, k, 0x11);                            \
                x = _mm_clmulepi64_si128(x, k, 0x00);                            \
                x = _mm_xor_si128(_mm_xor_si128(x, t), y);                       \
        } while (0)

        x1 = _mm_xor_si128(LOAD(0), _mm_cvtsi32_si128((int)crc));
        x2 = LOAD(16);
        x3 = LOAD(32);
        x4 = LOAD(48);
        for (p += 64, len -= 64; len >= 64; p += 64, len -= 64) {
                FOLD(x1, k1k2, LOAD(0));
                FOLD(x2, k1k2, LOAD(16));
                FOLD(x3, k1k2, LOAD(32));
                FOLD(x4, k1k2, LOAD(48));
        }
        FOLD(x1, k3k4, x2);
        FOLD(x1, k3k4, x3);
        FOLD(x1, k3k4, x4);
        for (; len >= 16; p += 16, len -= 16)
                FOLD(x1, k3k4, LOAD(0));
#undef FOLD
#undef LOAD
        /* 128 bits to 64, then to 32 (each with 32 zero bits appended), then Barrett reduction. */
        t = _mm_clmulepi64_si128(x1, k3k4, 0x10);
        x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
        t = _mm_srli_si128(x1, 4);
        x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5, 0x00);
        x1 = _mm_xor_si128(x1, t);
        t = x1;
        x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly_mu, 0x10);
        x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly_mu, 0x00);
        x1 = _mm_xor_si128(x1, t);
        return (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(x1, 4));
}
#endif

/* The same as crc32_ieee() by the tables alone, whatever the CPU (for the tests). */
static inline uint32_t crc32_ieee_tables(const void *data, size_t len) {
        (void)pthread_once(&crc32_once, crc32_init);
        return ~crc32_by_tables(0xffffffffu, data, len);
}

/* The CRC-32 of len bytes at data. */
static inline uint32_t crc32_ieee(const void *data, size_t len) {
        const uint8_t *p = data;
        uint32_t crc = 0xffffffffu;

        (void)pthread_once(&crc32_once, crc32_init);
#ifdef CRC32_HAVE_CLMUL
        if (crc32_use_clmul && len >= 64) {
                size_t n = len & ~(size_t)15;

                crc = crc32_by_clmul(crc, p, n);
                p += n;
                len -= n;
        }
#endif
        return ~crc32_by_tables(crc, p, len);
}
