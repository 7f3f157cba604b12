#!/usr/bin/env bash
# Session 11 (s11-p99): the open-loop points under --fsync never, two ringqd binaries interleaved
# in one locked run, the same ringq-bench, fixed offered rates (the quiet baseline's half of
# peak). Each run: a fresh ringqd on CPU 0 (--threads 1, turn trace at $MS ms), ringq-bench on
# CPU 1; its JSON, the server's /metrics and log kept. Run under `flock /work/bench.lock`.
#   ab.sh OUTDIR "A=/path/ringqd B=/path/ringqd" "POINT..."
# POINT = KIND SIZE:RATE[:INFLIGHT[:CREDITS]]: q16:70000 (the suite's open point: 8 x 64 in flight,
# 4 workers x 256 credits), s100:190000 (streams.sh's open point: fanout, 1 publisher connection x
# 64 in flight, 1 group, 1 consumer x 256 credits); INFLIGHT is per connection.
set -u
cd "$(dirname "$0")/../../.."
OUT=$1 BINS=$2 POINTS=$3
BENCH=${BENCH:-/tmp/quiet11/ringq-bench-start}
DUR=${DUR:-5} MS=${MS:-2}
mkdir -p "$OUT"
run() { # run TAG BIN KIND SIZE RATE INFLIGHT CREDITS
    local tag=$1 bin=$2 kind=$3 size=$4 rate=$5 infl=$6 cred=$7 T PID ADDR
    T=$(mktemp -d /tmp/p99-ab.XXXXXX); mkdir -p "$T/d"
    echo "$tag start $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
    RINGQ_TURN_TRACE_MS=$MS taskset -c 0 "$bin" --threads 1 --port 0 --port-file "$T/port" \
        --data "$T/d" --fsync never --log-level warn >"$OUT/$tag.log" 2>&1 &
    PID=$!
    for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
    ADDR=127.0.0.1:$(cat "$T/port")
    /usr/bin/python3 bench/bench_ready.py ringq "$ADDR" "$PID" 10 >/dev/null || { kill "$PID"; return; }
    if [ "$kind" = q ]; then
        taskset -c 1 "$BENCH" e2e --system ringq --addr "$ADDR" --threads 1 --warmup 1 --duration "$DUR" \
            --quiet --size "$size" --batch 1 --workers 4 --credits "$cred" --rate "$rate" --conns 8 \
            --inflight "$infl" --server-pid "$PID" --json "$OUT/$tag.json" >/dev/null 2>>"$OUT/errors.txt"
    else
        taskset -c 1 "$BENCH" fanout --system ringq --addr "$ADDR" --threads 1 --warmup 1 --duration "$DUR" \
            --quiet --size "$size" --batch 1 --conns 1 --inflight "$infl" --groups 1 --workers 1 \
            --credits "$cred" --rate "$rate" --server-pid "$PID" --json "$OUT/$tag.json" >/dev/null 2>>"$OUT/errors.txt"
    fi
    curl -s "http://$ADDR/metrics" >"$OUT/$tag.metrics"
    kill "$PID"; wait "$PID" 2>/dev/null
    rm -rf "$T"
}
round=0
for r in ${ROUNDS:-1 2}; do
    order=$BINS
    [ $((r % 2)) = 0 ] && order=$(echo "$BINS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for p in $POINTS; do
        IFS=: read -r kindsize rate infl cred <<<"$p"
        kind=${kindsize:0:1} size=${kindsize:1} infl=${infl:-64} cred=${cred:-256}
        tagp=$kindsize; [ "$infl/$cred" != 64/256 ] && tagp=$kindsize-i$infl-c$cred
        for b in $order; do
            name=${b%%=*} bin=${b#*=}
            run "$tagp-$name-r$r" "$bin" "$kind" "$size" "$rate" "$infl" "$cred"
        done
    done
done
echo "end $(date -u +%T) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
