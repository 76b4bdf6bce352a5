#!/usr/bin/env bash
# ZStack benchmark harness, one command (root: DPDK and network namespaces need it):
#   sudo bench/run.sh                     setup 1, every size and concurrency, 3 repeats (see bench/README.md)
#   sudo bench/run.sh --quick             a few points, short runs (development)
#   sudo bench/run.sh --setups 1,3 --sizes 64,8192 --concurrency 1,100 --repeats 5 --duration 20 --mode get
#   sudo bench/run.sh --pause-damon ...  the kernel's DAMON (kdamond) off while it runs, back on at exit
#   sudo bench/run.sh --peers SRC --setups 2 --paired 5 ...  setup 2's memif servers in paired rounds (bench/README.md)
# Every other option goes to bench/harness.py (python3 bench/harness.py --help). Results: bench/results/<timestamp>/.
# It creates namespaces zsbench-a-<pid> (client) and zsbench-b-<pid> (server) joined by a veth, and removes them,
# the servers it started and their DPDK runtime folders on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

for arg in "$@"; do
    if [ "$arg" = -h ] || [ "$arg" = --help ]; then
        # usage only: no packages, build, namespaces or results folder for it
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        echo
        exec python3 bench/harness.py --help
    fi
done

if [ "$(id -u)" != 0 ]; then
    echo "bench/run.sh needs root (DPDK, network namespaces). Run it with sudo." >&2
    exit 1
fi

# --- packages and JDK (scripts/setup.sh installs DPDK, maven, ethtool, curl, ... and exports JAVA_HOME) -------------
source scripts/setup.sh
bench_missing=()
for p in wrk python3-matplotlib ethtool curl util-linux; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || bench_missing+=("$p")
done
if [ ${#bench_missing[@]} -gt 0 ]; then
    echo "bench: installing ${bench_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${bench_missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null; apt-get install -y -q --no-install-recommends "${bench_missing[@]}" >/dev/null; }
fi
# --pause-damon: the kernel's DAMON off while the run lasts, back on at exit (bench/damon.sh, bench/README.md)
pause_damon=
args=()
for arg in "$@"; do
    if [ "$arg" = --pause-damon ]; then pause_damon=1; else args+=("$arg"); fi
done
set -- ${args[@]+"${args[@]}"}
source bench/peers/peers.sh  # --peers SRC: the paper's Z-stack, F-stack and C epoll as transports (issue 14)
peers_take_args "$@"
set -- ${peers_rest[@]+"${peers_rest[@]}"}
# Debian's python3 has matplotlib; a python3 earlier on PATH (pyenv) may not
py=/usr/bin/python3

# --- build --------------------------------------------------------------------------------------------------------
jar=example-http-echo/target/http-echo.jar
loadgen=bench/target/zstack-bench.jar
modules=example-http-echo
[ -f bench/pom.xml ] && modules=$modules,bench
stale() { [ ! -f "$1" ] || [ -n "$(find "${@:2}" -newer "$1" -type f -print -quit 2>/dev/null)" ]; }
# ZSBENCH_BUILD=auto (default: when a source is newer than a jar), always, or never (use the jars as they are)
build=${ZSBENCH_BUILD:-auto}
if [ "$build" = always ] || { [ "$build" = auto ] && { stale "$jar" transport-zstack/src native example-http-echo/src \
        || { [ -f bench/pom.xml ] && stale "$loadgen" bench/src bench/pom.xml; }; }; }; then
    echo "bench: building ($modules, mvn package)"
    mvn -B -q package -DskipTests -pl "$modules" -am
fi
[ -f "$jar" ] || { echo "bench: $jar is missing" >&2; exit 1; }

# --- namespaces ---------------------------------------------------------------------------------------------------
ns_a=zsbench-a-$$
ns_b=zsbench-b-$$
stamp=$(date +%Y%m%d-%H%M%S)
out=bench/results/$stamp
mkdir -p "$out"
harness_pid=
memif=/run/zsbench-$$.memif

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$harness_pid" ] && kill -0 "$harness_pid" 2>/dev/null; then
        kill -TERM "$harness_pid" 2>/dev/null || true
        wait "$harness_pid" 2>/dev/null || true
    fi
    # servers and load generators the harness started (one pid per line); each leads its own process group
    if [ -f "$out/server-pids" ]; then
        while read -r pid; do
            if kill -0 "$pid" 2>/dev/null; then
                kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            fi
            rm -rf "/var/run/dpdk/zstack-$pid"
        done < "$out/server-pids"
    fi
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
    rm -f "$memif" "$memif".starting-*  # a killed ZStack memif server's socket (made beside, linked once started)
    peers_cleanup "$out"
    bench/damon.sh resume "$out/damon.state" || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns_a"
ip netns add "$ns_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link add va type veth peer name vb netns "$ns_b"
# the kernel peer must send complete frames (checksums filled, no GSO super-frames) for the DPDK PMDs; both ends,
# for every transport but those that ask for the kernel's offloads (harness.py sets them per transport)
ip netns exec "$ns_a" ethtool -K va tx off tso off gso off gro off >/dev/null
ip netns exec "$ns_b" ethtool -K vb tx off tso off gso off gro off >/dev/null
ip -n "$ns_a" addr add 10.90.0.1/24 dev va
ip -n "$ns_a" link set va up
ip -n "$ns_b" link set vb up

peers_setup "$out"
if [ -n "$pause_damon" ]; then
    paused=$(bench/damon.sh pause "$out/damon.state")
    echo "bench: DAMON paused for the run (back on at exit): ${paused:-none was running}"
elif [ -n "$(pgrep -x 'kdamond.*' || true)" ]; then
    echo "bench: DAMON is running (kdamond): each of its passes stalls a benchmark CPU for 1-2 ms (column kdamond_ms);" \
        "--pause-damon turns it off for the run"
fi
echo "bench: namespaces $ns_a (client, va 10.90.0.1) and $ns_b (server, vb 10.90.0.2); results in $out"
echo "bench: CPU pinning: server JVM on CPU 1, client (wrk or load generator) on CPU 0 (taskset -c)"
"$py" bench/harness.py --out "$out" --ns-client "$ns_a" --ns-server "$ns_b" --client-if va --server-if vb \
    --server-addr 10.90.0.2 --memif-socket "$memif" --java "$JAVA_HOME/bin/java" --jar "$jar" \
    --loadgen-jar "$loadgen" ${peers_harness_args[@]+"${peers_harness_args[@]}"} "$@" &
harness_pid=$!
wait "$harness_pid"
harness_pid=
"$py" bench/report.py "$out"
echo "bench: done: $out/summary.md"
