#!/bin/sh
# The deterministic TCP simulation over a wider seed sweep (half at 2% loss, half "harsh" at 10%), summed per loss
# level: virtual time of the transfers, retransmission timeouts, retransmitted segments, fast retransmits, TLPs.
# Usage: scripts/sim-sweep.sh [seeds=40] (from the repository root; builds the transport module offline).
set -e
seeds=${1:-40}
nice mvn -B -o -q -pl transport-zstack verify -Dtest=TcpSimulationTest -Dsurefire.failIfNoSpecifiedTests=false \
    -Dzstack.sim.seeds="$seeds" >/dev/null
out=transport-zstack/target/surefire-reports/io.zstack.tcp.TcpSimulationTest-output.txt
grep -h '^sim-sweep seed' "$out"
grep -h '^sim-sweep seed' "$out" | awk '{lvl=$5; ms[lvl]+=$6; to[lvl]+=$9; rx[lvl]+=$11; fr[lvl]+=$14; pr[lvl]+=$16; un[lvl]+=$18; n[lvl]++}
 END {for (l in n) printf "drop %s %d seeds, %.1f s virtual, %d timeouts, %d retransmitted, %d fast retransmits, %d probes, %d undone\n", l, n[l], ms[l]/1000, to[l], rx[l], fr[l], pr[l], un[l]}'
