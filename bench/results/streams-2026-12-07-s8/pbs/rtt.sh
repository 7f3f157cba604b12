#!/bin/bash
# rtt.sh BUILD SYSTEM CONNS INFLIGHT OUT: publish b64, --fsync never, latency per request
B=$1; SYS=$2; C=$3; I=$4; OUT=$5
D=$(mktemp -d /tmp/pbs/run.XXXX)
taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file $D/port --data $D/data --log-level warn --fsync never &
P=$!
for i in $(seq 100); do [ -s $D/port ] && break; sleep 0.05; done
taskset -c 1 $B/ringq-bench publish --system $SYS --addr 127.0.0.1:$(cat $D/port) --batch 64 --conns $C --inflight $I --warmup 0.3 --duration 1.5 --server-pid $P --quiet --json $OUT
kill $P; wait $P
rm -rf $D
