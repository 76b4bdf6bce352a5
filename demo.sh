#!/usr/bin/env bash
# Sets up this machine, builds ZStack, and runs the HTTP echo server on ZStack over a DPDK tap device inside a
# network namespace it creates; curl, on the kernel side of the tap, sends it requests. Everything it creates is
# removed on exit (even on Ctrl-C). As root, or as a user with sudo (it asks sudo for itself):
#   ./demo.sh
set -euo pipefail
zstack_self=$(realpath "$0")
cd "$(dirname "$zstack_self")"
source scripts/setup.sh

ns=zstack-demo-$$
iface=zstap0
kernel_address=10.77.0.1
stack_address=10.77.0.2
java_pid=

cleanup() {
    zstack_stop "$java_pid"
    ip netns del "$ns" 2>/dev/null || true
    # the server removes its EAL runtime folder at exit; this covers one that had to be killed
    zstack_clean_leftovers
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p target
zstack_progress "demo: building (mvn package; the first run downloads Maven's plugins and Netty)" target/demo-build.log \
    maven mvn -B -Dstyle.color=never package -DskipTests -pl example-http-echo -am

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
echo "demo: starting the HTTP echo server on ZStack in namespace $ns, tap $iface, address $stack_address"
echo "demo: expected from DPDK's tap driver: no multiq qdisc in this kernel, so rte_flow is off (ZStack uses none),"
echo "demo: and no secondary processes to tell that the port started (ZStack runs none)"
ip netns exec "$ns" "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -jar example-http-echo/target/http-echo.jar \
    --transport zstack --tap "$iface" --address "$stack_address/24" --port 8080 &
java_pid=$!

for _ in $(seq 1 200); do
    ip netns exec "$ns" ip link show "$iface" >/dev/null 2>&1 && break
    kill -0 "$java_pid" 2>/dev/null || { echo "demo: the server exited before its tap appeared" >&2; exit 1; }
    sleep 0.1
done
# the tap PMD gives the kernel side the port's own MAC; the kernel end gets its own
ip netns exec "$ns" ip link set "$iface" address 02:00:00:00:00:01
ip netns exec "$ns" ip addr add "$kernel_address/24" dev "$iface"
ip netns exec "$ns" ip link set "$iface" up

# the listener is up once the server prints its line; wait for it quietly rather than show curl's refusals
for _ in $(seq 1 100); do
    ip netns exec "$ns" curl -s -o /dev/null --max-time 1 "http://$stack_address:8080/size/1" && break
    kill -0 "$java_pid" 2>/dev/null || { echo "demo: the server exited before it answered" >&2; exit 1; }
    sleep 0.1
done

echo "demo: curl (the kernel's TCP, $kernel_address) -> HTTP echo on ZStack ($stack_address:8080)"
ip netns exec "$ns" curl -sS --retry 5 --retry-connrefused --retry-delay 1 --max-time 10 \
    -H 'Content-Type: text/plain' --data-binary 'hello from the kernel, echoed by ZStack' \
    "http://$stack_address:8080/echo"
echo
ip netns exec "$ns" curl -sS --max-time 10 -o /dev/null \
    -w 'demo: GET /size/1000000 -> HTTP %{http_code}, %{size_download} bytes in %{time_total} s\n' \
    "http://$stack_address:8080/size/1000000"
echo "demo: ok"
