#!/usr/bin/env bash
# Issue 19, session 10 (s10-stalls): main against this branch, interleaved in one run, with the
# suite's own groups: GROUPS_RUN="stall open" of bench/suite_bench.sh (ringq only, both columns,
# REPS=1), the base binary then this branch's, ROUNDS times; every run's JSON and /metrics land in
# $RES/<tag>-<round>/. The same generator (this tree's ringq-bench) drives both. Run under
# `flock /work/bench.lock`:
#   BASE=/tmp/stalls-base-ringqd STALL_S=30 ROUNDS=1 RES=/tmp/s10stalls-ab bash ab.sh
set -u
cd "$(dirname "$0")/../../.."
BASE=${BASE:-/tmp/stalls-base-ringqd}
AFTER=${AFTER:-build/ringqd}
RES=${RES:-/tmp/s10stalls-ab}
ROUNDS=${ROUNDS:-1}
STALL_S=${STALL_S:-30}
ORDER=${ORDER:-base after} # ORDER="after base": the second round, reversed
AB_GROUPS=${AB_GROUPS:-stall open} # (not GROUPS: bash keeps the group ids there)
# Two BUILD directories whose ringqd are copies of BASE and AFTER (a rebuild meanwhile changes
# neither), the rest this tree's build (one ringq-bench for both).
for tag in base after; do
    BB=build-ab-$tag # inside the tree (ignored): the suite builds bench/peers into $ROOT/$BUILD
    rm -rf "$BB"; mkdir -p "$BB"
    if [ "$tag" = base ]; then cp "$BASE" "$BB/ringqd"; else cp "$AFTER" "$BB/ringqd"; fi
    cp build/ringq-bench "$BB/ringq-bench"
    for f in aux peers ringq; do ln -s "$PWD/build/$f" "$BB/$f"; done
done
mkdir -p "$RES"
for r in $(seq "$ROUNDS"); do
    for tag in $ORDER; do
        b=build-ab-$tag
        echo "$tag-$r start $(date -u +%T) load $(cat /proc/loadavg)" >>"$RES/load.txt"
        env BUILD="$b" RINGQ_BENCH=$b/ringq-bench REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS=ringq \
            GROUPS_RUN="$AB_GROUPS" OPEN_PEAK_POINTS=4x64 STALL_S="$STALL_S" NAME="$tag-$r" \
            RESULTS="$RES" UPDATE_README=0 KEEP_RESULTS=0 bash bench/suite_bench.sh \
            >"$RES/$tag-$r.log" 2>&1
        echo "$tag-$r end $(date -u +%T) load $(cat /proc/loadavg)" >>"$RES/load.txt"
    done
done
