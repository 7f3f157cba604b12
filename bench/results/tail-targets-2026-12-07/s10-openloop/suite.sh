#!/usr/bin/env bash
# locked: main (build-base: main's ringqd + ringq-bench) against this branch before the merge
# (build-new), interleaved: the suite's open-loop points (fast), the streams open-loop point, then
# the suite's durable open-loop points.
set -u
cd /work/wt/openloop
R=/tmp/openloop/suite
mkdir -p $R
suite() { # suite COL
    local col=$1 b bd
    for b in base new; do
        bd=$([ $b = base ] && echo build-base || echo build-new)
        cat /proc/loadavg > $R/load-$col-$b
        env BUILD=$bd REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS=ringq GROUPS_RUN="open" E2E_POINTS="4x16 4x64" \
            OPEN_PEAK_POINTS=4x64 NAME=$col-$b RESULTS=$R UPDATE_README=0 COLUMNS=$col KEEP_RESULTS=0 \
            bash bench/suite_bench.sh > $R/$col-$b.log 2>&1
    done
}
suite fast
for b in base new; do
    bd=$([ $b = base ] && echo build-base || echo build-new)
    cat /proc/loadavg > $R/load-streams-$b
    env BUILD=$bd REPS=1 DURATION_S=4 NAME=streams-$b RESULTS=$R SYSTEMS=ringq GROUPS_RUN="fanout-g1 open" \
        COLUMNS=fast bash bench/streams.sh > $R/streams-$b.log 2>&1
done
suite durable
cat /proc/loadavg > $R/load-end
