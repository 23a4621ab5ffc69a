/* SPDX-License-Identifier: MIT */
/*
 * crc32_ieee() against the bitwise CRC-32 the fd store's metadata log was
 * first written with: every length up to a few cache lines, at every
 * alignment, by the carry-less multiplication (64 bytes and more, where the
 * CPU has it) and by the tables alone, plus the standard check values.
 */
#include <stdint.h>
#include <string.h>

#include "crc32.h"
#include "tap.h"

static uint32_t crc32_bitwise(const void *data, size_t len) {
        const uint8_t *p = data;
        uint32_t crc = 0xffffffffu;

        while (len--) {
                crc ^= *p++;
                for (int k = 0; k < 8; k++)
                        crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
        }
        return ~crc;
}

int main(void) {
        static uint8_t buf[4096 + 16];
        uint32_t x = 0x12345678u;
        unsigned bad = 0, n = 0;

        CHECK(crc32_ieee("123456789", 9) == 0xcbf43926u);
        CHECK(crc32_ieee("", 0) == 0);
        CHECK(crc32_ieee("a", 1) == 0xe8b7be43u);

        for (size_t i = 0; i < sizeof(buf); i++) {
                /* xorshift: reproducible bytes */
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[i] = (uint8_t)x;
        }
        for (size_t len = 0; len <= 600; len++)
                for (size_t align = 0; align < 16; align++, n++)
                        bad += crc32_ieee(buf + align, len) != crc32_bitwise(buf + align, len) ||
                               crc32_ieee_tables(buf + align, len) != crc32_bitwise(buf + align, len);
        CHECK_MSG(bad == 0, "every length 0..600 at every alignment matches the bitwise CRC, both ways");
        CHECK(n == 601 * 16);
        CHECK(crc32_ieee(buf, 4096) == crc32_bitwise(buf, 4096));
        CHECK(crc32_ieee(buf + 3, 4093) == crc32_bitwise(buf + 3, 4093));
        CHECK(crc32_ieee_tables(buf + 3, 4093) == crc32_bitwise(buf + 3, 4093));
        memset(buf, 0xff, sizeof(buf));
        CHECK(crc32_ieee(buf, 1000) == crc32_bitwise(buf, 1000));
        memset(buf, 0, sizeof(buf));
        CHECK(crc32_ieee(buf, 1000) == crc32_bitwise(buf, 1000));
        return tap_done();
}
