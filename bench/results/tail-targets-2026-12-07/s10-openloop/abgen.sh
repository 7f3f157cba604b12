#!/usr/bin/env bash
# locked: main's ringq-bench (A) against this branch's (B), interleaved, each run a fresh main ringqd
# (--threads 1 --fsync never, CPU 0), generator on CPU 1, perf stat on the generator; the suite's open-loop
# point (8x64, 4 workers x 256 credits, batch 1) at today's quiet half-of-peak rates, and the 4x64 closed
# loop at 100 B. Then the second-generator check at 100 B.
set -u
cd /work/wt/openloop
. bench/bench_lib.sh
OUT=${OUT:-/tmp/openloop/abgen}
A=/tmp/openloop-base/ringq-bench
B=/work/wt/openloop/build/ringq-bench
RINGQD=/tmp/openloop-base/ringqd
POINTS=${POINTS:-16:62829 100:55786 2048:39263}
mkdir -p $OUT
cat /proc/loadavg > $OUT/load-start
one() { # one TAG BIN SIZE ARGS...
    local tag=$1 bin=$2 size=$3; shift 3
    d=$(mktemp -d /tmp/openloop-ab.XXXXXX)
    ringqd_start "$d" 100 taskset -c 0 "$RINGQD" --threads 1 --log-level warn --fsync never || return 1
    perf stat -e task-clock,context-switches,syscalls:sys_enter_io_uring_enter,net:net_dev_xmit \
        -o $OUT/$tag.perfstat -- taskset -c 1 "$bin" e2e --system ringq --threads 1 --size $size --batch 1 \
        --workers 4 --credits 256 --warmup 1 --duration 4 --quiet --server-pid "$RINGQD_PID" \
        --addr 127.0.0.1:$RINGQD_PORT --json $OUT/$tag.json "$@" > $OUT/$tag.log 2>&1
    ringqd_stop
    rm -rf "$d"
}
for pt in $POINTS; do
    size=${pt%%:*} rate=${pt#*:}
    one open-s$size.A $A $size --rate $rate --conns 8 --inflight 64
    one open-s$size.B $B $size --rate $rate --conns 8 --inflight 64
done
one closed-s100.A $A 100 --conns 4 --inflight 64
one closed-s100.B $B 100 --conns 4 --inflight 64
cat /proc/loadavg > $OUT/load-mid
# second generator: B at 55786/s from one process, then two processes at half the rate each (both on CPU 1,
# own queues, one ringqd)
two() { # two TAG BIN
    local tag=$1 bin=$2
    d=$(mktemp -d /tmp/openloop-ab.XXXXXX)
    ringqd_start "$d" 100 taskset -c 0 "$RINGQD" --threads 1 --log-level warn --fsync never || return 1
    for q in a b; do
        taskset -c 1 "$bin" e2e --system ringq --threads 1 --size 100 --batch 1 --workers 4 --credits 256 \
            --warmup 1 --duration 4 --quiet --server-pid "$RINGQD_PID" --addr 127.0.0.1:$RINGQD_PORT \
            --queue bench-$q --json $OUT/$tag.$q.json --rate 27893 --conns 8 --inflight 64 > $OUT/$tag.$q.log 2>&1 &
    done
    wait %1 %2
    ringqd_stop
    rm -rf "$d"
}
one gen1.B $B 100 --rate 55786 --conns 8 --inflight 64
two gen2.B $B
one gen1.A $A 100 --rate 55786 --conns 8 --inflight 64
two gen2.A $A
cat /proc/loadavg > $OUT/load-end
