#!/bin/bash
# trace_ab.sh OUT "VARIANT..." : for each variant (a dir /tmp/spare-s11/VARIANT holding build/'s
# binaries and a ringqd wrapper), one streams.sh point (publish-b1, durable) under perf record of
# the fsync/block tracepoints and major faults; then fsync_kinds.py. Run under flock /work/bench.lock.
# The variants run back to back inside one lock hold (interleave them in the list).
OUT=$1; VARIANTS=$2; HERE=$(cd "$(dirname "$0")" && pwd)
cd /work/wt/spare
for v in $VARIANTS; do
    o=$OUT/$v; n=1; while [ -d "$o.$n" ]; do n=$((n + 1)); done; o=$o.$n; mkdir -p "$o"
    cat /proc/loadavg > "$o/load-before"
    perf record -q -a -o "$o/perf.data" -e ext4:ext4_sync_file_enter -e ext4:ext4_sync_file_exit \
        -e block:block_rq_issue -e major-faults -- \
        env BUILD=/tmp/spare-s11/$v SYSTEMS="${SYSTEMS:-ringq}" GROUPS_RUN=publish-b1 COLUMNS=durable \
        REPS=1 DURATION_S=${DURATION_S:-4} NAME=streams RESULTS="$o" bash bench/streams.sh > "$o/streams.log" 2>&1
    cat /proc/loadavg > "$o/load-after"
    perf script --show-task-events -i "$o/perf.data" -F comm,pid,tid,cpu,time,event,trace > "$o/perf.txt" 2>/dev/null
    python3 "$HERE/fsync_kinds.py" "$o/perf.txt" > "$o/fsync-kinds.txt"
    grep -c 'major-faults' "$o/perf.txt" > "$o/major-faults.txt"
    awk '/major-faults/ {print $1}' "$o/perf.txt" | sort | uniq -c >> "$o/major-faults.txt"
    rm -f "$o/perf.data"; gzip -f "$o/perf.txt"
    echo "== $v ($o)"; cat "$o/fsync-kinds.txt"; grep -A3 -i "ringq\b\|msgs/s" "$o/streams/"*.md 2>/dev/null | head -5
done
