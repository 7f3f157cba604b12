#!/usr/bin/env bash
# bench/results/cpu-per-task-2026-12-07/s8-cpu4-ctxsw.sh RINGQD BENCH FSYNC OUT: context switches
# of ringqd per thread (shard, io-wq workers iou-wrk-*, others) over ringq-bench's measured
# window (b1 = 1 x 4 conns x 16 in flight, 1 s warm-up, 4 s window), per task. Reads
# /proc/<pid>/task/*/status (voluntary + nonvoluntary) at the window's start and end; io-wq
# workers that come and go inside the window are missed (none did in the run recorded).
set -u
BIN=$1 BENCH=$2 FS=$3 OUT=$4
d=$(mktemp -d /tmp/cpu4-cs.XXXXXX)
"$BIN" --threads 1 --port 0 --port-file "$d/port" --data "$d/data" --log-level warn --fsync "$FS" >"$d/log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$d/port" ] && break; sleep 0.1; done
snap() { # name vol nonvol per thread
    for t in /proc/$pid/task/*; do
        awk -v n="$(cat $t/comm)" '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {nv=$2} END {print n, v, nv}' $t/status
    done
}
"$BENCH" e2e --system ringq --threads 1 --size 100 --warmup 1 --duration 4 --quiet \
    --batch 1 --conns 4 --inflight 16 --workers 4 --credits 256 --addr "127.0.0.1:$(cat $d/port)" \
    --json "$OUT.json" > "$OUT.bench.log" 2>&1 &
bp=$!
sleep 1.05; snap > "$OUT.t0"; grep -c iou-wrk "$OUT.t0" > "$OUT.wrk0"
wait $bp; snap > "$OUT.t1"
kill -TERM $pid; wait $pid 2>/dev/null; rm -rf "$d"
tasks=$(/usr/bin/python3 -c "import json; print(json.load(open('$OUT.json'))['tasks'])")
echo "$BIN fsync=$FS tasks=$tasks load=$(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$OUT.t0" "$OUT.t1" "$tasks" <<'PY'
import sys, collections
def rd(p):
    d = collections.defaultdict(lambda: [0, 0])
    for l in open(p):
        n, v, nv = l.split(); k = 'iou-wrk' if n.startswith('iou-wrk') else n
        d[k][0] += int(v); d[k][1] += int(nv)
    return d
a, b, t = rd(sys.argv[1]), rd(sys.argv[2]), int(sys.argv[3])
for k in sorted(b):
    dv, dn = b[k][0] - a[k][0], b[k][1] - a[k][1]
    print(f"  {k:16s} vol {dv:8d} ({dv/t:.3f}/task)  nonvol {dn:7d} ({dn/t:.3f}/task)")
PY
