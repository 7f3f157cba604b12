#!/bin/bash
# usage: sdur_perf.sh BINDIR OUT scenario-args...   perf record of ringqd during a durable run
B=$1; OUT=$2; shift 2
D=$(mktemp -d /tmp/sdur.XXXXXX)
taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file $D/port --data $D/data --log-level warn --fsync always &
P=$!
for i in $(seq 100); do [ -s $D/port ] && break; sleep 0.05; done
PORT=$(cat $D/port)
taskset -c 1 build/ringq-bench "$@" --system ringq --label durable --threads 1 --size 100 --warmup 1 --duration 4 --quiet --addr 127.0.0.1:$PORT --json $D/out.json >/dev/null 2>&1 &
BP=$!
perf record -e cpu-clock -g -p $P -o $OUT -- sleep 4 2>/dev/null >/dev/null
wait $BP
python3 -c "import json;d=json.load(open('$D/out.json'));print('tasks/s',d['tasks_per_s'])"
kill $P; wait $P; rm -rf $D
