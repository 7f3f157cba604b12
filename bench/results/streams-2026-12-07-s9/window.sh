#!/usr/bin/env bash
# b1 with 4x64 in flight instead of the report's 4x16: is the b1 point window-bound?
cd /work/wt/pubfast || exit 1
OUT=/tmp/pubfast/win
mkdir -p $OUT
cat /proc/loadavg > $OUT/load-start.txt
for v in base new; do
    BUILD=/tmp/pubfast/ab/$v SYSTEMS="ringq" GROUPS_RUN="publish-b1" PUB_POINT=4x64 COLUMNS=fast \
        REPS=1 WARMUP_S=1 DURATION_S=3 RESULTS=$OUT NAME=$v-w64 bash bench/streams.sh 2>>$OUT/streams.log
done
BUILD=/tmp/pubfast/ab/base SYSTEMS="redis" GROUPS_RUN="publish-b1" PUB_POINT=4x64 COLUMNS=fast \
    REPS=1 WARMUP_S=1 DURATION_S=3 RESULTS=$OUT NAME=redis-w64 bash bench/streams.sh 2>>$OUT/streams.log
cat /proc/loadavg > $OUT/load-end.txt
