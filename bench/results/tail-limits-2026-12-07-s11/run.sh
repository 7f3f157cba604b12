#!/usr/bin/env bash
# s11-limits: the sample report, in three chunks of at most ~3 minutes, each under the machine's
# bench lock: e2e-b1 (ringq, ringq-stream, redis; both columns), then open + stall per column
# (KEEP_RESULTS=1 adds to the same runs; the open loop's 100-byte peak is the e2e-b1 one).
# Usage: bash bench/results/tail-limits-2026-12-07-s11/run.sh CHUNK [NAME]  (CHUNK = 1, 2 or 3;
# NAME: the report's name, sample by default; the second round was sample-r2)
set -u
cd "$(dirname "$0")/../../.." || exit 1
R=bench/results/tail-limits-2026-12-07-s11
N=${2:-sample}
COMMON=(REPS=1 WARMUP_S=1 DURATION_S=3 STALL_S=20 NAME=$N RESULTS=$R UPDATE_README=0)
P=$R/$([ "$N" = sample ] || echo "$N-")
cat /proc/loadavg >"${P}load-chunk$1-start.txt"
case $1 in
1) env "${COMMON[@]}" SYSTEMS="ringq ringq-stream redis" GROUPS_RUN=e2e-b1 E2E_POINTS="4x16 4x64" \
       COLUMNS="durable fast" bash bench/suite_bench.sh ;;
2) env "${COMMON[@]}" KEEP_RESULTS=1 SYSTEMS=ringq GROUPS_RUN="open stall" COLUMNS=fast \
       bash bench/suite_bench.sh ;;
3) env "${COMMON[@]}" KEEP_RESULTS=1 SYSTEMS=ringq GROUPS_RUN="open stall" COLUMNS=durable \
       bash bench/suite_bench.sh ;;
esac >"${P}chunk$1.log" 2>&1
rc=$?
cat /proc/loadavg >"${P}load-chunk$1-end.txt"
exit $rc
