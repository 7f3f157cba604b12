#!/usr/bin/env bash
# cg.sh RINGQD SYSTEM CONNS INFLIGHT OUT: callgrind instructions per task (like bench/callgrind_e2e.sh, system selectable)
set -u
cd /work/wt/fastcpu2
. bench/bench_lib.sh
BIN=$1 SYS=$2 C=$3 I=$4 OUT=$5
BENCH=${BENCH:-/tmp/fc2/bench-main}
PY=/usr/bin/python3
callgrind_count "$BIN" "$OUT" 200 e2e --system "$SYS" --threads 1 --size 100 \
    --warmup 1 --duration 8 --quiet --batch 1 --conns "$C" --inflight "$I" \
    --workers 4 --credits 256 || exit 1
echo "$BIN $SYS ${C}x$I Ir=$CG_IR tasks=$CG_TASKS Ir_per_task=$((CG_IR / CG_TASKS))"
