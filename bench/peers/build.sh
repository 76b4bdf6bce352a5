#!/usr/bin/env bash
# Builds the benchmark peers (issue 14) from a source folder the user provides; never downloads anything.
#
#   bench/peers/build.sh SRC [OUT]
#
# SRC holds the two tarballs described in bench/peers/README.md:
#   Z-stack-576643d1.tar.xz             github.com/anvayabn/Z-stack, commit 576643d1 (the paper's code)
#   f-stack-19b67af5-originals.tar.xz   the 12 files Z-stack changed, as they are in github.com/F-Stack/f-stack at
#                                       commit 19b67af5 (the base Z-stack starts from): over Z-stack, plain F-stack
# OUT (default /var/tmp/zsbench-peers) receives:
#   zstack/ fstack/      the two source trees, each with fstack-eal-args.patch applied, and their lib/libfstack.a
#   bin/zstack-echo      HTTP echo on Z-stack's z_read/z_write (mbufs exchanged, no copy of the payload)
#   bin/fstack-echo      the same server on plain F-stack's ff_read/ff_write (copying)
#   bin/epoll-echo       the same behaviour on the kernel's sockets (epoll)
# Rebuilds only what is older than its inputs. Needs gcc, make, pkg-config and Debian's libdpdk-dev, libssl-dev,
# libnuma-dev (DPDK is linked as shared libraries, so its drivers load as plugins, as ZStack's do).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:?usage: bench/peers/build.sh SRC [OUT] (SRC: the folder with the Z-stack and F-stack tarballs)}
out=${2:-/var/tmp/zsbench-peers}
src=$(cd "$src" && pwd)
zt=$src/Z-stack-576643d1.tar.xz
ft=$src/f-stack-19b67af5-originals.tar.xz
for f in "$zt" "$ft"; do [ -f "$f" ] || { echo "peers: $f is missing (see bench/peers/README.md)" >&2; exit 1; }; done
mkdir -p "$out/bin"
jobs=${ZSBENCH_PEERS_JOBS:-2}

tree() { # name tarball-overlay(or empty)
    local name=$1 overlay=$2 dir=$out/$1
    # what the tree was made from, by content: a copy of the same tarballs with a newer time (a machine provisioned
    # again) does not cost another extraction and two builds of the library
    local stamp
    stamp=$(cat "$zt" ${overlay:+"$overlay"} "$here/fstack-eal-args.patch" | sha256sum | cut -d' ' -f1)
    if [ ! -f "$dir/.extracted" ] || [ "$(cat "$dir/.extracted")" != "$stamp" ]; then
        echo "peers: extracting $name"
        rm -rf "$dir" "$out/tmp-$name"
        mkdir -p "$out/tmp-$name"
        tar xJf "$zt" -C "$out/tmp-$name"
        mv "$out/tmp-$name/Z-stack" "$dir"
        rmdir "$out/tmp-$name"
        if [ -n "$overlay" ]; then
            mkdir -p "$out/tmp-orig"
            tar xJf "$overlay" -C "$out/tmp-orig"
            cp -r "$out/tmp-orig/f-stack-originals/." "$dir/"
            rm -rf "$out/tmp-orig"
        fi
        patch -d "$dir" -p1 -s < "$here/fstack-eal-args.patch"
        echo "$stamp" > "$dir/.extracted"
    fi
    if [ ! -f "$dir/lib/libfstack.a" ] || [ "$dir/.extracted" -nt "$dir/lib/libfstack.a" ]; then
        echo "peers: building $name's lib (make, about 80 s of CPU)"
        nice make -s -C "$dir/lib" -j"$jobs" >"$out/$name-lib.log" 2>&1 ||
            { tail -30 "$out/$name-lib.log" >&2; echo "peers: $name lib failed, log $out/$name-lib.log" >&2; exit 1; }
    fi
}
tree zstack ""
tree fstack "$ft"

dpdk_cflags=$(pkg-config --cflags libdpdk)
# the bonding PMD is not in pkg-config's list of libdpdk's shared libraries; F-stack calls it
dpdk_libs="$(pkg-config --libs libdpdk) -lrte_net_bond"
link() { # tree
    echo "-L$out/$1/lib -Wl,--whole-archive,-lfstack,--no-whole-archive $dpdk_libs -lrt -lm -ldl -lcrypto -pthread -lnuma"
}
newer() { [ ! -f "$1" ] || [ -n "$(find "${@:2}" -newer "$1" -print -quit)" ]; }
if newer "$out/bin/zstack-echo" "$here/ff_echo.c" "$here/http_echo.h" "$out/zstack/lib/libfstack.a"; then
    nice gcc -O2 -Wall -DZS_ZERO_COPY $dpdk_cflags -I"$out/zstack/lib" -o "$out/bin/zstack-echo" "$here/ff_echo.c" \
        $(link zstack)
fi
if newer "$out/bin/fstack-echo" "$here/ff_echo.c" "$here/http_echo.h" "$out/fstack/lib/libfstack.a"; then
    nice gcc -O2 -Wall $dpdk_cflags -I"$out/fstack/lib" -o "$out/bin/fstack-echo" "$here/ff_echo.c" $(link fstack)
fi
if newer "$out/bin/epoll-echo" "$here/epoll_echo.c" "$here/http_echo.h"; then
    nice gcc -O2 -Wall -o "$out/bin/epoll-echo" "$here/epoll_echo.c"
fi
echo "peers: built in $out/bin: $(ls "$out/bin" | tr '\n' ' ')"
