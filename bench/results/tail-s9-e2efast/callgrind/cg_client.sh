#!/usr/bin/env bash
# cg_client.sh BENCH SYS C I OUT: ringq-bench's own user-space instructions per task (callgrind,
# counters zeroed after the warm-up) against a plain ringqd (base build) on CPU 0.
set -u
cd /work/wt/e2efast
. bench/bench_lib.sh
BENCH=$1 SYS=$2 C=$3 I=$4 OUT=$5
d=$(mktemp -d /tmp/cg-client.XXXXXX)
ringqd_start "$d" 100 taskset -c 0 /tmp/e2efast-base/ringqd --threads 1 --log-level warn --fsync never || exit 1
taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$OUT.cg" "$BENCH" e2e --system "$SYS" --threads 1 --size 100 \
    --warmup 2 --duration 6 --quiet --batch 1 --conns "$C" --inflight "$I" --workers 4 --credits 256 \
    --addr "127.0.0.1:$RINGQD_PORT" --json "$OUT.json" >"$OUT.log" 2>&1 &
bp=$!
wait "$bp"
ringqd_stop; rm -rf "$d"
ir=$(callgrind_annotate "$OUT.cg"* 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1; exit}')
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[3], sys.argv[4], "Ir=%s acked=%d Ir_per_task=%.0f" % (sys.argv[2], r["acked"], int(sys.argv[2]) / max(r["acked"], 1)))' "$OUT.json" "$ir" "$BENCH" "$SYS"
