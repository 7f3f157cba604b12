#!/usr/bin/python3
"""fsync_all.py PERF_TXT[.gz] NAME: every fdatasync of the io-wq workers of the process NAME
(ext4_sync_file enter..exit): count, p50/p90/p99/mean, how many issued metadata writes, bytes written inside them."""
import gzip, re, sys
line_re = re.compile(r'^\s*(\S.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
task_re = re.compile(r'PERF_RECORD_(?:COMM|EXEC)[^:]*: (' + sys.argv[2] + r'):(\d+)/')
op = gzip.open if sys.argv[1].endswith('.gz') else open
lines = list(op(sys.argv[1], 'rt', errors='replace'))
keep = {m.group(2) for m in (task_re.search(l) for l in lines) if m}
enter, meta, d, nmeta, wbytes = {}, {}, [], 0, {}
tot_bytes = 0
for ln in lines:
    m = line_re.match(ln)
    if not m or m.group(2) not in keep or not m.group(1).strip().startswith('iou'): continue
    tid, t, ev, rest = int(m.group(3)), float(m.group(5)), m.group(6), m.group(7)
    if ev.endswith('ext4_sync_file_enter'): enter[tid] = t; meta[tid] = 0; wbytes[tid] = 0
    elif ev.endswith('ext4_sync_file_exit') and tid in enter:
        d.append((t - enter.pop(tid)) * 1e6); nmeta += meta.pop(tid) > 0; tot_bytes += wbytes.pop(tid)
    elif ev.endswith('block_rq_issue') and tid in meta:
        f = rest.split()
        if 'M' in f[1]: meta[tid] += 1
        if 'W' in f[1] and f[2].isdigit(): wbytes[tid] += int(f[2])
d.sort(); q = lambda p: d[min(len(d) - 1, int(p / 100 * len(d)))]
print('fdatasyncs %d with-metadata %d (%.1f%%) p50 %.0f p90 %.0f p99 %.0f mean %.0f us, written %.1f KiB each' %
      (len(d), nmeta, 100.0 * nmeta / len(d), q(50), q(90), q(99), sum(d) / len(d), tot_bytes / 1024.0 / len(d)))
