#!/usr/bin/env bash
# trace.sh RINGQD OUT [POINT]: one `always` e2e run; 1 s of tracepoints system-wide in its
# measured window (fdatasync enter/exit, block requests issued, inode dirtied, extent
# conversions); kinds.py reads them.
set -u
cd "$(dirname "$0")/../../.."
. bench/bench_lib.sh
BIN=$1; OUT=$2; PT=${3:-b1}
BENCH=${BENCH:-/tmp/commit-s12/ringq-bench-main}
mkdir -p "$OUT"
declare -A SHAPE=([b1]="1 4 16" [b64]="64 4 1")
read -r batch c i <<<"${SHAPE[$PT]}"
d=$OUT/run
ringqd_start "$d" 100 taskset -c 0 "$BIN" --threads 1 --log-level warn --fsync always || exit 1
taskset -c 1 "$BENCH" e2e --system ringq --threads 1 --size 100 --warmup 1 --duration 4 --quiet \
    --batch "$batch" --conns "$c" --inflight "$i" --workers 4 --credits 256 \
    --addr "127.0.0.1:$RINGQD_PORT" --server-pid "$RINGQD_PID" --json "$OUT/bench.json" >"$OUT/bench.log" 2>&1 &
BP=$!
sleep 2
perf record -q -a -o "$OUT/trace.data" -e ext4:ext4_sync_file_enter -e ext4:ext4_sync_file_exit \
    -e block:block_rq_issue -e ext4:ext4_mark_inode_dirty \
    -e ext4:ext4_ext_convert_to_initialized_enter -- sleep 1 2>/dev/null
wait $BP
ringqd_stop
rm -rf "$d"
perf script -i "$OUT/trace.data" -F comm,tid,time,event,trace,ip,sym 2>/dev/null > "$OUT/trace.txt"
