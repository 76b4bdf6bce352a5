#!/usr/bin/env bash
# Builds (if needed) and runs ZStack's JMH microbenchmarks: sudo benchmarks/run.sh [JMH arguments]
# Results go to benchmarks/target/jmh-result.json as well as the console.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ ! -f benchmarks/target/benchmarks.jar ] || [ -n "$(find transport-zstack/src benchmarks/src -newer benchmarks/target/benchmarks.jar -print -quit)" ]; then
    mvn -B -q package -DskipTests -pl benchmarks -am   # package, never install: the reactor resolves the modules
fi
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -jar benchmarks/target/benchmarks.jar \
    -rf json -rff benchmarks/target/jmh-result.json "$@"
