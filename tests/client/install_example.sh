#!/usr/bin/env bash
# The installed package works for projects of their own: installs the build into a temporary
# prefix, configures and builds examples/produce_consume and examples/optimistic_counter against
# it with find_package(Sluice), then runs them against a broker started here: the records come
# back, and 8 writers of the counter, racing with conditional appends, leave exactly 1..200 in
# its partition (the example checks the log; its line, with the conflict rate, is printed).
#
#   install_example.sh BUILD_DIR SOURCE_DIR BROKER_BINARY [SANITIZE_FLAG|OFF]
# SANITIZE_FLAG is the -fsanitize=... the libraries were built with.
set -euo pipefail

build=$1
src=$2
broker=$3
sanitize=${4:-OFF}

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-install-example.XXXXXX")
broker_pid=
cleanup() {
    if [[ -n $broker_pid ]]; then
        kill "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "install_example: $*" >&2
    for f in "$work"/*.log "$work"/out.txt; do
        [[ -f $f ]] && { echo "--- $f" >&2; tail -n 40 "$f" >&2; }
    done
    exit 1
}

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log" 2>&1 || fail "cmake --install failed"
for f in lib/cmake/Sluice/SluiceConfig.cmake lib/cmake/Sluice/SluiceConfigVersion.cmake \
         include/sluice/producer/producer.h include/sluice/consumer/consumer.h \
         include/sluice/client/admin.h include/sluice/protocol/result.h; do
    [[ -f $work/prefix/$f ]] || fail "not installed: $f"
done
for lib in protocol client producer consumer; do
    [[ -f $work/prefix/lib/libsluice_$lib.a ]] || fail "not installed: libsluice_$lib.a"
done

flags=()
if [[ $sanitize != OFF ]]; then
    # The libraries were compiled with a sanitizer: the example is compiled with it too (header
    # code it instantiates, Asio's, must be instrumented for ThreadSanitizer to see its
    # synchronisation) and links its runtime.
    flags+=("-DCMAKE_CXX_FLAGS=$sanitize" "-DCMAKE_EXE_LINKER_FLAGS=$sanitize")
fi
for example in produce_consume optimistic_counter; do
    cmake -S "$src/examples/$example" -B "$work/$example" -G Ninja \
        -DCMAKE_PREFIX_PATH="$work/prefix" "${flags[@]}" > "$work/configure-$example.log" 2>&1 ||
        fail "configuring $example failed"
    cmake --build "$work/$example" > "$work/build-$example.log" 2>&1 ||
        fail "building $example failed"
    [[ -x $work/$example/$example ]] || fail "no $example binary"
done

"$broker" --override listeners=PLAINTEXT://127.0.0.1:0 --override "log.dirs=$work/data" \
    2> "$work/broker.log" &
broker_pid=$!
port=
for _ in $(seq 1 300); do
    port=$(sed -n 's/.* started: .*listeners=PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/broker.log")
    [[ -n $port ]] && break
    kill -0 "$broker_pid" 2>/dev/null || fail "the broker exited"
    sleep 0.1
done
[[ -n $port ]] || fail "no start line from the broker"

"$work/produce_consume/produce_consume" "127.0.0.1:$port" > "$work/out.txt" 2>&1 ||
    fail "the example failed"
grep -q '^consumed 5 records$' "$work/out.txt" || fail "the records did not come back"
"$work/optimistic_counter/optimistic_counter" "127.0.0.1:$port" 8 25 > "$work/counter.txt" 2>&1 ||
    { cat "$work/counter.txt" >> "$work/out.txt"; fail "the optimistic counter failed"; }
grep -q '^counter=200 writers=8 .* log=exactly-1..N$' "$work/counter.txt" ||
    { cat "$work/counter.txt" >> "$work/out.txt"; fail "the counter's log is not 1..200"; }
cat "$work/counter.txt"
echo "install_example: ok (broker port $port)"
