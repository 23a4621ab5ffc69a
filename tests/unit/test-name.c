/* SPDX-License-Identifier: MIT */
/*
 * name_is_valid(): the rules from SPEC section 3 plus canonical form (no
 * empty segments), on counted bytes since names come off the wire.
 */
#include <string.h>

#include "tap.h"
#include "util.h"

static bool valid(const char *s) {
        return name_is_valid(s, strlen(s), NULL);
}

/* Checks that s is refused with the reason that contains `word`. */
static bool refused_because(const char *s, size_t len, const char *word) {
        const char *why = NULL;

        if (name_is_valid(s, len, &why))
                return false;
        return why && strstr(why, word);
}

int main(void) {
        char buf[SHMB_NAME_MAX + 2];
        const char *why = "untouched";

        /* Accepted. */
        CHECK(valid("a"));
        CHECK(valid("video/frame-0"));
        CHECK(valid("A.b_c:d@e-f/0.9"));
        CHECK(valid("..a"));
        CHECK(valid("a.."));
        CHECK(valid("a/.b/c."));
        CHECK(valid("..."));
        CHECK(valid("user@host:cache/v1.2"));
        CHECK(valid("-"));

        /* Empty. */
        CHECK(refused_because("", 0, "empty"));
        CHECK(refused_because(NULL, 0, "empty"));

        /* Length: exactly 200 accepted, 201 refused. */
        memset(buf, 'x', sizeof(buf));
        CHECK(name_is_valid(buf, SHMB_NAME_MAX, NULL));
        CHECK(refused_because(buf, SHMB_NAME_MAX + 1, "longer than 200"));

        /* Bytes outside the set. */
        CHECK(refused_because("a b", 3, "outside"));
        CHECK(refused_because("a\nb", 3, "outside"));
        CHECK(refused_because("a\\b", 3, "outside"));
        CHECK(refused_because("caf\xc3\xa9", 5, "outside"));
        CHECK(refused_because("a*", 2, "outside"));
        CHECK(refused_because("a\0b", 3, "outside"));
        CHECK(refused_because("a\0", 2, "outside"));
        CHECK(refused_because("\xff", 1, "outside"));
        /* len, not the NUL, bounds the name: a prefix of a bad string is fine. */
        CHECK(name_is_valid("ab c", 2, NULL));

        /* Dot segments. */
        CHECK(refused_because(".", 1, "'..'"));
        CHECK(refused_because("..", 2, "'..'"));
        CHECK(refused_because("a/..", 4, "'..'"));
        CHECK(refused_because("../a", 4, "'..'"));
        CHECK(refused_because("a/./b", 5, "'..'"));
        CHECK(refused_because("a/../b", 6, "'..'"));
        CHECK(refused_because("a/.", 3, "'..'"));

        /* Empty segments. */
        CHECK(refused_because("/", 1, "empty segment"));
        CHECK(refused_because("/a", 2, "empty segment"));
        CHECK(refused_because("a/", 2, "empty segment"));
        CHECK(refused_because("a//b", 4, "empty segment"));

        /* ret_why is static text and is not required. */
        CHECK(!name_is_valid("a//b", 4, NULL));
        CHECK(!name_is_valid("a b", 3, &why) && why && strlen(why) > 0);
        why = "untouched";
        CHECK(name_is_valid("ok", 2, &why));

        return tap_done();
}
