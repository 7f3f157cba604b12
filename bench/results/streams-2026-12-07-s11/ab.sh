#!/usr/bin/env bash
# ab.sh: main (303515b: /tmp/spub-base-build/{ringqd,ringq-bench}) against this branch
# (/tmp/spub-new-build/...) on the fast publish columns, interleaved: ROUNDS rounds of
# bench/streams.sh, base then new in odd rounds, new then base in even ones, each build with its
# own ringqd AND its own ringq-bench (libringq's producer changed too), Redis run beside each
# (driven by that round's ringq-bench: the same engine for both systems). Run it under
# `flock /work/bench.lock`. Loads before each run in OUT/load-*.txt.
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=${OUT:-$ROOT/bench/results/streams-2026-12-07-s11/ab}
ROUNDS=${ROUNDS:-2}
GROUPS_RUN=${GROUPS_RUN:-publish-b1 publish-b64}
SYSTEMS=${SYSTEMS:-ringq redis}
mkdir -p "$OUT"
run() { # run TAG ROUND
    cat /proc/loadavg >"$OUT/load-$1-r$2.txt"
    BUILD=/tmp/spub-$1-build SYSTEMS="$SYSTEMS" GROUPS_RUN="$GROUPS_RUN" COLUMNS=fast REPS=1 \
        WARMUP_S=1 DURATION_S=4 NAME="$1-r$2" RESULTS="$OUT" \
        bash "$ROOT/bench/streams.sh" >"$OUT/$1-r$2.log" 2>&1
}
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then run base "$r"; run new "$r"; else run new "$r"; run base "$r"; fi
done
cat /proc/loadavg >"$OUT/load-end.txt"
