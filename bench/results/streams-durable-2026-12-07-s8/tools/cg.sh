#!/bin/bash
# usage: cg.sh BINDIR COLUMN OUT  -- callgrind of ringqd over a durable run; prints instr/message
B=$1; C=$2; OUT=$3
D=$(mktemp -d /tmp/sdur.XXXXXX)
valgrind --tool=callgrind --callgrind-out-file=$OUT --collect-atstart=no --toggle-collect=ev_loop_run_once $B/ringqd --threads 1 --port 0 --port-file $D/port --data $D/data --log-level warn --fsync always 2>$D/vg &
P=$!
for i in $(seq 600); do [ -s $D/port ] && break; sleep 0.1; done
PORT=$(cat $D/port)
case $C in
b1) A="publish --batch 1 --conns 4 --inflight 16";;
b64) A="publish --batch 64 --conns 4 --inflight 4";;
g1) A="fanout --batch 1 --conns 1 --inflight 64 --groups 1 --workers 1 --credits 256";;
g4) A="fanout --batch 1 --conns 1 --inflight 64 --groups 4 --workers 1 --credits 256";;
esac
build/ringq-bench $A --system ringq --label durable --threads 1 --size 100 --warmup 0.5 --duration 5 --quiet --addr 127.0.0.1:$PORT --json $D/out.json >/dev/null 2>&1
curl -s 127.0.0.1:$PORT/metrics > $D/metrics
kill -INT $P; wait $P
python3 - $D $OUT $C <<'PY'
import json,sys,re
D,OUT,C=sys.argv[1:]
d=json.load(open(D+'/out.json'))
m=open(D+'/metrics').read()
ir=0
for l in open(OUT):
    if l.startswith('summary:') or l.startswith('totals:'): ir=int(l.split()[1])
# messages the server handled over the whole run: the stream's published total
pub=sum(float(x) for x in re.findall(r'^ringq_stream_last_seq\S* (\S+)',m,re.M))
print(C, 'Ir', ir, 'bench tasks/s', d['tasks_per_s'], 'published(metrics)', pub, 'Ir/msg', ir/pub if pub else None)
PY
rm -rf $D
