#!/bin/bash
# ab.sh OUT BUILD: one streams.sh publish-b1 run (fast and durable columns, ringq and redis)
# against BUILD/ringqd (BUILD/ringq-bench drives it); the load before it goes to OUT/loads.txt.
OUT=$1; b=$2
cd /work/wt/spin
n=$(basename $b)
echo "$n $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $OUT/loads.txt
BUILD=$b SYSTEMS="ringq redis" GROUPS_RUN="publish-b1" COLUMNS="${COLS:-fast durable}" REPS=1 DURATION_S=4 RESULTS=$OUT NAME=$n-$(date +%H%M%S) bash bench/streams.sh > $OUT/$n-$(date +%H%M%S).out 2>&1
