#!/bin/bash
# usage: sdur_run.sh BINDIR GROUPS [extra bench args]  -- one durable fanout point; prints tasks/s + metrics
B=${1}; G=${2}; shift 2
D=$(mktemp -d /tmp/sdur.XXXXXX)
taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file $D/port --data $D/data --log-level warn --fsync always &
P=$!
for i in $(seq 100); do [ -s $D/port ] && break; sleep 0.05; done
PORT=$(cat $D/port)
/usr/bin/time -f "bench cpu %U+%S" taskset -c 1 build/ringq-bench fanout --system ${SYS:-ringq} --label durable --threads 1 --size 100 --warmup 1 --duration ${DUR:-4} --quiet --batch 1 --conns 1 --inflight 64 --groups $G --workers 1 --credits 256 --addr 127.0.0.1:$PORT --json $D/out.json "$@" >/dev/null 2>$D/err; tail -1 $D/err
python3 -c "import json,sys;d=json.load(open('$D/out.json'));print('tasks/s',d['tasks_per_s'],'p50',d['latency_us']['p50'],'pub p50',d['send_latency_us']['p50'])"
curl -s 127.0.0.1:$PORT/metrics > $D/metrics
grep -E "^ringq_fsync_seconds_(count|sum)|^ringq_commits_pipelined_total" $D/metrics
awk '{print "server cpu s", ($14+$15)/100}' /proc/$P/stat
kill $P; wait $P
rm -rf $D
