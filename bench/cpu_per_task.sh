#!/usr/bin/env bash
# bench/cpu_per_task.sh: server CPU per task end to end (Enqueue + Work delivery + Ack) for two
# ringqd binaries, runs interleaved (before, after, before, ...) so a noisy machine hits both
# alike. Each run: a fresh `ringqd --threads 1 --fsync F` pinned to SERVER_CPU, `ringq-bench e2e`
# pinned to CLIENT_CPU (100-byte payloads, 4 workers with 256 credits; b1 = batch 1 at 4
# connections x 16 in flight, b64 = batch 64 at 4 x 1, the suite's e2e-b1 / e2e-batch points).
# ringq-bench reads the server's utime + stime (/proc/PID/stat, every thread) at the start and
# the end of its measured window (--server-pid), so start-up and warm-up are excluded, and
# divides by the tasks acked end to end in that window. The generator's own CPU (utime + stime of
# ringq-bench, every thread, same window) is printed beside it: client us/task and client util
# (CPUs it used; near 1.0 = the single generator thread is saturated, so tasks/s there measures
# the client, not the server).
#
# Fixed offered rate: RATE_b1=N / RATE_b64=N (ops/s in total, ringq-bench --rate: open
# loop, the same load offered to both binaries) replace the closed loop at that point, so CPU
# per task is compared at equal work per second when the closed loop is client-bound (the
# conns x inflight shape still bounds what is outstanding). Unset: closed loop, as before.
#
#   BEFORE=/path/ringqd [AFTER=build/ringqd] [BENCH=build/ringq-bench] [REPS=3] [DURATION_S=5]
#   [WARMUP_S=1] [FSYNCS="always never"] [POINTS="b1 b64"] [SERVER_CPU=0] [CLIENT_CPU=1]
#   [RATE_b1=ops/s] [RATE_b64=ops/s] [PAYLOAD=bytes (100)] [OUT=dir to keep the JSON in]
#   bash bench/cpu_per_task.sh
#
# BEFORE for issue #13 item 8 is 93a318b:
#   mkdir /tmp/ringq-93a318b && git archive 93a318b | tar -x -C /tmp/ringq-93a318b
#   make -C /tmp/ringq-93a318b -j2 build/ringqd
# Prints one line per run, then per point the medians: CPU us/task, tasks/s, p50/p99 e2e
# latency (enqueue sent -> task received by a worker) and the after/before ratios. Needs 2 CPUs.
set -u
. "$(dirname "$0")/bench_lib.sh" # ringqd_start, ringqd_stop
BENCH=${BENCH:-build/ringq-bench}
REPS=${REPS:-3}
DURATION_S=${DURATION_S:-5}
WARMUP_S=${WARMUP_S:-1}
FSYNCS=${FSYNCS:-always never}
POINTS=${POINTS:-b1 b64}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PAYLOAD=${PAYLOAD:-100} # bytes per task (--size); 2048 for the large-payload points of issue #15
STARTUP_POLLS=100 # x 0.1 s: a fresh ringqd writes its port file well within 10 s
declare -A BIN=([before]=${BEFORE:?BEFORE=ringqd binary} [after]=${AFTER:-build/ringqd})
declare -A SHAPE=([b1]="1 4 16" [b64]="64 4 1") # batch conns inflight
KEEP=${OUT:-}
OUT=${OUT:-$(mktemp -d /tmp/cpu-per-task.XXXXXX)}
mkdir -p "$OUT"
[ -n "$KEEP" ] || trap 'rm -rf "$OUT"' EXIT
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# before=${BIN[before]} after=${BIN[after]} reps=$REPS duration=${DURATION_S}s payload=${PAYLOAD}B"
for rep in $(seq "$REPS"); do
    for fs in $FSYNCS; do
        for name in $POINTS; do
            read -r batch c i <<<"${SHAPE[$name]:?unknown point $name}"
            rate_var=RATE_$name
            rate_args=()
            [ -n "${!rate_var:-}" ] && rate_args=(--rate "${!rate_var}")
            for v in before after; do
                d=$OUT/run
                ringqd_start "$d" "$STARTUP_POLLS" taskset -c "$SERVER_CPU" "${BIN[$v]}" \
                    --threads 1 --log-level warn --fsync "$fs" || exit 1
                json=$OUT/$v.$fs.$name.r$rep.json
                taskset -c "$CLIENT_CPU" "$BENCH" e2e --system ringq --label "$v" --threads 1 \
                    --size "$PAYLOAD" --warmup "$WARMUP_S" --duration "$DURATION_S" --quiet \
                    --batch "$batch" --conns "$c" --inflight "$i" --workers 4 --credits 256 \
                    --addr "127.0.0.1:$RINGQD_PORT" --server-pid "$RINGQD_PID" "${rate_args[@]}" \
                    --json "$json" >"$OUT/bench.log" 2>&1
                rc=$?
                ringqd_stop
                rm -rf "$d"
                echo "$v $fs $name r$rep rc=$rc $(/usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1])); l = r.get("latency_us") or {}
print("%.2f us/task %.0f tasks/s p50 %.0f p99 %.0f us client %.2f us/task util %.2f" % (
      r.get("server_cpu_us_per_task", 0), r.get("tasks_per_s", 0), l.get("p50", 0),
      l.get("p99", 0), r.get("client_cpu_us_per_task", 0), r.get("client_cpu_util", 0)))' \
                    "$json" 2>&1)"
            done
        done
    done
done
/usr/bin/python3 - "$OUT" "$FSYNCS" "$POINTS" <<'PY'
import glob, json, os, statistics as st, sys
out, fsyncs, points = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def med(v, fs, pt, key):
    xs = []
    for f in glob.glob(os.path.join(out, "%s.%s.%s.r*.json" % (v, fs, pt))):
        r = json.load(open(f))
        if not r.get("passed"): continue
        x = r.get(key) if key in r else (r.get("latency_us") or {}).get(key)
        if x is not None: xs.append(x)
    return (st.median(xs), len(xs)) if xs else (float("nan"), 0)
print("\n| fsync | point | runs | CPU us/task before | after | ratio | tasks/s before | after "
      "| ratio | p50 us before | after | p99 us before | after | client util before | after |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for fs in fsyncs:
    for pt in points:
        row = {}
        for k in ("server_cpu_us_per_task", "tasks_per_s", "p50", "p99", "client_cpu_util"):
            row[k] = [med(v, fs, pt, k) for v in ("before", "after")]
        cu = row["client_cpu_util"]
        c, t, p50, p99 = (row[k] for k in ("server_cpu_us_per_task", "tasks_per_s", "p50", "p99"))
        ratio = lambda a: a[1][0] / a[0][0] if a[0][0] else float("nan")
        print(("| %s | %s | %d/%d | %.2f | %.2f | %.2f | %.0f | %.0f | %.2f | %.0f | %.0f "
               "| %.0f | %.0f | %.2f | %.2f |")
              % (fs, pt, c[0][1], c[1][1], c[0][0], c[1][0], ratio(c), t[0][0], t[1][0], ratio(t),
                 p50[0][0], p50[1][0], p99[0][0], p99[1][0], cu[0][0], cu[1][0]))
PY
