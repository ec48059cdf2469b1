#!/usr/bin/env bash
# Broker benchmark: builds the release tree, starts one sluice-broker (page-cache flush mode,
# a fresh log directory, an ephemeral port) and measures, in this order and in the same run:
#   1. loopback TCP bandwidth, one connection (sluice-tcp-bench), 2 s: the ceiling, measured
#      before each round of steps 2 and 3, since this machine's speed moves by 2x from one
#      minute to the next (a shared virtual machine): each round's figure is compared with the
#      ceiling of its moment, and produce_ratio and consume_ratio are the medians of the rounds'
#      ratios (loopback_mb_s, the median of the 6 measurements, is what step 6 compares with);
#   2. producer throughput over one connection with up to 5 requests in flight (pipelining):
#      `sluice perf produce`, 3 rounds of a third of --records (333,333) of 1 KiB, acks=1,
#      batch.size=262144 linger.ms=5, unthrottled, into one partition;
#   3. consumer throughput: 3 rounds of `sluice perf consume` over everything step 2 wrote; the
#      broker sends the records from the segment files on its blocking pool
#      (fetch.sendfile=auto: to this loopback consumer it reads and sends them; see step 9);
#   4. producer latency at a fixed rate: 20,000 records/s of 1 KiB for 10 s, linger.ms=0, acks=1;
#   5. one round of step 2 with one request in flight (no pipelining), for the pipelining ratio;
#   6. 64 producer processes at once (64 connections) into 8 partitions;
#   7. 16 producers into a page-cache topic, then 16 into an fsync-mode topic
#      (flush.messages=1: every acknowledgement waits for its fsync), alternating for 3 rounds:
#      the group-commit ratio, the median of the rounds' ratios;
#   8. the broker's resident memory (RSS, and its peak), then with 1,000 idle connections open;
#   9. step 3 again with fetch.sendfile=true (sendfile) against auto (read and sent), the
#      broker restarted between them, alternating for 3 rounds, the median of the rounds' ratios;
#  10. idempotent produce against non-idempotent: a sixth of --records each, acks=all and the
#      settings of step 2, enable.idempotence=true and =false for 6 rounds, which one goes first
#      alternating (the second of a pair runs slower), the geometric mean of the rounds' ratios,
#      and the ratio of their CPU times per MB (broker and client; plain's over idempotent's);
#  11. conditional appends on one partition (sluice-optimistic-counter: writers that append
#      where they know the end and, on CONFLICT, read the value at the end it names and append
#      there) with 1, 4 and 16 writers: increments/s and the conflict rate.
# Every throughput step starts after sync(1), and no step writes more than 1 GiB: the figures
# measure the broker and its clients, not how fast the disk absorbs the kernel's write-back
# (Linux throttles writers once dirty pages pass 10-20% of RAM; a longer run with --records
# shows that limit of the machine's disk instead).
# It prints each figure with its ratio to the ceiling, the machine, and a last line
#   broker-bench produce_mb_s=X consume_mb_s=X loopback_mb_s=X produce_ratio=X consume_ratio=X
#     p99_ms_at_20k=X  [then] produce_1_in_flight_mb_s=X pipelining_ratio=X produce_64_mb_s=X
#     produce_16_mb_s=X produce_16_fsync_mb_s=X fsync_ratio=X rss_mib=X rss_peak_mib=X
#     rss_1000_idle_mib=X consume_sendfile_mb_s=X read_vs_sendfile_ratio=X
#     idempotent_mb_s=X plain_mb_s=X idempotence_ratio=X idempotence_cpu_ratio=X
#     cas_1_per_s=X cas_4_per_s=X cas_16_per_s=X cas_16_conflict_rate=X
# (one line; every figure of a step with rounds is the median of its rounds). MB = 2^20
# bytes throughout, as Kafka's perf tools count. Multi-producer figures are
# all records over the wall time from the first start to the last exit; their p99 is the worst
# producer's.
#
#   scripts/bench-broker.sh [--records N] [--partitions P] [--latency-seconds S] [--build-dir DIR]
#                           [--quick]
# --build-dir uses the binaries of an existing build tree instead of building build/ (release).
# --quick runs a tenth of every volume (a smoke test of the script, not a measurement).
# SLUICE_BENCH_DIR sets where the broker's log directory goes (default <build dir>/bench-broker).
set -euo pipefail
cd "$(dirname "$0")/.."

records=1000000
partitions=1
latency_rate=20000
latency_seconds=10
loopback_seconds=2
build_dir=""
many_records=8000    # per producer, 64 producers: 500 MiB
group_records=32000  # per producer, 16 producers: 500 MiB per mode
idle_connections=1000
cas_increments=200  # per writer of step 11
while [ $# -gt 0 ]; do
    case "$1" in
        --records) records=$2; shift 2 ;;
        --partitions) partitions=$2; shift 2 ;;
        --latency-seconds) latency_seconds=$2; shift 2 ;;
        --build-dir) build_dir=$2; shift 2 ;;
        --quick)
            records=100000 latency_seconds=2 many_records=800 group_records=3200
            loopback_seconds=1 cas_increments=20
            shift ;;
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
counter=$build_dir/cli/sluice-optimistic-counter
for b in "$broker_bin" "$sluice" "$tcp_bench" "$counter"; do
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
# start_broker [--override k=v ...]: starts the broker on the log directory; sets broker_pid,
# port and bootstrap. max.connections leaves room for the idle connections of step 8.
start_broker() {
    # The shell creates the log only once the background process runs: no old log may be read.
    rm -f "$dir/broker.log"
    "$broker_bin" --override "log.dirs=$dir/data" --override "listeners=PLAINTEXT://127.0.0.1:0" \
        --override "max.connections=$((idle_connections + 200))" "$@" 2> "$dir/broker.log" &
    broker_pid=$!
    port=""
    for _ in $(seq 1 300); do
        port=$(sed -n 's/.* started: .*listeners=PLAINTEXT:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' \
            "$dir/broker.log" 2> /dev/null | head -1 || true)
        [ -n "$port" ] && break
        kill -0 "$broker_pid" 2> /dev/null || { cat "$dir/broker.log" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$port" ] || { echo "bench-broker: no start line from the broker" >&2; exit 1; }
    bootstrap="127.0.0.1:$port"
}
stop_broker() {
    kill -TERM "$broker_pid"
    wait "$broker_pid" || true
    broker_pid=""
}
start_broker
echo "broker: pid $broker_pid on $bootstrap, log.dirs=$dir/data (page-cache flush mode)"
"$sluice" topic create bench -p "$partitions" -b "$bootstrap" > /dev/null
"$sluice" topic create latency -p "$partitions" -b "$bootstrap" > /dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
geomean() { printf '%s\n' "$@" | awk '{ s += log($1) } END { printf "%.2f", exp(s / NR) }'; }

# ---- 1. loopback ceiling, measured before each produce and consume round (steps 2 and 3):
# this machine's speed moves by 2x from one minute to the next (a shared virtual machine), so
# each figure is compared with the ceiling of the same moment.
loopbacks=()
measure_loopback() {
    local out
    out=$("$tcp_bench" --seconds "$loopback_seconds")
    lb=$(echo "$out" | sed -n 's/^tcp-bench mb_s=\([0-9.]*\).*/\1/p')
    loopbacks+=("$lb")
}

# ---- 2. produce throughput: 3 rounds of a third of the records each, into one topic
produce_settings=(acks=1 batch.size=262144 linger.ms=5)
produce_props=()
for kv in "${produce_settings[@]}"; do
    produce_props+=(--producer-property "$kv")
done
round_records=$((records / 3))
echo "produce: 3 rounds of $round_records records of 1024 bytes, ${produce_settings[*]}," \
    "$partitions partition(s), each after a ${loopback_seconds} s loopback measurement"
produce_mbs=() produce_ratios=()
for round in 1 2 3; do
    measure_loopback
    sync
    produce_out=$("$sluice" perf produce --topic bench --num-records "$round_records" \
        --record-size 1024 --throughput -1 "${produce_props[@]}" -b "$bootstrap")
    mb=$(echo "$produce_out" | tail -1 | sed -n 's/.*records\/sec (\([0-9.]*\) MB\/sec).*/\1/p')
    produce_mbs+=("$mb")
    produce_ratios+=("$(ratio "$mb" "$lb")")
    echo "  round $round: loopback $lb MB/s; $(echo "$produce_out" | tail -1)"
done
produce_mb=$(median "${produce_mbs[@]}")
produce_ratio=$(median "${produce_ratios[@]}")
echo "produce: median $produce_mb MB/s; median ratio to loopback $produce_ratio"

# ---- 3. consume throughput: 3 rounds over everything step 2 wrote
written=$((round_records * 3))
echo "consume: 3 rounds of $written records (fetch.sendfile=auto), each after a loopback" \
    "measurement"
consume_mbs=() consume_ratios=()
for round in 1 2 3; do
    measure_loopback
    sync
    consume_out=$("$sluice" perf consume --topic bench --messages "$written" -b "$bootstrap")
    mb=$(echo "$consume_out" | tail -1 | awk -F', ' '{ printf "%.2f", $4 }')
    consume_mbs+=("$mb")
    consume_ratios+=("$(ratio "$mb" "$lb")")
    echo "  round $round: loopback $lb MB/s; consume $mb MB/s" \
        "($(echo "$consume_out" | tail -1 | awk -F', ' '{ printf "%.0f", $6 }') records/s)"
done
consume_mb=$(median "${consume_mbs[@]}")
consume_ratio=$(median "${consume_ratios[@]}")
loopback=$(median "${loopbacks[@]}")
echo "consume: median $consume_mb MB/s; median ratio to loopback $consume_ratio" \
    "(loopback median $loopback MB/s)"

# ---- 4. latency at a fixed rate
sync
latency_records=$((latency_rate * latency_seconds))
echo "latency: $latency_records records of 1024 bytes at $latency_rate records/s, acks=1 linger.ms=0"
latency_out=$("$sluice" perf produce --topic latency --num-records "$latency_records" \
    --record-size 1024 --throughput "$latency_rate" --producer-property acks=1 \
    --producer-property linger.ms=0 -b "$bootstrap")
echo "$latency_out" | sed 's/^/  /'
p99=$(echo "$latency_out" | tail -1 | sed -n 's/.* \([0-9.]*\) ms 99th.*/\1/p')
echo "latency: p99 $p99 ms at $latency_rate records/s"

# ---- 5. one request in flight
sync
echo "produce, 1 request in flight: $round_records records of 1024 bytes," \
    "${produce_settings[*]}" \
    "max.in.flight.requests.per.connection=1"
"$sluice" topic create serial -p "$partitions" -b "$bootstrap" > /dev/null
serial_out=$("$sluice" perf produce --topic serial --num-records "$round_records" \
    --record-size 1024 --throughput -1 "${produce_props[@]}" \
    --producer-property max.in.flight.requests.per.connection=1 -b "$bootstrap")
echo "$serial_out" | tail -1 | sed 's/^/  /'
serial_mb=$(echo "$serial_out" | tail -1 | sed -n 's/.*records\/sec (\([0-9.]*\) MB\/sec).*/\1/p')
echo "produce, 1 in flight: $serial_mb MB/s; 5 in flight is $(ratio "$produce_mb" "$serial_mb")x that"
"$sluice" topic delete serial -b "$bootstrap" > /dev/null

# Runs N producer processes at once: multi_produce TOPIC N RECORDS_EACH. Sets multi_mb and
# multi_p99 (the worst producer's).
multi_produce() {
    local topic=$1 n=$2 each=$3 i start end pids=() failed=0
    sync
    start=$(date +%s.%N)
    for i in $(seq 1 "$n"); do
        "$sluice" perf produce --topic "$topic" --num-records "$each" --record-size 1024 \
            --throughput -1 "${produce_props[@]}" -b "$bootstrap" > "$dir/producer-$i.out" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i" || failed=1
    done
    end=$(date +%s.%N)
    if [ "$failed" -ne 0 ]; then
        echo "bench-broker: a producer failed:" >&2
        cat "$dir"/producer-*.out >&2
        exit 1
    fi
    multi_mb=$(awk -v n="$n" -v e="$each" -v s="$start" -v t="$end" \
        'BEGIN { printf "%.2f", n * e * 1024 / 1048576 / (t - s) }')
    multi_rps=$(awk -v n="$n" -v e="$each" -v s="$start" -v t="$end" \
        'BEGIN { printf "%.0f", n * e / (t - s) }')
    multi_p99=$(for i in $(seq 1 "$n"); do
        tail -1 "$dir/producer-$i.out" | sed -n 's/.* \([0-9.]*\) ms 99th.*/\1/p'
    done | sort -g | tail -1)
    rm -f "$dir"/producer-*.out
}

# ---- 6. 64 producer connections
echo "produce, 64 producers: $many_records records of 1024 bytes each, 8 partitions"
"$sluice" topic create many -p 8 -b "$bootstrap" > /dev/null
multi_produce many 64 "$many_records"
many_mb=$multi_mb
echo "produce, 64 producers: $multi_rps records/s, $many_mb MB/s" \
    "= $(ratio "$many_mb" "$loopback") of loopback, worst p99 $multi_p99 ms"
"$sluice" topic delete many -b "$bootstrap" > /dev/null

# ---- 7. group commit: 16 producers, page cache against fsync, alternating rounds
# Each round runs the two modes back to back and its ratio compares them at the same moment;
# the figures reported are the medians of the 3 rounds (as in steps 2 and 3).
"$sluice" topic create cache16 -p 4 -b "$bootstrap" > /dev/null
"$sluice" topic create sync16 -p 4 -c flush.messages=1 -b "$bootstrap" > /dev/null
echo "produce, 16 producers: $group_records records of 1024 bytes each, 4 partitions," \
    "page cache against flush.messages=1 (fsync before each ack), 3 alternating rounds"
cache_mbs=() sync_mbs=() fsync_ratios=() cache_p99s=() sync_p99s=()
for round in 1 2 3; do
    multi_produce cache16 16 "$group_records"
    echo "  round $round, page cache: $multi_rps records/s, $multi_mb MB/s, worst p99 $multi_p99 ms"
    cache_mbs+=("$multi_mb") cache_p99s+=("$multi_p99")
    multi_produce sync16 16 "$group_records"
    echo "  round $round, fsync:      $multi_rps records/s, $multi_mb MB/s, worst p99 $multi_p99 ms"
    sync_mbs+=("$multi_mb") sync_p99s+=("$multi_p99")
    fsync_ratios+=("$(ratio "$multi_mb" "${cache_mbs[-1]}")")
done
cache_mb=$(median "${cache_mbs[@]}") sync_mb=$(median "${sync_mbs[@]}")
fsync_ratio=$(median "${fsync_ratios[@]}")
echo "fsync mode: median $sync_mb MB/s (p99 median $(median "${sync_p99s[@]}") ms) against page" \
    "cache's $cache_mb MB/s (p99 median $(median "${cache_p99s[@]}") ms);" \
    "round ratios ${fsync_ratios[*]}, median $fsync_ratio"
"$sluice" topic delete cache16 -b "$bootstrap" > /dev/null
"$sluice" topic delete sync16 -b "$bootstrap" > /dev/null

# ---- 8. memory
rss_of() { awk -v k="$1:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$broker_pid/status"; }
rss=$(rss_of VmRSS)
rss_peak=$(rss_of VmHWM)
echo "broker memory after the run: RSS $rss MiB, peak $rss_peak MiB" \
    "(queued.max.request.bytes: 256 MiB)"
ulimit -n $((idle_connections + 64)) 2> /dev/null || ulimit -n "$(ulimit -Hn)"
fds=()
for _ in $(seq 1 "$idle_connections"); do
    exec {fd}<> "/dev/tcp/127.0.0.1/$port"
    fds+=("$fd")
done
# The broker has accepted them all once its memory stops moving; a request on a fresh
# connection then proves it still serves.
"$sluice" topic list -b "$bootstrap" > /dev/null
sleep 1
rss_idle=$(rss_of VmRSS)
echo "broker memory with $idle_connections idle connections: RSS $rss_idle MiB" \
    "($(awk -v a="$rss_idle" -v b="$rss" 'BEGIN { printf "%.1f", (a - b) * 1024 / 1000 }') KiB" \
    "per connection)"
for fd in "${fds[@]}"; do
    exec {fd}>&-
done

# ---- 9. consume: read and sent (fetch.sendfile=auto on loopback) against sendfile
# The broker restarts between the two settings (a clean stop: it reopens at once); 3 alternating
# rounds, medians of the figures and of the rounds' ratios, as in step 7.
echo "consume: $written records, fetch.sendfile=true (sendfile) against fetch.sendfile=auto" \
    "(read and sent on loopback), 3 alternating rounds"
read_mbs=() sendfile_mbs=() send_ratios=()
for round in 1 2 3; do
    for setting in true auto; do
        stop_broker
        start_broker --override "fetch.sendfile=$setting"
        sync
        out=$("$sluice" perf consume --topic bench --messages "$written" -b "$bootstrap")
        mb=$(echo "$out" | tail -1 | awk -F', ' '{ printf "%.2f", $4 }')
        echo "  round $round, fetch.sendfile=$setting: $mb MB/s"
        if [ "$setting" = true ]; then
            sendfile_mbs+=("$mb")
        else
            read_mbs+=("$mb")
            send_ratios+=("$(ratio "$mb" "${sendfile_mbs[-1]}")")
        fi
    done
done
read_mb=$(median "${read_mbs[@]}") sendfile_mb=$(median "${sendfile_mbs[@]}")
read_ratio=$(median "${send_ratios[@]}")
echo "consume: read and sent $read_mb MB/s against sendfile $sendfile_mb MB/s (medians);" \
    "round ratios ${send_ratios[*]}, median ${read_ratio}x"

# ---- 10. idempotent produce against non-idempotent, alternating rounds
idem_records=$((records / 6))
echo "produce: $idem_records records of 1024 bytes, acks=all, enable.idempotence=true against" \
    "=false, 6 rounds, the first of each pair alternating"
idem_mbs=() plain_mbs=() idem_ratios=() idem_cpus=() plain_cpus=()
"$sluice" topic create idem -p "$partitions" -b "$bootstrap" > /dev/null
ticks=$(getconf CLK_TCK)
broker_ticks() { awk '{ print $14 + $15 }' "/proc/$broker_pid/stat"; }
idem_mb_total=$(awk -v n="$idem_records" 'BEGIN { print n * 1024 / 1048576 }')
for round in 1 2 3 4 5 6; do
    order="false true"
    [ $((round % 2)) -eq 0 ] && order="true false"
    declare -A got=() cpu=()
    for setting in $order; do
        sync
        before=$(broker_ticks)
        out=$( { TIMEFORMAT='%U %S'; time "$sluice" perf produce --topic idem \
            --num-records "$idem_records" --record-size 1024 --throughput -1 \
            --producer-property acks=all --producer-property batch.size=262144 \
            --producer-property linger.ms=5 --producer-property "enable.idempotence=$setting" \
            -b "$bootstrap"; } 2>&1)
        after=$(broker_ticks)
        mb=$(echo "$out" | grep 'records sent' | tail -1 |
            sed -n 's/.*records\/sec (\([0-9.]*\) MB\/sec).*/\1/p')
        # CPU ms per MB, broker and client together.
        cpu[$setting]=$(echo "$out" | tail -1 | awk -v b=$((after - before)) -v t="$ticks" \
            -v m="$idem_mb_total" '{ printf "%.2f", (b * 1000 / t + ($1 + $2) * 1000) / m }')
        echo "  round $round, enable.idempotence=$setting: $mb MB/s, CPU ${cpu[$setting]} ms/MB"
        got[$setting]=$mb
    done
    plain_mbs+=("${got[false]}")
    idem_mbs+=("${got[true]}")
    plain_cpus+=("${cpu[false]}")
    idem_cpus+=("${cpu[true]}")
    idem_ratios+=("$(ratio "${got[true]}" "${got[false]}")")
done
"$sluice" topic delete idem -b "$bootstrap" > /dev/null
idem_mb=$(median "${idem_mbs[@]}") plain_mb=$(median "${plain_mbs[@]}")
idem_ratio=$(geomean "${idem_ratios[@]}")
idem_cpu=$(median "${idem_cpus[@]}") plain_cpu=$(median "${plain_cpus[@]}")
idem_cpu_ratio=$(ratio "$plain_cpu" "$idem_cpu")
echo "produce: idempotent $idem_mb MB/s against $plain_mb MB/s (medians); round ratios" \
    "${idem_ratios[*]}, geometric mean ${idem_ratio}x; CPU per MB (broker + client, medians):" \
    "plain $plain_cpu ms, idempotent $idem_cpu ms, ratio $idem_cpu_ratio"

# ---- 11. conditional appends on one partition
declare -A cas_rate
cas_conflicts=""
for writers in 1 4 16; do
    out=$("$counter" "$bootstrap" "$writers" "$cas_increments" "cas-$writers")
    echo "  conditional appends, $writers writer(s): $out"
    echo "$out" | grep -q 'log=exactly-1..N$' ||
        { echo "bench-broker: the counter's log is wrong" >&2; exit 1; }
    cas_rate[$writers]=$(echo "$out" | sed -n 's/.*increments_per_s=\([0-9]*\).*/\1/p')
    cas_conflicts=$(echo "$out" | sed -n 's/.*conflict_rate=\([0-9.]*\).*/\1/p')
done
echo "conditional appends: ${cas_rate[1]}/s with 1 writer, ${cas_rate[4]}/s with 4," \
    "${cas_rate[16]}/s with 16 (conflict rate $cas_conflicts)"

echo "broker-bench produce_mb_s=$produce_mb consume_mb_s=$consume_mb loopback_mb_s=$loopback" \
    "produce_ratio=$produce_ratio consume_ratio=$consume_ratio" \
    "p99_ms_at_20k=$p99 produce_1_in_flight_mb_s=$serial_mb" \
    "pipelining_ratio=$(ratio "$produce_mb" "$serial_mb") produce_64_mb_s=$many_mb" \
    "produce_16_mb_s=$cache_mb produce_16_fsync_mb_s=$sync_mb" \
    "fsync_ratio=$fsync_ratio rss_mib=$rss rss_peak_mib=$rss_peak" \
    "rss_1000_idle_mib=$rss_idle consume_sendfile_mb_s=$sendfile_mb" \
    "read_vs_sendfile_ratio=$read_ratio idempotent_mb_s=$idem_mb plain_mb_s=$plain_mb" \
    "idempotence_ratio=$idem_ratio idempotence_cpu_ratio=$idem_cpu_ratio" \
    "cas_1_per_s=${cas_rate[1]} cas_4_per_s=${cas_rate[4]}" \
    "cas_16_per_s=${cas_rate[16]} cas_16_conflict_rate=$cas_conflicts"
