#!/usr/bin/env bash
# Broker benchmark: builds the release tree, starts one sluice-broker (page-cache flush mode,
# a fresh log directory, an ephemeral port) and measures, in this order and in the same run:
#   1. loopback TCP bandwidth, one connection (sluice-tcp-bench): the ceiling;
#   2. producer throughput: `sluice perf produce`, 5,000,000 records of 1 KiB (about 10 s),
#      acks=1, batch.size=262144 linger.ms=5, unthrottled, into one partition;
#   3. consumer throughput: `sluice perf consume` over everything step 2 wrote;
#   4. producer latency at a fixed rate: 20,000 records/s of 1 KiB for 10 s, linger.ms=0, acks=1.
# It prints each figure with its ratio to the ceiling, the machine, and a last line
#   broker-bench produce_mb_s=X consume_mb_s=X loopback_mb_s=X produce_ratio=X consume_ratio=X p99_ms_at_20k=X
# MB = 2^20 bytes throughout, as Kafka's perf tools count.
#
#   scripts/bench-broker.sh [--records N] [--partitions P] [--latency-seconds S] [--build-dir DIR]
# --build-dir uses the binaries of an existing build tree instead of building build/ (release).
# SLUICE_BENCH_DIR sets where the broker's log directory goes (default <build dir>/bench-broker).
set -euo pipefail
cd "$(dirname "$0")/.."

records=5000000
partitions=1
latency_rate=20000
latency_seconds=10
build_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --records) records=$2; shift 2 ;;
        --partitions) partitions=$2; shift 2 ;;
        --latency-seconds) latency_seconds=$2; shift 2 ;;
        --build-dir) build_dir=$2; shift 2 ;;
        *) echo "bench-broker: unknown option '$1'" >&2; exit 2 ;;
    esac
done

if [ -z "$build_dir" ]; then
    scripts/setup.sh > /dev/null
    scripts/build.sh release > /dev/null
    build_dir=build
fi
broker_bin=$build_dir/broker/sluice-broker
sluice=$build_dir/cli/sluice
tcp_bench=$build_dir/cli/sluice-tcp-bench
for b in "$broker_bin" "$sluice" "$tcp_bench"; do
    [ -x "$b" ] || { echo "bench-broker: $b is missing (build failed?)" >&2; exit 1; }
done

dir=${SLUICE_BENCH_DIR:-$build_dir/bench-broker}
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

# ---- machine
cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
cores=$(nproc)
ram_gib=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
echo "machine: ${cpu:-unknown CPU}, ${cores} cores, ${ram_gib} GiB RAM, kernel $(uname -r)"

# ---- broker
"$broker_bin" --override "log.dirs=$dir/data" --override "listeners=PLAINTEXT://127.0.0.1:0" \
    2> "$dir/broker.log" &
broker_pid=$!
port=""
for _ in $(seq 1 300); do
    port=$(sed -n 's/.* started: .*listeners=PLAINTEXT:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' \
        "$dir/broker.log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$broker_pid" 2> /dev/null || { cat "$dir/broker.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { echo "bench-broker: no start line from the broker" >&2; exit 1; }
bootstrap="127.0.0.1:$port"
echo "broker: pid $broker_pid on $bootstrap, log.dirs=$dir/data (page-cache flush mode)"
"$sluice" topic create bench -p "$partitions" -b "$bootstrap" > /dev/null
"$sluice" topic create latency -p "$partitions" -b "$bootstrap" > /dev/null

# ---- 1. loopback ceiling
tcp_out=$("$tcp_bench" --seconds 5)
echo "$tcp_out" | head -1
loopback=$(echo "$tcp_out" | sed -n 's/^tcp-bench mb_s=\([0-9.]*\).*/\1/p')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# ---- 2. produce throughput
produce_settings=(acks=1 batch.size=262144 linger.ms=5)
produce_props=()
for kv in "${produce_settings[@]}"; do
    produce_props+=(--producer-property "$kv")
done
echo "produce: $records records of 1024 bytes, ${produce_settings[*]}, $partitions partition(s)"
produce_out=$("$sluice" perf produce --topic bench --num-records "$records" --record-size 1024 \
    --throughput -1 "${produce_props[@]}" -b "$bootstrap")
echo "$produce_out" | sed 's/^/  /'
produce_line=$(echo "$produce_out" | tail -1)
produce_mb=$(echo "$produce_line" | sed -n 's/.*records\/sec (\([0-9.]*\) MB\/sec).*/\1/p')
echo "produce: $produce_mb MB/s = $(ratio "$produce_mb" "$loopback") of loopback"

# ---- 3. consume throughput
consume_out=$("$sluice" perf consume --topic bench --messages "$records" -b "$bootstrap")
echo "$consume_out" | sed 's/^/  /'
consume_mb=$(echo "$consume_out" | tail -1 | awk -F', ' '{ printf "%.2f", $4 }')
echo "consume: $consume_mb MB/s = $(ratio "$consume_mb" "$loopback") of loopback"

# ---- 4. latency at a fixed rate
latency_records=$((latency_rate * latency_seconds))
echo "latency: $latency_records records of 1024 bytes at $latency_rate records/s, acks=1 linger.ms=0"
latency_out=$("$sluice" perf produce --topic latency --num-records "$latency_records" \
    --record-size 1024 --throughput "$latency_rate" --producer-property acks=1 \
    --producer-property linger.ms=0 -b "$bootstrap")
echo "$latency_out" | sed 's/^/  /'
p99=$(echo "$latency_out" | tail -1 | sed -n 's/.* \([0-9.]*\) ms 99th.*/\1/p')
echo "latency: p99 $p99 ms at $latency_rate records/s"

echo "broker-bench produce_mb_s=$produce_mb consume_mb_s=$consume_mb loopback_mb_s=$loopback" \
    "produce_ratio=$(ratio "$produce_mb" "$loopback") consume_ratio=$(ratio "$consume_mb" "$loopback")" \
    "p99_ms_at_20k=$p99"
