#!/usr/bin/env bash
# s10-cpu64, the stage started from a loop hook (c3): fdatasyncs per task at e2e b64 always
# against main and c2 (the mesh-message start), then callgrind b64 never, then cpu_per_task b64
# against main. main's ringq-bench throughout.
set -u
cd /work/wt/cpu64
O=/tmp/cpu64/c3
export BENCH=/tmp/cpu64-base-ringq-bench
load() { echo "# $(date -u +%H:%M:%S) load $(cat /proc/loadavg)"; }
{ load; BINS="/tmp/cpu64-base-ringqd /tmp/cpu64-c2-ringqd /tmp/cpu64-c3-ringqd" REPS=2 DURATION_S=3 POINTS=b64 FSYNC=always bash bench/fsyncs_per_task.sh; load; } > $O/fsyncs.txt 2>&1
{ load; FSYNC=never INCLUSIVE=1 bash bench/callgrind_e2e.sh /tmp/cpu64-c3-ringqd 64 4 1 $O/cg-c3-b64-never; load; } > $O/callgrind-never.txt 2>&1
{ load; BEFORE=/tmp/cpu64-base-ringqd AFTER=/tmp/cpu64-c3-ringqd REPS=3 DURATION_S=4 POINTS=b64 bash bench/cpu_per_task.sh; load; } > $O/cpu-base-vs-c3.txt 2>&1
echo done > $O/DONE
