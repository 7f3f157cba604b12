#!/usr/bin/env bash
# bench/callgrind_e2e.sh RINGQD BATCH CONNS INFLIGHT OUT: user-space instructions per task of a
# ringqd binary end to end, independent of the machine's load. RINGQD runs under callgrind with
# `--threads 1 --fsync $FSYNC` (default never) on a fresh data directory; `ringq-bench e2e`
# (100-byte payloads, 4 workers x 256 credits, --batch BATCH --conns CONNS --inflight INFLIGHT,
# 1 s warm-up, 8 s measured) drives it; the counters are zeroed (callgrind_control -z) 1.1 s
# after the bench starts, as its warm-up ends, and dumped (-d) when it ends. Prints one line:
#   RINGQD bBATCH Ir=<instructions> tasks=<acked in the window> Ir_per_task=<Ir / tasks>
# and leaves OUT.json (the bench's result), OUT.bench.log and OUT.cg.1 (the dump, for
# callgrind_annotate; with INCLUSIVE=1 also OUT.inclusive.txt, the top 140 lines of the
# inclusive listing). Kernel time is not counted. BENCH (default: this tree's
# build/ringq-bench) is the generator, the same one for every ringqd compared; hold the shared lock for timing runs:
#   flock /work/bench.lock bash bench/callgrind_e2e.sh build/ringqd 64 4 1 /tmp/cg-b64
set -u
. "$(dirname "$0")/bench_lib.sh" # callgrind_count
[ $# -eq 5 ] || { echo "usage: $0 RINGQD BATCH CONNS INFLIGHT OUT" >&2; exit 2; }
BIN=$1 B=$2 C=$3 I=$4 OUT=$5
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$ROOT/build/ringq-bench}
FSYNC=${FSYNC:-never}
PY=/usr/bin/python3
WARMUP_S=1 # callgrind_count zeroes the counters just past it

callgrind_count "$BIN" "$OUT" 140 e2e --system ringq --threads 1 --size 100 \
    --warmup "$WARMUP_S" --duration 8 --quiet --batch "$B" --conns "$C" --inflight "$I" \
    --workers 4 --credits 256 || exit 1
echo "$BIN b$B Ir=$CG_IR tasks=$CG_TASKS Ir_per_task=$((CG_IR / CG_TASKS))"
