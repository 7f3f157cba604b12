import json, glob, os, re, sys
R = sys.argv[1]
rows = []
for col in ("fast", "durable"):
    for b in ("base", "new"):
        for f in sorted(glob.glob(f"{R}/{col}-{b}/raw/open-s*.json")):
            j = json.load(open(f)); l = j["latency_us"]
            m = re.search(r"open-s(\d+)", f)
            rows.append((col, int(m.group(1)), b, j["config"]["rate"], j["tasks_per_s"], l["p50"], l["p99"], l["p999"],
                         j.get("client_cpu_util", -1), j.get("client_cpu_us_per_task", -1), j.get("server_cpu_us_per_task", -1),
                         j.get("late_share", 0), j.get("late_cap_share", 0), j.get("sends_per_pass", 0), j.get("writes_per_task", -1)))
for b in ("base", "new"):
    for f in sorted(glob.glob(f"{R}/streams-{b}/raw/*open*.json")):
        j = json.load(open(f)); l = j["latency_us"]
        rows.append(("streams", 100, b, j["config"]["rate"], j["tasks_per_s"], l["p50"], l["p99"], l["p999"],
                     j.get("client_cpu_util", -1), j.get("client_cpu_us_per_task", -1), j.get("server_cpu_us_per_task", -1),
                     j.get("late_share", 0), j.get("late_cap_share", 0), j.get("sends_per_pass", 0), j.get("writes_per_task", -1)))
rows.sort(key=lambda r: (r[0], r[1], r[2]))
print("| column | size | tree | offered/s | achieved/s | p50 | p99 | p99.9 | generator CPU | gen µs/task | late (cap) | sends/pass |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for r in rows:
    print("| %s | %d B | %s | %.0f | %.0f | %.2f ms | %.2f ms | %.2f ms | %.0f %% | %.2f | %.1f %% (%.1f %%) | %.2f |" % (
        r[0], r[1], "main" if r[2] == "base" else "s10-openloop", r[3], r[4], r[5]/1e3, r[6]/1e3, r[7]/1e3,
        r[8]*100, r[9], r[11]*100, r[12]*100, r[13]))
