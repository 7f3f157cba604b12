#!/usr/bin/env bash
# final_runs.sh: the session's closing A/B runs, each under its own hold of the bench lock.
# /tmp/commit-s12/ringqd-main = main 2b06d27's build/ringqd; ringqd-new = this branch (4b0ada4);
# one generator for all (main's ringq-bench).
set -u
cd "$(dirname "$0")/../../.."
R=bench/results/commit-2026-12-08-s12
B=/tmp/commit-s12
flock /work/bench.lock env BEFORE=/tmp/rq-93a318b/build/ringqd AFTER=$B/ringqd-new \
    BENCH=$B/ringq-bench-main FSYNCS=always REPS=3 OUT=$B/cpt-final \
    bash bench/cpu_per_task.sh > $R/cpu-93a318b-vs-new.txt 2>&1
flock /work/bench.lock env BEFORE=$B/ringqd-main AFTER=$B/ringqd-new \
    BENCH=$B/ringq-bench-main FSYNCS=always REPS=3 OUT=$B/cpt-main \
    bash bench/cpu_per_task.sh > $R/cpu-main-vs-new.txt 2>&1
flock /work/bench.lock env BINS="$B/ringqd-main $B/ringqd-new" BENCH=$B/ringq-bench-main \
    REPS=3 OUT=$B/fpt-final bash bench/fsyncs_per_task.sh > $R/fsyncs-main-vs-new.txt 2>&1
