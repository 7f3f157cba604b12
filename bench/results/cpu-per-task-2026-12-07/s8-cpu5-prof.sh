#!/usr/bin/env bash
# bench/results/cpu-per-task-2026-12-07/s8-cpu5-prof.sh RINGQD BENCH FSYNC OUT: at b64 (64 x 4 x 1),
# 2 s inside the 4 s window: user page faults and context switches of ringqd (perf stat), and a
# flat cpu-clock profile by thread and symbol (perf record -F 2000, no call graph), per task.
set -u
BIN=$1 BENCH=$2 FS=$3 OUT=$4
d=$(mktemp -d /tmp/cpu5-prof.XXXXXX)
taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$d/port" --data "$d/data" --log-level warn \
    --fsync "$FS" >"$d/log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$d/port" ] && break; sleep 0.1; done
taskset -c 1 "$BENCH" e2e --system ringq --threads 1 --size 100 --warmup 1 --duration 4 --quiet \
    --batch 64 --conns 4 --inflight 1 --workers 4 --credits 256 --addr "127.0.0.1:$(cat $d/port)" \
    --server-pid "$pid" --json "$OUT.json" >"$OUT.bench.log" 2>&1 &
bp=$!
sleep 1.2
perf stat -x, -e exceptions:page_fault_user -e context-switches -p "$pid" -o "$OUT.stat" sleep 1 &
ps_=$!
perf record -q -e cpu-clock -F 2000 -p "$pid" -o "$OUT.data" -- sleep 2 >/dev/null 2>&1
wait $ps_ $bp
kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$d"
perf report -i "$OUT.data" --stdio --sort comm,dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 >"$OUT.self.txt"
rm -f "$OUT.data"
echo "$FS load=$(cut -d' ' -f1-3 /proc/loadavg) $(/usr/bin/python3 -c "import json;r=json.load(open('$OUT.json'));print('tasks/s %.0f cpu %.2f us/task' % (r['tasks_per_s'], r['server_cpu_us_per_task']))")"
grep -v '^#' "$OUT.stat" | grep .
