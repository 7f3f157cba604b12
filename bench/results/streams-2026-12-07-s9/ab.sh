#!/usr/bin/env bash
# A/B of the fast publish columns (s9-pubfast): main's ringqd (base, 1355544) against this
# branch's (new), interleaved, with Redis Streams in every round, one generator for all
# (main's ringq-bench). Run under flock /work/bench.lock from the worktree.
set -u
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-/tmp/pubfast/ab/results}
mkdir -p "$OUT"
cat /proc/loadavg > "$OUT/load-start.txt"
for r in $(seq 1 "$ROUNDS"); do
    for v in base new; do
        BUILD=/tmp/pubfast/ab/$v SYSTEMS="ringq ringq-unary" GROUPS_RUN="publish-b1 publish-b64" \
            COLUMNS=fast REPS=1 WARMUP_S=1 DURATION_S=3 RESULTS=$OUT NAME=$v-r$r \
            bash bench/streams.sh 2>>"$OUT/streams.log"
        cat /proc/loadavg > "$OUT/load-$v-r$r.txt"
    done
    BUILD=/tmp/pubfast/ab/base SYSTEMS="redis" GROUPS_RUN="publish-b1 publish-b64" COLUMNS=fast \
        REPS=1 WARMUP_S=1 DURATION_S=3 RESULTS=$OUT NAME=redis-r$r bash bench/streams.sh \
        2>>"$OUT/streams.log"
    cat /proc/loadavg > "$OUT/load-redis-r$r.txt"
done
cat /proc/loadavg > "$OUT/load-end.txt"
