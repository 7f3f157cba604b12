#!/usr/bin/env bash
# bench/results/cpu-per-task-2026-12-07/s8-cpu4-callgrind-e2e.sh RINGQD BATCH CONNS INFLIGHT OUT: ringqd under callgrind (collection off at start),
# collection switched on as the bench's 1 s warm-up ends and dumped as its 8 s window ends; prints Ir per task.
set -u
BIN=$1 B=$2 C=$3 I=$4 OUT=$5
d=$(mktemp -d /tmp/cpu4-cg.XXXXXX)
valgrind --tool=callgrind --callgrind-out-file="$OUT.cg" "$BIN" --threads 1 --port 0 \
    --port-file "$d/port" --data "$d/data" --log-level warn --fsync ${FSYNC:-never} >"$d/log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$d/port" ] && break; sleep 0.1; done
cd /work/wt/cpu4
/tmp/cpu4/ringq-bench e2e --system ringq --threads 1 --size 100 --warmup 1 --duration 8 --quiet \
    --batch "$B" --conns "$C" --inflight "$I" --workers 4 --credits 256 --addr "127.0.0.1:$(cat $d/port)" \
    --json "$OUT.json" > "$OUT.bench.log" 2>&1 &
bp=$!
sleep 1.1
callgrind_control -z $pid > /dev/null
wait $bp
callgrind_control -d $pid > /dev/null
kill -TERM $pid; wait $pid 2>/dev/null
rm -rf "$d"; rm -f "$OUT.cg"; callgrind_annotate --inclusive=yes --threshold=100 "$OUT.cg.1" 2>/dev/null | head -140 > "$OUT.inclusive.txt" 2>/dev/null
ir=$(callgrind_annotate "$OUT.cg.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
tasks=$(/usr/bin/python3 -c "import json; print(json.load(open('$OUT.json'))['tasks'])")
echo "$BIN b$B Ir=$ir tasks=$tasks Ir_per_task=$((ir / tasks))"
