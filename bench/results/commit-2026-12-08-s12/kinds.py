#!/usr/bin/env python3
"""kinds.py TRACE.txt: per fdatasync (enter..exit on one io-wq thread) the block requests its
thread issued (WS data, WSM metadata; the flush FF is issued by kblockd), grouped; and the
inode-dirtying callers and extent conversions per second of trace."""
import collections, re, sys
open_ = {}
kinds = collections.Counter()
durs = collections.defaultdict(list)
dirty = collections.Counter()
conv = 0
t0 = t1 = None
for line in open(sys.argv[1]):
    m = re.match(r'\s*(\S+)\s+(\d+)\s+([\d.]+):\s+(\S+):\s+(.*)', line)
    if not m:
        continue
    comm, tid, t, ev, rest = m.group(1), int(m.group(2)), float(m.group(3)), m.group(4), m.group(5)
    t0 = t if t0 is None else t0
    t1 = t
    if ev == 'ext4:ext4_sync_file_enter':
        open_[tid] = [t, []]
    elif ev == 'ext4:ext4_sync_file_exit' and tid in open_:
        st, rq = open_.pop(tid)
        k = ' + '.join('%d %s' % (n, r) for r, n in sorted(collections.Counter(rq).items())) or 'none'
        kinds[k] += 1
        durs[k].append((t - st) * 1e6)
    elif ev == 'block:block_rq_issue':
        rw = rest.split()[1]
        if tid in open_:
            open_[tid][1].append(rw)
    elif ev == 'ext4:ext4_mark_inode_dirty':
        c = re.search(r'caller (\S+)', rest)
        dirty[(comm.split('-')[0], c.group(1).split('+')[0] if c else '?')] += 1
    elif ev == 'ext4:ext4_ext_convert_to_initialized_enter':
        conv += 1
span = (t1 - t0) if t0 is not None else 0
n = sum(kinds.values())
print('trace %.3f s, %d fdatasyncs' % (span, n))
for k, c in kinds.most_common():
    d = sorted(durs[k])
    print('%-28s %6d %5.1f %%  p50 %4.0f us  mean %4.0f us' % (k, c, 100.0 * c / n, d[len(d) // 2], sum(d) / len(d)))
for (comm, caller), c in dirty.most_common():
    print('mark_inode_dirty %-12s %-36s %6d  (%.0f/s)' % (comm, caller, c, c / span if span else 0))
print('convert_to_initialized %d' % conv)
