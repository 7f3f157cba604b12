#!/bin/bash
# profiles of ringqd and ringq-bench during an open-loop point (issue 19 item 4), and a second
# generator check; run under flock /work/bench.lock. Args: COLUMN(fsync) RATE SIZE OUT
set -u
FS=$1 RATE=$2 SIZE=$3 OUT=$4
cd /work/wt/tail
mkdir -p "$OUT"
D=$(mktemp -d /tmp/tail-prof.XXXXXX)
trap 'kill $SP 2>/dev/null; wait; rm -rf "$D"' EXIT
start() {
    rm -rf "$D/data" "$D/port"; mkdir -p "$D/data"
    taskset -c 0 build/ringqd --threads 1 --port 0 --port-file "$D/port" --data "$D/data" --log-level warn --fsync "$FS" >"$D/server.log" 2>&1 &
    SP=$!
    for i in $(seq 250); do [ -s "$D/port" ] && break; sleep 0.02; done # startup poll with a deadline
    PORT=$(cat "$D/port")
    /usr/bin/python3 bench/bench_ready.py ringq 127.0.0.1:$PORT $SP 30
}
bench() { # bench CPU CONNS RATE JSON DURATION
    taskset -c "$1" build/ringq-bench e2e --system ringq --label "$FS" --threads 1 --size "$SIZE" --warmup 1 \
        --duration "$5" --quiet --rate "$3" --batch 1 --conns "$2" --inflight 64 --workers 4 --credits 256 \
        --addr 127.0.0.1:$PORT --server-pid $SP --json "$4"
}
echo "load $(cat /proc/loadavg)" > "$OUT/load-$FS.txt"
# 1. profiles during the point
start
bench 1 8 "$RATE" "$OUT/prof-$FS.json" 10 & BP=$!
sleep 2 # let warm-up pass before sampling (not synchronization: the run lasts 11 s)
perf record -q -g -F 499 -p $SP -o "$OUT/ringqd-$FS.perf" -- sleep 5 2>/dev/null &
perf record -q -g -F 499 -p $BP -o "$OUT/bench-$FS.perf" -- sleep 5 2>/dev/null &
wait %2 %3 2>/dev/null
perf sched record -q -o "$D/sched.data" -- sleep 2 >/dev/null 2>&1
perf sched latency -i "$D/sched.data" --sort max 2>/dev/null | grep -E "Task|ringq|----" | head -20 > "$OUT/sched-latency-$FS.txt"
perf sched timehist -i "$D/sched.data" -s 2>/dev/null | grep -E "ringq|comm" | head -30 > "$OUT/sched-timehist-$FS.txt"
wait $BP
curl -s http://127.0.0.1:$PORT/metrics > "$OUT/prof-$FS.metrics"
kill $SP; wait $SP 2>/dev/null
echo "load $(cat /proc/loadavg)" >> "$OUT/load-$FS.txt"
# 2. one generator against two (each half the rate, half the connections), same CPU
start
bench 1 8 "$RATE" "$OUT/gen1-$FS.json" 5
kill $SP; wait $SP 2>/dev/null
start
bench 1 4 $((RATE / 2)) "$OUT/gen2a-$FS.json" 5 & B1=$!
bench 1 4 $((RATE / 2)) "$OUT/gen2b-$FS.json" 5 & B2=$!
wait $B1 $B2
kill $SP; wait $SP 2>/dev/null
start
bench 0,1 4 $((RATE / 2)) "$OUT/gen2c-$FS.json" 5 & B1=$!
bench 0,1 4 $((RATE / 2)) "$OUT/gen2d-$FS.json" 5 & B2=$!
wait $B1 $B2
echo "load $(cat /proc/loadavg)" >> "$OUT/load-$FS.txt"
