#!/usr/bin/env bash
# prof.sh RINGQD BENCH FSYNC OUT [B C I]: perf record (cpu-clock, call graphs) of ringqd for 2 s
# inside a 5 s e2e run at a point (default b1).
set -u
BIN=$1 BENCH=$2 FS=$3 OUT=$4 B=${5:-1} C=${6:-4} I=${7:-16}
d=$(mktemp -d /tmp/cpu1-prof.XXXXXX)
taskset -c 0 "$BIN" --threads 1 --port 0 --port-file "$d/port" --data "$d/data" --log-level warn \
    --fsync "$FS" >"$d/log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$d/port" ] && break; sleep 0.1; done
taskset -c 1 "$BENCH" e2e --system ringq --threads 1 --size 100 --warmup 1 --duration 4 --quiet \
    --batch $B --conns $C --inflight $I --workers 4 --credits 256 --addr "127.0.0.1:$(cat $d/port)" \
    --server-pid "$pid" --json "$OUT.json" >"$OUT.bench.log" 2>&1 &
bp=$!
sleep 1.5
perf record -e cpu-clock -F 4000 -g -p "$pid" -o "$OUT.data" -- sleep 2 2>/dev/null
wait $bp
kill -TERM $pid; wait $pid 2>/dev/null; rm -rf "$d"
perf report -i "$OUT.data" --no-children --sort comm,sym --stdio 2>/dev/null | grep -v '^$' | grep '%' | head -80 > "$OUT.self.txt"
