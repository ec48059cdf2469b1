#!/usr/bin/env bash
# The controller's numbers on a local 3-node cluster (docs/controller.md), with default timeouts:
#
#   failover      kill -9 of the active controller until a topic creation through another broker
#                 succeeds again, over ROUNDS rounds (the killed node restarts between rounds)
#   visibility    a new topic of 100 partitions, created through broker 1, until every broker's
#                 metadata shows all 100 with a leader
#   apply         metadata records applied to the image per second (controller-apply-bench:
#                 1,000 and 4,000 topic creations of 10 partitions, pure, no disk: each
#                 batch copies the image's topic map, so the rate falls as topics grow)
#
#   scripts/bench-cluster.sh [--build-dir DIR] [--rounds N]
#
# Uses scripts/cluster.sh and the `sluice` CLI (whose process start is part of each step: these
# are operator-visible times, not the controller's alone). Prints the machine it ran on.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
rounds=5
while [[ $# -gt 0 ]]; do
    case $1 in
    --build-dir) build=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: scripts/bench-cluster.sh [--build-dir DIR] [--rounds N]" >&2; exit 2 ;;
    esac
done
cli=$build/cli/sluice
export SLUICE_BROKER=$build/broker/sluice-broker
[[ -x $cli && -x $SLUICE_BROKER ]] || { echo "bench-cluster: build first (scripts/build.sh)" >&2; exit 1; }
dir=$(mktemp -d /tmp/sluice-bench-cluster.XXXXXX)
cluster() { "$root/scripts/cluster.sh" "$@"; }
trap 'cluster stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
stats() { # min median max of the numbers on stdin
    sort -n | awk '{v[NR]=$1} END {printf "min %d ms, median %d ms, max %d ms (%d rounds)", v[1], v[int((NR+1)/2)], v[NR], NR}'
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
boot=$(cluster start 3 "$dir")
addr() { echo "$boot" | cut -d, -f"$1"; }
active() { # the node whose broker metadata names it the active controller
    "$cli" -b "$(addr 1),$(addr 2),$(addr 3)" cluster describe 2>/dev/null | awk '$4 == "active" {print $1}'
}

# Failover.
: >"$dir/failover"
for ((r = 1; r <= rounds; r++)); do
    victim=$(active)
    [[ -n $victim ]] || { sleep 0.2; victim=$(active); }
    via=$((victim % 3 + 1))
    "$cli" -b "$(addr "$via")" topic create "warm-$r" -p 1 >/dev/null
    start=$(now_ms)
    cluster kill "$victim" "$dir"
    until "$cli" -b "$(addr "$via")" topic create "after-kill-$r" -p 1 >/dev/null 2>&1; do
        sleep 0.02
    done
    echo $(($(now_ms) - start)) >>"$dir/failover"
    cluster restart "$victim" "$dir"
done
echo "failover (kill -9 of the active controller to a successful topic creation): $(stats <"$dir/failover")"

# Visibility of a new topic of 100 partitions on every broker.
start=$(now_ms)
"$cli" -b "$(addr 1)" topic create visible -p 100 >/dev/null
for n in 1 2 3; do
    until [[ $("$cli" -b "$(addr "$n")" topic describe visible 2>/dev/null |
        awk 'NR > 2 && $2 >= 0' | wc -l) == 100 ]]; do
        sleep 0.01
    done
done
echo "visibility (a topic of 100 partitions on all 3 brokers): $(($(now_ms) - start)) ms"

# Applying the metadata log: the image's own rate, as every node applies the log.
"$build/broker/controller/controller-apply-bench" 1000 10
"$build/broker/controller/controller-apply-bench" 4000 10
