#!/usr/bin/env python3
"""Turns bench/results/<run>/results.csv into medians.csv, PNG plots and summary.md.

    python3 bench/report.py bench/results/<run>

Rows are grouped by (setup, transport, mode, size, concurrency); every numeric column's median over the repeats is
reported. In summary.md each transport is compared with its setup's baseline (the first transport of the setup in
harness.SETUPS: epoll for setups 1 and 2, ZStack zero copy for setups 3 and 4) at every point.
"""

import csv
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

KEY = ["setup", "transport", "client", "load", "mode", "size", "concurrency"]


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if r["setup"] != "probe"]


def medians(rows):
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in KEY), []).append(r)
    out = []
    for key, rs in groups.items():
        m = dict(zip(KEY, key))
        m["size"], m["concurrency"] = int(m["size"]), int(m["concurrency"])
        m["repeats"] = len(rs)
        for c in harness.NUMERIC:
            vals = [float(r[c]) for r in rs if r.get(c) not in (None, "")]
            m[c] = round(statistics.median(vals), 3) if vals else ""
        # spread of throughput over the repeats, to judge the noise
        rps = [float(r["rps"]) for r in rs]
        m["rps_min"], m["rps_max"] = min(rps), max(rps)
        out.append(m)
    out.sort(key=lambda m: (m["setup"], m["size"], m["concurrency"], m["transport"]))
    return out


def order(setup, present):
    listed = harness.SETUPS.get(setup, {}).get("transports", [])
    return [t for t in listed if t in present] + sorted(t for t in present if t not in listed)


def size_label(n):
    return f"{n // 1024} KB" if n >= 1024 and n % 1024 == 0 else f"{n} B"


def plot(med, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []
    for setup in sorted({m["setup"] for m in med}):
        ms = [m for m in med if m["setup"] == setup]
        sizes = sorted({m["size"] for m in ms})
        transports = order(setup, {m["transport"] for m in ms})
        mode = ms[0]["mode"]
        for metric, label, fname, logy in [("rps", "requests/s (median)", "throughput", False),
                                           ("lat_p99_us", "p99 latency, µs (median)", "p99", True),
                                           ("cpu_us_per_req", "CPU µs per request, server+client (median)",
                                            "cpu", False)]:
            cols = min(len(sizes), 2)
            rows_n = (len(sizes) + cols - 1) // cols
            fig, axes = plt.subplots(rows_n, cols, figsize=(6 * cols, 4 * rows_n), squeeze=False)
            for i, size in enumerate(sizes):
                ax = axes[i // cols][i % cols]
                for t in transports:
                    pts = sorted((m["concurrency"], m[metric]) for m in ms
                                 if m["transport"] == t and m["size"] == size and m[metric] != "")
                    if pts:
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=t)
                ax.set_title(f"{size_label(size)} ({mode})")
                ax.set_xlabel("concurrent connections (log scale)")
                ax.set_xscale("log")
                ax.set_ylabel(label)
                if logy:
                    ax.set_yscale("log")
                ax.grid(True, alpha=0.3)
                ax.legend(fontsize=8)
            for j in range(len(sizes), rows_n * cols):
                axes[j // cols][j % cols].axis("off")
            fig.suptitle(f"setup {setup}: {harness.SETUPS.get(setup, {}).get('title', '')}", fontsize=10)
            fig.tight_layout()
            path = os.path.join(out_dir, f"setup{setup}-{fname}.png")
            fig.savefig(path, dpi=110)
            plt.close(fig)
            files.append(os.path.basename(path))
    return files


def ratio(a, b):
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return ""
    return f"{a / b:.2f}" if b else ""


def is_peer(t):
    """Transports ZStack is measured against (issue 14): the bench/peers/ servers and Netty on epoll."""
    return t.startswith("peer-") or t.startswith("epoll")


def near_cpus(r, gate):
    """The measurement's cross-core round trips, before and after, both read at most gate ns (run with
    --cross-core-below: the host kept the two CPUs near throughout, as far as the probes can tell)."""
    try:
        return max(float(r["cross_core_ns_before"]), float(r["cross_core_ns_after"])) <= gate
    except (KeyError, TypeError, ValueError):
        return False


def repeat_ratios(rows, setup, size, conc, ours, peers, gate=0):
    """Best ZStack / best peer req/s per repeat (paired by repeat number: the same rotation round); with a gate,
    only the repeats in which every one of those measurements had both probes at gate ns or less (one slow peer
    left out would flatter ZStack)."""
    per = {}
    for r in rows:
        if r["setup"] == setup and int(r["size"]) == size and int(r["concurrency"]) == conc:
            side = "z" if r["transport"] in ours else "p" if r["transport"] in peers else None
            if side:
                d = per.setdefault(r["repeat"], {"near": True})
                d[side] = max(d.get(side, 0.0), float(r["rps"]))
                d["near"] = d["near"] and (not gate or near_cpus(r, gate))
    return [d["z"] / d["p"] for d in per.values() if d.get("z") and d.get("p") and d["near"]]


def best_peer_lines(med, rows, gate=0):
    """Per setup and point: ZStack's best transport / the best peer (req/s), the median of each and, over the
    repeats (paired by repeat number: the same rotation round), min-max of that ratio; with a cross-core gate, also
    min-max over the repeats whose measurements all had both probes under it."""
    out = []
    for setup in sorted({m["setup"] for m in med}):
        ms = [m for m in med if m["setup"] == setup]
        ours = sorted({m["transport"] for m in ms if m["transport"].startswith("zstack") and
                       not m["transport"].endswith("-copy")})
        peers = sorted({m["transport"] for m in ms if is_peer(m["transport"])})
        if not ours or not any(t.startswith("peer-") for t in peers):
            continue
        out += [f"## Setup {setup}: ZStack against the best peer", "",
                f"ZStack: best of {', '.join(f'`{t}`' for t in ours)}; peers: {', '.join(f'`{t}`' for t in peers)}. "
                "Ratio of medians, and min–max of the per-repeat ratio (best ZStack / best peer in the same "
                "repeat). Goal (issue 14): >= 1.0 everywhere, >= 1.5 at 4 and 8 KB." +
                (f" Last column: the same, only over measurements whose cross-core round trips (before and after) "
                 f"both read {gate} ns or less, and how many repeats that leaves." if gate else ""), "",
                "| size | conns | best ZStack | req/s | best peer | req/s | ratio | min–max |" +
                (f" min–max, probes <= {gate} ns (repeats) |" if gate else ""), "|" + "---|" * (9 if gate else 8)]
        idx = {(m["transport"], m["size"], m["concurrency"]): m for m in ms}
        for size in sorted({m["size"] for m in ms}):
            for conc in sorted({m["concurrency"] for m in ms}):
                zs = [idx[(t, size, conc)] for t in ours if (t, size, conc) in idx]
                ps = [idx[(t, size, conc)] for t in peers if (t, size, conc) in idx]
                if not zs or not ps:
                    continue
                z = max(zs, key=lambda m: m["rps"])
                p = max(ps, key=lambda m: m["rps"])
                rs = repeat_ratios(rows, setup, size, conc, ours, peers)
                spread = f"{min(rs):.2f}–{max(rs):.2f}" if rs else ""
                line = (f"| {size_label(size)} | {conc} | `{z['transport']}` | {z['rps']:.0f} | `{p['transport']}` | "
                        f"{p['rps']:.0f} | {ratio(z['rps'], p['rps'])} | {spread} |")
                if gate:
                    near = repeat_ratios(rows, setup, size, conc, ours, peers, gate)
                    line += f" {min(near):.2f}–{max(near):.2f} ({len(near)}) |" if near else " (0) |"
                out.append(line)
        out.append("")
    return out


def summary(med, out_dir, meta, pngs, rows_all=()):
    lines = ["# ZStack benchmark summary", ""]
    if meta:
        a = meta.get("args", {})
        lines += [f"Run {meta.get('started', '?')} to {meta.get('finished', '?')}, kernel {meta.get('kernel', '?')}, "
                  f"{meta.get('cpus', '?')} CPUs. Pinning: {meta.get('pinning', '?')}. "
                  f"Per point: {a.get('repeats')} repeats of {a.get('duration')} s after {a.get('warmup')} s of "
                  f"warm-up, a fresh server each; medians. Load: {a.get('mode')} "
                  f"({'POST /echo of N bytes, echoed back' if a.get('mode') == 'post' else 'GET /size/N'}).", ""]
        for name, why in (meta.get("skipped") or {}).items():
            lines.append(f"- skipped `{name}`: {why}")
        if meta.get("skipped"):
            lines.append("")
    unsettled = [r for r in rows_all if str(r.get("warmup_settled", "1")) == "0"]
    if unsettled:
        lines += [f"**Warm-up not settled** (the last three slices did not agree within 10%, or a JIT still compiled, "
                  f"when --warmup ran out; "
                  f"these windows may start before the steady state, raise --warmup): "
                  + ", ".join(f"s{r['setup']} {r['transport']} {size_label(int(r['size']))} c{r['concurrency']} "
                              f"r{r['repeat']} ({r.get('warmup_s', '?')} s)" for r in unsettled), ""]
    compiling = [r for r in rows_all if r.get("jit_cpu_s") not in (None, "")
                 and float(r["jit_cpu_s"]) > harness.JIT_QUIET * float(r["duration_s"])]
    if compiling:
        lines += ["**A JIT compiled inside the window** (compiler threads over 2% of it; the pinned loop lost that CPU): "
                  + ", ".join(f"s{r['setup']} {r['transport']} {size_label(int(r['size']))} c{r['concurrency']} "
                              f"r{r['repeat']} ({r['jit_cpu_s']} s)" for r in compiling), ""]
    lines += ["Ratios are transport / baseline at the same point: req/s ratio > 1 and p99 ratio < 1 favour the "
              "transport; CPU ratio is (server+client CPU per request) / baseline's.", ""]
    for setup in sorted({m["setup"] for m in med}):
        ms = [m for m in med if m["setup"] == setup]
        transports = order(setup, {m["transport"] for m in ms})
        base = transports[0]
        lines += [f"## Setup {setup}: {harness.SETUPS.get(setup, {}).get('title', '')}", "",
                  f"Baseline: `{base}`.", ""]
        others = transports[1:]
        head = ["size", "conns", f"{base} req/s", f"{base} p99 µs"]
        for t in others:
            head += [f"{t} req/s", f"{t} p99 µs", "req/s ratio", "p99 ratio", "CPU/req ratio"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        idx = {(m["transport"], m["size"], m["concurrency"]): m for m in ms}
        for size in sorted({m["size"] for m in ms}):
            for conc in sorted({m["concurrency"] for m in ms}):
                b = idx.get((base, size, conc))
                cells = [size_label(size), str(conc), f"{b['rps']:.0f}" if b else "–",
                         f"{b['lat_p99_us']:.0f}" if b else "–"]
                for t in others:
                    m = idx.get((t, size, conc))
                    if m is None:
                        cells += ["–"] * 5
                        continue
                    cells += [f"{m['rps']:.0f}", f"{m['lat_p99_us']:.0f}",
                              ratio(m["rps"], b["rps"]) if b else "", ratio(m["lat_p99_us"], b["lat_p99_us"]) if b
                              else "", ratio(m["cpu_us_per_req"], b["cpu_us_per_req"]) if b else ""]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += ["Medians per transport (all points): latency mean/p50/p99/p99.9 in µs, CPU in µs per request "
                  "(server, client), server CPU use in cores, the share of the window a ZStack loop spent on work "
                  "(server, client; a busy-polling loop uses its whole core either way) and the server's CPU per "
                  "request times its share (what a request cost a busy-polling server), spread of req/s over the "
                  "repeats, CPU seconds other processes used on the two CPUs during the window (the noise).", "",
                  "| transport | size | conns | req/s | min–max | mean | p50 | p99 | p99.9 | CPU/req srv "
                  "| CPU/req cli | srv cores | loop busy srv | work/req srv | loop busy cli | other CPU s | errors |",
                  "|" + "---|" * 17]
        for m in sorted(ms, key=lambda m: (m["size"], m["concurrency"], transports.index(m["transport"]))):
            lines.append(f"| {m['transport']} | {size_label(m['size'])} | {m['concurrency']} | {m['rps']:.0f} | "
                         f"{m['rps_min']:.0f}–{m['rps_max']:.0f} | {m['lat_mean_us']:.0f} | {m['lat_p50_us']:.0f} | "
                         f"{m['lat_p99_us']:.0f} | {m['lat_p999_us']:.0f} | {m['server_cpu_us_per_req']} | "
                         f"{m['client_cpu_us_per_req']} | {m['server_cpu_util']} | {m.get('server_loop_busy', '')} | "
                         f"{m.get('server_work_us_per_req', '')} | {m.get('client_loop_busy', '')} | {m.get('foreign_cpu_s', '')} | "
                         f"{m['errors']:.0f} |")
        lines.append("")
    lines += best_peer_lines(med, rows_all, int((meta or {}).get("args", {}).get("cross_core_below") or 0))
    if pngs:
        lines += ["Plots: " + ", ".join(f"[{p}]({p})" for p in pngs), ""]
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(lines))


def paired_summary(out_dir):
    """harness.py --paired: its per-round ratios (paired.md) with each round's rates (paired.csv) as summary.md."""
    rows = load(os.path.join(out_dir, "paired.csv"))
    lines = ["# Paired rounds (harness.py --paired)", "",
             "Every memif server of a point warm at once, one running at a time, each round's transports seconds "
             "apart; req/s per round:", ""]
    names = list(dict.fromkeys(r["transport"] for r in rows))
    points = list(dict.fromkeys((int(r["size"]), int(r["concurrency"])) for r in rows))
    lines += ["| point | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for size, conc in points:
        cells = []
        for n in names:
            rs = [r for r in rows if r["transport"] == n and int(r["size"]) == size and int(r["concurrency"]) == conc]
            cells.append(" / ".join(f"{int(float(r['rps'])):,}" for r in sorted(rs, key=lambda r: int(r["round"]))))
        lines.append(f"| {size_label(size)}, {conc} | " + " | ".join(cells) + " |")
    lines.append("")
    with open(os.path.join(out_dir, "paired.md")) as f:
        lines += ["Ratios:", "", f.read()]
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(lines))
    print(f"report: {out_dir}/summary.md (paired rounds)")


def main(out_dir):
    rows = load(os.path.join(out_dir, "results.csv"))
    if not rows and os.path.exists(os.path.join(out_dir, "paired.md")):
        paired_summary(out_dir)
        return
    if not rows:
        print(f"report: no measurements in {out_dir}/results.csv")
        return
    med = medians(rows)
    cols = KEY + ["repeats"] + harness.NUMERIC + ["rps_min", "rps_max"]
    with open(os.path.join(out_dir, "medians.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(med)
    meta = None
    if os.path.exists(os.path.join(out_dir, "meta.json")):
        with open(os.path.join(out_dir, "meta.json")) as f:
            meta = json.load(f)
    pngs = plot(med, out_dir)
    summary(med, out_dir, meta, pngs, rows)
    print(f"report: {out_dir}/medians.csv, summary.md, {', '.join(pngs)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
