#!/usr/bin/env bash
# diag2: like diag.sh, plus run-queue wait (schedstat) of ringqd and ringq-bench over the run.
set -u
cd /work/wt/e2efast
B=${B:-/tmp/e2efast-base}
SYS=${SYS:-ringq-stream}; C=${C:-4}; I=${I:-16}; N=${N:-4}; D=${D:-2}
O=${O:-/tmp/e2efast-diag}
ss() { local s=0 r; for f in /proc/$1/task/*/schedstat; do read -r a b c < $f 2>/dev/null && s=$((s + b)); done; echo $s; }
cpu() { local s=0; for f in /proc/$1/task/*/schedstat; do read -r a b c < $f 2>/dev/null && s=$((s + a)); done; echo $s; }
for r in $(seq $N); do
  T=$(mktemp -d /tmp/e2efast-d.XXXXXX); mkdir -p $T/data
  taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file $T/port --data $T/data --fsync never --log-level warn >$T/log 2>&1 &
  P=$!
  for _ in $(seq 200); do [ -s $T/port ] && break; sleep 0.05; done
  A=127.0.0.1:$(cat $T/port)
  /usr/bin/python3 bench/bench_ready.py ringq $A $P 10
  taskset -c 1 $B/ringq-bench e2e --system $SYS --threads 1 --size 100 --warmup 0.5 --duration $D --quiet --batch 1 --conns $C --inflight $I --workers 4 --credits 256 --addr $A --server-pid $P --json $O/$SYS.x$((C*I)).r$r.json ${EXTRA:-} >/dev/null 2>&1 &
  G=$!
  sleep 0.7
  w0=$(ss $P); c0=$(cpu $P); g0=$(ss $G); gc0=$(cpu $G); t0=$(date +%s%N)
  sleep $D
  w1=$(ss $P); c1=$(cpu $P); g1=$(ss $G); gc1=$(cpu $G); t1=$(date +%s%N)
  wait $G
  kill $P; wait $P 2>/dev/null; rm -rf $T
  dt=$((t1-t0))
  /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); l=r["latency_us"]; print(sys.argv[1].split("/")[-1], "%.0f tasks/s p50 %.0f p99 %.0f srv %.2f us/task | srv oncpu %.2f runq-wait %.2f | gen oncpu %.2f runq-wait %.2f" % (r["tasks_per_s"], l["p50"], l["p99"], r.get("server_cpu_us_per_task",0), *[float(x)/float(sys.argv[2]) for x in sys.argv[3:]]), r.get("error",""))' $O/$SYS.x$((C*I)).r$r.json $dt $((c1-c0)) $((w1-w0)) $((gc1-gc0)) $((g1-g0))
done
cat /proc/loadavg
