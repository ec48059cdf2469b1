#!/usr/bin/env bash
# Storage benchmark: builds the release tree, then appends and reads back N records of S bytes in
# batches of B bytes in both flush modes, with a plain sequential write() of the same bytes to the
# same directory as the ceiling. Extra flags go to sluice-storage-bench (--records, --record-size,
# --batch-bytes, --fsync-records, --rounds, --dir).
#   scripts/bench-storage.sh [flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh > /dev/null
scripts/build.sh release > /dev/null
dir=${SLUICE_BENCH_DIR:-build/bench-data}
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
build/storage/bench/sluice-storage-bench --dir "$dir" "$@"
