#!/usr/bin/env bash
# bench/gen_ab.sh OUT BENCH_A BENCH_B: two ringq-bench binaries (the load generator) compared on
# the suite's open-loop points, interleaved A B A B ... so the machine's load hits both alike.
# Every run starts a fresh ringqd ($RINGQD, default this tree's build/ringqd; `--threads 1
# --fsync never`, pinned to SERVER_CPU) and runs the generator pinned to CLIENT_CPU with the suite's
# open-loop settings (bench/suite_bench.sh OPEN_POINT 8x64, 4 workers, 256 credits, batch 1):
#   open  at each "SIZE:RATE" of $POINTS (default: half of the quiet-machine peaks of session 9,
#         /tmp/quiet9/quiet-fast.md: 16:42075 100:47488 2048:26456), --rate RATE
#   closed (with CLOSED=1) at each SIZE, --conns 4 --inflight 64 (the peak point 4x64)
# $REPS rounds (default 2), WARMUP_S 1, DURATION_S 5. Writes OUT/<mode>-s<SIZE>.<A|B>.r<N>.json
# and OUT/summary.tsv (one line a run: mode size bin round tasks/s p50 p99 p99.9 late_share
# late_gen_share client_cpu_util client_us_per_task server_us_per_task) and the load before and
# after in OUT/load. Hold the shared lock: flock /work/bench.lock bash bench/gen_ab.sh ...
set -u
. "$(dirname "$0")/bench_lib.sh" # ringqd_start, ringqd_stop
[ $# -eq 3 ] || { echo "usage: $0 OUT BENCH_A BENCH_B" >&2; exit 2; }
OUT=$1 A=$2 B=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RINGQD=${RINGQD:-$ROOT/build/ringqd}
POINTS=${POINTS:-16:42075 100:47488 2048:26456}
REPS=${REPS:-2} WARMUP_S=${WARMUP_S:-1} DURATION_S=${DURATION_S:-5}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
PY=/usr/bin/python3
mkdir -p "$OUT"
cat /proc/loadavg >"$OUT/load"
printf 'mode\tsize\tbin\tround\ttasks_s\tp50_us\tp99_us\tp999_us\tlate_share\tlate_gen_share\tclient_cpu_util\tclient_us_task\tserver_us_task\n' >"$OUT/summary.tsv"

one() { # one MODE SIZE TAG BIN ROUND ARGS...: a fresh ringqd, one run, a summary line
    local mode=$1 size=$2 tag=$3 bin=$4 r=$5 d json
    shift 5
    d=$(mktemp -d /tmp/gen-ab.XXXXXX)
    json=$OUT/$mode-s$size.$tag.r$r.json
    ringqd_start "$d" 100 taskset -c "$SERVER_CPU" "$RINGQD" --threads 1 --log-level warn \
        --fsync never || { rm -rf "$d"; return 1; }
    taskset -c "$CLIENT_CPU" "$bin" e2e --system ringq --threads 1 --size "$size" --batch 1 \
        --workers 4 --credits 256 --warmup "$WARMUP_S" --duration "$DURATION_S" --quiet \
        --server-pid "$RINGQD_PID" --addr "127.0.0.1:$RINGQD_PORT" --json "$json" "$@" \
        >"$json.log" 2>&1
    ringqd_stop
    rm -rf "$d"
    "$PY" - "$json" "$mode" "$size" "$tag" "$r" >>"$OUT/summary.tsv" <<'EOF'
import json, sys
p, mode, size, tag, r = sys.argv[1:]
j = json.load(open(p))
l = j["latency_us"]
g = lambda k, f="%.4f": (f % j[k]) if k in j else "-"
print("\t".join([mode, size, tag, r, "%.0f" % j["tasks_per_s"], "%.0f" % l["p50"],
                 "%.0f" % l["p99"], "%.0f" % l["p999"], g("late_share"), g("late_gen_share"),
                 g("client_cpu_util", "%.3f"), g("client_cpu_us_per_task", "%.2f"),
                 g("server_cpu_us_per_task", "%.2f")]))
EOF
}

for ((r = 1; r <= REPS; r++)); do
    for pt in $POINTS; do
        size=${pt%%:*} rate=${pt#*:}
        one open "$size" A "$A" "$r" --rate "$rate" --conns 8 --inflight 64
        one open "$size" B "$B" "$r" --rate "$rate" --conns 8 --inflight 64
        if [ "${CLOSED:-0}" = 1 ]; then
            one closed "$size" A "$A" "$r" --conns 4 --inflight 64
            one closed "$size" B "$B" "$r" --conns 4 --inflight 64
        fi
    done
done
cat /proc/loadavg >>"$OUT/load"
column -t "$OUT/summary.tsv"
