#!/usr/bin/env bash
# Records the seed corpus of the fuzz targets (tests/fuzz/README.md) from real sessions and
# writes it to tests/fuzz/corpus/<target>/, replacing what is there.
#
#   scripts/fuzz-corpus.sh
#
# Starts a real sluice-broker on an ephemeral loopback port with a temporary log.dirs, puts
# fuzz-record-proxy between it and the clients (the broker advertises the proxy's port, so every
# connection goes through it), and runs the `sluice` command and fuzz-client-session through the
# proxy. The proxy keeps a varied selection of the frames in both directions and the record
# batches inside them. After a clean stop of the broker, its small files become the seeds of the
# disk-file targets. The property seeds come from the config tables of docs/broker.md and
# docs/clients.md.
#
# Builds what it runs in $SLUICE_BUILD_DIR (default ./build) unless SLUICE_NO_BUILD=1.
# Record sizes, counts and file names are fixed; correlation ids, timestamps and cluster ids
# differ from run to run, so a new run gives a corpus of the same shape, not the same bytes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${SLUICE_BUILD_DIR:-$root/build}
corpus=$root/tests/fuzz/corpus

if [[ -z ${SLUICE_NO_BUILD:-} ]]; then
    if [[ ! -f $build/build.ninja ]]; then
        cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    cmake --build "$build" -j "${SLUICE_BUILD_JOBS:-$(nproc)}" --target sluice-broker sluice \
        fuzz-record-proxy fuzz-client-session fuzz-bundle fuzz-controller-seeds >/dev/null
fi
broker_bin=$build/broker/sluice-broker
cli_bin=$build/cli/sluice
proxy_bin=$build/tests/fuzz/fuzz-record-proxy
session_bin=$build/tests/fuzz/fuzz-client-session
bundle_bin=$build/tests/fuzz/fuzz-bundle
controller_seeds_bin=$build/tests/fuzz/fuzz-controller-seeds

work=$(mktemp -d)
proxy_pid=
broker_pid=
cleanup() {
    [[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null || true
    [[ -n $broker_pid ]] && kill -9 "$broker_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Waits up to 30 s for a file to exist.
wait_for_file() {
    for _ in $(seq 300); do
        [[ -s $1 ]] && return 0
        sleep 0.1
    done
    echo "fuzz-corpus: $1 did not appear" >&2
    return 1
}

# --- the proxy, then the broker behind it ---------------------------------------------------
"$proxy_bin" --out "$work/recorded" --port-file "$work/proxy.port" \
    --upstream-port-file "$work/broker.port" >"$work/proxy.out" &
proxy_pid=$!
wait_for_file "$work/proxy.port"
proxy_port=$(cat "$work/proxy.port")

# Small segments and a dense index, so the log directories hold several segments with index
# entries: those files are seeds too.
"$broker_bin" \
    --override listeners=PLAINTEXT://127.0.0.1:0 \
    --override "advertised.listeners=PLAINTEXT://127.0.0.1:$proxy_port" \
    --override "log.dirs=$work/logs" \
    --override log.segment.bytes=4096 \
    --override log.index.interval.bytes=256 \
    --override auto.create.topics.enable=false \
    2>"$work/broker.log" &
broker_pid=$!
for _ in $(seq 300); do
    grep -q ' started: ' "$work/broker.log" && break
    sleep 0.1
done
broker_port=$(sed -n 's/.* started: .*listeners=PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' \
    "$work/broker.log")
if [[ -z $broker_port ]]; then
    echo "fuzz-corpus: the broker did not start:" >&2
    cat "$work/broker.log" >&2
    exit 1
fi
echo "$broker_port" >"$work/broker.port"

# --- client sessions through the proxy -------------------------------------------------------
cli() { "$cli_bin" -b "127.0.0.1:$proxy_port" "$@"; }
# Commands that must fail (unknown topic, bad config): their error answers are seeds too.
cli_fails() { ! cli "$@" >/dev/null 2>&1; }

cli topic create orders -p 3 -c retention.ms=86400000 -c segment.bytes=4096 >/dev/null
cli topic create perf -p 1 >/dev/null
cli topic create scratch >/dev/null
cli topic list >/dev/null
cli topic describe orders >/dev/null
cli topic add-partitions orders -p 4 >/dev/null
cli topic alter-config orders --add-config retention.ms=3600000 --delete-config segment.bytes \
    >/dev/null
cli topic describe-config orders >/dev/null
cli cluster quorum >/dev/null
cli cluster elect-leaders >/dev/null
cli topic delete scratch >/dev/null
cli_fails topic describe missing
cli_fails topic create orders
cli_fails topic create badconfig -c segment.bytes=12
cli_fails topic create badname/x

for i in $(seq 1 40); do printf 'user-%d:{"n":%d,"pad":"%s"}\n' $((i % 11)) "$i" \
    "$(printf '%*s' $((i * 3)) '' | tr ' ' x)"; done | cli produce orders -k : >/dev/null
printf 'a\nb\nc\n' | cli produce orders -p 1 --acks 1 -X linger.ms=0 >/dev/null
printf 'fire-and-forget\n' | cli produce orders -p 2 --acks 0 >/dev/null
cli_fails produce orders -p 9 </dev/null
cli consume orders -o beginning -e -f '%t %p %o %T %k=%s %h\n' >/dev/null
cli consume orders -p 0 -o -2 -e >/dev/null
cli consume orders -p 1 -o 1 -n 2 >/dev/null
cli perf produce --topic perf --num-records 300 --record-size 100 --throughput -1 \
    --producer-property batch.size=2048 --producer-property linger.ms=1 >/dev/null
cli perf consume --topic perf --messages 300 --timeout 5000 \
    --consumer-property max.partition.fetch.bytes=4096 >/dev/null
"$session_bin" "127.0.0.1:$proxy_port" >/dev/null

kill -TERM "$proxy_pid"
wait "$proxy_pid" || true
proxy_pid=
# A clean stop writes every index file and recovery point.
kill -TERM "$broker_pid"
wait "$broker_pid" || true
broker_pid=
echo "fuzz-corpus: $(cat "$work/proxy.out")"

# --- the corpus ------------------------------------------------------------------------------
fresh() { rm -rf "${corpus:?}/$1"; mkdir -p "$corpus/$1"; echo "$corpus/$1"; }

frame_dir=$(fresh frame)
cp "$work/recorded/frame/"* "$frame_dir/"
batch_dir=$(fresh record_batch)
cp "$work/recorded/record_batch/"* "$batch_dir/"

logs=$work/logs
checkpoint_dir=$(fresh checkpoint)
for f in "$logs"/meta.checkpoint "$logs"/*/*.checkpoint; do
    rel=${f#"$logs"/}
    cp "$f" "$checkpoint_dir/${rel//\//_}"
done

metadata_dir=$(fresh broker_metadata)
for dir in "$logs"/*-0; do
    topic=$(basename "$dir")
    "$bundle_bin" "$metadata_dir/${topic%-0}" "$dir/topic.checkpoint" \
        "$dir/leader-epoch.checkpoint" "$logs/meta.checkpoint"
done

index_dir=$(fresh segment_index)
recovery_dir=$(fresh log_recovery)
for dir in "$logs"/*-*; do
    part=$(basename "$dir")
    mapfile -t segments < <(cd "$dir" && ls -- *.log | sort)
    for seg in "${segments[@]}"; do
        base=${seg%.log}
        if [[ -f $dir/$base.index ]]; then
            "$bundle_bin" "$index_dir/$part-$base" "be64:$((10#$base))" "$dir/$base.index" \
                "$dir/$base.timeindex"
        fi
    done
    first=${segments[0]%.log}
    second=-
    second_log=-
    if [[ ${#segments[@]} -gt 1 ]]; then
        second=be64:$((10#${segments[1]%.log}))
        second_log=$dir/${segments[1]}
    fi
    "$bundle_bin" "$recovery_dir/$part" "$dir/$first.log" "$dir/$first.index" \
        "$dir/$first.timeindex" "$dir/recovery-point.checkpoint" "$second" "$second_log"
    # The same log with nothing to vouch for it: recovery scans every batch.
    "$bundle_bin" "$recovery_dir/$part-scan" "$dir/$first.log" - - - "$second" "$second_log"
done

# Properties: `key=default` for every row of the config tables in FILE between the lines
# matching START and END whose default is a value.
table_properties() {
    sed -n "/$2/,/$3/p" "$1" |
        sed -n 's/^| `\([a-z.]*\)` |\( `[a-z_]*` |\)\{0,1\} `\{0,1\}\([^ |`]*\)`\{0,1\}[^|]* |.*/\1=\3/p' |
        grep -v -e '=unset$' -e '=number$'
}

config_dir=$(fresh broker_config)
table_properties "$root/docs/broker.md" '^## Configuration' '^### Topic configs' >"$config_dir/defaults.properties"
printf '%s\n' '# a broker as scripts/fuzz-corpus.sh runs it' 'node.id=0' \
    'listeners=PLAINTEXT://127.0.0.1:0' 'advertised.listeners=PLAINTEXT://[::1]:9192' \
    'log.dirs=/var/lib/sluice' '! topic defaults' 'log.segment.bytes=4096' \
    'log.retention.ms=-1' 'log.flush.interval.messages=1' 'log.level=debug' \
    >"$config_dir/server.properties"
printf '%s\n' --config=server.properties --override log.dirs=/tmp/x --override=node.id=3 \
    --override 'log.retention.hours = 1' >"$config_dir/command-line"
printf '%s\n' segment.bytes=268435456 segment.ms=3600000 retention.ms=86400000 \
    retention.bytes=-1 index.interval.bytes=4096 flush.messages=1 max.message.bytes=1048588 \
    >"$config_dir/topic.properties"

client_dir=$(fresh client_config)
table_properties "$root/docs/clients.md" '^| key' '^## ' | grep -v -e '^fetch' -e '^max.p' -e '^auto' \
    >"$client_dir/producer.properties"
table_properties "$root/docs/clients.md" '^| key' '^## ' | grep -v -e '^acks' -e '^batch' -e '^linger' \
    -e '^buffer' -e '^max.block' -e '^retries' -e '^delivery' -e '^max.in' -e '^max.request' \
    >"$client_dir/consumer.properties"
printf '%s\n' 'bootstrap.servers=a:1, [::1]:9192 ,b.example:65535' acks=all linger.ms=0 \
    >"$client_dir/cli-produce"
printf '%s\n' bootstrap.servers=127.0.0.1:9192 auto.offset.reset=earliest max.poll.records=7 \
    >"$client_dir/cli-consume"

# raft_codec: one frame of each Raft message type, as a three-voter quorum exchanges them;
# quorum_state: the quorum-state files of two voters; raft_storage: two metadata directories;
# metadata_batch: the metadata log entries of a small cluster's life and a snapshot of its image;
# controller_rpc: each request a broker sends the active controller, and each answer.
"$controller_seeds_bin" "$(fresh raft_codec)" "$(fresh quorum_state)" "$(fresh raft_storage)" \
    "$(fresh metadata_batch)" "$(fresh controller_rpc)"

for d in "$corpus"/*/; do
    echo "fuzz-corpus: $(basename "$d"): $(find "$d" -type f | wc -l) files," \
        "$(du -sk "$d" | cut -f1) KiB"
done
