#!/bin/bash
# sched.sh RINGQD BENCH OUT: perf sched record of CPUs 0-1 for 0.5 s in the middle of a fast
# publish-b1 (4x16) run; ringqd on CPU 0, ringq-bench on CPU 1.
set -u
. /work/wt/pub/bench/bench_lib.sh
RQ=$1 B=$2 OUT=$3
d=$(mktemp -d /tmp/pub12-sched.XXXXXX)
ringqd_start "$d" 100 taskset -c 0 "$RQ" --threads 1 --log-level warn --fsync never || exit 1
taskset -c 1 "$B" publish --system ringq --threads 1 --size 100 --warmup 1 --duration 3 --quiet \
  --batch 1 --conns 4 --inflight 16 --addr 127.0.0.1:$RINGQD_PORT --server-pid $RINGQD_PID --json $OUT.json > $OUT.log 2>&1 &
bp=$!
sleep 2
perf sched record -C 0,1 -o $OUT.data -- sleep 0.5 > /dev/null 2>&1
wait $bp
ringqd_stop; rm -rf $d
