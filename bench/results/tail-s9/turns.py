#!/usr/bin/python3
"""Long on-CPU stretches of ringqd's busiest thread in a `perf record -e cpu-clock -g` profile.

Usage: perf script -i DATA -F tid,time,ip,sym | turns.py GAP_MS MIN_MS [TOP]
cpu-clock on a task samples only while it runs, so a stretch of samples with no gap over GAP_MS
is time on a CPU without a sleep or a preemption in it; the stretches of MIN_MS and more are the
candidates for the loop's long on-CPU turns. Prints each one (start, length, samples) and the
functions on the stacks of its samples (inclusive, and the leaf), beside the same for all samples.
"""
import collections
import re
import sys

HEAD = re.compile(r"^\s*(\d+)\s+(\d+\.\d+):")


def parse(f):
    samples, cur = [], None
    for line in f:
        line = line.rstrip("\n")
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = None
            continue
        h = HEAD.match(line)
        if h:  # "<tid> <time>:" (perf script -F tid,time,...)
            if cur:
                samples.append(cur)
            cur = (int(h.group(1)), float(h.group(2)), [])
        elif cur is not None:
            p = line.split(None, 1)
            cur[2].append(p[1].split("+0x")[0] if len(p) > 1 else "?")
    if cur:
        samples.append(cur)
    return samples


def agg(samples):
    inc, leaf = collections.Counter(), collections.Counter()
    for _, _, st in samples:
        for s in set(st):
            inc[s] += 1
        if st:
            leaf[st[0]] += 1
    return inc, leaf


def show(title, samples, top):
    n = len(samples)
    inc, leaf = agg(samples)
    print("%s: %d samples" % (title, n))
    print("  inclusive: " + "; ".join("%s %.0f%%" % (s, 100.0 * c / n) for s, c in inc.most_common(top)))
    print("  leaf:      " + "; ".join("%s %.0f%%" % (s, 100.0 * c / n) for s, c in leaf.most_common(top)))


def main():
    gap, mn = float(sys.argv[1]) / 1e3, float(sys.argv[2]) / 1e3
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    samples = parse(sys.stdin)
    by_tid = collections.Counter(s[0] for s in samples)
    tid = by_tid.most_common(1)[0][0]
    mine = sorted((s for s in samples if s[0] == tid), key=lambda s: s[1])
    print("threads (samples): %s; busiest %d" % (dict(by_tid.most_common(6)), tid))
    runs, start = [], 0
    for i in range(1, len(mine) + 1):
        if i == len(mine) or mine[i][1] - mine[i - 1][1] > gap:
            if mine[i - 1][1] - mine[start][1] >= mn:
                runs.append(mine[start:i])
            start = i
    show("all samples of the busiest thread", mine, top)
    inlong = [s for r in runs for s in r]
    print("stretches of >= %.1f ms with no gap > %.2f ms: %d" % (mn * 1e3, gap * 1e3, len(runs)))
    for r in runs:
        show("  stretch at %.6f, %.2f ms" % (r[0][1], (r[-1][1] - r[0][1]) * 1e3), r, 12)
    if inlong:
        show("all long stretches together", inlong, top)


main()
