#!/usr/bin/env python3
"""suite_table.py DIR: the durable e2e rows (tasks/s, p50, p99) of the suite runs sN-{main,new}.md
in DIR, side by side, and new / main per row (mean of the runs of each)."""
import glob, os, re, sys, statistics as st
rows = {}
runs = sorted(glob.glob(os.path.join(sys.argv[1], 's*-*.md')))
for f in runs:
    name = os.path.basename(f)[:-3]
    v = name.split('-')[1]
    for line in open(f):
        m = re.match(r'\| (\d+) \| (ringq(?:-stream)?) \| ([\d,]+) \| ([^|]+) \| ([^|]+) \|', line)
        if m:
            rows.setdefault((m.group(2), int(m.group(1))), []).append(
                (name, v, int(m.group(3).replace(',', '')), m.group(4).strip(), m.group(5).strip()))
print('| system | x | ' + ' | '.join(os.path.basename(f)[:-3] + ' tasks/s (p50 / p99)' for f in runs) + ' | new ÷ main (means) |')
print('|---|---|' + '---|' * (len(runs) + 1))
for (sysname, x) in sorted(rows):
    r = rows[(sysname, x)]
    cells = ['%s (%s / %s)' % (format(t, ','), p50, p99) for _, _, t, p50, p99 in r]
    mm = st.mean([t for _, v, t, _, _ in r if v == 'main'] or [float('nan')])
    mn = st.mean([t for _, v, t, _, _ in r if v == 'new'] or [float('nan')])
    print('| %s | %d | %s | %.2f |' % (sysname, x, ' | '.join(cells), mn / mm))
