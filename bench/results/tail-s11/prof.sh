#!/usr/bin/env bash
# Session 11 (s11-p99): what the long mesh-hook turns run. One open-loop point (ab.sh's shapes),
# the turn trace on, `perf record -e cpu-clock -c 250000 --call-graph dwarf` on ringqd for the
# run; longturns.py then lists the stacks of the samples inside each stretch of >= 2 ms the shard
# spent in one mesh-hook call. Run under `flock /work/bench.lock`.
#   prof.sh RINGQD KIND(q|s) SIZE RATE TAG
set -u
cd "$(dirname "$0")/../../.."
OUT=bench/results/tail-s11/prof
BIN=$1 KIND=$2 SIZE=$3 RATE=$4 TAG=$5
BENCH=${BENCH:-/tmp/quiet11/ringq-bench-start}
DUR=${DUR:-5} PERIOD=${PERIOD:-250000} STACK=${STACK:-16384} MIN=${MIN:-8}
mkdir -p "$OUT"
T=$(mktemp -d /tmp/p99-prof.XXXXXX); mkdir -p "$T/d"
echo "$TAG start $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
RINGQ_TURN_TRACE_MS=2 taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$T/port" --data "$T/d" \
    --fsync never --log-level warn >"$OUT/$TAG.log" 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 >/dev/null || exit 1
perf record -q -e cpu-clock -c "$PERIOD" --call-graph dwarf,"$STACK" -p "$PID" -o "$T/perf.data" \
    -- sleep $((DUR + 2)) >/dev/null 2>&1 &
PP=$!
if [ "$KIND" = q ]; then
    taskset -c 1 "$BENCH" e2e --system ringq --addr "$ADDR" --threads 1 --warmup 1 --duration "$DUR" --quiet \
        --size "$SIZE" --batch 1 --workers 4 --credits 256 --rate "$RATE" --conns 8 --inflight 64 \
        --server-pid "$PID" --json "$OUT/$TAG.json" >/dev/null
else
    taskset -c 1 "$BENCH" fanout --system ringq --addr "$ADDR" --threads 1 --warmup 1 --duration "$DUR" --quiet \
        --size "$SIZE" --batch 1 --conns 1 --inflight 64 --groups 1 --workers 1 --credits 256 \
        --rate "$RATE" --server-pid "$PID" --json "$OUT/$TAG.json" >/dev/null
fi
wait "$PP"
kill "$PID"; wait "$PID" 2>/dev/null
echo "$TAG end $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
perf script -i "$T/perf.data" -F tid,time,ip,sym 2>/dev/null >"$T/script.txt"
/usr/bin/python3 bench/results/tail-s11/longturns.py "$T/script.txt" "$MIN" >"$OUT/$TAG-longturns.txt"
rm -rf "$T"
