#!/usr/bin/env bash
# bench/ab_e2e_durable.sh: ringq's durable end-to-end figure for two ringqd binaries, runs
# interleaved (before, after, before, ...) so a noisy machine hits both alike. Each run: a fresh
# `ringqd --threads 1 --fsync always` pinned to CPU 0, ringq-bench e2e pinned to CPU 1 (the
# suite's e2e-b1 4x16 and e2e-batch 4x1 points with batch 64, 4 workers, 256 credits).
#   BEFORE=/path/ringqd AFTER=build/ringqd [BENCH=build/ringq-bench] [REPS=3] [DURATION_S=3]
#   bash bench/ab_e2e_durable.sh
# Prints one line per run: which, point, tasks/s, e2e latency p50/p99 (enqueue sent -> task
# received by a worker). Needs 2 CPUs.
set -u
. "$(dirname "$0")/bench_lib.sh" # ringqd_start, ringqd_stop
BENCH=${BENCH:-build/ringq-bench}
REPS=${REPS:-3}
DURATION_S=${DURATION_S:-3}
OUT=$(mktemp -d /tmp/ab-e2e.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
declare -A BIN=([before]=${BEFORE:?BEFORE=ringqd binary} [after]=${AFTER:?AFTER=ringqd binary})
for rep in $(seq "$REPS"); do
    for v in before after; do
        for pt in "b1 1 4 16" "b64 64 4 1"; do
            read -r name batch c i <<<"$pt"
            d=$OUT/run
            ringqd_start "$d" 100 taskset -c 0 "${BIN[$v]}" --threads 1 --log-level warn \
                --fsync always || exit 1
            json=$OUT/$v.$name.r$rep.json
            taskset -c 1 "$BENCH" e2e --system ringq --label durable --threads 1 --size 100 \
                --warmup 1 --duration "$DURATION_S" --quiet --batch "$batch" --conns "$c" \
                --inflight "$i" --workers 4 --credits 256 --addr "127.0.0.1:$RINGQD_PORT" \
                --json "$json" >"$OUT/bench.log" 2>&1
            rc=$?
            echo "$v $name r$rep rc=$rc $(/usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1])); l = r.get("latency_us") or {}
print("%.0f tasks/s p50 %.0f p99 %.0f us"
      % (r.get("tasks_per_s", 0), l.get("p50", 0), l.get("p99", 0)))' "$json" 2>&1)"
            ringqd_stop
            rm -rf "$d"
        done
    done
done
