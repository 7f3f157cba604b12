#!/usr/bin/env bash
# Where the stage's pwrites come from at never b1 (100 B): uprobe on q_seg_write with call stacks.
set -u
cd /work/wt/append
. bench/bench_lib.sh
BIN=$1 OUT=$2
perf probe -d 'probe_ringqd*:*' >/dev/null 2>&1
perf probe -x "$BIN" -a q_seg_write >/dev/null 2>&1 || { echo "probe failed"; exit 1; }
D=$(mktemp -d /tmp/append13/probe.XXXXXX)
ringqd_start "$D" 100 taskset -c 0 "$BIN" --threads 1 --log-level warn --fsync never || exit 1
perf record -q -e 'probe_ringqd*:q_seg_write' -g -p "$RINGQD_PID" -o "$OUT.data" -- sleep 4 >/dev/null 2>&1 &
PP=$!
taskset -c 1 build/ringq-bench e2e --system ringq --label p --threads 1 --size 100 --warmup 0 \
    --duration 4 --quiet --batch 1 --conns 4 --inflight 16 --workers 4 --credits 256 \
    --addr "127.0.0.1:$RINGQD_PORT" --server-pid "$RINGQD_PID" --json "$OUT.json" >/dev/null 2>&1
wait $PP
ringqd_stop
rm -rf "$D"
perf probe -d 'probe_ringqd*:*' >/dev/null 2>&1
perf report -i "$OUT.data" --stdio --no-children -G 2>/dev/null | head -120 > "$OUT.txt"
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("tasks", r.get("tasks_per_s"), "dur", r.get("duration_s"))' "$OUT.json"
