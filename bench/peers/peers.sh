# Sourced by bench/run.sh (issue 14): the benchmark peers when run.sh is given --peers SRC, and the hugepages that
# they and --hugepages (ZStack's -huge transports) need.
#   peers_take_args "$@"   removes --peers SRC and --hugepages from the arguments (left in peers_rest), remembers them
#   peers_setup OUT        reserves hugepages, builds the peers (bench/peers/build.sh SRC); sets peers_harness_args
#   peers_cleanup OUT      gives the hugepages back (also on failure; run.sh's cleanup calls it)
peers_src=
zstack_huge=
paired=
loadgen_huge=
peers_rest=()
peers_harness_args=()
peers_take_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
        --peers) peers_src=${2:?--peers needs the folder of the peer sources}; shift 2 ;;
        --peers=*) peers_src=${1#--peers=}; shift ;;
        --hugepages) zstack_huge=1; shift ;;  # ZStack's servers also on hugepages (the -huge transports)
        --paired) paired=1; peers_rest+=("$1"); shift ;;  # every peer of a point runs at once (harness --paired)
        --transports=*lgzc*) loadgen_huge=1; peers_rest+=("$1"); shift ;;  # zero-copy load generators: on them too
        --transports) [[ "${2:-}" == *lgzc* ]] && loadgen_huge=1; peers_rest+=("$1"); shift ;;
        *) peers_rest+=("$1"); shift ;;
        esac
    done
}
peers_setup() {
    [ -n "$peers_src" ] || [ -n "$zstack_huge" ] || [ -n "$loadgen_huge" ] || return 0
    # F-stack wants hugepages, and --hugepages asks them for ZStack: 256 x 2 MiB (each server maps 256 MiB, -m 256,
    # one server at a time; --huge-unlink frees them at its exit), three servers' worth when --paired keeps every
    # server of a point running at once; twice that when load generators map as much (the -lgzc transports)
    local dir pages=$(( ${paired:-0} ? 768 : 256 ))
    [ -n "$loadgen_huge" ] && pages=$(( pages * 2 ))
    dir=$(bench/peers/hugepages.sh reserve "${ZSBENCH_PEERS_HUGEPAGES:-$pages}" "$1/hugepages.state")
    echo "bench: hugepages reserved at $dir (released at exit)"
    peers_harness_args=(--huge-dir "$dir")
    [ -n "$zstack_huge" ] && peers_harness_args+=(--zstack-huge)
    [ -n "$peers_src" ] || return 0
    local build=${ZSBENCH_PEERS_BUILD:-/var/tmp/zsbench-peers}
    bench/peers/build.sh "$peers_src" "$build"
    echo "bench: peers from $peers_src built in $build/bin"
    peers_harness_args+=(--peers-bin "$build/bin" --peers-conf-base "$build/zstack/config.ini")
}
peers_cleanup() {
    [ -f "$1/hugepages.state" ] && bench/peers/hugepages.sh release "$1/hugepages.state" || true
    rm -rf /var/run/dpdk/container-zsbench-*  # the peers' EAL runtime folders (F-stack prefixes "container-")
}
