import json, sys, glob, os, re
for d in sys.argv[1:]:
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        j = json.load(open(f))
        ps = f[:-5] + ".perfstat"
        ex = {}
        if os.path.exists(ps):
            for line in open(ps):
                m = re.match(r"\s*([\d.,]+)\s+(\S+)", line)
                if m: ex[m.group(2)] = float(m.group(1).replace(",", ""))
        st = j["stamped"] or 1
        l = j["latency_us"]
        print("%-22s %8.0f/s p50 %7.0f p99 %8.0f p999 %8.0f cpu/task %6.2f util %.2f srv %6.2f late %.4f gen %.4f ppass %5.2f turns %.2f sleeps %.3f writes %.3f enter/task %.3f xmit/task %.3f" % (
            os.path.basename(f)[:-5], j["tasks_per_s"], l["p50"], l["p99"], l["p999"],
            j.get("client_cpu_us_per_task", -1), j.get("client_cpu_util", -1), j.get("server_cpu_us_per_task", -1),
            j.get("late_share", 0), j.get("late_gen_share", 0), j.get("sends_per_pass", 0), j.get("turns_per_task", 0),
            j.get("sleeps_per_task", 0), j.get("writes_per_task", 0),
            ex.get("syscalls:sys_enter_io_uring_enter", 0) / st, ex.get("net:net_dev_xmit", 0) / st))
