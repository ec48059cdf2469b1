#!/usr/bin/env bash
# Runs the Raft simulation (tests/raft/sim) over many seeds.
#
#   scripts/raft-soak.sh [SEEDS] [FIRST_SEED]        default: 10000 seeds from seed 1
#
# Builds raft-sim if needed (in $SLUICE_BUILD_DIR, default ./build), runs the seeds split over
# $JOBS processes (default: the number of CPUs), prints every failing seed with the command that
# replays it with a full trace, and ends with the line `raft-sim seeds=N failures=F`.
# Exits non-zero if any seed failed.
set -euo pipefail

seeds=${1:-10000}
first=${2:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SLUICE_BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}

if [[ ! -f $build/build.ninja && ! -f $build/Makefile ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j2 --target raft-sim >/dev/null
sim=$build/tests/raft/raft-sim

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

per=$(( (seeds + jobs - 1) / jobs ))
declare -a pids starts counts
for (( j = 0; j < jobs; j++ )); do
    start=$(( first + j * per ))
    left=$(( first + seeds - start ))
    (( left > 0 )) || break
    count=$(( per < left ? per : left ))
    "$sim" --seeds "$count" --first-seed "$start" >"$out/$j.txt" 2>&1 &
    pids[j]=$!
    starts[j]=$start
    counts[j]=$count
done

total=0
failures=0
recovery_max=0
for j in "${!pids[@]}"; do
    wait "${pids[j]}" || true
    file=$out/$j.txt
    grep -E '^(FAIL |  replay: )' "$file" || true
    last=$(tail -n 1 "$file")
    if [[ $last =~ ^raft-sim\ seeds=([0-9]+)\ failures=([0-9]+)$ ]]; then
        total=$(( total + BASH_REMATCH[1] ))
        failures=$(( failures + BASH_REMATCH[2] ))
        r=$(sed -n 's/.*recovery_ticks_max=\([0-9-]*\).*/\1/p' "$file")
        (( ${r:-0} > recovery_max )) && recovery_max=$r
    else
        # The process died (a sanitizer report, a signal): its seeds count as one failure.
        echo "FAIL seeds ${starts[j]}..$(( starts[j] + counts[j] - 1 )): raft-sim stopped early:"
        tail -n 5 "$file"
        echo "  replay: $sim --seeds ${counts[j]} --first-seed ${starts[j]}"
        total=$(( total + counts[j] ))
        failures=$(( failures + 1 ))
    fi
done
echo "slowest recovery after faults stopped: $recovery_max ticks"
echo "raft-sim seeds=$total failures=$failures"
(( failures == 0 ))
