#!/usr/bin/env bash
# Bytes ringqd dirtied for writeback per task (/proc/PID/io write_bytes at the end of the run,
# start-up and warm-up included, alike for both), e2e batch 1 --fsync always at a fixed offered
# rate, before/after interleaved. Usage: BEFORE=.. AFTER=.. bash wbytes.sh
set -u
BENCH=${BENCH:-build/ringq-bench}; RATE=${RATE:-2000}; DUR=${DUR:-3}; REPS=${REPS:-2}
declare -A BIN=([before]=$BEFORE [after]=$AFTER)
for rep in $(seq $REPS); do for shape in "1 1" "4 16"; do read -r c i <<<"$shape"; for v in before after; do
  d=$(mktemp -d /tmp/prew/wb.XXXXXX)
  taskset -c 0 "${BIN[$v]}" --threads 1 --port 0 --port-file "$d/port" --data "$d/data" --log-level warn --fsync always >"$d/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
  taskset -c 1 "$BENCH" e2e --system ringq --label $v --threads 1 --size 100 --warmup 1 --duration $DUR --quiet \
     --batch 1 --conns $c --inflight $i --workers 4 --credits 256 --addr "127.0.0.1:$(cat $d/port)" \
     --server-pid $pid --rate $RATE --json "$d/r.json" >"$d/bench.log" 2>&1
  wb=$(awk '/^write_bytes/{print $2}' /proc/$pid/io)
  kill $pid; wait $pid 2>/dev/null
  /usr/bin/python3 -c 'import json,sys
r=json.load(open(sys.argv[1])); n=r["tasks_per_s"]*float(sys.argv[3]); l=r.get("latency_us") or {}
print("%s r%s %sx%s rate %s: %.0f tasks/s, ringqd write_bytes %s, %.0f B/task (measured window tasks; warm-up dirtying included), cpu %.2f us/task p50 %.0f p99 %.0f" % (sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8], r["tasks_per_s"], sys.argv[2], int(sys.argv[2])/max(n,1), r.get("server_cpu_us_per_task",0), l.get("p50",0), l.get("p99",0)))' "$d/r.json" "$wb" "$DUR" $v $rep $c $i $RATE
  rm -rf "$d"
done; done; done
