#!/usr/bin/env bash
# Issue 19, session 8: ringqd (--fsync never, --threads 1, CPU 0) on-CPU profile and CPU per
# task at x=64 (4x16) and x=256 (4x64), closed loop, 100 B, one ringq-bench on CPU 1.
# Run under `flock /work/bench.lock`.
set -u
cd "$(dirname "$0")/../../../.."
OUT=bench/results/tail-s8/profiles
B=build
T=$(mktemp -d /tmp/qtail-profx.XXXXXX)
echo "load before: $(cat /proc/loadavg)" >"$OUT/prof-x.txt"
for x in 16 64; do
    rm -rf "$T/d"; mkdir -p "$T/d"
    taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file "$T/port" --data "$T/d" --fsync never \
        --log-level warn >"$T/ringqd.log" 2>&1 &
    PID=$!
    for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
    ADDR=127.0.0.1:$(cat "$T/port"); rm -f "$T/port"
    /usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10
    taskset -c 1 $B/ringq-bench e2e --system ringq --addr "$ADDR" --warmup 1 --duration 5 --quiet \
        --size 100 --batch 1 --workers 4 --credits 256 --conns 4 --inflight $x --server-pid "$PID" \
        --json "$OUT/prof-x$((4 * x)).json" &
    G=$!
    sleep 2
    perf record -q -F 1999 -g -p "$PID" -o "$T/x$x.data" -- sleep 3 >/dev/null 2>&1
    perf stat -e context-switches,cpu-migrations,page-faults -p "$PID" -- sleep 1 2>>"$OUT/prof-x.txt"
    wait "$G"
    curl -s "http://$ADDR/metrics" >"$OUT/prof-x$((4 * x)).metrics"
    kill "$PID"; wait "$PID" 2>/dev/null
    perf report -i "$T/x$x.data" --stdio --no-children --sort sym --percent-limit 0.8 -g none \
        2>/dev/null | grep -v '^#' | grep -v '^$' | head -45 >"$OUT/prof-x$((4 * x))-cpu.txt"
done
echo "load after: $(cat /proc/loadavg)" >>"$OUT/prof-x.txt"
rm -rf "$T"
