#!/usr/bin/env bash
# Issue 19, session 10 (s10-stalls): what the mesh hook's handlers spend the shard's CPU on. One
# open-loop point (8 x 64 in flight, 4 workers; ringqd on CPU 0, ringq-bench on CPU 1), the turn
# trace on, and `perf record -e cpu-clock` (every 250 us of a thread's CPU, DWARF stacks) on
# ringqd for 6 s inside the run; handlers.py sorts the samples under wk_mesh_poll_for by the
# handler they ran in. Run under `flock /work/bench.lock`.
#   prof.sh RINGQD SIZE RATE TAG
set -u
cd "$(dirname "$0")/../../.."
OUT=bench/results/tail-s10
BIN=$1 SIZE=$2 RATE=$3 TAG=$4
T=$(mktemp -d /tmp/s10stalls-prof.XXXXXX)
echo "$TAG load before: $(cat /proc/loadavg)" >>"$OUT/load-trace.txt"
mkdir -p "$T/d"
RINGQ_TURN_TRACE_MS=2 taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$T/port" --data "$T/d" \
    --fsync never --log-level warn >"$OUT/$TAG.log" 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 || exit 1
taskset -c 1 build/ringq-bench e2e --system ringq --addr "$ADDR" --warmup 1 --duration 9 --quiet \
    --size "$SIZE" --batch 1 --workers 4 --credits 256 --rate "$RATE" --conns 8 --inflight 64 \
    --server-pid "$PID" --json "$OUT/$TAG.json" &
G=$!
sleep 2
perf record -q -e cpu-clock -c 250000 --call-graph dwarf,8192 -p "$PID" -o "/tmp/s10stalls-$TAG.data" \
    -- sleep 6 >/dev/null 2>&1
wait "$G"
curl -s "http://$ADDR/metrics" >"$OUT/$TAG.metrics"
kill "$PID"; wait "$PID" 2>/dev/null
perf script -i "/tmp/s10stalls-$TAG.data" -F tid,time,ip,sym 2>/dev/null |
    /usr/bin/python3 "$OUT/handlers.py" >"$OUT/$TAG-handlers.txt"
/usr/bin/python3 "$OUT/turns.py" "$OUT/$TAG.log" "$OUT/$TAG.metrics" >"$OUT/$TAG-turns.txt"
echo "$TAG load after: $(cat /proc/loadavg)" >>"$OUT/load-trace.txt"
rm -rf "$T"
