#!/usr/bin/env bash
# prof.sh RINGQD OUT [POINT=b1|b64] [PERF=1]: one `always` e2e run (cpu_per_task.sh's shape), the
# server's per-thread CPU (utime+stime ticks from /proc/PID/task/*/stat) over 3 s of the
# measured window, and (PERF=1) a system-wide perf record -g of CPU 0 over 2 s of it.
set -u
cd "$(dirname "$0")/../../.."
. bench/bench_lib.sh
BIN=$1; OUT=$2; PT=${3:-b1}; PERF=${4:-1}
BENCH=${BENCH:-/tmp/commit-s12/ringq-bench-main}
mkdir -p "$OUT"
declare -A SHAPE=([b1]="1 4 16" [b64]="64 4 1")
read -r batch c i <<<"${SHAPE[$PT]}"
d=$OUT/run
ringqd_start "$d" 100 taskset -c 0 "$BIN" --threads 1 --log-level warn --fsync always || exit 1
taskset -c 1 "$BENCH" e2e --system ringq --threads 1 --size 100 --warmup 1 --duration 6 --quiet \
    --batch "$batch" --conns "$c" --inflight "$i" --workers 4 --credits 256 \
    --addr "127.0.0.1:$RINGQD_PORT" --server-pid "$RINGQD_PID" --json "$OUT/bench.json" >"$OUT/bench.log" 2>&1 &
BP=$!
sleep 1.5
snap() { for t in /proc/$RINGQD_PID/task/*; do echo "$(cat $t/comm) $(awk '{print $14+$15}' $t/stat)"; done; }
m0=$(curl -s "http://127.0.0.1:$RINGQD_PORT/metrics" | awk '$1=="ringq_fsync_seconds_count"{print $2}')
snap > "$OUT/t0"
if [ "$PERF" = 1 ]; then perf record -q -g -C 0 -o "$OUT/perf.data" -- sleep 2 2>/dev/null; sleep 1; else sleep 3; fi
snap > "$OUT/t1"
m1=$(curl -s "http://127.0.0.1:$RINGQD_PORT/metrics" | awk '$1=="ringq_fsync_seconds_count"{print $2}')
wait $BP
ringqd_stop
rm -rf "$d"
echo "fsyncs in window: $((m1-m0))" > "$OUT/summary.txt"
paste "$OUT/t0" "$OUT/t1" | awk '{d[$1]+=$4-$2} END{for(k in d) print k, d[k]}' | sort -k2 -nr >> "$OUT/summary.txt"
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.2f us/task %.0f tasks/s p50 %s p99 %s" % (r["server_cpu_us_per_task"], r["tasks_per_s"], r["latency_us"]["p50"], r["latency_us"]["p99"]))' "$OUT/bench.json" >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
