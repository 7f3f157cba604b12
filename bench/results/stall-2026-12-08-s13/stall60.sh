#!/usr/bin/env bash
# Session 13 (s13-stall): the suite's 60 s `never` stall run (bench/suite_bench.sh GROUPS_RUN=stall
# COLUMNS=fast: 100 B at half of peak, 8 conns x 64, 4 workers x 256 credits), with every turn of
# 5 ms or more written by the turn trace (RINGQ_TURN_TRACE_MS=5: wall, preempted, cpu, blocked,
# parts) and perf on the server process: cpu-clock every 1 ms with stacks (what it ran) and its
# threads' switch-outs other than plain sleeps (prev_state != S: preempted R, or D) with stacks.
# /metrics before (after the warm-up) and after. Run under `flock /work/bench.lock`; then, unlocked,
#   perf script -i /tmp/stall13/TAG.perf.data -F comm,tid,cpu,time,event,trace,ip,sym | gzip >TAG-script.txt.gz
#   stall60.sh RINGQD TAG [SIZE RATE DUR]
set -u
cd "$(dirname "$0")/../../.."
OUT=bench/results/stall-2026-12-08-s13/stall60
BIN=$1 TAG=$2 SIZE=${3:-100} RATE=${4:-146032} DUR=${5:-60}
BENCH=${BENCH:-build/ringq-bench}
mkdir -p "$OUT"
T=$(mktemp -d /tmp/s13stall.XXXXXX); mkdir -p "$T/d"
echo "$TAG start $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
RINGQ_TURN_TRACE_MS=5 taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$T/port" --data "$T/d" \
    --fsync never --log-level warn >"$OUT/$TAG.log" 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 >/dev/null || exit 1
taskset -c 1 perf record -q -k CLOCK_MONOTONIC -g -p "$PID" -e cpu-clock/period=1000000/ \
    -e sched:sched_switch --filter 'prev_state != 1' -o "/tmp/stall13/$TAG.perf.data" \
    -- sleep $((DUR + 2)) >/dev/null 2>&1 &
PP=$!
/usr/bin/python3 -c "import time; print(\"realtime_minus_monotonic\", time.time() - time.monotonic())" >"$OUT/$TAG.clock"
( sleep 1; curl -s "http://$ADDR/metrics" >"$OUT/$TAG.metrics0" ) &
taskset -c 1 "$BENCH" e2e --system ringq --addr "$ADDR" --threads 1 --warmup 1 --duration "$DUR" --quiet \
    --size "$SIZE" --batch 1 --workers 4 --credits 256 --rate "$RATE" --conns 8 --inflight 64 \
    --server-pid "$PID" --json "$OUT/$TAG.json" >/dev/null
curl -s "http://$ADDR/metrics" >"$OUT/$TAG.metrics"
wait "$PP"
kill "$PID"; wait "$PID" 2>/dev/null
echo "$TAG end $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
rm -rf "$T"
