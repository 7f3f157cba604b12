#!/usr/bin/env bash
# Issue 19, session 8: server CPU per task at x=256 (ringq vs redis, --fsync never / appendfsync
# no), one open-loop 100 B point with the shard's off-CPU switches recorded, and the same point
# from two generators at half the rate each. Run under `flock /work/bench.lock`.
set -u
cd "$(dirname "$0")/../../../.."
OUT=bench/results/tail-s8/profiles
B=build
RATE=${RATE:-44703}
T=$(mktemp -d /tmp/qtail-prof.XXXXXX)
echo "load before: $(cat /proc/loadavg)" >"$OUT/prof.txt"
start_ringqd() { # start_ringqd NAME
    rm -rf "$T/d"; mkdir -p "$T/d"
    taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file "$T/port" --data "$T/d" --fsync never \
        --log-level warn >"$T/ringqd.log" 2>&1 &
    PID=$!
    for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
    ADDR=127.0.0.1:$(cat "$T/port")
    /usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10
    rm -f "$T/port"
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null; }
common=(--warmup 1 --duration 5 --quiet --size 100 --batch 1 --workers 4 --credits 256)
# 1. closed loop x=256 with the server's CPU
start_ringqd
taskset -c 1 $B/ringq-bench e2e --system ringq --addr "$ADDR" "${common[@]}" --conns 4 \
    --inflight 64 --server-pid "$PID" --json "$OUT/x256.ringq.json"
stop
P=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
rm -rf "$T/r"; mkdir -p "$T/r"
taskset -c 0 redis-server --bind 127.0.0.1 --port "$P" --dir "$T/r" --save '' --appendonly yes \
    --appendfsync no --protected-mode no --loglevel warning >/dev/null 2>&1 &
PID=$!
/usr/bin/python3 bench/bench_ready.py redis "127.0.0.1:$P" "$PID" 10
taskset -c 1 $B/ringq-bench e2e --system redis --addr "127.0.0.1:$P" "${common[@]}" --conns 4 \
    --inflight 64 --server-pid "$PID" --json "$OUT/x256.redis.json"
stop
# 2. open loop 100 B at half of peak, one generator, the shard's switches recorded
start_ringqd
taskset -c 1 $B/ringq-bench e2e --system ringq --addr "$ADDR" "${common[@]}" --rate "$RATE" \
    --conns 8 --inflight 64 --server-pid "$PID" --json "$OUT/open1.json" &
G=$!
sleep 2
perf record -q -e sched:sched_switch -g -p "$PID" -o "$T/sw.data" -- sleep 3 >/dev/null 2>&1
perf record -q -F 999 -g -p "$PID" -o "$T/cpu.data" -- sleep 1 >/dev/null 2>&1
wait "$G"
curl -s "http://$ADDR/metrics" >"$OUT/open1.metrics"
stop
perf report -i "$T/sw.data" --stdio --no-children -G --percent-limit 2 2>/dev/null | head -120 >"$OUT/open1-switches.txt"
perf report -i "$T/cpu.data" --stdio --no-children --percent-limit 1.5 -g none 2>/dev/null | head -60 >"$OUT/open1-cpu.txt"
# 3. the same point from two generators at half the rate each (both on CPU 1)
start_ringqd
H=$(/usr/bin/python3 -c "print($RATE/2)")
for i in 1 2; do
    taskset -c 1 $B/ringq-bench e2e --system ringq --addr "$ADDR" "${common[@]}" --rate "$H" \
        --conns 4 --inflight 64 --queue "bench-two-$i" --json "$OUT/open2-$i.json" &
    eval "G$i=\$!"
done
wait "$G1" "$G2"
curl -s "http://$ADDR/metrics" >"$OUT/open2.metrics"
stop
echo "load after: $(cat /proc/loadavg)" >>"$OUT/prof.txt"
rm -rf "$T"
