#!/usr/bin/env python3
"""wrk's request latencies rebuilt from its system calls, before and after wrk's coordinated-omission correction.

wrk reports latency percentiles only after correcting them (stats_correct in wrk.c: every latency L of at least twice
the mean interval I between one connection's requests adds samples at L - I, L - 2I, ... above I). This rebuilds
the uncorrected latencies from a trace of wrk's write(2) and read(2) calls (a request's first write to the next
read on its socket that returned data: right for responses that arrive in one read, as 64 B echoes do; a response
read in pieces ends at its first piece), applies the same correction, and prints both, with wrk's epoll_wait calls that
blocked for a millisecond or more (every connection waiting at once: a stall of the server or of the client's CPU).

    perf record -e raw_syscalls:sys_enter,raw_syscalls:sys_exit -p $(pgrep -x wrk) -o wrk.data -- sleep 2
    perf script -i wrk.data -F tid,time,event,trace > wrk.txt
    bench/wrk-syscall-latency.py wrk.txt --connections 10

Tracing every system call slows wrk (about a fifth here): compare servers under the same trace, not with untraced
figures. Used for RESULTS.md's 2026-12-05 night section.
"""
import argparse
import collections
import re

READ, WRITE, EPOLL_WAIT, EPOLL_PWAIT = 0, 1, 232, 281  # x86-64 system call numbers
LINE = re.compile(r"\s*(\d+)\s+(?:\[\d+\]\s+)?([\d.]+):\s+raw_syscalls:sys_(enter|exit): NR (\d+) (.*)")


def parse(path):
    """(latencies as (seconds, start), epoll_wait calls as (enter, exit, events))."""
    started, latencies, waits, pending = {}, [], [], {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            tid, ts, kind, nr, rest = m.group(1), float(m.group(2)), m.group(3), int(m.group(4)), m.group(5)
            if kind == "enter":
                args = rest.strip("() ").split(", ")
                pending[tid] = (nr, ts, args)
                if nr == WRITE:
                    started.setdefault(int(args[0], 16), ts)  # a request's first write starts it, as wrk's c->start
                continue
            if tid not in pending or pending[tid][0] != nr:
                continue
            _, entered, args = pending.pop(tid)
            ret = int(rest.split("=")[1])
            if nr == READ and ret > 0:
                fd = int(args[0], 16)
                if fd in started:
                    start = started.pop(fd)
                    latencies.append((ts - start, start))
            elif nr in (EPOLL_WAIT, EPOLL_PWAIT):
                waits.append((entered, ts, ret))
    return latencies, waits


def percentile(counts, total, p):
    rank = round(p / 100 * total + 0.5)
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trace", help="perf script output (-F tid,time,event,trace) of wrk's raw_syscalls events")
    p.add_argument("--connections", type=int, default=10, help="wrk's -c")
    a = p.parse_args()
    latencies, waits = parse(a.trace)
    if not latencies:
        raise SystemExit("no request found: was the trace taken with -p <wrk's pid> and raw_syscalls events?")
    span = max(s + l for l, s in latencies) - min(s for _, s in latencies)
    counts = collections.Counter(int(l * 1e6) for l, _ in latencies)
    n = len(latencies)
    # wrk's correction: the interval is the run time over the requests per connection
    interval = max(1, int(span * 1e6 / (n / a.connections)))
    corrected = collections.Counter(counts)
    for value, count in counts.items():
        if value < 2 * interval:
            continue
        m = value - interval
        while m > interval:
            corrected[m] += count
            m -= interval
    total = sum(corrected.values())
    print(f"{n} requests in {span:.2f} s; interval per connection {interval} us")
    print("as measured:  p50 %d p99 %d p99.9 %d max %d us" % tuple(
        [percentile(counts, n, q) for q in (50, 99, 99.9)] + [max(counts)]))
    print(f"as wrk reports (+{total - n} corrected samples): p50 %d p99 %d p99.9 %d us" % tuple(
        percentile(corrected, total, q) for q in (50, 99, 99.9)))
    stalls = [(x - e) * 1e6 for e, x, _ in waits if x - e >= 1e-3]
    print(f"epoll_wait calls {len(waits)}, blocked >= 1 ms: {len(stalls)} "
          f"({', '.join(str(round(s)) for s in sorted(stalls, reverse=True)[:10])} us)")


if __name__ == "__main__":
    main()
