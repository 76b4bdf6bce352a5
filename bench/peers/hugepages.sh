#!/usr/bin/env bash
# Hugepages for the F-stack / Z-stack peers (they will not run without), reserved for one benchmark run and given
# back at its end. On a shared machine only our own pages are added and removed, and the hugetlbfs is our own mount.
#
#   bench/peers/hugepages.sh reserve PAGES STATE_FILE   adds PAGES x 2 MiB, mounts a hugetlbfs for them, prints its path
#   bench/peers/hugepages.sh release STATE_FILE         unmounts it, removes the PAGES again (idempotent)
set -euo pipefail
nr=/proc/sys/vm/nr_hugepages
case "${1:-}" in
reserve)
    pages=$2 state=$3
    dir=/run/zsbench-huge-$$
    before=$(cat "$nr")
    echo $((before + pages)) > "$nr"
    got=$(($(cat "$nr") - before))
    mkdir -p "$dir"
    mount -t hugetlbfs -o pagesize=2M,size=$((pages * 2))M nodev "$dir"
    printf '%s %s\n' "$got" "$dir" > "$state"
    [ "$got" -ge "$pages" ] || echo "hugepages: asked for $pages, the kernel gave $got" >&2
    echo "$dir"
    ;;
release)
    state=$2
    [ -f "$state" ] || exit 0
    read -r got dir < "$state"
    if mountpoint -q "$dir"; then
        rm -f "$dir"/* 2>/dev/null || true
        umount "$dir" || umount -l "$dir"
    fi
    rmdir "$dir" 2>/dev/null || true
    now=$(cat "$nr")
    echo $((now > got ? now - got : 0)) > "$nr"
    rm -f "$state"
    ;;
*)
    echo "usage: $0 reserve PAGES STATE_FILE | release STATE_FILE" >&2
    exit 2
    ;;
esac
