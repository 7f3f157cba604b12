#!/bin/bash
# round.sh OUT R "v1 v2 ...": inside ONE lock hold, streams publish-b1 durable (ringq only) for each
# variant in order; prints msgs/s, p50, p99 per variant.
OUT=$1; R=$2; VARS=($3); GROUP=${GROUP:-publish-b1}
cd /work/wt/commit
for v in "${VARS[@]}"; do
    d=$OUT/$v-r$R; mkdir -p "$d"; ld=$(cut -d' ' -f1-3 /proc/loadavg)
    env BUILD=/tmp/commit-s11/$v SYSTEMS="${SYS:-ringq}" GROUPS_RUN=$GROUP COLUMNS=durable REPS=1 WARMUP_S=1 \
        DURATION_S=${DURATION_S:-3} NAME=streams RESULTS="$d" bash bench/streams.sh > "$d/log" 2>&1
    grep -h "^| ringq Streams |\|^| Redis Streams |" "$d/streams.md" | head -2 | while read -r line; do
        echo "$GROUP $v r$R load[$ld] $(echo "$line" | cut -d'|' -f2,3 | sed 's/<br>/ /g')"; done
done | tee -a "$OUT/summary.txt"
