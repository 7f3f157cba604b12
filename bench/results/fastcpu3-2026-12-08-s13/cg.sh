#!/usr/bin/env bash
# cg.sh RINGQD SYSTEM BATCH CONNS INFLIGHT OUT: callgrind instructions per task (bench/callgrind_e2e.sh, system selectable)
set -u
cd /work/wt/fastcpu3
. bench/bench_lib.sh
BIN=$1 SYS=$2 B=$3 C=$4 I=$5 OUT=$6
BENCH=${BENCH:-/tmp/fc3/ringq-bench-main}
PY=/usr/bin/python3
callgrind_count "$BIN" "$OUT" 200 e2e --system "$SYS" --threads 1 --size 100 \
    --warmup 1 --duration 8 --quiet --batch "$B" --conns "$C" --inflight "$I" \
    --workers 4 --credits 256 || exit 1
echo "$BIN $SYS b$B ${C}x$I Ir=$CG_IR tasks=$CG_TASKS Ir_per_task=$((CG_IR / CG_TASKS))"
