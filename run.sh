#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The two Quick start commands:
#   ./run.sh daemon [-- DAEMON-ARGS]   install what is missing, build, run shmbrokerd in the foreground
#   ./run.sh test                      install what is missing, build, run every test suite
#
# Works on a fresh Debian 12 machine as root (or with sudo for apt-get).
set -euo pipefail
cd "$(dirname "$0")"

DEPS=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev llvm libevent-dev libprotobuf-c-dev libinih-dev
      protobuf-c-compiler libsystemd-dev libbsd-dev python3 util-linux systemd valgrind
      debootstrap systemd-container libsmartcols-dev python3-dev python3-numpy python3-pytest
      dpkg-dev debhelper lintian fakeroot zsh fish mandoc)

log() { printf '==> %s\n' "$*" >&2; }

install_deps() {
        local missing=() p
        for p in "${DEPS[@]}"; do
                dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        log "installing: ${missing[*]}"
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [meson options...]: configure once, then build.
build() {
        local dir=$1; shift
        if [ ! -f "$dir/build.ninja" ]; then
                meson setup "$dir" "$@" >/dev/null
        fi
        ninja -C "$dir" >/dev/null
}

# Prints "N passed, N failed, N skipped" for the tests in the given build dirs
# (every meson test log there: testlog.json and those of test setups, e.g.
# testlog-valgrind.json).
summary() {
        python3 - "$@" <<'PY'
import glob, json, sys
passed = failed = skipped = 0
for d in sys.argv[1:]:
    lines = []
    for f in sorted(glob.glob(f"{d}/meson-logs/testlog*.json")):
        try:
            lines += open(f).read().splitlines()
        except OSError:
            continue
    for line in lines:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
}

cmd=${1:-}
shift || true
case "$cmd" in
daemon)
        [ "${1:-}" = "--" ] && shift
        install_deps
        build build
        log "starting build/daemon/shmbrokerd $*"
        exec build/daemon/shmbrokerd "$@"
        ;;
test)
        install_deps
        status=0
        # Logs of passes that may not run this time must not count from an earlier run.
        rm -f build-test/meson-logs/testlog-valgrind.json build-fuzz/meson-logs/testlog.json
        log "build: gcc, debug"
        build build-test -Dbuildtype=debug -Dnspawn_tests=true
        log "build: gcc, release (compile only: catches optimiser-only warnings)"
        build build-release -Dbuildtype=release
        log "build: clang, ASan+UBSan"
        CC=clang build build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
        log "tests: gcc debug build"
        meson test -C build-test --print-errorlogs --num-processes 2 "$@" || status=1
        log "tests: ASan+UBSan build"
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:handle_segv=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                meson test -C build-asan --print-errorlogs --num-processes 2 "$@" || status=1
        # The full run only (no test selection given): the slower passes.
        if [ $# -eq 0 ]; then
                log "tests: integration suite with the daemon under valgrind (memcheck: no errors, no definite leaks)"
                meson test -C build-test --setup valgrind --suite integration --print-errorlogs \
                        --num-processes 1 || status=1
                log "fuzzing: each libFuzzer target for ${SHMB_FUZZ_SECONDS:-20} s (clang, ASan+UBSan)"
                if [ ! -f build-fuzz/build.ninja ]; then
                        CC=clang meson setup build-fuzz -Dbuildtype=debugoptimized -Dfuzzing=true >/dev/null
                fi
                ninja -C build-fuzz tests/fuzz/fuzz-wire-libfuzzer tests/fuzz/fuzz-name-libfuzzer \
                        tests/fuzz/fuzz-dispatch-libfuzzer tests/fuzz/fuzz-config-libfuzzer >/dev/null
                meson test -C build-fuzz --no-rebuild --suite fuzz-timed --print-errorlogs --num-processes 2 || status=1
        fi
        summary build-test build-asan build-fuzz
        exit $status
        ;;
*)
        echo "usage: $0 daemon [-- DAEMON-ARGS] | test [MESON-TEST-ARGS]" >&2
        exit 2
        ;;
esac
