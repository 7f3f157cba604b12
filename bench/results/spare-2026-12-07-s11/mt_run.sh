#!/bin/bash
# mt_run.sh OUT: mt.py (written extents only: no conversion possible) under perf record of the
# fsync/block tracepoints, mmap then pwrite stores; fsync_kinds.py on each. Under the bench lock.
OUT=$1; HERE=$(cd "$(dirname "$0")" && pwd); mkdir -p "$OUT" /tmp/spare-s11/mtdir
for mode in mmap pwrite; do
    perf record -q -a -o "$OUT/$mode.data" -e ext4:ext4_sync_file_enter -e ext4:ext4_sync_file_exit \
        -e block:block_rq_issue -- python3 "$HERE/mt.py" /tmp/spare-s11/mtdir $mode 5000
    perf script --show-task-events -i "$OUT/$mode.data" -F comm,pid,tid,cpu,time,event,trace > "$OUT/$mode.txt" 2>/dev/null
    echo "== $mode"; FSK_NAMES=python3 python3 "$HERE/fsync_kinds.py" "$OUT/$mode.txt" | head -5
    rm -f "$OUT/$mode.data"; gzip -f "$OUT/$mode.txt"
done
