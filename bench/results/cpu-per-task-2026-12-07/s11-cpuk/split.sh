#!/usr/bin/env bash
# split.sh RINGQD BENCH FSYNC OUT [B C I]: where ringqd's CPU goes at an e2e point (default b1 =
# 1 x 4 conns x 16 in flight; 1 s warm-up, 4 s window): utime/stime per thread kind from
# /proc/PID/task/*/stat, context switches, perf stat counts over 2 s inside the window, per task.
set -u
BIN=$1 BENCH=$2 FS=$3 OUT=$4 B=${5:-1} C=${6:-4} I=${7:-16}
d=$(mktemp -d /tmp/cpu1-split.XXXXXX)
taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$d/port" --data "$d/data" --log-level warn \
    --fsync "$FS" >"$d/log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$d/port" ] && break; sleep 0.1; done
snap() {
    for t in /proc/$pid/task/*; do
        st=$(sed 's/.*) //' $t/stat)
        awk -v n="$(cat $t/comm)" -v u="$(echo $st | cut -d' ' -f12)" -v s="$(echo $st | cut -d' ' -f13)" \
            '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {nv=$2} END {print n, u, s, v, nv}' $t/status
    done
}
EV="-e syscalls:sys_enter_io_uring_enter -e io_uring:io_uring_submit_req"
EV="$EV -e io_uring:io_uring_submit_req --filter opcode==26 -e io_uring:io_uring_submit_req --filter opcode==9"
EV="$EV -e io_uring:io_uring_submit_req --filter opcode==3 -e io_uring:io_uring_complete"
EV="$EV -e io_uring:io_uring_submit_req --filter opcode==40 -e syscalls:sys_enter_pwrite64"
EV="$EV -e exceptions:page_fault_user -e context-switches"
taskset -c 1 "$BENCH" e2e --system ringq --threads 1 --size 100 --warmup 1 --duration 4 --quiet \
    --batch $B --conns $C --inflight $I --workers 4 --credits 256 --addr "127.0.0.1:$(cat $d/port)" \
    --server-pid "$pid" --json "$OUT.json" >"$OUT.bench.log" 2>&1 &
bp=$!
sleep 1.05; snap >"$OUT.t0"
perf stat -x, $EV -p "$pid" -o "$OUT.perf" sleep 2
wait $bp; snap >"$OUT.t1"
kill -TERM $pid; wait $pid 2>/dev/null; rm -rf "$d"
echo "$BIN fsync=$FS b$B load=$(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$OUT.t0" "$OUT.t1" "$OUT.json" "$OUT.perf" <<'PY'
import sys, collections, json
def rd(p):
    d = collections.defaultdict(lambda: [0, 0, 0, 0])
    for l in open(p):
        n, *v = l.split(); k = 'iou-wrk' if n.startswith('iou-wrk') else n
        for i in range(4): d[k][i] += int(v[i])
    return d
a, b = rd(sys.argv[1]), rd(sys.argv[2]); r = json.load(open(sys.argv[3]))
t = r['tasks']; us = 1e6 / 100
print(f"  tasks {t} tasks/s {r['tasks_per_s']:.0f} server cpu {r.get('server_cpu_us_per_task',0):.2f} us/task p50 {r.get('latency_us',{}).get('p50',0):.0f}")
for k in sorted(b):
    dd = [b[k][i] - a[k][i] for i in range(4)]
    print(f"  {k:16s} user {dd[0]*us/t:6.2f} sys {dd[1]*us/t:6.2f} us/task  vol {dd[2]/t:.3f} nonvol {dd[3]/t:.3f} /task")
tasks2 = r['tasks_per_s'] * 2.0
names = ["io_uring_enter", "sqes", "send", "sendmsg", "fsync", "cqes", "msg_ring", "pwrite", "pgfault", "ctxsw"]
lines = [l for l in open(sys.argv[4]) if l.strip() and not l.startswith("#")]
vals = [float(l.split(",")[0]) if l[:1].isdigit() else 0.0 for l in lines]
print("  perf/task: " + " ".join("%s %.4f" % (k, v / tasks2) for k, v in zip(names, vals)))
PY
