#!/usr/bin/env python3
"""The shard's uninterruptible blocks (prof_off.sh's perf script): each switch-out of the
thread COMM in state D until it runs again, by kernel stack, with who woke it.
Usage: dblocks.py SCRIPT.gz COMM"""
import collections, gzip, re, sys
comm = sys.argv[2]; recs = []; head = None; st = []
with gzip.open(sys.argv[1], "rt", errors="replace") as f:
    for line in f:
        if not line.strip():
            if head: recs.append((head, st))
            head = None; st = []; continue
        if head is None: head = line.rstrip(); continue
        p = line.split(None, 1); st.append(p[1].strip() if len(p) > 1 else "")
skip = ("__schedule", "schedule", "io_schedule", "schedule_preempt_disabled", "[unknown]")
pend = None; waker = None; agg = collections.defaultdict(list); wk = collections.defaultdict(collections.Counter)
for h, s in recs:
    m = re.search(r"^\s*(.+?)\s+\d+\s+\[\d+\]\s+(\d+\.\d+):\s+sched:(sched_\w+):\s+(.*)", h)
    if not m: continue
    who, t, ev, rest = m.group(1), float(m.group(2)), m.group(3), m.group(4)
    if ev == "sched_switch":
        if rest.startswith(f"prev_comm={comm} ") and "prev_state=D" in rest:
            pend = (t, " <- ".join(x for x in s if not x.startswith(skip))[:240]); waker = None
        elif pend and f"next_comm={comm} " in rest:
            agg[pend[1]].append((t - pend[0]) * 1e3); wk[pend[1]][waker or "?"] += 1; pend = None
    elif ev == "sched_wakeup" and pend and rest.startswith(f"comm={comm} "):
        waker = who
tot = sum(sum(v) for v in agg.values()); n = sum(len(v) for v in agg.values())
print(f"{comm}: {n} D blocks, {tot:.1f} ms; >= 1 ms: {sum(1 for v in agg.values() for d in v if d >= 1)}")
for k, v in sorted(agg.items(), key=lambda kv: -sum(kv[1]))[:10]:
    print(f"  {len(v):4d}x {sum(v):7.2f} ms (max {max(v):.2f})  {k}\n        woken by: " + ", ".join(f"{c} {x}x" for c, x in wk[k].most_common(3)))
