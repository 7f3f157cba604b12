#!/usr/bin/env bash
# Why the shard thread goes off CPU at always b1 (100 B): sched_switch with kernel stacks.
set -u
cd /work/wt/append
. bench/bench_lib.sh
BIN=$1 OUT=$2 FS=${FS:-always}
D=$(mktemp -d /tmp/append13/off.XXXXXX)
ringqd_start "$D" 100 taskset -c 0 "$BIN" --threads 1 --log-level warn --fsync "$FS" || exit 1
taskset -c 1 build/ringq-bench e2e --system ringq --label p --threads 1 --size 100 --warmup 0 \
    --duration 4 --quiet --batch 1 --conns 4 --inflight 16 --workers 4 --credits 256 \
    --addr "127.0.0.1:$RINGQD_PORT" --server-pid "$RINGQD_PID" --json "$OUT.json" >/dev/null 2>&1 &
BP=$!
sleep 1
perf record -q -e sched:sched_switch -g -p "$RINGQD_PID" -o "$OUT.data" -- sleep 2 >/dev/null 2>&1
wait $BP
ringqd_stop
rm -rf "$D"
perf report -i "$OUT.data" --stdio --no-children --sort comm,sym -G 2>/dev/null | grep -v "^$" | head -70 >"$OUT.txt"
