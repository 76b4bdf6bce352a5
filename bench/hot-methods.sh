#!/usr/bin/env bash
# Top methods of a JFR recording by execution samples (top frame, and top frame with its caller):
#   bench/hot-methods.sh bench/results/<run>/logs/<measurement>.jfr [N]
# Recordings come from: sudo bench/run.sh --profile ...
set -euo pipefail
jfr_file=$1
n=${2:-25}
java_home=${JAVA_HOME:-$(ls -d /usr/lib/jvm/temurin-25* 2>/dev/null | head -1)}
samples=$("$java_home/bin/jfr" print --events jdk.ExecutionSample --stack-depth 2 "$jfr_file")
total=$(grep -c "jdk.ExecutionSample" <<< "$samples" || true)
echo "$total execution samples in $jfr_file"
echo "--- top frames (self time)"
awk '/stackTrace = \[/ { getline; sub(/^[ \t]+/, ""); sub(/[ \t]+line:.*/, ""); print }' <<< "$samples" \
    | sort | uniq -c | sort -rn | head -"$n" | awk -v t="$total" '{ printf "%5.1f%%  %s\n", 100 * $1 / t, substr($0, index($0, $2)) }'
