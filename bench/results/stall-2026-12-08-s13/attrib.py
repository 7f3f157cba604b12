#!/usr/bin/env python3
"""Attributes the long turns of a stall60.sh run (session 13). Inputs: the perf script text
(perf script -F sw:comm,tid,time,event,ip,sym -F trace:comm,tid,time,event,trace,ip,sym, gzip),
the server log (turn trace lines with cpu_ms / blocked_ms) and the .clock file (realtime minus
monotonic, to put the log's timestamps on perf's CLOCK_MONOTONIC).
  1. the shard's switch-outs that are not plain sleeps (R: preempted; D: blocked uninterruptibly),
     each until the shard's next sample, by state and kernel stack, with who got the CPU;
  2. for every logged turn whose cpu part >= CPU_MS or blocked part >= BLK_MS: the shard's
     cpu-clock samples (1 ms) inside it, by their stacks' frames, and its switch-outs.
Usage: attrib.py SCRIPT.gz LOG CLOCK [CPU_MS=3] [BLK_MS=1]"""
import collections, datetime, gzip, re, sys
spath, lpath, cpath = sys.argv[1:4]
cpu_ms = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
blk_ms = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
off = float(open(cpath).read().split()[1])
recs = []; head = None; st = []
with gzip.open(spath, "rt", errors="replace") as f:
    for line in f:
        if not line.strip():
            if head: recs.append((head, st))
            head = None; st = []; continue
        if head is None: head = line.rstrip(); continue
        p = line.split(None, 1); st.append(p[1].strip() if len(p) > 1 else "?")
if head: recs.append((head, st))
hx = re.compile(r"^\s*(\S.*?)\s+(\d+)\s+(\d+\.\d+):\s+(\S+):\s*(.*)$")
samples = []; switches = []
for h, s in recs:
    m = hx.match(h)
    if not m: continue
    comm, tid, t, ev, rest = m.group(1), m.group(2), float(m.group(3)), m.group(4), m.group(5)
    if not comm.startswith("ringqd"): continue
    if ev.startswith("cpu-clock"): samples.append((t, s))
    elif "sched_switch" in ev:
        sm = re.search(r"prev_state=(\S+) ==> next_comm=(.+?) next_pid", rest)
        if sm: switches.append((t, sm.group(1), sm.group(2), s))
samples.sort(key=lambda x: x[0]); stimes = [x[0] for x in samples]
import bisect
skip = ("__schedule", "schedule", "preempt_schedule", "[unknown]", "__cond_resched", "_cond_resched")
def key(stk, n=8): return " <- ".join(x for x in stk if not x.startswith(skip))[:300] if n else ""
print(f"shard samples {len(samples)}, non-sleep switch-outs {len(switches)}")
agg = collections.defaultdict(lambda: [0, 0.0, 0.0, collections.Counter()])
for t, state, nxt, stk in switches:
    i = bisect.bisect_right(stimes, t); d = (stimes[i] - t) * 1e3 if i < len(stimes) else 0
    if d < 0.5: continue
    k = state + " " + " <- ".join(x for x in stk[:10] if not x.startswith(skip))[:260]
    a = agg[k]; a[0] += 1; a[1] += d; a[2] = max(a[2], d); a[3][nxt] += d
print("1. switch-outs >= 0.5 ms until the shard's next sample (R preempted, D blocked), by stack:")
for k, a in sorted(agg.items(), key=lambda kv: -kv[1][1])[:14]:
    print(f"  {a[0]:4d}x {a[1]:8.1f} ms (max {a[2]:.1f})  {k}\n        CPU to: " + ", ".join(f"{c} {v:.1f} ms" for c, v in a[3].most_common(4)))
rx = re.compile(r'ts=(\S+)Z .*wall_ms=([\d.]+) preempted_ms=([\d.-]+) cpu_ms=([\d.-]+) blocked_ms=([\d.-]+) parts=(\S+) max=(\S+)')
print(f"2. turns with cpu >= {cpu_ms} ms or blocked >= {blk_ms} ms:")
for line in open(lpath, errors="replace"):
    m = rx.search(line)
    if not m or m.group(4) == "-": continue
    w, p, c, b = (float(m.group(i)) for i in (2, 3, 4, 5))
    if c < cpu_ms and b < blk_ms: continue
    end = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp() - off
    t0 = end - w / 1e3 - 0.002; t1 = end + 0.002  # the log's ms timestamps: 2 ms of slack
    inside = [s for t, s in samples if t0 <= t <= t1]
    sw = [(t, st_, n) for t, st_, n, _ in switches if t0 <= t <= t1]
    fr = collections.Counter()
    for s in inside:
        for x in set(y for y in s if not y.startswith(skip)): fr[x] += 1
    print(f"  {m.group(1)} wall {w:.2f} pre {p:.2f} cpu {c:.2f} blocked {b:.2f} max={m.group(7)} parts={m.group(6)}")
    print(f"    {len(inside)} samples; frames in most: " + ", ".join(f"{x} {n}" for x, n in fr.most_common(14)))
    if sw: print("    switch-outs: " + ", ".join(f"{st_}->{n}" for t, st_, n in sw[:8]))
