#!/bin/bash
# A/B: retention through the ring (after) vs on the shard (before), --fsync never, 1 partition,
# 4 MiB segments, open loop 2 KiB at 5000/s: ~25 segments retired per 10 s run. Interleaved.
set -u
cd /work/wt/tail
OUT=/tmp/tail-ab; mkdir -p $OUT
D=$(mktemp -d /tmp/tail-ab.XXXXXX)
trap 'kill $SP 2>/dev/null; wait; rm -rf "$D"' EXIT
echo "load $(cat /proc/loadavg)"
for round in 1 2 3; do
  for v in before after; do
    bin=build/ringqd; [ $v = before ] && bin=/tmp/tail-before/build/ringqd
    rm -rf $D/data $D/port; mkdir -p $D/data
    taskset -c 0 $bin --threads 1 --partitions 1 --segment-bytes 4198400 --port 0 --port-file $D/port --data $D/data --log-level warn --fsync never >$D/log 2>&1 &
    SP=$!
    for i in $(seq 250); do [ -s $D/port ] && break; sleep 0.02; done # startup poll with a deadline
    PORT=$(cat $D/port)
    /usr/bin/python3 bench/bench_ready.py ringq 127.0.0.1:$PORT $SP 30
    taskset -c 1 build/ringq-bench e2e --system ringq --threads 1 --size 2048 --warmup 1 --duration 10 --quiet \
      --rate 5000 --batch 1 --conns 4 --inflight 64 --workers 2 --credits 256 --addr 127.0.0.1:$PORT \
      --server-pid $SP --json $OUT/$v-$round.json
    curl -s http://127.0.0.1:$PORT/metrics > $OUT/$v-$round.metrics
    nseg=$(find $D/data -name '*.qseg*' | wc -l)
    kill $SP; wait $SP 2>/dev/null
    /usr/bin/python3 - $OUT/$v-$round $nseg <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + ".json")); l = r["latency_us"]
b = {}; cnt = 0
for line in open(sys.argv[1] + ".metrics"):
    if line.startswith("ringq_loop_stall_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]; b[le] = float(line.split()[-1])
    if line.startswith("ringq_loop_stall_seconds_count"): cnt = float(line.split()[-1])
print("%s tasks/s %.0f p50 %.2f ms p99 %.2f ms p99.9 %.2f ms late %d cpu_us/task %s stalls>1ms %d >5ms %d of %d segfiles_left %s"
      % (sys.argv[1].split("/")[-1], r["tasks_per_s"], l["p50"]/1e3, l["p99"]/1e3, l["p999"]/1e3, r["late_sends"],
         r.get("server_cpu_us_per_task", "?"), cnt - b["0.001"], cnt - b["0.005"], cnt, sys.argv[2]))
PY
  done
done
echo "load $(cat /proc/loadavg)"
