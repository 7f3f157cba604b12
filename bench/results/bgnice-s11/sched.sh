#!/usr/bin/env bash
# Session 11 (s11-bgnice, from tail-s11/sched.sh + io-wq punts): who takes CPU 0 (ringqd's) from the shard during one open-loop point.
# `perf sched record -C 0` for the run, then `perf sched timehist` summed by task: each task's
# run time on CPU 0 and its longest single stretch. Run under `flock /work/bench.lock`.
#   sched.sh RINGQD SIZE RATE TAG
set -u
cd "$(dirname "$0")/../../.."
OUT=bench/results/bgnice-s11/sched
BIN=$1 SIZE=$2 RATE=$3 TAG=$4
BENCH=${BENCH:-/tmp/quiet11/ringq-bench-start}
mkdir -p "$OUT"
T=$(mktemp -d /tmp/p99-sched.XXXXXX); mkdir -p "$T/d"
echo "$TAG start $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
RINGQ_TURN_TRACE_MS=2 taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$T/port" --data "$T/d" \
    --fsync never --log-level warn >"$OUT/$TAG.log" 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 >/dev/null || exit 1
perf sched record -C 0 -o "$T/sched.data" -- sleep 6 >/dev/null 2>&1 &
PP=$!
# Every op ringqd's rings punt to io-wq, by opcode (the same 6 s).
perf record -q -e io_uring:io_uring_queue_async_work -p "$PID" -o "$T/aw.data" -- sleep 6 >/dev/null 2>&1 &
PA=$!
taskset -c 1 "$BENCH" e2e --system ringq --addr "$ADDR" --threads 1 --warmup 1 --duration 5 --quiet \
    --size "$SIZE" --batch 1 --workers 4 --credits 256 --rate "$RATE" --conns 8 --inflight 64 \
    --server-pid "$PID" --json "$OUT/$TAG.json" >/dev/null
wait "$PP"; wait "$PA"
perf script -i "$T/aw.data" 2>/dev/null | grep -o 'opcode [A-Z_0-9]*' | sort | uniq -c >"$OUT/$TAG-async.txt"
perf script -i "$T/aw.data" 2>/dev/null | head -3 >>"$OUT/$TAG-async.txt"
kill "$PID"; wait "$PID" 2>/dev/null
echo "$TAG end $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
perf sched timehist -i "$T/sched.data" 2>/dev/null >"$T/th.txt"
/usr/bin/python3 - "$T/th.txt" >"$OUT/$TAG-cpu0.txt" <<'PY'
import sys, collections
run = collections.Counter(); mx = {}; n = collections.Counter(); big = collections.Counter()
dmx = {}; dbig = collections.Counter()  # sch_delay: runnable, waiting for CPU 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 6 or not f[0][0].isdigit(): continue
    # time cpu task[tid] wait sch_delay run_time
    try: rt = float(f[5])
    except ValueError: continue
    name = f[2].rsplit('[', 1)[0]
    run[name] += rt; n[name] += 1; mx[name] = max(mx.get(name, 0), rt); big[name] += rt >= 1.0
    try: sd = float(f[4])
    except ValueError: sd = 0.0
    dmx[name] = max(dmx.get(name, 0), sd); dbig[name] += sd >= 1.0
tot = sum(run.values())
print(f"CPU 0 run time by task (ms) over the record, {tot:.0f} ms in all")
for k, v in run.most_common(25):
    print(f"  {k:28s} {v:9.1f} ms  {n[k]:7d} stretches  longest {mx[k]:7.3f} ms  >=1ms {big[k]:5d}  sch_delay max {dmx[k]:7.3f} >=1ms {dbig[k]:4d}")
PY
rm -rf "$T"
