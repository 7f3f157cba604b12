#!/usr/bin/env python3
"""Inclusive sample counts of chosen frames in one task's cpu-clock samples (perf script, gzip).
Usage: incl.py SCRIPT.gz COMM FRAME..."""
import gzip, sys
path, comm, frames = sys.argv[1], sys.argv[2], sys.argv[3:]
tot = 0; hit = {f: 0 for f in frames}
def flush(head, st):
    global tot
    if head is None or "cpu-clock" not in head or not head.startswith(comm): return
    tot += 1
    for f in frames:
        if any(f == s or s.startswith(f + "+") for s in st): hit[f] += 1
head, st = None, []
with gzip.open(path, "rt", errors="replace") as fh:
    for line in fh:
        if not line.strip():
            flush(head, st); head, st = None, []; continue
        if head is None: head = line; continue
        p = line.split(None, 1); st.append(p[1].strip() if len(p) > 1 else "")
flush(head, st)
print(f"{comm}: {tot} samples")
for f in frames: print(f"  {hit[f]:7d} {100*hit[f]/max(tot,1):5.1f} %  {f}")
