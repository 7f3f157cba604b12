#!/usr/bin/env python3
"""Long loop turns of a ringqd log written with RINGQ_TURN_TRACE_MS (cpu_ms / blocked_ms lines,
session 13): how many, and which part dominates each: preempted (run delay), cpu (the thread's run
time) or blocked (asleep in a call); the sums; and the turns whose cpu or blocked part alone
reaches MIN_MS, with their parts. Usage: turns.py LOG [MIN_MS=5]"""
import collections, re, sys
path = sys.argv[1]; mn = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
rx = re.compile(r'ts=(\S+) .*wall_ms=([\d.]+) preempted_ms=([\d.-]+) cpu_ms=([\d.-]+) blocked_ms=([\d.-]+) parts=(\S+) max=(\S+) max_bytes=(\d+) suppressed=(\d+)')
turns = []
for line in open(path, errors="replace"):
    m = rx.search(line)
    if m and m.group(3) != "-" and m.group(4) != "-":
        turns.append((m.group(1), float(m.group(2)), float(m.group(3)), float(m.group(4)), float(m.group(5)), m.group(6), m.group(7), int(m.group(9))))
supp = sum(t[7] for t in turns)
dom = collections.Counter(); tot = collections.Counter()
for ts, w, p, c, b, parts, mx, s in turns:
    k = max((("preempted", p), ("cpu", c), ("blocked", b)), key=lambda x: x[1])[0]
    dom[k] += 1
    tot["wall"] += w; tot["preempted"] += p; tot["cpu"] += c; tot["blocked"] += b
n = len(turns)
print(f"{path.split('/')[-1]}: {n} turns logged (+{supp} suppressed by the 20 lines/s limit)")
if n:
    print(f"  dominant part: " + ", ".join(f"{k} {v} ({100*v/n:.0f} %)" for k, v in dom.most_common()))
    print(f"  sums: wall {tot['wall']:.1f} ms = preempted {tot['preempted']:.1f} + cpu {tot['cpu']:.1f} + blocked {tot['blocked']:.1f}")
    print(f"  largest: wall {max(t[1] for t in turns):.2f} ms, cpu {max(t[3] for t in turns):.2f} ms, blocked {max(t[4] for t in turns):.2f} ms")
    for lab, i in (("cpu", 3), ("blocked", 4)):
        big = [t for t in turns if t[i] >= mn]
        print(f"  turns with {lab} >= {mn} ms: {len(big)}")
        for t in sorted(big, key=lambda t: -t[i])[:10]:
            print(f"    {t[0]} wall {t[1]:.2f} pre {t[2]:.2f} cpu {t[3]:.2f} blocked {t[4]:.2f} max={t[6]} parts={t[5]}")
    for lab, i in (("cpu", 3), ("blocked", 4)):
        mid = [t for t in turns if 1.0 <= t[i] < mn]
        print(f"  turns with 1 ms <= {lab} < {mn} ms: {len(mid)}")
