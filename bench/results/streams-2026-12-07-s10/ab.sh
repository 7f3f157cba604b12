#!/usr/bin/env bash
# ab.sh: main (ddcb0f4: /tmp/sfast-base-build/{ringqd,ringq-bench}) against this branch
# (/tmp/sfast-new-build/...) on the streams columns still missed, interleaved: ROUNDS rounds of
# bench/streams.sh, base then new in odd rounds, new then base in even ones, each build with its
# own ringqd AND its own ringq-bench (the generator is part of what changed), Redis run beside
# each (driven by that round's ringq-bench: the same engine for both systems). Run it under
# `flock /work/bench.lock`. Loads before each run in OUT/load-*.txt.
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=${OUT:-$ROOT/bench/results/streams-2026-12-07-s10/ab}
ROUNDS=${ROUNDS:-2}
mkdir -p "$OUT"
run() { # run TAG ROUND
    cat /proc/loadavg >"$OUT/load-$1-r$2.txt"
    BUILD=/tmp/sfast-$1-build SYSTEMS="ringq redis" GROUPS_RUN="publish-b1 publish-b64 fanout-g1" \
        COLUMNS="durable fast" REPS=1 WARMUP_S=1 DURATION_S=3 NAME="$1-r$2" RESULTS="$OUT" \
        bash "$ROOT/bench/streams.sh" >"$OUT/$1-r$2.log" 2>&1
}
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then run base "$r"; run new "$r"; else run new "$r"; run base "$r"; fi
done
cat /proc/loadavg >"$OUT/load-end.txt"
# ringqd's instructions per message on the fast fan-out with the third cut (the Acks decoded
# once), as in callgrind/srv-*-fan-g1 (driven by main's ringq-bench).
. "$ROOT/bench/bench_lib.sh"
BENCH=/tmp/sfast-base-ringq-bench PY=/usr/bin/python3 INCLUSIVE=1
CGOUT=$ROOT/bench/results/streams-2026-12-07-s10/callgrind/srv-new2-fan-g1
callgrind_count /tmp/sfast-new2-ringqd "$CGOUT" 90 fanout --system ringq --threads 1 --size 100 \
    --warmup 1 --duration 3 --quiet --batch 1 --conns 1 --inflight 64 --groups 1 --workers 1 \
    --credits 256 && echo "ringqd new2 fanout-g1 Ir=$CG_IR msgs=$CG_TASKS per=$((CG_IR / CG_TASKS))" \
    >"$CGOUT.txt"
rm -f "$CGOUT.cg.1"
