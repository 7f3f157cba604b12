#!/usr/bin/env python3
"""The stall histograms over a run's window (/metrics after the warm-up and after the run):
turns, turns over 5 ms, and the long turns' parts (oncpu, preempted, cpu, blocked: count over
5 ms and sum). Usage: window.py BEFORE.metrics AFTER.metrics"""
import re, sys
def load(p):
    d = {}
    for line in open(p):
        m = re.match(r'(ringq_loop_stall\w*?)_(bucket|sum|count)(\{le="([^"]+)"\})? (\S+)', line)
        if m: d[(m.group(1), m.group(2), m.group(4))] = float(m.group(5))
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
for name in ("ringq_loop_stall_seconds", "ringq_loop_stall_preempted_seconds", "ringq_loop_stall_oncpu_seconds",
             "ringq_loop_stall_cpu_seconds", "ringq_loop_stall_blocked_seconds"):
    if (name, "count", None) not in b: print(f"{name}: absent"); continue
    g = lambda k, le=None: b.get((name, k, le), 0) - a.get((name, k, le), 0)
    n = g("count"); over5 = n - g("bucket", "0.005"); over1 = n - g("bucket", "0.001")
    print(f"{name}: {n:.0f} obs, >1 ms {over1:.0f}, >5 ms {over5:.0f}, >10 ms {n - g('bucket', '0.01'):.0f}, sum {g('sum') * 1e3:.1f} ms")
