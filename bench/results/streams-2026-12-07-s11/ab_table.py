#!/usr/bin/python3
"""ab_table.py AB_DIR: the interleaved A/B's table (ab.sh): per round, build, column and point,
ringq's and Redis' msgs/s, the ratio, and each process's CPU per message and utilisation."""
import glob, json, os, sys

d = sys.argv[1]
rows = []
for run in sorted(glob.glob(os.path.join(d, '*-r[0-9]'))):
    tag, rnd = os.path.basename(run).rsplit('-r', 1)
    load = open(os.path.join(d, f'load-{tag}-r{rnd}.txt')).read().split()[:3]
    for col in ['fast', 'durable']:
        for g in ['publish-b1', 'publish-b64', 'fanout-g1']:
            res = {}
            for sysname in ['ringq', 'redis']:
                f = glob.glob(os.path.join(run, 'raw', f'{g}.{sysname}.{col}.*.json'))
                if not f:
                    continue
                j = json.load(open(f[0]))
                dur = j['duration_s']
                res[sysname] = (j['tasks_per_s'], j.get('server_cpu_us_per_task', 0),
                                j.get('server_cpu_s', 0) / dur, j.get('client_cpu_us_per_task', 0),
                                j.get('client_cpu_util', 0))
            if 'ringq' in res and 'redis' in res:
                rows.append((col, g, rnd, tag, '/'.join(load), res))
print('| column, point | round | build | load before | ringq msgs/s | Redis msgs/s | ratio | ringqd µs/msg (util) | generator µs/msg (util), ringq | Redis µs/msg (util) | generator µs/msg, Redis |')
print('|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|')
for col, g, rnd, tag, load, res in sorted(rows, key=lambda r: (r[0] != 'fast', r[1], r[2], r[3])):
    q, r = res['ringq'], res['redis']
    print(f'| {col} {g} | {rnd} | {"main" if tag == "base" else "branch"} | {load} | {q[0]:,.0f} | {r[0]:,.0f} | '
          f'{q[0] / r[0]:.2f}x | {q[1]:.2f} ({q[2]:.2f}) | {q[3]:.2f} ({q[4]:.2f}) | {r[1]:.2f} ({r[2]:.2f}) | {r[3]:.2f} |')
