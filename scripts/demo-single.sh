#!/usr/bin/env bash
# The single-broker demo (scripts/demo.sh --single): installs what is missing, builds, starts one
# sluice-broker with its defaults (127.0.0.1:9192; data under $SLUICE_DEMO_DIR, default
# /tmp/sluice-logs), creates a topic, produces a few records from stdin, consumes them back,
# describes the topic, and stops the broker.
#   scripts/demo.sh --single            run once and stop the broker
#   scripts/demo.sh --single --keep     leave the broker running (stop it with:
#                                       kill $(cat <dir>/broker.pid))
set -euo pipefail
cd "$(dirname "$0")/.."

keep=no
[ "${1:-}" = "--keep" ] && keep=yes
data=${SLUICE_DEMO_DIR:-/tmp/sluice-logs}

scripts/setup.sh
scripts/build.sh release
bin=build

mkdir -p "$data"
"$bin/broker/sluice-broker" --override "log.dirs=$data" 2> "$data/broker.log" &
broker=$!
echo "$broker" > "$data/broker.pid"
stop() { kill -TERM "$broker" 2> /dev/null && wait "$broker" || true; }
[ "$keep" = no ] && trap stop EXIT

# Wait for the start line (the broker logs it once it listens).
for _ in $(seq 100); do
    grep -q " started: " "$data/broker.log" && break
    if ! kill -0 "$broker" 2> /dev/null; then
        cat "$data/broker.log" >&2
        exit 1
    fi
    sleep 0.1
done
grep " started: " "$data/broker.log"

sluice="$bin/cli/sluice"
topic=demo-$$
"$sluice" topic create "$topic" -p 3
printf 'user-1:hello\nuser-2:from\nuser-1:sluice\n' | "$sluice" produce "$topic" -k :
echo "-- consumed:"
"$sluice" consume "$topic" -o beginning -e -f 'partition %p offset %o key %k value %s\n'
echo "-- described:"
"$sluice" topic describe "$topic"
if [ "$keep" = yes ]; then
    echo "broker left running (pid $broker, data in $data)"
fi
