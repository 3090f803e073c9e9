#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Build the libFuzzer targets with clang in their own build directory and
# run the stream decoder fuzzer for a while, seeded with tests/data/*.diff.
# Exits non-zero when the fuzzer finds a crash, a leak or undefined
# behaviour (the reproducer is left in the build directory, artifacts/).
#
# Usage: scripts/fuzz.sh [SECONDS]     (default: $FUZZ_SECONDS, else 60)
# Env:   FUZZ_SECONDS, FUZZ_BUILD_DIR (default: <repo>/build-fuzz).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-${FUZZ_SECONDS:-60}}
build=${FUZZ_BUILD_DIR:-$src/build-fuzz}

case $seconds in
'' | *[!0-9]*)
    echo "fuzz.sh: seconds must be a whole number, not '$seconds'" >&2
    exit 2
    ;;
esac

mkdir -p "$build"
CC=clang cmake -S "$src" -B "$build" -DRBDMOVE_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "fuzz.sh: configure failed" >&2
    exit 1
}
cmake --build "$build" --target fuzz_stream -j"$(nproc)" >/dev/null

# The fuzzer adds what it finds to the corpus directory; the seeds in git
# stay untouched.
corpus=$build/corpus/stream
artifacts=$build/artifacts
mkdir -p "$corpus" "$artifacts"
cp "$src"/tests/data/*.diff "$corpus"/

echo "fuzz.sh: fuzz_stream for ${seconds}s (corpus $corpus)"
"$build"/tests/fuzz/fuzz_stream -max_total_time="$seconds" \
    -max_len=70000 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus"
