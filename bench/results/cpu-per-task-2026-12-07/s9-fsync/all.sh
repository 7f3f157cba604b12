#!/usr/bin/env bash
# s9-fsync: every measurement in one lock hold, the scripts from a snapshot of the branch.
cd /tmp/fsync-snap || exit 1
R=/work/wt/fsync/bench/results/cpu-per-task-2026-12-07/s9-fsync
mkdir -p $R
echo "start $(date -u +%FT%TZ) load $(cat /proc/loadavg)" > $R/lock.txt
env BEFORE=/tmp/fsync-base-ringqd AFTER=/tmp/fsync-mine-ringqd BENCH=/tmp/fsync-base-ringq-bench REPS=3 DURATION_S=3 bash bench/cpu_per_task.sh > $R/base-vs-s9fsync.txt 2>&1
env BEFORE=/tmp/rq-93a318b/build/ringqd AFTER=/tmp/fsync-mine-ringqd BENCH=/tmp/fsync-base-ringq-bench REPS=3 DURATION_S=3 bash bench/cpu_per_task.sh > $R/93a318b-vs-s9fsync.txt 2>&1
env BINS="/tmp/fsync-base-ringqd /tmp/fsync-mine-ringqd /tmp/rq-93a318b/build/ringqd" BENCH=/tmp/fsync-base-ringq-bench REPS=2 DURATION_S=2 WARMUP_S=0.5 POINTS="b64 b1 enq-b64" bash bench/fsyncs_per_task.sh > $R/fsyncs-base-s9fsync-93a318b.txt 2>&1
for rep in 1 2; do
  for v in base mine; do
    B=$([ $v = base ] && echo /tmp/fsync-basebuild || echo /tmp/fsync-minebuild)
    env BUILD=$B SYSTEMS=ringq COLUMNS=durable GROUPS_RUN="publish-b1 fanout-g1 fanout-g4" REPS=1 WARMUP_S=1 DURATION_S=3 RESULTS=/tmp/fsync-res/streams NAME=streams-$v-r$rep bash bench/streams.sh > /tmp/fsync-res/streams-$v-r$rep.log 2>&1
  done
done
echo "end $(date -u +%FT%TZ) load $(cat /proc/loadavg)" >> $R/lock.txt
