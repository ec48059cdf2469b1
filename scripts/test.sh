#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, then builds and runs every test
# in the release build and again in the AddressSanitizer + UndefinedBehaviorSanitizer build, and
# last runs every fuzz target over its corpus for $SLUICE_FUZZ_SECONDS (default 30) seconds in
# the fuzz build; any crash, leak or sanitizer report fails it (scripts/fuzz.sh).
#   scripts/test.sh            all three
#   scripts/test.sh release    only the release build (quicker, for development)
#   scripts/test.sh fuzz       only the fuzz stage
#   scripts/test.sh tsan       the ThreadSanitizer build and its tests (not in CI: run it before
#                              changing threads, strands or pools)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/check-format.sh

kinds=("${1:-release}")
if [ $# -eq 0 ]; then
    kinds=(release asan fuzz)
fi
for kind in "${kinds[@]}"; do
    if [ "$kind" = fuzz ]; then
        echo "== fuzz build: every target for ${SLUICE_FUZZ_SECONDS:-30} s"
        scripts/fuzz.sh all "${SLUICE_FUZZ_SECONDS:-30}"
        continue
    fi
    echo "== $kind build"
    scripts/build.sh "$kind"
    dir=build
    [ "$kind" = asan ] && dir=build-asan
    [ "$kind" = tsan ] && dir=build-tsan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        ctest --test-dir "$dir" --output-on-failure -j "$(nproc)"
done
