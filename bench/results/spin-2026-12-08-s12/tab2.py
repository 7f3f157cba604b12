import json,sys,glob,os
d=sys.argv[1]
for sub in sorted(glob.glob(d+'/*/'), key=os.path.getmtime):
    for g in ['publish-b1','publish-b64','fanout-g1','fanout-g4']:
        r={}
        for f in glob.glob(sub+'raw/%s.*.json'%g):
            j=json.load(open(f)); r[j['system']]=j
        if 'ringq' not in r or 'redis' not in r: continue
        q,s=r['ringq'],r['redis']
        print("%-14s %-11s ringq %9.0f redis %9.0f ratio %.3f | ringqd %.2f us (util %.2f) gen %.2f (%.2f) | redis %.2f us (util %.2f) gen %.2f" % (
            os.path.basename(sub.rstrip('/')), g, q['tasks_per_s'], s['tasks_per_s'], q['tasks_per_s']/s['tasks_per_s'],
            q['server_cpu_us_per_task'], q['server_cpu_s']/q['duration_s'], q['client_cpu_us_per_task'], q['client_cpu_util'],
            s['server_cpu_us_per_task'], s['server_cpu_s']/s['duration_s'], s['client_cpu_us_per_task']))
