#!/usr/bin/env python3
"""ZStack benchmark harness: drives the HTTP echo server and a load generator inside two network namespaces.

Started by bench/run.sh, which installs packages, builds the jars and creates the namespaces (and removes them).
This script only measures: for every point (size x concurrency), for every repeat, for every transport of the
setup (order rotated per repeat), it starts a fresh server pinned to the server CPU, warms it up, measures one
load-generator run pinned to the client CPU, reads CPU time from /proc, stops the server, and appends one CSV row.

With --paired N, setup 2's memif servers are measured together instead: all warm at once, one running at a time,
in N rounds (Harness.measure_paired).

Transports and setups are data (TRANSPORTS, SETUPS below): adding a variant is adding an entry.
"""

import argparse
import csv
import datetime
import json
import os
import pwd
import re
import resource
import shlex
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
# most JIT compiler CPU per second of a warm-up slice or a measured window for it to count as quiet (see jit_ticks):
# 0.5 %, one 10 ms tick in a 2 s slice. It was 2 %: ZStack's warm-ups settled at 14 s with 40 ms of C2 per slice
# left, the 6 s windows after them had 60 ms, and those windows' wrk p99 was 957-989 us against 168 us in the one
# whose warm-up ran on to 10-20 ms per slice (2026-12-05): a compile pinned to the busy-polling server's CPU takes
# it for a scheduler slice at a time, and wrk's latency correction multiplies each such stall (README.md)
JIT_QUIET = 0.005
# windows measured at most for one point when the JIT compiles inside them (the last is kept)
MAX_WINDOWS = 3

# ---------------------------------------------------------------------------------------------------------------
# Transports: how the server is started, how the server end of the link is configured, which load generator runs.
#   server     arguments of http-echo.jar after the common ones ({addr}, {iface}, {memif} are substituted)
#   link       "kernel": the server end of the veth carries the kernel address (epoll on the kernel's TCP)
#              "dpdk":   the server end has no kernel address; ZStack opens it through a DPDK PMD
#              "memif":  no veth at all; server and load generator share a DPDK memif link
#              "ktap":   no veth either: a TAP in the client's namespace carries the client's address, and the
#                        server, started in that namespace, opens it ({ktap}: its name)
#   offloads   the veth's TSO, GSO, GRO and checksum offloads on (default off, what the DPDK PMDs need)
#   client     "wrk" (kernel TCP in the client namespace) or "loadgen-epoll" / "loadgen-zstack" (bench jar)
#   memif_client  the server is the memif client (zero copy) and the load generator the memif server: the load
#              generator starts first, its socket appears once its port started, then the server connects
#   needs      a server flag that must exist in http-echo.jar's usage text, else the transport is skipped
#   xdp        the PMD attaches an XDP program to the interface (detached again after the run)
# ---------------------------------------------------------------------------------------------------------------
# the TAP a ktap transport's server opens, in the client's namespace
KTAP = "zsk0"
TRANSPORTS = {
    "epoll": dict(server=["--transport", "epoll", "--bind", "{addr}"], link="kernel", client="wrk"),
    "zstack-afpacket": dict(server=["--transport", "zstack", "--vdev", "net_af_packet0,iface={iface}",
                                    "--address", "{addr}/24"], link="dpdk", client="wrk"),
    "zstack-afxdp": dict(server=["--transport", "zstack", "--vdev",
                                 "net_af_xdp0,iface={iface},start_queue=0,queue_count=1",
                                 "--address", "{addr}/24"], link="dpdk", client="wrk", xdp=True),
    # ZStack on a TAP it opens itself with virtio-net headers (http-echo --kernel-tap, no DPDK), made in the client's
    # namespace in place of the veth: wrk's kernel sends each of its TCP segments to it whole (TSO, up to 64 KB) with
    # the checksum left unfilled, and takes ours with the checksum left to it, as it would towards a NIC with TSO
    "zstack-ktap": dict(server=["--transport", "zstack", "--kernel-tap", "{ktap}", "--address", "{addr}/24"],
                        link="ktap", client="wrk", needs="--kernel-tap"),
    # epoll with the kernel's offloads on the veth (TSO, GSO, GRO, checksums), as it has on a NIC: the baseline for
    # zstack-ktap, which has them; every other transport runs the veth without them (the DPDK PMDs need whole frames)
    "epoll-offloads": dict(server=["--transport", "epoll", "--bind", "{addr}"], link="kernel", client="wrk",
                           offloads=True),
    # setup 2: both ends userspace
    "epoll-loadgen": dict(server=["--transport", "epoll", "--bind", "{addr}"], link="kernel",
                          client="loadgen-epoll"),
    "zstack-memif-loadgen": dict(server=["--transport", "zstack", "--vdev",
                                         "net_memif0,role=server,socket={memif},socket-abstract=no,zero-copy=no",
                                         "--address", "{memif_server_addr}/24"], link="memif",
                                 client="loadgen-zstack"),
}
# setup 1's ZStack server with the Java load generator on the kernel as its client instead of wrk: a second client's
# view of the same server (its latencies are measured by another program than wrk's)
TRANSPORTS["zstack-afxdp-loadgen"] = dict(TRANSPORTS["zstack-afxdp"], client="loadgen-epoll")
# The same ZStack servers with DPDK's memory (the mbufs) in 2 MiB hugepages instead of 4 KiB pages (run.sh --hugepages,
# issue 11): {huge_dir} is the hugetlbfs run.sh mounted for the run. Everything else, the client included, as above.
for _name in ("zstack-afxdp", "zstack-memif-loadgen"):
    TRANSPORTS[_name + "-huge"] = dict(TRANSPORTS[_name], server=TRANSPORTS[_name]["server"] + ["--huge-dir", "{huge_dir}"],
                                       needs="--huge-dir", huge=True)
# setup 2 with both ends on hugepages: the ZStack load generator too (the peers' F-stack servers always are)
TRANSPORTS["zstack-memif-loadgen-huge2"] = dict(TRANSPORTS["zstack-memif-loadgen-huge"], client_huge=True)
# memif zero copy (issue 11 item 2): DPDK offers it to the memif client only, with hugepages and single-file segments
# (http-echo's port asks EAL for them when its devargs say zero-copy=yes). The server is then the memif client and the
# load generator the memif server, which starts first; copying is left to the load generator's side (a memif server
# always copies).
ZC_MEMIF = "net_memif0,role=client,socket={memif},socket-abstract=no,zero-copy=yes"
TRANSPORTS["zstack-memif-zc-loadgen"] = dict(server=["--transport", "zstack", "--vdev", ZC_MEMIF, "--address",
                                                     "{memif_server_addr}/24", "--huge-dir", "{huge_dir}"],
                                             link="memif", client="loadgen-zstack", memif_client=True,
                                             needs="--huge-dir", huge=True)
# The same ZStack servers in copy mode (ZStackChannelOption.COPY_MODE), setups 3 and 4. Setup 4 is setup 3 without
# wrk's ceiling: wrk on one CPU bounds every server of setup 1, and so both of setup 3's af_packet servers alike; over
# memif our load generator is the client of both. With --hugepages setup 4 also has the pair with the server as the
# zero-copy memif client, whose device copies nothing either: the application's copies are the only difference left.
for _name in ("zstack-afpacket", "zstack-memif-loadgen", "zstack-memif-zc-loadgen"):
    TRANSPORTS[_name + "-copy"] = dict(TRANSPORTS[_name], server=TRANSPORTS[_name]["server"] + ["--copy-mode"],
                                       needs="--copy-mode")
# The same servers with http-echo's lean HTTP handler (--http lean: no Netty HTTP codec, the request head parsed from
# the bytes as the C peers parse it, the body echoed as slices of the received buffers). Netty's codec and aggregator
# are half of a ZStack server's CPU per request at 64 B, so against the C peers the default servers compare Netty's
# codec more than the stacks; these compare the stacks with the same application work. epoll's too, for the ratio.
for _name in ("zstack-afxdp", "epoll", "zstack-memif-loadgen", "zstack-memif-loadgen-huge", "zstack-memif-loadgen-huge2",
              "epoll-loadgen",
              "zstack-memif-zc-loadgen", "zstack-memif-loadgen-copy", "zstack-memif-zc-loadgen-copy", "zstack-ktap",
              "epoll-offloads"):
    TRANSPORTS[_name + "-lean"] = dict(TRANSPORTS[_name], server=TRANSPORTS[_name]["server"] + ["--http", "lean"])


def add_twins(suffix, key, values):
    """Every ZStack server transport (not itself a twin) gets a twin per value, "-<suffix>", "-<suffix>2", ..., the
    same transport with key=value."""
    bases = [n for n, t in TRANSPORTS.items() if t["server"][1] == "zstack" and "jar" not in t and "jvm" not in t]
    for i, value in enumerate(values):
        for name in bases:
            TRANSPORTS[f"{name}-{suffix}{'' if i == 0 else i + 1}"] = dict(TRANSPORTS[name], **{key: value})


# Builds side by side (bench/README.md, "Two builds in paired rounds"): ZSBENCH_ALT_JAR names other builds'
# http-echo.jar (comma-separated), and every ZStack server transport gets a twin per jar, "-alt", "-alt2", ..., that
# runs it instead of this tree's (the load generator stays this tree's, the same client for all). With --paired they
# take turns seconds apart, the only way this host lets a change of a few per cent show; a jar named twice gives two
# servers of one build, whose spread is what one JVM's JIT and layout make of the same code.
add_twins("alt", "jar", [j for j in os.environ.get("ZSBENCH_ALT_JAR", "").split(",") if j])
# Settings side by side: ZSBENCH_ALT_JVM names other server JVM flags (';' between sets, e.g.
# "-Dio.zstack.transmitBatchNanos=10000;-Dio.zstack.transmitBatchNanos=20000"), and every ZStack server transport gets
# a twin per set, "-jvm", "-jvm2", ..., started with them added: with --paired, a setting measured in turns with the
# default.
add_twins("jvm", "jvm", [f.split() for f in os.environ.get("ZSBENCH_ALT_JVM", "").split(";") if f.strip()])
# Peers (issue 14, bench/peers/): the C servers built by bench/peers/build.sh, started instead of http-echo.jar when
# run.sh is given --peers SRC. "peer" names the binary; F-stack's need a config (vdev and address), written per run.
PEER_VDEVS = dict(afpacket="net_af_packet0,iface={iface}",
                  afxdp="net_af_xdp0,iface={iface},start_queue=0,queue_count=1",
                  memif="net_memif0,role=server,socket={memif},socket-abstract=no,zero-copy=no", memif_zc=ZC_MEMIF)
for _stack in ("zstack", "fstack"):
    for _link in ("afpacket", "afxdp"):
        TRANSPORTS[f"peer-{_stack}-{_link}"] = dict(peer=f"{_stack}-echo", vdev=PEER_VDEVS[_link], link="dpdk",
                                                  client="wrk", xdp=_link == "afxdp")
    TRANSPORTS[f"peer-{_stack}-memif-loadgen"] = dict(peer=f"{_stack}-echo", vdev=PEER_VDEVS["memif"], link="memif",
                                                   client="loadgen-zstack")
    # with --hugepages: the same role switch as zstack-memif-zc-loadgen, so every server of setup 2 on memif is the
    # zero-copy client of the load generator
    TRANSPORTS[f"peer-{_stack}-memif-zc-loadgen"] = dict(peer=f"{_stack}-echo", vdev=PEER_VDEVS["memif_zc"],
                                                      link="memif", client="loadgen-zstack", memif_client=True,
                                                      huge=True)
TRANSPORTS["peer-c-epoll"] = dict(peer="epoll-echo", link="kernel", client="wrk")
TRANSPORTS["peer-c-epoll-offloads"] = dict(peer="epoll-echo", link="kernel", client="wrk", offloads=True)
TRANSPORTS["peer-c-epoll-loadgen"] = dict(peer="epoll-echo", link="kernel", client="loadgen-epoll")
# setup 1's DPDK peers with the Java load generator on the kernel as the client, as zstack-afxdp-loadgen: the peers'
# tails seen by the client that does not show wrk's millisecond tail with ZStack (bench/RESULTS.md, 2026-12-05)
for _stack in ("zstack", "fstack"):
    TRANSPORTS[f"peer-{_stack}-afxdp-loadgen"] = dict(TRANSPORTS[f"peer-{_stack}-afxdp"], client="loadgen-epoll")
# The load generator as a zero-copy memif client (its mbufs in hugepages with single-file segments, which the server's
# side maps): its copies gone, the server's side copying as before. A twin "-lgzc" of each setup 2 transport whose
# server is the memif server, so that a paired run has both clients side by side (bench/RESULTS.md, 2026-12-08).
for _name in [n for n, t in TRANSPORTS.items() if t["client"] == "loadgen-zstack" and not t.get("memif_client")]:
    TRANSPORTS[_name + "-lgzc"] = dict(TRANSPORTS[_name], client_zero_copy=True, huge=True)
PEER_SETUPS = {"1": ["peer-c-epoll", "peer-c-epoll-offloads", "peer-zstack-afxdp", "peer-zstack-afpacket",
                     "peer-fstack-afxdp", "peer-fstack-afpacket"],
               "2": ["peer-c-epoll-loadgen", "peer-zstack-memif-loadgen", "peer-fstack-memif-loadgen"]}

# A setup: the transports it compares; the first is the baseline of the ratio table.
SETUPS = {
    "1": dict(title="wrk (kernel TCP, namespace A) -> HTTP echo (namespace B) over one veth (zstack-ktap: over a TAP "
                    "in namespace A)",
              transports=["epoll", "epoll-offloads", "zstack-afpacket", "zstack-afxdp", "zstack-ktap"]),
    "2": dict(title="Netty load generator -> HTTP echo, both userspace on ZStack over memif vs both on epoll over "
                    "the veth", transports=["epoll-loadgen", "zstack-memif-loadgen"]),
    "3": dict(title="ZStack zero copy vs ZStack copy mode (COPY_MODE), wrk over the veth, af_packet",
              transports=["zstack-afpacket", "zstack-afpacket-copy"]),
    "4": dict(title="ZStack zero copy vs ZStack copy mode over memif, the ZStack load generator as the client (no wrk "
                    "ceiling)", transports=["zstack-memif-loadgen", "zstack-memif-loadgen-copy"]),
}

COLUMNS = ["setup", "transport", "client", "load", "mode", "size", "concurrency", "repeat", "duration_s", "requests",
           "rps", "lat_mean_us", "lat_p50_us", "lat_p99_us", "lat_p999_us", "lat_max_us", "errors",
           "server_cpu_s", "client_cpu_s", "server_cpu_util", "client_cpu_util", "cpu_us_per_req",
           "server_cpu_us_per_req", "client_cpu_us_per_req", "sys_cpu0_busy", "sys_cpu1_busy",
           "sys_softirq_s", "foreign_cpu_s", "idle_busy_before", "handshakes", "syn_synack_p50_us",
           "syn_synack_p99_us", "syn_retries", "client_retrans_segs", "client_rtos", "client_dsacks_recv",
           "server_gcs", "server_gc_ms", "server_loop_busy", "server_work_us_per_req", "client_loop_busy",
           "server_long_rounds",
           "server_long_round_ms", "steal_server_cpu_ms", "steal_client_cpu_ms", "warmup_s", "warmup_settled",
           "speed_probe_ms", "cross_core_ns_before", "cross_core_ns_after", "cross_core_wait_s", "jit_cpu_s", "kdamond_ms",
           "kdamond_cpus"]
NUMERIC = [c for c in COLUMNS[COLUMNS.index("duration_s"):] if c != "kdamond_cpus"]  # that one lists CPUs


# A fixed piece of CPU work (a Python loop, the same every time) timed on one CPU: this machine's speed right now. The
# harness runs it on both benchmark CPUs before and after each measurement (speed_probe_ms, their mean), so a
# baseline that moves between repeats can be told apart from the host giving the VM less (same work, longer time).
SPEED_PROBE = "import time\nt = time.perf_counter()\ns = 0\nfor i in range(300_000):\n    s += i\n" \
              "print(round((time.perf_counter() - t) * 1000, 1))"


def speed_probe_ms(cpu):
    r = run(["taskset", "-c", str(cpu), sys.executable, "-c", SPEED_PROBE], check=False)
    try:
        return float(r.stdout.strip())
    except ValueError:
        return float("nan")


def cross_core_ns(a):
    """One cache-line round trip between the server's and the client's CPU now, in ns (bench's CrossCoreProbe, the
    median of 16 batches): the host places the VM's two CPUs nearer or farther apart, and memif's PMD, RPS and every
    wake-up across the two pay for it. It moved 70-611 ns within minutes on these VMs (bench/README.md)."""
    if not a.loadgen_jar or not os.path.exists(a.loadgen_jar):
        return ""
    r = run([a.java, "--enable-native-access=ALL-UNNAMED", "-cp", a.loadgen_jar, "io.zstack.bench.CrossCoreProbe",
             str(a.server_cpu), str(a.client_cpu)], check=False)
    m = re.search(r"cross_core_ns=(\d+)", r.stdout)
    return int(m.group(1)) if m else ""


def jvm_args(common, extra):
    """common + extra, with Parallel GC unless extra names a collector (bench/README.md, "JVM flags")."""
    named = any(x.startswith("-XX:+Use") and x.endswith("GC") for x in extra)
    return common + ([] if named else ["-XX:+UseParallelGC"]) + extra


def remove_memif_socket(path):
    """A socket file left behind makes the memif server fail; a killed ZStack server's staged socket too."""
    run(["sh", "-c", f"rm -f {shlex.quote(path)} {shlex.quote(path)}.starting-*"])


def log(msg):
    print(f"[{datetime.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def stat_ticks(path):
    """utime + stime (fields 14 and 15) of a /proc/PID/stat or /proc/PID/task/TID/stat file, in clock ticks."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_cpu_seconds(pid):
    """utime + stime of every thread of a live process, in seconds."""
    return stat_ticks(f"/proc/{pid}/stat") / CLK_TCK


def jvm_gc(pid):
    """(collections, seconds spent in them) of a live JVM, from its hsperfdata file (the counters jstat reads; read
    here without starting a JVM beside the measurement), or None for a process that is not a JVM. Every collector
    counts (the young one and the full one)."""
    try:
        with open(f"/tmp/hsperfdata_{pwd.getpwuid(os.geteuid()).pw_name}/{pid}", "rb") as f:
            d = f.read()
    except OSError:
        return None
    if d[:4] != b"\xca\xfe\xc0\xc0":
        return None
    order = ">" if d[4] == 0 else "<"
    entry, count = struct.unpack_from(order + "ii", d, 24)
    longs = {}
    for _ in range(count):
        length, name_at, vector, kind, _, _, _, data_at = struct.unpack_from(order + "iiiBBBBi", d, entry)
        if kind == ord("J") and vector == 0:
            name = d[entry + name_at:d.index(b"\0", entry + name_at)].decode()
            longs[name] = struct.unpack_from(order + "q", d, entry + data_at)[0]
        entry += length
    hz = longs.get("sun.os.hrt.frequency", 1e9)
    n = t = 0
    for i in range(4):
        n += longs.get(f"sun.gc.collector.{i}.invocations", 0)
        t += longs.get(f"sun.gc.collector.{i}.time", 0)
    return n, t / hz


def threads_named(prefixes):
    """(tid, /proc task folder) of every thread on the machine whose name starts with one of prefixes (a tuple): the
    JVMs' compiler threads, the kernel's kdamond threads (a kernel thread is a process whose one task is itself)."""
    for proc in os.listdir("/proc"):
        if not proc.isdigit():
            continue
        try:
            tasks = os.listdir(f"/proc/{proc}/task")
        except OSError:
            continue
        for tid in tasks:
            path = f"/proc/{proc}/task/{tid}"
            try:
                with open(f"{path}/comm") as f:
                    if f.read().startswith(prefixes):
                        yield tid, path
            except OSError:
                continue  # a thread or process that ended meanwhile


def jit_ticks():
    """Per thread, the CPU ticks used so far by every JIT compiler thread of every JVM on the machine (threads named
    "C1 CompilerThre..." / "C2 CompilerThre..."). The benchmark pins each JVM to one CPU, so a compilation shares
    that CPU with the busy-polling loop: a server whose C2 recompiled for a second inside a 6 s window measured half
    its rate, with a p99 of 1.2 ms (the scheduler's slice) against 0.15 ms."""
    out = {}
    for tid, path in threads_named(("C1 Compiler", "C2 Compiler")):
        try:
            out[tid] = stat_ticks(f"{path}/stat")
        except OSError:
            continue  # ended meanwhile
    return out


def jit_seconds_between(before, after):
    """CPU seconds the JIT compiler threads used between two jit_ticks() snapshots (a thread started meanwhile counts
    whole; one that ended meanwhile loses its last part: C2 threads come and go with demand)."""
    return sum(t - before.get(tid, 0) for tid, t in after.items()) / CLK_TCK


def kdamond_threads():
    """Per kdamond thread (the kernel's DAMON: a memory-access monitor some machines run, these VMs for proactive
    reclaim), its CPU time so far in ns and the CPU it last ran on. Each of its passes takes one CPU for 1-2 ms, twice
    a second here: on a busy-polling server's CPU that is a stall of the server (it never sleeps, so the scheduler
    gives the CPU back at the end of the kthread's slice), on the client's a stall of wrk, and wrk's latency
    correction (README.md) turns each stalled request into a dozen samples. run.sh --pause-damon stops it."""
    out = {}
    for tid, path in threads_named(("kdamond",)):
        try:
            with open(f"{path}/schedstat") as f:
                ran_ns = int(f.read().split()[0])
            with open(f"{path}/stat") as f:
                cpu = int(f.read().rsplit(")", 1)[1].split()[36])  # field 39, processor
            out[tid] = (ran_ns, cpu)
        except (OSError, ValueError, IndexError):
            continue
    return out


def system_cpu():
    """Per-CPU (busy, total, softirq, steal) jiffies from /proc/stat ("cpu": the machine's). Steal is time the host
    gave this VM's CPU to someone else: busy for us, run by nobody of ours."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if parts[0].startswith("cpu"):
                v = [int(x) for x in parts[1:]]
                idle = v[3] + v[4]
                out[parts[0]] = (sum(v[:8]) - idle, sum(v[:8]), v[6], v[7])
    return out


def tcp_counters(ns):
    """The kernel's TCP counters (/proc/net/snmp's Tcp and /proc/net/netstat's TcpExt rows) as a network namespace
    sees them: {name: value}. A kernel client's retransmissions show what the server's ACK timing cost it."""
    r = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp", "/proc/net/netstat"],
                       capture_output=True, text=True)
    out, heads = {}, {}
    for line in r.stdout.splitlines():
        kind, _, rest = line.partition(": ")
        if kind not in ("Tcp", "TcpExt"):
            continue
        if kind not in heads:
            heads[kind] = rest.split()
            continue
        for k, v in zip(heads.pop(kind), rest.split()):
            out[k] = int(v)
    return out


LOOP_TIME = re.compile(r"loop: busyNanos=(\d+) idleNanos=(\d+)")


def loop_time(stats_text):
    """(busy, idle) nanoseconds summed over the loops of a ZStack server's GET /stats text, or None (not ZStack)."""
    found = LOOP_TIME.findall(stats_text or "")
    if not found:
        return None
    return sum(int(b) for b, _ in found), sum(int(i) for _, i in found)


LONG_ROUNDS = re.compile(r"longRounds=(\d+) longRoundNanos=(\d+) longestRoundNanos=(\d+)")


def long_rounds(stats_text):
    """(count, nanoseconds) of the rounds of a millisecond or more (stalls: LoopUtilisation) summed over the loops of
    a ZStack server's GET /stats text, or None (not ZStack, or a server from before they were counted)."""
    found = LONG_ROUNDS.findall(stats_text or "")
    if not found:
        return None
    return sum(int(n) for n, _, _ in found), sum(int(ns) for _, ns, _ in found)


def loop_busy(start, end):
    """The share of a window a busy-polling loop spent in rounds with work (LoopUtilisation), from two loop_time
    readings; "" when either is missing. Its CPU use is 1.0 whatever the load: this says whether it was the bound."""
    if not start or not end:
        return ""
    busy, idle = end[0] - start[0], end[1] - start[1]
    return round(busy / (busy + idle), 3) if busy + idle > 0 else ""


def thread_affinities(pid):
    """{cpus_allowed_list: thread count} over the threads of a process."""
    seen = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("Cpus_allowed_list:"):
                            cpus = line.split(":", 1)[1].strip()
                            seen[cpus] = seen.get(cpus, 0) + 1
            except OSError:
                pass
    except OSError:
        pass
    return seen


def window_hook():
    """ZSBENCH_ON_WINDOW: a shell command started in the background as a measured window begins (a profiler that
    must see the window and not the warm-up, bench/README.md)."""
    command = os.environ.get("ZSBENCH_ON_WINDOW")
    if command:
        subprocess.Popen(command, shell=True)


class Harness:
    def __init__(self, a):
        self.a = a
        self.out = a.out
        os.makedirs(self.out, exist_ok=True)
        self.csv_path = os.path.join(self.out, "results.csv")
        self.pid_file = os.path.join(self.out, "server-pids")
        self.usage = None
        self.skipped = {}
        self.probed = {}

    # -- link ---------------------------------------------------------------------------------------------------
    def ns(self, which, *cmd):
        return ["ip", "netns", "exec", self.a.ns_client if which == "A" else self.a.ns_server, *cmd]

    def configure_link(self, t):
        a = self.a
        on = "on" if t.get("offloads") else "off"
        for ns, iface in ((a.ns_client, a.client_if), (a.ns_server, a.server_if)):
            run(["ip", "netns", "exec", ns, "ethtool", "-K", iface, "tx", on, "tso", on, "gso", on, "gro", on])
        run(["ip", "-n", a.ns_server, "addr", "flush", "dev", a.server_if])
        if t["link"] == "kernel":
            run(["ip", "-n", a.ns_server, "addr", "add", f"{a.server_addr}/24", "dev", a.server_if])
        if t["link"] == "ktap":
            # the client's address moves from the veth to the TAP, which the server opens (carrier up) once started
            run(["ip", "-n", a.ns_client, "addr", "flush", "dev", a.client_if])
            run(["ip", "-n", a.ns_client, "link", "del", KTAP], check=False)
            run(["ip", "-n", a.ns_client, "tuntap", "add", "dev", KTAP, "mode", "tap", "vnet_hdr"])
            run(["ip", "-n", a.ns_client, "addr", "add", f"{a.client_addr}/24", "dev", KTAP])
            run(["ip", "-n", a.ns_client, "link", "set", KTAP, "up"])
            # a TAP comes with the default qdisc (pfifo_fast: a queue, its lock and a dequeue per frame wrk sends); a
            # veth has none (noqueue), and neither does the TAP now
            run(["ip", "netns", "exec", a.ns_client, "tc", "qdisc", "replace", "dev", KTAP, "root", "noqueue"])
            # what the server writes is received by the client's kernel inline in its write, on the server's CPU:
            # RPS queues it to the client's CPU, as steer_receive does for the veth
            self.steer(a.ns_client, KTAP, a.client_cpu, "client")
        else:
            run(["ip", "-n", a.ns_client, "link", "del", KTAP], check=False)
            run(["ip", "-n", a.ns_client, "addr", "replace", f"{a.client_addr}/24", "dev", a.client_if])
        run(["ip", "-n", a.ns_client, "neigh", "flush", "dev", a.client_if], check=False)
        run(["ip", "-n", a.ns_server, "neigh", "flush", "dev", a.server_if], check=False)

    def detach_xdp(self):
        run(["ip", "-n", self.a.ns_server, "link", "set", "dev", self.a.server_if, "xdp", "off"], check=False)

    # -- server -------------------------------------------------------------------------------------------------
    def server_usage(self):
        if self.usage is None:
            r = run([self.a.java, "-jar", self.a.jar, "--no-such-flag"], check=False)
            self.usage = r.stdout
        return self.usage

    def start_server(self, name, t, logf, memif=None, prefix=""):
        a = self.a
        subst = dict(addr=a.server_addr, iface=a.server_if, memif=memif or a.memif_socket,
                     memif_server_addr=a.memif_server_addr, huge_dir=a.huge_dir, ktap=KTAP)
        if "peer" in t:
            return self.start_peer(t, subst, logf, prefix)
        args = [s.format(**subst) for s in t["server"]]
        if t["server"][1] == "zstack":  # extra http-echo flags for ZStack servers, e.g. ZSBENCH_ZSTACK_ARGS=--never-park
            args += os.environ.get("ZSBENCH_ZSTACK_ARGS", "").split()
        jvm = list(a.server_jvm_args) + t.get("jvm", []) + [
            f"-XX:ErrorFile={os.path.join(self.out, 'logs', 'hs_err_pid%p.log')}"]
        if a.profile:
            # JFR's execution sampler (every 10 ms of a running thread, settings=profile) over the server's life
            jvm.append(f"-XX:StartFlightRecording=settings=profile,filename={logf.name[:-4]}.jfr")
        # a ktap server opens its TAP in the client's namespace, where the TAP is
        ns = "A" if t["link"] == "ktap" else "B"
        cmd = self.ns(ns, "taskset", "-c", str(a.server_cpu), a.java, *jvm, "-jar", t.get("jar", a.jar),
                      *args, "--port", str(a.port), "--threads", "1")
        return self.launch(cmd, logf)

    def launch(self, cmd, logf):
        """Starts a server (logged, in its own session so it can be killed with its children, its pid recorded)."""
        logf.write("$ " + shlex.join(cmd) + "\n")
        logf.flush()
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        with open(self.pid_file, "a") as f:
            f.write(f"{p.pid}\n")
        return p

    def start_peer(self, t, subst, logf, prefix=""):
        """A peer server of bench/peers/ (issue 14), pinned like the JVM servers; F-stack's get a config file."""
        a = self.a
        cmd = [os.path.join(a.peers_bin, t["peer"]), "--port", str(a.port)]
        if t["peer"] == "epoll-echo":
            cmd += ["--bind", a.server_addr]
        else:
            ini = logf.name[:-4] + ".ini"
            addr = a.memif_server_addr if t["link"] == "memif" else a.server_addr
            with open(ini, "w") as f:
                f.write(peer_config(a, t["vdev"].format(**subst), addr, f"zsbench-{os.getpid()}{prefix}",
                                    single_file=t.get("memif_client", False)))
            cmd += ["--conf", ini, "--proc-type=primary", "--proc-id=0"]
        p = self.launch(self.ns("B", "taskset", "-c", str(a.server_cpu), *cmd), logf)
        if t["peer"] != "epoll-echo":
            # the EAL runtime folder F-stack makes for the prefix above ("container-" + it), removed when it stops
            p.dpdk_folder = f"container-zsbench-{os.getpid()}{prefix}"
        return p

    def wait_ready(self, p, t, timeout=60):
        """Waits until the server answers GET /size/1 from the client side (or, for memif, its log says so)."""
        a = self.a
        deadline = time.time() + timeout
        while time.time() < deadline:
            if p.poll() is not None:
                raise RuntimeError(f"server exited with {p.returncode} before it was ready")
            if t["link"] == "memif":
                # nobody else can reach it yet: the log line is enough, the load generator retries its connects
                with open(p.log_path) as f:
                    if "listening at" in f.read():
                        return
            else:
                r = run(self.ns("A", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                                f"http://{a.server_addr}:{a.port}/size/1"), check=False)
                if r.stdout.strip() == "200":
                    return
            time.sleep(0.3)
        raise RuntimeError("server not ready in time")

    def wait_memif_server(self, p, timeout=60):
        """Until the load generator's memif socket exists (ZStack's memif server makes it appear once its port is
        started, so a client connecting then is not turned away)."""
        deadline = time.time() + timeout
        while not os.path.exists(self.a.memif_socket):
            if p.poll() is not None:
                raise RuntimeError(f"the load generator (memif server) exited with {p.returncode}: "
                                   f"{p.stdout.read()[-2000:]}")
            if time.time() > deadline:
                raise RuntimeError(f"the load generator made no memif socket at {self.a.memif_socket} in {timeout} s")
            time.sleep(0.1)

    def remove_hugepage_files(self):
        """Hugepage files a server or a zero-copy load generator kept linked (single-file segments, for memif zero
        copy) and did not remove: killed, or a peer (F-stack's EAL leaves them). Called once both have ended."""
        if not self.a.huge_dir or not os.path.isdir(self.a.huge_dir):
            return
        for f in os.listdir(self.a.huge_dir):
            if "map_" in f:
                try:
                    os.remove(os.path.join(self.a.huge_dir, f))
                except OSError:
                    pass

    def stop_server(self, p):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"server {p.pid} ignored SIGTERM for 15 s: SIGKILL")
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        # a ZStack server's EAL folder is named after its pid; a peer's after its prefix (a paired peer's ends in -<i>)
        folder = getattr(p, "dpdk_folder", f"zstack-{p.pid}")
        run(["rm", "-rf", f"/var/run/dpdk/{folder}"], check=False)

    # -- clients ------------------------------------------------------------------------------------------------
    def client_cmd(self, t, size, conc, duration, memif=None, progress_ms=0):
        a = self.a
        base = self.ns("A", "taskset", "-c", str(a.client_cpu))
        if t["client"] == "wrk":
            return base + ["wrk", "-t", "1", "-c", str(conc), "-d", f"{duration}s", "--timeout", "5s",
                           "-s", os.path.join(HERE, "wrk-report.lua"), f"http://{a.server_addr}:{a.port}"], \
                dict(ZSBENCH_SIZE=str(size), ZSBENCH_MODE=a.mode)
        lg = [a.java, *a.client_jvm_args, "-jar", a.loadgen_jar, "--size", str(size), "--mode", a.mode,
              "--connections", str(conc), "--duration", str(duration), "--port", str(a.port),
              "--warmup", str(a.warmup), "--warmup-min", str(a.warmup_min)]
        if a.rate > 0:
            lg += ["--rate", str(a.rate)]
        if progress_ms:
            lg += ["--progress-ms", str(progress_ms)]
        if t["client"] == "loadgen-epoll":
            return base + lg + ["--transport", "epoll", "--host", a.server_addr], {}
        role = "server" if t.get("memif_client") else "client"  # the other role than the server's
        zero_copy = t.get("client_zero_copy", False)  # the -lgzc twins: the load generator copies nothing
        return base + lg + ["--transport", "zstack", "--host", a.memif_server_addr,
                            "--vdev", f"net_memif0,role={role},socket={memif or a.memif_socket},socket-abstract=no,"
                                      f"zero-copy={'yes' if zero_copy else 'no'}",
                            "--address", f"{a.memif_client_addr}/24", "--fetch-stats",
                            *(["--huge-dir", a.huge_dir] if t.get("client_huge") or zero_copy else []),
                            # extra flags for ZStack's load generator, e.g. ZSBENCH_LOADGEN_ARGS="--pcap /tmp/cap"
                            *os.environ.get("ZSBENCH_LOADGEN_ARGS", "").split()], {}

    def run_client(self, t, size, conc, duration, logf, on_window=None):
        """Runs the load generator to its end; returns its ZSBENCH fields and its CPU seconds. A load generator
        that warms up by itself prints ZSBENCH-WINDOW start/end around its measured window: on_window(edge) is
        called as each is read (the server's CPU time is sampled there)."""
        return self.finish_client(self.start_client(t, size, conc, duration, logf), logf, on_window)

    def start_client(self, t, size, conc, duration, logf, memif=None, progress_ms=0):
        cmd, env = self.client_cmd(t, size, conc, duration, memif, progress_ms)
        logf.write("$ " + shlex.join(cmd) + f"  (env {env})\n")
        logf.flush()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, **env}, start_new_session=True)
        # run.sh's exit kills what this file lists: a ZStack load generator busy-polls as a server does, and one
        # started first (the memif server) outlived a run stopped from outside
        with open(self.pid_file, "a") as f:
            f.write(f"{p.pid}\n")
        return p

    def finish_client(self, p, logf, on_window=None):
        """Reads a started load generator's output to its end (see run_client)."""
        lines = []
        for line in p.stdout:
            lines.append(line)
            if line.startswith("ZSBENCH-WINDOW ") and on_window:
                on_window(line.split()[1])
        out = "".join(lines)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        logf.write(out)
        logf.flush()
        result = None
        for line in out.splitlines():
            if line.startswith("ZSBENCH "):
                result = dict(kv.split("=", 1) for kv in line.split()[1:])
        if p.returncode != 0 or result is None:
            raise RuntimeError(f"client failed (exit {p.returncode}): {out[-2000:]}")
        if "client_cpu_ns" in result:
            return result, int(result["client_cpu_ns"]) / 1e9
        return result, ru.ru_utime + ru.ru_stime

    def server_stats(self, url):
        """A userspace server's GET /stats from namespace A, as wrk sees it (ZStack's counters; a peer's 404 text)."""
        return run(self.ns("A", "curl", "-s", "--max-time", "5", url), check=False).stdout

    def warm_up(self, t, size, conc, logf, most=None, stats_url=None):
        """Load slices of --warmup-slice seconds at the point itself until three successive slices agree within 10%
        and no JVM compiled in the last one (JIT compilation settles; ZStack's larger hot path takes longer than
        epoll's), between --warmup-min and --warmup seconds. Returns (seconds, settled): settled is False when the cap
        came first, so the measured window may start before the steady state (a slow machine's JIT: 10 s and more on
        some days here)."""
        a = self.a
        done, rates, jit, settled = 0, [], [], False
        most = most or a.warmup
        while done < most:
            d = min(a.warmup_slice, most - done)
            if stats_url:
                # each slice starts as the window will, with a GET /stats: the first one after a warm-up without it
                # deoptimised the server's hot path (a new connection, the /stats branch) and C2 recompiled it on
                # the pinned CPU inside the window
                self.server_stats(stats_url)
            j0 = jit_ticks()
            res, _ = self.run_client(t, size, conc, d, logf)
            jit.append(round(jit_seconds_between(j0, jit_ticks()), 2))
            rates.append(round(int(res["requests"]) * 1e6 / max(1, int(res["duration_us"]))))
            done += d
            # three, not two: a JIT still compiling climbed 2,215, 2,760, 2,860 req/s, and its last two agreed; and
            # no compiling in the last two slices: a server's C2 recompiled for a second after its rate had settled,
            # and the compiles trail off unevenly (0.05, 0.03, 0.01, 0.07, 0.01 s per slice)
            if (done >= a.warmup_min and len(rates) >= 3 and max(rates[-3:]) - min(rates[-3:]) <= 0.1 * max(rates[-3:])
                    and max(jit[-2:]) <= JIT_QUIET * d):
                settled = True
                break
        logf.write(f"warm-up: {done} s, {'settled' if settled else 'NOT settled (cap reached)'}, "
                   f"req/s per slice {rates}, JIT compiler CPU s per slice {jit}\n")
        return done, settled

    def collect_garbage(self, p, logf):
        """A full collection in a JVM server between its warm-up and the measured window: it promotes at once what
        the server keeps from its start, which young collections otherwise copy again and again, with long pauses,
        until the tenuring threshold (why and the figures: bench/README.md, "JVM flags")."""
        r = run([os.path.join(os.path.dirname(self.a.java), "jcmd"), str(p.pid), "GC.run"], check=False)
        logf.write(f"full GC before the window (jcmd GC.run): rc {r.returncode}\n")
        time.sleep(1)

    def wait_quiet(self):
        """On a shared machine: before a measurement, nothing of ours runs; waits (up to --wait-quiet seconds)
        until the two benchmark CPUs are less than --quiet-busy busy over one second. Returns the last busy
        fraction seen (recorded with the row as idle_busy_before)."""
        a = self.a
        cpus = (f"cpu{a.server_cpu}", f"cpu{a.client_cpu}")
        deadline = time.time() + a.wait_quiet
        while True:
            y0 = system_cpu()
            time.sleep(1)
            y1 = system_cpu()
            busy = sum(y1[c][0] - y0[c][0] for c in cpus) / max(1, sum(y1[c][1] - y0[c][1] for c in cpus))
            if busy <= a.quiet_busy or time.time() >= deadline:
                if busy > a.quiet_busy:
                    log(f"the machine is busy ({busy:.0%} of CPUs {a.client_cpu},{a.server_cpu} used by others); "
                        f"measuring anyway after waiting {a.wait_quiet} s")
                return busy
            time.sleep(2)

    def wait_cross_core(self):
        """With --cross-core-below N: before a measurement, probes the cross-core round trip (cross_core_ns) every
        5 s until it reads N ns or less, for at most --cross-core-wait seconds, so that the transports compared are
        measured with the host's two CPUs equally near (memif's rate followed the probe 1.5-1.6x on 2026-12-06, the
        peers' as much as ZStack's). Returns (the last reading, seconds waited); without the option, one reading."""
        a = self.a
        reading = cross_core_ns(a)
        if not a.cross_core_below or reading == "":
            return reading, 0
        started = time.time()
        while reading > a.cross_core_below and time.time() - started < a.cross_core_wait:
            time.sleep(5)
            reading = cross_core_ns(a)
        waited = round(time.time() - started)
        if reading > a.cross_core_below:
            log(f"cross-core round trip still {reading} ns after {waited} s (gate {a.cross_core_below} ns): "
                "measuring anyway")
        elif waited:
            log(f"waited {waited} s for a cross-core round trip of {a.cross_core_below} ns or less ({reading} ns)")
        return reading, waited

    # -- one measurement ----------------------------------------------------------------------------------------
    def measure(self, setup, name, size, conc, repeat, duration=None, warmup=None):
        a = self.a
        duration = duration or a.duration
        t = TRANSPORTS[name]
        tag = f"s{setup}-{name}-{a.mode}-{size}B-c{conc}-r{repeat}"
        logf = open(os.path.join(self.out, "logs", tag + ".log"), "w")
        if t["link"] != "memif":
            self.configure_link(t)
        else:
            remove_memif_socket(a.memif_socket)
        if t.get("xdp"):
            self.detach_xdp()
        quiet = self.wait_quiet()
        probes = [speed_probe_ms(a.server_cpu), speed_probe_ms(a.client_cpu)]
        before, cross_core_wait = self.wait_cross_core()
        cross_core = [before]
        with open(os.path.join(self.out, "load.txt"), "a") as f:  # the machine's load (uptime) at each measurement
            f.write(f"{datetime.datetime.now().isoformat(timespec='seconds')} {tag} "
                    f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
        early = None
        if t.get("memif_client"):
            # the load generator is the memif server: it starts first, and its socket appears once its port started
            early = self.start_client(t, size, conc, duration, logf)
            self.wait_memif_server(early)
        p = self.start_server(name, t, logf)
        p.log_path = logf.name
        try:
            self.wait_ready(p, t)
            aff = thread_affinities(p.pid)
            logf.write(f"server pid {p.pid} thread affinities (cpus: threads) {aff}\n")
            # a userspace server behind wrk, read at the window's edges (GET /stats, one request): ZStack's tells its
            # counters and its loops' time with and without work (a peer answers 404); the end's goes to the logs
            stats_url = f"http://{a.server_addr}:{a.port}/stats" \
                if t["client"] == "wrk" and t["link"] != "kernel" else None
            warm = (0, True)
            if a.warmup > 0 and t["client"] == "wrk":
                warm = self.warm_up(t, size, conc, logf, warmup, stats_url)
            marks = {}

            tcp, gc, damon, stats = {}, {}, {}, {}
            if a.gc_after_warmup and "peer" not in t and t["client"] == "wrk":
                self.collect_garbage(p, logf)

            def sample(edge):
                marks[edge] = (proc_cpu_seconds(p.pid), system_cpu(), jit_ticks())
                damon[edge] = kdamond_threads()
                tcp[edge] = tcp_counters(a.ns_client)
                gc[edge] = jvm_gc(p.pid)
                if stats_url:
                    stats[edge] = self.server_stats(stats_url)

            def window_edge(edge):
                # the load generator's own window (it warms up first); wrk's window is its whole run
                if edge == "start":
                    window_hook()
                sample(edge)

            for window in range(1, MAX_WINDOWS + 1):
                sample("start")
                if t["client"] == "wrk":
                    window_hook()
                capture = self.start_handshake_capture(t, tag)
                try:
                    if early is not None:
                        res, client_cpu = self.finish_client(early, logf, on_window=window_edge)
                        early = None
                    else:
                        res, client_cpu = self.run_client(t, size, conc, duration, logf, on_window=window_edge)
                finally:
                    handshakes = self.handshake_latency(capture)
                if "end" not in marks or t["client"] == "wrk":
                    sample("end")
                # a JVM that compiled inside wrk's window took the pinned CPUs (the load generator measures its own
                # window again likewise): that window measured the JIT, so the next one is measured instead, and
                # the last is kept whatever happened in it
                compiled = jit_seconds_between(marks["start"][2], marks["end"][2])
                if t["client"] != "wrk" or compiled <= JIT_QUIET * duration or window == MAX_WINDOWS:
                    break
                logf.write(f"window {window} discarded: the JIT compiled for {compiled:.2f} s in it; measuring again\n")
                log(f"{tag}: window {window} discarded (the JIT compiled for {compiled:.2f} s in it); measuring again")
            s0, y0, j0 = marks["start"]
            s1, y1, j1 = marks["end"]
            client_tcp = {k: v - tcp["start"].get(k, 0) for k, v in tcp["end"].items() if v != tcp["start"].get(k, 0)}
            # (collections, seconds) within the window; None for a server that is not a JVM
            gc_window = (gc["end"][0] - gc["start"][0], gc["end"][1] - gc["start"][1]) \
                if gc.get("start") and gc.get("end") else None
            with open(os.path.join(self.out, "logs", tag + ".client-tcp.txt"), "w") as f:
                f.write("".join(f"{k} {v}\n" for k, v in sorted(client_tcp.items())))
            if t["client"] == "wrk":
                # a server that stalled during the run (stopped answering, even ARP) must not count as a result
                r = run(self.ns("A", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                                f"http://{a.server_addr}:{a.port}/size/1"), check=False)
                if r.stdout.strip() != "200":
                    raise RuntimeError(f"the server stopped answering during the run (GET /size/1 after it: "
                                       f"{r.stdout.strip() or 'no answer'}; {res['requests']} requests done, "
                                       f"{int(res['requests']) * 1e6 / int(res['duration_us']):.0f} req/s)")
            if stats_url:
                with open(os.path.join(self.out, "logs", tag + ".stats.txt"), "w") as f:
                    f.write(stats.get("end", ""))
        finally:
            if early is not None and early.poll() is None:  # the server failed before the load generator's end
                os.killpg(early.pid, signal.SIGKILL)
                early.wait()
            self.stop_server(p)
            probes += [speed_probe_ms(a.server_cpu), speed_probe_ms(a.client_cpu)]
            cross_core.append(cross_core_ns(a))
            if t.get("huge"):
                self.remove_hugepage_files()
            if t.get("xdp"):
                self.detach_xdp()
            if "peer" in t and t["link"] == "dpdk":  # whatever a peer left on the interface
                run(["ip", "-n", a.ns_server, "link", "set", "dev", a.server_if, "promisc", "off"], check=False)
            logf.close()
        dur = int(res["duration_us"]) / 1e6
        reqs = int(res["requests"])
        server_cpu = s1 - s0
        errors = sum(int(res[k]) for k in res if k.startswith("err_"))
        if "warmup_settled" in res:  # the load generator warms up by itself and says how it went
            warm = (int(res["warmup_s"]), res["warmup_settled"] == "1")

        def busy(cpu):
            b0, t0 = y0.get(cpu, (0, 0))[:2]
            b1, t1 = y1.get(cpu, (0, 0))[:2]
            return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

        def steal_ms(cpu):
            return round((y1[f"cpu{cpu}"][3] - y0[f"cpu{cpu}"][3]) * 1e3 / CLK_TCK)

        # the kernel's DAMON threads within the window: their CPU time, and the CPUs those that ran were on
        ran = {pid: (ns - damon["start"].get(pid, (0, 0))[0], cpu) for pid, (ns, cpu) in damon["end"].items()}
        damon_ms = round(sum(ns for ns, _ in ran.values()) / 1e6, 1)
        damon_cpus = " ".join(sorted({str(cpu) for ns, cpu in ran.values() if ns > 0}))
        load = f"open:{a.rate:g}/s" if a.rate > 0 and t["client"] != "wrk" else "closed"
        s_start, s_end = long_rounds(stats.get("start")), long_rounds(stats.get("end"))
        stalls = (s_end[0] - s_start[0], s_end[1] - s_start[1]) if s_start and s_end else None
        row = dict(setup=setup, transport=name, client=t["client"], load=load, mode=a.mode, size=size, concurrency=conc,
                   repeat=repeat, duration_s=round(dur, 3), requests=reqs, rps=round(reqs / dur, 1),
                   lat_mean_us=float(res["lat_mean_us"]), lat_p50_us=int(res["lat_p50_us"]),
                   lat_p99_us=int(res["lat_p99_us"]), lat_p999_us=int(res["lat_p999_us"]),
                   lat_max_us=int(res["lat_max_us"]), errors=errors,
                   server_cpu_s=round(server_cpu, 3), client_cpu_s=round(client_cpu, 3),
                   server_cpu_util=round(server_cpu / dur, 3), client_cpu_util=round(client_cpu / dur, 3),
                   cpu_us_per_req=round((server_cpu + client_cpu) / reqs * 1e6, 3) if reqs else "",
                   server_cpu_us_per_req=round(server_cpu / reqs * 1e6, 3) if reqs else "",
                   client_cpu_us_per_req=round(client_cpu / reqs * 1e6, 3) if reqs else "",
                   sys_cpu0_busy=round(busy("cpu0"), 3), sys_cpu1_busy=round(busy("cpu1"), 3),
                   sys_softirq_s=round((y1["cpu"][2] - y0["cpu"][2]) / CLK_TCK, 3),
                   # CPU time used on the two benchmark CPUs by anything but the server and the client (the
                   # kernel's softirq work for the veth included): other load on a shared machine shows here
                   idle_busy_before=round(quiet, 3),
                   foreign_cpu_s=round(sum((y1[c][0] - y0[c][0]) for c in (f"cpu{a.server_cpu}",
                                                                          f"cpu{a.client_cpu}")) / CLK_TCK
                                       - server_cpu - client_cpu, 3),
                   warmup_s=warm[0], warmup_settled=int(warm[1]), speed_probe_ms=round(sum(probes) / len(probes), 1),
                   cross_core_ns_before=cross_core[0], cross_core_ns_after=cross_core[-1],
                   cross_core_wait_s=cross_core_wait,
                   jit_cpu_s=round(jit_seconds_between(j0, j1), 2),
                   kdamond_ms=damon_ms, kdamond_cpus=damon_cpus,
                   # the kernel client's own view (0 for a client on ZStack): what it sent again, its timeouts
                   client_retrans_segs=client_tcp.get("RetransSegs", 0), client_rtos=client_tcp.get("TCPTimeouts", 0),
                   client_dsacks_recv=client_tcp.get("TCPDSACKRecv", 0),
                   server_gcs=gc_window[0] if gc_window else "",
                   server_gc_ms=round(gc_window[1] * 1e3, 1) if gc_window else "",
                   # the share of the window each busy-polling ZStack loop spent on work (the load generator
                   # reads both ends itself)
                   server_loop_busy=res.get("server_loop_busy", loop_busy(loop_time(stats.get("start")),
                                                                            loop_time(stats.get("end")))),
                   # rounds of a millisecond or more in the window: the server's loop stopped (a latency tail's
                   # cause on the server's side), and the host's steal on each benchmark CPU (one outside the VM)
                   server_long_rounds=stalls[0] if stalls else "",
                   server_long_round_ms=round(stalls[1] / 1e6, 1) if stalls else "",
                   steal_server_cpu_ms=steal_ms(a.server_cpu), steal_client_cpu_ms=steal_ms(a.client_cpu),
                   client_loop_busy=res.get("client_loop_busy", ""), **handshakes)
        # a busy-polling server's CPU per request is its window over the requests whatever the load; the part of it
        # its loop spent on work is what serving a request cost it (a copy saved shows here when the client is the
        # bound and req/s cannot show it)
        row["server_work_us_per_req"] = (round(float(row["server_loop_busy"]) * server_cpu / reqs * 1e6, 3)
                                         if reqs and row["server_loop_busy"] != "" else "")
        if handshakes:
            log(f"{tag}: SYN to SYN-ACK at the client's veth: p50 {handshakes['syn_synack_p50_us']} us, p99 "
                f"{handshakes['syn_synack_p99_us']} us over {handshakes['handshakes']} handshakes, "
                f"{handshakes['syn_retries']} SYNs sent again")
        log(f"{tag}: {row['rps']:.0f} req/s, p50 {row['lat_p50_us']} us, p99 {row['lat_p99_us']} us, "
            f"p99.9 {row['lat_p999_us']} us, cpu {row['cpu_us_per_req']} us/req "
            f"(client sent {row['client_retrans_segs']} segments again, {row['client_rtos']} timeouts; "
            f"server GCs {row['server_gcs']}, {row['server_gc_ms']} ms) "
            f"(server {row['server_cpu_util']:.2f} core, loop busy {row['server_loop_busy'] or '-'}"
            + (f", {row['server_work_us_per_req']} us of work per request" if row["server_work_us_per_req"] else "")
            + "), "
            f"errors {errors}, other CPU use {row['foreign_cpu_s']} s, "
            f"speed probe {'/'.join(f'{x:g}' for x in probes)} ms, "
            f"cross-core round trip {row['cross_core_ns_before']}/{row['cross_core_ns_after']} ns"
            + (f", kdamond {damon_ms} ms on CPU {damon_cpus}" if damon_ms > 0 else "")
            + (f", server loop stalled {stalls[0]} times for {stalls[1] / 1e6:.1f} ms" if stalls and stalls[0] else "")
            + (f", host steal {row['steal_server_cpu_ms']}/{row['steal_client_cpu_ms']} ms (server/client CPU)"
               if row["steal_server_cpu_ms"] or row["steal_client_cpu_ms"] else "")
            + ("" if warm[1] or setup == "probe" else
               f"; WARM-UP NOT SETTLED in {warm[0]} s (raise --warmup): not a steady state")
            + ("" if row["jit_cpu_s"] <= JIT_QUIET * dur else
               f"; THE JIT COMPILED FOR {row['jit_cpu_s']} s IN THE WINDOW: it took the pinned CPUs' time"))
        return row

    # -- paired windows (--paired) ----------------------------------------------------------------------------------
    def measure_paired(self, setup, names, size, conc):
        """Every memif transport of the point at once, one running at a time: each server with its own load generator
        on a memif link of its own, warmed up in turn, then stopped (SIGSTOP, server and load generator alike) while
        the others run. Then --paired rounds: each pair in turn (the order rotated per round) is let run for a settling
        second and a --paired-window, its load generator's progress lines read at the window's edges, and stopped
        again. The transports of one round are seconds apart, not the minutes of a sequential run, so they meet the
        same moments of the host (one vCPU at a time runs 1.5x slower for seconds to minutes here: bench/README.md),
        and the ratio that counts is each round's. Returns {name: [req/s per round]}."""
        a = self.a
        pairs = {}
        tag = f"s{setup}-paired-{a.mode}-{size}B-c{conc}"
        logf = open(os.path.join(self.out, "logs", tag + ".log"), "w")
        try:
            for i, name in enumerate(names):
                t = TRANSPORTS[name]
                memif = f"{a.memif_socket}.{i}"
                remove_memif_socket(memif)
                # a log of its own per pair: wait_ready looks for the server's "listening at" in it
                plog = open(os.path.join(self.out, "logs", f"{tag}-{name}.log"), "w")
                plog.write(f"memif socket {memif}\n")
                p = self.start_server(name, t, plog, memif=memif, prefix=f"-{i}")
                p.log_path = plog.name
                pairs[name] = pair = dict(server=p, client=None, lines=[], series=[], warm=threading.Event(), log=plog)
                self.wait_ready(p, t)
                c = self.start_client(t, size, conc, 0, plog, memif=memif, progress_ms=100)
                pair["client"] = c
                threading.Thread(target=self.read_progress, args=(c, pair), daemon=True).start()
                deadline = time.time() + a.warmup + 120
                while not pair["warm"].wait(1):
                    if c.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"{name}: the load generator did not finish its warm-up: "
                                           f"{''.join(pair['lines'][-20:])}")
                self.pause(pair, True)
                log(f"{tag}: {name} warm, stopped")
            rates = {name: [] for name in names}
            # round -1 is not recorded: the first resume after a pair's long stop (a minute, while the others warmed
            # up) cost a JVM pair its first window (ZStack 232k req/s there, 517k in the next round, the C peers
            # alike in both). Why was not looked into (every connection's retransmission timer firing at once, code
            # the warm-up never ran being compiled then, are candidates). Every later stop is as long for every pair.
            for r in range(-1, a.paired):
                k = r % len(names)
                for name in names[k:] + names[:k]:
                    pair = pairs[name]
                    pair["series"] = []  # this round's progress lines only: a window's worth, however long
                    self.pause(pair, False)
                    resumed = time.time()
                    time.sleep(a.paired_settle)
                    first = self.progress_after(pair, resumed + a.paired_settle)
                    cpu0 = proc_cpu_seconds(pair["server"].pid)
                    time.sleep(a.paired_window)
                    last = self.progress_after(pair, first[0] + a.paired_window - 0.2)
                    cpu1 = proc_cpu_seconds(pair["server"].pid)
                    self.pause(pair, True)
                    rps = (last[2] - first[2]) * 1e9 / (last[1] - first[1])
                    if rps == 0:
                        # a pair that answered nothing: whether its server ran at all in the window says which end
                        log(f"{tag} round {r}: {name} answered nothing; its server used {cpu1 - cpu0:.2f} s of CPU "
                            f"in the {a.paired_window} s window")
                    if last[3] != first[3]:
                        raise RuntimeError(f"{name}: {last[3] - first[3]} errors in round {r}")
                    # the window's 100 ms slices, in thousands of req/s: a round that ran slow throughout and one
                    # with a stall in it look alike in its rate
                    series = [p for p in pair["series"] if first[1] <= p[1] <= last[1]]
                    slices = " ".join(str(round((q[2] - p[2]) * 1e6 / (q[1] - p[1]))) for p, q in zip(series, series[1:])
                                      if q[1] > p[1])
                    logf.write(f"round {r} {name} slices (k req/s): {slices}\n")
                    if r >= 0:
                        rates[name].append(round(rps))
                    else:
                        logf.write(f"round -1 (not recorded): {name} {round(rps):,}\n")
                if r < 0:
                    continue
                line = "  ".join(f"{n} {rates[n][-1]:,}" for n in names)
                log(f"{tag} round {r}: {line}")
                logf.write(f"round {r}: {line}\n")
            return rates
        finally:
            for name, pair in pairs.items():
                for role in ("client", "server"):
                    p = pair[role]
                    if p is not None and p.poll() is None:
                        try:
                            os.killpg(p.pid, signal.SIGCONT)
                        except ProcessLookupError:
                            pass
                if pair["client"] is not None and pair["client"].poll() is None:
                    os.killpg(pair["client"].pid, signal.SIGTERM)
                    try:
                        pair["client"].wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        os.killpg(pair["client"].pid, signal.SIGKILL)
                        pair["client"].wait()
                self.stop_server(pair["server"])
                pair["log"].write(f"load generator output:\n{''.join(pair['lines'])}")
                pair["log"].close()
            if any(TRANSPORTS[n].get("huge") for n in names):
                self.remove_hugepage_files()
            logf.close()

    @staticmethod
    def read_progress(p, pair):
        """A paired load generator's output: its progress lines as (time read, ns, requests, errors), the rest kept."""
        for line in p.stdout:
            if line.startswith("ZSBENCH-PROGRESS "):
                f = dict(kv.split("=", 1) for kv in line.split()[1:])
                pair["series"].append((time.time(), int(f["ns"]), int(f["requests"]), int(f["errors"])))
                continue
            pair["lines"].append(line)
            if line.startswith("ZSBENCH-WARM"):
                pair["warm"].set()

    @staticmethod
    def progress_after(pair, since, timeout=5):
        """The first progress line read after `since` (time.time()), waiting for it."""
        deadline = time.time() + timeout
        while True:
            series = pair["series"]
            got = series[-1] if series else None
            if got is not None and got[0] >= since:
                return got
            if time.time() > deadline:
                raise RuntimeError(f"no progress from the load generator since {since:.1f}: {got}")
            time.sleep(0.02)

    @staticmethod
    def pause(pair, stop):
        """Stops (SIGSTOP) or resumes a pair: the load generator first when stopping, the server first when
        resuming, so neither end runs long against a stopped other."""
        order = ("client", "server") if stop else ("server", "client")
        for role in order:
            os.killpg(pair[role].pid, signal.SIGSTOP if stop else signal.SIGCONT)

    def main_paired(self, setup, names):
        """--paired: the memif transports of setup 2 measured in paired rounds at every point; paired.csv gets one row
        per round and transport, paired.md the ratio of each ZStack server to the best peer (or, without peers, the
        best other server) round by round."""
        a = self.a
        memif = [n for n in names if TRANSPORTS[n]["link"] == "memif" and not TRANSPORTS[n].get("memif_client")]
        if len(memif) < 2:
            log(f"--paired: setup {setup} has fewer than two memif transports ({memif}); nothing to pair")
            return
        zstack = [n for n in memif if "peer" not in TRANSPORTS[n]]
        # each ZStack server against the peers where there are any (a second ZStack build, ZSBENCH_ALT_JAR, is not one)
        peers = [n for n in memif if "peer" in TRANSPORTS[n]]
        path = os.path.join(self.out, "paired.csv")
        new = not os.path.exists(path)
        summary = []
        with open(path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["setup", "size", "concurrency", "round", "transport", "rps"])
            for size in a.sizes:
                for conc in a.concurrency:
                    try:
                        rates = self.measure_paired(setup, memif, size, conc)
                    except Exception as e:  # noqa: BLE001 - record and go on
                        log(f"FAILED paired s{setup} {size}B c{conc}: {e}")
                        continue
                    for name, rs in rates.items():
                        for r, rps in enumerate(rs):
                            w.writerow([setup, size, conc, r, name, rps])
                    f.flush()
                    for z in zstack:
                        others = peers or [n for n in memif if n != z]
                        ratios = [rates[z][r] / max(rates[n][r] for n in others) for r in range(a.paired)]
                        summary.append((size, conc, z, "best peer" if peers else "best other", ratios))
        with open(os.path.join(self.out, "paired.md"), "a") as f:
            for size, conc, z, against, ratios in summary:
                text = (f"{size} B, {conc} connections: {z} / {against}, per round: "
                        f"{', '.join(f'{x:.2f}' for x in ratios)} (min {min(ratios):.2f}, median "
                        f"{statistics.median(ratios):.2f}, max {max(ratios):.2f})")
                f.write(f"- {text}\n")
                log(text)

    # -- handshake latency (--handshake-latency, modes *-close) ----------------------------------------------------
    def start_handshake_capture(self, t, tag):
        """tcpdump of the SYNs and SYN-ACKs on the client's veth during the run (headers only, to a file: the
        decoding waits until the run is over), or None when not asked for or not a new-connection mode over wrk."""
        a = self.a
        if not a.handshake_latency or not a.mode.endswith("-close") or t["client"] != "wrk":
            return None
        path = os.path.join(self.out, "logs", tag + ".syn.pcap")
        cmd = self.ns("A", "taskset", "-c", str(a.client_cpu), "tcpdump", "-i", a.client_if, "-nn", "-s", "80",
                      "-B", "16384", "-U", "-w", path, f"tcp port {a.port} and tcp[tcpflags] & tcp-syn != 0")
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(0.5)  # tcpdump opens its socket before the first SYN
        return p, path

    def handshake_latency(self, capture):
        """Per connection, the time from the client's SYN to the server's SYN-ACK as the client's veth saw them:
        the server stack's handshake latency plus two veth hops, for any transport alike. A SYN sent again (lost,
        or the server's queue was full) counts in syn_retries, and the latency runs from the last one."""
        if capture is None:
            return {}
        p, path = capture
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=10)
        r = run(["tshark", "-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "tcp.srcport", "-e",
                 "tcp.dstport", "-e", "tcp.flags.ack"], check=False)
        last_syn, seen, deltas, retries = {}, set(), [], 0
        for line in r.stdout.splitlines():
            f = line.split("\t")
            if len(f) < 4:
                continue
            when, src, dst, ack = float(f[0]), f[1], f[2], f[3] in ("1", "True")
            if not ack:
                if src in last_syn and src not in seen:
                    retries += 1
                last_syn[src] = when
                seen.discard(src)
            elif dst in last_syn and dst not in seen:
                deltas.append((when - last_syn[dst]) * 1e6)
                seen.add(dst)
        if not deltas:
            log(f"handshake capture {path}: no SYN/SYN-ACK pair ({err.decode(errors='replace').strip()[-200:]})")
            return {}
        deltas.sort()
        return dict(handshakes=len(deltas), syn_synack_p50_us=round(deltas[len(deltas) // 2], 1),
                    syn_synack_p99_us=round(deltas[min(len(deltas) - 1, len(deltas) * 99 // 100)], 1),
                    syn_retries=retries)

    # -- the run ------------------------------------------------------------------------------------------------
    def available(self, name):
        t = TRANSPORTS[name]
        if name in self.skipped:
            return False
        need = t.get("needs")
        if need and need not in self.server_usage():
            self.skipped[name] = f"http-echo.jar has no {need} flag"
        elif t["client"].startswith("loadgen") and not os.path.exists(self.a.loadgen_jar or ""):
            self.skipped[name] = "the load generator jar is missing"
        elif t.get("huge") and not self.a.huge_dir:
            self.skipped[name] = "no hugetlbfs for the run (run.sh --hugepages reserves and mounts one)"
        elif "peer" in t and not os.path.exists(os.path.join(self.a.peers_bin or "", t["peer"])):
            self.skipped[name] = f"peer {t['peer']} is not built (run.sh --peers SRC, bench/peers/README.md)"
        if name in self.skipped:
            log(f"skipping {name}: {self.skipped[name]}")
            return False
        return True

    def probe(self, name):
        """One short run of a transport before the real ones: a transport that cannot run here is skipped."""
        a = self.a
        if name in self.probed:
            return self.probed[name]
        self.probed[name] = False
        try:
            self.measure("probe", name, 64, 10, 0, duration=3, warmup=2)
            self.probed[name] = True
            return True
        except Exception as e:  # noqa: BLE001 - any failure means: not usable here
            self.skipped[name] = f"probe failed: {e}".splitlines()[0][:300]
            log(f"skipping {name}: {self.skipped[name]}")
            return False

    def steer_receive(self):
        """A veth is not a NIC: a frame's whole receive (the veth, then the namespace's TCP) runs inline on the CPU
        that sent it. Without steering, the server's transmit (a kernel socket's, or af_packet's and af_xdp's) runs
        the client namespace's TCP receive on the server's CPU, and the client's transmit runs the epoll server's
        kernel receive (SYNs, ACKs, data: the kernel's share of the server's work) on the client's CPU, where
        nobody charges it to the server. Receive Packet Steering on both veth ends queues each side's receive to
        its own CPU, where two machines would take it, for every transport alike. (af_xdp's receive runs before
        RPS, in the sender's NAPI: 21 % of the client's CPU at 8 KB; bench/README.md, CPU pinning.)"""
        a = self.a
        steered = []
        for ns, iface, cpu, side in ((a.ns_client, a.client_if, a.client_cpu, "client"),
                                     (a.ns_server, a.server_if, a.server_cpu, "server")):
            steered.append(self.steer(ns, iface, cpu, side))
        return ", ".join(steered)

    @staticmethod
    def steer(ns, iface, cpu, side):
        """RPS: what interface iface receives is processed on CPU cpu."""
        path = f"/sys/class/net/{iface}/queues/rx-0/rps_cpus"
        subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", f"echo {1 << cpu:x} > {path}"], check=True)
        got = subprocess.run(["ip", "netns", "exec", ns, "cat", path], check=True, capture_output=True,
                             text=True).stdout.strip()
        log(f"RPS: the {side} interface {iface}'s receive runs on CPU {cpu} (rps_cpus={got})")
        return f"{iface} rps_cpus={got}"

    def client_reuses_time_wait_ports(self):
        """A new connection per request leaves a TIME_WAIT on whichever side closes first, and wrk often does (it
        closes as soon as it has parsed a `Connection: close` response, before the server's FIN arrives when the
        server is slow). The client namespace's default (`tcp_tw_reuse=2`: loopback only) then holds each of its
        28,232 ephemeral ports for 60 s: at 10k connections/s they ran out after about 16 s of warm-up and epoll's
        get-close rate fell from 9.6k to 148 req/s. Reusing a TIME_WAIT port for a new connection when timestamps
        tell the connections apart (`tcp_tw_reuse=1`, what load generators run with) keeps the client from
        measuring its own port table, for every transport alike."""
        a = self.a
        subprocess.run(["ip", "netns", "exec", a.ns_client, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"],
                       check=True)
        got = subprocess.run(["ip", "netns", "exec", a.ns_client, "sysctl", "-n", "net.ipv4.tcp_tw_reuse"],
                             check=True, capture_output=True, text=True).stdout.strip()
        log(f"client namespace: net.ipv4.tcp_tw_reuse={got} (its ports in TIME_WAIT serve new connections)")
        return f"client tcp_tw_reuse={got}"

    def main(self):
        a = self.a
        os.makedirs(os.path.join(self.out, "logs"), exist_ok=True)
        meta = dict(started=datetime.datetime.now().isoformat(timespec="seconds"), args=vars(a),
                    kernel=os.uname().release, cpus=os.cpu_count(),
                    pinning=f"server JVM (all threads) on CPU {a.server_cpu}, client on CPU {a.client_cpu}")
        log(f"pinning: server (every JVM thread) on CPU {a.server_cpu} with taskset, "
            f"client on CPU {a.client_cpu}; load generator: {a.mode}")
        meta["rps"] = self.steer_receive()
        meta["client_ports"] = self.client_reuses_time_wait_ports()
        new = not os.path.exists(self.csv_path)
        with open(self.csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            if new:
                w.writeheader()
            for setup in a.setups:
                names = [n for n in SETUPS[setup]["transports"] if self.available(n)]
                names = [n for n in names if self.probe(n)] if a.probe else names
                log(f"setup {setup}: {SETUPS[setup]['title']}: transports {names}")
                failures = {}
                if len(names) == 0:
                    continue
                if a.paired:
                    self.main_paired(setup, names)
                    continue
                for size in a.sizes:
                    for conc in a.concurrency:
                        for r in range(a.repeats):
                            k = r % len(names)
                            for name in names[k:] + names[:k]:  # rotate the order each repeat
                                if name in self.skipped:
                                    continue
                                try:
                                    row = self.measure(setup, name, size, conc, r)
                                    failures[name] = 0
                                except Exception as e:  # noqa: BLE001 - record and go on
                                    log(f"FAILED s{setup} {name} {size}B c{conc} r{r}: {e}")
                                    failures[name] = failures.get(name, 0) + 1
                                    if failures[name] >= 2:
                                        self.skipped[name] = f"failed twice in a row, last: {e}"[:300]
                                        log(f"skipping {name} from now on")
                                    continue
                                w.writerow(row)
                                f.flush()
        meta["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        meta["skipped"] = self.skipped
        with open(os.path.join(self.out, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)


def peer_config(a, vdev, addr, prefix, single_file=False):
    """F-stack's config.ini for one peer run: its defaults (lib/config.ini), one lcore on the server CPU, the vdev
    through the EAL arguments (bench/peers/fstack-eal-args.patch), no tx batching delay, no promiscuous mode. A memif
    zero-copy client gets single-file segments (EAL refuses them with --huge-unlink; the harness removes the files)."""
    net = addr.rsplit(".", 1)[0]
    huge = (f" --huge-dir={a.huge_dir}" + (" --single-file-segments" if single_file else " --huge-unlink")
            if a.huge_dir else "")
    freebsd = ""
    if a.peers_conf_base and os.path.exists(a.peers_conf_base):
        with open(a.peers_conf_base) as f:
            text = f.read()
        freebsd = text[text.find("[freebsd.boot]"):] if "[freebsd.boot]" in text else ""
    return (f"[dpdk]\nlcore_mask={1 << a.server_cpu:x}\nchannel=4\npromiscuous=0\nnuma_on=1\n"
            f"tx_csum_offoad_skip=0\ntso=0\nvlan_strip=1\nidle_sleep=0\npkt_tx_delay=0\nsymmetric_rss=0\n"
            f"port_list=0\nnb_vdev=0\nnb_bond=0\nfile_prefix={prefix}\n"
            f"eal_args=--vdev={vdev} --no-pci --no-telemetry -m 256{huge}\n"
            f"[pcap]\nenable=0\nsnaplen=96\nsavelen=16777216\nsavepath=.\n"
            f"[port0]\naddr={addr}\nnetmask=255.255.255.0\nbroadcast={net}.255\ngateway={net}.1\n\n{freebsd}")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--ns-client", required=True)
    p.add_argument("--ns-server", required=True)
    p.add_argument("--client-if", default="va")
    p.add_argument("--server-if", default="vb")
    p.add_argument("--server-addr", default="10.90.0.2")
    p.add_argument("--client-addr", default="10.90.0.1")
    p.add_argument("--memif-socket", default="/run/zsbench.memif")
    p.add_argument("--memif-server-addr", default="10.91.0.2")
    p.add_argument("--memif-client-addr", default="10.91.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--java", required=True)
    p.add_argument("--jar", required=True)
    p.add_argument("--loadgen-jar", default=None)
    p.add_argument("--server-cpu", type=int, default=1)
    p.add_argument("--client-cpu", type=int, default=0)
    p.add_argument("--setups", default="1")
    p.add_argument("--transports", default=None, help="comma list overriding every setup's transport list")
    p.add_argument("--sizes", default=None, help="bytes, comma separated (default 64,1024,4096,8192)")
    p.add_argument("--concurrency", default=None, help="connections, comma separated (default 1,10,50,100,200)")
    p.add_argument("--repeats", type=int, default=None, help="measurements per point (default 3)")
    p.add_argument("--duration", type=int, default=None, help="seconds measured per measurement (default 10)")
    p.add_argument("--warmup", type=int, default=None, help="most seconds of warm-up per measurement (default 30)")
    p.add_argument("--warmup-min", type=int, default=None,
                   help="least seconds of warm-up per measurement (default 4)")
    p.add_argument("--warmup-slice", type=int, default=2)
    p.add_argument("--mode", choices=["post", "get", "post-close", "get-close"], default="post",
                   help="post: POST /echo of N bytes; get: GET /size/N; -close: every request on a new connection "
                        "(Connection: close, the server closes, wrk reconnects: the connection rate; wrk only)")
    p.add_argument("--rate", type=float, default=0,
                   help="setup 2 only: open loop at this many requests/s in total (default 0: closed loop)")
    p.add_argument("--wait-quiet", type=int, default=60,
                   help="most seconds to wait, before each measurement, for other load to go away (default 60)")
    p.add_argument("--quiet-busy", type=float, default=0.25,
                   help="CPU busy fraction of the two CPUs considered quiet (default 0.25)")
    p.add_argument("--no-gc-after-warmup", dest="gc_after_warmup", action="store_false",
                   help="do not ask JVM servers for a full collection between the warm-up and the window (the "
                        "default asks: see Harness.collect_garbage)")
    p.add_argument("--profile", action="store_true",
                   help="record a JFR profile of each server (logs/<measurement>.jfr); bench/hot-methods.sh reads it")
    p.add_argument("--peers-bin", default=None,
                   help="folder of the peer servers (bench/peers/build.sh); adds them to setups 1 and 2")
    p.add_argument("--peers-conf-base", default=None,
                   help="F-stack's config.ini whose [freebsd.*] sections the peers use")
    p.add_argument("--huge-dir", default=None, help="hugetlbfs mount for the F-stack peers and the -huge transports")
    p.add_argument("--handshake-latency", action="store_true",
                   help="with --mode get-close/post-close: capture SYNs and SYN-ACKs on the client's veth during each "
                        "run and report the SYN to SYN-ACK latency (p50, p99) and SYNs sent again")
    p.add_argument("--zstack-huge", action="store_true",
                   help="setups 1 and 2 also run ZStack with hugepages (zstack-afxdp-huge, zstack-memif-loadgen-huge), "
                        "setup 2 the memif zero-copy client (zstack-memif-zc-loadgen, the peers' memif servers alike)")
    p.add_argument("--no-probe", dest="probe", action="store_false")
    p.add_argument("--cross-core-below", type=int, default=0,
                   help="before each measurement wait until the cross-core round trip reads at most this many ns "
                        "(bench/README.md); 0: no wait")
    p.add_argument("--cross-core-wait", type=int, default=300,
                   help="most seconds to wait for --cross-core-below before measuring anyway")
    p.add_argument("--paired", type=int, default=0,
                   help="setup 2: measure its memif transports in this many paired rounds per point, all warm at once "
                        "and one running at a time (Harness.measure_paired; paired.csv, paired.md), instead of one "
                        "after another")
    p.add_argument("--paired-window", type=float, default=3.0, help="seconds measured per transport and round")
    p.add_argument("--paired-settle", type=float, default=1.0,
                   help="seconds a resumed pair runs before its window starts")
    p.add_argument("--quick", action="store_true", help="64 B and 4 KB, concurrency 1 and 50, 1 repeat, 3 s")
    a = p.parse_args(argv)
    # explicit options win; --quick changes only the defaults
    defaults = dict(sizes="64,1024,4096,8192", concurrency="1,10,50,100,200", repeats=3, duration=10, warmup=30,
                    warmup_min=4)
    if a.quick:
        defaults.update(sizes="64,4096", concurrency="1,50", repeats=1, duration=3, warmup=6, warmup_min=2)
        if "--wait-quiet" not in argv:
            a.wait_quiet = 10
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.sizes = [int(x) for x in str(a.sizes).split(",")]
    a.concurrency = [int(x) for x in str(a.concurrency).split(",")]
    a.setups = [s for s in a.setups.split(",") if s]
    if a.mode.endswith("-close") and any(TRANSPORTS[n]["client"] != "wrk" for s in a.setups
                                         for n in SETUPS[s]["transports"]):
        p.error("--mode *-close needs wrk as the client: setups 1 and 3 (the load generator keeps connections)")
    if a.zstack_huge:
        for s, name in (("1", "zstack-afxdp"), ("2", "zstack-memif-loadgen")):
            names = SETUPS[s]["transports"]
            names.insert(names.index(name) + 1, name + "-huge")
        # memif zero copy: ZStack's server as the zero-copy memif client, and the peers' memif servers alike
        names = SETUPS["2"]["transports"]
        names.insert(names.index("zstack-memif-loadgen-huge") + 1, "zstack-memif-zc-loadgen")
        PEER_SETUPS["2"] = [n.replace("-memif-loadgen", "-memif-zc-loadgen") for n in PEER_SETUPS["2"]]
        # and setup 4 the same pair with the server as the zero-copy memif client
        SETUPS["4"]["transports"] += ["zstack-memif-zc-loadgen", "zstack-memif-zc-loadgen-copy"]
    if a.peers_bin:
        for s, names in PEER_SETUPS.items():
            SETUPS[s]["transports"] = SETUPS[s]["transports"] + names
    if a.transports:
        for s in a.setups:
            SETUPS[s]["transports"] = [n for n in a.transports.split(",") if n in TRANSPORTS]
    # Parallel GC (jvm_args) for every Java server and the load generator alike: a JVM pinned to one CPU picks Serial
    # GC, whose young pauses were 5 ms (epoll) to 10-16 ms (ZStack) here against Parallel's 0.4-0.9 ms with the same
    # heap and live set, and those pauses, not the stacks, were what the 64 B p99s measured (bench/README.md)
    # Netty's leak detector off alike: at its default level it records a stack trace for one buffer in 128, which was
    # 92 % of a lean ZStack server's allocation (JFR), its only collections (31-40 ms each) and 1.3 % of its CPU; the
    # C peers have no such thing (bench/README.md)
    common = ["--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xms512m", "-Xmx512m",
              "-Dio.netty.leakDetection.level=disabled"]
    # extra server JVM flags for profiling, e.g. ZSBENCH_SERVER_JVM="-XX:+UnlockDiagnosticVMOptions
    # -XX:+DumpPerfMapAtExit -XX:+PreserveFramePointer" to let `perf record -C 1` name Java frames;
    # ZSBENCH_CLIENT_JVM likewise for the load generator (setup 2's client). A collector named there
    # (-XX:+UseSerialGC, ...) replaces the default one (the JVM refuses two).
    a.server_jvm_args = jvm_args(common, os.environ.get("ZSBENCH_SERVER_JVM", "").split())
    a.client_jvm_args = jvm_args(common, os.environ.get("ZSBENCH_CLIENT_JVM", "").split())
    return a


if __name__ == "__main__":
    Harness(parse_args(sys.argv[1:])).main()
