#!/usr/bin/env bash
# Configures and builds one build tree.
#   scripts/build.sh [release|asan|tsan|fuzz] [extra cmake args...]
# release -> build/        asan -> build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)
# tsan -> build-tsan/ (ThreadSanitizer; run before changing threads, strands or pools)
# fuzz -> build-fuzz/: clang 16, the libFuzzer targets of tests/fuzz and the libraries they link,
#         instrumented for coverage and checked by ASan + UBSan; no doctest suites. Clang 16, not
#         Debian's default 14: the code uses C++20 that GCC 12 has and clang has only from 16
#         (lambdas capturing structured bindings, aggregates built with parentheses).
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:-release}
shift || true
targets=()
case "$kind" in
    release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DSLUICE_SANITIZE=ON) ;;
    tsan) dir=build-tsan; flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DSLUICE_TSAN=ON) ;;
    fuzz)
        dir=build-fuzz
        flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-16 -DSLUICE_FUZZ=ON)
        targets=(--target fuzzers)
        ;;
    *) echo "build.sh: unknown build kind '$kind' (release, asan, tsan or fuzz)" >&2; exit 2 ;;
esac

jobs=${SLUICE_BUILD_JOBS:-$(nproc)}
cmake -S . -B "$dir" -G Ninja "${flags[@]}" "$@" > /dev/null
cmake --build "$dir" -j "$jobs" "${targets[@]}"
