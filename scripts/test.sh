#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, then builds and runs every test
# in the release build and again in the AddressSanitizer + UndefinedBehaviorSanitizer build.
#   scripts/test.sh            both builds
#   scripts/test.sh release    only the release build (quicker, for development)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/check-format.sh

kinds=("${1:-release}")
if [ $# -eq 0 ]; then
    kinds=(release asan)
fi
for kind in "${kinds[@]}"; do
    echo "== $kind build"
    scripts/build.sh "$kind"
    dir=build
    [ "$kind" = asan ] && dir=build-asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir "$dir" --output-on-failure -j "$(nproc)"
done
