#!/usr/bin/env bash
# diag: N runs of one point on fresh ringqd, /metrics saved after each.
set -u
cd /work/wt/e2efast
B=${B:-/tmp/e2efast-base}
SYS=${SYS:-ringq-stream}; C=${C:-4}; I=${I:-16}; N=${N:-4}; D=${D:-2}
O=${O:-/tmp/e2efast-diag}
for r in $(seq $N); do
  T=$(mktemp -d /tmp/e2efast-d.XXXXXX); mkdir -p $T/data
  taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file $T/port --data $T/data --fsync never --log-level warn >$T/log 2>&1 &
  P=$!
  for _ in $(seq 200); do [ -s $T/port ] && break; sleep 0.05; done
  A=127.0.0.1:$(cat $T/port)
  /usr/bin/python3 bench/bench_ready.py ringq $A $P 10
  taskset -c 1 $B/ringq-bench e2e --system $SYS --threads 1 --size 100 --warmup 1 --duration $D --quiet --batch 1 --conns $C --inflight $I --workers 4 --credits 256 --addr $A --server-pid $P --json $O/$SYS.x$((C*I)).r$r.json ${EXTRA:-} >/dev/null 2>&1
  curl -s http://$A/metrics > $O/$SYS.x$((C*I)).r$r.metrics
  kill $P; wait $P 2>/dev/null; rm -rf $T
  /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); l=r["latency_us"]; print(sys.argv[1].split("/")[-1], "%.0f tasks/s p50 %.0f p99 %.0f srv %.2f util %.2f cli util %.2f" % (r["tasks_per_s"], l["p50"], l["p99"], r.get("server_cpu_us_per_task",0), r.get("server_cpu_s",0)/r["duration_s"], r.get("client_cpu_util",0)), r.get("error",""))' $O/$SYS.x$((C*I)).r$r.json
done
