#!/usr/bin/env bash
# Sets up this machine (Debian packages, JDK 25) and runs every test: sudo ./test.sh [extra Maven arguments]
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
mvn -B verify "$@"
