#!/usr/bin/env bash
# Issue 19, session 10 (s10-limits): where the CPU of each side goes at one e2e-b1 point of the
# suite (fresh ringqd --threads 1 pinned to CPU 0, ringq-bench --threads 1 pinned to CPU 1,
# 100 B, 4 producer connections x I in flight, 4 workers, credits as the suite's). perf record
# -g (cpu-clock, DWARF stacks) on ringqd and on ringq-bench together for 4 s inside the 6 s
# window; the flat (self) and inclusive top symbols of each process go to OUT/TAG-*.txt beside
# the run's JSON and /metrics (percentages relative to that process's samples; perf.data kept in
# /tmp/s10limits-TAG.perf.data). Run from the repository root under `flock /work/bench.lock`:
#   prof.sh BUILD FSYNC(always|never) SYSTEM(ringq|ringq-stream) INFLIGHT TAG OUT
set -u
BUILD=$1 FSYNC=$2 SYS=$3 INFL=$4 TAG=$5 OUT=$6
mkdir -p "$OUT"
T=$(mktemp -d /tmp/s10limits-prof.XXXXXX)
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$T"' EXIT
echo "$TAG load before: $(cat /proc/loadavg)" >>"$OUT/load-prof.txt"
mkdir -p "$T/d"
taskset -c 0 "$BUILD/ringqd" --threads 1 --port 0 --port-file "$T/port" --data "$T/d" \
    --fsync "$FSYNC" --log-level warn >"$T/ringqd.log" 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 || exit 1
drv=ringq
[ "$SYS" = ringq-stream ] && drv=ringq-stream
CRED=$((4 * INFL * 2 / 4)); [ "$CRED" -lt 256 ] && CRED=256
taskset -c 1 "$BUILD/ringq-bench" e2e --system "$drv" --label "$FSYNC" --addr "$ADDR" --threads 1 \
    --size 100 --warmup 1 --duration 6 --quiet --batch 1 --conns 4 --inflight "$INFL" \
    --workers 4 --credits "$CRED" --server-pid "$PID" --json "$OUT/$TAG.json" &
G=$!
# ringq-bench's pid: taskset execs it, so $G is ringq-bench itself.
sleep 2 # into the measured window (1 s warm-up): the profile covers 4 s of it
DATA=/tmp/s10limits-$TAG.perf.data
perf record -q -e cpu-clock -F 1000 --call-graph dwarf,8192 -p "$PID,$G" -o "$DATA" \
    -- sleep 4 >/dev/null 2>&1
wait "$G"
curl -s "http://$ADDR/metrics" >"$OUT/$TAG.metrics"
echo "$TAG load after: $(cat /proc/loadavg)" >>"$OUT/load-prof.txt"
kill "$PID"; wait "$PID" 2>/dev/null
for pid in "$PID" "$G"; do
    comm=ringqd
    [ "$pid" = "$G" ] && comm=ringq-bench
    perf report -i "$DATA" --pid "$pid" --percentage relative --no-children --sort sym --stdio \
        -g none --percent-limit 0.6 2>/dev/null | grep -v '^$' | head -70 >"$OUT/$TAG-$comm-self.txt"
    perf report -i "$DATA" --pid "$pid" --percentage relative --children --sort sym --stdio \
        -g none --percent-limit 4 2>/dev/null | grep -v '^$' | head -80 >"$OUT/$TAG-$comm-incl.txt"
done
