#!/usr/bin/env bash
# Issue 19, session 8, after merging main (s8-cpu3's per-task CPU work): ringqd vs redis at
# x=256 fast e2e with server CPU per task, interleaved ringq / redis / ringq, then the off-CPU
# trace (../profiles/offcpu.sh). Run under `flock /work/bench.lock`.
set -u
cd "$(dirname "$0")/../../../.."
OUT=bench/results/tail-s8/after-merge
B=build
T=$(mktemp -d /tmp/qtail-am.XXXXXX)
echo "load before: $(cat /proc/loadavg)" >"$OUT/load.txt"
common=(--warmup 1 --duration 5 --quiet --size 100 --batch 1 --workers 4 --credits 256 --conns 4 --inflight 64)
ringq() { # ringq TAG
    rm -rf "$T/d"; mkdir -p "$T/d"
    taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file "$T/port" --data "$T/d" --fsync never \
        --log-level warn >/dev/null 2>&1 &
    PID=$!
    for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
    ADDR=127.0.0.1:$(cat "$T/port"); rm -f "$T/port"
    /usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10
    taskset -c 1 $B/ringq-bench e2e --system ringq --addr "$ADDR" "${common[@]}" --server-pid "$PID" \
        --json "$OUT/x256.ringq.$1.json"
    kill "$PID"; wait "$PID" 2>/dev/null
}
redis() {
    P=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
    rm -rf "$T/r"; mkdir -p "$T/r"
    taskset -c 0 redis-server --bind 127.0.0.1 --port "$P" --dir "$T/r" --save '' --appendonly yes \
        --appendfsync no --protected-mode no --loglevel warning >/dev/null 2>&1 &
    PID=$!
    /usr/bin/python3 bench/bench_ready.py redis "127.0.0.1:$P" "$PID" 10
    taskset -c 1 $B/ringq-bench e2e --system redis --addr "127.0.0.1:$P" "${common[@]}" \
        --server-pid "$PID" --json "$OUT/x256.redis.json"
    kill "$PID"; wait "$PID" 2>/dev/null
}
ringq 1; redis; ringq 2
echo "load after: $(cat /proc/loadavg)" >>"$OUT/load.txt"
rm -rf "$T"
bash bench/results/tail-s8/profiles/offcpu.sh
