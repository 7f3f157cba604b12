#!/usr/bin/env python3
"""One table of an A/B directory (ab.sh): per run, the open-loop figures from ringq-bench's JSON
and the loop stalls from the /metrics saved beside it.
    summary.py RESULTS_DIR"""
import glob, json, os, re, sys

def over(path, name, le):
    if not os.path.exists(path):
        return None
    b = {}
    for line in open(path):
        m = re.match(name + r'_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            b[m.group(1)] = b.get(m.group(1), 0) + float(m.group(2))
    return int(b.get("+Inf", 0) - b.get(le, 0)) if b else None

def largest(path, name):
    if not os.path.exists(path):
        return "-"
    b = []
    for line in open(path):
        m = re.match(name + r'_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            b.append((m.group(1), float(m.group(2))))
    prev, big = 0, "-"
    for le, c in b:
        if c > prev:
            big = le
        prev = c
    return big

rows = []
for j in sorted(glob.glob(os.path.join(sys.argv[1], "*", "raw", "*.json"))):
    run = j.split(os.sep)[-3]
    point = os.path.basename(j)[:-5]
    if not (point.startswith("open") or point.startswith("stall")):
        continue
    d = json.load(open(j))
    lat = d["latency_us"]
    m = j[:-5] + ".metrics"
    rows.append((point, run, d["tasks_per_s"], lat.get("p50", 0) / 1e3, lat.get("p99", 0) / 1e3,
                 lat.get("p999", lat.get("p99.9", 0)) / 1e3, d.get("late_sends", 0),
                 over(m, "ringq_loop_stall_seconds", "0.001"), over(m, "ringq_loop_stall_seconds", "0.005"),
                 over(m, "ringq_loop_stall_oncpu_seconds", "0.005"),
                 over(m, "ringq_loop_stall_preempted_seconds", "0.005"),
                 largest(m, "ringq_loop_stall_oncpu_seconds")))
print("| point | run | tasks/s | p50 ms | p99 ms | p99.9 ms | late | turns >1 ms | >5 ms | on-CPU >5 ms | preempted >5 ms | largest on-CPU bucket (s) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in sorted(rows):
    print("| %s | %s | %.0f | %.2f | %.2f | %.2f | %d | %s | %s | %s | %s | %s |" % r)
