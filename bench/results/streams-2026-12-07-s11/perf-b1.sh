#!/usr/bin/env bash
# perf-b1.sh RINGQD BENCH OUT: where ringqd's CPU goes at fast publish b1 (user against kernel,
# and the top symbols of each), sampled with perf (cpu-clock, 4 kHz) over 4 s of
# `ringq-bench publish --system ringq --batch 1 --conns 4 --inflight 16` (the streams suite's
# point), ringqd --threads 1 --fsync never on CPU 0, the generator on CPU 1. Run under
# `flock /work/bench.lock`. Writes OUT.data, OUT.dso.txt (share by user/kernel object) and
# OUT.sym.txt (top symbols).
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ROOT/bench/bench_lib.sh"
RINGQD=$1 BENCH=$2 OUT=$3
d=$(mktemp -d /tmp/spub-perf.XXXXXX)
ringqd_start "$d" 100 taskset -c 0 "$RINGQD" --threads 1 --log-level warn --fsync never || exit 1
taskset -c 1 "$BENCH" publish --system ringq --threads 1 --size 100 --warmup 1 --duration 5 \
    --quiet --batch 1 --conns 4 --inflight 16 --addr "127.0.0.1:$RINGQD_PORT" \
    --json "$OUT.json" >"$OUT.bench.log" 2>&1 &
bp=$!
sleep 1.5
perf record -F 4000 -e cpu-clock -p "$RINGQD_PID" -o "$OUT.data" -- sleep 4 >/dev/null 2>&1
wait "$bp"
ringqd_stop
rm -rf "$d"
perf report -i "$OUT.data" --stdio --sort dso 2>/dev/null | grep -v "^#" | grep -v "^$" | head -20 >"$OUT.dso.txt"
perf report -i "$OUT.data" --stdio --sort sym 2>/dev/null | grep -v "^#" | grep -v "^$" | head -60 >"$OUT.sym.txt"
