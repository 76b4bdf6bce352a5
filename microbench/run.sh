#!/usr/bin/env bash
# Builds (if needed) and runs ZStack's JMH microbenchmarks: sudo microbench/run.sh [JMH arguments]
# Results go to microbench/target/jmh-result.json as well as the console.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ ! -f microbench/target/microbench.jar ] || [ -n "$(find transport-zstack/src microbench/src -newer microbench/target/microbench.jar -print -quit)" ]; then
    mvn -B -q package -DskipTests -pl microbench -am   # package, never install: the reactor resolves the modules
fi
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -jar microbench/target/microbench.jar \
    -rf json -rff microbench/target/jmh-result.json "$@"
