#!/bin/bash
# open_ext.sh DIR...: the durable open-loop p99 per size from each open.md
for d in "$@"; do
  grep -h "enqueue-to-start at half of peak.*fsync always" "$d/open.md" | grep -v "NOT MEASURED" | \
   python3 -c "
import sys,re
for l in sys.stdin:
    m=re.search(r'half of peak, (\d+ B).*?\| p99 ([\d.]+ \S+), p99.9 ([\d.]+ \S+) at (\d+) tasks/s offered.*?achieved ([\d,]+) tasks/s.*?([\d.]+) % of sends late \(([\d.]+) % waiting', l)
    if m: print('$d'.split('/')[-1], m.group(1), 'p99', m.group(2), 'p99.9', m.group(3), 'offered', m.group(4), 'achieved', m.group(5), 'late%', m.group(6), 'cap%', m.group(7))
"
done
