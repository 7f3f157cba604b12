#!/usr/bin/env python3
"""Sums ringqd's "long loop turn" lines (RINGQ_TURN_TRACE_MS, core/ev_trace.h) and the loop-stall
histograms of its /metrics: how many long turns, how much of them was preempted, and which parts
(completions by op kind, wake-up handlers, timers, hooks) held the on-CPU time.
    turns.py SERVER.LOG [SERVER.metrics]"""
import re, sys
from collections import Counter, defaultdict

def kv(line):
    return dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))

turns = []
for line in open(sys.argv[1], errors="replace"):
    if 'msg="long loop turn"' not in line:
        continue
    d = kv(line)
    parts = {}
    if d.get("parts", "-") != "-":
        for p in d["parts"].split(","):
            name, rest = p.split(":")
            n, ms = rest.split("/")
            parts[name] = (int(n), float(ms))
    pre = d.get("preempted_ms", "-")
    turns.append(dict(wall=float(d["wall_ms"]), pre=None if pre == "-" else float(pre),
                      parts=parts, max=d.get("max", "-"), max_bytes=int(d.get("max_bytes", 0)),
                      supp=int(d.get("suppressed", 0))))

print(f"long turns logged: {len(turns)} (suppressed by the line limit: {sum(t['supp'] for t in turns)})")
for lo in (2, 5):
    sel = [t for t in turns if t["wall"] >= lo]
    oncpu = [t for t in sel if t["pre"] is not None and t["wall"] - t["pre"] >= lo]
    print(f"  >= {lo} ms wall: {len(sel)}; of them >= {lo} ms on CPU (wall - preempted): {len(oncpu)}")
for label, sel in (("all logged", turns),
                   ("on-CPU >= 2 ms", [t for t in turns if t["pre"] is not None and t["wall"] - t["pre"] >= 2]),
                   ("on-CPU >= 5 ms", [t for t in turns if t["pre"] is not None and t["wall"] - t["pre"] >= 5])):
    if not sel:
        print(f"\n{label}: none")
        continue
    tot = defaultdict(float); cnt = Counter()
    for t in sel:
        for k, (n, ms) in t["parts"].items():
            tot[k] += ms; cnt[k] += n
    wall = sum(t["wall"] for t in sel); pre = sum(t["pre"] or 0 for t in sel)
    print(f"\n{label}: {len(sel)} turns, wall {wall:.1f} ms, preempted {pre:.1f} ms")
    for k, ms in sorted(tot.items(), key=lambda x: -x[1]):
        print(f"  {k:12s} {ms:9.2f} ms  ({cnt[k]} calls, {ms / wall * 100:5.1f} % of wall)")
    mx = Counter(t["max"].split("/")[0] for t in sel)
    print("  slowest single callback by part:", dict(mx.most_common()))
    big = sorted(sel, key=lambda t: -(t["wall"] - (t["pre"] or 0)))[:8]
    print("  largest on-CPU turns:")
    for t in big:
        ps = ", ".join(f"{k} {n}x {ms:.2f}" for k, (n, ms) in sorted(t["parts"].items(), key=lambda x: -x[1][1])[:5])
        print(f"    wall {t['wall']:.2f} pre {t['pre']} max {t['max']} ({t['max_bytes']} B): {ps}")

if len(sys.argv) > 2:
    def hist(name):
        b = {}
        for line in open(sys.argv[2]):
            m = re.match(name + r'_bucket\{le="([^"]+)"\} (\S+)', line)
            if m:
                b[m.group(1)] = float(m.group(2))
        return b
    print()
    for name in ("ringq_loop_stall_seconds", "ringq_loop_stall_oncpu_seconds",
                 "ringq_loop_stall_preempted_seconds"):
        b = hist(name)
        if not b:
            continue
        inf = b.get("+Inf", 0)
        print(f"{name}: count {inf:.0f}, > 1 ms {inf - b.get('0.001', 0):.0f}, > 5 ms {inf - b.get('0.005', 0):.0f}, "
              f"> 10 ms {inf - b.get('0.01', 0):.0f}, > 25 ms {inf - b.get('0.025', 0):.0f}")
