#!/usr/bin/env bash
# prof.sh RINGQD OUT [SYS] [C] [I]: perf record -g on ringqd (CPU 0) during an e2e-b1 fast point (bench on CPU 1)
set -u
BIN=$1 OUT=$2 SYS=${3:-ringq-stream} C=${4:-4} I=${5:-64}
BENCH=${BENCH:-/tmp/fastcpu-bench-base}
d=$(mktemp -d /tmp/fcpu-prof.XXXXXX); mkdir -p $d/data
taskset -c 0 $BIN --threads 1 --log-level warn --fsync never --port 0 --port-file $d/port --data $d/data >$d/log 2>&1 &
pid=$!
for i in $(seq 100); do [ -s $d/port ] && break; sleep 0.05; done
port=$(cat $d/port)
taskset -c 1 $BENCH e2e --system $SYS --threads 1 --size 100 --warmup 1 --duration 6 --quiet --batch 1 --conns $C --inflight $I --workers 4 --credits 256 --addr 127.0.0.1:$port --server-pid $pid --json $OUT.json >$OUT.bench.log 2>&1 &
bp=$!
sleep 1.5
perf record -g -p $pid -o $OUT.perf.data -- sleep 4 2>$OUT.perf.log
perf stat -e 'syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,io_uring:io_uring_submit_req,context-switches' -p $pid -- sleep 0.9 2> $OUT.stat.txt
wait $bp
kill $pid; wait $pid
rm -rf $d
cat /proc/loadavg
