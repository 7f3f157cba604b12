#!/usr/bin/env bash
# Issue 19, session 8: where ringqd's shard thread blocks (switches out not runnable, prev_state
# D) during the fast open loop at 2 KiB, 12,885/s (the point whose long turns were on-CPU), with
# kernel stacks. Run under `flock /work/bench.lock`.
set -u
cd "$(dirname "$0")/../../../.."
OUT=bench/results/tail-s8/profiles
B=build
T=$(mktemp -d /tmp/qtail-off.XXXXXX)
echo "load before: $(cat /proc/loadavg)" >"$OUT/offcpu.txt"
taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file "$T/port" --data "$T/d" --fsync never \
    --log-level warn >/dev/null 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10
taskset -c 1 $B/ringq-bench e2e --system ringq --addr "$ADDR" --warmup 1 --duration 8 --quiet \
    --size 2048 --rate 12885 --batch 1 --conns 8 --inflight 64 --workers 4 --credits 256 \
    --server-pid "$PID" --json "$OUT/offcpu-open2048.json" &
G=$!
sleep 1.5
perf record -q -e sched:sched_switch -g -p "$PID" -o "$T/sw.data" -- sleep 6 >/dev/null 2>&1
wait "$G"
curl -s "http://$ADDR/metrics" >"$OUT/offcpu-open2048.metrics"
kill "$PID"; wait "$PID" 2>/dev/null
# Blocked (D) switches of any ringqd thread, by kernel stack.
perf script -i "$T/sw.data" 2>/dev/null | awk '
  /sched:sched_switch/ { keep = ($0 ~ /prev_state=D/); if (keep) { n++; print "----"; print } next }
  keep && NF { print }' | head -400 >"$OUT/offcpu-blocked-stacks.txt"
echo "blocked switches: $(grep -c '^----' "$OUT/offcpu-blocked-stacks.txt")" >>"$OUT/offcpu.txt"
echo "all switches: $(perf script -i "$T/sw.data" 2>/dev/null | grep -c sched:sched_switch)" >>"$OUT/offcpu.txt"
echo "load after: $(cat /proc/loadavg)" >>"$OUT/offcpu.txt"
rm -rf "$T"
