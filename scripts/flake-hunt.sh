#!/usr/bin/env bash
# Runs the tests of the given modules N times in a row and lists every failure by test, with the runs it failed in.
# A test that fails once in twenty runs has a cause: this finds it. Usage (as root, after ./test.sh set the machine up):
#   scripts/flake-hunt.sh [-n RUNS] [-m MODULES] [-o DIR] [extra Maven arguments]
#   scripts/flake-hunt.sh -n 20 -m testsuite,transport-zstack
# Each run's surefire reports are kept in DIR/run-K (default: target/flake-hunt); the summary is DIR/summary.txt.
# Run it from a clone or worktree that nothing else builds in: the runs use its target/ folders.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=20
modules=testsuite,transport-zstack
out=target/flake-hunt
while getopts "n:m:o:" opt; do
    case $opt in
        n) runs=$OPTARG ;;
        m) modules=$OPTARG ;;
        o) out=$OPTARG ;;
        *) echo "usage: $0 [-n RUNS] [-m MODULES] [-o DIR] [maven args]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

source scripts/setup.sh
rm -rf "$out"
mkdir -p "$out"
echo "flake-hunt: $runs runs of $modules at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
# built and installed once, into a Maven repository of the hunt's own (hard links to the user's, this project's
# artifacts fresh), so each run tests exactly this tree's code and no other build on the machine sees it
repo="$(cd "$out" && pwd)/m2"
user_repo="${HOME}/.m2/repository"
if [ -d "$user_repo" ]; then
    cp -al "$user_repo" "$repo"
    rm -rf "$repo/io/zstack"
fi
maven=(mvn -B -Dstyle.color=never "-Dmaven.repo.local=$repo")
"${maven[@]}" -q -DskipTests install >"$out/build.log" 2>&1 || { echo "build failed: $out/build.log"; exit 1; }

for ((k = 1; k <= runs; k++)); do
    start=$SECONDS
    log="$out/run-$k.log"
    if "${maven[@]}" --fail-at-end -pl "$modules" verify "$@" >"$log" 2>&1; then
        result=passed
    else
        result=FAILED
    fi
    mkdir -p "$out/run-$k"
    for m in ${modules//,/ }; do
        if [ -d "$m/target/surefire-reports" ]; then
            mkdir -p "$out/run-$k/$m"
            cp "$m"/target/surefire-reports/TEST-*.xml "$out/run-$k/$m/" 2>/dev/null || true
        fi
    done
    tests=$(grep -h -o 'tests="[0-9]*"' "$out/run-$k"/*/TEST-*.xml 2>/dev/null | tr -dc '0-9\n' | awk '{s += $1} END {print s + 0}')
    echo "run $k/$runs: $result in $((SECONDS - start)) s (${tests:-0} tests)"
done

# one line per failed test: "Class.method  runs: 3 7"
python3 - "$out" "$runs" <<'EOF' | tee "$out/summary.txt"
import glob, os, sys, xml.etree.ElementTree as ET
out, runs = sys.argv[1], int(sys.argv[2])
failed = {}
for k in range(1, runs + 1):
    for f in glob.glob(os.path.join(out, f"run-{k}", "*", "TEST-*.xml")):
        try:
            suite = ET.parse(f).getroot()
        except ET.ParseError:
            failed.setdefault(f"{os.path.basename(f)} (unreadable report: the fork died?)", []).append(k)
            continue
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                name = f"{case.get('classname')}.{case.get('name')}"
                failed.setdefault(name, []).append(k)
    log = os.path.join(out, f"run-{k}.log")
    if os.path.exists(log) and "BUILD FAILURE" in open(log, errors="replace").read() and not any(
            k in v for v in failed.values()):
        failed.setdefault(f"run {k}: build failed without a failed test (see {log})", []).append(k)
if not failed:
    print(f"flake-hunt: {runs} runs, no failures")
else:
    print(f"flake-hunt: {runs} runs, {len(failed)} failing tests:")
    for name, ks in sorted(failed.items()):
        print(f"  {name}  runs: {' '.join(map(str, ks))}")
EOF
! grep -q "failing tests" "$out/summary.txt"
