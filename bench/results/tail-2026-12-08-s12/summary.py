#!/usr/bin/env python3
"""Summary of an ab.sh directory: per run the e2e p99 / p99.9, late sends (cap share), server CPU
per task, shard turns over 5 ms (wall, on CPU, waiting for a CPU: whole life), the enqueue append
and work send stage p99, and from the perf sched_switch data (PDIR/TAG.data, if any) who held CPU
0 besides ringqd: ringq-bg-sync's runs >= 1 ms and longest, other tasks' runs >= 1 ms.
Usage: summary.py DIR [PDIR]"""
import collections, glob, json, os, re, subprocess, sys
d = sys.argv[1]; pdir = sys.argv[2] if len(sys.argv) > 2 else "/tmp/s12tail/perf"
def hist(metrics, name, labels=""):
    b = []
    for line in open(metrics):
        if line.startswith(name + "_bucket{") and labels in line:
            le = re.search(r'le="([^"]+)"', line).group(1)
            b.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    return sorted(b)
def over(b, x):
    tot = b[-1][1] if b else 0
    below = max((c for le, c in b if le <= x + 1e-12), default=0)
    return int(tot - below)
def q(b, p):
    if not b: return float("nan")
    tot = b[-1][1]; want = p * tot; prev_le, prev_c = 0.0, 0.0
    for le, c in b:
        if c >= want:
            if le == float("inf"): return prev_le
            return prev_le + (le - prev_le) * (want - prev_c) / max(c - prev_c, 1e-9)
        prev_le, prev_c = le, c
    return prev_le
def sched(tag):
    f = os.path.join(pdir, tag + ".data")
    if not os.path.exists(f): return None
    out = subprocess.run(["perf", "script", "-i", f, "-F", "comm,cpu,time"], capture_output=True, text=True).stdout
    ev = []
    for line in out.splitlines():
        h = line.split()
        if len(h) < 3: continue
        i = next((k for k, t in enumerate(h) if t.startswith("[")), None)
        if i is None: continue
        ev.append((float(h[i + 1].rstrip(":")), " ".join(h[:i])))
    ev.sort(); runs = collections.defaultdict(list)
    for (t0, _), (t1, c) in zip(ev, ev[1:]): runs[c].append((t1 - t0) * 1e3)
    bg = runs.get("ringq-bg-sync", []) + runs.get("ringq-bg", [])
    oth = [x for c, r in runs.items() if not c.startswith(("ringqd", "swapper", "ringq-bg")) for x in r]
    return (sum(1 for x in bg if x >= 1), max(bg, default=0), sum(bg),
            sum(1 for x in oth if x >= 1), sum(oth))
print("| run | p99 ms | p99.9 ms | late % (cap) | srv us/task | turns >5 ms (on CPU / waiting) | append p99 us | work send p99 us | bg runs >=1 ms, longest, total ms | others' runs >=1 ms, total ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
for j in sorted(glob.glob(os.path.join(d, "*.json")), key=lambda p: (p.split("/")[-1].split("-")[0], p.split("-")[-1], p)):
    tag = os.path.basename(j)[:-5]; r = json.load(open(j)); m = j[:-5] + ".metrics"
    lat = r["latency_us"]
    st = hist(m, "ringq_loop_stall_seconds"); on = hist(m, "ringq_loop_stall_oncpu_seconds"); pr = hist(m, "ringq_loop_stall_preempted_seconds")
    ap = hist(m, "ringq_stage_seconds", 'stage="append"'); ws = hist(m, "ringq_stage_seconds", 'op="work",stage="send"')
    s = sched(tag); ss = f"{s[0]}, {s[1]:.2f}, {s[2]:.0f} | {s[3]}, {s[4]:.0f}" if s else "- | -"
    print(f"| {tag} | {lat['p99']/1e3:.2f} | {lat['p999']/1e3:.2f} | {100*r['late_share']:.2f} ({100*r['late_cap_share']:.2f}) | {r['server_cpu_us_per_task']:.2f} | {over(st,0.005)} ({over(on,0.005)} / {over(pr,0.005)}) | {q(ap,0.99)*1e6:.0f} | {q(ws,0.99)*1e6:.0f} | {ss} |")
