#!/usr/bin/env bash
# bench/callgrind_gen.sh BENCH MODE SIZE OUT: user-space instructions per task of a ringq-bench
# binary (the load generator, not the server), independent of the machine's load. A plain ringqd
# (this tree's build/ringqd, or $RINGQD; `--threads 1 --fsync never`, fresh data directory) is
# driven by BENCH under callgrind, `e2e --system ringq --threads 1 --batch 1 --conns 8 --workers 4
# --credits 256 --size SIZE`, the suite's open-loop point (bench/suite_bench.sh OPEN_POINT 8x64):
#   MODE open    --rate $RATE (default 800/s: what the generator keeps up with under callgrind)
#                --inflight 64
#   MODE closed  --inflight 4 (closed loop)
# 1 s warm-up, $DURATION_S (default 6) measured. The counters are zeroed (callgrind_control -z)
# 1.1 s after the start, as the warm-up ends; the dump at exit has the rest (the measured window,
# the stop and the teardown). Prints one line:
#   BENCH MODE sSIZE Ir=<instructions> tasks=<acked in the window> Ir_per_task=<Ir / tasks>
#   late=<late sends> client_cpu_per_task_us=<ringq-bench's own figure, under callgrind>
# and leaves OUT.json, OUT.bench.log and OUT.cg (callgrind_annotate OUT.cg). Hold the shared lock:
#   flock /work/bench.lock bash bench/callgrind_gen.sh build/ringq-bench open 100 /tmp/cg-gen
set -u
. "$(dirname "$0")/bench_lib.sh" # ringqd_start, ringqd_stop
[ $# -eq 4 ] || { echo "usage: $0 BENCH open|closed SIZE OUT" >&2; exit 2; }
BENCH=$1 MODE=$2 SZ=$3 OUT=$4
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RINGQD=${RINGQD:-$ROOT/build/ringqd}
RATE=${RATE:-800}
DURATION_S=${DURATION_S:-6}
PY=/usr/bin/python3
WARMUP_S=1
ZERO_AFTER_S=1.1 # just past the warm-up: the counted window is the measured one
case $MODE in
open) extra=(--rate "$RATE" --inflight 64) ;;
closed) extra=(--inflight 4) ;;
*) echo "MODE: open or closed" >&2; exit 2 ;;
esac

d=$(mktemp -d /tmp/callgrind-gen.XXXXXX)
ringqd_start "$d" 100 "$RINGQD" --threads 1 --log-level warn --fsync never || exit 1
valgrind --tool=callgrind --callgrind-out-file="$OUT.cg" "$BENCH" e2e --system ringq \
    --threads 1 --size "$SZ" --warmup "$WARMUP_S" --duration "$DURATION_S" --quiet --batch 1 \
    --conns 8 --workers 4 --credits 256 "${extra[@]}" --addr "127.0.0.1:$RINGQD_PORT" \
    --json "$OUT.json" >"$OUT.bench.log" 2>&1 &
bp=$!
sleep "$ZERO_AFTER_S"
callgrind_control -z "$bp" >/dev/null
wait "$bp"
ringqd_stop
rm -rf "$d"
ir=$(callgrind_annotate "$OUT.cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
read -r tasks late cpu < <("$PY" -c 'import json, sys
r = json.load(open(sys.argv[1]))
t = r["tasks"]
c = r.get("client_cpu_s", -1)
print(t, r.get("late_sends", 0), "%.2f" % (c / t * 1e6 if t and c > 0 else -1))' "$OUT.json")
[ "${tasks:-0}" -gt 0 ] && [ -n "$ir" ] || { echo "no result: see $OUT.bench.log" >&2; exit 1; }
echo "$BENCH $MODE s$SZ Ir=$ir tasks=$tasks Ir_per_task=$((ir / tasks)) late=$late" \
    "client_cpu_per_task_us=$cpu"
