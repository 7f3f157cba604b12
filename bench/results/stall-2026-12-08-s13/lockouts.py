#!/usr/bin/env python3
"""The shard's switch-outs that involve rt_bg's mutex (prof_off.sh's perf script, every CPU):
switch-outs of a ringqd thread whose stack (kernel + user) has a futex or glibc lock frame
(futex_wait, __lll_lock_wait, __lll_lock_wake, pthread_mutex_lock, pthread_cond_*, and glibc's
syscall(), through which rt_bg.c makes its FUTEX_WAKE), by state
(S: blocked on the lock; R: preempted right after waking a waiter), with the time until the
thread ran again. Usage: lockouts.py SCRIPT.gz [COMM_PREFIX=ringqd]"""
import collections, gzip, re, sys
recs = []; head = None; st = []
with gzip.open(sys.argv[1], "rt", errors="replace") as f:
    for line in f:
        if not line.strip():
            if head: recs.append((head, st))
            head = None; st = []; continue
        if head is None: head = line.rstrip(); continue
        p = line.split(None, 1); st.append(p[1].strip() if len(p) > 1 else "")
pref = sys.argv[2] if len(sys.argv) > 2 else "ringqd"
out = {}; res = collections.defaultdict(list); who = collections.defaultdict(collections.Counter); n_shard = 0
lock = re.compile(r"futex|lll_lock|pthread_mutex|pthread_cond|rt_bg_|^syscall$")
for h, s in recs:
    m = re.search(r"\s(\d+\.\d+):\s+sched:sched_switch:\s+prev_comm=(.+?) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.+?) next_pid=(\d+)", h)
    if not m: continue
    t = float(m.group(1))
    if m.group(2).startswith(pref):
        n_shard += 1
        hits = [x for x in s if lock.search(x)]
        if hits: out[m.group(3)] = (t, m.group(4), hits[0], m.group(5))
    nxt = m.group(6)
    if nxt in out:
        t0, state, frame, to = out.pop(nxt)
        res[(state, frame)].append((t - t0) * 1e3); who[(state, frame)][to] += 1
print(f"{sys.argv[1].split('/')[-1]}: {n_shard} switch-outs of ringqd threads; with a lock/futex frame:")
for (state, frame), ds in sorted(res.items(), key=lambda kv: -sum(kv[1])):
    ds.sort()
    print(f"  {state:3s} {frame:40s} {len(ds):5d}x  total {sum(ds):8.2f} ms  max {ds[-1]:.2f} ms  >=0.5 ms {sum(1 for d in ds if d >= 0.5)}; CPU to: " + ", ".join(f"{c} {n}x" for c, n in who[(state, frame)].most_common(3)))
if not res: print("  none")
