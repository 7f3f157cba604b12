#!/usr/bin/python3
"""One line per run of the A/B (ab.sh): generator figures from its JSON, the shard's loop turns
from its /metrics. Usage: summary.py DIR (reads DIR/*.json with a .metrics beside each)."""
import glob
import json
import os
import sys


def hist(metrics, name):
    b = {}
    for line in metrics.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            b[float("inf") if le == "+Inf" else float(le)] = int(float(line.split()[-1]))
    return b


def over(b, bound):
    """Observations above `bound` seconds (a bucket bound)."""
    return (b.get(float("inf"), 0) - b.get(bound, 0)) if b else 0


def largest(b):
    prev, last = 0, None
    for le in sorted(b):
        if b[le] > prev:
            last = le
        prev = b[le]
    return last


def ms(v):
    return "%.2f" % (v / 1000.0)


print("| run | achieved/s | p50 ms | p99 ms | p99.9 ms | late | server us/task | turns | >1 ms | >5 ms | on-CPU >5 ms | preempted >5 ms | largest turn (s, bucket) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    d = json.load(open(f))
    m = open(f[:-5] + ".metrics").read() if os.path.exists(f[:-5] + ".metrics") else ""
    st = hist(m, "ringq_loop_stall_seconds")
    on = hist(m, "ringq_loop_stall_oncpu_seconds")
    pre = hist(m, "ringq_loop_stall_preempted_seconds")
    lat = d["latency_us"]
    cpu = d.get("server_cpu_us_per_task", d.get("server_us_per_task", ""))
    if isinstance(cpu, float):
        cpu = "%.1f" % cpu
    print("| %s | %.0f | %s | %s | %s | %d | %s | %d | %d | %d | %d | %d | %s |" % (
        os.path.basename(f)[:-5], d["tasks_per_s"], ms(lat["p50"]), ms(lat["p99"]), ms(lat["p999"]),
        d.get("late_sends", 0), cpu, st.get(float("inf"), 0), over(st, 0.001), over(st, 0.005),
        over(on, 0.005), over(pre, 0.005), largest(st)))
