#!/usr/bin/env bash
# Loss benchmark (issue 10), one command, as root, from anywhere:
#   sudo bench/loss.sh                          drops 0, 0.5, 1, 2, 5 % and duplicates 1 %; 32 MiB; 3 repeats
#   sudo bench/loss.sh --size-mib 64 --repeats 5 --losses 0,0.02
# A bulk transfer from a sender to the Linux kernel's TCP as receiver (curl), through a router namespace that drops
# (iptables statistic, both directions: data and ACKs) or duplicates (TEE) packets at random; this kernel has no netem.
# The sender is the same Netty application (example-http-echo, GET /size/N) on the kernel's TCP (--transport epoll:
# Linux as sender) or on ZStack (net_af_packet on its veth; with --offloads a kernel TAP, and the kernel's offloads on). Per point: median time of the repeats, every byte
# compared, and the sender's retransmissions, RTOs and TLPs (nstat for Linux, GET /stats for ZStack). Results in
# bench/results/loss-<timestamp>/ (loss.csv, summary.md, loss.png). Namespaces zsloss-{k,r,s}-<pid> are removed, and
# every process started in them killed, on exit, failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "bench/loss.sh needs root (DPDK, network namespaces). Run it with sudo." >&2
    exit 1
fi
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
java=$JAVA_HOME/bin/java
jar=example-http-echo/target/http-echo.jar
if [ ! -f "$jar" ] || [ -n "$(find transport-zstack/src example-http-echo/src -newer "$jar" -type f -print -quit)" ]; then
    echo "loss: building $jar (mvn package)"
    mvn -B -q -o package -DskipTests -pl example-http-echo -am
fi
stamp=$(date +%Y%m%d-%H%M%S)
out=bench/results/loss-$stamp
mkdir -p "$out"
K=zsloss-k-$$
R=zsloss-r-$$
S=zsloss-s-$$

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for ns in "$S" "$R" "$K"; do
        if ip netns list | grep -qw "$ns"; then
            ip netns pids "$ns" | xargs -r kill 2>/dev/null || true
            sleep 0.5
            ip netns pids "$ns" | xargs -r kill -9 2>/dev/null || true
            ip netns del "$ns"
        fi
    done
    rm -rf /var/run/dpdk/zsloss-* 2>/dev/null || true
    exit $rc
}
trap cleanup EXIT INT TERM

# receiver K (10.93.1.2) -- router R (10.93.1.1 | 10.93.2.1) -- sender S (10.93.2.2: the kernel's, or ZStack's)
for ns in "$K" "$R" "$S"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$K" link add k0 type veth peer name r0 netns "$R"
ip -n "$R" link add r1 type veth peer name s0 netns "$S"
ip -n "$K" addr add 10.93.1.2/24 dev k0
ip -n "$K" link set k0 up
ip -n "$K" route add default via 10.93.1.1
ip -n "$R" addr add 10.93.1.1/24 dev r0
ip -n "$R" addr add 10.93.2.1/24 dev r1
ip -n "$R" link set r0 up
ip -n "$R" link set r1 up
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
ip -n "$S" link set s0 up
# af_packet needs whole frames with checksums from the kernel side (no GSO super-frames): offloads off on both ends of
# the sender's veth, for both senders alike
ip netns exec "$R" ethtool -K r1 tx off tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$S" ethtool -K s0 tx off tso off gso off gro off >/dev/null 2>&1 || true

/usr/bin/python3 bench/loss.py --out "$out" --java "$java" --jar "$jar" --ns-k "$K" --ns-r "$R" --ns-s "$S" "$@"
