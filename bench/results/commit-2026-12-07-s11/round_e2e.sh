#!/bin/bash
# round_e2e.sh OUT "v1 v2 ...": inside ONE lock hold, suite_bench e2e-b1 durable (ringq, 4x64, 100 B)
# for each variant, with the commit counters (RQ_COMMIT_STATS) of the instrumented builds.
OUT=$1; VARS=($2); i=0
cd /work/wt/commit
for v in "${VARS[@]}"; do
    i=$((i+1)); d=$OUT/$i-$v; mkdir -p "$d"; ld=$(cut -d' ' -f1-3 /proc/loadavg)
    rm -f /tmp/commit-s11/cstats-*.txt
    env RQ_COMMIT_STATS=1 BUILD=/tmp/commit-s11/$v SYSTEMS=ringq GROUPS_RUN=e2e-b1 COLUMNS=durable REPS=1 WARMUP_S=1 \
        DURATION_S=3 E2E_POINTS=4x64 NAME=e2e RESULTS="$d" UPDATE_README=0 KEEP_RESULTS=0 \
        bash bench/suite_bench.sh > "$d/log" 2>&1
    cat /tmp/commit-s11/cstats-*.txt > "$d/cstats.txt" 2>/dev/null
    echo "e2e $v #$i load[$ld] $(grep -h 'x=' "$d/log" | grep -o '[0-9]* tasks/s.*' | head -1) | $(head -2 "$d/cstats.txt" | tr '\n' ' ')"
done | tee -a "$OUT/summary.txt"
