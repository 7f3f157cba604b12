# tab.py DIR: one line per streams.sh run (oldest first) and column: ringq and Redis msgs/s,
# ringq / Redis, ringqd CPU us per message and its CPU utilisation.
import json, sys, glob, os
d = sys.argv[1]
for sub in sorted(glob.glob(d + '/*/'), key=os.path.getmtime):
    for col in ['fast', 'durable']:
        r = {}
        for f in glob.glob(sub + 'raw/publish-b1.*.%s.*.json' % col):
            j = json.load(open(f)); r[j['system']] = j
        if 'ringq' not in r or 'redis' not in r: continue
        q, s = r['ringq'], r['redis']
        print("%-17s %-7s ringq %8.0f redis %8.0f ratio %.2f | ringqd %.2f us/msg (util %.2f) | redis %.2f us (util %.2f)" % (
            os.path.basename(sub.rstrip('/')), col, q['tasks_per_s'], s['tasks_per_s'],
            q['tasks_per_s'] / s['tasks_per_s'], q['server_cpu_us_per_task'],
            q['server_cpu_s'] / q['duration_s'], s['server_cpu_us_per_task'],
            s['server_cpu_s'] / s['duration_s']))
