#!/usr/bin/env bash
# bench/estream_e2e_durable.sh: durable end to end, one task per message (issue #19 item 3):
# ringq's unary Enqueue path (system ringq), its streaming path (ringq-stream: Queue.
# EnqueueStream) and Redis with `appendfsync always`, runs interleaved so a noisy machine hits
# all alike. Each run: a fresh server pinned to CPU 0 (`ringqd --threads 1 --fsync always`, or
# `redis-server --appendonly yes --appendfsync always`), ringq-bench e2e pinned to CPU 1, batch 1,
# 100-byte payloads, 4 workers with 256 credits, at each POINTS entry (conns x in flight).
#   [RINGQD=build/ringqd] [BENCH=build/ringq-bench] [REPS=3] [DURATION_S=3]
#   [POINTS="4x16 4x64"] [SYSTEMS="ringq ringq-stream redis"] bash bench/estream_e2e_durable.sh
# Prints one line per run: system, point, tasks/s, e2e latency p50/p99/p99.9 (enqueue sent ->
# task received by a worker). Needs 2 CPUs and redis-server.
set -u
. "$(dirname "$0")/bench_lib.sh" # ringqd_start, ringqd_stop, free_port
PY=/usr/bin/python3
RINGQD=${RINGQD:-build/ringqd}
BENCH=${BENCH:-build/ringq-bench}
REPS=${REPS:-3}
DURATION_S=${DURATION_S:-3}
POINTS=${POINTS:-4x16 4x64}
SYSTEMS=${SYSTEMS:-ringq ringq-stream redis}
OUT=$(mktemp -d /tmp/estream-e2e.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for rep in $(seq "$REPS"); do
    for pt in $POINTS; do
        c=${pt%x*} i=${pt#*x}
        for sys in $SYSTEMS; do
            d=$OUT/run
            mkdir -p "$d/data"
            if [ "$sys" = redis ]; then
                port=$(free_port)
                taskset -c 0 redis-server --bind 127.0.0.1 --port "$port" --dir "$d/data" \
                    --save '' --appendonly yes --appendfsync always --protected-mode no \
                    --loglevel warning >"$d/log" 2>&1 &
                pid=$!
                for _ in $(seq 100); do # startup poll
                    redis-cli -p "$port" ping >/dev/null 2>&1 && break
                    sleep 0.1
                done
            else
                ringqd_start "$d" 100 taskset -c 0 "$RINGQD" --threads 1 --log-level warn \
                    --fsync always || exit 1
                pid=$RINGQD_PID port=$RINGQD_PORT
            fi
            json=$OUT/$sys.$pt.r$rep.json
            taskset -c 1 "$BENCH" e2e --system "$sys" --label durable --threads 1 --size 100 \
                --warmup 1 --duration "$DURATION_S" --quiet --batch 1 --conns "$c" \
                --inflight "$i" --workers 4 --credits 256 --addr "127.0.0.1:$port" \
                --json "$json" >"$OUT/bench.log" 2>&1
            rc=$?
            echo "$sys $pt r$rep rc=$rc $(/usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1])); l = r.get("latency_us") or {}
print("%.0f tasks/s p50 %.0f p99 %.0f p99.9 %.0f us"
      % (r.get("tasks_per_s", 0), l.get("p50", 0), l.get("p99", 0), l.get("p999", 0)))' "$json" 2>&1)"
            kill "$pid"
            wait "$pid" 2>/dev/null
            rm -rf "$d"
        done
    done
done
