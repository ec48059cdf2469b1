#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (tests/fuzz/README.md) over their committed corpus.
#
#   scripts/fuzz.sh TARGET SECONDS    one target for that long (frame, record_batch, ...)
#   scripts/fuzz.sh all SECONDS       every target for that long, $SLUICE_FUZZ_JOBS at a time
#                                     (default: the number of CPUs)
#   scripts/fuzz.sh list              the targets
#
# Builds build-fuzz/ first (scripts/build.sh fuzz; quick when it is up to date). The committed
# corpus tests/fuzz/corpus/<target>/ is only read: new inputs go to
# build-fuzz/findings/<target>/corpus/, and a crash, leak, timeout or sanitizer report leaves its
# input in build-fuzz/findings/<target>/ (crash-*, leak-*, timeout-*, oom-*). Exits non-zero if
# any target failed, after printing the end of its log and the command that replays the input.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
    echo "usage: scripts/fuzz.sh TARGET|all SECONDS   or   scripts/fuzz.sh list" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
what=$1
seconds=${2:-}
if [[ $what != list ]] && ! [[ $seconds =~ ^[0-9]+$ ]]; then
    usage
fi

if ! build_log=$(scripts/build.sh fuzz 2>&1); then
    echo "$build_log" | tail -n 60 >&2
    echo "fuzz.sh: the fuzz build failed" >&2
    exit 1
fi
bin_dir=$root/build-fuzz/tests/fuzz
findings=$root/build-fuzz/findings
mapfile -t targets < <(cd "$bin_dir" && ls fuzz_* | sed 's/^fuzz_//' | sort)

if [[ $what == list ]]; then
    printf '%s\n' "${targets[@]}"
    exit 0
fi
if [[ $what != all ]] && [[ ! -x $bin_dir/fuzz_$what ]]; then
    echo "fuzz.sh: no target '$what' (scripts/fuzz.sh list)" >&2
    exit 2
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} && -x /usr/lib/llvm-16/bin/llvm-symbolizer ]]; then
    export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-16/bin/llvm-symbolizer
fi

# Runs one target; its libFuzzer log goes to findings/<target>/log. Prints one line of result.
run_target() {
    local target=$1 out=$findings/$1
    mkdir -p "$out/corpus"
    touch "$out/started"  # failing inputs of earlier runs stay; this run's are newer
    local seeds=()
    [[ -d $root/tests/fuzz/corpus/$target ]] && seeds=("$root/tests/fuzz/corpus/$target")
    # -timeout: one input running this long counts as a hang; the inputs here take milliseconds.
    if "$bin_dir/fuzz_$target" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" "${seeds[@]}" \
        >"$out/log" 2>&1; then
        echo "fuzz $target: ok, $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$out/log" |
            grep -o '[0-9]*$') runs in ${seconds} s"
        return 0
    fi
    echo "fuzz $target: FAILED"
    tail -n 60 "$out/log" | sed 's/^/    /'
    find "$out" -maxdepth 1 -newer "$out/started" \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) |
        sed "s|^|    replay: $bin_dir/fuzz_$target |"
    return 1
}

if [[ $what != all ]]; then
    run_target "$what"
    exit
fi

jobs=${SLUICE_FUZZ_JOBS:-$(nproc)}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
failed=0
running=0
for target in "${targets[@]}"; do
    if (( running >= jobs )); then
        wait -n || failed=1
        running=$(( running - 1 ))
    fi
    run_target "$target" >"$results/$target" &
    running=$(( running + 1 ))
done
while (( running > 0 )); do
    wait -n || failed=1
    running=$(( running - 1 ))
done
cat "$results"/*
exit $failed
