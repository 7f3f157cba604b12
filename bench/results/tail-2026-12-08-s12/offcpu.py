#!/usr/bin/env python3
"""Where the shard blocks (prof_off.sh's perf script): each switch-out of the shard thread (comm
starting 'ringqd', the process's main thread) with prev_state D (uninterruptible: a lock, a page,
I/O), how long until it ran again, and its kernel stack; summed by the stack's deepest frames.
Usage: offcpu.py SCRIPT.gz [MIN_MS]"""
import collections, gzip, re, sys
path = sys.argv[1]; mn = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
recs = []; head = None; st = []
def flush():
    if head: recs.append((head, st[:]))
with gzip.open(path, "rt", errors="replace") as f:
    for line in f:
        if not line.strip(): flush(); head = None; st = []; continue
        if head is None: head = line.rstrip(); continue
        p = line.split(None, 1); st.append(p[1].strip() if len(p) > 1 else "")
flush()
out = {}  # tid -> (t, state, stack)
blocks = []
for h, s in recs:
    m = re.search(r"\s(\d+\.\d+):\s+sched:sched_switch:\s+prev_comm=(.+?) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.+?) next_pid=(\d+)", h)
    if not m: continue
    t = float(m.group(1))
    if m.group(2).startswith("ringqd"): out[m.group(3)] = (t, m.group(4), s)
    nxt = m.group(6)
    if nxt in out:
        t0, state, stk = out.pop(nxt)
        blocks.append(((t - t0) * 1e3, state, stk, t0))
tot = collections.Counter(); cnt = collections.Counter(); mx = collections.Counter(); ex = {}
for d, state, stk, t0 in blocks:
    if d < mn: continue
    key = state + " " + " <- ".join(x for x in stk[:12] if not x.startswith(("__schedule", "schedule", "[unknown]")))[:400]
    tot[key] += d; cnt[key] += 1; mx[key] = max(mx[key], d)
n_all = sum(1 for b in blocks if b[0] >= mn)
print(f"switch-outs of ringqd threads off CPU >= {mn} ms: {n_all}; by state and stack:")
for k, v in tot.most_common(15):
    print(f"  {cnt[k]:4d}x {v:8.1f} ms (max {mx[k]:.1f})  {k}")
