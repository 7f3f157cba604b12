#!/usr/bin/env bash
# s10-cpu1's locked measurement: main ddcb0f4 (/tmp/cpu1-base-ringqd) against this branch
# (/tmp/cpu1/ringqd-final, copied when the lock is taken), one generator (main's ringq-bench).
set -u
cd /work/wt/cpu1
R=/tmp/cpu1/final
B=/tmp/cpu1-base-ringq-bench
cp /tmp/cpu1/ringqd-final $R/ringqd-after
echo "# start $(date -u +%FT%TZ) load $(cat /proc/loadavg) after sha $(sha1sum < $R/ringqd-after | cut -c1-12)" | tee $R/load.txt
for fs in never always; do
  for v in base after; do
    bin=/tmp/cpu1-base-ringqd; [ $v = after ] && bin=$R/ringqd-after
    FSYNC=$fs BENCH=$B INCLUSIVE=1 bash bench/callgrind_e2e.sh $bin 1 4 16 $R/cg-$v-b1-$fs
  done
done > $R/callgrind-e2e.txt 2>&1
echo "# callgrind done $(date -u +%FT%TZ) load $(cat /proc/loadavg)" | tee -a $R/load.txt
env BEFORE=/tmp/rq-93a318b/build/ringqd AFTER=$R/ringqd-after BENCH=$B POINTS=b1 REPS=3 DURATION_S=3 \
    OUT=$R/cpu-93a318b bash bench/cpu_per_task.sh > $R/cpu-93a318b-vs-after.txt 2>&1
echo "# cpu1 done $(date -u +%FT%TZ) load $(cat /proc/loadavg)" | tee -a $R/load.txt
env BEFORE=/tmp/cpu1-base-ringqd AFTER=$R/ringqd-after BENCH=$B POINTS=b1 REPS=3 DURATION_S=3 \
    OUT=$R/cpu-base bash bench/cpu_per_task.sh > $R/cpu-base-vs-after.txt 2>&1
echo "# end $(date -u +%FT%TZ) load $(cat /proc/loadavg)" | tee -a $R/load.txt
touch $R/DONE
