#!/bin/bash
# on-CPU profiles of ringqd and ringq-bench and the scheduler's view (run-queue delay) of both
# during an open-loop point at half of peak, 100 B; run under flock /work/bench.lock
set -u
OUT=/tmp/tail-prof2; mkdir -p $OUT
cd /work/wt/tail
D=$(mktemp -d /tmp/tail-prof2.XXXXXX)
trap 'kill $SP 2>/dev/null; rm -rf "$D"' EXIT
for spec in never:23470 always:14396; do
  FS=${spec%:*} RATE=${spec#*:}
  echo "$FS start load $(cat /proc/loadavg)" >> $OUT/load.txt
  rm -rf $D/data $D/port; mkdir -p $D/data
  taskset -c 0 build/ringqd --threads 1 --port 0 --port-file $D/port --data $D/data --log-level warn --fsync $FS >$D/log 2>&1 &
  SP=$!
  for i in $(seq 250); do [ -s $D/port ] && break; sleep 0.02; done # startup poll with a deadline
  PORT=$(cat $D/port)
  /usr/bin/python3 bench/bench_ready.py ringq 127.0.0.1:$PORT $SP 30
  perf record -q -g -F 499 -o $OUT/bench-$FS.perf -- taskset -c 1 build/ringq-bench e2e --system ringq --threads 1 \
    --size 100 --warmup 1 --duration 8 --quiet --rate $RATE --batch 1 --conns 8 --inflight 64 --workers 4 --credits 256 \
    --addr 127.0.0.1:$PORT --server-pid $SP --json $OUT/run-$FS.json >/dev/null 2>&1 &
  PR=$!
  sleep 3 # into the measured window (the run lasts 9 s): a point in time, not a synchronization
  BP=$(pgrep -n -x ringq-bench)
  perf record -q -g -F 499 -p $SP -o $OUT/ringqd-$FS.perf -- sleep 4 >/dev/null 2>&1 &
  RP=$!
  perf sched record -q -o $D/sched.data -- sleep 2 >/dev/null 2>&1
  perf sched timehist -i $D/sched.data -s --pid=$SP,$BP 2>/dev/null | sed -n '/Runtime summary/,$p' | head -30 > $OUT/sched-$FS.txt
  perf sched timehist -i $D/sched.data --pid=$SP,$BP 2>/dev/null | sort -k4 -n -r | head -15 > $OUT/sched-worst-$FS.txt
  wait $PR $RP
  curl -s http://127.0.0.1:$PORT/metrics > $OUT/run-$FS.metrics
  kill $SP; wait $SP 2>/dev/null
  echo "$FS end load $(cat /proc/loadavg)" >> $OUT/load.txt
done
