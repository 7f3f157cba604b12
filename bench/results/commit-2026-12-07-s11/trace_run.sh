#!/bin/bash
# trace_run.sh OUTDIR BUILD GROUP: one streams.sh point (ringq, redis; durable) under perf record
# of the fsync/block tracepoints; then the parse. Run under flock /work/bench.lock.
OUT=$1; BUILD=${2:-build}; GROUP=${3:-publish-b1}
mkdir -p "$OUT"
cd /work/wt/commit
cat /proc/loadavg > "$OUT/load-before"
perf record -q -a -o "$OUT/perf.data" -e ext4:ext4_sync_file_enter -e ext4:ext4_sync_file_exit \
    -e block:block_rq_issue -e block:block_rq_complete \
    -e io_uring:io_uring_submit_req --filter 'opcode == 3' \
    -e sched:sched_wakeup --filter 'comm ~ "iou-wrk*"' -e sched:sched_switch --filter 'next_comm ~ "iou-wrk*"' -- \
    env RQ_COMMIT_STATS=1 BUILD=$BUILD SYSTEMS="${SYSTEMS:-ringq redis}" GROUPS_RUN=$GROUP COLUMNS=durable REPS=1 \
    DURATION_S=${DURATION_S:-4} NAME=streams RESULTS="$OUT" bash bench/streams.sh > "$OUT/streams.log" 2>&1
cat /proc/loadavg > "$OUT/load-after"
perf script -i "$OUT/perf.data" -F comm,pid,tid,cpu,time,event,trace > "$OUT/perf.txt" 2>/dev/null
python3 /tmp/commit-s11/trace_parse.py "$OUT/perf.txt" > "$OUT/trace-summary.txt"
rm -f "$OUT/perf.data"
