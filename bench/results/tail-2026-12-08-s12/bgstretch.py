#!/usr/bin/env python3
"""Stretches of >= MIN ms of consecutive cpu-clock samples (250 us apart) of one task on CPU 0 in
prof_all.sh's perf script, and the frames most common in them. Usage: bgstretch.py SCRIPT.gz COMM [MIN]"""
import collections, gzip, sys
path, comm = sys.argv[1], sys.argv[2]; mn = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
recs = []; head = None; st = []
def flush():
    if head and "cpu-clock" in head:
        h = head.split(); i = next(k for k, t in enumerate(h) if t.startswith("["))
        if h[i] == "[000]": recs.append((float(h[i + 1].rstrip(":")), " ".join(h[:i - 1]), st[:]))
with gzip.open(path, "rt", errors="replace") as f:
    for line in f:
        if not line.strip(): flush(); head = None; st = []; continue
        if head is None: head = line; continue
        p = line.split(None, 1); st.append(p[1].strip() if len(p) > 1 else "")
flush(); recs.sort()
runs = []; cur = []
for r in recs:
    if r[1] == comm and cur and r[0] - cur[-1][0] < 0.0004: cur.append(r)
    else:
        if len(cur) * 0.25 >= mn: runs.append(cur)
        cur = [r] if r[1] == comm else []
if len(cur) * 0.25 >= mn: runs.append(cur)
print(f"{comm}: {len(runs)} stretches >= {mn} ms")
frames = collections.Counter(); leafs = collections.Counter(); tot = 0
for run in runs:
    for _, _, s in run:
        tot += 1; leafs[s[0] if s else "?"] += 1
        for fr in set(s): frames[fr] += 1
for run in runs[:10]: print(f"  at {run[0][0]:.3f}: {len(run) * 0.25:.2f} ms")
print("frames in the stretches' samples (inclusive):")
for fr, n in frames.most_common(40): print(f"  {n:5d}/{tot} {fr}")
print("leaf:")
for fr, n in leafs.most_common(12): print(f"  {n:5d}/{tot} {fr}")
