#!/usr/bin/env bash
# bench/results/cpu-per-task-2026-12-07/s8-cpu3-syscalls.sh BENCH NAME=RINGQD...: system calls,
# io_uring submissions by opcode, fsyncs and page faults per task of ringqd at the cpu_per_task.sh
# b1 and b64 points (--fsync always and never): perf stat on tracepoints of the server process
# for 2 s inside a 5 s ringq-bench e2e run (server CPU 0, client CPU 1), divided by the tasks
# the run acked in those 2 s (tasks/s of the measured window x 2 s). Run under the bench lock.
#   BINS="93a318b=/path/ringqd new=build/ringqd" bash s8-cpu3-syscalls.sh build/ringq-bench
set -u
BENCH=$1
EV="-e syscalls:sys_enter_io_uring_enter -e io_uring:io_uring_submit_req"
EV="$EV -e io_uring:io_uring_submit_req --filter opcode==9"     # SENDMSG
EV="$EV -e io_uring:io_uring_submit_req --filter opcode==26"    # SEND
EV="$EV -e io_uring:io_uring_submit_req --filter opcode==3"     # FSYNC (datasync)
EV="$EV -e io_uring:io_uring_submit_req --filter opcode==40"    # MSG_RING (mesh wake-ups)
EV="$EV -e io_uring:io_uring_submit_req --filter opcode==27"    # RECV
EV="$EV -e syscalls:sys_enter_pwrite64 -e exceptions:page_fault_user -e context-switches"
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
for fs in always never; do
  for pt in "b1 1 4 16" "b64 64 4 1"; do
    set -- $pt; name=$1 b=$2 c=$3 i=$4
    for nb in $BINS; do
      n=${nb%%=*}; bin=${nb#*=}
      d=$(mktemp -d /tmp/s8-sys.XXXXXX)
      taskset -c 0 "$bin" --threads 1 --port 0 --port-file "$d/port" --data "$d/data" \
          --log-level warn --fsync "$fs" >"$d/log" 2>&1 &
      pid=$!
      for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
      taskset -c 1 "$BENCH" e2e --system ringq --threads 1 --size 100 --warmup 1 --duration 4 \
          --quiet --batch "$b" --conns "$c" --inflight "$i" --workers 4 --credits 256 \
          --addr "127.0.0.1:$(cat "$d/port")" --server-pid "$pid" --json "$d/r.json" &
      bp=$!
      sleep 1.5 # inside the measured window (warm-up 1 s): perf counts 2 s of steady state
      perf stat -x, $EV -p "$pid" -o "$d/stat" sleep 2
      wait $bp
      kill "$pid"; wait "$pid" 2>/dev/null
      /usr/bin/python3 - "$d/stat" "$d/r.json" "$n $fs $name" <<'PY'
import json, sys
r = json.load(open(sys.argv[2])); tasks = r["tasks_per_s"] * 2.0
names = ["io_uring_enter", "sqes", "sendmsg", "send", "fsync", "msg_ring", "recv", "pwrite",
         "page_faults", "ctx_switches"]
lines = [l for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
vals = [float(l.split(",")[0]) if l[:1].isdigit() else 0.0 for l in lines]  # <not counted>: 0
print(sys.argv[3], "tasks/s %.0f" % r["tasks_per_s"], "cpu %.2f us/task" % r.get("server_cpu_us_per_task", 0),
      " ".join("%s %.3f" % (k, v / tasks) for k, v in zip(names, vals)), "per task")
PY
      rm -rf "$d"
    done
  done
done
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
