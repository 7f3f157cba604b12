#!/usr/bin/env python3
"""The server's wake-up delays from ab.sh's perf data (sched_wakeup + sched_switch, all CPUs):
for every wake-up of a ringqd thread named like the shard (comm starting 'ringqd'), the time
until it is switched in, and who held its CPU meanwhile (the task switched out for it).
Usage: wakes.py PERF.data [...]  (one line per file)"""
import collections, re, subprocess, sys
for f in sys.argv[1:]:
    out = subprocess.run(["perf", "script", "-i", f], capture_output=True, text=True).stdout
    woke = {}; delays = []; by = collections.Counter(); byn = collections.Counter()
    for line in out.splitlines():
        m = re.search(r"\s(\d+\.\d+):\s+sched:(sched_\w+):\s+(.*)", line)
        if not m: continue
        t, ev, rest = float(m.group(1)), m.group(2), m.group(3)
        if ev == "sched_wakeup":
            w = re.search(r"comm=(\S+) pid=(\d+)", rest)
            if w and w.group(1).startswith("ringqd"): woke.setdefault(w.group(2), t)
        else:
            s = re.search(r"prev_comm=(.+?) prev_pid=(\d+) .*next_comm=(.+?) next_pid=(\d+)", rest)
            if not s: continue
            nxt = s.group(4)
            if nxt in woke:
                d = (t - woke.pop(nxt)) * 1e3; delays.append(d)
                if d >= 0.5: by[s.group(1)] += d; byn[s.group(1)] += 1
    delays.sort(); n = len(delays)
    q = lambda p: delays[min(n - 1, int(p * n))] if n else 0
    print(f"{f.split('/')[-1]}: {n} wake-ups, p99 {q(0.99):.3f} ms, max {q(1.0):.2f} ms, >=0.5 ms {sum(1 for d in delays if d >= 0.5)}, >=1 ms {sum(1 for d in delays if d >= 1)}, >=2 ms {sum(1 for d in delays if d >= 2)}; held by (>=0.5 ms): "
          + ", ".join(f"{c} {byn[c]}x {v:.1f} ms" for c, v in by.most_common(5))
          + "; rt_bg's threads in all: " + ", ".join(f"{c} {byn[c]}x {by[c]:.1f} ms" for c in ("ringq-bg", "ringq-bg-sync")))
