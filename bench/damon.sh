#!/usr/bin/env bash
# The kernel's DAMON, paused for a benchmark run and resumed after it (run.sh --pause-damon; see bench/README.md).
#   bench/damon.sh pause STATE    turns off every running DAMON context; writes what it turned off to STATE
#   bench/damon.sh resume STATE   turns those back on (run.sh's cleanup calls it, also after a failure)
# DAMON (a kdamond kernel thread per context) is set up by whoever runs the machine: on these VMs a proactive
# reclaim scheme that samples physical memory every 0.5 s, each pass taking one CPU for 1-2 ms. On a CPU that a
# busy-polling server or wrk occupies, that pass is a stall of all the requests in flight.
set -euo pipefail
admin=/sys/kernel/mm/damon/admin/kdamonds
modules=(damon_reclaim damon_lru_sort damon_stat)  # DAMON's modules, each with an "enabled" parameter
case "${1:-}" in
pause)
    state=${2:?state file}
    : > "$state"
    if [ -d "$admin" ]; then
        for d in "$admin"/[0-9]*; do
            [ -f "$d/state" ] && [ "$(cat "$d/state")" = on ] || continue
            echo off > "$d/state"
            echo "sysfs $d" >> "$state"
        done
    fi
    for m in "${modules[@]}"; do
        p=/sys/module/$m/parameters/enabled
        [ -w "$p" ] && [ "$(cat "$p")" = Y ] || continue
        echo N > "$p"
        echo "module $p" >> "$state"
    done
    cat "$state" ;;
resume)
    state=${2:?state file}
    [ -f "$state" ] || exit 0
    while read -r kind path; do
        case "$kind" in
        sysfs) echo on > "$path/state" || echo "bench: could not turn DAMON's $path back on" >&2 ;;
        module) echo Y > "$path" || echo "bench: could not turn $path back on" >&2 ;;
        esac
    done < "$state"
    rm -f "$state" ;;
*)
    echo "usage: bench/damon.sh pause|resume STATE" >&2
    exit 2 ;;
esac
