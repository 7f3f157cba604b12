#!/usr/bin/env bash
# s10-limits: the suite's e2e groups with the limits accounting, then the two profiles. Under the lock.
cd /work/wt/limits
R=bench/results/tail-s10-limits
cat /proc/loadavg > $R/load-suite-start.txt
env REPS=1 WARMUP_S=1 DURATION_S=3 SYSTEMS="ringq ringq-stream redis" GROUPS_RUN="e2e-b1 e2e-batch" \
    E2E_POINTS="4x4 4x16 4x64" COLUMNS="durable fast" NAME=limits-2026-12-07 RESULTS=$R UPDATE_README=0 \
    bash bench/suite_bench.sh > $R/suite.log 2>&1
cat /proc/loadavg > $R/load-suite-end.txt
P=$R/prof
bash $R/prof.sh build always ringq-stream 64 durable-stream-x256 $P > $R/prof.log 2>&1
bash $R/prof.sh build never ringq 64 fast-unary-x256 $P >> $R/prof.log 2>&1
cat /proc/loadavg > $R/load-prof-end.txt
