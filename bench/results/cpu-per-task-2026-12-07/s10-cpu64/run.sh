#!/usr/bin/env bash
# s10-cpu64's measurements, one lock hold, most needed first: callgrind (b64 never) of this
# branch's ringqd (main ddcb0f4's was taken at 19:08 under the lock: callgrind-base-*), then
# bench/cpu_per_task.sh b64 against main and against 93a318b, then callgrind b64 always of main
# and the branch, then fdatasyncs per task (b64 e2e, always). main's ringq-bench throughout.
set -u
cd /work/wt/cpu64
O=/tmp/cpu64/final
BASE=/tmp/cpu64-base-ringqd NEW=/tmp/cpu64-c2-ringqd OLD=/tmp/rq-93a318b/build/ringqd
export BENCH=/tmp/cpu64-base-ringq-bench
load() { echo "# $(date -u +%H:%M:%S) load $(cat /proc/loadavg)"; }
{ load; FSYNC=never INCLUSIVE=1 bash bench/callgrind_e2e.sh $NEW 64 4 1 $O/cg-new-b64-never; load; } > $O/callgrind-never.txt 2>&1
{ load; BEFORE=$BASE AFTER=$NEW REPS=3 DURATION_S=4 POINTS=b64 bash bench/cpu_per_task.sh; load; } > $O/cpu-base-vs-new.txt 2>&1
{ load; BEFORE=$OLD AFTER=$NEW REPS=3 DURATION_S=4 POINTS=b64 bash bench/cpu_per_task.sh; load; } > $O/cpu-93a318b-vs-new.txt 2>&1
{
load
for b in base:$BASE new:$NEW; do
  FSYNC=always INCLUSIVE=1 bash bench/callgrind_e2e.sh ${b#*:} 64 4 1 $O/cg-${b%%:*}-b64-always
done
load
} > $O/callgrind-always.txt 2>&1
{ load; BINS="$BASE $NEW" REPS=2 DURATION_S=3 POINTS=b64 FSYNC=always bash bench/fsyncs_per_task.sh; load; } > $O/fsyncs-base-vs-new.txt 2>&1
echo done > $O/DONE
