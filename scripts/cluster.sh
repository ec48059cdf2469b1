#!/usr/bin/env bash
# A local cluster of sluice-broker processes on loopback (docs/controller.md, "A local cluster").
#
#   scripts/cluster.sh start N [DIR]     N nodes (the first three are also the controllers);
#                                        prints the bootstrap list once every broker serves
#   scripts/cluster.sh stop [DIR]        SIGTERM to each broker in turn (controlled shutdown)
#   scripts/cluster.sh status [DIR]      each node: running or not, pid, ports, roles
#   scripts/cluster.sh kill ID [DIR]     SIGKILL node ID
#   scripts/cluster.sh shutdown ID [DIR] SIGTERM node ID (controlled shutdown), wait for its exit
#   scripts/cluster.sh restart ID [DIR]  start node ID again (after kill or stop), wait for it
#   scripts/cluster.sh pause ID [DIR]    SIGSTOP node ID;  resume ID [DIR]: SIGCONT
#   scripts/cluster.sh bootstrap [DIR]   print the bootstrap list
#
# DIR (default /tmp/sluice-cluster) holds per node node-ID/server.properties, node-ID/data,
# node-ID/broker.log and node-ID/pid; start formats each controller's log.dirs first
# (sluice-broker format, with a directory id per controller: DIR/initial-controllers). Ports: node ID's client port is
# BASE+2*(ID-1), its controller port the one after; BASE is $SLUICE_CLUSTER_PORT, or a free
# range chosen at start.
# Other settings: $SLUICE_CONTROLLERS (how many controllers, default 3 or N if smaller),
# $SLUICE_DEDICATED_CONTROLLERS=1 (the controllers are process.roles=controller only, with no
# client port; the bootstrap list names the other nodes, which must be at least one),
# $SLUICE_BROKER (the binary), and each line of $SLUICE_CLUSTER_PROPERTIES is added to every
# node's properties (broker.session.timeout.ms=3000, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
broker=${SLUICE_BROKER:-$root/build/broker/sluice-broker}
start_timeout=${SLUICE_START_TIMEOUT:-60}

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift

# A port is free if nothing accepts a connection on it.
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_base() {
    local count=$1 base p ok
    for _ in $(seq 1 50); do
        base=$((20000 + (RANDOM % 600) * 20))  # below the ephemeral range (32768 and up)
        ok=1
        for ((p = base; p < base + count; p++)); do
            port_free "$p" || { ok=0; break; }
        done
        [[ $ok == 1 ]] && { echo "$base"; return; }
    done
    die "found no free range of $count ports"
}

node_dir() { echo "$dir/node-$1"; }
client_port() { echo $((base + 2 * ($1 - 1))); }
controller_port() { echo $((base + 2 * ($1 - 1) + 1)); }

load() {
    [[ -f $dir/cluster.env ]] || die "no cluster in $dir (scripts/cluster.sh start N $dir)"
    # shellcheck disable=SC1091
    source "$dir/cluster.env"
    dedicated=${dedicated:-0}
}

# Whether node ID serves clients (a broker).
is_broker() { ((dedicated == 0 || $1 > controllers)); }

alive() {
    local pidfile
    pidfile="$(node_dir "$1")/pid"
    [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

launch() {
    local id=$1 nd
    nd=$(node_dir "$id")
    wc -l <"$nd/broker.log" >"$nd/broker.log.start"  # the start line comes after these
    "$broker" --config "$nd/server.properties" >>"$nd/broker.log" 2>&1 &
    echo $! >"$nd/pid"
}

# Waits until node ID logged its start line since its last launch.
wait_started() {
    local id=$1 nd from deadline
    nd=$(node_dir "$id")
    from=$(cat "$nd/broker.log.start")
    deadline=$((SECONDS + start_timeout))
    # (grep reads all of its input: with -q it could stop early and fail tail under pipefail)
    while ! tail -n +"$((from + 1))" "$nd/broker.log" | grep ' started: ' >/dev/null; do
        if ! alive "$id"; then
            tail -n 5 "$nd/broker.log" >&2
            die "node $id exited before it started (log: $nd/broker.log)"
        fi
        ((SECONDS < deadline)) || die "node $id did not start within ${start_timeout}s (log: $nd/broker.log)"
        sleep 0.05
    done
}

bootstrap() {
    local list="" id
    for ((id = 1; id <= nodes; id++)); do
        is_broker "$id" && list+="${list:+,}127.0.0.1:$(client_port "$id")"
    done
    echo "$list"
}

dir=${SLUICE_CLUSTER_DIR:-/tmp/sluice-cluster}
case $cmd in
start)
    [[ $# -ge 1 && $1 =~ ^[1-9][0-9]*$ ]] || usage
    nodes=$1
    dir=${2:-$dir}
    [[ -x $broker ]] || die "no broker binary at $broker (scripts/build.sh, or set SLUICE_BROKER)"
    if [[ -f $dir/cluster.env ]]; then
        load
        for ((id = 1; id <= nodes; id++)); do
            alive "$id" && die "node $id in $dir is running (scripts/cluster.sh stop $dir)"
        done
    fi
    if [[ -e $dir && ! -f $dir/cluster.env ]] && [[ -n $(ls -A "$dir") ]]; then
        die "$dir is not empty and holds no cluster: give an empty or new directory"
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    controllers=${SLUICE_CONTROLLERS:-3}
    ((controllers > nodes)) && controllers=$nodes
    dedicated=${SLUICE_DEDICATED_CONTROLLERS:-0}
    [[ $dedicated == 0 || $dedicated == 1 ]] || die "SLUICE_DEDICATED_CONTROLLERS must be 0 or 1"
    ((dedicated == 0 || nodes > controllers)) ||
        die "dedicated controllers need at least one more node to be a broker"
    base=${SLUICE_CLUSTER_PORT:-$(pick_base $((2 * nodes)))}
    printf 'nodes=%s\ncontrollers=%s\nbase=%s\ndedicated=%s\n' "$nodes" "$controllers" "$base" \
        "$dedicated" >"$dir/cluster.env"
    cluster_id=$(head -c 12 /dev/urandom | base64 | tr '+/' '-_')
    voters=""
    initial=""  # the voters with their directory ids, for sluice-broker format
    for ((id = 1; id <= controllers; id++)); do
        voters+="${voters:+,}$id@127.0.0.1:$(controller_port "$id")"
        initial+="${initial:+,}$id@127.0.0.1:$(controller_port "$id"):$("$broker" random-uuid)"
    done
    echo "$initial" >"$dir/initial-controllers"  # what the controllers were formatted with
    for ((id = 1; id <= nodes; id++)); do
        nd=$(node_dir "$id")
        mkdir -p "$nd/data"
        {
            echo "node.id=$id"
            echo "cluster.id=$cluster_id"
            echo "log.dirs=$nd/data"
            echo "controller.quorum.voters=$voters"
            if ((id <= controllers && dedicated == 1)); then
                echo "process.roles=controller"
                echo "listeners=CONTROLLER://127.0.0.1:$(controller_port "$id")"
            elif ((id <= controllers)); then
                echo "process.roles=broker,controller"
                echo "listeners=PLAINTEXT://127.0.0.1:$(client_port "$id"),CONTROLLER://127.0.0.1:$(controller_port "$id")"
            else
                echo "process.roles=broker"
                echo "listeners=PLAINTEXT://127.0.0.1:$(client_port "$id")"
            fi
            [[ -n ${SLUICE_CLUSTER_PROPERTIES:-} ]] && echo "$SLUICE_CLUSTER_PROPERTIES"
        } >"$nd/server.properties"
        : >"$nd/broker.log"
        if ((id <= controllers)); then
            "$broker" format --config "$nd/server.properties" --initial-controllers "$initial" \
                >>"$nd/broker.log" 2>&1 || die "formatting node $id failed: see $nd/broker.log"
        fi
    done
    # All at once: a broker waits for the controller quorum before it serves.
    for ((id = 1; id <= nodes; id++)); do
        launch "$id"
    done
    for ((id = 1; id <= nodes; id++)); do
        wait_started "$id"
    done
    bootstrap
    ;;
stop)
    dir=${1:-$dir}
    load
    # One at a time, brokers first and the controllers last, so that each controlled shutdown
    # finds a controller quorum to move its leadership.
    for ((id = nodes; id >= 1; id--)); do
        alive "$id" || continue
        kill -CONT "$(cat "$(node_dir "$id")/pid")" 2>/dev/null || true
        kill -TERM "$(cat "$(node_dir "$id")/pid")" 2>/dev/null || true
        deadline=$((SECONDS + 60))
        while alive "$id"; do
            ((SECONDS < deadline)) || { kill -KILL "$(cat "$(node_dir "$id")/pid")"; break; }
            sleep 0.02
        done
    done
    ;;
status)
    dir=${1:-$dir}
    load
    for ((id = 1; id <= nodes; id++)); do
        role=broker
        ((id <= controllers)) && role=broker,controller
        is_broker "$id" || role=controller
        if alive "$id"; then
            state="running (pid $(cat "$(node_dir "$id")/pid"))"
        else
            state=stopped
        fi
        ports=""
        is_broker "$id" && ports="client port $(client_port "$id")"
        ((id <= controllers)) && ports+="${ports:+, }controller port $(controller_port "$id")"
        echo "node $id: $state, $role, $ports"
    done
    ;;
kill | shutdown | restart | pause | resume)
    [[ $# -ge 1 && $1 =~ ^[0-9]+$ ]] || usage
    id=$1
    dir=${2:-$dir}
    load
    ((id >= 1 && id <= nodes)) || die "no node $id (the cluster has nodes 1 to $nodes)"
    pid_of() { cat "$(node_dir "$id")/pid"; }
    case $cmd in
    kill)
        alive "$id" || die "node $id is not running"
        kill -KILL "$(pid_of)"
        while alive "$id"; do sleep 0.02; done
        ;;
    shutdown)
        alive "$id" || die "node $id is not running"
        kill -TERM "$(pid_of)"
        deadline=$((SECONDS + 60))
        while alive "$id"; do
            ((SECONDS < deadline)) || die "node $id did not stop within 60s"
            sleep 0.02
        done
        ;;
    restart)
        alive "$id" && die "node $id is running"
        launch "$id"
        wait_started "$id"
        ;;
    pause) alive "$id" && kill -STOP "$(pid_of)" ;;
    resume) alive "$id" && kill -CONT "$(pid_of)" ;;
    esac
    ;;
bootstrap)
    dir=${1:-$dir}
    load
    bootstrap
    ;;
*)
    usage
    ;;
esac
