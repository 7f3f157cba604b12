#!/bin/bash
# screen.sh OUTDIR VARIANT...: bench/cpu_per_task.sh, main's start binary against each variant, REPS=1
cd /work/wt/cpuk
out=$1; shift
for v in "$@"; do
  echo "## $v load $(cut -d' ' -f1-3 /proc/loadavg)"
  BEFORE=/tmp/quiet11/ringqd-start AFTER=/tmp/cpuk/$v BENCH=/tmp/quiet11/ringq-bench-start REPS=1 DURATION_S=3 OUT=$out/$v bash bench/cpu_per_task.sh 2>&1 | grep -v "^#"
done
