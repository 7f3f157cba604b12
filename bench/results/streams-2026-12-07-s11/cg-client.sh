#!/usr/bin/env bash
# cg-client.sh BENCH RINGQD SCENARIO OUT [ringq-bench args...]: user-space instructions per
# message of ringq-bench (the generator) under callgrind against a plain ringqd (--threads 1
# --fsync never, pinned to CPU 0), 1 s warm-up, 3 s measured; the counters
# zeroed as the warm-up ends (callgrind_control -z). Prints Ir / msgs.
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ROOT/bench/bench_lib.sh"
BENCH=$1 RINGQD=$2 SC=$3 OUT=$4
shift 4
d=$(mktemp -d /tmp/spub-cgc.XXXXXX)
ringqd_start "$d" 100 taskset -c 0 "$RINGQD" --threads 1 --log-level warn --fsync never || exit 1
taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$OUT.cg" "$BENCH" "$SC" --system ringq \
    --threads 1 --size 100 --warmup 1 --duration 3 --quiet "$@" --addr "127.0.0.1:$RINGQD_PORT" \
    --json "$OUT.json" >"$OUT.bench.log" 2>&1 &
bp=$!
sleep 1.1 # past the warm-up: the counted window is the measured one (and the teardown)
callgrind_control -z "$bp" >/dev/null
wait "$bp"
ringqd_stop
rm -rf "$d"
ir=$(callgrind_annotate "$(ls -t "$OUT".cg* | head -1)" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1; exit}')
msgs=$(/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d.get('tasks') or d['result']['tasks'])" "$OUT.json" 2>/dev/null)
echo "$BENCH $SC $* Ir=$ir msgs=$msgs Ir_per_msg=$((ir / (msgs>0?msgs:1)))"
