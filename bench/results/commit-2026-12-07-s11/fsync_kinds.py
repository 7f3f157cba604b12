#!/usr/bin/python3
"""fsync_kinds.py PERF_TXT: each fdatasync (ext4_sync_file enter..exit on one thread) grouped by
the block requests its thread issued inside it (WS = data write, WSM = metadata write), with
its duration. ringqd's are on its io-wq workers (iou-wrk), Redis' on its main thread."""
import re, sys, collections
line_re = re.compile(r'^\s*(\S.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
enter = {}; cur = {}; res = collections.defaultdict(list)
for ln in open(sys.argv[1], errors='replace'):
    m = line_re.match(ln)
    if not m: continue
    comm, pid, tid, cpu, ts, ev, rest = m.groups(); tid = int(tid); t = float(ts)
    if ev.endswith('ext4_sync_file_enter'): enter[tid] = t; cur[tid] = []
    elif ev.endswith('ext4_sync_file_exit') and tid in enter:
        kinds = tuple(sorted(cur.pop(tid, [])))
        res[(comm.split('-')[0][:6], kinds)].append((t - enter.pop(tid)) * 1e6)
    elif ev.endswith('block_rq_issue') and tid in cur:
        cur[tid].append(rest.split()[1])
def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int(p / 100 * len(v)))]
for k, v in sorted(res.items(), key=lambda kv: -len(kv[1]))[:12]:
    print(k, len(v), 'p50 %.0f p90 %.0f mean %.0f' % (pct(v, 50), pct(v, 90), sum(v) / len(v)))
