#!/bin/bash
# ab.sh OUT BUILD_1 BUILD_2 ...: one streams.sh fast publish-b1 run (ringq and redis) per build,
# in the order given; load before each.
OUT=$1; shift
cd /work/wt/pub
for b in "$@"; do
  n=$(basename $b)
  echo "$n $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $OUT/loads.txt
  BUILD=$b DURING_RUN=${DURING_RUN:-} SYSTEMS="ringq redis" GROUPS_RUN="${GRP:-publish-b1}" COLUMNS="${COLS:-fast}" REPS=1 DURATION_S=4 RESULTS=$OUT NAME=$n-$(date +%H%M%S) bash bench/streams.sh > /dev/null 2>&1
done
