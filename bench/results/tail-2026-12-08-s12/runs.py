#!/usr/bin/env python3
"""Runs on one CPU from sched_switch events (perf script of prof_all.sh, gzip): each switch event
ends a run of the task it names; prints per task the CPU time, runs, runs >= 1 ms and the longest,
and the longest stretches other tasks held the CPU back to back (no idle between) while the
server was off it. Usage: runs.py SCRIPT.gz CPU [SERVER-COMM]"""
import collections, gzip, sys
path, cpu = sys.argv[1], "%03d" % int(sys.argv[2])
server = sys.argv[3] if len(sys.argv) > 3 else "ringqd"
ev = []
with gzip.open(path, "rt", errors="replace") as fh:
    for line in fh:
        if "sched:sched_switch" in line and not line.startswith(("\t", " ")):
            h = line.split()
            i = next(k for k, t in enumerate(h) if t.startswith("[") and t.endswith("]"))
            if h[i][1:-1] != cpu: continue
            ev.append((float(h[i + 1].rstrip(":")), " ".join(h[:i - 1])))
ev.sort()
tot = collections.Counter(); n = collections.Counter(); big = collections.Counter(); mx = collections.Counter()
busy = []  # stretches of non-server, non-idle runs back to back
cur = None
for (t0, _), (t1, comm) in zip(ev, ev[1:]):
    d = (t1 - t0) * 1e3
    tot[comm] += d; n[comm] += 1; mx[comm] = max(mx[comm], d)
    if d >= 1: big[comm] += 1
    if comm != server and not comm.startswith("swapper"):
        if cur and abs(cur[1] - t0) < 1e-9: cur[1] = t1; cur[2].append((comm, d))
        else:
            if cur: busy.append(cur)
            cur = [t0, t1, [(comm, d)]]
    else:
        if cur: busy.append(cur); cur = None
span = (ev[-1][0] - ev[0][0]) * 1e3
print(f"CPU {cpu}: {span:.0f} ms of switch events")
for c, d in tot.most_common(15):
    print(f"  {c:20s} {d:8.1f} ms  runs {n[c]:6d}  >=1 ms {big[c]:4d}  longest {mx[c]:6.2f} ms")
busy.sort(key=lambda b: b[0] - b[1])
print("longest stretches of other tasks back to back:")
for b in busy[:12]:
    agg = collections.Counter()
    for c, d in b[2]: agg[c] += d
    print(f"  at {b[0]:.3f} {1e3 * (b[1] - b[0]):6.2f} ms: " + ", ".join(f"{c} {d:.2f}" for c, d in agg.most_common(4)))
