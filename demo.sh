#!/usr/bin/env bash
# Sets up this machine, builds ZStack, and runs it on a DPDK tap device inside a network namespace it creates;
# the kernel on the other side of the tap pings it. Everything it creates is removed on exit (even on Ctrl-C).
#   sudo ./demo.sh
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh

ns=zstack-demo-$$
iface=zstap0
kernel_address=10.77.0.1
stack_address=10.77.0.2
java_pid=

cleanup() {
    if [ -n "$java_pid" ] && kill -0 "$java_pid" 2>/dev/null; then
        kill -TERM "$java_pid" 2>/dev/null || true
        wait "$java_pid" 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "demo: building (mvn package)"
mvn -B -q package -DskipTests -pl transport-zstack -am
mvn -B -q dependency:build-classpath -pl transport-zstack -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime
classpath="transport-zstack/target/classes:$(cat transport-zstack/target/classpath.txt)"

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
echo "demo: starting ZStack in namespace $ns on tap $iface as $stack_address"
ip netns exec "$ns" "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$classpath" \
    io.zstack.stack.TapDemo --iface "$iface" --address "$stack_address/24" --seconds 60 &
java_pid=$!

for _ in $(seq 1 100); do
    ip netns exec "$ns" ip link show "$iface" >/dev/null 2>&1 && break
    kill -0 "$java_pid" 2>/dev/null || { echo "demo: ZStack exited before its tap appeared" >&2; exit 1; }
    sleep 0.1
done
# the tap PMD gives the kernel side the port's own MAC; the kernel end gets its own
ip netns exec "$ns" ip link set "$iface" address 02:00:00:00:00:01
ip netns exec "$ns" ip addr add "$kernel_address/24" dev "$iface"
ip netns exec "$ns" ip link set "$iface" up

echo "demo: the kernel ($kernel_address) pings ZStack ($stack_address)"
ip netns exec "$ns" ping -c 5 -i 0.2 -W 2 "$stack_address"
echo "demo: ok"
