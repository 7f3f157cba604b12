#!/usr/bin/env bash
# Issue 19, session 9 (s9-tails): what ringqd's shard does in its long on-CPU turns. One open-loop
# point (--fsync never, 8 x 64 in flight, 4 workers) with the whole process profiled on
# cpu-clock (every 1 ms of a thread's CPU time, DWARF stacks) for 5 s inside the 8 s run, the
# log's roll/retire and /metrics saved. Run under `flock /work/bench.lock`.
#   prof.sh RINGQD SIZE RATE TAG
set -u
cd "$(dirname "$0")/../../.."
OUT=bench/results/tail-s9
BIN=$1 SIZE=$2 RATE=$3 TAG=$4
T=$(mktemp -d /tmp/s9tails-prof.XXXXXX)
echo "$TAG load before: $(cat /proc/loadavg)" >>"$OUT/load-prof.txt"
rm -rf "$T/d"; mkdir -p "$T/d"
taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$T/port" --data "$T/d" --fsync never \
    --log-level warn >"$T/ringqd.log" 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 || exit 1
taskset -c 1 build/ringq-bench e2e --system ringq --addr "$ADDR" --warmup 1 --duration 8 --quiet \
    --size "$SIZE" --batch 1 --workers 4 --credits 256 --rate "$RATE" --conns 8 --inflight 64 \
    --server-pid "$PID" --json "$OUT/$TAG.json" &
G=$!
sleep 2
perf record -q -e cpu-clock -c 1000000 --call-graph dwarf,4096 -k CLOCK_MONOTONIC -p "$PID" \
    -o "/tmp/s9tails-$TAG.data" -- sleep 5 >/dev/null 2>&1
wait "$G"
curl -s "http://$ADDR/metrics" >"$OUT/$TAG.metrics"
kill "$PID"; wait "$PID" 2>/dev/null
perf script -i "/tmp/s9tails-$TAG.data" -F tid,time,ip,sym 2>/dev/null |
    /usr/bin/python3 "$OUT/turns.py" 2.5 5.0 30 >"$OUT/$TAG-turns.txt"
perf script -i "/tmp/s9tails-$TAG.data" -F tid,time,ip,sym 2>/dev/null |
    /usr/bin/python3 "$OUT/turns.py" 2.5 3.0 30 >"$OUT/$TAG-turns2ms.txt"
echo "$TAG load after: $(cat /proc/loadavg)" >>"$OUT/load-prof.txt"
rm -rf "$T"
