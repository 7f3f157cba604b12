#!/usr/bin/env bash
# Session 13 (s13-stall): a copy of session 12s tail-2026-12-08-s12/prof_off.sh writing here (the script to /tmp). Session 12 (s12-tail), off-CPU variant: sched_switch + sched_wakeup with stacks on every CPU (where the shard blocks, who wakes it). One open-loop point under --fsync never with `perf record -a` (every CPU,
# cpu-clock every 250 us with kernel+user frame-pointer stacks, plus sched_switch), the shard's
# turn trace at 2 ms. Says who runs on CPU 0 (server) and CPU 1 (generator), in which context
# (task, softirq, irq), and when the background sync runs. Run under `flock /work/bench.lock`.
#   prof_all.sh RINGQD SIZE RATE TAG [FSYNC]
set -u
cd "$(dirname "$0")/../../.."
OUT=bench/results/stall-2026-12-08-s13/prof
BIN=$1 SIZE=$2 RATE=$3 TAG=$4 FSYNC=${5:-never}
BENCH=${BENCH:-build/ringq-bench}
DUR=${DUR:-5}
mkdir -p "$OUT"
T=$(mktemp -d /tmp/s13stall-prof.XXXXXX); mkdir -p "$T/d"
echo "$TAG start $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
RINGQ_TURN_TRACE_MS=2 taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$T/port" --data "$T/d" \
    --fsync "$FSYNC" --log-level warn >"$OUT/$TAG.log" 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 >/dev/null || exit 1
perf record -q -g -e sched:sched_switch -e sched:sched_wakeup -a -o "$T/perf.data" \
    -- sleep $((DUR + 2)) >/dev/null 2>&1 &
PP=$!
taskset -c 1 "$BENCH" e2e --system ringq --addr "$ADDR" --threads 1 --warmup 1 --duration "$DUR" --quiet \
    --size "$SIZE" --batch 1 --workers 4 --credits 256 --rate "$RATE" --conns 8 --inflight 64 \
    --server-pid "$PID" --json "$OUT/$TAG.json" >/dev/null
curl -s "http://$ADDR/metrics" >"$OUT/$TAG.metrics"
wait "$PP"
kill "$PID"; wait "$PID" 2>/dev/null
echo "$TAG end $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
perf script -i "$T/perf.data" -F comm,tid,cpu,time,event,trace,ip,sym 2>/dev/null | gzip >"/tmp/stall13/$TAG-script.txt.gz"
rm -rf "$T"
