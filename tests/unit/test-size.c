/* SPDX-License-Identifier: MIT */
/*
 * size_parse() and size_format(): strict parsing, binary units, and output
 * that parses back to the same number whenever it is exact.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "tap.h"
#include "util.h"

static bool parses_to(const char *s, uint64_t want) {
        uint64_t v = 0;

        return size_parse(s, &v) == 0 && v == want;
}

static bool fails_with(const char *s, int err) {
        uint64_t v = 12345;

        /* ret must be untouched on failure. */
        return size_parse(s, &v) == err && v == 12345;
}

static bool formats_as(uint64_t v, const char *want) {
        char buf[SIZE_FORMAT_MAX];

        return strcmp(size_format(v, buf, sizeof(buf)), want) == 0;
}

int main(void) {
        char small[4];

        CHECK(parses_to("0", 0));
        CHECK(parses_to("4096", 4096));
        CHECK(parses_to("007", 7));
        CHECK(parses_to("4K", 4096));
        CHECK(parses_to("4k", 4096));
        CHECK(parses_to("4KiB", 4096));
        CHECK(parses_to("4KB", 4096));
        CHECK(parses_to("2M", UINT64_C(2) << 20));
        CHECK(parses_to("2m", UINT64_C(2) << 20));
        CHECK(parses_to("2MiB", UINT64_C(2) << 20));
        CHECK(parses_to("2MB", UINT64_C(2) << 20));
        CHECK(parses_to("1G", UINT64_C(1) << 30));
        CHECK(parses_to("1GiB", UINT64_C(1) << 30));
        CHECK(parses_to("1T", UINT64_C(1) << 40));
        CHECK(parses_to("1t", UINT64_C(1) << 40));
        CHECK(parses_to("18446744073709551615", UINT64_MAX));
        CHECK(parses_to("16777215T", UINT64_C(16777215) << 40));

        CHECK(fails_with("", -EINVAL));
        CHECK(fails_with("K", -EINVAL));
        CHECK(fails_with("-1", -EINVAL));
        CHECK(fails_with("+1", -EINVAL));
        CHECK(fails_with(" 1", -EINVAL));
        CHECK(fails_with("1 ", -EINVAL));
        CHECK(fails_with("1 K", -EINVAL));
        CHECK(fails_with("1.5M", -EINVAL));
        CHECK(fails_with("1X", -EINVAL));
        CHECK(fails_with("1KK", -EINVAL));
        CHECK(fails_with("1Kib", -EINVAL));
        CHECK(fails_with("1iB", -EINVAL));
        CHECK(fails_with("0x10", -EINVAL));
        CHECK(fails_with("1tb", -EINVAL));
        CHECK(fails_with("18446744073709551616", -ERANGE));
        CHECK(fails_with("99999999999999999999999", -ERANGE));
        CHECK(fails_with("16777216T", -ERANGE));
        CHECK(fails_with("17179869184G", -ERANGE));
        CHECK(size_parse(NULL, &(uint64_t){ 0 }) == -EINVAL);

        CHECK(formats_as(0, "0"));
        CHECK(formats_as(512, "512"));
        CHECK(formats_as(1023, "1023"));
        CHECK(formats_as(1024, "1K"));
        CHECK(formats_as(4096, "4K"));
        CHECK(formats_as(1536, "1.5K"));
        CHECK(formats_as(UINT64_C(2) << 20, "2M"));
        CHECK(formats_as(UINT64_C(3) << 19, "1.5M"));
        CHECK(formats_as(UINT64_C(1) << 30, "1G"));
        CHECK(formats_as(UINT64_C(1) << 40, "1T"));
        CHECK(formats_as(UINT64_C(1025), "1.0K"));
        CHECK(formats_as((UINT64_C(2) << 20) - 1, "2.0M"));
        CHECK(formats_as((UINT64_C(1) << 20) - 1, "1.0M"));
        CHECK(formats_as(UINT64_MAX, "16777216.0T"));
        CHECK(formats_as(UINT64_C(16777215) << 40, "16777215T"));

        /* Exact outputs parse back. */
        {
                static const uint64_t values[] = { 0, 1, 1023, 1024, 4096, UINT64_C(2) << 20, UINT64_C(5) << 30, UINT64_C(7) << 40 };
                bool all = true;

                for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                        char buf[SIZE_FORMAT_MAX];
                        uint64_t back;

                        if (size_parse(size_format(values[i], buf, sizeof(buf)), &back) < 0 || back != values[i])
                                all = false;
                }
                CHECK_MSG(all, "exact sizes round-trip through size_format and size_parse");
        }

        /* A short buffer truncates but stays a string. */
        CHECK(strcmp(size_format(123456, small, sizeof(small)), "120") == 0);

        return tap_done();
}
