#!/bin/bash
# log_ab.sh OUT "NAME=LOG_BENCH ..." : `log_bench durable` (16 appenders, COUNT=1,200,000 appends of 100 B
# (~150 MB: the default 64 MiB segments roll twice; `durable` ignores SEG_MIB): the first segment is made at open,
# the next two from the spare) for each binary in turn, under perf record of the fsync / block tracepoints; then
# fsync_kinds.py per run (by the process named log_bench). Run under flock /work/bench.lock.
OUT=$1; HERE=$(cd "$(dirname "$0")" && pwd)
for nb in $2; do
    name=${nb%%=*}; bin=${nb#*=}
    o=$OUT/$name; n=1; while [ -d "$o.$n" ]; do n=$((n + 1)); done; o=$o.$n; mkdir -p "$o"
    cat /proc/loadavg > "$o/load-before"
    perf record -q -a -o "$o/perf.data" -e ext4:ext4_sync_file_enter -e ext4:ext4_sync_file_exit \
        -e block:block_rq_issue -e major-faults -- \
        /usr/bin/time -f "cpu_user_s=%U cpu_sys_s=%S wall_s=%e majflt=%F minflt=%R" "$bin" durable /tmp/spare-s11/logdir-$name 16 "${COUNT:-1200000}" > "$o/log_bench.txt" 2>&1
    cat /proc/loadavg > "$o/load-after"
    perf script --show-task-events -i "$o/perf.data" -F comm,pid,tid,cpu,time,event,trace > "$o/perf.txt" 2>/dev/null
    FSK_NAMES=log_bench python3 "$HERE/fsync_kinds.py" "$o/perf.txt" > "$o/fsync-kinds.txt"
    awk '/major-faults/ {print $1}' "$o/perf.txt" | sort | uniq -c > "$o/major-faults.txt"
    rm -f "$o/perf.data"; gzip -f "$o/perf.txt"
    echo "== $name ($o)"; cat "$o/log_bench.txt" "$o/fsync-kinds.txt"; grep log_bench "$o/major-faults.txt"
done
