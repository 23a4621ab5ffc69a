#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Runs one libFuzzer binary for a bounded time (the 'fuzz-timed' suite of a
# -Dfuzzing=true clang build; run.sh runs it in every CI run):
#   run-libfuzzer.sh FUZZER CORPUS-DIR ARTIFACT-DIR
# $SHMB_FUZZ_SECONDS sets the time (default 20). New inputs go to a scratch
# directory, never into the tree; a crash is kept in ARTIFACT-DIR and fails
# the test. Add it to the corpus (tests/fuzz/corpus/NAME/crash-...) with the fix.
set -eu
fuzzer=$1
corpus=$2
artifacts=$3
seconds=${SHMB_FUZZ_SECONDS:-20}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$work" "$corpus" || status=$?
if [ "$status" -ne 0 ]; then
        echo "$(basename "$fuzzer") failed (exit $status); inputs kept in $artifacts:" >&2
        ls -l "$artifacts" >&2 || true
fi
exit "$status"
