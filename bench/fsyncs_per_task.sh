#!/usr/bin/env bash
# bench/fsyncs_per_task.sh: fdatasyncs per task and per Enqueue, counted by the server itself
# (/metrics: ringq_fsync_seconds_count over the sum of ringq_queue_tasks_enqueued_total, whole
# run, warm-up included), beside ringq-bench's server CPU us/task and tasks/s (measured window),
# for several ringqd binaries run interleaved (A B C, A B C, ...) so a noisy machine hits all
# alike. The count does not depend on the machine's load the way times do; at ~154 us of system
# CPU per fdatasync on the test VM (bench/results/cpu-per-task-2026-12-07.md, s8-cpu5) it is the
# lever behind `--fsync always`'s CPU per task.
# Each run: a fresh `ringqd --threads 1 --fsync $FSYNC` pinned to SERVER_CPU, ringq-bench pinned
# to CLIENT_CPU, 100-byte payloads. Points:
#   b1, b64          e2e as bench/cpu_per_task.sh (batch 1 x 4 conns x 16 in flight; 64 x 4 x 1;
#                    4 workers x 256 credits): Enqueues, deliveries and Acks
#   enq-b64, enq-b1  enqueue only: 64 x 4 conns x 1 in flight; 1 x 64 conns x 1
#
#   BINS="/path/ringqd-a /path/ringqd-b ..." [BENCH=build/ringq-bench] [REPS=3] [DURATION_S=3]
#   [WARMUP_S=1] [FSYNC=always] [POINTS="b64 b1 enq-b64 enq-b1"] [SERVER_CPU=0] [CLIENT_CPU=1]
#   [OUT=dir to keep the JSON in] bash bench/fsyncs_per_task.sh
# Hold the shared lock around it: flock /work/bench.lock env BINS=... bash bench/fsyncs_per_task.sh
# Prints one line per run, then the medians per binary and point.
set -u
. "$(dirname "$0")/bench_lib.sh" # ringqd_start, ringqd_stop
BENCH=${BENCH:-build/ringq-bench}
REPS=${REPS:-3}
DURATION_S=${DURATION_S:-3}
WARMUP_S=${WARMUP_S:-1}
FSYNC=${FSYNC:-always}
POINTS=${POINTS:-b64 b1 enq-b64 enq-b1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
STARTUP_POLLS=100 # x 0.1 s
read -r -a BINS <<<"${BINS:?BINS=\"ringqd binaries\"}"
declare -A SHAPE=([b1]="e2e 1 4 16" [b64]="e2e 64 4 1" [enq-b64]="enqueue 64 4 1"
    [enq-b1]="enqueue 1 64 1") # scenario batch conns inflight
KEEP=${OUT:-}
OUT=${OUT:-$(mktemp -d /tmp/fsyncs-per-task.XXXXXX)}
mkdir -p "$OUT"
[ -n "$KEEP" ] || trap 'rm -rf "$OUT"' EXIT

# counts PORT: "fsyncs tasks" from the server's /metrics
counts() {
    curl -s "http://127.0.0.1:$1/metrics" | awk '
        $1 == "ringq_fsync_seconds_count" { f = $2 }
        $1 ~ /^ringq_queue_tasks_enqueued_total/ { t += $2 }
        END { printf "%d %d\n", f, t }'
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# bins=${BINS[*]} fsync=$FSYNC reps=$REPS duration=${DURATION_S}s warmup=${WARMUP_S}s"
for rep in $(seq "$REPS"); do
    for name in $POINTS; do
        read -r scen batch c i <<<"${SHAPE[$name]:?unknown point $name}"
        extra=()
        [ "$scen" = e2e ] && extra=(--workers 4 --credits 256)
        for k in "${!BINS[@]}"; do
            d=$OUT/run
            ringqd_start "$d" "$STARTUP_POLLS" taskset -c "$SERVER_CPU" "${BINS[$k]}" \
                --threads 1 --log-level warn --fsync "$FSYNC" || exit 1
            json=$OUT/$k.$name.r$rep.json
            taskset -c "$CLIENT_CPU" "$BENCH" "$scen" --system ringq --threads 1 --size 100 \
                --warmup "$WARMUP_S" --duration "$DURATION_S" --quiet --batch "$batch" \
                --conns "$c" --inflight "$i" "${extra[@]}" --addr "127.0.0.1:$RINGQD_PORT" \
                --server-pid "$RINGQD_PID" --json "$json" >"$OUT/bench.log" 2>&1
            rc=$?
            read -r fs tasks <<<"$(counts "$RINGQD_PORT")"
            ringqd_stop
            rm -rf "$d"
            echo "$k $name r$rep rc=$rc $(/usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1])); fs, tasks, batch = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print("fsyncs %d tasks %d %.5f fsyncs/task %.3f fsyncs/enqueue %.2f us/task %.0f tasks/s" % (
      fs, tasks, fs / max(tasks, 1), fs * batch / max(tasks, 1),
      r.get("server_cpu_us_per_task", 0), r.get("tasks_per_s", 0)))' "$json" "$fs" "$tasks" \
                "$batch" 2>&1)"
        done
    done
done | tee "$OUT/runs.txt"
echo "# load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$OUT/runs.txt" "${BINS[@]}" <<'PY'
import statistics as st, sys
runs, bins = sys.argv[1], sys.argv[2:]
rows = {}
for line in open(runs):
    f = line.split()
    if len(f) < 16 or f[3] != "rc=0":
        continue
    k, pt = int(f[0]), f[1]
    rows.setdefault((pt, k), []).append((float(f[8]), float(f[10]), float(f[12]), float(f[14])))
print("%-8s %-40s %12s %14s %9s %9s" % ("point", "binary", "fsyncs/task", "fsyncs/enqueue",
                                         "us/task", "tasks/s"))
for (pt, k) in sorted(rows):
    v = rows[(pt, k)]
    print("%-8s %-40s %12.5f %14.3f %9.2f %9.0f" % (pt, bins[k][-40:], st.median(x[0] for x in v),
          st.median(x[1] for x in v), st.median(x[2] for x in v), st.median(x[3] for x in v)))
PY
