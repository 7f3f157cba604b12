#!/usr/bin/python3
"""Parses `perf script` of ext4_sync_file_enter/exit, block_rq_issue/complete, io_uring_submit_req
(opcode 3 = FSYNC) per process group (ringqd or redis-server, by tgid) and prints:
fdatasync durations, io-wq punt delay, block requests per fsync by kind, block latencies."""
import re, sys, collections

def pct(v, p):
    if not v: return float('nan')
    v = sorted(v); return v[min(len(v) - 1, int(p / 100.0 * len(v)))]

line_re = re.compile(r'^\s*(\S.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
enter = {}; sync = collections.defaultdict(list); names = {}
subs = collections.defaultdict(list); punt = collections.defaultdict(list)
rq_issue = {}; rq_lat = collections.defaultdict(list); rq_count = collections.Counter()
rq_bytes = collections.Counter(); blk = []; blat = []; wake = {}; wdelay = []
win = collections.defaultdict(lambda: [None, None])
for ln in open(sys.argv[1], errors='replace'):
    m = line_re.match(ln)
    if not m: continue
    comm, pid, tid, cpu, ts, ev, rest = m.groups()
    pid = int(pid); tid = int(tid); t = float(ts)
    if ev.endswith('ext4_sync_file_enter'):
        enter[tid] = t
        names.setdefault(pid, comm)
        if 'redis' in comm or 'ringqd' in comm: names[pid] = comm
        subs_q = subs[pid]
        if subs_q:
            punt[pid].append(t - subs_q.pop(0))
    elif ev.endswith('ext4_sync_file_exit'):
        if tid in enter:
            sync[pid].append((enter.pop(tid), t))
    elif ev.endswith('sched_wakeup'):
        mm = re.search(r'pid=(\d+).*target_cpu=(\d+)', rest)
        if mm: wake[int(mm.group(1))] = (t, int(mm.group(2)))
    elif ev.endswith('sched_switch'):
        mm = re.search(r'next_pid=(\d+)', rest)
        if mm and int(mm.group(1)) in wake:
            w0, tc = wake.pop(int(mm.group(1)))
            wdelay.append((w0, (t - w0) * 1e6, int(cpu)))
    elif ev.endswith('io_uring_submit_req'):
        subs[pid].append(t); names[pid] = comm
    elif ev.endswith('block_rq_issue') or ev.endswith('block_rq_complete'):
        # dev rwbs bytes () sector + n [comm]
        f = rest.split()
        rwbs = f[1]
        key = (rwbs.replace('S', '').replace('M', ''), f[3] if len(f) > 3 else '')
        if ev.endswith('issue'):
            kind = 'flush' if rwbs.startswith('F') and 'W' not in rwbs else ('write' if 'W' in rwbs else 'read')
            sec = f[3] if len(f) > 3 else '0'
            rq_issue.setdefault((kind, sec), []).append(t)
            blk.append((t, kind, rwbs, f[2]))
        else:
            kind = 'flush' if rwbs.startswith('F') and 'W' not in rwbs else ('write' if 'W' in rwbs else 'read')
            sec = f[3] if len(f) > 3 else '0'
            q = rq_issue.get((kind, sec))
            if q:
                t0 = q.pop(0); blat.append((t0, kind, t - t0))

for pid, v in sync.items():
    d = [(b - a) * 1e6 for a, b in v]
    span = v[-1][1] - v[0][0] if len(v) > 1 else 0
    print(f"pid {pid} ({names.get(pid,'?')}): fsyncs {len(v)} over {span:.2f}s = {len(v)/span if span else 0:.0f}/s; "
          f"duration us p50 {pct(d,50):.0f} p90 {pct(d,90):.0f} p99 {pct(d,99):.0f} mean {sum(d)/len(d):.0f}")
    if punt.get(pid):
        p = [x * 1e6 for x in punt[pid]]
        print(f"   io_uring submit -> ext4_sync_file_enter us p50 {pct(p,50):.0f} p99 {pct(p,99):.0f} (n {len(p)})")
    # overlap: how many fsyncs were in flight at each enter
    ev = sorted([(a, 1) for a, b in v] + [(b, -1) for a, b in v])
    cur = 0; at_enter = collections.Counter()
    for t, d1 in ev:
        if d1 == 1: at_enter[cur] += 1
        cur += d1
    print(f"   fsyncs already in flight at each start: {dict(sorted(at_enter.items()))}")
    lo, hi = v[0][0], v[-1][1]
    cnt = collections.Counter(); by = collections.Counter(); lat = collections.defaultdict(list)
    for t, kind, rwbs, nb in blk:
        if lo <= t <= hi:
            cnt[rwbs] += 1
            try: by[kind] += int(nb)
            except ValueError: pass
    for t, kind, l in blat:
        if lo <= t <= hi: lat[kind].append(l * 1e6)
    print(f"   block requests per fsync: " + ", ".join(f"{k} {n/len(v):.2f}" for k, n in sorted(cnt.items())) + f"; write bytes per fsync {by['write']/len(v):.0f}")
    for kind, l in lat.items():
        print(f"   block {kind} latency us p50 {pct(l,50):.0f} p90 {pct(l,90):.0f} p99 {pct(l,99):.0f} (n {len(l)})")
    wd = [d for t0, d, c in wdelay if lo <= t0 <= hi]
    cpus = collections.Counter(c for t0, d, c in wdelay if lo <= t0 <= hi)
    print(f"   io-wq wakeup->on-CPU us p50 {pct(wd,50):.0f} p90 {pct(wd,90):.0f} p99 {pct(wd,99):.0f} mean {sum(wd)/len(wd) if wd else 0:.0f} (n {len(wd)}, {len(wd)/len(v):.2f} per fsync; on CPU {dict(cpus)})")
for kind, l in []:
    l = [x * 1e6 for x in l]
    print(f"block {kind}: n {len(l)} latency us p50 {pct(l,50):.0f} p90 {pct(l,90):.0f} p99 {pct(l,99):.0f}; bytes {rq_bytes[kind]}")

