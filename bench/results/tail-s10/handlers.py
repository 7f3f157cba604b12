#!/usr/bin/env python3
"""perf script (-F tid,time,ip,sym) on stdin: the busiest thread's samples, split by the loop
phase they ran in (hook: the function under ev_loop_run_once's hooks; completion: the callback
under dispatch) and, under wk_mesh_poll_for, by the mesh handler (the frame it called)."""
import sys, collections
samples = []
cur = None
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        if cur: samples.append(cur)
        cur = None
        continue
    if cur is None:
        parts = line.split()
        cur = {"tid": int(parts[0]), "stack": []}
    else:
        p = line.split()
        cur["stack"].append(p[1] if len(p) > 1 else "?")
if cur: samples.append(cur)
tids = collections.Counter(s["tid"] for s in samples)
busy = tids.most_common(1)[0][0]
sh = [s["stack"] for s in samples if s["tid"] == busy]
print(f"threads (samples of 250 us): {dict(tids)}; shard {busy}: {len(sh)} samples")
def under(stack, fn):
    """the frame called by fn (toward the leaf), or None"""
    if fn not in stack: return None
    i = stack.index(fn)
    return stack[i - 1] if i > 0 else fn
mesh = collections.Counter(); phase = collections.Counter(); cb = collections.Counter()
for st in sh:
    if "wk_mesh_poll_for" in st:
        phase["mesh poll (hook or wake)"] += 1
        mesh[under(st, "wk_mesh_poll_for")] += 1
    elif "dispatch" in st or "run_batch" in st:
        phase["completion callbacks"] += 1
        cb[under(st, "dispatch") or "?"] += 1
    elif "ev_timers_run" in st:
        phase["timers"] += 1
    elif "ev_loop_run_once" in st:
        phase["loop: hooks, submit, wait"] += 1
    else:
        phase["other"] += 1
print("by phase:", ", ".join(f"{k} {v} ({v * 100 / len(sh):.0f} %)" for k, v in phase.most_common()))
print("mesh handlers:")
for k, v in mesh.most_common(15):
    print(f"  {k:40s} {v:6d}  {v * 100 / len(sh):5.1f} %")
print("completion callbacks:")
for k, v in cb.most_common(10):
    print(f"  {k:40s} {v:6d}  {v * 100 / len(sh):5.1f} %")
