#!/usr/bin/env bash
# Issue 19, session 9 (s9-tails): main's ringqd against this branch's, interleaved in one locked
# run (`flock /work/bench.lock bash ab.sh`): the open-loop points of the suite (--fsync never,
# 8 x 64 in flight, 4 workers, half of the quiet-machine peak: 23,618/s at 2 KiB and 37,422/s at
# 100 B; warm-up 1 s, 5 s measured) and a 20 s stall run at 100 B, each binary ROUNDS times in
# turn, /metrics saved beside each JSON. ringqd on CPU 0, ringq-bench on CPU 1.
#   BEFORE=/tmp/tails-base-ringqd AFTER=build/ringqd [ROUNDS=2] [OUT=dir] ab.sh
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-bench/results/tail-s9/ab}
ROUNDS=${ROUNDS:-2}
declare -A BIN=([before]=${BEFORE:-/tmp/tails-base-ringqd} [after]=${AFTER:-build/ringqd})
mkdir -p "$OUT"
T=$(mktemp -d /tmp/s9tails-ab.XXXXXX)
echo "start $(date -u +%H:%M:%S) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
point() { # point WHICH TAG SIZE RATE DURATION
    rm -rf "$T/d" "$T/port"; mkdir -p "$T/d"
    taskset -c 0 "${BIN[$1]}" --threads 1 --port 0 --port-file "$T/port" --data "$T/d" \
        --fsync never --log-level warn >"$T/ringqd.log" 2>&1 &
    local pid=$!
    for _ in $(seq 500); do [ -s "$T/port" ] && break; sleep 0.02; done
    local addr=127.0.0.1:$(cat "$T/port")
    /usr/bin/python3 bench/bench_ready.py ringq "$addr" "$pid" 10 || { kill "$pid"; return 1; }
    taskset -c 1 build/ringq-bench e2e --system ringq --addr "$addr" --warmup 1 --duration "$5" \
        --quiet --size "$3" --batch 1 --workers 4 --credits 256 --rate "$4" --conns 8 \
        --inflight 64 --server-pid "$pid" --json "$OUT/$2.json"
    curl -s "http://$addr/metrics" >"$OUT/$2.metrics"
    kill "$pid"; wait "$pid" 2>/dev/null
    echo "$2 $(date -u +%H:%M:%S) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
}
for r in $(seq "$ROUNDS"); do
    for w in before after; do point "$w" "s2048-$w-$r" 2048 23618 5; done
    for w in after before; do point "$w" "s100-$w-$r" 100 37422 5; done
done
for w in before after; do point "$w" "stall100-$w" 100 37422 20; done
echo "end $(date -u +%H:%M:%S) load $(cat /proc/loadavg)" >>"$OUT/load.txt"
/usr/bin/python3 bench/results/tail-s9/summary.py "$OUT" >"$OUT/summary.md"
cat "$OUT/summary.md"
rm -rf "$T"
