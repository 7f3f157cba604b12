#!/usr/bin/env bash
# one locked chunk: perf stat (and perf record) of ringq-bench, open vs closed loop, 100 B, --fsync never
set -u
cd /work/wt/openloop
. bench/bench_lib.sh
OUT=${OUT:-/tmp/openloop/prof1}
BENCH=${BENCH:-/tmp/openloop-base/ringq-bench}
RINGQD=${RINGQD:-/tmp/openloop-base/ringqd}
RATE=${RATE:-47488}
SIZE=${SIZE:-100}
EXTRA=${EXTRA:-}
mkdir -p $OUT
cat /proc/loadavg > $OUT/load-start
one() { # one TAG ARGS...
    local tag=$1; shift
    d=$(mktemp -d /tmp/openloop-prof.XXXXXX)
    ringqd_start "$d" 100 taskset -c 0 "$RINGQD" --threads 1 --log-level warn --fsync never || return 1
    perf stat -e task-clock,context-switches,cpu-migrations,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,net:net_dev_xmit \
        -o $OUT/$tag.perfstat -- taskset -c 1 "$BENCH" e2e --system ringq --threads 1 --size $SIZE --batch 1 \
        --workers 4 --credits 256 --warmup 1 --duration 4 --quiet --server-pid "$RINGQD_PID" \
        --addr 127.0.0.1:$RINGQD_PORT --json $OUT/$tag.json "$@" $EXTRA > $OUT/$tag.log 2>&1
    ringqd_stop
    rm -rf "$d"
}
one open --rate $RATE --conns 8 --inflight 64
one closed --conns 4 --inflight 64
if [ "${RECORD:-1}" = 1 ]; then
d=$(mktemp -d /tmp/openloop-prof.XXXXXX)
ringqd_start "$d" 100 taskset -c 0 "$RINGQD" --threads 1 --log-level warn --fsync never
taskset -c 1 "$BENCH" e2e --system ringq --threads 1 --size $SIZE --batch 1 --workers 4 --credits 256 --warmup 1 --duration 4 --quiet --addr 127.0.0.1:$RINGQD_PORT --json $OUT/rec.json --rate $RATE --conns 8 --inflight 64 $EXTRA > $OUT/rec.log 2>&1 &
bp=$!
sleep 1.5
perf record -g -F 2999 -o $OUT/perf.data -p $bp -- sleep 3 > $OUT/perf-record.log 2>&1
wait $bp
ringqd_stop
rm -rf "$d"
fi
cat /proc/loadavg > $OUT/load-end
