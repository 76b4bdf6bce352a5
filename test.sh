#!/usr/bin/env bash
# Sets up this machine (Debian packages, JDK 25), runs every test of every module (mvn verify), and ends by naming
# each failed test. As root, or as a user with sudo (it asks sudo for itself):
#   ./test.sh [extra Maven arguments]
set -euo pipefail
zstack_self=$(realpath "$0")
cd "$(dirname "$zstack_self")"
source scripts/setup.sh

mkdir -p target
log=target/test.log
# stale reports would be counted as this run's
rm -rf ./*/target/surefire-reports

echo "test: mvn verify of every module, Netty's testsuite included (about 6 to 8 minutes; the first run also"
echo "test: downloads Maven's plugins and Netty). The whole log: $log"
echo "test: expected, not failures: DPDK's tap driver says it could not add a multiq qdisc and disables rte_flow (this"
echo "test: kernel has no multiq; ZStack uses no rte_flow) and cannot reach secondary processes (ZStack runs none);"
echo "test: libxdp finds no bpffs in a test's namespace and loads its XDP program without a dispatcher."

# A module whose tests fail still counts as built (maven.test.failure.ignore), so the modules that depend on it
# run their tests too; --fail-at-end does the same for other failures, such as a compile error, where it can.
# test-summary.py then names every failed test. Downloads are counted rather than listed, a line per 50 files.
set +e
mvn -B -Dstyle.color=never --fail-at-end -Dmaven.test.failure.ignore=true verify "$@" 2>&1 | tee "$log" | awk '
    /^\[INFO\] Downloading from / { next }
    /^\[INFO\] Downloaded from / { if (++n % 50 == 0) { print "test: maven: " n " files downloaded"; fflush() } next }
    { print; fflush() }'
maven_status=${PIPESTATUS[0]}
set -e

zstack_clean_leftovers
summary_status=0
python3 scripts/test-summary.py "$log" || summary_status=$?
if [ "$maven_status" != 0 ] || [ "$summary_status" != 0 ]; then
    exit 1
fi
