#!/usr/bin/env bash
# Builds the DPDK shim as a shared library: native/build.sh <output.so>
# Called by transport-zstack's Maven build; needs gcc and DPDK's development package (pkg-config libdpdk).
set -euo pipefail
out=${1:?usage: build.sh <output.so>}
here=$(cd "$(dirname "$0")" && pwd)
if ! pkg-config --exists libdpdk 2>/dev/null; then
    echo "native/build.sh: DPDK development files not found (pkg-config libdpdk)." >&2
    echo "  On Debian/Ubuntu: apt-get install dpdk libdpdk-dev pkg-config" >&2
    exit 1
fi
mkdir -p "$(dirname "$out")"
# -march from DPDK's pkg-config is kept: the inline fast path is compiled for the ISA DPDK itself targets.
gcc -O2 -g -fPIC -shared -Wall -Wextra -Wno-unused-parameter -Werror \
    $(pkg-config --cflags libdpdk) \
    -o "$out" "$here/zstack_shim.c" \
    $(pkg-config --libs libdpdk) -lxdp -lbpf -lpthread
