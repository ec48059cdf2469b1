#!/usr/bin/env bash
# Shows that the Raft simulation's checker catches deliberate bugs in the core: runs each
# mutant binary (tests/raft/CMakeLists.txt: raft-sim-mutant-N, the core built with
# SLUICE_RAFT_MUTANT=N, sluice/raft/invariant.h) over seeds until one fails, and fails itself if
# a mutant survives $SLUICE_MUTANT_SEEDS seeds (default 20000).
#
#   scripts/raft-mutants.sh [DIR] [MUTANT...]   DIR holds the binaries (default build/tests/raft);
#                                               mutants default to 1 2 3 4 5 (the test's set)
#
# Mutant 1 (a voter change before the leader committed an entry of its term) survives 20,000
# chaos seeds: the interleaving that turns it into two leaders or a lost commit is too rare for
# random faults, so it runs the scripted counter-example first (raft-sim --scenario
# voter-change; docs/raft.md, "The simulation").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build/tests/raft}
shift || true
mutants=("$@")
[[ ${#mutants[@]} -gt 0 ]] || mutants=(1 2 3 4 5)
# What the checker must say for each: a liveness timeout or a crash does not count.
declare -A expect=(
    [1]="two leaders|committed there is|differs|holds|has term"
    [2]="committed while on"
    [3]="asked for votes|granted .* with"
    [4]="leads term"
    [5]="two leaders|granted its vote in term .* and to|has term|differs|took a correct message"
)
budget=${SLUICE_MUTANT_SEEDS:-20000}
step=500

survived=0
for mutant in "${mutants[@]}"; do
    bin=$dir/raft-sim-mutant-$mutant
    if [[ ! -x $bin ]]; then
        echo "raft-mutants: $bin is missing (build the release tree first)" >&2
        exit 2
    fi
    caught=""
    # Mutant 1 needs the scripted run (sim/scripted.h): random faults are too unlikely to hit it.
    if [[ $mutant == 1 ]] && ! out=$("$bin" --scenario voter-change 2>&1); then
        caught=$(grep -m1 -E "^FAIL .*(${expect[$mutant]})" <<<"$out" || true)
        [[ -n $caught ]] && echo "mutant 1: caught by the scripted run: $caught"
    fi
    for (( first = 1; first <= budget; first += step )); do
        [[ -z $caught ]] || break
        if ! out=$("$bin" --seeds "$step" --first-seed "$first" 2>&1); then
            caught=$(grep -m1 -E "^FAIL .*(${expect[$mutant]})" <<<"$out" || true)
            if [[ -n $caught ]]; then
                echo "mutant $mutant: caught within seeds $first..$((first + step - 1)): $caught"
                break
            fi
        fi
    done
    if [[ -z $caught ]]; then
        echo "mutant $mutant: NOT caught in $budget seeds" >&2
        survived=$((survived + 1))
    fi
done
exit $(( survived > 0 ))
