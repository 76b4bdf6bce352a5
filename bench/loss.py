#!/usr/bin/env python3
"""Loss benchmark driver (issue 10), run by bench/loss.sh, which builds the namespaces and removes them.

For every impairment (a drop probability, or duplication), every sender (Linux: the HTTP echo example on the kernel's
TCP; ZStack: the same application on ZStack over net_af_packet), a fresh server in the sender namespace, then the
repeats: the kernel receiver fetches GET /size/N with curl through the router, the body is compared with the
expected pattern, and the sender's counters are read before and after (nstat in the sender namespace for Linux,
GET /stats for ZStack). Writes loss.csv (one row per transfer), summary.md (medians, and ZStack's time over Linux's
per point) and loss.png."""
import argparse
import csv
import os
import re
import signal
import statistics
import subprocess
import sys
import time

SERVER = "10.93.2.2"
KTAP = "zt0"  # --offloads: ZStack's TAP in the router's namespace
PORT = 8080
# counters read per transfer: (column, ZStack's tcp counter, Linux's nstat counter)
COUNTERS = [
    ("retransmits", "retransmittedSegments", "TcpRetransSegs"),
    ("rtos", "timeouts", "TcpExtTCPTimeouts"),
    ("tlps", "tailLossProbes", "TcpExtTCPLossProbes"),
    ("tlp_recoveries", "tailLossProbeRecoveries", "TcpExtTCPLossProbeRecovery"),
    ("dsacks_received", "dsacksReceived", "TcpExtTCPDSACKRecv"),
    ("undos", "recoveriesUndone", "TcpExtTCPFullUndo"),
]


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def run(cmd, check=True, timeout=None):
    return subprocess.run(cmd, check=check, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


def ns(name, *cmd):
    return ["ip", "netns", "exec", name, *cmd]


class Bench:
    def __init__(self, a):
        self.a = a
        # "linux": the same Netty application on epoll, with the sender namespace's default congestion control (a new
        # namespace takes the host's: here BBR); "linux-<cc>": the kernel with that congestion control (loss-sender.py)
        self.linux = ["linux"] + [f"linux-{cc}" for cc in a.linux_cc.split(",") if cc]
        # "zstack": ZStack with its default congestion control; "zstack-<cc>": with that one (--congestion-control)
        zstack = ["zstack"] + [f"zstack-{cc}" for cc in a.zstack_cc.split(",") if cc]
        # "...-xdp": the same ZStack sender on net_af_xdp instead of net_af_packet (--zstack-xdp)
        if a.offloads:
            # "...-ktap": ZStack on a kernel TAP in the router's namespace (TSO both ways, checksums left to the
            # kernel), the Linux senders with their veth's offloads on: each sender as it would run on a NIC with them
            zstack = [f"{z}-ktap" for z in zstack]
        self.senders = self.linux + zstack + ([f"{z}-xdp" for z in zstack] if a.zstack_xdp else []) \
            + (["zstack-before"] if a.baseline_jar else [])
        self.default_cc = run(ns(a.ns_s, "sysctl", "-n", "net.ipv4.tcp_congestion_control"), check=False).stdout.strip()
        self.pattern = os.path.join(a.out, "expected.bin")
        size = a.size_mib * 1024 * 1024
        self.size = size
        self.pcap_count = 0
        self.loads = {}
        block = bytes(ord("a") + i % 26 for i in range(26 * 4096))
        with open(self.pattern, "wb") as f:
            left = size
            while left > 0:
                f.write(block[:min(left, len(block))])
                left -= len(block)

    # -- impairments -------------------------------------------------------------------------------------------
    def impair(self, kind, p):
        r = self.a.ns_r
        run(ns(r, "iptables", "-F", "FORWARD"))
        run(ns(r, "iptables", "-t", "mangle", "-F", "PREROUTING"))
        run(ns(self.a.ns_k, "iptables", "-t", "raw", "-F", "PREROUTING"))
        if kind == "drop" and p > 0 and self.a.offloads:
            # a sender's TSO frame crosses the router whole and is cut only when it leaves towards the receiver (r0
            # has no TSO): the data is dropped segment by segment where it arrives (k0, no GRO), the ACKs at the router
            run(ns(self.a.ns_k, "iptables", "-t", "raw", "-A", "PREROUTING", "-i", "k0", "-m", "statistic", "--mode",
                   "random", "--probability", str(p), "-j", "DROP"))
            run(ns(r, "iptables", "-A", "FORWARD", "-i", "r0", "-m", "statistic", "--mode", "random",
                   "--probability", str(p), "-j", "DROP"))
        elif kind == "drop" and p > 0:
            run(ns(r, "iptables", "-A", "FORWARD", "-m", "statistic", "--mode", "random", "--probability", str(p),
                   "-j", "DROP"))
        elif kind == "dup":
            run(ns(r, "iptables", "-t", "mangle", "-A", "PREROUTING", "-i", "r0", "-m", "statistic", "--mode",
                   "random", "--probability", str(p), "-j", "TEE", "--gateway", SERVER))
            run(ns(r, "iptables", "-t", "mangle", "-A", "PREROUTING", "-i", "r1", "-m", "statistic", "--mode",
                   "random", "--probability", str(p), "-j", "TEE", "--gateway", "10.93.1.2"))

    # -- senders -----------------------------------------------------------------------------------------------
    def start(self, sender, logf):
        a = self.a
        s = a.ns_s
        jar = a.baseline_jar if sender == "zstack-before" else a.jar
        ktap = sender.endswith("-ktap")
        # the router's side of the sender's link: the TAP, which a ktap sender opens from the router's namespace, or
        # the veth to the sender's namespace
        self.link_to_sender(KTAP if ktap else "r1")
        if sender.startswith("linux"):
            run(ns(s, "ip", "addr", "replace", f"{SERVER}/24", "dev", "s0"))
            run(ns(s, "ip", "route", "replace", "default", "via", "10.93.2.1"))
            args = ["--transport", "epoll", "--bind", SERVER]
        else:
            run(ns(s, "ip", "addr", "flush", "dev", "s0"))
            if ktap:
                device = ["--kernel-tap", KTAP]
            elif sender.endswith("-xdp"):
                device = ["--vdev", "net_af_xdp0,iface=s0,start_queue=0,queue_count=1"]
            else:
                device = ["--vdev", "net_af_packet0,iface=s0"]
            args = ["--transport", "zstack", *device, "--address", f"{SERVER}/24", "--gateway", "10.93.2.1"]
            # zstack-<cc>[-xdp|-ktap]: the congestion control between the prefix and the device's suffix
            cc = sender[len("zstack-"):].removesuffix("-xdp").removesuffix("-ktap") if sender.startswith("zstack-") \
                else ""
            if cc and cc not in ("before", "xdp", "ktap"):
                args += ["--congestion-control", cc]
        run(ns(a.ns_k, "ip", "neigh", "flush", "all"), check=False)
        run(ns(a.ns_r, "ip", "neigh", "flush", "all"), check=False)
        cmd = ns(a.ns_r if ktap else s, a.java, "--enable-native-access=ALL-UNNAMED",
                 "--sun-misc-unsafe-memory-access=allow", "-Xms512m", "-Xmx512m", "-jar", jar, *args, "--port",
                 str(PORT), "--threads", "1")
        if sender.startswith("linux-"):
            cmd = ns(s, sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "loss-sender.py"),
                     SERVER, str(PORT), sender[len("linux-"):], self.pattern)
        logf.write("$ " + " ".join(cmd) + "\n")
        logf.flush()
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if p.poll() is not None:
                raise RuntimeError(f"{sender} server exited with {p.returncode}")
            r = run(ns(a.ns_k, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                       f"http://{SERVER}:{PORT}/size/1"), check=False)
            if r.stdout.strip() == "200":
                return p
            time.sleep(0.3)
        raise RuntimeError(f"{sender} server not ready in 60 s")

    def link_to_sender(self, iface):
        """The router's address on the sender's side (10.93.2.1) on {@code iface}: the veth r1, or the TAP."""
        r = self.a.ns_r
        for other in ("r1", KTAP):
            if other != iface:
                run(ns(r, "ip", "addr", "flush", "dev", other), check=False)
        run(ns(r, "ip", "addr", "replace", "10.93.2.1/24", "dev", iface))
        run(ns(r, "ip", "link", "set", iface, "up"))

    def offload(self):
        """--offloads: the Linux senders' veth (s0, r1) with TSO, GSO, GRO and checksum offload, as on a NIC; a TAP
        (vnet headers, no qdisc, as the setup 1 harness makes it) for ZStack; the router cuts what it forwards (r0
        without TSO/GSO) and the receiver takes each segment alone (k0 without GRO), so drops are per segment."""
        a = self.a
        for name, iface in ((a.ns_s, "s0"), (a.ns_r, "r1")):
            run(ns(name, "ethtool", "-K", iface, "tx", "on", "tso", "on", "gso", "on", "gro", "on"))
        run(ns(a.ns_r, "ethtool", "-K", "r0", "tso", "off", "gso", "off"))
        run(ns(a.ns_k, "ethtool", "-K", "k0", "gro", "off"))
        run(ns(a.ns_r, "ip", "tuntap", "add", "dev", KTAP, "mode", "tap", "vnet_hdr"))
        run(ns(a.ns_r, "tc", "qdisc", "replace", "dev", KTAP, "root", "noqueue"))
        log(f"offloads: s0 and r1 with TSO/GSO/GRO/checksums, ZStack on the TAP {KTAP} in the router's namespace; "
            "r0 without TSO/GSO, k0 without GRO (drops per segment)")

    def stop(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def counters(self, sender):
        if sender.startswith("linux"):
            out = run(ns(self.a.ns_s, "nstat", "-az", "--json"), check=False).stdout
            values = {}
            for _, _, name in COUNTERS:
                m = re.search(r'"%s"\s*:\s*(\d+)' % name, out)
                values[name] = int(m.group(1)) if m else 0
            return {col: values[name] for col, _, name in COUNTERS}
        out = run(ns(self.a.ns_k, "curl", "-s", "--max-time", "10", f"http://{SERVER}:{PORT}/stats"),
                  check=False).stdout
        tcp = "\n".join(line for line in out.splitlines() if line.strip().startswith("tcp:"))
        result = {}
        for col, name, _ in COUNTERS:
            result[col] = sum(int(v) for v in re.findall(r"\b%s=(\d+)" % name, tcp))
        return result

    def transfer(self, sender, size=None):
        """One GET of the whole size (or {@code size}); returns (seconds, bytes, intact, counter deltas)."""
        size = size or self.size
        before = self.counters(sender)
        body = os.path.join(self.a.out, "received.bin")
        capture = None
        if self.a.pcap and size == self.size:
            # headers only, on the router's sender-side veth: what the sender put on the wire and what reached it
            self.pcap_count += 1
            path = os.path.join(self.a.out, f"{self.point}-{sender}-{self.pcap_count}.pcap")
            iface = KTAP if sender.endswith("-ktap") else "r1"
            capture = subprocess.Popen(ns(self.a.ns_r, "tcpdump", "-q", "-i", iface, "-s", "96", "-w", path, "tcp"),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(0.5)
        r = run(ns(self.a.ns_k, "curl", "-s", "-o", body, "-w", "%{time_total} %{size_download}", "--max-time",
                   str(self.a.max_seconds), f"http://{SERVER}:{PORT}/size/{size}"), check=False)
        after = self.counters(sender)
        if capture:
            time.sleep(0.2)
            os.killpg(capture.pid, signal.SIGINT)
            capture.wait(timeout=10)
        words = r.stdout.split()
        seconds = float(words[0]) if len(words) == 2 else float("nan")
        got = int(words[1]) if len(words) == 2 else 0
        intact = r.returncode == 0 and got == size and size == self.size and run(["cmp", "-s", body, self.pattern],
                                                                 check=False).returncode == 0
        os.unlink(body) if os.path.exists(body) else None
        return seconds, got, intact, {k: after[k] - before[k] for k in after}

    def steer(self):
        """--rps: a veth's receive runs inline on the CPU that sent the frame, so the router's forwarding and the
        receiver's TCP would run on the sender's CPU (a busy-polling ZStack loop's: DPDK pins it to CPU 0). Receive
        Packet Steering queues the router's and the receiver's receive to CPU 1, for every sender alike."""
        for name, iface in ((self.a.ns_r, "r0"), (self.a.ns_r, "r1"), (self.a.ns_k, "k0")) \
                + (((self.a.ns_r, KTAP),) if self.a.offloads else ()):
            run(ns(name, "sh", "-c", f"echo 2 > /sys/class/net/{iface}/queues/rx-0/rps_cpus"))
        log("RPS: r0, r1 and k0 receive on CPU 1")

    def main(self):
        a = self.a
        if a.offloads:
            self.offload()
        if a.rps:
            self.steer()
        # --offloads: no duplication point (the router would copy a sender's TSO frame whole, 44 segments at once)
        points = [("drop", float(p)) for p in a.losses.split(",") if p] + [("dup", float(p)) for p in
                                                                           a.duplicates.split(",") if p
                                                                           and not a.offloads]
        rows = []
        csv_path = os.path.join(a.out, "loss.csv")
        cols = ["impairment", "probability", "sender", "repeat", "seconds", "bytes", "intact"] + [c for c, _, _ in
                                                                                               COUNTERS]
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for kind, p in points:
                self.impair(kind, p)
                self.point = f"{kind}-{p:g}"
                load_start = os.getloadavg()[0]
                for sender in self.senders:
                    logf = open(os.path.join(a.out, f"server-{sender}-{kind}-{p}.log"), "w")
                    server = self.start(sender, logf)
                    try:
                        for _ in range(a.warmup):
                            self.transfer(sender, 4 * 1024 * 1024)  # the JIT compiles the server's paths; not measured
                        for rep in range(1, a.repeats + 1):
                            secs, got, intact, deltas = self.transfer(sender)
                            row = dict(impairment=kind, probability=p, sender=sender, repeat=rep, seconds=secs,
                                       bytes=got, intact=intact, **deltas)
                            rows.append(row)
                            w.writerow(row)
                            f.flush()
                            log(f"{kind} {p:g} {sender} #{rep}: {secs:.2f} s, {'intact' if intact else 'BROKEN'}, "
                                + ", ".join(f"{k} {v}" for k, v in deltas.items()))
                    finally:
                        self.stop(server)
                        logf.close()
                self.loads[(kind, p)] = f"{load_start:.1f}-{os.getloadavg()[0]:.1f}"
        os.unlink(self.pattern)
        self.report(rows, points)

    def report(self, rows, points):
        a = self.a
        zs = [x for x in self.senders if x not in self.linux]
        head = "| impairment | load | " + " | ".join(f"{x} s" for x in self.linux) + " | " \
            + " | ".join(f"{x} s | " + " | ".join(f"{x}/{y}" for y in self.linux) for x in zs) + " | " \
            + " | ".join(f"{x} retx / RTO / TLP" for x in self.linux) + " | " \
            + " | ".join(f"{x} retx / RTO / TLP / undo | {x} RTOs/retx" for x in zs) + " | all intact |"
        lines = [f"# Loss benchmark {os.path.basename(a.out)}", "",
                 f"GET of {a.size_mib} MiB from the sender to the kernel's curl through a router namespace that drops "
                 "(both directions) or duplicates packets; median of "
                 f"{a.repeats} transfers per point, min-max in brackets; counters: medians per transfer. `linux` is "
                 f"the same Netty application on epoll with the namespace's default congestion control "
                 f"({self.default_cc}); `linux-<cc>` the kernel with that congestion control (loss-sender.py, "
                 "sendfile). Ratios are of medians. Load: the 1-minute load average at the point's start and end.", "",
                 head, "|" + "---|" * (head.count("|") - 1)]
        plot = []
        for kind, p in points:
            med = {}
            for sender in self.senders:
                rs = [r for r in rows if r["impairment"] == kind and r["probability"] == p and r["sender"] == sender]
                secs = [r["seconds"] for r in rs]
                med[sender] = dict(s=statistics.median(secs), lo=min(secs), hi=max(secs),
                                   **{c: statistics.median([r[c] for r in rs]) for c, _, _ in COUNTERS},
                                   intact=all(r["intact"] for r in rs))
            name = f"drop {p * 100:g}%" if kind == "drop" else f"duplicate {p * 100:g}%"
            cells = [name, self.loads.get((kind, p), "")]
            for y in self.linux:
                L = med[y]
                cells.append(f"{L['s']:.2f} [{L['lo']:.2f}-{L['hi']:.2f}]")
            for x in zs:
                Z = med[x]
                cells.append(f"{Z['s']:.2f} [{Z['lo']:.2f}-{Z['hi']:.2f}]")
                cells += [f"{Z['s'] / med[y]['s']:.2f}x" for y in self.linux]
            for y in self.linux:
                L = med[y]
                cells.append(f"{L['retransmits']:g} / {L['rtos']:g} / {L['tlps']:g}")
            for x in zs:
                Z = med[x]
                share = f"{Z['rtos'] / Z['retransmits']:.1%}" if Z["retransmits"] else "-"
                cells += [f"{Z['retransmits']:g} / {Z['rtos']:g} / {Z['tlps']:g} / {Z['undos']:g}", share]
            cells.append("yes" if all(m["intact"] for m in med.values()) else "NO")
            lines.append("| " + " | ".join(cells) + " |")
            plot.append((name, [med[x]["s"] for x in self.senders]))
        with open(os.path.join(a.out, "summary.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines))
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots(figsize=(9, 4))
            width = 0.8 / len(self.senders)
            for k, sender in enumerate(self.senders):
                ax.bar([x + (k - (len(self.senders) - 1) / 2) * width for x in range(len(plot))],
                       [v[1][k] for v in plot], width, label=sender)
            ax.set_xticks(list(range(len(plot))))
            ax.set_xticklabels([v[0] for v in plot])
            ax.set_yscale("log")
            ax.set_ylabel(f"seconds for {a.size_mib} MiB (median, log)")
            ax.legend()
            fig.tight_layout()
            fig.savefig(os.path.join(a.out, "loss.png"))
        except ImportError:
            print("matplotlib missing: no plot", file=sys.stderr)


def parse():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--java", required=True)
    p.add_argument("--jar", required=True)
    p.add_argument("--ns-k", required=True)
    p.add_argument("--ns-r", required=True)
    p.add_argument("--ns-s", required=True)
    p.add_argument("--size-mib", type=int, default=32, help="transfer size (at most 64)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="unmeasured transfers after each server start")
    p.add_argument("--losses", default="0,0.005,0.01,0.02,0.05", help="drop probabilities, comma separated")
    p.add_argument("--duplicates", default="0.01", help="duplication probabilities (empty: none)")
    p.add_argument("--baseline-jar", default=None,
                   help="another http-echo.jar (e.g. built from an older commit): a third sender, zstack-before")
    p.add_argument("--linux-cc", default="cubic",
                   help="congestion controls for the kernel as further senders, comma separated (empty: none)")
    p.add_argument("--zstack-cc", default="",
                   help="congestion controls for ZStack as further senders (zstack-<cc>), comma separated: "
                        "cubic, new-reno, bbr (empty: none)")
    p.add_argument("--zstack-xdp", action="store_true",
                   help="each ZStack sender also on net_af_xdp (zstack...-xdp), beside net_af_packet")
    p.add_argument("--offloads", action="store_true",
                   help="senders with the kernel's offloads, as on a NIC: the Linux senders' veth with TSO/GSO/GRO and "
                        "checksum offload, ZStack on a kernel TAP (zstack...-ktap) instead of net_af_packet; data "
                        "dropped per segment at the receiver's ingress, ACKs at the router; no duplication point")
    p.add_argument("--rps", action="store_true",
                   help="Receive Packet Steering on the router's veths (r0, r1: CPU 1) and the receiver's (k0: CPU 0),"
                        " for every sender alike")
    p.add_argument("--pcap", action="store_true",
                   help="capture the headers of every measured transfer on the router's sender side (<point>-<sender>-<n>.pcap)")
    p.add_argument("--max-seconds", type=int, default=300, help="a transfer taking longer fails")
    return p.parse_args()


if __name__ == "__main__":
    Bench(parse()).main()
