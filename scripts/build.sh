#!/usr/bin/env bash
# Configures and builds one build tree.
#   scripts/build.sh [release|asan] [extra cmake args...]
# release -> build/        asan -> build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:-release}
shift || true
case "$kind" in
    release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DSLUICE_SANITIZE=ON) ;;
    *) echo "build.sh: unknown build kind '$kind' (release or asan)" >&2; exit 2 ;;
esac

jobs=${SLUICE_BUILD_JOBS:-$(nproc)}
cmake -S . -B "$dir" -G Ninja "${flags[@]}" "$@" > /dev/null
cmake --build "$dir" -j "$jobs"
