set -u
T=$(mktemp -d /tmp/qtail-c.XXXXXX); B=build
taskset -c 0 $B/ringqd --threads 1 --port 0 --port-file "$T/port" --data "$T/d" --fsync never --log-level warn >/dev/null 2>&1 &
PID=$!
for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
ADDR=127.0.0.1:$(cat "$T/port")
/usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10
taskset -c 1 $B/ringq-bench e2e --system ringq --addr "$ADDR" --warmup 1 --duration 4 --quiet --size 100 --batch 1 --workers 4 --credits 256 --conns 4 --inflight 64 --json "$T/r.json" &
G=$!
sleep 2
perf record -q -F 1999 -g -p "$PID" -o "$T/c.data" -- sleep 2 >/dev/null 2>&1
wait $G
kill $PID; wait $PID 2>/dev/null
perf report -i "$T/c.data" --stdio --no-children --sort sym --percent-limit 1 -g none 2>/dev/null | grep -v "^#" | grep -v "^$" | head -25
perf report -i "$T/c.data" --stdio --no-children -S copy_folio_from_iter_atomic -G 2>/dev/null | grep -v "^#" | grep -v "^$" | head -40
du -sh "$T/d"; ls -la "$T/d" | head
rm -rf "$T"
