#!/usr/bin/env bash
# Soak: the HTTP echo server on ZStack under an hour (or --minutes) of mixed traffic from the kernel's TCP in its own
# namespace (keep-alive, 8 KB bodies, a connection per request, 32 MiB transfers, clients killed mid-request,
# pipelining), checked after every cycle: every answer right, the server alive, and at the end its mbufs back and its
# heap flat (bench/soak.py says what each phase does and what fails the soak). As root:
#   bench/soak.sh [--minutes 60] [--device tap|kernel-tap] [--threads 1] [--http netty|lean] [--phase-seconds 20]
# Results (each cycle's GET /stats, the history, the server's log) go to bench/results/soak-<time>/.
set -euo pipefail
zstack_self=$(realpath "$0")
cd "$(dirname "$zstack_self")/.."
source scripts/setup.sh

minutes=60
device=tap
threads=1
http=netty
soak_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --minutes) minutes=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --http) http=$2; shift 2 ;;
        --phase-seconds|--settle-seconds|--heap-growth-mib) soak_args+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "soak: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $device in
    tap) device_args=(--tap) ;;
    kernel-tap) device_args=(--kernel-tap) ;;
    *) echo "soak: --device is tap (DPDK's net_tap) or kernel-tap (ZStack's own)" >&2; exit 2 ;;
esac

if ! command -v wrk >/dev/null; then
    # as bench/run.sh: the package lists are read again only when the install needs them
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends wrk >/tmp/zstack-apt-wrk.log 2>&1 ||
        { apt-get update -q >/dev/null; apt-get install -y -q --no-install-recommends wrk >/tmp/zstack-apt-wrk.log; }
fi

# zstack_clean_leftovers removes a namespace of this shape whose script is gone
ns=zst-$$-1
iface=zsoak0
kernel_address=10.79.0.1
stack_address=10.79.0.2
out=bench/results/soak-$(date +%Y%m%d-%H%M%S)
java_pid=
mkdir -p "$out"

cleanup() {
    zstack_stop "$java_pid"
    # wrk or curl left in the namespace (a phase interrupted) go before it does
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    zstack_clean_leftovers
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p target
zstack_progress "soak: building" target/soak-build.log maven \
    mvn -B -Dstyle.color=never package -DskipTests -pl example-http-echo -am

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
echo "soak: HTTP echo on ZStack ($device, $threads loop(s), $http codec) in namespace $ns; $minutes min; results in $out"
ip netns exec "$ns" "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
    -Xms256m -Xmx256m -jar example-http-echo/target/http-echo.jar --transport zstack "${device_args[@]}" "$iface" \
    --address "$stack_address/24" --port 8080 --threads "$threads" --http "$http" >"$out/server.log" 2>&1 &
java_pid=$!

for _ in $(seq 1 200); do
    ip netns exec "$ns" ip link show "$iface" >/dev/null 2>&1 && break
    kill -0 "$java_pid" 2>/dev/null || { echo "soak: the server exited before its tap appeared:" >&2; tail "$out/server.log" >&2; exit 1; }
    sleep 0.1
done
if [ "$device" = tap ]; then
    # DPDK's tap driver gives the kernel side the port's own MAC; the kernel end gets its own
    ip netns exec "$ns" ip link set "$iface" address 02:00:00:00:00:01
fi
ip netns exec "$ns" ip addr add "$kernel_address/24" dev "$iface"
ip netns exec "$ns" ip link set "$iface" up
for _ in $(seq 1 100); do
    ip netns exec "$ns" curl -s -o /dev/null --max-time 1 "http://$stack_address:8080/size/1" && break
    kill -0 "$java_pid" 2>/dev/null || { echo "soak: the server exited before it answered:" >&2; tail "$out/server.log" >&2; exit 1; }
    sleep 0.1
done

python3 bench/soak.py --ns "$ns" --server-addr "$stack_address" --port 8080 --server-pid "$java_pid" \
    --server-log "$out/server.log" --jcmd "$JAVA_HOME/bin/jcmd" --out "$out" --minutes "$minutes" "${soak_args[@]}"
