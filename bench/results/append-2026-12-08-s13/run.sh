#!/usr/bin/env bash
# Session 13 (s13-append): the locked runs of bench/results/append-2026-12-08-s13.md, one locked
# command each, before = main's ringqd (897b4cc) copied aside, after = this branch's.
#   bash bench/results/append-2026-12-08-s13/run.sh BEFORE AFTER TAG
set -u
cd "$(dirname "$0")/../../.."
B=$1 A=$2 T=$3
R=bench/results/append-2026-12-08-s13
L() { echo "$1 $(date -u +%T) load $(cat /proc/loadavg)" >>"$R/load-$T.txt"; }
for p in 2048:always 100:never 100:always; do
    IFS=: read -r size fs <<<"$p"
    [ -s "$R/cpu-$fs-$size-$T.txt" ] && continue
    flock /work/bench.lock bash -c "echo start \$(date -u +%T) load \$(cat /proc/loadavg) >>$R/load-$T.txt; \
        BEFORE=$B AFTER=$A REPS=3 FSYNCS=$fs PAYLOAD=$size bash bench/cpu_per_task.sh >$R/cpu-$fs-$size-$T.txt 2>&1"
    L "end cpu-$fs-$size"
done
flock /work/bench.lock bash -c "echo start-ab \$(date -u +%T) load \$(cat /proc/loadavg) >>$R/load-$T.txt; \
    BENCH=$PWD/build/ringq-bench PDIR=/tmp/append13/perf-$T bash /work/main/bench/results/tail-2026-12-08-s12/ab.sh \
    $PWD/$R/ab-$T \"main=$B append=$A\" \"2048:84869 16:164988\""
L "end ab"
flock /work/bench.lock bash -c "echo start-fsyncs \$(date -u +%T) load \$(cat /proc/loadavg) >>$R/load-$T.txt; \
    BINS=\"$B $A\" bash bench/fsyncs_per_task.sh >$R/fsyncs-$T.txt 2>&1"
L "end fsyncs"
