#!/usr/bin/env bash
# Consumer-group benchmark: builds the release tree, starts one sluice-broker (a fresh log
# directory, an ephemeral port, group.initial.rebalance.delay.ms=0 so that the join figures are
# the protocol's and not the broker's wait for more members) and runs sluice-group-bench:
#   1. rebalance: 10 members join a topic of 100 partitions (from the first subscribe to every
#      partition owned once), then an 11th joins (until it holds its share): with the eager
#      range assignor, then cooperative-sticky; and how many partitions the others gave up;
#   2. throughput: --records records of --record-size bytes in 6 partitions, read by one
#      consumer that assigns itself every partition and by a group of 3 members, alternating
#      which goes first, --rounds rounds: MB/s (medians) and the geometric mean of the rounds'
#      group/plain ratios.
# It prints the machine and a last line
#   group-bench eager_join_ms=X eager_add_ms=X eager_add_revoked=N cooperative_join_ms=X
#     cooperative_add_ms=X cooperative_add_revoked=N plain_mb_s=X group3_mb_s=X group_ratio=X
#
#   scripts/bench-groups.sh [--records N] [--record-size S] [--rounds R] [--build-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
records=2000000
record_size=512
rounds=4
build_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --records) records=$2; shift 2 ;;
        --record-size) record_size=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --build-dir) build_dir=$2; shift 2 ;;
        *) echo "bench-groups: unknown option '$1'" >&2; exit 2 ;;
    esac
done
if [ -z "$build_dir" ]; then
    scripts/setup.sh > /dev/null
    scripts/build.sh release > /dev/null
    build_dir=build
fi
broker_bin=$build_dir/broker/sluice-broker
bench=$build_dir/client/sluice-group-bench
for b in "$broker_bin" "$bench"; do
    [ -x "$b" ] || { echo "bench-groups: $b is missing (build failed?)" >&2; exit 1; }
done
dir=${SLUICE_BENCH_DIR:-$build_dir/bench-groups}
rm -rf "$dir"
mkdir -p "$dir/data"
broker_pid=""
cleanup() {
    if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2> /dev/null; then
        kill -TERM "$broker_pid"
        wait "$broker_pid" || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
ram_gib=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
echo "machine: ${cpu:-unknown CPU}, $(nproc) cores, ${ram_gib} GiB RAM, kernel $(uname -r)"

"$broker_bin" --override "log.dirs=$dir/data" --override "listeners=PLAINTEXT://127.0.0.1:0" \
    --override "group.initial.rebalance.delay.ms=0" \
    --override "offsets.topic.replication.factor=1" 2> "$dir/broker.log" &
broker_pid=$!
port=""
for _ in $(seq 1 300); do
    port=$(sed -n 's/.* started: .*listeners=PLAINTEXT:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' \
        "$dir/broker.log" 2> /dev/null | head -1 || true)
    [ -n "$port" ] && break
    kill -0 "$broker_pid" 2> /dev/null || { cat "$dir/broker.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { echo "bench-groups: no start line from the broker" >&2; exit 1; }
echo "broker: pid $broker_pid on 127.0.0.1:$port, group.initial.rebalance.delay.ms=0"
sync
"$bench" --bootstrap "127.0.0.1:$port" --records "$records" --record-size "$record_size" \
    --rounds "$rounds"
