# Sourced by bench/run.sh (issue 14): the benchmark peers, only when run.sh is given --peers SRC.
#   peers_take_args "$@"   removes --peers SRC from the arguments (left in peers_rest) and remembers SRC
#   peers_setup OUT        builds the peers (bench/peers/build.sh SRC), reserves hugepages; sets peers_harness_args
#   peers_cleanup OUT      gives the hugepages back (also on failure; run.sh's cleanup calls it)
peers_src=
peers_rest=()
peers_harness_args=()
peers_take_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
        --peers) peers_src=${2:?--peers needs the folder of the peer sources}; shift 2 ;;
        --peers=*) peers_src=${1#--peers=}; shift ;;
        *) peers_rest+=("$1"); shift ;;
        esac
    done
}
peers_setup() {
    [ -n "$peers_src" ] || return 0
    local build=${ZSBENCH_PEERS_BUILD:-/var/tmp/zsbench-peers}
    bench/peers/build.sh "$peers_src" "$build"
    # F-stack wants hugepages: 256 x 2 MiB (each peer maps 256 MiB, -m 256; --huge-unlink frees them at its exit)
    local dir
    dir=$(bench/peers/hugepages.sh reserve "${ZSBENCH_PEERS_HUGEPAGES:-256}" "$1/hugepages.state")
    echo "bench: peers from $peers_src built in $build/bin; hugepages reserved at $dir (released at exit)"
    peers_harness_args=(--peers-bin "$build/bin" --peers-conf-base "$build/zstack/config.ini" --huge-dir "$dir")
}
peers_cleanup() {
    [ -f "$1/hugepages.state" ] && bench/peers/hugepages.sh release "$1/hugepages.state" || true
    rm -rf /var/run/dpdk/container-zsbench-*  # the peers' EAL runtime folders (F-stack prefixes "container-")
}
