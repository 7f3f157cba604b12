#!/bin/bash
# round_open.sh OUT R "v1 v2": inside ONE lock hold, suite_bench open loop durable for each variant.
OUT=$1; R=$2; VARS=($3)
cd /work/wt/commit
for v in "${VARS[@]}"; do
    d=$OUT/$v-r$R; mkdir -p "$d"; ld=$(cut -d' ' -f1-3 /proc/loadavg)
    env BUILD=/tmp/commit-s11/$v SYSTEMS=ringq GROUPS_RUN=open COLUMNS=durable REPS=1 WARMUP_S=1 \
        DURATION_S=${DURATION_S:-3} E2E_POINTS=4x64 OPEN_PEAK_POINTS=4x64 NAME=open RESULTS="$d" \
        UPDATE_README=0 KEEP_RESULTS=0 bash bench/suite_bench.sh > "$d/log" 2>&1
    grep -h "enqueue-to-start at half of peak.*fsync always" "$d/open.md" | sed -E 's/.*half of peak, ([0-9]+ B).*\| p99 ([^,]+), p99.9 ([^ ]+ [^ ]+) at ([0-9]+) tasks.*achieved ([0-9,]+) tasks\/s.*/\1 p99 \2 p99.9 \3 offered \4 achieved \5/' | while read -r line; do
        echo "open $v r$R load[$ld] $line"; done
done | tee -a "$OUT/summary.txt"
