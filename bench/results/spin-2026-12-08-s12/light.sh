#!/bin/bash
# light.sh OUT BUILD...: per build, ringqd --fsync never on CPU 0 and ringq-bench on CPU 1:
# (1) fast publish b1 with 1 in flight (closed loop), (2) 10,000 msgs/s open loop (1 conn x 64).
set -u
. /work/wt/spin/bench/bench_lib.sh
OUT=$1; shift
for b in "$@"; do
  n=$(basename $b)
  for mode in c1 r10k; do
    d=$(mktemp -d /tmp/spin-light.XXXXXX)
    ringqd_start "$d" 100 taskset -c 0 $b/ringqd --threads 1 --log-level warn --fsync never || continue
    if [ $mode = c1 ]; then args="--conns 1 --inflight 1"; else args="--conns 1 --inflight 64 --rate 10000"; fi
    taskset -c 1 $b/ringq-bench publish --system ringq --threads 1 --size 100 --warmup 1 --duration 3 --quiet \
      --batch 1 $args --addr 127.0.0.1:$RINGQD_PORT --server-pid $RINGQD_PID --json $OUT/$n-$mode.json > $OUT/$n-$mode.log 2>&1
    ringqd_stop; rm -rf $d
  done
done
