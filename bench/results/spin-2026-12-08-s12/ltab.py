# ltab.py FILE.json...: msgs/s, p50, ringqd CPU us per message and utilisation of each run.
import json, sys, os
for f in sys.argv[1:]:
    j = json.load(open(f))
    lat = j.get('latency_us') or j.get('latency') or {}
    p50 = lat.get('p50') if isinstance(lat, dict) else None
    print("%-28s %8.0f msgs/s p50 %s  ringqd %.1f us/msg (util %.2f)" % (
        os.path.relpath(f, os.path.dirname(os.path.dirname(f))), j['tasks_per_s'], p50,
        j['server_cpu_us_per_task'], j['server_cpu_s'] / j['duration_s']))
