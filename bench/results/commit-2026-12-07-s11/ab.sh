#!/bin/bash
# ab.sh OUT GROUP "v1 v2 ..." ROUNDS [SYSTEMS]: interleaved streams.sh runs, one locked run each;
# odd rounds in the given order, even rounds reversed. Prints variant, round, msgs/s, p50, p99.
OUT=$1; GROUP=$2; VARS=($3); ROUNDS=${4:-3}; SYS=${5:-ringq}
mkdir -p "$OUT"; cd /work/wt/commit
for r in $(seq 1 "$ROUNDS"); do
    order=("${VARS[@]}"); [ $((r % 2)) = 0 ] && order=($(printf '%s\n' "${VARS[@]}" | tac))
    for v in "${order[@]}"; do
        d=$OUT/$v-r$r; mkdir -p "$d"
        ld=$(cut -d' ' -f1-3 /proc/loadavg)
        flock /work/bench.lock env BUILD=/tmp/commit-s11/$v SYSTEMS="$SYS" GROUPS_RUN=$GROUP COLUMNS=durable REPS=1 \
            DURATION_S=${DURATION_S:-4} NAME=streams RESULTS="$d" bash bench/streams.sh > "$d/log" 2>&1
        grep -h "^| ringq Streams |\|^| Redis Streams |" "$d/streams.md" | head -2 | while read -r line; do
            echo "$v r$r load[$ld] $(echo "$line" | cut -d'|' -f2,3 | sed 's/<br>/ /g')"
        done
    done
done | tee -a "$OUT/summary.txt"
