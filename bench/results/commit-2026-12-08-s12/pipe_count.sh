#!/usr/bin/env bash
# pipe_count.sh OUT BIN...: per binary and point (b1, b64; cpu_per_task.sh's shapes, `always`,
# 1 s warm-up + 3 s), the server's /metrics at the end: fdatasyncs, chains started beside
# another (ringq_commits_pipelined_total) and tasks enqueued.
set -u
cd "$(dirname "$0")/../../.."
. bench/bench_lib.sh
OUT=$1; shift
mkdir -p "$OUT"
declare -A SHAPE=([b1]="1 4 16" [b64]="64 4 1")
for pt in b1 b64; do
    read -r batch c i <<<"${SHAPE[$pt]}"
    for bin in "$@"; do
        d=$OUT/run
        ringqd_start "$d" 100 taskset -c 0 "$bin" --threads 1 --log-level warn --fsync always || exit 1
        taskset -c 1 /tmp/commit-s12/ringq-bench-main e2e --system ringq --threads 1 --size 100 \
            --warmup 1 --duration 3 --quiet --batch "$batch" --conns "$c" --inflight "$i" \
            --workers 4 --credits 256 --addr "127.0.0.1:$RINGQD_PORT" --server-pid "$RINGQD_PID" \
            --json "$OUT/r.json" >/dev/null 2>&1
        m=$(curl -s "http://127.0.0.1:$RINGQD_PORT/metrics" | awk '
            $1 == "ringq_fsync_seconds_count" { f = $2 }
            $1 ~ /^ringq_commits_pipelined_total/ { p += $2 }
            $1 ~ /^ringq_queue_tasks_enqueued_total/ { t += $2 }
            END { printf "fsyncs %d pipelined %d (%.2f) tasks %d tasks/fsync %.1f", f, p, p / (f ? f : 1), t, t / (f ? f : 1) }')
        ringqd_stop
        rm -rf "$d"
        echo "$pt $(basename "$bin") $m $(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.2f us/task %.0f tasks/s" % (r["server_cpu_us_per_task"], r["tasks_per_s"]))' "$OUT/r.json")"
    done
done
