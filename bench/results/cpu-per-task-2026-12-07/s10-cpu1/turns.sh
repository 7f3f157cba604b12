#!/usr/bin/env bash
# turns.sh RINGQD BENCH FSYNC OUT [B C I] [ENV...]: loop turns, sendmsg SQEs and recv CQEs per task
set -u
BIN=$1 BENCH=$2 FS=$3 OUT=$4 B=${5:-1} C=${6:-4} I=${7:-16}
d=$(mktemp -d /tmp/cpu1-turns.XXXXXX)
taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$d/port" --data "$d/data" --log-level warn \
    --fsync "$FS" >"$d/log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$d/port" ] && break; sleep 0.1; done
P=$(cat $d/port)
taskset -c 1 "$BENCH" e2e --system ringq --threads 1 --size 100 --warmup 1 --duration 4 --quiet \
    --batch $B --conns $C --inflight $I --workers 4 --credits 256 --addr "127.0.0.1:$P" \
    --server-pid "$pid" --json "$OUT.json" >"$OUT.bench.log" 2>&1 &
bp=$!
sleep 1.5
curl -s http://127.0.0.1:$P/metrics > $OUT.m0
perf stat -x, -e syscalls:sys_enter_io_uring_enter -e io_uring:io_uring_submit_req --filter opcode==9 -e io_uring:io_uring_complete -p "$pid" -o "$OUT.perf" sleep 2
curl -s http://127.0.0.1:$P/metrics > $OUT.m1
wait $bp
kill -TERM $pid; wait $pid 2>/dev/null; rm -rf "$d"
/usr/bin/python3 - $OUT <<'PY'
import sys, json
o = sys.argv[1]
def m(p):
    d = {}
    for l in open(p):
        if l.startswith('#') or not l.strip(): continue
        k, v = l.rsplit(' ', 1)
        try: d[k] = float(v)
        except: pass
    return d
a, b = m(o + '.m0'), m(o + '.m1')
def delta(k): return b.get(k, 0) - a.get(k, 0)
r = json.load(open(o + '.json'))
ks = [k for k in b if k.startswith('ringq_loop_stall_seconds_count')]
turns = sum(delta(k) for k in ks)
enq = sum(delta(k) for k in b if k.startswith('ringq_queue_tasks_enqueued_total'))
vals = [float(l.split(',')[0]) if l[:1].isdigit() else 0 for l in open(o + '.perf') if l.strip() and not l.startswith('#')]
print("tasks/s %.0f cpu %.2f us/task | window: enqueued %d turns %d tasks/turn %.2f | enters/turn %.2f sendmsg/turn %.2f cqes/turn %.2f sendmsg/task %.3f" % (
  r['tasks_per_s'], r.get('server_cpu_us_per_task', 0), enq, turns, enq / max(turns, 1), vals[0] / max(turns, 1), vals[1] / max(turns, 1), vals[2] / max(turns, 1), vals[1] / max(enq, 1)))
PY
