#!/usr/bin/env bash
# Issue 19, session 10 (s10-stalls): what ringqd's long loop turns are made of. One open-loop
# point (8 x 64 in flight, 4 workers; ringqd on CPU 0, ringq-bench on CPU 1) with the turn trace
# on (RINGQ_TURN_TRACE_MS=$MS: a log line per turn of MS ms or more, core/ev_trace.h); the
# server's log, /metrics and the generator's JSON saved. Run under `flock /work/bench.lock`.
#   trace.sh RINGQD SIZE RATE FSYNC(never|always) TAG [DURATION_S] [MS]
set -u
cd "$(dirname "$0")/../../.."
OUT=bench/results/tail-s10
BIN=$1 SIZE=$2 RATE=$3 FSYNC=$4 TAG=$5 DUR=${6:-10} MS=${7:-2}
T=$(mktemp -d /tmp/s10stalls-trace.XXXXXX)
echo "$TAG load before: $(cat /proc/loadavg)" >>"$OUT/load-trace.txt"
mkdir -p "$T/d"
RINGQ_TURN_TRACE_MS=$MS taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$T/port" \
    --data "$T/d" --fsync "$FSYNC" --log-level warn >"$OUT/$TAG.log" 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 || exit 1
# PERF=1: the shard's switches off its CPU with their kernel stacks (why it blocked), for the run.
if [ "${PERF:-0}" = 1 ]; then
    perf record -q -e sched:sched_switch -g -p "$PID" -o "/tmp/s10stalls-$TAG.perf" \
        -- sleep "$((DUR + 1))" >/dev/null 2>&1 &
    PERFPID=$!
fi
taskset -c 1 build/ringq-bench e2e --system ringq --addr "$ADDR" --warmup 1 --duration "$DUR" \
    --quiet --size "$SIZE" --batch 1 --workers 4 --credits 256 --rate "$RATE" --conns 8 \
    --inflight 64 --server-pid "$PID" --json "$OUT/$TAG.json"
curl -s "http://$ADDR/metrics" >"$OUT/$TAG.metrics"
[ "${PERF:-0}" = 1 ] && wait "$PERFPID"
kill "$PID"; wait "$PID" 2>/dev/null
/usr/bin/python3 "$OUT/turns.py" "$OUT/$TAG.log" "$OUT/$TAG.metrics" >"$OUT/$TAG-turns.txt"
echo "$TAG load after: $(cat /proc/loadavg)" >>"$OUT/load-trace.txt"
rm -rf "$T"
