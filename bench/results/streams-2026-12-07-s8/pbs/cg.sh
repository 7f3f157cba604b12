#!/bin/bash
# cg.sh BUILD SYSTEM WHO OUT: instructions of ringqd (WHO=server) or ringq-bench (WHO=bench)
# over a publish b64 run (--fsync never, 4 conns x 4 in flight), divided by the messages the
# stream holds at the end (ringq_stream_messages).
B=$1; SYS=$2; WHO=$3; OUT=$4
D=$(mktemp -d /tmp/pbs/run.XXXX)
SV=(taskset -c 0); BV=(taskset -c 1)
CG=(valgrind --tool=callgrind --callgrind-out-file=$OUT.cg.out)
if [ $WHO = server ]; then SV+=("${CG[@]}"); else BV+=("${CG[@]}"); fi
"${SV[@]}" $B/ringqd --threads 1 --port 0 --port-file $D/port --data $D/data --log-level warn --fsync never 2>$OUT.server.err &
P=$!
for i in $(seq 600); do [ -s $D/port ] && break; sleep 0.05; done
PORT=$(cat $D/port)
"${BV[@]}" $B/ringq-bench publish --system $SYS --addr 127.0.0.1:$PORT --batch 64 --conns 4 --inflight 4 --warmup 0.5 --duration 3 --quiet --json $OUT.json 2>$OUT.bench.err
curl -s http://127.0.0.1:$PORT/metrics | grep '^ringq_stream_messages' > $OUT.msgs
kill $P; wait $P
rm -rf $D
