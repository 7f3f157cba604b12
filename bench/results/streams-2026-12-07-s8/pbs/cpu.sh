#!/bin/bash
# usage: cpu.sh BUILD SYSTEM OUT
B=$1; SYS=$2; OUT=$3
D=$(mktemp -d /tmp/pbs/run.XXXX)
taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file $D/port --data $D/data --log-level warn --fsync never &
P=$!
for i in $(seq 100); do [ -s $D/port ] && break; sleep 0.05; done
PORT=$(cat $D/port)
taskset -c 1 $B/ringq-bench publish --system $SYS --addr 127.0.0.1:$PORT --batch 64 --conns 4 --inflight 4 --warmup 1 --duration 3 --server-pid $P --quiet --json $OUT
kill $P; wait $P
rm -rf $D
