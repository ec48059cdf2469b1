#!/usr/bin/env bash
# Replication's and the controller's numbers on a local 3-node cluster (docs/replication.md,
# docs/controller.md), with default timeouts, all brokers sharing this machine's cores:
#
#   produce       1 KiB records from `sluice perf produce` (acks=all, unlimited rate), RECORDS
#                 each, to 3 partitions: replication factor 1 and factor 3 with
#                 min.insync.replicas=2, in turn, three rounds each (the ratio of the medians,
#                 the same run); factor 3 at half its median rate for latency (p99); factor 3
#                 with flush.messages=1 (fsync). Each run starts on warmed memory (warm below).
#   idempotence   factor 3 (acks=all) with enable.idempotence=true against =false, six rounds,
#                 which goes first alternating (the second of a pair runs slower): the geometric
#                 mean of the rounds' ratios, and the ratio of their CPU times per MB
#   conditional   conditional appends to one partition of factor 3 (sluice-optimistic-counter:
#                 writers that append where they know the end, and on CONFLICT read the value
#                 at the end it names and append there)
#                 with 1, 4 and 16 writers: increments/s and the conflict rate
#   leader kill   kill -9 of a partition's leader until a produce to it is acknowledged by the
#                 new leader (bound: broker.session.timeout.ms + 1 s)
#   shutdown      SIGTERM (controlled shutdown) of a partition's leader until a produce to it
#                 is acknowledged by the new leader
#   failover      kill -9 of the active controller until a topic creation through another broker
#                 succeeds again, over ROUNDS rounds (the killed node restarts between rounds)
#   visibility    a new topic of 100 partitions, created through broker 1, until every broker's
#                 metadata shows all 100 with a leader
#   apply         metadata records applied to the image per second (controller-apply-bench:
#                 1,000 and 4,000 topic creations of 10 partitions, pure, no disk: each
#                 batch copies the image's topic map, so the rate falls as topics grow)
#
#   scripts/bench-cluster.sh [--build-dir DIR] [--rounds N] [--records N]
#
# The last line sums it up: cluster-bench rf1_mb_s=X rf3_mb_s=X rf3_ratio=X rf3_p99_ms=X
# rf3_fsync_mb_s=X failover_s=X controlled_s=X rf3_cpu_ratio=X (RF 1's CPU time per MB over
# RF 3's, brokers and client together: the ratio the shared cores allow when all are busy)
# idempotence_ratio=X idempotence_cpu_ratio=X (plain's CPU time per MB over idempotent's)
# cas_1_per_s=X cas_4_per_s=X cas_16_per_s=X cas_16_conflict_rate=X
#
# Uses scripts/cluster.sh and the `sluice` CLI (whose process start is part of each step: these
# are operator-visible times, not the controller's alone). Prints the machine it ran on.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
rounds=5
records=200000
while [[ $# -gt 0 ]]; do
    case $1 in
    --build-dir) build=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    *) echo "usage: scripts/bench-cluster.sh [--build-dir DIR] [--rounds N] [--records N]" >&2; exit 2 ;;
    esac
done
cli=$build/cli/sluice
counter=$build/cli/sluice-optimistic-counter
export SLUICE_BROKER=$build/broker/sluice-broker
[[ -x $cli && -x $counter && -x $SLUICE_BROKER ]] || { echo "bench-cluster: build first (scripts/build.sh)" >&2; exit 1; }
# On disk, not tmpfs: the fsync figure needs a real one ($TMPDIR chooses where).
dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-cluster.XXXXXX")
cluster() { "$root/scripts/cluster.sh" "$@"; }
trap 'cluster stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
stats() { # min median max of the numbers on stdin
    sort -n | awk '{v[NR]=$1} END {printf "min %d ms, median %d ms, max %d ms (%d rounds)", v[1], v[int((NR+1)/2)], v[NR], NR}'
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo "data: $dir ($(df -T "$dir" | awk 'NR == 2 { print $2 }'))"
boot=$(cluster start 3 "$dir")
addr() { echo "$boot" | cut -d, -f"$1"; }
active() { # the node whose broker metadata names it the active controller
    "$cli" -b "$(addr 1),$(addr 2),$(addr 3)" cluster describe 2>/dev/null |
        awk '$4 == "active" {print $1}' || true
}

all3="$(addr 1),$(addr 2),$(addr 3)"
# Replication. perf produce's summary: "... (X MB/sec), ... Y ms 99th, ...".
perf() { # TOPIC THROUGHPUT [PROPERTY...] -> the summary line
    local topic=$1 rate=$2 extra=() kv
    shift 2
    for kv in "$@"; do
        extra+=(--producer-property "$kv")
    done
    "$cli" -b "$all3" perf produce --topic "$topic" --num-records "$records" --record-size 1024 \
        --throughput "$rate" --producer-property acks=all --producer-property linger.ms=5 \
        --producer-property batch.size=262144 "${extra[@]}" | tail -n 1
}
mb_s() { sed -E 's/.*\(([0-9.]+) MB\/sec\).*/\1/'; }
p99() { sed -E 's/.* ([0-9.]+) ms 99th.*/\1/'; }
"$cli" -b "$all3" topic create rf1 -p 3 -r 1 >/dev/null
"$cli" -b "$all3" topic create rf3 -p 3 -r 3 -c min.insync.replicas=2 >/dev/null
"$cli" -b "$all3" topic create rf3f -p 3 -r 3 -c min.insync.replicas=2 -c flush.messages=1 >/dev/null
in_sync() { # every partition of TOPIC led, with all 3 replicas in its ISR
    "$cli" -b "$all3" topic describe "$1" 2>/dev/null |
        awk 'NR > 2 { n++; if ($2 < 0 || split($5, isr, ",") != 3) bad = 1 } END { exit bad || n == 0 }'
}
wait_until() { # COMMAND...: retried for up to 120 s
    local deadline=$((SECONDS + 120))
    until "$@"; do
        ((SECONDS < deadline)) || { echo "bench-cluster: gave up waiting for: $*" >&2; exit 1; }
        sleep 0.1
    done
}
# Before each produce run: write and delete a scratch file as large as the run will write (its
# records on every replica), so the page cache it fills comes from memory the machine has just
# used. On a virtual machine whose host backs guest memory lazily and takes free pages back,
# the first write to a fresh page costs several times an ordinary one (seen: 0.4 GB/s against
# 2.3 GB/s), which a run writing three copies would otherwise pay three times.
warm() { # REPLICAS
    local mb=$(((records * 1024 * $1 + 128 * 1024 * 1024) / 1048576))
    dd if=/dev/zero of="$dir/scratch" bs=1M count="$mb" status=none
    rm -f "$dir/scratch"
}
ticks=$(getconf CLK_TCK)
broker_cpu_ms() { # CPU time (user + system) the three brokers have used so far
    local sum=0 n
    for n in 1 2 3; do
        sum=$((sum + $(awk '{print $14 + $15}' "/proc/$(cat "$dir/node-$n/pid")/stat")))
    done
    echo $((sum * 1000 / ticks))
}
# One warmed, unthrottled run of topic rf<FACTOR> in round $round, with producer PROPERTYs:
# prints its summary line and its CPU milliseconds per MB produced (brokers, client), and adds
# its MB/s and total CPU per MB to mbs[KEY] and cpus[KEY] (KEY: the factor unless given).
declare -A mbs cpus
produce_round() { # FACTOR [KEY [PROPERTY...]]
    local factor=$1 key=${2:-$1} before after line total_mb broker_ms client_ms
    local times_file=$dir/times
    shift $(($# > 1 ? 2 : 1))
    warm "$factor"
    before=$(broker_cpu_ms)
    line=$( { TIMEFORMAT='%U %S'; time perf "rf$factor" -1 "$@" 2>/dev/null; } 2>"$times_file")
    after=$(broker_cpu_ms)
    total_mb=$(awk -v n="$records" 'BEGIN { print n * 1024 / 1048576 }')
    broker_ms=$(awk -v c=$((after - before)) -v m="$total_mb" 'BEGIN { printf "%.2f", c / m }')
    client_ms=$(awk -v m="$total_mb" '{ printf "%.2f", ($1 + $2) * 1000 / m }' "$times_file")
    echo "produce, replication factor $factor${*:+ ($*)} (round $round):  $line"
    echo "  CPU per MB: brokers $broker_ms ms, client $client_ms ms"
    mbs[$key]+="$(echo "$line" | mb_s) "
    cpus[$key]+="$(awk -v a="$broker_ms" -v b="$client_ms" 'BEGIN { print a + b }') "
}
medians() { # of a space-separated list from produce_round
    tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
geomean() { # of a space-separated list of ratios
    tr ' ' '\n' | grep . | awk '{s += log($1)} END {printf "%.2f", exp(s / NR)}'
}
wait_until in_sync rf3
wait_until in_sync rf3f
# Replication factors 1 and 3 in turn, three times each: the ratio is of the medians. The CPU
# time per MB explains the ratio where the run is CPU-bound on shared cores: the cores do
# (broker + client) ms of work per MB, so with every core busy the ratio is that of the sums.
for round in 1 2 3; do
    produce_round 1
    produce_round 3
done
rf1_mb=$(medians <<<"${mbs[1]}")
rf3_mb=$(medians <<<"${mbs[3]}")
ratio=$(awk -v a="$rf3_mb" -v b="$rf1_mb" 'BEGIN { printf "%.2f", a / b }')
echo "replication factor 3 / 1: $rf3_mb / $rf1_mb MB/s = $ratio (medians of 3 rounds, same run)"
cpu1=$(medians <<<"${cpus[1]}")
cpu3=$(medians <<<"${cpus[3]}")
cpu_ratio=$(awk -v a="$cpu1" -v b="$cpu3" 'BEGIN { printf "%.2f", a / b }')
echo "CPU per MB (medians, brokers + client): RF 1 $cpu1 ms, RF 3 $cpu3 ms: with every core" \
    "busy, RF 3 would reach $cpu_ratio of RF 1"
half=$(awk -v m="$rf3_mb" 'BEGIN { printf "%d", m * 1024 / 2 }')  # 1 KiB records
warm 3
rf3_half=$(perf rf3 "$half")
echo "produce, factor 3 at $half records/s (half its rate):  $rf3_half"
warm 3
rf3f=$(perf rf3f -1)
echo "produce, factor 3, flush.messages=1 (fsync):  $rf3f"

# Idempotent produce against plain, factor 3, which goes first alternating over 6 rounds: the
# geometric mean of the rounds' ratios (the second run of a pair pays for the first's write-back,
# up to 2x here; 3 rounds each way cancel that out), and the ratio of the median CPU times per MB
# (plain's over idempotent's: what the shared cores allow when all are busy).
idem_ratios=""
for round in 1 2 3 4 5 6; do
    if ((round % 2)); then
        produce_round 3 plain enable.idempotence=false
        produce_round 3 idem enable.idempotence=true
    else
        produce_round 3 idem enable.idempotence=true
        produce_round 3 plain enable.idempotence=false
    fi
    plain=$(echo "${mbs[plain]}" | awk '{ print $NF }')
    idem=$(echo "${mbs[idem]}" | awk '{ print $NF }')
    idem_ratios+="$(awk -v a="$idem" -v b="$plain" 'BEGIN { printf "%.2f", a / b }') "
done
idem_ratio=$(geomean <<<"$idem_ratios")
idem_cpu_ratio=$(awk -v a="$(medians <<<"${cpus[plain]}")" -v b="$(medians <<<"${cpus[idem]}")" \
    'BEGIN { printf "%.2f", a / b }')
echo "idempotent / plain produce, factor 3: round ratios $idem_ratios-> geometric mean $idem_ratio;" \
    "CPU per MB (medians, brokers + client): plain $(medians <<<"${cpus[plain]}") ms," \
    "idempotent $(medians <<<"${cpus[idem]}") ms, ratio $idem_cpu_ratio"

# Conditional appends to one partition of factor 3.
declare -A cas_rate
cas_conflicts=""
for writers in 1 4 16; do
    "$cli" -b "$all3" topic create "cas-$writers" -p 1 -r 3 -c min.insync.replicas=2 >/dev/null
    wait_until in_sync "cas-$writers"
    out=$("$counter" "$all3" "$writers" 100 "cas-$writers")
    echo "conditional appends, factor 3, $writers writer(s): $out"
    grep -q 'log=exactly-1..N$' <<<"$out" || { echo "bench-cluster: the counter's log is wrong" >&2; exit 1; }
    cas_rate[$writers]=$(sed -n 's/.*increments_per_s=\([0-9]*\).*/\1/p' <<<"$out")
    cas_conflicts=$(sed -n 's/.*conflict_rate=\([0-9.]*\).*/\1/p' <<<"$out")
done

# A partition's leader goes: from the signal to the first produce the new leader acknowledges.
# A partition of rf3 whose leader is not the active controller (whose death would add a
# controller election to the time), and that leader.
pick() {
    local ctl
    ctl=$(active)
    read -r part victim < <("$cli" -b "$all3" topic describe rf3 2>/dev/null |
        awk -v c="$ctl" 'NR > 2 && $2 != c { print $1, $2; exit }')
}
one_record() { # one record to rf3's partition $part, acknowledged by every ISR member
    echo x | "$cli" -b "$all3" produce rf3 -p "$part" --acks all -X delivery.timeout.ms=60000 \
        -X request.timeout.ms=2000 >/dev/null
}
seconds_since() { awk -v s="$1" -v e="$(now_ms)" 'BEGIN { printf "%.2f", (e - s) / 1000 }'; }
wait_until in_sync rf3
pick
one_record
start=$(now_ms)
cluster kill "$victim" "$dir"
one_record
failover_s=$(seconds_since "$start")
echo "leader kill -9 (broker $victim, rf3-$part) to an acknowledged produce: $failover_s s" \
    "(broker.session.timeout.ms 9000)"
cluster restart "$victim" "$dir"
wait_until in_sync rf3
pick
one_record
start=$(now_ms)
pid=$(cat "$dir/node-$victim/pid")
kill -TERM "$pid"
one_record
controlled_s=$(seconds_since "$start")
echo "controlled shutdown (broker $victim, rf3-$part) to an acknowledged produce: $controlled_s s"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
cluster restart "$victim" "$dir"
wait_until in_sync rf3

# Controller failover.
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

echo "cluster-bench rf1_mb_s=$rf1_mb rf3_mb_s=$rf3_mb rf3_ratio=$ratio rf3_p99_ms=$(echo "$rf3_half" | p99)" \
    "rf3_fsync_mb_s=$(echo "$rf3f" | mb_s) failover_s=$failover_s controlled_s=$controlled_s" \
    "rf3_cpu_ratio=$cpu_ratio idempotence_ratio=$idem_ratio" \
    "idempotence_cpu_ratio=$idem_cpu_ratio cas_1_per_s=${cas_rate[1]}" \
    "cas_4_per_s=${cas_rate[4]} cas_16_per_s=${cas_rate[16]} cas_16_conflict_rate=$cas_conflicts"
