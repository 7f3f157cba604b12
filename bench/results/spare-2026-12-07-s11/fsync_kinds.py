#!/usr/bin/python3
"""fsync_kinds.py PERF_TXT: each fdatasync (ext4_sync_file enter..exit on one thread) grouped by
the block requests its thread issued inside it (WS = data write, WSM = metadata write), with
its duration. ringqd's are on its io-wq workers (iou-wrk), Redis' on its main thread.
s11-spare: only the processes named ringqd or redis-server (by tgid: their io-wq workers and the
background thread included), each thread's comm prefix kept, so other helpers' fsyncs on this
shared machine are left out."""
import re, sys, collections, gzip, os
line_re = re.compile(r'^\s*(\S.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
enter = {}; cur = {}; res = collections.defaultdict(list)
opener = gzip.open if sys.argv[1].endswith('.gz') else open
lines = list(opener(sys.argv[1], 'rt', errors='replace'))
keep = {}
names = os.environ.get('FSK_NAMES', 'ringqd|redis-server')
task_re = re.compile(r'PERF_RECORD_(?:COMM|EXEC)[^:]*: (' + names + r'):(\d+)/')
for ln in lines:
    m = task_re.search(ln)
    if m: keep[m.group(2)] = m.group(1)
    m = line_re.match(ln)
    if m and m.group(1).strip() in names.split('|'): keep[m.group(2)] = m.group(1).strip()
for ln in lines:
    m = line_re.match(ln)
    if not m: continue
    comm, pid, tid, cpu, ts, ev, rest = m.groups(); tid = int(tid); t = float(ts)
    if pid not in keep: continue
    comm = keep[pid] + '/' + comm.strip()
    if ev.endswith('ext4_sync_file_enter'): enter[tid] = t; cur[tid] = []
    elif ev.endswith('ext4_sync_file_exit') and tid in enter:
        kinds = tuple(sorted(cur.pop(tid, [])))
        res[(comm.split('-')[0][:20], kinds)].append((t - enter.pop(tid)) * 1e6)
    elif ev.endswith('block_rq_issue') and tid in cur:
        cur[tid].append(rest.split()[1])
def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int(p / 100 * len(v)))]
for k, v in sorted(res.items(), key=lambda kv: -len(kv[1]))[:12]:
    print(k, len(v), 'p50 %.0f p90 %.0f mean %.0f' % (pct(v, 50), pct(v, 90), sum(v) / len(v)))
