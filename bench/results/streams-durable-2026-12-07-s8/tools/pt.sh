#!/bin/bash
# usage: pt.sh BINDIR COLUMN   one durable point: b1 | b64 | g1 | g4
B=$1; C=$2
D=$(mktemp -d /tmp/sdur.XXXXXX)
taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file $D/port --data $D/data --log-level warn --fsync always &
P=$!
for i in $(seq 100); do [ -s $D/port ] && break; sleep 0.05; done
PORT=$(cat $D/port)
case $C in
b1) A="publish --batch 1 --conns 4 --inflight 16";;
b64) A="publish --batch 64 --conns 4 --inflight 4";;
g1) A="fanout --batch 1 --conns 1 --inflight 64 --groups 1 --workers 1 --credits 256";;
g4) A="fanout --batch 1 --conns 1 --inflight 64 --groups 4 --workers 1 --credits 256";;
esac
taskset -c 1 build/ringq-bench $A --system ringq --label durable --threads 1 --size 100 --warmup 1 --duration 4 --quiet --addr 127.0.0.1:$PORT --json $D/out.json >/dev/null 2>&1
curl -s 127.0.0.1:$PORT/metrics > $D/metrics
python3 - $D $B $C $P <<'PY'
import json,sys,re
D,B,C,P=sys.argv[1:]
d=json.load(open(D+'/out.json'))
m=open(D+'/metrics').read()
g=lambda k: float(re.search('^'+k+r' (\S+)',m,re.M).group(1))
st=open('/proc/%s/stat'%P).read().split()
print("%-5s %-18s %9.0f msgs/s p50 %6.0f us p99 %6.0f us  fsyncs %6d (avg %.0f us) pipelined %6d cpu %.2f s" % (C, B.split('/')[-1], d['tasks_per_s'], d['latency_us']['p50'], d['latency_us']['p99'], g('ringq_fsync_seconds_count'), 1e6*g('ringq_fsync_seconds_sum')/max(1,g('ringq_fsync_seconds_count')), g('ringq_commits_pipelined_total'), (int(st[13])+int(st[14]))/100))
PY
cp $D/out.json /tmp/sdur/raw-$(basename $B)-$C-$(date +%H%M%S).json 2>/dev/null
kill $P; wait $P; rm -rf $D
