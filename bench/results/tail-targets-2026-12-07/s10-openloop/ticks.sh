#!/usr/bin/env bash
# locked: the new ringq-bench at several --tick-us (and the base one), open loop, perf stat each
set -u
cd /work/wt/openloop
. bench/bench_lib.sh
OUT=${OUT:-/tmp/openloop/ticks}
NEW=${NEW:-/work/wt/openloop/build/ringq-bench}
BASE=/tmp/openloop-base/ringq-bench
RINGQD=/tmp/openloop-base/ringqd
RATE=${RATE:-55786}
SIZE=${SIZE:-100}
TICKS=${TICKS:-0 50 100 200}
mkdir -p $OUT
cat /proc/loadavg > $OUT/load-start
one() { # one TAG BIN ARGS...
    local tag=$1 bin=$2; shift 2
    d=$(mktemp -d /tmp/openloop-prof.XXXXXX)
    ringqd_start "$d" 100 taskset -c 0 "$RINGQD" --threads 1 --log-level warn --fsync never || return 1
    perf stat -e task-clock,context-switches,syscalls:sys_enter_io_uring_enter,net:net_dev_xmit \
        -o $OUT/$tag.perfstat -- taskset -c 1 "$bin" e2e --system ringq --threads 1 --size $SIZE --batch 1 \
        --workers 4 --credits 256 --warmup 1 --duration 4 --quiet --server-pid "$RINGQD_PID" \
        --addr 127.0.0.1:$RINGQD_PORT --json $OUT/$tag.json --rate $RATE --conns 8 --inflight 64 "$@" > $OUT/$tag.log 2>&1
    ringqd_stop
    rm -rf "$d"
}
for r in 1 2; do
one base.r$r $BASE
for t in $TICKS; do one tick$t.r$r $NEW --tick-us $t; done
done
cat /proc/loadavg > $OUT/load-end
