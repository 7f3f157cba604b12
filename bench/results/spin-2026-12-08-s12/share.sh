#!/bin/bash
# share.sh OUT BSU: the instrumented ringqd (/tmp/spin-dbg, RQ_SPIN_DEBUG: prints the shard's
# mean work share once a second) with --busy-spin-us BSU, --fsync never, on CPU 0; ringq-bench
# on CPU 1: fast publish b1 4x16 closed loop, 1 in flight, and 10k msgs/s open loop (MODES,
# FSYNC=always for the durable point; the first runs, before these knobs, are named bsuN-*).
set -u
. /work/wt/spin/bench/bench_lib.sh
OUT=$1; BSU=$2
for mode in ${MODES:-b4x16 c1 r10k}; do
  d=$(mktemp -d /tmp/spin-share.XXXXXX)
  RQ_SPIN_DEBUG=1 ringqd_start "$d" 100 taskset -c 0 env RQ_SPIN_DEBUG=1 /tmp/spin-dbg/ringqd --threads 1 --log-level warn --fsync ${FSYNC:-never} --busy-spin-us $BSU || continue
  case $mode in b4x16) args="--conns 4 --inflight 16";; c1) args="--conns 1 --inflight 1";; r10k) args="--conns 1 --inflight 64 --rate 10000";; esac
  taskset -c 1 /tmp/spin-base/ringq-bench publish --system ringq --threads 1 --size 100 --warmup 1 --duration 3 --quiet \
    --batch 1 $args --addr 127.0.0.1:$RINGQD_PORT --server-pid $RINGQD_PID --json $OUT/${FSYNC:-never}-bsu$BSU-$mode.json > $OUT/${FSYNC:-never}-bsu$BSU-$mode.log 2>&1
  ringqd_stop; cp $d/log $OUT/${FSYNC:-never}-bsu$BSU-$mode.ringqd.log; rm -rf $d
done
