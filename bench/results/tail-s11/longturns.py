#!/usr/bin/env python3
"""Reads `perf script -F tid,time,ip,sym` of ringqd (cpu-clock samples every 250 us of CPU, with
call stacks) and finds the stretches of >= 2 ms where consecutive samples of one thread all ran
under the mesh hook (wk_mesh_poll*): the long mesh-hook turns. For each stretch, the frames
that appear in most of its samples (the handler and what it called), and over all stretches the
leaf functions.
    longturns.py SCRIPT.txt [MIN_SAMPLES]"""
import re, sys
from collections import Counter

MIN = int(sys.argv[2]) if len(sys.argv) > 2 else 8
samples = []  # (tid, t, [frames leaf first])
cur = None
for line in open(sys.argv[1], errors="replace"):
    if not line.strip():
        if cur: samples.append(cur)
        cur = None
        continue
    m = re.match(r'\s*(\d+)\s+([\d.]+):\s*$', line)
    if m:
        if cur: samples.append(cur)
        cur = (int(m[1]), float(m[2]), [])
        continue
    m = re.match(r'\s*([0-9a-f]+)\s+(\S+)', line)
    if m and cur is not None:
        cur[2].append(re.sub(r'\+0x[0-9a-f]+$', '', m[2]))
if cur: samples.append(cur)

def in_mesh(fr):
    return any(f.startswith("wk_mesh_poll") for f in fr)

by_tid = {}
for s in samples: by_tid.setdefault(s[0], []).append(s)
stretches = []
for tid, ss in by_tid.items():
    ss.sort(key=lambda s: s[1])
    run = []
    for s in ss:
        if in_mesh(s[2]) and (not run or s[1] - run[-1][1] <= 0.0006):
            run.append(s)
        else:
            if len(run) >= MIN: stretches.append((tid, run))
            run = [s] if in_mesh(s[2]) else []
    if len(run) >= MIN: stretches.append((tid, run))

print(f"samples {len(samples)}; stretches of >= {MIN} consecutive mesh-hook samples: {len(stretches)}")
leaf = Counter()
for tid, run in stretches:
    c = Counter()
    for s in run:
        for f in set(s[2]): c[f] += 1
        leaf[s[2][0] if s[2] else "?"] += 1
    span = (run[-1][1] - run[0][1]) * 1000
    print(f"\n== tid {tid} at {run[0][1]:.3f}: {len(run)} samples over {span:.1f} ms")
    for f, n in c.most_common(40):
        if n >= len(run) * 0.3: print(f"  {n:4d}/{len(run)}  {f}")
print("\nleaf functions over all stretches:")
for f, n in leaf.most_common(25): print(f"  {n:5d}  {f}")
