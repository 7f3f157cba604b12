#!/usr/bin/env python3
"""One line per run of ab.sh: offered/achieved rate, latency percentiles, late sends, both
processes' CPU, each stage's p99 from the server's /metrics (ms; bucket upper bound), and the
long loop turns (RINGQ_TURN_TRACE_MS lines: wall >= 2 ms, on CPU >= 2 ms and >= 5 ms).
    summary.py OUTDIR"""
import glob, json, os, re, sys
from collections import defaultdict

def hist_p(metrics, q):
    """stage -> (count, p-quantile upper bound in ms) from ringq_stage_seconds and the stall
    histogram."""
    b = defaultdict(list)
    for line in open(metrics, errors="replace"):
        m = re.match(r'ringq_stage_seconds_bucket\{op="(\w+)",stage="(\w+)",le="([^"]+)"\} (\d+)', line)
        if m:
            b[f"{m[1][0]}.{m[2]}"].append((float("inf") if m[3] == "+Inf" else float(m[3]), int(m[4])))
            continue
        m = re.match(r'ringq_loop_stall_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)', line)
        if m:
            b["stall"].append((float("inf") if m[1] == "+Inf" else float(m[1]), int(m[2])))
    out = {}
    for k, v in b.items():
        v.sort()
        tot = v[-1][1]
        if not tot: continue
        for le, c in v:
            if c >= q * tot:
                out[k] = (tot, le * 1000)
                break
    return out

def turns(log):
    t = []
    for line in open(log, errors="replace"):
        if 'msg="long loop turn"' not in line: continue
        d = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
        wall = float(d["wall_ms"]); pre = d.get("preempted_ms", "-")
        pre = 0.0 if pre == "-" else float(pre)
        t.append((wall, wall - pre, d.get("max", "-")))
    return t

out = sys.argv[1]
print("| run | offered/s | achieved/s | p50 ms | p99 ms | p99.9 ms | late % (cap %) | gen CPU | srv µs/task | turns ≥2 ms wall / ≥2 on CPU / ≥5 on CPU | largest on-CPU turn (slowest part) | stage p99 ms |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---|---|---|")
for j in sorted(glob.glob(os.path.join(out, "*.json"))):
    tag = os.path.basename(j)[:-5]
    try:
        d = json.load(open(j))
    except Exception:
        continue
    L = d.get("latency_us", {})
    tt = turns(os.path.join(out, tag + ".log")) if os.path.exists(os.path.join(out, tag + ".log")) else []
    big = max(tt, key=lambda x: x[1]) if tt else None
    st = hist_p(os.path.join(out, tag + ".metrics"), 0.99) if os.path.exists(os.path.join(out, tag + ".metrics")) else {}
    stages = " ".join(f"{k}:{v[1]:g}" for k, v in sorted(st.items()) if k != "stall")
    rate = d["config"].get("rate") or 0
    tps = d.get("tasks_per_s") or d.get("ops_per_s") or 0
    print(f"| {tag} | {rate:,.0f} | {tps:,.0f} | {L.get('p50', 0)/1000:.2f} | {L.get('p99', 0)/1000:.2f} | "
          f"{L.get('p999', 0)/1000:.2f} | {100*d.get('late_share', 0):.1f} ({100*d.get('late_cap_share', 0):.1f}) | "
          f"{100*d.get('client_cpu_util', 0):.0f} % | {d.get('server_cpu_us_per_task', 0):.2f} | "
          f"{sum(1 for w in tt if w[0] >= 2)} / {sum(1 for w in tt if w[1] >= 2)} / {sum(1 for w in tt if w[1] >= 5)} | "
          f"{'%.1f ms (%s)' % (big[1], big[2]) if big else '-'} | {stages} |")
