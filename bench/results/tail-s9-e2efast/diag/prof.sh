#!/usr/bin/env bash
# prof: perf profile of ringq-bench (and ringqd) during one e2e point.
set -u
cd /work/wt/e2efast
B=${B:-/tmp/e2efast-base}
SYS=${SYS:-ringq}; C=${C:-4}; I=${I:-64}; D=${D:-4}
O=${O:-/tmp/e2efast-diag}
T=$(mktemp -d /tmp/e2efast-d.XXXXXX); mkdir -p $T/data
taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file $T/port --data $T/data --fsync never --log-level warn >$T/log 2>&1 &
P=$!
for _ in $(seq 200); do [ -s $T/port ] && break; sleep 0.05; done
A=127.0.0.1:$(cat $T/port)
/usr/bin/python3 bench/bench_ready.py ringq $A $P 10
taskset -c 1 $B/ringq-bench e2e --system $SYS --threads 1 --size 100 --warmup 1 --duration $D --quiet --batch 1 --conns $C --inflight $I --workers 4 --credits 256 --addr $A --server-pid $P --json $O/prof.$SYS.x$((C*I)).json >/dev/null 2>&1 &
G=$!
sleep 1.5
perf record -q -F 999 --call-graph dwarf,16384 -p $G -o $O/gen.$SYS.x$((C*I)).data -- sleep 2 >/dev/null 2>&1 &
R1=$!
perf record -q -F 2999 -g -p $P -o $O/srv.$SYS.x$((C*I)).data -- sleep 2 >/dev/null 2>&1 &
R2=$!
wait $R1 $R2
wait $G
kill $P; wait $P 2>/dev/null; rm -rf $T
cat /proc/loadavg
